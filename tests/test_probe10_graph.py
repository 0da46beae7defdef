"""Probe round 10, tf.function / AutoGraph and tf.distribute in user training scripts.

`for element in dataset` inside a tf.function is a loop that reads the dataset each time the
function runs (TF's behaviour: reshuffled each call, tensor-dependent `break`, shapes that
grow relaxed), and tf.distribute's smaller APIs. TensorFlow is not available to the tests:
expected values come from plain Python / NumPy float64, and errors are TF 2.21's types.
"""

import numpy as np
import pytest

import tensorflux as tf


def _passes_dataset():
    """A dataset whose every pass yields different values (the pass number), so a loop that
    kept the elements seen while tracing gives itself away."""
    passes = []

    def generate():
        passes.append(None)
        for k in range(4):
            yield np.float32(10 * len(passes) + k)

    return tf.data.Dataset.from_generator(
        generate, output_signature=tf.TensorSpec([], tf.float32)), passes


def test_loop_over_dataset_reads_it_on_every_call():
    dataset, passes = _passes_dataset()

    @tf.function
    def total(ds):
        s = tf.constant(0.0)
        for value in ds:
            s += value
        return s

    results = [float(total(dataset)) for _ in range(3)]
    # pass p yields 10p, 10p+1, 10p+2, 10p+3
    assert results == [sum(10 * p + k for k in range(4)) for p in (1, 2, 3)]
    assert len(passes) == 3
    assert total.experimental_get_tracing_count() == 1


def test_loop_over_shuffled_dataset_reshuffles_each_call():
    dataset = tf.data.Dataset.range(8).shuffle(8, seed=3).batch(8)

    @tf.function
    def order(ds):
        out = tf.zeros([0], tf.int64)
        for batch in ds:
            out = batch
        return out

    orders = [order(dataset).numpy().tolist() for _ in range(4)]
    assert all(sorted(o) == list(range(8)) for o in orders)
    assert len({tuple(o) for o in orders}) > 1


def test_loop_over_dataset_break_on_tensor_condition():
    dataset = tf.data.Dataset.from_tensor_slices(np.arange(10, dtype="float32")).batch(3)

    @tf.function
    def until(ds, limit):
        s = tf.constant(0.0)
        n = 0
        for batch in ds:
            if tf.reduce_sum(batch) > limit:
                break
            s += tf.reduce_sum(batch)
            n += 1
        return s, n

    batches = [np.arange(10, dtype="float64")[i:i + 3] for i in range(0, 10, 3)]
    for limit in (2.0, 12.5, 100.0):
        s, n = 0.0, 0
        for b in batches:
            if b.sum() > limit:
                break
            s, n = s + b.sum(), n + 1
        got_s, got_n = until(dataset, tf.constant(limit))
        assert (float(got_s), int(got_n)) == (s, n)


def test_loop_over_dataset_continue_and_partial_batch():
    @tf.function
    def rows(ds):
        count = tf.constant(0)
        odd = tf.constant(0, tf.int64)
        for batch in ds:
            count += tf.shape(batch)[0]
            if tf.reduce_sum(batch) % 2 == 0:
                continue
            odd += 1
        return count, odd

    for n, size in ((7, 3), (5, 2), (4, 4)):
        batches = [list(range(n))[i:i + size] for i in range(0, n, size)]
        expected = (n, sum(1 for b in batches if sum(b) % 2))
        count, odd = rows(tf.data.Dataset.range(n).batch(size))
        assert (int(count), int(odd)) == expected


def test_loop_over_dataset_relaxes_growing_shapes():
    x = np.arange(14, dtype="float32").reshape(7, 2)

    @tf.function
    def collect(ds):
        out = tf.zeros([0, 2])
        for batch in ds:
            out = tf.concat([out, batch * 2.0], 0)
        return out

    got = collect(tf.data.Dataset.from_tensor_slices(x).batch(3))
    np.testing.assert_array_equal(got.numpy(), x.astype("float64") * 2)


def test_loop_over_iterator_continues_where_it_is():
    iterator = iter(tf.data.Dataset.range(6))
    assert int(next(iterator)) == 0

    @tf.function
    def rest(it):
        s = tf.constant(0, tf.int64)
        for value in it:
            s += value
        return s

    assert int(rest(iterator)) == 1 + 2 + 3 + 4 + 5
    assert int(rest(iterator)) == 0  # exhausted: no iteration


def test_training_loop_over_dataset_in_function_matches_numpy():
    xs = np.arange(12, dtype="float32").reshape(6, 2) / 10
    ys = np.array([1.0, -1.0, 0.5, 2.0, 0.0, 1.5], "float32")
    w = tf.Variable([[0.1], [0.2]])
    lr = 0.05

    @tf.function
    def epoch(ds):
        total = tf.constant(0.0)
        for x, y in ds:
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean((tf.matmul(x, w)[:, 0] - y) ** 2)
            w.assign_sub(lr * tape.gradient(loss, w))
            total += loss
        return total

    dataset = tf.data.Dataset.from_tensor_slices((xs, ys)).batch(4)
    got = [float(epoch(dataset)) for _ in range(2)]

    ref_w = np.array([[0.1], [0.2]])
    expected = []
    for _ in range(2):
        total = 0.0
        for i in range(0, 6, 4):
            x, y = xs[i:i + 4].astype("float64"), ys[i:i + 4].astype("float64")
            err = (x @ ref_w)[:, 0] - y
            total += np.mean(err ** 2)
            ref_w = ref_w - lr * (2 * x.T @ err[:, None] / len(y))
        expected.append(total)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    np.testing.assert_allclose(w.numpy(), ref_w, rtol=1e-5)


def test_return_inside_dataset_loop_is_tf_not_implemented_error():
    @tf.function
    def first_big(ds):
        for value in ds:
            if value > 2:
                return value
        return tf.constant(-1, tf.int64)

    with pytest.raises(NotImplementedError, match="return statement"):
        first_big(tf.data.Dataset.range(10))


# ------------------------------------------------------------------ tf.distribute

def test_strategy_extended_update_reduce_to_call_for_each_replica():
    strategy = tf.distribute.MirroredStrategy()
    with strategy.scope():
        v = tf.Variable(1.0)
    strategy.extended.update(v, lambda var, d: var.assign_add(d), args=(tf.constant(2.0),))
    assert float(v.numpy()) == 3.0
    per_replica = strategy.run(lambda: tf.constant(3.0))
    assert float(strategy.extended.reduce_to(tf.distribute.ReduceOp.SUM, per_replica, v)) == 3.0
    assert [float(r) for r in strategy.extended.batch_reduce_to(
        "MEAN", [(per_replica, v), (tf.constant(5.0), v)])] == [3.0, 5.0]
    assert float(strategy.extended.call_for_each_replica(
        lambda a: a * 2, args=(tf.constant(4.0),))) == 8.0


def test_input_options_and_distributed_types():
    strategy = tf.distribute.MirroredStrategy()
    dataset = tf.data.Dataset.from_tensor_slices(np.ones((10, 2), "float32")).batch(4)
    options = tf.distribute.InputOptions(experimental_fetch_to_device=False)
    assert options.experimental_replication_mode is tf.distribute.InputReplicationMode.PER_WORKER
    distributed = strategy.experimental_distribute_dataset(dataset, options=options)
    assert [tuple(b.shape) for b in distributed] == [(4, 2), (4, 2), (2, 2)]
    assert isinstance(distributed, tf.distribute.DistributedDataset)
    assert isinstance(iter(distributed), tf.distribute.DistributedIterator)
    assert not isinstance([1, 2], tf.distribute.DistributedDataset)
    assert type(tf.distribute.get_strategy()).__name__ == "_DefaultDistributionStrategy"


def test_compute_average_loss_needs_integer_global_batch_size():
    per_example = tf.constant([1.0, 2.0, 4.0])
    assert float(tf.nn.compute_average_loss(per_example, global_batch_size=4)) == 7.0 / 4
    assert float(tf.nn.compute_average_loss(
        per_example, global_batch_size=tf.constant(2))) == 7.0 / 2
    with pytest.raises(TypeError, match="global_batch_size must be an integer"):
        tf.nn.compute_average_loss(per_example, global_batch_size=2.0)


def test_strategy_run_inside_run_is_runtime_error():
    strategy = tf.distribute.MirroredStrategy()
    with pytest.raises(RuntimeError, match="cross-replica context"):
        strategy.run(lambda: strategy.run(lambda: tf.constant(1.0)))
    merged = strategy.run(lambda: tf.distribute.get_replica_context().merge_call(
        lambda s: s.run(lambda: tf.constant(2.0))))
    assert float(merged) == 2.0
