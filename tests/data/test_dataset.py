"""tf.data.Dataset semantics on the cases tf.data documents (expected values from its docs)."""

import threading
import time
import traceback

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import data
from tensorflux.data import Dataset


def values(ds):
    return [_plain(e) for e in ds.as_numpy_iterator()]


def _plain(element):
    if isinstance(element, tuple):
        return tuple(_plain(e) for e in element)
    if isinstance(element, dict):
        return {k: _plain(v) for k, v in element.items()}
    return np.asarray(element).tolist()


def _tensorflux_threads():
    # (the NumPy backend's kernel pool lives as long as the process, once a kernel split)
    return [t for t in threading.enumerate() if t.name.startswith("tensorflux-")
            and not t.name.startswith("tensorflux-kernels-")]


def _wait_for_threads_to_stop(timeout=3.0):
    deadline = time.monotonic() + timeout
    while _tensorflux_threads() and time.monotonic() < deadline:
        time.sleep(0.02)
    return _tensorflux_threads()


# ------------------------------------------------------------------ sources

def test_from_tensor_slices_nested_structures_and_dtypes():
    ds = Dataset.from_tensor_slices({"a": [1, 2], "b": ([1.5, 2.5], ["x", "y"])})
    assert ds.element_spec == {"a": tf.TensorSpec((), tf.int32),
                               "b": (tf.TensorSpec((), tf.float32),
                                     tf.TensorSpec((), tf.string))}
    assert values(ds) == [{"a": 1, "b": (1.5, b"x")}, {"a": 2, "b": (2.5, b"y")}]
    element = next(iter(ds))
    assert tf.is_tensor(element["a"]) and element["b"][0].dtype == tf.float32
    # A list is one tensor, not a structure (tf.data's rule).
    assert values(Dataset.from_tensor_slices([[1, 2], [3, 4]])) == [[1, 2], [3, 4]]
    float64 = Dataset.from_tensor_slices(np.zeros((3, 2)))
    assert float64.element_spec == tf.TensorSpec((2,), tf.float64)


def test_from_tensor_slices_rejects_mismatched_sizes_and_scalars():
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\(3,\).*\(2,\)"):
        Dataset.from_tensor_slices(([1, 2, 3], [1, 2]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="rank >= 1"):
        Dataset.from_tensor_slices(1.0)


def test_from_tensors_and_range():
    ds = Dataset.from_tensors(([1, 2, 3], "A"))
    assert values(ds) == [([1, 2, 3], b"A")]
    assert len(ds) == 1
    assert values(Dataset.range(5)) == [0, 1, 2, 3, 4]
    assert values(Dataset.range(2, 5)) == [2, 3, 4]
    assert values(Dataset.range(1, 5, 2)) == [1, 3]
    assert values(Dataset.range(1, 5, -2)) == []
    assert values(Dataset.range(5, 1, -2)) == [5, 3]
    assert Dataset.range(5).element_spec == tf.TensorSpec((), tf.int64)
    assert Dataset.range(2, output_type=tf.int32).element_spec.dtype == tf.int32


def test_zip_concatenate_enumerate():
    a, b = Dataset.range(1, 4), Dataset.range(4, 7)
    assert values(Dataset.zip((a, b))) == [(1, 4), (2, 5), (3, 6)]
    assert values(Dataset.zip(a, b)) == [(1, 4), (2, 5), (3, 6)]
    assert values(Dataset.zip({"x": a, "y": Dataset.range(2)})) == [{"x": 1, "y": 0},
                                                                   {"x": 2, "y": 1}]
    assert len(Dataset.zip((a, Dataset.range(2)))) == 2
    assert values(a.concatenate(b)) == [1, 2, 3, 4, 5, 6]
    with pytest.raises(TypeError, match="concatenate"):
        list(a.concatenate(Dataset.from_tensor_slices([1.0])))
    assert values(Dataset.from_tensor_slices([7, 8, 9]).enumerate(start=5)) == [
        (5, 7), (6, 8), (7, 9)]


# ------------------------------------------------------------------ map / filter

def test_map_unpacks_tuples_and_passes_dicts():
    ds = Dataset.from_tensor_slices(([1, 2], [10, 20])).map(lambda x, y: x + y)
    assert values(ds) == [11, 22]
    ds = Dataset.from_tensor_slices({"a": [1, 2]}).map(lambda d: {"b": d["a"] * 2})
    assert values(ds) == [{"b": 2}, {"b": 4}]
    # A returned list becomes a tuple, as in tf.data.
    ds = Dataset.range(2).map(lambda x: [x, x + 1])
    assert values(ds) == [(0, 1), (1, 2)]
    assert ds.element_spec == (tf.TensorSpec((), tf.int64), tf.TensorSpec((), tf.int64))


def test_parallel_map_keeps_order_when_deterministic():
    def slow_for_small(x):
        time.sleep(0.002 * (10 - int(x) % 10))
        return x * 2

    ds = Dataset.range(30).map(slow_for_small, num_parallel_calls=4)
    assert values(ds) == [2 * i for i in range(30)]
    auto = Dataset.range(30).map(slow_for_small, num_parallel_calls=data.AUTOTUNE)
    assert values(auto) == [2 * i for i in range(30)]
    loose = Dataset.range(30).map(slow_for_small, num_parallel_calls=4, deterministic=False)
    assert sorted(values(loose)) == [2 * i for i in range(30)]


def test_filter():
    ds = Dataset.range(10).filter(lambda x: x % 3 == 0)
    assert values(ds) == [0, 3, 6, 9]
    assert int(ds.cardinality()) == data.UNKNOWN_CARDINALITY
    with pytest.raises(tf.errors.InvalidArgumentError, match="scalar boolean"):
        list(Dataset.range(3).filter(lambda x: x))


# ------------------------------------------------------------------ batching

def test_batch_remainders_and_specs():
    assert values(Dataset.range(8).batch(3)) == [[0, 1, 2], [3, 4, 5], [6, 7]]
    assert values(Dataset.range(8).batch(3, drop_remainder=True)) == [[0, 1, 2], [3, 4, 5]]
    assert Dataset.range(8).batch(3).element_spec == tf.TensorSpec((None,), tf.int64)
    assert Dataset.range(8).batch(3, True).element_spec == tf.TensorSpec((3,), tf.int64)
    assert len(Dataset.range(8).batch(3)) == 3
    assert len(Dataset.range(8).batch(3, drop_remainder=True)) == 2
    # The same batches through the generic path (not a plain slice source).
    assert values(Dataset.range(8).map(lambda x: x).batch(3)) == [[0, 1, 2], [3, 4, 5], [6, 7]]
    pairs = Dataset.from_tensor_slices(([1, 2, 3], [[1.0], [2.0], [3.0]])).batch(2)
    assert values(pairs) == [([1, 2], [[1.0], [2.0]]), ([3], [[3.0]])]


def test_batch_rejects_different_shapes():
    ds = Dataset.range(1, 4).map(lambda x: tf.fill([x], x)).batch(3)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"shape \[1\].*shape \[2\]"):
        list(ds)


def test_padded_batch_documented_cases():
    a = Dataset.range(1, 5, output_type=tf.int32).map(lambda x: tf.fill([x], x))
    assert values(a.padded_batch(2)) == [[[1, 0], [2, 2]], [[3, 3, 3, 0], [4, 4, 4, 4]]]
    assert values(a.padded_batch(2, padded_shapes=5)) == [
        [[1, 0, 0, 0, 0], [2, 2, 0, 0, 0]], [[3, 3, 3, 0, 0], [4, 4, 4, 4, 0]]]
    assert values(a.padded_batch(2, padding_values=-1)) == [
        [[1, -1], [2, 2]], [[3, 3, 3, -1], [4, 4, 4, 4]]]
    # Components of a tuple, each with its own padded shape and padding value.
    b = Dataset.zip((a, Dataset.range(4)))
    assert values(b.padded_batch(2, padded_shapes=([None], []), padding_values=(-1, 0))) == [
        ([[1, -1], [2, 2]], [0, 1]), ([[3, 3, 3, -1], [4, 4, 4, 4]], [2, 3])]
    with pytest.raises(tf.errors.InvalidArgumentError, match="smaller size"):
        list(a.padded_batch(2, padded_shapes=[3]))


def test_unbatch():
    ds = Dataset.from_tensor_slices(([[1, 2], [3, 4]], [[5, 6], [7, 8]])).unbatch()
    assert values(ds) == [(1, 5), (2, 6), (3, 7), (4, 8)]
    assert values(Dataset.range(5).batch(2).unbatch()) == [0, 1, 2, 3, 4]


# ------------------------------------------------------------------ order and counts

def test_shuffle_is_deterministic_with_a_seed():
    first = values(Dataset.range(20).shuffle(8, seed=3))
    assert sorted(first) == list(range(20)) and first != list(range(20))
    assert values(Dataset.range(20).shuffle(8, seed=3)) == first
    assert values(Dataset.range(20).shuffle(8, seed=4)) != first


def test_shuffle_reshuffle_each_iteration():
    ds = Dataset.range(20).shuffle(20, seed=5)
    epochs = [values(ds) for _ in range(3)]
    assert epochs[0] != epochs[1] != epochs[2]
    # Deterministic as a sequence of epochs: a new dataset with the same seed repeats them.
    again = Dataset.range(20).shuffle(20, seed=5)
    assert [values(again) for _ in range(3)] == epochs
    fixed = Dataset.range(20).shuffle(20, seed=5, reshuffle_each_iteration=False)
    assert values(fixed) == values(fixed)
    # Unseeded, reshuffle_each_iteration=False still repeats the same order.
    unseeded = Dataset.range(20).shuffle(20, reshuffle_each_iteration=False)
    assert values(unseeded) == values(unseeded)
    # repeat() re-runs the shuffle, so each repetition is a new order (tf.data's doc case).
    repeated = values(Dataset.range(20).shuffle(20, seed=5).repeat(2))
    assert sorted(repeated[:20]) == sorted(repeated[20:]) == list(range(20))
    assert repeated[:20] != repeated[20:]


def test_shuffle_follows_the_global_seed():
    tf.random.set_seed(11)
    a = values(Dataset.range(30).shuffle(30))
    tf.random.set_seed(11)
    b = values(Dataset.range(30).shuffle(30))
    tf.random.set_seed(None)
    assert a == b and sorted(a) == list(range(30))


def test_shuffle_samples_from_a_buffer():
    # Element k of the output comes from the first k + buffer_size inputs.
    out = values(Dataset.range(100).shuffle(5, seed=1))
    assert all(v < k + 5 for k, v in enumerate(out))
    assert values(Dataset.range(10).shuffle(1, seed=1)) == list(range(10))
    with pytest.raises(tf.errors.InvalidArgumentError, match="buffer_size"):
        Dataset.range(3).shuffle(0)


def test_repeat_take_skip_interplay():
    assert values(Dataset.range(3).repeat(2)) == [0, 1, 2, 0, 1, 2]
    assert values(Dataset.range(3).repeat().take(7)) == [0, 1, 2, 0, 1, 2, 0]
    assert values(Dataset.range(5).take(2).repeat(2)) == [0, 1, 0, 1]
    assert values(Dataset.range(5).skip(3)) == [3, 4]
    assert values(Dataset.range(5).take(-1)) == [0, 1, 2, 3, 4]
    assert values(Dataset.range(5).skip(-1)) == []
    assert values(Dataset.range(0).repeat()) == []


@pytest.mark.parametrize("make, expected", [
    (lambda: Dataset.range(10), 10),
    (lambda: Dataset.range(10).repeat(), data.INFINITE_CARDINALITY),
    (lambda: Dataset.range(10).repeat(3), 30),
    (lambda: Dataset.range(10).repeat().take(7), 7),
    (lambda: Dataset.range(10).take(20), 10),
    (lambda: Dataset.range(10).skip(4), 6),
    (lambda: Dataset.range(10).skip(20), 0),
    (lambda: Dataset.range(10).batch(3), 4),
    (lambda: Dataset.range(10).batch(3, drop_remainder=True), 3),
    (lambda: Dataset.range(10).filter(lambda x: x > 2), data.UNKNOWN_CARDINALITY),
    (lambda: Dataset.range(10).filter(lambda x: x > 2).repeat(), data.INFINITE_CARDINALITY),
    (lambda: Dataset.range(10).map(lambda x: x).shuffle(4).prefetch(2).cache(), 10),
    (lambda: Dataset.range(10).window(3), 4),
    (lambda: Dataset.range(10).window(3, 2, 2, drop_remainder=True), 3),
    (lambda: Dataset.range(3).concatenate(Dataset.range(4)), 7),
    (lambda: Dataset.range(3).enumerate(), 3),
    (lambda: Dataset.from_generator(lambda: iter([1]), output_signature=tf.TensorSpec(
        (), tf.int32)), data.UNKNOWN_CARDINALITY),
])
def test_cardinality(make, expected):
    ds = make()
    assert int(ds.cardinality()) == expected
    assert int(data.experimental.cardinality(ds)) == expected
    if expected >= 0:
        assert len(ds) == expected == len(list(ds))


def test_len_of_infinite_and_unknown_datasets_raises_type_error():
    assert data.INFINITE_CARDINALITY == -1 and data.UNKNOWN_CARDINALITY == -2
    with pytest.raises(TypeError, match="infinite"):
        len(Dataset.range(3).repeat())
    with pytest.raises(TypeError, match="unknown"):
        len(Dataset.range(3).filter(lambda x: x > 0))


def test_prefetch_keeps_order_and_stops_its_thread():
    ds = Dataset.range(50).map(lambda x: x * 3).prefetch(4)
    assert values(ds) == [3 * i for i in range(50)]
    assert values(Dataset.range(5).prefetch(data.AUTOTUNE)) == [0, 1, 2, 3, 4]
    assert values(Dataset.range(5).prefetch(0)) == [0, 1, 2, 3, 4]
    iterator = iter(Dataset.range(10**6).prefetch(2))
    assert int(next(iterator)) == 0
    assert _tensorflux_threads()
    iterator.close()
    assert not _wait_for_threads_to_stop()


def test_autotune_names():
    assert data.AUTOTUNE == data.experimental.AUTOTUNE == -1
    assert isinstance(Dataset.range(2).options(), data.Options)


# ------------------------------------------------------------------ nested datasets

def test_interleave_documented_order():
    ds = Dataset.range(1, 6).interleave(lambda x: Dataset.from_tensors(x).repeat(6),
                                        cycle_length=2, block_length=4)
    expected = [1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 3, 3, 4, 4,
                5, 5, 5, 5, 5, 5]
    assert values(ds) == expected
    parallel = Dataset.range(1, 6).interleave(lambda x: Dataset.from_tensors(x).repeat(6),
                                              cycle_length=2, block_length=4,
                                              num_parallel_calls=data.AUTOTUNE)
    assert values(parallel) == expected
    assert values(Dataset.range(3).flat_map(lambda x: Dataset.range(x))) == [0, 0, 1]


def test_window_documented_cases():
    def windows(ds):
        return [values(w) for w in ds]

    assert windows(Dataset.range(7).window(2)) == [[0, 1], [2, 3], [4, 5], [6]]
    assert windows(Dataset.range(7).window(3, 2, 1, True)) == [[0, 1, 2], [2, 3, 4],
                                                              [4, 5, 6]]
    assert windows(Dataset.range(7).window(3, 1, 2, True)) == [[0, 2, 4], [1, 3, 5],
                                                              [2, 4, 6]]
    assert windows(Dataset.range(7).window(2, shift=3)) == [[0, 1], [3, 4], [6]]
    nested = Dataset.from_tensor_slices(([1, 2, 3], [4, 5, 6])).window(2)
    first = next(iter(nested))
    assert isinstance(first, tuple) and all(isinstance(w, Dataset) for w in first)
    batched = Dataset.range(7).window(3, 1, 1, True).flat_map(lambda w: w.batch(3))
    assert values(batched)[:2] == [[0, 1, 2], [1, 2, 3]]


# ------------------------------------------------------------------ from_generator

def test_from_generator_with_output_signature():
    def gen():
        for i in range(1, 4):
            yield i, [1.0] * i

    signature = (tf.TensorSpec((), tf.int32), tf.TensorSpec((None,), tf.float32))
    ds = Dataset.from_generator(gen, output_signature=signature)
    assert ds.element_spec == signature
    assert values(ds) == [(1, [1.0]), (2, [1.0, 1.0]), (3, [1.0, 1.0, 1.0])]
    assert values(ds) == values(ds)  # the generator is called again for every pass
    legacy = Dataset.from_generator(gen, output_types=(tf.int32, tf.float32),
                                    output_shapes=((), (None,)))
    assert values(legacy) == values(ds)
    with_args = Dataset.from_generator(lambda n: iter(range(int(n))), args=(3,),
                                       output_signature=tf.TensorSpec((), tf.int64))
    assert values(with_args) == [0, 1, 2]
    as_dict = Dataset.from_generator(lambda: iter([{"a": 1}]),
                                     output_signature={"a": tf.TensorSpec((), tf.int64)})
    assert values(as_dict) == [{"a": 1}]


def test_from_generator_signature_checks():
    spec = tf.TensorSpec((2,), tf.int32)
    with pytest.raises(TypeError, match="did not match the expected structure"):
        list(Dataset.from_generator(lambda: iter([[1, 2]]),
                                    output_signature=(spec, spec, spec)))
    with pytest.raises(TypeError, match="did not match the expected structure"):
        list(Dataset.from_generator(lambda: iter([7]), output_signature={"a": spec}))
    with pytest.raises(TypeError, match="expected type was int32"):
        list(Dataset.from_generator(lambda: iter([["a", "b"]]), output_signature=spec))
    with pytest.raises(ValueError, match=r"shape \(3,\) where an element of shape \(2,\)"):
        list(Dataset.from_generator(lambda: iter([[1, 2, 3]]), output_signature=spec))
    with pytest.raises(TypeError, match="TensorSpec"):
        Dataset.from_generator(lambda: iter([1]), output_signature=tf.int32)
    with pytest.raises(TypeError, match="callable"):
        Dataset.from_generator(iter([1]), output_signature=spec)


# ------------------------------------------------------------------ errors

def _failing_map(x):
    if int(x) == 5:
        raise KeyError(f"bad element {int(x)}")  # the line the traceback must show
    return x


_FAILING_LINE = _failing_map.__code__.co_firstlineno + 2


@pytest.mark.parametrize("build", [
    lambda ds: ds.map(_failing_map),
    lambda ds: ds.map(_failing_map).prefetch(2),
    lambda ds: ds.map(_failing_map, num_parallel_calls=3).prefetch(data.AUTOTUNE),
    lambda ds: ds.map(_failing_map, num_parallel_calls=2).batch(2).prefetch(1).repeat(),
], ids=["map", "map-prefetch", "parallel-map-prefetch", "parallel-batch-repeat"])
def test_a_failing_map_surfaces_the_users_exception(build):
    start = time.monotonic()
    with pytest.raises(KeyError, match="bad element 5") as caught:
        for _ in build(Dataset.range(100)):
            pass
    assert time.monotonic() - start < 5
    frames = traceback.extract_tb(caught.value.__traceback__)
    assert any(f.name == "_failing_map" and f.lineno == _FAILING_LINE for f in frames)
    assert not _wait_for_threads_to_stop()


def test_a_failing_generator_surfaces_through_prefetch():
    def gen():
        yield 1
        raise RuntimeError("generator broke")

    ds = Dataset.from_generator(gen, output_signature=tf.TensorSpec((), tf.int32)).prefetch(2)
    iterator = iter(ds)
    assert int(next(iterator)) == 1
    with pytest.raises(RuntimeError, match="generator broke"):
        next(iterator)
    with pytest.raises(StopIteration):
        next(iterator)


# ------------------------------------------------------------------ cache

def test_memory_cache_runs_the_pipeline_once():
    calls = []

    def record(x):
        calls.append(int(x))
        return x

    ds = Dataset.range(5).map(record).cache()
    assert values(ds) == values(ds) == [0, 1, 2, 3, 4]
    assert calls == [0, 1, 2, 3, 4]


def test_file_cache_is_npz_without_pickle(tmp_path):
    calls = []

    def record(x, name):
        calls.append(int(x))
        return {"x": x, "s": name, "v": tf.fill([x], 1.5)}

    source = Dataset.from_tensor_slices((np.arange(4), np.array([b"a", b"b", b"c", b"d"],
                                                                dtype=object)))
    prefix = str(tmp_path / "cache")
    first = source.map(record).cache(prefix)
    expected = values(first)
    assert calls == [0, 1, 2, 3]
    with np.load(prefix + ".npz", allow_pickle=False) as archive:
        assert "__meta__" in archive.files
    # A new pipeline over the same file reads it instead of running the map.
    second = source.map(record).cache(prefix)
    assert values(second) == expected
    assert calls == [0, 1, 2, 3]
    assert expected[1] == {"x": 1, "s": b"b", "v": [1.5]}


def test_iterator_and_numpy_iterator():
    ds = Dataset.from_tensor_slices(([1, 2], [[1.0], [2.0]]))
    iterator = iter(ds)
    x, y = iterator.get_next()
    assert tf.is_tensor(x) and tuple(y.shape) == (1,)
    next(iterator)
    with pytest.raises(tf.errors.OutOfRangeError):
        iterator.get_next()
    first = next(ds.as_numpy_iterator())
    assert isinstance(first[0], np.integer) and isinstance(first[1], np.ndarray)
    assert Dataset.range(4).reduce(tf.constant(0, tf.int64), lambda s, x: s + x).numpy() == 6
