"""Behaviour of tensorflux.ops.reduction beyond the op table: errors, empty axes, ties, zeros."""

import math

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.ops import reduction as r

InvalidArgument = tf.errors.InvalidArgumentError


def grad_of(fn, x, dtype=tf.float64):
    x = tf.constant(x, dtype)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    return tape.gradient(y, x).numpy()


# ------------------------------------------------------------------ errors

@pytest.mark.parametrize("op", ["reduce_sum", "reduce_mean", "reduce_max", "reduce_min",
                                "reduce_prod", "reduce_logsumexp", "reduce_std",
                                "reduce_variance", "count_nonzero"])
@pytest.mark.parametrize("axis", [2, -3, [0, 5]])
def test_axis_out_of_range_names_op_axis_and_rank(op, axis):
    with pytest.raises(InvalidArgument) as info:
        getattr(r, op)(tf.zeros([2, 3]), axis=axis)
    message = str(info.value)
    assert op in message and "rank 2" in message
    assert str(axis if isinstance(axis, int) else 5) in message


@pytest.mark.parametrize("op", ["reduce_any", "reduce_all"])
def test_logical_reductions_check_axes_too(op):
    with pytest.raises(InvalidArgument, match=f"{op}: axis 1 is out of range .* rank 1"):
        getattr(r, op)(tf.constant([True]), axis=1)


def test_repeated_axis_is_an_error():
    with pytest.raises(InvalidArgument, match="reduce_sum: axis \\[1, -1\\] repeats"):
        r.reduce_sum(tf.zeros([2, 3]), axis=[1, -1])


def test_scalar_accepts_only_no_axis():
    assert float(r.reduce_max(tf.constant(3.0))) == 3.0
    assert float(r.reduce_sum(tf.constant(3.0), axis=[])) == 3.0
    with pytest.raises(InvalidArgument, match="reduce_max: axis 0 .* rank 0"):
        r.reduce_max(tf.constant(3.0), axis=0)


@pytest.mark.parametrize("op,value", [("reduce_any", [1.0]), ("reduce_all", [1]),
                                      ("reduce_max", [True]), ("reduce_logsumexp", [1]),
                                      ("reduce_variance", [1, 2]), ("reduce_std", [True]),
                                      ("reduce_mean", [True]), ("reduce_prod", [True])])
def test_wrong_dtypes_are_rejected_with_the_op_name(op, value):
    x = tf.constant(value)
    with pytest.raises(InvalidArgument) as info:
        getattr(r, op)(x)
    assert op in str(info.value) and x.dtype.name in str(info.value)


def test_argmax_errors():
    with pytest.raises(InvalidArgument, match="argmax: axis 2 is out of range .* rank 2"):
        r.argmax(tf.zeros([2, 3]), axis=2)
    with pytest.raises(InvalidArgument, match=r"argmin: reduction axis 1 is empty in shape "
                                              r"\(2, 0\)"):
        r.argmin(tf.zeros([2, 0]), axis=1)
    with pytest.raises(InvalidArgument, match="argmax: output_type must be int32 or int64"):
        r.argmax(tf.zeros([2]), output_type=tf.float32)
    with pytest.raises(InvalidArgument, match="argmax: expected a tensor of rank >= 1"):
        r.argmax(tf.constant(1.0))


def test_top_k_validates_k():
    x = tf.zeros([2, 3])
    with pytest.raises(InvalidArgument) as info:
        r.top_k(x, k=4)
    assert "top_k" in str(info.value) and "k=4" in str(info.value)
    assert "(2, 3)" in str(info.value)
    with pytest.raises(InvalidArgument, match="top_k: k must be in"):
        r.top_k(x, k=-1)
    with pytest.raises(InvalidArgument, match="top_k: expected a tensor of rank >= 1"):
        r.top_k(tf.constant(1.0))


def test_scan_axis_is_checked():
    with pytest.raises(InvalidArgument, match="cumsum: axis 2 is out of range .* rank 2"):
        r.cumsum(tf.zeros([2, 3]), axis=2)
    with pytest.raises(InvalidArgument, match="cumprod: expected a tensor of rank >= 1"):
        r.cumprod(tf.constant(2.0))


# ------------------------------------------------------------------ empty reductions

@pytest.mark.parametrize("op,expected", [("reduce_max", -math.inf), ("reduce_min", math.inf),
                                         ("reduce_sum", 0.0), ("reduce_prod", 1.0),
                                         ("reduce_logsumexp", -math.inf)])
def test_empty_float_reductions_give_the_identity(op, expected):
    out = getattr(r, op)(tf.zeros([0, 3]), axis=0)
    assert out.shape == (3,) and out.dtype is tf.float32
    assert out.numpy().tolist() == [expected] * 3


def test_empty_mean_is_nan_and_integer_extremes_are_the_dtype_limits():
    assert math.isnan(float(r.reduce_mean(tf.zeros([0]))))
    assert int(r.reduce_max(tf.zeros([0], tf.int32))) == np.iinfo(np.int32).min
    assert int(r.reduce_min(tf.zeros([0], tf.int64))) == np.iinfo(np.int64).max


def test_empty_logical_reductions():
    empty = tf.constant(np.zeros([0], bool))
    assert bool(r.reduce_any(empty)) is False
    assert bool(r.reduce_all(empty)) is True


def test_empty_axis_list_reduces_nothing():
    x = tf.constant([[1.0, -2.0], [3.0, 4.0]])
    for op in (r.reduce_max, r.reduce_prod, r.reduce_logsumexp, r.reduce_mean):
        np.testing.assert_array_equal(op(x, axis=[]).numpy(), x.numpy())


# ------------------------------------------------------------------ semantics

def test_integer_reductions_keep_the_dtype():
    x = tf.constant([[1, 5], [7, 2]])
    assert r.reduce_max(x).dtype is tf.int32 and int(r.reduce_max(x)) == 7
    assert r.reduce_prod(x, 0).numpy().tolist() == [7, 10]
    assert r.cumsum(x, 1).numpy().tolist() == [[1, 6], [7, 9]]


def test_keepdims_with_axis_none_keeps_every_axis_as_one():
    assert r.reduce_max(tf.zeros([2, 3, 4]), keepdims=True).shape == (1, 1, 1)


def test_logsumexp_is_stable():
    for dtype in (tf.float32, tf.float64):
        out = r.reduce_logsumexp(tf.constant([1000.0, 1000.0], dtype))
        assert out.dtype is dtype
        np.testing.assert_allclose(float(out), 1000 + math.log(2), rtol=1e-6)
        low = r.reduce_logsumexp(tf.constant([-1000.0, -1000.0], dtype))
        np.testing.assert_allclose(float(low), -1000 + math.log(2), rtol=1e-6)
    assert float(r.reduce_logsumexp([-math.inf, -math.inf])) == -math.inf
    assert float(r.reduce_logsumexp([math.inf, 1.0])) == math.inf
    np.testing.assert_allclose(grad_of(r.reduce_logsumexp, [1000.0, 1000.0]), [0.5, 0.5])


def test_max_and_min_gradients_split_evenly_among_ties():
    np.testing.assert_allclose(grad_of(r.reduce_max, [1.0, 3.0, 3.0, 3.0]),
                               [0.0, 1 / 3, 1 / 3, 1 / 3])
    np.testing.assert_allclose(grad_of(lambda x: r.reduce_min(x, axis=1), [[1.0, 1.0, 2.0]]),
                               [[0.5, 0.5, 0.0]])


def test_prod_gradient_is_exact_with_zeros():
    np.testing.assert_array_equal(grad_of(r.reduce_prod, [0.0, 2.0, 3.0]), [6.0, 0.0, 0.0])
    np.testing.assert_array_equal(grad_of(r.reduce_prod, [0.0, 2.0, 0.0]), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(
        grad_of(lambda x: r.reduce_prod(x, axis=0), [[0.0, 2.0], [5.0, 3.0]]),
        [[5.0, 3.0], [0.0, 2.0]])


def test_reduce_sum_second_order():
    x = tf.constant([1.0, 2.0, 3.0], tf.float64)
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = r.reduce_sum(x * x * x)
        g = inner.gradient(y, x)
    np.testing.assert_allclose(outer.gradient(g, x).numpy(), [6.0, 12.0, 18.0])


def test_argmax_defaults_and_ties():
    x = tf.constant([[1.0, 7.0, 7.0], [9.0, 0.0, 9.0]])
    out = r.argmax(x)
    assert out.dtype is tf.int64 and out.numpy().tolist() == [1, 0, 1]
    assert r.argmax(x, axis=-1).numpy().tolist() == [1, 0]
    assert r.argmin(x, axis=1, output_type=tf.int32).dtype is tf.int32


def test_argmax_carries_no_gradient():
    x = tf.constant([1.0, 2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = r.argmax(x)
    assert tape.gradient(y, x) is None


def test_cumulative_variants_match_tensorflow_examples():
    # The examples of tf.math.cumsum's and tf.math.cumprod's documentation.
    a = tf.constant([2, 4, 6, 8])
    assert r.cumsum(a, exclusive=True).numpy().tolist() == [0, 2, 6, 12]
    assert r.cumsum(a, reverse=True).numpy().tolist() == [20, 18, 14, 8]
    assert r.cumsum(a, exclusive=True, reverse=True).numpy().tolist() == [18, 14, 8, 0]
    b = tf.constant([1.0, 2.0, 3.0])
    assert r.cumprod(b, exclusive=True).numpy().tolist() == [1.0, 1.0, 2.0]
    assert r.cumprod(b, exclusive=True, reverse=True).numpy().tolist() == [6.0, 3.0, 1.0]


def test_top_k_order_ties_and_gradient():
    values, indices = r.top_k(tf.constant([[1.0, 3.0, 3.0, 2.0]]), k=3)
    assert values.numpy().tolist() == [[3.0, 3.0, 2.0]]
    assert indices.numpy().tolist() == [[1, 2, 3]] and indices.dtype is tf.int32
    assert r.top_k(tf.zeros([2, 3]), k=0)[0].shape == (2, 0)
    x = tf.constant([[5.0, 1.0, 4.0], [0.0, 2.0, 3.0]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        top = r.top_k(x, k=2)[0]
        y = r.reduce_sum(top * tf.constant([[10.0, 1.0], [100.0, 7.0]]))
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(),
                                  [[10.0, 0.0, 1.0], [0.0, 7.0, 100.0]])


def test_top_k_unsigned_and_int64_indices():
    values, indices = r.top_k(tf.constant([0, 255, 7], tf.uint8), k=2, index_type=tf.int64)
    assert values.numpy().tolist() == [255, 7] and indices.dtype is tf.int64


def test_count_nonzero():
    out = r.count_nonzero(tf.constant([[True, False], [True, True]]), axis=0, keepdims=True)
    assert out.dtype is tf.int64 and out.numpy().tolist() == [[2, 1]]
    assert int(r.count_nonzero([0.0, -1.0, 0.5])) == 2


def test_variance_of_complex_is_real():
    out = r.reduce_variance(tf.constant([1 + 1j, -1 - 1j]))
    assert out.dtype is tf.float64 and float(out) == pytest.approx(2.0)


# ------------------------------------------------------------------ small float sums
# Sums of 1 to 1024 float elements over all axes or either axis of a matrix run as a product
# with a ones vector (numpy_backend.reduce_sum; the traced kernel finds the ones vector once);
# larger, keepdims and other axes go through ufunc.reduce. Every route must agree with float64
# NumPy, and eager with traced.

@pytest.mark.parametrize("shape", [(4, 4), (32, 32), (3, 7), (40, 30), (2, 3, 8), (1, 16),
                                   (10, 1), (10, 10), (1, 1), (2, 5), (50, 30)])
@pytest.mark.parametrize("axis", [None, 1, 0, -1])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_small_sums_match_float64_numpy_and_the_traced_kernel(shape, axis, keepdims, dtype):
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype) * 100
    expected = np.sum(x.astype(np.float64), axis=axis, keepdims=keepdims)
    eager = tf.reduce_sum(tf.constant(x), axis=axis, keepdims=keepdims).numpy()
    traced = tf.function(lambda t: tf.reduce_sum(t, axis=axis, keepdims=keepdims))(
        tf.constant(x)).numpy()
    tol = 1e-5 if dtype == "float32" else 1e-12
    assert eager.dtype == np.dtype(dtype) and eager.shape == expected.shape
    np.testing.assert_allclose(eager, expected, rtol=tol, atol=tol * np.abs(x).sum())
    np.testing.assert_array_equal(traced, eager)


def test_small_sums_propagate_nan_and_inf():
    x = np.ones((4, 8), np.float32)
    x[0, 3], x[1, 2], x[2, 5], x[2, 6] = np.nan, np.inf, np.inf, -np.inf
    rows = tf.reduce_sum(tf.constant(x), axis=1).numpy()
    assert np.isnan(rows[0]) and rows[1] == np.inf and np.isnan(rows[2]) and rows[3] == 8
    assert np.isnan(tf.reduce_sum(tf.constant(x)).numpy())


# Larger float sums over leading axes (a bias gradient over a batch of images) run as
# ones @ rows, a GEMV: checked against float64 NumPy, eager against traced, and non-finite
# values propagate as through ufunc.reduce.

@pytest.mark.parametrize("shape, axis", [((128, 13, 13, 16), (0, 1, 2)), ((4096, 8), 0),
                                         ((64, 32, 24), (0, 1)), ((3, 8192, 2), 0)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_leading_axis_sums_match_float64_numpy_and_the_traced_kernel(shape, axis, dtype):
    x = (np.random.default_rng(1).standard_normal(shape) * 100 + 50).astype(dtype)
    expected = np.sum(x.astype(np.float64), axis=axis)
    eager = tf.reduce_sum(tf.constant(x), axis=axis).numpy()
    traced = tf.function(lambda t: tf.reduce_sum(t, axis=axis))(tf.constant(x)).numpy()
    tol = 1e-5 if dtype == "float32" else 1e-12
    assert eager.dtype == np.dtype(dtype) and eager.shape == expected.shape
    scale = np.sum(np.abs(x.astype(np.float64)), axis=axis)
    np.testing.assert_array_less(np.abs(eager - expected), tol * scale)
    np.testing.assert_array_equal(traced, eager)


def test_leading_axis_sums_propagate_nan_and_inf():
    x = np.ones((4096, 4), np.float32)
    x[7, 0], x[9, 1], x[100, 2], x[200, 2] = np.nan, np.inf, np.inf, -np.inf
    columns = tf.reduce_sum(tf.constant(x), axis=0).numpy()
    assert np.isnan(columns[0]) and columns[1] == np.inf and np.isnan(columns[2])
    assert columns[3] == 4096
