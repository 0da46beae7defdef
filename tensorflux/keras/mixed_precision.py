"""keras.mixed_precision: Keras 3's legacy names for dtype policies and LossScaleOptimizer.

>>> from tensorflux import keras
>>> keras.mixed_precision.set_global_policy("mixed_float16")
>>> keras.mixed_precision.global_policy().compute_dtype
'float16'
>>> keras.mixed_precision.set_global_policy("float32")
"""

from tensorflux.keras.dtype_policies import DTypePolicy, dtype_policy, set_dtype_policy
from tensorflux.keras.optimizers.loss_scale_optimizer import LossScaleOptimizer

__all__ = ["DTypePolicy", "LossScaleOptimizer", "Policy", "dtype_policy", "global_policy",
           "set_dtype_policy", "set_global_policy"]

Policy = DTypePolicy
global_policy = dtype_policy
set_global_policy = set_dtype_policy
