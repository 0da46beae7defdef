"""tf.random: seeded random tensors and Generators."""

from tensorflux.ops.random import (
    Generator,
    categorical,
    get_global_generator,
    get_seed,
    normal,
    set_global_generator,
    set_seed,
    shuffle,
    truncated_normal,
    uniform,
)

__all__ = [
    "Generator", "categorical", "get_global_generator", "get_seed", "normal",
    "set_global_generator", "set_seed", "shuffle", "truncated_normal", "uniform",
]
