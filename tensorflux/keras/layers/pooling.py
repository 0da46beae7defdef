"""keras.layers pooling layers: Max/AveragePooling1D/2D/3D, GlobalMax/GlobalAverage
Pooling1D/2D/3D and AdaptiveMax/AdaptiveAveragePooling1D/2D/3D (Keras 3's arguments, defaults
and configs), and `adaptive_pool`, the op behind keras.ops.adaptive_average_pool and
adaptive_max_pool."""

from tensorflux.keras.layers.base import InputSpec, Layer, _describe, floating_input
from tensorflux.keras.layers.convolutional import (
    _run_time_shape,
    check_window_fits,
    spatial_dims,
    standardize_data_format,
    standardize_padding,
    standardize_tuple,
    tf_format,
)

__all__ = [
    "AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D",
    "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D", "adaptive_pool",
    "AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "AvgPool1D", "AvgPool2D",
    "AvgPool3D", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D", "GlobalMaxPool1D",
    "GlobalMaxPool2D", "GlobalMaxPool3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
    "GlobalMaxPooling3D", "MaxPool1D", "MaxPool2D", "MaxPool3D", "MaxPooling1D",
    "MaxPooling2D", "MaxPooling3D",
]


def _tf():
    import tensorflux as tf

    return tf


class BasePooling(Layer):
    """Max or average over `pool_size` windows every `strides` (default: `pool_size`);
    'same' averages only the real (unpadded) elements, as Keras on TensorFlow does."""

    def __init__(self, pool_size, strides, pool_dimensions, pool_mode="max", padding="valid",
                 data_format=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.pool_size = standardize_tuple(pool_size, pool_dimensions, "pool_size")
        strides = pool_size if strides is None else strides
        self.strides = standardize_tuple(strides, pool_dimensions, "strides")
        self.pool_mode = pool_mode
        standardize_padding(_describe(self), padding)
        self.padding = padding
        self.data_format = standardize_data_format(data_format)
        self.rank = pool_dimensions
        self.input_spec = InputSpec(ndim=pool_dimensions + 2)
        self.built = True

    def call(self, inputs):
        nn = _tf().nn
        shape = tuple(inputs.shape)
        padding = self.padding.lower()
        check_window_fits(self, shape, self.data_format, self.pool_size, self.strides,
                          padding, (1,) * self.rank, what="pool_size")
        if self.rank == 3 and None in spatial_dims(shape, self.data_format):
            return _pool3d_run_time(self, inputs, padding)
        pool = nn.max_pool if self.pool_mode == "max" else nn.avg_pool
        return pool(inputs, self.pool_size, self.strides, padding.upper(),
                    data_format=tf_format(self.data_format, self.rank))

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "padding": self.padding,
                "strides": self.strides, "data_format": self.data_format}


def _pool3d_run_time(layer, x, padding):
    """3-D pooling of an input whose spatial sizes the trace does not know (the core pool3d
    needs them): 2-D pooling of every depth slice, then the max or the mean of the valid
    depth taps (padded taps excluded, as TensorFlow's 'same'), the depth stride taken by
    subsampling."""
    tf = _tf()
    channels_first = layer.data_format == "channels_first"
    if channels_first:
        x = tf.transpose(x, [0, 2, 3, 4, 1])
    dims = _run_time_shape(x)
    (taps, *window), (stride, *strides) = layer.pool_size, layer.strides
    pool = tf.nn.max_pool2d if layer.pool_mode == "max" else tf.nn.avg_pool2d
    planes = pool(tf.reshape(x, tf.stack([-1] + dims[2:])), window, strides, padding.upper())
    y = tf.reshape(planes, tf.stack([dims[0], -1] + _run_time_shape(planes)[1:]))
    depth = x.shape[1]
    if padding == "same":
        if depth is None and stride > 1:
            raise ValueError(
                f"{_describe(layer)}: padding='same' with a depth stride of {stride} needs "
                f"the depth of its input, received shape {tuple(x.shape)} (channels_last)")
        total = taps - 1 if depth is None else max(
            (-(-depth // stride) - 1) * stride + taps - depth, 0)
        pads = [[0, 0], [total // 2, total - total // 2], [0, 0], [0, 0], [0, 0]]
        valid = tf.pad(tf.ones_like(y[:, :, :1, :1, :1]), pads)
        y = tf.pad(y, pads, constant_values=float("-inf") if layer.pool_mode == "max" else 0)
    else:
        valid = None

    def reduce(t):
        parts = [t[:, i:(i - taps + 1) or None] for i in range(taps)]
        out = parts[0]
        for part in parts[1:]:
            out = tf.maximum(out, part) if layer.pool_mode == "max" else out + part
        return out[:, ::stride] if stride > 1 else out

    y = reduce(y)
    if layer.pool_mode != "max":
        y = y / (reduce(valid) if valid is not None else float(taps))
    return tf.transpose(y, [0, 4, 1, 2, 3]) if channels_first else y


def _pooling_class(name, rank, mode, default_size, example):
    if default_size is None:  # Keras 3: average pooling has no default pool_size
        def init(self, pool_size, strides=None, padding="valid", data_format=None,
                 name=None, **kwargs):
            BasePooling.__init__(self, pool_size, strides, rank, mode, padding, data_format,
                                 name=name, **kwargs)
    else:
        def init(self, pool_size=default_size, strides=None, padding="valid",
                 data_format=None, name=None, **kwargs):
            BasePooling.__init__(self, pool_size, strides, rank, mode, padding, data_format,
                                 name=name, **kwargs)

    init.__name__, init.__qualname__ = "__init__", f"{name}.__init__"  # (as errors name it)
    kind = "maximum" if mode == "max" else "average"
    default = "required" if default_size is None else f"default {default_size}"
    doc = (f"{rank}-D {kind} pooling over `pool_size` windows ({default}).\n\n"
           f"    >>> import tensorflux as tf\n    >>> from tensorflux import keras\n"
           f"{example}\n    ")
    return type(name, (BasePooling,), {"__init__": init, "__doc__": doc,
                                       "__module__": __name__})


MaxPooling1D = _pooling_class(
    "MaxPooling1D", 1, "max", 2,
    "    >>> keras.layers.MaxPooling1D()(tf.constant([[[1.0], [3.0], [2.0], [0.0]]]))"
    ".numpy().ravel().tolist()\n    [3.0, 2.0]")
MaxPooling2D = _pooling_class(
    "MaxPooling2D", 2, "max", (2, 2),
    "    >>> keras.layers.MaxPooling2D()(tf.ones((1, 4, 4, 3))).shape\n"
    "    TensorShape([1, 2, 2, 3])")
MaxPooling3D = _pooling_class(
    "MaxPooling3D", 3, "max", (2, 2, 2),
    "    >>> keras.layers.MaxPooling3D()(tf.ones((1, 4, 4, 4, 3))).shape\n"
    "    TensorShape([1, 2, 2, 2, 3])")
AveragePooling1D = _pooling_class(
    "AveragePooling1D", 1, "average", None,
    "    >>> keras.layers.AveragePooling1D(2)(tf.constant([[[1.0], [3.0], [2.0], [0.0]]]))"
    ".numpy().ravel().tolist()\n    [2.0, 1.0]")
AveragePooling2D = _pooling_class(
    "AveragePooling2D", 2, "average", None,
    "    >>> keras.layers.AveragePooling2D(2, padding='same')(tf.ones((1, 3, 3, 1))).shape\n"
    "    TensorShape([1, 2, 2, 1])")
AveragePooling3D = _pooling_class(
    "AveragePooling3D", 3, "average", None,
    "    >>> keras.layers.AveragePooling3D(2)(tf.ones((1, 2, 2, 2, 1))).numpy().ravel()"
    ".tolist()\n    [1.0]")
MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D


class BaseGlobalPooling(Layer):
    """The max or mean over every spatial dimension (kept as size 1 with `keepdims`)."""

    def __init__(self, pool_dimensions, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self.keepdims = keepdims
        self.rank = pool_dimensions
        self.input_spec = InputSpec(ndim=pool_dimensions + 2)
        self.built = True

    def _axes(self):
        if self.data_format == "channels_last":
            return list(range(1, self.rank + 1))
        return list(range(2, self.rank + 2))

    def call(self, inputs):
        tf = _tf()
        if self.mode != "max":  # (a mean of integers is a float, as in Keras)
            inputs = floating_input(inputs, self.compute_dtype)
        reduce = tf.reduce_max if self.mode == "max" else tf.reduce_mean
        return reduce(inputs, axis=self._axes(), keepdims=self.keepdims)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format,
                "keepdims": self.keepdims}


class GlobalAveragePooling1D(BaseGlobalPooling):
    """The mean over the steps; masked steps (a `mask` from Embedding/Masking) are left out.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.GlobalAveragePooling1D()(tf.constant([[[1.0], [3.0]]])).numpy().tolist()
    [[2.0]]
    """

    mode = "average"

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(1, data_format, keepdims, **kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return super().call(inputs)
        tf = _tf()
        axis = 1 if self.data_format == "channels_last" else 2
        weights = tf.cast(mask, inputs.dtype)
        weights = tf.expand_dims(weights, 2 if self.data_format == "channels_last" else 1)
        total = tf.reduce_sum(inputs * weights, axis=axis, keepdims=self.keepdims)
        return total / tf.reduce_sum(weights, axis=axis, keepdims=self.keepdims)

    def compute_mask(self, inputs, mask=None):
        return None


def _global_class(name, rank, mode, example):
    def init(self, data_format=None, keepdims=False, **kwargs):
        BaseGlobalPooling.__init__(self, rank, data_format, keepdims, **kwargs)

    init.__name__, init.__qualname__ = "__init__", f"{name}.__init__"
    kind = "maximum" if mode == "max" else "mean"
    doc = (f"The {kind} over the {rank} spatial dimension(s).\n\n"
           f"    >>> import tensorflux as tf\n    >>> from tensorflux import keras\n"
           f"{example}\n    ")
    return type(name, (BaseGlobalPooling,), {"__init__": init, "__doc__": doc,
                                             "mode": mode, "__module__": __name__})


GlobalMaxPooling1D = _global_class(
    "GlobalMaxPooling1D", 1, "max",
    "    >>> keras.layers.GlobalMaxPooling1D()(tf.constant([[[1.0], [3.0]]])).numpy()"
    ".tolist()\n    [[3.0]]")
GlobalMaxPooling2D = _global_class(
    "GlobalMaxPooling2D", 2, "max",
    "    >>> keras.layers.GlobalMaxPooling2D(keepdims=True)(tf.ones((2, 3, 3, 4))).shape\n"
    "    TensorShape([2, 1, 1, 4])")
GlobalMaxPooling3D = _global_class(
    "GlobalMaxPooling3D", 3, "max",
    "    >>> keras.layers.GlobalMaxPooling3D()(tf.ones((2, 3, 3, 3, 4))).shape\n"
    "    TensorShape([2, 4])")
GlobalAveragePooling2D = _global_class(
    "GlobalAveragePooling2D", 2, "average",
    "    >>> keras.layers.GlobalAveragePooling2D()(tf.ones((2, 3, 3, 4))).shape\n"
    "    TensorShape([2, 4])")
GlobalAveragePooling3D = _global_class(
    "GlobalAveragePooling3D", 3, "average",
    "    >>> keras.layers.GlobalAveragePooling3D(data_format='channels_first')("
    "tf.ones((2, 4, 3, 3, 3))).shape\n    TensorShape([2, 4])")
GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D = (
    GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D)
GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D = (
    GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D)


# ---------------------------------------------------------------------- adaptive pooling
def adaptive_bins(size, output_size):
    """The [start, end) windows that split `size` elements into `output_size` bins as Keras
    and PyTorch do: bin i covers floor(i * size / n) to ceil((i + 1) * size / n), so windows
    differ in length by at most one and overlap where `size` is not a multiple of n.

    >>> adaptive_bins(5, 3)
    [(0, 2), (1, 4), (3, 5)]
    """
    return [((i * size) // output_size, -(-((i + 1) * size) // output_size))
            for i in range(output_size)]


def _adaptive_pool_axis(x, axis, output_size, kind):
    """Adaptive pooling along one axis: the windows are gathered as a new axis after `axis`
    (short windows repeat their last index, which leaves a max unchanged and gets weight 0 in
    a mean), then reduced."""
    tf = _tf()
    size = tuple(x.shape)[axis]
    bins = adaptive_bins(size, output_size)
    width = max(end - start for start, end in bins)
    indices = [[min(start + j, end - 1) for j in range(width)] for start, end in bins]
    windows = tf.gather(x, indices, axis=axis)
    if kind == "max":
        return tf.reduce_max(windows, axis=axis + 1)
    weights = [[1.0 / (end - start) if start + j < end else 0.0 for j in range(width)]
               for start, end in bins]
    shape = [1] * len(windows.shape)
    shape[axis], shape[axis + 1] = output_size, width
    weights = tf.reshape(tf.constant(weights, dtype=x.dtype), shape)
    return tf.reduce_sum(windows * weights, axis=axis + 1)


def adaptive_pool(x, output_size, kind="average", data_format=None):
    """Average (`kind="average"`) or max (`kind="max"`) pooling of a 1-D, 2-D or 3-D input
    (rank 3, 4 or 5) to spatial size `output_size` (an int for every spatial dimension, or
    one int per dimension), whatever the input size: keras.ops.adaptive_average_pool and
    adaptive_max_pool. The windows are adaptive_bins'; pooling is separable, so each spatial
    axis is pooled in turn.

    >>> import tensorflux as tf
    >>> x = tf.reshape(tf.range(5.0), (1, 5, 1))
    >>> adaptive_pool(x, 3).numpy().ravel().tolist()
    [0.5, 2.0, 3.5]
    >>> adaptive_pool(x, 2, "max").numpy().ravel().tolist()
    [2.0, 4.0]
    """
    tf = _tf()
    if kind not in ("average", "max"):
        raise ValueError(f"adaptive_pool: `kind` must be 'average' or 'max', received "
                         f"kind={kind!r}")
    data_format = standardize_data_format(data_format)
    x = tf.convert_to_tensor(x)
    shape = tuple(x.shape)
    rank = len(shape) - 2
    if rank not in (1, 2, 3):
        raise ValueError(f"Inputs to adaptive {kind} pooling must have ndim=3, 4 or 5, "
                         f"received input shape: {shape}.")
    sizes = standardize_tuple(output_size, rank, "output_size")
    axes = list(range(2, rank + 2)) if data_format == "channels_first" else list(
        range(1, rank + 1))
    if any(shape[axis] is None for axis in axes):
        raise ValueError(f"Adaptive {kind} pooling needs the spatial dimensions of its input, "
                         f"received shape {shape} ({data_format}).")
    if kind == "average" and not x.dtype.is_floating:
        x = tf.cast(x, "float32")
    for axis, size in zip(axes, sizes):
        x = _adaptive_pool_axis(x, axis, size, kind)
    return x


class BaseAdaptivePooling(Layer):
    """Pools every input, whatever its spatial size, to spatial size `output_size`."""

    kind = "average"

    def __init__(self, output_size, data_format=None, **kwargs):
        rank = self.rank
        if isinstance(output_size, int) and not isinstance(output_size, bool):
            output_size = (output_size,) * rank
        elif isinstance(output_size, (tuple, list)) and len(output_size) == rank:
            output_size = tuple(output_size)
        else:
            raise TypeError(f"`output_size` must be an integer or a tuple of {rank} integers. "
                            f"Received: {output_size} of type {type(output_size)}")
        super().__init__(**kwargs)
        self.output_size = standardize_tuple(output_size, rank, "output_size")
        self.data_format = standardize_data_format(data_format)
        self.input_spec = InputSpec(ndim=rank + 2)
        self.built = True

    def call(self, inputs):
        return adaptive_pool(inputs, self.output_size, self.kind, self.data_format)

    def get_config(self):
        return {**super().get_config(), "output_size": self.output_size,
                "data_format": self.data_format}


def _adaptive_class(name, rank, kind, example):
    doc = (f"Adaptive {rank}-D {kind} pooling: every input to spatial size `output_size`"
           f" (an int or {rank} ints; windows as keras.ops.adaptive_{kind}_pool's).\n\n"
           f"    >>> import tensorflux as tf\n    >>> from tensorflux import keras\n"
           f"{example}\n    ")
    return type(name, (BaseAdaptivePooling,), {"rank": rank, "kind": kind, "__doc__": doc,
                                                "__module__": __name__})


AdaptiveAveragePooling1D = _adaptive_class(
    "AdaptiveAveragePooling1D", 1, "average",
    "    >>> x = tf.reshape(tf.range(5.0), (1, 5, 1))\n"
    "    >>> keras.layers.AdaptiveAveragePooling1D(3)(x).numpy().ravel().tolist()\n"
    "    [0.5, 2.0, 3.5]")
AdaptiveAveragePooling2D = _adaptive_class(
    "AdaptiveAveragePooling2D", 2, "average",
    "    >>> keras.layers.AdaptiveAveragePooling2D((2, 3))(tf.ones((1, 7, 5, 4))).shape\n"
    "    TensorShape([1, 2, 3, 4])")
AdaptiveAveragePooling3D = _adaptive_class(
    "AdaptiveAveragePooling3D", 3, "average",
    "    >>> keras.layers.AdaptiveAveragePooling3D(2)(tf.ones((1, 3, 4, 5, 2))).shape\n"
    "    TensorShape([1, 2, 2, 2, 2])")
AdaptiveMaxPooling1D = _adaptive_class(
    "AdaptiveMaxPooling1D", 1, "max",
    "    >>> x = tf.reshape(tf.range(5.0), (1, 5, 1))\n"
    "    >>> keras.layers.AdaptiveMaxPooling1D(2)(x).numpy().ravel().tolist()\n"
    "    [2.0, 4.0]")
AdaptiveMaxPooling2D = _adaptive_class(
    "AdaptiveMaxPooling2D", 2, "max",
    "    >>> keras.layers.AdaptiveMaxPooling2D(3, data_format='channels_first')("
    "tf.ones((1, 4, 7, 5))).shape\n    TensorShape([1, 4, 3, 3])")
AdaptiveMaxPooling3D = _adaptive_class(
    "AdaptiveMaxPooling3D", 3, "max",
    "    >>> keras.layers.AdaptiveMaxPooling3D((1, 2, 3))(tf.ones((1, 3, 4, 5, 2))).shape\n"
    "    TensorShape([1, 1, 2, 3, 2])")
