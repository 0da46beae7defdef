"""Probe of tensorflow.org's TF 2 guides (ragged and sparse tensors, tf.function, type specs),
session 13. Expected values are TensorFlow 2.21's output, observed by running the same code
with `import tensorflow as tf` (tensorflow-cpu 2.21), or closed forms where said."""

import pytest

import tensorflux as tf

DIGITS = [[3, 1, 4, 1], [], [5, 9, 2], [6], []]


# ------------------------------------------------------------------ tf.tile of RaggedTensors

@pytest.mark.parametrize("multiples, expected", [
    # The ragged guide's `tf.tile(digits, [1, 2])` (TF 2.21 output).
    ([1, 2], [[3, 1, 4, 1, 3, 1, 4, 1], [], [5, 9, 2, 5, 9, 2], [6, 6], []]),
    ([2, 1], DIGITS + DIGITS),
    ([1, 0], [[], [], [], [], []]),
    ([0, 1], []),
])
def test_tile_repeats_items_inside_rows_then_the_rows(multiples, expected):
    digits = tf.ragged.constant(DIGITS)
    tiled = tf.tile(digits, multiples)
    assert isinstance(tiled, tf.RaggedTensor)
    assert tiled.to_list() == expected
    assert tiled.dtype == tf.int32 and tiled.row_splits.dtype == tf.int64
    assert tf.tile(digits, tf.constant(multiples)).to_list() == expected


def test_tile_of_nested_ragged_and_uniform_inner_dimensions():
    # TF 2.21 output.
    nested = tf.ragged.constant([[[1, 2], [3]], [[4, 5, 6]]])
    assert tf.tile(nested, [2, 2, 2]).to_list() == [
        [[1, 2, 1, 2], [3, 3], [1, 2, 1, 2], [3, 3]], [[4, 5, 6, 4, 5, 6], [4, 5, 6, 4, 5, 6]],
        [[1, 2, 1, 2], [3, 3], [1, 2, 1, 2], [3, 3]], [[4, 5, 6, 4, 5, 6], [4, 5, 6, 4, 5, 6]]]
    inner = tf.ragged.constant([[[1, 2], [3, 4]], [[5, 6]]], ragged_rank=1)
    assert tf.tile(inner, [1, 2, 3]).to_list() == [
        [[1, 2, 1, 2, 1, 2], [3, 4, 3, 4, 3, 4], [1, 2, 1, 2, 1, 2], [3, 4, 3, 4, 3, 4]],
        [[5, 6, 5, 6, 5, 6], [5, 6, 5, 6, 5, 6]]]


def test_tile_of_ragged_traced_and_differentiated():
    digits = tf.ragged.constant(DIGITS)
    traced = tf.function(lambda x, m: tf.tile(x, m))
    assert traced(digits, tf.constant([1, 2])).to_list() == tf.tile(digits, [1, 2]).to_list()
    x = tf.ragged.constant([[1.0, 2.0], [3.0]])
    with tf.GradientTape() as tape:
        tape.watch(x.flat_values)
        y = tf.reduce_sum(tf.tile(x, [2, 3]) ** 2)
    # Closed form: each value appears 2 * 3 times, d/dv sum(6 v^2) = 12 v.
    assert tf.convert_to_tensor(tape.gradient(y, x.flat_values)).numpy().tolist() == [
        12.0, 24.0, 36.0]


@pytest.mark.parametrize("multiples, match", [([1, 2, 3], "2 multiples"),
                                              ([1, -1], "non-negative")])
def test_tile_of_ragged_rejects_bad_multiples(multiples, match):
    with pytest.raises(tf.errors.InvalidArgumentError, match=match):
        tf.tile(tf.ragged.constant(DIGITS), multiples)


# ------------------------------------------------------------------ one_hot, rank

def test_one_hot_and_rank_of_ragged_tensors():
    # TF 2.21 output.
    hot = tf.one_hot(tf.ragged.constant([[0, 1], [2]]), 3, on_value=5)
    assert isinstance(hot, tf.RaggedTensor)
    assert hot.to_list() == [[[5, 0, 0], [0, 5, 0]], [[0, 0, 5]]]
    assert tf.rank(tf.ragged.constant([[[1]], []])).numpy() == 3
    with pytest.raises(tf.errors.InvalidArgumentError, match="ragged_rank"):
        tf.one_hot(tf.ragged.constant([[0, 1], [2]]), 3, axis=1)


# ------------------------------------------------------------------ feature crosses

def test_ragged_and_sparse_cross():
    # TF 2.21 output: the first input's values vary slowest; ints are written in decimal.
    first, second = tf.ragged.constant([["a", "b", "c"]]), tf.ragged.constant([["d", "e"]])
    assert tf.ragged.cross([first, second]).to_list() == [
        [b"a_X_d", b"a_X_e", b"b_X_d", b"b_X_e", b"c_X_d", b"c_X_e"]]
    assert tf.ragged.cross([first, second, tf.constant([[1, 2]])]).to_list()[0][:3] == [
        b"a_X_d_X_1", b"a_X_d_X_2", b"a_X_e_X_1"]
    assert tf.ragged.cross([tf.ragged.constant([["a"], []]),
                            tf.ragged.constant([["d"], ["e"]])]).to_list() == [[b"a_X_d"], []]
    crossed = tf.sparse.cross([first.to_sparse(), tf.constant([["x"]])])
    assert crossed.indices.numpy().tolist() == [[0, 0], [0, 1], [0, 2]]
    assert crossed.values.numpy().tolist() == [b"a_X_x", b"b_X_x", b"c_X_x"]
    assert crossed.dense_shape.numpy().tolist() == [1, 3]
    traced = tf.function(lambda a, b: tf.ragged.cross([a, b]))
    assert traced(first, second).to_list() == tf.ragged.cross([first, second]).to_list()


def test_reduce_join_traced_with_dimensions_known_at_run_time():
    # Closed form: Python's str.join over each row / column.
    join = tf.function(lambda x: (tf.strings.reduce_join(x, axis=1, keepdims=True,
                                                         separator="-"),
                                  tf.strings.reduce_join(x, axis=0)),
                       input_signature=[tf.TensorSpec([None, None], tf.string)])
    rows, columns = join(tf.constant([["a", "b"], ["c", "d"]]))
    assert rows.numpy().tolist() == [[b"a-b"], [b"c-d"]]
    assert columns.numpy().tolist() == [b"ac", b"bd"]
    rows, columns = join(tf.zeros([2, 0], tf.string))
    assert rows.numpy().tolist() == [[b""], [b""]] and columns.shape == (0,)


# ------------------------------------------------------------------ sparse add, bincount

@pytest.mark.parametrize("a, b, threshold, indices, values", [
    # TF 2.21: only a sum of entries both operands hold is compared with the threshold.
    (([[0, 1], [1, 1]], [1.0, 2.0]), ([[0, 1], [0, 2]], [-1.0, 3.0]), 2.5,
     [[0, 2], [1, 1]], [3.0, 2.0]),
    (([[0, 0], [0, 2]], [0.1, 0.3]), ([[0, 1], [0, 2]], [0.05, -0.25]), 0.08,
     [[0, 0], [0, 1]], [0.1, 0.05]),
    (([[0, 0], [0, 2]], [0.01, 0.02]), ([[0, 1]], [5.0]), 0.08,
     [[0, 0], [0, 1], [0, 2]], [0.01, 5.0, 0.02]),
    (([[0, 0]], [1.0]), ([[0, 0]], [-0.5]), 0.5, [[0, 0]], [0.5]),
])
def test_sparse_add_threshold_applies_to_sums_only(a, b, threshold, indices, values):
    shape = [3, 4]
    total = tf.sparse.add(tf.sparse.SparseTensor(a[0], a[1], shape),
                          tf.sparse.SparseTensor(b[0], b[1], shape), threshold=threshold)
    assert total.indices.numpy().tolist() == indices
    assert total.values.numpy().tolist() == pytest.approx(values)


def _parts(st):
    return (st.indices.numpy().tolist(), st.values.numpy().tolist(),
            st.dense_shape.numpy().tolist())


def test_sparse_bincount_of_a_sparse_tensor_counts_its_stored_values():
    # TF 2.21 output.
    values = tf.sparse.SparseTensor([[0, 0], [0, 1], [1, 0]], [0, 3, 3], [2, 2])
    assert _parts(tf.sparse.bincount(values)) == ([[0], [3]], [1, 2], [4])
    assert _parts(tf.sparse.bincount(values, axis=-1)) == (
        [[0, 0], [0, 3], [1, 3]], [1, 1, 1], [2, 4])
    weights = tf.sparse.SparseTensor([[0, 0], [0, 1], [1, 0]], [0.5, 2.0, 1.0], [2, 2])
    assert _parts(tf.sparse.bincount(values, weights=weights, axis=-1, minlength=5)) == (
        [[0, 0], [0, 3], [1, 3]], [0.5, 2.0, 1.0], [2, 5])
    assert _parts(tf.sparse.bincount(values, binary_output=True, maxlength=2)) == (
        [[0]], [1], [2])
    traced = tf.function(lambda st: tf.sparse.bincount(st, axis=-1))
    assert _parts(traced(values)) == ([[0, 0], [0, 3], [1, 3]], [1, 1, 1], [2, 4])
    with pytest.raises((ValueError, TypeError), match="SparseTensor"):
        tf.sparse.bincount(values, weights=[1.0, 2.0, 3.0])


# ------------------------------------------------------------------ type specs

def test_type_spec_from_value():
    # TF 2.21 output (reprs compared as TF prints them).
    assert repr(tf.type_spec_from_value(tf.ragged.constant(DIGITS))) == (
        "RaggedTensorSpec(TensorShape([5, None]), tf.int32, 1, tf.int64)")
    assert tf.type_spec_from_value([[1, 2]]) == tf.TensorSpec([1, 2], tf.int32)
    assert tf.type_spec_from_value(1.5) == tf.TensorSpec([], tf.float32)
    assert tf.type_spec_from_value("abc") == tf.TensorSpec([], tf.string)
    sparse = tf.sparse.SparseTensor([[0, 0]], [1], [2, 2])
    assert repr(tf.type_spec_from_value(sparse)) == (
        "SparseTensorSpec(TensorShape([2, 2]), tf.int32)")
    assert tf.type_spec_from_value(tf.data.Dataset.range(3)).element_spec == tf.TensorSpec(
        [], tf.int64)
    with pytest.raises(TypeError, match="Could not build a TypeSpec|could not build"):
        tf.type_spec_from_value(object())


# ------------------------------------------------------------------ traced argument names

def test_trace_placeholders_are_named_after_the_parameters():
    # TF 2.21: `print(x)` while tracing shows Tensor("x:0", ...), as the tf.function guide.
    seen = []

    @tf.function
    def f(a, items, *args, k=None, **kw):
        seen.append([t.name for t in tf.nest.flatten((a, items, args, k, kw))])
        return a

    f(tf.constant(1), [tf.constant(1), tf.constant(2)], tf.constant(3), tf.constant(4),
      k=tf.constant(5), q=tf.constant(6))
    assert seen[-1] == ["a:0", "items:0", "items_1:0", "args_0:0", "args_1:0", "k:0", "q:0"]

    @tf.function(input_signature=[tf.TensorSpec([], tf.int32, name="foo"),
                                  tf.TensorSpec([], tf.int32)])
    def g(x, y):
        seen.append((x.name, y.name))
        return x

    g(1, 2)
    assert seen[-1] == ("foo:0", "y:0")

    class Model:
        @tf.function
        def method(self, x):
            seen.append(x.name)
            return x

    Model().method(tf.constant(1))
    assert seen[-1] == "x:0"
