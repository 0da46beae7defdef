"""tf.experimental.numpy (TensorFlow's NumPy API, `import ... as tnp`): values against NumPy
float64, dtype promotion against NumPy 2's own result_type, and the dtype facts that TF's tnp
adds on top, hard-coded below as checked against real TF 2.21 (probes under TF 2.21.0 with
NumPy 2.4, /tmp/kbench), since TF is not available to the test suite."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tensorflux as tf
import tensorflux.experimental.numpy as tnp
from tensorflux import keras
from tensorflux.experimental.numpy import _behavior

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def numpy_behavior():
    """experimental_enable_numpy_behavior for one test, undone afterwards."""
    yield tnp.experimental_enable_numpy_behavior
    _behavior._disable()


def _name(t):
    return t.dtype.name


# ---------------------------------------------------------------- dtype facts (TF 2.21)

F32 = tf.constant([1.0, 2.0, 3.0])
I32 = tf.constant([1, 2, 3])

# (expression, dtype) pairs observed with TF 2.21's tf.experimental.numpy.
TF_DTYPES = [
    ("asarray(1.0)", lambda: tnp.asarray(1.0), "float64"),
    ("asarray(1)", lambda: tnp.asarray(1), "int64"),
    ("asarray([1., 2])", lambda: tnp.asarray([1.0, 2]), "float64"),
    ("asarray(np float32)", lambda: tnp.asarray(np.ones(2, np.float32)), "float32"),
    ("asarray(True)", lambda: tnp.asarray(True), "bool"),
    ("ones(3)", lambda: tnp.ones(3), "float64"),
    ("zeros int32", lambda: tnp.zeros(2, dtype=tnp.int32), "int32"),
    ("full(2, 1)", lambda: tnp.full(2, 1), "int64"),
    ("full_like(i32, 0.5)", lambda: tnp.full_like(I32, 0.5), "int32"),
    ("eye(2)", lambda: tnp.eye(2), "float64"),
    ("arange(3)", lambda: tnp.arange(3), "int64"),
    ("arange(0, 1, .25)", lambda: tnp.arange(0, 1, 0.25), "float64"),
    ("linspace", lambda: tnp.linspace(0, 1, 5), "float64"),
    ("add(f32, 0.0)", lambda: tnp.add(F32, 0.0), "float32"),
    ("add(f32, 1)", lambda: tnp.add(F32, 1), "float32"),
    ("add(i32, 1.5)", lambda: tnp.add(I32, 1.5), "float64"),
    ("add(i32, f32)", lambda: tnp.add(I32, F32), "float64"),
    ("add(f32, np float64)", lambda: tnp.add(F32, np.ones(3)), "float64"),
    ("add([1, 2], [3, 4])", lambda: tnp.add([1, 2], [3, 4]), "int64"),
    ("divide(i32, i32)", lambda: tnp.divide(I32, I32), "float64"),
    ("divide(f32, 2)", lambda: tnp.divide(F32, 2), "float32"),
    ("power(i32, 2)", lambda: tnp.power(I32, 2), "int32"),
    ("power(i32, 0.5)", lambda: tnp.power(I32, 0.5), "float64"),
    ("abs(i32)", lambda: tnp.abs(I32), "int32"),
    ("maximum(i32, 0.)", lambda: tnp.maximum(I32, 0.0), "int32"),  # TF's relu fast path
    ("clip(i32, 0, 1.5)", lambda: tnp.clip(I32, 0, 1.5), "float64"),
    ("sum(i32)", lambda: tnp.sum(I32), "int64"),
    ("sum(bool)", lambda: tnp.sum(tf.constant([True, False])), "int64"),
    ("sum(f32)", lambda: tnp.sum(F32), "float32"),
    ("mean(i32)", lambda: tnp.mean(I32), "float64"),
    ("mean(f32)", lambda: tnp.mean(F32), "float32"),
    ("std(i32)", lambda: tnp.std(I32), "float64"),
    ("prod(i32)", lambda: tnp.prod(I32), "int64"),
    ("max(i32)", lambda: tnp.max(I32), "int32"),
    ("argmax", lambda: tnp.argmax(F32), "int64"),
    ("cumsum(i32)", lambda: tnp.cumsum(I32), "int64"),
    ("dot(i32, f32)", lambda: tnp.dot(I32, F32), "float64"),
    ("outer(int, float)", lambda: tnp.outer([1, 2], [1.0, 2]), "float64"),
    ("where(c, i32, 0.5)", lambda: tnp.where(I32 > 1, I32, 0.5), "float64"),
    ("concatenate(i32, f32)", lambda: tnp.concatenate([I32, F32]), "float64"),
    ("random.rand", lambda: tnp.random.rand(2), "float64"),
    ("random.randn", lambda: tnp.random.randn(2, 3), "float64"),
    ("random.randint", lambda: tnp.random.randint(0, 5, size=3), "int64"),
    ("random.standard_normal", lambda: tnp.random.standard_normal(size=3), "float64"),
]


@pytest.mark.parametrize("make, expected", [c[1:] for c in TF_DTYPES],
                         ids=[c[0] for c in TF_DTYPES])
def test_dtypes_match_tensorflow(make, expected):
    result = make()
    assert isinstance(result, tf.Tensor) and isinstance(result, tnp.ndarray)
    assert _name(result) == expected


def test_float_functions_of_ints_give_float64():
    # (TF 2.21 gives float64 here once numpy behaviour is on; NumPy does so always.)
    for fn in (tnp.sqrt, tnp.exp, tnp.log, tnp.floor, tnp.ceil):
        assert _name(fn(I32)) == "float64"
    assert _name(tnp.isnan(I32)) == "bool" and not tnp.any(tnp.isnan(I32))


# ---------------------------------------------------------------- promotion vs NumPy 2

PROMOTED = [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
            np.uint64, np.float16, np.float32, np.float64, np.complex64, np.complex128]


def test_result_type_of_every_dtype_pair_matches_numpy():
    for a in PROMOTED:
        for b in PROMOTED:
            expected = np.result_type(a, b).name
            assert tnp.result_type(tf.as_dtype(a), tf.as_dtype(b)).name == expected, (a, b)


@pytest.mark.parametrize("scalar", [2, 1.5, 1j])
def test_python_scalars_are_weak_as_in_numpy_2(scalar):
    for a in PROMOTED:
        tensor = tf.zeros([2], tf.as_dtype(a))
        expected = np.result_type(np.zeros(2, a), scalar).name
        assert tnp.result_type(tensor, scalar).name == expected, (a, scalar)
    assert tnp.result_type(scalar).name == np.result_type(scalar).name


def test_dtype_helpers_match_numpy():
    for a in PROMOTED:
        for b in PROMOTED:
            assert tnp.promote_types(a, b).name == np.promote_types(a, b).name
    for name in ("float16", "float32", "float64"):
        ours, theirs = tnp.finfo(name), np.finfo(name)
        assert (ours.eps, ours.max, ours.min, ours.tiny, ours.bits) == (
            float(theirs.eps), float(theirs.max), float(theirs.min), float(theirs.tiny),
            theirs.bits)
    for name in ("int8", "uint16", "int32", "int64"):
        assert (tnp.iinfo(name).max, tnp.iinfo(name).min) == (np.iinfo(name).max,
                                                              np.iinfo(name).min)
    kinds = ["generic", "number", "inexact", "floating", "complexfloating", "integer",
             "signedinteger", "unsignedinteger"]
    for a in PROMOTED:
        for kind in kinds:
            assert tnp.issubdtype(tf.as_dtype(a), getattr(tnp, kind)) == np.issubdtype(
                a, getattr(np, kind)), (a, kind)
    assert tnp.dtype(float) is tnp.float64 and tnp.dtype(int) is tnp.int64
    assert tnp.float32 is tf.float32 and tnp.bool_ is tf.bool and tnp.ndarray is tf.Tensor
    with pytest.raises(ValueError, match="float dtype"):
        tnp.finfo(tnp.int32)


# ---------------------------------------------------------------- values vs NumPy float64

RNG = np.random.RandomState(0)
A = RNG.rand(3, 4)
B = RNG.rand(4, 2)
INTS = np.array([[3, 1, 2], [0, 5, 4]])
C234 = RNG.rand(2, 3, 4)
C542 = RNG.rand(5, 4, 2)

VALUES = [
    ("linspace", lambda m: m.linspace(-1, 2, 7)),
    ("linspace no endpoint", lambda m: m.linspace(0.0, 2, 4, endpoint=False)),
    ("arange", lambda m: m.arange(1, 2, 0.25)),
    ("eye k", lambda m: m.eye(3, 4, k=1)),
    ("identity", lambda m: m.identity(3)),
    ("std axis", lambda m: m.std(A, axis=0)),
    ("var ddof", lambda m: m.var(A, axis=1, ddof=1)),
    ("mean keepdims", lambda m: m.mean(A, axis=(0, 1), keepdims=True)),
    ("prod", lambda m: m.prod(INTS, axis=0)),
    ("cumsum flat", lambda m: m.cumsum(INTS)),
    ("argmin", lambda m: m.argmin(A, axis=1)),
    ("dot matrices", lambda m: m.dot(A, B)),
    ("dot nd", lambda m: m.dot(C234, C542)),
    ("matmul vector", lambda m: m.matmul(A, np.arange(4.0))),
    ("matmul vector left", lambda m: m.matmul(np.arange(3.0), A)),
    ("tensordot", lambda m: m.tensordot(A, A, axes=[[1], [1]])),
    ("einsum", lambda m: m.einsum("ij,jk->ik", A, B)),
    ("outer", lambda m: m.outer(np.arange(3), np.ones(2))),
    ("power float", lambda m: m.power(A, 1.5)),
    ("true_divide ints", lambda m: m.true_divide(INTS, 3)),
    ("clip", lambda m: m.clip(A, 0.2, 0.6)),
    ("round", lambda m: m.round(np.array([0.5, 1.5, 2.5, 1.2345]), 2)),
    ("sign", lambda m: m.sign(np.array([-2.0, 0.0, 3.0]))),
    ("swapaxes", lambda m: m.swapaxes(C234, 0, 2)),
    ("moveaxis", lambda m: m.moveaxis(np.arange(24.0).reshape(2, 3, 4), [0, 1], [-1, 0])),
    ("expand_dims", lambda m: m.expand_dims(A, axis=(0, 2))),
    ("squeeze", lambda m: m.squeeze(np.ones((1, 3, 1)), axis=0)),
    ("concatenate", lambda m: m.concatenate([A, A * 2], axis=1)),
    ("stack", lambda m: m.stack([A, A], axis=-1)),
    ("hstack", lambda m: m.hstack([np.ones(2), np.zeros(3)])),
    ("vstack", lambda m: m.vstack([np.ones(2), np.zeros(2)])),
    ("tile", lambda m: m.tile(np.array([1, 2]), (2, 2))),
    ("repeat flat", lambda m: m.repeat(INTS, 2)),
    ("repeat axis", lambda m: m.repeat(INTS, [1, 2], axis=0)),
    ("flip", lambda m: m.flip(INTS)),
    ("flip axis", lambda m: m.flip(INTS, axis=1)),
    ("broadcast_to", lambda m: m.broadcast_to(np.arange(3), (2, 3))),
    ("ravel", lambda m: m.ravel(INTS)),
    ("transpose axes", lambda m: m.transpose(C234, (1, 2, 0))),
    ("where", lambda m: m.where(INTS > 2, INTS, -1.5)),
    ("take flat", lambda m: m.take(INTS, [0, 5])),
    ("take axis", lambda m: m.take(INTS, [2, 0], axis=1)),
    ("take_along_axis", lambda m: m.take_along_axis(INTS, m.argsort(INTS, axis=1), axis=1)),
    ("take_along_axis 0", lambda m: m.take_along_axis(INTS, np.array([[1, 0, 1]]), axis=0)),
    ("sort", lambda m: m.sort(A, axis=0)),
    ("isclose", lambda m: m.isclose(np.array([1.0, 2.0, np.inf, np.nan]),
                                    [1.0 + 1e-9, 2.1, np.inf, np.nan])),
    ("logical_and", lambda m: m.logical_and(INTS > 1, INTS < 5)),
    ("logical_or of ints", lambda m: m.logical_or(INTS, 0)),
    ("all axis", lambda m: m.all(INTS, axis=0)),
    ("any", lambda m: m.any(INTS > 4)),
    ("isfinite", lambda m: m.isfinite(np.array([1.0, np.nan, np.inf]))),
    ("less", lambda m: m.less(A, 0.5)),
    ("minimum", lambda m: m.minimum(A, B[:, :1].T[:, :1])),
    ("maximum bools", lambda m: m.maximum(INTS > 2, INTS < 1)),
    ("arange 0.1 steps", lambda m: m.arange(0, 1, 0.1)),
    ("arange down", lambda m: m.arange(10, 0, -3)),
    ("arcsin", lambda m: m.arcsin(A - 0.5)),
    ("arccosh", lambda m: m.arccosh(A + 1)),
    ("log2", lambda m: m.log2(A)),
    ("log10 of ints", lambda m: m.log10(INTS + 1)),
    ("exp2", lambda m: m.exp2(INTS)),
    ("cbrt", lambda m: m.cbrt(np.array([1.0, -2, 0, 3]))),
    ("deg2rad", lambda m: m.deg2rad(INTS)),
    ("hypot", lambda m: m.hypot(A, 2.0)),
    ("float_power", lambda m: m.float_power(INTS, 2)),
    ("logaddexp", lambda m: m.logaddexp(A, A * 3)),
    ("logaddexp2", lambda m: m.logaddexp2(A, A * 2)),
    ("heaviside", lambda m: m.heaviside(np.array([1.0, -2, 0, 3]), 0.5)),
    ("signbit", lambda m: m.signbit(np.array([-0.0, 0.0, -1, 2]))),
    ("isposinf", lambda m: m.isposinf(np.array([np.inf, -np.inf, 1]))),
    ("average weights", lambda m: m.average(A, axis=1, weights=np.arange(4.0))),
    ("average", lambda m: m.average(A)),
    ("count_nonzero", lambda m: m.count_nonzero(INTS, axis=0)),
    ("nansum", lambda m: m.nansum(np.array([1, np.nan, 2]))),
    ("nanmean", lambda m: m.nanmean(np.array([[1, np.nan], [2, 4]]), axis=0)),
    ("ptp", lambda m: m.ptp(INTS, axis=1)),
    ("diagonal", lambda m: m.diagonal(A, 1)),
    ("diagonal below", lambda m: m.diagonal(A, -1)),
    ("trace", lambda m: m.trace(A)),
    ("diag of vector", lambda m: m.diag(np.arange(3), k=-1)),
    ("diag of matrix", lambda m: m.diag(A, 2)),
    ("diagflat", lambda m: m.diagflat(INTS)),
    ("tri", lambda m: m.tri(3, 4, 1)),
    ("tril", lambda m: m.tril(A, -1)),
    ("triu", lambda m: m.triu(A, 1)),
    ("kron", lambda m: m.kron(INTS, np.eye(2))),
    ("kron ranks", lambda m: m.kron(np.arange(3), INTS)),
    ("cross", lambda m: m.cross(A[:, :3], A[::-1, 1:])),
    ("atleast_3d", lambda m: m.atleast_3d(np.arange(3))),
    ("dstack", lambda m: m.dstack([INTS, INTS])),
    ("append", lambda m: m.append(INTS, [7, 8])),
    ("append axis", lambda m: m.append(INTS, INTS, axis=0)),
    ("rot90", lambda m: m.rot90(A)),
    ("rot90 twice", lambda m: m.rot90(A, 2)),
    ("rot90 thrice", lambda m: m.rot90(A, 3)),
    ("rot90 axes", lambda m: m.rot90(A, 1, axes=(1, 0))),
    ("roll", lambda m: m.roll(INTS, 2)),
    ("roll axis", lambda m: m.roll(INTS, -1, axis=1)),
    ("pad", lambda m: m.pad(INTS, 1)),
    ("pad pairs", lambda m: m.pad(INTS, ((1, 0), (0, 2)), constant_values=9)),
    ("pad reflect", lambda m: m.pad(A, ((1, 1), (2, 2)), mode="reflect")),
    ("diff", lambda m: m.diff(INTS, 2)),
    ("diff axis", lambda m: m.diff(A, axis=0)),
    ("logspace", lambda m: m.logspace(0, 2, 3)),
    ("geomspace", lambda m: m.geomspace(1, 1000, 4)),
    ("select", lambda m: m.select([INTS > 3, INTS < 1], [INTS, -INTS], 0.5)),
    ("vander", lambda m: m.vander(np.array([1.0, 2, 3]), 4)),
    ("fliplr", lambda m: m.fliplr(INTS)),
    ("sinc", lambda m: m.sinc(np.array([0.0, 0.5, -1.5]))),
    ("fix", lambda m: m.fix(np.array([-1.5, 2.5]))),
    ("compress", lambda m: m.compress([True, False, True], np.array([1, 2, 3, 4]))),
    ("compress axis", lambda m: m.compress([False, True], INTS, axis=0)),
    ("bitwise_and", lambda m: m.bitwise_and(INTS, 6)),
    ("bitwise_xor bools", lambda m: m.bitwise_xor(INTS > 1, INTS < 4)),
    ("invert", lambda m: m.invert(INTS)),
    ("iscomplex", lambda m: m.iscomplex(np.array([1 + 1j, 2]))),
    ("angle", lambda m: m.angle(np.array([1 + 1j, -2 + 0j]), deg=True)),
    ("angle of reals", lambda m: m.angle(np.array([-1.0, 2.0]))),
    ("flatten", lambda m: (m.flatten(INTS) if m is tnp else INTS.flatten())),
]


@pytest.mark.parametrize("make", [c[1] for c in VALUES], ids=[c[0] for c in VALUES])
def test_values_match_numpy(make):
    expected = make(np)
    result = make(tnp)
    assert isinstance(result, tf.Tensor)
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert result.dtype.name == np.asarray(expected).dtype.name


def test_split_nonzero_and_shapes_match_numpy():
    for got, want in zip(tnp.split(np.arange(10), [3, 5, 20]), np.split(np.arange(10),
                                                                          [3, 5, 20])):
        np.testing.assert_array_equal(got.numpy(), want)
    assert [t.shape.as_list() for t in tnp.split(A, 2, axis=1)] == [[3, 2], [3, 2]]
    for got, want in zip(tnp.where(INTS > 2), np.where(INTS > 2)):
        np.testing.assert_array_equal(got.numpy(), want)
    assert tnp.ndim(A) == 2 and tnp.shape(A) == tf.TensorShape([3, 4]) and tnp.size(A) == 12
    assert bool(tnp.allclose(A, A + 1e-9)) and not bool(tnp.allclose(A, A + 1e-3))
    for got, want in zip(tnp.broadcast_arrays(np.arange(3), np.ones((2, 1))),
                         np.broadcast_arrays(np.arange(3), np.ones((2, 1)))):
        np.testing.assert_array_equal(got.numpy(), want)
    for got, want in zip(tnp.meshgrid(np.arange(3), np.arange(2)),
                         np.meshgrid(np.arange(3), np.arange(2))):
        np.testing.assert_array_equal(got.numpy(), want)
    assert [t.shape.as_list() for t in tnp.hsplit(A, 2)] == [[3, 2], [3, 2]]
    for got, want in zip(tnp.divmod(np.array([7, -7]), 3), np.divmod(np.array([7, -7]), 3)):
        np.testing.assert_array_equal(got.numpy(), want)
    assert tnp.isscalar(3.0) and tnp.isscalar(np.float32(1)) and not tnp.isscalar(tnp.ones(()))
    with pytest.raises(tf.errors.InvalidArgumentError, match="evenly divisible"):
        tnp.split(np.arange(10), 3)
    with pytest.raises(ValueError, match="inner dimensions"):
        tnp.matmul(A, A)


def test_random_functions_give_their_shapes_ranges_and_seeded_streams():
    tnp.random.seed(3)
    first = tnp.random.randn(2, 3).numpy()
    tnp.random.seed(3)
    np.testing.assert_array_equal(tnp.random.randn(2, 3).numpy(), first)
    assert tnp.random.uniform(size=None).shape == []
    u = tnp.random.uniform(-2.0, -1.0, size=(500,)).numpy()
    assert u.min() >= -2 and u.max() < -1
    r = tnp.random.randint(3, size=(400,)).numpy()
    assert set(r.tolist()) == {0, 1, 2}
    assert tnp.random.rand(4, 5).shape == [4, 5]
    p = tnp.random.poisson(3.0, size=(2000,))
    assert p.dtype == tf.int64 and abs(float(tnp.mean(p)) - 3) < 0.3
    with pytest.raises(ValueError, match="greater than `low`"):
        tnp.random.randint(5, 5)


# ---------------------------------------------------------------- gradients, tf.function


def test_gradients_flow_through_tnp_functions():
    x = tf.constant(A)
    w = tf.constant(B)
    with tf.GradientTape() as tape:
        tape.watch([x, w])
        hidden = tnp.maximum(tnp.matmul(x, w), 0.0)
        loss = tnp.mean(tnp.square(hidden - 0.5)) + tnp.sum(tnp.sqrt(x))
    gx, gw = tape.gradient(loss, [x, w])
    h = A @ B
    d_hidden = 2 * (np.maximum(h, 0) - 0.5) / h.size * (h > 0)
    np.testing.assert_allclose(gw.numpy(), A.T @ d_hidden, rtol=1e-12)
    np.testing.assert_allclose(gx.numpy(), d_hidden @ B.T + 0.5 / np.sqrt(A), rtol=1e-12)


def test_tnp_works_inside_tf_function():
    @tf.function
    def f(a, b):
        return tnp.add(tnp.sum(tnp.tanh(tnp.dot(a, b)), axis=1), 1.0)

    a = A.astype("float32")
    b = B.astype("float32")
    result = f(a, b)
    assert _name(result) == "float32"  # (the Python 1.0 is weak)
    np.testing.assert_allclose(result.numpy(), np.tanh(A @ B).sum(1) + 1, rtol=1e-5)


def test_tnp_traces_with_unknown_dimensions():
    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.int32)])
    def f(t):
        order = tnp.argsort(t, axis=1)
        return (tnp.full_like(t, 2.5), tnp.isnan(t), tnp.take_along_axis(t, order, axis=1),
                tnp.var(t, axis=0), tnp.asarray([t[0], t[1]]), tnp.zeros_like(t))

    ints = np.array([[3, 1, 2], [1, 0, 1], [5, 4, 6]])
    full, nan, taken, variance, stacked, zeros = f(tf.constant(ints, tf.int32))
    np.testing.assert_array_equal(full.numpy(), np.full_like(ints, 2.5))
    assert nan.dtype == tf.bool and not nan.numpy().any()
    np.testing.assert_array_equal(taken.numpy(), np.sort(ints, axis=1))
    np.testing.assert_allclose(variance.numpy(), ints.var(axis=0), rtol=1e-12)
    np.testing.assert_array_equal(stacked.numpy(), ints[:2])
    assert zeros.dtype == tf.int32 and not zeros.numpy().any()


# ---------------------------------------------------------------- numpy behaviour


def test_enable_numpy_behavior_adds_tf_ndarray_methods(numpy_behavior):
    numpy_behavior()
    m = tf.constant([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    np.testing.assert_array_equal(m.T.numpy(), np.array([[1, 4], [2, 5], [3, 6]]))
    assert m.reshape(3, 2).shape == [3, 2] and m.reshape((3, 2)).shape == [3, 2]
    assert m.reshape(-1).shape == [6] and m.ravel().shape == [6] and m.flatten().shape == [6]
    assert m.transpose().shape == [3, 2] and m.transpose(1, 0).shape == [3, 2]
    assert m.astype(tnp.int32).dtype == tf.int32 and m.astype("float64").dtype == tf.float64
    assert m.astype(np.float16).dtype == tf.float16
    assert m.size == 6 and m.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert m.clip(2, 4).numpy().tolist() == [[2, 2, 3], [4, 4, 4]]
    assert float(m.mean()) == 3.5 and float(m.max()) == 6 and m.min(axis=0).shape == [3]
    assert m.data is m and round(tf.constant(2.5)).numpy() == 2.0
    # TF 2.21 adds these methods only: no sum/argmax (AttributeError as there).
    assert not hasattr(m, "sum") and not hasattr(m, "argmax")
    # NumPy's indexing by lists, tuples of bools and index arrays.
    x = tf.reshape(tf.range(24), (2, 3, 4))
    np.testing.assert_array_equal(x[:, (True, False, True)].numpy(),
                                  np.arange(24).reshape(2, 3, 4)[:, [True, False, True]])
    np.testing.assert_array_equal(x[1, (0, 0, 1), tnp.asarray([0, 1, 1])].numpy(),
                                  [12, 13, 17])
    np.testing.assert_array_equal(tf.constant([1.0, 2.0, 3.0])[[0, 2]].numpy(), [1.0, 3.0])


def test_numpy_behavior_promotes_operators_as_numpy(numpy_behavior):
    numpy_behavior()
    # Checked against TF 2.21 with numpy behaviour on.
    assert _name(I32 + F32) == "float64" and _name(I32 + 1.5) == "float64"
    assert _name(F32 + 0.0) == "float32" and _name(I32 * 2) == "int32"
    assert _name(F32 + np.float64(1.0)) == "float64" and _name(F32 + [1, 2, 3]) == "float32"
    assert _name(2.5 * I32) == "float64" and _name(I32 / I32) == "float64"
    assert _name(tf.constant(2.0, tf.float64) * I32) == "float64"
    np.testing.assert_allclose((I32 - F32 * 0.5).numpy(), [0.5, 1.0, 1.5])
    assert (I32 < 1.5).numpy().tolist() == [True, False, False]
    v = tf.Variable([1, 2])
    assert _name(v * 0.5) == "float64"
    assert _name(tf.constant(1.0)) == "float32"  # tf.constant keeps TF's dtypes
    assert _name(tf.reduce_mean(I32)) == "int32"


def test_disabling_restores_tensors():
    tnp.experimental_enable_numpy_behavior()
    _behavior._disable()
    assert not hasattr(F32, "T") and not hasattr(F32, "astype")
    with pytest.raises(tf.errors.InvalidArgumentError):
        I32 + F32  # noqa: B018 - TF's error without numpy behaviour
    with pytest.raises(tf.errors.InvalidArgumentError, match="too many indices"):
        F32[[0, 2]]  # noqa: B018 - TF's reading of a list key: a tuple


def test_prefer_float32_changes_python_float_defaults(numpy_behavior):
    numpy_behavior(prefer_float32=True)
    # Checked against TF 2.21 with prefer_float32=True.
    assert _name(tnp.asarray(1.0)) == "float32" and _name(tnp.arange(3.0)) == "float32"
    assert _name(tnp.linspace(0, 1, 3)) == "float32" and _name(tnp.ones(3)) == "float64"
    assert _name(tnp.sqrt(I32)) == "float64" and _name(tnp.mean(I32)) == "float64"
    assert _name(tnp.random.randn(2)) == "float64" and _name(tnp.asarray([1, 2])) == "int64"
    assert _name(I32 + 1.5) == "float64"  # a float32 1.5 is strong: int32 + float32


# ---------------------------------------------------------------- Keras


def test_keras_model_written_with_tnp_trains_with_fit(numpy_behavior):
    # keras.io "Writing Keras Models With TensorFlow NumPy" (it enables numpy behaviour).
    numpy_behavior()

    class TNPRegression(keras.Model):
        def build(self, input_shape):
            self.w1 = self.add_weight(shape=(input_shape[1], 3), initializer="glorot_normal")
            self.b1 = self.add_weight(shape=(3,), initializer="zeros")
            self.w2 = self.add_weight(shape=(3, 1), initializer="glorot_normal")

        def call(self, inputs):
            hidden = tnp.maximum(tnp.matmul(inputs, self.w1) + self.b1, 0.0)
            return tnp.matmul(hidden, self.w2)

    rng = np.random.RandomState(0)
    x = rng.rand(64, 5)
    y = x @ rng.rand(5, 1)
    model = TNPRegression()
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mean_squared_error")
    model.build((None, 5))
    w1, b1, w2 = rng.randn(5, 3) * 0.5, np.zeros(3), rng.randn(3, 1) * 0.5
    model.set_weights([w1, b1, w2])
    expected = np.maximum(x @ w1 + b1, 0) @ w2
    out = model.predict(x, verbose=0)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    history = model.fit(x, y, epochs=4, batch_size=16, verbose=0, shuffle=False)
    losses = history.history["loss"]
    first_batch = np.mean((expected[:16] - y[:16]) ** 2)
    assert losses[0] < first_batch * 1.5 and losses[-1] < losses[0]
    assert not np.allclose(model.get_weights()[0], w1)


# ---------------------------------------------------------------- import


def test_tf_experimental_loads_lazily():
    code = ("import sys, tensorflux as tf\n"
            "assert 'tensorflux.experimental' not in sys.modules\n"
            "import tensorflux.experimental.numpy as tnp\n"
            "assert tnp.ones(2).dtype == tf.float64\n"
            "print(hasattr(tf, 'experimental') and tf.experimental.numpy is tnp)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
