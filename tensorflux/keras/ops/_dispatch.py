"""How a keras.ops function runs: eagerly on tensors, or as an op-layer node when it is given
KerasTensors; and Keras 3's dtype promotion, which TensorFlow's ops (strict) do not do."""

import functools
import inspect

import tensorflux as tf
from tensorflux.keras import backend
from tensorflux.keras.engine.keras_tensor import KerasTensor, any_symbolic_tensors
from tensorflux.keras.engine.op_layers import OpLayer
from tensorflux.tensor import _TensorLike

__all__ = ["KerasOp", "UnsavableKerasOp", "keras_op", "result_type", "dtype_name", "convert",
           "promote", "float_operand", "static_shape"]

_CONTAINERS = (list, tuple, dict)


class KerasOp(OpLayer):
    """One keras.ops call on KerasTensors: a weightless node of a Functional graph, saved as
    Keras 3's op class (`keras.src.ops.numpy.Sum`).

    Each op has its own subclass named as Keras's class (ops/_saving.py makes them from its
    table): the op's settings that Keras's class takes in its constructor are its config
    (`Sum(axis=-1, keepdims=True)`), the rest are the node's call arguments (the tensors, and
    what Keras passes with them: `ops.take`'s indices, `ops.add`'s Python scalar), so files go
    both ways with Keras. It never autocasts: Keras ops are not layers, so `ops.exp` of a
    float64 input stays float64.
    """

    op_name = None
    keras_module = "keras.src.ops"

    def __init__(self, name=None, **config):
        from tensorflux.keras.ops._saving import op_spec

        spec = op_spec(self.op_name)
        known = spec.config_defaults()
        unknown = sorted(set(config) - set(known))
        if unknown:
            raise TypeError(f"Keras op {type(self).__name__} (keras.ops.{self.op_name}) got "
                            f"argument(s) {unknown} that tensorflux's keras.ops."
                            f"{self.op_name} does not take; it takes {sorted(known)}")
        for key, argument, constant in spec.config:
            if argument is None and key in config and config[key] != constant:
                raise ValueError(f"Keras op {type(self).__name__}: tensorflux's keras.ops."
                                 f"{self.op_name} supports only {key}={constant!r}, received "
                                 f"{key}={config[key]!r}")
        self._spec = spec
        self._op_config = {**known, **config}
        self._extra_arguments = {}  # tensorflux-only settings; they cannot be saved
        super().__init__(name=name or backend.auto_name(spec.name), autocast=False)
        # call(*args, **kwargs) takes whatever Keras's class takes; `training` is not of it
        object.__setattr__(self, "_call_has_training_arg", False)

    def call(self, *args, **kwargs):
        from tensorflux.keras.ops._saving import function_arguments

        values = function_arguments(self._spec, self._op_config, args, kwargs)
        values.update(self._extra_arguments)
        if self._spec.name == "get_item" and isinstance(values.get("key"), list):
            values["key"] = tuple(values["key"])  # a JSON list stands for Keras's tuple key
        return _call_with(self._spec.function, values)

    def get_config(self):
        from tensorflux.keras.ops._saving import check_representable

        where = f"keras.ops.{self.op_name} node '{self.name}'"
        if self._extra_arguments:
            raise TypeError(f"Cannot save {where}: its argument(s) "
                            f"{sorted(self._extra_arguments)} have no place in Keras's "
                            f"{type(self).__name__} op, so a model file cannot hold them. "
                            "Leave them at their defaults to save the model.")
        config = {"name": self.name}
        for key, value in self._op_config.items():
            if key == "dtype" and value is not None:
                value = backend.standardize_dtype(value)
            check_representable(value, f"{where} (argument {key!r})")
            config[key] = value
        for node in self._inbound_nodes:
            check_representable((node.call_args, node.call_kwargs),
                                 f"{where} (its call arguments)", allow_symbolic=True)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class UnsavableKerasOp(KerasOp):
    """A keras.ops call that Keras's op class cannot express (a tensor where Keras's class
    keeps a setting, or an op Keras has no class for): it runs, but saving the model raises."""

    def __init__(self, fn=None, op_name=None, tensor_names=(), static_arguments=None,
                 reason=None, name=None):
        self.op_name = op_name
        self._op_fn = fn
        self._tensor_names = tuple(tensor_names)
        self._static_arguments = dict(static_arguments or {})
        self._reason = reason or "Keras has no op class for it"
        OpLayer.__init__(self, name=name or backend.auto_name(op_name or "keras_op"),
                         autocast=False)

    def call(self, *tensors):
        values = dict(self._static_arguments)
        values.update(zip(self._tensor_names, tensors))
        return _call_with(self._op_fn, values)

    def get_config(self):
        raise TypeError(f"Cannot save keras.ops.{self.op_name} node '{self.name}': "
                        f"{self._reason}, so a model file cannot represent it.")

    @classmethod
    def from_config(cls, config):
        raise TypeError("An UnsavableKerasOp cannot be made from a config.")


def _call_with(fn, values):
    """fn called with `values` (argument name -> value), *args and **kwargs spread."""
    signature = inspect.signature(fn)
    ordered = {}
    for name, parameter in signature.parameters.items():
        if name in values:
            value = values[name]
            ordered[name] = tuple(value) if parameter.kind is parameter.VAR_POSITIONAL \
                else value
    bound = inspect.BoundArguments(signature, ordered)
    return fn(*bound.args, **bound.kwargs)


def _symbolic(args, kwargs):
    for value in args:
        if isinstance(value, KerasTensor):
            return True
        if isinstance(value, _CONTAINERS) and any_symbolic_tensors((value,)):
            return True
    return bool(kwargs) and any_symbolic_tensors((), kwargs)


def _symbolic_call(fn, op_name, args, kwargs):
    """A KerasOp node for fn(*args, **kwargs), its arguments split as Keras's op class splits
    them between config and call; an UnsavableKerasOp when Keras's class cannot hold them."""
    from tensorflux.keras.ops._saving import op_classes, op_spec, split_arguments

    bound = inspect.signature(fn).bind(*args, **kwargs)
    spec = op_spec(op_name)
    split = split_arguments(spec, bound.arguments) if spec is not None else None
    if split is not None:
        layer = op_classes()[spec.name](**split.config)
        layer._extra_arguments = split.extras
        return layer(*split.args, **split.kwargs)
    reason = ("Keras has no op class for it" if spec is None else
              "a tensor is given for an argument that Keras's "
              f"{spec.class_name} op keeps in its config (only the tensors of "
              f"{[a for kind, _, a in spec.call]} can be symbolic)")
    tensor_names, tensors, static = [], [], {}
    for name, value in bound.arguments.items():
        if any_symbolic_tensors((value,)):
            tensor_names.append(name)
            tensors.append(list(value) if isinstance(value, tuple) else value)
        else:
            static[name] = value
    return UnsavableKerasOp(fn, op_name, tensor_names, static, reason)(*tensors)


def keras_op(fn):
    """Decorator: `fn` runs eagerly (or inside a traced call), and becomes a KerasOp node
    when any argument is a KerasTensor, so it can be used between layers of a Functional
    model."""
    op_name = fn.__name__

    @functools.wraps(fn)
    def op(*args, **kwargs):
        if _symbolic(args, kwargs):
            return _symbolic_call(fn, op_name, args, kwargs)
        return fn(*args, **kwargs)

    return op


# ---------------------------------------------------------------------- Keras's dtype lattice
# Keras 3 promotes dtypes on JAX's lattice (keras/src/backend/common/dtypes.py): "int" and
# "float" are the weak types of Python scalars, which adopt the other operand's width.
_LATTICE = {
    "bool": ["int"], "int": ["uint8", "int8"], "uint8": ["int16", "uint16"],
    "uint16": ["int32", "uint32"], "uint32": ["int64", "uint64"], "uint64": ["float"],
    "int8": ["int16"], "int16": ["int32"], "int32": ["int64"], "int64": ["float"],
    "float": ["bfloat16", "float16"], "bfloat16": ["float32"], "float16": ["float32"],
    "float32": ["float64", "complex64"], "float64": ["complex128"],
    "complex64": ["complex128"], "complex128": [],
}


def _upper_bounds():
    bounds = {}
    for node in _LATTICE:
        seen, stack = {node}, [node]
        while stack:
            for parent in _LATTICE[stack.pop()]:
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
        bounds[node] = seen
    return bounds


_BOUNDS = _upper_bounds()


@functools.lru_cache(maxsize=512)
def _least_upper_bound(*names):
    common = set.intersection(*(_BOUNDS[n] for n in names))
    least = [c for c in common if common <= _BOUNDS[c]]
    if len(least) != 1:
        raise ValueError(f"Input dtypes {names} have no available implicit dtype promotion "
                         "path. Try explicitly casting inputs to the desired output type.")
    return least[0]


def _weak_name(dtype):
    if dtype == "bool":
        return dtype
    return "float" if "float" in dtype else "int" if "int" in dtype else dtype


@functools.lru_cache(maxsize=512)
def _promote_names(pairs, bits):
    """The promoted dtype name; `bits` ("32") is floatx's width, which weak types take."""
    names = [name for name, _ in pairs]
    weak = [w for _, w in pairs]
    if len(set(names)) == 1 and not all(weak):
        return names[0]
    if all(weak):
        out = _least_upper_bound(*set(names))
        out_weak = out != "bool"
    else:
        out = _least_upper_bound(*{_weak_name(n) if w else n for n, w in pairs})
        out_weak = out in ("int", "float")
    if out_weak:
        out = "bool" if out == "bool" else ("int" + bits if "int" in out else "float" + bits)
    return out


def dtype_name(x):
    """(dtype name, weak) of an operand: Python ints and floats are weak."""
    if isinstance(x, _TensorLike) or isinstance(x, KerasTensor):
        return backend.standardize_dtype(x.dtype), False
    if isinstance(x, bool):
        return "bool", False
    if isinstance(x, int):
        return "int32", True
    if isinstance(x, float):
        return "float32", True
    if x is int or x is float:
        return ("int32" if x is int else "float32"), True
    dtype = getattr(x, "dtype", None)
    if dtype is not None:
        return backend.standardize_dtype(dtype), False
    return backend.standardize_dtype(tf.convert_to_tensor(x).dtype), False


def result_type(*values):
    """The dtype name Keras 3 gives an op over `values` (tensors, arrays, Python scalars, or
    the types `int` / `float` standing for a weak scalar).

    >>> from tensorflux.keras.ops._dispatch import result_type
    >>> result_type("int32", "float32"), result_type(1, 2.0), result_type("int32", float)
    ('float32', 'float32', 'float32')
    """
    pairs = tuple((v, False) if isinstance(v, str) else dtype_name(v) for v in values)
    return _promote_names(pairs, backend.floatx()[-2:])


def convert(x, dtype=None):
    """A tensor for `x`; Python ints become int32 and floats floatx, as in Keras."""
    if isinstance(x, _TensorLike):
        if dtype is not None and x.dtype.name != backend.standardize_dtype(dtype):
            return tf.cast(x, dtype)
        return x
    if dtype is None:
        if isinstance(x, float):
            dtype = backend.floatx()
        elif isinstance(x, int) and not isinstance(x, bool):
            dtype = "int32"
    if dtype is not None and isinstance(x, (int, float, bool)):
        return tf.constant(x, dtype=dtype)
    tensor = tf.convert_to_tensor(x)
    if dtype is not None and tensor.dtype.name != backend.standardize_dtype(dtype):
        tensor = tf.cast(tensor, dtype)
    return tensor


def promote(*values):
    """All of `values` as tensors of their Keras result dtype."""
    dtype = result_type(*values)
    return [convert(v, dtype) for v in values]


def float_operand(x):
    """`x` as a tensor, cast to floatx when it is an int or bool (Keras's float-only ops)."""
    x = convert(x)
    name = x.dtype.name
    if not (name.startswith("float") or name.startswith("bfloat") or name.startswith("complex")):
        x = tf.cast(x, result_type(name, float))
    return x


def static_shape(x):
    """`x.shape` as a tuple with None for unknown dimensions."""
    shape = x.shape
    if hasattr(shape, "as_list"):
        return tuple(shape.as_list())
    return tuple(shape)
