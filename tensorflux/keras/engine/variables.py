"""What Keras 3's variables (layer weights, optimizer slots) share beyond tf.Variable."""

from tensorflux.variable import _assign

__all__ = ["KerasAssign", "RebindsInPlace"]


class RebindsInPlace:
    """`v += x` (and -=, *=, /=, **=) gives the new tensor `v + x`, rebinding the name, as
    Keras 3's variables do; a tf.Variable refuses these operators, as TensorFlow's does."""

    __slots__ = ()

    def __iadd__(self, other):
        return self + other

    def __isub__(self, other):
        return self - other

    def __imul__(self, other):
        return self * other

    def __itruediv__(self, other):
        return self / other

    def __ipow__(self, other):
        return self ** other


class KerasAssign:
    """Keras 3's names for a variable's updates: `assign_add(value)` and
    `assign_sub(value)`, where a tf.Variable calls the argument `delta` (still taken here,
    by keyword, for tf.keras-style code). The positional call, the optimizers' own, goes
    straight to the write as tf.Variable's does."""

    __slots__ = ()

    def assign_add(self, value=None, use_locking=None, name=None, read_value=True, *,
                   delta=None):
        if value is None:
            value = _only_value(self, "assign_add", delta)
        return _assign(self, "assign_add", value, read_value)

    def assign_sub(self, value=None, use_locking=None, name=None, read_value=True, *,
                   delta=None):
        if value is None:
            value = _only_value(self, "assign_sub", delta)
        return _assign(self, "assign_sub", value, read_value)


def _only_value(variable, method, delta):
    if delta is None:
        raise TypeError(f"{method}() of variable '{variable.path}' needs its `value` "
                        f"argument (`{method}(value)`), received none")
    return delta


class _AnyVariable(type):
    """keras.Variable's type: every tensorflux variable is an instance of it (layer weights,
    optimizer slots, metric state and tf.Variable are one kind of variable here)."""

    def __instancecheck__(cls, instance):
        from tensorflux.variable import Variable as CoreVariable

        return isinstance(instance, CoreVariable)

    def __subclasscheck__(cls, subclass):
        from tensorflux.variable import Variable as CoreVariable

        return isinstance(subclass, type) and issubclass(subclass, CoreVariable)


_AGGREGATIONS = (None, "none", "mean", "sum", "only_first_replica")
_SYNCHRONIZATIONS = (None, "none", "on_read", "on_write", "auto")


class Variable(metaclass=_AnyVariable):
    """keras.Variable(initializer, shape=None, dtype=None, trainable=True, ..., name=None):
    a variable from a value, or from an initializer (a name such as "zeros", an Initializer
    or a callable taking shape and dtype) and a `shape`. Its `path` is the name scopes open
    now and its name ("variable", "variable_1", ... when unnamed).

    >>> from tensorflux import keras
    >>> v = keras.Variable("ones", shape=(2,), name="w")
    >>> v.path, v.numpy().tolist(), v.dtype.name
    ('w', [1.0, 1.0], 'float32')
    """

    def __new__(cls, initializer, shape=None, dtype=None, trainable=True, autocast=True,
                aggregation="none", synchronization="auto", name=None, layout=None, **kwargs):
        import tensorflux as tf
        from tensorflux.keras import backend
        from tensorflux.keras.engine.load_budget import charge
        from tensorflux.keras.layers.base import KerasVariable, _get_initializer, _initial_value

        name = name or backend.auto_name("variable")
        if not isinstance(name, str) or "/" in name:
            raise ValueError(f"keras.Variable's name must be a string without '/', received "
                             f"name={name!r}")
        if aggregation not in _AGGREGATIONS:
            raise ValueError(f"keras.Variable's aggregation must be one of {_AGGREGATIONS}, "
                             f"received aggregation={aggregation!r}")
        if synchronization not in _SYNCHRONIZATIONS:
            raise ValueError(f"keras.Variable's synchronization must be one of "
                             f"{_SYNCHRONIZATIONS}, received synchronization="
                             f"{synchronization!r}")
        if isinstance(initializer, str) or callable(initializer):
            if shape is None:
                raise ValueError(f"keras.Variable {name!r} is made by an initializer "
                                 f"({initializer!r}), which needs the `shape` argument")
            # (made as add_weight makes a weight: the initializer's value in the dtype)
            dtype = backend.standardize_dtype(dtype)
            charge(None, name, tuple(shape), dtype)
            value = _initial_value(_get_initializer(initializer), tuple(shape), dtype)
        else:
            value = tf.convert_to_tensor(initializer, dtype=None if dtype is None else
                                         backend.standardize_dtype(dtype))
        if shape is not None and tuple(value.shape) != tuple(shape):
            raise ValueError(f"keras.Variable {name!r}: the initial value has shape "
                             f"{tuple(value.shape)}, but shape={tuple(shape)} was given")
        variable = KerasVariable(value, trainable=bool(trainable), name=name)
        variable._autocast = bool(autocast)  # (False: a mixed-precision call reads it as is)
        return variable
