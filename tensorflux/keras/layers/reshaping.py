"""keras.layers reshaping layers: Flatten, Reshape, Permute, RepeatVector, and the 1-D to 3-D
zero padding, cropping and upsampling layers."""

import math

from tensorflux.keras.engine.keras_tensor import trace_state
from tensorflux.keras.layers.base import InputSpec, Layer, _describe, _format_shape
from tensorflux.keras.layers.convolutional import (
    standardize_data_format as _standardize_data_format,
)

__all__ = ["Cropping1D", "Cropping2D", "Cropping3D", "Flatten", "Permute", "RepeatVector",
           "Reshape", "UpSampling1D", "UpSampling2D", "UpSampling3D", "ZeroPadding1D",
           "ZeroPadding2D", "ZeroPadding3D"]


def _tf():
    import tensorflux as tf

    return tf


def _static_shape(x):
    return tuple(x.shape.as_list()) if hasattr(x.shape, "as_list") else tuple(x.shape)


def _symbolic_placeholder(layer, shape, dtype):
    """An output of `shape` while Keras traces output specs on placeholders.

    A graph reshape needs every dimension but one known; when the batch size and another
    dimension are both unknown (Flatten after a conv base of unknown spatial size), only the
    output spec is wanted, so a fresh placeholder of the right shape and dtype stands in.
    """
    if not trace_state.depth:
        raise ValueError(f"{_describe(layer)} cannot reshape a tensor whose batch size and "
                         f"another dimension are both unknown, producing shape "
                         f"{_format_shape(shape)}; give the model a fully defined input "
                         "shape.")
    from tensorflux.context import context

    return context.graph.placeholder(list(shape), dtype)


def _reshape(layer, x, shape):
    """tf.reshape with None dims: the batch dim becomes -1 when it is the only unknown."""
    unknown = [i for i, d in enumerate(shape) if d is None or d == -1]
    if len(unknown) > 1:
        return _symbolic_placeholder(layer, tuple(None if d == -1 else d for d in shape),
                                     x.dtype)
    return _tf().reshape(x, [-1 if d is None else d for d in shape])


class Flatten(Layer):
    """Flattens every non-batch dimension: (batch, ...) -> (batch, prod(...)).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.Flatten()(tf.zeros((2, 3, 4))).shape
    TensorShape([2, 12])
    """

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _standardize_data_format(data_format)
        self.input_spec = InputSpec(min_ndim=1)
        self._channels_first = self.data_format == "channels_first"

    def call(self, inputs):
        shape = _static_shape(inputs)
        rank = len(shape)
        if self._channels_first and rank > 1:
            inputs = _tf().transpose(inputs, (0, *range(2, rank), 1))
            shape = _static_shape(inputs)
        non_batch = shape[1:]
        if not non_batch:
            flat = 1
        elif any(d is None for d in non_batch):
            flat = None
        else:
            flat = math.prod(non_batch)
        return _reshape(self, inputs, (shape[0], flat))

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


def _validate_target_shape(target_shape):
    unknown = 0
    for d in target_shape:
        if isinstance(d, bool) or not isinstance(d, int) or (d <= 0 and d != -1):
            raise ValueError("Reshape: `target_shape` must contain positive integers and at "
                             f"most one -1. Received: target_shape={target_shape}")
        unknown += d == -1
    if unknown > 1:
        raise ValueError("Reshape: there must be at most one unknown dimension (-1) in "
                         f"`target_shape`. Received: target_shape={target_shape}")


class Reshape(Layer):
    """Reshapes the non-batch dimensions to `target_shape` (one entry may be -1).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.Reshape((3, -1))(tf.zeros((2, 12))).shape
    TensorShape([2, 3, 4])
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        target_shape = tuple(target_shape)
        _validate_target_shape(target_shape)
        self.target_shape = target_shape
        self.built = True

    def _resolved_target(self, input_shape):
        """target_shape with its -1 solved (None when the input size is unknown)."""
        non_batch = input_shape[1:]
        target = list(self.target_shape)
        known_target = math.prod(d for d in target if d != -1)
        if any(d is None for d in non_batch):
            return tuple(None if d == -1 else d for d in target)
        size = math.prod(non_batch)
        if -1 in target:
            if known_target == 0 or size % known_target:
                raise self._size_error(input_shape, size)
            target[target.index(-1)] = size // known_target
        elif size != known_target:
            raise self._size_error(input_shape, size)
        return tuple(target)

    def _size_error(self, input_shape, size):
        return ValueError(f"{_describe(self)} cannot reshape an input of shape "
                          f"{_format_shape(input_shape)} ({size} values per sample) to "
                          f"target_shape {_format_shape(self.target_shape)}: the total size "
                          "must be unchanged.")

    def call(self, inputs):
        shape = _static_shape(inputs)
        return _reshape(self, inputs, (shape[0],) + self._resolved_target(shape))

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}


class Permute(Layer):
    """Permutes the non-batch dimensions: `dims` is a permutation of 1..rank-1.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.Permute((2, 1))(tf.zeros((2, 3, 4))).shape
    TensorShape([2, 4, 3])
    """

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError("Invalid permutation argument `dims` for Permute Layer. The set "
                             "of indices in `dims` must be consecutive and start from 1. "
                             f"Received dims={dims}")
        self.input_spec = InputSpec(ndim=len(self.dims) + 1)

    def call(self, inputs):
        return _tf().transpose(inputs, (0,) + self.dims)

    def get_config(self):
        return {**super().get_config(), "dims": self.dims}


class RepeatVector(Layer):
    """Repeats a (batch, features) input `n` times: (batch, n, features).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.RepeatVector(3)(tf.constant([[1.0, 2.0]])).numpy().tolist()
    [[[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]]]
    """

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"Expected an integer value for `n`, got {type(n)}.")
        if n <= 0:
            raise ValueError(f"Argument `n` should be a positive integer. Received: n={n}")
        self.n = n
        self.input_spec = InputSpec(ndim=2)

    def call(self, inputs):
        tf = _tf()
        return tf.tile(tf.expand_dims(inputs, 1), [1, self.n, 1])

    def get_config(self):
        return {**super().get_config(), "n": self.n}


# ---------------------------------------------------------------------- padding, cropping and
# upsampling: ZeroPadding1D/2D/3D, Cropping1D/2D/3D, UpSampling1D/2D/3D.
def _pairs(owner, value, what, rank=2):
    """An int, `rank` ints (symmetric per dimension) or `rank` pairs, as a tuple of `rank`
    (before, after) pairs."""
    from tensorflux.keras.layers.convolutional import standardize_tuple

    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{owner}: `{what}` cannot be negative. Received: {what}={value}.")
        return ((value, value),) * rank
    if not hasattr(value, "__len__") or len(value) != rank:
        raise ValueError(f"{owner}: `{what}` should be either an int, a tuple of {rank} ints "
                         f"or a tuple of {rank} tuples of 2 ints. Received: {what}={value}.")
    ordinals = ("1st", "2nd", "3rd")
    return tuple(standardize_tuple(entry, 2, f"{ordinals[i]} entry of {what}", allow_zero=True)
                 for i, entry in enumerate(value))


def _spatial_axes(data_format, rank):
    return list(range(2, rank + 2)) if data_format == "channels_first" else list(
        range(1, rank + 1))


class ZeroPadding1D(Layer):
    """Pads the steps dimension with zeros: `padding` an int or (before, after).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.ZeroPadding1D((1, 2))(tf.ones((1, 2, 1))).numpy().ravel().tolist()
    [0.0, 1.0, 1.0, 0.0, 0.0]
    """

    def __init__(self, padding=1, data_format=None, **kwargs):
        from tensorflux.keras.layers.convolutional import standardize_tuple

        super().__init__(**kwargs)
        self.data_format = _standardize_data_format(data_format)
        self.padding = standardize_tuple(padding, 2, "padding", allow_zero=True)
        self.input_spec = InputSpec(ndim=3)
        self.built = True

    def call(self, inputs):
        pads = [[0, 0], [0, 0], [0, 0]]
        pads[_spatial_axes(self.data_format, 1)[0]] = list(self.padding)
        return _tf().pad(inputs, pads)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding,
                "data_format": self.data_format}


class ZeroPadding2D(Layer):
    """Pads height and width with zeros: `padding` an int, (h, w) or ((top, bottom),
    (left, right)).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.ZeroPadding2D(((1, 0), (2, 1)))(tf.ones((1, 2, 2, 3))).shape
    TensorShape([1, 3, 5, 3])
    """

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _standardize_data_format(data_format)
        self.padding = _pairs(_describe(self), padding, "padding")
        self.input_spec = InputSpec(ndim=4)
        self.built = True

    def call(self, inputs):
        return _pad_spatial(inputs, self.data_format, self.padding)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding,
                "data_format": self.data_format}


def _pad_spatial(inputs, data_format, padding):
    """Zeros around the spatial dimensions: `padding` one (before, after) pair per dimension."""
    pads = [[0, 0]] * len(inputs.shape)
    for axis, pair in zip(_spatial_axes(data_format, len(padding)), padding):
        pads[axis] = list(pair)
    return _tf().pad(inputs, pads)


class ZeroPadding3D(Layer):
    """Pads the three spatial dimensions with zeros: `padding` an int, 3 ints or 3 (before,
    after) pairs.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.ZeroPadding3D(((1, 0), (0, 2), 1))(tf.ones((1, 2, 2, 2, 3))).shape
    TensorShape([1, 3, 4, 4, 3])
    """

    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _standardize_data_format(data_format)
        self.padding = _pairs(_describe(self), padding, "padding", rank=3)
        self.input_spec = InputSpec(ndim=5)
        self.built = True

    def call(self, inputs):
        return _pad_spatial(inputs, self.data_format, self.padding)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding,
                "data_format": self.data_format}


def _crop(layer, inputs, axes, cropping):
    shape = tuple(inputs.shape)
    index = [slice(None)] * len(shape)
    for axis, (before, after) in zip(axes, cropping):
        size = shape[axis]
        if size is not None and before + after >= size:
            raise ValueError(f"{_describe(layer)}: `cropping` {layer.cropping} must leave at "
                             f"least one element, received input shape "
                             f"{_format_shape(shape)}")
        index[axis] = slice(before, None if after == 0 else -after)
    return inputs[tuple(index)]


class Cropping1D(Layer):
    """Crops (before, after) steps from the steps dimension (axis 1).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> x = tf.reshape(tf.range(5.0), (1, 5, 1))
    >>> keras.layers.Cropping1D((1, 2))(x).numpy().ravel().tolist()
    [1.0, 2.0]
    """

    def __init__(self, cropping=(1, 1), **kwargs):
        from tensorflux.keras.layers.convolutional import standardize_tuple

        super().__init__(**kwargs)
        self.cropping = standardize_tuple(cropping, 2, "cropping", allow_zero=True)
        self.input_spec = InputSpec(ndim=3)
        self.built = True

    def call(self, inputs):
        return _crop(self, inputs, [1], [self.cropping])

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping}


class Cropping2D(Layer):
    """Crops height and width: `cropping` an int, (h, w) or ((top, bottom), (left, right)).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.Cropping2D(((1, 0), (0, 2)))(tf.ones((1, 4, 5, 3))).shape
    TensorShape([1, 3, 3, 3])
    """

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _standardize_data_format(data_format)
        self.cropping = _pairs(_describe(self), cropping, "cropping")
        self.input_spec = InputSpec(ndim=4)
        self.built = True

    def call(self, inputs):
        return _crop(self, inputs, _spatial_axes(self.data_format, 2), self.cropping)

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping,
                "data_format": self.data_format}


class Cropping3D(Layer):
    """Crops the three spatial dimensions: `cropping` an int, 3 ints or 3 (before, after)
    pairs.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.Cropping3D(((1, 0), 0, (1, 1)))(tf.ones((1, 3, 2, 4, 3))).shape
    TensorShape([1, 2, 2, 2, 3])
    """

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _standardize_data_format(data_format)
        self.cropping = _pairs(_describe(self), cropping, "cropping", rank=3)
        self.input_spec = InputSpec(ndim=5)
        self.built = True

    def call(self, inputs):
        return _crop(self, inputs, _spatial_axes(self.data_format, 3), self.cropping)

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping,
                "data_format": self.data_format}


def _repeat_axis(layer, x, size, axis):
    """Each element along `axis` repeated `size` times (a tile then a reshape; sizes the
    trace does not know, as in a fully convolutional Input((None, None, 3)), are read at run
    time)."""
    tf = _tf()
    shape = list(_static_shape(x))
    multiples = [1] * (len(shape) + 1)
    multiples[axis + 1] = size
    tiled = tf.tile(tf.expand_dims(x, axis + 1), multiples)
    if any(d is None for d in shape[1:]):
        from tensorflux.keras.layers.convolutional import _run_time_shape

        target = _run_time_shape(x)
        target[axis] = target[axis] * size
        return tf.reshape(tiled, tf.stack(target))
    shape[axis] *= size
    return _reshape(layer, tiled, [None] + shape[1:])


class UpSampling1D(Layer):
    """Repeats each step `size` times.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.UpSampling1D(2)(tf.constant([[[1.0], [2.0]]])).numpy().ravel().tolist()
    [1.0, 1.0, 2.0, 2.0]
    """

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(size, int) or isinstance(size, bool):
            raise TypeError(f"Expected an integer value for `size`, got {type(size)}.")
        if size <= 0:
            raise ValueError(f"Argument `size` should be a positive integer. Received: "
                             f"size={size}")
        self.size = size
        self.input_spec = InputSpec(ndim=3)
        self.built = True

    def call(self, inputs):
        return _repeat_axis(self, inputs, self.size, 1)

    def get_config(self):
        return {**super().get_config(), "size": self.size}


def _bilinear_matrix(size, factor, interpolation="bilinear"):
    """(size * factor, size) weights of upsampling one axis with keras.ops.image.resize's
    `interpolation` kernel (TensorFlow's half-pixel resize), as plain Python rows."""
    from tensorflux.ops.image import resize_weights

    return resize_weights(size, size * factor, interpolation)


def _bilinear_upsample_axis(x, axis, factor):
    """Half-pixel bilinear upsampling of `axis` by an integer factor for a size known only at
    run time: output `factor * k + r` lies at `k + (r + 0.5) / factor - 0.5`, between element
    k and a neighbour (the edge elements repeat, as the resize clamps), so each phase r is a
    fixed blend of two shifted copies; the phases are then interleaved."""
    tf = _tf()
    if factor == 1:
        return x

    def part(tensor, start, stop):
        index = [slice(None)] * len(x.shape)
        index[axis] = slice(start, stop)
        return tensor[tuple(index)]

    pads = [[0, 0]] * len(x.shape)
    pads[axis] = [1, 1]
    padded = tf.pad(x, pads, mode="SYMMETRIC")  # each edge element once more
    before, after = part(padded, 0, -2), part(padded, 2, None)
    phases = []
    for r in range(factor):
        offset = (r + 0.5) / factor - 0.5
        if offset < 0:
            phases.append(before + (x - before) * (1 + offset))
        else:
            phases.append(x + (after - x) * offset)
    from tensorflux.keras.layers.convolutional import _run_time_shape

    target = _run_time_shape(x)
    target[axis] = target[axis] * factor
    return tf.reshape(tf.stack(phases, axis + 1), tf.stack(target))


class UpSampling2D(Layer):
    """Upsamples height and width by `size`: 'nearest' repeats rows and columns; the other
    interpolations ('bilinear', 'bicubic', 'lanczos3', 'lanczos5', 'area') resize as
    keras.ops.image.resize (TensorFlow's half-pixel kernels).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.UpSampling2D((2, 3))(tf.ones((1, 2, 2, 1))).shape
    TensorShape([1, 4, 6, 1])
    """

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        from tensorflux.keras.layers.convolutional import standardize_tuple

        super().__init__(**kwargs)
        self.data_format = _standardize_data_format(data_format)
        self.size = standardize_tuple(size, 2, "size")
        from tensorflux.keras.layers.preprocessing.image import _check_interpolation

        self.interpolation = interpolation.lower()
        _check_interpolation(self.interpolation)
        self.input_spec = InputSpec(ndim=4)
        self.built = True

    def call(self, inputs):
        tf = _tf()
        h_axis, w_axis = _spatial_axes(self.data_format, 2)
        if self.interpolation == "nearest":
            x = _repeat_axis(self, inputs, self.size[0], h_axis)
            return _repeat_axis(self, x, self.size[1], w_axis)
        shape = tuple(inputs.shape)
        if shape[h_axis] is None or shape[w_axis] is None:
            if self.interpolation == "bilinear":  # as TensorFlow's: width, then height
                x = _bilinear_upsample_axis(inputs, w_axis, self.size[1])
                return _bilinear_upsample_axis(x, h_axis, self.size[0])
            raise ValueError(f"{_describe(self)}: {self.interpolation} upsampling needs the "
                             f"spatial size, received shape {_format_shape(shape)} (only "
                             f"'nearest' and 'bilinear' work on sizes known at run time)")
        rows = _bilinear_matrix(shape[h_axis], self.size[0], self.interpolation)
        cols = _bilinear_matrix(shape[w_axis], self.size[1], self.interpolation)
        rows = tf.constant(rows, dtype=inputs.dtype)
        cols = tf.constant(cols, dtype=inputs.dtype)
        if self.data_format == "channels_first":
            return tf.einsum("ih,nchw,jw->ncij", rows, inputs, cols)
        return tf.einsum("ih,nhwc,jw->nijc", rows, inputs, cols)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "data_format": self.data_format,
                "interpolation": self.interpolation}


class UpSampling3D(Layer):
    """Repeats each element `size[i]` times along spatial dimension i (nearest neighbour).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.UpSampling3D((2, 1, 3))(tf.ones((1, 2, 2, 2, 1))).shape
    TensorShape([1, 4, 2, 6, 1])
    """

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        from tensorflux.keras.layers.convolutional import standardize_tuple

        super().__init__(**kwargs)
        self.data_format = _standardize_data_format(data_format)
        self.size = standardize_tuple(size, 3, "size")
        self.input_spec = InputSpec(ndim=5)
        self.built = True

    def call(self, inputs):
        for axis, size in zip(_spatial_axes(self.data_format, 3), self.size):
            inputs = _repeat_axis(self, inputs, size, axis)
        return inputs

    def get_config(self):
        return {**super().get_config(), "size": self.size, "data_format": self.data_format}
