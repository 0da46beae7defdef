"""Dataset.shard, take_while, get_single_element, unique, rebatch, group_by_window,
bucket_by_sequence_length, scan, ignore_errors, random, sample/choose_from_datasets,
TextLineDataset, list_files and Iterator.get_next_as_optional.

Expected values, element specs and cardinalities are TensorFlow 2.21's, observed.
"""

import gzip
import os

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import data, errors

D = data.Dataset


def _values(ds):
    return [np.asarray(v).tolist() for v in ds.as_numpy_iterator()]


def _check(ds, spec, cardinality, values):
    assert ds.element_spec == spec
    assert int(ds.cardinality()) == cardinality
    assert _values(ds) == values


def test_shard():
    _check(D.range(10).shard(3, 1), tf.TensorSpec((), tf.int64), 3, [1, 4, 7])
    _check(D.range(10).batch(3).shard(2, 1), tf.TensorSpec((None,), tf.int64), 2,
           [[3, 4, 5], [9]])
    assert _values(D.range(10).repeat().shard(3, 1).take(4)) == [1, 4, 7, 0]
    assert int(D.range(10).repeat().shard(3, 1).cardinality()) == -1
    assert int(D.range(10).filter(lambda x: True).shard(3, 1).cardinality()) == -2
    with pytest.raises(errors.InvalidArgumentError, match="Number of shards"):
        D.range(5).shard(0, 0)
    with pytest.raises(errors.InvalidArgumentError, match="Index must be between 0 and 1"):
        D.range(5).shard(2, 2)


def test_take_while():
    _check(D.range(10).take_while(lambda x: x < 4), tf.TensorSpec((), tf.int64), -2,
           [0, 1, 2, 3])
    assert int(D.range(10).repeat().take_while(lambda x: x < 3).cardinality()) == -2
    with pytest.raises(ValueError, match="must return a `tf.bool` scalar"):
        D.from_tensor_slices([1, 2]).take_while(lambda x: x)


def test_get_single_element():
    value = D.range(1).get_single_element()
    assert value.dtype is tf.int64 and int(value) == 0
    a, b = D.from_tensors((1, [2.0])).get_single_element()
    assert int(a) == 1 and b.numpy().tolist() == [2.0]
    with pytest.raises(errors.InvalidArgumentError, match="Dataset had more than one element"):
        D.range(2).get_single_element()
    with pytest.raises(errors.InvalidArgumentError, match="Dataset was empty"):
        D.range(0).get_single_element()


def test_unique():
    _check(D.from_tensor_slices([1, 3, 1, 2, 3, 5]).unique(), tf.TensorSpec((), tf.int32), -2,
           [1, 3, 2, 5])
    _check(D.from_tensor_slices(["a", "b", "a"]).unique(), tf.TensorSpec((), tf.string), -2,
           [b"a", b"b"])
    with pytest.raises(TypeError, match="does not support type"):
        D.from_tensor_slices([1.0]).unique()


def test_rebatch():
    spec = tf.TensorSpec((None,), tf.int64)
    _check(D.range(10).batch(4).rebatch(3), spec, -2, [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]])
    _check(D.range(10).batch(4).rebatch(3, drop_remainder=True), tf.TensorSpec((3,), tf.int64),
           -2, [[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    _check(D.range(10).batch(4).rebatch([1, 2]), spec, -2,
           [[0], [1, 2], [3], [4, 5], [6], [7, 8], [9]])


def test_group_by_window():
    spec = tf.TensorSpec((None,), tf.int64)
    _check(D.range(10).group_by_window(lambda x: x % 2, lambda k, d: d.batch(3), window_size=3),
           spec, -2, [[0, 2, 4], [1, 3, 5], [6, 8], [7, 9]])
    _check(D.range(10).group_by_window(lambda x: x % 3, lambda k, d: d.batch(2), window_size=2),
           spec, -2, [[0, 3], [1, 4], [2, 5], [6, 9], [7], [8]])
    endless = D.range(10).repeat().group_by_window(lambda x: x % 2, lambda k, d: d.batch(2),
                                                   window_size=2)
    assert int(endless.cardinality()) == -1


def test_group_by_window_spec_reads_no_data():
    pulls = []

    def gen():
        for i in range(4):
            pulls.append(i)
            yield i

    ds = D.from_generator(gen, output_signature=tf.TensorSpec((), tf.int64))
    grouped = ds.group_by_window(lambda x: x % 2, lambda k, d: d.batch(2), window_size=2)
    assert grouped.element_spec == tf.TensorSpec((None,), tf.int64)
    assert pulls == []
    assert _values(grouped) == [[0, 2], [1, 3]]


def _ragged():
    elements = [[1], [1, 2], [1, 2, 3], [1, 2, 3, 4, 5], [1] * 7, [2] * 3]
    return D.from_generator(lambda: iter(elements),
                            output_signature=tf.TensorSpec([None], tf.int32))


def test_bucket_by_sequence_length():
    spec = tf.TensorSpec((None, None), tf.int32)
    want = [[[1, 0], [1, 2]], [[1, 2, 3, 4, 5, 0, 0], [1] * 7], [[1, 2, 3], [2, 2, 2]]]
    _check(_ragged().bucket_by_sequence_length(lambda x: tf.shape(x)[0], [3, 5], [2, 2, 2]),
           spec, -2, want)
    _check(_ragged().bucket_by_sequence_length(lambda x: tf.shape(x)[0], [3, 5], [2, 2, 2],
                                               drop_remainder=True), spec, -2, want)
    _check(_ragged().bucket_by_sequence_length(lambda x: tf.shape(x)[0], [3, 9], [2, 2, 2],
                                               pad_to_bucket_boundary=True), spec, -2,
           [[[1, 0], [1, 2]], [[1, 2, 3, 0, 0, 0, 0, 0], [1, 2, 3, 4, 5, 0, 0, 0]],
            [[1, 1, 1, 1, 1, 1, 1, 0], [2, 2, 2, 0, 0, 0, 0, 0]]])
    with pytest.raises(ValueError, match="must equal `len\\(bucket_boundaries\\) \\+ 1`"):
        D.range(5).bucket_by_sequence_length(lambda x: 1, [3], [1])


def test_scan():
    _check(D.range(5).scan(tf.constant(0, tf.int64), lambda s, x: (s + x, s * 10)),
           tf.TensorSpec((), tf.int64), 5, [0, 0, 10, 30, 60])
    ds = D.range(5).scan((0, 1.0), lambda s, x: ((s[0] + 1, s[1] * 2), (x, s[1])))
    assert ds.element_spec == (tf.TensorSpec((), tf.int64), tf.TensorSpec((), tf.float32))
    assert [(int(a), float(b)) for a, b in ds.as_numpy_iterator()] == [
        (0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0)]
    pairs = D.zip((D.range(3), D.range(3)))
    summed = pairs.scan(tf.constant(0, tf.int64), lambda s, x: (s + x[0] + x[1], s))
    assert _values(summed) == [0, 0, 2]
    assert int(D.range(10).repeat().scan(0, lambda s, x: (s, x)).cardinality()) == -1


def test_ignore_errors():
    ds = D.from_tensor_slices([1.0, 0.0, 2.0]).map(
        lambda x: tf.debugging.check_numerics(1.0 / x, "e")).ignore_errors()
    _check(ds, tf.TensorSpec((), tf.float32), -2, [1.0, 0.5])
    assert int(D.range(3).ignore_errors().cardinality()) == -2


def test_choose_from_datasets():
    a, b = D.range(0, 5), D.range(100, 105)
    choices = D.from_tensor_slices(tf.constant([0, 1, 1, 0, 1], tf.int64))
    _check(D.choose_from_datasets([a, b], choices), tf.TensorSpec((), tf.int64), -2,
           [0, 100, 101, 1, 102])
    choices = D.from_tensor_slices(tf.constant([0, 0, 0, 1], tf.int64))
    assert _values(D.choose_from_datasets([D.range(2), b], choices)) == [0, 1]
    assert _values(D.choose_from_datasets([D.range(2), b], choices,
                                          stop_on_empty_dataset=False)) == [0, 1, 100]
    with pytest.raises(TypeError, match="must be scalar `tf.int64` tensors"):
        D.choose_from_datasets([a], D.range(1).map(lambda x: tf.cast(x, tf.int32)))
    with pytest.raises(errors.InvalidArgumentError, match="Selector index out of range"):
        _values(D.choose_from_datasets([a], D.from_tensor_slices(tf.constant([0, 3], tf.int64))))


def test_sample_from_datasets():
    a, b = D.range(0, 5), D.range(100, 105)
    ds = D.sample_from_datasets([a, b], seed=1)
    assert ds.element_spec == tf.TensorSpec((), tf.int64)
    assert int(ds.cardinality()) == -2
    got = _values(ds)
    assert sorted(got) == list(range(5)) + list(range(100, 105))
    assert [v for v in got if v < 100] == list(range(5))  # each input keeps its order
    assert _values(D.sample_from_datasets([a, b], seed=1)) == got  # seeded
    only_a = D.sample_from_datasets([a, b], weights=[1.0, 0.0], stop_on_empty_dataset=True)
    assert _values(only_a) == [0, 1, 2, 3, 4]
    assert int(D.sample_from_datasets([a.repeat(), b.repeat()]).cardinality()) == -1
    assert int(D.sample_from_datasets([a, b.repeat()]).cardinality()) == -1
    mixed = D.sample_from_datasets([D.from_tensors(0).repeat(), D.from_tensors(1).repeat()],
                                   weights=[0.25, 0.75], seed=3).take(4000)
    assert abs(np.mean(_values(mixed)) - 0.75) < 0.03  # TF: 0.7505


def test_random():
    ds = D.random(seed=4).take(3)
    assert ds.element_spec == tf.TensorSpec((), tf.int64)
    assert int(D.random().cardinality()) == -1
    first = _values(ds)
    assert all(0 <= v < 2**32 for v in first)
    assert _values(D.random(seed=4).take(3)) == first


def test_get_next_as_optional():
    iterator = iter(D.range(2))
    optional = iterator.get_next_as_optional()
    assert bool(optional.has_value()) and int(optional.get_value()) == 0
    assert optional.element_spec == tf.TensorSpec((), tf.int64)
    next(iterator)
    assert not bool(iterator.get_next_as_optional().has_value())
    assert data.experimental.Optional.empty(None).has_value().numpy() == np.bool_(False)


def test_text_line_dataset(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"x\n\ny\n")
    (tmp_path / "b.txt").write_bytes(b"l1\nl2\r\nl3")
    with gzip.open(tmp_path / "g.gz", "wb") as handle:
        handle.write(b"g1\ng2\n")
    ds = data.TextLineDataset([str(tmp_path / "a.txt"), str(tmp_path / "b.txt")])
    _check(ds, tf.TensorSpec((), tf.string), -2, [b"x", b"", b"y", b"l1", b"l2", b"l3"])
    assert _values(data.TextLineDataset(str(tmp_path / "b.txt"))) == [b"l1", b"l2", b"l3"]
    assert _values(data.TextLineDataset(str(tmp_path / "g.gz"), compression_type="GZIP")) == [
        b"g1", b"g2"]


def test_list_files(tmp_path):
    for name in ("b.txt", "a.txt", "c.csv"):
        (tmp_path / name).write_bytes(b"")
    ds = D.list_files(str(tmp_path / "*.txt"), shuffle=False)
    assert ds.element_spec == tf.TensorSpec((), tf.string)
    assert int(ds.cardinality()) == 2
    assert [os.path.basename(p) for p in _values(ds)] == [b"a.txt", b"b.txt"]
    both = D.list_files([str(tmp_path / "*.csv"), str(tmp_path / "b*")], shuffle=False)
    assert [os.path.basename(p) for p in _values(both)] == [b"b.txt", b"c.csv"]
    shuffled = _values(D.list_files(str(tmp_path / "*"), seed=7))
    assert sorted(shuffled) == _values(D.list_files(str(tmp_path / "*"), shuffle=False))
    assert _values(D.list_files(str(tmp_path / "*"), seed=7)) == shuffled
    with pytest.raises(errors.InvalidArgumentError, match="No files matched pattern"):
        D.list_files(str(tmp_path / "*.zzz"))
