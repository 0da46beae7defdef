"""keras.layers reshaping layers: Flatten, Reshape, Permute and RepeatVector."""

import math

from tensorflux.keras import backend
from tensorflux.keras.engine.keras_tensor import trace_state
from tensorflux.keras.layers.base import InputSpec, Layer, _describe, _format_shape

__all__ = ["Flatten", "Permute", "RepeatVector", "Reshape"]


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


def _standardize_data_format(data_format):
    if data_format is None:
        return backend.image_data_format()
    value = str(data_format).lower()
    if value not in ("channels_first", "channels_last"):
        raise ValueError("The `data_format` argument must be one of {'channels_first', "
                         f"'channels_last'}}. Received: data_format={data_format}")
    return value


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
