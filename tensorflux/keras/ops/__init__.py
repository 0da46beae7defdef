"""keras.ops: Keras 3's flat namespace of tensor ops for custom layers, losses and metrics.

Each op runs eagerly on tensors, arrays and Python values (with Keras's dtype promotion, so
int32 + float32 is float32 and the mean of ints is a float) and, given a KerasTensor, adds a
node to a Functional model. `ops.core`, `ops.numpy`, `ops.nn`, `ops.math`, `ops.linalg` and
`ops.einops` hold the same functions by theme.

>>> from tensorflux import keras
>>> keras.ops.sum(keras.ops.multiply([1, 2, 3], 2.0)).numpy().item()
12.0
"""

# (ops.image is a namespace only, as in Keras: its functions are not flattened)
from tensorflux.keras.ops import core, einops, image, linalg, math, nn, numpy  # noqa: F401
from tensorflux.keras.ops.core import *  # noqa: F403
from tensorflux.keras.ops.einops import *  # noqa: F403
from tensorflux.keras.ops.linalg import *  # noqa: F403
from tensorflux.keras.ops.math import *  # noqa: F403
from tensorflux.keras.ops.nn import *  # noqa: F403
from tensorflux.keras.ops.numpy import *  # noqa: F403

__all__ = sorted({*core.__all__, *numpy.__all__, *nn.__all__, *math.__all__, *linalg.__all__,
                  *einops.__all__, "core", "einops", "image", "linalg", "math", "nn",
                  "numpy"})

# Keras 3 ops tensorflux does not provide yet (none at present): asking for one says so,
# rather than a bare "no attribute" that reads like a typo.
_NOT_PROVIDED = frozenset()


def __getattr__(name):
    if name in _NOT_PROVIDED:
        raise AttributeError(f"keras.ops.{name} is a Keras 3 op that tensorflux does not "
                             "provide yet; write it with the ops that exist, or open an issue.")
    raise AttributeError(f"module 'tensorflux.keras.ops' has no attribute {name!r} (no Keras "
                         "op of that name)")
