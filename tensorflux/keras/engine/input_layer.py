"""InputLayer and keras.Input: the entry points of a Functional graph."""

from tensorflux.keras import backend
from tensorflux.keras.engine.keras_tensor import KerasTensor, Node
from tensorflux.keras.layers.base import Layer

__all__ = ["Input", "InputLayer"]


def _checked_shape(shape):
    """A user's shape as a tuple of non-negative ints and Nones, refused with Keras's
    ValueError otherwise (an int such as `shape=4` is not a shape; strings and floats are not
    dimensions, even where int() would take them)."""
    if shape is None:
        raise ValueError("Undefined shapes are not supported.")
    if hasattr(shape, "as_list"):
        shape = shape.as_list()
    if not hasattr(shape, "__iter__"):
        raise ValueError(f"Cannot convert '{shape}' to a shape.")
    shape = tuple(shape)
    dims = []
    for dim in shape:
        if dim is not None:
            try:
                if isinstance(dim, (str, float)):
                    raise TypeError
                dim = int(dim)
            except (TypeError, ValueError):
                raise ValueError(f"Cannot convert '{shape}' to a shape. Found invalid "
                                 f"dimension '{dim}' of type '{type(dim)}'. ") from None
            if dim < 0:
                raise ValueError(f"Cannot convert '{shape}' to a shape. Negative dimensions "
                                 "are not allowed.")
        dims.append(dim)
    return tuple(dims)


class InputLayer(Layer):
    """The layer that owns a Functional model's input KerasTensor (no weights, no call).

    >>> from tensorflux import keras
    >>> keras.layers.InputLayer(shape=(4,), name="x").batch_shape
    (None, 4)
    """

    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, ragged=None,
                 batch_shape=None, input_tensor=None, optional=False, name=None, **kwargs):
        input_shape = kwargs.pop("input_shape", None)
        batch_input_shape = kwargs.pop("batch_input_shape", None)
        if shape is None and input_shape is not None:
            shape = input_shape
        if batch_shape is None and batch_input_shape is not None:
            batch_shape = batch_input_shape
        super().__init__(name=name, **kwargs)
        if shape is not None and batch_shape is not None:
            raise ValueError("You cannot pass both `shape` and `batch_shape` at the same time.")
        if batch_size is not None and batch_shape is not None:
            raise ValueError("You cannot pass both `batch_size` and `batch_shape` at the same "
                             "time.")
        if shape is None and batch_shape is None and input_tensor is None:
            raise ValueError("You must pass a `shape` argument.")
        if input_tensor is not None:
            if not isinstance(input_tensor, KerasTensor):
                raise ValueError("Argument `input_tensor` must be a KerasTensor. Received "
                                 f"invalid type: input_tensor={input_tensor} "
                                 f"(of type {type(input_tensor)})")
            batch_shape = input_tensor.shape
            dtype = dtype or input_tensor.dtype
        elif batch_shape is None:
            batch_shape = (batch_size,) + _checked_shape(shape)
        self._batch_shape = _checked_shape(batch_shape)
        self._dtype = backend.standardize_dtype(dtype)
        self.sparse = bool(sparse)
        # Recorded for the config and the symbolic tensor; which layers take RaggedTensors
        # (and SparseTensors) is up to each layer: the others raise naming to_tensor().
        self.ragged = bool(ragged)
        self.optional = optional
        self.built = True
        # A given KerasTensor becomes this layer's output itself (as in Keras), so a graph
        # built on it stays connected to the new input.
        tensor = input_tensor if input_tensor is not None else KerasTensor(
            self._batch_shape, self._dtype, sparse=self.sparse, ragged=self.ragged,
            name=self.name)
        Node(self, (), {}, tensor)
        self._output_tensor = tensor

    @property
    def batch_shape(self):
        return self._batch_shape

    @property
    def dtype(self):
        return self._dtype

    def call(self):
        return None

    def get_config(self):
        return {"batch_shape": self._batch_shape, "dtype": self._dtype, "sparse": self.sparse,
                "ragged": self.ragged, "name": self.name, "optional": self.optional}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("trainable", None)
        return cls(**config)


def Input(shape=None, batch_size=None, dtype=None, sparse=None, ragged=None, batch_shape=None,
          name=None, tensor=None, optional=False):
    """A symbolic input of a Functional model: a KerasTensor with a None batch dimension.

    >>> from tensorflux import keras
    >>> keras.Input(shape=(3,), batch_size=2).shape
    (2, 3)
    """
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse,
                       ragged=ragged, batch_shape=batch_shape, name=name, input_tensor=tensor,
                       optional=optional)
    return layer.output
