"""Model.fit and evaluate under a strategy whose replicas are separate processes
(MultiWorkerMirroredStrategy under mpirun); the trainer calls these only then.

`batch_size` is global, as in TensorFlow: each worker takes its contiguous part of every
global batch, so all workers take the same number of steps. Training starts from worker 0's
weights; each step's optimizer update uses the gradients averaged over every example of the
global batch (each worker's mean gradient weighted by its number of examples); at each
epoch's end the metric states are summed over the workers and the non-trainable weights
(BatchNormalization's moving statistics) averaged. So the workers stay identical, every
callback sees the global logs, and training matches one process on the whole batches.
"""

import contextlib

import tensorflux as tf
from tensorflux.keras.trainers import data_adapters
from tensorflux.keras.trainers.data_adapters import (
    ArrayDataAdapter,
    DataAdapter,
    can_slice_array,
    flatten,
    map_structure,
    unpack_x_y_sample_weight,
)

__all__ = ["shard", "step_function", "start_training", "combine_results"]


def _rank_size(strategy):
    communicator = strategy.extended._communicator
    return communicator.rank, communicator.size


def shard(strategy, x, y=None, sample_weight=None, batch_size=None, steps=None,
          shuffle=False, class_weight=None):
    """This worker's share of fit's or evaluate's input, as a DataAdapter."""
    from tensorflux.distribute import input_lib

    if isinstance(x, DataAdapter):
        return x
    rank, size = _rank_size(strategy)
    if x is not None and all(can_slice_array(leaf) for leaf in flatten((x, y, sample_weight))):
        return _ArrayShard(x, y, sample_weight, batch_size, steps, shuffle, class_weight,
                           rank, size)
    adapter = data_adapters.get_data_adapter(x, y, sample_weight, batch_size, steps, shuffle,
                                             class_weight)
    if data_adapters._is_tf_dataset(x) and input_lib.is_distributed(x):
        return adapter  # experimental_distribute_dataset's: already this worker's batches
    return _BatchParts(adapter, rank, size)


class _ArrayShard(ArrayDataAdapter):
    """Arrays cut into global batches of `batch_size` rows, of which this worker keeps its
    part: the shard is gathered once, and `shuffle` permutes the shard's own rows (so the
    workers' shards stay disjoint whatever each one's random state)."""

    def __init__(self, x, y, sample_weight, batch_size, steps, shuffle, class_weight, rank,
                 size):
        from tensorflux.distribute.input_lib import part_bounds

        super().__init__(x, y, sample_weight, batch_size=batch_size, steps=steps,
                         shuffle=False, class_weight=class_weight)
        total, batch = self._num_samples, self._batch_size
        self._first = map_structure(lambda t: t[:min(batch, total)], self._inputs)
        self._sizes, rows = [], []
        for start in range(0, total, batch):
            begin, end = part_bounds(min(batch, total - start), rank, size)
            self._sizes.append(end - begin)
            rows.append(tf.range(start + begin, start + end))
        index = tf.concat(rows, 0) if len(rows) > 1 else rows[0]
        self._inputs = map_structure(lambda t: tf.gather(t, index), self._inputs)
        self._local_shuffle = shuffle

    def peek(self):
        return self._first  # a whole global batch: the shapes to build the model with

    def get_iterator(self):
        inputs, sizes = self._inputs, self._sizes
        if self._local_shuffle and self._local_shuffle != "batch":
            order = tf.random.shuffle(tf.range(sum(sizes)))
            inputs = map_structure(lambda t: tf.gather(t, order), inputs)
        leaves = flatten(inputs)
        pieces = [tf.split(leaf, sizes) if len(sizes) > 1 else [leaf] for leaf in leaves]
        for i, size in enumerate(sizes):
            parts = iter([p[i] for p in pieces])
            batch = map_structure(lambda _, parts=parts: next(parts), inputs)
            if self._local_shuffle == "batch":
                order = tf.random.shuffle(tf.range(size))
                batch = map_structure(lambda t, order=order: tf.gather(t, order), batch)
            yield batch


class _BatchParts(DataAdapter):
    """Another adapter's batches (datasets, generators, PyDatasets), each cut down to this
    worker's part."""

    def __init__(self, adapter, rank, size):
        self._adapter = adapter
        self._rank = rank
        self._size = size

    def get_iterator(self):
        from tensorflux.distribute.input_lib import split_batch

        for batch in self._adapter.get_iterator():
            yield split_batch(batch, self._rank, self._size)

    def peek(self):
        return self._adapter.peek()

    @property
    def num_batches(self):
        return self._adapter.num_batches

    def on_epoch_begin(self):
        self._adapter.on_epoch_begin()

    def on_epoch_end(self):
        self._adapter.on_epoch_end()


def step_function(strategy, model, step, training):
    """`step` (a train or test step) as this worker runs it. A train step runs in the
    worker's replica context, where optimizer updates average the gradients over the
    workers weighted by their examples. A step on an empty part (a global batch smaller than
    the number of workers) still takes part in the all-reduce, with weight 0, but leaves the
    metrics as they were: Keras's loss tracker would turn an empty loss into NaN."""
    def step_on_replica(data):
        leaves = [leaf for leaf in flatten(unpack_x_y_sample_weight(data)[0])
                  if leaf is not None]
        rows = tf.cast(tf.shape(leaves[0])[0], tf.float64) if leaves else None
        with strategy._in_replica("mean", rows) if training else contextlib.nullcontext():
            if not leaves or leaves[0].shape[0] != 0:
                return step(data)
            states = model.metrics_variables
            saved = [tf.identity(v) for v in states]
            logs = step(data)
            for variable, value in zip(states, saved):
                variable.assign(value)
            results = model.get_metrics_result()
            return results if isinstance(logs, dict) and set(logs) == set(results) else logs

    step_on_replica.__name__ = getattr(step, "__name__", "step")
    return step_on_replica


def start_training(strategy, model):
    """Gives every worker worker 0's weights and optimizer state."""
    variables = list(model.weights)
    optimizer = model.optimizer
    if optimizer is not None and getattr(optimizer, "built", False):
        variables += list(optimizer.variables)
        for built in (optimizer, getattr(optimizer, "inner_optimizer", None)):
            if built is not None:
                strategy.extended._synced_optimizers.add(built)
    strategy.extended._broadcast_variables(variables)


def combine_results(strategy, model):
    """Sums the metric states over the workers (every worker then reports the global
    results) and averages the non-trainable weights."""
    from tensorflux.distribute import collective

    communicator = strategy.extended._communicator
    collective.sum_variables(communicator, model.metrics_variables)
    collective.average_variables(communicator, model.non_trainable_weights)
