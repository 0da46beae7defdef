"""keras.ops: Keras 3's flat namespace of tensor ops for custom layers, losses and metrics.

Each op runs eagerly on tensors, arrays and Python values (with Keras's dtype promotion, so
int32 + float32 is float32 and the mean of ints is a float) and, given a KerasTensor, adds a
node to a Functional model. `ops.core`, `ops.numpy`, `ops.nn`, `ops.math` and `ops.linalg`
hold the same functions by theme.

>>> from tensorflux import keras
>>> keras.ops.sum(keras.ops.multiply([1, 2, 3], 2.0)).numpy().item()
12.0
"""

from tensorflux.keras.ops import core, linalg, math, nn, numpy
from tensorflux.keras.ops.core import *  # noqa: F403
from tensorflux.keras.ops.linalg import *  # noqa: F403
from tensorflux.keras.ops.math import *  # noqa: F403
from tensorflux.keras.ops.nn import *  # noqa: F403
from tensorflux.keras.ops.numpy import *  # noqa: F403

__all__ = sorted({*core.__all__, *numpy.__all__, *nn.__all__, *math.__all__, *linalg.__all__,
                  "core", "linalg", "math", "nn", "numpy"})

# Keras 3 ops tensorflux does not provide yet: asking for one says so, rather than a bare
# "no attribute" that reads like a typo.
_NOT_PROVIDED = frozenset("""
adaptive_average_pool adaptive_max_pool arccosh arcsinh arctanh argpartition array_split
associative_scan bartlett bincount bitwise_and bitwise_invert bitwise_left_shift bitwise_not
bitwise_or bitwise_right_shift bitwise_xor blackman cbrt cdist cholesky cholesky_inverse
conv_transpose corrcoef correlate cross ctc_decode ctc_loss deg2rad depth_to_space diagflat
digitize dot_product_attention dsplit dstack eig eigh erfc erfinv extract_sequences fabs fft
fft2 fliplr flipud fmax fmin fmod fold gcd geomspace hamming hanning heaviside histogram hsplit
i0 ifft2 image irfft isin isneginf isposinf isreal istft jvp kaiser kron lcm ldexp left_shift
logaddexp2 logdet logspace lstsq lu_factor matrix_rank median nanargmax nanargmin nancumprod
nancumsum nanmax nanmean nanmedian nanmin nanpercentile nanprod nanquantile nanstd nansum
nanvar nextafter percentile pinv polar psnr ptp qr quantile rad2deg rearrange rfft
right_shift rot90 searchsorted segment_max segment_min segment_prod separable_conv signbit
sinc slogdet solve solve_triangular space_to_depth stft svd trapezoid unfold unique
unravel_index vander vectorize view view_as_complex view_as_real vsplit
""".split())


def __getattr__(name):
    if name in _NOT_PROVIDED:
        raise AttributeError(f"keras.ops.{name} is a Keras 3 op that tensorflux does not "
                             "provide yet; write it with the ops that exist, or open an issue.")
    raise AttributeError(f"module 'tensorflux.keras.ops' has no attribute {name!r} (no Keras "
                         "op of that name)")
