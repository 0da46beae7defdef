"""The less common tf.data transformations and sources: shard, take_while, unique, rebatch,
group_by_window (and bucket_by_sequence_length on it), scan, ignore_errors, random,
sample_from_datasets / choose_from_datasets, Optional.

Each one is a Dataset subclass of dataset.py's kind: `_iterate` yields host NumPy structures,
`_compute_spec` derives the element spec without reading data, `_cardinality` follows TF.
"""

import itertools
import logging

import numpy as np

import tensorflux as tf
from tensorflux import errors
from tensorflux.data import _structure as structure
from tensorflux.data.dataset import (
    INFINITE_CARDINALITY,
    UNKNOWN_CARDINALITY,
    Dataset,
    _BatchDataset,
    _batched_spec,
    _call_user,
    _close,
    _count,
    _ElementsDataset,
    _FilterDataset,
    _FirstElementSpec,
    _MapDataset,
    _positive,
    _row,
    _source_structure,
    _stack,
    _traced_spec,
    _UnaryDataset,
    _UntraceableError,
)
from tensorflux.tensor import _is_dense_tensor

__all__ = ["Optional"]

_LOG = logging.getLogger("tensorflux.data")


def _scalar(op, result, what):
    value = np.asarray(result._numpy() if _is_dense_tensor(result) else result)
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
        if _is_dense_tensor(batch_size) and batch_size.shape.rank == 1:
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
    value = np.asarray(result._numpy() if _is_dense_tensor(result) else result)
    if value.shape != () or value.dtype != np.int64:
        raise ValueError(  # (TF's type: its trace of key_func fails converting to int64)
            "`key_func` must return a scalar tf.int64 tensor, received dtype "
            f"{value.dtype} and shape {value.shape}")
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
        length = int(np.asarray(length._numpy() if _is_dense_tensor(length) else length))
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


class Reducer:
    """tf.data.experimental.Reducer: how group_by_reducer folds each group: `init_func(key)`
    makes a group's state, `reduce_func(state, element)` the next state, and
    `finalize_func(state)` the group's one output element."""

    def __init__(self, init_func, reduce_func, finalize_func):
        self.init_func = init_func
        self.reduce_func = reduce_func
        self.finalize_func = finalize_func


class GroupByReducerDataset(_FirstElementSpec, _UnaryDataset):
    """One element per key of `key_func`: the group's elements folded by a Reducer, the
    groups output (when the input ends) in the order their keys first appeared, as TF."""

    def __init__(self, input_dataset, key_func, reducer):
        super().__init__(input_dataset)
        if not isinstance(reducer, Reducer):
            raise TypeError("group_by_reducer: `reducer` must be a "
                            f"tf.data.experimental.Reducer, received {type(reducer).__name__}")
        self._key_func, self._reducer = key_func, reducer

    def _generate(self):
        states = {}  # (dicts keep insertion order: the keys' first appearance)
        source = iter(self._input._iterate())
        try:
            for element in source:
                key = _key_of(_call_user(self._key_func, element))
                if key not in states:
                    states[key] = structure.to_numpy_structure(
                        self._reducer.init_func(tf.constant(key, tf.int64)))
                states[key] = structure.to_numpy_structure(self._reducer.reduce_func(
                    structure.to_tensor_structure(states[key]),
                    structure.to_tensor_structure(element)))
        finally:
            _close(source)
        for state in states.values():
            yield structure.to_numpy_structure(
                _call_user(self._reducer.finalize_func, state))

    def _cardinality(self):
        return UNKNOWN_CARDINALITY


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
    (map, filter) and sources that can skip a bad record (`_iterate_skipping_errors`, as
    CsvDataset) go on after a failing element, as tf.data's do; any other stage that raises
    ends the pass (a Python generator cannot go on after raising)."""
    skipping = getattr(dataset, "_iterate_skipping_errors", None)
    if skipping is not None:
        yield from skipping(on_error)
        return
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

    def _inputs(self):
        return list(self._datasets)

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
        # TF's rule (for choose and sample alike): infinite when any input is, whatever
        # the choices or stop_on_empty_dataset; otherwise unknown.
        sizes = [d._cardinality() for d in self._datasets]
        return INFINITE_CARDINALITY if INFINITE_CARDINALITY in sizes else UNKNOWN_CARDINALITY


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
            # A dataset of weight vectors: each draw takes the next one; the sampling ends
            # with it.
            spec = weights.element_spec
            if not isinstance(spec, tf.TensorSpec) or not spec.dtype.is_floating or \
                    not spec.shape.is_compatible_with([count]):
                raise TypeError(f"Invalid `weights`. A `weights` dataset must have float "
                                f"elements of shape [{count}] (one weight per dataset), but "
                                f"its element_spec is {spec}.")
            self._weights = weights
        else:
            self._weights = self._checked(weights._numpy() if _is_dense_tensor(weights)
                                          else weights)
        self._seeds = _Seeded(seed, True if rerandomize is None else rerandomize)

    def _checked(self, weights):
        weights = np.asarray(weights, dtype=np.float64).reshape(-1)
        if weights.shape[0] != len(self._datasets):
            raise ValueError(f"Invalid `weights`. The shape of `weights` should be compatible "
                             f"with `[len(datasets)]` but is {list(weights.shape)}.")
        if np.any(weights < 0) or weights.sum() <= 0:
            raise errors.InvalidArgumentError(
                "sample_from_datasets: `weights` must be non-negative and not all zero, "
                f"received {weights.tolist()}", "sample_from_datasets")
        return weights

    def _choices(self, alive):
        rng = self._seeds.next_generator()
        if isinstance(self._weights, Dataset):
            source = iter(self._weights._iterate())
            vectors = (self._checked(w) for w in source)
        else:
            source, vectors = None, itertools.repeat(self._weights)
        try:
            for weights in vectors:
                live = weights * np.asarray(alive)
                if live.sum() <= 0:
                    return
                yield int(rng.choice(len(live), p=live / live.sum()))
        finally:
            if source is not None:
                _close(source)


# ------------------------------------------------------------------ ragged_batch

def _ragged_element_spec(spec, row_splits_dtype):
    """The spec an element component takes in ragged_batch: a tensor whose static shape has
    an unknown dimension becomes ragged up to its last unknown one; others stay as they are."""
    if not isinstance(spec, tf.TensorSpec) or not spec.shape.rank or \
            spec.shape.is_fully_defined():
        return spec
    dims = spec.shape.as_list()
    last_unknown = max(i for i, d in enumerate(dims) if d is None)
    return tf.RaggedTensorSpec(spec.shape, spec.dtype, last_unknown, row_splits_dtype)


class RaggedBatchDataset(_BatchDataset):
    """Batches whose components of varying shape are RaggedTensors (one row per element)."""

    def __init__(self, input_dataset, batch_size, drop_remainder, row_splits_dtype):
        super().__init__(input_dataset, batch_size, drop_remainder)
        self._row_splits_dtype = tf.as_dtype(row_splits_dtype)

    def _element_specs(self):
        return structure.map_structure(
            lambda s: _ragged_element_spec(s, self._row_splits_dtype),
            self._input.element_spec)

    def _compute_spec(self):
        return _batched_spec(self._element_specs(),
                             self._batch_size if self._drop_remainder else None)

    def _combine(self, elements):
        columns = zip(*[structure.flatten(e) for e in elements])
        specs = structure.flatten(self._element_specs())
        return structure.pack_as(elements[0], [self._column(list(c), spec)
                                               for c, spec in zip(columns, specs)])

    def _column(self, leaves, spec):
        if isinstance(spec, tf.RaggedTensorSpec) and spec.ragged_rank > 0:
            leaves = [leaf if not isinstance(leaf, np.ndarray) else tf.RaggedTensor.from_tensor(
                structure.to_tensor(leaf), ragged_rank=spec.ragged_rank,
                row_splits_dtype=self._row_splits_dtype) for leaf in leaves]
        return _stack(leaves, "ragged_batch", spec)


class SparseBatchDataset(_BatchDataset):
    """Batches of SparseTensors: each element, a dense tensor no larger than `row_shape`
    (None: the batch's largest), gives every one of its entries, zeros too, as TF does."""

    _slices_directly = False

    def __init__(self, input_dataset, batch_size, row_shape):
        super().__init__(input_dataset, batch_size, False)
        self._row_shape = [None if d is None or int(d) == -1 else int(d)
                           for d in tf.TensorShape(row_shape).as_list()]

    def _compute_spec(self):
        spec = self._input.element_spec
        if not isinstance(spec, tf.TensorSpec):
            raise TypeError("sparse_batch: the elements must be single tensors, received "
                            f"{spec}")
        return tf.SparseTensorSpec([None] + self._row_shape, spec.dtype)

    def _combine(self, elements):
        for element in elements:
            if element.ndim != len(self._row_shape):
                raise errors.InvalidArgumentError(
                    f"sparse_batch: an element had shape {list(element.shape)}, which is "
                    f"incompatible with the row shape {self._row_shape}", "sparse_batch")
            for size, bound in zip(element.shape, self._row_shape):
                if bound is not None and size > bound:
                    raise errors.DataLossError(
                        f"sparse_batch: an element had shape {list(element.shape)}, which is "
                        f"larger than the row shape {self._row_shape}", "sparse_batch")
        dims = [bound if bound is not None else max(e.shape[d] for e in elements)
                for d, bound in enumerate(self._row_shape)]
        indices = [np.concatenate([np.full((e.size, 1), i, np.int64),
                                   np.argwhere(np.ones(e.shape, bool)).astype(np.int64)], 1)
                   for i, e in enumerate(elements)]
        return tf.sparse.SparseTensor(
            np.concatenate(indices).reshape(-1, len(dims) + 1),
            np.concatenate([e.reshape(-1) for e in elements]),
            [len(elements)] + dims)


# ------------------------------------------------------------------ counter, cardinality

class CounterDataset(Dataset):
    """start, start + step, start + 2 * step, ... forever, in `dtype` (each value the last
    plus `step`, as TF's scan computes it)."""

    def __init__(self, start, step, dtype):
        self._start = structure.to_leaf(start, dtype=dtype)
        self._step = structure.to_leaf(step, dtype=dtype)
        self._spec = tf.TensorSpec((), dtype)

    def _iterate(self):
        value, step, dtype = self._start, self._step, self._start.dtype
        with np.errstate(over="ignore"):  # integers wrap around, as in TF
            while True:
                yield value
                value = np.asarray(value + step, dtype=dtype)

    def _cardinality(self):
        return INFINITE_CARDINALITY


def _elements(count):
    return f"{count} element{'' if count == 1 else 's'}"


class AssertCardinalityDataset(_UnaryDataset):
    """The input, with the cardinality `expected`; FailedPreconditionError when a pass finds
    another number of elements."""

    def __init__(self, input_dataset, expected):
        super().__init__(input_dataset)
        self._expected = _count(expected)

    def _cardinality(self):
        return self._expected

    def _iterate(self):
        expected, count = self._expected, 0
        wanted = ("an infinite number of elements" if expected == INFINITE_CARDINALITY
                  else f"{expected} elements")
        source = iter(self._input._iterate())
        try:
            for element in source:
                count += 1
                if expected != INFINITE_CARDINALITY and count > expected:
                    raise errors.FailedPreconditionError(
                        f"Input dataset was expected to contain {wanted} but contained at "
                        f"least {_elements(count)}.", "AssertCardinality")
                yield element
        finally:
            _close(source)
        if expected == INFINITE_CARDINALITY or count < expected:
            raise errors.FailedPreconditionError(
                f"Input dataset was expected to contain {wanted} but contained only "
                f"{_elements(count)}.", "AssertCardinality")


# ------------------------------------------------------------------ rejection_resample

def _distribution(name, value, size=None):
    dist = np.asarray(value._numpy() if _is_dense_tensor(value) else value, dtype=np.float64)
    if dist.ndim != 1 or (size is not None and dist.shape[0] != size):
        wanted = "a 1-D tensor" if size is None else f"a 1-D tensor of {size} values"
        raise ValueError(f"rejection_resample: `{name}` must be {wanted} (one probability "
                         f"per class), received shape {list(dist.shape)}")
    if np.any(dist < 0):
        raise errors.InvalidArgumentError(f"rejection_resample: `{name}` must not be "
                                          f"negative, received {dist.tolist()}",
                                          "rejection_resample")
    return dist


def _mixing(initial, target):
    """(the probability of taking an element as it comes, the acceptance probability of
    each class for the others): the mix of the input and its rejection-sampled stream
    that has the `target` distribution and rejects the fewest elements."""
    ratio = target / (initial + np.finfo(np.float64).tiny)
    low, high = ratio.min(), ratio.max()
    if high - low <= 0:
        return 1.0, np.ones_like(ratio)
    return float(min(low, 1.0)), (ratio - low) / (high - low)


class RejectionResampleDataset(_FirstElementSpec, _UnaryDataset):
    """(class, element) pairs whose classes follow `target_dist`: each element is taken as
    it comes with some probability, else drawn from a second pass over the input that keeps
    each element with its class's acceptance probability (so elements may repeat, as in TF).
    Without `initial_dist`, the input's class distribution is estimated as it is read."""

    def __init__(self, input_dataset, class_func, target_dist, initial_dist, seed):
        super().__init__(input_dataset)
        self._class_func = class_func
        self._target = _distribution("target_dist", target_dist)
        self._initial = None if initial_dist is None else _distribution(
            "initial_dist", initial_dist, self._target.shape[0])
        self._seeds = _Seeded(seed, True)
        self._direct_only = (self._initial is not None
                             and _mixing(self._initial, self._target)[0] >= 1.0)

    def _compute_spec(self):
        element_spec = self._input.element_spec
        try:
            class_spec = _traced_spec(self._class_func, element_spec)
        except _UntraceableError:
            return self._spec_from_first_element()
        return class_spec, element_spec

    def _classify(self, element):
        value = structure.to_leaf(_call_user(self._class_func, element))
        if value.shape != () or value.dtype.kind not in "iu":
            raise TypeError("rejection_resample: `class_func` must return a scalar integer "
                            f"tensor, received dtype {value.dtype} and shape {value.shape}")
        return value

    def _class_index(self, value):
        index = int(value)
        if not 0 <= index < self._target.shape[0]:
            raise errors.InvalidArgumentError(
                f"rejection_resample: class {index} is outside [0, {self._target.shape[0]}), "
                "the classes of `target_dist`", "rejection_resample")
        return index

    def _generate(self):
        if self._direct_only:
            yield from ((self._classify(e), e) for e in self._input._iterate())
            return
        rng = self._seeds.next_generator()
        seen = np.full(self._target.shape[0], 10.0)  # a smoothed estimate of the input's
        direct = iter(self._input._iterate())
        sampled = iter(self._input._iterate())
        try:
            while True:
                initial = self._initial if self._initial is not None else seen / seen.sum()
                take_direct, accept = _mixing(initial, self._target)
                source = direct if rng.random() < take_direct else sampled
                while True:
                    element = next(source, None)
                    if element is None:
                        return
                    label = self._classify(element)
                    index = self._class_index(label)
                    seen[index] += 1
                    if source is direct or rng.random() < accept[index]:
                        break
                yield label, element
        finally:
            _close(direct)
            _close(sampled)

    def _cardinality(self):
        size = self._input._cardinality()
        return size if self._direct_only else _unknown_unless_infinite(size)


# ------------------------------------------------------------------ experimental helpers

def from_list(elements, name=None):
    """A dataset of the given elements (each a nested structure of tensors)."""
    elements = list(elements)
    if not elements:
        raise ValueError("Invalid `elements`. `elements` should not be empty.")
    leaves = [_source_structure(e) for e in elements]
    specs = [structure.map_structure(structure.spec_of, e) for e in leaves]
    for spec in specs[1:]:
        if not structure.same_structure(specs[0], spec):
            raise ValueError(f"from_list: every element must have the structure of the first, "
                             f"{specs[0]}; received {spec}")
    datasets = [_ElementsDataset([e], s) for e, s in zip(leaves, specs)]
    return _ElementsDataset(leaves, _common_spec("from_list", datasets))


def at(dataset, index):
    """The element at `index` of a dataset of known cardinality."""
    index = _count(index)
    size = dataset._cardinality()
    if size >= 0 and not 0 <= index < size:
        raise errors.OutOfRangeError(f"Index out of range [0, {size}):{index}",
                                     "GetElementAtIndex")
    return dataset.skip(index).take(1).get_single_element()


def pad_dataset_to_cardinality(dataset, cardinality, mask_key):
    """A dict-element dataset padded with zero elements up to `cardinality`, each element
    with a boolean `mask_key` entry telling the real ones."""
    spec = dataset.element_spec
    if not isinstance(spec, dict):
        raise ValueError("`pad_to_cardinality` requires its input dataset to be a dictionary.")
    size = dataset._cardinality()
    if size < 0:
        raise ValueError("The dataset passed into `pad_to_cardinality` must have a known "
                         f"cardinalty, but has cardinality {size}")
    if size > cardinality:
        raise ValueError("The dataset passed into `pad_to_cardinality` must have a cardinalty "
                         f"less than the target cardinality ({cardinality}), but has "
                         f"cardinality {size}")
    for name, leaf in spec.items():
        if not leaf.shape.is_fully_defined():
            raise ValueError(f"pad_to_cardinality: the shape of `{name}`, {leaf.shape}, must "
                             "be fully defined to make padding elements")

    def mark(valid):
        return lambda element: {**element, mask_key: tf.constant(valid)}

    padding = {name: tf.zeros(leaf.shape, leaf.dtype) for name, leaf in spec.items()}
    filler = Dataset.from_tensors(padding).repeat(cardinality - size)
    return dataset.map(mark(True)).concatenate(filler.map(mark(False)))


# ------------------------------------------------------------------ Optional

class Optional:
    """A value that may be absent (tf.experimental.Optional), as get_next_as_optional gives.

    >>> from tensorflux import data
    >>> it = iter(data.Dataset.range(1))
    >>> [bool(it.get_next_as_optional().has_value()) for _ in range(2)]
    [True, False]
    """

    def __init__(self, value, element_spec, present=None):
        self._value = value
        self._element_spec = element_spec
        self._present = present  # a traced bool tensor, for an optional known only at run time

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
        if self._present is not None:
            return self._present
        return tf.constant(self._value is not None)

    def get_value(self, name=None):
        if self._present is not None:
            tf.debugging.Assert(self._present, ["The optional does not have a value."])
            return self._value
        if self._value is None:
            raise errors.InvalidArgumentError("The optional does not have a value.",
                                              "OptionalGetValue")
        return self._value
