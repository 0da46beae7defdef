"""Neural-network ops (tf.nn): activations, softmax and cross-entropies, normalization,
dropout, convolution and pooling."""

from tensorflux import dtypes, errors
from tensorflux.context import context, current_backend
from tensorflux.ops import array, linalg, math, reduction
from tensorflux.ops import random as _random
from tensorflux.ops._core import (
    as_operand,
    aval,
    const_like,
    normalize_axes,
    normalize_axis,
    unary_rule,
    unchanged,
)
from tensorflux.ops._static import RuntimeShape, host
from tensorflux.primitive import Primitive
from tensorflux.tensor import _TensorLike

__all__ = [
    "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu", "swish", "sigmoid", "tanh",
    "softplus", "softsign", "softmax", "log_softmax", "sigmoid_cross_entropy_with_logits",
    "softmax_cross_entropy_with_logits", "sparse_softmax_cross_entropy_with_logits",
    "l2_loss", "moments", "batch_normalization", "dropout", "bias_add", "conv1d", "conv2d",
    "depthwise_conv2d", "conv2d_transpose", "max_pool1d", "max_pool2d", "avg_pool1d",
    "avg_pool2d", "max_pool", "avg_pool", "conv3d", "max_pool3d", "avg_pool3d",
]

sigmoid = math.sigmoid
tanh = math.tanh
softplus = math.softplus
softsign = math.softsign


def _float_operand(op, x, what="input"):
    x = as_operand(op, x)
    if not x.dtype.is_floating:
        raise errors.InvalidArgumentError(
            f"{op}: the {what} must be a floating-point tensor, received dtype {x.dtype.name} "
            f"with shape {tuple(x.shape)}", op)
    return x


def _zero(x):
    return math.const(0, x)


def _linked(grad, x):
    """`grad`, the gradient of a piecewise-linear activation at `x`; while an outer tape
    records its computation (a gradient of a gradient), plus a term that is exactly 0 and
    depends on `x`, so that differentiating `grad` by `x` gives zeros, as TF's ReluGrad-style
    kernels do, where the comparison mask alone would leave it unconnected (None). Only then:
    first-order gradients, on every training step, keep their three-op form."""
    if not context.tapes:
        return grad
    return grad + math.cast(math.multiply_no_nan(x, _zero(x)), grad.dtype)


# ------------------------------------------------------------------ activations

# relu: max(x, 0) in one kernel; the cotangent passes where the output is positive (0 at 0).
# As TF's ReluGrad, `g * (out > 0)`: a multiply by the 0/1 mask has no data-dependent branch,
# where a select over a random sign pattern mispredicts half the time (16x slower in NumPy).
_relu = Primitive("relu", shape_rule=unary_rule,
                  vjp=lambda g, x, out: (_linked(math.multiply(
                      g, math.cast(math.greater(out, _zero(out)), g.dtype)), out),))


def relu(features, name=None):
    """max(features, 0) elementwise.

    >>> import tensorflux as tf
    >>> tf.nn.relu([-1.0, 2.0]).numpy().tolist()
    [0.0, 2.0]
    """
    out = math._fast_unary(_relu, features, "iuf")  # (a real numeric tensor)
    if out is not None:
        return out
    x = as_operand("relu", features)
    if not x.dtype.is_numeric or x.dtype.is_complex:
        raise errors.InvalidArgumentError(
            f"relu: expected a real numeric tensor, received dtype {x.dtype.name}", "relu")
    return _relu.bind(x)


def _relu6_vjp(g, x, out):
    inside = math.logical_and(math.greater(x, _zero(x)), math.less(x, math.const(6, x)))
    return (_linked(math.where(inside, g, math.zeros_like_(g)), x),)


# relu6: min(max(x, 0), 6); the cotangent passes strictly inside (0, 6), as TF's Relu6Grad.
_relu6 = Primitive("relu6", shape_rule=unary_rule, vjp=_relu6_vjp)


def relu6(features, name=None):
    """min(max(features, 0), 6) elementwise (integers keep their dtype, as in TF).

    >>> import tensorflux as tf
    >>> tf.nn.relu6([-1.0, 3.0, 8.0]).numpy().tolist()
    [0.0, 3.0, 6.0]
    """
    x = as_operand("relu6", features)
    if not x.dtype.is_numeric or x.dtype.is_complex:
        raise errors.InvalidArgumentError(
            f"relu6: expected a real numeric tensor, received dtype {x.dtype.name}", "relu6")
    return _relu6.bind(x)


def leaky_relu(features, alpha=0.2, name=None):
    """features where positive, alpha * features elsewhere.

    >>> import tensorflux as tf
    >>> tf.nn.leaky_relu([-1.0, 2.0], alpha=0.5).numpy().tolist()
    [-0.5, 2.0]
    """
    x = as_operand("leaky_relu", features)
    if x.dtype.is_integer:
        x = math.cast(x, dtypes.float32)
    x = _float_operand("leaky_relu", x)
    # relu(x) + alpha * min(x, 0): the same values as where(x > 0, x, alpha * x) (one of the
    # two terms is exactly 0) and the same gradient (alpha at 0, as TF's), but through relu,
    # whose gradient has a second derivative (zeros) where a select's has none.
    return relu(x) + math.minimum(x, _zero(x)) * alpha


# elu: x where x > 0, exp(x) - 1 elsewhere; d = 1 or out + 1, read from the output.
_elu = Primitive("elu", shape_rule=unary_rule,
                 vjp=lambda g, x, out: (math.where(math.greater(out, _zero(out)), g,
                                                   g * (out + math.const(1, out))),))


def elu(features, name=None):
    """The exponential linear unit: features if > 0 else exp(features) - 1.

    >>> import tensorflux as tf
    >>> tf.nn.elu([0.0, 1.0]).numpy().tolist()
    [0.0, 1.0]
    """
    return _elu.bind(_float_operand("elu", features))


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(features, name=None):
    """The scaled exponential linear unit: scale * (x if x > 0 else alpha * (exp(x) - 1)).

    >>> import tensorflux as tf
    >>> round(float(tf.nn.selu(1.0)), 6)
    1.050701
    """
    x = _float_operand("selu", features)
    # x >= 0 takes the linear branch, so the gradient at 0 is scale, as TensorFlow's.
    return math.where(math.greater_equal(x, _zero(x)), x * _SELU_SCALE,
                      elu(x) * (_SELU_SCALE * _SELU_ALPHA))


def gelu(features, approximate=False, name=None):
    """The Gaussian error linear unit: x * Phi(x), exactly (erf) or by the tanh approximation.

    >>> import tensorflux as tf
    >>> round(float(tf.nn.gelu(1.0)), 6)
    0.841345
    """
    x = _float_operand("gelu", features)
    if approximate:
        inner = (x + x * x * x * 0.044715) * 0.7978845608028654
        return x * 0.5 * (math.tanh(inner) + 1.0)
    return x * 0.5 * (math.erf(x * 0.7071067811865476) + 1.0)


def silu(features, beta=1.0, name=None):
    """The sigmoid linear unit (swish): features * sigmoid(beta * features).

    >>> import tensorflux as tf
    >>> tf.nn.silu(0.0).numpy().tolist()
    0.0
    """
    x = _float_operand("silu", features)
    if isinstance(beta, (int, float)) and beta == 1.0:
        return x * math.sigmoid(x)
    return x * math.sigmoid(x * beta)


swish = silu


# ------------------------------------------------------------------ softmax family

def _softmax_vjp(g, x, out, axis):
    # g - <g, out> loses the tail of the dominant entry (1 - out[i] rounds to 0); a second
    # pass on the residual recovers it, so the gradient stays exactly antisymmetric for two
    # classes (the 5.55e-17 tail of TF/JAX's small-component tests).
    rank = out.shape.rank
    if (rank is not None and rank >= 2 and axis == rank - 1 and g.dtype is out.dtype
            and out.dtype in (dtypes.float32, dtypes.float64)):
        # The same steps in one kernel (see _softmax_grad); other dtypes, axes and rank 1
        # (whose sums run as a GEMV, rounded differently) keep the op-by-op form below.
        return (_softmax_grad.bind(g, out, axis=axis),)
    residual = g - reduction.reduce_sum(g * out, axis=axis, keepdims=True)
    residual = residual - reduction.reduce_sum(residual * out, axis=axis, keepdims=True)
    return (out * residual,)


def _softmax_grad_vjp(h, g, y, out, axis):
    # softmax_grad is d = y * r2, r2 = r1 - <r1, y>, r1 = g - <g, y> (sums over axis), with
    # y taken as any input (not assumed to sum to 1). For the cotangent h of d, a = h * y:
    # r1's cotangent is b = a - y <a, 1>; g's is b - y <b, 1>; y's is h * r2 - r1 <a, 1>
    # - g <b, 1>.
    def total(t):
        return reduction.reduce_sum(t, axis=axis, keepdims=True)

    r1 = g - total(g * y)
    r2 = r1 - total(r1 * y)
    a = h * y
    sum_a = total(a)
    b = a - y * sum_a
    sum_b = total(b)
    return b - y * sum_b, h * r2 - r1 * sum_a - g * sum_b


# softmax: exp(x - max) / sum, stable for any finite logits; its VJP keeps small tails.
_softmax = Primitive("softmax", shape_rule=unary_rule, vjp=_softmax_vjp)
# softmax_grad: _softmax_vjp's float32/float64 last-axis steps in one kernel by blocks of
# rows on the threads, the same values: op by op they are five graph nodes and ~8 passes over
# memory with their temporaries (MultiHeadAttention's 32x4x64x64 scores: the largest of a
# Transformer block's backward nodes).
_softmax_grad = Primitive("softmax_grad", shape_rule=lambda g, y, axis: aval(y.shape, y.dtype),
                          vjp=_softmax_grad_vjp)

# log_softmax: (x - max) - log(sum(exp(x - max))), never overflows, finite for finfo.max;
# d = g - softmax * sum(g), with softmax = exp(out).
_log_softmax = Primitive(
    "log_softmax", shape_rule=unary_rule,
    vjp=lambda g, x, out, axis: (g - math.exp(out) * reduction.reduce_sum(g, axis=axis,
                                                                          keepdims=True),))


def _softmax_axis(op, x, axis):
    return normalize_axis(op, -1 if axis is None else axis, x.shape.rank)


def softmax(logits, axis=None, name=None):
    """exp(logits) / sum(exp(logits)) along axis (default: the last).

    >>> import tensorflux as tf
    >>> tf.nn.softmax([0.0, 0.0]).numpy().tolist()
    [0.5, 0.5]
    """
    x = _float_operand("softmax", logits, "logits")
    return _softmax.bind(x, axis=_softmax_axis("softmax", x, axis))


def log_softmax(logits, axis=None, name=None):
    """logits - log(sum(exp(logits))) along axis (default: the last), computed stably.

    >>> import tensorflux as tf
    >>> tf.nn.log_softmax([1000.0, 1000.0]).numpy().tolist()
    [-0.6931471824645996, -0.6931471824645996]
    """
    x = _float_operand("log_softmax", logits, "logits")
    return _log_softmax.bind(x, axis=_softmax_axis("log_softmax", x, axis))


# ------------------------------------------------------------------ cross-entropies

def _xent_operands(op, labels, logits, cast_labels=False):
    if labels is None or logits is None:
        raise errors.InvalidArgumentError(f"{op}: both labels and logits must be given", op)
    logits = _float_operand(op, logits, "logits")
    if cast_labels:
        # softmax_cross_entropy_with_logits casts labels to the logits' dtype, as TensorFlow.
        labels = as_operand(op, labels)
        if labels.dtype is not logits.dtype:
            labels = math.cast(labels, logits.dtype)
    labels = as_operand(op, labels, logits.dtype)
    if not labels.shape.is_compatible_with(logits.shape):
        raise errors.InvalidArgumentError(
            f"{op}: logits and labels must have the same shape, received logits of shape "
            f"{tuple(logits.shape)} and labels of shape {tuple(labels.shape)}", op)
    return labels, logits


# sigmoid_cross_entropy_with_logits: max(x, 0) - x*z + log1p(exp(-|x|)) in one kernel, exact
# at |x| = 100 even in float16 where the composite would overflow; d/dx = sigmoid(x) - z,
# d/dz = -x.
_sigmoid_xent = Primitive(
    "sigmoid_cross_entropy_with_logits", shape_rule=lambda z, x: aval(x.shape, x.dtype),
    vjp=lambda g, z, x, out: (g * math.negative(x), g * (math.sigmoid(x) - z)))


def sigmoid_cross_entropy_with_logits(labels=None, logits=None, name=None):
    """Elementwise binary cross-entropy of sigmoid(logits) against labels, from logits.

    >>> import tensorflux as tf
    >>> round(float(tf.nn.sigmoid_cross_entropy_with_logits(labels=1.0, logits=0.0)), 6)
    0.693147
    """
    labels, logits = _xent_operands("sigmoid_cross_entropy_with_logits", labels, logits)
    return _sigmoid_xent.bind(labels, logits)


def _keep_axis(g, axis):
    """g with a size-1 dimension put back at `axis` (where the class dimension was)."""
    shape = [d if d is not None else -1 for d in g.shape]
    shape.insert(axis, 1)
    return array.reshape(g, shape)


def _softmax_xent_vjp(g, labels, logits, out, axis):
    g = _keep_axis(g, axis)
    mass = reduction.reduce_sum(labels, axis=axis, keepdims=True)
    # The true derivative, mass * softmax - labels; equal to TF's softmax - labels whenever
    # labels are distributions, and still right when they are not.
    d_logits = g * (_softmax.bind(logits, axis=axis) * mass - labels)
    d_labels = g * math.negative(_log_softmax.bind(logits, axis=axis))
    return d_labels, d_logits


def _drop_axis_rule(labels, logits, axis):
    dims = list(logits.shape)
    del dims[axis]
    return aval(dims, logits.dtype)


# softmax_cross_entropy_with_logits: -sum(labels * log_softmax(logits)) in one max-shifted
# kernel; gradients flow to logits and to labels (TF2's _v2 behaviour).
_softmax_xent = Primitive("softmax_cross_entropy_with_logits", vjp=_softmax_xent_vjp,
                          shape_rule=_drop_axis_rule)


def softmax_cross_entropy_with_logits(labels, logits, axis=-1, name=None):
    """Cross-entropy between label distributions and softmax(logits) along axis.

    >>> import tensorflux as tf
    >>> round(float(tf.nn.softmax_cross_entropy_with_logits([0.0, 1.0], [0.0, 0.0])), 6)
    0.693147
    """
    op = "softmax_cross_entropy_with_logits"
    labels, logits = _xent_operands(op, labels, logits, cast_labels=True)
    return _softmax_xent.bind(labels, logits, axis=normalize_axis(op, axis, logits.shape.rank))


def _sparse_xent_vjp(g, labels, logits, out):
    depth = logits.shape[-1]
    hot = array.one_hot(labels, depth, dtype=logits.dtype)
    return None, _keep_axis(g, logits.shape.rank - 1) * (_softmax.bind(logits, axis=-1) - hot)


# sparse_softmax_cross_entropy_with_logits: -log_softmax(logits)[label] in one kernel, which
# also rejects labels outside [0, classes) whenever it runs (eager or in a graph).
_sparse_xent = Primitive(
    "sparse_softmax_cross_entropy_with_logits", vjp=_sparse_xent_vjp,
    shape_rule=lambda labels, logits: aval(list(logits.shape)[:-1], logits.dtype))


def sparse_softmax_cross_entropy_with_logits(labels=None, logits=None, name=None):
    """Cross-entropy of softmax(logits) against integer class labels in [0, classes).

    >>> import tensorflux as tf
    >>> round(float(tf.nn.sparse_softmax_cross_entropy_with_logits(1, [0.0, 0.0])), 6)
    0.693147
    """
    op = "sparse_softmax_cross_entropy_with_logits"
    if labels is None or logits is None:
        # A TypeError, as Python's for TensorFlow's required arguments.
        raise TypeError(f"{op}: both labels and logits must be given")
    logits = _float_operand(op, logits, "logits")
    labels = as_operand(op, labels)
    if not labels.dtype.is_integer:
        raise errors.InvalidArgumentError(
            f"{op}: labels must be integer class indices, received dtype {labels.dtype.name} "
            f"with shape {tuple(labels.shape)}", op)
    if logits.shape.rank == 0 or not labels.shape.is_compatible_with(
            list(logits.shape)[:-1]):
        raise errors.InvalidArgumentError(
            f"{op}: labels must have the shape of logits without its last (class) dimension, "
            f"received labels of shape {tuple(labels.shape)} and logits of shape "
            f"{tuple(logits.shape)}", op)
    return _sparse_xent.bind(labels, logits)


def l2_loss(t, name=None):
    """sum(t ** 2) / 2.

    >>> import tensorflux as tf
    >>> tf.nn.l2_loss([1.0, 2.0]).numpy().tolist()
    2.5
    """
    t = _float_operand("l2_loss", t)
    return reduction.reduce_sum(math.square(t)) * 0.5


# ------------------------------------------------------------------ normalization

def moments(x, axes, shift=None, keepdims=False, name=None):
    """The mean and variance of x over axes (float16 is accumulated in float32).

    >>> import tensorflux as tf
    >>> mean, variance = tf.nn.moments(tf.constant([1.0, 3.0]), axes=[0])
    >>> mean.numpy().tolist(), variance.numpy().tolist()
    (2.0, 1.0)
    """
    x = _float_operand("moments", x)
    axes = normalize_axes("moments", axes, x.shape.rank)
    y = math.cast(x, dtypes.float32) if x.dtype is dtypes.float16 else x
    mean = reduction.reduce_mean(y, axis=axes, keepdims=True)
    # TF stops the gradient through this mean: its first-order contribution is zero, but
    # cutting it makes second-order gradients wrong, so it is kept.
    variance = reduction.reduce_mean(math.squared_difference(y, mean), axis=axes, keepdims=True)
    if not keepdims:
        kept = [d if d is not None else -1 for i, d in enumerate(x.shape) if i not in axes]
        mean, variance = array.reshape(mean, kept), array.reshape(variance, kept)
    if x.dtype is dtypes.float16:
        mean, variance = math.cast(mean, x.dtype), math.cast(variance, x.dtype)
    return mean, variance


def batch_normalization(x, mean, variance, offset, scale, variance_epsilon, name=None):
    """(x - mean) * scale / sqrt(variance + epsilon) + offset (offset/scale may be None).

    >>> import tensorflux as tf
    >>> tf.nn.batch_normalization(tf.constant([3.0]), 1.0, 4.0, None, None, 0.0).numpy().tolist()
    [1.0]
    """
    x = _float_operand("batch_normalization", x)
    mean = as_operand("batch_normalization", mean, x.dtype)
    variance = as_operand("batch_normalization", variance, x.dtype)
    inv = math.rsqrt(variance + variance_epsilon)
    if scale is not None:
        inv = inv * as_operand("batch_normalization", scale, x.dtype)
    shift = math.negative(mean) * inv
    if offset is not None:
        shift = shift + as_operand("batch_normalization", offset, x.dtype)
    return x * inv + shift


# batch_norm_training: Keras's training-mode BatchNormalization over every axis but the last,
# (out, mean, variance) in one kernel: composed of reductions and elementwise ops it is ~10
# passes over the batch forward and as many back (28% of a conv + BN + relu step); fused, 3
# and 2. Its VJP is batch_norm_training_grad (dx, dgamma, dbeta in one kernel, cotangents of
# the returned statistics included), whose own VJP is the composite formula below, so
# gradients of gradients (a gradient penalty through a BN critic) work.
#
# activation="relu" (set only by graph.passes.fuse_batch_norm_activations, on graphs whose
# BN output only relu reads) makes out relu(bn(x)); the gradient node then takes relu's
# output y as an eighth input and uses dy * cast(y > 0), relu's VJP, for dy: the unfused
# ops' bits, with the relu and its mask in the BN kernels' passes. Where y is that fused
# node's output and the statistics its own, beta comes ninth, and the backend may find the
# mask from x (see numpy_backend.batch_norm_training_grad). With residual="left" (or
# "right") as well, the node takes a fourth input r and out is relu(r + bn(x)) (or relu(bn(x)
# + r)), a residual block's end; its VJP is relu's, then the add's (the masked cotangent to
# both bn(x) and r), then the plain gradient node: the unfused graph's ops.

def _bn_rule(x, gamma, beta, *r, epsilon, activation=None, residual=None):
    channels = aval(gamma.shape, x.dtype if x.dtype is not dtypes.float16 else dtypes.float32)
    return aval(x.shape, x.dtype), channels, channels


def _bn_vjp(g, x, gamma, beta, *r, out, epsilon, activation=None, residual=None):
    y, mean, variance = out
    dy, dmean, dvariance = g
    if residual is not None:
        # (relu(r + bn(x)): relu's VJP, then the add's, the same cotangent to both operands)
        dy = _relu.vjp(dy, None, y)[0]
        dx, dgamma, dbeta = _bn_grad.bind(x, gamma, mean, variance, dy, dmean, dvariance,
                                          epsilon=epsilon)
        return dx, dgamma, dbeta, dy
    if activation == "relu" and context.tapes:
        # (a gradient recorded for a gradient of it: relu's VJP as its own ops, as unfused)
        dy, activation = _relu.vjp(dy, None, y)[0], None
    if activation == "relu":
        return _bn_grad.bind(x, gamma, mean, variance, dy, dmean, dvariance, y, beta,
                             epsilon=epsilon, activation=activation)
    dx, dgamma, dbeta = _bn_grad.bind(x, gamma, mean, variance, dy, dmean, dvariance,
                                      epsilon=epsilon)
    return dx, dgamma, dbeta


def _bn_grad_rule(x, gamma, mean, variance, dy, dmean, dvariance, *y, epsilon,
                  activation=None):
    return aval(x.shape, x.dtype), aval(gamma.shape, gamma.dtype), aval(gamma.shape, gamma.dtype)


def _relu_mask(y, dtype):
    return math.cast(math.greater(y, _zero(y)), dtype)


def _row_sum(t):
    """Sums over every axis but the last (the rows of a (rows, channels) view)."""
    return reduction.reduce_sum(t, axis=list(range(t.shape.rank - 1)))


def _row_count(x, dtype):
    dims = x.shape[:-1]
    if None not in dims:
        count = 1
        for d in dims:
            count *= d
        return const_like(float(count), dtype)
    return math.cast(reduction.reduce_prod(array.shape(x)[:-1]), dtype)


def _bn_grad_vjp(h, x, gamma, mean, variance, dy, dmean, dvariance, *y, out, epsilon,
                 activation=None):
    if activation == "relu":  # (its dy is dy * mask: the plain VJP, chained through that)
        mask = _relu_mask(y[0], dy.dtype)
        grads = _bn_grad_vjp(h, x, gamma, mean, variance, math.multiply(dy, mask), dmean,
                             dvariance, out=out, epsilon=epsilon)
        return grads[:4] + (math.multiply(grads[4], mask),) + grads[5:] + (None,) * len(y)
    # batch_norm_training_grad is dx = k dy - k S1 / n + (2 dvariance / n - A) xc + dmean / n,
    # dgamma = inv S2, dbeta = S1, with xc = x - mean, inv = rsqrt(variance + epsilon),
    # k = gamma inv, S1 = sum(dy), S2 = sum(dy xc), A = gamma inv^3 S2 / n (sums over rows).
    # Its VJP for (hx, hgamma, hbeta), with H1 = sum(hx), H2 = sum(hx xc), H3 = sum(hx dy):
    hx, hgamma, hbeta = h
    dtype = x.dtype if x.dtype is not dtypes.float16 else dtypes.float32
    xf, dyf, hxf = (math.cast(t, dtype) for t in (x, dy, hx))
    n = _row_count(x, dtype)
    inv = math.rsqrt(variance + math.const(epsilon, variance))
    inv3 = inv * inv * inv
    centred = xf - mean
    s1, s2 = _row_sum(dyf), _row_sum(dyf * centred)
    h1, h2, h3 = _row_sum(hxf), _row_sum(hxf * centred), _row_sum(hxf * dyf)
    k = gamma * inv
    a = 2.0 * dvariance / n - gamma * inv3 * s2 / n
    # the cotangent of dy: through k dy, S1 (in dx and dbeta) and S2 (in A and dgamma)
    shared = hgamma * inv - gamma * inv3 * h2 / n
    ddy = k * (hxf - h1 / n) + centred * shared + hbeta
    # of x (through xc, mean held fixed: the statistics are inputs here)
    dcentred = a * hxf + dyf * shared
    dmean_in = -_row_sum(dcentred)
    dgamma = inv * h3 - inv * s1 * h1 / n - inv3 * s2 * h2 / n
    dinv = gamma * h3 - gamma * s1 * h1 / n - 3.0 * gamma * inv * inv * s2 * h2 / n \
        + hgamma * s2
    dvariance_in = dinv * (-0.5 * inv3)
    return (math.cast(dcentred, x.dtype), dgamma, dmean_in, dvariance_in,
            math.cast(ddy, dy.dtype), h1 / n, 2.0 * h2 / n)


_bn = Primitive("batch_norm_training", vjp=_bn_vjp, shape_rule=_bn_rule,
                multiple_results=True)
_bn_grad = Primitive("batch_norm_training_grad", vjp=_bn_grad_vjp, shape_rule=_bn_grad_rule,
                     multiple_results=True)


def batch_norm_training(x, scale, offset, epsilon, name=None):
    """Training-mode batch normalization over every axis but the last, as Keras's
    BatchNormalization: returns (out, mean, variance), with mean and the biased variance
    per channel (in float32 for float16 x) and out = (x - mean) * rsqrt(variance + epsilon)
    * scale + offset in x's dtype. One fused kernel, one fused gradient kernel.

    >>> import tensorflux as tf
    >>> from tensorflux.ops import nn
    >>> out, mean, variance = nn.batch_norm_training(tf.constant([[0.0], [2.0]]), [1.0],
    ...                                              [0.0], 0.0)
    >>> out.numpy().ravel().tolist(), mean.numpy().tolist(), variance.numpy().tolist()
    ([-1.0, 1.0], [1.0], [1.0])
    """
    op = "batch_norm_training"
    x = _float_operand(op, x)
    rank = x.shape.rank
    if rank is None or rank < 1:
        raise errors.InvalidArgumentError(
            f"{op}: the input must have at least one dimension (the channels, last), "
            f"received shape {tuple(x.shape) if rank is not None else 'of unknown rank'}", op)
    stats = dtypes.float32 if x.dtype is dtypes.float16 else x.dtype
    channels = x.shape[-1]
    params = []
    for what, value in (("scale", scale), ("offset", offset)):
        value = math.cast(as_operand(op, value), stats)
        shape = tuple(value.shape)
        if len(shape) != 1 or (None not in (shape[0], channels) and shape[0] != channels):
            raise errors.InvalidArgumentError(
                f"{op}: the {what} must have shape (channels,) = ({channels},), received "
                f"shape {shape}", op)
        params.append(value)
    return _bn.bind(x, *params, epsilon=float(epsilon))


# layer_norm: Keras's LayerNormalization (center and scale) over the trailing `count` axes in
# one kernel: composed, it is ten graph nodes forward and their VJPs back, many passes over
# the activations (about 5% of a Transformer block's training step). The kernel gives the
# composed ops' bits (see numpy_backend.layer_norm). Its VJP is layer_norm_grad (dx, dgamma,
# dbeta in one kernel), whose own VJP differentiates the same formula written with ops, so
# gradients of gradients work.

def _ln_rule(x, gamma, beta, epsilon, count):
    return aval(x.shape, x.dtype)


def _ln_vjp(g, x, gamma, beta, out, epsilon, count):
    return _ln_grad.bind(x, gamma, g, epsilon=epsilon, count=count)


def _ln_grad_rule(x, gamma, dy, epsilon, count):
    return aval(x.shape, x.dtype), aval(gamma.shape, gamma.dtype), aval(gamma.shape, gamma.dtype)


def _ln_grad_formula(x, gamma, dy, epsilon, count):
    """layer_norm_grad written with ops (its kernel's formula, not its bits)."""
    axes = list(range(x.shape.rank - count, x.shape.rank))
    rows = list(range(x.shape.rank - count))
    mean = reduction.reduce_mean(x, axis=axes, keepdims=True)
    centred = x - mean
    inv = math.rsqrt(reduction.reduce_mean(centred * centred, axis=axes, keepdims=True)
                     + math.const(epsilon, x))
    xhat = centred * inv
    g = dy * gamma
    a = reduction.reduce_mean(g, axis=axes, keepdims=True)
    b = reduction.reduce_mean(g * xhat, axis=axes, keepdims=True)
    return ((g - a - xhat * b) * inv, reduction.reduce_sum(dy * xhat, axis=rows),
            reduction.reduce_sum(dy, axis=rows))


def _ln_grad_vjp(h, x, gamma, dy, out, epsilon, count):
    from tensorflux.autodiff import GradientTape

    h = [array.zeros_like(o) if c is None else c for c, o in zip(h, out)]
    with GradientTape() as tape:
        tape.watch([x, gamma, dy])
        results = _ln_grad_formula(x, gamma, dy, epsilon, count)
    return tape.gradient(list(results), [x, gamma, dy], output_gradients=h,
                         unconnected_gradients="zero")


_ln = Primitive("layer_norm", vjp=_ln_vjp, shape_rule=_ln_rule)
_ln_grad = Primitive("layer_norm_grad", vjp=_ln_grad_vjp, shape_rule=_ln_grad_rule,
                     multiple_results=True)


def layer_norm(x, scale, offset, epsilon, count=1, name=None):
    """Layer normalization of a float32/float64 x over its trailing `count` axes, as Keras's
    LayerNormalization with center and scale: (x - mean) * (rsqrt(variance + epsilon) *
    scale) + offset, with the mean and biased variance of each row (scale and offset have
    the trailing axes' shape). One kernel forward, one for the gradient.

    >>> import tensorflux as tf
    >>> from tensorflux.ops import nn
    >>> nn.layer_norm(tf.constant([[1.0, 3.0]]), [1.0, 1.0], [0.0, 0.0], 0.0).numpy().tolist()
    [[-1.0, 1.0]]
    """
    op = "layer_norm"
    x = _float_operand(op, x)
    rank = x.shape.rank
    if x.dtype not in (dtypes.float32, dtypes.float64) or rank is None or not 0 < count <= rank:
        raise errors.InvalidArgumentError(
            f"{op}: needs a float32 or float64 input of at least {count} dimensions, received "
            f"{x.dtype.name} with shape {tuple(x.shape) if rank is not None else 'unknown'}", op)
    trailing = tuple(x.shape[rank - count:])
    params = []
    for what, value in (("scale", scale), ("offset", offset)):
        value = math.cast(as_operand(op, value), x.dtype)
        shape = tuple(value.shape)
        if len(shape) != count or any(None not in (s, t) and s != t
                                      for s, t in zip(shape, trailing)):
            raise errors.InvalidArgumentError(
                f"{op}: the {what} must have the normalized axes' shape {trailing}, received "
                f"shape {shape}", op)
        params.append(value)
    return _ln.bind(x, *params, epsilon=float(epsilon), count=int(count))


# ------------------------------------------------------------------ dropout

def dropout(x, rate, noise_shape=None, seed=None, name=None):
    """Zeroes each element with probability rate and scales the rest by 1 / (1 - rate).

    The mask comes from tf.random.uniform, so seeds follow TF's global/op-seed rules.

    >>> import tensorflux as tf
    >>> tf.nn.dropout(tf.ones([3]), rate=0.0).numpy().tolist()
    [1.0, 1.0, 1.0]
    """
    x = _float_operand("dropout", x)
    if isinstance(rate, _TensorLike):
        rate = host("dropout", rate, "rate")
    try:
        rate = float(rate)
    except (TypeError, ValueError) as error:
        raise errors.InvalidArgumentError(
            f"dropout: rate must be a float in the range [0, 1), received {rate!r}",
            "dropout") from error
    if not 0.0 <= rate < 1.0:
        raise errors.InvalidArgumentError(
            f"dropout: rate must be a float in the range [0, 1), received {rate}", "dropout")
    if rate == 0.0:
        return unchanged(x)
    shape = _noise_shape(x, noise_shape)
    keep = math.greater_equal(_random.uniform(shape, dtype=x.dtype, seed=seed), rate)
    return x * (1.0 / (1.0 - rate)) * math.cast(keep, x.dtype)


def _noise_shape(x, noise_shape):
    x_shape = tuple(x.shape)
    if noise_shape is None:
        shape = x_shape
    else:
        if isinstance(noise_shape, _TensorLike):
            noise_shape = host("dropout", noise_shape, "noise_shape").tolist()
        shape = tuple(x_shape[i] if d is None and i < len(x_shape) else d
                      for i, d in enumerate(noise_shape))
        fits = len(shape) == len(x_shape) and all(
            n == 1 or n == d or d is None for n, d in zip(shape, x_shape))
        if not fits:
            raise errors.InvalidArgumentError(
                f"dropout: noise_shape {list(noise_shape)} must broadcast to the input shape "
                f"{x_shape} (each entry 1 or the input's size)", "dropout")
    if None in shape:
        raise errors.InvalidArgumentError(
            f"dropout: the noise shape must be fully known, received {shape}", "dropout")
    return tuple(int(d) for d in shape)


def bias_add(value, bias, data_format=None, name=None):
    """value + bias along the channel dimension (last, or second for 'NC...' formats).

    >>> import tensorflux as tf
    >>> tf.nn.bias_add([[1.0, 2.0]], [10.0, 20.0]).numpy().tolist()
    [[11.0, 22.0]]
    """
    value = as_operand("bias_add", value)
    bias = as_operand("bias_add", bias, value.dtype)
    rank = value.shape.rank
    channels_first = data_format is not None and str(data_format).startswith("NC")
    if rank < 2 or bias.shape.rank != 1:
        raise errors.InvalidArgumentError(
            f"bias_add: expected a value of rank >= 2 and a bias of rank 1, received shapes "
            f"{tuple(value.shape)} and {tuple(bias.shape)}", "bias_add")
    channels = value.shape[1 if channels_first else -1]
    if channels is not None and bias.shape[0] is not None and channels != bias.shape[0]:
        raise errors.InvalidArgumentError(
            f"bias_add: the bias has {bias.shape[0]} elements but the value has {channels} "
            f"channels (value shape {tuple(value.shape)}, bias shape {tuple(bias.shape)}, "
            f"data_format {data_format or 'N...C'})", "bias_add")
    if channels_first:
        bias = array.reshape(bias, [-1] + [1] * (rank - 2))
    return value + bias


# ------------------------------------------------------------------ convolution geometry
# Spatial attrs are tuples over (height, width); padding is "SAME", "VALID" or explicit
# ((top, bottom), (left, right)). The backend resolves SAME per call with the same rule.

def _same_pads(size, k, stride, dilation):
    total = max((-(-size // stride) - 1) * stride + (k - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _out_sizes(in_sizes, ksizes, strides, padding, dilations):
    """Output spatial sizes (None where the input's is unknown)."""
    out = []
    for i, (n, k, s, d) in enumerate(zip(in_sizes, ksizes, strides, dilations)):
        if n is None or k is None:
            out.append(None)
            continue
        if padding == "VALID":
            before, after = 0, 0
        elif padding == "SAME":
            before, after = _same_pads(n, k, s, d)
        else:
            before, after = padding[i]
        out.append((n + before + after - (k - 1) * d - 1) // s + 1)
    return out


def _data_format(op, data_format, spatial):
    last, first = {1: ("NWC", "NCW"), 2: ("NHWC", "NCHW"), 3: ("NDHWC", "NCDHW")}[spatial]
    if data_format is None:
        return last
    fmt = str(data_format).upper()
    if fmt not in (last, first):
        raise errors.InvalidArgumentError(
            f"{op}: data_format must be '{last}' or '{first}', received {data_format!r}", op)
    return fmt


def _spatial(shape, data_format):
    """(n, spatial..., c) of a shape in data_format."""
    dims = list(shape)
    if data_format.startswith("NC"):
        return dims[0], dims[2:], dims[1]
    return dims[0], dims[1:-1], dims[-1]


def _from_spatial(n, sizes, c, data_format):
    return [n, c] + list(sizes) if data_format.startswith("NC") else [n] + list(sizes) + [c]


def _int_list(op, what, value, spatial, data_format):
    """An int or a list of 1, `spatial` or spatial + 2 ints, as a tuple of spatial ints."""
    if isinstance(value, _TensorLike):
        value = host(op, value, what).tolist()
    values = [value] if isinstance(value, int) else list(value)
    try:
        values = [int(v) for v in values]
    except (TypeError, ValueError) as error:
        raise errors.InvalidArgumentError(f"{op}: {what} must be ints, received {value!r}",
                                          op) from error
    if len(values) == 1:
        values = values * spatial
    elif len(values) == spatial + 2:
        _, inner, outer = _spatial(values, data_format)
        if values[0] != 1 or outer != 1:
            raise errors.InvalidArgumentError(
                f"{op}: {what} {value} must be 1 in the batch and channel dimensions", op)
        values = inner
    if len(values) != spatial or min(values) < 1:
        raise errors.InvalidArgumentError(
            f"{op}: {what} must be a positive int or a list of 1, {spatial} or {spatial + 2} "
            f"positive ints, received {value!r}", op)
    return tuple(values)


def _padding(op, padding, spatial, data_format, explicit=True):
    if isinstance(padding, str):
        name = padding.upper()
        if name in ("SAME", "VALID"):
            return name
    elif explicit and isinstance(padding, (list, tuple)):
        try:
            pairs = [tuple(int(p) for p in pair) for pair in padding]
        except (TypeError, ValueError):
            pairs = []
        if len(pairs) == spatial + 2:
            _, inner, outer = _spatial(pairs, data_format)
            pairs = inner if pairs[0] == (0, 0) and outer == (0, 0) else []
        if (len(pairs) == spatial and all(len(p) == 2 for p in pairs)
                and min(min(p) for p in pairs) >= 0):
            return tuple(pairs)
    allowed = "'SAME', 'VALID' or a list of explicit [before, after] paddings" if explicit \
        else "'SAME' or 'VALID'"
    raise errors.InvalidArgumentError(f"{op}: padding must be {allowed}, received {padding!r}",
                                      op)


def _check_window_fits(op, x_shape, data_format, ksizes, strides, padding, dilations, what):
    _, sizes, _ = _spatial(x_shape, data_format)
    out = _out_sizes(sizes, ksizes, strides, padding, dilations)
    if any(o is not None and o <= 0 for o in out):
        raise errors.InvalidArgumentError(
            f"{op}: the {what} does not fit the input: input shape {tuple(x_shape)} "
            f"({data_format}), window {tuple(ksizes)} with dilations {tuple(dilations)} and "
            f"padding {padding!r} would give an output of spatial size {tuple(out)}", op)


def _conv_rule(x, w, strides, padding, dilations, data_format):
    n, sizes, _ = _spatial(x.shape, data_format)
    ksizes = list(w.shape)[:2]
    out = _out_sizes(sizes, ksizes, strides, padding, dilations)
    return aval(_from_spatial(n, out, w.shape[3], data_format), x.dtype)


# The three convolution primitives are each other's VJPs: conv2d's input gradient is
# conv2d_backprop_input, its filter gradient conv2d_backprop_filter, and each of those is
# bilinear, so their own VJPs are again these three ops. Gradients of any order therefore
# stay convolutions (as in TF), with no per-pixel Python anywhere.

def _input_grad(w, g, x, attrs):
    """conv2d_backprop_input for input x; the kernel reads an unknown batch size from g, but
    unknown other dims (traced) need x's run-time shape, as in TF's input_sizes tensor."""
    if None in tuple(x.shape)[1:]:
        return _conv2d_backprop_input_dynamic.bind(
            w, g, array.shape(x), branches=RuntimeShape(_backprop_input_kernel, (2,), **attrs))
    return _conv2d_backprop_input.bind(w, g, input_shape=tuple(x.shape), **attrs)


def _backprop_input_kernel(backend, w, g, input_shape, **attrs):
    return backend.conv2d_backprop_input(w, g, tuple(input_shape), **attrs)


def _conv2d_vjp(g, x, w, out, wanted=(True, True), **attrs):
    # (a side the walker does not want, see Primitive: the images into a first conv layer,
    # is not computed)
    want_x, want_w = wanted
    return (_input_grad(w, g, x, attrs) if want_x else None,
            _conv2d_backprop_filter.bind(x, g, filter_shape=tuple(w.shape), **attrs)
            if want_w else None)


def _backprop_input_vjp(h, w, g, out, input_shape, **attrs):
    return (_conv2d_backprop_filter.bind(h, g, filter_shape=tuple(w.shape), **attrs),
            _conv2d.bind(h, w, **attrs))


def _backprop_input_dynamic_vjp(h, w, g, input_shape, out, branches):
    return _backprop_input_vjp(h, w, g, out, None, **branches.attrs) + (None,)


def _backprop_filter_vjp(h, x, g, out, filter_shape, **attrs):
    return (_input_grad(h, g, x, attrs), _conv2d.bind(x, h, **attrs))


# conv2d: 2-D cross-correlation with HWIO filters (grouped when input channels are a multiple
# of the filter depth); a primitive so the backend can use im2col and one matmul.
_conv2d = Primitive("conv2d", vjp=_conv2d_vjp, shape_rule=_conv_rule, vjp_wanted=True)
# conv2d_backprop_input(filters, grad): the input gradient of conv2d (a transposed conv).
_conv2d_backprop_input = Primitive(
    "conv2d_backprop_input", vjp=_backprop_input_vjp,
    shape_rule=lambda w, g, input_shape, **attrs: aval(input_shape, g.dtype))
# conv2d_backprop_input_dynamic(filters, grad, input_shape): the same for an input whose
# shape is known only at run time.
_conv2d_backprop_input_dynamic = Primitive(
    "conv2d_backprop_input_dynamic", kernel="cond", vjp=_backprop_input_dynamic_vjp,
    shape_rule=lambda w, g, input_shape, branches: array._dims_aval(input_shape, g.dtype))
# conv2d_backprop_filter(input, grad): the filter gradient of conv2d.
_conv2d_backprop_filter = Primitive(
    "conv2d_backprop_filter", vjp=_backprop_filter_vjp,
    shape_rule=lambda x, g, filter_shape, **attrs: aval(filter_shape, x.dtype))


def _conv_operands(op, x, w, rank):
    x = _float_operand(op, x)
    w = as_operand(op, w, x.dtype)
    if x.shape.rank != rank or w.shape.rank != rank:
        raise errors.InvalidArgumentError(
            f"{op}: expected an input and a filter of rank {rank}, received shapes "
            f"{tuple(x.shape)} and {tuple(w.shape)}", op)
    return x, w


def _check_channels(op, x_shape, w_shape, data_format):
    channels = _spatial(x_shape, data_format)[2]
    depth, out_channels = w_shape[-2], w_shape[-1]
    if channels is None or depth is None:
        return
    groups = channels // depth if depth else 0
    if depth == 0 or channels % depth or (out_channels is not None and out_channels % groups):
        raise errors.InvalidArgumentError(
            f"{op}: the input has {channels} channels (input shape {tuple(x_shape)}, "
            f"{data_format}) but the filter has input depth {depth} and {out_channels} output "
            f"channels (filter shape {tuple(w_shape)}); the input channels must equal the "
            f"filter depth (or be a multiple of it that also divides the output channels, "
            f"for a grouped convolution)", op)


def _conv2d_attrs(op, x, w, strides, padding, data_format, dilations):
    """conv2d's attributes for input x and filters w, checked."""
    strides = _int_list(op, "strides", strides, 2, data_format)
    dilations = _int_list(op, "dilations", 1 if dilations is None else dilations, 2,
                          data_format)
    padding = _padding(op, padding, 2, data_format)
    _check_channels(op, tuple(x.shape), tuple(w.shape), data_format)
    _check_window_fits(op, tuple(x.shape), data_format, tuple(w.shape)[:2], strides, padding,
                       dilations, f"filter of shape {tuple(w.shape)}")
    return {"strides": strides, "padding": padding, "dilations": dilations,
            "data_format": data_format}


def _conv2d_checked(op, x, w, strides, padding, data_format, dilations):
    return _conv2d.bind(x, w, **_conv2d_attrs(op, x, w, strides, padding, data_format,
                                              dilations))


def conv2d(input, filters, strides, padding, data_format="NHWC", dilations=None,  # noqa: A002
           name=None):
    """2-D convolution (cross-correlation) of NHWC/NCHW input with [h, w, in, out] filters.

    >>> import tensorflux as tf
    >>> x = tf.ones([1, 3, 3, 1])
    >>> tf.nn.conv2d(x, tf.ones([2, 2, 1, 1]), strides=1, padding="VALID").numpy().ravel().tolist()
    [4.0, 4.0, 4.0, 4.0]
    """
    x, w = _conv_operands("conv2d", input, filters, 4)
    data_format = _data_format("conv2d", data_format, 2)
    return _conv2d_checked("conv2d", x, w, strides, padding, data_format, dilations)


def conv2d_bias_relu(input, filters, bias, strides, padding, dilations=None,  # noqa: A002
                     relu=True):
    """relu(conv2d(input, filters) + bias) of NHWC input (without relu where `relu` is
    False) as one kernel call, which adds the bias and applies relu to each part of the
    convolution's output while it is in cache, where the three ops would make two more
    passes over it: the `fused_conv2d` that the graph passes make of those ops in a traced
    function, run eagerly (Keras's Conv2D calls it). Its values and its gradients (the
    primitive's VJP, from the output) are those ops', bit for bit. None where it does not
    apply, and the caller runs conv2d, bias_add and relu: while tracing (the passes fuse
    them), within passes.disabled(), on a backend without the kernel, or for a bias that
    is not a vector of the input's dtype over the output channels. Errors are conv2d's.

    >>> import tensorflux as tf
    >>> from tensorflux.ops import nn
    >>> x, w = tf.ones([1, 3, 3, 1]), tf.ones([2, 2, 1, 2])
    >>> nn.conv2d_bias_relu(x, w, tf.constant([-5.0, 1.0]), 1, "VALID").numpy()[0, 0].tolist()
    [[0.0, 5.0], [0.0, 5.0]]
    """
    from tensorflux.graph import passes

    if context.graph is not None or not passes.enabled():
        return None
    x, w = _conv_operands("conv2d", input, filters, 4)
    attrs = _conv2d_attrs("conv2d", x, w, strides, padding, "NHWC", dilations)
    bias = as_operand("bias_add", bias)
    if bias.dtype is not x.dtype or tuple(bias.shape) != (w.shape[3],):
        return None
    try:
        getattr(current_backend(), passes.fused_conv2d_primitive.kernel)
    except NotImplementedError:  # (a backend without it: cupy_backend)
        return None
    program = (("add", (0, 1), (), x.dtype),)
    if relu:
        program += (("relu", (2,), (), x.dtype),)
    return passes.fused_conv2d_primitive.bind(x, w, bias, program=program, register=0,
                                              **attrs)


def _expand_1d(x, data_format):
    """(n, w, c) -> (n, 1, w, c), or (n, c, w) -> (n, c, 1, w); by indexing, which needs no
    static sizes (a Conv1D over `Input((None, c))` has neither batch nor length)."""
    return x[:, :, None] if data_format == "NCW" else x[:, None]


def _squeeze_1d(y, data_format):
    return y[:, :, 0] if data_format == "NCW" else y[:, 0]


def _pairs_1d(padding, data_format):
    """1-D explicit padding ([before, after] pairs for 1 or 3 dims) as 2-D (h, w) pairs."""
    if isinstance(padding, (list, tuple)) and len(padding) in (1, 3):
        at = 0 if len(padding) == 1 else (2 if data_format == "NCW" else 1)
        return [[0, 0], padding[at]]
    return padding


def _ints_1d(op, what, value, data_format):
    return (1,) + _int_list(op, what, value, 1, data_format)


def conv1d(input, filters, stride, padding, data_format="NWC", dilations=None,  # noqa: A002
           name=None):
    """1-D convolution of NWC/NCW input with [width, in, out] filters (conv2d with h = 1).

    >>> import tensorflux as tf
    >>> tf.nn.conv1d(tf.ones([1, 4, 1]), tf.ones([2, 1, 1]), 1, "VALID").numpy().ravel().tolist()
    [2.0, 2.0, 2.0]
    """
    op = "conv1d"
    x, w = _conv_operands(op, input, filters, 3)
    data_format = _data_format(op, data_format, 1)
    format_2d = "NCHW" if data_format == "NCW" else "NHWC"
    strides = _ints_1d(op, "stride", stride, data_format)
    dilations = _ints_1d(op, "dilations", 1 if dilations is None else dilations, data_format)
    padding = _padding(op, _pairs_1d(padding, data_format), 2, format_2d)
    w2 = array.reshape(w, [1] + [d if d is not None else -1 for d in w.shape])
    y = _conv2d_checked(op, _expand_1d(x, data_format), w2, strides, padding, format_2d,
                        dilations)
    return _squeeze_1d(y, data_format)


def depthwise_conv2d(input, filter, strides, padding, data_format=None,  # noqa: A002
                     dilations=None, name=None):
    """Depthwise 2-D convolution: each input channel convolved with its own
    [h, w, in, multiplier] filters; output channel c * multiplier + m.

    >>> import tensorflux as tf
    >>> y = tf.nn.depthwise_conv2d(tf.ones([1, 2, 2, 2]), tf.ones([2, 2, 2, 1]), [1, 1, 1, 1],
    ...                            "VALID")
    >>> y.numpy().ravel().tolist()
    [4.0, 4.0]
    """
    op = "depthwise_conv2d"
    x, w = _conv_operands(op, input, filter, 4)
    data_format = _data_format(op, data_format, 2)
    channels = _spatial(x.shape, data_format)[2]
    kh, kw, depth, multiplier = tuple(w.shape)
    if channels is not None and depth is not None and channels != depth:
        raise errors.InvalidArgumentError(
            f"{op}: the input has {channels} channels (input shape {tuple(x.shape)}, "
            f"{data_format}) but the filter is for {depth} (filter shape {tuple(w.shape)})", op)
    # A depthwise conv is a grouped conv with one group per input channel.
    grouped = array.reshape(w, [kh, kw, 1, depth * multiplier])
    return _conv2d_checked(op, x, grouped, strides, padding, data_format, dilations)


def conv2d_transpose(input, filters, output_shape, strides, padding="SAME",  # noqa: A002
                     data_format="NHWC", dilations=None, name=None):
    """The transpose (gradient) of conv2d: maps conv2d's output shape back to output_shape.
    filters are [h, w, output_channels, input_channels].

    >>> import tensorflux as tf
    >>> y = tf.nn.conv2d_transpose(tf.ones([1, 1, 1, 1]), tf.ones([2, 2, 1, 1]), [1, 2, 2, 1],
    ...                            strides=1, padding="VALID")
    >>> y.numpy().ravel().tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    op = "conv2d_transpose"
    x, w = _conv_operands(op, input, filters, 4)
    data_format = _data_format(op, data_format, 2)
    if isinstance(output_shape, _TensorLike) and _known_at_run_time(output_shape):
        return _conv2d_transpose_dynamic(op, x, w, output_shape, strides, padding, data_format,
                                         dilations)
    if isinstance(output_shape, _TensorLike):
        output_shape = host(op, output_shape, "output_shape").tolist()
    # An unknown batch (None or -1, e.g. a Keras layer traced on a symbolic batch) is the
    # input's batch: the kernel reads it from the cotangent's shape.
    output_shape = tuple(None if d is None or int(d) == -1 else int(d) for d in output_shape)
    if len(output_shape) != 4 or None in output_shape[1:]:
        raise errors.InvalidArgumentError(
            f"{op}: output_shape must have 4 entries, received {list(output_shape)}", op)
    strides = _int_list(op, "strides", strides, 2, data_format)
    dilations = _int_list(op, "dilations", 1 if dilations is None else dilations, 2,
                          data_format)
    padding = _padding(op, padding, 2, data_format)
    n, sizes, channels = _spatial(output_shape, data_format)
    x_n, x_sizes, x_channels = _spatial(x.shape, data_format)
    expected = _out_sizes(sizes, tuple(w.shape)[:2], strides, padding, dilations)
    consistent = (channels == w.shape[2] and x_channels in (None, w.shape[3])
                  and (n is None or x_n in (None, n))
                  and all(e == s or s is None for e, s in zip(expected, x_sizes)))
    if not consistent:
        raise errors.InvalidArgumentError(
            f"{op}: output_shape {list(output_shape)} ({data_format}) does not match the input "
            f"shape {tuple(x.shape)} and filter shape {tuple(w.shape)}: a conv2d of that "
            f"output shape would have spatial size {tuple(expected)} and {w.shape[3]} channels",
            op)
    if n is None and x_n is not None:
        output_shape = (x_n,) + output_shape[1:]
    return _conv2d_backprop_input.bind(w, x, input_shape=output_shape, strides=strides,
                                       padding=padding, dilations=dilations,
                                       data_format=data_format)


def _known_at_run_time(shape):
    """Whether a traced output_shape tensor has spatial or channel entries that only the run
    time knows (a graph traced with unknown image sizes computes it from tf.shape)."""
    from tensorflux.graph.static import static_dims

    if shape._value is not None:
        return False
    dims = static_dims(shape)
    return dims is None or any(d is None or d < 0 for d in dims[1:])


def _conv2d_transpose_dynamic(op, x, w, output_shape, strides, padding, data_format,
                              dilations):
    """conv2d_transpose to an output shape known only at run time; the kernel checks that
    it matches the input (as TF's does then)."""
    if output_shape.shape.rank != 1 or output_shape.shape[0] not in (None, 4):
        raise errors.InvalidArgumentError(
            f"{op}: output_shape must have 4 entries, received a tensor of shape "
            f"{tuple(output_shape.shape)}", op)
    attrs = dict(strides=_int_list(op, "strides", strides, 2, data_format),
                 dilations=_int_list(op, "dilations", 1 if dilations is None else dilations,
                                     2, data_format),
                 padding=_padding(op, padding, 2, data_format), data_format=data_format)
    return _conv2d_backprop_input_dynamic.bind(
        w, x, math.cast(output_shape, dtypes.int32),
        branches=RuntimeShape(_backprop_input_kernel, (2,), **attrs))


# ------------------------------------------------------------------ pooling

def _pool_rule(x, ksize, strides, padding, data_format):
    n, sizes, c = _spatial(x.shape, data_format)
    out = _out_sizes(sizes, ksize, strides, padding, (1, 1))
    return aval(_from_spatial(n, out, c, data_format), x.dtype)


def _max_pool_vjp(g, x, out, **attrs):
    return (_max_pool2d_grad.bind(x, g, **attrs),)


# max_pool2d: the max of each window (padding never wins); a primitive with strided windows.
# Its gradient routes g to each window's first maximum (max_pool2d_grad), whose VJP in g
# gathers at those same positions (max_pool2d_gather), and back: all orders stay exact.
_max_pool2d = Primitive("max_pool2d", vjp=_max_pool_vjp, shape_rule=_pool_rule)
_max_pool2d_grad = Primitive(
    "max_pool2d_grad", shape_rule=lambda x, g, **attrs: aval(x.shape, g.dtype),
    vjp=lambda h, x, g, out, **attrs: (None, _max_pool2d_gather.bind(x, h, **attrs)))
_max_pool2d_gather = Primitive(
    "max_pool2d_gather", shape_rule=lambda x, v, **attrs: _pool_rule(v, **attrs),
    vjp=lambda h, x, v, out, **attrs: (None, _max_pool2d_grad.bind(x, h, **attrs)))


def _avg_pool_vjp(g, x, out, **attrs):
    if not x.shape.is_fully_defined():  # traced with unknown dims: the shape at run time
        return (_avg_pool2d_grad_dynamic.bind(g, array.shape(x), branches=RuntimeShape(
            _avg_pool_grad_kernel, (1,), **attrs)),)
    return (_avg_pool2d_grad.bind(g, input_shape=tuple(x.shape), **attrs),)


def _avg_pool_grad_kernel(backend, g, input_shape, **attrs):
    return backend.avg_pool2d_grad(g, tuple(input_shape), **attrs)


# avg_pool2d: the mean of each window over its real (unpadded) elements, as TF's SAME does.
# It is linear: its VJP spreads g back (avg_pool2d_grad), whose VJP is avg_pool2d again.
_avg_pool2d = Primitive("avg_pool2d", vjp=_avg_pool_vjp, shape_rule=_pool_rule)
_avg_pool2d_grad = Primitive(
    "avg_pool2d_grad", shape_rule=lambda g, input_shape, **attrs: aval(input_shape, g.dtype),
    vjp=lambda h, g, out, input_shape, **attrs: (_avg_pool2d.bind(h, **attrs),))
_avg_pool2d_grad_dynamic = Primitive(
    "avg_pool2d_grad_dynamic", kernel="cond",
    shape_rule=lambda g, input_shape, branches: array._dims_aval(input_shape, g.dtype),
    vjp=lambda h, g, input_shape, out, branches: (_avg_pool2d.bind(h, **branches.attrs), None))


def _pool2d(op, primitive, x, ksize, strides, padding, data_format, explicit):
    x = as_operand(op, x)
    if not x.dtype.is_numeric or x.dtype.is_complex or (
            primitive is _avg_pool2d and not x.dtype.is_floating):
        kind = "floating-point" if primitive is _avg_pool2d else "real numeric"
        raise errors.InvalidArgumentError(
            f"{op}: expected a {kind} tensor, received dtype {x.dtype.name}", op)
    if x.shape.rank != 4:
        raise errors.InvalidArgumentError(
            f"{op}: expected an input of rank 4, received shape {tuple(x.shape)}", op)
    data_format = _data_format(op, data_format, 2)
    ksize = _int_list(op, "ksize", ksize, 2, data_format)
    strides = _int_list(op, "strides", strides, 2, data_format)
    padding = _padding(op, padding, 2, data_format, explicit=explicit)
    _check_window_fits(op, tuple(x.shape), data_format, ksize, strides, padding, (1, 1),
                       f"pooling window {list(ksize)}")
    return primitive.bind(x, ksize=ksize, strides=strides, padding=padding,
                          data_format=data_format)


def max_pool2d(input, ksize, strides, padding, data_format="NHWC", name=None):  # noqa: A002
    """The max over each ksize window of an NHWC/NCHW tensor.

    >>> import tensorflux as tf
    >>> x = tf.reshape(tf.constant([float(i) for i in range(16)]), [1, 4, 4, 1])
    >>> tf.nn.max_pool2d(x, 2, 2, "VALID").numpy().ravel().tolist()
    [5.0, 7.0, 13.0, 15.0]
    """
    return _pool2d("max_pool2d", _max_pool2d, input, ksize, strides, padding, data_format,
                   explicit=True)


def avg_pool2d(input, ksize, strides, padding, data_format="NHWC", name=None):  # noqa: A002
    """The mean over each ksize window; with SAME, only real elements are averaged.

    >>> import tensorflux as tf
    >>> x = tf.reshape(tf.constant([float(i) for i in range(16)]), [1, 4, 4, 1])
    >>> tf.nn.avg_pool2d(x, 2, 2, "VALID").numpy().ravel().tolist()
    [2.5, 4.5, 10.5, 12.5]
    """
    return _pool2d("avg_pool2d", _avg_pool2d, input, ksize, strides, padding, data_format,
                   explicit=False)


def _pool1d(op, primitive, x, ksize, strides, padding, data_format, explicit):
    x = as_operand(op, x)
    if x.shape.rank != 3:
        raise errors.InvalidArgumentError(
            f"{op}: expected an input of rank 3, received shape {tuple(x.shape)}", op)
    data_format = _data_format(op, data_format, 1)
    format_2d = "NCHW" if data_format == "NCW" else "NHWC"
    ksize = _ints_1d(op, "ksize", ksize, data_format)
    strides = _ints_1d(op, "strides", strides, data_format)
    padding = _padding(op, _pairs_1d(padding, data_format), 2, format_2d, explicit=explicit)
    y = _pool2d(op, primitive, _expand_1d(x, data_format), ksize, strides, padding, format_2d,
                explicit)
    return _squeeze_1d(y, data_format)


def max_pool1d(input, ksize, strides, padding, data_format="NWC", name=None):  # noqa: A002
    """The max over each window of an NWC/NCW tensor.

    >>> import tensorflux as tf
    >>> tf.nn.max_pool1d([[[1.0], [3.0], [2.0], [0.0]]], 2, 2, "VALID").numpy().ravel().tolist()
    [3.0, 2.0]
    """
    return _pool1d("max_pool1d", _max_pool2d, input, ksize, strides, padding, data_format,
                   explicit=True)


def avg_pool1d(input, ksize, strides, padding, data_format="NWC", name=None):  # noqa: A002
    """The mean over each window of an NWC/NCW tensor.

    >>> import tensorflux as tf
    >>> tf.nn.avg_pool1d([[[1.0], [3.0], [2.0], [0.0]]], 2, 2, "VALID").numpy().ravel().tolist()
    [2.0, 1.0]
    """
    return _pool1d("avg_pool1d", _avg_pool2d, input, ksize, strides, padding, data_format,
                   explicit=False)


def _pool_by_rank(op, pool1d, pool2d, x, ksize, strides, padding, data_format):
    x = as_operand(op, x)
    rank = x.shape.rank
    if rank == 3:
        return pool1d(x, ksize, strides, padding, data_format or "NWC")
    if rank == 4:
        return pool2d(x, ksize, strides, padding, data_format or "NHWC")
    if rank == 5:
        pool3d = max_pool3d if pool2d is max_pool2d else avg_pool3d
        return pool3d(x, ksize, strides, padding, data_format or "NDHWC")
    raise errors.InvalidArgumentError(
        f"{op}: expected an input of rank 3 or 4 (or 5 for 3-D pooling), received shape "
        f"{tuple(x.shape)}", op)


def max_pool(input, ksize, strides, padding, data_format=None, name=None):  # noqa: A002
    """max_pool1d, max_pool2d or max_pool3d, chosen by the input's rank (3, 4 or 5).

    >>> import tensorflux as tf
    >>> tf.nn.max_pool(tf.ones([1, 2, 2, 1]), 2, 2, "VALID").shape
    TensorShape([1, 1, 1, 1])
    """
    return _pool_by_rank("max_pool", max_pool1d, max_pool2d, input, ksize, strides, padding,
                         data_format)


def avg_pool(input, ksize, strides, padding, data_format=None, name=None):  # noqa: A002
    """avg_pool1d, avg_pool2d or avg_pool3d, chosen by the input's rank (3, 4 or 5).

    >>> import tensorflux as tf
    >>> tf.nn.avg_pool(tf.ones([1, 4, 1]), 2, 2, "VALID").shape
    TensorShape([1, 2, 1])
    """
    return _pool_by_rank("avg_pool", avg_pool1d, avg_pool2d, input, ksize, strides, padding,
                         data_format)


# ------------------------------------------------------------------ 3-D convolution and pooling
# Composites of the 2-D primitives (so their gradients, of any order, come for free and the
# backends need no 3-D kernels): a conv3d is one conv2d whose channels are the kd depth taps
# stacked; a 3-D max or average pool is separable into a (h, w) pool then a depth pool (the
# max of maxes is the max; SAME averages count real elements, whose number is the product of
# the per-dimension counts, so the average of averages is the average).

def _to_ndhwc(x, data_format):
    return linalg.transpose(x, [0, 2, 3, 4, 1]) if data_format == "NCDHW" else x


def _from_ndhwc(y, data_format):
    return linalg.transpose(y, [0, 4, 1, 2, 3]) if data_format == "NCDHW" else y


def _dims(shape):
    return [d if d is not None else -1 for d in shape]


def conv3d(input, filters, strides, padding, data_format="NDHWC", dilations=None,  # noqa: A002
           name=None):
    """3-D convolution of NDHWC/NCDHW input with [d, h, w, in, out] filters.

    >>> import tensorflux as tf
    >>> y = tf.nn.conv3d(tf.ones([1, 3, 3, 3, 1]), tf.ones([2, 2, 2, 1, 1]), [1, 1, 1, 1, 1],
    ...                  "VALID")
    >>> y.shape, float(y[0, 0, 0, 0, 0])
    (TensorShape([1, 2, 2, 2, 1]), 8.0)
    """
    op = "conv3d"
    x, w = _conv_operands(op, input, filters, 5)
    data_format = _data_format(op, data_format, 3)
    strides = _int_list(op, "strides", strides, 3, data_format)
    dilations = _int_list(op, "dilations", 1 if dilations is None else dilations, 3,
                          data_format)
    padding = _padding(op, padding, 3, data_format, explicit=False)
    n, (d, h, wd), c = _spatial(tuple(x.shape), data_format)
    kd, kh, kw, depth, out_channels = tuple(w.shape)
    _check_channels(op, tuple(x.shape), tuple(w.shape), data_format)
    _check_window_fits(op, tuple(x.shape), data_format, (kd, kh, kw), strides, padding,
                       dilations, f"filter of shape {tuple(w.shape)}")
    if d is None or c is None:
        raise errors.InvalidArgumentError(
            f"{op}: the depth and channel dimensions must be known, received input shape "
            f"{tuple(x.shape)} ({data_format})", op)
    x = _to_ndhwc(x, data_format)
    (sd, sh, sw), (dd, dh, dw) = strides, dilations
    before, after = _same_pads(d, kd, sd, dd) if padding == "SAME" else (0, 0)
    if before or after:
        x = array.pad(x, [[0, 0], [before, after], [0, 0], [0, 0], [0, 0]])
    d_out = (d + before + after - (kd - 1) * dd - 1) // sd + 1
    taps = [x[:, i * dd:i * dd + sd * (d_out - 1) + 1:sd] for i in range(kd)]
    stacked = array.stack(taps, axis=4) if kd > 1 else array.expand_dims(taps[0], 4)
    # (n, d_out, h, w, kd, c) -> (n * d_out, h, w, channels) with the channel order
    # (group, tap, channel in group) that the reshaped (kh, kw, kd * depth, out) filter reads.
    groups = c // depth
    rows = _dims(tuple(stacked.shape))
    if groups > 1:
        stacked = array.reshape(stacked, rows[:5] + [groups, depth])
        stacked = linalg.transpose(stacked, [0, 1, 2, 3, 5, 4, 6])
    planes = array.reshape(stacked, [-1, rows[2], rows[3], kd * c])
    w2 = array.reshape(linalg.transpose(w, [1, 2, 0, 3, 4]), [kh, kw, kd * depth, out_channels])
    y = _conv2d.bind(planes, w2, strides=(sh, sw), padding=padding, dilations=(dh, dw),
                     data_format="NHWC")
    y = array.reshape(y, [-1, d_out] + _dims(tuple(y.shape))[1:])
    return _from_ndhwc(y, data_format)


def _pool3d(op, pool2d, x, ksize, strides, padding, data_format):
    x = as_operand(op, x)
    if x.shape.rank != 5:
        raise errors.InvalidArgumentError(
            f"{op}: expected an input of rank 5, received shape {tuple(x.shape)}", op)
    data_format = _data_format(op, data_format, 3)
    ksize = _int_list(op, "ksize", ksize, 3, data_format)
    strides = _int_list(op, "strides", strides, 3, data_format)
    padding = _padding(op, padding, 3, data_format, explicit=False)
    _check_window_fits(op, tuple(x.shape), data_format, ksize, strides, padding, (1, 1, 1),
                       f"pooling window {list(ksize)}")
    _, (d, h, w), c = _spatial(tuple(x.shape), data_format)
    if None in (d, h, w, c):
        raise errors.InvalidArgumentError(
            f"{op}: the spatial and channel dimensions must be known, received input shape "
            f"{tuple(x.shape)} ({data_format})", op)
    x = _to_ndhwc(x, data_format)
    planes = pool2d(array.reshape(x, [-1, h, w, c]), ksize[1:], strides[1:], padding)
    ho, wo = tuple(planes.shape)[1:3]
    columns = pool2d(array.reshape(planes, [-1, d, ho * wo, c]), (ksize[0], 1),
                     (strides[0], 1), padding)
    y = array.reshape(columns, [-1, tuple(columns.shape)[1], ho, wo, c])
    return _from_ndhwc(y, data_format)


def max_pool3d(input, ksize, strides, padding, data_format="NDHWC", name=None):  # noqa: A002
    """The max over each ksize window of an NDHWC/NCDHW tensor.

    >>> import tensorflux as tf
    >>> x = tf.reshape(tf.constant([float(i) for i in range(8)]), [1, 2, 2, 2, 1])
    >>> tf.nn.max_pool3d(x, 2, 2, "VALID").numpy().ravel().tolist()
    [7.0]
    """
    return _pool3d("max_pool3d", max_pool2d, input, ksize, strides, padding, data_format)


def avg_pool3d(input, ksize, strides, padding, data_format="NDHWC", name=None):  # noqa: A002
    """The mean over each ksize window; with SAME, only real elements are averaged.

    >>> import tensorflux as tf
    >>> x = tf.reshape(tf.constant([float(i) for i in range(8)]), [1, 2, 2, 2, 1])
    >>> tf.nn.avg_pool3d(x, 2, 2, "VALID").numpy().ravel().tolist()
    [3.5]
    """
    return _pool3d("avg_pool3d", avg_pool2d, input, ksize, strides, padding, data_format)


# ------------------------------------------------------------------ recurrent sequences (helper)
# Whole-sequence LSTM/GRU recurrences: one primitive runs every timestep (the input projection
# x@W is one matmul done by the caller before it), and keeps the gate activations that its
# backward-sequence primitive (BPTT in one kernel) needs. First-order gradients are exact; the
# backward primitives have no VJP of their own, so second-order gradients through a fused
# recurrence raise (use the per-step cell ops when they are needed).

def _rnn_operands(op, xw, states, kernel, mask, gates):
    xw = _float_operand(op, xw, "input projection")
    dtype = xw.dtype
    if len(xw.shape) != 3:
        raise errors.InvalidArgumentError(
            f"{op}: the input projection must have shape (batch, time, {gates}*units), "
            f"received shape {tuple(xw.shape)}", op)
    kernel = as_operand(op, kernel, dtype)
    if kernel.dtype is not dtype:
        raise errors.InvalidArgumentError(
            f"{op}: the recurrent kernel must be {dtype.name} like the input, received "
            f"{kernel.dtype.name}", op)
    ks = tuple(kernel.shape)
    if len(ks) != 2 or (ks[0] is not None and ks[1] is not None and ks[1] != gates * ks[0]):
        raise errors.InvalidArgumentError(
            f"{op}: the recurrent kernel must have shape (units, {gates}*units), received "
            f"shape {ks}", op)
    units = ks[0]
    b, t, width = tuple(xw.shape)
    if width is not None and units is not None and width != gates * units:
        raise errors.InvalidArgumentError(
            f"{op}: the input projection's last dimension must be {gates}*units = "
            f"{gates * units}, received shape {tuple(xw.shape)}", op)
    checked = []
    for what, s in states:
        s = as_operand(op, s, dtype)
        shape = tuple(s.shape)
        if len(shape) != 2 or any(a is not None and e is not None and a != e
                                  for a, e in zip(shape, (b, units))):
            raise errors.InvalidArgumentError(
                f"{op}: the initial {what} must have shape (batch, units) = {(b, units)}, "
                f"received shape {shape}", op)
        checked.append(s)
    extra = ()
    if mask is not None:
        mask = as_operand(op, mask)
        shape = tuple(mask.shape)
        if len(shape) != 2 or any(a is not None and e is not None and a != e
                                  for a, e in zip(shape, (b, t))):
            raise errors.InvalidArgumentError(
                f"{op}: the mask must have shape (batch, time) = {(b, t)}, received shape "
                f"{tuple(mask.shape)}", op)
        if mask.dtype is not dtype:
            mask = math.cast(mask, dtype)
        extra = (mask,)
    return xw, checked, kernel, extra


def _lstm_sequence_rule(xw, h0, c0, kernel, *mask, go_backwards):
    b, t, width = xw.shape
    return (aval((b, t, kernel.shape[0]), xw.dtype), aval((b, t, kernel.shape[0]), xw.dtype),
            aval((b, t, width), xw.dtype))


def _lstm_sequence_vjp(g, xw, h0, c0, kernel, *mask, out, go_backwards):
    hs, cs, gates = out
    ghs, gcs, ggates = g
    dxw, dh0, dc0, dkernel = _lstm_sequence_grad.bind(
        h0, c0, kernel, hs, cs, gates, ghs, gcs, ggates, *mask, go_backwards=go_backwards)
    return (dxw, dh0, dc0, dkernel) + (None,) * len(mask)


def _lstm_sequence_grad_rule(h0, c0, kernel, hs, cs, gates, *rest, go_backwards):
    return (aval(gates.shape, gates.dtype), aval(h0.shape, h0.dtype), aval(c0.shape, c0.dtype),
            aval(kernel.shape, kernel.dtype))


# lstm_sequence: (hs, cs, gates) of the whole recurrence, gates [i, f, c, o] post-activation;
# its VJP is lstm_sequence_grad, the fused backward-through-time kernel.
_lstm_sequence = Primitive("lstm_sequence", vjp=_lstm_sequence_vjp,
                           shape_rule=_lstm_sequence_rule, multiple_results=True)
_lstm_sequence_grad = Primitive("lstm_sequence_grad", shape_rule=_lstm_sequence_grad_rule,
                                multiple_results=True)


def lstm_sequence(xw, h0, c0, recurrent_kernel, mask=None, go_backwards=False, name=None):
    """Runs a Keras LSTM (sigmoid gates, tanh) over a whole sequence in one fused kernel.

    `xw` is the input projection x@W + b of shape (batch, time, 4*units), gate blocks
    [i, f, c, o]; returns (hs, cs): the hidden and carry states after each step, in processing
    order (reversed time when `go_backwards`). Where `mask` (batch, time) is 0 a step keeps
    the previous states.

    >>> import tensorflux as tf
    >>> from tensorflux.ops import nn
    >>> hs, cs = nn.lstm_sequence(tf.zeros([1, 2, 4]), tf.zeros([1, 1]), tf.ones([1, 1]),
    ...                           tf.zeros([1, 4]))
    >>> [round(v, 4) for v in cs.numpy().ravel().tolist()]
    [0.5, 0.25]
    """
    xw, (h0, c0), kernel, extra = _rnn_operands(
        "lstm_sequence", xw, (("hidden state", h0), ("carry state", c0)), recurrent_kernel,
        mask, 4)
    hs, cs, _ = _lstm_sequence.bind(xw, h0, c0, kernel, *extra,
                                    go_backwards=bool(go_backwards))
    return hs, cs


def _gru_sequence_rule(xw, h0, kernel, bias, *mask, reset_after, go_backwards):
    b, t, width = xw.shape
    units = kernel.shape[0]
    return (aval((b, t, units), xw.dtype), aval((b, t, width), xw.dtype),
            aval((b, t, units), xw.dtype))


def _gru_sequence_vjp(g, xw, h0, kernel, bias, *mask, out, reset_after, go_backwards):
    hs, gates, aux = out
    ghs, ggates, gaux = g
    dxw, dh0, dkernel, dbias = _gru_sequence_grad.bind(
        h0, kernel, hs, gates, aux, ghs, ggates, gaux, *mask, reset_after=reset_after,
        go_backwards=go_backwards)
    return (dxw, dh0, dkernel, dbias) + (None,) * len(mask)


def _gru_sequence_grad_rule(h0, kernel, hs, gates, aux, *rest, reset_after, go_backwards):
    return (aval(gates.shape, gates.dtype), aval(h0.shape, h0.dtype),
            aval(kernel.shape, kernel.dtype), aval((kernel.shape[1],), kernel.dtype))


# gru_sequence: (hs, gates [z, r, hh], aux) of the whole recurrence; aux is h@U_h + b_h
# (reset_after) or r*h (reset before), kept for the fused backward kernel gru_sequence_grad.
_gru_sequence = Primitive("gru_sequence", vjp=_gru_sequence_vjp, shape_rule=_gru_sequence_rule,
                          multiple_results=True)
_gru_sequence_grad = Primitive("gru_sequence_grad", shape_rule=_gru_sequence_grad_rule,
                               multiple_results=True)


def gru_sequence(xw, h0, recurrent_kernel, recurrent_bias=None, mask=None, reset_after=True,
                 go_backwards=False, name=None):
    """Runs a Keras GRU (sigmoid gates, tanh) over a whole sequence in one fused kernel.

    `xw` is the input projection x@W + b_input of shape (batch, time, 3*units), gate blocks
    [z, r, h]; `recurrent_bias` (3*units,) is added to h@U when `reset_after`. Returns the
    hidden state after each step, in processing order; masked steps keep the previous state.

    >>> import tensorflux as tf
    >>> from tensorflux.ops import nn
    >>> hs = nn.gru_sequence(tf.zeros([1, 2, 3]), tf.ones([1, 1]), tf.zeros([1, 3]))
    >>> [round(v, 4) for v in hs.numpy().ravel().tolist()]
    [0.5, 0.25]
    """
    xw, (h0,), kernel, extra = _rnn_operands("gru_sequence", xw, (("hidden state", h0),),
                                             recurrent_kernel, mask, 3)
    width = tuple(kernel.shape)[1]
    if recurrent_bias is None:
        bias = array.zeros([width], dtype=xw.dtype)
    else:
        bias = as_operand("gru_sequence", recurrent_bias, xw.dtype)
        if tuple(bias.shape) != (width,):
            raise errors.InvalidArgumentError(
                f"gru_sequence: the recurrent bias must have shape ({width},), received shape "
                f"{tuple(bias.shape)}", "gru_sequence")
    hs, _, _ = _gru_sequence.bind(xw, h0, kernel, bias, *extra, reset_after=bool(reset_after),
                                  go_backwards=bool(go_backwards))
    return hs


__all__ += ["lstm_sequence", "gru_sequence"]
