"""Behaviour of array and indexing ops: errors, TensorFlow's conventions, edge cases."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.errors import InvalidArgumentError
from tensorflux.ops import indexing
from tensorflux.ops._core import aval


def _raises(fn, *fragments):
    with pytest.raises(InvalidArgumentError) as info:
        fn()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# ------------------------------------------------------------------ bad inputs

def test_concat_rank_mismatch_names_the_shapes():
    _raises(lambda: tf.concat([tf.zeros([2, 3]), tf.zeros([3])], 0), "concat", "(2, 3)", "(3,)")


def test_concat_shape_mismatch_names_the_shapes():
    _raises(lambda: tf.concat([tf.zeros([2, 3]), tf.zeros([2, 4])], 0),
            "concat", "(2, 3)", "(2, 4)", "dimension 1")


def test_concat_dtype_mismatch():
    _raises(lambda: tf.concat([tf.zeros([2]), tf.zeros([2], tf.int32)], 0), "concat", "int32")


def test_split_must_divide_evenly():
    _raises(lambda: tf.split(tf.zeros([2, 5]), 2, axis=1), "split", "(2, 5)", "5", "2 pieces")


def test_split_sizes_must_add_up():
    _raises(lambda: tf.split(tf.zeros([5]), [2, 2]), "split", "[2, 2]", "(5,)")
    _raises(lambda: tf.split(tf.zeros([5]), [-1, -1]), "split", "one -1")
    _raises(lambda: tf.split(tf.zeros([5]), [4, -1, 3]), "split", "(5,)")


def test_reshape_to_a_different_size():
    _raises(lambda: tf.reshape(tf.zeros([2, 3]), [4, 2]), "reshape", "(2, 3)", "[4, 2]")
    _raises(lambda: tf.reshape(tf.zeros([2, 3]), [4, -1]), "reshape", "(2, 3)", "[4, -1]")


def test_gather_out_of_range_index_is_an_error():
    params = tf.constant([1.0, 2.0, 3.0])
    _raises(lambda: indexing.gather(params, [0, 7]), "gather", "indices[1] = 7 is not in [0, 3)")
    # TensorFlow's CPU kernel rejects negative indices too (no Python-style wrapping).
    _raises(lambda: indexing.gather(params, [-1]), "gather", "indices[0] = -1")


def test_gather_nd_out_of_range_index_is_an_error():
    _raises(lambda: indexing.gather_nd(tf.zeros([2, 2]), [[0, 1], [2, 0]]),
            "gather_nd", "indices[1] = [2, 0] does not index into shape [2, 2]")


def test_gather_validates_batch_dims():
    _raises(lambda: indexing.gather(tf.zeros([2, 3]), tf.zeros([3, 1], tf.int32), batch_dims=1),
            "gather", "(2, 3)", "(3, 1)")
    _raises(lambda: indexing.gather(tf.zeros([2, 3]), tf.zeros([2, 1], tf.int32), axis=0,
                              batch_dims=1), "gather", "batch_dims")
    _raises(lambda: indexing.gather(tf.zeros([2]), [0.5]), "gather", "float32")


def test_pad_reflect_padding_must_be_smaller_than_the_dimension():
    x = tf.zeros([3, 2])
    _raises(lambda: tf.pad(x, [[3, 0], [0, 0]], "REFLECT"), "pad", "REFLECT", "(3, 2)", "[3, 0]")
    assert tf.pad(x, [[2, 0], [0, 0]], "reflect").shape == tf.TensorShape([5, 2])
    assert tf.pad(x, [[3, 3], [2, 0]], "Symmetric").shape == tf.TensorShape([9, 4])
    _raises(lambda: tf.pad(x, [[4, 0], [0, 0]], "SYMMETRIC"), "pad", "SYMMETRIC", "(3, 2)")


def test_pad_rejects_bad_paddings_and_modes():
    _raises(lambda: tf.pad(tf.zeros([3]), [[1, 1], [1, 1]]), "pad", "(3,)", "[1, 2]")
    _raises(lambda: tf.pad(tf.zeros([3]), [[-1, 1]]), "pad", "non-negative")
    _raises(lambda: tf.pad(tf.zeros([3]), [[1, 1]], "WRAP"), "pad", "WRAP")


def test_squeeze_of_a_dimension_that_is_not_1():
    _raises(lambda: tf.squeeze(tf.zeros([1, 3]), axis=1), "squeeze", "(1, 3)", "got 3")


def test_strided_slice_zero_stride():
    _raises(lambda: indexing.strided_slice(tf.zeros([4]), [0], [4], [0]), "strided_slice",
            "non-zero", "(4,)")


def test_slice_out_of_bounds():
    _raises(lambda: indexing.slice(tf.zeros([3, 4]), [1, 0], [3, 2]), "slice", "size[0]",
            "(3, 4)")
    _raises(lambda: indexing.slice(tf.zeros([3]), [0, 0], [1, 1]), "slice", "(3,)")


def test_tile_and_repeat_validate_their_counts():
    _raises(lambda: tf.tile(tf.zeros([2, 3]), [2]), "tile", "(2, 3)", "[2]")
    _raises(lambda: tf.repeat(tf.zeros([3]), [1, 2]), "repeat", "(3,)", "[1, 2]")


def test_boolean_mask_shape_must_match():
    _raises(lambda: indexing.boolean_mask(tf.zeros([2, 3]), [True, False, True]),
            "boolean_mask", "(3,)", "(2, 3)")


def test_scatter_nd_updates_shape_must_match():
    _raises(lambda: indexing.scatter_nd([[0], [1]], [1.0, 2.0, 3.0], [4]), "scatter_nd",
            "(2,)", "(3,)")
    _raises(lambda: indexing.scatter_nd([[4]], [1.0], [4]), "scatter_nd",
            "indices[0] = [4] does not index into shape [4]")


def test_getitem_out_of_range_int_names_index_and_shape():
    x = tf.zeros([2, 3])
    _raises(lambda: x[0, 3], "getitem", "[0, 3]", "(2, 3)", "index 3 is out of bounds for axis 1")
    _raises(lambda: x[-3], "getitem", "(2, 3)", "index -3")


def test_getitem_out_of_range_index_tensor_and_other_bad_keys():
    x = tf.zeros([2, 3])
    _raises(lambda: indexing.getitem(x, (slice(None), tf.constant([0, 5]))), "getitem", "(2, 3)",
            "index 5", "axis 1")
    _raises(lambda: x[0, 0, 0], "getitem", "(2, 3)", "too many indices")
    _raises(lambda: x[..., 0, ...], "getitem", "Ellipsis")
    _raises(lambda: indexing.getitem(x, tf.constant([0.5])), "getitem", "float32")
    _raises(lambda: x[::0], "getitem", "step")
    _raises(lambda: x[tf.constant([True, False])[None]], "getitem", "(2, 3)")


def test_range_rejects_zero_delta_and_wrong_direction():
    _raises(lambda: tf.range(0, 5, 0), "range", "delta")
    _raises(lambda: tf.range(5, 0, 1), "range", "start <= limit")
    _raises(lambda: tf.range(0, 5, -1), "range", "start >= limit")


def test_sort_and_unique_validate_inputs():
    _raises(lambda: tf.sort([1.0, 2.0], direction="UP"), "sort", "UP")
    _raises(lambda: tf.unique([[1, 2]]), "unique", "(1, 2)")


# ------------------------------------------------------------------ TensorFlow's conventions

def test_range_dtype_inference():
    assert tf.range(5).dtype is tf.int32
    assert tf.range(1.0, 3).dtype is tf.float32
    assert tf.range(0, 3, 0.5).numpy().tolist() == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert tf.range(0, 5, 2, dtype=tf.int64).dtype is tf.int64
    assert tf.range(tf.constant(3, tf.int64)).dtype is tf.int64
    assert tf.range(3, 3).shape == tf.TensorShape([0])


def test_linspace_endpoints_are_exact_and_ints_give_float64():
    values = tf.linspace(0.1, 0.7, 7).numpy()
    assert values[0] == np.float32(0.1) and values[-1] == np.float32(0.7)
    assert tf.linspace(0, 10, 3).dtype is tf.float64
    assert tf.linspace(0.0, 1.0, 0).shape == tf.TensorShape([0])


def test_eye_batch_shape_and_dtype():
    out = tf.eye(2, batch_shape=[3], dtype=tf.int32)
    assert out.dtype is tf.int32 and out.shape == tf.TensorShape([3, 2, 2])
    assert out.numpy()[2].tolist() == [[1, 0], [0, 1]]


def test_split_and_unstack_counts():
    pieces = tf.split(tf.zeros([6, 2]), [1, -1, 2])
    assert [tuple(p.shape) for p in pieces] == [(1, 2), (3, 2), (2, 2)]


def test_split_pieces_share_no_memory_with_the_input_or_each_other():
    from tensorflux.backends import numpy_backend

    x = np.arange(24, dtype=np.float32).reshape(4, 6)
    # (Three or more leading pieces of one size along axis 0 come from one reshaped view.)
    for axis, sizes in ((0, (1, 3)), (1, (2, 1, 3)), (0, (1, 1, 1, 1)), (0, (1, 1, 1, 0, 1)),
                        (1, (2, 2, 2))):
        pieces = numpy_backend.split(x, sizes, axis)
        expected = np.split(x.copy(), np.cumsum(sizes)[:-1], axis=axis)
        for piece, want in zip(pieces, expected):
            np.testing.assert_array_equal(piece, want)
            assert not np.shares_memory(piece, x)
        for i, a in enumerate(pieces):
            assert not any(np.shares_memory(a, b) for b in pieces[i + 1:])
    before = [p.copy() for p in pieces]
    x[...] = -1
    pieces[0][...] = 7
    for piece, want in zip(pieces[1:], before[1:]):
        np.testing.assert_array_equal(piece, want)


def test_argsort_is_stable_in_both_directions():
    values = [2, 1, 2, 3, 1, 2]
    assert tf.argsort(values).numpy().tolist() == [1, 4, 0, 2, 5, 3]
    assert tf.argsort(values, direction="DESCENDING").numpy().tolist() == [3, 0, 2, 5, 1, 4]
    assert tf.argsort(values).dtype is tf.int32


def test_unique_keeps_first_occurrence_order():
    y, idx = tf.unique(tf.constant([4.0, 2.0, 4.0, 1.0, 2.0]), out_idx=tf.int64)
    assert y.numpy().tolist() == [4.0, 2.0, 1.0]
    assert idx.numpy().tolist() == [0, 1, 0, 2, 1]
    assert idx.dtype is tf.int64


def test_scatter_nd_sums_duplicates_and_update_replaces():
    out = indexing.scatter_nd([[0, 1], [0, 1], [1, 0]], [1, 2, 5], [2, 2])
    assert out.numpy().tolist() == [[0, 3], [5, 0]]
    updated = indexing.tensor_scatter_nd_update([[1, 2], [3, 4]], [[1]], [[7, 8]])
    assert updated.numpy().tolist() == [[1, 2], [7, 8]]


def test_slicing_a_variable_does_not_alias_its_buffer():
    v = tf.Variable([1.0, 2.0, 3.0])
    head = v[:2]
    parts = tf.split(v, 3)
    v.assign([7.0, 8.0, 9.0])
    assert head.numpy().tolist() == [1.0, 2.0]
    assert parts[0].numpy().tolist() == [1.0]


# ------------------------------------------------------------------ gradients

def _gradient(fn, x):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(fn(x))
    return tape.gradient(y, x).numpy().tolist()


def test_getitem_gradient_adds_over_repeated_indices():
    assert _gradient(lambda x: indexing.getitem(x, [0, 0, 2, 0]), [1.0, 2.0, 3.0]) == \
        [3.0, 0.0, 1.0]
    assert _gradient(lambda x: indexing.getitem(x, tf.constant([[1, 1], [1, 0]])),
                     [1.0, 2.0]) == [1.0, 3.0]
    assert _gradient(lambda x: indexing.getitem(x, (slice(None), tf.constant([-1, 2]))),
                     [[1.0, 2.0, 3.0]]) == [[0, 0, 2]]


def test_gather_gradient_adds_over_repeated_indices():
    assert _gradient(lambda x: indexing.gather(x, [1, 1, 1]), [1.0, 2.0]) == [0.0, 3.0]


def test_tensor_scatter_nd_update_gradient_blocks_replaced_entries():
    t = tf.constant([1.0, 2.0, 3.0])
    u = tf.constant([5.0])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([t, u])
        y = tf.reduce_sum(indexing.tensor_scatter_nd_update(t, [[1]], u) * [1.0, 2.0, 3.0])
    assert tape.gradient(y, t).numpy().tolist() == [1.0, 0.0, 3.0]
    assert tape.gradient(y, u).numpy().tolist() == [2.0]


def test_stop_gradient_blocks_the_gradient():
    assert _gradient(lambda x: x * tf.stop_gradient(x), [3.0]) == [3.0]


# ------------------------------------------------------------------ getitem against NumPy

def _random_key(rng, shape):
    """A random NumPy key of ints, slices, None, Ellipsis and index arrays for `shape`."""
    key, dim = [], 0
    used_ellipsis = False
    while dim < len(shape) and rng.random() < 0.85:
        kind = rng.integers(6)
        size = shape[dim]
        if kind == 0:
            key.append(int(rng.integers(-size, size)))
            dim += 1
        elif kind == 1:
            step = int(rng.choice([-2, -1, 1, 2, 3]))
            start, stop = (int(v) if rng.random() < 0.7 else None
                           for v in rng.integers(-size - 1, size + 2, 2))
            key.append(slice(start, stop, step))
            dim += 1
        elif kind == 2:
            key.append(None)
        elif kind == 3 and not used_ellipsis:
            key.append(Ellipsis)
            used_ellipsis = True
            dim = len(shape) - (len(shape) - dim) // 2
        elif kind == 4:
            key.append(rng.integers(-size, size, size=rng.integers(1, 3, size=rng.integers(1, 3))))
            dim += 1
        else:
            key.append(rng.random(size) < 0.5)
            dim += 1
    return tuple(key)


def test_getitem_matches_numpy_on_random_keys():
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(400):
        shape = tuple(int(d) for d in rng.integers(1, 4, size=rng.integers(1, 4)))
        x = rng.standard_normal(shape)
        key = _random_key(rng, shape)
        try:
            expected = x[key]
        except IndexError:  # e.g. index arrays that do not broadcast together
            continue
        tf_key = tuple(tf.constant(k) if isinstance(k, np.ndarray) else k for k in key)
        got = indexing.getitem(tf.constant(x), tf_key)
        np.testing.assert_array_equal(got.numpy(), expected, err_msg=repr(key))
        entries, tensors = indexing._normalize_key(tf_key)
        rule = indexing._getitem_rule(aval(shape, tf.float64),
                                      *[aval(t.shape, t.dtype) for t in tensors], key=entries)
        assert rule.shape.is_compatible_with(expected.shape), (key, rule.shape, expected.shape)
        checked += 1
    assert checked > 300
