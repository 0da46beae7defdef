"""keras.activations: Keras 3's activation functions, names and defaults, plus get/serialize.

Each function follows Keras 3's formula (keras/src/activations/activations.py and the backend
nn ops it calls) written with tensorflux ops, so gradients come from the op library.
"""

import math as _math

from tensorflux.keras import _objects
from tensorflux.tensor import Tensor as _Tensor

__all__ = [
    "celu", "deserialize", "elu", "exponential", "gelu", "get", "glu", "hard_shrink",
    "hard_sigmoid", "hard_silu", "hard_swish", "hard_tanh", "leaky_relu", "linear", "log_sigmoid",
    "log_softmax", "mish", "relu", "relu6", "selu", "serialize", "sigmoid", "silu", "soft_shrink",
    "softmax", "softplus", "softsign", "sparse_plus", "sparse_sigmoid", "sparsemax",
    "squareplus", "swish", "tanh", "tanh_shrink", "threshold",
]

_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


def _tf():
    import tensorflux as tf

    return tf


def _tensor(x):
    if x.__class__ is _Tensor:  # (an eager tensor, the usual argument: nothing to convert)
        return x
    return _tf().convert_to_tensor(x)


def _const(value, x):
    return _tf().constant(value, dtype=x.dtype)


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """max(x, 0) with Keras's options: a leaky slope, a ceiling and a threshold.

    >>> from tensorflux.keras import activations
    >>> activations.relu([-2.0, 1.0, 8.0], max_value=6.0).numpy().tolist()
    [0.0, 1.0, 6.0]
    """
    tf = _tf()
    x = _tensor(x)
    if negative_slope == 0.0 and max_value is None and threshold == 0:  # (the default)
        return tf.nn.relu(x)
    if negative_slope != 0.0:
        if max_value is None and threshold == 0:
            return tf.maximum(x, x * _const(negative_slope, x))
        negative_part = tf.nn.relu(_const(threshold, x) - x) if threshold != 0 \
            else tf.nn.relu(-x)
    clip_max = max_value is not None
    if threshold != 0:
        x = tf.where(x > _const(threshold, x), x, tf.zeros_like(x))
    elif max_value == 6:
        x = tf.nn.relu6(x)
        clip_max = False
    else:
        x = tf.nn.relu(x)
    if clip_max:
        x = tf.clip_by_value(x, _const(0.0, x), _const(max_value, x))
    if negative_slope != 0.0:
        x = x - _const(negative_slope, x) * negative_part
    return x


def leaky_relu(x, negative_slope=0.2):
    """x for x > 0 else negative_slope * x (Keras 3's function default is 0.2).

    >>> from tensorflux.keras import activations
    >>> activations.leaky_relu([-1.0, 2.0]).numpy().tolist()
    [-0.20000000298023224, 2.0]
    """
    return _tf().nn.leaky_relu(_tensor(x), alpha=negative_slope)


def relu6(x):
    """min(max(x, 0), 6).

    >>> from tensorflux.keras import activations
    >>> activations.relu6([-1.0, 7.0]).numpy().tolist()
    [0.0, 6.0]
    """
    return _tf().nn.relu6(_tensor(x))


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along `axis`.

    >>> from tensorflux.keras import activations
    >>> activations.softmax([[0.0, 0.0]]).numpy().tolist()
    [[0.5, 0.5]]
    """
    return _tf().nn.softmax(_tensor(x), axis=axis)


def elu(x, alpha=1.0):
    """x for x > 0 else alpha * (exp(x) - 1).

    >>> from tensorflux.keras import activations
    >>> activations.elu([0.0, 1.0]).numpy().tolist()
    [0.0, 1.0]
    """
    tf = _tf()
    x = _tensor(x)
    return tf.where(x >= _const(0.0, x), x, _const(alpha, x) * tf.math.expm1(x))


def selu(x):
    """scale * elu(x, alpha) with the self-normalizing constants.

    >>> from tensorflux.keras import activations
    >>> activations.selu([0.0]).numpy().tolist()
    [0.0]
    """
    x = _tensor(x)
    return _const(_SELU_SCALE, x) * elu(x, _SELU_ALPHA)


def softplus(x):
    """log(exp(x) + 1), computed stably.

    >>> from tensorflux.keras import activations
    >>> round(float(activations.softplus([0.0])[0]), 6)
    0.693147
    """
    return _tf().math.softplus(_tensor(x))


def softsign(x):
    """x / (|x| + 1).

    >>> from tensorflux.keras import activations
    >>> activations.softsign([1.0]).numpy().tolist()
    [0.5]
    """
    x = _tensor(x)
    return x / (_const(1.0, x) + _tf().abs(x))


def soft_shrink(x, threshold=0.5):
    """x - threshold above threshold, x + threshold below -threshold, else 0.

    >>> from tensorflux.keras import activations
    >>> activations.soft_shrink([-1.0, 0.2, 1.0]).numpy().tolist()
    [-0.5, 0.0, 0.5]
    """
    tf = _tf()
    x = _tensor(x)
    t = _const(threshold, x)
    return tf.where(x > t, x - t, tf.where(x < -t, x + t, tf.zeros_like(x)))


def sparse_plus(x):
    """0 for x <= -1, (x + 1)^2 / 4 for -1 < x < 1, x for x >= 1.

    >>> from tensorflux.keras import activations
    >>> activations.sparse_plus([-2.0, 0.0, 2.0]).numpy().tolist()
    [0.0, 0.25, 2.0]
    """
    tf = _tf()
    x = _tensor(x)
    one = _const(1.0, x)
    middle = _const(0.25, x) * tf.square(x + one)
    return tf.where(x <= -one, tf.zeros_like(x), tf.where(x < one, middle, x))


def silu(x):
    """x * sigmoid(x) (also called swish).

    >>> from tensorflux.keras import activations
    >>> activations.silu([0.0]).numpy().tolist()
    [0.0]
    """
    x = _tensor(x)
    return x * _tf().sigmoid(x)


def squareplus(x, b=4):
    """(x + sqrt(x^2 + b)) / 2.

    >>> from tensorflux.keras import activations
    >>> activations.squareplus([0.0]).numpy().tolist()
    [1.0]
    """
    tf = _tf()
    x = _tensor(x)
    return (x + tf.sqrt(tf.square(x) + _const(b, x))) / _const(2.0, x)


def gelu(x, approximate=False):
    """Gaussian error linear unit; the exact erf form unless `approximate` (Keras default False).

    >>> from tensorflux.keras import activations
    >>> activations.gelu([0.0]).numpy().tolist()
    [0.0]
    """
    tf = _tf()
    x = _tensor(x)
    if approximate:
        inner = _const(_math.sqrt(2 / _math.pi), x) * (x + _const(0.044715, x) * x * x * x)
        return x * (_const(0.5, x) * (_const(1.0, x) + tf.tanh(inner)))
    return x * (tf.math.erf(x / _const(_math.sqrt(2.0), x)) + _const(1.0, x)) / _const(2.0, x)


def celu(x, alpha=1.0):
    """max(x, 0) + alpha * expm1(min(x, 0) / alpha).

    >>> from tensorflux.keras import activations
    >>> activations.celu([1.0]).numpy().tolist()
    [1.0]
    """
    tf = _tf()
    x = _tensor(x)
    a = _const(alpha, x)
    zero = _const(0.0, x)
    return tf.maximum(x, zero) + a * tf.math.expm1(tf.minimum(x, zero) / a)


def glu(x, axis=-1):
    """a * sigmoid(b), where a and b are the two halves of x along `axis`.

    >>> from tensorflux.keras import activations
    >>> activations.glu([[2.0, 0.0]]).numpy().tolist()
    [[1.0]]
    """
    tf = _tf()
    x = _tensor(x)
    size = x.shape[axis]
    if size is not None and size % 2 != 0:
        raise ValueError(f"glu: axis size must be divisible by 2. Received: x.shape="
                         f"{tuple(x.shape)} with axis={axis}")
    a, b = tf.split(x, 2, axis=axis)
    return a * tf.sigmoid(b)


def tanh(x):
    """Hyperbolic tangent.

    >>> from tensorflux.keras import activations
    >>> activations.tanh([0.0]).numpy().tolist()
    [0.0]
    """
    return _tf().tanh(_tensor(x))


def tanh_shrink(x):
    """x - tanh(x).

    >>> from tensorflux.keras import activations
    >>> activations.tanh_shrink([0.0]).numpy().tolist()
    [0.0]
    """
    x = _tensor(x)
    return x - _tf().tanh(x)


def threshold(x, threshold, default_value):
    """x where x > threshold, else default_value.

    >>> from tensorflux.keras import activations
    >>> activations.threshold([0.5, 2.0], 1.0, -1.0).numpy().tolist()
    [-1.0, 2.0]
    """
    tf = _tf()
    x = _tensor(x)
    return tf.where(x > _const(threshold, x), x, tf.fill(tf.shape(x), _const(default_value, x)))


def sigmoid(x):
    """1 / (1 + exp(-x)).

    >>> from tensorflux.keras import activations
    >>> activations.sigmoid([0.0]).numpy().tolist()
    [0.5]
    """
    return _tf().sigmoid(_tensor(x))


def sparse_sigmoid(x):
    """0 for x <= -1, (x + 1) / 2 for -1 < x < 1, 1 for x >= 1.

    >>> from tensorflux.keras import activations
    >>> activations.sparse_sigmoid([-2.0, 0.0, 2.0]).numpy().tolist()
    [0.0, 0.5, 1.0]
    """
    tf = _tf()
    x = _tensor(x)
    one = _const(1.0, x)
    return tf.where(x <= -one, tf.zeros_like(x),
                    tf.where(x >= one, tf.ones_like(x), _const(0.5, x) * (x + one)))


def exponential(x):
    """exp(x).

    >>> from tensorflux.keras import activations
    >>> activations.exponential([0.0]).numpy().tolist()
    [1.0]
    """
    return _tf().exp(_tensor(x))


def hard_sigmoid(x):
    """clip(x / 6 + 0.5, 0, 1) (Keras 3's slope; Keras 2 used x * 0.2 + 0.5).

    >>> from tensorflux.keras import activations
    >>> activations.hard_sigmoid([-4.0, 0.0, 4.0]).numpy().tolist()
    [0.0, 0.5, 1.0]
    """
    x = _tensor(x)  # (Keras-TF's form, whose second derivative is zero rather than None)
    return _tf().nn.relu6(x + _const(3.0, x)) / _const(6.0, x)


def hard_silu(x):
    """x * hard_sigmoid(x) (also called hard_swish).

    >>> from tensorflux.keras import activations
    >>> activations.hard_silu([-4.0, 0.0, 4.0]).numpy().tolist()
    [-0.0, 0.0, 4.0]
    """
    x = _tensor(x)
    return x * hard_sigmoid(x)


def hard_tanh(x):
    """clip(x, -1, 1).

    >>> from tensorflux.keras import activations
    >>> activations.hard_tanh([-2.0, 0.5]).numpy().tolist()
    [-1.0, 0.5]
    """
    x = _tensor(x)
    return _tf().clip_by_value(x, _const(-1.0, x), _const(1.0, x))


def hard_shrink(x, threshold=0.5):
    """x where |x| > threshold, else 0.

    >>> from tensorflux.keras import activations
    >>> activations.hard_shrink([-1.0, 0.2]).numpy().tolist()
    [-1.0, 0.0]
    """
    tf = _tf()
    x = _tensor(x)
    return tf.where(tf.abs(x) > _const(threshold, x), x, tf.zeros_like(x))


def linear(x):
    """The identity: returns x unchanged.

    >>> from tensorflux.keras import activations
    >>> activations.linear(3.0)
    3.0
    """
    return x


def mish(x):
    """x * tanh(softplus(x)).

    >>> from tensorflux.keras import activations
    >>> activations.mish([0.0]).numpy().tolist()
    [0.0]
    """
    tf = _tf()
    x = _tensor(x)
    return x * tf.tanh(tf.math.softplus(x))


def log_softmax(x, axis=-1):
    """x - logsumexp(x) along `axis`.

    >>> from tensorflux.keras import activations
    >>> round(float(activations.log_softmax([0.0, 0.0])[0]), 6)
    -0.693147
    """
    return _tf().nn.log_softmax(_tensor(x), axis=axis)


def log_sigmoid(x):
    """log(sigmoid(x)) = -softplus(-x).

    >>> from tensorflux.keras import activations
    >>> round(float(activations.log_sigmoid([0.0])[0]), 6)
    -0.693147
    """
    return _tf().math.log_sigmoid(_tensor(x))


def sparsemax(x, axis=-1):
    """Euclidean projection of x onto the probability simplex along `axis`.

    >>> from tensorflux.keras import activations
    >>> activations.sparsemax([[1.0, 0.0]]).numpy().tolist()
    [[1.0, 0.0]]
    """
    tf = _tf()
    x = _tensor(x)
    rank = x.shape.rank
    axis = axis % rank
    ordered = tf.sort(x, axis=axis, direction="DESCENDING")
    cumulative = tf.cumsum(ordered, axis=axis)
    size = x.shape[axis]
    r_shape = [1] * rank
    r_shape[axis] = size
    r = tf.reshape(tf.range(1, size + 1, dtype=x.dtype), r_shape)
    one = _const(1.0, x)
    support = ordered - (cumulative - one) / r > _const(0.0, x)
    k = tf.reduce_sum(tf.cast(support, x.dtype), axis=axis, keepdims=True)
    safe = tf.where(support, cumulative, tf.zeros_like(cumulative))
    tau = (tf.reduce_sum(safe, axis=axis, keepdims=True) - one) / k
    return tf.maximum(x - tau, _const(0.0, x))


swish = silu
hard_swish = hard_silu

_ALL = {fn.__name__: fn for fn in (
    relu, leaky_relu, relu6, softmax, celu, elu, selu, softplus, softsign, squareplus,
    soft_shrink, sparse_plus, silu, gelu, glu, tanh, tanh_shrink, threshold, sigmoid,
    sparse_sigmoid, exponential, hard_sigmoid, hard_silu, hard_tanh, hard_shrink, linear, mish,
    log_softmax, log_sigmoid, sparsemax)}
_ALL["swish"] = silu
_ALL["hard_swish"] = hard_silu
ALL_OBJECTS_DICT = _ALL


def serialize(activation):
    """A built-in activation's name ("relu"); a custom callable's Keras 3 config dict.

    >>> from tensorflux.keras import activations
    >>> activations.serialize(activations.relu)
    'relu'
    """
    name = getattr(activation, "__name__", None)
    if name is not None and _ALL.get(name) is activation:
        return name
    return _objects.serialize_object(activation, "keras.activations", _ALL)


def deserialize(config, custom_objects=None):
    """The activation named by `config` (a name or a Keras config dict).

    >>> from tensorflux.keras import activations
    >>> activations.deserialize("swish") is activations.silu
    True
    """
    return _objects.deserialize_object(config, _ALL, "activation function", custom_objects)


def get(identifier):
    """An activation from None (linear), a name, a config dict or a callable.

    >>> from tensorflux.keras import activations
    >>> activations.get(None) is activations.linear, activations.get("relu") is activations.relu
    (True, True)
    """
    if identifier is None:
        return linear
    return _objects.get_object(identifier, _ALL, "activation function")
