"""tf.experimental.numpy: TensorFlow's NumPy API, on tensorflux tensors.

`import tensorflux.experimental.numpy as tnp` then `tnp.ones(3)`, `tnp.matmul(a, b)`, ...
Results are tf.Tensor (tnp.ndarray), with TF's tnp dtype rules: NumPy 2's promotion and
defaults (tnp.asarray(1.0) is float64, tnp.arange(3) int64) where TF follows NumPy. The dtype
names are tensorflux DTypes (tnp.float32 is tf.float32), accepted wherever NumPy types are.
"""

import math as _math

from tensorflux import dtypes as _dtypes_module
from tensorflux.experimental.numpy import random as random
from tensorflux.experimental.numpy._behavior import (
    experimental_enable_numpy_behavior as experimental_enable_numpy_behavior,
)
from tensorflux.experimental.numpy._core import *  # noqa: F403 - the API is _core's names
from tensorflux.experimental.numpy._core import __all__ as _core_names
from tensorflux.experimental.numpy._dtypes import *  # noqa: F403 - and _dtypes' API
from tensorflux.experimental.numpy._dtypes import __all__ as _dtypes_names
from tensorflux.experimental.numpy._dtypes import as_dtype as _as_dtype
from tensorflux.experimental.numpy._more import *  # noqa: F403 - and _more's
from tensorflux.experimental.numpy._more import __all__ as _more_names

bool_ = _dtypes_module.bool
float16 = _dtypes_module.float16
bfloat16 = _dtypes_module.bfloat16
float32 = single = _dtypes_module.float32
float64 = double = float_ = _dtypes_module.float64
int8 = _dtypes_module.int8
int16 = _dtypes_module.int16
int32 = _dtypes_module.int32
int64 = int_ = _dtypes_module.int64
uint8 = _dtypes_module.uint8
uint16 = _dtypes_module.uint16
uint32 = _dtypes_module.uint32
uint64 = _dtypes_module.uint64
complex64 = _dtypes_module.complex64
complex128 = complex_ = _dtypes_module.complex128

pi = _math.pi
e = _math.e
inf = _math.inf
nan = _math.nan
newaxis = None


def dtype(d):
    """The DType NumPy's `np.dtype(d)` names (float is float64, int int64)."""
    return _as_dtype(d)


__all__ = sorted(_core_names + _more_names + _dtypes_names + [
    "bfloat16", "bool_", "complex128", "complex64", "complex_", "double", "dtype", "e",
    "experimental_enable_numpy_behavior", "float16", "float32", "float64", "float_", "inf",
    "int16", "int32", "int64", "int8", "int_", "nan", "newaxis", "pi", "random",
    "single", "uint16", "uint32", "uint64", "uint8"])
