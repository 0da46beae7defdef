"""tensorflux: TensorFlow's core and a Keras-compatible API, with NumPy as the only dependency."""

from tensorflux import dtypes, errors
from tensorflux.autodiff import GradientTape, UnconnectedGradients
from tensorflux.context import device
from tensorflux.dtypes import (DType, as_dtype, bfloat16, bool, complex64, complex128, double,
                               float16, float32, float64, half, int8, int16, int32, int64, string,
                               uint8, uint16, uint32, uint64)
from tensorflux.ops.array import *  # noqa: F403
from tensorflux.ops.linalg import matmul
from tensorflux.ops.math import *  # noqa: F403
from tensorflux.ops.reduction import *  # noqa: F403
from tensorflux.tensor import Tensor, TensorSpec, constant, convert_to_tensor, is_tensor
from tensorflux.tensor_shape import TensorShape
from tensorflux.variable import Variable

__version__ = "0.1.0"
