"""tf.distribute: the Strategy API's contexts and errors (as TensorFlow 2.21 behaves), the
single-replica strategies leaving training unchanged, and data-parallel training over several
workers. The workers run as threads joined by an in-process communicator; N of them training
on their parts of each global batch must end with the weights and History of real Keras
training on the whole batches (float64). A last test runs two MPI processes under mpirun."""

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tensorflux.distribute import Communicator
from tensorflux.distribute.losses import compute_average_loss

from .keras._oracle import import_keras

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------ in-process workers

class _Group:
    def __init__(self, size):
        self.size = size
        self.barrier = threading.Barrier(size, timeout=60)
        self.slots = [None] * size


class ThreadCommunicator(Communicator):
    """Worker `rank` of a group of threads: each collective waits for all of them."""

    def __init__(self, group, rank):
        self.group, self.rank, self.size = group, rank, group.size
        self.calls = 0

    def _exchange(self, array):
        group = self.group
        self.calls += 1
        group.slots[self.rank] = np.array(array, copy=True)
        group.barrier.wait()
        values = list(group.slots)
        group.barrier.wait()
        return values

    def allreduce(self, array):
        values = self._exchange(array)
        assert all(v.shape == array.shape and v.dtype == array.dtype for v in values)
        return np.sum(values, axis=0).astype(array.dtype)

    def broadcast(self, array, root=0):
        return self._exchange(array)[root].copy()


def run_workers(size, fn):
    """fn(strategy) on `size` threads, each a worker of its own MultiWorkerMirroredStrategy;
    their results in rank order."""
    group = _Group(size)
    results, errors = [None] * size, []

    def work(rank):
        try:
            strategy = tf.distribute.MultiWorkerMirroredStrategy(
                communicator=ThreadCommunicator(group, rank))
            results[rank] = fn(strategy)
        except BaseException as error:  # noqa: BLE001 - re-raised below, in the test
            errors.append(error)
            group.barrier.abort()

    threads = [threading.Thread(target=work, args=(rank,)) for rank in range(size)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


@pytest.fixture
def float64():
    keras.config.set_floatx("float64")
    yield
    keras.config.set_floatx("float32")
    keras.backend.clear_session()


# ------------------------------------------------------------------ the API

def test_tpu_detection_falls_back_as_on_tensorflow():
    # The notebook idiom: TPUClusterResolver() off a TPU raises TF's ValueError.
    try:
        tpu = tf.distribute.cluster_resolver.TPUClusterResolver()
        strategy = tf.distribute.TPUStrategy(tpu)
    except ValueError as error:
        assert str(error) == "Please provide a TPU Name to connect to."
        strategy = tf.distribute.MirroredStrategy()
    assert strategy.num_replicas_in_sync == 1
    with pytest.raises(ValueError, match="Please provide a TPU Name"):
        tf.distribute.TPUStrategy()
    with pytest.raises(ValueError, match="CPUs and NVIDIA GPUs"):
        tf.distribute.cluster_resolver.TPUClusterResolver(tpu="grpc://10.0.0.2:8470")


def test_strategy_contexts_follow_tensorflow():
    default = tf.distribute.get_strategy()
    assert default.num_replicas_in_sync == 1
    assert not tf.distribute.has_strategy() and not tf.distribute.in_cross_replica_context()
    assert tf.distribute.get_replica_context().strategy is default
    with default.scope():  # the default strategy's scope changes nothing
        assert not tf.distribute.has_strategy()
    strategy = tf.distribute.MirroredStrategy()
    other = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        assert tf.distribute.has_strategy() and tf.distribute.get_strategy() is strategy
        assert tf.distribute.in_cross_replica_context()
        assert tf.distribute.get_replica_context() is None
        with strategy.scope():
            pass
        with pytest.raises(RuntimeError, match="Mixing different tf.distribute.Strategy"):
            with other.scope():
                pass

        def step(x, scale=1.0):
            context = tf.distribute.get_replica_context()
            assert context.strategy is strategy and not tf.distribute.in_cross_replica_context()
            assert int(context.replica_id_in_sync_group) == 0
            merged = context.merge_call(lambda s: tf.distribute.in_cross_replica_context())
            return x * scale, merged

        value, merged = strategy.run(step, args=(tf.constant(2.0),), kwargs={"scale": 3.0})
        assert float(value) == 6.0 and merged
    assert not tf.distribute.has_strategy()
    with pytest.raises(ValueError, match="positional args must be a list or tuple"):
        strategy.run(step, args=1)


def test_reduce_gather_and_inputs_on_one_replica():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    value = tf.constant([[1.0, 2.0], [3.0, 6.0]])
    assert strategy.reduce("SUM", value, axis=None) is value
    assert strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=1).numpy().tolist() == [
        1.5, 4.5]
    nested = strategy.reduce("sum", {"a": value, "b": [value]}, axis=0)
    assert nested["b"][0].numpy().tolist() == [4.0, 8.0]
    with pytest.raises(ValueError, match="'PROD' is not a valid ReduceOp"):
        strategy.reduce("PROD", value, axis=None)
    assert strategy.experimental_local_results(value) == (value,)
    assert strategy.gather(value, axis=0) is value
    dataset = tf.data.Dataset.range(10).batch(4)
    assert strategy.experimental_distribute_dataset(dataset) is dataset
    seen = []
    strategy.distribute_datasets_from_function(lambda context: seen.append(context))
    assert str(seen[0]) == "tf.distribute.InputContext(input pipeline id 0, total: 1)"
    context = tf.distribute.InputContext(2, 1, 4)
    assert context.get_per_replica_batch_size(8) == 2
    with pytest.raises(ValueError, match="7 is not divisible by `num_replicas_in_sync` 4"):
        context.get_per_replica_batch_size(7)
    average = compute_average_loss
    assert float(average(tf.constant([1.0, 2.0, 3.0]), global_batch_size=6)) == 1.0
    assert abs(float(average(tf.constant([1.0, 2.0, 3.0]),
                             sample_weight=tf.constant([1.0, 0.0, 2.0]))) - 7 / 3) < 1e-6
    with strategy.scope(), pytest.raises(RuntimeError, match="cross replica context"):
        average(tf.constant([1.0]))


def test_strategy_arguments_are_checked():
    options = tf.distribute.experimental.CommunicationOptions(implementation="nccl")
    assert options.implementation is tf.distribute.experimental.CollectiveCommunication.NCCL
    assert repr(tf.distribute.experimental.CommunicationOptions()) == (
        "Options(bytes_per_pack=0,timeout_seconds=None, "
        "implementation=CommunicationImplementation.AUTO)")
    alone = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    assert alone.num_replicas_in_sync == 1 and alone.cluster_resolver.task_type is None
    assert alone.extended.should_checkpoint
    with pytest.raises(NotImplementedError, match="one replica per process"):
        tf.distribute.MirroredStrategy(["/gpu:0", "/gpu:1"])
    with pytest.raises(ValueError, match="at least one device"):
        tf.distribute.MirroredStrategy([])
    with pytest.raises(ValueError, match="Unknown device 'TPU:0'"):
        tf.distribute.OneDeviceStrategy("TPU:0")


# ------------------------------------------------------------------ Keras, one replica

def _data(rows=17, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(rows, 4)), rng.normal(size=(rows, 2))


def _model(module, optimizer="adam"):
    model = module.Sequential([module.Input((4,)), module.layers.Dense(5, activation="tanh"),
                               module.layers.Dense(2)])
    optimizer = {"adam": lambda: module.optimizers.Adam(0.05),
                 "sgd": lambda: module.optimizers.SGD(0.1, momentum=0.9)}[optimizer]()
    model.compile(optimizer, "mse", metrics=["mae"])
    return model


def _initial_weights(seed=1):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=s) * 0.5 for s in [(4, 5), (5,), (5, 2), (2,)]]


@pytest.mark.parametrize("make", [
    lambda: None, lambda: tf.distribute.OneDeviceStrategy("/cpu:0"),
    lambda: tf.distribute.MirroredStrategy(),
    lambda: tf.distribute.MultiWorkerMirroredStrategy()], ids=[
    "no-strategy", "one-device", "mirrored", "multi-worker-alone"])
def test_one_replica_strategies_change_nothing(make):
    x, y = _data()
    plain = _model(keras)
    plain.set_weights(_initial_weights())
    keras.utils.set_random_seed(7)  # (the shuffles)
    expected = plain.fit(x, y, batch_size=5, epochs=2, validation_split=0.25, verbose=0)
    strategy = make()
    with strategy.scope() if strategy is not None else tf.distribute.get_strategy().scope():
        model = _model(keras)
    model.set_weights(_initial_weights())
    keras.utils.set_random_seed(7)
    history = model.fit(x, y, batch_size=5, epochs=2, validation_split=0.25, verbose=0)
    assert model.distribute_strategy is (strategy or tf.distribute.get_strategy())
    assert history.history == expected.history
    for ours, theirs in zip(model.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(ours, theirs)


def test_single_process_training_never_loads_distribute():
    code = ("import sys, numpy as np\nfrom tensorflux import keras\n"
            "m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])\n"
            "m.compile('sgd', 'mse'); m.fit(np.ones((4, 2)), np.ones((4, 1)), verbose=0)\n"
            "print('tensorflux.distribute' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "False"


# ------------------------------------------------------------------ Keras, several workers

def _fit_and_evaluate(model, x, y, val):
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, validation_data=val,
                        verbose=0).history
    evaluated = model.evaluate(*val, batch_size=4, verbose=0, return_dict=True)
    return history, evaluated, model.get_weights()


@pytest.mark.keras_oracle
@pytest.mark.parametrize("workers,optimizer", [(3, "adam"), (2, "sgd")])
def test_multi_worker_fit_matches_one_process_on_the_whole_batches(float64, workers,
                                                                    optimizer):
    # 17 rows in batches of 8: parts of 2 or 3 rows, and a last batch of one row that leaves
    # every worker but one with an empty part; evaluation in batches of 4 of 6 rows.
    x, y = _data()
    val = _data(6, seed=2)

    def train(strategy):
        with strategy.scope():
            model = _model(keras, optimizer)  # each worker draws its own initial weights
        if strategy.cluster_resolver.task_id == 0:
            model.set_weights(_initial_weights())  # fit starts every worker from these
        return _fit_and_evaluate(model, x, y, val)

    # The references: one process on the whole batches, tensorflux's and real Keras's.
    single = _model(keras, optimizer)
    single.set_weights(_initial_weights())
    expected = _fit_and_evaluate(single, x, y, val)
    real = import_keras()
    real.config.set_floatx("float64")
    try:
        oracle = _model(real, optimizer)
        oracle.set_weights(_initial_weights())
        from_keras = _fit_and_evaluate(oracle, x, y, val)
    finally:
        real.config.set_floatx("float32")

    # (The compiled loss is float32 even under float64, in Keras too: the logged losses
    # agree to float32 sums taken in another order. The weights are float64 throughout.)
    for result in run_workers(workers, train):
        # (Against the one-process run: float32 rounding of the float32 loss, whose sums
        # may run in another order once earlier tests have started the kernel threads.)
        for ours, reference, weights_rtol in [(result, expected, 1e-6),
                                              (result, from_keras, 1e-5)]:
            for logs, reference_logs in zip(ours[:2], reference[:2]):
                assert logs.keys() == reference_logs.keys()
                for key in logs:
                    np.testing.assert_allclose(logs[key], reference_logs[key], rtol=1e-5,
                                               err_msg=key)
            for weight, reference_weight in zip(ours[2], reference[2]):
                np.testing.assert_allclose(weight, reference_weight, rtol=weights_rtol,
                                           atol=weights_rtol)


def test_multi_worker_fit_on_a_dataset_and_batchnorm(float64):
    x, y = _data(20)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(6)

    def build():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3),
                                  keras.layers.BatchNormalization(), keras.layers.Dense(2)])
        model.compile(keras.optimizers.SGD(0.1), "mse")
        return model

    def train(strategy):
        with strategy.scope():
            model = build()
        model.fit(dataset, epochs=2, verbose=0)
        return model.get_weights()

    keras.utils.set_random_seed(3)
    first, second = run_workers(2, train)
    # Every weight, the averaged moving statistics included, is the same on both workers.
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    # Without BatchNormalization (whose batch statistics are per worker), the same weights
    # as one process on the whole batches.
    def train_dense(strategy):
        with strategy.scope():
            model = _model(keras, "sgd")
        if strategy.cluster_resolver.task_id == 0:
            model.set_weights(_initial_weights())
        model.fit(dataset, epochs=2, verbose=0)
        return model.get_weights()

    plain = _model(keras, "sgd")
    plain.set_weights(_initial_weights())
    plain.fit(dataset, epochs=2, verbose=0)
    for weights in run_workers(2, train_dense):
        for ours, theirs in zip(weights, plain.get_weights()):
            np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-13)


def test_custom_loop_sums_gradients_as_tensorflow(float64):
    # Linear least squares trained with plain SGD: the expected weights come from NumPy.
    x, y = _data(12)
    global_batch, rate, steps = 6, 0.25, 2  # (a rate exact in float32)
    w = np.zeros((4, 2))
    losses = []
    for step in range(steps):
        xb, yb = x[step * global_batch:(step + 1) * global_batch], y[
            step * global_batch:(step + 1) * global_batch]
        residual = xb @ w - yb
        losses.append(float(np.sum(np.mean(residual ** 2, axis=1)) / global_batch))
        w = w - rate * 2 * xb.T @ residual / (global_batch * 2)

    def train(strategy):
        with strategy.scope():
            kernel = tf.Variable(np.full((4, 2), 0.5 * strategy.cluster_resolver.task_id))
            optimizer = keras.optimizers.SGD(rate)
        dataset = strategy.experimental_distribute_dataset(
            tf.data.Dataset.from_tensor_slices((x, y)).batch(global_batch))

        @tf.function
        def train_step(batch):
            def step_fn(xb, yb):
                with tf.GradientTape() as tape:
                    per_example = tf.reduce_mean(tf.square(tf.matmul(xb, kernel) - yb), axis=1)
                    loss = compute_average_loss(per_example, global_batch_size=global_batch)
                grads = tape.gradient(loss, [kernel])
                optimizer.apply_gradients(zip(grads, [kernel]))
                return loss

            per_replica = strategy.run(step_fn, args=batch)
            return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

        return [float(train_step(batch)) for batch in dataset], kernel.numpy()

    for seen, kernel in run_workers(3, train):
        np.testing.assert_allclose(seen, losses, rtol=1e-10)
        np.testing.assert_allclose(kernel, w, rtol=1e-10, atol=1e-12)


def test_collectives_across_workers():
    def collect(strategy):
        rank = strategy.cluster_resolver.task_id
        rows = tf.constant(np.arange(rank + 1, dtype=np.float64) + 10 * rank)  # 1, 2, 3 rows
        context_sum = strategy.run(
            lambda: tf.distribute.get_replica_context().all_reduce("SUM", tf.constant(rank)))
        return (strategy.reduce("MEAN", rows, axis=0).numpy(),
                strategy.reduce("SUM", rows[:1], axis=None).numpy(),
                strategy.gather(tf.reshape(rows, [1, -1]), axis=1).numpy(),
                strategy.gather(rows, axis=0).numpy(),
                int(context_sum))

    expected_rows = np.array([0.0, 10.0, 11.0, 20.0, 21.0, 22.0])
    for mean, first_sum, wide, long, context_sum in run_workers(3, collect):
        assert mean == pytest.approx(expected_rows.mean())
        assert first_sum.tolist() == [30.0]
        assert wide.tolist() == [expected_rows.tolist()]
        assert long.tolist() == expected_rows.tolist()
        assert context_sum == 3


# ------------------------------------------------------------------ MPI processes

_MPI_SCRIPT = """
import json, sys
import numpy as np
import tensorflux as tf
from tensorflux import keras

keras.config.set_floatx("float64")
x, y, w0 = (np.array(a) for a in json.loads(sys.argv[1]))
strategy = tf.distribute.MultiWorkerMirroredStrategy()
with strategy.scope():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
if strategy.cluster_resolver.task_id == 0:
    model.set_weights([w0, np.zeros(2)])
history = model.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0)
rank = strategy.cluster_resolver.task_id
with open(f"{sys.argv[2]}/rank{rank}.json", "w") as report:
    json.dump({"rank": rank, "replicas": strategy.num_replicas_in_sync,
               "loss": history.history["loss"], "kernel": model.get_weights()[0].tolist()},
              report)
"""


@pytest.mark.slow
def test_two_mpi_processes(tmp_path, float64):
    pytest.importorskip("mpi4py", reason="the MPI test needs mpi4py (tensorflux[distributed])")
    mpirun = shutil.which("mpirun") or shutil.which("mpiexec")
    if mpirun is None:
        pytest.skip("the MPI test needs mpirun")
    version = subprocess.run([mpirun, "--version"], capture_output=True, text=True).stdout
    extra = ["--allow-run-as-root", "--oversubscribe"] if "Open MPI" in version else []
    x, y = _data(13)
    w0 = _initial_weights()[2][:4, :]
    script = tmp_path / "train.py"
    script.write_text(_MPI_SCRIPT)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    argument = json.dumps([x.tolist(), y.tolist(), w0.tolist()])
    result = subprocess.run([mpirun, *extra, "-n", "2", sys.executable, str(script), argument,
                             str(tmp_path)], capture_output=True, text=True, timeout=180,
                            env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    reports = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert [r["replicas"] for r in reports] == [2, 2]

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    model.set_weights([w0, np.zeros(2)])
    history = model.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0)
    for report in reports:
        np.testing.assert_allclose(report["loss"], history.history["loss"], rtol=1e-6)
        np.testing.assert_allclose(report["kernel"], model.get_weights()[0], rtol=1e-10)
