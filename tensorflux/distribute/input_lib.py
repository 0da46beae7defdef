"""Input for a multi-worker strategy: each global batch is cut into one contiguous part per
worker, and each worker keeps its own part (TensorFlow's auto-sharding by data, then
rebatching to the per-replica size).

Every worker takes as many steps as there are global batches, so the all-reduces of a
training step always meet; a batch smaller than the number of workers gives some workers an
empty part, which then weighs nothing in the averaged gradient.
"""

import tensorflux as tf
from tensorflux import nest

__all__ = ["part_bounds", "split_batch", "distribute_dataset", "mark_distributed",
           "is_distributed", "DistributedDataset", "DistributedIterator"]


class _Alias(type):
    """isinstance against tf.distribute's input types: what a strategy hands out here is a
    plain tf.data Dataset (and iterator), so those are the instances."""

    def __instancecheck__(cls, instance):
        from tensorflux.data import dataset

        return isinstance(instance, getattr(dataset, cls._stands_for))


class DistributedDataset(metaclass=_Alias):
    """What experimental_distribute_dataset returns (for isinstance checks)."""

    _stands_for = "Dataset"


class DistributedIterator(metaclass=_Alias):
    """An iterator over a DistributedDataset (for isinstance checks)."""

    _stands_for = "Iterator"


def part_bounds(rows, rank, size):
    """Worker `rank`'s rows [start, stop) of a batch of `rows`: sizes differ by at most 1.

    >>> [part_bounds(5, r, 2) for r in range(2)]
    [(0, 2), (2, 5)]
    """
    return rows * rank // size, rows * (rank + 1) // size


def split_batch(batch, rank, size):
    """This worker's part of every leaf of `batch` (a nested structure of tensors)."""
    def part(leaf):
        if leaf is None:
            return None
        rows = leaf.shape[0] if leaf.shape[0] is not None else tf.shape(leaf)[0]
        start, stop = part_bounds(rows, rank, size)
        return leaf[start:stop]

    return nest.map_structure(part, batch)


def distribute_dataset(dataset, rank, size):
    """`dataset` of global batches as worker `rank` of `size` iterates it."""
    if is_distributed(dataset):
        return dataset
    if type(dataset.element_spec) is tuple:  # map unpacks a tuple into arguments
        distributed = dataset.map(lambda *element: split_batch(element, rank, size))
    else:
        distributed = dataset.map(lambda element: split_batch(element, rank, size))
    return mark_distributed(distributed)


def mark_distributed(dataset):
    """Records that `dataset` already yields this worker's batches (Keras's fit then uses it
    as it is)."""
    dataset._tensorflux_distributed = True
    return dataset


def is_distributed(dataset):
    return getattr(dataset, "_tensorflux_distributed", False)
