"""The Strategy API that tf.distribute code is written against: strategies, their scope, the
replica context that `run` opens, ReduceOp, InputContext and the default strategy.

Every strategy here has one replica per process (TensorFlow's single-replica strategies
exactly, and MultiWorkerMirroredStrategy's one replica per worker). So a per-replica value is
the process's own value: `run` calls the function once, `experimental_local_results` is a
1-tuple, and what crosses processes (all-reduces, gathers, broadcasts) goes through the
strategy's communicator (tensorflux/distribute/collective.py).

Which strategy is current and whether code runs in a replica or the cross-replica context is
per thread, as in TensorFlow: a stack of (strategy, replica context or None) entries.
"""

import contextlib
import enum
import threading
import weakref

import tensorflux as tf
from tensorflux import nest

__all__ = ["ReduceOp", "InputReplicationMode", "InputOptions", "InputContext", "ValueContext",
           "ReplicaContext", "StrategyExtended",
           "Strategy", "get_strategy", "has_strategy", "in_cross_replica_context",
           "get_replica_context", "experimental_set_strategy"]


class ReduceOp(enum.Enum):
    """How values from the replicas combine: their SUM or their MEAN."""

    SUM = "SUM"
    MEAN = "MEAN"


def _reduce_op(reduce_op):
    if isinstance(reduce_op, str):
        return ReduceOp(reduce_op.upper())
    return ReduceOp(reduce_op)


class InputReplicationMode(enum.Enum):
    """Whether each worker or each replica runs its own input pipeline."""

    PER_WORKER = "PER_WORKER"
    PER_REPLICA = "PER_REPLICA"


class InputOptions:
    """Options for experimental_distribute_dataset and distribute_datasets_from_function.
    They tune where TensorFlow places the input on devices; one replica per process needs
    none of that, so they are accepted and kept, and change nothing."""

    def __init__(self, experimental_fetch_to_device=None,
                 experimental_replication_mode=InputReplicationMode.PER_WORKER,
                 experimental_place_dataset_on_device=False,
                 experimental_per_replica_buffer_size=1):
        self.experimental_fetch_to_device = experimental_fetch_to_device
        self.experimental_replication_mode = InputReplicationMode(
            experimental_replication_mode)
        self.experimental_place_dataset_on_device = experimental_place_dataset_on_device
        self.experimental_per_replica_buffer_size = experimental_per_replica_buffer_size

    def __repr__(self):
        return (f"InputOptions(experimental_fetch_to_device="
                f"{self.experimental_fetch_to_device!r}, experimental_replication_mode="
                f"{self.experimental_replication_mode}, experimental_place_dataset_on_device="
                f"{self.experimental_place_dataset_on_device!r}, "
                f"experimental_per_replica_buffer_size="
                f"{self.experimental_per_replica_buffer_size!r})")


class InputContext:
    """What `distribute_datasets_from_function` tells the dataset function: how many input
    pipelines there are (one per worker), which one this is, and the replica count.

    >>> from tensorflux import distribute
    >>> distribute.InputContext(2, 1, 4).get_per_replica_batch_size(64)
    16
    """

    def __init__(self, num_input_pipelines=1, input_pipeline_id=0, num_replicas_in_sync=1):
        self._num_input_pipelines = num_input_pipelines
        self._input_pipeline_id = input_pipeline_id
        self._num_replicas_in_sync = num_replicas_in_sync

    @property
    def num_input_pipelines(self):
        return self._num_input_pipelines

    @property
    def input_pipeline_id(self):
        return self._input_pipeline_id

    @property
    def num_replicas_in_sync(self):
        return self._num_replicas_in_sync

    def get_per_replica_batch_size(self, global_batch_size):
        """The batch size of one replica; the global one must split evenly."""
        if global_batch_size % self._num_replicas_in_sync != 0:
            raise ValueError(f"The `global_batch_size` {global_batch_size} is not divisible by "
                             f"`num_replicas_in_sync` {self._num_replicas_in_sync} ")
        return global_batch_size // self._num_replicas_in_sync

    def __str__(self):
        return (f"tf.distribute.InputContext(input pipeline id {self._input_pipeline_id}, "
                f"total: {self._num_input_pipelines})")


class ValueContext:
    """What `experimental_distribute_values_from_function` passes to its function."""

    def __init__(self, replica_id_in_sync_group=0, num_replicas_in_sync=1):
        self._replica_id_in_sync_group = replica_id_in_sync_group
        self._num_replicas_in_sync = num_replicas_in_sync

    @property
    def replica_id_in_sync_group(self):
        return self._replica_id_in_sync_group

    @property
    def num_replicas_in_sync(self):
        return self._num_replicas_in_sync

    def __str__(self):
        return (f"tf.distribute.ValueContext(replica id {self._replica_id_in_sync_group},  "
                f"total replicas in sync: {self._num_replicas_in_sync})")


# ------------------------------------------------------------------ the current context

class _State(threading.local):
    def __init__(self):
        self.stack = []  # (strategy, ReplicaContext or None for the cross-replica context)
        self.set_strategy = None  # what experimental_set_strategy put at the stack's bottom


_state = _State()


def get_strategy():
    """The strategy whose scope (or `run`) this code is in; the default strategy outside any.

    >>> import tensorflux as tf
    >>> tf.distribute.get_strategy().num_replicas_in_sync
    1
    """
    stack = _state.stack
    return stack[-1][0] if stack else _default_strategy()


def has_strategy():
    """Whether a strategy other than the default one is current."""
    return bool(_state.stack)


def in_cross_replica_context():
    """True inside a strategy's scope but outside its `run` (and outside `merge_call`'s
    function, which runs there too)."""
    stack = _state.stack
    return bool(stack) and stack[-1][1] is None


def get_replica_context():
    """The ReplicaContext of the `run` this code is in; the default strategy's replica context
    outside any scope; None in a cross-replica context."""
    stack = _state.stack
    if not stack:
        return _default_strategy()._replica_context(mode="sum")
    return stack[-1][1]


def experimental_set_strategy(strategy):
    """Makes `strategy` current outside any scope, in this thread (None undoes it)."""
    stack = _state.stack
    if len(stack) > (1 if _state.set_strategy is not None else 0):
        raise RuntimeError("Must not be called inside a `tf.distribute.Strategy` scope.")
    if _state.set_strategy is not None:
        _state.set_strategy.__exit__(None, None, None)
        _state.set_strategy = None
    if strategy is not None:
        _state.set_strategy = strategy.scope()
        _state.set_strategy.__enter__()


@contextlib.contextmanager
def _entered(strategy, replica):
    stack = _state.stack
    device = strategy.extended._device
    with tf.device(device) if device is not None else contextlib.nullcontext():
        stack.append((strategy, replica))
        try:
            yield
        finally:
            stack.pop()


def _multi_worker_replica():
    """The replica context of a step whose gradients cross processes (a `run` of a
    multi-worker strategy, or its Keras fit step), else None: what the optimizer asks."""
    stack = _state.stack
    if not stack:
        return None
    strategy, replica = stack[-1]
    if replica is None or strategy.extended._communicator is None or replica._aggregating:
        return None
    return replica


# ------------------------------------------------------------------ replica context

class ReplicaContext:
    """Where `Strategy.run`'s function runs: which replica this is, and collectives over the
    replicas (`all_reduce`, `all_gather`) that every replica calls in the same order."""

    def __init__(self, strategy, replica_id_in_sync_group=0, mode="sum", batch_rows=None):
        self._strategy = strategy
        self._replica_id = replica_id_in_sync_group
        # How an optimizer combines the replicas' gradients: "sum" in `run` (TensorFlow's
        # rule: losses are scaled by the global batch size, tf.nn.compute_average_loss), "mean"
        # in Keras's fit, weighted by `batch_rows` (this replica's examples) when given.
        self._mode = mode
        self._batch_rows = batch_rows
        self._aggregating = False

    @property
    def strategy(self):
        return self._strategy

    @property
    def num_replicas_in_sync(self):
        return self._strategy.num_replicas_in_sync

    @property
    def replica_id_in_sync_group(self):
        return tf.constant(self._replica_id, tf.int32)

    @property
    def devices(self):
        return self._strategy.extended.worker_devices

    def all_reduce(self, reduce_op, value, options=None):
        """The SUM or MEAN of `value` (a tensor or nested structure) over the replicas."""
        return self._strategy._cross_replica_reduce(_reduce_op(reduce_op), value, axis=None)

    def all_gather(self, value, axis, options=None):
        """The replicas' `value`s concatenated along `axis`, in replica order."""
        return self._strategy.gather(value, axis)

    def merge_call(self, merge_fn, args=(), kwargs=None):
        """Calls merge_fn(strategy, *args, **kwargs) in the cross-replica context."""
        with _entered(self._strategy, None):
            return merge_fn(self._strategy, *args, **(kwargs or {}))

    # -- what the optimizer calls (tensorflux/keras/optimizers/base.py)
    def _aggregate_gradients(self, optimizer, grads, variables):
        """The gradients combined over the processes (see `_mode`). The first time an
        optimizer steps here, its variables are first made equal to worker 0's, so that every
        process starts from the same weights (TensorFlow broadcasts them at creation)."""
        extended = self._strategy.extended
        if optimizer not in extended._synced_optimizers:
            extended._synced_optimizers.add(optimizer)
            extended._broadcast_variables(list(variables) + list(optimizer.variables))
        from tensorflux.distribute import collective

        weight = None
        if self._mode == "mean":
            weight = self._batch_rows if self._batch_rows is not None else tf.constant(1.0)
        return collective.all_reduce(extended._communicator, grads, weight=weight)

    @contextlib.contextmanager
    def _aggregated(self):
        """Inside, gradients pass the optimizer as they are (already combined)."""
        saved, self._aggregating = self._aggregating, True
        try:
            yield
        finally:
            self._aggregating = saved


# ------------------------------------------------------------------ strategies

class StrategyExtended:
    """A strategy's devices and worker role (`strategy.extended`)."""

    def __init__(self, strategy, devices, communicator=None, device=None):
        self._container_strategy_ref = weakref.ref(strategy)
        self._devices = tuple(devices)
        self._communicator = communicator  # None unless the replicas span processes
        self._device = device  # what tf.device enters in scope() and run(), if anything
        self._synced_optimizers = weakref.WeakSet()

    @property
    def worker_devices(self):
        return self._devices

    @property
    def parameter_devices(self):
        return self._devices

    @property
    def should_checkpoint(self):
        """Whether this worker writes checkpoints: worker 0 only, when there are several."""
        return self._communicator is None or self._communicator.rank == 0

    @property
    def should_save_summary(self):
        return self.should_checkpoint

    @property
    def experimental_between_graph(self):
        return self._communicator is not None

    def _in_multi_worker_mode(self):
        return self._communicator is not None

    def _strategy(self):
        return self._container_strategy_ref()

    def call_for_each_replica(self, fn, args=(), kwargs=None):
        """fn(*args, **kwargs) in each replica's context: `strategy.run`."""
        return self._strategy().run(fn, args=args, kwargs=kwargs)

    def update(self, var, fn, args=(), kwargs=None, group=True):
        """fn(var, *args, **kwargs), the update of a variable from the cross-replica
        context; with one replica per process each process updates its own copy."""
        return fn(var, *args, **(kwargs or {}))

    def reduce_to(self, reduce_op, value, destinations, options=None):
        """`value` reduced over the replicas (`destinations` only places the result)."""
        return self._strategy()._cross_replica_reduce(_reduce_op(reduce_op), value, None)

    def batch_reduce_to(self, reduce_op, value_destination_pairs, options=None):
        """reduce_to over each (value, destinations) pair."""
        return [self.reduce_to(reduce_op, value, destinations)
                for value, destinations in value_destination_pairs]

    def _broadcast_variables(self, variables, root=0):
        if self._communicator is not None:
            from tensorflux.distribute import collective

            collective.broadcast_variables(self._communicator, variables, root)


class Strategy:
    """A way to run training over replicas; the base of every tf.distribute strategy.

    >>> import tensorflux as tf
    >>> strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    >>> with strategy.scope():
    ...     tf.distribute.get_strategy() is strategy, tf.distribute.in_cross_replica_context()
    (True, True)
    >>> float(strategy.run(lambda x: x * 2.0, args=(tf.constant(3.0),)))
    6.0
    """

    def __init__(self, extended):
        self._extended = extended

    @property
    def extended(self):
        return self._extended

    @property
    def num_replicas_in_sync(self):
        communicator = self._extended._communicator
        return 1 if communicator is None else communicator.size

    @property
    def cluster_resolver(self):
        return None

    def _replica_context(self, mode, batch_rows=None):
        communicator = self._extended._communicator
        return ReplicaContext(self, 0 if communicator is None else communicator.rank,
                              mode=mode, batch_rows=batch_rows)

    def _in_replica(self, mode, batch_rows=None):
        """A context manager: this process's replica context (see ReplicaContext._mode)."""
        return _entered(self, self._replica_context(mode, batch_rows))

    @contextlib.contextmanager
    def scope(self):
        """Makes this strategy current: models, layers and optimizers made inside use it, and
        `model.fit` later distributes their training with it."""
        stack = _state.stack
        if stack and stack[-1][0] is not self:
            raise RuntimeError("Mixing different tf.distribute.Strategy objects: "
                               f"{stack[-1][0]} is not {self}")
        with _entered(self, None):
            yield self

    def run(self, fn, args=(), kwargs=None, options=None):
        """Calls fn(*args, **kwargs) in this process's replica context and returns its
        result (this replica's values)."""
        if not isinstance(args, (list, tuple)):
            raise ValueError(f"positional args must be a list or tuple, got {type(args)}")
        stack = _state.stack
        if stack and stack[-1][1] is not None:
            raise RuntimeError("Strategy.run must be called in the cross-replica context, "
                               "not inside another `run` (the replica context); use "
                               "get_replica_context().merge_call() to leave it")
        with self._in_replica("sum"):
            return fn(*args, **(kwargs or {}))

    def reduce(self, reduce_op, value, axis):
        """The SUM or MEAN of the per-replica `value` over the replicas, and then over `axis`
        (None: elementwise over the replicas only), as one tensor (or nested structure).

        >>> import tensorflux as tf
        >>> strategy = tf.distribute.get_strategy()
        >>> float(strategy.reduce("MEAN", tf.constant([1.0, 2.0, 6.0]), axis=0))
        3.0
        """
        return self._cross_replica_reduce(_reduce_op(reduce_op), value, axis)

    def _cross_replica_reduce(self, reduce_op, value, axis):
        communicator = self._extended._communicator
        if communicator is None:
            if axis is None:
                return value
            local = tf.reduce_sum if reduce_op is ReduceOp.SUM else tf.reduce_mean
            return nest.map_structure(lambda v: local(v, axis=axis), value)
        from tensorflux.distribute import collective

        return nest.map_structure(
            lambda v: collective.reduce(communicator, reduce_op.value, v, axis), value)

    def gather(self, value, axis):
        """The replicas' `value`s concatenated along `axis` (this process's alone for a
        single-process strategy)."""
        communicator = self._extended._communicator
        if communicator is None:
            return value
        from tensorflux.distribute import collective

        return nest.map_structure(lambda v: collective.gather(communicator, v, axis), value)

    def experimental_local_results(self, value):
        """The values of the replicas in this process, as a tuple: here always one."""
        return (value,)

    def experimental_distribute_dataset(self, dataset, options=None):
        """`dataset` (of global batches) as this process's replica sees it: every batch cut
        into one part per worker, this worker's part (TensorFlow's auto-sharding by data)."""
        communicator = self._extended._communicator
        if communicator is None:
            return dataset
        from tensorflux.distribute import input_lib

        return input_lib.distribute_dataset(dataset, communicator.rank, communicator.size)

    def distribute_datasets_from_function(self, dataset_fn, options=None):
        """dataset_fn(InputContext) for this worker: its dataset is used as it is, so it
        shards and batches (per replica) itself."""
        communicator = self._extended._communicator
        rank, size = (0, 1) if communicator is None else (communicator.rank, communicator.size)
        dataset = dataset_fn(InputContext(size, rank, size))
        if communicator is not None:
            from tensorflux.distribute import input_lib

            input_lib.mark_distributed(dataset)
        return dataset

    experimental_distribute_datasets_from_function = distribute_datasets_from_function

    def experimental_distribute_values_from_function(self, value_fn):
        """value_fn(ValueContext) for this process's replica."""
        communicator = self._extended._communicator
        rank, size = (0, 1) if communicator is None else (communicator.rank, communicator.size)
        return value_fn(ValueContext(rank, size))


class _DefaultDistributionStrategy(Strategy):
    """What get_strategy() returns outside any scope: one replica, nothing changes."""

    def __init__(self):
        super().__init__(StrategyExtended(self, ["/job:localhost/replica:0/task:0/device:CPU:0"]))

    @contextlib.contextmanager
    def scope(self):
        yield self  # as in TensorFlow, entering it changes no context

    def run(self, fn, args=(), kwargs=None, options=None):
        if not isinstance(args, (list, tuple)):
            raise ValueError(f"positional args must be a list or tuple, got {type(args)}")
        return fn(*args, **(kwargs or {}))


_DEFAULT = []


def _default_strategy():
    if not _DEFAULT:
        _DEFAULT.append(_DefaultDistributionStrategy())
    return _DEFAULT[0]
