"""numpy_depthwise_native's depthwise convolution kernels (forward, input gradient), bit for bit
against the NumPy kernels they stand in for (forced by switching the native ones off), against
float64 oracles and central finite differences, and in DepthwiseConv2D / SeparableConv2D
models against real Keras."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tensorflux.backends import numpy_backend as nb
from tensorflux.backends import numpy_depthwise_native as dn
from tensorflux.backends import numpy_llvm

NATIVE = numpy_llvm.available()
needs_native = pytest.mark.skipif(not NATIVE, reason="no llvmlite or no AVX2 with FMA")


@pytest.fixture
def spy(monkeypatch):
    """{kernel kind: output rows the native kernels computed}."""
    counts = {"depthwise": 0, "depthwise_input_grad": 0, "depthwise_filter_grad": 0}
    real, real_filter_grad = dn._rows, dn.depthwise_filter_grad_rows

    def counting(kind, run):
        def counted(row0, row1, *part):
            counts[kind] += row1 - row0
            run(row0, row1, *part)
        return counted

    def filter_grad(*args):
        run = real_filter_grad(*args)
        return run and counting("depthwise_filter_grad", run)
    monkeypatch.setattr(dn, "_rows", lambda kind, *args: counting(kind, real(kind, *args)))
    monkeypatch.setattr(dn, "depthwise_filter_grad_rows", filter_grad)
    return counts


def _numpy_path(f, *args, **kwargs):
    numpy_llvm.enable(False)
    try:
        return f(*args, **kwargs)
    finally:
        numpy_llvm.enable(True)


def _assert_same_bits(got, want, what="result"):
    """The same bits, but for which NaN: where two NaNs meet in a sum, NumPy's loops return
    either (its vector loops and the scalar ends of them differ), so a NaN's sign is not
    the NumPy path's to define (see numpy_depthwise_native's docstring)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, want.shape)
    assert (np.isnan(got) == np.isnan(want)).all(), f"{what}: NaNs in other places"
    got, want = np.where(np.isnan(got), np.nan, got), np.where(np.isnan(want), np.nan, want)
    differ = got.view(np.uint8).reshape(got.shape + (-1,)) != \
        want.view(np.uint8).reshape(want.shape + (-1,))
    where = np.argwhere(differ.any(-1))
    assert not where.size, (f"{what}: {len(where)} elements differ, first at "
                            f"{tuple(where[0])}: {got[tuple(where[0])]!r} != "
                            f"{want[tuple(where[0])]!r}")


def _special(rng, shape, dtype, fraction=0.02):
    """Normal values with zeros of either sign and a few NaN and +-inf."""
    x = rng.standard_normal(shape).astype(dtype)
    flat = x.reshape(-1)
    count = max(1, int(fraction * flat.size))
    for value in (0.0, -0.0, np.nan, np.inf, -np.inf):
        flat[rng.choice(flat.size, count, replace=False)] = value
    return x


def _geometry(shape, k, strides, padding, dilations):
    pads, out = nb._nn_geometry(shape[1:3], k, strides, padding, dilations)
    return pads, out


def _forward64(x, w, strides, padding, dilations):
    """The depthwise convolution in float64: the padded input's taps summed."""
    kh, kw, c, _ = w.shape
    pads, (ho, wo) = _geometry(x.shape, (kh, kw), strides, padding, dilations)
    xp = np.pad(x.astype(np.float64), ((0, 0),) + tuple(pads) + ((0, 0),))
    (sh, sw), (dh, dw) = strides, dilations
    out = np.zeros((x.shape[0], ho, wo, c))
    for i in range(kh):
        for j in range(kw):
            out += xp[:, i * dh:i * dh + sh * (ho - 1) + 1:sh,
                      j * dw:j * dw + sw * (wo - 1) + 1:sw] * w[i, j, :, 0]
    return out


def _input_grad64(w, g, shape, strides, padding, dilations):
    kh, kw, c, _ = w.shape
    pads, (ho, wo) = _geometry(shape, (kh, kw), strides, padding, dilations)
    (pt, pb), (pl, pr) = pads
    n, h, wd, _ = shape
    dxp = np.zeros((n, h + pt + pb, wd + pl + pr, c))
    (sh, sw), (dh, dw) = strides, dilations
    for i in range(kh):
        for j in range(kw):
            dxp[:, i * dh:i * dh + sh * (ho - 1) + 1:sh,
                j * dw:j * dw + sw * (wo - 1) + 1:sw] += g.astype(np.float64) * w[i, j, :, 0]
    return dxp[:, pt:pt + h, pl:pl + wd]


def _filter_grad64(x, g, k, strides, padding, dilations):
    """(the filter gradient (kh, kw, c) in float64, the root of the sum of its terms' squares)."""
    kh, kw = k
    pads, (ho, wo) = _geometry(x.shape, k, strides, padding, dilations)
    xp = np.pad(x.astype(np.float64), ((0, 0),) + tuple(pads) + ((0, 0),))
    (sh, sw), (dh, dw) = strides, dilations
    exact, squares = np.zeros((2, kh, kw, x.shape[3]))
    for i in range(kh):
        for j in range(kw):
            terms = xp[:, i * dh:i * dh + sh * (ho - 1) + 1:sh,
                       j * dw:j * dw + sw * (wo - 1) + 1:sw] * g
            exact[i, j] = terms.sum(axis=(0, 1, 2))
            squares[i, j] = np.square(terms).sum(axis=(0, 1, 2))
    return exact, np.sqrt(squares)


def _assert_rounded(got, exact, scale, terms, what="filter gradient"):
    """got within a few ulps times sqrt(terms) of the float64 `exact`, relative to `scale`
    (the root of the sum of the squared terms of each sum): a missing, doubled or misplaced
    term is off by about `scale`, far outside."""
    eps = np.finfo(got.dtype).eps
    tol = 4 * eps * np.sqrt(max(terms, 1)) * scale + np.finfo(got.dtype).tiny
    err = np.abs(got.astype(np.float64) - exact)
    worst = np.unravel_index(np.argmax(err - tol), err.shape)
    assert (err <= tol).all(), (f"{what}: {got[worst]} != {exact[worst]} at {worst} "
                                f"(error {err[worst]:.3g}, tolerance {tol[worst]:.3g})")


def _filter_grad(x, g, k, strides, padding, dilations):
    c = x.shape[3]
    return nb.conv2d_backprop_filter(x, g, k + (1, c), strides, padding, dilations,
                                     "NHWC").reshape(k + (c,))


def _conv(x, w, strides, padding, dilations):
    kh, kw, c, m = w.shape
    return nb.conv2d(x, w.reshape(kh, kw, 1, c * m), strides, padding, dilations, "NHWC")


def _input_grad(w, g, shape, strides, padding, dilations):
    kh, kw, c, m = w.shape
    return nb.conv2d_backprop_input(w.reshape(kh, kw, 1, c * m), g, shape, strides, padding,
                                    dilations, "NHWC")


# MobileNetV2's depthwise layers (batch cut down), channel tails, VALID, dilation, 5x5.
CASES = [
    ((8, 112, 112, 32), 3, (1, 1), "SAME", (1, 1)),
    ((8, 56, 56, 144), 3, (2, 2), "SAME", (1, 1)),
    ((4, 14, 14, 576), 3, (1, 1), "SAME", (1, 1)),
    ((4, 7, 7, 960), 3, (1, 1), "SAME", (1, 1)),
    ((3, 17, 19, 24), 3, (1, 1), "SAME", (1, 1)),
    ((3, 16, 15, 40), 5, (2, 2), "SAME", (1, 1)),
    ((2, 13, 12, 37), 3, (1, 2), "VALID", (1, 1)),
    ((2, 15, 16, 20), 3, (1, 1), "SAME", (2, 2)),
    ((2, 15, 16, 7), 3, (1, 1), "VALID", (2, 3)),
    ((2, 9, 9, 16), (1, 4), (3, 1), "SAME", (1, 1)),
]


@needs_native
@pytest.mark.parametrize("shape, k, strides, padding, dilations", CASES)
def test_forward_and_input_gradient_are_the_numpy_paths_bits(shape, k, strides, padding,
                                                            dilations, spy):
    rng = np.random.default_rng(sum(shape))
    k = (k, k) if isinstance(k, int) else k
    x = rng.standard_normal(shape).astype(np.float32)
    x[x < -0.5] = 0.0  # (a ReLU's zeros)
    w = rng.standard_normal(k + (shape[3], 1)).astype(np.float32)
    attrs = (strides, padding, dilations)
    got = _conv(x, w, *attrs)
    _assert_same_bits(got, _numpy_path(_conv, x, w, *attrs), "forward")
    np.testing.assert_allclose(got, _forward64(x, w, *attrs), rtol=1e-4, atol=1e-4)
    g = rng.standard_normal(got.shape).astype(np.float32)
    dx = _input_grad(w, g, shape, *attrs)
    _assert_same_bits(dx, _numpy_path(_input_grad, w, g, shape, *attrs), "input gradient")
    np.testing.assert_allclose(dx, _input_grad64(w, g, shape, *attrs), rtol=1e-4, atol=1e-4)
    dw = _filter_grad(x, g, k, *attrs)
    exact, scale = _filter_grad64(x, g, k, *attrs)
    _assert_rounded(dw, exact, scale, g[..., 0].size)
    assert spy["depthwise"] == got.shape[0] * got.shape[1]
    assert spy["depthwise_input_grad"] == shape[0] * shape[1]
    assert spy["depthwise_filter_grad"] == got.shape[0] * got.shape[1]


@needs_native
@pytest.mark.parametrize("shape, k, strides, padding, dilations", CASES[4:])
def test_float64_kernels(shape, k, strides, padding, dilations, spy):
    rng = np.random.default_rng(sum(shape) + 1)
    k = (k, k) if isinstance(k, int) else k
    x = rng.standard_normal(shape)
    w = rng.standard_normal(k + (shape[3], 1))
    attrs = (strides, padding, dilations)
    got = _conv(x, w, *attrs)
    _assert_same_bits(got, _numpy_path(_conv, x, w, *attrs), "forward")
    g = rng.standard_normal(got.shape)
    _assert_same_bits(_input_grad(w, g, shape, *attrs),
                      _numpy_path(_input_grad, w, g, shape, *attrs), "input gradient")
    exact, scale = _filter_grad64(x, g, k, *attrs)
    _assert_rounded(_filter_grad(x, g, k, *attrs), exact, scale, g[..., 0].size)
    assert spy["depthwise"] and spy["depthwise_input_grad"] and spy["depthwise_filter_grad"]


@needs_native
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("strides, padding, dilations", [
    ((1, 1), "SAME", (1, 1)), ((2, 2), "SAME", (1, 1)), ((1, 1), "VALID", (2, 2)),
    ((2, 1), "SAME", (1, 2))])
def test_zeros_nan_and_inf_give_the_numpy_paths_bits(dtype, strides, padding, dilations, spy):
    """Signed zeros, NaN and infinities in the input, the filter and the cotangent."""
    rng = np.random.default_rng(5)
    x = _special(rng, (3, 11, 10, 19), dtype)
    w = _special(rng, (3, 3, 19, 1), dtype, fraction=0.05)
    attrs = (strides, padding, dilations)
    got = _conv(x, w, *attrs)
    _assert_same_bits(got, _numpy_path(_conv, x, w, *attrs), "forward")
    g = _special(rng, got.shape, dtype)
    _assert_same_bits(_input_grad(w, g, x.shape, *attrs),
                      _numpy_path(_input_grad, w, g, x.shape, *attrs), "input gradient")
    assert spy["depthwise"] and spy["depthwise_input_grad"]


@needs_native
def test_padding_taps_add_zero_products_as_the_padded_copy_does():
    """An input of -0.0 times positive filter values gives products of -0.0, which sum to
    -0.0; a padding tap adds +0.0 * w = +0.0 (-0.0 + 0.0 is +0.0), and NaN for an infinite
    w. A kernel skipping the padding's taps would keep -0.0 at the border, a finite value."""
    x = np.full((1, 3, 3, 16), -0.0, np.float32)
    w = np.ones((3, 3, 16, 1), np.float32)
    out = _conv(x, w, (1, 1), "SAME", (1, 1))
    assert (out == 0).all()
    assert np.signbit(out[0, 1, 1]).all()  # (no padding: -0.0 stays)
    border = np.ones((3, 3), bool)
    border[1, 1] = False
    assert not np.signbit(out[0][border]).any()
    x = np.ones((1, 3, 3, 16), np.float32)
    w[0, 0] = np.inf  # (reads the padding at output pixels of row 0 or column 0 only)
    out = _conv(x, w, (1, 1), "SAME", (1, 1))
    assert np.isnan(out[0, 0]).all() and np.isnan(out[0, :, 0]).all()
    assert (out[0, 1:, 1:] == np.inf).all()


@needs_native
def test_input_gradient_starts_from_zero_or_the_first_product_as_numpy_does():
    """At stride 1 the pixels the first tap reads get its product itself (-0.0 stays); the
    others, and every pixel at stride 2, 0.0 + the products (-0.0 becomes +0.0)."""
    w = np.full((3, 3, 16, 1), -1.0, np.float32)
    g = np.zeros((1, 3, 3, 16), np.float32)
    dx = _input_grad(w, g, (1, 3, 3, 16), (1, 1), "SAME", (1, 1))
    want = _numpy_path(_input_grad, w, g, (1, 3, 3, 16), (1, 1), "SAME", (1, 1))
    _assert_same_bits(dx, want)
    # (SAME pads one: the first tap reads padded rows and columns 0-2, pixels 0-1 here)
    assert np.signbit(dx[0, :2, :2]).all() and not np.signbit(dx[0, 2]).any()
    g = np.zeros((1, 2, 2, 16), np.float32)
    dx = _input_grad(w, g, (1, 4, 4, 16), (2, 2), "SAME", (1, 1))
    assert not np.signbit(dx).any()


def test_gradients_match_central_finite_differences():
    """float64: the forward is linear, so the differences are exact to rounding."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 7, 6, 18))
    w = rng.standard_normal((3, 3, 18, 1))
    attrs = ((2, 1), "SAME", (1, 2))
    g = rng.standard_normal(_conv(x, w, *attrs).shape)
    dx = _input_grad(w, g, x.shape, *attrs)
    dw = nb.conv2d_backprop_filter(x, g, (3, 3, 1, 18), *attrs, "NHWC").reshape(w.shape)
    step = 1e-3
    for index in [(0, 0, 0, 0), (1, 6, 5, 17), (0, 3, 2, 9), (1, 0, 5, 16)]:
        bump = np.zeros_like(x)
        bump[index] = step
        slope = (np.sum(_conv(x + bump, w, *attrs) * g)
                 - np.sum(_conv(x - bump, w, *attrs) * g)) / (2 * step)
        assert abs(dx[index] - slope) <= 1e-7 * (1 + abs(slope)), index
    for index in [(0, 0, 0, 0), (2, 1, 17, 0), (1, 2, 5, 0)]:
        bump = np.zeros_like(w)
        bump[index] = step
        slope = (np.sum(_conv(x, w + bump, *attrs) * g)
                 - np.sum(_conv(x, w - bump, *attrs) * g)) / (2 * step)
        assert abs(dw[index] - slope) <= 1e-7 * (1 + abs(slope)), index


@needs_native
def test_rows_split_across_threads_give_the_same_bits(monkeypatch, spy):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((5, 21, 20, 48)).astype(np.float32)
    w = rng.standard_normal((3, 3, 48, 1)).astype(np.float32)
    g = rng.standard_normal((5, 11, 10, 48)).astype(np.float32)
    attrs = ((2, 2), "SAME", (1, 1))
    monkeypatch.setattr(nb, "_NN_COLS_BYTES", 4096)  # (pieces of a few rows)
    monkeypatch.setattr(nb, "_THREADS", 1)
    want = (_conv(x, w, *attrs), _input_grad(w, g, x.shape, *attrs),
            _filter_grad(x, g, (3, 3), *attrs))
    monkeypatch.setattr(nb, "_THREADS", 2)
    monkeypatch.setattr(nb, "_PARALLEL_MIN_BYTES", 0)
    _assert_same_bits(_conv(x, w, *attrs), want[0])
    _assert_same_bits(_input_grad(w, g, x.shape, *attrs), want[1])
    _assert_same_bits(_filter_grad(x, g, (3, 3), *attrs), want[2])
    assert spy["depthwise"] == 2 * 5 * 11 and spy["depthwise_filter_grad"] == 2 * 5 * 11


def test_unsupported_cases_run_the_numpy_path(spy):
    """A multiplier of 2, an 8x8 filter, integers, mixed dtypes and the switch: the NumPy
    path's results."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 8, 8, 16)).astype(np.float32)
    w2 = rng.standard_normal((3, 3, 16, 2)).astype(np.float32)
    attrs = ((1, 1), "SAME", (1, 1))
    got = _conv(x, w2, *attrs)
    np.testing.assert_allclose(got.reshape(2, 8, 8, 16, 2)[..., 1],
                               _forward64(x, w2[..., 1:], *attrs), rtol=1e-5, atol=1e-5)
    g = rng.standard_normal(got.shape).astype(np.float32)
    np.testing.assert_allclose(
        _input_grad(w2, g, x.shape, *attrs),
        sum(_input_grad64(w2[..., k:k + 1], g[..., k::2], x.shape, *attrs) for k in range(2)),
        rtol=1e-5, atol=1e-5)
    dw = nb.conv2d_backprop_filter(x, g, (3, 3, 1, 32), *attrs, "NHWC").reshape(3, 3, 16, 2)
    np.testing.assert_allclose(dw[..., 1], _filter_grad64(x, g[..., 1::2], (3, 3), *attrs)[0],
                               rtol=1e-4, atol=1e-4)
    w8 = rng.standard_normal((8, 8, 16, 1)).astype(np.float32)
    np.testing.assert_allclose(_conv(x, w8, *attrs), _forward64(x, w8, *attrs), rtol=1e-5,
                               atol=1e-5)
    xi = rng.integers(-3, 4, (2, 8, 8, 16)).astype(np.int32)
    wi = rng.integers(-3, 4, (3, 3, 16, 1)).astype(np.int32)
    np.testing.assert_array_equal(_conv(xi, wi, *attrs),
                                  _forward64(xi, wi, *attrs).astype(np.int64))
    w64 = rng.standard_normal((3, 3, 16, 1))
    np.testing.assert_allclose(_conv(x, w64, *attrs), _forward64(x, w64, *attrs), rtol=1e-6)
    assert not any(spy.values())
    w = w2[..., :1].copy()
    numpy_llvm.enable(False)
    try:
        assert dn.depthwise_rows(x, w, np.empty_like(x), (1, 1), (1, 1), (1, 1)) is None
        _conv(x, w, *attrs)
    finally:
        numpy_llvm.enable(True)
    assert not any(spy.values())


@needs_native
def test_nchw_input_runs_the_kernels_on_its_nhwc_copy(spy):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 24, 9, 10)).astype(np.float32)
    w = rng.standard_normal((3, 3, 1, 24)).astype(np.float32)
    attrs = ((2, 1), "SAME", (1, 1), "NCHW")
    got = nb.conv2d(x, w, *attrs)
    _assert_same_bits(got, _numpy_path(nb.conv2d, x, w, *attrs))
    g = rng.standard_normal(got.shape).astype(np.float32)
    _assert_same_bits(nb.conv2d_backprop_input(w, g, x.shape, *attrs),
                      _numpy_path(nb.conv2d_backprop_input, w, g, x.shape, *attrs))
    exact, scale = _filter_grad64(x.transpose(0, 2, 3, 1), g.transpose(0, 2, 3, 1), (3, 3),
                                  *attrs[:3])
    _assert_rounded(nb.conv2d_backprop_filter(x, g, w.shape, *attrs).reshape(3, 3, 24), exact,
                    scale, g[:, 0].size)
    assert all(spy.values())


@needs_native
def test_float16_runs_the_float32_kernel_and_rounds_as_numpy(spy):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 9, 9, 32)).astype(np.float16)
    w = rng.standard_normal((3, 3, 32, 1)).astype(np.float16)
    attrs = ((1, 1), "SAME", (1, 1))
    _assert_same_bits(_conv(x, w, *attrs), _numpy_path(_conv, x, w, *attrs))
    assert spy["depthwise"] == 18


def test_without_llvmlite_or_by_the_environment_the_kernels_are_off():
    code = textwrap.dedent("""
        import sys
        import numpy as np
        sys.modules["llvmlite"] = None  # (import llvmlite now fails)
        from tensorflux.backends import numpy_backend as nb
        from tensorflux.backends import numpy_depthwise_native as dn
        x = np.ones((1, 4, 4, 16), np.float32)
        w = np.ones((3, 3, 16, 1), np.float32)
        print(dn.depthwise_rows(x, w, np.empty_like(x), (1, 1), (1, 1), (1, 1)) is None,
              dn.depthwise_input_grad_rows(x, w, np.empty_like(x), (1, 1), (1, 1), (1, 1))
              is None,
              dn.depthwise_filter_grad_rows(x, x, (3, 3, 1, 16), (1, 1), (1, 1), (1, 1))
              is None)
        y = nb.conv2d(x, w.reshape(3, 3, 1, 16), (1, 1), "SAME", (1, 1), "NHWC")
        print(float(y[0, 0, 0, 0]), float(y[0, 1, 1, 0]))
    """)
    for env in ({}, {"TENSORFLUX_NATIVE_KERNELS": "0"}):
        run = code if not env else code.replace('sys.modules["llvmlite"] = None', "")
        result = subprocess.run([sys.executable, "-c", run], capture_output=True, text=True,
                                env={**os.environ, **env}, timeout=120, check=False)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["True", "True", "True", "4.0", "9.0"]


# ---------------------------------------------------------------------------- real Keras


def _separable(k):
    layers = k.layers
    return k.Sequential([
        k.Input((14, 14, 16)),
        layers.DepthwiseConv2D(3, padding="same", activation="relu"),
        layers.SeparableConv2D(24, 3, strides=2, padding="same", activation="relu"),
        layers.DepthwiseConv2D(3, dilation_rate=2),
        layers.GlobalAveragePooling2D(),
        layers.Dense(5),
    ])


@pytest.mark.keras_oracle
def test_depthwise_and_separable_models_predict_and_train_as_keras(spy):
    from tensorflux import keras
    from tests.keras._oracle import assert_matches, import_keras

    k = import_keras()
    ours, theirs = _separable(keras), _separable(k)
    rng = np.random.default_rng(12)
    weights = [rng.uniform(-0.3, 0.3, w.shape).astype("float32") for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    x = rng.standard_normal((8, 14, 14, 16)).astype("float32")
    y = rng.integers(0, 5, 8)
    assert_matches(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5,
                   atol=1e-5, what="predictions")
    for model, lib in ((ours, keras), (theirs, k)):
        model.compile(optimizer=lib.optimizers.SGD(0.1),
                      loss=lib.losses.SparseCategoricalCrossentropy(from_logits=True))
    for step in range(3):
        a, b = ours.train_on_batch(x, y), theirs.train_on_batch(x, y)
        assert abs(float(a) - float(b)) <= 1e-5 * max(1.0, abs(float(b))), step
    if NATIVE:
        assert all(spy.values())
    for i, (a, b) in enumerate(zip(ours.get_weights(), theirs.get_weights())):
        assert_matches(a, b, rtol=1e-4, atol=2e-5, what=f"weight {i} after 3 steps")
