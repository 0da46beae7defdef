"""keras.regularizers: Keras 3's weight penalties (L1, L2, L1L2, OrthogonalRegularizer)."""

import math as _math

from tensorflux.keras import _objects
from tensorflux.tensor import _is_dense_tensor

__all__ = ["L1", "L1L2", "L2", "OrthogonalRegularizer", "Regularizer", "deserialize", "get",
           "l1", "l1_l2", "l2", "orthogonal_regularizer", "serialize"]


def _tf():
    import tensorflux as tf

    return tf


def _validate_float(value, name):
    if isinstance(value, bool) or not isinstance(value, (float, int)) or _math.isinf(value) \
            or _math.isnan(value) or value < 0:
        raise ValueError(f"Invalid value for argument {name}: expected a non-negative float. "
                         f"Received: {name}={value}")
    return float(value)


def _float32(value):
    """`value` rounded to float32, as Keras stores l1 and factor (in float32 tensors)."""
    return float(_tf().constant(value, dtype=_tf().float32))


def _weights(x):
    tf = _tf()
    return x if _is_dense_tensor(x) or isinstance(x, tf.Variable) else tf.convert_to_tensor(x)


class Regularizer:
    """Base class: `__call__(x)` returns a scalar penalty."""

    def __call__(self, x):
        return 0.0

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def get_config(self):
        raise NotImplementedError(f"{self} does not implement get_config()")


class L1L2(Regularizer):
    """l1 * sum(|x|) + l2 * sum(x^2) (both default 0).

    >>> from tensorflux.keras import regularizers
    >>> float(regularizers.L1L2(l1=0.5, l2=1.0)([1.0, -2.0]))
    6.5
    """

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _validate_float(0.0 if l1 is None else l1, "l1")
        self.l2 = _validate_float(0.0 if l2 is None else l2, "l2")

    def __call__(self, x):
        tf = _tf()
        x = _weights(x)
        penalty = tf.constant(0.0, dtype=x.dtype)
        if self.l1 != 0.0:
            penalty = penalty + tf.constant(self.l1, dtype=x.dtype) * tf.reduce_sum(tf.abs(x))
        if self.l2 != 0.0:
            penalty = penalty + tf.constant(self.l2, dtype=x.dtype) * tf.reduce_sum(
                tf.square(x))
        return penalty

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """l1 * sum(|x|) (default l1=0.01).

    >>> from tensorflux.keras import regularizers
    >>> float(regularizers.L1(0.5)([1.0, -2.0]))
    1.5
    """

    def __init__(self, l1=0.01):
        self.l1 = _float32(_validate_float(0.01 if l1 is None else l1, "l1"))

    def __call__(self, x):
        tf = _tf()
        x = _weights(x)
        return tf.constant(self.l1, dtype=x.dtype) * tf.reduce_sum(tf.abs(x))

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """l2 * sum(x^2) (default l2=0.01).

    >>> from tensorflux.keras import regularizers
    >>> float(regularizers.L2(0.5)([1.0, -2.0]))
    2.5
    """

    def __init__(self, l2=0.01):
        self.l2 = _validate_float(0.01 if l2 is None else l2, "l2")

    def __call__(self, x):
        tf = _tf()
        x = _weights(x)
        return tf.constant(self.l2, dtype=x.dtype) * tf.reduce_sum(tf.square(x))

    def get_config(self):
        return {"l2": self.l2}


def _l2_normalize(x, axis):
    """Keras's `ops.normalize(order=2)`: x * min(rsqrt(sum(x^2)), 1/epsilon)."""
    tf = _tf()
    inv = tf.math.rsqrt(tf.reduce_sum(tf.square(x), axis=axis, keepdims=True))
    return x * tf.minimum(inv, tf.constant(1.0 / 1e-7, dtype=x.dtype))


class OrthogonalRegularizer(Regularizer):
    """factor * mean |cosine| between distinct rows (or columns) of a 2-D weight.

    >>> from tensorflux.keras import regularizers
    >>> float(regularizers.OrthogonalRegularizer(1.0)([[1.0, 0.0], [0.0, 1.0]]))
    0.0
    """

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _float32(_validate_float(factor, "factor"))
        if mode not in {"rows", "columns"}:
            raise ValueError(f'Invalid value for argument `mode`. Expected one of {{"rows", '
                             f'"columns"}}. Received: mode={mode}')
        self.mode = mode

    def __call__(self, inputs):
        tf = _tf()
        inputs = _weights(inputs)
        if inputs.shape.rank != 2:
            raise ValueError(f"Inputs to OrthogonalRegularizer must have rank 2. Received: "
                             f"inputs.shape={tuple(inputs.shape)}")
        if self.mode == "rows":
            inputs = _l2_normalize(inputs, axis=1)
            product = tf.matmul(inputs, inputs, transpose_b=True)
            size = inputs.shape[0]
        else:
            inputs = _l2_normalize(inputs, axis=0)
            product = tf.matmul(inputs, inputs, transpose_a=True)
            size = inputs.shape[1]
        off_diagonal = product * (1.0 - tf.eye(size, dtype=inputs.dtype))
        num_pairs = size * (size - 1.0) / 2.0
        factor = tf.constant(self.factor, dtype=inputs.dtype)
        return factor * 0.5 * tf.reduce_sum(tf.abs(off_diagonal)) / num_pairs

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


# Keras 3 exports the lower-case names as aliases of the classes (so l1_l2() is L1L2(0, 0)).
l1 = L1
l2 = L2
l1_l2 = L1L2
orthogonal_regularizer = OrthogonalRegularizer

_CLASSES = (Regularizer, L1, L2, L1L2, OrthogonalRegularizer)
ALL_OBJECTS_DICT = {cls.__name__: cls for cls in _CLASSES}
ALL_OBJECTS_DICT.update({_objects.snake_case(cls.__name__): cls for cls in _CLASSES})
ALL_OBJECTS_DICT["l1_l2"] = L1L2


def serialize(regularizer):
    """Keras 3's dict form of a regularizer."""
    return _objects.serialize_object(regularizer, "keras.regularizers", ALL_OBJECTS_DICT)


def deserialize(config, custom_objects=None):
    """A regularizer from a name or a Keras config dict."""
    obj = _objects.deserialize_object(config, ALL_OBJECTS_DICT, "regularizer", custom_objects)
    return obj() if isinstance(obj, type) else obj


def get(identifier):
    """A regularizer from None, a name ("l2"), a config dict, a class or a callable.

    >>> from tensorflux.keras import regularizers
    >>> regularizers.get("l2").get_config()
    {'l2': 0.01}
    """
    return _objects.get_object(identifier, ALL_OBJECTS_DICT, "regularizer")
