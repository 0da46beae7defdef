"""keras.layers convolution layers: Conv1D/2D/3D, Conv1D/2D/3DTranspose, SeparableConv1D/2D
and DepthwiseConv1D/2D (Keras 3's arguments, weight layouts and configs)."""

from tensorflux.keras import activations, backend
from tensorflux.keras.layers._weight_args import (
    add_weight_from_args,
    set_weight_args,
    weight_args_config,
)
from tensorflux.keras.layers.base import InputSpec, Layer, _describe, _format_shape
from tensorflux.keras.layers.core import LoRAMixin

__all__ = ["Conv1D", "Conv1DTranspose", "Conv2D", "Conv2DTranspose", "Conv3D",
           "Conv3DTranspose", "Convolution1D", "Convolution1DTranspose", "Convolution2D",
           "Convolution2DTranspose", "Convolution3D", "Convolution3DTranspose",
           "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D",
           "SeparableConvolution1D", "SeparableConvolution2D"]


def _nn():
    from tensorflux.ops import nn

    return nn


def standardize_tuple(value, n, name, allow_zero=False):
    """An int or n ints as a tuple of n ints (Keras's argument rule and message)."""
    message = f"The `{name}` argument must be a tuple of {n} integers. Received {name}={value}"
    if isinstance(value, int) and not isinstance(value, bool):
        values = (value,) * n
    else:
        try:
            values = tuple(int(v) for v in value)
        except (TypeError, ValueError):
            raise ValueError(message) from None
        if len(values) != n:
            raise ValueError(message)
    low = 0 if allow_zero else 1
    if any(v < low for v in values):
        raise ValueError(f"{message}, including values that are not "
                         f"{'>= 0' if allow_zero else '> 0'}.")
    return values


def standardize_padding(owner, value, allow_causal=False):
    allowed = ("valid", "same", "causal") if allow_causal else ("valid", "same")
    padding = value.lower() if isinstance(value, str) else value
    if padding not in allowed:
        causal = " ('causal' only for Conv1D)" if not allow_causal else ""
        raise ValueError(f"{owner}: the `padding` argument must be one of "
                         f"{', '.join(repr(a) for a in allowed)}{causal}. "
                         f"Received: padding={value!r}")
    return padding


def standardize_data_format(data_format):
    if data_format is None:
        return backend.image_data_format()
    value = str(data_format).lower()
    if value not in ("channels_first", "channels_last"):
        raise ValueError("The `data_format` argument must be one of {'channels_first', "
                         f"'channels_last'}}. Received: data_format={data_format}")
    return value


def tf_format(data_format, rank):
    last, first = {1: ("NWC", "NCW"), 2: ("NHWC", "NCHW"), 3: ("NDHWC", "NCDHW")}[rank]
    return first if data_format == "channels_first" else last


def spatial_dims(shape, data_format):
    return list(shape[2:]) if data_format == "channels_first" else list(shape[1:-1])


def conv_output_length(size, kernel, stride, padding, dilation):
    if size is None:
        return None
    span = (kernel - 1) * dilation + 1
    if padding == "same":
        return -(-size // stride)
    if padding == "causal":
        return (size - 1) // stride + 1
    return (size - span) // stride + 1


def check_window_fits(layer, input_shape, data_format, kernel, strides, padding, dilation,
                      what="kernel"):
    """ValueError naming the layer when the window is larger than the padded input."""
    sizes = spatial_dims(input_shape, data_format)
    out = [conv_output_length(n, k, s, padding, d)
           for n, k, s, d in zip(sizes, kernel, strides, dilation)]
    if any(o is not None and o <= 0 for o in out):
        raise ValueError(
            f"{_describe(layer)}: the {what} of size {tuple(kernel)} (dilation_rate "
            f"{tuple(dilation)}) is larger than the padded input: input shape "
            f"{_format_shape(input_shape)} ({data_format}) with padding '{padding}' would give "
            f"an output of spatial size {tuple(out)}.")


def _channels(layer, input_shape, data_format):
    channel = input_shape[1] if data_format == "channels_first" else input_shape[-1]
    if channel is None:
        raise ValueError(f"{_describe(layer)} cannot be built: the channel dimension of its "
                         f"input is unknown, received shape {_format_shape(input_shape)} "
                         f"({data_format}).")
    return channel


def _channel_spec(rank, data_format, channels):
    axis = 1 if data_format == "channels_first" else -1
    return InputSpec(min_ndim=rank + 2, axes={axis: channels})


def _add_bias(layer, outputs, bias, rank):
    if bias is None:
        return outputs
    return _nn().bias_add(outputs, bias, data_format=tf_format(layer.data_format, rank))


class _Common(Layer):
    """Argument handling shared by every convolution layer."""

    def _common_init(self, rank, kernel_size, strides, padding, data_format, dilation_rate,
                     activation, use_bias, bias_initializer, bias_regularizer,
                     bias_constraint, allow_causal=False):
        self.rank = rank
        self.kernel_size = standardize_tuple(kernel_size, rank, "kernel_size")
        self.strides = standardize_tuple(strides, rank, "strides")
        self.dilation_rate = standardize_tuple(dilation_rate, rank, "dilation_rate")
        self.padding = standardize_padding(_describe(self), padding, allow_causal)
        self.data_format = standardize_data_format(data_format)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        set_weight_args(self, bias=(bias_initializer, bias_regularizer, bias_constraint))
        self.input_spec = InputSpec(min_ndim=rank + 2)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{_describe(self)}: `strides > 1` not supported in conjunction "
                             f"with `dilation_rate > 1`. Received: strides={self.strides} "
                             f"and dilation_rate={self.dilation_rate}")

    def _check_rank(self, input_shape):
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"{_describe(self)} expected an input of rank {self.rank + 2}, "
                             f"received shape {_format_shape(input_shape)}")

    def _prepare_build(self, input_shape, check_window=True):
        """Checks the input and fixes the input spec's channels; returns the channels."""
        self._check_rank(input_shape)
        channels = _channels(self, input_shape, self.data_format)
        self._check_channels(channels, input_shape)
        if check_window:
            check_window_fits(self, input_shape, self.data_format, self.kernel_size,
                              self.strides, self.padding, self.dilation_rate)
        self.input_spec = _channel_spec(self.rank, self.data_format, channels)
        return channels

    def _check_channels(self, channels, input_shape):
        pass

    def _bias_weight(self, size):
        if not self.use_bias:
            return None
        return add_weight_from_args(self, "bias", (size,))

    def _finish(self, outputs):
        outputs = _add_bias(self, outputs, self.bias, self.rank)
        return self.activation(outputs) if self.activation is not None else outputs

    def _common_config(self):
        return {
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
        }

    def _tail_config(self):
        return {
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
        }


def _conv(x, kernel, rank, strides, padding, dilation, data_format):
    """The N-D convolution of Keras's ops.conv (padding 'valid'/'same'/'causal')."""
    nn = _nn()
    fmt = tf_format(data_format, rank)
    if padding == "causal":
        left = dilation[0] * (kernel.shape[0] - 1)
        pad = [[0, 0], [0, 0], [left, 0]] if fmt == "NCW" else [[0, 0], [left, 0], [0, 0]]
        return nn.conv1d(x, kernel, strides[0], pad, data_format=fmt, dilations=dilation[0])
    if rank == 1:
        return nn.conv1d(x, kernel, strides[0], padding.upper(), data_format=fmt,
                         dilations=dilation[0])
    if rank == 2:
        return nn.conv2d(x, kernel, strides, padding.upper(), data_format=fmt,
                         dilations=dilation)
    if None in spatial_dims(x.shape, data_format):
        return _conv3d_run_time(x, kernel, strides, padding, dilation, data_format)
    return nn.conv3d(x, kernel, strides, padding.upper(), data_format=fmt, dilations=dilation)


def _conv3d_run_time(x, kernel, strides, padding, dilation, data_format):
    """conv3d of an input whose spatial sizes the trace does not know (the core conv3d needs
    them): a sum over the kernel's depth taps of 2-D convolutions of all depth slices, the
    depth stride taken by subsampling."""
    import tensorflux as tf

    channels_first = data_format == "channels_first"
    if channels_first:
        x = tf.transpose(x, [0, 2, 3, 4, 1])
    depth, stride = x.shape[1], strides[0]
    reach = (kernel.shape[0] - 1) * dilation[0]
    if padding == "same":
        if depth is None and stride > 1:
            raise ValueError(
                "A 3-D convolution with padding='same' and a depth stride of "
                f"{stride} needs the depth of its input, received shape "
                f"{_format_shape(tuple(x.shape))} (channels_last)")
        total = reach if depth is None else max((-(-depth // stride) - 1) * stride + reach
                                                + 1 - depth, 0)
        x = tf.pad(x, [[0, 0], [total // 2, total - total // 2], [0, 0], [0, 0], [0, 0]])
    dims = _run_time_shape(x)
    y = None
    for i in range(kernel.shape[0]):
        start = i * dilation[0]
        planes = tf.reshape(x[:, start:(start - reach) or None], tf.stack([-1] + dims[2:]))
        plane = _nn().conv2d(planes, kernel[i], strides[1:], padding.upper(),
                             dilations=dilation[1:])
        y = plane if y is None else y + plane
    y = tf.reshape(y, tf.stack([dims[0], -1] + _run_time_shape(y)[1:]))
    if stride > 1:
        y = y[:, ::stride]
    return tf.transpose(y, [0, 4, 1, 2, 3]) if channels_first else y


class BaseConv(LoRAMixin, _Common):
    """The N-D convolution layer: `activation(conv(inputs, kernel) + bias)`, with kernel of
    shape `kernel_size + (input_channels // groups, filters)`. `enable_lora(rank)` adapts the
    kernel with LoRA (see LoRAMixin); Keras gives it to Conv1D/2D/3D only."""

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid",
                 data_format=None, dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, lora_rank=None,
                 lora_alpha=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self._common_init(rank, kernel_size, strides, padding, data_format, dilation_rate,
                          activation, use_bias, bias_initializer, bias_regularizer,
                          bias_constraint, allow_causal=rank == 1)
        self.filters = filters
        self.groups = groups
        set_weight_args(self, kernel=(kernel_initializer, kernel_regularizer, kernel_constraint))
        self._init_lora(lora_rank, lora_alpha)
        if filters is not None and (isinstance(filters, bool) or not isinstance(filters, int)
                                    or filters <= 0):
            raise ValueError("Invalid value for argument `filters`. Expected a strictly "
                             f"positive value. Received filters={filters}.")
        if isinstance(groups, bool) or not isinstance(groups, int) or groups <= 0:
            raise ValueError("The number of groups must be a positive integer. "
                             f"Received: groups={groups}.")
        if filters is not None and filters % groups:
            raise ValueError("The number of filters must be evenly divisible by the number of "
                             f"groups. Received: groups={groups}, filters={filters}.")

    def _check_channels(self, channels, input_shape):
        if channels % self.groups:
            raise ValueError(f"{_describe(self)}: the number of input channels must be evenly "
                             f"divisible by the number of groups. Received groups="
                             f"{self.groups}, but the input has {channels} channels (full "
                             f"input shape is {_format_shape(input_shape)}).")

    def build(self, input_shape):
        channels = self._prepare_build(input_shape)
        self._kernel = add_weight_from_args(
            self, "kernel", self.kernel_size + (channels // self.groups, self.filters))
        self.bias = self._bias_weight(self.filters)
        if self.lora_rank:
            self.enable_lora(self.lora_rank, lora_alpha=self.lora_alpha)

    @property
    def kernel(self):
        """The kernel the layer computes with: its variable, with the LoRA update added
        once LoRA is enabled."""
        return self._with_lora(self._stored_weight())

    def convolution_op(self, inputs, kernel):
        """The convolution of `call`, before the bias and activation: a subclass may
        override it (keras.io's weight-standardized Conv2D normalizes `kernel` first)."""
        return _conv(inputs, kernel, self.rank, self.strides, self.padding,
                     self.dilation_rate, self.data_format)

    def call(self, inputs):
        fused = self._fused_call(inputs)
        if fused is not None:
            return fused
        return self._finish(self.convolution_op(inputs, self.kernel))

    def _fused_call(self, inputs):
        """Eagerly, a Conv2D's convolution, bias and relu (or bias alone) as one kernel call
        with the same values and gradients (ops.nn.conv2d_bias_relu; in tf.function the
        graph passes fuse the same ops); None where the layer computes something else (a
        subclass's convolution_op, another activation, no bias, channels_first, 1-D or 3-D)
        or the op does not apply, and `call` runs the ops one by one."""
        if (self.rank != 2 or self.bias is None or self.data_format != "channels_last"
                or self.activation not in (activations.relu, activations.linear)
                or type(self).convolution_op is not BaseConv.convolution_op):
            return None
        return _nn().conv2d_bias_relu(inputs, self.kernel, self.bias, self.strides,
                                      self.padding.upper(), self.dilation_rate,
                                      relu=self.activation is activations.relu)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            **self._common_config(),
            "groups": self.groups,
            **self._tail_config(),
            **weight_args_config(self, "kernel", "bias"),
            **self._lora_config(),
        }


class Conv1D(BaseConv):
    """1-D convolution (temporal): kernel `(kernel_size, in // groups, filters)`; padding
    'valid', 'same' or 'causal' (left padding only, WaveNet-style).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.Conv1D(2, 3, padding="causal", kernel_initializer="ones")
    >>> layer(tf.ones((1, 4, 1))).numpy()[0, :, 0].tolist()
    [1.0, 2.0, 3.0, 3.0]
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(1, filters, kernel_size, strides, padding, data_format, dilation_rate,
                         groups, activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, activity_regularizer,
                         kernel_constraint, bias_constraint, **kwargs)


class Conv2D(BaseConv):
    """2-D convolution: kernel `(kh, kw, in // groups, filters)` (HWIO, Keras's layout).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.Conv2D(4, 3, kernel_initializer="ones")
    >>> layer(tf.ones((1, 5, 5, 2))).shape
    TensorShape([1, 3, 3, 4])
    >>> tuple(layer.kernel.shape)
    (3, 3, 2, 4)
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 data_format=None, dilation_rate=(1, 1), groups=1, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(2, filters, kernel_size, strides, padding, data_format, dilation_rate,
                         groups, activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, activity_regularizer,
                         kernel_constraint, bias_constraint, **kwargs)


class Conv3D(BaseConv):
    """3-D convolution: kernel `(kd, kh, kw, in // groups, filters)`.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.Conv3D(2, 2)(tf.ones((1, 3, 3, 3, 1))).shape
    TensorShape([1, 2, 2, 2, 2])
    """

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid",
                 data_format=None, dilation_rate=(1, 1, 1), groups=1, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(3, filters, kernel_size, strides, padding, data_format, dilation_rate,
                         groups, activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, activity_regularizer,
                         kernel_constraint, bias_constraint, **kwargs)


# ---------------------------------------------------------------------- transposed
def transpose_output_length(size, kernel, stride, padding, output_padding, dilation):
    """Keras's (TF's) transposed-convolution output size."""
    if size is None:
        return None
    span = (kernel - 1) * dilation + 1
    if padding == "valid":
        extra = max(span, stride) - span if output_padding is None else output_padding
        return (size - 1) * stride + span + extra
    if output_padding is None:
        return size * stride
    return (size - 1) * stride + span % 2 + output_padding


class BaseConvTranspose(_Common):
    """The transposed convolution (the gradient of a convolution with respect to its input):
    kernel `kernel_size + (filters, input_channels)`."""

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid",
                 output_padding=None, data_format=None, dilation_rate=1, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self._common_init(rank, kernel_size, strides, padding, data_format, dilation_rate,
                          activation, use_bias, bias_initializer, bias_regularizer,
                          bias_constraint)
        self.filters = filters
        set_weight_args(self, kernel=(kernel_initializer, kernel_regularizer, kernel_constraint))
        if isinstance(filters, bool) or not isinstance(filters, int) or filters <= 0:
            raise ValueError("Invalid value for argument `filters`. Expected a strictly "
                             f"positive value. Received filters={filters}.")
        self.output_padding = None if output_padding is None else standardize_tuple(
            output_padding, rank, "output_padding", allow_zero=True)
        if self.output_padding is not None:
            for i, (extra, stride) in enumerate(zip(self.output_padding, self.strides)):
                if extra >= stride:
                    raise ValueError(
                        f"{_describe(self)}: `output_padding` must be strictly less than "
                        f"`strides` for all dimensions. At dimension {i}, `output_padding` "
                        f"is {extra} but `strides` is {stride}. Received: output_padding="
                        f"{self.output_padding}, strides={self.strides}")

    def build(self, input_shape):
        channels = self._prepare_build(input_shape, check_window=False)
        self.kernel = add_weight_from_args(self, "kernel",
                                           self.kernel_size + (self.filters, channels))
        self.bias = self._bias_weight(self.filters)

    def _output_sizes(self, input_shape):
        extras = self.output_padding or (None,) * self.rank
        return [transpose_output_length(n, k, s, self.padding, e, d) for n, k, s, e, d in
                zip(spatial_dims(input_shape, self.data_format), self.kernel_size,
                    self.strides, extras, self.dilation_rate)]

    def call(self, inputs):
        nn = _nn()
        shape = tuple(inputs.shape)
        if self.rank == 3:
            return self._finish(_conv_transpose_by_dilation(
                inputs, self.kernel, self.strides, self.padding, self.output_padding,
                self.dilation_rate, self.data_format))
        kernel, strides, dilation = self.kernel, self.strides, self.dilation_rate
        x = inputs
        channels_first = self.data_format == "channels_first"
        sizes = self._output_sizes(shape)
        run_time = None in sizes  # traced with unknown image sizes (Input((None, None, 3)))
        if run_time:
            shape = _run_time_shape(inputs)
            sizes = self._output_sizes(shape)
        if self.rank == 1:  # as a 2-D transpose over a height of 1
            x = _nn_expand(x, 2 if channels_first else 1)
            kernel = _nn_expand(kernel, 0)
            sizes, strides, dilation = [1] + sizes, (1,) + strides, (1,) + dilation
        fmt = "NCHW" if channels_first else "NHWC"
        out_shape = ([shape[0], self.filters] + sizes if channels_first
                     else [shape[0]] + sizes + [self.filters])
        if run_time:
            out_shape = _stack(out_shape)
        outputs = nn.conv2d_transpose(x, kernel, out_shape, strides, self.padding.upper(),
                                      data_format=fmt, dilations=dilation)
        if self.rank == 1:
            outputs = _nn_squeeze(outputs, 2 if channels_first else 1)
        return self._finish(outputs)

    def get_config(self):
        config = {**super().get_config(), "filters": self.filters, **self._common_config()}
        config["output_padding"] = self.output_padding
        config["data_format"] = config.pop("data_format")
        config["dilation_rate"] = config.pop("dilation_rate")
        return {
            **config,
            **self._tail_config(),
            **weight_args_config(self, "kernel", "bias"),
        }


def transpose_pads(kernel, stride, padding, output_padding, dilation):
    """(before, after) zeros around the stride-dilated input that turn a transposed
    convolution into a plain one with the flipped kernel (Keras's rule, as on JAX)."""
    span = (kernel - 1) * dilation + 1
    if padding == "valid":
        extra = max(span, stride) - span if output_padding is None else output_padding
        return span - 1, span - 1 + extra
    if output_padding is None:
        total = stride + span - 2
    else:
        total = span + span % 2 - 2 + output_padding
    before = min(total // 2 + total % 2, span - 1)
    return before, total - before


def _dilate(x, axis, stride):
    """`stride - 1` zeros between consecutive elements along `axis` (sizes the trace does
    not know are read at run time)."""
    import tensorflux as tf

    if stride == 1:
        return x
    shape = list(x.shape)
    pads = [[0, 0]] * (len(shape) + 1)
    pads[axis + 1] = [0, stride - 1]
    spread = tf.pad(tf.expand_dims(x, axis + 1), pads)
    if None in shape[1:]:
        target = _run_time_shape(x)
        target[axis] = target[axis] * stride
        target = tf.stack(target)
    else:
        target = [-1] + shape[1:]
        target[axis] = shape[axis] * stride
    spread = tf.reshape(spread, target)
    index = [slice(None)] * len(shape)
    index[axis] = slice(0, 1 - stride)  # drops the zeros after the last element
    return spread[tuple(index)]


def _conv_transpose_by_dilation(x, kernel, strides, padding, output_padding, dilation,
                                data_format):
    """A transposed convolution of any rank as a plain one: the input spread out by the
    strides and padded (transpose_pads), convolved with the spatially flipped kernel whose
    last two axes `(filters, input_channels)` are swapped. Built from differentiable ops, so
    its gradients (of any order) come from theirs."""
    import tensorflux as tf

    rank = len(strides)
    axes = list(range(2, rank + 2)) if data_format == "channels_first" else list(
        range(1, rank + 1))
    extras = output_padding or (None,) * rank
    pads = [[0, 0]] * (rank + 2)
    for i, axis in enumerate(axes):
        x = _dilate(x, axis, strides[i])
        pads[axis] = list(transpose_pads(kernel.shape[i], strides[i], padding, extras[i],
                                         dilation[i]))
    x = tf.pad(x, pads)
    flipped = tf.reverse(kernel, list(range(rank)))
    flipped = tf.transpose(flipped, list(range(rank)) + [rank + 1, rank])
    ones = (1,) * rank
    return _conv(x, flipped, rank, ones, "valid", tuple(dilation), data_format)


def _run_time_shape(x):
    """x's shape with each dimension the trace does not know read at run time."""
    import tensorflux as tf

    dims = tf.shape(x)
    return [dims[i] if d is None else d for i, d in enumerate(x.shape)]


def _stack(values):
    import tensorflux as tf

    return tf.stack(values)


def _nn_expand(x, axis):
    import tensorflux as tf

    return tf.expand_dims(x, axis)


def _nn_squeeze(x, axis):
    import tensorflux as tf

    return tf.squeeze(x, axis=[axis])


class Conv1DTranspose(BaseConvTranspose):
    """1-D transposed convolution: kernel `(kernel_size, filters, input_channels)`.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.Conv1DTranspose(3, 2, strides=2)(tf.ones((1, 4, 2))).shape
    TensorShape([1, 8, 3])
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(1, filters, kernel_size, strides, padding, output_padding,
                         data_format, dilation_rate, activation, use_bias, kernel_initializer,
                         bias_initializer, kernel_regularizer, bias_regularizer,
                         activity_regularizer, kernel_constraint, bias_constraint, **kwargs)


class Conv2DTranspose(BaseConvTranspose):
    """2-D transposed convolution: kernel `(kh, kw, filters, input_channels)`.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.Conv2DTranspose(3, 3, strides=2, padding="same")(
    ...     tf.ones((1, 4, 4, 2))).shape
    TensorShape([1, 8, 8, 3])
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 output_padding=None, data_format=None, dilation_rate=(1, 1), activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(2, filters, kernel_size, strides, padding, output_padding,
                         data_format, dilation_rate, activation, use_bias, kernel_initializer,
                         bias_initializer, kernel_regularizer, bias_regularizer,
                         activity_regularizer, kernel_constraint, bias_constraint, **kwargs)


class Conv3DTranspose(BaseConvTranspose):
    """3-D transposed convolution: kernel `(kd, kh, kw, filters, input_channels)`.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.Conv3DTranspose(2, 2, strides=2)(tf.ones((1, 2, 3, 2, 4))).shape
    TensorShape([1, 4, 6, 4, 2])
    """

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid",
                 data_format=None, output_padding=None, dilation_rate=(1, 1, 1),
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(3, filters, kernel_size, strides, padding, output_padding,
                         data_format, dilation_rate, activation, use_bias, kernel_initializer,
                         bias_initializer, kernel_regularizer, bias_regularizer,
                         activity_regularizer, kernel_constraint, bias_constraint, **kwargs)


# ---------------------------------------------------------------------- depthwise, separable
def _depthwise(x, kernel, rank, strides, padding, dilation, data_format):
    """Depthwise convolution (rank 1 runs as rank 2 over a height of 1)."""
    nn = _nn()
    channels_first = data_format == "channels_first"
    if rank == 1:
        x = _nn_expand(x, 2 if channels_first else 1)
        kernel = _nn_expand(kernel, 0)
        strides, dilation = (1,) + strides, (1,) + dilation
    fmt = "NCHW" if channels_first else "NHWC"
    y = nn.depthwise_conv2d(x, kernel, strides, padding.upper(), data_format=fmt,
                            dilations=dilation)
    return _nn_squeeze(y, 2 if channels_first else 1) if rank == 1 else y


class BaseDepthwiseConv(_Common):
    """Each input channel convolved with its own `depth_multiplier` filters: kernel
    `kernel_size + (input_channels, depth_multiplier)`; output channel c * multiplier + m."""

    def __init__(self, rank, depth_multiplier, kernel_size, strides=1, padding="valid",
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self._common_init(rank, kernel_size, strides, padding, data_format, dilation_rate,
                          activation, use_bias, bias_initializer, bias_regularizer,
                          bias_constraint)
        if (isinstance(depth_multiplier, bool) or not isinstance(depth_multiplier, int)
                or depth_multiplier <= 0):
            raise ValueError("Invalid value for argument `depth_multiplier`. Expected a "
                             f"strictly positive value. Received depth_multiplier="
                             f"{depth_multiplier}.")
        self.depth_multiplier = depth_multiplier
        set_weight_args(self, depthwise=(depthwise_initializer, depthwise_regularizer,
                                         depthwise_constraint))

    def build(self, input_shape):
        channels = self._prepare_build(input_shape)
        self.kernel = add_weight_from_args(
            self, "kernel", self.kernel_size + (channels, self.depth_multiplier), "depthwise")
        self.bias = self._bias_weight(channels * self.depth_multiplier)

    def call(self, inputs):
        outputs = _depthwise(inputs, self.kernel, self.rank, self.strides, self.padding,
                             self.dilation_rate, self.data_format)
        return self._finish(outputs)

    def get_config(self):
        return {
            **super().get_config(),
            "depth_multiplier": self.depth_multiplier,
            **self._common_config(),
            **self._tail_config(),
            **weight_args_config(self, "depthwise", "bias"),
        }


class DepthwiseConv2D(BaseDepthwiseConv):
    """Depthwise 2-D convolution: kernel `(kh, kw, input_channels, depth_multiplier)`.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.DepthwiseConv2D(3, depth_multiplier=2)(tf.ones((1, 5, 5, 3))).shape
    TensorShape([1, 3, 3, 6])
    """

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(2, depth_multiplier, kernel_size, strides, padding, data_format,
                         dilation_rate, activation, use_bias, depthwise_initializer,
                         bias_initializer, depthwise_regularizer, bias_regularizer,
                         activity_regularizer, depthwise_constraint, bias_constraint, **kwargs)


class DepthwiseConv1D(BaseDepthwiseConv):
    """Depthwise 1-D convolution: kernel `(kernel_size, input_channels, depth_multiplier)`.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.DepthwiseConv1D(3, depth_multiplier=2)(tf.ones((1, 5, 3))).shape
    TensorShape([1, 3, 6])
    """

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(1, depth_multiplier, kernel_size, strides, padding, data_format,
                         dilation_rate, activation, use_bias, depthwise_initializer,
                         bias_initializer, depthwise_regularizer, bias_regularizer,
                         activity_regularizer, depthwise_constraint, bias_constraint, **kwargs)


class BaseSeparableConv(_Common):
    """A depthwise convolution then a pointwise (1x1) one: `depthwise_kernel`
    `kernel_size + (input_channels, depth_multiplier)`, `pointwise_kernel`
    `(1,) * rank + (input_channels * depth_multiplier, filters)`."""

    def __init__(self, rank, depth_multiplier, filters, kernel_size, strides=1,
                 padding="valid", data_format=None, dilation_rate=1, activation=None,
                 use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, pointwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self._common_init(rank, kernel_size, strides, padding, data_format, dilation_rate,
                          activation, use_bias, bias_initializer, bias_regularizer,
                          bias_constraint)
        for arg, value in (("depth_multiplier", depth_multiplier), ("filters", filters)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"Invalid value for argument `{arg}`. Expected a strictly "
                                 f"positive value. Received {arg}={value}.")
        self.depth_multiplier = depth_multiplier
        self.filters = filters
        set_weight_args(
            self, depthwise=(depthwise_initializer, depthwise_regularizer, depthwise_constraint),
            pointwise=(pointwise_initializer, pointwise_regularizer, pointwise_constraint))

    def build(self, input_shape):
        channels = self._prepare_build(input_shape)
        self.depthwise_kernel = add_weight_from_args(
            self, "depthwise_kernel", self.kernel_size + (channels, self.depth_multiplier),
            "depthwise")
        self.pointwise_kernel = add_weight_from_args(
            self, "pointwise_kernel",
            (1,) * self.rank + (channels * self.depth_multiplier, self.filters), "pointwise")
        self.bias = self._bias_weight(self.filters)

    def call(self, inputs):
        y = _depthwise(inputs, self.depthwise_kernel, self.rank, self.strides, self.padding,
                       self.dilation_rate, self.data_format)
        ones = (1,) * self.rank
        y = _conv(y, self.pointwise_kernel, self.rank, ones, "valid", ones, self.data_format)
        return self._finish(y)

    def get_config(self):
        return {
            **super().get_config(),
            "depth_multiplier": self.depth_multiplier,
            "filters": self.filters,
            **self._common_config(),
            **self._tail_config(),
            **weight_args_config(self, "depthwise", "pointwise", "bias"),
        }


class SeparableConv1D(BaseSeparableConv):
    """Depthwise-separable 1-D convolution.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.SeparableConv1D(4, 3, depth_multiplier=2)(tf.ones((1, 6, 3))).shape
    TensorShape([1, 4, 4])
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, pointwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(1, depth_multiplier, filters, kernel_size, strides, padding,
                         data_format, dilation_rate, activation, use_bias,
                         depthwise_initializer, pointwise_initializer, bias_initializer,
                         depthwise_regularizer, pointwise_regularizer, bias_regularizer,
                         activity_regularizer, depthwise_constraint, pointwise_constraint,
                         bias_constraint, **kwargs)


class SeparableConv2D(BaseSeparableConv):
    """Depthwise-separable 2-D convolution.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.SeparableConv2D(4, 3)(tf.ones((1, 5, 5, 3))).shape
    TensorShape([1, 3, 3, 4])
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 data_format=None, dilation_rate=(1, 1), depth_multiplier=1, activation=None,
                 use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, pointwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(2, depth_multiplier, filters, kernel_size, strides, padding,
                         data_format, dilation_rate, activation, use_bias,
                         depthwise_initializer, pointwise_initializer, bias_initializer,
                         depthwise_regularizer, pointwise_regularizer, bias_regularizer,
                         activity_regularizer, depthwise_constraint, pointwise_constraint,
                         bias_constraint, **kwargs)


# Keras 3's alias names: the same classes (configs and saved files name the classes above).
Convolution1D = Conv1D
Convolution2D = Conv2D
Convolution3D = Conv3D
Convolution1DTranspose = Conv1DTranspose
Convolution2DTranspose = Conv2DTranspose
Convolution3DTranspose = Conv3DTranspose
SeparableConvolution1D = SeparableConv1D
SeparableConvolution2D = SeparableConv2D
