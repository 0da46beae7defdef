"""keras.ops.nn: activations, cross-entropies, normalization, convolutions (plain, depthwise,
separable, transposed), pooling, attention, patch and pixel rearrangements and PSNR, from
keras.activations, keras.losses and tf.nn (Keras 3's names and defaults)."""

import math

import tensorflux as tf
from tensorflux.keras import activations, backend, losses
from tensorflux.keras.ops._dispatch import (
    convert,
    float_operand,
    keras_op,
    result_type,
    static_shape,
)
from tensorflux.ops import ctc

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
def relu6(x):
    """min(max(x, 0), 6); ints keep their dtype, as in Keras."""
    x = convert(x)
    if x.dtype.is_integer:
        return tf.clip_by_value(x, 0, 6)
    return activations.relu6(float_operand(x))


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
def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs):
    """A 1 for each class present in a row of integer labels (`num_tokens=` is Keras 2's
    name of `num_classes`)."""
    if num_classes is None and "num_tokens" in kwargs:
        num_classes = kwargs.pop("num_tokens")
    if kwargs:
        raise TypeError(f"multi_hot() got unexpected keyword argument(s) {sorted(kwargs)}")
    if num_classes is None:
        raise ValueError("multi_hot: the argument `num_classes` must be specified.")
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


# ---------------------------------------------------------------------- CTC
def _ctc_logits(x):
    """Logits in Keras's CTC dtype: at least float32 (float64 stays)."""
    x = float_operand(x)
    dtype = result_type(x.dtype.name, "float32")
    return x if x.dtype.name == dtype else tf.cast(x, dtype)


@keras_op
def ctc_loss(target, output, target_length, output_length, mask_index=0):
    """The CTC loss of each sequence: `output` holds batch-major logits (batch, frames,
    classes), `target` the labels (batch, max_length), `mask_index` the blank class.

    >>> from tensorflux.keras import ops
    >>> [round(float(v), 6) for v in ops.ctc_loss([[1]], [[[0.0, 0.0], [0.0, 0.0]]], [1], [2])]
    [0.287682]
    """
    return tf.nn.ctc_loss(convert(target, "int32"), _ctc_logits(output),
                          convert(target_length, "int32"), convert(output_length, "int32"),
                          logits_time_major=False, blank_index=mask_index)


@keras_op
def ctc_decode(inputs, sequence_lengths, strategy="greedy", beam_width=100, top_paths=1,
               merge_repeated=True, mask_index=0):
    """Decodes batch-major logits (batch, frames, classes): (decoded (paths, batch, frames)
    int32 padded with -1, scores). "greedy" gives one path and minus the sum of each frame's
    largest logit; "beam_search" the top_paths most probable paths and their
    log-probabilities (batch, top_paths).

    >>> from tensorflux.keras import ops
    >>> logits = [[[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]]
    >>> ops.ctc_decode(logits, [4])[0].numpy().tolist()
    [[[1, 2, -1, -1]]]
    """
    inputs = _ctc_logits(inputs)
    lengths = convert(sequence_lengths, "int32")
    if strategy == "greedy":
        decoded, scores = ctc.ctc_greedy_decode_dense(inputs, lengths, merge_repeated,
                                                      mask_index)
        return tf.expand_dims(decoded, 0), scores
    if strategy == "beam_search":
        return ctc.ctc_beam_search_decode_dense(inputs, lengths, beam_width, top_paths,
                                                mask_index)
    raise ValueError(f"Invalid strategy {strategy}. Supported values are 'greedy' and "
                     "'beam_search'.")


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
def rms_normalization(x, scale=None, axis=-1, epsilon=None):
    x = float_operand(x)
    epsilon = backend.epsilon() if epsilon is None else epsilon
    mean_square = tf.reduce_mean(tf.square(x), axis=axis, keepdims=True)
    normalized = x * tf.math.rsqrt(mean_square + convert(epsilon, x.dtype))
    return normalized if scale is None else normalized * convert(scale, x.dtype)


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


@keras_op
def separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid",
                   data_format=None, dilation_rate=1):
    """A depthwise convolution (kernel (*spatial, in, multiplier)) followed by a pointwise
    one (kernel (1, ..., in * multiplier, out)), over 1 or 2 spatial axes."""
    depthwise = depthwise_conv(inputs, depthwise_kernel, strides, padding, data_format,
                               dilation_rate)
    return conv(depthwise, pointwise_kernel, 1, "valid", data_format)


def _shape_for_reshape(shape):
    """A static shape as a reshape target (an unknown batch as -1)."""
    return [-1 if d is None else d for d in shape]


def _spread(x, axis, stride):
    """x with stride - 1 zeros between its entries along `axis` (a transposed convolution's
    input dilation): n entries become (n - 1) * stride + 1."""
    if stride == 1:
        return x
    shape = list(static_shape(x))
    x = tf.expand_dims(x, axis + 1)
    pads = [[0, 0]] * len(static_shape(x))
    pads[axis + 1] = [0, stride - 1]
    x = tf.pad(x, pads)
    size = shape[axis]
    shape[axis] = size * stride
    x = tf.reshape(x, _shape_for_reshape(shape))
    return x[(slice(None),) * axis + (slice(0, (size - 1) * stride + 1),)]


def _transpose_pads(kernel, stride, dilation, padding, extra):
    """(before, after) padding of the spread input so that a VALID convolution gives Keras's
    transposed-convolution output size (`extra` is output_padding)."""
    span = (kernel - 1) * dilation + 1
    if padding == "valid":
        extra = max(span, stride) - span if extra is None else extra
        return [span - 1, span - 1 + extra]
    total = stride + span - 2 if extra is None else span + span % 2 - 2 + extra
    before = min(total // 2 + total % 2, span - 1)
    return [before, total - before]


@keras_op
def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None,
                   data_format=None, dilation_rate=1):
    """The transposed convolution over 1 to 3 spatial axes; kernel (*spatial, out, in), as
    Keras. It is computed as the convolution of the input, spread by the strides and
    padded, with the kernel flipped in space and its channel axes swapped.

    >>> from tensorflux.keras import ops
    >>> ops.conv_transpose(ops.ones((1, 2, 1)), ops.ones((2, 1, 1)), 2).numpy().ravel().tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    inputs = float_operand(inputs)
    kernel = convert(kernel, inputs.dtype)
    spatial = len(static_shape(inputs)) - 2
    if spatial not in (1, 2, 3):
        raise ValueError(f"conv_transpose: inputs must have 1 to 3 spatial axes, received "
                         f"shape {static_shape(inputs)}")
    last = _channels_last(data_format)
    _padding(padding)
    extras = [None] * spatial if output_padding is None else _tuple(output_padding, spatial)
    x = _to_channels_last(inputs, spatial, last)
    pads = [[0, 0]]
    for axis, (size, stride, dilation, extra) in enumerate(zip(
            static_shape(kernel)[:spatial], _tuple(strides, spatial),
            _tuple(dilation_rate, spatial), extras)):
        x = _spread(x, axis + 1, stride)
        pads.append(_transpose_pads(size, stride, dilation, padding, extra))
    x = tf.pad(x, pads + [[0, 0]])
    flipped = tf.reverse(kernel, list(range(spatial)))
    flipped = tf.transpose(flipped, list(range(spatial)) + [spatial + 1, spatial])
    y = conv(x, flipped, 1, "valid", "channels_last", dilation_rate)
    return _from_channels_last(y, spatial, last)


@keras_op
def adaptive_average_pool(inputs, output_size, data_format=None):
    """Average pooling to the spatial size `output_size`, whatever the input's size (the bins
    of AdaptiveAveragePooling1D/2D/3D)."""
    from tensorflux.keras.layers.pooling import adaptive_pool

    return adaptive_pool(inputs, output_size, "average", data_format)


@keras_op
def adaptive_max_pool(inputs, output_size, data_format=None):
    """Max pooling to the spatial size `output_size`, whatever the input's size."""
    from tensorflux.keras.layers.pooling import adaptive_pool

    return adaptive_pool(inputs, output_size, "max", data_format)


# ---------------------------------------------------------------------- attention
@keras_op
def dot_product_attention(query, key, value, bias=None, mask=None, scale=None,
                          is_causal=False, flash_attention=None, attn_logits_soft_cap=None):
    """softmax(query key^T * scale + bias) value over (batch, length, heads, head_dim)
    tensors: query (B, T, N, H), key and value (B, S, K, H) with N a multiple of K (grouped
    attention). `mask` (True = attend) and `bias` broadcast to (B, N, T, S); `is_causal`
    keeps key positions up to each query's. Logits and softmax are computed in at least
    float32; scale defaults to 1 / sqrt(H)."""
    if attn_logits_soft_cap is not None:
        raise ValueError("dot_product_attention: attn_logits_soft_cap is supported only by "
                         "Keras's JAX backend on TPU; pass attn_logits_soft_cap=None.")
    if flash_attention:
        raise ValueError("dot_product_attention: tensorflux has no flash attention kernel; "
                         "pass flash_attention=None or False.")
    if bias is not None and mask is not None:
        raise ValueError("dot_product_attention: give `bias` or `mask`, not both.")
    dtype = result_type(query, key, value)
    query, key, value = (convert(t, dtype) for t in (query, key, value))
    shapes = [static_shape(t) for t in (query, key, value)]
    if any(len(shape) != 4 for shape in shapes):
        raise ValueError("dot_product_attention: expected 4-D query, key and value (batch, "
                         f"length, heads, head_dim), received shapes {shapes}")
    heads, kv_heads = shapes[0][2], shapes[1][2]
    if heads != kv_heads:
        if heads % kv_heads:
            raise ValueError(f"dot_product_attention: the query's {heads} heads must be a "
                             f"multiple of the key's {kv_heads}")
        key = tf.repeat(key, heads // kv_heads, axis=2)
        value = tf.repeat(value, heads // kv_heads, axis=2)
    logits_dtype = result_type(dtype, "float32")
    if scale is None:
        scale = 1.0 / math.sqrt(shapes[0][-1])
    logits = tf.einsum("btnh,bsnh->bnts", convert(query, logits_dtype),
                       convert(key, logits_dtype)) * convert(scale, logits_dtype)
    if bias is not None:
        logits = logits + convert(bias, logits_dtype)
    keep = None if mask is None else tf.cast(convert(mask), "bool")
    if is_causal:
        targets, sources = static_shape(logits)[2:]
        causal = tf.range(sources)[None, :] <= tf.range(targets)[:, None]
        keep = causal if keep is None else tf.logical_and(keep, causal)
    if keep is not None:
        lowest = -0.7 * tf.as_dtype(logits_dtype).max
        logits = tf.where(keep, logits, tf.constant(lowest, dtype=logits_dtype))
    probabilities = tf.cast(tf.nn.softmax(logits, axis=-1), dtype)
    return tf.einsum("bnts,bsnh->btnh", probabilities, value)


# ---------------------------------------------------------------------- rearrangements
def _block_size(block_size):
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 2:
        raise ValueError(f"block_size must be an integer >= 2, received {block_size!r}")
    return block_size


@keras_op
def depth_to_space(x, block_size, data_format="channels_last"):
    """Moves channels into block_size x block_size spatial blocks (pixel shuffle): (N, H, W,
    C) -> (N, H b, W b, C / b^2); channels_first takes the channels as (C / b^2, b, b).

    >>> from tensorflux.keras import ops
    >>> ops.depth_to_space(ops.reshape(ops.arange(4), (1, 1, 1, 4)), 2)[0, ..., 0].numpy(
    ...     ).tolist()
    [[0, 1], [2, 3]]
    """
    x = convert(x)
    b = _block_size(block_size)
    if _channels_last(data_format):
        n, h, w, c = static_shape(x)
        x = tf.reshape(x, _shape_for_reshape([n, h, w, b, b, c // (b * b)]))
        x = tf.transpose(x, [0, 1, 3, 2, 4, 5])
        return tf.reshape(x, _shape_for_reshape([n, h * b, w * b, c // (b * b)]))
    n, c, h, w = static_shape(x)
    x = tf.reshape(x, _shape_for_reshape([n, c // (b * b), b, b, h, w]))
    x = tf.transpose(x, [0, 1, 4, 2, 5, 3])
    return tf.reshape(x, _shape_for_reshape([n, c // (b * b), h * b, w * b]))


@keras_op
def space_to_depth(x, block_size, data_format="channels_last"):
    """The inverse of depth_to_space: block_size x block_size blocks into channels."""
    x = convert(x)
    b = _block_size(block_size)
    if _channels_last(data_format):
        n, h, w, c = static_shape(x)
        x = tf.reshape(x, _shape_for_reshape([n, h // b, b, w // b, b, c]))
        x = tf.transpose(x, [0, 1, 3, 2, 4, 5])
        return tf.reshape(x, _shape_for_reshape([n, h // b, w // b, c * b * b]))
    n, c, h, w = static_shape(x)
    x = tf.reshape(x, _shape_for_reshape([n, c, h // b, b, w // b, b]))
    x = tf.transpose(x, [0, 1, 3, 5, 2, 4])
    return tf.reshape(x, _shape_for_reshape([n, c * b * b, h // b, w // b]))


def _pair(value):
    return [value, value] if isinstance(value, int) else list(value)


def _blocks(size, kernel, dilation, padding, stride):
    """How many sliding blocks fit along one axis of the padded input."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


@keras_op
def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """The sliding blocks of channels_first images (N, C, H, W) as columns (im2col):
    (N, C * kH * kW, blocks), each column ordered by channel, then kernel row and column.

    >>> from tensorflux.keras import ops
    >>> ops.unfold(ops.reshape(ops.arange(4.0), (1, 1, 2, 2)), 1).numpy().tolist()
    [[[0.0, 1.0, 2.0, 3.0]]]
    """
    x = convert(x)
    if len(static_shape(x)) != 4:
        raise ValueError(f"unfold: expected a 4-D input (N, C, H, W), received shape "
                         f"{static_shape(x)}")
    n, c, h, w = static_shape(x)
    (kh, kw), (dh, dw) = _pair(kernel_size), _pair(dilation)
    (ph, pw), (sh, sw) = _pair(padding), _pair(stride)
    rows, columns = _blocks(h, kh, dh, ph, sh), _blocks(w, kw, dw, pw, sw)
    x = tf.pad(x, [[0, 0], [0, 0], [ph, ph], [pw, pw]])
    taps = [x[:, :, i * dh:i * dh + (rows - 1) * sh + 1:sh,
              j * dw:j * dw + (columns - 1) * sw + 1:sw] for i in range(kh) for j in range(kw)]
    return tf.reshape(tf.stack(taps, axis=2), _shape_for_reshape([n, c * kh * kw,
                                                                  rows * columns]))


@keras_op
def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """The inverse arrangement of unfold (col2im): columns (N, C * kH * kW, blocks) summed
    back onto channels_first images (N, C, *output_size), overlaps adding up."""
    x = convert(x)
    if len(static_shape(x)) != 3:
        raise ValueError(f"fold: expected a 3-D input (N, C * kH * kW, blocks), received "
                         f"shape {static_shape(x)}")
    n, depth, _ = static_shape(x)
    (height, width), (kh, kw) = _pair(output_size), _pair(kernel_size)
    (dh, dw), (ph, pw), (sh, sw) = _pair(dilation), _pair(padding), _pair(stride)
    if depth % (kh * kw):
        raise ValueError(f"fold: the input's second dimension ({depth}) must be a multiple of "
                         f"the kernel's size {kh} x {kw}")
    rows, columns = _blocks(height, kh, dh, ph, sh), _blocks(width, kw, dw, pw, sw)
    c = depth // (kh * kw)
    x = tf.reshape(x, _shape_for_reshape([n, c, kh * kw, rows, columns]))
    spread_h, spread_w = (rows - 1) * sh + 1, (columns - 1) * sw + 1
    total = 0
    for i in range(kh):
        for j in range(kw):
            tap = _spread(_spread(x[:, :, i * kw + j], 2, sh), 3, sw)
            top, left = i * dh, j * dw
            total = total + tf.pad(tap, [[0, 0], [0, 0],
                                         [top, height + 2 * ph - top - spread_h],
                                         [left, width + 2 * pw - left - spread_w]])
    return total[:, :, ph:ph + height, pw:pw + width]


@keras_op
def polar(abs_, angle):
    """The complex numbers abs_ * (cos(angle) + i sin(angle)) (complex64 from float32 or
    ints, complex128 from float64)."""
    dtype = result_type(abs_, angle, float)
    abs_, angle = convert(abs_, dtype), convert(angle, dtype)
    return tf.complex(abs_ * tf.cos(angle), abs_ * tf.sin(angle))


@keras_op
def psnr(x1, x2, max_val):
    """Peak signal-to-noise ratio 20 log10(max_val) - 10 log10(mse), the mean squared error
    taken over all entries of x1 - x2 (one number, unlike tf.image.psnr's one per image).

    >>> from tensorflux.keras import ops
    >>> round(float(ops.psnr([0.0, 0.0], [0.1, 0.1], 1.0)), 4)
    20.0
    """
    x1 = float_operand(x1)
    x2 = convert(x2, x1.dtype)
    if static_shape(x1) != static_shape(x2):
        raise ValueError(f"psnr: the inputs must have one shape, received {static_shape(x1)} "
                         f"and {static_shape(x2)}")
    mse = tf.reduce_mean(tf.square(x1 - x2))
    log10 = math.log(10.0)
    return (20.0 / log10) * tf.math.log(convert(max_val, x1.dtype)) - \
        (10.0 / log10) * tf.math.log(mse)


__all__ = [name for name, value in list(globals().items())
           if not name.startswith("_") and callable(value)
           and getattr(value, "__module__", None) == __name__]
