"""Op-table rows for tensorflux.ops.math (elementwise, comparison, logic)."""

import math

import numpy as np

import tensorflux as tf
from tensorflux.ops import math as tfm
from tests.ops.harness import Row, away_from, combine, fixed, ints, positive, uniform

NAN, INF = np.nan, np.inf
F16 = ("float16", "float32", "float64")
ONCE = ("float64",)  # rows whose inputs are integer, bool or complex: no float cast to vary


# ------------------------------------------------------------------ samplers

def apart(shape_x, shape_y, gap=0.1, low=-2.0, high=2.0):
    """x and y (broadcast against each other) at least `gap` apart: away from max/min ties."""
    def sample(rng):
        x = rng.uniform(low, high, size=shape_x)
        y = rng.uniform(low, high, size=shape_y)
        d = x - y
        x = np.where(np.abs(d) < gap, y + np.where(d >= 0, 2 * gap, -2 * gap), x)
        return [x, y]
    return sample


def repeated_floats(*shapes):
    """Small integers as floats, so equality comparisons see ties."""
    return lambda rng: [rng.integers(-2, 3, size=s).astype(np.float64) for s in shapes]


def bools(*shapes):
    return lambda rng: [rng.random(s) < 0.5 for s in shapes]


def complexes(*shapes, dtype=np.complex128):
    return lambda rng: [(rng.uniform(-2, 2, s) + 1j * rng.uniform(-2, 2, s)).astype(dtype)
                        for s in shapes]


def off_integers(shape_x, shape_y):
    """x and y > 0 with x / y kept 0.05 away from integers (floordiv/floormod jumps)."""
    def sample(rng):
        y = rng.uniform(0.5, 2.0, size=shape_y) * np.where(rng.random(shape_y) < 0.5, -1, 1)
        q = rng.uniform(-4, 4, size=np.broadcast_shapes(shape_x, shape_y))
        q = np.floor(q) + rng.uniform(0.05, 0.95, size=q.shape)
        return [q * y, y]
    return sample


_erf = np.vectorize(math.erf, otypes=[np.float64])


def _softplus(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _int_div_ref(op):
    return lambda x, y: op(x.astype(np.int64), y.astype(np.int64)).astype(x.dtype)


# ------------------------------------------------------------------ rows

ARITHMETIC = [
    Row("add", tfm.add, np.add, uniform((3, 4), (4,)), dtypes=F16, second_order=True),
    Row("add_int", tfm.add, np.add, combine(ints((2, 3), -5, 5), ints((3,), -5, 5)),
        dtypes=ONCE, grad=()),
    Row("subtract", tfm.subtract, np.subtract, uniform((2, 3), (2, 1)), second_order=True),
    Row("multiply", tfm.multiply, np.multiply, uniform((3, 1), (1, 4)), dtypes=F16,
        second_order=True),
    Row("multiply_int", tfm.multiply, np.multiply,
        combine(ints((3,), -5, 5, np.int64), ints((2, 1), -5, 5, np.int64)), dtypes=ONCE,
        grad=()),
    Row("divide", tfm.divide, np.true_divide,
        combine(uniform((2, 3)), away_from((3,), gap=0.4)), second_order=True),
    Row("truediv_int32", tfm.truediv, np.true_divide,
        combine(ints((2, 3), -9, 9), fixed(np.array([-3, 2, 7], np.int32))), dtypes=ONCE,
        grad=()),
    Row("truediv_int16", tfm.truediv, np.true_divide,
        combine(ints((4,), -9, 9, np.int16), fixed(np.array([2, -4, 5, 8], np.int16))),
        dtypes=("float32",), grad=(), tags=("dtype_changes",)),
    Row("floordiv", tfm.floordiv, np.floor_divide, off_integers((2, 3), (3,))),
    Row("floordiv_int", tfm.floordiv, _int_div_ref(np.floor_divide),
        combine(ints((2, 3), -9, 9), fixed(np.array([-3, 2, 4], np.int32))), dtypes=ONCE,
        grad=()),
    Row("floormod", tfm.floormod, np.mod, off_integers((2, 3), (3,)), second_order=True),
    Row("mod_int", tfm.mod, _int_div_ref(np.mod),
        combine(ints((2, 3), -9, 9), fixed(np.array([-3, 2, 4], np.int32))), dtypes=ONCE,
        grad=()),
    Row("pow", tfm.pow, np.power, combine(positive((2, 3)), uniform((3,))), second_order=True),
    Row("pow_int", tfm.pow, np.power, combine(ints((2, 3), -3, 4), ints((3,), 0, 4)),
        dtypes=ONCE, grad=()),
    Row("squared_difference", tfm.squared_difference, lambda x, y: (x - y) ** 2,
        uniform((2, 3), (3,)), second_order=True),
    Row("maximum", tfm.maximum, np.maximum, apart((2, 3), (3,)), second_order=True),
    Row("minimum", tfm.minimum, np.minimum, apart((2, 3), (2, 1)), second_order=True),
    Row("maximum_int", tfm.maximum, np.maximum, combine(ints((2, 3), -5, 5), ints((3,), -5, 5)),
        dtypes=ONCE, grad=()),
    Row("clip_by_value", lambda t: tfm.clip_by_value(t, -1.0, 1.0),
        lambda t: np.clip(t, -1.0, 1.0), away_from((3, 4), points=(-1.0, 1.0)),
        second_order=True),
    Row("clip_by_value_tensor_bounds", tfm.clip_by_value, lambda t, lo, hi: np.minimum(
        np.maximum(t, lo), hi),
        combine(away_from((2, 3), points=(-1.5, -1.0, -0.5, 0.5, 1.0, 1.5)),
                fixed([-1.0, -0.5, -1.5]), fixed([[0.5], [1.5]]))),
    Row("atan2", tfm.atan2, np.arctan2, combine(uniform((2, 3)), away_from((3,), gap=0.3)),
        second_order=True),
    Row("add_n", lambda a, b, c: tfm.add_n([a, b, c]), lambda a, b, c: a + b + c,
        uniform((2, 3), (2, 3), (2, 3)), second_order=True),
    Row("scalar_mul", lambda x: tfm.scalar_mul(2.5, x), lambda x: 2.5 * x, uniform((2, 3)),
        second_order=True),
    Row("divide_no_nan", tfm.divide_no_nan,
        lambda x, y: np.where(y == 0, 0.0, x / np.where(y == 0, 1.0, y)),
        combine(uniform((2, 3)), fixed([0.0, 1.5, -0.7])), grad=(0,)),
    Row("divide_no_nan_nonzero", tfm.divide_no_nan, np.true_divide,
        combine(uniform((2, 3)), away_from((3,), gap=0.4)), second_order=True),
    Row("multiply_no_nan", tfm.multiply_no_nan,
        lambda x, y: np.where(y == 0, 0.0, x * np.where(y == 0, 1.0, y)),
        combine(fixed([[INF, NAN, 1.0], [2.0, -INF, 3.0]]), fixed([0.0, 0.0, 2.0])), grad=()),
    Row("multiply_no_nan_grad", tfm.multiply_no_nan,
        lambda x, y: np.where(y == 0, 0.0, x * y),
        combine(uniform((2, 3)), fixed([0.0, 1.5, -0.7])), second_order=True),
    Row("xlogy", tfm.xlogy, lambda x, y: np.where(x == 0, 0.0, x * np.log(y)),
        combine(uniform((2, 3)), positive((3,))), second_order=True),
    Row("xlogy_zero", tfm.xlogy,
        lambda x, y: np.where(x == 0, 0.0, x * np.log(np.where(x == 0, 1.0, y))),
        fixed([0.0, 0.0, 2.0, 0.0], [0.0, 3.0, 0.5, INF]), grad=()),
]

UNARY = [
    Row("negative", tfm.negative, np.negative, uniform((2, 3)), second_order=True),
    Row("abs", tfm.abs, np.abs, away_from((2, 3)), second_order=True),
    Row("abs_int", tfm.abs, np.abs, ints((5,), -5, 5), dtypes=ONCE, grad=()),
    Row("sign", tfm.sign, np.sign, away_from((2, 3))),
    Row("sign_zero", tfm.sign, np.sign, fixed([0.0, -0.0, 3.0, -INF]), grad=()),
    Row("square", tfm.square, np.square, uniform((2, 3)), second_order=True),
    Row("sqrt", tfm.sqrt, np.sqrt, positive((2, 3)), second_order=True),
    Row("rsqrt", tfm.rsqrt, lambda x: 1 / np.sqrt(x), positive((2, 3)), second_order=True),
    Row("exp", tfm.exp, np.exp, uniform((5,)), dtypes=F16, second_order=True),
    Row("expm1", tfm.expm1, np.expm1, uniform((2, 3)), second_order=True),
    Row("expm1_tiny", tfm.expm1, np.expm1, fixed([1e-10, -1e-12, 1e-7]), rtol=1e-6, grad=()),
    Row("log", tfm.log, np.log, positive((2, 3)), second_order=True),
    Row("log1p", tfm.log1p, np.log1p, uniform((2, 3), low=-0.6, high=2.0), second_order=True),
    Row("log1p_tiny", tfm.log1p, np.log1p, fixed([1e-10, -1e-12, 1e-7]), rtol=1e-6, grad=()),
    Row("sin", tfm.sin, np.sin, uniform((2, 3), low=-4, high=4), second_order=True),
    Row("cos", tfm.cos, np.cos, uniform((2, 3), low=-4, high=4), second_order=True),
    Row("tan", tfm.tan, np.tan, uniform((2, 3), low=-1.2, high=1.2), second_order=True),
    Row("tanh", tfm.tanh, np.tanh, uniform((2, 3), low=-3, high=3), dtypes=F16,
        second_order=True),
    Row("sinh", tfm.sinh, np.sinh, uniform((2, 3)), second_order=True),
    Row("cosh", tfm.cosh, np.cosh, uniform((2, 3)), second_order=True),
    Row("asin", tfm.asin, np.arcsin, uniform((2, 3), low=-0.8, high=0.8), second_order=True),
    Row("acos", tfm.acos, np.arccos, uniform((2, 3), low=-0.8, high=0.8), second_order=True),
    Row("atan", tfm.atan, np.arctan, uniform((2, 3), low=-3, high=3), second_order=True),
    Row("erf", tfm.erf, _erf, uniform((2, 3)), second_order=True),
    Row("sigmoid", tfm.sigmoid, lambda x: 1 / (1 + np.exp(-x)), uniform((2, 3), low=-5, high=5),
        dtypes=F16, second_order=True),
    Row("sigmoid_extreme", tfm.sigmoid, lambda x: 1 / (1 + np.exp(-x)),
        fixed([-100.0, -30.0, -1e-3, 0.0, 30.0, 100.0]), dtypes=F16, grad=()),
    Row("log_sigmoid", tfm.log_sigmoid, lambda x: -_softplus(-x),
        uniform((2, 3), low=-5, high=5), second_order=True),
    Row("softplus", tfm.softplus, lambda x: np.log1p(np.exp(x)), uniform((2, 3), low=-5, high=5),
        dtypes=F16, second_order=True),
    Row("softplus_extreme", tfm.softplus, _softplus,
        fixed([-800.0, -50.0, 0.0, 50.0, 800.0]), grad=()),
    Row("softsign", tfm.softsign, lambda x: x / (1 + np.abs(x)), away_from((2, 3)),
        second_order=True),
    Row("reciprocal", tfm.reciprocal, lambda x: 1 / x, away_from((2, 3), gap=0.3),
        second_order=True),
    Row("reciprocal_no_nan", tfm.reciprocal_no_nan,
        lambda x: np.where(x == 0, 0.0, 1 / np.where(x == 0, 1.0, x)),
        fixed([0.0, 2.0, -0.5, 4.0]), grad=()),
    Row("reciprocal_no_nan_grad", tfm.reciprocal_no_nan, lambda x: 1 / x,
        away_from((2, 3), gap=0.3), second_order=True),
    # round/floor/ceil carry no gradient; FD is 0 too away from the jumps.
    Row("round", tfm.round, np.round,
        lambda rng: [np.floor(rng.uniform(-4, 4, 6)) + rng.uniform(0.05, 0.45, 6)
                     + rng.choice([0.0, 0.5], 6)]),
    Row("round_halves", tfm.round, lambda x: np.array([-2.0, -2.0, -0.0, 0.0, 2.0, 2.0, 0.0]),
        fixed([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49]), grad=()),
    Row("round_int", tfm.round, lambda x: x, ints((4,), -9, 9), dtypes=ONCE, grad=()),
    Row("floor", tfm.floor, np.floor, away_from((2, 3), points=(-1.0, 0.0, 1.0))),
    Row("ceil", tfm.ceil, np.ceil, away_from((2, 3), points=(-1.0, 0.0, 1.0))),
]

COMPLEX = [
    Row("real", tfm.real, np.real, complexes((2, 3)), dtypes=ONCE, grad=()),
    Row("real_complex64", tfm.real, np.real, complexes((3,), dtype=np.complex64),
        dtypes=("float32",), grad=()),
    Row("real_of_float", tfm.real, np.real, uniform((3,))),
    Row("imag", tfm.imag, np.imag, complexes((2, 3)), dtypes=ONCE, grad=()),
    Row("imag_of_float", tfm.imag, np.imag, uniform((3,)), grad=()),
    Row("conj", tfm.conj, np.conj, complexes((2, 3)), dtypes=ONCE, grad=()),
    Row("angle", tfm.angle, np.angle, complexes((2, 3)), dtypes=ONCE, grad=()),
    Row("angle_of_float", tfm.angle, np.angle, fixed([-2.0, 0.0, 3.0]), grad=()),
    Row("complex", tfm.complex, lambda re, im: re + 1j * im, uniform((2, 3), (3,)), grad=()),
    Row("abs_complex", tfm.abs, np.abs, complexes((2, 3)), dtypes=ONCE, grad=()),
    Row("multiply_complex", tfm.multiply, np.multiply, complexes((2, 3), (3,)), dtypes=ONCE,
        grad=()),
    Row("exp_complex", tfm.exp, np.exp, complexes((4,)), dtypes=ONCE, grad=()),
    Row("cast_complex_to_float", lambda x: tfm.cast(x, tf.float64), np.real, complexes((3,)),
        dtypes=ONCE, grad=()),
    # Real-valued chains through complex ops: their VJPs checked by finite differences.
    Row("cast_to_complex_chain",
        lambda x: tfm.real(tfm.cast(x, tf.complex128) * tf.constant(np.complex128(0.5 - 1.5j))),
        lambda x: np.real(x * (0.5 - 1.5j)), uniform((2, 3)), dtypes=ONCE),
    Row("complex_abs_chain", lambda re, im: tfm.abs(tfm.complex(re, im)),
        lambda re, im: np.abs(re + 1j * im), away_from((2, 3), (3,), gap=0.3)),
    Row("complex_exp_chain", lambda re, im: tfm.real(tfm.exp(tfm.complex(re, im))),
        lambda re, im: np.real(np.exp(re + 1j * im)), uniform((2, 3), (2, 3))),
    Row("complex_conj_chain",
        lambda a, b, c, d: tfm.imag(tfm.complex(a, b) * tfm.conj(tfm.complex(c, d))),
        lambda a, b, c, d: np.imag((a + 1j * b) * np.conj(c + 1j * d)),
        uniform((3,), (3,), (3,), (3,)), second_order=True),
    Row("complex_angle_chain", lambda re, im: tfm.angle(tfm.complex(re, im)),
        lambda re, im: np.angle(re + 1j * im), combine(uniform((3,)), away_from((3,), gap=0.3))),
    Row("complex_pow_chain",
        lambda a, b, c, d: tfm.imag(tfm.pow(tfm.complex(a, b), tfm.complex(c, d))),
        lambda a, b, c, d: np.imag((a + 1j * b) ** (c + 1j * d)),
        combine(positive((3,), low=0.5), uniform((3,), (3,), (3,), low=-1, high=1))),
    Row("complex_divide_chain",
        lambda a, b, c, d: tfm.real(tfm.complex(a, b) / tfm.complex(c, d)),
        lambda a, b, c, d: np.real((a + 1j * b) / (c + 1j * d)),
        combine(uniform((3,), (3,)), away_from((3,), (3,), gap=0.4))),
    Row("complex_square_sqrt_chain",
        lambda a, b: tfm.real(tfm.sqrt(tfm.square(tfm.complex(a, b)) + tf.constant(
            np.complex128(3 + 1j)))),
        lambda a, b: np.real(np.sqrt((a + 1j * b) ** 2 + (3 + 1j))),
        uniform((3,), (3,), low=-1, high=1), dtypes=ONCE),
]

COMPARISON = [
    Row(f"{name}{suffix}", getattr(tfm, name), ref, sample, dtypes=dtypes, grad=())
    for name, ref in [("equal", np.equal), ("not_equal", np.not_equal), ("less", np.less),
                      ("less_equal", np.less_equal), ("greater", np.greater),
                      ("greater_equal", np.greater_equal)]
    for suffix, sample, dtypes in [
        ("", repeated_floats((2, 3), (3,)), ("float32", "float64")),
        ("_int", combine(ints((2, 3), -2, 3), ints((2, 1), -2, 3)), ONCE)]
] + [
    Row("equal_bool", tfm.equal, np.equal, bools((2, 3), (3,)), dtypes=ONCE, grad=()),
]

LOGIC = [
    Row("logical_and", tfm.logical_and, np.logical_and, bools((2, 3), (3,)), dtypes=ONCE,
        grad=()),
    Row("logical_or", tfm.logical_or, np.logical_or, bools((2, 3), (2, 1)), dtypes=ONCE,
        grad=()),
    Row("logical_xor", tfm.logical_xor, np.logical_xor, bools((2, 3), (3,)), dtypes=ONCE,
        grad=()),
    Row("logical_not", tfm.logical_not, np.logical_not, bools((2, 3)), dtypes=ONCE, grad=()),
    Row("invert_bool", tfm.invert, np.logical_not, bools((2, 3)), dtypes=ONCE, grad=()),
    Row("invert_int", tfm.invert, np.invert, ints((2, 3), -9, 9), dtypes=ONCE, grad=()),
    Row("invert_uint8", tfm.invert, np.invert, ints((4,), 0, 255, np.uint8), dtypes=ONCE,
        grad=()),
    Row("where", tfm.where, np.where, combine(bools((2, 3)), uniform((3,), (2, 1)))),
    Row("where_cond_broadcast", tfm.where, np.where,
        combine(bools((3,)), uniform((2, 3), (2, 3)))),
    Row("where_int", tfm.where, np.where,
        combine(bools((2, 1)), ints((3,), -5, 5), ints((2, 3), -5, 5)), dtypes=ONCE, grad=()),
    Row("where_indices", tfm.where, lambda c: np.argwhere(c).astype(np.int64), bools((3, 4)),
        dtypes=ONCE, grad=()),
    Row("where_indices_empty", tfm.where, lambda c: np.zeros((0, 2), np.int64),
        fixed(np.zeros((2, 3), bool)), dtypes=ONCE, grad=()),
    Row("is_nan", tfm.is_nan, np.isnan, fixed([[1.0, NAN, INF], [-INF, 0.0, -2.5]]), grad=()),
    Row("is_finite", tfm.is_finite, np.isfinite, fixed([[1.0, NAN, INF], [-INF, 0.0, -2.5]]),
        grad=()),
    Row("is_inf", tfm.is_inf, np.isinf, fixed([[1.0, NAN, INF], [-INF, 0.0, -2.5]]), grad=()),
]

# Complex elementwise ops: the forward value, and the VJP through Re(w * f(a + ib)), which
# checks that each gradient rule conjugates the derivative (TF's convention).
_W = np.complex128(0.3 - 0.7j)
COMPLEX_UNARY = [
    ("log", np.log), ("log1p", np.log1p), ("sqrt", np.sqrt), ("rsqrt", lambda z: 1 / np.sqrt(z)),
    ("sin", np.sin), ("cos", np.cos), ("tan", np.tan), ("tanh", np.tanh), ("sinh", np.sinh),
    ("cosh", np.cosh), ("expm1", np.expm1), ("reciprocal", lambda z: 1 / z),
    ("square", np.square), ("negative", np.negative), ("exp", np.exp),
    ("sigmoid", lambda z: 1 / (1 + np.exp(-z))),
]


def _through_complex(f):
    return lambda a, b: tfm.real(f(tfm.complex(a, b)) * tf.constant(_W))


for _name, _ref in COMPLEX_UNARY:
    COMPLEX.append(Row(
        f"{_name}_complex_grad", _through_complex(getattr(tfm, _name)),
        lambda a, b, f=_ref: np.real(f(a + 1j * b) * _W),
        combine(positive((3,), low=0.3, high=1.5), uniform((3,), low=-1, high=1)),
        dtypes=ONCE))
    if _name != "exp":
        COMPLEX.append(Row(f"{_name}_complex", getattr(tfm, _name), _ref,
                           complexes((2, 3)), dtypes=ONCE, grad=()))

CAST = [
    Row("cast_float_to_int", lambda x: tfm.cast(x, tf.int32),
        lambda x: np.trunc(x).astype(np.int32), uniform((2, 5), low=-5, high=5), grad=()),
    Row("cast_int_to_float", lambda x: tfm.cast(x, tf.float32), lambda x: x.astype(np.float64),
        ints((2, 3), -100, 100), dtypes=("float32",), grad=()),
    Row("cast_int_to_bool", lambda x: tfm.cast(x, tf.bool), lambda x: x != 0,
        ints((6,), -2, 3), dtypes=ONCE, grad=()),
    Row("cast_float_to_float", lambda x: tfm.cast(x, tf.float16),
        lambda x: x.astype(np.float16).astype(np.float64), uniform((2, 3)), grad=(),
        tags=("dtype_changes",)),
    Row("saturate_cast", lambda x: tfm.saturate_cast(x, tf.uint8),
        lambda x: np.trunc(np.clip(x, 0, 255)).astype(np.uint8),
        fixed([300.0, -5.0, 12.7, 255.5, 0.2, 254.9]), grad=()),
    Row("saturate_cast_int_to_int", lambda x: tfm.saturate_cast(x, tf.int8),
        lambda x: np.clip(x, -128, 127).astype(np.int8),
        fixed(np.array([-1000, -128, 0, 127, 5000], np.int32)), dtypes=ONCE, grad=()),
]

ROWS = ARITHMETIC + UNARY + COMPLEX + COMPARISON + LOGIC + CAST
