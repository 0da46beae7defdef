"""keras.ops.nn: activations, cross-entropies, normalization, convolution and pooling, from
keras.activations, keras.losses and tf.nn (Keras 3's names and defaults)."""

import tensorflux as tf
from tensorflux.keras import activations, backend, losses
from tensorflux.keras.ops._dispatch import convert, float_operand, keras_op, static_shape

_ACTIVATIONS = ("relu6", "sigmoid", "softplus", "softsign", "silu", "selu", "hard_sigmoid",
                "hard_silu", "log_sigmoid", "tanh_shrink", "sparse_plus", "sparse_sigmoid",
                "hard_tanh")


def _from_activation(name, keras_name=None):
    fn = getattr(activations, name)

    def op(x):
        return fn(float_operand(x))

    op.__name__ = op.__qualname__ = keras_name or name
    op.__doc__ = f"keras.activations.{name}, elementwise (ints compute in floatx)."
    return keras_op(op)


relu6 = _from_activation("relu6")
sigmoid = _from_activation("sigmoid")
softplus = _from_activation("softplus")
softsign = _from_activation("softsign")
silu = _from_activation("silu")
swish = _from_activation("silu", "swish")
selu = _from_activation("selu")
hard_sigmoid = _from_activation("hard_sigmoid")
hard_silu = _from_activation("hard_silu")
hard_swish = _from_activation("hard_silu", "hard_swish")
log_sigmoid = _from_activation("log_sigmoid")
tanh_shrink = _from_activation("tanh_shrink")
sparse_plus = _from_activation("sparse_plus")
sparse_sigmoid = _from_activation("sparse_sigmoid")
hard_tanh = _from_activation("hard_tanh")


@keras_op
def relu(x):
    """max(x, 0).

    >>> from tensorflux.keras import ops
    >>> ops.relu([-1.0, 2.0]).numpy().tolist()
    [0.0, 2.0]
    """
    x = convert(x)
    if x.dtype.is_integer:  # Keras keeps an int input's dtype
        return tf.maximum(x, tf.zeros_like(x))
    return tf.nn.relu(x)


@keras_op
def elu(x, alpha=1.0):
    return activations.elu(float_operand(x), alpha=alpha)


@keras_op
def celu(x, alpha=1.0):
    return activations.celu(float_operand(x), alpha=alpha)


@keras_op
def leaky_relu(x, negative_slope=0.2):
    return activations.leaky_relu(float_operand(x), negative_slope=negative_slope)


@keras_op
def gelu(x, approximate=True):
    """Gaussian error linear unit; the tanh approximation by default, as keras.ops.gelu (the
    activation keras.activations.gelu defaults to the exact form)."""
    return activations.gelu(float_operand(x), approximate=approximate)


@keras_op
def glu(x, axis=-1):
    return activations.glu(float_operand(x), axis=axis)


@keras_op
def soft_shrink(x, threshold=0.5):
    return activations.soft_shrink(float_operand(x), threshold=threshold)


@keras_op
def hard_shrink(x, threshold=0.5):
    return activations.hard_shrink(float_operand(x), threshold=threshold)


@keras_op
def squareplus(x, b=4):
    return activations.squareplus(float_operand(x), b=b)


@keras_op
def threshold(x, threshold, default_value):
    return activations.threshold(float_operand(x), threshold, default_value)


@keras_op
def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along `axis` (or over all axes when axis is None)."""
    x = float_operand(x)
    if axis is None:
        return tf.reshape(tf.nn.softmax(tf.reshape(x, [-1])), tf.shape(x))
    if isinstance(axis, (tuple, list)):
        return tf.exp(x - tf.reduce_logsumexp(x, axis=list(axis), keepdims=True))
    return tf.nn.softmax(x, axis=axis)


@keras_op
def log_softmax(x, axis=-1):
    x = float_operand(x)
    if axis is None:
        return tf.reshape(tf.nn.log_softmax(tf.reshape(x, [-1])), tf.shape(x))
    if isinstance(axis, (tuple, list)):
        return x - tf.reduce_logsumexp(x, axis=list(axis), keepdims=True)
    return tf.nn.log_softmax(x, axis=axis)


@keras_op
def sparsemax(x, axis=-1):
    return activations.sparsemax(float_operand(x), axis=axis)


# ---------------------------------------------------------------------- encodings
@keras_op
def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    """Integer labels as one-hot vectors (floatx by default); out-of-range labels give zeros.

    >>> from tensorflux.keras import ops
    >>> ops.one_hot([0, 2], 3).numpy().tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    if sparse:
        raise ValueError("one_hot: tensorflux has no sparse tensors (received sparse=True).")
    x = convert(x)
    if not x.dtype.is_integer:
        x = tf.cast(x, "int32")
    dtype = backend.standardize_dtype(dtype or backend.floatx())
    return tf.one_hot(x, num_classes, axis=axis, dtype=dtype)


@keras_op
def multi_hot(inputs, num_classes, axis=-1, dtype=None, sparse=False):
    """A 1 for each class present in a row of integer labels."""
    inputs = convert(inputs)
    encoded = one_hot(inputs, num_classes, axis=axis, dtype=dtype, sparse=sparse)
    return tf.reduce_max(encoded, axis=0 if len(static_shape(inputs)) == 1 else -2)


# ---------------------------------------------------------------------- losses
def _target_output(target, output):
    output = float_operand(output)
    return convert(target, output.dtype), output


@keras_op
def binary_crossentropy(target, output, from_logits=False):
    """Elementwise -(t log p + (1 - t) log(1 - p)) (no mean, unlike the loss function)."""
    target, output = _target_output(target, output)
    return losses._elementwise_bce(target, output, from_logits)


@keras_op
def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """-sum(target * log p) along `axis`, p = softmax(output) or output renormalized."""
    target, output = _target_output(target, output)
    return losses.categorical_crossentropy(target, output, from_logits=from_logits, axis=axis)


@keras_op
def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    output = float_operand(output)
    return losses.sparse_categorical_crossentropy(convert(target), output,
                                                  from_logits=from_logits, axis=axis)


# ---------------------------------------------------------------------- normalization
@keras_op
def moments(x, axes, keepdims=False, synchronized=False):
    """(mean, variance) of x over `axes`."""
    axes = [axes] if isinstance(axes, int) else list(axes)
    return tf.nn.moments(float_operand(x), axes=axes, keepdims=keepdims)


@keras_op
def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):
    """(x - mean) / sqrt(variance + epsilon) * scale + offset, the statistics being vectors
    along `axis`."""
    x = float_operand(x)
    rank = len(static_shape(x))
    shape = [1] * rank
    shape[axis] = -1

    def along_axis(v):
        return None if v is None else tf.reshape(convert(v, x.dtype), shape)

    return tf.nn.batch_normalization(x, along_axis(mean), along_axis(variance),
                                     along_axis(offset), along_axis(scale), epsilon)


@keras_op
def normalize(x, axis=-1, order=2, epsilon=None):
    """x divided by its `order`-norm along `axis` (at least `epsilon`)."""
    x = float_operand(x)
    epsilon = backend.epsilon() if epsilon is None else epsilon
    if order == 2:
        square_sum = tf.reduce_sum(tf.square(x), axis=axis, keepdims=True)
        return x * tf.math.rsqrt(tf.maximum(square_sum, convert(epsilon, x.dtype)))
    norm = tf.norm(x, ord=order, axis=axis, keepdims=True)
    return x / tf.maximum(norm, convert(epsilon, x.dtype))


@keras_op
def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None):
    x = float_operand(x)
    epsilon = backend.epsilon() if epsilon is None else epsilon
    axes = [axis] if isinstance(axis, int) else list(axis)
    mean, variance = tf.nn.moments(x, axes=axes, keepdims=True)
    y = (x - mean) * tf.math.rsqrt(variance + convert(epsilon, x.dtype))
    if gamma is not None:
        y = y * convert(gamma, x.dtype)
    if beta is not None:
        y = y + convert(beta, x.dtype)
    return y


@keras_op
def rms_normalization(x, scale=1, axis=-1, epsilon=None):
    x = float_operand(x)
    epsilon = backend.epsilon() if epsilon is None else epsilon
    mean_square = tf.reduce_mean(tf.square(x), axis=axis, keepdims=True)
    return x * tf.math.rsqrt(mean_square + convert(epsilon, x.dtype)) * convert(scale, x.dtype)


# ---------------------------------------------------------------------- convolution, pooling
def _tuple(value, n):
    return [value] * n if isinstance(value, int) else list(value)


def _channels_last(data_format):
    data_format = data_format or backend.image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError("data_format must be 'channels_last' or 'channels_first'; received "
                         f"{data_format!r}")
    return data_format == "channels_last"


def _tf_format(spatial, channels_last):
    return {1: ("NWC", "NCW"), 2: ("NHWC", "NCHW"), 3: ("NDHWC", "NCDHW")}[spatial][
        0 if channels_last else 1]


def _to_channels_last(x, spatial, channels_last):
    if channels_last:
        return x
    return tf.transpose(x, [0] + list(range(2, spatial + 2)) + [1])


def _from_channels_last(x, spatial, channels_last):
    if channels_last:
        return x
    return tf.transpose(x, [0, spatial + 1] + list(range(1, spatial + 1)))


def _padding(padding):
    if padding not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same'; received {padding!r}")
    return padding.upper()


@keras_op
def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """N-D convolution (1, 2 or 3 spatial axes); kernel (*spatial, in, out), as Keras."""
    inputs = float_operand(inputs)
    kernel = convert(kernel, inputs.dtype)
    spatial = len(static_shape(inputs)) - 2
    last = _channels_last(data_format)
    x = _to_channels_last(inputs, spatial, last)
    strides = _tuple(strides, spatial)
    dilations = _tuple(dilation_rate, spatial)
    pad = _padding(padding)
    if spatial == 1:
        y = tf.nn.conv1d(x, kernel, strides[0], pad, dilations=dilations[0])
    elif spatial == 2:
        y = tf.nn.conv2d(x, kernel, strides, pad, dilations=dilations)
    elif spatial == 3:
        y = tf.nn.conv3d(x, kernel, [1] + strides + [1], pad, dilations=[1] + dilations + [1])
    else:
        raise ValueError(f"conv: inputs must have 1 to 3 spatial axes, received shape "
                         f"{static_shape(inputs)}")
    return _from_channels_last(y, spatial, last)


@keras_op
def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None,
                   dilation_rate=1):
    """Depthwise 1-D or 2-D convolution; kernel (*spatial, in, multiplier)."""
    inputs = float_operand(inputs)
    kernel = convert(kernel, inputs.dtype)
    spatial = len(static_shape(inputs)) - 2
    last = _channels_last(data_format)
    x = _to_channels_last(inputs, spatial, last)
    strides = _tuple(strides, spatial)
    dilations = _tuple(dilation_rate, spatial)
    if spatial == 1:
        x, kernel = tf.expand_dims(x, 1), tf.expand_dims(kernel, 0)
        strides, dilations = [1] + strides, [1] + dilations
    elif spatial != 2:
        raise ValueError(f"depthwise_conv: inputs must have 1 or 2 spatial axes, received "
                         f"shape {static_shape(inputs)}")
    y = tf.nn.depthwise_conv2d(x, kernel, [1] + strides + [1], _padding(padding),
                               dilations=dilations)
    if spatial == 1:
        y = tf.squeeze(y, [1])
    return _from_channels_last(y, spatial, last)


def _pool(tf_pool, inputs, pool_size, strides, padding, data_format):
    inputs = float_operand(inputs)
    spatial = len(static_shape(inputs)) - 2
    last = _channels_last(data_format)
    pool_size = _tuple(pool_size, spatial)
    strides = pool_size if strides is None else _tuple(strides, spatial)
    x = _to_channels_last(inputs, spatial, last)
    y = tf_pool(x, pool_size, strides, _padding(padding), data_format=_tf_format(spatial, True))
    return _from_channels_last(y, spatial, last)


@keras_op
def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Max pooling over 1 to 3 spatial axes (strides default to pool_size)."""
    return _pool(tf.nn.max_pool, inputs, pool_size, strides, padding, data_format)


@keras_op
def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Average pooling; with "same" padding the border windows average their valid entries."""
    return _pool(tf.nn.avg_pool, inputs, pool_size, strides, padding, data_format)


__all__ = [name for name, value in list(globals().items())
           if not name.startswith("_") and callable(value)
           and getattr(value, "__module__", None) == __name__]
