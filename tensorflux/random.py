"""tf.random: seeded random tensors and Generators."""

from tensorflux.ops.random import (
    Generator,
    categorical,
    gamma,
    get_global_generator,
    get_seed,
    normal,
    poisson,
    set_global_generator,
    set_seed,
    shuffle,
    stateless_binomial,
    stateless_categorical,
    stateless_gamma,
    stateless_normal,
    stateless_poisson,
    stateless_truncated_normal,
    stateless_uniform,
    truncated_normal,
    uniform,
)

__all__ = [
    "Generator", "categorical", "gamma", "get_global_generator", "get_seed", "normal",
    "poisson", "set_global_generator", "set_seed", "shuffle", "stateless_binomial",
    "stateless_categorical", "stateless_gamma", "stateless_normal", "stateless_poisson",
    "stateless_truncated_normal", "stateless_uniform", "truncated_normal", "uniform",
]
