"""Op layers: what Python operators on KerasTensors (x + y, x[:, 0], -x) become in a
Functional graph, named and serialized as Keras 3's op classes (`keras.src.ops.numpy.Add`).
keras.ops calls become OpLayer subclasses too (keras/ops/_dispatch.py's KerasOp), saved the
same way."""

from tensorflux.keras import backend
from tensorflux.keras.layers.base import Layer

__all__ = ["OpLayer", "GetItem", "make_op_layer", "OP_CLASSES"]


def _fn(name):
    """The keras.ops function of an operator: Keras 3's KerasTensor operators are keras.ops
    calls (x + y is ops.add(x, y)), with their dtype promotion (float64 + float64 stays
    float64, float16 + float32 is float32)."""
    from tensorflux.keras import ops

    return getattr(ops, name)


class OpLayer(Layer):
    """A weightless layer applying one op; excluded from `Model.layers`. It never autocasts
    its inputs to a dtype policy's compute dtype: Keras's ops are not layers (a float64
    model's `h + r` adds in float64 whatever the global policy)."""

    op_name = None
    keras_module = "keras.src.ops.numpy"
    # Whether a Keras file's op class of this name loads as this class rather than as the
    # keras.ops function's node (saving/serialization.py): only where the file's format is
    # this class's and it does more than the function (tuple keys, ONNX attributes).
    loads_keras_format = False
    _allow_non_tensor_positional_args = True  # (an op's attributes: axes, slices, shapes)

    def __init__(self, name=None, **kwargs):
        kwargs.setdefault("autocast", False)
        super().__init__(name=name or backend.auto_name(type(self).__name__), **kwargs)
        self.built = True

    def call(self, *args):
        return _fn(self.op_name)(*args)

    def get_config(self):
        return {"name": self.name}


class GetItem(OpLayer):
    op_name = "get_item"
    loads_keras_format = True  # Keras's GetItem node, loaded as this class

    def call(self, x, key):
        if isinstance(key, list):
            key = tuple(key)
        return x[key]


class Cast(OpLayer):
    op_name = "cast"
    keras_module = "keras.src.ops.core"
    loads_keras_format = True

    def __init__(self, dtype=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.target_dtype = backend.standardize_dtype(dtype)

    def call(self, x):
        import tensorflux as tf

        return tf.cast(x, self.target_dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.target_dtype}


class Reshape(OpLayer):
    op_name = "reshape"

    def call(self, x, new_shape):
        import tensorflux as tf

        return tf.reshape(x, [-1 if d is None else d for d in new_shape])


def _class_name(op_name):
    return "".join(part.capitalize() for part in op_name.split("_"))


OP_CLASSES = {"GetItem": GetItem, "Cast": Cast, "Reshape": Reshape}
for _name in ("add", "subtract", "multiply", "true_divide", "floor_divide", "mod", "power",
              "matmul", "negative", "absolute", "less", "less_equal", "greater",
              "greater_equal", "equal", "not_equal"):
    OP_CLASSES[_class_name(_name)] = type(_class_name(_name), (OpLayer,),
                                          {"op_name": _name, "__module__": __name__})
_BY_OP = {cls.op_name: cls for cls in OP_CLASSES.values()}


def make_op_layer(op_name, fn=None, **kwargs):
    """A new op layer instance for `op_name` ("add", "get_item", "cast"...)."""
    return _BY_OP[op_name](**kwargs)
