"""tf.data behaviours found by probing against TF 2.21 (round 8): zip cardinality, NumPy
values of string scalars, padded_batch on from_tensor_slices, padding-value checks,
sample_from_datasets with a weights dataset, as_numpy_iterator on Dataset elements.

TF is not available here: expected values are TF's documented semantics, written out."""

import numpy as np
import pytest

import tensorflux as tf

D = tf.data.Dataset


def test_zip_cardinality_unknown_when_any_input_is_unknown():
    assert int(D.zip((D.range(3).filter(lambda x: True), D.range(3))).cardinality()) == -2
    assert int(D.zip((D.range(2), D.range(3).repeat())).cardinality()) == 2
    assert int(D.zip((D.range(3).repeat(), D.range(3).repeat())).cardinality()) == -1


def test_as_numpy_iterator_gives_python_bytes_for_string_scalars():
    values = list(D.from_tensor_slices(["a", "b"]).as_numpy_iterator())
    assert values == [b"a", b"b"] and all(type(v) is bytes for v in values)
    gen = D.from_generator(lambda: iter([(1, "x")]), output_types=(tf.int64, tf.string),
                           output_shapes=((), ()))
    (number, text), = gen.as_numpy_iterator()
    assert type(text) is bytes and text == b"x" and int(number) == 1
    # Non-scalars stay arrays; numeric scalars stay NumPy scalars.
    row, = D.from_tensors(["a", "b"]).as_numpy_iterator()
    assert isinstance(row, np.ndarray) and row.tolist() == [b"a", b"b"]
    assert isinstance(next(D.range(1).as_numpy_iterator()), np.integer)


def test_padded_batch_of_tensor_slices_pads():
    strings = D.from_tensor_slices([["a"], ["b"]]).padded_batch(2, padded_shapes=[3])
    assert next(strings.as_numpy_iterator()).tolist() == [[b"a", b"", b""], [b"b", b"", b""]]
    dicts = D.from_tensor_slices({"a": [[1], [2]]}).padded_batch(
        2, padded_shapes={"a": [3]}, padding_values={"a": -1})
    assert next(dicts.as_numpy_iterator())["a"].tolist() == [[1, -1, -1], [2, -1, -1]]
    # Plain batch still slices directly.
    assert [b.tolist() for b in D.from_tensor_slices([[1], [2], [3]]).batch(2)
            .as_numpy_iterator()] == [[[1], [2]], [[3]]]


def test_padded_batch_spec_keeps_known_dims():
    base = D.from_tensor_slices((np.zeros((5, 3), "float32"), np.arange(5)))
    assert base.padded_batch(2).element_spec == (
        tf.TensorSpec((None, 3), tf.float32), tf.TensorSpec((None,), tf.int64))
    assert base.padded_batch(2, drop_remainder=True).element_spec[0] == \
        tf.TensorSpec((2, 3), tf.float32)
    ragged = D.range(1, 3).map(lambda x: tf.fill([x], x))
    assert ragged.padded_batch(2).element_spec == tf.TensorSpec((None, None), tf.int64)


def test_padding_value_type_checks():
    ints = D.range(1, 3).map(lambda x: tf.fill([x], x))
    with pytest.raises(TypeError, match="padding value -1.5"):
        ints.padded_batch(2, padding_values=-1.5)
    with pytest.raises(TypeError, match="string"):
        ints.padded_batch(2, padding_values="x")
    with pytest.raises(TypeError, match="bool"):
        D.range(1, 3).map(lambda x: tf.fill([x], x > 1)).padded_batch(2, padding_values=1)
    with pytest.raises(ValueError, match="scalar"):
        ints.padded_batch(2, padding_values=[1, 2])
    floats = D.range(1, 3).map(lambda x: tf.fill([x], tf.cast(x, tf.float32)))
    assert next(floats.padded_batch(2, padding_values=0).as_numpy_iterator()).tolist() == \
        [[1.0, 0.0], [2.0, 2.0]]
    assert next(ints.padded_batch(2, padding_values=-1).as_numpy_iterator()).tolist() == \
        [[1, -1], [2, 2]]


def test_sample_from_datasets_with_a_weights_dataset():
    one_hot = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    ds = D.sample_from_datasets([D.range(3).repeat(), D.range(10, 13).repeat()],
                                weights=D.from_tensor_slices(one_hot), seed=1)
    assert [int(v) for v in ds] == [0, 10, 1, 11]  # one draw per weight vector, then ends
    assert int(ds.cardinality()) == -1  # (TF's rule: an infinite input, whatever the weights)
    mixed = D.sample_from_datasets([D.range(3), D.range(10, 13)],
                                   weights=D.from_tensors([0.5, 0.5]).repeat(), seed=1)
    assert sorted(int(v) for v in mixed) == [0, 1, 2, 10, 11, 12]
    with pytest.raises(TypeError, match="shape \\[2\\]"):
        D.sample_from_datasets([D.range(3), D.range(3)], weights=D.range(3))


def test_as_numpy_iterator_rejects_dataset_elements():
    with pytest.raises(TypeError, match="as_numpy_iterator"):
        list(D.range(3).window(2).as_numpy_iterator())


def test_unbatch_cardinality_from_a_static_batch_dimension():
    assert int(D.range(10).batch(3, drop_remainder=True).unbatch().cardinality()) == 9
    assert int(D.range(10).batch(3).unbatch().cardinality()) == -2
    assert int(D.from_tensors(([1, 2], [3, 4])).unbatch().cardinality()) == 2
    assert int(D.range(3).batch(2, True).repeat().unbatch().cardinality()) == -1


def test_group_by_reducer_folds_each_group_in_first_seen_key_order():
    E = tf.data.experimental
    sums = D.range(10).apply(E.group_by_reducer(
        lambda x: x % 3, E.Reducer(lambda key: np.int64(0), lambda s, x: s + x, lambda s: s)))
    assert [int(v) for v in sums] == [0 + 3 + 6 + 9, 1 + 4 + 7, 2 + 5 + 8]
    assert int(sums.cardinality()) == -2
    assert sums.element_spec == tf.TensorSpec((), tf.int64)
    # A tuple state is unpacked into finalize_func's arguments, as TF does.
    pairs = D.from_tensor_slices((np.arange(6), np.arange(6.0))).apply(E.group_by_reducer(
        lambda a, b: a % 2,
        E.Reducer(lambda key: (key, tf.constant(0.0, tf.float64)),
                  lambda state, element: (state[0], state[1] + element[1]),
                  lambda key, total: {"key": key, "total": total})))
    assert [(int(d["key"]), float(d["total"])) for d in pairs.as_numpy_iterator()] == \
        [(0, 6.0), (1, 9.0)]
    with pytest.raises(TypeError, match="Reducer"):
        D.range(3).apply(E.group_by_reducer(lambda x: x, lambda s, x: s))


def _sparse(value):
    return (value.indices.numpy().tolist(), value.values.numpy().tolist(),
            value.dense_shape.numpy().tolist())


def test_sparse_batch_keeps_every_entry():
    rows = [np.array([1, 0, 2]), np.array([3]), np.array([0, 0])]
    source = D.from_generator(lambda: iter(rows),
                              output_signature=tf.TensorSpec((None,), tf.int64))
    fixed = source.apply(tf.data.experimental.dense_to_sparse_batch(2, [4]))
    assert fixed.element_spec == tf.SparseTensorSpec([None, 4], tf.int64)
    assert [_sparse(b) for b in fixed] == [
        ([[0, 0], [0, 1], [0, 2], [1, 0]], [1, 0, 2, 3], [2, 4]),
        ([[0, 0], [0, 1]], [0, 0], [1, 4])]
    widest = source.sparse_batch(2, [None])
    assert [_sparse(b)[2] for b in widest] == [[2, 3], [1, 2]]
    grid = D.range(1, 3).map(lambda x: tf.ones([x, 2], tf.int32)).sparse_batch(2, [None, 3])
    indices, values, shape = _sparse(next(iter(grid)))
    assert shape == [2, 2, 3] and values == [1] * 6
    assert indices == [[0, 0, 0], [0, 0, 1], [1, 0, 0], [1, 0, 1], [1, 1, 0], [1, 1, 1]]
    assert int(D.range(5).map(lambda x: tf.ones([x])).sparse_batch(2, [5]).cardinality()) == 3
    with pytest.raises(tf.errors.DataLossError, match="larger than the row shape"):
        list(D.range(1, 4).map(lambda x: tf.ones([x])).sparse_batch(3, [2]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="incompatible"):
        list(D.range(1, 4).map(lambda x: tf.ones([x])).sparse_batch(3, [2, 2]))


@pytest.mark.parametrize("calls, cycle", [(None, 6), (tf.data.AUTOTUNE, 2), (4, 4), (9, 6)])
def test_interleave_default_cycle_length_follows_tf(monkeypatch, calls, cycle):
    # TF: every core; min(num_parallel_calls, cores); ceil(cores / 3) for AUTOTUNE calls.
    from tensorflux.data import dataset as dataset_module
    monkeypatch.setattr(dataset_module.os, "cpu_count", lambda: 6)
    ds = D.range(8).interleave(lambda x: D.range(10 * x, 10 * x + 2), num_parallel_calls=calls)
    expected = []
    for start in range(0, 8, cycle):  # each cycle of `cycle` inputs, one element at a time
        group = range(start, min(start + cycle, 8))
        expected += [10 * x + i for i in range(2) for x in group]
    assert [int(v) for v in ds] == expected


def test_choose_and_sample_cardinality_follow_tf():
    # TF: infinite as soon as one input is infinite (selector and stop flag aside), else
    # unknown; sample_from_datasets returns a lone dataset (weight-0 ones left out) itself.
    inf, fin = D.range(2).repeat(), D.range(2)
    for stop in (True, False):
        for datasets, size in (([inf], -1), ([fin, inf], -1), ([fin, D.range(3)], -2)):
            choose = D.choose_from_datasets(datasets, D.from_tensors(np.int64(0)).repeat(3),
                                            stop_on_empty_dataset=stop)
            assert int(choose.cardinality()) == size
            sample = D.sample_from_datasets(datasets, stop_on_empty_dataset=stop)
            assert int(sample.cardinality()) == (2 if datasets == [fin] else size)
    assert D.sample_from_datasets([fin]) is fin
    assert D.sample_from_datasets([fin, inf], weights=[1.0, 0.0]) is fin
    dropped = D.sample_from_datasets([fin, D.range(3), inf], weights=np.array([0.5, 0.5, 0]))
    assert int(dropped.cardinality()) == -2
    kept = D.sample_from_datasets([fin, D.range(3), inf], weights=tf.constant([0.5, 0.5, 0]))
    assert int(kept.cardinality()) == -1


def test_key_func_must_return_int64():
    with pytest.raises(ValueError, match="key_func"):
        list(D.range(4).group_by_window(lambda x: tf.cast(x % 2, tf.int32),
                                        lambda k, w: w.batch(2), window_size=2))


def test_unbatch_of_scalars_is_a_value_error():
    with pytest.raises(ValueError, match="scalar components"):
        list(D.range(3).unbatch())


def test_as_numpy_iterator_densifies_sparse_tensors():
    sparse = tf.sparse.SparseTensor([[0, 1]], tf.constant([5], tf.int64), [2, 3])
    value, = D.from_tensors(sparse).as_numpy_iterator()
    assert isinstance(value, np.ndarray) and value.tolist() == [[0, 5, 0], [0, 0, 0]]


def _int_example(values):
    feature = tf.train.Feature(int64_list=tf.train.Int64List(value=values))
    weight = tf.train.Feature(float_list=tf.train.FloatList(value=[1.5]))
    return tf.train.Example(features=tf.train.Features(
        feature={"v": feature, "w": weight})).SerializeToString()


def test_ragged_feature_parses_as_tf_does():
    # (TF 2.21: a RaggedTensor with int32 row splits by default for a batch, one 1-D tensor
    # for a single example, read from value_key when given)
    records = [_int_example([1, 2, 3]), _int_example([]), _int_example([4])]
    out = tf.io.parse_example(records, {"v": tf.io.RaggedFeature(tf.int64),
                                        "w": tf.io.FixedLenFeature([], tf.float32)})
    assert out["v"].to_list() == [[1, 2, 3], [], [4]]
    assert out["v"].row_splits.dtype == tf.int32 and out["v"].dtype == tf.int64
    assert out["w"].numpy().tolist() == [1.5, 1.5, 1.5]
    renamed = tf.io.parse_example(records, {"x": tf.io.RaggedFeature(
        tf.int64, value_key="v", row_splits_dtype=tf.int64)})
    assert list(renamed) == ["x"] and renamed["x"].row_splits.dtype == tf.int64
    single = tf.io.parse_single_example(records[0], {"v": tf.io.RaggedFeature(tf.int64)})
    assert single["v"].numpy().tolist() == [1, 2, 3]
    mapped = tf.data.Dataset.from_tensor_slices(records).map(
        lambda r: tf.io.parse_single_example(r, {"v": tf.io.RaggedFeature(tf.int64)})["v"])
    assert [x.numpy().tolist() for x in mapped] == [[1, 2, 3], [], [4]]
    with pytest.raises(NotImplementedError, match="partitions"):
        tf.io.parse_example(records, {"v": tf.io.RaggedFeature(tf.int64, partitions=("n",))})
