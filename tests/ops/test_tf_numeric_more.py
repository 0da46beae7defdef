"""More of TensorFlow's numeric API (helper "tf-numeric"): special functions, tf.math / tf.nn /
tf.linalg / tf.random additions, top-level array and framework helpers, tf.errors codes,
tf.config device state, word2vec's sampled losses.

References: NumPy float64 and the standard library's math module, closed forms, central
finite differences (tests/ops/harness), and small arrays observed from TensorFlow 2.21 (marked
"TF 2.21": made with `tf.math.<op>(tf.constant(<inputs>, tf.float64)).numpy().tolist()` in
/tmp/kbench's TensorFlow, TF_CPP_MIN_LOG_LEVEL=3).

ROWS follow the op-table format (one row per new primitive, plus composites), so they can
join tests/ops/table.py.
"""

import math

import numpy as np
import pytest

import tensorflux as tf
from tests.ops import harness
from tests.ops.harness import Row, fixed, positive, uniform
from tests.tolerances import assert_close

EULER = 0.5772156649015329

# ------------------------------------------------------------------ TF 2.21 reference values
DIGAMMA_X = [-2.5, -0.5, 0.3, 1.4, 2.0, 7.5, 30.0]
DIGAMMA = [1.1031566406452433, 0.03648997397857645, -3.502524222200133, -0.06138454458511555,
           0.42278433509846747, 1.946757484246087, 3.384438132685525]
POLYGAMMA_N, POLYGAMMA_X = [1., 2., 3., 1., 4.], [0.3, 1.7, 5.0, -1.5, 12.0]
POLYGAMMA = [12.245364546107734, -0.6040890841034592, 0.02142782819275508, 9.379246644989124,
             -0.0003409100507010894]
ZETA_X, ZETA_Q = [1.5, 2.0, 3.5, 7.0, 4.0], [0.4, 3.0, 1.0, 2.5, -1.5]
ZETA = [5.9956857000932064, 0.39493406684822646, 1.1267338673170566, 0.0018305640382639376,
        32.4323793698646]
IGAMMA_A, IGAMMA_X = [0.3, 1.5, 4.0, 12.0, 0.7], [0.2, 2.5, 3.0, 15.0, 4.0]
IGAMMA = [0.6575067242697216, 0.8282028557032665, 0.3527681112177688, 0.8152482009760691,
          0.9912376516408635]
# d igamma(a, x) / da (TF's IgammaGradA), the same inputs.
IGAMMA_GRAD_A = [-1.023380307220394, -0.20882254487867874, -0.20153044213558727,
                 -0.0749925846435649, -0.024566525682294667]
BETAINC_A, BETAINC_B, BETAINC_X = [0.5, 2.5, 10.0, 0.3], [0.7, 1.5, 3.0, 8.0], [0.3, 0.6, 0.9,
                                                                             0.05]
BETAINC = [0.4521278489941795, 0.4268675798318481, 0.8891300222549998, 0.7732529827337106]
ERFCINV_Z = [1e-100, 1e-10, 0.3, 1.2, 1.9999]
ERFCINV = [15.065574702592647, 4.572824967389486, 0.7328690779592171, -0.17914345462129164,
           -2.75106390571208]
NDTRI_P = [1e-300, 1e-5, 0.2, 0.7, 0.999999]
NDTRI = [-37.0470962993612, -4.264890793922825, -0.8416212335729142, 0.5244005127080407,
         4.753424308817087]
BESSEL_X = [-40.0, -3.0, -0.1, 0.0, 0.5, 8.0, 25.0, 600.0]
I0E = [0.06327827987523534, 0.24300035416182536, 0.9071009257823008, 1.0, 0.6450352704491502,
       0.1434317818568503, 0.0801967735474367, 0.016290146656305984]
I1E = [-0.062482229074442064, -0.19682671329730084, -0.04529844680880933, 0.0,
       0.15642080318487162, 0.13414249329269812, 0.07857611331929276, 0.016276565868339667]


# ------------------------------------------------------------------ float64 references

def _vectorized(fn):
    return lambda *arrays: np.vectorize(fn, otypes=[np.float64])(*arrays)


def _bisect(fn, target, lo, hi, increasing=True):
    """The root of fn(x) = target on [lo, hi] by bisection, to the last bit."""
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if (fn(mid) < target) == increasing:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _erfinv_ref(y):
    if abs(y) > 0.5:
        z = 1.0 - abs(y)  # exact; erfc keeps the tail's precision
        return math.copysign(_bisect(math.erfc, z, 0.0, 30.0, increasing=False), y)
    return _bisect(math.erf, y, -1.0, 1.0)


def _erfcinv_ref(z):
    if z > 1:
        return -_bisect(math.erfc, 2.0 - z, 0.0, 30.0, increasing=False)
    return _bisect(math.erfc, z, 0.0, 30.0, increasing=False)


def _ndtri_ref(p):
    return -math.sqrt(2.0) * _erfcinv_ref(2.0 * p)


def _bessel_ie_ref(x, order):
    """exp(-|x|) I_order(x) = (1/pi) int_0^pi exp(|x| (cos t - 1)) cos(order t) dt: the
    trapezoid rule on this periodic integrand converges geometrically."""
    t = np.linspace(0.0, np.pi, 4001)
    f = np.exp(abs(x) * (np.cos(t) - 1.0)) * np.cos(order * t)
    value = (f.sum() - 0.5 * (f[0] + f[-1])) * (t[1] - t[0]) / np.pi
    return math.copysign(value, x) if order % 2 else value


def _igamma_integer_ref(n, x):
    """P(n, x) for whole n: 1 - exp(-x) sum_{k < n} x^k / k!."""
    return 1.0 - math.exp(-x) * sum(x ** k / math.factorial(k) for k in range(int(n)))


def _betainc_integer_ref(a, b, x):
    """I_x(a, b) for whole a, b: the binomial tail sum_{j >= a} C(a+b-1, j) x^j (1-x)^(...)."""
    m = int(a + b - 1)
    return sum(math.comb(m, j) * x ** j * (1 - x) ** (m - j) for j in range(int(a), m + 1))


def _hurwitz_ref(s, q, terms=200_000):
    """sum_k (q + k)^-s summed directly, plus the integral and half-term of the tail."""
    k = np.arange(terms, dtype=np.float64)
    tail = q + terms
    return np.sum((q + k) ** -s) + tail ** (1 - s) / (s - 1) + 0.5 * tail ** -s


def _lu_ref(a):
    """Partial-pivoting LU in float64 (Doolittle): (packed lu, perm) with a[perm] = L U."""
    lu = np.array(a, np.float64)
    n = lu.shape[-1]
    perm = np.arange(n)
    for k in range(n):
        p = k + int(np.argmax(np.abs(lu[k:, k])))
        lu[[k, p]] = lu[[p, k]]
        perm[[k, p]] = perm[[p, k]]
        lu[k + 1:, k] /= lu[k, k]
        lu[k + 1:, k + 1:] -= np.outer(lu[k + 1:, k], lu[k, k + 1:])
    return lu, perm


def _lu_batch_ref(a):
    pairs = [_lu_ref(m) for m in a.reshape((-1,) + a.shape[-2:])]
    return (np.stack([p[0] for p in pairs]).reshape(a.shape),
            np.stack([p[1] for p in pairs]).reshape(a.shape[:-1]))


def _conv_transpose_ref(x, w, out_spatial, strides, padding, dilations):
    """Channels-last transposed convolution by scatter-adding every input element's
    contribution: out[i * s + t * d - pad_before] += x[i] w[t] (w: [k..., out, in])."""
    rank = len(out_spatial)
    pads = []
    for n, k, s, d in zip(out_spatial, w.shape[:rank], strides, dilations):
        if padding == "SAME":
            total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
            pads.append(total // 2)
        else:
            pads.append(0)
    out = np.zeros((x.shape[0],) + tuple(out_spatial) + (w.shape[rank],))
    for i in np.ndindex(*x.shape[1:1 + rank]):
        for t in np.ndindex(*w.shape[:rank]):
            pos = [i[a] * strides[a] + t[a] * dilations[a] - pads[a] for a in range(rank)]
            if all(0 <= p < n for p, n in zip(pos, out_spatial)):
                out[(slice(None),) + tuple(pos)] += x[(slice(None),) + i] @ w[t].T
    return out


def _dilation_ref(x, f, strides, rates, padding):
    """Grayscale dilation by explicit windows: max over taps of x[window] + f[tap]."""
    n, h, w, c = x.shape
    kh, kw, _ = f.shape
    eff = [(kh - 1) * rates[0] + 1, (kw - 1) * rates[1] + 1]
    if padding == "SAME":
        oh, ow = -(-h // strides[0]), -(-w // strides[1])
        top = max((oh - 1) * strides[0] + eff[0] - h, 0) // 2
        left = max((ow - 1) * strides[1] + eff[1] - w, 0) // 2
    else:
        oh, ow = (h - eff[0]) // strides[0] + 1, (w - eff[1]) // strides[1] + 1
        top = left = 0
    out = np.full((n, oh, ow, c), -np.inf)
    for y in range(oh):
        for z in range(ow):
            for i in range(kh):
                for j in range(kw):
                    r, s = y * strides[0] + i * rates[0] - top, z * strides[1] + j * rates[1] - left
                    if 0 <= r < h and 0 <= s < w:
                        out[:, y, z] = np.maximum(out[:, y, z], x[:, r, s] + f[i, j])
    return out


# ------------------------------------------------------------------ samplers for the rows

def _grid(values):
    return fixed(np.array(values, np.float64))


def _away_from_poles(shape):
    def sample(rng):
        x = rng.uniform(-3.5, 4.0, size=shape)
        return [np.where(np.abs(x - np.round(x)) < 0.15, x + 0.3, x)]
    return sample


def _well_conditioned(*shape):
    n = shape[-1]
    return lambda rng: [rng.uniform(-1.0, 1.0, size=shape) + np.diag(np.arange(n, 0, -1) * 2.0)[
        ::-1]]


ROWS = [
    Row("asinh", tf.math.asinh, np.arcsinh, uniform((2, 3), low=-4, high=4)),
    Row("acosh", tf.math.acosh, np.arccosh, positive((2, 3), low=1.2, high=5.0)),
    Row("atanh", tf.math.atanh, np.arctanh, uniform((2, 3), low=-0.9, high=0.9)),
    Row("lgamma", tf.math.lgamma, _vectorized(math.lgamma), _away_from_poles((2, 4)),
        second_order=True),
    Row("digamma", tf.math.digamma, lambda x: np.array(DIGAMMA), _grid(DIGAMMA_X),
        second_order=True),
    Row("polygamma", tf.math.polygamma, lambda n, x: np.array(POLYGAMMA),
        fixed(np.array(POLYGAMMA_N), np.array(POLYGAMMA_X)), grad=(1,)),
    Row("zeta", tf.math.zeta, lambda x, q: np.array(ZETA), fixed(np.array(ZETA_X),
                                                                  np.array(ZETA_Q)), grad=(1,)),
    Row("igamma", tf.math.igamma, lambda a, x: np.array(IGAMMA),
        fixed(np.array(IGAMMA_A), np.array(IGAMMA_X))),
    Row("igammac", tf.math.igammac, lambda a, x: 1.0 - np.array(IGAMMA),
        fixed(np.array(IGAMMA_A), np.array(IGAMMA_X)), atol=2e-7),
    Row("igamma_grad_a", lambda a, x: _gradient(lambda a: tf.math.igamma(a, x), a),
        lambda a, x: np.array(IGAMMA_GRAD_A), fixed(np.array(IGAMMA_A), np.array(IGAMMA_X)),
        grad=()),
    Row("betainc", tf.math.betainc, lambda a, b, x: np.array(BETAINC),
        fixed(np.array(BETAINC_A), np.array(BETAINC_B), np.array(BETAINC_X)), grad=(2,)),
    Row("erfc", tf.math.erfc, _vectorized(math.erfc), uniform((2, 4), low=-3, high=5)),
    Row("erfinv", tf.math.erfinv, _vectorized(_erfinv_ref), uniform((2, 4), low=-0.98,
                                                                    high=0.98)),
    Row("erfcinv", tf.math.erfcinv, _vectorized(_erfcinv_ref), uniform((2, 4), low=0.02,
                                                                       high=1.98)),
    Row("ndtri", tf.math.ndtri, _vectorized(_ndtri_ref), uniform((2, 4), low=0.01, high=0.99)),
    Row("bessel_i0e", tf.math.bessel_i0e, _vectorized(lambda x: _bessel_ie_ref(x, 0)),
        uniform((2, 4), low=-12, high=12)),
    Row("bessel_i1e", tf.math.bessel_i1e, _vectorized(lambda x: _bessel_ie_ref(x, 1)),
        uniform((2, 4), low=-12, high=12)),
    Row("bessel_i1", tf.math.bessel_i1, _vectorized(lambda x: _bessel_ie_ref(x, 1)
                                                    * math.exp(abs(x))), uniform((5,))),
    Row("nextafter", tf.math.nextafter, np.nextafter, uniform((2, 3), (2, 3)),
        dtypes=("float64",), grad=()),
    Row("cumulative_logsumexp", lambda x: tf.math.cumulative_logsumexp(x, axis=1),
        lambda x: np.log(np.cumsum(np.exp(x), axis=1)), uniform((2, 4), low=-3, high=3)),
    Row("cumulative_logsumexp_exclusive_reverse",
        lambda x: tf.math.cumulative_logsumexp(x, axis=0, exclusive=True, reverse=True)[:-1],
        lambda x: np.log(np.cumsum(np.exp(x[::-1]), axis=0))[::-1][1:],
        uniform((4, 2), low=-3, high=3)),
    Row("lu", lambda a: tf.linalg.lu(a).lu, lambda a: _lu_batch_ref(a)[0],
        _well_conditioned(2, 4, 4)),
    Row("lu_solve", lambda a, b: tf.linalg.lu_solve(*tf.linalg.lu(a), b),
        lambda a, b: np.linalg.solve(a, b),
        lambda rng: _well_conditioned(3, 3)(rng) + [rng.uniform(-1, 1, (3, 2))]),
    Row("sqrtm", tf.linalg.sqrtm, lambda a: _sqrtm_ref(a),
        lambda rng: [rng.uniform(-0.3, 0.3, (3, 3)) + 2 * np.eye(3)], rtol=1e-5),
]


def _sqrtm_ref(a):
    values, vectors = np.linalg.eig(a)
    return np.real(vectors @ np.diag(np.sqrt(values.astype(complex))) @ np.linalg.inv(vectors))


def _gradient(fn, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    return tape.gradient(y, x)


# ------------------------------------------------------------------ special functions

def f64(values):
    return tf.constant(values, tf.float64)


def test_gamma_family_closed_forms():
    assert_close(tf.math.lgamma(f64([1.0, 2.0, 0.5, 10.0])),
                 [0.0, 0.0, 0.5 * math.log(math.pi), math.log(362880.0)], atol=1e-15, rtol=1e-14)
    # Relative accuracy where lgamma crosses zero, from lgamma(1 + z) = -gamma z +
    # zeta(2) z^2 / 2 - ...; the C library's lgamma is off by 1e-6 there.
    one, two = 1.0 + 1e-9, 2.0 - 1e-9
    z1, z2 = one - 1.0, two - 2.0  # exact

    def series(z):
        return -EULER * z + math.pi ** 2 / 12 * z * z

    assert_close(tf.math.lgamma(f64([one, two])), [series(z1), series(z2) + math.log1p(z2)],
                 rtol=1e-14, atol=0)
    harmonic = sum(1.0 / k for k in range(1, 6))
    assert_close(tf.math.digamma(f64([1.0, 6.0, 0.5])),
                 [-EULER, harmonic - EULER, -EULER - 2 * math.log(2.0)], rtol=1e-14, atol=0)
    zeta3 = 1.2020569031595942
    assert_close(tf.math.polygamma(f64([1.0, 2.0]), f64([1.0, 1.0])),
                 [math.pi ** 2 / 6, -2 * zeta3], rtol=1e-14, atol=0)
    assert_close(tf.math.zeta(f64([2.0, 4.0, 3.0]), f64([1.0, 1.0, 2.0])),
                 [math.pi ** 2 / 6, math.pi ** 4 / 90, zeta3 - 1.0], rtol=1e-14, atol=0)
    s, q = np.array([1.3, 2.7, 9.0]), np.array([0.2, 3.5, 1.7])
    assert_close(tf.math.zeta(f64(s), f64(q)),
                 [_hurwitz_ref(a, b) for a, b in zip(s, q)], rtol=1e-10, atol=0)
    assert_close(tf.math.lbeta(f64([[2.0, 3.0], [0.5, 0.5]])),
                 [math.log(1 / 12), math.log(math.pi)], rtol=1e-14, atol=1e-15)


def test_incomplete_gamma_and_beta_closed_forms():
    a = np.array([1.0, 3.0, 7.0, 30.0, 30.0])
    x = np.array([0.4, 2.0, 12.0, 25.0, 40.0])
    expected = [_igamma_integer_ref(n, v) for n, v in zip(a, x)]
    assert_close(tf.math.igamma(f64(a), f64(x)), expected, rtol=1e-12, atol=0)
    assert_close(tf.math.igammac(f64(a), f64(x)), 1.0 - np.array(expected), rtol=1e-10, atol=0)
    # P(1/2, x^2) = erf(x); Q(1/2, x^2) = erfc(x) keeps its relative precision far out.
    assert_close(tf.math.igammac(f64([0.5] * 3), f64([0.25, 9.0, 400.0])),
                 [math.erfc(0.5), math.erfc(3.0), math.erfc(20.0)], rtol=1e-12, atol=0)
    assert_close(tf.math.betainc(f64([2.0, 5.0, 1.0, 12.0]), f64([3.0, 2.0, 1.0, 9.0]),
                                 f64([0.3, 0.8, 0.25, 0.6])),
                 [_betainc_integer_ref(2, 3, 0.3), _betainc_integer_ref(5, 2, 0.8), 0.25,
                  _betainc_integer_ref(12, 9, 0.6)], rtol=1e-12, atol=0)


def test_inverse_error_functions():
    y = np.array([-0.999, -0.3, 1e-8, 0.5, 0.9999999, 1 - 1e-15])
    x = tf.math.erfinv(f64(y)).numpy()
    assert_close([math.erf(v) for v in x[:4]], y[:4], rtol=2e-16, atol=0)
    assert_close([math.erfc(v) for v in x[4:]], 1 - y[4:], rtol=1e-12, atol=0)
    assert_close(tf.math.erfcinv(f64(ERFCINV_Z)), ERFCINV, rtol=1e-13, atol=0)
    assert_close(tf.math.ndtri(f64(NDTRI_P)), NDTRI, rtol=1e-13, atol=0)
    assert_close(tf.math.erfc(f64([5.0, 26.0, -3.0])),
                 [math.erfc(5.0), math.erfc(26.0), math.erfc(-3.0)], rtol=1e-14, atol=0)


def test_bessel_functions_against_tensorflow():
    assert_close(tf.math.bessel_i0e(f64(BESSEL_X)), I0E, rtol=1e-14, atol=0)
    assert_close(tf.math.bessel_i1e(f64(BESSEL_X)), I1E, rtol=1e-14, atol=0)
    x = np.array([-2.0, 0.0, 1.0, 700.0])
    assert_close(tf.math.bessel_i0(f64(x)), np.i0(x), rtol=1e-13, atol=0)
    assert float(tf.math.bessel_i0(f64(800.0))) == math.inf


def test_special_functions_edge_values_match_tensorflow():
    # TF 2.21: lgamma, digamma at [0, -1, -2.5, inf, -inf, nan].
    edges = f64([0.0, -1.0, -2.5, math.inf, -math.inf, math.nan])
    assert_close(tf.math.lgamma(edges), [math.inf, math.inf, -0.05624371649767405, math.inf,
                                         math.inf, math.nan], rtol=1e-13, atol=0)
    assert_close(tf.math.digamma(edges), [math.nan, math.nan, 1.1031566406452433, math.inf,
                                          math.nan, math.nan], rtol=1e-14, atol=0)
    assert_close(tf.math.zeta(f64([0.5, 1.0, 2.0, 2.0, 2.5, 2.0]),
                              f64([1.0, 1.0, 0.0, -1.0, -1.5, math.inf])),
                 [math.nan, math.inf, math.inf, math.inf, math.nan, 0.0])
    assert_close(tf.math.igamma(f64([0.0, -1.0, 1.0, 1.0, 1.0, math.inf]),
                                f64([1.0, 1.0, 0.0, -1.0, math.inf, 1.0])),
                 [math.nan, math.nan, 0.0, math.nan, 1.0, 0.0])
    assert_close(tf.math.betainc(f64([1.0, 0.0, 1.0, 2.0, 2.0]), f64([1.0, 1.0, 1.0, 3.0, 3.0]),
                                 f64([0.5, 0.5, 1.5, 0.0, 1.0])),
                 [0.5, math.nan, math.nan, 0.0, 1.0])
    assert_close(tf.math.erfinv(f64([-1.0, 1.0, 1.5])), [-math.inf, math.inf, math.nan])
    assert_close(tf.math.ndtri(f64([0.0, 1.0, 0.5])), [-math.inf, math.inf, 0.0])
    assert_close(tf.math.polygamma(f64([1.5, -1.0, 1.0]), f64([0.5, 0.5, 0.0])),
                 [math.nan, math.nan, math.inf])


def test_special_functions_in_float32_and_their_dtype_rules():
    x = np.array([0.1, 0.7, 3.3, 12.0], np.float32)
    got = tf.math.lgamma(x)
    assert got.dtype == tf.float32
    assert_close(got, [math.lgamma(float(v)) for v in x], dtype="float32")
    assert tf.math.polygamma(1, tf.constant(0.5)).dtype == tf.float32
    with pytest.raises(tf.errors.InvalidArgumentError, match="floating-point"):
        tf.math.lgamma(tf.constant([1, 2]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="same dtype"):
        tf.math.igamma(tf.constant(1.0), tf.constant(1.0, tf.float64))


def test_special_function_gradients_are_tensorflows():
    a, x = f64(IGAMMA_A), f64(IGAMMA_X)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([a, x])
        upper = tf.math.igammac(a, x)
        incomplete_beta = tf.math.betainc(a, a + 1.0, f64([0.2, 0.3, 0.4, 0.5, 0.6]))
        hurwitz = tf.math.zeta(a + 1.5, x)
    assert_close(tape.gradient(upper, a), -np.array(IGAMMA_GRAD_A), rtol=1e-12, atol=0)
    # As in TF: no gradient to betainc's a and b, nor to zeta's x.
    assert tape.gradient(incomplete_beta, a) is None
    assert tape.gradient(hurwitz, a) is None
    b = f64([0.0, 1.5, -2.0])
    assert_close(_gradient(tf.math.bessel_i1, b)[0], 0.5, rtol=1e-14, atol=0)
    assert_close(_gradient(tf.math.bessel_i0, b), [_bessel_ie_ref(v, 1) * math.exp(abs(v))
                                                   for v in b.numpy()], rtol=1e-12, atol=1e-15)


def test_nextafter_steps_one_unit_in_either_dtype():
    for dtype in (np.float32, np.float64):
        x, y = np.array([1.0, 0.0, -2.0], dtype), np.array([2.0, -1.0, -3.0], dtype)
        got = tf.math.nextafter(x, y).numpy()
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, np.nextafter(x, y))


def test_cumulative_logsumexp_keeps_precision_far_apart():
    x = f64([-1000.0, 0.0, -50.0])
    expected = [-1000.0, np.logaddexp(-1000.0, 0.0), np.logaddexp(np.logaddexp(-1000.0, 0.0),
                                                                   -50.0)]
    assert_close(tf.math.cumulative_logsumexp(x), expected, rtol=1e-15, atol=0)
    grad = _gradient(lambda v: tf.reduce_sum(tf.math.cumulative_logsumexp(v)), x)
    # d/dx_j sum_i lse(x_0..x_i) = sum_{i >= j} exp(x_j - out_i).
    out = np.array(expected)
    reference = [sum(math.exp(x.numpy()[j] - out[i]) for i in range(j, 3)) for j in range(3)]
    assert_close(grad, reference, rtol=1e-14, atol=1e-300)


# ------------------------------------------------------------------ tf.math composites

def test_math_composites_match_tensorflow():
    # TF 2.21 values of the same calls.
    assert tf.math.segment_max([1.0, 2.0, 3.0], [0, 0, 2]).numpy().tolist() == [2.0, 0.0, 3.0]
    assert tf.math.segment_min(tf.constant([1, 2, 3]), [0, 0, 2]).numpy().tolist() == [1, 0, 3]
    assert tf.math.segment_prod([1.0, 2.0, 3.0], [0, 0, 2]).numpy().tolist() == [2.0, 1.0, 3.0]
    assert tf.math.segment_mean([1.0, 2.0, 3.0], [0, 0, 2]).numpy().tolist() == [1.5, 0.0, 3.0]
    assert tf.math.unsorted_segment_prod([1.0, 2.0, 3.0], [0, 0, 2], 4).numpy().tolist() == [
        2.0, 1.0, 3.0, 1.0]
    assert_close(tf.math.unsorted_segment_sqrt_n([1.0, 2.0, 3.0], [0, 0, 2], 4),
                 [3 / math.sqrt(2), 0.0, 3.0, 0.0], dtype="float32")
    assert tf.math.xdivy([0.0, 1.0], [0.0, 2.0]).numpy().tolist() == [0.0, 0.5]
    assert_close(tf.math.xlog1py([0.0, 1.0], [-1.0, 1.0]), [0.0, math.log(2.0)],
                 dtype="float32")
    assert float(tf.math.zero_fraction(tf.constant([0, 1, 0, 2]))) == 0.5
    assert int(tf.math.reduce_euclidean_norm(tf.constant([3, 4]))) == 5
    assert tf.math.polyval([1.0, 2.0, 3.0], tf.constant([2.0])).numpy().tolist() == [11.0]
    assert tf.math.polyval([], tf.constant([2.0])).numpy().tolist() == [0.0]
    assert tf.math.invert_permutation([3, 4, 0, 2, 1]).numpy().tolist() == [2, 4, 3, 0, 1]
    assert bool(tf.math.is_non_decreasing([1, 2, 2]))
    assert not bool(tf.math.is_strictly_increasing([1, 2, 2]))
    assert tf.math.rint([0.5, 1.5, -2.5]).numpy().tolist() == [0.0, 2.0, -2.0]
    assert tf.math.accumulate_n([tf.constant([1.0]), tf.constant([2.0])]).numpy().tolist() == [3.0]
    assert tf.truncatediv([-7, 7, -7, 7], [2, -2, -2, 2]).numpy().tolist() == [-3, -3, 3, 3]
    assert tf.truncatemod([-7, 7, -7, 7], [2, -2, -2, 2]).numpy().tolist() == [-1, 1, -1, 1]
    assert tf.truncatediv([-7.0, 7.0, -7.5], [2.0, -2.0, 2.0]).numpy().tolist() == [-3.0] * 3
    assert tf.truncatemod([-7.0, 7.0, -7.5], [2.0, -2.0, 2.0]).numpy().tolist() == [
        -1.0, 1.0, -1.5]
    assert float(tf.realdiv(7.0, 2.0)) == 3.5
    assert tf.math.softmax([0.0, 0.0]).numpy().tolist() == [0.5, 0.5]
    with pytest.raises(tf.errors.InvalidArgumentError, match="sorted"):
        tf.math.segment_max([1.0, 2.0], [1, 0])
    with pytest.raises(tf.errors.InvalidArgumentError, match="permutation"):
        tf.math.invert_permutation([0, 0])


def test_segment_gradients_against_finite_differences():
    ids = tf.constant([0, 0, 1, 3])
    rows = [
        Row("segment_prod", lambda d: tf.math.segment_prod(d, ids),
            lambda d: np.stack([d[0] * d[1], d[2], np.ones(2), d[3]]), uniform((4, 2))),
        Row("segment_mean", lambda d: tf.math.segment_mean(d, ids),
            lambda d: np.stack([(d[0] + d[1]) / 2, d[2], np.zeros(2), d[3]]), uniform((4, 2))),
        Row("unsorted_segment_sqrt_n", lambda d: tf.math.unsorted_segment_sqrt_n(d, ids, 4),
            lambda d: np.stack([(d[0] + d[1]) / math.sqrt(2), d[2], np.zeros(2), d[3]]),
            uniform((4, 2))),
        Row("xlog1py", tf.math.xlog1py, lambda x, y: x * np.log1p(y),
            lambda rng: [rng.uniform(0.5, 2, (3,)), rng.uniform(-0.5, 2, (3,))]),
    ]
    for row in rows:
        harness.check_forward(row, "float64")
        harness.check_vjp(row)


# ------------------------------------------------------------------ top-level array ops

def test_space_and_batch_moves_match_tensorflow():
    x = tf.reshape(tf.range(8.0), [1, 2, 2, 2])
    # TF 2.21: tf.space_to_batch(x, [2, 2], [[0, 0], [0, 2]]) and its inverse.
    assert tf.space_to_batch(x, [2, 2], [[0, 0], [0, 2]]).numpy().tolist() == [
        [[[0.0, 1.0], [0.0, 0.0]]], [[[2.0, 3.0], [0.0, 0.0]]], [[[4.0, 5.0], [0.0, 0.0]]],
        [[[6.0, 7.0], [0.0, 0.0]]]]
    y = tf.reshape(tf.range(8.0), [4, 1, 1, 2])
    assert tf.batch_to_space(y, [2, 2], [[0, 0], [0, 1]]).numpy().tolist() == [
        [[[0.0, 1.0]], [[4.0, 5.0]]]]
    z = tf.reshape(tf.range(48.0), [2, 4, 6, 1])
    blocks = tf.space_to_batch_nd(z, [2, 3], [[0, 0], [0, 0]])
    assert blocks.shape == (12, 2, 2, 1)
    np.testing.assert_array_equal(tf.batch_to_space(blocks, [2, 3], [[0, 0], [0, 0]]), z)
    # NumPy: each block position (i, j) of batch b is z[b, i::2, j::3].
    np.testing.assert_array_equal(blocks[1 * 2 + 0].numpy(), z.numpy()[0, 0::2, 1::3])


def test_array_helpers_match_tensorflow():
    x = tf.reshape(tf.range(12), [3, 4])
    assert tf.reverse_sequence(x, [2, 4, 0], seq_axis=1, batch_axis=0).numpy().tolist() == [
        [1, 0, 2, 3], [7, 6, 5, 4], [8, 9, 10, 11]]
    assert tf.reverse_sequence(tf.transpose(x), [2, 4, 0], seq_axis=0,
                               batch_axis=1).numpy().T.tolist() == [
        [1, 0, 2, 3], [7, 6, 5, 4], [8, 9, 10, 11]]
    parts = tf.dynamic_partition([10, 20, 30, 40], [0, 1, 0, 2], 3)
    assert [p.numpy().tolist() for p in parts] == [[10, 30], [20], [40]]
    stitched = tf.dynamic_stitch(
        [[6], [4, 1], [[5, 2], [0, 3]]],
        [[[61.0, 62.0]], [[41.0, 42.0], [11.0, 12.0]], [[[51.0, 52.0], [21.0, 22.0]],
                                                         [[1.0, 2.0], [31.0, 32.0]]]])
    assert stitched.numpy()[:, 0].tolist() == [1.0, 11.0, 21.0, 31.0, 41.0, 51.0, 61.0]
    assert tf.dynamic_stitch([[0, 1], [1, 2]], [[1.0, 2.0], [3.0, 4.0]]).numpy().tolist() == [
        1.0, 3.0, 4.0]
    y, idx, count = tf.unique_with_counts([1, 1, 2, 4, 4, 4, 7, 8, 8])
    assert (y.numpy().tolist(), idx.numpy().tolist(), count.numpy().tolist()) == (
        [1, 2, 4, 7, 8], [0, 0, 1, 2, 2, 2, 3, 4, 4], [2, 1, 3, 1, 2])
    assert tf.tensor_scatter_nd_max([1.0, 5.0, 3.0], [[0], [0], [2]],
                                    [4.0, 7.0, 1.0]).numpy().tolist() == [7.0, 5.0, 3.0]
    assert tf.tensor_scatter_nd_min([[1.0, 2.0], [3.0, 4.0]], [[0, 1], [1, 0], [0, 1]],
                                    [0.5, 9.0, 1.5]).numpy().tolist() == [[1.0, 0.5], [3.0, 4.0]]
    values = [-1.0, 0.0, 1.5, 2.0, 5.0, 15.0]
    assert tf.histogram_fixed_width(values, [0.0, 5.0], nbins=5).numpy().tolist() == [
        2, 1, 1, 0, 2]
    assert tf.histogram_fixed_width_bins(values, [0.0, 5.0], nbins=5).numpy().tolist() == [
        0, 0, 1, 2, 4, 4]
    assert tf.unravel_index([1, 5, 7], [3, 3]).numpy().tolist() == [[0, 1, 2], [1, 2, 1]]
    assert tf.unravel_index(5, [3, 3]).numpy().tolist() == [1, 2]
    assert tf.broadcast_dynamic_shape([2, 1, 3], [4, 1]).numpy().tolist() == [2, 4, 3]
    assert tf.broadcast_static_shape(tf.TensorShape([2, 1, 3]),
                                     tf.TensorShape([None, 1])).as_list() == [2, None, 3]
    assert [s.numpy().tolist() for s in tf.shape_n([tf.zeros([2, 3]), tf.zeros([4])])] == [
        [2, 3], [4]]
    assert [t.numpy().tolist() for t in tf.identity_n([[1.0], [2, 3]])] == [[1.0], [2, 3]]
    assert tf.parallel_stack([[1, 2], [3, 4]]).numpy().tolist() == [[1, 2], [3, 4]]
    assert tf.as_string(tf.constant([1.5, 2.0])).numpy().tolist() == [b"1.500000", b"2.000000"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="seq_lengths"):
        tf.reverse_sequence(x, [5, 1, 1], seq_axis=1)


def test_array_helper_gradients():
    rows = [
        Row("dynamic_stitch", lambda a, b: tf.dynamic_stitch([[0, 2], [1, 2]], [a, b]),
            lambda a, b: np.stack([a[0], b[0], b[1]]), uniform((2, 3), (2, 3))),
        Row("tensor_scatter_nd_max", lambda t, u: tf.tensor_scatter_nd_max(t, [[1], [3]], u),
            lambda t, u: np.stack([t[0], np.maximum(t[1], u[0]), t[2], np.maximum(t[3], u[1])]),
            uniform((4, 2), (2, 2))),
        Row("reverse_sequence", lambda x: tf.reverse_sequence(x, [2, 3], seq_axis=1),
            lambda x: np.stack([x[0, [1, 0, 2]], x[1, [2, 1, 0]]]), uniform((2, 3, 2))),
        Row("space_to_batch_nd", lambda x: tf.space_to_batch_nd(x, [2], [[1, 1]]),
            lambda x: np.stack([np.pad(x, [[0, 0], [1, 1], [0, 0]])[:, i::2]
                                for i in range(2)]).reshape(4, 2, 2), uniform((2, 2, 2))),
    ]
    for row in rows:
        harness.check_forward(row, "float64")
        harness.check_vjp(row)


# ------------------------------------------------------------------ tf.nn additions

def test_transposed_convolutions_match_a_numpy_reference():
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 3, 2, 3, 2)), rng.standard_normal((2, 3, 2, 4, 2))
    for out, strides, padding in (([5, 4, 6], [2, 2, 2], "SAME"),
                                  ([7, 4, 8], [2, 1, 3], "VALID")):
        got = tf.nn.conv3d_transpose(f64(x), f64(w), [2] + out + [4], [1] + strides + [1],
                                     padding)
        assert_close(got, _conv_transpose_ref(x, w, out, strides, padding, [1, 1, 1]),
                     rtol=1e-12, atol=1e-12)
    x1, w1 = rng.standard_normal((2, 4, 3)), rng.standard_normal((3, 2, 3))
    got = tf.nn.conv1d_transpose(f64(x1), f64(w1), [2, 10, 2], 1, "VALID", dilations=3)
    assert_close(got, _conv_transpose_ref(x1, w1, [10], [1], "VALID", [3]), rtol=1e-12,
                 atol=1e-12)
    # TF 2.21: conv1d_transpose of arange inputs, SAME, stride 2, outputs of 6 and 5 steps.
    xa = np.arange(6.0).reshape(1, 3, 2) - 2.0
    wa = np.arange(12.0).reshape(3, 2, 2) / 10.0
    assert_close(tf.nn.conv1d_transpose(f64(xa), f64(wa), [1, 5, 2], 2, "SAME"),
                 [[[-1.3, -1.9], [-2.4, -2.8], [0.5, 0.7], [1.2, 2.4], [2.3, 3.3]]],
                 rtol=1e-14, atol=1e-14)
    x2 = rng.standard_normal((1, 3, 3, 2))
    w2 = rng.standard_normal((3, 3, 2, 2))
    assert_close(tf.nn.conv_transpose(f64(x2), f64(w2), [1, 6, 6, 2], 2),
                 tf.nn.conv2d_transpose(f64(x2), f64(w2), [1, 6, 6, 2], 2), rtol=0, atol=0)
    # NCDHW gives the NDHWC result with the channels moved.
    ncdhw = tf.nn.conv3d_transpose(f64(np.moveaxis(x, -1, 1)), f64(w), [2, 4, 5, 4, 6],
                                   [1, 1, 2, 2, 2], "SAME", data_format="NCDHW")
    assert_close(np.moveaxis(ncdhw.numpy(), 1, -1),
                 _conv_transpose_ref(x, w, [5, 4, 6], [2, 2, 2], "SAME", [1, 1, 1]),
                 rtol=1e-12, atol=1e-12)


def test_conv3d_transpose_gradients():
    row = Row("conv3d_transpose", lambda x, w: tf.nn.conv3d_transpose(
        x, w, [1, 3, 3, 2, 1], [1, 2, 2, 1, 1], "SAME"),
        lambda x, w: _conv_transpose_ref(x, w, [3, 3, 2], [2, 2, 1], "SAME", [1, 1, 1]),
        uniform((1, 2, 2, 2, 2), (2, 2, 1, 1, 2)))
    harness.check_forward(row, "float64")
    harness.check_vjp(row)


def test_convolution_helpers():
    rng = np.random.default_rng(4)
    x, w = f64(rng.standard_normal((1, 6, 6, 2))), f64(rng.standard_normal((2, 2, 2, 3)))
    assert_close(tf.nn.convolution(x, w, padding="SAME"),
                 tf.nn.conv2d(x, w, 1, "SAME"), rtol=0, atol=0)
    assert_close(tf.nn.atrous_conv2d(x, w, 2, "VALID"),
                 tf.nn.conv2d(x, w, 1, "VALID", dilations=2), rtol=0, atol=0)
    depthwise, pointwise = rng.standard_normal((2, 2, 2, 2)), rng.standard_normal((1, 1, 4, 3))
    got = tf.nn.separable_conv2d(x, f64(depthwise), f64(pointwise), [1, 1, 1, 1], "VALID")
    # NumPy: each input channel c convolved with depthwise[..., c, m] into channel c*2 + m,
    # then mixed by the pointwise matrix.
    xs = x.numpy()
    mid = np.zeros((1, 5, 5, 4))
    for i in range(5):
        for j in range(5):
            patch = xs[0, i:i + 2, j:j + 2]  # [2, 2, c]
            mid[0, i, j] = np.einsum("hwc,hwcm->cm", patch, depthwise).reshape(-1)
    assert_close(got, mid @ pointwise[0, 0], rtol=1e-12, atol=1e-12)
    assert_close(tf.nn.crelu(f64([[1.0, -2.0]])), [[1.0, 0.0, 0.0, 2.0]])


def test_space_depth_and_lrn():
    x = tf.reshape(tf.range(16.0), [1, 4, 4, 1])
    # TF 2.21: the first output pixel of space_to_depth; depth_to_space of [1, 1, 2, 8].
    assert tf.nn.space_to_depth(x, 2)[0, 0, 0].numpy().tolist() == [0.0, 1.0, 4.0, 5.0]
    assert tf.nn.depth_to_space(tf.reshape(tf.range(16.0), [1, 1, 2, 8]), 2)[0, 0].numpy(
    ).tolist() == [[0.0, 1.0], [2.0, 3.0], [8.0, 9.0], [10.0, 11.0]]
    y = tf.reshape(tf.range(96.0), [2, 4, 4, 3])
    np.testing.assert_array_equal(tf.nn.depth_to_space(tf.nn.space_to_depth(y, 2), 2), y)
    nchw = tf.nn.space_to_depth(tf.transpose(y, [0, 3, 1, 2]), 2, data_format="NCHW")
    np.testing.assert_array_equal(tf.transpose(nchw, [0, 2, 3, 1]), tf.nn.space_to_depth(y, 2))
    rng = np.random.default_rng(5)
    v = rng.standard_normal((1, 2, 2, 5))
    got = tf.nn.local_response_normalization(f64(v), depth_radius=1, bias=0.5, alpha=0.3,
                                             beta=0.6)
    squares = np.pad(v ** 2, [[0, 0], [0, 0], [0, 0], [1, 1]])
    window = squares[..., :-2] + squares[..., 1:-1] + squares[..., 2:]
    assert_close(got, v / (0.5 + 0.3 * window) ** 0.6, rtol=1e-14, atol=0)
    harness.check_vjp(Row("lrn", lambda t: tf.nn.lrn(t, 1, 0.5, 0.3, 0.6), None,
                          uniform((1, 1, 2, 4))))


def test_losses_and_moments():
    z, x = np.array([1.0, 0.0, 0.3]), np.array([0.5, -1.0, 2.0])
    got = tf.nn.weighted_cross_entropy_with_logits(f64(z), f64(x), 2.0)
    sig = 1 / (1 + np.exp(-x))
    assert_close(got, -2.0 * z * np.log(sig) - (1 - z) * np.log(1 - sig), rtol=1e-14, atol=0)
    t, c = np.array([0.0, 0.5, 3.0]), np.array([0.1, 0.2, 1.0])
    full = np.exp(c) - t * c + np.where(t > 1, t * np.log(np.maximum(t, 1)) - t + 0.5 * np.log(
        2 * np.pi * np.maximum(t, 1)), 0.0)
    assert_close(tf.nn.log_poisson_loss(f64(t), f64(c), compute_full_loss=True), full,
                 rtol=1e-14, atol=0)
    assert float(tf.nn.compute_average_loss([[1.0, 2.0], [3.0, 4.0]])) == 5.0
    assert_close(tf.nn.compute_average_loss([1.0, 2.0, 3.0], sample_weight=[1.0, 0.0, 2.0],
                                            global_batch_size=6), 7 / 6, dtype="float32")
    assert float(tf.nn.scale_regularization_loss([1.0, 2.0])) == 3.0
    data = np.array([[1.0, 2.0], [3.0, 7.0], [-1.0, 0.5]])
    count, m_ss, v_ss, shift = tf.nn.sufficient_statistics(f64(data), [0], shift=1.0)
    mean, variance = tf.nn.normalize_moments(count, m_ss, v_ss, shift)
    assert_close(mean, data.mean(0), rtol=1e-14, atol=0)
    assert_close(variance, data.var(0), rtol=1e-13, atol=0)
    weights = np.array([[1.0], [3.0], [0.5]])
    mean, variance = tf.nn.weighted_moments(f64(data), [0], f64(weights))
    expected_mean = (weights * data).sum(0) / weights.sum()
    assert_close(mean, expected_mean, rtol=1e-14, atol=0)
    assert_close(variance, (weights * (data - expected_mean) ** 2).sum(0) / weights.sum(),
                 rtol=1e-14, atol=0)
    harness.check_vjp(Row("weighted_cross_entropy", lambda a, b: (
        tf.nn.weighted_cross_entropy_with_logits(a, b, 1.7)), None,
        lambda rng: [rng.uniform(0, 1, (3,)), rng.uniform(-3, 3, (3,))]))


def test_morphology_and_argmax_pooling():
    xm = np.arange(20.0).reshape(1, 4, 5, 1) % 7
    fm = np.array([[[0.5], [-1.0]], [[2.0], [0.0]]])
    # TF 2.21 values for these calls.
    dilation = tf.nn.dilation2d(f64(xm), f64(fm), [1, 2, 1, 1], "SAME", "NHWC", [1, 1, 2, 1])
    assert dilation.numpy().ravel().tolist() == [6.0, 7.0, 8.0, 3.0, 3.5, 3.0, 4.0, 5.0, 5.5,
                                                 6.5]
    erosion = tf.nn.erosion2d(f64(xm), f64(fm), [1, 1, 2, 1], "SAME", "NHWC", [1, 2, 1, 1])
    assert erosion.numpy().ravel().tolist() == [5.5, 0.5, 3.0, -1.0, 1.0, 1.0, 1.5, -1.0, 2.0,
                                                2.0, 4.0, 0.0]
    values, index = tf.nn.max_pool_with_argmax(f64(xm), [1, 3, 2, 1], [1, 2, 2, 1], "SAME")
    assert values.numpy().ravel().tolist() == [6.0, 6.0, 4.0, 4.0, 6.0, 5.0]
    assert index.numpy().ravel().tolist() == [6, 13, 4, 11, 13, 19]
    assert index.dtype == tf.int64
    rng = np.random.default_rng(6)
    x, f = rng.standard_normal((2, 5, 6, 2)), rng.standard_normal((2, 3, 2))
    got = tf.nn.dilation2d(f64(x), f64(f), [1, 1, 2, 1], "VALID", "NHWC", [1, 2, 1, 1])
    assert_close(got, _dilation_ref(x, f, [1, 2], [2, 1], "VALID"), rtol=0, atol=1e-15)
    # TF documents erosion as the dual: -dilation2d(-value, reflected filters).
    got = tf.nn.erosion2d(f64(x), f64(f), [1, 2, 1, 1], "SAME", "NHWC", [1, 1, 1, 1])
    assert_close(got, -_dilation_ref(-x, f[::-1, ::-1], [2, 1], [1, 1], "SAME"), rtol=0,
                 atol=1e-15)
    values, index = tf.nn.max_pool_with_argmax(f64(x), 2, 2, "VALID", include_batch_in_index=True)
    np.testing.assert_array_equal(values, x.ravel()[index.numpy()])
    harness.check_vjp(Row("dilation2d", lambda a, b: tf.nn.dilation2d(
        a, b, [1, 1, 1, 1], "SAME", "NHWC", [1, 1, 1, 1]), None,
        uniform((1, 3, 3, 1), (2, 2, 1))))


# ------------------------------------------------------------------ word2vec's sampled losses

def _sampled_logits_ref(weights, biases, labels, inputs, sampled, true_count, sampled_count,
                        remove_hits):
    true_w = weights[labels]  # [batch, num_true, dim]
    true_logits = np.einsum("bd,btd->bt", inputs, true_w) + biases[labels]
    sampled_logits = inputs @ weights[sampled].T + biases[sampled]
    if remove_hits:
        hits = (labels[:, :, None] == sampled[None, None, :]).any(axis=1)
        sampled_logits = sampled_logits + hits * -3.4028234663852886e38
    true_logits = true_logits - np.log(true_count)
    sampled_logits = sampled_logits - np.log(sampled_count)
    return np.concatenate([true_logits, sampled_logits], 1)


def test_sampled_losses_on_fixed_candidates_match_numpy():
    rng = np.random.default_rng(7)
    vocab, dim, batch = 12, 4, 3
    weights = rng.standard_normal((vocab, dim))
    biases = rng.standard_normal(vocab)
    inputs = rng.standard_normal((batch, dim))
    labels = np.array([[1], [5], [7]])
    sampled = np.array([0, 5, 9, 2])  # 5 is an accidental hit for the second example
    true_count = np.array([[0.3], [0.2], [0.1]])
    sampled_count = np.array([0.5, 0.2, 0.05, 0.4])
    values = (tf.constant(sampled, tf.int64), f64(true_count), f64(sampled_count))
    logits = _sampled_logits_ref(weights, biases, labels, inputs, sampled, true_count,
                                 sampled_count, remove_hits=True)
    shifted = logits - logits.max(1, keepdims=True)
    softmax_loss = -(shifted[:, 0] - np.log(np.exp(shifted).sum(1)))
    got = tf.nn.sampled_softmax_loss(f64(weights), f64(biases), labels, f64(inputs), 4, vocab,
                                     sampled_values=values)
    assert_close(got, softmax_loss, rtol=1e-13, atol=0)
    logits = _sampled_logits_ref(weights, biases, labels, inputs, sampled, true_count,
                                 sampled_count, remove_hits=False)
    targets = np.zeros_like(logits)
    targets[:, 0] = 1.0
    nce = (np.maximum(logits, 0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))).sum(1)
    got = tf.nn.nce_loss(f64(weights), f64(biases), labels, f64(inputs), 4, vocab,
                         sampled_values=values)
    assert_close(got, nce, rtol=1e-13, atol=0)
    # Weights given as two row shards give the same loss.
    shards = [f64(weights[:5]), f64(weights[5:])]
    assert_close(tf.nn.nce_loss(shards, f64(biases), labels, f64(inputs), 4, vocab,
                                sampled_values=values), nce, rtol=1e-13, atol=0)
    harness.check_vjp(Row("nce_loss", lambda w, x: tf.nn.nce_loss(
        w, f64(biases), labels, x, 4, vocab, sampled_values=values), None,
        fixed(weights, inputs)))


def test_word2vec_training_lowers_the_sampled_losses():
    tf.random.set_seed(11)
    vocab, dim = 40, 8
    rng = np.random.default_rng(8)
    centers = rng.integers(0, vocab, 64)
    contexts = (centers * 7 + 3) % vocab  # a fixed "next word" for each word
    embeddings = tf.Variable(tf.random.uniform([vocab, dim], -1.0, 1.0, seed=1))
    for loss_fn in (tf.nn.nce_loss, tf.nn.sampled_softmax_loss):
        weights = tf.Variable(tf.random.truncated_normal([vocab, dim], stddev=0.3, seed=2))
        biases = tf.Variable(tf.zeros([vocab]))
        variables = [embeddings, weights, biases]

        @tf.function
        def step(center, context, loss_fn=loss_fn, variables=variables):
            with tf.GradientTape() as tape:
                embed = tf.nn.embedding_lookup(variables[0], center)
                loss = tf.reduce_mean(loss_fn(variables[1], variables[2], context, embed,
                                              num_sampled=10, num_classes=vocab))
            for v, g in zip(variables, tape.gradient(loss, variables)):
                v.assign_sub(0.5 * g)
            return loss

        losses = [float(step(centers, contexts[:, None])) for _ in range(30)]
        assert all(math.isfinite(v) for v in losses)
        assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5]), (loss_fn.__name__, losses)


# ------------------------------------------------------------------ candidate samplers

def test_candidate_samplers_draw_and_count_as_tensorflow_defines():
    classes = tf.constant([[1, 2]], tf.int64)
    ids, true_count, sampled_count = tf.random.log_uniform_candidate_sampler(
        classes, 2, 5, True, 10, seed=3)
    assert ids.dtype == tf.int64 and len(set(ids.numpy().tolist())) == 5
    p = lambda c: math.log((c + 2) / (c + 1)) / math.log(11)  # noqa: E731
    # Unique sampling: expected count 1 - (1 - p)^tries, one `tries` for all; TF 2.21 gave
    # 0.7727922, 0.6402764 for classes 1, 2 after 8 tries.
    tries = math.log(1 - float(true_count[0, 0])) / math.log(1 - p(1))
    assert abs(tries - round(tries)) < 1e-3 and round(tries) >= 5
    assert_close(true_count, [[1 - (1 - p(c)) ** round(tries) for c in (1, 2)]],
                 dtype="float32")
    assert_close(sampled_count, [1 - (1 - p(c)) ** round(tries) for c in ids.numpy()],
                 dtype="float32")
    _, true_count, sampled_count = tf.random.uniform_candidate_sampler(classes, 2, 5, False, 10)
    assert true_count.numpy().tolist() == [[0.5, 0.5]]
    assert sampled_count.numpy().tolist() == [0.5] * 5
    ids, true_count, _ = tf.random.fixed_unigram_candidate_sampler(
        classes, 2, 2, True, 5, unigrams=[0.0, 4.0, 1.0, 0.0, 9.0], distortion=0.5,
        num_reserved_ids=0, seed=4)
    assert set(ids.numpy().tolist()) <= {1, 2, 4}
    # Draws follow the log-uniform law (a loose check on 2000 draws).
    draws = tf.random.log_uniform_candidate_sampler(classes, 2, 2000, False, 10, seed=5)[0]
    freq = np.bincount(draws.numpy(), minlength=10) / 2000
    assert np.abs(freq - [p(c) for c in range(10)]).max() < 0.04
    # The same seeds repeat after tf.random.set_seed; in a function, every call draws anew.
    tf.random.set_seed(9)
    first = tf.random.uniform_candidate_sampler(classes, 2, 4, True, 50, seed=1)[0].numpy()
    tf.random.set_seed(9)
    again = tf.random.uniform_candidate_sampler(classes, 2, 4, True, 50, seed=1)[0].numpy()
    assert first.tolist() == again.tolist()
    draw = tf.function(lambda: tf.random.uniform_candidate_sampler(classes, 2, 4, True, 1000)[0])
    assert draw().numpy().tolist() != draw().numpy().tolist()
    rows, ids, weights = tf.nn.compute_accidental_hits([[1], [2]], [2, 5, 1], 1)
    assert (rows.numpy().tolist(), ids.numpy().tolist()) == ([0, 1], [2, 0])
    assert weights.numpy().tolist() == [-3.4028234663852886e38] * 2


def test_seed_splitting_is_deterministic():
    seed = tf.constant([1, 2])
    split = tf.random.split(seed, 3)
    assert split.shape == (3, 2) and split.dtype == tf.int32
    assert split.numpy().tolist() == tf.random.split(seed, 3).numpy().tolist()
    assert len({tuple(r) for r in split.numpy().tolist()}) == 3
    folded = [tf.random.fold_in(seed, d).numpy().tolist() for d in (7, 8, 7)]
    assert folded[0] == folded[2] and folded[0] != folded[1]
    assert tf.random.split(tf.constant([1, 2], tf.int64)).dtype == tf.int64


# ------------------------------------------------------------------ tf.linalg additions

def test_lu_and_its_solves():
    a = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 10.0]])
    lower_upper, perm = tf.linalg.lu(f64(a))
    assert perm.numpy().tolist() == [2, 0, 1]  # TF 2.21
    assert_close(lower_upper, _lu_ref(a)[0], rtol=1e-14, atol=1e-15)
    assert tf.linalg.lu(f64(a), output_idx_type=tf.int64).p.dtype == tf.int64
    assert_close(tf.linalg.lu_reconstruct(lower_upper, perm), a, rtol=1e-14, atol=1e-14)
    assert_close(tf.linalg.lu_matrix_inverse(lower_upper, perm), np.linalg.inv(a), rtol=1e-12,
                 atol=1e-13)
    rhs = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, -1.0]])
    assert_close(tf.linalg.lu_solve(lower_upper, perm, f64(rhs)), np.linalg.solve(a, rhs),
                 rtol=1e-12, atol=1e-13)


def test_matrix_functions():
    a = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])
    root = tf.linalg.sqrtm(f64(a)).numpy()
    assert_close(root @ root, a, rtol=1e-13, atol=1e-13)
    values, vectors = np.linalg.eigh(a)
    assert_close(root, vectors @ np.diag(np.sqrt(values)) @ vectors.T, rtol=1e-12, atol=1e-13)
    # No real root for a negative eigenvalue: NaN, as TF 2.21 gives.
    bad = tf.linalg.sqrtm(f64([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 10.0]]))
    assert np.isnan(bad.numpy()).all()
    c = np.array([[2.0, 1.0, 0.3], [-1.0, 3.0, 0.5], [0.2, 0.1, 1.5]]) + 0.2j
    eig, vec = np.linalg.eig(c)
    expected = vec @ np.diag(np.log(eig)) @ np.linalg.inv(vec)
    assert_close(tf.linalg.logm(tf.constant(c)), expected, rtol=1e-12, atol=1e-13)
    with pytest.raises(tf.errors.InvalidArgumentError, match="complex"):
        tf.linalg.logm(f64(a))
    assert int(tf.linalg.matrix_rank(f64([[1.0, 2.0], [2.0, 4.0]]))) == 1
    assert tf.linalg.matrix_rank(tf.ones([2, 3, 3])).numpy().tolist() == [1, 1]
    unit, norm = tf.linalg.normalize(f64([3.0, 4.0]))
    assert_close(unit, [0.6, 0.8], rtol=1e-15, atol=0)
    assert norm.numpy().tolist() == [5.0]
    d = f64([[1.0, 2.0], [3.0, 4.0]])
    assert tf.linalg.tensor_diag(d).shape == (2, 2, 2, 2)
    assert float(tf.linalg.tensor_diag(d)[1, 0, 1, 0]) == 3.0
    np.testing.assert_array_equal(tf.linalg.tensor_diag_part(tf.linalg.tensor_diag(d)), d)


def test_tridiagonal_systems():
    compact = np.array([[2.0, 3.0, 0.0], [1.0, 4.0, 5.0], [0.0, 1.0, 2.0]])
    dense = np.diag(compact[1]) + np.diag(compact[0, :-1], 1) + np.diag(compact[2, 1:], -1)
    rhs = np.array([[1.0], [2.0], [3.0]])
    for fmt, diagonals in (("compact", f64(compact)), ("matrix", f64(dense)),
                           ("sequence", [f64(row) for row in compact])):
        assert_close(tf.linalg.tridiagonal_matmul(diagonals, f64(rhs), diagonals_format=fmt),
                     dense @ rhs, rtol=0, atol=1e-15)
        assert_close(tf.linalg.tridiagonal_solve(diagonals, f64(rhs), diagonals_format=fmt),
                     np.linalg.solve(dense, rhs), rtol=1e-14, atol=1e-15)
    # TF 2.21: the same system with a vector right-hand side.
    assert_close(tf.linalg.tridiagonal_solve(f64(compact), f64([1.0, 2.0, 3.0])),
                 [3.0, -1.0, 1.0], rtol=1e-14, atol=1e-15)
    assert_close(tf.linalg.tridiagonal_solve(f64(compact), f64(rhs.T), transpose_rhs=True),
                 np.linalg.solve(dense, rhs), rtol=1e-14, atol=1e-15)
    harness.check_vjp(Row("tridiagonal_solve", lambda d, b: tf.linalg.tridiagonal_solve(d, b),
                          None, lambda rng: [compact + rng.uniform(-0.1, 0.1, (3, 3)),
                                             rng.uniform(-1, 1, (3, 2))]))


# ------------------------------------------------------------------ framework helpers

def test_folds_case_and_grouping():
    assert int(tf.foldl(lambda a, x: a + x, tf.constant([1, 2, 3]), initializer=10)) == 16
    assert int(tf.foldr(lambda a, x: a * 10 + x, tf.constant([1, 2, 3]))) == 321
    assert int(tf.foldl(lambda a, x: a + x, tf.constant([], tf.int32), initializer=5)) == 5
    total, product = tf.foldl(lambda a, x: (a[0] + x, a[1] * x), tf.constant([1, 2, 3]),
                              initializer=(0, 1))
    assert (int(total), int(product)) == (6, 6)
    pairs = [(tf.constant(False), lambda: tf.constant(1)),
             (tf.constant(True), lambda: tf.constant(2))]
    assert int(tf.case(pairs, default=lambda: tf.constant(3))) == 2
    with pytest.raises(tf.errors.InvalidArgumentError, match="None of|none of"):
        tf.case(pairs[:1])

    @tf.function
    def traced(p, q):
        return tf.case([(p, lambda: tf.constant(1)), (q, lambda: tf.constant(2))],
                       default=lambda: tf.constant(3))

    assert [int(traced(tf.constant(a), tf.constant(b))) for a, b in
            ((True, True), (False, True), (False, False))] == [1, 2, 3]
    assert tf.group(tf.constant(1)) is None and tf.no_op() is None


def test_gradient_helpers():
    @tf.function
    def hessian(x):
        return tf.hessians(tf.reduce_sum(x ** 3) + x[0] * x[1], x)[0]

    assert hessian(f64([1.0, 2.0])).numpy().tolist() == [[6.0, 1.0], [1.0, 12.0]]
    x = tf.constant(1.3)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.grad_pass_through(lambda v: tf.round(v) * 2.0)(x)
    assert (float(y), float(tape.gradient(y, x))) == (2.0, 1.0)
    v = tf.Variable(3.0)
    block = tf.recompute_grad(lambda t: tf.sin(t) * v)
    plain = lambda t: tf.sin(t) * v  # noqa: E731
    for fn in (block, plain):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = fn(x) * fn(x)
        grads = tape.gradient(out, [x, v])
        if fn is block:
            got = [float(g) for g in grads]
        else:
            expected = [float(g) for g in grads]
    assert got == pytest.approx(expected, rel=1e-6)
    target = tf.Variable(0.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = tf.grad_pass_through(target.assign)(x)
    assert float(target) == pytest.approx(1.3) and float(tape.gradient(out, x)) == 1.0


def test_scopes_logger_and_symbolic_tests():
    created = []

    @tf.function
    def f(x):
        with tf.init_scope():
            created.append(tf.executing_eagerly())
        return tf.is_symbolic_tensor(x), x * 2

    symbolic, _ = f(tf.constant(1.0))
    assert created == [True] and symbolic
    assert not tf.is_symbolic_tensor(tf.constant(1.0))
    assert tf.get_logger().name == "tensorflux"
    assert tf.vectorized_map(lambda t: t * 2, tf.constant([[1.0, 2.0]])).numpy().tolist() == [
        [2.0, 4.0]]
    proto = tf.make_tensor_proto([1.0, 2.0], shape=[2, 1])
    assert proto.tensor_shape == [2, 1] and proto.dtype == tf.float32
    assert proto.tensor_content == np.array([1.0, 2.0], "<f4").tobytes()
    assert tf.make_ndarray(proto).tolist() == [[1.0], [2.0]]


def test_initializers():
    assert tf.constant_initializer([1.0, 2.0, 3.0, 4.0])([2, 2]).numpy().tolist() == [
        [1.0, 2.0], [3.0, 4.0]]
    assert tf.constant_initializer([1.0, 2.0]).get_config() == {"value": [1.0, 2.0]}
    assert tf.ones_initializer()([2], tf.int32).numpy().tolist() == [1, 1]
    assert tf.zeros_initializer()([2]).numpy().tolist() == [0.0, 0.0]
    init = tf.random_normal_initializer(seed=1)
    assert init.get_config() == {"mean": 0.0, "stddev": 0.05, "seed": 1}
    np.testing.assert_array_equal(init([3]), init([3]))
    samples = tf.random_uniform_initializer(-1.0, 1.0)([1000]).numpy()
    assert samples.min() >= -1.0 and samples.max() < 1.0 and samples.std() > 0.5
    assert tf.random_uniform_initializer.from_config(
        {"minval": 0.0, "maxval": 1.0, "seed": None}).maxval == 1.0
    assert tf.Variable(tf.ones_initializer()([2])).numpy().tolist() == [1.0, 1.0]


# ------------------------------------------------------------------ errors, dtypes, nest, config

def test_error_codes_and_dtype_ops():
    # TF 2.21's canonical codes.
    assert (tf.errors.OK, tf.errors.CANCELLED, tf.errors.INVALID_ARGUMENT, tf.errors.NOT_FOUND,
            tf.errors.OUT_OF_RANGE, tf.errors.UNAUTHENTICATED) == (0, 1, 3, 5, 11, 16)
    assert tf.errors.InvalidArgumentError.error_code == tf.errors.INVALID_ARGUMENT
    assert tf.errors.exception_type_from_error_code(5) is tf.errors.NotFoundError
    assert issubclass(tf.errors.OperatorNotAllowedInGraphError, TypeError)
    assert tf.dtypes.saturate_cast(tf.constant([300.0, -5.0]), tf.uint8).numpy().tolist() == [
        255, 0]
    assert complex(tf.dtypes.complex(1.0, 2.0)) == 1 + 2j
    assert int(tf.dtypes.cast(1.7, tf.int32)) == 1


def test_assert_same_structure():
    tf.nest.assert_same_structure({"a": [1, (2, 3)]}, {"a": [4, (5, 6)]})
    with pytest.raises(ValueError, match="same nested structure"):
        tf.nest.assert_same_structure([1, 2], [1])
    with pytest.raises(ValueError, match="keys"):
        tf.nest.assert_same_structure({"a": 1}, {"b": 1})
    with pytest.raises(TypeError, match="sequence type"):
        tf.nest.assert_same_structure([1, 2], (1, 2))
    tf.nest.assert_same_structure([1, 2], (1, 2), check_types=False)


def test_device_configuration_state():
    cpu = tf.config.list_physical_devices("CPU")[0]
    assert tf.config.get_visible_devices("CPU") == [cpu]
    with pytest.raises(ValueError, match="CPU cannot be hidden"):
        tf.config.set_visible_devices([], "CPU")
    gpus = tf.config.list_physical_devices("GPU")
    try:
        tf.config.set_visible_devices([], "GPU")
        assert tf.config.list_logical_devices("GPU") == []
        assert tf.config.get_visible_devices() == [cpu]
    finally:
        tf.config.set_visible_devices(gpus, "GPU")
    assert tf.config.get_logical_device_configuration(cpu) is None
    config = tf.config.LogicalDeviceConfiguration(memory_limit=100)
    assert tuple(config) == (100, None, None)
    try:
        tf.config.set_logical_device_configuration(cpu, [config, config])
        assert [d.name for d in tf.config.list_logical_devices("CPU")] == [
            "/device:CPU:0", "/device:CPU:1"]
        assert tf.config.get_logical_device_configuration(cpu) == [config, config]
    finally:
        tf.config.set_logical_device_configuration(cpu, None)
    assert tf.config.get_soft_device_placement() is True
    tf.config.set_soft_device_placement(False)
    assert tf.config.get_soft_device_placement() is False
    tf.config.set_soft_device_placement(True)
    assert tf.config.experimental.get_device_details(cpu) == {}
    with pytest.raises(ValueError, match="GPUs only"):
        tf.config.experimental.set_memory_growth(cpu, True)


ADDED = {
    "": "acosh asinh atanh batch_to_space space_to_batch space_to_batch_nd reverse_sequence "
        "dynamic_partition dynamic_stitch unique_with_counts tensor_scatter_nd_max "
        "tensor_scatter_nd_min histogram_fixed_width histogram_fixed_width_bins foldl foldr case "
        "group no_op identity_n shape_n parallel_stack realdiv truncatediv truncatemod "
        "unravel_index as_string hessians grad_pass_through recompute_grad init_scope get_logger "
        "constant_initializer ones_initializer zeros_initializer random_normal_initializer "
        "random_uniform_initializer is_symbolic_tensor broadcast_dynamic_shape "
        "broadcast_static_shape vectorized_map make_ndarray make_tensor_proto matrix_square_root",
    "math": "acosh asinh atanh lgamma digamma polygamma zeta betainc igamma igammac lbeta "
            "bessel_i0 bessel_i0e bessel_i1 bessel_i1e erfinv erfcinv ndtri erfc log_softmax "
            "softmax segment_max segment_mean segment_min segment_prod unsorted_segment_prod "
            "unsorted_segment_sqrt_n xdivy xlog1py zero_fraction reduce_euclidean_norm "
            "cumulative_logsumexp polyval rint is_non_decreasing is_strictly_increasing "
            "invert_permutation nextafter accumulate_n",
    "nn": "conv1d_transpose conv3d_transpose conv_transpose convolution atrous_conv2d "
          "atrous_conv2d_transpose separable_conv2d depth_to_space space_to_depth in_top_k "
          "local_response_normalization lrn weighted_cross_entropy_with_logits log_poisson_loss "
          "compute_average_loss scale_regularization_loss normalize_moments "
          "sufficient_statistics weighted_moments crelu max_pool_with_argmax dilation2d "
          "erosion2d sampled_softmax_loss nce_loss compute_accidental_hits zero_fraction "
          "space_to_batch",
    "random": "log_uniform_candidate_sampler uniform_candidate_sampler "
              "fixed_unigram_candidate_sampler all_candidate_sampler fold_in split",
    "linalg": "lu lu_solve lu_reconstruct lu_matrix_inverse logm sqrtm matrix_rank normalize "
              "tensor_diag tensor_diag_part tridiagonal_solve tridiagonal_matmul l2_normalize",
    "errors": "OK CANCELLED UNKNOWN INVALID_ARGUMENT DEADLINE_EXCEEDED NOT_FOUND ALREADY_EXISTS "
              "PERMISSION_DENIED RESOURCE_EXHAUSTED FAILED_PRECONDITION ABORTED OUT_OF_RANGE "
              "UNIMPLEMENTED INTERNAL UNAVAILABLE DATA_LOSS UNAUTHENTICATED",
    "dtypes": "cast complex saturate_cast",
    "nest": "assert_same_structure",
    "config": "set_visible_devices get_visible_devices get_soft_device_placement "
              "set_soft_device_placement LogicalDeviceConfiguration "
              "get_logical_device_configuration set_logical_device_configuration",
}


@pytest.mark.parametrize("namespace", sorted(ADDED))
def test_namespaces_offer_the_added_names(namespace):
    module = getattr(tf, namespace) if namespace else tf
    missing = [n for n in ADDED[namespace].split() if not hasattr(module, n)]
    assert not missing, f"tf.{namespace or '<top>'} lacks {missing}"
    if hasattr(module, "__all__") and namespace not in ("config", "errors", "dtypes", "nest"):
        assert not set(ADDED[namespace].split()) - set(module.__all__)
