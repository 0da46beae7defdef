"""tf.math.special (against SciPy's float64 special functions, central differences, and the
values TensorFlow 2.21 gives outside the functions' domains) and tf.strings.unicode_script
(against Python's unicodedata names, and TF 2.21's script codes for a set of characters)."""

import hashlib
import unicodedata

import numpy as np
import pytest

import tensorflux as tf
from tests.tolerances import GRAD, central_difference

sp = pytest.importorskip("scipy.special")

S = tf.math.special

# name -> (SciPy reference, the x range where it is defined and the reference is accurate)
REFERENCES = {
    "bessel_j0": (sp.j0, (-60.0, 60.0)), "bessel_j1": (sp.j1, (-60.0, 60.0)),
    "bessel_y0": (sp.y0, (1e-3, 60.0)), "bessel_y1": (sp.y1, (1e-3, 60.0)),
    "bessel_k0": (sp.k0, (1e-3, 60.0)), "bessel_k0e": (sp.k0e, (1e-3, 800.0)),
    "bessel_k1": (sp.k1, (1e-3, 60.0)), "bessel_k1e": (sp.k1e, (1e-3, 800.0)),
    "bessel_i0": (sp.i0, (-30.0, 30.0)), "bessel_i1": (sp.i1, (-30.0, 30.0)),
    "bessel_i0e": (sp.i0e, (-30.0, 30.0)), "bessel_i1e": (sp.i1e, (-30.0, 30.0)),
    "dawsn": (sp.dawsn, (-60.0, 60.0)), "expint": (sp.expi, (1e-3, 300.0)),
    "fresnel_cos": (lambda x: sp.fresnel(x)[1], (-40.0, 40.0)),
    "fresnel_sin": (lambda x: sp.fresnel(x)[0], (-40.0, 40.0)),
    "spence": (sp.spence, (0.0, 60.0)),
}


def test_the_namespace_is_tensorflows():
    names = sorted(n for n in dir(S) if not n.startswith("_"))
    assert names == sorted(REFERENCES)
    assert S.bessel_i0 is tf.math.bessel_i0 and "special" in dir(tf.math)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_float64_values_match_scipy(name):
    reference, (low, high) = REFERENCES[name]
    # A grid across every method's range (series, recurrence or quadrature, asymptotics),
    # with the points where the methods meet.
    x = np.concatenate([np.linspace(low, high, 1201),
                        [v for v in (0.2, 0.5, 1.5, 2.0, 25.0, 30.0, 40.0) if low <= v <= high]])
    expected = reference(x)
    got = getattr(S, name)(tf.constant(x)).numpy()
    # relative to the function's size, absolute near its zeros
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-13 * np.abs(expected).max())


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_float32_is_the_float64_result_rounded(name):
    reference, (low, high) = REFERENCES[name]
    x = np.linspace(max(low, -20.0), min(high, 20.0), 97).astype(np.float32)
    got = getattr(S, name)(tf.constant(x))
    assert got.dtype == tf.float32
    expected = reference(x.astype(np.float64)).astype(np.float32)
    # I0, I1, K0 and K1 are their scaled functions times exp(-+x), rounded twice
    rtol = 5e-7 if name in ("bessel_i0", "bessel_i1", "bessel_k0", "bessel_k1") else 2e-7
    np.testing.assert_allclose(got.numpy(), expected, rtol=rtol, atol=1e-30)


def test_edges_are_tensorflows():
    # TF 2.21's values: Y -inf and K inf at and below 0, J NaN at +-inf, Ei -inf at 0 and
    # NaN below, spence pi^2/6 at 0 and NaN below, the Fresnel integrals +-1/2 at +-inf.
    x = tf.constant([-1.0, 0.0, np.inf, -np.inf, np.nan], tf.float64)
    inf, nan = np.inf, np.nan
    expected = {
        "bessel_j0": [sp.j0(1.0), 1.0, nan, nan, nan],
        "bessel_j1": [-sp.j1(1.0), 0.0, nan, nan, nan],
        "bessel_y0": [-inf, -inf, nan, -inf, nan], "bessel_y1": [-inf, -inf, nan, -inf, nan],
        "bessel_k0": [inf, inf, 0.0, inf, nan], "bessel_k0e": [inf, inf, 0.0, inf, nan],
        "bessel_k1": [inf, inf, 0.0, inf, nan], "bessel_k1e": [inf, inf, 0.0, inf, nan],
        "dawsn": [-sp.dawsn(1.0), 0.0, 0.0, 0.0, nan],
        "expint": [nan, -inf, nan, nan, nan],
        "fresnel_cos": [-sp.fresnel(1.0)[1], 0.0, 0.5, -0.5, nan],
        "fresnel_sin": [-sp.fresnel(1.0)[0], 0.0, 0.5, -0.5, nan],
        "spence": [nan, np.pi ** 2 / 6, nan, nan, nan],
    }
    for name, values in expected.items():
        np.testing.assert_allclose(getattr(S, name)(x).numpy(), values, rtol=1e-14,
                                   err_msg=name)
    tiny = tf.constant([1e-300, 1e-8], tf.float64)
    np.testing.assert_allclose(S.bessel_y1(tiny).numpy(), sp.y1([1e-300, 1e-8]), rtol=1e-14)
    np.testing.assert_allclose(S.bessel_y0(tiny).numpy(), sp.y0([1e-300, 1e-8]), rtol=1e-14)


@pytest.mark.parametrize("name", sorted(n for n in REFERENCES if not n.startswith("bessel_i")))
def test_gradients_match_central_differences(name):
    # (Ei(31) ~ 1e12 would swamp the other terms of the summed differences)
    x = np.array([0.3, 0.9, 1.7, 2.6, 7.5, 31.0 if name != "expint" else 12.0])
    if name in ("bessel_j0", "bessel_j1", "dawsn", "fresnel_cos", "fresnel_sin"):
        x = np.concatenate([-x, x])
    fn = getattr(S, name)
    value = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(value)
        total = tf.reduce_sum(fn(value))
    got = tape.gradient(total, value).numpy()
    expected = central_difference(lambda v: float(np.sum(REFERENCES[name][0](v))), x)
    np.testing.assert_allclose(got, expected, rtol=GRAD[0], atol=GRAD[1])


def test_gradients_at_tensorflows_special_points():
    x = tf.constant([0.0, 1.0], tf.float64)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        j1, spence = S.bessel_j1(x), S.spence(x)
    # J1'(0) = 1/2 and spence'(1) = -1, where the general formulas divide by zero
    assert tape.gradient(j1, x).numpy()[0] == 0.5
    assert tape.gradient(spence, x).numpy()[1] == -1.0


def test_in_a_traced_function_and_a_keras_layer():
    @tf.function
    def f(v):
        return S.bessel_j0(v) + S.spence(v) + S.fresnel_sin(v)

    v = np.array([0.5, 1.5], np.float32)
    expected = sp.j0(v) + sp.spence(v) + sp.fresnel(v)[0]
    np.testing.assert_allclose(f(tf.constant(v)).numpy(), expected, rtol=1e-6)
    layer = tf.keras.layers.Lambda(lambda t: S.dawsn(t))
    np.testing.assert_allclose(layer(v).numpy(), sp.dawsn(v), rtol=1e-6)


def test_non_float_inputs_are_refused_as_tensorflow_does():
    for fn in (S.bessel_j0, S.dawsn, S.spence, S.bessel_k1):
        with pytest.raises(tf.errors.InvalidArgumentError, match="floating"):
            fn(tf.constant([1, 2]))


# ---------------------------------------------------------------- unicode_script

# TF 2.21's codes (ICU's UScriptCode) for characters users meet, including Common (0) and
# Inherited (1) ones, an unassigned and a private-use code point (103, Unknown) and values
# that are no code point (-1).
TF_SCRIPTS = {
    "A": 25, "é": 25, "ß": 25, "Ж": 8, "Ω": 14, "א": 19, "ع": 2, "中": 17, "あ": 20, "ア": 22,
    "한": 18, "ไ": 38, "ह": 10, " ": 0, "1": 0, "!": 0, "ー": 0, "ـ": 0, "🙂": 0, "\u0301": 1,
    "\u064b": 1, "\u0378": 103, "\ue000": 103, "\U00020000": 17,
}


def test_unicode_script_matches_tensorflow_for_common_characters():
    points = [ord(c) for c in TF_SCRIPTS] + [-1, 0x110000, 0x10FFFF, 0xD800]
    got = tf.strings.unicode_script(points)
    assert got.dtype == tf.int32
    assert got.numpy().tolist() == list(TF_SCRIPTS.values()) + [-1, -1, 103, 103]


def test_unicode_script_of_every_code_point_is_tensorflows():
    # SHA-256 of the little-endian int32 codes TF 2.21 gives for 0 ... 0x10FFFF (recorded)
    codes = tf.strings.unicode_script(np.arange(0x110000, dtype=np.int32)).numpy()
    assert hashlib.sha256(codes.astype("<i4").tobytes()).hexdigest() == (
        "7699a24e35a64bdbb13fbd0fc4e242710f235f3dd6b7e3d7dc11a85d46535e28")


def test_unicode_script_agrees_with_unicode_names():
    # Letters named after a script belong to it (scripts whose letters all predate the ICU
    # version TF ships, so no letter is newer than its table).
    codes = {"CYRILLIC": 8, "HEBREW": 19, "HANGUL SYLLABLE": 18, "THAI": 38, "DEVANAGARI": 10}
    points, expected = [], []
    for point in range(0x10000):
        char = chr(point)
        name = unicodedata.name(char, "")
        if unicodedata.category(char).startswith("L"):
            for prefix, code in codes.items():
                if name.startswith(prefix):
                    points.append(point)
                    expected.append(code)
    assert len(points) > 11000
    assert tf.strings.unicode_script(points).numpy().tolist() == expected


def test_unicode_script_shapes_ragged_and_errors():
    assert tf.strings.unicode_script(ord("Ж")).numpy() == 8
    assert tf.strings.unicode_script([[65, 0x416], [0x5D0, 0x4E2D]]).numpy().tolist() == \
        [[25, 8], [19, 17]]
    ragged = tf.strings.unicode_script(tf.strings.unicode_decode(["hé", "Привет"], "UTF-8"))
    assert ragged.to_list() == [[25, 25], [8] * 6]
    assert tf.strings.unicode_script(tf.zeros([0], tf.int32)).shape == (0,)
    with pytest.raises(tf.errors.InvalidArgumentError, match="int32.*int64"):
        tf.strings.unicode_script(tf.constant([65], tf.int64))
    with pytest.raises(TypeError, match="unicode_script"):
        tf.strings.unicode_script([65.0])
