"""The less common tf.data transformations and sources: shard, take_while, unique, rebatch,
group_by_window (and bucket_by_sequence_length on it), scan, ignore_errors, random,
sample_from_datasets / choose_from_datasets, TextLineDataset, list_files, Optional.

Each one is a Dataset subclass of dataset.py's kind: `_iterate` yields host NumPy structures,
`_compute_spec` derives the element spec without reading data, `_cardinality` follows TF.
"""

import bz2
import glob
import gzip
import logging
import os
import zlib

import numpy as np

import tensorflux as tf
from tensorflux import errors
from tensorflux.data import _structure as structure
from tensorflux.data.dataset import (
    INFINITE_CARDINALITY,
    UNKNOWN_CARDINALITY,
    Dataset,
    _call_user,
    _close,
    _count,
    _ElementsDataset,
    _FilterDataset,
    _FirstElementSpec,
    _MapDataset,
    _positive,
    _row,
    _traced_spec,
    _UnaryDataset,
    _UntraceableError,
)

__all__ = ["Optional", "TextLineDataset"]

_LOG = logging.getLogger("tensorflux.data")


def _scalar(op, result, what):
    value = np.asarray(result._numpy() if tf.is_tensor(result) else result)
    if value.shape != () or value.dtype != np.bool_:
        raise errors.InvalidArgumentError(
            f"{op}: `{what}` must return a scalar boolean tensor, received dtype "
            f"{value.dtype} and shape {value.shape}", op)
    return bool(value)


def _unknown_unless_infinite(size):
    return INFINITE_CARDINALITY if size == INFINITE_CARDINALITY else UNKNOWN_CARDINALITY


# ------------------------------------------------------------------ shard, take_while, unique

class ShardDataset(_UnaryDataset):
    def __init__(self, input_dataset, num_shards, index):
        super().__init__(input_dataset)
        self._num_shards, self._index = _count(num_shards), _count(index)
        if self._num_shards <= 0:
            raise errors.InvalidArgumentError(
                "shard: Number of shards must be greater than zero (currently num_shards = "
                f"{self._num_shards}).", "shard")
        if not 0 <= self._index < self._num_shards:
            raise errors.InvalidArgumentError(
                f"shard: Index must be between 0 and {self._num_shards - 1} (currently "
                f"index = {self._index}).", "shard")

    def _iterate(self):
        source = iter(self._input._iterate())
        try:
            for position, element in enumerate(source):
                if position % self._num_shards == self._index:
                    yield element
        finally:
            _close(source)

    def _cardinality(self):
        size = self._input._cardinality()
        if size < 0:
            return size
        return size // self._num_shards + (1 if size % self._num_shards > self._index else 0)


class TakeWhileDataset(_UnaryDataset):
    def __init__(self, input_dataset, predicate):
        super().__init__(input_dataset)
        self._predicate = predicate
        try:
            spec = _traced_spec(predicate, input_dataset.element_spec)
        except _UntraceableError:
            spec = None
        if isinstance(spec, tf.TensorSpec) and (spec.dtype is not tf.bool
                                                 or spec.shape.rank not in (0, None)):
            raise ValueError("Invalid `predicate`. `predicate` must return a `tf.bool` scalar "
                             f"tensor but its return type is {spec}.")

    def _iterate(self):
        source = iter(self._input._iterate())
        try:
            for element in source:
                if not _scalar("take_while", _call_user(self._predicate, element),
                               "predicate"):
                    return
                yield element
        finally:
            _close(source)

    def _cardinality(self):
        return UNKNOWN_CARDINALITY


class UniqueDataset(_UnaryDataset):
    def __init__(self, input_dataset):
        super().__init__(input_dataset)
        spec = input_dataset.element_spec
        if not isinstance(spec, tf.TensorSpec) or spec.dtype not in (tf.int32, tf.int64,
                                                                     tf.string):
            dtype = getattr(spec, "dtype", spec)
            raise TypeError(f"`tf.data.Dataset.unique` does not support type {dtype!r} -- only "
                            "`tf.int32`, `tf.int64`, and `tf.string` are supported.")

    def _iterate(self):
        seen = set()
        source = iter(self._input._iterate())
        try:
            for element in source:
                key = element.item() if element.ndim == 0 else element.tobytes()
                if key not in seen:
                    seen.add(key)
                    yield element
        finally:
            _close(source)

    def _cardinality(self):
        return UNKNOWN_CARDINALITY


# ------------------------------------------------------------------ rebatch

class RebatchDataset(_UnaryDataset):
    """Unbatches the input and batches it again with `batch_size` (an int, or a list of
    sizes used in turn), as TF's RebatchDatasetV2."""

    def __init__(self, input_dataset, batch_size, drop_remainder):
        super().__init__(input_dataset)
        sizes = batch_size if isinstance(batch_size, (list, tuple)) else [batch_size]
        if tf.is_tensor(batch_size) and batch_size.shape.rank == 1:
            sizes = [int(v) for v in batch_size._numpy()]
        self._sizes = [_positive("rebatch", "batch_size", s) for s in sizes]
        if not self._sizes:
            raise errors.InvalidArgumentError("rebatch: batch_size must not be empty",
                                              "rebatch")
        self._drop_remainder = bool(drop_remainder)
        # As TF, at once: scalar elements have no batch dimension to cut (iterating would
        # otherwise yield nothing).
        spec = input_dataset.element_spec
        if any(leaf.shape.rank == 0 for leaf in structure.flatten(spec)):
            raise ValueError("rebatch: the elements must have rank >= 1 (a batch dimension to "
                             f"re-cut), but this dataset has scalar elements ({spec}); "
                             "batch it first, e.g. with `.batch(n)`.")

    def _compute_spec(self):
        fixed = (self._sizes[0] if self._drop_remainder and len(set(self._sizes)) == 1
                 else None)

        def respec(spec):
            dims = None if spec.shape.rank is None else [fixed] + spec.shape.as_list()[1:]
            return tf.TensorSpec(dims, spec.dtype)

        return structure.map_structure(respec, self._input.element_spec)

    def _rows(self):
        source = iter(self._input._iterate())
        try:
            for element in source:
                leaves = structure.flatten(element)
                if any(leaf.ndim == 0 for leaf in leaves):  # a shape the spec left unknown
                    raise errors.InvalidArgumentError(
                        "rebatch: every element component must have rank >= 1, received a "
                        "scalar", "rebatch")
                for i in range(leaves[0].shape[0] if leaves else 0):
                    yield structure.map_structure(lambda leaf, i=i: _row(leaf, i), element)
        finally:
            _close(source)

    def _iterate(self):
        rows = self._rows()
        turn = 0
        try:
            while True:
                size = self._sizes[turn % len(self._sizes)]
                turn += 1
                batch = [row for _, row in zip(range(size), rows)]
                if not batch or (len(batch) < size and self._drop_remainder):
                    return
                columns = zip(*[structure.flatten(e) for e in batch])
                yield structure.pack_as(batch[0], [np.stack(list(c)) for c in columns])
                if len(batch) < size:
                    return
        finally:
            rows.close()

    def _cardinality(self):
        return UNKNOWN_CARDINALITY


# ------------------------------------------------------------------ group_by_window

def _key_of(result):
    value = np.asarray(result._numpy() if tf.is_tensor(result) else result)
    if value.shape != () or value.dtype != np.int64:
        raise errors.InvalidArgumentError(
            "group_by_window: `key_func` must return a scalar tf.int64 tensor, received dtype "
            f"{value.dtype} and shape {value.shape}", "group_by_window")
    return int(value)


class GroupByWindowDataset(_FirstElementSpec, _UnaryDataset):
    """Groups elements by `key_func`; a group that reaches its window size (or any group left
    when the input ends, in key order) goes to `reduce_func(key, window_dataset)`."""

    def __init__(self, input_dataset, key_func, reduce_func, window_size, window_size_func,
                 spec_func=None):
        super().__init__(input_dataset)
        # spec_func(empty_window): the element spec for any key (for a reduce_func whose
        # static shapes depend on the key, which TF's tracing would leave unknown).
        self._spec_func = spec_func
        if (window_size is None) == (window_size_func is None):
            raise ValueError("Either the `window_size` argument or the `window_size_func` "
                             "argument must be specified.")
        if window_size is not None:
            size = _positive("group_by_window", "window_size", window_size)
            window_size_func = lambda key: size  # noqa: E731 - one constant rule
        self._key_func, self._reduce_func = key_func, reduce_func
        self._window_size_func = window_size_func

    def _compute_spec(self):
        # reduce_func on an empty window of the input's spec: its datasets know their spec.
        try:
            empty = _ElementsDataset([], self._input.element_spec)
            if self._spec_func is not None:
                return self._spec_func(empty)
            result = self._reduce_func(tf.constant(0, tf.int64), empty)
            spec = result.element_spec if isinstance(result, Dataset) else None
        except Exception:  # a reduce_func that needs values: fall back on the first element
            spec = None
        return spec if spec is not None else self._spec_from_first_element()

    def _window_size(self, key):
        size = self._window_size_func(tf.constant(key, tf.int64))
        return _positive("group_by_window", "window_size", size)

    def _reduce(self, key, window):
        result = self._reduce_func(tf.constant(key, tf.int64),
                                   _ElementsDataset(window, self._input.element_spec))
        if not isinstance(result, Dataset):
            raise TypeError("group_by_window: `reduce_func` must return a tf.data.Dataset, "
                            f"received {type(result).__name__}")
        inner = iter(result._iterate())
        try:
            yield from inner
        finally:
            _close(inner)

    def _generate(self):
        groups, sizes = {}, {}
        source = iter(self._input._iterate())
        try:
            for element in source:
                key = _key_of(_call_user(self._key_func, element))
                if key not in sizes:
                    sizes[key] = self._window_size(key)
                groups.setdefault(key, []).append(element)
                if len(groups[key]) == sizes[key]:
                    yield from self._reduce(key, groups.pop(key))
        finally:
            _close(source)
        for key in sorted(groups):
            yield from self._reduce(key, groups.pop(key))

    def _cardinality(self):
        return _unknown_unless_infinite(self._input._cardinality())


def bucket_by_sequence_length(dataset, element_length_func, bucket_boundaries,
                              bucket_batch_sizes, padded_shapes, padding_values,
                              pad_to_bucket_boundary, no_padding, drop_remainder):
    """TF's bucket_by_sequence_length: group_by_window on the bucket of each element's length,
    each group padded-batched with its bucket's batch size."""
    boundaries = [int(b) for b in bucket_boundaries]
    batch_sizes = [int(b) for b in bucket_batch_sizes]
    if len(batch_sizes) != len(boundaries) + 1:
        raise ValueError("`len(bucket_batch_sizes)` must equal `len(bucket_boundaries) + 1` "
                         f"but `len(bucket_batch_sizes)={len(batch_sizes)}` and "
                         f"`len(bucket_boundaries)={len(boundaries)}`.")
    if boundaries != sorted(boundaries):
        raise ValueError(f"`bucket_boundaries` must be sorted, received {boundaries}")

    def bucket_of(*args):
        length = args[0] if len(args) == 1 else args
        length = element_length_func(*length) if len(args) > 1 else element_length_func(length)
        length = int(np.asarray(length._numpy() if tf.is_tensor(length) else length))
        bucket = int(np.searchsorted(boundaries, length, side="right"))
        return tf.constant(bucket, tf.int64)

    def batch_window(window, size, filler):
        if no_padding:
            return window.batch(size, drop_remainder=drop_remainder)
        shapes = padded_shapes
        if shapes is None:
            shapes = structure.map_structure(lambda s: s.shape, window.element_spec)
        shapes = structure.map_structure(
            lambda s: _fill_unknown(s, filler), _shape_structure(shapes))
        return window.padded_batch(size, shapes, padding_values, drop_remainder=drop_remainder)

    def batch_bucket(bucket_id, window):
        bucket = int(bucket_id.numpy())
        filler = None
        if pad_to_bucket_boundary and not no_padding:
            if bucket == len(boundaries):
                raise errors.InvalidArgumentError(
                    "When pad_to_bucket_boundary=True, elements must have length < "
                    "max(bucket_boundaries).", "bucket_by_sequence_length")
            filler = boundaries[bucket] - 1
        return batch_window(window, batch_sizes[bucket], filler)

    def spec_of_any_bucket(window):
        # As TF traces it: the batch size and the boundary padded to depend on the bucket.
        spec = batch_window(window, 1, None).element_spec
        return structure.map_structure(
            lambda s: tf.TensorSpec([None] + s.shape.as_list()[1:], s.dtype), spec)

    return GroupByWindowDataset(dataset, bucket_of, batch_bucket, None,
                                lambda bucket_id: batch_sizes[int(bucket_id.numpy())],
                                spec_func=spec_of_any_bucket)


def _shape_structure(shapes):
    """Padded shapes nested as elements are (a list of dims is one shape, not a nest)."""
    if isinstance(shapes, dict):
        return {k: _shape_structure(v) for k, v in shapes.items()}
    if isinstance(shapes, tuple) and not all(d is None or isinstance(d, int) for d in shapes):
        return tuple(_shape_structure(s) for s in shapes)
    return _ShapeLeaf(shapes)


class _ShapeLeaf:
    def __init__(self, shape):
        self.shape = shape


def _fill_unknown(leaf, filler):
    shape = leaf.shape if isinstance(leaf, _ShapeLeaf) else leaf
    dims = tf.TensorShape(shape).as_list()
    return [filler if d is None and filler is not None else (-1 if d is None else d)
            for d in dims]


# ------------------------------------------------------------------ scan

class ScanDataset(_FirstElementSpec, _UnaryDataset):
    """Carries a state through the elements: `scan_func(state, element)` returns
    `(new_state, output)`."""

    def __init__(self, input_dataset, initial_state, scan_func):
        super().__init__(input_dataset)
        self._initial = structure.to_numpy_structure(initial_state)
        self._fn = scan_func

    def _compute_spec(self):
        state_spec = structure.map_structure(structure.spec_of, self._initial)
        try:
            spec = _traced_spec(lambda state, element: self._fn(state, element),
                                (state_spec, self._input.element_spec))
        except _UntraceableError:
            return self._spec_from_first_element()
        if not isinstance(spec, tuple) or len(spec) != 2:
            raise TypeError("scan: `scan_func` must return a pair (new_state, output_element)")
        return spec[1]

    def _generate(self):
        state = self._initial
        source = iter(self._input._iterate())
        try:
            for element in source:
                result = self._fn(structure.to_tensor_structure(state),
                                  structure.to_tensor_structure(element))
                if not isinstance(result, (tuple, list)) or len(result) != 2:
                    raise TypeError("scan: `scan_func` must return a pair (new_state, "
                                    "output_element)")
                new_state = structure.to_numpy_structure(result[0])
                if not structure.same_structure(new_state, state):
                    raise TypeError("scan: the new state must have the structure of "
                                    f"`initial_state`, received {result[0]!r}")
                state = structure.pack_as(state, [
                    np.asarray(new, dtype=old.dtype) if structure.dtype_of(new)
                    is structure.dtype_of(old) else _state_dtype_error(old, new)
                    for old, new in zip(structure.flatten(state),
                                        structure.flatten(new_state))])
                yield structure.to_numpy_structure(result[1])
        finally:
            _close(source)

    def _cardinality(self):
        return self._input._cardinality()


def _state_dtype_error(old, new):
    raise TypeError(f"scan: the new state has dtype {structure.dtype_of(new).name} where "
                    f"`initial_state` has {structure.dtype_of(old).name}")


# ------------------------------------------------------------------ ignore_errors

def _elements_skipping_errors(dataset, on_error):
    """The elements of `dataset`, leaving out those whose making raised. Per-element stages
    (map, filter) are resumed after a failing element, as tf.data's are; any other stage
    that raises ends the pass (a Python generator cannot go on after raising)."""
    if isinstance(dataset, (_MapDataset, _FilterDataset)) and (
            not isinstance(dataset, _MapDataset) or dataset._threads is None):
        for element in _elements_skipping_errors(dataset._input, on_error):
            try:
                if isinstance(dataset, _MapDataset):
                    yield dataset._apply(element)
                elif dataset._keep(element):
                    yield element
            except Exception as error:  # noqa: BLE001 - skipping errors is the point
                on_error(error)
        return
    source = iter(dataset._iterate())
    try:
        while True:
            try:
                element = next(source)
            except StopIteration:
                return
            except Exception as error:  # noqa: BLE001
                on_error(error)
                return
            yield element
    finally:
        _close(source)


class IgnoreErrorsDataset(_UnaryDataset):
    def __init__(self, input_dataset, log_warning):
        super().__init__(input_dataset)
        self._log_warning = bool(log_warning)

    def _on_error(self, error):
        if self._log_warning:
            _LOG.warning("Error raised with error message %s", error)

    def _iterate(self):
        return _elements_skipping_errors(self._input, self._on_error)

    def _cardinality(self):
        return UNKNOWN_CARDINALITY


# ------------------------------------------------------------------ random, choosing

def _seed_key(seed):
    global_seed, op_seed = tf.random.get_seed(None if seed is None else _count(seed))
    if global_seed is None:
        key = [int(np.random.SeedSequence().entropy) & (2**63 - 1)]
    else:
        key = [global_seed & (2**63 - 1), op_seed & (2**63 - 1)]
    return key


class _Seeded:
    """A seeded source of NumPy generators, one per pass (a new stream each pass when
    rerandomizing)."""

    def __init__(self, seed, rerandomize):
        self._key = _seed_key(seed)
        self._rerandomize = bool(rerandomize)
        self._passes = 0

    def next_generator(self):
        epoch = self._passes if self._rerandomize else 0
        self._passes += 1
        return np.random.Generator(np.random.PCG64(self._key + [epoch]))


class RandomDataset(Dataset):
    def __init__(self, seed, rerandomize_each_iteration):
        self._seeds = _Seeded(seed, rerandomize_each_iteration)
        self._spec = tf.TensorSpec((), tf.int64)

    def _iterate(self):
        rng = self._seeds.next_generator()
        while True:
            yield np.asarray(rng.integers(0, 2**32), dtype=np.int64)

    def _cardinality(self):
        return INFINITE_CARDINALITY


def _common_spec(op, datasets):
    specs = [d.element_spec for d in datasets]
    first = specs[0]
    for spec in specs[1:]:
        same = structure.same_structure(first, spec) and all(
            a.dtype is b.dtype for a, b in zip(structure.flatten(first),
                                               structure.flatten(spec)))
        if not same:
            raise TypeError(f"{op}: all datasets must have the same type and structure, "
                            f"received {first} and {spec}")

    def common(*leaves):
        ranks = {s.shape.rank for s in leaves}
        if None in ranks or len(ranks) > 1:
            return tf.TensorSpec(None, leaves[0].dtype)
        dims = [d[0] if len(set(d)) == 1 else None
                for d in zip(*[s.shape.as_list() for s in leaves])]
        return tf.TensorSpec(dims, leaves[0].dtype)

    columns = zip(*[structure.flatten(s) for s in specs])
    return structure.pack_as(first, [common(*c) for c in columns])


class _ChooseDataset(Dataset):
    """Elements taken from `datasets` in the order `choices()` names them."""

    def __init__(self, op, datasets, stop_on_empty_dataset):
        self._op = op
        self._datasets = list(datasets)
        if not self._datasets:
            raise ValueError(f"Invalid `datasets`. `datasets` should not be empty, received "
                             f"{datasets!r}")
        for d in self._datasets:
            if not isinstance(d, Dataset):
                raise TypeError(f"{op}: expected tf.data.Dataset objects, received "
                                f"{type(d).__name__}")
        self._stop = bool(stop_on_empty_dataset)

    def _compute_spec(self):
        return _common_spec(self._op, self._datasets)

    def _choices(self, alive):
        raise NotImplementedError

    def _iterate(self):
        iterators = [iter(d._iterate()) for d in self._datasets]
        alive = [True] * len(iterators)
        choices = self._choices(alive)
        try:
            for index in choices:
                if not 0 <= index < len(iterators):
                    raise errors.InvalidArgumentError(
                        f"Selector index out of range: {index} >= {len(iterators)}", self._op)
                if not alive[index]:
                    continue
                try:
                    element = next(iterators[index])
                except StopIteration:
                    alive[index] = False
                    if self._stop or not any(alive):
                        return
                    continue
                yield element
        finally:
            _close(choices)
            for it in iterators:
                _close(it)

    def _cardinality(self):
        return UNKNOWN_CARDINALITY


class ChooseFromDatasets(_ChooseDataset):
    def __init__(self, datasets, choice_dataset, stop_on_empty_dataset):
        super().__init__("choose_from_datasets", datasets, stop_on_empty_dataset)
        if not isinstance(choice_dataset, Dataset) or choice_dataset.element_spec != \
                tf.TensorSpec((), tf.int64):
            spec = getattr(choice_dataset, "element_spec", choice_dataset)
            raise TypeError("Invalid `choice_dataset`. Elements of `choice_dataset` must be "
                            f"scalar `tf.int64` tensors but are {spec}.")
        self._choice_dataset = choice_dataset

    def _choices(self, alive):
        source = iter(self._choice_dataset._iterate())
        try:
            for value in source:
                yield int(value)
        finally:
            _close(source)


class SampleFromDatasets(_ChooseDataset):
    def __init__(self, datasets, weights, seed, stop_on_empty_dataset, rerandomize):
        super().__init__("sample_from_datasets", datasets, stop_on_empty_dataset)
        count = len(self._datasets)
        if weights is None:
            weights = [1.0 / count] * count
        if isinstance(weights, Dataset):
            raise NotImplementedError("sample_from_datasets: tensorflux takes `weights` as a "
                                      "list or tensor, not as a Dataset")
        weights = np.asarray(weights._numpy() if tf.is_tensor(weights) else weights,
                             dtype=np.float64).reshape(-1)
        if weights.shape[0] != count:
            raise ValueError(f"Invalid `weights`. The shape of `weights` should be compatible "
                             f"with `[len(datasets)]` but is {list(weights.shape)}.")
        if np.any(weights < 0) or weights.sum() <= 0:
            raise errors.InvalidArgumentError(
                "sample_from_datasets: `weights` must be non-negative and not all zero, "
                f"received {weights.tolist()}", "sample_from_datasets")
        self._weights = weights
        self._seeds = _Seeded(seed, True if rerandomize is None else rerandomize)

    def _choices(self, alive):
        rng = self._seeds.next_generator()
        while True:
            live = self._weights * np.asarray(alive)
            if live.sum() <= 0:
                return
            yield int(rng.choice(len(live), p=live / live.sum()))

    def _cardinality(self):
        sizes = [d._cardinality() for d in self._datasets]
        if self._stop:
            return (INFINITE_CARDINALITY if all(s == INFINITE_CARDINALITY for s in sizes)
                    else UNKNOWN_CARDINALITY)
        return (INFINITE_CARDINALITY if INFINITE_CARDINALITY in sizes
                else UNKNOWN_CARDINALITY)


# ------------------------------------------------------------------ files

_OPENERS = {"": open, "GZIP": gzip.open, "ZLIB": None, "BZ2": bz2.open}


def _path_list(op, filenames):
    if isinstance(filenames, Dataset):
        filenames = list(filenames._iterate())
    if tf.is_tensor(filenames):
        filenames = filenames._numpy().reshape(-1).tolist()
    if isinstance(filenames, (str, bytes, os.PathLike)):
        filenames = [filenames]
    paths = []
    for name in filenames:
        if isinstance(name, np.ndarray):
            name = name.item()
        if isinstance(name, bytes):
            name = name.decode("utf-8")
        if not isinstance(name, (str, os.PathLike)):
            raise TypeError(f"{op}: `filenames` must be strings, received {name!r}")
        paths.append(os.fspath(name))
    return paths


def _read_lines(path, compression_type):
    compression = (compression_type or "").upper()
    if compression not in _OPENERS:
        raise errors.InvalidArgumentError(
            f"TextLineDataset: compression_type must be '', 'GZIP' or 'ZLIB', received "
            f"{compression_type!r}", "TextLineDataset")
    try:
        if compression == "ZLIB":
            with open(path, "rb") as handle:
                data = zlib.decompress(handle.read())
        else:
            with _OPENERS[compression](path, "rb") as handle:
                data = handle.read()
    except FileNotFoundError:
        raise errors.NotFoundError(f"{path}; No such file or directory",
                                   "TextLineDataset") from None
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for line in lines:
        cell = np.empty((), dtype=object)
        cell[()] = line[:-1] if line.endswith(b"\r") else line
        yield cell


class TextLineDataset(Dataset):
    """The lines of one or more text files, without their line endings (\\n or \\r\\n).

    >>> import os, tempfile
    >>> from tensorflux import data
    >>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> _ = open(path, "w").write("one\\ntwo\\n")
    >>> [line.decode() for line in data.TextLineDataset(path).as_numpy_iterator()]
    ['one', 'two']
    """

    def __init__(self, filenames, compression_type=None, buffer_size=None,
                 num_parallel_reads=None, name=None):
        self._filenames = filenames
        self._compression_type = compression_type
        self._spec = tf.TensorSpec((), tf.string)

    def _iterate(self):
        for path in _path_list("TextLineDataset", self._filenames):
            yield from _read_lines(path, self._compression_type)


def list_files(file_pattern, shuffle, seed):
    """The files matching one or more glob patterns, as a dataset of path strings, sorted,
    then shuffled (each pass anew) unless `shuffle=False`."""
    patterns = _path_list("list_files", file_pattern)
    matches = sorted({path for pattern in patterns for path in glob.glob(pattern)})
    if not matches:
        raise errors.InvalidArgumentError(
            f"Expected 'tf.Tensor(False, shape=(), dtype=bool)' to be true. Summarized data: "
            f"b'No files matched pattern: {', '.join(patterns)}'", "list_files")
    dataset = Dataset.from_tensor_slices(np.asarray([p.encode() for p in matches],
                                                     dtype=object))
    if shuffle is None or shuffle:
        dataset = dataset.shuffle(len(matches), seed=seed)
    return dataset


# ------------------------------------------------------------------ Optional

class Optional:
    """A value that may be absent (tf.experimental.Optional), as get_next_as_optional gives.

    >>> from tensorflux import data
    >>> it = iter(data.Dataset.range(1))
    >>> [bool(it.get_next_as_optional().has_value()) for _ in range(2)]
    [True, False]
    """

    def __init__(self, value, element_spec):
        self._value = value
        self._element_spec = element_spec

    @staticmethod
    def from_value(value):
        spec = structure.map_structure(
            lambda leaf: structure.spec_of(structure.to_leaf(leaf)),
            structure.to_numpy_structure(value))
        return Optional(structure.to_tensor_structure(structure.to_numpy_structure(value)),
                        spec)

    @staticmethod
    def empty(element_spec):
        return Optional(None, element_spec)

    @property
    def element_spec(self):
        return self._element_spec

    def has_value(self, name=None):
        return tf.constant(self._value is not None)

    def get_value(self, name=None):
        if self._value is None:
            raise errors.InvalidArgumentError("The optional does not have a value.",
                                              "OptionalGetValue")
        return self._value
