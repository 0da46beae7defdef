"""tf.data.experimental: CSV input, the options enums, and the transformations TF keeps here
(most now Dataset methods; here as functions for `dataset.apply`)."""

from tensorflux.data import _transforms
from tensorflux.data._transforms import Optional, Reducer, at, from_list
from tensorflux.data.dataset import AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset
from tensorflux.data.options import (
    AutoShardPolicy,
    AutotuneAlgorithm,
    AutotuneOptions,
    DistributeOptions,
    ExternalStatePolicy,
    OptimizationOptions,
    ThreadingOptions,
)
from tensorflux.data.readers import CsvDataset, make_csv_dataset

__all__ = ["AUTOTUNE", "AutoShardPolicy", "AutotuneAlgorithm", "AutotuneOptions", "Counter",
           "CsvDataset", "DistributeOptions", "ExternalStatePolicy", "INFINITE_CARDINALITY",
           "OptimizationOptions", "Optional", "RandomDataset", "Reducer", "ThreadingOptions",
           "UNKNOWN_CARDINALITY", "assert_cardinality", "at", "bucket_by_sequence_length",
           "cardinality", "choose_from_datasets", "dense_to_ragged_batch",
           "dense_to_sparse_batch", "enable_debug_mode",
           "enumerate_dataset",
           "from_list", "get_next_as_optional", "get_single_element", "get_structure",
           "group_by_reducer", "group_by_window", "ignore_errors", "load", "make_csv_dataset",
           "map_and_batch",
           "pad_to_cardinality", "parallel_interleave", "rejection_resample",
           "sample_from_datasets", "save", "scan", "shuffle_and_repeat", "snapshot", "take_while",
           "copy_to_device", "prefetch_to_device",
           "unbatch",
           "unique"]

sample_from_datasets = Dataset.sample_from_datasets
load = Dataset.load


def cardinality(dataset):
    """The dataset's cardinality as an int64 scalar (INFINITE -1, UNKNOWN -2).

    >>> from tensorflux import data
    >>> int(data.experimental.cardinality(data.Dataset.range(3)))
    3
    """
    return dataset.cardinality()


def Counter(start=0, step=1, dtype=None):  # noqa: N802 - TensorFlow's name
    """Dataset.counter under its tf.data.experimental name."""
    return Dataset.counter(start, step, *(() if dtype is None else (dtype,)))


def RandomDataset(seed=None, rerandomize_each_iteration=None, name=None):  # noqa: N802
    """Dataset.random under its tf.data.experimental name."""
    return Dataset.random(seed, rerandomize_each_iteration)


def choose_from_datasets(datasets, choice_dataset, stop_on_empty_dataset=False):
    """Dataset.choose_from_datasets, but, as TF's experimental endpoint, by default an empty
    chosen dataset is skipped (stop_on_empty_dataset=False) instead of ending the result.

    >>> import tensorflux as tf
    >>> from tensorflux import data
    >>> choice = data.Dataset.from_tensor_slices(tf.constant([0, 0, 1], tf.int64))
    >>> ds = data.experimental.choose_from_datasets([data.Dataset.range(1),
    ...                                              data.Dataset.range(10, 12)], choice)
    >>> [int(v) for v in ds]
    [0, 10]
    """
    return Dataset.choose_from_datasets(datasets, choice_dataset, stop_on_empty_dataset)


def save(dataset, path, compression=None, shard_func=None, checkpoint_args=None):
    dataset.save(path, compression, shard_func, checkpoint_args)


def snapshot(path, compression="AUTO", reader_func=None, shard_func=None):
    """The transformation `lambda ds: ds.snapshot(path, ...)`, for Dataset.apply."""
    def apply(dataset):
        return dataset.snapshot(path, compression, reader_func, shard_func)
    return apply


def prefetch_to_device(device, buffer_size=None):
    """The transformation that prefetches `buffer_size` elements (1 by default) ahead;
    tensorflux puts each element where the op that reads it runs, so `device` is checked
    and recorded only (TF copies the elements to it).

    >>> from tensorflux import data
    >>> ds = data.Dataset.range(3).apply(data.experimental.prefetch_to_device("/cpu:0"))
    >>> [int(v) for v in ds]
    [0, 1, 2]
    """
    _device_name("prefetch_to_device", device)

    def apply(dataset):
        return dataset.prefetch(1 if buffer_size is None else buffer_size)
    return apply


def copy_to_device(target_device, source_device="/cpu:0"):
    """The transformation that leaves the elements as they are (see prefetch_to_device:
    tensorflux moves tensors to the device of the op that reads them)."""
    _device_name("copy_to_device", target_device)
    _device_name("copy_to_device", source_device)
    return lambda dataset: dataset


def _device_name(op, device):
    from tensorflux.backends import parse_device

    try:
        parse_device(str(device))
    except ValueError as error:
        raise ValueError(f"{op}: expected a device name such as '/gpu:0', received "
                         f"{device!r}") from error


def get_single_element(dataset):
    return dataset.get_single_element()


def get_next_as_optional(iterator):
    return iterator.get_next_as_optional()


def get_structure(dataset_or_iterator):
    """The element spec of a Dataset or Iterator."""
    spec = getattr(dataset_or_iterator, "element_spec", None)
    if spec is None:
        raise TypeError("get_structure: expected a tf.data.Dataset or Iterator, received "
                        f"{type(dataset_or_iterator).__name__}")
    return spec


# -- transformations for dataset.apply(...)

def enable_debug_mode():
    """Accepted for TF's API: tensorflux already calls map and filter functions eagerly on
    each element (print and breakpoints work in them), which is what it turns on."""


def assert_cardinality(expected_cardinality):
    """The dataset with the cardinality `expected_cardinality`; reading it fails
    (FailedPreconditionError) if it has another number of elements.

    >>> from tensorflux import data
    >>> ds = data.Dataset.range(3).filter(lambda x: x >= 0)
    >>> int(ds.apply(data.experimental.assert_cardinality(3)).cardinality())
    3
    """
    return lambda dataset: _transforms.AssertCardinalityDataset(dataset, expected_cardinality)


def pad_to_cardinality(cardinality, mask_key="valid"):
    """Pads a dataset of dict elements with zero elements up to `cardinality`; a boolean
    `mask_key` entry tells the real elements (True) from the padding."""
    return lambda dataset: _transforms.pad_dataset_to_cardinality(dataset, cardinality,
                                                                   mask_key)


def ignore_errors(log_warning=False):
    return lambda dataset: dataset.ignore_errors(log_warning)


def rejection_resample(class_func, target_dist, initial_dist=None, seed=None):
    return lambda dataset: dataset.rejection_resample(class_func, target_dist, initial_dist,
                                                      seed)


def dense_to_ragged_batch(batch_size, drop_remainder=False, row_splits_dtype=None):
    """Dataset.ragged_batch, for `dataset.apply`."""
    extra = () if row_splits_dtype is None else (row_splits_dtype,)
    return lambda dataset: dataset.ragged_batch(batch_size, drop_remainder, *extra)


def dense_to_sparse_batch(batch_size, row_shape):
    """Dataset.sparse_batch, for `dataset.apply`."""
    return lambda dataset: dataset.sparse_batch(batch_size, row_shape)


def enumerate_dataset(start=0):
    return lambda dataset: dataset.enumerate(start)


def unbatch():
    return lambda dataset: dataset.unbatch()


def unique():
    return lambda dataset: dataset.unique()


def scan(initial_state, scan_func):
    return lambda dataset: dataset.scan(initial_state, scan_func)


def take_while(predicate):
    return lambda dataset: dataset.take_while(predicate)


def group_by_window(key_func, reduce_func, window_size=None, window_size_func=None):
    return lambda dataset: dataset.group_by_window(key_func, reduce_func, window_size,
                                                   window_size_func)


def group_by_reducer(key_func, reducer):
    """Folds the elements of each `key_func` group with `reducer` (a Reducer)."""
    return lambda dataset: _transforms.GroupByReducerDataset(dataset, key_func, reducer)


def bucket_by_sequence_length(element_length_func, bucket_boundaries, bucket_batch_sizes,
                              padded_shapes=None, padding_values=None,
                              pad_to_bucket_boundary=False, no_padding=False,
                              drop_remainder=False):
    return lambda dataset: dataset.bucket_by_sequence_length(
        element_length_func, bucket_boundaries, bucket_batch_sizes, padded_shapes,
        padding_values, pad_to_bucket_boundary, no_padding, drop_remainder)


def map_and_batch(map_func, batch_size, num_parallel_batches=None, drop_remainder=False,
                  num_parallel_calls=None):
    """map then batch (TF fuses them; the result is the same)."""
    calls = num_parallel_calls if num_parallel_calls is not None else num_parallel_batches
    return lambda dataset: dataset.map(map_func, num_parallel_calls=calls).batch(
        batch_size, drop_remainder=drop_remainder)


def parallel_interleave(map_func, cycle_length, block_length=1, sloppy=False,
                        buffer_output_elements=None, prefetch_input_elements=None):
    """interleave with parallel reads (in interleave's deterministic order)."""
    return lambda dataset: dataset.interleave(map_func, cycle_length, block_length,
                                              num_parallel_calls=cycle_length)


def shuffle_and_repeat(buffer_size, count=None, seed=None):
    """shuffle (a new order each pass) then repeat."""
    return lambda dataset: dataset.shuffle(buffer_size, seed).repeat(count)
