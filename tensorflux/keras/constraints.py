"""keras.constraints: Keras 3's weight constraints (MaxNorm, NonNeg, UnitNorm, MinMaxNorm)."""

from tensorflux.keras import _objects

__all__ = ["Constraint", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "deserialize", "get",
           "max_norm", "min_max_norm", "non_neg", "serialize", "unit_norm"]

_EPSILON = 1e-7


def _tf():
    import tensorflux as tf

    return tf


def _weights(w):
    tf = _tf()
    return tf.convert_to_tensor(w)


def _norms(w, axis):
    tf = _tf()
    return tf.sqrt(tf.reduce_sum(tf.square(w), axis=axis, keepdims=True))


def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


class Constraint:
    """Base class: `__call__(w)` returns the projected weight."""

    def __call__(self, w):
        return w

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class MaxNorm(Constraint):
    """Rescales slices along `axis` whose L2 norm exceeds `max_value` (defaults 2 and 0).

    >>> from tensorflux.keras import constraints
    >>> [round(float(v), 4) for v in constraints.MaxNorm(1.0)([[3.0], [4.0]]).numpy().ravel()]
    [0.6, 0.8]
    """

    def __init__(self, max_value=2, axis=0):
        self.max_value = max_value
        self.axis = axis

    def __call__(self, w):
        tf = _tf()
        w = _weights(w)
        norms = _norms(w, _axis(self.axis))
        desired = tf.clip_by_value(norms, 0.0, float(self.max_value))
        return w * (desired / (_EPSILON + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """max(w, 0).

    >>> from tensorflux.keras import constraints
    >>> constraints.NonNeg()([-1.0, 2.0]).numpy().tolist()
    [0.0, 2.0]
    """

    def __call__(self, w):
        tf = _tf()
        w = _weights(w)
        return tf.maximum(w, tf.zeros_like(w))


class UnitNorm(Constraint):
    """w / (epsilon + ||w||) along `axis` (default 0).

    >>> from tensorflux.keras import constraints
    >>> [round(float(v), 4) for v in constraints.UnitNorm()([[3.0], [4.0]]).numpy().ravel()]
    [0.6, 0.8]
    """

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        w = _weights(w)
        return w / (_EPSILON + _norms(w, _axis(self.axis)))

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Moves norms along `axis` into [min_value, max_value], by a fraction `rate` per call.

    >>> from tensorflux.keras import constraints
    >>> w = constraints.MinMaxNorm(0.0, 1.0)([[3.0], [4.0]])
    >>> [round(float(v), 4) for v in w.numpy().ravel()]
    [0.6, 0.8]
    """

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = min_value
        self.max_value = max_value
        self.rate = rate
        self.axis = axis

    def __call__(self, w):
        tf = _tf()
        w = _weights(w)
        norms = _norms(w, _axis(self.axis))
        clipped = tf.clip_by_value(norms, float(self.min_value), float(self.max_value))
        desired = self.rate * clipped + (1 - self.rate) * norms
        return w * (desired / (_EPSILON + norms))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


max_norm = MaxNorm
non_neg = NonNeg
unit_norm = UnitNorm
min_max_norm = MinMaxNorm

_CLASSES = (Constraint, MaxNorm, MinMaxNorm, NonNeg, UnitNorm)
ALL_OBJECTS_DICT = {cls.__name__: cls for cls in _CLASSES}
ALL_OBJECTS_DICT.update({_objects.snake_case(cls.__name__): cls for cls in _CLASSES})


def serialize(constraint):
    """Keras 3's dict form of a constraint."""
    return _objects.serialize_object(constraint, "keras.constraints", ALL_OBJECTS_DICT)


def deserialize(config, custom_objects=None):
    """A constraint from a name or a Keras config dict."""
    obj = _objects.deserialize_object(config, ALL_OBJECTS_DICT, "constraint", custom_objects)
    return obj() if isinstance(obj, type) else obj


def get(identifier):
    """A constraint from None, a name ("max_norm"), a config dict, a class or a callable.

    >>> from tensorflux.keras import constraints
    >>> type(constraints.get("non_neg")).__name__
    'NonNeg'
    """
    return _objects.get_object(identifier, ALL_OBJECTS_DICT, "constraint")
