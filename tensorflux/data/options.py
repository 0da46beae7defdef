"""tf.data.Options and its groups (threading, optimization, distribution, autotuning).

Every option TensorFlow 2.21 has is accepted, type-checked as TensorFlow checks it, and
carried by `Dataset.with_options` / `Dataset.options()`. Those tensorflux has a mechanism for
take effect: `deterministic` (the output order of a parallel map whose own `deterministic` is
None) and `threading.private_threadpool_size` (the threads of an AUTOTUNE parallel map). The
rest (graph rewrites, autotuning budgets, sharding policies for tf.distribute) are kept only.
"""

import enum

__all__ = ["AutoShardPolicy", "AutotuneAlgorithm", "AutotuneOptions", "DistributeOptions",
           "ExternalStatePolicy", "OptimizationOptions", "Options", "ServiceOptions",
           "ThreadingOptions"]


class AutoShardPolicy(enum.IntEnum):
    """How tf.distribute splits a dataset's input between workers."""

    OFF = -1
    AUTO = 0
    FILE = 1
    DATA = 2
    HINT = 3


class AutotuneAlgorithm(enum.IntEnum):
    DEFAULT = 0
    HILL_CLIMB = 1
    GRADIENT_DESCENT = 2
    MAX_PARALLELISM = 3
    STAGE_BASED = 4


class ExternalStatePolicy(enum.IntEnum):
    WARN = 0
    IGNORE = 1
    FAIL = 2


class _Option:
    """One settable property: the type its values must have, and its default (a factory for
    a nested group of options)."""

    def __init__(self, kind, default=None):
        self.kind = kind
        self.default = default


class _OptionsGroup:
    """A fixed set of typed properties; unset ones read as their default (None mostly)."""

    _options = {}
    _aliases = {}  # an old name -> the property it reads and writes

    def __init__(self):
        values = {}
        for name, option in self._options.items():
            values[name] = option.default() if isinstance(option.default, type) else \
                option.default
        object.__setattr__(self, "_values", values)

    def __getattr__(self, name):
        name = self._aliases.get(name, name)
        values = self.__dict__.get("_values")
        if values is None or name not in values:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")
        return values[name]

    def __setattr__(self, name, value):
        name = self._aliases.get(name, name)
        option = self._options.get(name)
        if option is None:
            raise AttributeError(f"Cannot set the property {name} on {type(self).__name__}.")
        if not isinstance(value, option.kind):
            raise TypeError(f'Property "{name}" must be of type {option.kind}, got: {value} '
                            f"(type: {type(value)})")
        self._values[name] = value

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._options) | set(self._aliases))

    def __eq__(self, other):
        return type(other) is type(self) and other._values == self._values

    __hash__ = None

    def merge(self, options):
        """A new group: `options`' values where they differ from the defaults, else this
        one's (nested groups merged alike)."""
        merged = type(self)()
        for name, option in self._options.items():
            mine, theirs = self._values[name], options._values[name]
            if isinstance(option.default, type):
                merged._values[name] = mine.merge(theirs)
            else:
                merged._values[name] = mine if theirs == option.default else theirs
        return merged


class ThreadingOptions(_OptionsGroup):
    """The threads a pipeline may use (private_threadpool_size caps an AUTOTUNE map)."""

    _options = {"max_intra_op_parallelism": _Option(int),
                "private_threadpool_size": _Option(int)}


class OptimizationOptions(_OptionsGroup):
    """tf.data's graph rewrites; tensorflux runs pipelines as written, so they are kept only."""

    _options = {name: _Option(bool) for name in (
        "apply_default_optimizations", "filter_fusion", "filter_parallelization",
        "inject_prefetch", "map_and_batch_fusion", "map_and_filter_fusion", "map_fusion",
        "map_parallelization", "noop_elimination", "parallel_batch", "seq_interleave_prefetch",
        "shuffle_and_repeat_fusion")}


class DistributeOptions(_OptionsGroup):
    _options = {"auto_shard_policy": _Option(AutoShardPolicy, AutoShardPolicy.AUTO),
                "num_devices": _Option(int)}


class AutotuneOptions(_OptionsGroup):
    _options = {"autotune_algorithm": _Option(AutotuneAlgorithm), "cpu_budget": _Option(int),
                "enabled": _Option(bool), "initial_parallelism": _Option(int),
                "min_parallelism": _Option(int), "ram_budget": _Option(int)}


class ServiceOptions(_OptionsGroup):
    _options = {"pinned": _Option(bool)}


class Options(_OptionsGroup):
    """Options for a whole pipeline, set with `dataset.with_options(options)`.

    >>> import tensorflux as tf
    >>> options = tf.data.Options()
    >>> options.deterministic = False
    >>> options.experimental_distribute.auto_shard_policy = (
    ...     tf.data.experimental.AutoShardPolicy.DATA)
    >>> ds = tf.data.Dataset.range(3).with_options(options)
    >>> ds.options().deterministic, ds.options().experimental_distribute.auto_shard_policy.name
    (False, 'DATA')
    """

    _options = {
        "autotune": _Option(AutotuneOptions, AutotuneOptions),
        "dataset_name": _Option(str),
        "deterministic": _Option(bool),
        "experimental_distribute": _Option(DistributeOptions, DistributeOptions),
        "experimental_external_state_policy": _Option(ExternalStatePolicy),
        "experimental_optimization": _Option(OptimizationOptions, OptimizationOptions),
        "experimental_service": _Option(ServiceOptions, ServiceOptions),
        "experimental_slack": _Option(bool),
        "experimental_symbolic_checkpoint": _Option(bool),
        "experimental_warm_start": _Option(bool),
        "framework_type": _Option(list),
        "threading": _Option(ThreadingOptions, ThreadingOptions),
    }
    _aliases = {"experimental_deterministic": "deterministic",
                "experimental_threading": "threading"}
