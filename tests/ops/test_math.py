"""Behaviour of tensorflux.ops.math beyond the op table: dtype rules, errors, edge values."""

import math

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.ops import math as tfm

InvalidArgument = tf.errors.InvalidArgumentError


def grad_of(fn, x):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    return tape.gradient(y, x)


# ------------------------------------------------------------------ dtype rules

@pytest.mark.parametrize("dtype,scalar", [(tf.float16, 1.0), (tf.float64, 1.5), (tf.int32, 2),
                                          (tf.int64, 2), (tf.uint8, 3), (tf.int16, -2)])
def test_python_scalars_adapt_to_the_tensor_dtype(dtype, scalar):
    t = tf.constant([1, 2], dtype)
    for out in (t + scalar, scalar + t, t * scalar, scalar * t, tfm.maximum(t, scalar),
                tfm.subtract(scalar, t)):
        assert out.dtype is dtype
    np.testing.assert_array_equal((t + scalar).numpy(),
                                  np.array([1, 2], dtype.name) + np.array(scalar, dtype.name))


@pytest.mark.parametrize("op", ["add", "subtract", "multiply", "divide", "maximum", "minimum",
                                "pow", "equal", "less", "floordiv", "squared_difference"])
def test_two_tensors_of_different_dtypes_raise(op):
    a = tf.constant([1.0, 2.0], tf.float32)
    b = tf.constant([1.0, 2.0], tf.float64)
    with pytest.raises(InvalidArgument) as info:
        getattr(tfm, op)(a, b)
    message = str(info.value)
    assert "float32" in message and "float64" in message
    assert {"divide": "truediv"}.get(op, op) in message


def test_int_and_float_tensors_do_not_promote():
    with pytest.raises(InvalidArgument, match=r"add.*int32.*float32"):
        tf.constant([1]) + tf.constant([1.0])


def test_a_float_scalar_into_an_int_op_raises():
    with pytest.raises((InvalidArgument, TypeError)):
        tf.constant([1, 2]) + 1.5
    with pytest.raises((InvalidArgument, TypeError)):
        tfm.multiply(2.5, tf.constant([1, 2], tf.int64))


@pytest.mark.parametrize("op", ["add", "multiply", "maximum", "less", "logical_and", "where"])
def test_incompatible_broadcast_shapes_raise_naming_op_and_shapes(op):
    if op == "logical_and":
        a, b = tf.constant([True] * 3), tf.constant([False] * 4)
    else:
        a, b = tf.constant(np.ones((2, 3), np.float32)), tf.constant(np.ones(4, np.float32))
    with pytest.raises(InvalidArgument) as info:
        if op == "where":
            tfm.where(tf.constant([True, False, True]), a, b)
        else:
            getattr(tfm, op)(a, b)
    message = str(info.value)
    assert op in message
    assert "4" in message and "3" in message


@pytest.mark.parametrize("op", ["exp", "log", "sqrt", "sigmoid", "tanh", "sin", "erf",
                                "softplus", "floor", "is_nan"])
def test_float_only_ops_reject_int32_naming_the_dtype(op):
    with pytest.raises(InvalidArgument) as info:
        getattr(tfm, op)(tf.constant([1, 2]))
    assert op in str(info.value) and "int32" in str(info.value)


def test_logic_ops_need_bool_and_invert_needs_bool_or_int():
    with pytest.raises(InvalidArgument, match="logical_and"):
        tfm.logical_and(tf.constant([1.0]), tf.constant([0.0]))
    with pytest.raises(InvalidArgument, match="logical_not.*float32"):
        tfm.logical_not(tf.constant([1.0]))
    with pytest.raises(InvalidArgument, match="invert.*float32"):
        ~tf.constant([1.0])


# ------------------------------------------------------------------ integer arithmetic

@pytest.mark.parametrize("op", ["floordiv", "floormod", "mod"])
@pytest.mark.parametrize("dtype", [tf.int32, tf.int64])
def test_integer_division_by_zero_raises(op, dtype):
    with pytest.raises(InvalidArgument, match="division by zero"):
        getattr(tfm, op)(tf.constant([4, 5], dtype), tf.constant([2, 0], dtype))


# pyproject turns tensorflux's RuntimeWarnings into errors; here inf and NaN are the point.
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_float_division_by_zero_gives_inf_and_nan():
    out = tfm.divide(tf.constant([1.0, -1.0, 0.0]), 0.0).numpy()
    assert out[0] == np.inf and out[1] == -np.inf and np.isnan(out[2])


def test_integer_floordiv_and_mod_follow_python_signs():
    x = tf.constant([7, -7, 7, -7])
    y = tf.constant([2, 2, -2, -2])
    assert (x // y).numpy().tolist() == [7 // 2, -7 // 2, 7 // -2, -7 // -2]
    assert (x % y).numpy().tolist() == [7 % 2, -7 % 2, 7 % -2, -7 % -2]


def test_integer_pow_with_a_negative_exponent_raises():
    with pytest.raises(InvalidArgument, match="negative"):
        tfm.pow(tf.constant([2, 3]), tf.constant([1, -1]))
    with pytest.raises(InvalidArgument, match="negative"):
        tf.constant([2]) ** -1
    assert tfm.pow(tf.constant([2, 3]), 3).numpy().tolist() == [8, 27]
    assert tfm.pow(tf.constant([2.0]), -1.0).numpy().tolist() == [0.5]


@pytest.mark.parametrize("dtype,expected", [(tf.int8, tf.float32), (tf.int16, tf.float32),
                                            (tf.uint8, tf.float32), (tf.int32, tf.float64),
                                            (tf.int64, tf.float64)])
def test_truediv_of_integers_casts_like_tensorflow(dtype, expected):
    out = tfm.truediv(tf.constant([1, 7], dtype), tf.constant([2, 4], dtype))
    assert out.dtype is expected
    assert out.numpy().tolist() == [0.5, 1.75]
    assert (tf.constant([3], dtype) / tf.constant([2], dtype)).dtype is expected


def test_round_is_half_to_even():
    x = tf.constant([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, 2.4999, -0.51])
    assert tfm.round(x).numpy().tolist() == [-2.0, -2.0, -0.0, 0.0, 2.0, 2.0, 4.0, 2.0, -1.0]
    ints = tf.constant([3, -4])
    assert tfm.round(ints).dtype is tf.int32 and tfm.round(ints).numpy().tolist() == [3, -4]


def test_cast_float_to_int_truncates_toward_zero():
    x = tf.constant([-2.7, -1.5, -0.5, 0.5, 1.5, 2.7, 3.0])
    assert tfm.cast(x, tf.int32).numpy().tolist() == [-2, -1, 0, 0, 1, 2, 3]
    assert tfm.cast(tf.constant([0.0, -0.3, 2.0]), tf.bool).numpy().tolist() == [False, True, True]
    assert tfm.cast(tf.constant([True, False]), tf.float32).numpy().tolist() == [1.0, 0.0]


def test_cast_to_the_same_dtype_returns_the_tensor():
    x = tf.constant([1.0])
    assert tfm.cast(x, tf.float32) is x


def test_cast_gradient_is_cast_back():
    g = grad_of(lambda x: tfm.cast(x, tf.float32) * 3.0, np.array([1.0, 2.0]))
    assert g.dtype is tf.float64 and g.numpy().tolist() == [3.0, 3.0]
    ints = tf.constant([1, 2])
    with tf.GradientTape() as tape:
        tape.watch(ints)
        y = tfm.cast(ints, tf.float32)
    assert tape.gradient(y, ints) is None


def test_saturate_cast_clamps_to_the_target_range():
    # The upper bound is the largest float32 below int32.max (2**31 - 128), as in TF:
    # int32.max itself rounds up to 2**31 in float32, which the cast cannot hold.
    big = tf.constant([1e10, -1e10, 3.7], tf.float32)
    assert tfm.saturate_cast(big, tf.int32).numpy().tolist() == [2**31 - 128, -2**31, 3]
    assert tfm.saturate_cast(tf.constant([1e30, -1e30]), tf.int64).numpy().tolist() == [
        2**63 - 2**39, -2**63]
    assert tfm.saturate_cast(tf.constant([1e300], tf.float64), tf.int64).numpy().tolist() == [
        2**63 - 1024]
    wide = tf.constant([100000, -100000, 7])
    out = tfm.saturate_cast(wide, tf.float16)
    assert out.dtype is tf.float16 and out.numpy().tolist() == [65504.0, -65504.0, 7.0]
    assert tfm.saturate_cast(tf.constant([300, -2]), tf.uint8).numpy().tolist() == [255, 0]
    z = tf.constant(np.array([300 + 5j, -4 + 1j], np.complex64))
    assert tfm.saturate_cast(z, tf.uint8).numpy().tolist() == [255, 0]


# ------------------------------------------------------------------ numerical stability

@pytest.mark.parametrize("dtype", [tf.float16, tf.float32, tf.float64])
def test_sigmoid_saturates_without_overflow(dtype):
    x = tf.constant([-100.0, -20.0, 0.0, 20.0, 100.0], dtype)
    y = tfm.sigmoid(x).numpy()
    assert y.dtype == np.dtype(dtype.name) and np.all(np.isfinite(y))
    assert y[0] == pytest.approx(0.0, abs=1e-8) and y[4] == 1.0 and y[2] == 0.5
    expected = 1 / (1 + np.exp(-np.array([-20.0, 20.0])))
    # float16's smallest subnormal is 6e-8: exp(-20) = 2e-9 flushes to 0 there.
    np.testing.assert_allclose(y[[1, 3]].astype(np.float64), expected,
                               rtol={"float16": 1e-3}.get(dtype.name, 1e-6),
                               atol={"float16": 6e-8}.get(dtype.name, 1e-12))
    g = grad_of(tfm.sigmoid, x.numpy()).numpy()
    assert np.all(np.isfinite(g)) and g[0] == pytest.approx(0.0, abs=1e-8)


def test_softplus_gradient_at_infinities():
    g = grad_of(tfm.softplus, np.array([np.inf, -np.inf, 0.0], np.float32)).numpy()
    assert g.tolist() == [1.0, 0.0, 0.5]


@pytest.mark.parametrize("dtype", [tf.float16, tf.float32, tf.float64])
def test_softplus_of_large_inputs_does_not_overflow(dtype):
    big = {"float16": 1000.0, "float32": 1e4, "float64": 1e6}[dtype.name]
    x = tf.constant([-big, -50.0, 50.0, big], dtype)
    y = tfm.softplus(x).numpy().astype(np.float64)
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y, [0.0, math.exp(-50.0), 50.0, big], rtol=1e-3, atol=1e-8)
    g = grad_of(tfm.softplus, x.numpy()).numpy()
    assert np.all(np.isfinite(g)) and g[0] == 0.0 and g[-1] == 1.0


def test_log_sigmoid_of_large_negative_inputs_is_finite():
    y = tfm.log_sigmoid(tf.constant([-1000.0, 1000.0])).numpy()
    assert y.tolist() == [-1000.0, 0.0]


def test_no_nan_ops_have_finite_gradients_at_zero():
    x = tf.constant([1.0, 2.0])
    y = tf.constant([0.0, 4.0])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, y])
        d = tfm.divide_no_nan(x, y)
        m = tfm.multiply_no_nan(x, y)
        xl = tfm.xlogy(tf.constant([0.0, 2.0]) * x, y)
    assert d.numpy().tolist() == [0.0, 0.5]
    assert tape.gradient(d, x).numpy().tolist() == [0.0, 0.25]
    assert tape.gradient(d, y).numpy().tolist() == [0.0, -2.0 / 16]
    assert xl.numpy()[0] == 0.0
    assert np.all(np.isfinite(tape.gradient(xl, [x, y])[1].numpy()))
    # TF's MulNoNan: d/dx = y (0 where y == 0), d/dy = x even where y == 0.
    assert m.numpy().tolist() == [0.0, 8.0]
    assert tape.gradient(m, x).numpy().tolist() == [0.0, 4.0]
    assert tape.gradient(m, y).numpy().tolist() == [1.0, 2.0]


def test_multiply_no_nan_masks_inf_and_nan():
    out = tfm.multiply_no_nan(tf.constant([np.inf, np.nan, np.inf]), tf.constant([0.0, 0.0, 2.0]))
    assert out.numpy().tolist() == [0.0, 0.0, np.inf]


def test_abs_gradient_at_zero_is_zero_and_maximum_ties_go_to_x():
    assert grad_of(tfm.abs, np.array([0.0, -2.0])).numpy().tolist() == [0.0, -1.0]
    x, y = tf.constant([1.0, 2.0]), tf.constant([1.0, 3.0])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, y])
        mx, mn = tfm.maximum(x, y), tfm.minimum(x, y)
    assert tape.gradient(mx, [x, y])[0].numpy().tolist() == [1.0, 0.0]
    assert tape.gradient(mn, [x, y])[1].numpy().tolist() == [0.0, 0.0]


def test_complex_abs_is_real_and_its_gradient_is_finite_at_zero():
    z = tf.constant(np.array([3 + 4j, 0j]))
    assert tfm.abs(z).dtype is tf.float64 and tfm.abs(z).numpy().tolist() == [5.0, 0.0]
    with tf.GradientTape() as tape:
        tape.watch(z)
        y = tfm.abs(z)
    g = tape.gradient(y, z).numpy()
    np.testing.assert_allclose(g, [0.6 + 0.8j, 0j])


# ------------------------------------------------------------------ complex and misc checks

def test_complex_parts_and_dtypes():
    c = tfm.complex(tf.constant([1.0]), tf.constant([2.0]))
    assert c.dtype is tf.complex64
    c64 = tfm.complex(tf.constant([1.0], tf.float64), 2.0)
    assert c64.dtype is tf.complex128
    assert tfm.real(c).dtype is tf.float32 and tfm.imag(c).numpy().tolist() == [2.0]
    assert tfm.conj(c).numpy().tolist() == [1 - 2j]
    angle = tfm.angle(tf.constant([-1.0, 2.0]))
    assert angle.dtype is tf.float32 and angle.numpy().tolist() == [np.float32(math.pi), 0.0]
    with pytest.raises(InvalidArgument, match="complex.*float16"):
        tfm.complex(tf.constant([1.0], tf.float16), tf.constant([1.0], tf.float16))
    with pytest.raises(InvalidArgument, match="angle.*int32"):
        tfm.angle(tf.constant([1, 2]))


def test_add_n_needs_one_shape_and_at_least_one_input():
    with pytest.raises(InvalidArgument, match=r"add_n.*\(2,\).*\(3,\)"):
        tfm.add_n([tf.constant([1.0, 2.0]), tf.constant([1.0, 2.0, 3.0])])
    with pytest.raises(InvalidArgument, match="add_n"):
        tfm.add_n([])
    with pytest.raises(InvalidArgument, match="float32.*float64"):
        tfm.add_n([tf.constant([1.0]), tf.constant([1.0], tf.float64)])


def test_where_arguments():
    with pytest.raises(InvalidArgument, match="where"):
        tfm.where(tf.constant([True]), 1.0)
    with pytest.raises(InvalidArgument, match="where.*bool.*float32"):
        tfm.where(tf.constant([1.0]), 1.0, 2.0)
    assert tfm.where([[True, False], [False, True]]).numpy().tolist() == [[0, 0], [1, 1]]
    assert tfm.where([[True, False], [False, True]]).dtype is tf.int64


def test_is_nan_finite_inf():
    x = tf.constant([0.0, np.nan, np.inf, -np.inf], tf.float16)
    assert tfm.is_nan(x).numpy().tolist() == [False, True, False, False]
    assert tfm.is_finite(x).numpy().tolist() == [True, False, False, False]
    assert tfm.is_inf(x).numpy().tolist() == [False, False, True, True]


# ------------------------------------------------------------------ operator overloads

def test_arithmetic_operators_and_their_reflected_forms():
    t = tf.constant([1.0, 2.0, 4.0])
    a = np.array([2.0, 3.0, 8.0], np.float32)
    cases = [
        (t + 1.0, [2.0, 3.0, 5.0]), (1.0 + t, [2.0, 3.0, 5.0]), (a + t, [3.0, 5.0, 12.0]),
        (t - 1.0, [0.0, 1.0, 3.0]), (1.0 - t, [0.0, -1.0, -3.0]), (a - t, [1.0, 1.0, 4.0]),
        (t * 2.0, [2.0, 4.0, 8.0]), (2.0 * t, [2.0, 4.0, 8.0]), (a * t, [2.0, 6.0, 32.0]),
        (t / 2.0, [0.5, 1.0, 2.0]), (2.0 / t, [2.0, 1.0, 0.5]), (a / t, [2.0, 1.5, 2.0]),
        (t // 3.0, [0.0, 0.0, 1.0]), (7.0 // t, [7.0, 3.0, 1.0]), (a // t, [2.0, 1.0, 2.0]),
        (t % 3.0, [1.0, 2.0, 1.0]), (7.0 % t, [0.0, 1.0, 3.0]), (a % t, [0.0, 1.0, 0.0]),
        (t ** 2.0, [1.0, 4.0, 16.0]), (2.0 ** t, [2.0, 4.0, 16.0]), (a ** t, [2.0, 9.0, 4096.0]),
        (-t, [-1.0, -2.0, -4.0]), (abs(-t), [1.0, 2.0, 4.0]),
    ]
    for out, expected in cases:
        assert isinstance(out, tf.Tensor) and out.dtype is tf.float32
        assert out.numpy().tolist() == expected


def test_integer_operators_keep_the_dtype():
    t = tf.constant([5, -7], tf.int64)
    assert (t + 1).dtype is tf.int64 and (3 * t).numpy().tolist() == [15, -21]
    assert (t // 2).numpy().tolist() == [2, -4] and (10 % t).numpy().tolist() == [0, -4]
    assert (np.array([1, 2], np.int64) - t).numpy().tolist() == [-4, 9]
    assert (~t).numpy().tolist() == [~5, ~-7]


def test_comparison_operators_and_reflected_forms():
    t = tf.constant([1.0, 2.0, 3.0])
    a = np.array([2.0, 2.0, 2.0], np.float32)
    assert (t < 2.0).numpy().tolist() == [True, False, False]
    assert (t <= 2.0).numpy().tolist() == [True, True, False]
    assert (t > 2.0).numpy().tolist() == [False, False, True]
    assert (t >= 2.0).numpy().tolist() == [False, True, True]
    assert (2.0 < t).numpy().tolist() == [False, False, True]
    assert (2.0 >= t).numpy().tolist() == [True, True, False]
    assert (a < t).numpy().tolist() == [False, False, True]
    assert (a >= t).numpy().tolist() == [True, True, False]
    assert (t == 2.0).numpy().tolist() == [False, True, False]
    assert (t != 2.0).numpy().tolist() == [True, False, True]
    assert (a == t).numpy().tolist() == [False, True, False]
    assert (t == tf.constant([1.0, 0.0, 3.0])).numpy().tolist() == [True, False, True]


def test_comparison_with_none_is_false():
    t = tf.constant([1.0, 2.0])
    assert (t == None) is False  # noqa: E711 - the overload under test
    assert (t != None) is True  # noqa: E711
    assert t is not None


def test_bool_operators_and_reflected_forms():
    p = tf.constant([True, True, False, False])
    q = np.array([True, False, True, False])
    assert (p & q).numpy().tolist() == [True, False, False, False]
    assert (q & p).numpy().tolist() == [True, False, False, False]
    assert (p | q).numpy().tolist() == [True, True, True, False]
    assert (q | p).numpy().tolist() == [True, True, True, False]
    assert (p ^ q).numpy().tolist() == [False, True, True, False]
    assert (q ^ p).numpy().tolist() == [False, True, True, False]
    assert (True & p).numpy().tolist() == [True, True, False, False]
    assert (False | p).numpy().tolist() == [True, True, False, False]
    assert (~p).numpy().tolist() == [False, False, True, True]
    with pytest.raises(InvalidArgument, match="logical_and"):
        p & tf.constant([1, 0, 1, 0])


def test_operator_gradients_flow_through_reflected_forms():
    x = tf.constant([1.0, 2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(2.0 / x + 3.0 - x + 2.0 ** x)
    g = tape.gradient(y, x).numpy()
    expected = -2.0 / np.array([1.0, 4.0]) - 1.0 + np.log(2.0) * np.array([2.0, 4.0])
    np.testing.assert_allclose(g, expected, rtol=1e-6)


def test_scalar_mul_needs_a_scalar():
    assert tfm.scalar_mul(3, tf.constant([1, 2])).numpy().tolist() == [3, 6]
    with pytest.raises(InvalidArgument, match=r"scalar_mul.*\(2,\)"):
        tfm.scalar_mul(tf.constant([1.0, 2.0]), tf.constant([1.0, 2.0]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int32, np.int64,
                                   np.complex64])
def test_large_where_is_bit_exact_with_nan_signed_zero_and_broadcasting(dtype):
    # Large selects go through the values' bits instead of np.where: same bits out.
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((64, 96)) * 8).astype(dtype)
    y = (rng.standard_normal((64, 96)) * 8).astype(dtype)
    if np.dtype(dtype).kind == "f":
        x[0, :4] = [np.nan, -0.0, np.inf, -np.inf]
        y[0, 4:8] = [np.nan, -0.0, np.inf, -np.inf]
    condition = rng.random((64, 96)) > 0.5
    cases = [(condition, x, y), (condition, x, np.zeros((), dtype)),
             (condition, x, np.asarray(-0.0 if np.dtype(dtype).kind == "f" else 3, dtype)),
             (condition[:, :1], x, y[:1]), (condition[0], x, y), (condition, x[:1], y[:, :1])]
    for c, a, b in cases:
        got = tfm.where(tf.constant(c), tf.constant(a), tf.constant(b)).numpy()
        want = np.where(c, a, b)
        assert got.dtype == want.dtype and got.shape == want.shape
        assert got.tobytes() == np.ascontiguousarray(want).tobytes()
