"""The keras.ops added for Keras 3.15's numpy, einops and associative_scan ops, against real
Keras 3 (the oracle): values, dtypes and shapes on the same inputs; gradients against central
finite differences; KerasTensor nodes in Functional models, saved and loaded both ways."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras as tfk
from tensorflux.keras import ops
from tests.keras._oracle import assert_matches, fresh_names, import_keras, to_numpy  # noqa: F401
from tests.tolerances import central_difference

pytestmark = pytest.mark.keras_oracle

RNG = np.random.default_rng(7)
F = RNG.normal(size=(3, 4)).astype("float32")
G = RNG.normal(size=(3, 4)).astype("float32")
P = RNG.uniform(0.1, 3.0, size=(3, 4)).astype("float32")
U = RNG.uniform(-0.9, 0.9, size=(3, 4)).astype("float32")
I = RNG.integers(-50, 50, size=(3, 4)).astype("int32")  # noqa: E741
J = RNG.integers(1, 40, size=(3, 4)).astype("int32")
B = F > 0
V = RNG.normal(size=(5,)).astype("float32")
W = RNG.normal(size=(3,)).astype("float32")
CUBE = RNG.normal(size=(2, 3, 4)).astype("float32")
VEC3 = RNG.normal(size=(2, 4, 3)).astype("float32")
SQ = (RNG.normal(size=(3, 3)) + 2 * np.eye(3)).astype("float32")
NAN = np.array([[1.0, np.nan, 3.0, -2.0], [np.nan, np.nan, np.nan, np.nan],
                [0.5, 4.0, np.nan, 2.0]], "float32")
SPECIAL = np.array([0.0, -0.0, 1.5, -2.0, np.inf, -np.inf, np.nan], "float32")
REPEATS = np.array([[3, 1, 3], [2, 1, 2], [3, 1, 3], [0, 0, 0]], "int32")
COUNTS = np.array([1, 1, 3, 0, 7, 3], "int32")
SORTED = np.array([-1.0, 0.0, 0.5, 2.0, 3.0], "float32")

# (id, op name, positional args, keyword args)
CASES = [
    # elementwise unary, with Keras's dtypes (ints give floatx; cbrt/i0/deg2rad widen int64)
    ("angle", "angle", (F,), {}), ("angle_int", "angle", (I,), {}),
    ("arcsinh", "arcsinh", (F * 5,), {}), ("arcsinh_big", "arcsinh", (F * 1e6,), {}),
    ("arcsinh_int", "arcsinh", (I,), {}), ("arccosh", "arccosh", (P + 1.0,), {}),
    ("arccosh_big", "arccosh", (P * 1e6,), {}), ("arctanh", "arctanh", (U,), {}),
    ("cbrt", "cbrt", (F * 10,), {}), ("cbrt_int", "cbrt", (I,), {}),
    ("cbrt_int64", "cbrt", (I.astype("int64"),), {}), ("deg2rad", "deg2rad", (I,), {}),
    ("deg2rad_f", "deg2rad", (F * 90,), {}), ("rad2deg", "rad2deg", (F,), {}),
    ("rad2deg_int64", "rad2deg", (I.astype("int64"),), {}), ("fabs", "fabs", (F,), {}),
    ("fabs_int", "fabs", (I,), {}), ("sinc", "sinc", (np.append(F.ravel(), 0.0),), {}),
    ("i0", "i0", (F * 6,), {}), ("i0_far", "i0", (P * 10 + 8,), {}),
    ("i0_f64", "i0", ((F * 12).astype("float64"),), {}), ("i0_int", "i0", (J,), {}),
    ("isneginf", "isneginf", (SPECIAL,), {}), ("isposinf", "isposinf", (SPECIAL,), {}),
    ("isposinf_int", "isposinf", (I,), {}), ("isreal", "isreal", (F,), {}),
    ("isreal_complex", "isreal", (np.array([1 + 0j, 2 + 1j], "complex64"),), {}),
    ("signbit", "signbit", (SPECIAL[:-1],), {}), ("signbit_int", "signbit", (I,), {}),
    # elementwise binary
    ("fmax", "fmax", (NAN, np.flip(NAN, 1).copy()), {}), ("fmin", "fmin", (NAN, F), {}),
    ("fmax_int_float", "fmax", (I, F), {}), ("fmod", "fmod", (F * 5, P), {}),
    ("fmod_int", "fmod", (I, J), {}), ("fmod_neg_divisor", "fmod", (I, -J), {}),
    ("gcd", "gcd", (I, J), {}), ("gcd_zero", "gcd", (np.array([0, 0, 12, -18]), 6), {}),
    ("lcm", "lcm", (I, J), {}), ("heaviside", "heaviside", (np.round(F), 0.5), {}),
    ("heaviside_int", "heaviside", (I, J), {}), ("hypot", "hypot", (F, G), {}),
    ("hypot_int", "hypot", (I, J), {}), ("hypot_big", "hypot", (F * 1e30, G * 1e30), {}),
    ("ldexp", "ldexp", (F, I // 5), {}), ("ldexp_int", "ldexp", (J, J // 5), {}),
    ("logaddexp2", "logaddexp2", (F * 10, G), {}),
    ("logaddexp2_inf", "logaddexp2", (SPECIAL[4:6], SPECIAL[4:6]), {}),
    ("nextafter", "nextafter", (F, G), {}),
    ("kron", "kron", (F[:2, :2], G), {}), ("kron_1d_2d", "kron", (W, SQ), {}),
    # bitwise
    ("bitwise_and", "bitwise_and", (I, J), {}), ("bitwise_or", "bitwise_or", (I, -J), {}),
    ("bitwise_xor", "bitwise_xor", (I, J), {}), ("bitwise_and_bool", "bitwise_and", (B, ~B), {}),
    ("bitwise_or_uint8", "bitwise_or", (J.astype("uint8"), np.uint8(200)), {}),
    ("bitwise_xor_int8", "bitwise_xor", (I.astype("int8"), np.int8(-7)), {}),
    ("bitwise_and_int64", "bitwise_and", (I.astype("int64") * 10**12, -J.astype("int64")), {}),
    ("bitwise_invert", "bitwise_invert", (I,), {}), ("bitwise_not", "bitwise_not", (B,), {}),
    ("left_shift", "left_shift", (I, J % 8), {}),
    ("left_shift_int", "bitwise_left_shift", (I, 3), {}),
    ("right_shift", "right_shift", (I * 1000, J % 12), {}),
    ("right_shift_far", "bitwise_right_shift", (I, 31), {}),
    ("right_shift_uint8", "bitwise_right_shift", (J.astype("uint8") * 5, 7), {}),
    # NaN-aware reductions
    ("nansum", "nansum", (NAN,), {}), ("nansum_axis", "nansum", (NAN,), {"axis": 1}),
    ("nansum_int", "nansum", (I,), {"axis": 0, "keepdims": True}),
    ("nansum_bool", "nansum", (B,), {}), ("nanprod", "nanprod", (NAN,), {"axis": -1}),
    ("nanmax", "nanmax", (NAN,), {"axis": 1}), ("nanmax_all", "nanmax", (NAN,), {}),
    ("nanmin", "nanmin", (NAN,), {"axis": 0, "keepdims": True}),
    ("nanmin_int", "nanmin", (I,), {"axis": 1}), ("nanmean", "nanmean", (NAN,), {"axis": 1}),
    ("nanmean_all", "nanmean", (NAN,), {}), ("nanmean_int", "nanmean", (I,), {"axis": 0}),
    ("nanvar", "nanvar", (NAN,), {"axis": -1, "keepdims": True}),
    ("nanvar_axes", "nanvar", (CUBE,), {"axis": (0, 2)}), ("nanstd", "nanstd", (NAN,), {}),
    ("nanargmax", "nanargmax", (NAN,), {"axis": 1}), ("nanargmax_all", "nanargmax", (NAN,), {}),
    ("nanargmin", "nanargmin", (NAN,), {"axis": 0, "keepdims": True}),
    ("nanargmin_int", "nanargmin", (I,), {"axis": 1}),
    ("nancumsum", "nancumsum", (NAN,), {"axis": 1}), ("nancumsum_flat", "nancumsum", (NAN,), {}),
    ("nancumsum_bool", "nancumsum", (B,), {"axis": 0}),
    ("nancumprod", "nancumprod", (NAN,), {"axis": 0}), ("ptp", "ptp", (F,), {"axis": 1}),
    ("ptp_all", "ptp", (I,), {}),
    ("ptp_keepdims", "ptp", (CUBE,), {"axis": (0, 2), "keepdims": True}),
    # quantiles
    ("median", "median", (F,), {}), ("median_axis", "median", (F,), {"axis": 1}),
    ("median_int", "median", (I,), {"axis": 0, "keepdims": True}),
    ("median_nan", "median", (NAN,), {"axis": 1}),
    ("quantile", "quantile", (F, 0.3), {"axis": 1}),
    ("quantile_qs", "quantile", (CUBE, np.array([0.0, 0.25, 0.9, 1.0], "float32")),
     {"axis": (0, 2)}),
    ("quantile_keepdims", "quantile", (CUBE, np.array([0.1, 0.5], "float32")),
     {"axis": -1, "keepdims": True}),
    ("quantile_all_keepdims", "quantile", (F, 0.7), {"keepdims": True}),
    ("quantile_int", "quantile", (I, 0.4), {}),
    *[(f"quantile_{m}", "quantile", (F, np.array([0.3, 0.5], "float32")), {"axis": 0, "method": m})
      for m in ("lower", "higher", "midpoint", "nearest")],
    ("percentile", "percentile", (F, 40.0), {"axis": 0}),
    ("percentile_qs", "percentile", (I, np.array([10.0, 90.0], "float32")), {"axis": 1}),
    ("nanquantile", "nanquantile", (NAN, 0.5), {"axis": 1}),
    ("nanquantile_qs", "nanquantile", (NAN, np.array([0.2, 0.8], "float32")), {"axis": 0}),
    ("nanpercentile", "nanpercentile", (NAN, 75.0), {"axis": 1, "method": "nearest"}),
    ("nanmedian", "nanmedian", (NAN,), {"axis": 1}), ("nanmedian_all", "nanmedian", (NAN,), {}),
    # statistics and products
    ("corrcoef", "corrcoef", (F,), {}), ("corrcoef_int", "corrcoef", (I,), {}),
    *[(f"correlate_{m}", "correlate", (V, W), {"mode": m}) for m in ("valid", "same", "full")],
    ("correlate_int", "correlate", (I[0], J[0, :2]), {"mode": "full"}),
    ("cross", "cross", (VEC3, VEC3[::-1].copy()), {}),
    ("cross_axis", "cross", (F[:, :3].T.copy(), G[:, :3].T.copy()), {"axis": 0}),
    ("trapezoid", "trapezoid", (F,), {}),
    ("trapezoid_dx", "trapezoid", (F,), {"dx": 0.5, "axis": 0}),
    ("trapezoid_x", "trapezoid", (F, np.cumsum(P[0])), {}),
    ("trapezoid_int", "trapezoid", (I,), {"axis": 1}), ("slogdet", "slogdet", (SQ,), {}),
    ("slogdet_batch", "slogdet", (np.stack([SQ, -SQ]),), {}),
    ("vander", "vander", (W,), {}),
    ("vander_n_inc", "vander", (J[0],), {"N": 3, "increasing": True}),
    # shapes
    ("array", "array", (F,), {}), ("array_dtype", "array", ([1, 2],), {"dtype": "float16"}),
    ("view", "view", (F,), {"dtype": "int32"}), ("view_bytes", "view", (I,), {"dtype": "uint8"}),
    ("view_wider", "view", (I.astype("int16"),), {"dtype": "float32"}),
    ("array_split", "array_split", (CUBE, 3), {"axis": -1}),
    ("hsplit", "hsplit", (F, 2), {}), ("hsplit_1d", "hsplit", (V, [2]), {}),
    ("vsplit", "vsplit", (F, 3), {}), ("dsplit", "dsplit", (CUBE, [1, 3]), {}),
    ("dstack", "dstack", ([F, G],), {}), ("dstack_1d", "dstack", ([W, W],), {}),
    ("dstack_promote", "dstack", ([CUBE, CUBE.astype("float16")],), {}),
    ("fliplr", "fliplr", (CUBE,), {}), ("flipud", "flipud", (F,), {}),
    *[(f"rot90_{k}", "rot90", (CUBE,), {"k": k}) for k in (0, 1, 2, 3, -1)],
    ("rot90_axes", "rot90", (CUBE,), {"axes": (2, 0)}),
    ("diagflat", "diagflat", (F[:2, :2],), {}), ("diagflat_k", "diagflat", (W,), {"k": -1}),
    ("unravel_index", "unravel_index", (np.array([0, 5, 11, 7], "int32"), (3, 4)), {}),
    # searching and counting
    ("searchsorted", "searchsorted", (SORTED, F), {}),
    ("searchsorted_right", "searchsorted", (SORTED, np.array([0.0, 2.0, 9.0], "float32")),
     {"side": "right"}),
    ("digitize", "digitize", (F, SORTED), {}), ("digitize_int", "digitize", (I, [-10, 0, 10]), {}),
    ("isin", "isin", (I % 7, [1, 3, 5]), {}),
    ("isin_invert", "isin", (F, F[0]), {"invert": True}),
    ("bincount", "bincount", (COUNTS,), {}), ("bincount_minlength", "bincount", (COUNTS,),
                                             {"minlength": 10}),
    ("bincount_weights", "bincount", (COUNTS,), {"weights": V.tolist() + [1.0]}),
    ("bincount_2d", "bincount", (REPEATS,), {"minlength": 5}),
    ("histogram", "histogram", (V,), {}), ("histogram_range", "histogram", (F.ravel(),),
                                           {"bins": 4, "range": (-1.0, 1.0)}),
    ("histogram_one_value", "histogram", (np.ones(4, "float32"),), {"bins": 3}),
    ("unique", "unique", (REPEATS,), {}),
    ("unique_all", "unique", (COUNTS,),
     {"return_index": True, "return_inverse": True, "return_counts": True}),
    ("unique_axis", "unique", (REPEATS,), {"axis": 0, "return_inverse": True,
                                           "return_counts": True}),
    ("unique_axis1", "unique", (REPEATS,), {"axis": 1, "return_index": True}),
    ("unique_size", "unique", (COUNTS,), {"size": 7, "fill_value": -1, "return_counts": True}),
    ("unique_size_cut", "unique", (COUNTS,), {"size": 2, "return_counts": True}),
    ("unique_float", "unique", (np.round(F),), {"return_inverse": True}),
    # creation
    ("logspace", "logspace", (0.0, 2.0), {"num": 5}),
    ("logspace_base", "logspace", (1, 3), {"num": 4, "base": 2, "endpoint": False}),
    ("geomspace", "geomspace", (1.0, 1000.0), {"num": 4}),
    ("geomspace_negative", "geomspace", (-2.0, -32.0), {"num": 5, "endpoint": False}),
    ("bartlett", "bartlett", (7,), {}), ("blackman", "blackman", (6,), {}),
    ("hamming", "hamming", (5,), {}), ("hanning", "hanning", (8,), {}),
    ("kaiser", "kaiser", (9, 4.0), {}), ("window_1", "hamming", (1,), {}),
    # rearrange, associative_scan
    ("rearrange", "rearrange", (CUBE, "b h w -> b w h"), {}),
    ("rearrange_merge", "rearrange", (CUBE, "b h w -> (b h) w"), {}),
    ("rearrange_split", "rearrange", (CUBE, "b h (w1 w) -> (b w1) w h"), {"w1": 2}),
]

# Where Keras's torch backend returns torch's own dtype instead of the one Keras documents
# (and its KerasTensors report), tensorflux follows the documented one.
TORCH_DTYPES = {("searchsorted", 0): ("int32", "int64"),
                **{("unique", i): ("int32", "int64") for i in (1, 2, 3)}}
# Where Keras's torch backend computes in float32 before casting to float64.
FLOAT32_INSIDE = {"rad2deg_int64", "deg2rad_int64"}


def _leaves(value):
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def _dtype_name(value, keras):
    if hasattr(value, "dtype") and not isinstance(value, np.ndarray):
        return keras.backend.standardize_dtype(value.dtype)
    return str(np.asarray(value).dtype)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_op_matches_keras(case):
    keras = import_keras()
    _, name, args, kwargs = case
    theirs = getattr(keras.ops, name)(*args, **kwargs)
    ours = getattr(ops, name)(*args, **kwargs)
    their_leaves, our_leaves = _leaves(theirs), _leaves(ours)
    assert len(our_leaves) == len(their_leaves), f"{name}: {len(our_leaves)} outputs"
    for index, (a, b) in enumerate(zip(our_leaves, their_leaves)):
        what = f"{case[0]} output {index}"
        dtypes = (_dtype_name(a, keras), _dtype_name(b, keras))
        assert dtypes[0] == dtypes[1] or TORCH_DTYPES.get((name, index)) == dtypes, \
            f"{what}: dtype {dtypes[0]} != Keras {dtypes[1]}"
        tolerance = 1e-12 if dtypes[0] == "float64" and case[0] not in FLOAT32_INSIDE else 2e-6
        assert_matches(a, b, rtol=tolerance, atol=tolerance, what=what)


# Cases where Keras's torch backend is not the reference: its torch.cross picks the first axis
# of length 3 and has no 2-vectors, its result_type narrows 64-bit dtypes (its TensorFlow
# backend, as tensorflux, keeps them), and nextafter is checked bit for bit in float64.
NUMPY_CASES = [
    ("cross_2d", lambda m: m.cross(F[:, :2], G[:, :2]), np.cross(F[:, :2], G[:, :2])),
    ("cross_2_3", lambda m: m.cross(F[:, :2], G[:, :3]), np.cross(F[:, :2], G[:, :3])),
    ("cross_axes", lambda m: m.cross(VEC3, np.moveaxis(G[:2, :3], 1, 0)[:, :, None],
                                     axisa=2, axisb=0, axisc=0),
     np.cross(VEC3, np.moveaxis(G[:2, :3], 1, 0)[:, :, None], axisa=2, axisb=0, axisc=0)),
    ("nextafter", lambda m: m.nextafter(F.astype("float64"), G.astype("float64")),
     np.nextafter(F.astype("float64"), G.astype("float64"))),
    ("nextafter_special", lambda m: m.nextafter(
        np.array([0.0, -0.0, 1.0, 1.0, 2.0, -4.0, 5e-324, np.inf, 3.0, 2.2250738585072014e-308]),
        np.array([-1.0, 1.0, 2.0, 0.0, 0.0, 0.0, 1.0, 0.0, 3.0, 0.0])),
     np.nextafter([0.0, -0.0, 1.0, 1.0, 2.0, -4.0, 5e-324, np.inf, 3.0, 2.2250738585072014e-308],
                  [-1.0, 1.0, 2.0, 0.0, 0.0, 0.0, 1.0, 0.0, 3.0, 0.0])),
    ("unravel_index_int64", lambda m: m.unravel_index(np.array([3, 17, 23]), (2, 3, 4)),
     np.unravel_index([3, 17, 23], (2, 3, 4))),
    ("correlate_long_second", lambda m: m.correlate(W, V, mode="valid"),
     np.correlate(W, V, mode="valid")),
]


@pytest.mark.parametrize("case", NUMPY_CASES, ids=[c[0] for c in NUMPY_CASES])
def test_op_matches_numpy(case):
    _, run, expected = case
    ours, expected = _leaves(run(ops)), _leaves(expected)
    assert len(ours) == len(expected)
    for a, b in zip(ours, expected):
        assert to_numpy(a).dtype == np.asarray(b).dtype
        np.testing.assert_array_equal(to_numpy(a), b) if np.asarray(b).dtype.kind != "f" else \
            np.testing.assert_allclose(to_numpy(a), b, rtol=1e-6, atol=1e-7)


def test_argpartition_partitions_as_keras_does():
    keras = import_keras()
    x = RNG.normal(size=(4, 7)).astype("float32")
    for kth, axis in ((2, -1), (0, 0), (5, None)):
        ours = to_numpy(ops.argpartition(x, kth, axis=axis))
        theirs = to_numpy(keras.ops.argpartition(x, kth, axis=axis))
        assert ours.dtype == np.int32 and ours.shape == theirs.shape
        values = x.ravel() if axis is None else x
        picked = np.take_along_axis(values, ours, axis=-1 if axis is None else axis)
        pivot = np.take(np.sort(values, axis=axis or 0), [kth], axis=axis or 0)
        np.testing.assert_array_equal(np.take(picked, [kth], axis=axis or 0), pivot)
        assert np.all(np.take(picked, range(kth), axis=axis or 0) <= pivot)


def test_vectorize_matches_keras():
    keras = import_keras()
    for kwargs, args in (({}, (F, W[:, None])), ({"signature": "(n),(n)->()"}, (F, G)),
                         ({"signature": "(n)->(n)"}, (CUBE,))):
        def fn(*xs, lib):
            return lib.ops.sum(xs[0] * xs[1]) if len(xs) == 2 else lib.ops.cumsum(xs[0])

        ours = ops.vectorize(lambda *xs: fn(*xs, lib=tfk), **kwargs)(*args)
        theirs = keras.ops.vectorize(lambda *xs: fn(*xs, lib=keras), **kwargs)(*args)
        assert_matches(ours, theirs, rtol=1e-6, atol=1e-6, what=str(kwargs))
    pairs = ops.vectorize(lambda a, scale: (a * scale, a + scale), excluded={1})(W, 2.0)
    assert_matches(pairs[0], W * 2.0) and assert_matches(pairs[1], W + 2.0)


def test_associative_scan_matches_keras():
    keras = import_keras()
    for f, elems, kwargs in (
            (lambda a, b: a + b, F, {"axis": 1}),
            (lambda a, b: a * b, P[:, :3], {"reverse": True}),
            (lambda a, b: [a[0] * b[0], a[1] * b[0] + b[1]], [P[0], V[:4]], {}),  # affine maps
            (lambda a, b: {"m": a["m"] + b["m"]}, {"m": CUBE}, {"axis": 2})):
        ours = ops.associative_scan(f, elems, **kwargs)
        theirs = keras.ops.associative_scan(f, elems, **kwargs)
        if isinstance(ours, dict):
            ours, theirs = ours["m"], theirs["m"]
        for a, b in zip(_leaves(ours), _leaves(theirs)):
            assert_matches(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name, call, message", [
    ("bitwise_and", lambda: ops.bitwise_and(F, 1), "integer"),
    ("ldexp", lambda: ops.ldexp(F, F), "integer"),
    ("fabs", lambda: ops.fabs(np.array([1j])), "complex"),
    ("quantile", lambda: ops.quantile(F, 0.5, method="cubic"), "method"),
    ("histogram", lambda: ops.histogram(V, bins=2.5), "bins"),
    ("histogram_range", lambda: ops.histogram(V, range=(1.0, 0.0)), "range"),
    ("correlate", lambda: ops.correlate(V, W, mode="wide"), "mode"),
    ("cross", lambda: ops.cross(F, G), "2 or 3 components"),
    ("rot90", lambda: ops.rot90(V), "2 dimensions"),
    ("searchsorted", lambda: ops.searchsorted(F, V), "1-D"),
    ("array_split", lambda: ops.array_split(F, [1, 2]), "int"),
    ("view", lambda: ops.view(np.ones(3, "int32"), "int64"), "divide"),
    ("rearrange", lambda: ops.rearrange(CUBE, "b h w -> b h"), "same axes"),
    ("rearrange_groups", lambda: ops.rearrange(CUBE, "b h (w1 w) -> b h w1 w"), "infer"),
    ("hamming", lambda: ops.hamming(tfk.Input((3,))), "symbolic"),
    ("bincount", lambda: ops.bincount(V), "integer"),
])
def test_bad_arguments_are_named(name, call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


# ---------------------------------------------------------------- gradients
X = RNG.normal(size=(3, 4))
HOLES = np.isnan(NAN)  # where the NaN-aware reductions see NaNs
WEIGHTS = RNG.normal(size=(3, 4))


def _with_holes(x):
    return ops.where(HOLES, float("nan"), x)


def _weighted(y):
    y = ops.convert_to_tensor(y)
    return ops.sum(y * np.resize(WEIGHTS, y.shape))


GRADIENT_CASES = {
    "arcsinh": lambda x: ops.arcsinh(x * 3.0), "arccosh": lambda x: ops.arccosh(ops.abs(x) + 1.5),
    "arctanh": lambda x: ops.arctanh(x * 0.3), "cbrt": lambda x: ops.cbrt(x),
    "sinc": lambda x: ops.sinc(x), "i0": lambda x: ops.i0(x * 6.0),
    "deg2rad": lambda x: ops.deg2rad(x), "hypot": lambda x: ops.hypot(x, x * x + 1.0),
    "fmax": lambda x: ops.fmax(x, 0.1), "fmin": lambda x: ops.fmin(x, -x[:1]),
    "fmod": lambda x: ops.fmod(x * 5.0, 1.3), "logaddexp2": lambda x: ops.logaddexp2(x, x * 0.5),
    "ldexp": lambda x: ops.ldexp(x, np.arange(12).reshape(3, 4) % 3 - 1),
    "kron": lambda x: ops.kron(x[:2, :2], x), "cross": lambda x: ops.cross(x[:, :3], x[:, 1:]),
    "correlate": lambda x: ops.correlate(x[0], x[1, :2], mode="full"),
    "corrcoef": lambda x: ops.corrcoef(x), "vander": lambda x: ops.vander(x[0]),
    "trapezoid": lambda x: ops.trapezoid(x, x=np.array([0.0, 0.5, 1.5, 3.0])),
    "slogdet": lambda x: ops.slogdet(x[:, :3] + 3 * np.eye(3))[1],
    "rot90": lambda x: ops.rot90(x), "rearrange": lambda x: ops.rearrange(x, "a (b c) -> c a b",
                                                                        c=2),
    "associative_scan": lambda x: ops.associative_scan(lambda a, b: a * b, x, axis=1),
    "nansum": lambda x: ops.nansum(_with_holes(x), axis=1),
    "nanprod": lambda x: ops.nanprod(_with_holes(x), axis=1),
    "nanmean": lambda x: ops.nanmean(_with_holes(x), axis=0),
    "nanvar": lambda x: ops.nanvar(_with_holes(x), axis=0),
    "nanstd": lambda x: ops.nanstd(_with_holes(x)),
    "nanmax": lambda x: ops.nanmax(_with_holes(x), axis=0),
    "nancumsum": lambda x: ops.nancumsum(_with_holes(x), axis=1),
    "nancumprod": lambda x: ops.nancumprod(_with_holes(x)),
    "ptp": lambda x: ops.ptp(x, axis=0),
    "quantile": lambda x: ops.quantile(x, np.array([0.3, 0.5]), axis=1),
    "median": lambda x: ops.median(x, axis=0), "percentile": lambda x: ops.percentile(x, 80.0),
    "nanquantile": lambda x: ops.nanquantile(_with_holes(x), 0.6, axis=0),
}


@pytest.mark.parametrize("name", sorted(GRADIENT_CASES))
def test_gradients_match_central_differences(name):
    def loss(x):
        return _weighted(GRADIENT_CASES[name](x))

    variable = tf.constant(X)
    with tf.GradientTape() as tape:
        tape.watch(variable)
        y = loss(variable)
    grad = tape.gradient(y, variable)
    expected = central_difference(lambda v: float(loss(tf.constant(v))), X)
    assert np.abs(expected).sum() > 0
    np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-5, atol=1e-6, err_msg=name)


# ---------------------------------------------------------------- KerasTensors and models
SYMBOLIC = [
    ("cbrt_int", lambda m, x: m.ops.cbrt(m.ops.cast(x, "int32"))),
    ("hypot", lambda m, x: m.ops.hypot(x, x)),
    ("bitwise_xor", lambda m, x: m.ops.bitwise_xor(m.ops.cast(x, "int8"),
                                                   m.ops.cast(x, "int8"))),
    ("nanvar", lambda m, x: m.ops.nanvar(x, axis=1, keepdims=True)),
    ("nanargmin", lambda m, x: m.ops.nanargmin(x, axis=-1)),
    ("quantile", lambda m, x: m.ops.quantile(x, [0.2, 0.5], axis=-1)),
    ("median", lambda m, x: m.ops.median(x, axis=1)),
    ("array_split", lambda m, x: m.ops.array_split(x, 3, axis=1)),
    ("dstack", lambda m, x: m.ops.dstack([x, m.ops.cast(x, "int32")])),
    ("view", lambda m, x: m.ops.view(x, "uint8")),
    ("rot90", lambda m, x: m.ops.rot90(m.ops.expand_dims(x, -1), axes=(1, 2))),
    ("unravel_index", lambda m, x: m.ops.unravel_index(m.ops.cast(x, "int32"), (2, 3))),
    ("searchsorted", lambda m, x: m.ops.searchsorted(m.ops.ones((5,)), x)),
    ("bincount", lambda m, x: m.ops.bincount(m.ops.cast(x[0], "int32"))),
    ("histogram", lambda m, x: m.ops.histogram(x[0], bins=3)),
    ("unique", lambda m, x: m.ops.unique(x[0], size=2, return_inverse=True)),
    ("associative_scan", lambda m, x: m.ops.associative_scan(lambda a, b: a + b, x, axis=1)),
]


@pytest.mark.parametrize("case", SYMBOLIC, ids=[c[0] for c in SYMBOLIC])
def test_keras_tensors_get_keras_shapes_and_dtypes(case):
    keras = import_keras()
    _, build = case
    ours = _leaves(build(tfk, tfk.Input((4,))))
    theirs = _leaves(build(keras, keras.Input((4,))))
    assert all(isinstance(t, tfk.KerasTensor) for t in ours)
    assert [(t.shape, t.dtype) for t in ours] == [(t.shape, t.dtype) for t in theirs]


KERNEL = RNG.normal(size=(4, 6)).astype("float32")
BIAS = RNG.normal(size=(6,)).astype("float32")
DATA = RNG.normal(size=(5, 4)).astype("float32")


def build(lib, batch=5):
    """The same model in tensorflux or real Keras (`lib`), using many of the added ops."""
    ops_ = lib.ops
    x = lib.Input(batch_shape=(batch, 4), name="x")
    h = lib.layers.Dense(6, name="dense")(x)
    grid = ops_.reshape(h, (-1, 2, 3))
    ints = ops_.cast(h * 10.0, "int32")
    outputs = [
        ops_.cbrt(h), ops_.arcsinh(h), ops_.sinc(h), ops_.i0(h), ops_.deg2rad(h),
        ops_.hypot(h, ops_.square(h)), ops_.fmax(h, 0.0), ops_.logaddexp2(h, 1.0),
        ops_.heaviside(h, ops_.square(h)), ops_.signbit(h),
        ops_.nansum(h, axis=1, keepdims=True), ops_.nanmean(h, axis=-1), ops_.nanstd(h, axis=1),
        ops_.nanargmax(h, axis=1), ops_.nancumsum(h, axis=1), ops_.ptp(h, axis=1),
        ops_.median(h, axis=1), ops_.quantile(h, 0.25, axis=1),
        ops_.percentile(h, [10.0, 90.0], axis=1, method="midpoint"),
        ops_.trapezoid(h, dx=0.5), ops_.cross(grid[:, 0], grid[:, 1]),
        ops_.array_split(h, 4, axis=1)[1], ops_.hsplit(h, 2)[1], ops_.dstack([h, h]),
        ops_.rot90(grid, axes=(1, 2)), ops_.fliplr(grid),
        ops_.rearrange(grid, "b h w -> (b w) h"),
        ops_.bitwise_and(ints, ops_.flip(ints, axis=1)), ops_.right_shift(ints, 2),
        ops_.isin(ints, [1, 2, 3]), ops_.slogdet(ops_.reshape(h[:, :4], (-1, 2, 2)))[1],
        ops_.unique(ints[:, 0], size=4, fill_value=-1),
    ]
    model = lib.Model(x, outputs, name="numpy_ops")
    model.get_layer("dense").set_weights([KERNEL, BIAS])
    return model


def predictions(model):
    return [np.asarray(y) for y in model.predict(DATA, verbose=0)]


def assert_same_predictions(ours, theirs, what):
    assert len(ours) == len(theirs) > 25
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert a.dtype == b.dtype, f"{what}, output {i}"
        assert_matches(a, b, rtol=1e-5, atol=1e-5, what=f"{what}, output {i}")


def test_a_functional_model_of_added_ops_saves_and_loads_both_ways(tmp_path):
    keras = import_keras()
    ours, theirs = build(tfk), build(keras)
    expected = predictions(theirs)
    assert_same_predictions(predictions(ours), expected, "tensorflux against Keras")
    ours.save(tmp_path / "ours.keras")
    assert_same_predictions(predictions(keras.models.load_model(tmp_path / "ours.keras")),
                            expected, "tensorflux file in Keras")
    assert_same_predictions(predictions(tfk.models.load_model(tmp_path / "ours.keras")),
                            expected, "tensorflux file in tensorflux")
    theirs.save(tmp_path / "theirs.keras")
    assert_same_predictions(predictions(tfk.models.load_model(tmp_path / "theirs.keras")),
                            expected, "Keras file in tensorflux")


def test_op_nodes_are_written_as_real_keras_writes_them():
    keras = import_keras()

    def entries(model):
        layers = model.get_config()["layers"]
        found = []
        for layer in layers:
            if str(layer.get("module", "")).startswith("keras.src.ops"):
                config = {k: v for k, v in layer["config"].items() if k != "name"}
                found.append((layer["module"], layer["class_name"], repr(sorted(config.items()))))
        return sorted(found)

    ours, theirs = entries(build(tfk)), entries(build(keras))
    assert ours == theirs


def test_unsized_results_run_in_models_and_functions():
    keras = import_keras()
    x = tfk.Input((4,), dtype="int32")
    model = tfk.Model(x, [ops.gcd(x, 12), ops.unique(x[0], size=3)])
    data = np.array([[4, -6, 9, 12], [1, 2, 3, 4]], "int32")
    for ours, theirs in zip(model.predict(data, verbose=0), [
            keras.ops.gcd(data, 12), keras.ops.unique(data[0], size=3)]):
        np.testing.assert_array_equal(ours, to_numpy(theirs))
    counted = tf.function(lambda v: (ops.bincount(v, minlength=2), ops.unique(
        v, return_counts=True), ops.histogram(ops.cast(v, "float32"), bins=3)))
    values = np.array([3, 1, 3, 0, 5], "int32")
    for ours, theirs in zip(_leaves(counted(tf.constant(values))), _leaves([
            keras.ops.bincount(values, minlength=2), keras.ops.unique(values, return_counts=True),
            keras.ops.histogram(values.astype("float32"), bins=3)])):
        assert_matches(ours, theirs)


def test_view_runs_in_a_traced_function():
    viewed = tf.function(lambda v: ops.view(v, "uint8"))(tf.constant(I))
    np.testing.assert_array_equal(viewed.numpy(), I.view("uint8"))


def test_a_scan_function_cannot_be_saved(tmp_path):
    x = tfk.Input((4,))
    model = tfk.Model(x, ops.associative_scan(lambda a, b: a + b, x, axis=1))
    np.testing.assert_allclose(model.predict(DATA, verbose=0), np.cumsum(DATA, axis=1),
                               rtol=1e-6)
    with pytest.raises((TypeError, ValueError), match="lambda|function"):
        model.save(tmp_path / "scan.keras")
    assert not (tmp_path / "scan.keras").exists()


def test_a_histogram_node_round_trips(tmp_path):
    # (Keras's own Histogram node cannot run on its torch backend: it calls a missing
    # backend.math.histogram; the file is checked against tensorflux and NumPy.)
    x = tfk.Input(batch_shape=(6,))
    model = tfk.Model(x, ops.histogram(x, bins=3, range=(-1.0, 1.0)))
    model.save(tmp_path / "histogram.keras")
    loaded = tfk.models.load_model(tmp_path / "histogram.keras")
    counts, edges = loaded.predict(W.repeat(2), verbose=0)
    expected = np.histogram(W.repeat(2), bins=3, range=(-1.0, 1.0))
    np.testing.assert_allclose(counts, expected[0])
    np.testing.assert_allclose(edges, expected[1], rtol=1e-6)


TRACED = [
    ("quantile", lambda m, a: m.ops.quantile(a, np.array([0.2, 0.7], "float32"), axis=1), F),
    ("nanvar", lambda m, a: m.ops.nanvar(a, axis=0), NAN),
    ("bitwise_xor", lambda m, a: m.ops.bitwise_xor(a, np.int32(5)), I),
    ("gcd", lambda m, a: m.ops.gcd(a, np.int32(6)), I),
    ("rearrange", lambda m, a: m.ops.rearrange(a, "a (b c) -> c a b", c=2), F),
    ("kron", lambda m, a: m.ops.kron(a, F[:1]), F),
    ("associative_scan", lambda m, a: m.ops.associative_scan(lambda p, q: p * q, a, axis=1), P),
    ("unique", lambda m, a: m.ops.unique(a, return_inverse=True), I[0]),
]


@pytest.mark.parametrize("case", TRACED, ids=[c[0] for c in TRACED])
def test_ops_trace_with_unknown_dimensions(case):
    keras = import_keras()
    _, build_op, data = case
    traced = tf.function(lambda a: build_op(tfk, a), input_signature=[
        tf.TensorSpec([None] + list(data.shape[1:]), data.dtype.name)])
    for ours, theirs in zip(_leaves(traced(tf.constant(data))),
                            _leaves(build_op(keras, keras.ops.convert_to_tensor(data)))):
        assert_matches(ours, theirs, rtol=1e-6, atol=1e-6)
