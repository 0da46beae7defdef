"""More of tf.nn, composed from existing primitives (so gradients of any order come for free):
transposed and generic convolutions, separable and atrous convolutions, moving space into
depth, local response normalization, more losses and moment helpers, crelu, pooling with
argmax, generic pooling (pool), grayscale morphology (dilation2d, erosion2d) and combined
lookups of sparse ids (embedding_lookup_sparse).
"""

from tensorflux import dtypes, errors
from tensorflux.ops import array, indexing, linalg, math, nn, reduction
from tensorflux.ops._core import as_operand, normalize_axes, normalize_axis
from tensorflux.ops._static import host
from tensorflux.tensor import _TensorLike

__all__ = ["conv1d_transpose", "conv3d_transpose", "conv_transpose", "convolution",
           "atrous_conv2d", "atrous_conv2d_transpose", "separable_conv2d", "depth_to_space",
           "space_to_depth", "local_response_normalization", "lrn",
           "weighted_cross_entropy_with_logits", "log_poisson_loss",
           "normalize_moments", "sufficient_statistics",
           "weighted_moments", "crelu", "max_pool_with_argmax", "dilation2d", "erosion2d",
           "pool", "embedding_lookup_sparse"]


def _dims(shape):
    return [-1 if d is None else d for d in shape]


def _output_shape(op, output_shape, rank):
    if isinstance(output_shape, _TensorLike):
        output_shape = host(op, output_shape, "output_shape").tolist()
    dims = [None if d is None or int(d) == -1 else int(d) for d in output_shape]
    if len(dims) != rank or None in dims[1:]:
        raise errors.InvalidArgumentError(
            f"{op}: output_shape must have {rank} entries (only the batch may be unknown), "
            f"received {list(output_shape)}", op)
    return dims


# ------------------------------------------------------------------ convolutions

def conv1d_transpose(input, filters, output_shape, strides, padding="SAME",  # noqa: A002
                     data_format="NWC", dilations=None, name=None):
    """The transpose (gradient) of conv1d: filters are [width, output_channels,
    input_channels], output_shape conv1d's input shape.

    >>> import tensorflux as tf
    >>> y = tf.nn.conv1d_transpose(tf.ones([1, 2, 1]), tf.ones([2, 1, 1]), [1, 4, 1], 2)
    >>> y.numpy().ravel().tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    op = "conv1d_transpose"
    data_format = nn._data_format(op, data_format, 1)
    format_2d = "NCHW" if data_format == "NCW" else "NHWC"
    x = as_operand(op, input)
    w = as_operand(op, filters)
    if x.shape.rank != 3 or w.shape.rank != 3:
        raise errors.InvalidArgumentError(
            f"{op}: expected an input and filters of rank 3, received shapes "
            f"{tuple(x.shape)} and {tuple(w.shape)}", op)
    n, (width,), channels = nn._spatial(_output_shape(op, output_shape, 3), data_format)
    shape_2d = nn._from_spatial(n, [1, width], channels, format_2d)
    y = nn.conv2d_transpose(
        nn._expand_1d(x, data_format), array.reshape(w, [1] + _dims(w.shape)), shape_2d,
        nn._ints_1d(op, "strides", strides, data_format), nn._pairs_1d(padding, data_format),
        format_2d, nn._ints_1d(op, "dilations", 1 if dilations is None else dilations,
                               data_format))
    return nn._squeeze_1d(y, data_format)


def _upsampled(x, axis, stride):
    """x with stride - 1 zeros between neighbours along axis ((n - 1) stride + 1 entries)."""
    if stride == 1:
        return x
    dims = _dims(x.shape)
    n = dims[axis]
    spread = array.expand_dims(x, axis + 1)
    pads = [[0, 0]] * (len(dims) + 1)
    pads[axis + 1] = [0, stride - 1]
    spread = array.pad(spread, pads)
    flat = array.reshape(spread, dims[:axis] + [n * stride] + dims[axis + 1:])
    key = [slice(None)] * len(dims)
    key[axis] = slice(0, (n - 1) * stride + 1)
    return flat[tuple(key)]


def _transposed_conv(op, x, w, out_sizes, strides, padding, dilations, conv):
    """The transposed convolution of channels-last x ([n, spatial..., in]) with filters
    [k..., out, in]: x spread out by the strides, padded so that a VALID stride-1 `conv` of
    the flipped filters (channels swapped) gives `out_sizes`."""
    rank = len(out_sizes)
    in_sizes = list(x.shape)[1:1 + rank]
    ksizes = list(w.shape)[:rank]
    expected = nn._out_sizes(out_sizes, ksizes, strides, padding, dilations)
    if list(expected) != list(in_sizes) or w.shape[rank + 1] != x.shape[-1]:
        raise errors.InvalidArgumentError(
            f"{op}: the output spatial size {list(out_sizes)} does not fit the input shape "
            f"{tuple(x.shape)} and filter shape {tuple(w.shape)}: a convolution of that size "
            f"would give spatial size {list(expected)} and filters [..., out, in] need `in` "
            f"equal to the input's channels", op)
    pads = []
    for axis in range(rank):
        x = _upsampled(x, axis + 1, strides[axis])
        span = (ksizes[axis] - 1) * dilations[axis]
        before = (nn._same_pads(out_sizes[axis], ksizes[axis], strides[axis],
                                dilations[axis])[0] if padding == "SAME" else 0)
        left = span - before
        right = out_sizes[axis] + span - left - ((in_sizes[axis] - 1) * strides[axis] + 1)
        pads.append((left, right))
    # Negative pads (output sizes that leave a stride's remainder unused) are crops.
    key = [slice(None)] + [slice(max(-lo, 0), None if hi >= 0 else hi) for lo, hi in pads]
    x = array.pad(x[tuple(key)], [[0, 0]] + [[max(lo, 0), max(hi, 0)] for lo, hi in pads]
                  + [[0, 0]])
    flipped = indexing.reverse(w, list(range(rank)))
    kernel = linalg.transpose(flipped, list(range(rank)) + [rank + 1, rank])
    return conv(x, kernel, 1, "VALID", dilations=list(dilations))


def conv3d_transpose(input, filters, output_shape, strides, padding="SAME",  # noqa: A002
                     data_format="NDHWC", dilations=None, name=None):
    """The transpose (gradient) of conv3d: filters are [d, h, w, output_channels,
    input_channels], output_shape conv3d's input shape.

    >>> import tensorflux as tf
    >>> y = tf.nn.conv3d_transpose(tf.ones([1, 1, 1, 1, 1]), tf.ones([2, 2, 2, 1, 1]),
    ...                            [1, 2, 2, 2, 1], [1, 1, 1, 1, 1], "VALID")
    >>> y.numpy().ravel().tolist()
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    """
    op = "conv3d_transpose"
    data_format = nn._data_format(op, data_format, 3)
    x, w = nn._conv_operands(op, input, filters, 5)
    n, sizes, channels = nn._spatial(_output_shape(op, output_shape, 5), data_format)
    strides = nn._int_list(op, "strides", strides, 3, data_format)
    dilations = nn._int_list(op, "dilations", 1 if dilations is None else dilations, 3,
                             data_format)
    padding = nn._padding(op, padding, 3, data_format, explicit=False)
    if channels != w.shape[3]:
        raise errors.InvalidArgumentError(
            f"{op}: output_shape has {channels} channels but the filters (shape "
            f"{tuple(w.shape)}) produce {w.shape[3]}", op)
    y = _transposed_conv(op, nn._to_ndhwc(x, data_format), w, sizes, strides, padding,
                         dilations, lambda v, k, s, p, dilations: nn.conv3d(
                             v, k, s, p, dilations=dilations))
    return nn._from_ndhwc(y, data_format)


def conv_transpose(input, filters, output_shape, strides, padding="SAME",  # noqa: A002
                   data_format=None, dilations=None, name=None):
    """conv1d_transpose, conv2d_transpose or conv3d_transpose, by the input's rank.

    >>> import tensorflux as tf
    >>> tf.nn.conv_transpose(tf.ones([1, 2, 2, 1]), tf.ones([2, 2, 1, 1]), [1, 4, 4, 1], 2).shape
    TensorShape([1, 4, 4, 1])
    """
    x = as_operand("conv_transpose", input)
    chosen = {3: conv1d_transpose, 4: nn.conv2d_transpose, 5: conv3d_transpose}.get(
        x.shape.rank)
    if chosen is None:
        raise errors.InvalidArgumentError(
            f"conv_transpose: expected an input of rank 3, 4 or 5, received shape "
            f"{tuple(x.shape)}", "conv_transpose")
    fmt = data_format or {3: "NWC", 4: "NHWC", 5: "NDHWC"}[x.shape.rank]
    return chosen(x, filters, output_shape, strides, padding, fmt, dilations)


def convolution(input, filters, strides=None, padding="VALID", data_format=None,  # noqa: A002
                dilations=None, name=None):
    """conv1d, conv2d or conv3d, by the input's rank (strides default to 1).

    >>> import tensorflux as tf
    >>> tf.nn.convolution(tf.ones([1, 3, 3, 1]), tf.ones([2, 2, 1, 1])).shape
    TensorShape([1, 2, 2, 1])
    """
    x = as_operand("convolution", input)
    rank = x.shape.rank
    strides = 1 if strides is None else strides
    if rank == 3:
        return nn.conv1d(x, filters, strides, padding, data_format or "NWC", dilations)
    if rank == 4:
        return nn.conv2d(x, filters, strides, padding, data_format or "NHWC", dilations)
    if rank == 5:
        return nn.conv3d(x, filters, strides, padding, data_format or "NDHWC", dilations)
    raise errors.InvalidArgumentError(
        f"convolution: expected an input of rank 3, 4 or 5, received shape {tuple(x.shape)}",
        "convolution")


def atrous_conv2d(value, filters, rate, padding, name=None):
    """conv2d with the filter taps `rate` pixels apart (dilations = rate), stride 1.

    >>> import tensorflux as tf
    >>> tf.nn.atrous_conv2d(tf.ones([1, 5, 5, 1]), tf.ones([2, 2, 1, 1]), 2, "VALID").shape
    TensorShape([1, 3, 3, 1])
    """
    return nn.conv2d(value, filters, 1, padding, dilations=rate)


def atrous_conv2d_transpose(value, filters, output_shape, rate, padding, name=None):
    """The transpose of atrous_conv2d.

    >>> import tensorflux as tf
    >>> tf.nn.atrous_conv2d_transpose(tf.ones([1, 3, 3, 1]), tf.ones([2, 2, 1, 1]),
    ...                               [1, 5, 5, 1], 2, "VALID").shape
    TensorShape([1, 5, 5, 1])
    """
    return nn.conv2d_transpose(value, filters, output_shape, 1, padding, dilations=rate)


def separable_conv2d(input, depthwise_filter, pointwise_filter, strides, padding,  # noqa: A002
                     data_format=None, dilations=None, name=None):
    """A depthwise conv2d, then a 1x1 conv2d mixing its channels (pointwise_filter
    [1, 1, in * multiplier, out]).

    >>> import tensorflux as tf
    >>> y = tf.nn.separable_conv2d(tf.ones([1, 3, 3, 2]), tf.ones([2, 2, 2, 1]),
    ...                            tf.ones([1, 1, 2, 4]), [1, 1, 1, 1], "VALID")
    >>> y.shape, float(y[0, 0, 0, 0])
    (TensorShape([1, 2, 2, 4]), 8.0)
    """
    fmt = data_format or "NHWC"
    depthwise = nn.depthwise_conv2d(input, depthwise_filter, strides, padding, fmt, dilations)
    return nn.conv2d(depthwise, pointwise_filter, 1, "VALID", fmt)


# ------------------------------------------------------------------ space and depth

def _block(op, block_size):
    size = int(block_size)
    if size < 2:
        raise errors.InvalidArgumentError(f"{op}: block_size must be at least 2, received "
                                          f"{block_size}", op)
    return size


def _channels_last(op, x, data_format):
    fmt = str(data_format or "NHWC").upper()
    if fmt not in ("NHWC", "NCHW"):
        raise errors.InvalidArgumentError(f"{op}: data_format must be 'NHWC' or 'NCHW', "
                                          f"received {data_format!r}", op)
    if x.shape.rank != 4:
        raise errors.InvalidArgumentError(f"{op}: expected an input of rank 4, received "
                                          f"shape {tuple(x.shape)}", op)
    return (linalg.transpose(x, [0, 2, 3, 1]) if fmt == "NCHW" else x), fmt


def _restored(y, fmt):
    return linalg.transpose(y, [0, 3, 1, 2]) if fmt == "NCHW" else y


def space_to_depth(input, block_size, data_format="NHWC", name=None):  # noqa: A002
    """Moves each block_size x block_size block of pixels into the channels (block row,
    then block column, then channel).

    >>> import tensorflux as tf
    >>> x = tf.reshape(tf.range(16.0), [1, 4, 4, 1])
    >>> tf.nn.space_to_depth(x, 2)[0, 0, 0].numpy().tolist()
    [0.0, 1.0, 4.0, 5.0]
    """
    op = "space_to_depth"
    b = _block(op, block_size)
    x, fmt = _channels_last(op, as_operand(op, input), data_format)
    h, w, c = _image_dims(x)
    if isinstance(h, int) and isinstance(w, int) and (h % b or w % b):
        raise errors.InvalidArgumentError(
            f"{op}: height {h} and width {w} must be multiples of block_size {b}", op)
    x = _reshaped(x, [h // b, b, w // b, b, c])
    x = linalg.transpose(x, [0, 1, 3, 2, 4, 5])
    return _restored(_reshaped(x, [h // b, w // b, b * b * c]), fmt)


def depth_to_space(input, block_size, data_format="NHWC", name=None):  # noqa: A002
    """The inverse of space_to_depth: channels become block_size x block_size blocks.

    >>> import tensorflux as tf
    >>> x = tf.reshape(tf.range(4.0), [1, 1, 1, 4])
    >>> tf.nn.depth_to_space(x, 2)[0, :, :, 0].numpy().tolist()
    [[0.0, 1.0], [2.0, 3.0]]
    """
    op = "depth_to_space"
    b = _block(op, block_size)
    x, fmt = _channels_last(op, as_operand(op, input), data_format)
    h, w, c = _image_dims(x)
    if c % (b * b):
        raise errors.InvalidArgumentError(
            f"{op}: the channels ({c}) must be a multiple of block_size^2 ({b * b})", op)
    x = _reshaped(x, [h, w, b, b, c // (b * b)])
    x = linalg.transpose(x, [0, 1, 3, 2, 4, 5])
    return _restored(_reshaped(x, [h * b, w * b, c // (b * b)]), fmt)


def _image_dims(x):
    """(height, width, channels) of NHWC `x`: ints where the trace knows them, run-time
    scalars where it does not (a fully convolutional Input((None, None, c)), as in keras.io's
    super-resolution examples). The channels must be known."""
    _, h, w, c = x.shape
    if h is None or w is None:
        dims = array.shape(x)
        h = dims[1] if h is None else h
        w = dims[2] if w is None else w
    return h, w, c


def _reshaped(x, dims):
    """x reshaped to [batch, *dims], where dims may hold run-time scalars."""
    if all(isinstance(d, int) for d in dims):
        return array.reshape(x, [-1, *dims])
    return array.reshape(x, array.stack([array.shape(x)[0], *dims]))


# ------------------------------------------------------------------ normalization

def local_response_normalization(input, depth_radius=5, bias=1.0, alpha=1.0,  # noqa: A002
                                 beta=0.5, name=None):
    """input / (bias + alpha * sqr_sum) ** beta, where sqr_sum sums the squares of the
    channels within depth_radius of each channel (NHWC input).

    >>> import tensorflux as tf
    >>> y = tf.nn.local_response_normalization(tf.ones([1, 1, 1, 3]), 1, 1.0, 1.0, 1.0)
    >>> [round(v, 4) for v in y.numpy().ravel().tolist()]
    [0.3333, 0.25, 0.3333]
    """
    op = "local_response_normalization"
    x = nn._float_operand(op, input)
    if x.shape.rank != 4:
        raise errors.InvalidArgumentError(f"{op}: expected an input of rank 4, received "
                                          f"shape {tuple(x.shape)}", op)
    radius = int(depth_radius)
    channels = x.shape[-1]
    padded = array.pad(math.square(x), [[0, 0], [0, 0], [0, 0], [radius, radius]])
    total = padded[..., :channels]
    for shift in range(1, 2 * radius + 1):
        total = total + padded[..., shift:shift + channels]
    scale = math.pow(math.const(bias, x) + math.const(alpha, x) * total, math.const(-beta, x))
    return x * scale


lrn = local_response_normalization


# ------------------------------------------------------------------ losses

def weighted_cross_entropy_with_logits(labels, logits, pos_weight, name=None):
    """Sigmoid cross-entropy with the positive term weighted by pos_weight:
    -pos_weight * z * log(sigmoid(x)) - (1 - z) * log(1 - sigmoid(x)), computed stably.

    >>> import tensorflux as tf
    >>> loss = tf.nn.weighted_cross_entropy_with_logits([1.0], [0.0], 2.0)
    >>> round(float(loss[0]), 6)  # 2 log 2
    1.386294
    """
    op = "weighted_cross_entropy_with_logits"
    logits = nn._float_operand(op, logits, "logits")
    labels = as_operand(op, labels, logits.dtype)
    q = as_operand(op, pos_weight, logits.dtype)
    one = math.const(1, logits)
    # log(1 + exp(-x)) for either sign of x, without overflow.
    softplus_negative = math.log1p(math.exp(math.negative(math.abs(logits)))) + math.maximum(
        math.negative(logits), math.zeros_like_(logits))
    return (one - labels) * logits + (one + (q - one) * labels) * softplus_negative


def log_poisson_loss(targets, log_input, compute_full_loss=False, name=None):
    """The negative log-likelihood of targets under Poisson(exp(log_input)), without the
    constant log(targets!) unless compute_full_loss (then by Stirling's formula, for
    targets > 1).

    >>> import tensorflux as tf
    >>> round(float(tf.nn.log_poisson_loss(0.5, 0.2)), 6)  # exp(0.2) - 0.5 * 0.2
    1.121403
    """
    op = "log_poisson_loss"
    c = nn._float_operand(op, log_input, "log_input")
    z = as_operand(op, targets, c.dtype)
    if not z.shape.is_compatible_with(c.shape):
        raise errors.InvalidArgumentError(
            f"{op}: targets and log_input must have the same shape, received "
            f"{tuple(z.shape)} and {tuple(c.shape)}", op)
    loss = math.exp(c) - z * c
    if compute_full_loss:
        one = math.const(1, z)
        above = math.greater(z, one)
        safe = math.where(above, z, math.ones_like_(z))  # keeps log(0) out of the gradient
        stirling = (safe * math.log(safe) - safe
                    + math.const(0.5, z) * math.log(math.const(6.283185307179586, z) * safe))
        loss = loss + math.where(above, stirling, math.zeros_like_(z))
    return loss


# ------------------------------------------------------------------ moments

def normalize_moments(counts, mean_ss, variance_ss, shift, name=None):
    """The mean and variance from sufficient statistics (counts and the shifted sums of
    values and of their squares).

    >>> import tensorflux as tf
    >>> mean, variance = tf.nn.normalize_moments(2.0, [2.0, 4.0], [4.0, 10.0], 1.0)
    >>> mean.numpy().tolist(), variance.numpy().tolist()
    ([2.0, 3.0], [1.0, 1.0])
    """
    op = "normalize_moments"
    mean_ss = nn._float_operand(op, mean_ss, "mean_ss")
    variance_ss = as_operand(op, variance_ss, mean_ss.dtype)
    divisor = math.reciprocal(as_operand(op, counts, mean_ss.dtype))
    shifted_mean = mean_ss * divisor
    mean = shifted_mean if shift is None else shifted_mean + as_operand(op, shift, mean_ss.dtype)
    return mean, variance_ss * divisor - math.square(shifted_mean)


def sufficient_statistics(x, axes, shift=None, keepdims=False, name=None):
    """(count, sum of x - shift, sum of (x - shift)^2, shift) over axes: what
    normalize_moments turns into a mean and a variance.

    >>> import tensorflux as tf
    >>> count, m_ss, v_ss, _ = tf.nn.sufficient_statistics([[1.0, 2.0], [3.0, 4.0]], [0])
    >>> float(count), m_ss.numpy().tolist(), v_ss.numpy().tolist()
    (2.0, [4.0, 6.0], [10.0, 20.0])
    """
    op = "sufficient_statistics"
    x = nn._float_operand(op, x)
    axes = normalize_axes(op, axes, x.shape.rank)
    dims = array.shape(x)
    count = reduction.reduce_prod(math.cast(array.stack([dims[a] for a in axes]), x.dtype)) \
        if axes else math.const(1, x)
    if shift is not None:
        shift = as_operand(op, shift, x.dtype)
        x = x - shift
    m_ss = reduction.reduce_sum(x, axis=list(axes), keepdims=keepdims)
    v_ss = reduction.reduce_sum(math.square(x), axis=list(axes), keepdims=keepdims)
    return count, m_ss, v_ss, shift


def weighted_moments(x, axes, frequency_weights, keepdims=False, name=None):
    """The mean and variance of x over axes with each element counted frequency_weights
    times (the weights broadcast against x).

    >>> import tensorflux as tf
    >>> mean, variance = tf.nn.weighted_moments([[1.0, 2.0], [3.0, 4.0]], [0], [[1.0], [3.0]])
    >>> mean.numpy().tolist(), variance.numpy().tolist()
    ([2.5, 3.5], [0.75, 0.75])
    """
    op = "weighted_moments"
    x = nn._float_operand(op, x)
    weights = as_operand(op, frequency_weights, x.dtype)
    axes = list(normalize_axes(op, axes, x.shape.rank))
    total = reduction.reduce_sum(weights + array.zeros_like(x), axis=axes, keepdims=True)
    mean = math.divide_no_nan(reduction.reduce_sum(weights * x, axis=axes, keepdims=True),
                              total)
    spread = reduction.reduce_sum(weights * math.squared_difference(x, mean), axis=axes,
                                  keepdims=True)
    variance = math.divide_no_nan(spread, total)
    if not keepdims:
        kept = [d for i, d in enumerate(_dims(mean.shape)) if i not in axes]
        mean, variance = array.reshape(mean, kept), array.reshape(variance, kept)
    return mean, variance


# ------------------------------------------------------------------ activations

def crelu(features, axis=-1, name=None):
    """Concatenated ReLU: [relu(x), relu(-x)] joined along axis.

    >>> import tensorflux as tf
    >>> tf.nn.crelu([[1.0, -2.0]]).numpy().tolist()
    [[1.0, 0.0, 0.0, 2.0]]
    """
    x = nn._float_operand("crelu", features)
    axis = normalize_axis("crelu", axis, x.shape.rank)
    return array.concat([nn.relu(x), nn.relu(math.negative(x))], axis)


# ------------------------------------------------------------------ windows: argmax, morphology

def _window_geometry(op, x, ksizes, strides, rates, padding):
    """(padded x, output height, output width): x padded with the lowest value so that padding
    never wins a maximum."""
    _, h, w, _ = tuple(x.shape)
    if h is None or w is None:
        raise errors.InvalidArgumentError(f"{op}: the height and width must be known, "
                                          f"received shape {tuple(x.shape)}", op)
    sizes = nn._out_sizes((h, w), ksizes, strides, padding, rates)
    if min(sizes) <= 0:
        raise errors.InvalidArgumentError(
            f"{op}: the window {list(ksizes)} (rates {list(rates)}) does not fit the input of "
            f"shape {tuple(x.shape)} with padding {padding!r}", op)
    if padding == "SAME":
        pads = [nn._same_pads(n, k, s, r) for n, k, s, r in zip((h, w), ksizes, strides, rates)]
        lowest = x.dtype.min if x.dtype.is_integer else float("-inf")
        x = array.pad(x, [[0, 0], list(pads[0]), list(pads[1]), [0, 0]],
                      constant_values=lowest)
    return x, sizes[0], sizes[1]


def _taps(x, ksizes, strides, rates, out_h, out_w):
    """The input seen by each window tap, row-major: a list of [n, out_h, out_w, c]."""
    (sh, sw), (rh, rw) = strides, rates
    return [x[:, i * rh:i * rh + sh * (out_h - 1) + 1:sh, j * rw:j * rw + sw * (out_w - 1) + 1:sw]
            for i in range(ksizes[0]) for j in range(ksizes[1])]


def max_pool_with_argmax(input, ksize, strides, padding, data_format="NHWC",  # noqa: A002
                         output_dtype=dtypes.int64, include_batch_in_index=False, name=None):
    """max_pool2d and, for each output, the flat index ((y * width + x) * channels + c, plus
    batch * height * width * channels with include_batch_in_index) of the input it took.

    >>> import tensorflux as tf
    >>> x = tf.reshape(tf.constant([1.0, 5.0, 3.0, 2.0]), [1, 2, 2, 1])
    >>> values, argmax = tf.nn.max_pool_with_argmax(x, 2, 2, "VALID")
    >>> values.numpy().ravel().tolist(), argmax.numpy().ravel().tolist()
    ([5.0], [1])
    """
    op = "max_pool_with_argmax"
    x = as_operand(op, input)
    if str(data_format).upper() != "NHWC" or x.shape.rank != 4:
        raise errors.InvalidArgumentError(
            f"{op}: expected an NHWC input of rank 4, received shape {tuple(x.shape)} and "
            f"data_format {data_format!r}", op)
    ksizes = nn._int_list(op, "ksize", ksize, 2, "NHWC")
    step = nn._int_list(op, "strides", strides, 2, "NHWC")
    padding = nn._padding(op, padding, 2, "NHWC", explicit=False)
    values = nn.max_pool2d(x, ksizes, step, padding)
    _, h, w, c = _dims(x.shape)
    padded, out_h, out_w = _window_geometry(op, x, ksizes, step, (1, 1), padding)
    stacked = array.stack(_taps(padded, ksizes, step, (1, 1), out_h, out_w), axis=-1)
    tap = math.cast(reduction.argmax(stacked, axis=-1), dtypes.int64)
    top, left = (nn._same_pads(h, ksizes[0], step[0], 1)[0],
                 nn._same_pads(w, ksizes[1], step[1], 1)[0]) if padding == "SAME" else (0, 0)
    rows = array.reshape(array.range(0, out_h, dtype=dtypes.int64) * step[0] - top,
                         [1, -1, 1, 1])
    cols = array.reshape(array.range(0, out_w, dtype=dtypes.int64) * step[1] - left,
                         [1, 1, -1, 1])
    y = rows + math.floordiv(tap, ksizes[1])
    x_pos = cols + math.floormod(tap, ksizes[1])
    channel = array.reshape(array.range(0, c, dtype=dtypes.int64), [1, 1, 1, -1])
    index = (y * w + x_pos) * c + channel
    if include_batch_in_index:
        batch = array.reshape(array.range(0, array.shape(x, out_type=dtypes.int64)[0],
                                          dtype=dtypes.int64), [-1, 1, 1, 1])
        index = index + batch * (h * w * c)
    return values, array.stop_gradient(math.cast(index, dtypes.as_dtype(output_dtype)))


def _morphology_operands(op, x, filters, strides, padding, data_format, rates):
    x = nn._float_operand(op, x)
    f = as_operand(op, filters, x.dtype)
    if str(data_format).upper() != "NHWC" or x.shape.rank != 4 or f.shape.rank != 3:
        raise errors.InvalidArgumentError(
            f"{op}: expected an NHWC input of rank 4 and filters [height, width, channels], "
            f"received shapes {tuple(x.shape)} and {tuple(f.shape)} and data_format "
            f"{data_format!r}", op)
    if f.shape[2] != x.shape[3]:
        raise errors.InvalidArgumentError(
            f"{op}: the filters have {f.shape[2]} channels but the input has {x.shape[3]}", op)
    step = nn._int_list(op, "strides", strides, 2, "NHWC")
    rates = nn._int_list(op, "dilations", rates, 2, "NHWC")
    padding = nn._padding(op, padding, 2, "NHWC", explicit=False)
    return x, f, step, rates, padding


def dilation2d(input, filters, strides, padding, data_format, dilations,  # noqa: A002
               name=None):
    """Grayscale dilation: out = max over the window of input + filters (per channel),
    with the filter taps `dilations` apart.

    >>> import tensorflux as tf
    >>> x = tf.reshape(tf.range(4.0), [1, 2, 2, 1])
    >>> y = tf.nn.dilation2d(x, tf.zeros([2, 2, 1]), [1, 1, 1, 1], "VALID", "NHWC", [1, 1, 1, 1])
    >>> y.numpy().ravel().tolist()
    [3.0]
    """
    op = "dilation2d"
    x, f, step, rates, padding = _morphology_operands(op, input, filters, strides, padding,
                                                      data_format, dilations)
    ksizes = tuple(f.shape)[:2]
    padded, out_h, out_w = _window_geometry(op, x, ksizes, step, rates, padding)
    taps = _taps(padded, ksizes, step, rates, out_h, out_w)
    shifted = [t + f[i // ksizes[1], i % ksizes[1]] for i, t in enumerate(taps)]
    return reduction.reduce_max(array.stack(shifted, axis=-1), axis=-1)


def erosion2d(value, filters, strides, padding, data_format, dilations, name=None):
    """Grayscale erosion: out = min over the window of value - filters (the filters
    mirrored), i.e. -dilation2d(-value, mirrored filters).

    >>> import tensorflux as tf
    >>> x = tf.reshape(tf.range(4.0), [1, 2, 2, 1])
    >>> y = tf.nn.erosion2d(x, tf.ones([2, 2, 1]), [1, 1, 1, 1], "VALID", "NHWC", [1, 1, 1, 1])
    >>> y.numpy().ravel().tolist()
    [-1.0]
    """
    op = "erosion2d"
    x, f, _, _, _ = _morphology_operands(op, value, filters, strides, padding, data_format,
                                         dilations)
    mirrored = indexing.reverse(f, [0, 1])
    return math.negative(dilation2d(math.negative(x), mirrored, strides, padding, data_format,
                                    dilations))


def pool(input, window_shape, pooling_type, strides=None, padding="VALID",  # noqa: A002
         data_format=None, dilations=None, name=None):
    """N-D max or average pooling (pooling_type "MAX" or "AVG") over a window_shape window:
    max_pool / avg_pool with TF's generic argument names; strides default to 1.

    >>> import tensorflux as tf
    >>> tf.nn.pool(tf.ones([1, 4, 4, 1]), [2, 2], "AVG", strides=[2, 2]).shape
    TensorShape([1, 2, 2, 1])
    """
    if pooling_type not in ("MAX", "AVG"):
        raise ValueError(f"pool: pooling_type must be 'MAX' or 'AVG', received {pooling_type!r}")
    window = list(window_shape)
    if any(d != 1 for d in ([dilations] if isinstance(dilations, int) else dilations or [])):
        raise errors.UnimplementedError(
            f"pool: dilations other than 1 are not supported, received {dilations!r}", "pool")
    strides = [1] * len(window) if strides is None else strides
    fn = nn.max_pool if pooling_type == "MAX" else nn.avg_pool
    return fn(input, window, strides, padding, data_format=data_format)


def embedding_lookup_sparse(params, sp_ids, sp_weights, combiner=None, max_norm=None,
                            name=None, allow_fast_lookup=False):
    """One embedding per row of the SparseTensor `sp_ids`: the rows of `params` at that row's
    ids, weighted by `sp_weights` (a SparseTensor like sp_ids, or None for ones) and combined
    by "sum", "mean" (the default: divided by the weights' sum) or "sqrtn" (by the root of
    their squares' sum). As in TF, the result has one row per row of sp_ids up to the last
    that holds an id; rows without ids give zeros.

    >>> import tensorflux as tf
    >>> ids = tf.sparse.SparseTensor([[0, 0], [0, 1], [1, 0]], [1, 2, 0], [2, 2])
    >>> tf.nn.embedding_lookup_sparse([[1.0], [2.0], [4.0]], ids, None).numpy().tolist()
    [[3.0], [1.0]]
    """
    combiner = "mean" if combiner is None else combiner
    if combiner not in ("sum", "mean", "sqrtn"):
        raise ValueError(f"embedding_lookup_sparse: combiner must be 'sum', 'mean' or "
                         f"'sqrtn', received {combiner!r}")
    from tensorflux.ops import composite

    rows = math.cast(sp_ids.indices[:, 0], dtypes.int32)
    count = reduction.reduce_max(array.concat([rows, array.fill([1], -1)], 0)) + 1
    embeddings = composite.embedding_lookup(params, sp_ids.values, max_norm=max_norm)
    extra = embeddings.shape.rank - 1
    if sp_weights is None:
        weights = array.ones_like(math.cast(sp_ids.values, embeddings.dtype))
    else:
        weights = math.cast(sp_weights.values, embeddings.dtype)
    scaled = embeddings * array.reshape(weights, [-1] + [1] * extra)
    total = composite.unchecked_segment_sum(scaled, rows, count)
    if combiner == "sum":
        return total
    norms = weights if combiner == "mean" else weights * weights
    divisor = composite.unchecked_segment_sum(norms, rows, count)
    if combiner == "sqrtn":
        divisor = math.sqrt(divisor)
    return math.divide_no_nan(total, array.reshape(divisor, [-1] + [1] * extra))
