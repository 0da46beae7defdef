"""How a keras.ops function runs: eagerly on tensors, or as an op-layer node when it is given
KerasTensors; and Keras 3's dtype promotion, which TensorFlow's ops (strict) do not do."""

import functools
import inspect

import tensorflux as tf
from tensorflux.keras import backend
from tensorflux.keras.engine.keras_tensor import KerasTensor, any_symbolic_tensors
from tensorflux.keras.engine.op_layers import OpLayer
from tensorflux.tensor import _TensorLike

__all__ = ["KerasOp", "keras_op", "result_type", "dtype_name", "convert", "promote",
           "float_operand", "static_shape"]

_CONTAINERS = (list, tuple, dict)


class KerasOp(OpLayer):
    """One keras.ops call on KerasTensors: a weightless node of a Functional graph.

    The arguments holding KerasTensors are the node's inputs; the others (axis=1, 2.0, ...)
    are kept on the op. It never autocasts: Keras ops are not layers, so `ops.exp` of a
    float64 input stays float64.
    """

    keras_module = "keras.src.ops"

    def __init__(self, fn=None, op_name=None, tensor_names=(), static_arguments=None,
                 name=None, **kwargs):
        self.op_name = op_name
        self._op_fn = fn
        self._tensor_names = tuple(tensor_names)
        self._static_arguments = dict(static_arguments or {})
        super().__init__(name=name or backend.auto_name(op_name or "keras_op"), autocast=False,
                         **kwargs)

    def call(self, *tensors):
        signature = inspect.signature(self._op_fn)
        values = dict(self._static_arguments)
        values.update(zip(self._tensor_names, tensors))
        ordered = {}
        for name, parameter in signature.parameters.items():
            if name in values:
                value = values[name]
                ordered[name] = tuple(value) if parameter.kind is parameter.VAR_POSITIONAL \
                    else value
        bound = inspect.BoundArguments(signature, ordered)
        return self._op_fn(*bound.args, **bound.kwargs)

    def get_config(self):
        return {"name": self.name, "op_name": self.op_name}


def _symbolic(args, kwargs):
    for value in args:
        if isinstance(value, KerasTensor):
            return True
        if isinstance(value, _CONTAINERS) and any_symbolic_tensors((value,)):
            return True
    return bool(kwargs) and any_symbolic_tensors((), kwargs)


def _symbolic_call(fn, op_name, args, kwargs):
    """A KerasOp node for fn(*args, **kwargs): arguments with KerasTensors become its
    inputs (a layer's positional arguments must be tensors), the rest its settings."""
    bound = inspect.signature(fn).bind(*args, **kwargs)
    tensor_names, tensors, static = [], [], {}
    for name, value in bound.arguments.items():
        if any_symbolic_tensors((value,)):
            tensor_names.append(name)
            tensors.append(list(value) if isinstance(value, tuple) else value)
        else:
            static[name] = value
    return KerasOp(fn, op_name, tensor_names, static)(*tensors)


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
