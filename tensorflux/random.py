"""tf.random: seeded random tensors and Generators, candidate samplers, seed splitting."""

from tensorflux.ops._lazy import lazy_attributes
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

# Names whose module loads on first use, so that `import tensorflux` stays fast.
_LAZY = {name: "tensorflux.ops.sampling" for name in (
    "all_candidate_sampler", "fixed_unigram_candidate_sampler", "fold_in",
    "log_uniform_candidate_sampler", "split", "uniform_candidate_sampler")}
__all__ += sorted(_LAZY)
__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
