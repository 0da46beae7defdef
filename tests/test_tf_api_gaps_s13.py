"""TensorFlow 2.21 names that tensorflux lacked: top-level aliases and ops, tf.sets, the Keras
aliases, tf.train.ExponentialMovingAverage / ClusterSpec / checkpoints_iterator, tf.TypeSpec,
NumpyIterator, tf.DeviceSpec. Expected values were printed by TensorFlow 2.21.0 (tensorflow-cpu)
on the same inputs, or are closed forms."""

import math
import subprocess
import sys

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import errors

# ------------------------------------------------------------------ top-level aliases

def test_assert_aliases_are_the_debugging_functions():
    # TF 2.21: tf.assert_equal is tf.debugging.assert_equal (same for assert_rank)
    for name in ("assert_equal", "assert_greater", "assert_less", "assert_rank"):
        assert getattr(tf, name) is getattr(tf.debugging, name)
    with pytest.raises(errors.InvalidArgumentError):
        tf.assert_equal(tf.constant([1, 2]), tf.constant([1, 3]))
    with pytest.raises((ValueError, errors.InvalidArgumentError)):
        tf.assert_rank(tf.constant([1, 2]), 2)


def test_eig_aliases_linalg():
    assert tf.eig is tf.linalg.eig and tf.eigvals is tf.linalg.eigvals
    e, v = tf.eig(tf.constant([[2.0, 1.0], [1.0, 3.0]]))
    assert e.dtype == tf.complex64 and v.dtype == tf.complex64  # TF 2.21
    np.testing.assert_allclose(np.sort(e.numpy().real), [(5 - 5 ** 0.5) / 2, (5 + 5 ** 0.5) / 2],
                               rtol=1e-5)
    values = tf.eigvals(tf.constant([[0.0, -1.0], [1.0, 0.0]], tf.float64))
    assert values.dtype == tf.complex128
    np.testing.assert_allclose(sorted(values.numpy().imag), [-1.0, 1.0])


@pytest.mark.parametrize("value, src, dst, shape, expected", [
    # TF 2.21 outputs
    ([1.0, -2.0], tf.float32, tf.int32, (2,), [1065353216, -1073741824]),
    ([1.0, 2.0], tf.float32, tf.uint8, (2, 4), [[0, 0, 128, 63], [0, 0, 0, 64]]),
    ([[1, 2, 3, 4], [5, 6, 7, 8]], tf.uint8, tf.int32, (2,), [67305985, 134678021]),
    ([[1, 2], [3, 4]], tf.uint8, tf.int16, (2,), [513, 1027]),
    ([1.5], tf.float64, tf.int32, (1, 2), [[0, 1073217536]]),
    ([1 + 2j], tf.complex64, tf.float32, (1, 2), [[1.0, 2.0]]),
])
def test_bitcast(value, src, dst, shape, expected):
    out = tf.bitcast(tf.constant(value, src), dst)
    assert out.dtype == dst and tuple(out.shape) == shape
    assert out.numpy().tolist() == expected


def test_bitcast_scalar_and_in_function():
    out = tf.bitcast(tf.constant(3, tf.int32), tf.float32)
    assert out.shape == () and out.numpy() == np.array(3, np.int32).view(np.float32)
    fn = tf.function(lambda x: tf.bitcast(x, tf.uint8))
    assert fn(tf.constant([1.0, 2.0])).numpy().tolist() == [[0, 0, 128, 63], [0, 0, 0, 64]]


@pytest.mark.parametrize("value, src, dst", [
    ([1, 2, 3, 4], tf.uint8, tf.int16),  # TF 2.21: Cannot bitcast (last axis 4, not 2)
    ([1, 2, 3], tf.uint8, tf.int32),
    ([1.0], tf.float32, tf.bool),  # TF 2.21: bool is not an allowed type
    ([True], tf.bool, tf.int8),
])
def test_bitcast_errors(value, src, dst):
    with pytest.raises(errors.InvalidArgumentError, match="bitcast"):
        tf.bitcast(tf.constant(value, src), dst)


@pytest.mark.parametrize("value, dtype, expected", [
    # TF 2.21 outputs
    (["hello", "world"], tf.string,
     [[232, 12, 56, 49, 169, 229, 139, 180], [110, 180, 184, 94, 67, 84, 26, 228]]),
    ([[1, 2], [3, 4]], tf.int32,
     [[76, 18, 253, 133, 168, 204, 240, 10], [254, 162, 60, 240, 103, 244, 53, 255]]),
    ([["a", "b"], ["c", "d"]], tf.string,
     [[122, 64, 59, 169, 136, 60, 55, 83], [52, 252, 224, 38, 64, 226, 155, 60]]),
    ([1.5, 2.5], tf.float64,
     [[179, 164, 179, 195, 72, 236, 82, 76], [76, 233, 121, 29, 44, 105, 144, 60]]),
    ([[[1, 2], [3, 4]]], tf.int64, [[20, 22, 69, 105, 139, 191, 144, 16]]),
    ([["ab"]], tf.string, [[30, 165, 173, 66, 82, 110, 141, 170]]),
])
def test_fingerprint(value, dtype, expected):
    out = tf.fingerprint(tf.constant(value, dtype))
    assert out.dtype == tf.uint8 and out.numpy().tolist() == expected


def test_fingerprint_errors():
    with pytest.raises(errors.InvalidArgumentError, match="at least one dimension"):
        tf.fingerprint(tf.constant(1))
    with pytest.raises(errors.InvalidArgumentError, match="farmhash64"):
        tf.fingerprint(tf.constant([1]), method="md5")
    assert tuple(tf.fingerprint(tf.zeros([0, 3])).shape) == (0, 8)
    # TF 2.21: rows without bytes hash as the empty string
    assert tf.fingerprint(tf.zeros([2, 0])).numpy().tolist() == [
        [79, 64, 144, 47, 59, 106, 225, 154]] * 2


def test_name_scope_and_inside_function():
    with tf.name_scope("outer"):
        with tf.name_scope("inner"):
            assert tf.get_current_name_scope() == "outer/inner"  # TF 2.21
    assert tf.get_current_name_scope() == ""
    assert tf.inside_function() is False
    assert bool(tf.function(lambda: tf.constant(tf.inside_function()))()) is True


def test_tuple_and_no_gradient():
    given = [tf.constant(1), None]
    assert tf.tuple(given) is given  # eagerly TF 2.21 returns the list as given
    out = tf.function(lambda a, b: tf.tuple([a, b]))(tf.constant(1), tf.constant(2.0))
    assert [float(t) for t in out] == [1.0, 2.0]
    assert tf.no_gradient("MyOp") is None
    with pytest.raises(TypeError):
        tf.no_gradient(3)
    with pytest.raises(TypeError):
        tf.tuple(tf.constant(1), control_inputs=tf.constant(1))


def test_random_index_shuffle():
    index = tf.range(6)
    out = tf.random_index_shuffle(index, [11, 5, 9], 5)
    assert sorted(out.numpy().tolist()) == list(range(6))
    # TF 2.21's index_shuffle prepends 498247692 to its two-word seed
    np.testing.assert_array_equal(
        tf.random_index_shuffle(index, [498247692, 5, 9], 5).numpy(),
        tf.random.experimental.index_shuffle(index, [5, 9], 5).numpy())
    with pytest.raises(errors.InvalidArgumentError, match="3 integers"):
        tf.random_index_shuffle(index, [5, 9], 5)


def test_aggregation_method():
    # TF 2.21: ADD_N 0, DEFAULT 0, EXPERIMENTAL_TREE 1, EXPERIMENTAL_ACCUMULATE_N 2
    method = tf.AggregationMethod
    assert (method.ADD_N, method.DEFAULT, method.EXPERIMENTAL_TREE,
            method.EXPERIMENTAL_ACCUMULATE_N) == (0, 0, 1, 2)


# ------------------------------------------------------------------ edit_distance

def test_edit_distance_tf_docs_example():
    hyp = tf.SparseTensor([[0, 0, 0], [1, 0, 0]], ["a", "b"], [2, 1, 1])
    truth = tf.SparseTensor([[0, 1, 0], [1, 0, 0], [1, 0, 1], [1, 1, 0]],
                            ["a", "b", "c", "a"], [2, 2, 2])
    # TF 2.21
    out = tf.edit_distance(hyp, truth, normalize=True)
    assert out.dtype == tf.float32 and tuple(out.shape) == (2, 2)
    assert out.numpy().tolist() == [[math.inf, 1.0], [0.5, 1.0]]
    assert tf.edit_distance(hyp, truth, normalize=False).numpy().tolist() == [[1, 1], [1, 1]]


def test_edit_distance_shapes_and_lengths():
    h = tf.SparseTensor([[0, 0], [0, 1], [0, 2], [1, 0]], [1, 2, 3, 4], [2, 3])
    t = tf.SparseTensor([[0, 0], [0, 1], [1, 0], [1, 1]], [1, 3, 5, 4], [2, 2])
    assert tf.edit_distance(h, t).numpy().tolist() == [0.5, 0.5]  # TF 2.21
    assert tf.edit_distance(h, t, normalize=False).numpy().tolist() == [1.0, 1.0]
    h = tf.SparseTensor([[0, 0], [0, 1]], ["k", "i"], [1, 2])
    t = tf.SparseTensor([[0, 0], [0, 1], [0, 2]], ["k", "a", "i"], [1, 3])
    np.testing.assert_allclose(tf.edit_distance(h, t).numpy(), [1 / 3], rtol=1e-6)
    # output shape: the larger of the leading shapes; both empty gives 0 (TF 2.21)
    h3 = tf.SparseTensor([[0, 0, 0]], [1], [3, 1, 1])
    t3 = tf.SparseTensor([[1, 0, 0]], [1], [2, 1, 1])
    assert tf.edit_distance(h3, t3).numpy().tolist() == [[math.inf], [1.0], [0.0]]


def test_edit_distance_errors():
    h = tf.SparseTensor([[0, 0]], [1], [1, 1])
    with pytest.raises(errors.InvalidArgumentError, match="dtype"):
        tf.edit_distance(h, tf.SparseTensor([[0, 0]], [1.0], [1, 1]))
    with pytest.raises(TypeError, match="SparseTensor"):
        tf.edit_distance(tf.constant([[1]]), h)


# ------------------------------------------------------------------ tf.sets

def _parts(st):
    return st.indices.numpy().tolist(), st.values.numpy().tolist(), st.dense_shape.numpy().tolist()


A = [[1, 2, 3], [4, 5, 6]]
B = [[3, 1, 7], [6, 6, 9]]


def test_sets_dense():
    a, b = tf.constant(A), tf.constant(B)
    # TF 2.21
    assert _parts(tf.sets.intersection(a, b)) == ([[0, 0], [0, 1], [1, 0]], [1, 3, 6], [2, 2])
    assert _parts(tf.sets.union(a, b)) == (
        [[0, 0], [0, 1], [0, 2], [0, 3], [1, 0], [1, 1], [1, 2], [1, 3]],
        [1, 2, 3, 7, 4, 5, 6, 9], [2, 4])
    assert _parts(tf.sets.difference(a, b)) == ([[0, 0], [1, 0], [1, 1]], [2, 4, 5], [2, 2])
    assert _parts(tf.sets.difference(a, b, aminusb=False)) == ([[0, 0], [1, 0]], [7, 9], [2, 1])
    assert _parts(tf.sets.intersection([[1], [2]], [[3], [4]])) == ([], [], [2, 0])


def test_sets_rank3_and_strings():
    a3 = tf.constant([[[1, 2, 2], [3, 1, 1]], [[5, 5, 5], [0, 0, 0]]])
    b3 = tf.constant([[[2, 7, 7], [1, 9, 9]], [[5, 0, 0], [4, 4, 4]]])
    assert _parts(tf.sets.intersection(a3, b3)) == (  # TF 2.21
        [[0, 0, 0], [0, 1, 0], [1, 0, 0]], [2, 1, 5], [2, 2, 1])
    out = tf.sets.union(tf.constant([["b", "a"]]), tf.constant([["c", "a"]]))
    assert _parts(out) == ([[0, 0], [0, 1], [0, 2]], [b"a", b"b", b"c"], [1, 3])


def test_sets_sparse():
    sa = tf.SparseTensor([[0, 0], [0, 2], [1, 1], [2, 0]], [9, 3, 4, 4], [3, 4])
    sb = tf.SparseTensor([[0, 1], [1, 0], [1, 2]], [3, 4, 8], [3, 3])
    # TF 2.21
    assert _parts(tf.sets.intersection(sa, sb)) == ([[0, 0], [1, 0]], [3, 4], [3, 1])
    assert _parts(tf.sets.union(sa, sb)) == (
        [[0, 0], [0, 1], [1, 0], [1, 1], [2, 0]], [3, 9, 4, 8, 4], [3, 2])
    assert _parts(tf.sets.difference(sa, sb)) == ([[0, 0], [2, 0]], [9, 4], [3, 1])
    dense = tf.constant([[1, 1], [2, 3], [0, 0]])
    assert _parts(tf.sets.union(dense, sb)) == (
        [[0, 0], [0, 1], [1, 0], [1, 1], [1, 2], [1, 3], [2, 0]], [1, 3, 2, 3, 4, 8, 0], [3, 4])
    # (sparse, dense) is swapped, the difference's direction with it
    assert _parts(tf.sets.difference(sb, dense)) == _parts(
        tf.sets.difference(dense, sb, aminusb=False))


def test_sets_size():
    sa = tf.SparseTensor([[0, 0], [0, 2], [1, 1], [2, 0]], [9, 3, 4, 4], [3, 4])
    assert tf.sets.size(sa).numpy().tolist() == [2, 1, 1]  # TF 2.21
    sp3 = tf.SparseTensor([[0, 0, 0], [0, 0, 1], [0, 1, 2], [1, 0, 0], [1, 0, 1], [1, 0, 2]],
                          [1, 2, 2, 5, 5, 6], [2, 2, 3])
    out = tf.sets.size(sp3)
    assert out.dtype == tf.int32 and out.numpy().tolist() == [[2, 1], [2, 0]]
    unsorted = tf.SparseTensor([[0, 1], [0, 0]], [1, 2], [1, 5])
    with pytest.raises(errors.InvalidArgumentError, match="order"):
        tf.sets.size(unsorted)
    assert tf.sets.size(unsorted, validate_indices=False).numpy().tolist() == [2]
    with pytest.raises(TypeError, match="SparseTensor"):
        tf.sets.size(tf.constant(A))
    with pytest.raises(errors.InvalidArgumentError, match="rank 2"):  # TF 2.21: Invalid rank 1
        tf.sets.size(tf.SparseTensor([[0], [2]], [1, 1], [4]))
    with pytest.raises(errors.InvalidArgumentError, match="out of bounds"):  # TF 2.21 too
        tf.sets.size(tf.SparseTensor([[0, 7]], [1], [1, 5]))


def test_sets_errors():
    with pytest.raises(TypeError, match="float32"):
        tf.sets.union(tf.constant([[1.0]]), tf.constant([[1.0]]))
    with pytest.raises(TypeError, match="one dtype"):
        tf.sets.union(tf.constant([[1]]), tf.constant([[1]], tf.int64))
    with pytest.raises(errors.InvalidArgumentError, match="rank 2"):
        tf.sets.union(tf.constant([3, 1]), tf.constant([2]))
    sb = tf.SparseTensor([[0, 1]], [3], [3, 3])
    with pytest.raises(errors.InvalidArgumentError, match="leading shape"):
        tf.sets.union(sb, tf.constant([[1]]))


def test_sets_in_function():
    fn = tf.function(lambda a, b: tf.sets.intersection(a, b).values)
    assert fn(tf.constant(A), tf.constant(B)).numpy().tolist() == [1, 3, 6]


# ------------------------------------------------------------------ Keras aliases

def test_keras_aliases():
    from tensorflux import keras

    # TF 2.21: tf.optimizers.Adam, tf.losses.MeanSquaredError, tf.metrics.Mean and
    # tf.initializers.GlorotUniform are Keras 3's classes; tf.losses has Keras 2's Reduction
    assert tf.optimizers.Adam is keras.optimizers.Adam
    assert tf.losses.MeanSquaredError is keras.losses.MeanSquaredError
    assert tf.metrics.Mean is keras.metrics.Mean
    assert tf.initializers.GlorotUniform is keras.initializers.GlorotUniform
    assert hasattr(tf.losses, "Reduction") and callable(tf.losses.mse)


def test_import_does_not_load_keras():
    code = ("import sys, tensorflux as tf; tf.sets; tf.train; tf.TypeSpec; tf.bitcast; "
            "print(any(m.startswith('tensorflux.keras') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------ tf.train

def test_exponential_moving_average():
    v = tf.Variable(1.0, name="v")
    w = tf.Variable([2.0, 4.0], name="w")
    ema = tf.train.ExponentialMovingAverage(0.9)
    assert ema.name == "ExponentialMovingAverage"
    assert ema.average_name(v) == "v/ExponentialMovingAverage"
    assert ema.average(v) is None
    assert ema.apply([v, w]) is None
    assert ema.average(v).name == "v/ExponentialMovingAverage:0"
    assert float(ema.average(v)) == 1.0 and ema.average(w).numpy().tolist() == [2.0, 4.0]
    v.assign(3.0)
    w.assign([0.0, 0.0])
    ema.apply([v, w])
    np.testing.assert_allclose(float(ema.average(v)), 0.9 * 1 + 0.1 * 3, rtol=1e-6)
    np.testing.assert_allclose(ema.average(w).numpy(), [1.8, 3.6], rtol=1e-6)
    v.assign(5.0)
    ema.apply([v])
    np.testing.assert_allclose(float(ema.average(v)), 0.9 * 1.2 + 0.5, rtol=1e-6)
    restore = ema.variables_to_restore()
    assert sorted(restore) == ["v/ExponentialMovingAverage", "w/ExponentialMovingAverage"]
    assert restore["v/ExponentialMovingAverage"] is v
    assert tf.train.ExponentialMovingAverage(0.9, name="Foo").average_name(v) == "v/Foo"


def test_ema_num_updates_and_zero_debias():
    x = tf.Variable(10.0)
    ema = tf.train.ExponentialMovingAverage(0.9, num_updates=0)  # decay min(.9, 1/10)
    ema.apply([x])
    x.assign(20.0)
    ema.apply([x])
    assert float(ema.average(x)) == pytest.approx(19.0)  # TF 2.21
    z = tf.Variable(1.0)
    ema = tf.train.ExponentialMovingAverage(0.9, num_updates=tf.Variable(5))  # min(.9, 6/15)
    ema.apply([z])
    z.assign(2.0)
    ema.apply([z])
    assert float(ema.average(z)) == pytest.approx(1.6)  # TF 2.21
    # TF 2.21 debiases only averages of tensors: a Variable's gives 4, 6, 3
    y = tf.Variable(4.0)
    ema = tf.train.ExponentialMovingAverage(0.5, zero_debias=True)
    seen = []
    for value in (4.0, 8.0, 0.0):
        y.assign(value)
        ema.apply([y])
        seen.append(float(ema.average(y)))
    assert seen == [4.0, 6.0, 3.0]


def test_ema_in_function_and_errors():
    z = tf.Variable(1.0)
    ema = tf.train.ExponentialMovingAverage(0.5)

    @tf.function
    def step():
        z.assign_add(1.0)
        ema.apply([z])

    step()
    step()
    # TF 2.21 gives 2.25: the shadow starts at z's value before the first call (1), then
    # 0.5 * 1 + 0.5 * 2 = 1.5 and 0.5 * 1.5 + 0.5 * 3 = 2.25
    assert float(ema.average(z)) == pytest.approx(2.25)
    with pytest.raises(TypeError, match="float"):
        ema.apply([tf.Variable(1)])
    with pytest.raises(TypeError, match="Variables"):
        ema.apply([tf.constant(1.0)])


def test_cluster_spec():
    cluster = tf.train.ClusterSpec({"worker": ["w0:2222", "w1:2222"], "ps": ["p0:2222"]})
    # TF 2.21
    assert cluster.as_dict() == {"worker": ["w0:2222", "w1:2222"], "ps": ["p0:2222"]}
    assert cluster.jobs == ["worker", "ps"]
    assert cluster.num_tasks("worker") == 2 and cluster.job_tasks("ps") == ["p0:2222"]
    assert cluster.task_indices("worker") == [0, 1]
    assert cluster.task_address("worker", 1) == "w1:2222"
    sparse = tf.train.ClusterSpec({"worker": {1: "w1:2222", 3: "w3:2222"}})
    assert sparse.as_dict() == {"worker": {1: "w1:2222", 3: "w3:2222"}}
    assert sparse.num_tasks("worker") == 2 and sparse.task_indices("worker") == [1, 3]
    assert sparse.job_tasks("worker") == [None, "w1:2222", None, "w3:2222"]
    assert bool(cluster) and not tf.train.ClusterSpec({})
    assert cluster == tf.train.ClusterSpec(cluster.as_dict())
    assert tf.train.ClusterSpec(cluster).jobs == ["ps", "worker"]
    with pytest.raises(ValueError, match="No such job"):
        cluster.num_tasks("chief")
    with pytest.raises(ValueError, match="No task with index 0"):
        sparse.task_address("worker", 0)
    with pytest.raises(TypeError):
        tf.train.ClusterSpec(3)


def test_checkpoints_iterator(tmp_path):
    assert list(tf.train.checkpoints_iterator(str(tmp_path), timeout=0)) == []
    checkpoint = tf.train.Checkpoint(v=tf.Variable(1.0))
    path = checkpoint.save(str(tmp_path / "ckpt"))
    calls = []

    def give_up():
        calls.append(1)
        return True

    found = list(tf.train.checkpoints_iterator(str(tmp_path), timeout=0, timeout_fn=give_up))
    assert found == [path] and calls == [1]


# ------------------------------------------------------------------ specs, iterators, devices

def test_type_spec():
    assert isinstance(tf.TensorSpec([1]), tf.TypeSpec)
    assert isinstance(tf.SparseTensorSpec([1], tf.int32), tf.TypeSpec)
    assert isinstance(tf.RaggedTensorSpec([1, None]), tf.TypeSpec)
    assert isinstance(tf.data.DatasetSpec(tf.TensorSpec([])), tf.TypeSpec)
    assert not isinstance(tf.constant(1), tf.TypeSpec)
    assert issubclass(tf.TensorSpec, tf.TypeSpec)


def test_numpy_iterator():
    from tensorflux.data.dataset import NumpyIterator

    iterator = tf.data.Dataset.range(3).as_numpy_iterator()
    assert isinstance(iterator, NumpyIterator)
    assert next(iterator) == 0 and [int(x) for x in iterator] == [1, 2]
    element = tf.data.Dataset.from_tensor_slices({"a": [1, 2]}).as_numpy_iterator().next()
    assert element == {"a": 1} and isinstance(element["a"], np.integer)


def test_device_spec():
    spec = tf.DeviceSpec.from_string("/job:worker/replica:0/task:1/device:GPU:2")
    # TF 2.21
    assert (spec.job, spec.replica, spec.task, spec.device_type, spec.device_index) == (
        "worker", 0, 1, "GPU", 2)
    assert spec.to_string() == "/job:worker/replica:0/task:1/device:GPU:2"
    assert tf.DeviceSpec.from_string("/gpu:1").to_string() == "/device:GPU:1"
    assert tf.DeviceSpec.from_string("CPU:0").to_string() == "/device:CPU:0"
    assert tf.DeviceSpec(job="ps", device_type="cpu").to_string() == "/job:ps/device:CPU:*"
    merged = spec.make_merged_spec(tf.DeviceSpec(device_type="CPU", device_index=0))
    assert merged.to_string() == "/job:worker/replica:0/task:1/device:CPU:0"
    assert tf.DeviceSpec(job="a").replace(task=3).to_string() == "/job:a/task:3"
    wildcard = tf.DeviceSpec.from_string("/job:w/device:GPU:*")
    assert wildcard.to_string() == "/job:w/device:GPU:*" and wildcard.device_index is None
    assert tf.DeviceSpec.from_string("").to_string() == ""
    assert tf.DeviceSpec.from_string("/task:1") == tf.DeviceSpec(task=1)
    assert hash(tf.DeviceSpec(task=1)) == hash(tf.DeviceSpec.from_string("/task:1"))
    with pytest.raises(ValueError, match="Unknown attribute 'foo'"):
        tf.DeviceSpec.from_string("/foo:1")


def test_host_ops_in_function():
    h = tf.SparseTensor([[0, 0], [0, 1]], ["k", "i"], [1, 2])
    t = tf.SparseTensor([[0, 0], [0, 1], [0, 2]], ["k", "a", "i"], [1, 3])
    distance = tf.function(lambda a, b: tf.edit_distance(a, b, normalize=False))
    assert distance(h, t).numpy().tolist() == [1.0]  # one insertion
    digest = tf.function(tf.fingerprint)(tf.constant(["hello"]))
    assert digest.numpy().tolist() == [[232, 12, 56, 49, 169, 229, 139, 180]]  # TF 2.21
