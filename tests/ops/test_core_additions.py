"""Core-namespace additions and fixes, against TensorFlow 2.21's observed results: norms and
clipping, segments and counting, masks/rolls/grids, one_hot and top_k, string ops, sliced
variable assignment, tf.function input signatures."""

import numpy as np
import pytest

import tensorflux as tf


def _fd_grad(f, x, eps=1e-6):
    """Central finite differences of the scalar function f at the float64 array x."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = eps
        grad[i] = (f(x + step) - f(x - step)) / (2 * eps)
    return grad


def _check_grad(fn, x):
    x = np.asarray(x, np.float64)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = tf.reduce_sum(fn(xt) * tf.constant(np.linspace(0.5, 1.5, int(np.prod(
            fn(xt).shape))).reshape(fn(xt).shape)))
    weights = np.linspace(0.5, 1.5, int(np.prod(fn(xt).shape))).reshape(fn(xt).shape)
    numeric = _fd_grad(lambda v: float(np.sum(fn(tf.constant(v)).numpy() * weights)), x)
    np.testing.assert_allclose(tape.gradient(y, xt).numpy(), numeric, rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------ bugs

def test_variable_scatter_nd_update_and_add():
    v = tf.Variable([1, 2, 3, 4])
    v.scatter_nd_update([[0], [3]], [10, 40])
    assert v.numpy().tolist() == [10, 2, 3, 40]
    v.scatter_nd_add([[0], [1]], [1, 1])
    assert v.numpy().tolist() == [11, 3, 3, 40]


def test_string_add_and_string_reduce_sum():
    joined = tf.constant("a") + tf.constant("b")
    assert joined.dtype == tf.string and joined.numpy() == b"ab"
    assert "b'ab'" in str(joined)
    with pytest.raises(tf.errors.InvalidArgumentError, match="string"):
        tf.reduce_sum(tf.constant(["a"]))


def test_top_k_is_a_namedtuple():
    result = tf.math.top_k([1.0, 3.0, 2.0], 2)
    assert type(result).__name__ == "TopKV2"
    assert result.values.numpy().tolist() == [3.0, 2.0]
    assert result.indices.numpy().tolist() == [1, 2]
    values, indices = result
    assert indices.dtype == tf.int32


def test_one_hot_dtype_follows_on_off_values():
    out = tf.one_hot([0, 2], 3, on_value=5, off_value=-1)
    assert out.dtype == tf.int32
    assert out.numpy().tolist() == [[5, -1, -1], [-1, -1, 5]]
    assert tf.one_hot([0], 2).dtype == tf.float32
    with pytest.raises(TypeError, match="does not match"):
        tf.one_hot([0, 2], 3, on_value=5.0, off_value=-1)


def test_expand_dims_error_names_the_input_rank():
    with pytest.raises(tf.errors.InvalidArgumentError, match="tensor with 1 dimensions"):
        tf.expand_dims(tf.ones([2]), 3)


def test_variable_hash_says_use_ref():
    with pytest.raises(TypeError, match=r"variable\.ref\(\)"):
        hash(tf.Variable(1))


def test_sliced_variable_assignment_eager():
    v = tf.Variable([[1.0, 2.0], [3.0, 4.0]])
    result = v[0].assign([9.0, 9.0])
    assert result.numpy().tolist() == [[9.0, 9.0], [3.0, 4.0]]
    v[:, 1].assign_add([1.0, 1.0])
    assert v.numpy().tolist() == [[9.0, 10.0], [3.0, 5.0]]
    v[1, 0].assign_sub(1.0)
    assert v.numpy().tolist() == [[9.0, 10.0], [2.0, 5.0]]
    v[...].assign(0.0)  # a scalar broadcasts over the slice
    assert v.numpy().tolist() == [[0.0, 0.0], [0.0, 0.0]]
    with pytest.raises(ValueError, match="slice of shape"):
        v[0].assign([1.0, 2.0, 3.0])


def test_sliced_variable_assignment_in_function_and_gradient_of_slice():
    v = tf.Variable([[1.0, 2.0], [3.0, 4.0]])

    @tf.function
    def step():
        v[0].assign([7.0, 7.0])
        v[:, 1].assign_sub([1.0, 1.0])
        return v[1] * 2.0

    assert step().numpy().tolist() == [6.0, 6.0]
    assert v.numpy().tolist() == [[7.0, 6.0], [3.0, 3.0]]
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(v[0] * v[0])
    assert tape.gradient(y, v).numpy().tolist() == [[14.0, 12.0], [0.0, 0.0]]


def test_input_signature_converts_python_values_and_takes_nested_specs():
    f = tf.function(lambda x: x * 2, input_signature=[tf.TensorSpec([], tf.float32)])
    out = f(3.0)
    assert out.dtype == tf.float32 and float(out) == 6.0
    assert float(f(3)) == 6.0
    g = tf.function(lambda d: d["a"] + d["b"][0],
                    input_signature=[{"a": tf.TensorSpec([2], tf.float32),
                                      "b": (tf.TensorSpec([2], tf.float32),)}])
    assert g({"a": [1.0, 2.0], "b": ([3.0, 4.0],)}).numpy().tolist() == [4.0, 6.0]
    assert g({"a": tf.constant([1.0, 2.0]), "b": (tf.constant([3.0, 4.0]),)}).numpy().tolist() \
        == [4.0, 6.0]
    assert g.experimental_get_tracing_count() == 1
    with pytest.raises(TypeError, match="to tuple type"):  # TF 2.21: no list for a tuple spec
        g({"a": tf.constant([1.0, 2.0]), "b": [tf.constant([3.0, 4.0])]})
    with pytest.raises(TypeError, match="Can not cast TensorSpec"):
        f(tf.constant([1.0, 2.0]))
    with pytest.raises(TypeError, match="to a Dict type"):
        g([1.0, 2.0])


def test_input_signature_must_be_a_list_or_tuple():
    with pytest.raises(TypeError, match="input_signature must be either a tuple or a list"):
        tf.function(lambda x: x, input_signature=tf.TensorSpec([], tf.float32))


# ------------------------------------------------------------------ norms and clipping

def test_clip_by_norm_and_global_norm():
    np.testing.assert_allclose(tf.clip_by_norm([3.0, 4.0], 1.0).numpy(), [0.6, 0.8], rtol=1e-6)
    np.testing.assert_allclose(tf.clip_by_norm([0.3, 0.4], 1.0).numpy(), [0.3, 0.4], rtol=1e-6)
    clipped, norm = tf.clip_by_global_norm([tf.constant([3.0, 4.0]), None,
                                            tf.constant([12.0])], 6.5)
    assert float(norm) == 13.0 and clipped[1] is None
    np.testing.assert_allclose(clipped[0].numpy(), [1.5, 2.0], rtol=1e-6)
    np.testing.assert_allclose(clipped[2].numpy(), [6.0], rtol=1e-6)
    assert float(tf.linalg.global_norm([tf.constant([3.0, 4.0]), None,
                                        tf.constant([12.0])])) == 13.0
    with pytest.raises(TypeError):
        tf.clip_by_global_norm(tf.constant([1.0]), 1.0)


def test_l2_normalize():
    np.testing.assert_allclose(tf.math.l2_normalize([3.0, 4.0]).numpy(), [0.6, 0.8], rtol=1e-6)
    np.testing.assert_allclose(tf.nn.l2_normalize([[3.0, 4.0], [0.0, 0.0]], axis=1).numpy(),
                               [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)
    with pytest.raises(TypeError):
        tf.math.l2_normalize([3, 4])


@pytest.mark.parametrize("fn", [
    lambda x: tf.clip_by_norm(x, 1.0),
    lambda x: tf.clip_by_norm(x, 1.0, axes=[1]),
    lambda x: tf.math.l2_normalize(x, axis=1),
    lambda x: tf.roll(x, shift=[1, -1], axis=[0, 1]),
    lambda x: tf.nn.embedding_lookup(x, [2, 0, 2]),
    lambda x: tf.math.segment_sum(x, [0, 0, 2]),
    lambda x: tf.math.unsorted_segment_sum(x, [1, 0, 1], 3),
    lambda x: tf.math.unsorted_segment_mean(x, [1, 0, 1], 3),
], ids=["clip_by_norm", "clip_by_norm_axes", "l2_normalize", "roll", "embedding_lookup",
        "segment_sum", "unsorted_segment_sum", "unsorted_segment_mean"])
def test_gradients_match_finite_differences(fn):
    _check_grad(fn, np.array([[0.5, -1.2], [2.0, 0.3], [-0.7, 1.1]]))


# ------------------------------------------------------------------ segments and counting

def test_segment_ops():
    assert tf.math.segment_sum([1.0, 2.0, 3.0, 4.0], [0, 0, 1, 3]).numpy().tolist() == \
        [3.0, 3.0, 0.0, 4.0]
    assert tf.math.unsorted_segment_sum([1.0, 2.0, 3.0, 4.0], [2, 0, 2, 0], 4).numpy() \
        .tolist() == [6.0, 0.0, 4.0, 0.0]
    assert tf.math.unsorted_segment_mean([1.0, 2.0, 3.0, 4.0], [2, 0, 2, 0], 4).numpy() \
        .tolist() == [3.0, 0.0, 2.0, 0.0]
    out = tf.math.unsorted_segment_max([1.0, 2.0, 3.0, 4.0], [2, 0, 2, 0], 4).numpy()
    np.testing.assert_array_equal(out, np.array([4.0, -3.4028235e38, 3.0, -3.4028235e38],
                                                np.float32))
    ints = tf.math.unsorted_segment_max([1, 2, 3, 4], [2, 0, 2, 0], 4)
    assert ints.dtype == tf.int32 and ints.numpy().tolist() == [4, -2147483648, 3, -2147483648]
    with pytest.raises(tf.errors.InvalidArgumentError, match="sorted"):
        tf.math.segment_sum([1.0, 2.0], [1, 0])


def test_bincount_in_top_k_confusion_matrix_searchsorted():
    assert tf.math.bincount([1, 1, 3]).numpy().tolist() == [0, 2, 0, 1]
    weighted = tf.math.bincount([1, 1, 3], weights=[0.5, 1.0, 2.0], minlength=5)
    assert weighted.dtype == tf.float32 and weighted.numpy().tolist() == [0, 1.5, 0, 2.0, 0]
    assert tf.math.bincount([1, 1, 3], maxlength=2).numpy().tolist() == [0, 2]
    assert tf.math.in_top_k([1, 0], [[0.1, 0.9, 0.0], [0.3, 0.3, 0.4]], 1).numpy().tolist() \
        == [True, False]
    assert tf.math.confusion_matrix([0, 1, 2, 1], [0, 2, 2, 1]).numpy().tolist() == \
        [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    cm = tf.math.confusion_matrix([0, 1], [0, 1], num_classes=3, weights=[1.0, 2.0])
    assert cm.dtype == tf.int32 and cm.numpy().tolist() == [[1, 0, 0], [0, 2, 0], [0, 0, 0]]
    assert tf.searchsorted([[1, 3, 5]], [[2, 5, 6]]).numpy().tolist() == [[1, 2, 3]]
    assert tf.searchsorted([1.0, 3.0, 5.0], [2.0, 5.0, 6.0], side="right").numpy().tolist() \
        == [1, 3, 3]


# ------------------------------------------------------------------ masks, rolls, grids

def test_sequence_mask_roll_meshgrid_ensure_shape():
    assert tf.sequence_mask([1, 3, 2], 4).numpy().tolist() == [
        [True, False, False, False], [True, True, True, False], [True, True, False, False]]
    assert tf.sequence_mask([1, 3, 2]).shape == (3, 3)
    mask = tf.sequence_mask([1, 3], 4, dtype=tf.float32)
    assert mask.dtype == tf.float32 and mask.numpy().tolist() == [[1, 0, 0, 0], [1, 1, 1, 0]]
    assert tf.roll([[1, 2, 3], [4, 5, 6]], shift=[1, -1], axis=[0, 1]).numpy().tolist() == \
        [[5, 6, 4], [2, 3, 1]]
    x, y = tf.meshgrid([1, 2, 3], [4, 5])
    assert x.shape == (2, 3) and y.numpy().tolist() == [[4, 4, 4], [5, 5, 5]]
    assert [t.shape for t in tf.meshgrid([1, 2, 3], [4, 5], indexing="ij")] == [(3, 2), (3, 2)]
    assert tf.ensure_shape(tf.ones([2, 3]), [None, 3]).shape == (2, 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[2,3\].*\[\?,4\]"):
        tf.ensure_shape(tf.ones([2, 3]), [None, 4])


def test_composites_trace_into_functions():
    @tf.function
    def f(x):
        return (tf.roll(x, 1, 0), tf.clip_by_norm(x, 1.0), tf.sequence_mask([1, 2], 3),
                tf.math.unsorted_segment_sum(x, [1, 0, 1], 2))

    roll, clipped, mask, seg = f(tf.constant([3.0, 4.0, 0.0]))
    assert roll.numpy().tolist() == [0.0, 3.0, 4.0]
    np.testing.assert_allclose(clipped.numpy(), [0.6, 0.8, 0.0], rtol=1e-6)
    assert mask.numpy().tolist() == [[True, False, False], [True, True, False]]
    assert seg.numpy().tolist() == [4.0, 3.0]


def test_roll_traced_along_an_axis_known_at_run_time_only():
    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
    def rolled(x):
        return tf.roll(x, shift=1, axis=0), tf.roll(x, shift=[-1, 2], axis=[0, 1])

    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    once, twice = rolled(x)
    np.testing.assert_array_equal(once, np.roll(x, 1, 0))
    np.testing.assert_array_equal(twice, np.roll(x, (-1, 2), (0, 1)))
    assert [t.shape for t in rolled(np.zeros((0, 3), np.float32))] == [(0, 3), (0, 3)]
