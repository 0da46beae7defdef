"""tf.math.special: the Bessel functions J, Y, I and K of orders 0 and 1 (I and K also
exponentially scaled), Dawson's integral, the exponential integral Ei, the Fresnel integrals
and Spence's function, elementwise on floating tensors.

The kernels are backends/numpy_special.py's (float64 inside, rounded to the input's dtype).
The gradients are TensorFlow's, from the functions' derivatives: J0' = -J1, Y0' = -Y1,
J1' = J0 - J1/x (1/2 at 0), Y1' = Y0 - Y1/x, dawsn' = 1 - 2x dawsn, Ei' = e^x / x,
C'(x) = cos(pi x^2 / 2), S'(x) = sin(pi x^2 / 2), spence'(x) = log x / (1 - x) (-1 at 1).
Outside their domains the values are TensorFlow's too: Y -inf and K inf at x <= 0, Ei -inf at
0 and NaN below, spence NaN below 0.
"""

from tensorflux.ops import math as _math
from tensorflux.ops.math import const as _const
from tensorflux.ops.special import (
    _defined,
    _floats,
    bessel_i0,
    bessel_i0e,
    bessel_i1,
    bessel_i1e,
)

__all__ = ["bessel_i0", "bessel_i0e", "bessel_i1", "bessel_i1e", "bessel_j0", "bessel_j1",
           "bessel_k0", "bessel_k0e", "bessel_k1", "bessel_k1e", "bessel_y0", "bessel_y1",
           "dawsn", "expint", "fresnel_cos", "fresnel_sin", "spence"]

_HALF_PI = 1.5707963267948966


def _at_zero(x, value, elsewhere):
    """`elsewhere`, except `value` where x is 0 (where a derivative's formula divides by x)."""
    return _math.where(_math.equal(x, _const(0, x)), _math.ones_like_(x) * _const(value, x),
                      elsewhere)


# ------------------------------------------------------------------ Bessel functions J and Y

_bessel_j0 = _defined("bessel_j0", lambda g, x, out: (g * _math.negative(bessel_j1(x)),))
_bessel_j1 = _defined("bessel_j1", lambda g, x, out: (
    g * _at_zero(x, 0.5, bessel_j0(x) - out / x),))
_bessel_y0 = _defined("bessel_y0", lambda g, x, out: (g * _math.negative(bessel_y1(x)),))
_bessel_y1 = _defined("bessel_y1", lambda g, x, out: (g * (bessel_y0(x) - out / x),))


def bessel_j0(x, name=None):
    """The Bessel function of the first kind of order 0, J0(x).

    >>> import tensorflux as tf
    >>> round(float(tf.math.special.bessel_j0(1.0)), 6)
    0.765198
    """
    return _bessel_j0.bind(*_floats("bessel_j0", x))


def bessel_j1(x, name=None):
    """The Bessel function of the first kind of order 1, J1(x).

    >>> import tensorflux as tf
    >>> round(float(tf.math.special.bessel_j1(1.0)), 6)
    0.440051
    """
    return _bessel_j1.bind(*_floats("bessel_j1", x))


def bessel_y0(x, name=None):
    """The Bessel function of the second kind of order 0, Y0(x) (-inf for x <= 0).

    >>> import tensorflux as tf
    >>> round(float(tf.math.special.bessel_y0(1.0)), 6)
    0.088257
    """
    return _bessel_y0.bind(*_floats("bessel_y0", x))


def bessel_y1(x, name=None):
    """The Bessel function of the second kind of order 1, Y1(x) (-inf for x <= 0).

    >>> import tensorflux as tf
    >>> round(float(tf.math.special.bessel_y1(1.0)), 6)
    -0.781213
    """
    return _bessel_y1.bind(*_floats("bessel_y1", x))


# ------------------------------------------------------------------ modified Bessel functions K

# bessel_k0e = e^x K0(x): d/dx = k0e(x) - k1e(x); bessel_k1e = e^x K1(x): d/dx =
# k1e(x) (1 - 1/x) - k0e(x).
_bessel_k0e = _defined("bessel_k0e", lambda g, x, out: (g * (out - bessel_k1e(x)),))
_bessel_k1e = _defined("bessel_k1e", lambda g, x, out: (
    g * (out * (_const(1, x) - _math.reciprocal(x)) - bessel_k0e(x)),))


def bessel_k0e(x, name=None):
    """The exponentially scaled modified Bessel function of the second kind of order 0,
    exp(x) K0(x) (inf for x <= 0).

    >>> import tensorflux as tf
    >>> round(float(tf.math.special.bessel_k0e(1.0)), 6)
    1.144463
    """
    return _bessel_k0e.bind(*_floats("bessel_k0e", x))


def bessel_k1e(x, name=None):
    """The exponentially scaled modified Bessel function of the second kind of order 1,
    exp(x) K1(x) (inf for x <= 0).

    >>> import tensorflux as tf
    >>> round(float(tf.math.special.bessel_k1e(1.0)), 6)
    1.636153
    """
    return _bessel_k1e.bind(*_floats("bessel_k1e", x))


def bessel_k0(x, name=None):
    """The modified Bessel function of the second kind of order 0, K0(x) (inf for x <= 0).

    >>> import tensorflux as tf
    >>> round(float(tf.math.special.bessel_k0(1.0)), 6)
    0.421024
    """
    (x,) = _floats("bessel_k0", x)
    return bessel_k0e(x) * _math.exp(_math.negative(x))


def bessel_k1(x, name=None):
    """The modified Bessel function of the second kind of order 1, K1(x) (inf for x <= 0).

    >>> import tensorflux as tf
    >>> round(float(tf.math.special.bessel_k1(1.0)), 6)
    0.601907
    """
    (x,) = _floats("bessel_k1", x)
    return bessel_k1e(x) * _math.exp(_math.negative(x))


# ------------------------------------------------------------------ integrals

_dawsn = _defined("dawsn", lambda g, x, out: (
    g * (_const(1, x) - _const(2, x) * x * out),))
_expint = _defined("expint", lambda g, x, out: (g * _math.exp(x) / x,))
_fresnel_cos = _defined("fresnel_cos", lambda g, x, out: (
    g * _math.cos(_const(_HALF_PI, x) * x * x),))
_fresnel_sin = _defined("fresnel_sin", lambda g, x, out: (
    g * _math.sin(_const(_HALF_PI, x) * x * x),))
_spence = _defined("spence", lambda g, x, out: (
    g * _math.where(_math.equal(x, _const(1, x)), _math.ones_like_(x) * _const(-1, x),
                   _math.log(x) / (_const(1, x) - x)),))


def dawsn(x, name=None):
    """Dawson's integral exp(-x^2) times the integral of exp(t^2) from 0 to x.

    >>> import tensorflux as tf
    >>> round(float(tf.math.special.dawsn(1.0)), 6)
    0.53808
    """
    return _dawsn.bind(*_floats("dawsn", x))


def expint(x, name=None):
    """The exponential integral Ei(x), the principal value of the integral of e^t / t up to
    x (-inf at 0, NaN for x < 0).

    >>> import tensorflux as tf
    >>> round(float(tf.math.special.expint(1.0)), 6)
    1.895118
    """
    return _expint.bind(*_floats("expint", x))


def fresnel_cos(x, name=None):
    """The Fresnel cosine integral C(x), the integral of cos(pi t^2 / 2) from 0 to x.

    >>> import tensorflux as tf
    >>> round(float(tf.math.special.fresnel_cos(1.0)), 6)
    0.779893
    """
    return _fresnel_cos.bind(*_floats("fresnel_cos", x))


def fresnel_sin(x, name=None):
    """The Fresnel sine integral S(x), the integral of sin(pi t^2 / 2) from 0 to x.

    >>> import tensorflux as tf
    >>> round(float(tf.math.special.fresnel_sin(1.0)), 6)
    0.438259
    """
    return _fresnel_sin.bind(*_floats("fresnel_sin", x))


def spence(x, name=None):
    """Spence's function, the integral of log(t) / (1 - t) from 1 to x, for x >= 0 (NaN
    below): the dilogarithm Li2(1 - x).

    >>> import tensorflux as tf
    >>> round(float(tf.math.special.spence(0.0)), 6)  # pi^2 / 6
    1.644934
    """
    return _spence.bind(*_floats("spence", x))
