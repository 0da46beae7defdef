"""Probe round s8, custom training: a subclassed model whose shape-only `build()` leaves
its sublayers unbuilt, the order of the logs a custom `train_step` returns, the batch
callbacks of `steps_per_execution`, and `SeedGenerator.state` (real Keras 3 is the oracle;
TF-only facts are checked against values derived by hand)."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

pytestmark = pytest.mark.keras_oracle

_X = np.random.RandomState(0).rand(12, 4).astype("float32")
_Y = (_X @ np.array([1.0, -2.0, 0.5, 3.0], "float32"))[:, None]


# ---------------------------------------------------------------------- A. lazy sublayers
def _vae_like(k, gradient_tape):
    """The keras.io VAE pattern: `build()` with a shape only (no build of its own, so the
    sublayer stays unbuilt), and a custom train_step that runs the sublayer itself."""

    class VAELike(k.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = k.layers.Dense(2, kernel_initializer="ones", bias_initializer="zeros")
            self.total = k.metrics.Mean(name="total")

        def call(self, inputs):
            return self.dense(inputs)

        def train_step(self, data):
            with gradient_tape() as tape:
                z = self.dense(data)
                loss = k.ops.mean(k.ops.square(data[:, :2] - z))
            grads = tape.gradient(loss, self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
            self.total.update_state(loss)
            return {"total": self.total.result()}

    return VAELike()


def _torch_tape():
    import torch

    class Tape:
        """Enough of tf.GradientTape for the oracle model, on the torch backend."""

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def gradient(self, loss, variables):
            values = [v.value for v in variables]
            return torch.autograd.grad(loss, values)

    return Tape


def test_shape_only_build_leaves_sublayers_to_the_first_step():
    k = import_keras()
    theirs = _vae_like(k, _torch_tape())
    ours = _vae_like(keras, tf.GradientTape)
    for model, lib in ((theirs, k), (ours, keras)):
        with pytest.warns(UserWarning):
            model.build((None, 4))
        model.compile(optimizer=lib.optimizers.SGD(0.05))
    h_theirs = theirs.fit(_X, epochs=2, batch_size=4, shuffle=False, verbose=0)
    h_ours = ours.fit(_X, epochs=2, batch_size=4, shuffle=False, verbose=0)
    assert len(ours.optimizer.variables) == len(theirs.optimizer.variables)
    assert_matches(h_ours.history["total"], h_theirs.history["total"], rtol=1e-5,
                   what="total loss per epoch")
    assert_matches(ours.dense.kernel.numpy(), theirs.dense.kernel, rtol=1e-5, what="kernel")


# ---------------------------------------------------------------------- B. log order
def _compute_loss_model(k):
    """keras.io "customizing fit": the step returns {m.name: m.result()} over
    `self.metrics`, so the compiled metrics come back as one nested dict."""

    class CustomModel(k.Model):
        def train_step(self, data):
            x, y = data
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    inputs = k.Input((4,))
    model = CustomModel(inputs, k.layers.Dense(1)(inputs))
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    return model


@pytest.mark.parametrize("run_eagerly", [False, True])
def test_nested_step_logs_sort_under_their_own_key(run_eagerly):
    k = import_keras()
    keys = []
    for lib in (k, keras):
        model = _compute_loss_model(lib)
        model.run_eagerly = run_eagerly
        seen = []
        cb = lib.callbacks.LambdaCallback(
            on_train_batch_end=lambda batch, logs, seen=seen: seen.append(list(logs)))
        history = model.fit(_X, _Y, epochs=1, batch_size=6, verbose=0, callbacks=[cb])
        keys.append((seen, list(history.history)))
    assert keys[1] == keys[0]
    assert keys[1][1] == ["mae", "loss"]  # "compile_metrics" sorts before "loss"


# ---------------------------------------------------------------------- C. steps_per_execution
def _batch_events(lib, steps_per_execution):
    model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(1)])
    model.compile("sgd", "mse", steps_per_execution=steps_per_execution)
    events = []
    cb = lib.callbacks.LambdaCallback(
        on_train_batch_begin=lambda b, logs: events.append(("begin", b)),
        on_train_batch_end=lambda b, logs: events.append(("end", b, sorted(logs))),
        on_test_batch_begin=lambda b, logs: events.append(("test_begin", b)),
        on_test_batch_end=lambda b, logs: events.append(("test_end", b)))
    model.fit(_X, _Y, batch_size=2, epochs=1, verbose=0, callbacks=[cb],
              validation_data=(_X[:10], _Y[:10]))
    return events, float(model.optimizer.iterations.numpy())


def test_batch_callbacks_match_keras_with_one_step_per_execution():
    k = import_keras()
    theirs, their_steps = _batch_events(k, 1)
    ours, our_steps = _batch_events(keras, 1)
    assert ours == theirs
    assert our_steps == their_steps == 6


def test_steps_per_execution_groups_batch_callbacks():
    # Keras's TensorFlow trainer (Keras on torch refuses steps_per_execution > 1): callbacks
    # see each group's first step and its last as if the group were full, so 6 training
    # batches in groups of 4 end at 3 and 7, and so do the 5 validation batches.
    events, steps = _batch_events(keras, 4)
    assert events == [("begin", 0), ("end", 3, ["loss"]), ("begin", 4), ("end", 7, ["loss"]),
                      ("test_begin", 0), ("test_end", 3), ("test_begin", 4), ("test_end", 7)]
    assert steps == 6


def _predict_events(lib, steps_per_execution):
    inputs = lib.Input((4,))
    model = lib.Model(inputs, [lib.layers.Dense(2)(inputs), lib.layers.Dense(1)(inputs)])
    model.compile("sgd", "mse", steps_per_execution=steps_per_execution)
    events = []
    cb = lib.callbacks.LambdaCallback(
        on_predict_batch_begin=lambda b, logs: events.append(("begin", b)),
        on_predict_batch_end=lambda b, logs: events.append(
            ("end", b, sorted(logs), [tuple(v.shape) for v in logs["outputs"]])))
    outputs = model.predict(np.ones((20, 4), "float32"), batch_size=3, callbacks=[cb], verbose=0)
    return events, [tuple(v.shape) for v in outputs]


def test_predict_batch_callbacks_get_each_group_outputs():
    k = import_keras()
    assert _predict_events(keras, 1) == _predict_events(k, 1)
    # Keras's TensorFlow trainer: 7 batches of 3 (the last of 2) in groups of 3, each
    # callback given its group's outputs concatenated.
    events, shapes = _predict_events(keras, 3)
    assert shapes == [(20, 2), (20, 1)]
    assert events == [("begin", 0), ("end", 2, ["outputs"], [(9, 2), (9, 1)]),
                      ("begin", 3), ("end", 5, ["outputs"], [(9, 2), (9, 1)]),
                      ("begin", 6), ("end", 8, ["outputs"], [(2, 2), (2, 1)])]


# ---------------------------------------------------------------------- D. SeedGenerator.state
def test_seed_generator_state_is_a_2_vector_that_draws_advance():
    generator = keras.random.SeedGenerator(42)
    before = generator.state.numpy()
    assert before.shape == (2,) and generator.state.dtype == tf.int64
    keras.random.normal((2,), seed=generator)
    after = generator.state.numpy()
    assert not np.array_equal(before, after)
    replay = keras.random.SeedGenerator(42)
    np.testing.assert_array_equal(replay.state.numpy(), before)


def test_seed_generator_state_is_seed_then_draws_as_keras():
    k = import_keras()
    ours, theirs = keras.random.SeedGenerator(1337), k.random.SeedGenerator(1337)
    for _ in range(3):
        np.testing.assert_array_equal(ours.state.numpy(), np.asarray(theirs.state.numpy()))
        keras.random.normal((2,), seed=ours)
        k.random.normal((2,), seed=theirs)


def test_an_int_seed_draws_the_same_numbers_on_every_call_traced_or_not():
    # Keras: an int seed is stateless. Traced, a generator made from it at trace time would
    # advance on every run of the step instead.
    draw = tf.function(lambda: keras.random.normal((3,), seed=3))
    eager = keras.random.normal((3,), seed=3).numpy()
    np.testing.assert_array_equal(draw().numpy(), eager)
    np.testing.assert_array_equal(draw().numpy(), eager)
    np.testing.assert_array_equal(keras.random.uniform((2,), seed=3).numpy(),
                                  tf.function(lambda: keras.random.uniform((2,), seed=3))())


def test_add_loss_of_a_symbolic_tensor_raises_instead_of_being_ignored():
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(2)(inputs)
    model = keras.Model(inputs, outputs)
    with pytest.raises(ValueError, match="add_loss"):
        model.add_loss(keras.ops.mean(outputs))


# ---------------------------------------------------------------------- E. legacy optimizers
@pytest.mark.parametrize("name", ["Adam", "SGD", "RMSprop", "Adagrad", "Ftrl", "Optimizer"])
def test_legacy_optimizers_raise_import_error_like_keras_3(name):
    k = import_keras()
    with pytest.raises(ImportError):
        getattr(k.optimizers.legacy, name)(learning_rate=0.1)
    with pytest.raises(ImportError, match=f"keras.optimizers.{name}"):
        getattr(keras.optimizers.legacy, name)(learning_rate=0.1)


# ---------------------------------------------------------------------- F. IoU with scores
def test_mean_iou_given_probabilities_names_the_fix():
    labels, scores = [0, 1, 2, 1], np.eye(3, dtype="float32")[[0, 2, 2, 1]]
    with pytest.raises(ValueError, match="sparse_y_pred=False"):
        keras.metrics.MeanIoU(num_classes=3).update_state(labels, scores)
    k = import_keras()
    ours = keras.metrics.MeanIoU(num_classes=3, sparse_y_pred=False)
    theirs = k.metrics.MeanIoU(num_classes=3, sparse_y_pred=False)
    ours.update_state(labels, scores)
    theirs.update_state(labels, scores)
    assert_matches(ours.result(), theirs.result(), what="MeanIoU")


# ---------------------------------------------------------------------- G. step return value
@pytest.mark.parametrize("returned", ["tensor", "none"])
def test_train_step_that_returns_no_dict_is_named(returned):
    class Model(keras.Model):
        def train_step(self, data):
            x, _ = data
            return keras.ops.mean(self(x)) if returned == "tensor" else None

    inputs = keras.Input((4,))
    model = Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile("sgd", "mse")
    with pytest.raises(TypeError, match="`train_step` must return a dict"):
        model.fit(_X, _Y, epochs=1, verbose=0)


# ---------------------------------------------------------------------- H. scalar custom losses
def _scalar_loss(k):
    def loss(y_true, y_pred):  # already the batch mean, as many hand-written losses are
        return k.ops.mean(k.ops.square(y_true - y_pred))
    return loss


def test_scalar_custom_loss_is_scaled_by_class_weights():
    k = import_keras()
    labels = (_X[:, 0] > 0.5).astype("float32")[:, None]
    kernel = np.linspace(-0.5, 0.5, 4, dtype="float32")[:, None]
    histories = []
    for lib in (k, keras):
        model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(1)])
        model.set_weights([kernel, np.zeros(1, "float32")])
        model.compile(lib.optimizers.SGD(0.5), _scalar_loss(lib))
        history = model.fit(_X, labels, class_weight={0: 1.0, 1: 4.0}, epochs=2, batch_size=4,
                            shuffle=False, verbose=0)
        histories.append(history.history["loss"])
    assert_matches(histories[1], histories[0], rtol=1e-5, what="loss per epoch")


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean_with_sample_weight"])
def test_scalar_loss_subclass_with_sample_weight(reduction):
    k = import_keras()
    weights = np.array([0.1, 0.5, 1.0, 2.0], "float32")
    values = []
    for lib in (k, keras):
        class Scalar(lib.losses.Loss):
            def call(self, y_true, y_pred, lib=lib):
                return lib.ops.mean(lib.ops.square(y_true - y_pred))

        values.append(Scalar(reduction=reduction)(_Y[:4], _Y[4:8], sample_weight=weights))
    assert_matches(values[1], values[0], rtol=1e-5, what=reduction)


# ---------------------------------------------------------------------- I. custom schedules
def _warmup(k, package):
    @k.saving.register_keras_serializable(package=package)
    class Warmup(k.optimizers.schedules.LearningRateSchedule):
        def __init__(self, peak, steps):
            self.peak, self.steps = peak, steps

        def __call__(self, step):
            step = k.ops.cast(step, "float32")
            return self.peak * k.ops.minimum(1.0, (step + 1.0) / self.steps)

        def get_config(self):
            return {"peak": self.peak, "steps": self.steps}

    return Warmup


def test_registered_schedule_survives_model_save(tmp_path):
    k = import_keras()
    theirs = k.optimizers.schedules.serialize(_warmup(k, "probe4")(0.1, 4))
    ours = keras.optimizers.schedules.serialize(_warmup(keras, "probe4")(0.1, 4))
    assert ours == theirs  # registered_name "probe4>Warmup" is what loading looks up
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(_warmup(keras, "probe4")(0.1, 4)), "mse")
    model.fit(_X, _Y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    model.save(tmp_path / "warmup.keras")
    loaded = keras.models.load_model(tmp_path / "warmup.keras")
    assert loaded.optimizer.get_config()["learning_rate"]["registered_name"] == "probe4>Warmup"
    a = model.fit(_X, _Y, epochs=1, batch_size=4, shuffle=False, verbose=0).history["loss"]
    b = loaded.fit(_X, _Y, epochs=1, batch_size=4, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(b, a, rtol=1e-6)
