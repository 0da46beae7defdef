"""tensorflux: TensorFlow's core and a Keras-compatible API, with NumPy as the only dependency.

`import tensorflux as tf` gives TF2's low-level API: tensors, Variables, the op library,
GradientTape and the tf.math / tf.linalg / tf.nn / tf.random namespaces.
"""

import sys as _sys
import types as _types

from tensorflux import config, dtypes, errors, linalg, math, nest, nn, random
from tensorflux.autodiff import GradientTape, UnconnectedGradients, custom_gradient
from tensorflux.context import device
from tensorflux.dtypes import (
    DType,
    as_dtype,
    bfloat16,
    bool,
    complex64,
    complex128,
    double,
    float16,
    float32,
    float64,
    half,
    int8,
    int16,
    int32,
    int64,
    string,
    uint8,
    uint16,
    uint32,
    uint64,
)
from tensorflux.graph import function
from tensorflux.graph.control_flow import cond, while_loop
from tensorflux.graph.gradients import gradients
from tensorflux.graph.static import get_static_value
from tensorflux.ops.array import (
    argsort,
    broadcast_to,
    concat,
    expand_dims,
    eye,
    fill,
    identity,
    linspace,
    one_hot,
    ones,
    ones_like,
    pad,
    range,
    rank,
    repeat,
    reshape,
    shape,
    size,
    sort,
    split,
    squeeze,
    stack,
    stop_gradient,
    tile,
    unique,
    unstack,
    zeros,
    zeros_like,
)
from tensorflux.ops.composite import (
    clip_by_global_norm,
    clip_by_norm,
    ensure_shape,
    meshgrid,
    roll,
    searchsorted,
    sequence_mask,
)
from tensorflux.ops.dispatch import dispatching as _dispatching
from tensorflux.ops.dispatch import install as _install_dispatch
from tensorflux.ops.indexing import (
    boolean_mask,
    gather,
    gather_nd,
    reverse,
    scatter_nd,
    slice,
    strided_slice,
    tensor_scatter_nd_add,
    tensor_scatter_nd_max,
    tensor_scatter_nd_min,
    tensor_scatter_nd_sub,
    tensor_scatter_nd_update,
)
from tensorflux.ops.linalg import (
    einsum,
    matmul,
    norm,
    tensordot,
    transpose,
)
from tensorflux.ops.logging import print  # noqa: A004 - tf.print
from tensorflux.ops.math import (
    abs,
    acos,
    add,
    add_n,
    angle,
    asin,
    atan,
    atan2,
    cast,
    ceil,
    clip_by_value,
    complex,
    conj,
    cos,
    cosh,
    divide,
    divide_no_nan,
    equal,
    erf,
    exp,
    expm1,
    floor,
    floordiv,
    floormod,
    greater,
    greater_equal,
    imag,
    invert,
    is_finite,
    is_inf,
    is_nan,
    less,
    less_equal,
    log,
    log1p,
    log_sigmoid,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    maximum,
    minimum,
    mod,
    multiply,
    multiply_no_nan,
    negative,
    not_equal,
    pow,
    real,
    reciprocal,
    reciprocal_no_nan,
    round,
    rsqrt,
    saturate_cast,
    scalar_mul,
    sigmoid,
    sign,
    sin,
    sinh,
    softplus,
    softsign,
    sqrt,
    square,
    squared_difference,
    subtract,
    tan,
    tanh,
    truediv,
    where,
    xlogy,
)
from tensorflux.ops.reduction import (
    argmax,
    argmin,
    cumsum,
    reduce_all,
    reduce_any,
    reduce_logsumexp,
    reduce_max,
    reduce_mean,
    reduce_min,
    reduce_prod,
    reduce_sum,
)
from tensorflux.tensor import Tensor, TensorSpec, constant, convert_to_tensor, is_tensor
from tensorflux.tensor_shape import TensorShape
from tensorflux.variable import Variable, VariableAggregation, VariableSynchronization

newaxis = None

# The TensorFlow API version tensorflux follows (as tensorflux.keras.__version__ is the Keras
# one), for scripts that check it; the package's own version is __tensorflux_version__.
__version__ = "2.21.0"
__tensorflux_version__ = "0.1.0"
version = _types.SimpleNamespace(VERSION=__version__)

# Namespaces that load NumPy-backed I/O (event files, input pipelines) on first use, so that
# `import tensorflux` stays light. `keras` loads on first use too (see _Package below).
_LAZY = {"summary": "tensorflux.summary", "data": "tensorflux.data",
         "io": "tensorflux.io", "train": "tensorflux.train",
         "debugging": "tensorflux.debugging", "signal": "tensorflux.signal",
         "distribute": "tensorflux.distribute", "sparse": "tensorflux.sparse",
         "ragged": "tensorflux.ragged", "autograph": "tensorflux.autograph"}
# tf.test, tf.compat (v1's preamble subset) and tf.lookup (helper "tf-compat").
_LAZY.update({"test": "tensorflux.test", "compat": "tensorflux.compat",
              "lookup": "tensorflux.lookup"})
# tf.image and tf.strings: large op namespaces that numeric programs never touch.
_LAZY.update({"image": "tensorflux.ops.image", "strings": "tensorflux.ops.strings"})
# tf.experimental (tf.experimental.numpy, TF's NumPy API)
_LAZY.update({"experimental": "tensorflux.experimental"})
_LAZY.update({"bitwise": "tensorflux.bitwise", "saved_model": "tensorflux.saved_model",
              "audio": "tensorflux.io.audio"})
_LAZY.update({"sets": "tensorflux.ops.sets"})
_LAZY.update({"profiler": "tensorflux.profiler"})
# TF2's Keras aliases that old tutorials use: in TF 2.21 tf.losses is the tf.keras.losses
# namespace (with its Keras 2 extras, such as Reduction), and so for the others. Keras loads
# only when one of them is first used.
_KERAS_ALIASES = ("optimizers", "losses", "metrics", "initializers")
# Names from modules that only some programs use (control flow helpers, tf.Module,
# TensorArray), also loaded on first use.
_LAZY_NAMES = {
    **{name: "tensorflux.control" for name in (
        "control_dependencies", "executing_eagerly", "map_fn", "name_scope", "numpy_function",
        "py_function", "scan", "switch_case")},
    "Module": "tensorflux.module", "TensorArray": "tensorflux.tensor_array",
    # More of TF's numeric and framework API (helper "tf-numeric").
    **{name: "tensorflux.ops.array_extra" for name in (
        "batch_to_space", "broadcast_dynamic_shape", "broadcast_static_shape",
        "dynamic_partition", "dynamic_stitch", "histogram_fixed_width",
        "histogram_fixed_width_bins", "identity_n", "parallel_stack", "reverse_sequence",
        "shape_n", "space_to_batch", "space_to_batch_nd", "unique_with_counts", "unravel_index")},
    **{name: "tensorflux.ops.framework" for name in (
        "case", "foldl", "foldr", "get_logger", "grad_pass_through", "group", "hessians",
        "init_scope", "is_symbolic_tensor", "make_ndarray", "make_tensor_proto", "no_op",
        "recompute_grad", "type_spec_from_value", "vectorized_map", "get_current_name_scope",
        "inside_function", "no_gradient", "tuple", "AggregationMethod",
        "random_index_shuffle", "timestamp")},
    **{name: "tensorflux.ops.raw_bytes" for name in ("bitcast", "edit_distance", "fingerprint")},
    **{name: "tensorflux.debugging" for name in (
        "assert_equal", "assert_greater", "assert_less", "assert_rank")},
    **{name: "tensorflux.ops.linalg_extra" for name in ("eig", "eigvals")},
    "TypeSpec": "tensorflux.type_spec", "DeviceSpec": "tensorflux.device_spec",
    **{name: "tensorflux.ops.initializers" for name in (
        "constant_initializer", "ones_initializer", "random_normal_initializer",
        "random_uniform_initializer", "zeros_initializer")},
    **{name: "tensorflux.ops.special" for name in ("acosh", "asinh", "atanh")},
    **{name: "tensorflux.ops.math_extra" for name in ("realdiv", "truncatediv", "truncatemod")},
    "as_string": "tensorflux.ops.strings", "matrix_square_root": "tensorflux.ops.linalg_extra",
    "SparseTensor": "tensorflux.sparse", "SparseTensorSpec": "tensorflux.sparse",
    "RaggedTensor": "tensorflux.ragged", "RaggedTensorSpec": "tensorflux.ragged",
    "IndexedSlices": "tensorflux.indexed_slices", "Assert": "tensorflux.debugging",
}


def __getattr__(name):
    import importlib

    module = _LAZY.get(name)
    if module is not None:
        value = importlib.import_module(module)
    elif name in _LAZY_NAMES:
        value = getattr(importlib.import_module(_LAZY_NAMES[name]), name)
        # (tf.dynamic_partition(rt, ...) and the like take RaggedTensors, as TF dispatches)
        value = _dispatching(name, value) if callable(value) else value
    elif name in _KERAS_ALIASES:
        value = getattr(_sys.modules[__name__].keras, name)
    else:
        raise AttributeError(f"module 'tensorflux' has no attribute {name!r}")
    globals()[name] = value
    return value


class _Package(_types.ModuleType):
    """tensorflux's module type, for one attribute: `keras`, however it is reached (`tf.keras`,
    `from tensorflux import keras`, `import tensorflux.keras as keras`), is TensorFlow's
    tf.keras namespace, as `from tensorflow import keras` is in TF 2.16+: every name of the
    tensorflux.keras package (Keras 3, the same objects) plus the Keras 1/2 APIs that TF keeps
    there (tensorflux.keras._tf_keras). Python records an imported submodule as an attribute
    of its package, so a property is what keeps the namespace in that attribute."""

    @property
    def keras(self):
        module = _sys.modules.get("tensorflux.keras._tf_keras")
        if module is None:
            import importlib

            module = importlib.import_module("tensorflux.keras._tf_keras")
        return module

    @keras.setter
    def keras(self, value):
        # (the import system storing the tensorflux.keras package here: the namespace stays)
        if value is not _sys.modules.get("tensorflux.keras"):
            raise AttributeError("tf.keras is tensorflux's tf.keras namespace; it cannot be "
                                 f"replaced (received {value!r})")


_sys.modules[__name__].__class__ = _Package

__all__ = [
    "audio", "bitwise", "saved_model", "config", "function", "image", "nest", "strings", "cond",
    "while_loop", "gradients",
    "get_static_value", "print", "signal", "distribute", "sparse", "ragged", "autograph",
    "Module", "TensorArray", "clip_by_global_norm", "clip_by_norm", "control_dependencies",
    "debugging", "ensure_shape", "executing_eagerly", "map_fn", "meshgrid", "name_scope",
    "numpy_function", "py_function", "roll", "scan", "searchsorted", "sequence_mask",
    "switch_case",
    "DType", "GradientTape", "Tensor", "TensorShape", "TensorSpec", "UnconnectedGradients",
    "Variable", "VariableAggregation", "VariableSynchronization", "abs", "acos", "add", "add_n",
    "angle", "argmax", "argmin", "argsort", "as_dtype", "asin", "atan", "atan2", "bfloat16", "bool",
    "boolean_mask", "broadcast_to", "cast", "ceil", "clip_by_value", "complex", "complex128",
    "complex64", "concat", "conj", "constant", "convert_to_tensor", "cos", "cosh", "cumsum",
    "custom_gradient", "device", "divide", "divide_no_nan", "double", "dtypes", "einsum", "equal",
    "erf", "errors", "exp", "expand_dims", "expm1", "eye", "fill", "float16", "float32", "float64",
    "floor", "floordiv", "floormod", "gather", "gather_nd", "greater", "greater_equal", "half",
    "identity", "imag", "int16", "int32", "int64", "int8", "invert", "is_finite", "is_inf",
    "is_nan", "is_tensor", "less", "less_equal", "linalg", "linspace", "log", "log1p",
    "log_sigmoid", "logical_and", "logical_not", "logical_or", "logical_xor", "math", "matmul",
    "maximum", "minimum", "mod", "multiply", "multiply_no_nan", "negative", "newaxis", "nn", "norm",
    "not_equal", "one_hot", "ones", "ones_like", "pad", "pow", "random", "range", "rank", "real",
    "reciprocal", "reciprocal_no_nan", "reduce_all", "reduce_any", "reduce_logsumexp", "reduce_max",
    "reduce_mean", "reduce_min", "reduce_prod", "reduce_sum", "repeat", "reshape", "reverse",
    "round", "rsqrt", "saturate_cast", "scalar_mul", "scatter_nd", "shape", "sigmoid", "sign",
    "sin", "sinh", "size", "slice", "softplus", "softsign", "sort", "split", "sqrt", "square",
    "squared_difference", "squeeze", "stack", "stop_gradient", "strided_slice", "string",
    "subtract", "tan", "tanh", "tensor_scatter_nd_add", "tensor_scatter_nd_max",
    "tensor_scatter_nd_min", "tensor_scatter_nd_sub",
    "tensor_scatter_nd_update", "tensordot", "tile", "transpose", "truediv", "uint16", "uint32",
    "uint64", "uint8", "unique", "unstack", "where", "xlogy", "zeros", "zeros_like",
]
__all__ += [name for name in _LAZY_NAMES if name not in __all__]
# (the Keras aliases stay out of __all__: `from tensorflux import *` must not load Keras)
__all__ += ["test", "compat", "lookup", "version", "experimental", "sets"]

# tf.abs(rt), tf.not_equal(rt, ...), tf.where(rt > 0, rt, 0) take RaggedTensors, as TensorFlow
# dispatches them (the op modules, which the Tensor operators call, stay without the check).
_install_dispatch(globals())
