"""Special functions (tf.math.lgamma, digamma, igamma, betainc, erfinv, the Bessel functions,
...) and the other tf.math ops that need kernels of their own (inverse hyperbolic functions,
nextafter, cumulative_logsumexp), each primitive beside its public function.

The kernels are backends/numpy_special.py's. The gradients are TensorFlow's: digamma is
lgamma's derivative, polygamma(n + 1) polygamma(n)'s; zeta, polygamma and betainc have no
gradient in their order or shape parameters (as in TF), igamma and igammac have one in a.
"""

from tensorflux import errors
from tensorflux.ops import math, reduction
from tensorflux.ops._core import as_operand, aval, broadcast_shapes, normalize_axis, unary_rule
from tensorflux.ops.math import const
from tensorflux.primitive import Primitive
from tensorflux.tensor import _TensorLike

__all__ = ["asinh", "acosh", "atanh", "lgamma", "digamma", "polygamma", "zeta", "igamma",
           "igammac", "betainc", "lbeta", "erfc", "erfinv", "erfcinv", "ndtri", "bessel_i0",
           "bessel_i0e", "bessel_i1", "bessel_i1e", "nextafter", "cumulative_logsumexp"]

_SQRT_PI = 1.7724538509055160
_SQRT_2PI = 2.5066282746310002


def _floats(op, *values):
    """The operands as tensors of one floating dtype: the first tensor's (Python numbers
    adopt it), or, when none is a tensor, that of the first floating value."""
    first = next((v for v in values if isinstance(v, _TensorLike)), None)
    if first is not None:
        dtype = first.dtype
    else:
        found = [as_operand(op, v).dtype for v in values]
        dtype = next((d for d in found if d.is_floating), found[0])
    if not dtype.is_floating:
        raise errors.InvalidArgumentError(
            f"{op}: expected floating-point inputs, received dtype {dtype.name}", op)
    return [as_operand(op, v, dtype) for v in values]


def _broadcast_rule(*inputs, **attrs):
    return aval(broadcast_shapes("broadcast", *(x.shape for x in inputs)), inputs[0].dtype)


def _defined(name, vjp, rule=unary_rule):
    return Primitive(name, vjp=vjp, shape_rule=rule)


# ------------------------------------------------------------------ inverse hyperbolic

_asinh = _defined("asinh", lambda g, x, out: (g * math.rsqrt(x * x + const(1, x)),))
_acosh = _defined("acosh", lambda g, x, out: (g * math.rsqrt(x * x - const(1, x)),))
_atanh = _defined("atanh", lambda g, x, out: (g / (const(1, x) - x * x),))


def asinh(x, name=None):
    """The inverse hyperbolic sine, elementwise.

    >>> import tensorflux as tf
    >>> round(float(tf.math.asinh(1.0)), 6)
    0.881374
    """
    return _asinh.bind(*_floats("asinh", x))


def acosh(x, name=None):
    """The inverse hyperbolic cosine, elementwise (NaN below 1).

    >>> import tensorflux as tf
    >>> float(tf.math.acosh(1.0))
    0.0
    """
    return _acosh.bind(*_floats("acosh", x))


def atanh(x, name=None):
    """The inverse hyperbolic tangent, elementwise (+-inf at +-1, NaN beyond).

    >>> import tensorflux as tf
    >>> round(float(tf.math.atanh(0.5)), 6)
    0.549306
    """
    return _atanh.bind(*_floats("atanh", x))


# ------------------------------------------------------------------ gamma function family

# lgamma: log|Gamma(x)|; d/dx = digamma(x).
_lgamma = _defined("lgamma", lambda g, x, out: (g * digamma(x),))
# digamma: d/dx lgamma; its own derivative is the trigamma function polygamma(1, x).
_digamma = _defined("digamma", lambda g, x, out: (g * polygamma(const(1, x), x),))
# polygamma(n, x): d/dx = polygamma(n + 1, x); none in the order n.
_polygamma = _defined(
    "polygamma", lambda g, n, x, out: (None, g * polygamma(n + const(1, n), x)),
    _broadcast_rule)
# zeta(x, q) = sum_k (q + k)^-x: d/dq = -x zeta(x + 1, q); none in x (as in TF).
_zeta = _defined("zeta", lambda g, x, q, out: (None, g * math.negative(x) *
                                                zeta(x + const(1, x), q)), _broadcast_rule)


def lgamma(x, name=None):
    """log|Gamma(x)|, elementwise (inf at 0, -1, -2, ...).

    >>> import tensorflux as tf
    >>> round(float(tf.math.lgamma(5.0)), 6)  # log(4!)
    3.178054
    """
    return _lgamma.bind(*_floats("lgamma", x))


def digamma(x, name=None):
    """The digamma function psi(x) = d/dx lgamma(x), elementwise.

    >>> import tensorflux as tf
    >>> round(float(tf.math.digamma(1.0)), 6)  # minus the Euler-Mascheroni constant
    -0.577216
    """
    return _digamma.bind(*_floats("digamma", x))


def polygamma(a, x, name=None):
    """The polygamma function psi^(a)(x), the a-th derivative of digamma, for whole a >= 0
    (NaN for other a).

    >>> import tensorflux as tf
    >>> round(float(tf.math.polygamma(1.0, 1.0)), 6)  # pi^2 / 6
    1.644934
    """
    return _polygamma.bind(*_floats("polygamma", a, x))


def zeta(x, q, name=None):
    """The Hurwitz zeta function sum_k (q + k)^-x, for x > 1.

    >>> import tensorflux as tf
    >>> round(float(tf.math.zeta(2.0, 1.0)), 6)  # pi^2 / 6
    1.644934
    """
    return _zeta.bind(*_floats("zeta", x, q))


def lbeta(x, name=None):
    """log|Beta(x)| over the last axis: sum(lgamma(x)) - lgamma(sum(x)).

    >>> import tensorflux as tf
    >>> round(float(tf.math.lbeta([1.0, 2.0])), 6)  # log(1/2)
    -0.693147
    """
    (x,) = _floats("lbeta", x)
    if x.shape.rank == 0:
        raise errors.InvalidArgumentError(
            "lbeta: expected a tensor of rank >= 1 (Beta's arguments on the last axis), "
            "received a scalar", "lbeta")
    return (reduction.reduce_sum(lgamma(x), axis=-1)
            - lgamma(reduction.reduce_sum(x, axis=-1)))


# ------------------------------------------------------------------ incomplete gamma and beta

def _log_gamma_density(a, x):
    """log(x^(a-1) e^-x / Gamma(a)): dP(a, x)/dx, in logs."""
    return (a - const(1, a)) * math.log(x) - x - lgamma(a)


_igamma_grad_a = _defined("igamma_grad_a", None, _broadcast_rule)
# igamma(a, x) = P(a, x): d/dx = x^(a-1) e^-x / Gamma(a); d/da from its own kernel.
_igamma = _defined(
    "igamma", lambda g, a, x, out: (g * _igamma_grad_a.bind(a, x),
                                    g * math.exp(_log_gamma_density(a, x))), _broadcast_rule)
# igammac(a, x) = Q(a, x) = 1 - P(a, x): the negated gradients.
_igammac = _defined(
    "igammac", lambda g, a, x, out: (g * math.negative(_igamma_grad_a.bind(a, x)),
                                     g * math.negative(math.exp(_log_gamma_density(a, x)))),
    _broadcast_rule)
# betainc(a, b, x) = I_x(a, b): d/dx = x^(a-1) (1-x)^(b-1) / Beta(a, b); none in a and b (TF).
_betainc = _defined(
    "betainc", lambda g, a, b, x, out: (None, None, g * math.exp(
        (a - const(1, a)) * math.log(x) + (b - const(1, b)) * math.log1p(math.negative(x))
        - lgamma(a) - lgamma(b) + lgamma(a + b))), _broadcast_rule)


def igamma(a, x, name=None):
    """The regularized lower incomplete gamma function P(a, x), for a > 0 and x >= 0.

    >>> import tensorflux as tf
    >>> round(float(tf.math.igamma(1.0, 1.0)), 6)  # 1 - exp(-1)
    0.632121
    """
    return _igamma.bind(*_floats("igamma", a, x))


def igammac(a, x, name=None):
    """The regularized upper incomplete gamma function Q(a, x) = 1 - P(a, x).

    >>> import tensorflux as tf
    >>> round(float(tf.math.igammac(1.0, 1.0)), 6)  # exp(-1)
    0.367879
    """
    return _igammac.bind(*_floats("igammac", a, x))


def betainc(a, b, x, name=None):
    """The regularized incomplete beta function I_x(a, b), for a, b > 0 and x in [0, 1].

    >>> import tensorflux as tf
    >>> float(tf.math.betainc(1.0, 1.0, 0.25))  # I_x(1, 1) = x
    0.25
    """
    return _betainc.bind(*_floats("betainc", a, b, x))


# ------------------------------------------------------------------ error function family

_erfc = _defined("erfc", lambda g, x, out: (
    g * const(-2 / _SQRT_PI, x) * math.exp(math.negative(x * x)),))
# erfinv: d/dy = sqrt(pi)/2 exp(erfinv(y)^2); erfcinv's is its negative.
_erfinv = _defined("erfinv", lambda g, y, out: (
    g * const(_SQRT_PI / 2, y) * math.exp(out * out),))
_erfcinv = _defined("erfcinv", lambda g, y, out: (
    g * const(-_SQRT_PI / 2, y) * math.exp(out * out),))
# ndtri, the inverse normal CDF: d/dp = sqrt(2 pi) exp(ndtri(p)^2 / 2).
_ndtri = _defined("ndtri", lambda g, p, out: (
    g * const(_SQRT_2PI, p) * math.exp(out * out * const(0.5, out)),))


def erfc(x, name=None):
    """The complementary error function 1 - erf(x), accurate where erf(x) rounds to 1.

    >>> import tensorflux as tf
    >>> print(f"{float(tf.math.erfc(tf.constant(5.0, tf.float64))):.6e}")
    1.537460e-12
    """
    return _erfc.bind(*_floats("erfc", x))


def erfinv(x, name=None):
    """The inverse error function on [-1, 1] (+-inf at +-1, NaN beyond).

    >>> import tensorflux as tf
    >>> round(float(tf.math.erfinv(0.5)), 6)
    0.476936
    """
    return _erfinv.bind(*_floats("erfinv", x))


def erfcinv(x, name=None):
    """The inverse of erfc on [0, 2]: erfcinv(erfc(y)) = y.

    >>> import tensorflux as tf
    >>> round(float(tf.math.erfcinv(0.5)), 6)
    0.476936
    """
    return _erfcinv.bind(*_floats("erfcinv", x))


def ndtri(x, name=None):
    """The quantile function (inverse CDF) of the standard normal distribution, on [0, 1].

    >>> import tensorflux as tf
    >>> round(float(tf.math.ndtri(0.975)), 6)
    1.959964
    """
    return _ndtri.bind(*_floats("ndtri", x))


# ------------------------------------------------------------------ modified Bessel functions

def _i1e_over_x(x, i1e):
    """i1e(x) / x, with its limit 1/2 at x = 0."""
    zero = math.equal(x, const(0, x))
    safe = math.where(zero, math.ones_like_(x), x)
    return math.where(zero, math.ones_like_(x) * const(0.5, x), i1e / safe)


# bessel_i0e = exp(-|x|) I0(x): d/dx = i1e(x) - sign(x) i0e(x).
_bessel_i0e = _defined("bessel_i0e", lambda g, x, out: (
    g * (bessel_i1e(x) - math.sign(x) * out),))
# bessel_i1e = exp(-|x|) I1(x): d/dx = i0e(x) - i1e(x) / x - sign(x) i1e(x) (1/2 at 0).
_bessel_i1e = _defined("bessel_i1e", lambda g, x, out: (
    g * (bessel_i0e(x) - _i1e_over_x(x, out) - math.sign(x) * out),))


def bessel_i0e(x, name=None):
    """The exponentially scaled modified Bessel function of order 0, exp(-|x|) I0(x).

    >>> import tensorflux as tf
    >>> round(float(tf.math.bessel_i0e(1.0)), 6)
    0.46576
    """
    return _bessel_i0e.bind(*_floats("bessel_i0e", x))


def bessel_i1e(x, name=None):
    """The exponentially scaled modified Bessel function of order 1, exp(-|x|) I1(x).

    >>> import tensorflux as tf
    >>> round(float(tf.math.bessel_i1e(1.0)), 6)
    0.20791
    """
    return _bessel_i1e.bind(*_floats("bessel_i1e", x))


def bessel_i0(x, name=None):
    """The modified Bessel function of order 0, I0(x) (inf where it overflows).

    >>> import tensorflux as tf
    >>> round(float(tf.math.bessel_i0(1.0)), 6)
    1.266066
    """
    (x,) = _floats("bessel_i0", x)
    return bessel_i0e(x) * math.exp(math.abs(x))


def bessel_i1(x, name=None):
    """The modified Bessel function of order 1, I1(x).

    >>> import tensorflux as tf
    >>> round(float(tf.math.bessel_i1(1.0)), 6)
    0.565159
    """
    (x,) = _floats("bessel_i1", x)
    return bessel_i1e(x) * math.exp(math.abs(x))


# ------------------------------------------------------------------ nextafter and scans

# nextafter: the next representable float after x1 towards x2; piecewise constant, no gradient.
_nextafter = _defined("nextafter", lambda g, x1, x2, out: (None, None), _broadcast_rule)


def nextafter(x1, x2, name=None):
    """The next representable value after x1 in the direction of x2, elementwise.

    >>> import tensorflux as tf
    >>> float(tf.math.nextafter(tf.constant(1.0, tf.float64), 2.0)) - 1.0
    2.220446049250313e-16
    """
    return _nextafter.bind(*_floats("nextafter", x1, x2))


def _logsumexp_scan_vjp(g, x, out, axis, exclusive, reverse):
    # d out_i / d x_j = exp(x_j - out_i) for each j that out_i sums: the cotangent is the
    # scan in the other direction of g_i exp(-out_i), times exp(x_j). In logs, with g split
    # by sign, nothing overflows however large x is.
    # An exclusive scan's -inf (its first entry) sums no x_j: any finite stand-in will do.
    finite_out = math.where(math.is_finite(out), out, math.zeros_like_(out))

    def back(weights):
        return _cumulative_logsumexp.bind(math.log(weights) - finite_out, axis=axis,
                                          exclusive=exclusive, reverse=not reverse)

    zero = math.zeros_like_(g)
    positive = math.exp(back(math.maximum(g, zero)) + x)
    negative = math.exp(back(math.maximum(math.negative(g), zero)) + x)
    return (positive - negative,)


# cumulative_logsumexp: log(cumsum(exp(x))) in one kernel (np.logaddexp.accumulate), which
# keeps full precision however far apart the values are.
_cumulative_logsumexp = _defined("cumulative_logsumexp", _logsumexp_scan_vjp)


def cumulative_logsumexp(x, axis=0, exclusive=False, reverse=False, name=None):
    """log(cumsum(exp(x))) along axis, computed without overflow or underflow; exclusive
    starts from log(0) = -inf, reverse accumulates from the end.

    >>> import tensorflux as tf
    >>> [round(v, 6) for v in tf.math.cumulative_logsumexp([0.0, 0.0]).numpy().tolist()]
    [0.0, 0.693147]
    """
    op = "cumulative_logsumexp"
    (x,) = _floats(op, x)
    if x.shape.rank == 0:
        raise errors.InvalidArgumentError(f"{op}: expected a tensor of rank >= 1, received a "
                                          "scalar", op)
    return _cumulative_logsumexp.bind(x, axis=normalize_axis(op, axis, x.shape.rank),
                                      exclusive=bool(exclusive), reverse=bool(reverse))
