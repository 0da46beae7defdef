"""tf.data.Dataset: lazy input pipelines (sources, transformations, iterators).

Each Dataset describes a pipeline; `iter(ds)` starts one independent pass over it. Elements
travel between stages as nested structures of host NumPy arrays and are handed to user
functions and to the consumer as tensorflux Tensors. Background work (prefetch, parallel map)
runs in daemon threads with bounded queues; see _threads.py.
"""

import collections
import os
import secrets
import threading
import types

import numpy as np

import tensorflux as tf
from tensorflux import dtypes, errors
from tensorflux.context import context as _tracing
from tensorflux.data import _structure as structure
from tensorflux.data._threads import (
    ACTIVE,
    active_options,
    parallel_map_iterator,
    prefetch_iterator,
)
from tensorflux.data.options import Options
from tensorflux.graph.ir import SymbolicTensor
from tensorflux.tensor import _is_dense_tensor

__all__ = ["AUTOTUNE", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY", "Dataset", "DatasetSpec",
           "Iterator", "NumpyIterator", "Options"]

AUTOTUNE = -1
INFINITE_CARDINALITY = -1
UNKNOWN_CARDINALITY = -2
# What AUTOTUNE means for a prefetch buffer: two elements already hide one slow step.
_AUTOTUNE_PREFETCH = 2


def _threads_for(num_parallel_calls):
    """The worker count of a parallel stage: AUTOTUNE is resolved when a pass starts."""
    if num_parallel_calls == AUTOTUNE:
        return AUTOTUNE
    count = int(num_parallel_calls)
    if count <= 0:
        raise errors.InvalidArgumentError(
            f"num_parallel_calls must be positive or tf.data.AUTOTUNE, received {count}")
    return count


def _autotuned_threads():
    """AUTOTUNE's thread count: every CPU, within threading.private_threadpool_size."""
    count = os.cpu_count() or 1
    options = active_options()
    cap = None if options is None else options.threading.private_threadpool_size
    return min(count, cap) if cap and cap > 0 else count


def _positive(op, name, value):
    value = int(value.numpy()) if _is_dense_tensor(value) else int(value)
    if value <= 0:
        raise errors.InvalidArgumentError(f"{op}: {name} must be greater than zero, "
                                          f"received {value}", op)
    return value


def _count(value):
    return int(value.numpy()) if _is_dense_tensor(value) else int(value)


_user_calls = threading.local()


def _bound_now(fn):
    """`fn` reading the values that its free variables and its module's globals have now.
    TensorFlow traces a transformation's function when the dataset is made, so a lambda that
    reads a loop variable (`ds.map(lambda x: (x, i))` in a loop over i, as in TF's text
    loading tutorial) keeps that iteration's value; tensorflux calls the function later."""
    if type(fn) is not types.FunctionType:
        return fn
    cells = fn.__closure__
    if cells is not None:
        frozen = []
        for cell in cells:
            try:
                frozen.append(types.CellType(cell.cell_contents))
            except ValueError:  # an empty cell (assigned after this point): keep it live
                frozen.append(cell)
        cells = tuple(frozen)
    bound = types.FunctionType(fn.__code__, dict(fn.__globals__), fn.__name__,
                               fn.__defaults__, cells)
    bound.__kwdefaults__ = fn.__kwdefaults__
    bound.__qualname__ = fn.__qualname__
    bound.__module__ = fn.__module__
    bound.__doc__ = fn.__doc__
    bound.__dict__.update(fn.__dict__)
    return bound


def in_user_function():
    """True while this thread runs (or traces) a user function of a transformation (map,
    filter, ...): Keras's data layers then cast their inputs to their compute dtype, as
    they do in TensorFlow's tf.data graphs."""
    return getattr(_user_calls, "depth", 0) > 0


def _run_user(fn, args):
    _user_calls.depth = getattr(_user_calls, "depth", 0) + 1
    try:
        return fn(*args) if type(args) is tuple else fn(args)
    finally:
        _user_calls.depth -= 1


def _call_user(fn, element):
    """Calls a user function on an element, TF-style: a plain tuple is unpacked into
    positional arguments, anything else is passed as one argument."""
    return _run_user(fn, structure.to_tensor_structure(element))


class DatasetSpec:
    """The spec of a Dataset-valued element (as produced by `window`)."""

    def __init__(self, element_spec):
        self.element_spec = element_spec

    def __eq__(self, other):
        return isinstance(other, DatasetSpec) and other.element_spec == self.element_spec

    def __hash__(self):
        return hash(repr(self.element_spec))

    def __repr__(self):
        return f"DatasetSpec({self.element_spec!r}, TensorShape([]))"


class Iterator:
    """One pass over a Dataset, yielding tensorflux Tensors; `close()` stops its threads."""

    def __init__(self, dataset, numpy=False):
        self._dataset = dataset
        self._options = dataset.options()
        self._source = None
        self._source = self._step(lambda: iter(dataset._iterate()))
        self._numpy = numpy
        self._made_eagerly = _tracing.graph is None
        self._position = 0  # elements produced: the state a tf.train.Checkpoint saves

    def _step(self, work):
        """Runs `work` with the pipeline's options visible to its stages (see
        _threads.ACTIVE): some stages start threads, or read the options, as they begin."""
        outer = getattr(ACTIVE, "options", None)
        ACTIVE.options = self._options
        try:
            return work()
        finally:
            ACTIVE.options = outer

    @property
    def element_spec(self):
        return self._dataset.element_spec

    def __iter__(self):
        return self

    def __next__(self):
        if self._source is None:
            raise StopIteration
        if _tracing.graph is not None:
            if self._made_eagerly and not self._numpy:
                return self._staged_next()
            # Made and iterated while a tf.function is traced without AutoGraph
            # (autograph=False, or library code such as list(ds)): the pipeline runs eagerly
            # and the trace takes the elements as constants. AutoGraph stages `for x in
            # dataset` as a loop instead (autograph/operators.py, _dataset_for).
            with tf.init_scope():
                return self._next()
        return self._next()

    def _staged_next(self):
        """next(iterator) traced into a tf.function for an iterator made outside it (TF's
        custom training loop): a host call that pulls the next element each time the
        function runs (OutOfRangeError at the end), with the element_spec's shapes."""
        def pull():
            try:
                return structure.flatten(self._next())
            except StopIteration:
                raise errors.OutOfRangeError("End of sequence", "IteratorGetNext") from None

        return self._staged(pull, [])[1]

    def _staged_optional(self, optional):
        """get_next_as_optional traced (see _staged_next): has_value is known at run time;
        an absent element's tensors are zeros."""
        specs = structure.flatten(self.element_spec)

        def pull():
            try:
                return [True] + structure.flatten(self._next())
            except StopIteration:
                return [False] + [np.zeros([d or 0 for d in s.shape.as_list()],
                                           structure.numpy_dtype(s.dtype)) for s in specs]

        present, value = self._staged(pull, [tf.bool])
        return optional(value, self.element_spec, present=present)

    def _staged(self, pull, extra):
        """(the `extra` leading results, the element) of a host call `pull` returning
        them and the element's flat tensors."""
        spec = self.element_spec
        specs = structure.flatten(spec)
        if any(structure.is_composite_spec(s) for s in specs):
            raise errors.UnimplementedError(
                "next(iterator) inside a tf.function: elements holding RaggedTensors or "
                "SparseTensors are not supported there; call next() eagerly and pass the "
                "element to the function", "IteratorGetNext")
        flat = tf.py_function(pull, [], list(extra) + [s.dtype for s in specs])
        for tensor, leaf_spec in zip(flat[len(extra):], specs):
            tensor.set_shape(leaf_spec.shape)
        head = flat[0] if len(extra) == 1 else flat[:len(extra)]
        return head, structure.pack_as(spec, flat[len(extra):])

    def _next(self):
        outer = getattr(ACTIVE, "options", None)
        ACTIVE.options = self._options  # (as in _step, inline: this runs per element)
        try:
            element = next(self._source)
        except BaseException:
            self.close()
            raise
        finally:
            ACTIVE.options = outer
        self._position += 1
        if self._numpy:
            return structure.map_structure(_numpy_value, element)
        return structure.to_tensor_structure(element)

    def get_next(self):
        try:
            return next(self)
        except StopIteration:
            raise errors.OutOfRangeError("End of sequence", "IteratorGetNext") from None

    def next(self):
        return next(self)

    def get_next_as_optional(self):
        """The next element as a tf.experimental.Optional, empty at the end."""
        optional = _transforms().Optional
        if _tracing.graph is not None and self._made_eagerly:
            return self._staged_optional(optional)
        try:
            return optional(next(self), self.element_spec)
        except StopIteration:
            return optional.empty(self.element_spec)

    # -- tf.train.Checkpoint(iterator=...) saves how far the iterator got
    _CHECKPOINT_ATTRIBUTE = "ITERATOR_STATE"

    def _checkpoint_state(self):
        return np.array(self._position, dtype=np.int64)

    def _restore_checkpoint_state(self, state):
        """Moves to the saved position by running the pipeline again from its start: the
        same elements as the saved run's for a deterministic pipeline (a shuffle without a
        seed reshuffles, where TF would restore its buffer)."""
        self.close()
        self._source = self._step(lambda: iter(self._dataset._iterate()))
        self._position = 0
        for _ in range(int(state)):
            self._next()

    def close(self):
        source, self._source = self._source, None
        close = getattr(source, "close", None)
        if close is not None:
            close()

    def __del__(self):
        self.close()


class NumpyIterator(Iterator):
    """The iterator of Dataset.as_numpy_iterator (tf.data.NumpyIterator): elements as NumPy
    values, scalars for rank-0 tensors.

    >>> from tensorflux import data
    >>> iterator = data.Dataset.range(2).as_numpy_iterator()
    >>> type(iterator).__name__, int(iterator.next())
    ('NumpyIterator', 0)
    """

    def __init__(self, dataset):
        super().__init__(dataset, numpy=True)

    def __repr__(self):
        return f"NumpyIterator(element_spec={self.element_spec!r})"


def _numpy_value(leaf):
    if isinstance(leaf, np.ndarray) and leaf.ndim == 0:
        value = leaf[()]
        # A scalar string is Python bytes in TF (not np.bytes_), whatever the array's dtype.
        return bytes(value) if isinstance(value, np.bytes_) else value
    if structure.is_composite(leaf):
        if isinstance(leaf, tf.sparse.SparseTensor):
            return tf.sparse.to_dense(leaf).numpy()  # (TF gives the dense array too)
        return leaf.numpy()  # a RaggedTensor: object arrays of rows, as TF gives
    if isinstance(leaf, Dataset):
        raise TypeError("`tf.data.Dataset.as_numpy_iterator()` is not supported for datasets "
                        "that produce Dataset values (as `window` does); iterate the dataset "
                        "itself, or `flat_map` the inner datasets first")
    # Read-only, as TF's as_numpy_iterator gives: the array may be the pipeline's own.
    return structure.read_only_view(leaf)


# ------------------------------------------------------------------ the base class

class Dataset:
    """A sequence of elements, each a tensor or a nested tuple/dict of tensors.

    >>> import tensorflux as tf
    >>> from tensorflux import data
    >>> ds = data.Dataset.range(6).map(lambda x: x * 2).batch(4)
    >>> [b.numpy().tolist() for b in ds]
    [[0, 2, 4, 6], [8, 10]]
    """

    _spec = None

    def __new__(cls, *args, **kwargs):
        # Made inside a tf.function from tensors traced there: a recipe that each run of
        # the function makes the dataset from (_DeferredDataset).
        if _tracing.graph is not None and _traced_inputs((args, kwargs)):
            return _DeferredDataset(cls, args, kwargs)
        return super().__new__(cls)

    # -- what subclasses provide
    def _iterate(self):
        raise NotImplementedError

    def _cardinality(self):
        return UNKNOWN_CARDINALITY

    def _compute_spec(self):
        """The element spec without reading data; sources set `_spec` when they are made."""
        return None

    # -- inspection
    @property
    def element_spec(self):
        """The structure of TensorSpecs that describes one element."""
        if self._spec is None:
            self._spec = self._compute_spec()
        return self._spec

    def cardinality(self):
        """The number of elements as an int64 scalar: INFINITE (-1) or UNKNOWN (-2) too.

        >>> from tensorflux import data
        >>> int(data.Dataset.range(5).repeat().cardinality())
        -1
        """
        return tf.constant(self._cardinality(), dtype=tf.int64)

    def __len__(self):
        length = self._cardinality()
        if length == INFINITE_CARDINALITY:
            raise TypeError("The dataset is infinite.")
        if length == UNKNOWN_CARDINALITY:
            raise TypeError("The dataset length is unknown.")
        return length

    def __bool__(self):
        return True

    def __iter__(self):
        return Iterator(self)

    def as_numpy_iterator(self):
        """Iterates over the elements as NumPy values (scalars for rank-0 tensors).

        >>> from tensorflux import data
        >>> [int(v) for v in data.Dataset.range(3).as_numpy_iterator()]
        [0, 1, 2]
        """
        return NumpyIterator(self)

    def _inputs(self):
        """The datasets this one reads (their options are this one's too)."""
        return []

    def options(self):
        """The tf.data.Options of this dataset: those set on it and on its inputs, the
        later (nearer this dataset) winning."""
        options = Options()
        for dataset in self._inputs():
            options = options.merge(dataset.options())
        return options

    def with_options(self, options, name=None):
        """A dataset with `options` (tf.data.Options) over those of this one.

        >>> from tensorflux import data
        >>> options = data.Options()
        >>> options.deterministic = False
        >>> data.Dataset.range(3).with_options(options).options().deterministic
        False
        """
        if not isinstance(options, Options):
            raise TypeError(f"with_options: `options` must be a tf.data.Options, received "
                            f"{type(options).__name__}")
        return _OptionsDataset(self, options)

    def __repr__(self):
        name = type(self).__name__.lstrip("_")
        return f"<{name} element_spec={self.element_spec!r}>"

    # -- sources
    @staticmethod
    def from_tensor_slices(tensors, name=None):
        """One element per slice of the first dimension of every component.

        >>> from tensorflux import data
        >>> [(int(a), b.numpy().decode()) for a, b in
        ...  data.Dataset.from_tensor_slices(([1, 2], ["a", "b"]))]
        [(1, 'a'), (2, 'b')]
        """
        return _TensorSliceDataset(tensors)

    @staticmethod
    def from_tensors(tensors, name=None):
        """A dataset of exactly one element, `tensors`."""
        return _TensorDataset(tensors)

    @staticmethod
    def range(*args, output_type=dtypes.int64, name=None):
        """range(stop), range(start, stop) or range(start, stop, step), as Python's.

        >>> from tensorflux import data
        >>> [int(v) for v in data.Dataset.range(1, 8, 3)]
        [1, 4, 7]
        """
        return _RangeDataset(*args, output_type=output_type)

    @staticmethod
    def from_generator(generator, output_types=None, output_shapes=None, args=None,
                       output_signature=None, name=None):
        """Elements from `generator()` (a callable), checked against `output_signature`.

        >>> import tensorflux as tf
        >>> from tensorflux import data
        >>> def gen():
        ...     yield 1, [2.0]
        >>> ds = data.Dataset.from_generator(gen, output_signature=(
        ...     tf.TensorSpec((), tf.int32), tf.TensorSpec((None,), tf.float32)))
        >>> [(int(a), b.numpy().tolist()) for a, b in ds]
        [(1, [2.0])]
        """
        return _GeneratorDataset(generator, output_types, output_shapes, args,
                                 output_signature)

    @staticmethod
    def zip(*args, datasets=None, name=None):
        """Elements of several datasets side by side: zip(a, b), or one (nested) tuple or
        dict of datasets, positionally or as `datasets=`, as TF's."""
        if args and datasets is not None:
            raise TypeError("zip: give the datasets positionally or as datasets=, not both; "
                            f"received {len(args)} positional and datasets={datasets!r}")
        if not args and datasets is None:
            raise TypeError("zip: pass at least one dataset")
        if args:
            datasets = args[0] if len(args) == 1 else args
        return _ZipDataset(datasets)

    # -- transformations
    def concatenate(self, dataset, name=None):
        return _ConcatenateDataset(self, dataset)

    def map(self, map_func, num_parallel_calls=None, deterministic=None, synchronous=None,
            use_unbounded_threadpool=False, name=None):
        """Applies `map_func` to each element (a tuple element is unpacked into arguments).

        With `num_parallel_calls` (an int or AUTOTUNE) a pool of threads runs the calls;
        results keep the input order unless `deterministic=False`. Without it the calls run
        one at a time, which is what TF's `synchronous=True` asks (it refuses the pair, and
        so does this); `use_unbounded_threadpool` is a TF thread-pool hint, same results.
        """
        if synchronous and num_parallel_calls is not None:
            raise ValueError("map: synchronous=True cannot be combined with "
                             f"num_parallel_calls, received num_parallel_calls="
                             f"{num_parallel_calls!r}")
        return _MapDataset(self, map_func, num_parallel_calls, deterministic)

    def filter(self, predicate, name=None):
        return _FilterDataset(self, predicate)

    def batch(self, batch_size, drop_remainder=False, num_parallel_calls=None,
              deterministic=None, name=None):
        """Stacks consecutive elements; the last batch may be smaller unless drop_remainder.

        >>> from tensorflux import data
        >>> [b.numpy().tolist() for b in data.Dataset.range(5).batch(2)]
        [[0, 1], [2, 3], [4]]
        """
        return _BatchDataset(self, batch_size, drop_remainder)

    def ragged_batch(self, batch_size, drop_remainder=False, row_splits_dtype=dtypes.int64,
                     name=None):
        """Batches elements whose shapes differ: a component whose static shape has unknown
        dimensions becomes a RaggedTensor (one row per element); the others batch as
        `batch` does.

        >>> import tensorflux as tf
        >>> ds = tf.data.Dataset.range(1, 4).map(tf.range).ragged_batch(2)
        >>> [b.to_list() for b in ds]
        [[[0], [0, 1]], [[0, 1, 2]]]
        """
        return _transforms().RaggedBatchDataset(self, batch_size, drop_remainder,
                                                row_splits_dtype)

    def sparse_batch(self, batch_size, row_shape, name=None):
        """Batches dense elements of varying shape (at most `row_shape`) into SparseTensors
        of dense shape [batch, *row_shape] (a None dimension: the batch's largest)."""
        return _transforms().SparseBatchDataset(self, batch_size, row_shape)

    def padded_batch(self, batch_size, padded_shapes=None, padding_values=None,
                     drop_remainder=False, name=None):
        """Batches elements of different shapes, padding each component to a common shape."""
        return _PaddedBatchDataset(self, batch_size, padded_shapes, padding_values,
                                   drop_remainder)

    def unbatch(self, name=None):
        return _UnbatchDataset(self)

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=True, name=None):
        """Samples uniformly from a buffer of `buffer_size` elements, refilled from the input.

        Deterministic given `seed` (or a global seed from tf.random.set_seed); each new pass
        reshuffles unless `reshuffle_each_iteration=False`.
        """
        return _ShuffleDataset(self, buffer_size, seed, reshuffle_each_iteration)

    def repeat(self, count=None, name=None):
        return _RepeatDataset(self, count)

    def take(self, count, name=None):
        return _TakeDataset(self, count)

    def skip(self, count, name=None):
        return _SkipDataset(self, count)

    def prefetch(self, buffer_size, name=None):
        """Produces up to `buffer_size` elements ahead in a background thread."""
        return _PrefetchDataset(self, buffer_size)

    def cache(self, filename="", name=None):
        """Keeps the elements of the first complete pass in memory, or in `filename` (.npz)."""
        return _CacheDataset(self, filename)

    def snapshot(self, path, compression="AUTO", reader_func=None, shard_func=None,
                 name=None):
        """Writes the elements of the first complete pass into the folder `path` and reads
        them from there afterwards, in later programs too (tensorflux's files, those of
        Dataset.save, not TF's snapshot format). `shard_func(element)` (a scalar int64)
        picks each element's shard; `reader_func(shards)` turns the dataset of shard
        datasets into the dataset read (by default the shards in order); `compression` is
        'AUTO', 'GZIP', 'SNAPPY' or None.

        >>> import os, tempfile
        >>> from tensorflux import data
        >>> path = os.path.join(tempfile.mkdtemp(), "snap")
        >>> ds = data.Dataset.range(6).snapshot(path, shard_func=lambda x: x % 2,
        ...                                     reader_func=lambda s: s.flat_map(lambda d: d))
        >>> [int(v) for v in ds], [int(v) for v in ds]
        ([0, 1, 2, 3, 4, 5], [0, 2, 4, 1, 3, 5])
        """
        from tensorflux.data import _save

        return _save.SnapshotDataset(self, path, compression, reader_func, shard_func)

    def interleave(self, map_func, cycle_length=None, block_length=None,
                   num_parallel_calls=None, deterministic=None, name=None):
        """Maps each element to a dataset and interleaves `cycle_length` of them,
        `block_length` elements at a time (the order is always tf.data's deterministic one).

        >>> from tensorflux import data
        >>> ds = data.Dataset.range(1, 4).interleave(
        ...     lambda x: data.Dataset.from_tensors(x).repeat(2), cycle_length=2)
        >>> [int(v) for v in ds]
        [1, 2, 1, 2, 3, 3]
        """
        return _InterleaveDataset(self, map_func, cycle_length, block_length,
                                  num_parallel_calls)

    def flat_map(self, map_func, name=None):
        return _InterleaveDataset(self, map_func, 1, 1, None)

    def window(self, size, shift=None, stride=1, drop_remainder=False, name=None):
        """Groups elements into windows; each window is a (structure of) Dataset."""
        return _WindowDataset(self, size, shift, stride, drop_remainder)

    def enumerate(self, start=0, name=None):
        return Dataset.zip((_RangeDataset(start, None, 1), self))

    def apply(self, transformation_func):
        return transformation_func(self)

    def shard(self, num_shards, index, name=None):
        """Every `num_shards`-th element, starting at `index`.

        >>> from tensorflux import data
        >>> [int(v) for v in data.Dataset.range(10).shard(3, 1)]
        [1, 4, 7]
        """
        return _transforms().ShardDataset(self, num_shards, index)

    def take_while(self, predicate, name=None):
        """The elements up to (not including) the first for which `predicate` is False."""
        return _transforms().TakeWhileDataset(self, predicate)

    def unique(self, name=None):
        """The first occurrence of each element (scalar int32, int64 or string elements)."""
        return _transforms().UniqueDataset(self)

    def rebatch(self, batch_size, drop_remainder=False, name=None):
        """Re-cuts the batches into batches of `batch_size` (an int or a list used in turn).

        >>> from tensorflux import data
        >>> [b.numpy().tolist() for b in data.Dataset.range(5).batch(4).rebatch(3)]
        [[0, 1, 2], [3, 4]]
        """
        return _transforms().RebatchDataset(self, batch_size, drop_remainder)

    def group_by_window(self, key_func, reduce_func, window_size=None, window_size_func=None,
                        name=None):
        """Groups elements by `key_func` (an int64 key) into windows that
        `reduce_func(key, window_dataset)` turns into a dataset."""
        return _transforms().GroupByWindowDataset(self, key_func, reduce_func, window_size,
                                                  window_size_func)

    def bucket_by_sequence_length(self, element_length_func, bucket_boundaries,
                                  bucket_batch_sizes, padded_shapes=None, padding_values=None,
                                  pad_to_bucket_boundary=False, no_padding=False,
                                  drop_remainder=False, name=None):
        """Batches elements of similar length together, padded to the longest of each batch
        (or to the bucket boundary minus one with `pad_to_bucket_boundary`)."""
        return _transforms().bucket_by_sequence_length(
            self, element_length_func, bucket_boundaries, bucket_batch_sizes, padded_shapes,
            padding_values, pad_to_bucket_boundary, no_padding, drop_remainder)

    def scan(self, initial_state, scan_func, name=None):
        """Carries a state: `scan_func(state, element)` returns `(new_state, output)`.

        >>> from tensorflux import data
        >>> ds = data.Dataset.range(4).scan(0, lambda s, x: (s + int(x), s))
        >>> [int(v) for v in ds]
        [0, 0, 1, 3]
        """
        return _transforms().ScanDataset(self, initial_state, scan_func)

    def ignore_errors(self, log_warning=False, name=None):
        """Drops the elements whose making raised an error."""
        return _transforms().IgnoreErrorsDataset(self, log_warning)

    def get_single_element(self, name=None):
        """The only element of the dataset; InvalidArgumentError if it has none or more.

        >>> from tensorflux import data
        >>> int(data.Dataset.range(1).get_single_element())
        0
        """
        iterator = iter(self._iterate())
        try:
            try:
                element = next(iterator)
            except StopIteration:
                raise errors.InvalidArgumentError("Dataset was empty.",
                                                  "DatasetToSingleElement") from None
            try:
                next(iterator)
            except StopIteration:
                return structure.to_tensor_structure(element)
            raise errors.InvalidArgumentError("Dataset had more than one element.",
                                              "DatasetToSingleElement")
        finally:
            _close(iterator)

    @staticmethod
    def counter(start=0, step=1, dtype=dtypes.int64, name=None):
        """start, start + step, ... forever (a scalar of `dtype` each).

        >>> from tensorflux import data
        >>> [int(v) for v in data.Dataset.counter(5, -2).take(3)]
        [5, 3, 1]
        """
        return _transforms().CounterDataset(start, step, dtype)

    def rejection_resample(self, class_func, target_dist, initial_dist=None, seed=None,
                           name=None):
        """(class, element) pairs resampled so that the classes (`class_func(element)`, a
        scalar integer) follow `target_dist`; elements may be dropped or repeated.
        `initial_dist` is the input's class distribution, estimated as it is read if None."""
        return _transforms().RejectionResampleDataset(self, class_func, target_dist,
                                                      initial_dist, seed)

    def save(self, path, compression=None, shard_func=None, checkpoint_args=None):
        """Writes the elements under the folder `path` for Dataset.load, in tensorflux's
        own format (JSON and NumPy arrays; see data/_save.py). `shard_func(element)`, a
        scalar int64, groups them into shards; `checkpoint_args` is not used.

        >>> import os, tempfile
        >>> from tensorflux import data
        >>> path = os.path.join(tempfile.mkdtemp(), "saved")
        >>> data.Dataset.range(3).save(path)
        >>> [int(v) for v in data.Dataset.load(path)]
        [0, 1, 2]
        """
        from tensorflux.data import _save

        _save.save(self, path, compression, shard_func, checkpoint_args)

    @staticmethod
    def load(path, element_spec=None, compression=None, reader_func=None, wait=False):
        """The dataset Dataset.save wrote to `path` (`reader_func(shards)` may combine its
        dataset of shard datasets); loading runs no code from the files."""
        from tensorflux.data import _save

        return _save.load(path, element_spec, compression, reader_func, wait)

    @staticmethod
    def random(seed=None, rerandomize_each_iteration=None, name=None):
        """An infinite dataset of random int64 values in [0, 2**32)."""
        return _transforms().RandomDataset(seed, rerandomize_each_iteration)

    @staticmethod
    def sample_from_datasets(datasets, weights=None, seed=None, stop_on_empty_dataset=False,
                             rerandomize_each_iteration=None):
        """Draws each element from a dataset picked at random with `weights`.

        As in TF, datasets of weight 0 in a `weights` list are left out, and a single
        dataset left (weights not a Dataset) is returned itself (its cardinality too)."""
        def make(datasets, weights):
            return _transforms().SampleFromDatasets(datasets, weights, seed,
                                                    stop_on_empty_dataset,
                                                    rerandomize_each_iteration)

        sample = make(datasets, weights)  # (checks the arguments)
        if weights is not None and not _is_dense_tensor(weights) and \
                not isinstance(weights, Dataset):
            kept = sample._weights != 0
            if not kept.all():
                sample = make([d for d, k in zip(sample._datasets, kept) if k],
                              sample._weights[kept])
        if len(sample._datasets) == 1 and not isinstance(weights, Dataset):
            return sample._datasets[0]
        return sample

    @staticmethod
    def choose_from_datasets(datasets, choice_dataset, stop_on_empty_dataset=True):
        """Takes each element from `datasets[i]`, `i` read from `choice_dataset` (int64).

        >>> import tensorflux as tf
        >>> from tensorflux import data
        >>> choice = data.Dataset.from_tensor_slices(tf.constant([1, 0, 1], tf.int64))
        >>> ds = data.Dataset.choose_from_datasets([data.Dataset.range(3),
        ...                                         data.Dataset.range(10, 13)], choice)
        >>> [int(v) for v in ds]
        [10, 0, 11]
        """
        return _transforms().ChooseFromDatasets(datasets, choice_dataset,
                                                stop_on_empty_dataset)

    @staticmethod
    def list_files(file_pattern, shuffle=None, seed=None, name=None):
        """The paths matching `file_pattern` (one glob or a list), shuffled unless
        `shuffle=False` (then sorted)."""
        from tensorflux.data import readers

        return readers.list_files(file_pattern, shuffle, seed)

    def reduce(self, initial_state, reduce_func, name=None):
        """Folds the elements into one value with `reduce_func(state, element)`."""
        state = initial_state
        for element in self:
            args = element if type(element) is tuple else (element,)
            state = reduce_func(state, *args)
        return state


def _transforms():
    from tensorflux.data import _transforms as module  # imports this module: import late

    return module


# ------------------------------------------------------------------ made from traced tensors

class _DeferredDataset(Dataset):
    """A dataset made inside a tf.function from tensors traced there (`Dataset.range(n)` or
    `.take(k)` for arguments n, k): its class and constructor arguments, from which each run
    of the function makes the dataset with that run's values (TF puts the dataset's ops in
    the graph). A `for` loop over it runs it (autograph/operators.py, _dataset_for); its
    element_spec comes from making it with stand-in values, dims that vary left None."""

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, maker, args, kwargs):
        self._recipe = (maker, args, kwargs)
        self.traced_inputs = _traced_inputs((args, kwargs))
        self._spec = self._stand_in_spec()

    def make(self, values):
        """The dataset for one run: `values` are the eager values of traced_inputs."""
        return self._make({id(t): v for t, v in zip(self.traced_inputs, values)})

    def _make(self, values):
        maker, args, kwargs = self._recipe
        return maker(*_substituted(args, values), **_substituted(kwargs, values))

    def _stand_in_spec(self):
        specs = []
        for fill in (1, 2):
            values = {id(t): _stand_in(t, fill) for t in self.traced_inputs}
            try:
                specs.append(self._make(values).element_spec)
            except Exception as error:  # what it needs of its values is not known here
                raise self._unsupported(
                    f"it cannot be made with stand-in values ({error})") from error
        return structure.pack_as(specs[0], [_relaxed(a, b) for a, b in zip(
            structure.flatten(specs[0]), structure.flatten(specs[1]))])

    def _unsupported(self, why):
        return errors.UnimplementedError(
            f"tf.data: the {self._recipe[0].__name__.lstrip('_')} made inside a tf.function from "
            f"tensors traced there ({', '.join(repr(t) for t in self.traced_inputs)}) is only "
            f"supported as the dataset of a `for` loop; {why}. Make the dataset outside the "
            "tf.function and pass it in.")

    def reduce(self, initial_state, reduce_func, name=None):
        """Folds the elements at run time: a staged loop over the dataset, as `for`."""
        from tensorflux.autograph import operators

        state = [tf.nest.map_structure(tf.convert_to_tensor, initial_state)]

        def body(element):
            state[0] = reduce_func(state[0], *(element if type(element) is tuple
                                               else (element,)))

        def set_state(values):
            state[0] = values[0]

        operators.for_stmt(self, None, body, lambda: (state[0],), set_state, ("state",), 1, {})
        return state[0]

    def cardinality(self):
        """The cardinality of each run's dataset, computed when the function runs."""
        from tensorflux.control import py_function

        count = py_function(lambda *values: [self.make(values).cardinality()],
                            self.traced_inputs, [tf.int64])[0]
        count.set_shape([])
        return count

    def _iterate(self):
        raise self._unsupported("this use needs its elements while the function is traced")

    def _cardinality(self):
        raise self._unsupported("its cardinality is only known when the function runs")


def _traced_inputs(value, found=None):
    """The tensors traced in the current tf.function that a dataset's constructor arguments
    hold (nested in lists, tuples and dicts, or in a deferred input dataset), each once."""
    found = {} if found is None else found
    if isinstance(value, SymbolicTensor):
        found.setdefault(id(value), value)
    elif isinstance(value, _DeferredDataset):
        for tensor in value.traced_inputs:
            found.setdefault(id(tensor), tensor)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _traced_inputs(item, found)
    elif isinstance(value, dict):
        for item in value.values():
            _traced_inputs(item, found)
    elif type(value) is types.FunctionType and value.__closure__:
        # `ds.map(lambda x: x * scale)` for an argument `scale` of the function
        for item in _closure_values(value):
            _traced_inputs(item, found)
    return list(found.values())


_EMPTY_CELL = object()


def _closure_values(fn):
    values = []
    for cell in fn.__closure__:
        try:
            values.append(cell.cell_contents)
        except ValueError:  # an empty cell (assigned later)
            values.append(_EMPTY_CELL)
    return values


def _substituted(value, values):
    """`value` with each traced tensor replaced by values[id(tensor)], and each deferred
    dataset made from them."""
    if isinstance(value, SymbolicTensor):
        return values[id(value)]
    if isinstance(value, _DeferredDataset):
        return value._make(values)
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*[_substituted(v, values) for v in value])
    if isinstance(value, (list, tuple)):
        return type(value)(_substituted(v, values) for v in value)
    if isinstance(value, dict):
        return structure.like(value, {k: _substituted(v, values) for k, v in value.items()})
    if type(value) is types.FunctionType and value.__closure__ and _traced_inputs(value):
        cells = tuple(types.CellType() if v is _EMPTY_CELL else
                      types.CellType(_substituted(v, values)) for v in _closure_values(value))
        fn = types.FunctionType(value.__code__, value.__globals__, value.__name__,
                                value.__defaults__, cells)
        fn.__kwdefaults__ = value.__kwdefaults__
        fn.__qualname__ = value.__qualname__
        return fn
    return value


def _stand_in(tensor, fill):
    """An eager tensor like `tensor` (unknown dims of size `fill`) filled with `fill`."""
    shape = [] if tensor.shape.rank is None else [d or fill for d in tensor.shape]
    with tf.init_scope():
        value = str(fill) if tensor.dtype.name == "string" else tf.cast(fill, tensor.dtype)
        return tf.fill(shape, value)


def _relaxed(a, b):
    """Spec a, with the dims that differ from spec b's unknown."""
    if not isinstance(a, tf.TensorSpec) or not isinstance(b, tf.TensorSpec):
        return a
    if a.shape.rank != b.shape.rank:
        return tf.TensorSpec(None, a.dtype)
    return tf.TensorSpec([x if x == y else None for x, y in zip(a.shape, b.shape)], a.dtype)


# ------------------------------------------------------------------ sources

def _source_structure(value):
    """A source's structure: tuples/dicts nest, anything else (lists too) is one tensor."""
    if isinstance(value, dict):
        return structure.like(value, {key: _source_structure(value[key]) for key in value})
    if isinstance(value, tuple):
        if hasattr(value, "_fields"):
            return type(value)(*[_source_structure(v) for v in value])
        return tuple(_source_structure(v) for v in value)
    return structure.to_leaf(value)


def _row(leaf, index):
    """leaf[index] as an array (indexing an object vector gives the bare bytes object), or
    as a leaf of the composite tensor's row type."""
    if structure.is_composite(leaf):
        return structure.to_leaf(leaf._row(index))
    row = leaf[index]
    if leaf.dtype.kind == "O" and leaf.ndim == 1:
        row = np.empty((), dtype=object)
        row[()] = leaf[index]
    return row


class _TensorSliceDataset(Dataset):
    def __init__(self, tensors):
        self._tensors = _source_structure(tensors)
        leaves = structure.flatten(self._tensors)
        if not leaves:
            raise errors.InvalidArgumentError(
                "from_tensor_slices: expected at least one tensor, received an empty structure",
                "from_tensor_slices")
        for leaf in leaves:
            if structure.rank_of(leaf) == 0:
                raise errors.InvalidArgumentError(
                    "from_tensor_slices: every component needs rank >= 1 to be sliced, "
                    "received a scalar", "from_tensor_slices")
        sizes = [structure.length_of(leaf) for leaf in leaves]
        if len(set(sizes)) > 1:
            raise errors.InvalidArgumentError(
                "from_tensor_slices: all components must have the same size in the first "
                f"dimension, received shapes {[tuple(leaf.shape) for leaf in leaves]}",
                "from_tensor_slices")
        self._size = int(sizes[0])
        self._spec = structure.map_structure(
            lambda leaf: structure.spec_of(leaf, drop_first=True), self._tensors)

    def _iterate(self):
        tensors = self._tensors
        for i in range(self._size):
            yield structure.map_structure(lambda leaf, i=i: _row(leaf, i), tensors)

    def _slices(self, batch_size, drop_remainder):
        """Batches cut directly from the arrays (the fast path of batch())."""
        stop = self._size - self._size % batch_size if drop_remainder else self._size
        for start in range(0, stop, batch_size):
            end = min(start + batch_size, stop)
            yield structure.map_structure(
                lambda leaf, s=start, e=end: leaf._rows(s, e) if structure.is_composite(leaf)
                else leaf[s:e], self._tensors)

    def _cardinality(self):
        return self._size


class _TensorDataset(Dataset):
    def __init__(self, tensors):
        self._tensors = _source_structure(tensors)
        self._spec = structure.map_structure(structure.spec_of, self._tensors)

    def _iterate(self):
        yield self._tensors

    def _cardinality(self):
        return 1


class _ElementsDataset(Dataset):
    """A fixed list of elements (the windows made by `window`)."""

    def __init__(self, elements, spec):
        self._elements = elements
        self._spec = spec

    def _iterate(self):
        return iter(self._elements)

    def _cardinality(self):
        return len(self._elements)


class _RangeDataset(Dataset):
    def __init__(self, *args, output_type=dtypes.int64):
        if not 1 <= len(args) <= 3:
            raise errors.InvalidArgumentError(
                f"range: expected 1 to 3 arguments (start, stop, step), received {len(args)}",
                "range")
        values = [None if a is None else _count(a) for a in args]
        if len(values) == 1:
            values = [0] + values
        start, stop = values[0], values[1]
        step = values[2] if len(values) == 3 else 1
        if step == 0:
            raise errors.InvalidArgumentError("range: step must not be 0", "range")
        self._start, self._stop, self._step = start, stop, step
        self._dtype = structure.numpy_dtype(output_type)
        self._spec = tf.TensorSpec((), output_type)

    def _iterate(self):
        value, dtype = self._start, self._dtype
        while self._stop is None or (value < self._stop if self._step > 0
                                     else value > self._stop):
            yield np.asarray(value, dtype=dtype)
            value += self._step

    def _cardinality(self):
        if self._stop is None:
            return INFINITE_CARDINALITY
        return len(range(self._start, self._stop, self._step))


def _signature_structure(signature):
    """A user's output_signature with lists read as tuples (tf.nest treats both as nests)."""
    if isinstance(signature, dict):
        return {k: _signature_structure(v) for k, v in signature.items()}
    if isinstance(signature, (list, tuple)) and not hasattr(signature, "_fields"):
        return tuple(_signature_structure(v) for v in signature)
    if not isinstance(signature, tf.TensorSpec) and not structure.is_composite_spec(signature):
        raise TypeError("from_generator: every component of `output_signature` must be a "
                        "tf.TensorSpec, tf.RaggedTensorSpec or tf.SparseTensorSpec, received "
                        f"{signature!r} of type {type(signature).__name__}")
    return signature


def _legacy_signature(output_types, output_shapes):
    if isinstance(output_types, dict):
        return {k: _legacy_signature(output_types[k],
                                     None if output_shapes is None else output_shapes[k])
                for k in output_types}
    if isinstance(output_types, (list, tuple)):
        shapes = output_shapes if output_shapes is not None else [None] * len(output_types)
        if len(shapes) != len(output_types):
            raise ValueError("from_generator: `output_shapes` must have the same structure "
                             f"as `output_types`, received {output_shapes!r} for "
                             f"{output_types!r}")
        return tuple(_legacy_signature(t, s) for t, s in zip(output_types, shapes))
    return tf.TensorSpec(output_shapes, output_types)


def _match_signature(value, spec):
    """One yielded value converted to the signature's structure, dtypes and shapes."""
    if isinstance(spec, dict):
        if not isinstance(value, dict) or set(value) != set(spec):
            raise _structure_mismatch(value, spec)
        return {key: _match_signature(value[key], spec[key]) for key in spec}
    if isinstance(spec, tuple):
        if not isinstance(value, (tuple, list)) or len(value) != len(spec):
            raise _structure_mismatch(value, spec)
        return tuple(_match_signature(v, s) for v, s in zip(value, spec))
    if structure.is_composite_spec(spec):
        # (TF's rule: the generator yields the composite itself, of a compatible spec)
        if not spec.is_compatible_with(value):
            found = value._type_spec if structure.is_composite(value) else value
            raise TypeError(f"`generator` yielded an element of {found!r} where an element "
                            f"of {spec!r} was expected.")
        return value
    try:
        leaf = _generator_leaf(value, spec.dtype)
    except (TypeError, ValueError, OverflowError) as error:
        raise TypeError("`generator` yielded an element that could not be converted to the "
                        f"expected type. The expected type was {spec.dtype.name}, but the "
                        f"yielded element was {value!r}.") from error
    if structure.dtype_of(leaf) is not spec.dtype:
        raise TypeError("`generator` yielded an element that could not be converted to the "
                        f"expected type. The expected type was {spec.dtype.name}, but the "
                        f"yielded element was {value!r}.")
    if not spec.shape.is_compatible_with(tf.TensorShape(leaf.shape)):
        raise errors.InvalidArgumentError(  # (a ValueError too)
            f"`generator` yielded an element of shape {tuple(leaf.shape)} where an element of "
            f"shape {_shape_text(spec.shape)} was expected.", "from_generator")
    return leaf


def _generator_leaf(value, dtype):
    """A yielded leaf as an array of `dtype`. As in TensorFlow, a number or text that the
    tensor rules refuse (1.5 for int32, "3") is converted by NumPy's casting."""
    try:
        return structure.to_leaf(value, dtype=dtype)
    except (TypeError, ValueError):
        if not (dtype.is_integer or dtype.is_floating or dtype.is_bool):
            raise
        return np.asarray(value, dtype=dtype.as_numpy_dtype)


def _generator_arg(value):
    """One of from_generator's `args` as the generator receives it in TensorFlow (the
    tensor's .numpy()): a scalar is a NumPy scalar (bytes for a string), else an array."""
    leaf = structure.to_leaf(value)
    if isinstance(leaf, np.ndarray) and leaf.ndim == 0:
        item = leaf[()]
        return bytes(item) if isinstance(item, bytes) else item
    return leaf


def _shape_text(shape):
    if shape.rank is None:
        return "<unknown>"
    return str(tuple(shape.as_list()))


def _structure_mismatch(value, spec):
    expected = structure.map_structure(lambda s: s.dtype, spec)
    return TypeError("`generator` yielded an element that did not match the expected "
                     f"structure. The expected structure was {expected}, but the yielded "
                     f"element was {value!r}.")


class _GeneratorDataset(Dataset):
    def __init__(self, generator, output_types, output_shapes, args, output_signature):
        if not callable(generator):
            raise TypeError("from_generator: `generator` must be a callable that returns an "
                            f"iterator, received {type(generator).__name__}")
        if output_signature is not None:
            if output_types is not None or output_shapes is not None:
                raise TypeError("from_generator: pass either `output_signature` or the "
                                "deprecated `output_types`/`output_shapes`, not both")
            signature = _signature_structure(output_signature)
        elif output_types is not None:
            signature = _legacy_signature(output_types, output_shapes)
        else:
            raise TypeError("from_generator: `output_signature` must be given (or the "
                            "deprecated `output_types`)")
        self._generator = generator
        self._args = tuple(_generator_arg(a) for a in (args or ()))
        self._spec = signature

    def _iterate(self):
        iterator = iter(self._generator(*self._args))
        try:
            for value in iterator:
                yield _match_signature(value, self._spec)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()


# ------------------------------------------------------------------ combining datasets

def _check_dataset(op, value):
    if not isinstance(value, Dataset):
        raise TypeError(f"{op}: expected a tf.data.Dataset, received {type(value).__name__}")
    return value


class _ZipDataset(Dataset):
    def __init__(self, datasets):
        if isinstance(datasets, list):
            datasets = tuple(datasets)
        structure.map_structure(lambda d: _check_dataset("zip", d), datasets)
        self._datasets = datasets

    def _inputs(self):
        return structure.flatten(self._datasets)

    def _compute_spec(self):
        return structure.map_structure(lambda d: d.element_spec, self._datasets)

    def _iterate(self):
        datasets = structure.flatten(self._datasets)
        iterators = [iter(d._iterate()) for d in datasets]
        try:
            while True:
                try:
                    values = [next(it) for it in iterators]
                except StopIteration:
                    return
                yield structure.pack_as(self._datasets, values)
        finally:
            for it in iterators:
                _close(it)

    def _cardinality(self):
        # As tf.data: one input of unknown length makes the zip's length unknown.
        sizes = [d._cardinality() for d in structure.flatten(self._datasets)]
        if UNKNOWN_CARDINALITY in sizes:
            return UNKNOWN_CARDINALITY
        finite = [s for s in sizes if s >= 0]
        return min(finite) if finite else INFINITE_CARDINALITY


def _close(iterator):
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


def _most_specific_common(a, b):
    if isinstance(a, DatasetSpec) or a.dtype is not b.dtype:
        raise TypeError(f"concatenate: incompatible element types {a!r} and {b!r}")
    if a.shape.rank is None or b.shape.rank is None or a.shape.rank != b.shape.rank:
        return tf.TensorSpec(None, a.dtype)
    dims = [x if x == y else None for x, y in zip(a.shape.as_list(), b.shape.as_list())]
    return tf.TensorSpec(dims, a.dtype)


class _ConcatenateDataset(Dataset):
    def __init__(self, first, second):
        self._first = first
        self._second = _check_dataset("concatenate", second)

    def _inputs(self):
        return [self._first, self._second]

    def _compute_spec(self):
        a, b = self._first.element_spec, self._second.element_spec
        if not structure.same_structure(a, b):
            raise TypeError(f"concatenate: the two datasets have different structures: {a} "
                            f"and {b}")
        return structure.pack_as(a, [_most_specific_common(x, y) for x, y in
                                     zip(structure.flatten(a), structure.flatten(b))])

    def _iterate(self):
        self._compute_spec()
        yield from self._first._iterate()
        yield from self._second._iterate()

    def _cardinality(self):
        sizes = [self._first._cardinality(), self._second._cardinality()]
        if INFINITE_CARDINALITY in sizes:
            return INFINITE_CARDINALITY
        if UNKNOWN_CARDINALITY in sizes:
            return UNKNOWN_CARDINALITY
        return sum(sizes)


# ------------------------------------------------------------------ per-element work

class _UnaryDataset(Dataset):
    def __init__(self, input_dataset):
        self._input = input_dataset

    def _inputs(self):
        return [self._input]

    def _cardinality(self):
        return self._input._cardinality()

    def _compute_spec(self):
        return self._input.element_spec

    def _iterate(self):
        return self._input._iterate()


class _OptionsDataset(_UnaryDataset):
    """The input, with tf.data.Options set on it (see Dataset.with_options)."""

    def __init__(self, input_dataset, options):
        super().__init__(input_dataset)
        self._own_options = options

    def options(self):
        return super().options().merge(self._own_options)


# ------------------------------------------------------------------ specs of user functions

class _UntraceableError(Exception):
    """A user function whose output spec tracing cannot tell."""


def _traced_spec(fn, input_spec):
    """The spec of `fn`'s output, from one call on symbolic tensors shaped as `input_spec`,
    as TF traces a map function: no data is read and no op runs (a Variable's assign_add is
    a graph node, not an update). Dimensions that depend on the data come out None (the
    length of tf.range(n)). Raises _UntraceableError for a function that needs values (.numpy(),
    a Python `if` on a tensor, NumPy calls) or returns a Dataset."""
    from tensorflux.context import context
    from tensorflux.graph.ir import Graph

    specs = structure.flatten(input_spec)
    if input_spec is None or not all(isinstance(s, tf.TensorSpec)
                                     or structure.is_composite_spec(s) for s in specs):
        raise _UntraceableError("the input has no TensorSpec structure")
    graph = Graph(name="map_spec", outer=context.graph)
    saved_tapes, saved_graph = context.tapes, context.graph
    context.tapes, context.graph = [], graph

    def placeholder(spec):
        if isinstance(spec, tf.TensorSpec):
            return graph.placeholder(spec.shape, spec.dtype)
        return spec._from_components([placeholder(c) for c in spec._component_specs])

    try:
        args = structure.pack_as(input_spec, [placeholder(s) for s in specs])
        return _output_spec(_run_user(fn, args))
    except _UntraceableError:
        raise
    except Exception as error:  # any failure on symbolic values: the caller runs the data
        raise _UntraceableError(str(error)) from error
    finally:
        context.tapes, context.graph = saved_tapes, saved_graph


def _output_spec(value):
    """The spec of a traced output, nested as structure.to_numpy_structure nests elements."""
    if isinstance(value, list):
        value = tuple(value)
    if isinstance(value, dict):
        return structure.like(value, {key: _output_spec(value[key]) for key in value})
    if isinstance(value, tuple):
        specs = [_output_spec(v) for v in value]
        return type(value)(*specs) if hasattr(value, "_fields") else tuple(specs)
    if isinstance(value, Dataset):
        raise _UntraceableError("a Dataset output")
    if _is_dense_tensor(value):
        return tf.TensorSpec(value.shape, value.dtype)
    if structure.is_composite(value):
        return value._type_spec
    return structure.spec_of(structure.to_leaf(value))  # a Python or NumPy constant


_STASH_LOCK = threading.Lock()


class _FirstElementSpec:
    """For a dataset whose spec may need its first element (a user function tracing cannot
    follow): that element is kept with the pass that made it, and the next pass starts with
    them, so no generator or user function runs twice for the spec and nothing is lost."""

    _stash = None

    def _spec_from_first_element(self):
        source = iter(self._generate())
        try:
            first = next(source)
        except StopIteration:
            _close(source)
            return None
        except BaseException:
            _close(source)
            raise
        with _STASH_LOCK:
            stale, self._stash = self._stash, (first, source)
        if stale is not None:
            _close(stale[1])
        return structure.map_structure(structure.spec_of, first)

    def _iterate(self):
        with _STASH_LOCK:
            stash, self._stash = self._stash, None
        if stash is None:
            yield from self._generate()
            return
        first, source = stash
        try:
            yield first
            yield from source
        finally:
            _close(source)


class _MapDataset(_FirstElementSpec, _UnaryDataset):
    def __init__(self, input_dataset, map_func, num_parallel_calls, deterministic):
        super().__init__(input_dataset)
        if not callable(map_func):
            raise TypeError(f"map: `map_func` must be callable, received "
                            f"{type(map_func).__name__}")
        self._fn = _bound_now(map_func)
        self._threads = None if num_parallel_calls is None else _threads_for(num_parallel_calls)
        self._deterministic = None if deterministic is None else bool(deterministic)

    def _compute_spec(self):
        try:
            return _traced_spec(self._fn, self._input.element_spec)
        except _UntraceableError:
            return self._spec_from_first_element()

    def _apply(self, element):
        return structure.to_numpy_structure(_call_user(self._fn, element))

    def _generate(self):
        source = iter(self._input._iterate())
        if self._threads is None:
            try:
                for element in source:
                    yield self._apply(element)
            finally:
                _close(source)
            return
        # Unset here, the order follows the pipeline's Options (deterministic by default).
        deterministic = self._deterministic
        if deterministic is None:
            options = active_options()
            deterministic = options is None or options.deterministic is not False
        threads = _autotuned_threads() if self._threads == AUTOTUNE else self._threads
        yield from parallel_map_iterator(source, self._apply, threads,
                                         deterministic=deterministic, in_flight=2 * threads)


class _FilterDataset(_UnaryDataset):
    def __init__(self, input_dataset, predicate):
        super().__init__(input_dataset)
        self._predicate = _bound_now(predicate)

    def _keep(self, element):
        result = _call_user(self._predicate, element)
        value = np.asarray(result._numpy() if _is_dense_tensor(result) else result)
        if value.shape != () or value.dtype != np.bool_:
            raise errors.InvalidArgumentError(
                "filter: `predicate` must return a scalar boolean tensor, received dtype "
                f"{value.dtype} and shape {value.shape}", "filter")
        return bool(value)

    def _iterate(self):
        source = iter(self._input._iterate())
        try:
            for element in source:
                if self._keep(element):
                    yield element
        finally:
            _close(source)

    def _cardinality(self):
        size = self._input._cardinality()
        return INFINITE_CARDINALITY if size == INFINITE_CARDINALITY else UNKNOWN_CARDINALITY


# ------------------------------------------------------------------ batching

def _stack(leaves, op, spec=None):
    """Elements' leaves as one batch leaf: NumPy stacking, or the stacking of a composite
    `spec` (by default, that of composite leaves)."""
    first = leaves[0]
    if spec is None and structure.is_composite(first):
        spec = first._type_spec
    if structure.is_composite_spec(spec):
        return spec._stack([structure.to_tensor(leaf) for leaf in leaves])
    for index, leaf in enumerate(leaves[1:], start=1):
        if leaf.shape != first.shape:
            raise errors.InvalidArgumentError(
                f"{op}: cannot batch tensors with different shapes in a component: the first "
                f"element had shape {list(first.shape)} and element {index} had shape "
                f"{list(leaf.shape)}", op)
    return np.stack(leaves)


def _batched_spec(spec, batch_dim):
    def widen(s):
        if isinstance(s, DatasetSpec):
            raise TypeError("batch: cannot batch Dataset-valued elements")
        if structure.is_composite_spec(s):
            return s._batch(batch_dim)
        dims = None if s.shape.rank is None else [batch_dim] + s.shape.as_list()
        return tf.TensorSpec(dims, s.dtype)

    return structure.map_structure(widen, spec)


def _batch_cardinality(size, batch_size, drop_remainder):
    if size < 0:
        return size
    return size // batch_size if drop_remainder else -(-size // batch_size)


class _BatchDataset(_UnaryDataset):
    def __init__(self, input_dataset, batch_size, drop_remainder):
        super().__init__(input_dataset)
        self._batch_size = _positive("batch", "batch_size", batch_size)
        self._drop_remainder = bool(drop_remainder)

    def _compute_spec(self):
        return _batched_spec(self._input.element_spec,
                             self._batch_size if self._drop_remainder else None)

    # Whether batches of a from_tensor_slices input may be sliced from its arrays at once
    # (a subclass whose _combine does more, as padding, says no).
    _slices_directly = True

    def _iterate(self):
        if self._slices_directly and isinstance(self._input, _TensorSliceDataset):
            yield from self._input._slices(self._batch_size, self._drop_remainder)
            return
        source = iter(self._input._iterate())
        try:
            while True:
                elements = []
                for element in source:
                    elements.append(element)
                    if len(elements) == self._batch_size:
                        break
                if not elements or (len(elements) < self._batch_size and self._drop_remainder):
                    return
                yield self._combine(elements)
                if len(elements) < self._batch_size:
                    return
        finally:
            _close(source)

    def _combine(self, elements):
        columns = zip(*[structure.flatten(e) for e in elements])
        return structure.pack_as(elements[0], [_stack(list(c), "batch") for c in columns])

    def _cardinality(self):
        return _batch_cardinality(self._input._cardinality(), self._batch_size,
                                  self._drop_remainder)


def _pad_value(value, dtype):
    if value is None:
        return b"" if dtype.kind == "O" else 0
    return np.asarray(structure.to_leaf(value)).item() if not isinstance(value, bytes) else value


class _PaddedBatchDataset(_BatchDataset):
    _slices_directly = False

    def __init__(self, input_dataset, batch_size, padded_shapes, padding_values,
                 drop_remainder):
        super().__init__(input_dataset, batch_size, drop_remainder)
        self._padded_shapes = padded_shapes
        self._padding_values = padding_values
        _ = self.element_spec  # (its checks, at once as in TF: composites cannot be padded)

    def _per_leaf(self, value, element, what):
        """A per-leaf list from `value`: None, one value for every leaf, or a structure
        mirroring the element's (a padded shape is a leaf, even as a tuple or list)."""
        count = len(structure.flatten(element))
        if value is None:
            return [None] * count
        if what == "padding_values" and not isinstance(value, (tuple, dict)):
            return [value] * count
        found = []

        def walk(given, part):
            if isinstance(part, dict):
                if not isinstance(given, dict) or set(given) != set(part):
                    raise ValueError(f"padded_batch: `{what}` must have the structure of the "
                                     f"elements, received {value!r}")
                for key in part:
                    walk(given[key], part[key])
            elif isinstance(part, tuple):
                if not isinstance(given, (tuple, list)) or len(given) != len(part):
                    raise ValueError(f"padded_batch: `{what}` must have the structure of the "
                                     f"elements, received {value!r}")
                for g, p in zip(given, part):
                    walk(g, p)
            else:
                found.append(given)

        walk(value, element)
        return found

    def _combine(self, elements):
        leaves_per_element = [structure.flatten(e) for e in elements]
        shapes = self._per_leaf(self._padded_shapes, elements[0], "padded_shapes")
        values = self._per_leaf(self._padding_values, elements[0], "padding_values")
        batched = []
        for j, column in enumerate(zip(*leaves_per_element)):
            batched.append(_pad_column(list(column), shapes[j], values[j]))
        return structure.pack_as(elements[0], batched)

    def _compute_spec(self):
        spec = self._input.element_spec
        for leaf in structure.flatten(spec):
            if not isinstance(leaf, tf.TensorSpec):
                raise TypeError("`padded_batch` is only supported for datasets that produce "
                                "tensor elements but type spec of elements in the input "
                                f"dataset is not a subclass of TensorSpec: `{leaf}`.")
        for value, leaf in zip(self._per_leaf(self._padding_values, spec, "padding_values"),
                               structure.flatten(spec)):
            if value is not None:
                _check_padding_value(value, leaf)
        batch_dim = self._batch_size if self._drop_remainder else None
        if self._padded_shapes is None:  # pads to the longest, so known dims stay known
            return _batched_spec(spec, batch_dim)
        shapes = iter(self._per_leaf(self._padded_shapes, spec, "padded_shapes"))
        return structure.map_structure(
            lambda s: tf.TensorSpec([batch_dim] + list(_dims(next(shapes), s)), s.dtype), spec)


def _check_padding_value(value, spec):
    """Raises as TF does for a padding value that is not a scalar, or whose type cannot
    hold in the component's dtype without loss (a float for an integer component, a number
    for a string one); an int for a float component is taken, as NumPy would."""
    array = np.asarray(structure.to_leaf(value))
    if array.shape != ():
        raise ValueError(f"padded_batch: each padding value must be a scalar, received shape "
                         f"{list(array.shape)} for the component {spec}")
    wanted = structure.numpy_dtype(spec.dtype)
    strings = (array.dtype.kind in "OSU", wanted.kind == "O")
    if strings[0] != strings[1] or (
            not strings[0] and not np.can_cast(array.dtype, wanted, "same_kind")):
        raise TypeError(f"padded_batch: the padding value {value!r} (of dtype "
                        f"{tf.as_dtype(array.dtype).name if not strings[0] else 'string'}) "
                        f"does not match the dtype {spec.dtype.name} of its component")


def _dims(shape, spec):
    if shape is None:
        return [None] * (spec.shape.rank or 0)
    if isinstance(shape, tf.TensorShape):
        return shape.as_list()
    if isinstance(shape, int) or _is_dense_tensor(shape) and shape.shape.rank == 0:
        shape = [shape]
    return [None if d is None or int(d) == -1 else int(d) for d in shape]


def _pad_column(column, shape, value):
    rank = column[0].ndim
    for leaf in column:
        if leaf.ndim != rank:
            raise errors.InvalidArgumentError(
                f"padded_batch: all elements of a component must have the same rank, "
                f"received shapes {[list(c.shape) for c in column]}", "padded_batch")
    wanted = _dims(shape, tf.TensorSpec([None] * rank))
    if len(wanted) != rank:
        raise errors.InvalidArgumentError(
            f"padded_batch: padded shape {wanted} does not have the rank of the elements "
            f"(shape {list(column[0].shape)})", "padded_batch")
    largest = [max(leaf.shape[d] for leaf in column) for d in range(rank)]
    target = []
    for d in range(rank):
        if wanted[d] is None:
            target.append(largest[d])
        elif wanted[d] < largest[d]:
            raise errors.InvalidArgumentError(
                "padded_batch: attempted to pad to a smaller size than the input element: "
                f"padded shape {wanted}, element shape "
                f"{[int(s) for s in column[largest.index(largest[d])].shape]}", "padded_batch")
        else:
            target.append(wanted[d])
    dtype = column[0].dtype
    out = np.full([len(column)] + target, _pad_value(value, dtype), dtype=dtype)
    for i, leaf in enumerate(column):
        out[(i,) + tuple(slice(0, s) for s in leaf.shape)] = leaf
    return out


class _UnbatchDataset(_UnaryDataset):
    def _compute_spec(self):
        def narrow(s):
            if structure.is_composite_spec(s):
                return s._unbatch()
            if s.shape.rank == 0:
                raise ValueError("Cannot unbatch an input with scalar components: unbatch "
                                 f"needs elements of rank >= 1, received {s}")
            return tf.TensorSpec(None if s.shape.rank is None else s.shape.as_list()[1:],
                                 s.dtype)

        return structure.map_structure(narrow, self._input.element_spec)

    def _iterate(self):
        source = iter(self._input._iterate())
        try:
            for element in source:
                leaves = structure.flatten(element)
                sizes = {structure.length_of(leaf) if structure.rank_of(leaf) else None
                         for leaf in leaves}
                if None in sizes:
                    raise ValueError("Cannot unbatch an input with scalar components, "
                                     f"received shapes {[list(leaf.shape) for leaf in leaves]}")
                if len(sizes) != 1:
                    raise errors.InvalidArgumentError(
                        "unbatch: every component needs the same first dimension, received "
                        f"shapes {[list(leaf.shape) for leaf in leaves]}", "unbatch")
                for i in range(sizes.pop()):
                    yield structure.map_structure(lambda leaf, i=i: _row(leaf, i), element)
        finally:
            _close(source)

    def _cardinality(self):
        size = self._input._cardinality()
        if size < 0:
            return size
        # Known when every component has the same static batch dimension (as TF).
        shapes = [getattr(s, "shape", None) for s in structure.flatten(self._input.element_spec)]
        leading = {shape.as_list()[0] if shape is not None and shape.rank else None
                   for shape in shapes}
        if len(leading) == 1 and None not in leading:
            return size * leading.pop()
        return UNKNOWN_CARDINALITY


# ------------------------------------------------------------------ order and count

class _ShuffleDataset(_UnaryDataset):
    def __init__(self, input_dataset, buffer_size, seed, reshuffle_each_iteration):
        super().__init__(input_dataset)
        self._buffer_size = _positive("shuffle", "buffer_size", buffer_size)
        global_seed, op_seed = tf.random.get_seed(None if seed is None else _count(seed))
        if global_seed is None:
            # Unseeded: one random key per dataset, so reshuffle_each_iteration=False repeats.
            self._key = [secrets.randbits(63)]
        else:
            self._key = [global_seed & (2**63 - 1), op_seed & (2**63 - 1)]
        self._reshuffle = bool(reshuffle_each_iteration)
        self._passes = 0
        self._lock = threading.Lock()

    def _rng(self):
        with self._lock:
            epoch = self._passes if self._reshuffle else 0
            self._passes += 1
        return np.random.Generator(np.random.PCG64(self._key + [epoch]))

    def _iterate(self):
        rng = self._rng()
        source = iter(self._input._iterate())
        buffer = []
        try:
            for element in source:
                buffer.append(element)
                if len(buffer) == self._buffer_size:
                    break
            while buffer:
                index = int(rng.integers(len(buffer)))
                element = buffer[index]
                try:
                    buffer[index] = next(source)
                except StopIteration:
                    buffer[index] = buffer[-1]
                    buffer.pop()
                yield element
        finally:
            _close(source)


class _RepeatDataset(_UnaryDataset):
    def __init__(self, input_dataset, count):
        super().__init__(input_dataset)
        self._count = -1 if count is None else _count(count)

    def _iterate(self):
        done = 0
        while self._count < 0 or done < self._count:
            empty = True
            source = iter(self._input._iterate())
            try:
                for element in source:
                    empty = False
                    yield element
            finally:
                _close(source)
            done += 1
            if empty:
                return

    def _cardinality(self):
        size = self._input._cardinality()
        if self._count < 0:  # forever: infinite unless known to be empty, as in TF
            return 0 if size == 0 else INFINITE_CARDINALITY
        if size < 0:
            return 0 if self._count == 0 else size
        return size * self._count


class _TakeDataset(_UnaryDataset):
    def __init__(self, input_dataset, count):
        super().__init__(input_dataset)
        self._count = _count(count)

    def _iterate(self):
        if self._count == 0:
            return
        source = iter(self._input._iterate())
        try:
            for taken, element in enumerate(source, start=1):
                yield element
                if taken == self._count:
                    return
        finally:
            _close(source)

    def _cardinality(self):
        size = self._input._cardinality()
        if self._count < 0:
            return size
        if size == INFINITE_CARDINALITY:
            return self._count
        if size == UNKNOWN_CARDINALITY:
            return UNKNOWN_CARDINALITY
        return min(size, self._count)


class _SkipDataset(_UnaryDataset):
    def __init__(self, input_dataset, count):
        super().__init__(input_dataset)
        self._count = _count(count)

    def _iterate(self):
        source = iter(self._input._iterate())
        try:
            skipped = 0
            for element in source:
                if self._count < 0 or skipped < self._count:
                    skipped += 1
                    continue
                yield element
        finally:
            _close(source)

    def _cardinality(self):
        size = self._input._cardinality()
        if size < 0:
            return size
        return 0 if self._count < 0 else max(0, size - self._count)


class _PrefetchDataset(_UnaryDataset):
    def __init__(self, input_dataset, buffer_size):
        super().__init__(input_dataset)
        size = _count(buffer_size)
        if size < 0 and size != AUTOTUNE:
            raise errors.InvalidArgumentError(
                f"prefetch: buffer_size must be >= 0 or tf.data.AUTOTUNE, received {size}",
                "prefetch")
        self._buffer_size = _AUTOTUNE_PREFETCH if size == AUTOTUNE else size

    def _iterate(self):
        if self._buffer_size == 0:
            return self._input._iterate()
        return prefetch_iterator(self._input._iterate, self._buffer_size)


# ------------------------------------------------------------------ caching

class _CacheDataset(_UnaryDataset):
    def __init__(self, input_dataset, filename):
        super().__init__(input_dataset)
        self._filename = os.fspath(filename) if filename else ""
        self._elements = None
        self._lock = threading.Lock()

    @property
    def _path(self):
        name = self._filename
        return name if name.endswith(".npz") else name + ".npz"

    def _iterate(self):
        if self._elements is None and self._filename and os.path.exists(self._path):
            from tensorflux.data import _cache_file

            self._elements = _cache_file.read(self._path)
        if self._elements is not None:
            yield from self._elements
            return
        collected = []
        source = iter(self._input._iterate())
        try:
            for element in source:
                collected.append(element)
                yield element
        finally:
            _close(source)
        with self._lock:
            if self._elements is None:
                if self._filename:
                    from tensorflux.data import _cache_file

                    _cache_file.write(self._path, collected)
                self._elements = collected


# ------------------------------------------------------------------ nested datasets

def _dataset_of(op, value):
    if not isinstance(value, Dataset):
        raise TypeError(f"{op}: `map_func` must return a tf.data.Dataset, received "
                        f"{type(value).__name__}")
    return value


def _default_cycle_length(num_parallel_calls):
    """tf.data's cycle length when none is given (it sets the output order): every CPU;
    with num_parallel_calls=n at most n; with AUTOTUNE calls a third of the CPUs (rounded
    up), leaving threads for the elements it opens ahead."""
    cores = os.cpu_count() or 1
    if num_parallel_calls is None:
        return cores
    if num_parallel_calls == AUTOTUNE:
        return -(-cores // 3)
    return min(int(num_parallel_calls), cores)


class _InterleaveDataset(_FirstElementSpec, _UnaryDataset):
    def __init__(self, input_dataset, map_func, cycle_length, block_length,
                 num_parallel_calls):
        super().__init__(input_dataset)
        self._fn = _bound_now(map_func)
        if cycle_length is None or cycle_length == AUTOTUNE:
            cycle_length = _default_cycle_length(num_parallel_calls)
        self._cycle_length = _positive("interleave", "cycle_length", cycle_length)
        self._block_length = _positive("interleave", "block_length",
                                       1 if block_length is None else block_length)
        self._parallel = num_parallel_calls is not None

    def _compute_spec(self):
        # The inner datasets are made from values, so their spec needs a first element.
        return self._spec_from_first_element()

    def _open(self, element):
        dataset = _dataset_of("interleave", _call_user(self._fn, element))
        if self._parallel:
            return prefetch_iterator(dataset._iterate, self._block_length,
                                     name="tensorflux-interleave")
        return iter(dataset._iterate())

    def _generate(self):
        # tf.data's InterleaveDataset loop, step for step, so the order matches.
        source = iter(self._input._iterate())
        cycle = [None] * self._cycle_length
        index = block = open_count = 0
        end_of_input = False
        try:
            while not end_of_input or open_count > 0:
                if cycle[index] is not None:
                    try:
                        element = next(cycle[index])
                    except StopIteration:
                        cycle[index] = None
                        open_count -= 1
                        index, block = (index + 1) % self._cycle_length, 0
                        continue
                    block += 1
                    if block == self._block_length:
                        index, block = (index + 1) % self._cycle_length, 0
                    yield element
                elif not end_of_input:
                    try:
                        element = next(source)
                    except StopIteration:
                        end_of_input = True
                        continue
                    cycle[index] = self._open(element)
                    open_count += 1
                else:
                    index, block = (index + 1) % self._cycle_length, 0
        finally:
            for it in cycle:
                if it is not None:
                    _close(it)
            _close(source)

    def _cardinality(self):
        size = self._input._cardinality()
        return INFINITE_CARDINALITY if size == INFINITE_CARDINALITY else UNKNOWN_CARDINALITY


class _WindowDataset(_UnaryDataset):
    def __init__(self, input_dataset, size, shift, stride, drop_remainder):
        super().__init__(input_dataset)
        self._size = _positive("window", "size", size)
        self._shift = self._size if shift is None else _positive("window", "shift", shift)
        self._stride = _positive("window", "stride", stride)
        self._drop_remainder = bool(drop_remainder)

    def _compute_spec(self):
        return structure.map_structure(DatasetSpec, self._input.element_spec)

    def _iterate(self):
        span = (self._size - 1) * self._stride + 1
        source = iter(self._input._iterate())
        buffer = collections.deque()  # elements from absolute index `first` on
        first = start = 0
        exhausted = False
        spec = None
        try:
            while True:
                while not exhausted and first + len(buffer) < start + span:
                    try:
                        buffer.append(next(source))
                    except StopIteration:
                        exhausted = True
                while first < start and buffer:
                    buffer.popleft()
                    first += 1
                if first < start:  # the input ended before this window's start
                    return
                picked = [buffer[k] for k in range(0, span, self._stride) if k < len(buffer)]
                if not picked or (len(picked) < self._size and self._drop_remainder):
                    return
                if spec is None:
                    spec = self._input._spec or structure.map_structure(structure.spec_of,
                                                                        picked[0])
                yield self._window(picked, spec)
                start += self._shift
        finally:
            _close(source)

    def _window(self, elements, spec):
        columns = list(zip(*[structure.flatten(e) for e in elements]))
        specs = structure.flatten(spec)
        return structure.pack_as(spec, [_ElementsDataset(list(c), s)
                                        for c, s in zip(columns, specs)])

    def _cardinality(self):
        size = self._input._cardinality()
        if size < 0:
            return size
        if not self._drop_remainder:
            return -(-size // self._shift)
        span = (self._size - 1) * self._stride + 1
        return 0 if size < span else (size - span) // self._shift + 1
