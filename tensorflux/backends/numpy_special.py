"""Special-function and other numeric kernels of the NumPy backend (tf.math.lgamma, igamma,
betainc, erfinv, the Bessel functions, tf.math.special's dawsn, expint, fresnel_cos/sin and
spence, ...; LU factorization; candidate sampling).

No SciPy: each function is a series, a continued fraction, a recurrence, a quadrature or an
asymptotic expansion chosen for its range, evaluated in float64 whatever the input's precision
and rounded to it at the end, so float32 results are correctly rounded nearly everywhere and
float64 ones are good to about 1e-14 relative away from the functions' zeros (1e-11 for
incomplete gamma functions of arguments in the thousands, whose prefactor
exp(a log x - x - lgamma(a)) cancels). The iterative ones (incomplete gamma and beta functions)
keep iterating only the elements that have not converged.
"""

import math

import numpy as np

__all__ = ["asinh", "acosh", "atanh", "lgamma", "digamma", "polygamma", "zeta", "igamma",
           "igammac", "igamma_grad_a", "betainc", "erfc", "erfinv", "erfcinv", "ndtri",
           "bessel_i0e", "bessel_i1e", "bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1",
           "bessel_k0e", "bessel_k1e", "dawsn", "expint", "fresnel_cos", "fresnel_sin", "spence",
           "nextafter", "cumulative_logsumexp", "lu", "random_candidates"]

_EPS = 2.0 ** -52  # float64 machine epsilon
_TINY = 1e-300
_MAX_ITERATIONS = 5000
_EULER = 0.57721566490153286061
_LOG_SQRT_2PI = 0.91893853320467274178
_SQRT_PI = 1.77245385090551602730

# B_2k / (2k (2k - 1)) for Stirling's series of lgamma, and B_2k / (2k) for digamma's, from
# the Bernoulli numbers B_2 ... B_16.
_BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510)
_STIRLING = tuple(b / (2 * k * (2 * k - 1)) for k, b in enumerate(_BERNOULLI, 1))
_DIGAMMA_TAIL = tuple(b / (2 * k) for k, b in enumerate(_BERNOULLI, 1))
# Where the asymptotic series take over from the recurrences that shift the argument up.
_ASYMPTOTIC_FROM = 10.0


class _Kernel:
    """A kernel of this module, called as backends call kernels. An object rather than a
    function, so that the CuPy backend (which re-binds numpy_backend's functions to CuPy)
    calls it as it is: given device arrays, it runs on the host with copies of them and
    returns its results copied back to the device."""

    def __init__(self, function):
        self.function = function
        self.__name__ = function.__name__
        self.__doc__ = function.__doc__

    def __call__(self, *args, **kwargs):
        if not any(_on_device(a) for a in args):
            return self.function(*args, **kwargs)
        import cupy

        out = self.function(*[a.get() if _on_device(a) else a for a in args], **kwargs)
        return tuple(cupy.asarray(o) for o in out) if isinstance(out, tuple) \
            else cupy.asarray(out)

    def __repr__(self):
        return f"<kernel {self.__name__}>"


def _on_device(value):
    return type(value).__module__.startswith("cupy")


def _float64(x):
    return np.asarray(x, dtype=np.float64)


def _like(result, x):
    """The float64 `result` in x's floating dtype, as an array (0-d arrays stay arrays);
    values beyond that dtype's range become inf, silently."""
    with np.errstate(over="ignore"):
        return np.asarray(result, dtype=x.dtype)


def _unary(function):
    """A kernel computing `function` in float64 and returning the input's dtype."""
    def kernel(x):
        return _like(function(_float64(x)), x)
    kernel.__name__ = function.__name__.lstrip("_")
    kernel.__doc__ = function.__doc__
    return _Kernel(kernel)


# ------------------------------------------------------------------ elementary

@_Kernel
def asinh(x):
    return np.arcsinh(x)


@_Kernel
def acosh(x):
    return np.arccosh(x)


@_Kernel
def atanh(x):
    return np.arctanh(x)


@_Kernel
def nextafter(x1, x2):
    return np.nextafter(x1, x2)


@_Kernel
def cumulative_logsumexp(x, axis, exclusive, reverse):
    """log(cumsum(exp(x))) along axis, by np.logaddexp.accumulate: exact for any range."""
    work = x.astype(np.float32) if x.dtype == np.float16 else x
    if reverse:
        work = np.flip(work, axis)
    out = np.logaddexp.accumulate(work, axis=axis) if work.shape[axis] else work.copy()
    if exclusive:
        out = np.roll(out, 1, axis=axis)
        first = [slice(None)] * out.ndim
        first[axis] = 0
        out[tuple(first)] = -np.inf
    if reverse:
        out = np.flip(out, axis)
    return np.ascontiguousarray(out, dtype=x.dtype)


# ------------------------------------------------------------------ the gamma function family

def _sin_pi_abs(x):
    """|sin(pi x)|, exactly 0 at the integers (x - 2 round(x / 2) is exact)."""
    r = np.abs(x - 2.0 * np.round(0.5 * x))
    r = np.where(r > 0.5, 1.0 - r, r)
    return np.sin(np.pi * r)


_lgamma1p_coefficients = None


def _lgamma1p_series(z):
    """lgamma(1 + z) for |z| <= 0.5, from log(Gamma(1 + z)) = -gamma z + sum_k (-1)^k
    zeta(k) z^k / k; the zeta(k) = 1 parts sum to z - log1p(z), leaving a series in
    (zeta(k) - 1) that converges like 2^-k, accurate relative to z near the zeros."""
    global _lgamma1p_coefficients
    if _lgamma1p_coefficients is None:
        ks = np.arange(2.0, 40.0)
        _lgamma1p_coefficients = (-1.0) ** ks * _hurwitz(ks, np.full_like(ks, 2.0)) / ks
    total = np.zeros_like(z)
    for c in _lgamma1p_coefficients[::-1]:
        total = (total + c) * z
    return -_EULER * z + (z - np.log1p(z)) + total * z


def _stirling_shifted(x):
    """lgamma(x) for x > 0 away from 1 and 2: Stirling's series at x + n >= 10, less the log
    of the n factors that the recurrence Gamma(x + 1) = x Gamma(x) brings in."""
    y = x.copy()
    product = np.ones_like(x)
    for _ in range(int(_ASYMPTOTIC_FROM)):
        low = y < _ASYMPTOTIC_FROM
        if not low.any():
            break
        product = np.where(low, product * y, product)
        y = np.where(low, y + 1.0, y)
    inverse = 1.0 / y
    inverse2 = inverse * inverse
    tail = np.zeros_like(y)
    for c in _STIRLING[::-1]:
        tail = tail * inverse2 + c
    with np.errstate(over="ignore", invalid="ignore"):
        main = (y - 0.5) * np.log(y) - y + _LOG_SQRT_2PI + tail * inverse
    return main - np.log(product)


def _lgamma_positive(x):
    """lgamma on x > 0 (inf and nan pass through)."""
    out = np.empty_like(x)
    low = x <= 0.5
    near_one = (x > 0.5) & (x <= 1.5)
    near_two = (x > 1.5) & (x <= 2.5)
    high = ~(low | near_one | near_two)
    out[low] = _lgamma1p_series(x[low]) - np.log(x[low])
    out[near_one] = _lgamma1p_series(x[near_one] - 1.0)
    z = x[near_two] - 2.0
    out[near_two] = _lgamma1p_series(z) + np.log1p(z)
    out[high] = _stirling_shifted(x[high])
    out[np.isposinf(x)] = np.inf
    return out


def _lgamma(x):
    """log|Gamma(x)|; inf at the non-positive integers and at +-inf."""
    out = np.empty_like(x)
    positive = x > 0
    out[positive] = _lgamma_positive(x[positive])
    rest = ~positive
    xr = x[rest]
    with np.errstate(divide="ignore", invalid="ignore"):
        # Reflection: Gamma(x) Gamma(1 - x) = pi / sin(pi x).
        reflected = np.log(np.pi / _sin_pi_abs(xr)) - _lgamma_positive(1.0 - xr)
    out[rest] = np.where(np.isneginf(xr), np.inf, reflected)
    return out


def _digamma_positive(x):
    y = x.copy()
    shift = np.zeros_like(x)
    for _ in range(int(_ASYMPTOTIC_FROM) + 1):
        low = y < _ASYMPTOTIC_FROM
        if not low.any():
            break
        shift = np.where(low, shift + 1.0 / y, shift)
        y = np.where(low, y + 1.0, y)
    inverse2 = 1.0 / (y * y)
    tail = np.zeros_like(y)
    for c in _DIGAMMA_TAIL[::-1]:
        tail = tail * inverse2 + c
    return np.log(y) - 0.5 / y - tail * inverse2 - shift


def _digamma(x):
    """psi(x) = d lgamma / dx; nan at the non-positive integers and at -inf."""
    out = np.empty_like(x)
    positive = x > 0
    out[positive] = _digamma_positive(x[positive])
    rest = ~positive
    xr = x[rest]
    r = xr - np.round(xr)  # pi cot(pi x) has period 1
    with np.errstate(divide="ignore", invalid="ignore"):
        reflected = _digamma_positive(1.0 - xr) - np.pi / np.tan(np.pi * r)
    out[rest] = np.where((r == 0) | np.isinf(xr), np.nan, reflected)
    return out


lgamma = _unary(_lgamma)
digamma = _unary(_digamma)

# (2j)! for the Euler-Maclaurin terms B_2j / (2j)! of the Hurwitz zeta function.
_EM_TERMS = tuple(b / math.factorial(2 * j) for j, b in enumerate(
    _BERNOULLI + (43867 / 798, -174611 / 330, 854513 / 138, -236364091 / 2730), 1))


def _hurwitz(s, q):
    """zeta(s, q) = sum_k (q + k)^-s by Euler-Maclaurin summation: terms k < n summed
    directly until q + n >= max(10, s) (the corrections grow like ((s + 2j) / (q + n))^2j),
    then the integral, half the next term and Bernoulli corrections until they stop
    shrinking. s > 1, q > 0 or (q < 0, s an integer)."""
    n = np.clip(np.ceil(np.maximum(_ASYMPTOTIC_FROM, s) - q), 0, None)
    total = np.zeros_like(q)
    steps = int(n.max()) if n.size else 0
    for k in range(steps):
        term = np.where(k < n, np.power(q + k, -s), 0.0)
        total = total + term
    a = q + n
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        total = total + a ** (1.0 - s) / (s - 1.0) + 0.5 * a ** -s
        factor = s * a ** (-s - 1.0)  # s (s + 1) ... (s + 2j - 2) a^(-s - 2j + 1)
        previous = np.full_like(q, np.inf)
        live = np.ones(q.shape, bool)
        for j, c in enumerate(_EM_TERMS, 1):
            term = c * factor
            live &= np.abs(term) < np.abs(previous)
            total = np.where(live, total + term, total)
            previous = term
            factor = factor * (s + 2 * j - 1) * (s + 2 * j) / (a * a)
    return total


def _zeta(x, q):
    """The Hurwitz zeta function with TensorFlow's domain: inf at x == 1 and at the
    non-positive integers q, nan for x < 1 and for negative q with a non-integer x."""
    x, q = np.broadcast_arrays(x, q)
    out = np.full(x.shape, np.nan)
    integer_q = (q <= 0) & (q == np.floor(q))
    valid = (x > 1) & ((q > 0) | ((x == np.floor(x)) & ~integer_q))
    finite_q = valid & np.isfinite(q)
    out[finite_q] = _hurwitz(x[finite_q], q[finite_q])
    out[valid & np.isposinf(q)] = 0.0
    out[(x == 1) | ((x > 1) & integer_q)] = np.inf
    return out


@_Kernel
def zeta(x, q):
    return _like(_zeta(_float64(x), _float64(q)), x)


_factorials = None


def _polygamma(n, x):
    global _factorials
    if _factorials is None:
        _factorials = np.array([float(math.factorial(k)) for k in range(171)])
    n, x = np.broadcast_arrays(n, x)
    out = np.full(x.shape, np.nan)
    whole = (n >= 0) & (n == np.floor(n))
    zeroth = whole & (n == 0)
    out[zeroth] = _digamma(x[zeroth])
    higher = whole & (n > 0)
    order = n[higher]
    sign = np.where(np.mod(order, 2) == 1, 1.0, -1.0)
    factorial = _factorials[np.minimum(order, 170).astype(np.intp)]
    factorial = np.where(order > 170, np.inf, factorial)
    with np.errstate(invalid="ignore", over="ignore"):
        out[higher] = sign * factorial * _zeta(order + 1.0, x[higher])
    return out


@_Kernel
def polygamma(n, x):
    """psi^(n)(x) = (-1)^(n+1) n! zeta(n + 1, x) for whole n >= 1, digamma for n = 0, nan for
    any other n."""
    return _like(_polygamma(_float64(n), _float64(x)), x)


# ------------------------------------------------------------------ incomplete gamma

def _iterate(step, state, count, max_iterations=_MAX_ITERATIONS):
    """Runs `step(i, *arrays) -> (arrays, converged mask)` for i = 1, 2, ... on the elements
    not yet converged; returns the final arrays (flat, `count` long)."""
    final = [np.empty(count) for _ in state]
    index = np.arange(count)
    for i in range(1, max_iterations + 1):
        if not index.size:
            break
        # Overflow in a derivative's recurrence only affects elements not asked for it.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            state, done = step(i, *state)
        if done.any():
            for out, value in zip(final, state):
                out[index[done]] = value[done]
            keep = ~done
            index = index[keep]
            state = [value[keep] for value in state]
    for out, value in zip(final, state):
        out[index] = value
    return final


def _lower_series(a, x, with_derivative):
    """S = sum_n x^n / ((a + 1) ... (a + n)) and dS/da: P(a, x) = exp(a log x - x -
    lgamma(a)) S / a. All terms are positive, so the sum has no cancellation."""
    def step(i, a, x, term, total, dterm, dtotal):
        dterm = (dterm - term / (a + i)) * x / (a + i)
        term = term * x / (a + i)
        total = total + term
        dtotal = dtotal + dterm
        done = term <= total * _EPS
        if with_derivative:
            done &= np.abs(dterm) <= np.abs(dtotal) * _EPS
        return (a, x, term, total, dterm, dtotal), done

    ones, zeros = np.ones_like(a), np.zeros_like(a)
    out = _iterate(step, [a, x, ones, ones.copy(), zeros, zeros.copy()], a.size)
    return out[3], out[5]


def _upper_fraction(a, x, with_derivative):
    """h and dh/da of the continued fraction Q(a, x) = exp(a log x - x - lgamma(a)) h with
    h = 1 / (x + 1 - a - 1 (1 - a) / (x + 3 - a - 2 (2 - a) / (x + 5 - a - ...))), by the
    modified Lentz method, differentiated along (forward mode) for the gradient in a."""
    def step(i, a, x, b, c, d, h, dc, dd, dh):
        an, dan = -i * (i - a), float(i)
        b = b + 2.0
        denominator = an * d + b
        ddenominator = dan * d + an * dd - 1.0
        denominator = np.where(np.abs(denominator) < _TINY, _TINY, denominator)
        d, dd = 1.0 / denominator, -ddenominator / (denominator * denominator)
        dc = -1.0 + dan / c - an * dc / (c * c)
        c = b + an / c
        c = np.where(np.abs(c) < _TINY, _TINY, c)
        delta, ddelta = c * d, dc * d + c * dd
        dh = dh * delta + h * ddelta
        h = h * delta
        done = np.abs(delta - 1.0) <= _EPS
        if with_derivative:
            done &= np.abs(h * ddelta) <= _EPS * np.abs(dh) + _TINY
        return (a, x, b, c, d, h, dc, dd, dh), done

    b = x + 1.0 - a
    d = 1.0 / np.where(np.abs(b) < _TINY, _TINY, b)
    state = [a, x, b, np.full_like(a, 1.0 / _TINY), d, d.copy(), np.zeros_like(a), d * d, d * d]
    out = _iterate(step, state, a.size)
    return out[5], out[8]


def _incomplete_gamma(a, x, upper, derivative=False):
    """P(a, x) (or Q when `upper`), or their derivative in a; TensorFlow's edge values."""
    a, x = np.broadcast_arrays(_float64(a), _float64(x))
    shape = a.shape
    a, x = a.ravel(), x.ravel()
    out = np.full(a.shape, np.nan)
    inner = (a > 0) & (x > 0) & np.isfinite(a) & np.isfinite(x)
    if not derivative:
        edge = (a > 0) & (x >= 0) & ~inner & ~np.isnan(a + x)
        # x == 0 or a == inf: P = 0; x == inf (a finite): P = 1.
        lower_value = np.where(np.isposinf(x) & np.isfinite(a), 1.0, 0.0)
        out[edge] = (1.0 - lower_value if upper else lower_value)[edge]
    else:
        out[(a > 0) & (x >= 0) & ~inner] = 0.0
    ai, xi = a[inner], x[inner]
    with np.errstate(over="ignore", under="ignore"):
        log_prefactor = ai * np.log(xi) - xi - _lgamma(ai)
        prefactor = np.exp(log_prefactor)
    series = xi < ai + 1.0
    result = np.empty_like(ai)
    s, ds = _lower_series(ai[series], xi[series], derivative)
    h, dh = _upper_fraction(ai[~series], xi[~series], derivative)
    if derivative:
        # d/da of the prefactor is prefactor * (log x - digamma(a)); dP/da = -dQ/da.
        ps, pf = prefactor[series], prefactor[~series]
        a_s, a_f = ai[series], ai[~series]
        log_x = np.log(xi)
        result[series] = ps / a_s * (s * (log_x[series] - _digamma(a_s + 1.0)) + ds)
        result[~series] = -pf * (h * (log_x[~series] - _digamma(a_f)) + dh)
        if upper:
            result = -result
    else:
        lower = prefactor[series] * s / ai[series]
        upper_value = prefactor[~series] * h
        result[series] = 1.0 - lower if upper else lower
        result[~series] = upper_value if upper else 1.0 - upper_value
    out[inner] = result
    return out.reshape(shape)


@_Kernel
def igamma(a, x):
    """The regularized lower incomplete gamma function P(a, x)."""
    return _like(_incomplete_gamma(a, x, upper=False), a)


@_Kernel
def igammac(a, x):
    """The regularized upper incomplete gamma function Q(a, x) = 1 - P(a, x)."""
    return _like(_incomplete_gamma(a, x, upper=True), a)


@_Kernel
def igamma_grad_a(a, x):
    """dP(a, x)/da (igammac's is its negative)."""
    return _like(_incomplete_gamma(a, x, upper=False, derivative=True), a)


# ------------------------------------------------------------------ incomplete beta

def _beta_fraction(a, b, x):
    """The continued fraction of I_x(a, b) (Lentz), for x < (a + 1) / (a + b + 2)."""
    def step(i, a, b, x, c, d, h):
        m = float(i)
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / np.where(np.abs(d) < _TINY, _TINY, d)
            c = 1.0 + numerator / c
            c = np.where(np.abs(c) < _TINY, _TINY, c)
            delta = c * d
            h = h * delta
        return (a, b, x, c, d, h), np.abs(delta - 1.0) <= _EPS

    d = 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / np.where(np.abs(d) < _TINY, _TINY, d)
    out = _iterate(step, [a, b, x, np.ones_like(a), d, d.copy()], a.size)
    return out[5]


def _betainc(a, b, x):
    a, b, x = np.broadcast_arrays(a, b, x)
    shape = a.shape
    a, b, x = a.ravel(), b.ravel(), x.ravel()
    out = np.full(a.shape, np.nan)
    valid = (a > 0) & (b > 0) & (x >= 0) & (x <= 1)
    out[valid & (x == 0)] = 0.0
    out[valid & (x == 1)] = 1.0
    inner = valid & (x > 0) & (x < 1)
    ai, bi, xi = a[inner], b[inner], x[inner]
    # The fraction converges fast below the mean; above it, use I_x(a, b) = 1 - I_1-x(b, a).
    swap = xi > (ai + 1.0) / (ai + bi + 2.0)
    p, q = np.where(swap, bi, ai), np.where(swap, ai, bi)
    y = np.where(swap, 1.0 - xi, xi)
    with np.errstate(under="ignore"):
        front = np.exp(p * np.log(y) + q * np.log1p(-y) + _lgamma(p + q) - _lgamma(p)
                       - _lgamma(q)) / p
    value = front * _beta_fraction(p, q, y)
    out[inner] = np.where(swap, 1.0 - value, value)
    return out.reshape(shape)


@_Kernel
def betainc(a, b, x):
    """The regularized incomplete beta function I_x(a, b)."""
    return _like(_betainc(_float64(a), _float64(b), _float64(x)), x)


# ------------------------------------------------------------------ the error function family

def _erf_series(x):
    """erf(x) for |x| <= 0.5 from its Maclaurin series (terms fall by x^2 / n)."""
    x2 = x * x
    term = x.copy()
    total = x.copy()
    for n in range(1, 30):
        term = -term * x2 / n
        total = total + term / (2 * n + 1)
    return total * (2.0 / _SQRT_PI)


def _square_parts(x):
    """x * x as hi + lo, exactly (Dekker's product), so exp(-x^2) keeps its precision."""
    hi = x * x
    split = 134217729.0 * x
    xh = split - (split - x)
    xl = x - xh
    lo = ((xh * xh - hi) + 2.0 * xh * xl) + xl * xl
    return hi, lo


def _erfc_positive(x, logarithm=False):
    """erfc(x), or log(erfc(x)), for x >= 0.4: from Q(1/2, x^2) (continued fraction)
    beyond x^2 = 1.5, from 1 - P(1/2, x^2) (series; P <= 0.92, so little cancellation)
    below; exp(-x^2) from the exact square, split in two."""
    hi, lo = _square_parts(x)
    out = np.empty_like(x)
    far = hi >= 1.5
    h, _ = _upper_fraction(np.full(int(far.sum()), 0.5), hi[far], False)
    scale = x[far] * h / _SQRT_PI
    with np.errstate(divide="ignore", under="ignore"):
        if logarithm:
            out[far] = np.log(scale) - hi[far] - lo[far]
        else:
            out[far] = scale * np.exp(-hi[far]) * (1.0 - lo[far])
    near = ~far
    s, _ = _lower_series(np.full(int(near.sum()), 0.5), hi[near], False)
    lower = 2.0 * x[near] * np.exp(-hi[near]) * (1.0 - lo[near]) * s / _SQRT_PI
    out[near] = np.log1p(-lower) if logarithm else 1.0 - lower
    # (x = inf: the fraction's x * h is inf * 0; erfc is 0 there, its logarithm -inf)
    out[np.isinf(x)] = -np.inf if logarithm else 0.0
    return out


def _erfc(x):
    out = np.empty_like(x)
    small = np.abs(x) < 0.5
    out[small] = 1.0 - _erf_series(x[small])
    large = ~small & ~np.isnan(x)
    tail = _erfc_positive(np.abs(x[large]))
    out[large] = np.where(x[large] > 0, tail, 2.0 - tail)
    out[np.isnan(x)] = np.nan
    return out


erfc = _unary(_erfc)


def _erfinv_central(y):
    """erfinv on |y| <= 0.5: its Maclaurin series for a start, then Newton steps."""
    t = y * (_SQRT_PI / 2)
    t2 = t * t
    x = t * (1.0 + t2 * (1 / 3 + t2 * (7 / 30 + t2 * 127 / 630)))
    for _ in range(3):
        x = x - (_erf_series(x) - y) * (_SQRT_PI / 2) * np.exp(x * x)
    return x


def _erfcinv_tail(z):
    """erfcinv on 0 < z <= 0.5: a start from erfc's asymptotic form, then Newton steps on
    log(erfc(x)) = log(z), which stay accurate down to the smallest subnormal z."""
    t = -np.log(z)
    x = np.sqrt(np.maximum(t - 0.5 * np.log(np.pi * t), 0.2))
    log_z = np.log(z)
    for _ in range(8):
        log_erfc = _erfc_positive(x, logarithm=True)
        # d/dx log(erfc(x)) = -2 exp(-x^2) / (sqrt(pi) erfc(x)).
        slope = -2.0 / _SQRT_PI * np.exp(-x * x - log_erfc)
        x = np.maximum(x - (log_erfc - log_z) / slope, 0.4)
    return x


def _erfcinv(z):
    out = np.full(z.shape, np.nan)
    out[z == 0] = np.inf
    out[z == 2] = -np.inf
    # Each transformation below is exact in floating point on its range.
    tail = (z > 0) & (z <= 0.5)
    out[tail] = _erfcinv_tail(z[tail])
    middle = (z > 0.5) & (z <= 1.5)
    out[middle] = _erfinv_central(1.0 - z[middle])
    upper = (z > 1.5) & (z < 2)
    out[upper] = -_erfcinv_tail(2.0 - z[upper])
    return out


def _erfinv(y):
    out = np.full(y.shape, np.nan)
    central = np.abs(y) <= 0.5
    out[central] = _erfinv_central(y[central])
    outer = (np.abs(y) > 0.5) & (np.abs(y) <= 1)
    yo = y[outer]
    with np.errstate(divide="ignore"):
        out[outer] = np.sign(yo) * _erfcinv(1.0 - np.abs(yo))
    return out


def _ndtri(p):
    # Phi^-1(p) = -sqrt(2) erfcinv(2 p); 2 p is exact. (+ 0.0 turns ndtri(0.5) into +0.)
    return -math.sqrt(2.0) * _erfcinv(2.0 * p) + 0.0


erfinv = _unary(_erfinv)
erfcinv = _unary(_erfcinv)
ndtri = _unary(_ndtri)


# ------------------------------------------------------------------ modified Bessel functions

# Beyond this |x| the asymptotic expansion is accurate to double precision (its smallest
# term is about exp(-2 |x|)); below it the power series has only positive terms.
_BESSEL_ASYMPTOTIC = 20.0


def _bessel_series(x, order):
    """I_order(|x|) exp(-|x|) from sum_k (x^2/4)^k (x/2)^order / (k! (k + order)!)."""
    quarter = x * x / 4.0
    term = (np.abs(x) / 2.0) ** order
    total = term.copy()
    for k in range(1, 80):
        term = term * quarter / (k * (k + order))
        total = total + term
    return total * np.exp(-np.abs(x))


def _bessel_asymptotic(x, order):
    """I_order(|x|) exp(-|x|) ~ sum_k (-1)^k prod_j (4 order^2 - (2j - 1)^2) / (k! (8|x|)^k)
    / sqrt(2 pi |x|), summed while its terms shrink."""
    ax = np.abs(x)
    term = np.ones_like(ax)
    total = term.copy()
    live = np.ones(ax.shape, bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        for k in range(1, 60):
            new = -term * (4.0 * order * order - (2 * k - 1) ** 2) / (k * 8.0 * ax)
            live &= np.abs(new) < np.abs(term)
            total = np.where(live, total + new, total)
            term = new
        return total / np.sqrt(2.0 * np.pi * ax)


def _bessel_ie(x, order):
    out = np.empty_like(x)
    near = np.abs(x) <= _BESSEL_ASYMPTOTIC
    out[near] = _bessel_series(x[near], order)
    far = ~near
    out[far] = _bessel_asymptotic(x[far], order)
    if order % 2:
        out = np.copysign(out, x)
    return out


def _bessel_i0e(x):
    return _bessel_ie(x, 0)


def _bessel_i1e(x):
    return _bessel_ie(x, 1)


bessel_i0e = _unary(_bessel_i0e)
bessel_i1e = _unary(_bessel_i1e)


# ------------------------------------------------------------------ Bessel functions J and Y

# Below this |x| the backward recurrence gives J_n; beyond it Hankel's asymptotic expansion is
# accurate to double precision (its smallest term is about exp(-2 |x|)).
_HANKEL_FROM = 25.0
# Below this, the leading terms of the power series are exact in float64.
_JY_SMALL = 1e-5


def _miller(x):
    """(J0, J1, Y0, Y1) of x > 0, from J_n by backward recurrence (Miller's algorithm,
    normalized by J0 + 2 (J2 + J4 + ...) = 1), Y0 by Neumann's series in the even J_n and Y1
    by that series' derivative."""
    start = 2 * ((int(np.max(x)) + 60) // 2)
    upper = np.zeros_like(x)             # J_{n+1}, unnormalized
    current = np.full_like(x, 1e-300)    # J_n
    norm = np.zeros_like(x)              # J0 + 2 sum J_2k so far
    neumann = np.zeros_like(x)           # sum (-1)^k J_2k / k
    neumann_d = np.zeros_like(x)         # sum (-1)^k (J_2k-1 - J_2k+1) / k
    for n in range(start, 0, -1):
        lower = (2.0 * n / x) * current - upper  # J_{n-1}
        if n % 2 == 0:
            k = n // 2
            sign = -1.0 if k % 2 else 1.0
            norm += 2.0 * current
            neumann += sign * current / k
            neumann_d += sign * (lower - upper) / k
        upper, current = current, lower
        big = np.abs(current) > 1e250
        if big.any():
            scale = np.where(big, 1e-250, 1.0)
            upper, current, norm, neumann, neumann_d = (
                v * scale for v in (upper, current, norm, neumann, neumann_d))
    norm += current
    j0 = current / norm
    j1 = upper / norm
    log_term = np.log(x / 2.0) + _EULER
    y0 = (2.0 / np.pi) * (log_term * j0 - 2.0 * neumann / norm)
    y1 = -(2.0 / np.pi) * (j0 / x - log_term * j1) + (2.0 / np.pi) * neumann_d / norm
    return j0, j1, y0, y1


def _hankel(x, order):
    """(J, Y) of the order (0 or 1) at x >= _HANKEL_FROM, from Hankel's expansion:
    sqrt(2 / (pi x)) (P cos w - Q sin w, P sin w + Q cos w), w = x - (2 order + 1) pi / 4,
    P and Q summed while their terms shrink."""
    mu = 4.0 * order * order
    p = np.ones_like(x)
    q = np.zeros_like(x)
    term = np.ones_like(x)
    live = np.ones(x.shape, bool)
    for k in range(1, 80):
        new = term * (mu - (2 * k - 1) ** 2) / (k * 8.0 * x)
        live &= np.abs(new) < np.abs(term)
        if k % 2:
            q = np.where(live, q + (1.0 if k % 4 == 1 else -1.0) * new, q)
        else:
            p = np.where(live, p + (1.0 if k % 4 == 0 else -1.0) * new, p)
        term = new
    # cos(x - pi/4) = (cos x + sin x) / sqrt 2, cos(x - 3 pi/4) = (sin x - cos x) / sqrt 2
    c, s = np.cos(x), np.sin(x)
    if order == 0:
        cos_w, sin_w = c + s, s - c
    else:
        cos_w, sin_w = s - c, -(c + s)
    scale = np.sqrt(1.0 / (np.pi * x))  # sqrt(2 / (pi x)) / sqrt 2
    return scale * (p * cos_w - q * sin_w), scale * (p * sin_w + q * cos_w)


def _jy_small(x):
    """(J0, J1, Y0, Y1) of 0 < x < _JY_SMALL from their series' leading terms (the next are
    below x^4 relative)."""
    log_term = np.log(x / 2.0) + _EULER
    quarter = x * x / 4.0
    j0 = 1.0 - quarter
    j1 = x / 2.0 * (1.0 - quarter / 2.0)
    y0 = (2.0 / np.pi) * (log_term * j0 + quarter)
    y1 = -2.0 / (np.pi * x) + (x / np.pi) * (log_term - 0.5)
    return j0, j1, y0, y1


def _bessel_jy(x, order, second_kind):
    """J_order or Y_order (order 0 or 1) of float64 x: J0 even and J1 odd in x; Y -inf at and
    below 0; NaN at +-inf but Y(-inf) = -inf (as TensorFlow gives)."""
    ax = np.abs(x)
    out = np.full_like(x, np.nan)
    index = 2 * second_kind + order
    for part, method in (((ax > 0) & (ax < _JY_SMALL), _jy_small),
                         ((ax >= _JY_SMALL) & (ax < _HANKEL_FROM), _miller)):
        if part.any():
            out[part] = method(ax[part])[index]
    far = (ax >= _HANKEL_FROM) & (ax < np.inf)
    if far.any():
        out[far] = _hankel(ax[far], order)[second_kind]
    if second_kind:
        out[x <= 0] = -np.inf
        return out
    out[ax == 0] = 1.0 - order
    return np.where(x < 0, -out, out) if order else out


# ------------------------------------------------------------------ modified Bessel functions K

# K's power series is used up to this x, the trapezoidal rule on its integral representation
# up to _K_ASYMPTOTIC, the asymptotic expansion beyond.
_K_SERIES_TO = 2.0
_K_ASYMPTOTIC = 30.0
# The trapezoidal rule on exp(-x (cosh t - 1)) cosh(order t), t in [0, 5]: the integrand is
# smooth and decays doubly exponentially, so the rule converges exponentially in the step.
_K_NODES = np.arange(0.0, 5.0 + 1e-9, 0.0625)


def _k_series(x, order):
    """K_order(x) exp(x) for 0 < x <= _K_SERIES_TO, from the series of K0 and K1 in powers
    of x^2 / 4 (with the harmonic numbers H_k)."""
    quarter = x * x / 4.0
    log_term = np.log(x / 2.0) + _EULER
    term = np.ones_like(x)  # (x^2/4)^k / (k! (k + order)!)
    harmonic = 0.0          # H_k
    if order == 0:
        total = -log_term * term
        for k in range(1, 40):
            term = term * quarter / (k * k)
            harmonic += 1.0 / k
            total = total + (harmonic - log_term) * term
    else:
        # K1 = 1/x + (x/2) sum_k (x^2/4)^k / (k! (k+1)!) (log_term - (H_k + H_k+1) / 2)
        total = (log_term - 0.5) * term
        for k in range(1, 40):
            term = term * quarter / (k * (k + 1))
            harmonic += 1.0 / k
            total = total + (log_term - harmonic - 0.5 / (k + 1)) * term
        total = 1.0 / x + (x / 2.0) * total
    return total * np.exp(x)


def _by_rows(function, x, *args):
    """function(x, *args) for a 1-D x, in pieces of _ROWS elements: for kernels that sample
    a grid per element, so that their work arrays stay small."""
    if x.size <= _ROWS:
        return function(x, *args)
    return np.concatenate([function(x[i:i + _ROWS], *args) for i in range(0, x.size, _ROWS)])


_ROWS = 1 << 14


def _k_integral(x, order):
    """K_order(x) exp(x) = integral over t > 0 of exp(-x (cosh t - 1)) cosh(order t)."""
    t = _K_NODES
    weights = np.full(t.shape, t[1] - t[0])
    weights[0] /= 2.0
    values = np.exp(-x[:, None] * (np.cosh(t) - 1.0)[None, :]) * np.cosh(order * t)[None, :]
    return values @ weights


def _k_asymptotic(x, order):
    """K_order(x) exp(x) ~ sqrt(pi / (2x)) sum_k prod_j (4 order^2 - (2j - 1)^2) / (k! (8x)^k),
    summed while its terms shrink."""
    term = np.ones_like(x)
    total = term.copy()
    live = np.ones(x.shape, bool)
    for k in range(1, 80):
        new = term * (4.0 * order * order - (2 * k - 1) ** 2) / (k * 8.0 * x)
        live &= np.abs(new) < np.abs(term)
        total = np.where(live, total + new, total)
        term = new
    return total * np.sqrt(np.pi / (2.0 * x))


def _bessel_ke(x, order):
    """exp(x) K_order(x) of float64 x: inf at and below 0 (as TensorFlow gives)."""
    out = np.full_like(x, np.inf)
    for low, high, method in ((0.0, _K_SERIES_TO, _k_series),
                              (_K_SERIES_TO, _K_ASYMPTOTIC, _k_integral),
                              (_K_ASYMPTOTIC, np.inf, _k_asymptotic)):
        part = (x > low) & (x <= high) if high != np.inf else x > low
        if part.any():
            out[part] = _by_rows(method, x[part], order)
    out[np.isnan(x)] = np.nan
    return out


# ------------------------------------------------------------------ Dawson's integral

_DAWSON_SERIES_TO = 0.2
_DAWSON_STEP = 0.2
_DAWSON_ODD = np.arange(-61, 62, 2, dtype=np.float64)  # odd n with (n h)^2 up to ~150


def _rybicki(x):
    h = _DAWSON_STEP
    x0 = 2.0 * h * np.round(x / (2.0 * h))
    offset = (x - x0)[:, None]
    n = _DAWSON_ODD[None, :]
    return (np.exp(-(offset - n * h) ** 2) / (n + (x0 / h)[:, None])).sum(axis=1) \
        / math.sqrt(math.pi)


def _dawsn(x):
    """exp(-x^2) times the integral of exp(t^2) from 0 to x. Near 0 its odd power series;
    elsewhere Rybicki's sampling-theorem sum (1/sqrt pi) sum over odd n of
    exp(-(x' - n h)^2) / (n + x0 / h), with x0 the even multiple of h nearest x and
    x' = x - x0, whose error falls like exp(-(pi / 2h)^2)."""
    out = np.empty_like(x)
    small = np.abs(x) < _DAWSON_SERIES_TO
    xs = x[small]
    square = xs * xs
    term = xs.copy()
    total = xs.copy()
    for k in range(1, 20):
        term = term * (-2.0 * square) / (2 * k + 1)
        total = total + term
    out[small] = total
    big = ~small & np.isfinite(x)
    out[big] = _by_rows(_rybicki, x[big])
    out[np.isinf(x)] = 0.0
    out[np.isnan(x)] = np.nan
    return out


# ------------------------------------------------------------------ exponential integral

_EI_ASYMPTOTIC = 40.0


def _expint(x):
    """Ei(x), the principal value of the integral of exp(t) / t up to x, for x > 0 (-inf at 0,
    NaN below, as TensorFlow gives): gamma + log x + sum x^k / (k k!) up to _EI_ASYMPTOTIC, and
    exp(x) / x sum k! / x^k beyond (exp(x - log x), so that it overflows only where Ei does)."""
    out = np.full_like(x, np.nan)
    out[x == 0] = -np.inf
    near = (x > 0) & (x <= _EI_ASYMPTOTIC)
    xn = x[near]
    term = np.ones_like(xn)
    total = np.zeros_like(xn)
    for k in range(1, 160):
        term = term * xn / k
        total = total + term / k
    out[near] = _EULER + np.log(xn) + total
    far = (x > _EI_ASYMPTOTIC) & (x < np.inf)
    xf = x[far]
    term = np.ones_like(xf)
    total = np.ones_like(xf)
    for k in range(1, int(_EI_ASYMPTOTIC)):
        term = term * k / xf
        total = total + term
    with np.errstate(over="ignore"):
        out[far] = np.exp(xf - np.log(xf)) * total
    return out


# ------------------------------------------------------------------ Fresnel integrals

_FRESNEL_SERIES_TO = 2.0
_FRESNEL_FRACTION_DEPTH = 120


def _fresnel(x):
    """(C(x), S(x)), the integrals of cos(pi t^2 / 2) and sin(pi t^2 / 2) from 0 to x: odd in
    x; their power series for |x| < _FRESNEL_SERIES_TO, and beyond it
    C + iS = (1 + i)/2 (1 - exp(i pi x^2 / 2) F(z) / sqrt(pi)) with z = sqrt(pi)/2 (1 - i) |x|
    and F(z) = 1 / (z + (1/2) / (z + 1 / (z + (3/2) / (z + ...)))), Laplace's continued
    fraction of exp(z^2) erfc(z), evaluated from the bottom up."""
    ax = np.abs(x)
    c = np.empty_like(x)
    s = np.empty_like(x)
    near = ax < _FRESNEL_SERIES_TO
    xn = ax[near]
    u = (np.pi / 2.0) * xn * xn
    # t_j = (-1)^.. u^j / j! x with C the even j, S the odd j: term j over (2j + 1).
    term = xn.copy()
    c_total = xn.copy()
    s_total = np.zeros_like(xn)
    for j in range(1, 60):
        term = term * u / j
        value = term / (2 * j + 1)
        if j % 2:
            s_total = s_total + (value if j % 4 == 1 else -value)
        else:
            c_total = c_total + (value if j % 4 == 0 else -value)
    c[near], s[near] = c_total, s_total
    far = ~near & np.isfinite(ax)
    xf = ax[far]
    z = (math.sqrt(math.pi) / 2.0) * (1.0 - 1.0j) * xf
    fraction = z.copy()
    for k in range(_FRESNEL_FRACTION_DEPTH, 0, -1):
        fraction = z + (k / 2.0) / fraction
    # exp(i pi x^2 / 2), with x^2 reduced modulo 4 (the period) to keep the phase exact.
    square = np.fmod(xf * xf, 4.0)
    phase = np.exp(0.5j * np.pi * square)
    value = (0.5 + 0.5j) * (1.0 - phase / (fraction * math.sqrt(math.pi)))
    c[far], s[far] = value.real, value.imag
    c[np.isinf(ax)] = s[np.isinf(ax)] = 0.5
    c[np.isnan(x)] = s[np.isnan(x)] = np.nan
    negative = x < 0
    return np.where(negative, -c, c), np.where(negative, -s, s)


# ------------------------------------------------------------------ Spence's function

_PI2_6 = math.pi ** 2 / 6.0


def _dilog_series(z):
    """Li2(z) = sum z^k / k^2 for |z| <= 1/2 (60 terms: below 1e-20)."""
    power = z.copy()
    total = z.copy()
    for k in range(2, 61):
        power = power * z
        total = total + power / (k * k)
    return total


def _spence(x):
    """Spence's function, the integral of log(t) / (1 - t) from 1 to x, = Li2(1 - x), for
    x >= 0 (NaN below): Li2's series where |1 - x| <= 1/2, and elsewhere its reflection
    Li2(y) = pi^2/6 - log y log(1 - y) - Li2(1 - y) and Landen's identity
    Li2(y) = -Li2(y / (y - 1)) - log(1 - y)^2 / 2, which bring the argument within 1/2."""
    out = np.full_like(x, np.nan)
    out[x == 0] = _PI2_6
    y = 1.0 - x
    central = (x >= 0.5) & (x <= 1.5)
    out[central] = _dilog_series(y[central])
    low = (x > 0) & (x < 0.5)          # y in (1/2, 1): reflect to 1 - y = x
    xl = x[low]
    out[low] = _PI2_6 - np.log1p(-xl) * np.log(xl) - _dilog_series(xl)
    mid = (x > 1.5) & (x <= 2.0)       # y in [-1, -1/2): Landen, y / (y - 1) = (x - 1) / x
    xm = x[mid]
    out[mid] = -_dilog_series((xm - 1.0) / xm) - np.log(xm) ** 2 / 2.0
    high = (x > 2.0) & (x < np.inf)    # y < -1: Landen to w = (x - 1)/x in (1/2, 1), reflect
    xh = x[high]
    w = (xh - 1.0) / xh
    li_w = _PI2_6 - np.log(w) * np.log(1.0 / xh) - _dilog_series(1.0 / xh)
    out[high] = -li_w - np.log(xh) ** 2 / 2.0
    return out


def _bessel_j0(x):
    return _bessel_jy(x, 0, False)


def _bessel_j1(x):
    return _bessel_jy(x, 1, False)


def _bessel_y0(x):
    return _bessel_jy(x, 0, True)


def _bessel_y1(x):
    return _bessel_jy(x, 1, True)


def _bessel_k0e(x):
    return _bessel_ke(x, 0)


def _bessel_k1e(x):
    return _bessel_ke(x, 1)


def _fresnel_cos(x):
    return _fresnel(x)[0]


def _fresnel_sin(x):
    return _fresnel(x)[1]


bessel_j0 = _unary(_bessel_j0)
bessel_j1 = _unary(_bessel_j1)
bessel_y0 = _unary(_bessel_y0)
bessel_y1 = _unary(_bessel_y1)
bessel_k0e = _unary(_bessel_k0e)
bessel_k1e = _unary(_bessel_k1e)
dawsn = _unary(_dawsn)
expint = _unary(_expint)
fresnel_cos = _unary(_fresnel_cos)
fresnel_sin = _unary(_fresnel_sin)
spence = _unary(_spence)


# ------------------------------------------------------------------ LU factorization

@_Kernel
def lu(x, output_idx_type):
    """(lu, p) with x[..., p, :] = L U: L unit lower triangular below lu's diagonal, U upper
    triangular on and above it; partial pivoting by the largest magnitude in each column."""
    n = x.shape[-1]
    work = np.array(x, copy=True).reshape((-1, n, n))
    rows = np.arange(work.shape[0])
    perm = np.tile(np.arange(n), (work.shape[0], 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in range(n):
            pivot = k + np.argmax(np.abs(work[:, k:, k]), axis=1)
            swapped = work[rows, pivot].copy()
            work[rows, pivot] = work[:, k]
            work[:, k] = swapped
            perm[rows, k], perm[rows, pivot] = perm[rows, pivot], perm[rows, k].copy()
            work[:, k + 1:, k] /= work[:, k:k + 1, k]
            work[:, k + 1:, k + 1:] -= work[:, k + 1:, k:k + 1] * work[:, k:k + 1, k + 1:]
    return (work.reshape(x.shape),
            perm.reshape(x.shape[:-1]).astype(np.dtype(output_idx_type.name)))


# ------------------------------------------------------------------ candidate sampling

@_Kernel
def random_candidates(probabilities, *seed_input, num_sampled, unique, seed):
    """num_sampled class ids drawn from `probabilities` (a vector) and the number of draws
    made: with `unique`, draws repeat until num_sampled distinct ids have come up, kept in
    the order they first appeared."""
    seed = seed_input[0] if seed_input else seed
    rng = np.random.Generator(np.random.Philox(np.random.SeedSequence([int(s) for s in seed])))
    cdf = np.cumsum(probabilities.astype(np.float64))
    cdf /= cdf[-1]
    last = len(cdf) - 1

    def draw(count):
        return np.minimum(np.searchsorted(cdf, rng.random(count), side="right"), last)

    if not unique:
        return draw(num_sampled).astype(np.int64), np.asarray(num_sampled, np.float64)
    if num_sampled > int(np.count_nonzero(probabilities)):
        raise ValueError(f"cannot draw {num_sampled} distinct candidates from "
                         f"{int(np.count_nonzero(probabilities))} classes of nonzero probability")
    seen, order, tries = set(), [], 0
    while len(order) < num_sampled:
        for value in draw(max(2 * (num_sampled - len(order)), 16)).tolist():
            tries += 1
            if value not in seen:
                seen.add(value)
                order.append(value)
                if len(order) == num_sampled:
                    break
    return np.asarray(order, np.int64), np.asarray(tries, np.float64)
