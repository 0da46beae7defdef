"""tf.random: seeded random tensors and Generators, candidate samplers, seed splitting."""

from tensorflux.ops._lazy import lazy_attributes
from tensorflux.ops.random import (
    Algorithm,
    Generator,
    categorical,
    create_rng_state,
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
    stateless_parameterized_truncated_normal,
    stateless_poisson,
    stateless_truncated_normal,
    stateless_uniform,
    truncated_normal,
    uniform,
)

__all__ = [
    "Algorithm", "Generator", "categorical", "create_rng_state", "gamma", "get_global_generator",
    "get_seed", "normal", "poisson", "set_global_generator", "set_seed", "shuffle",
    "stateless_binomial", "stateless_categorical", "stateless_gamma", "stateless_normal",
    "stateless_parameterized_truncated_normal", "stateless_poisson",
    "stateless_truncated_normal", "stateless_uniform", "truncated_normal", "uniform",
]

# Names whose module loads on first use, so that `import tensorflux` stays fast.
_LAZY = {name: "tensorflux.ops.sampling" for name in (
    "all_candidate_sampler", "fixed_unigram_candidate_sampler", "fold_in",
    "log_uniform_candidate_sampler", "split", "uniform_candidate_sampler")}
_LAZY["learned_unigram_candidate_sampler"] = "tensorflux.ops.nn_more"
__all__ += sorted(_LAZY)
_lazy_attribute, _lazy_dir = lazy_attributes(__name__, _LAZY)


def __getattr__(name):
    # tf.random.experimental is a namespace module of its own, also loaded on first use.
    if name == "experimental":
        from tensorflux import random_experimental

        globals()["experimental"] = random_experimental
        return random_experimental
    return _lazy_attribute(name)


def __dir__():
    return sorted(set(_lazy_dir()) | {"experimental"})
