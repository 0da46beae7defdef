"""Probe round s9, custom training: a custom train_step whose batches are dicts of features
and labels, compiling again with only an optimizer, the way CallbackList hands batch hooks
their logs, LambdaCallback's on_batch_* aliases, optimizer misuse errors, steps of a model made
in a strategy's scope, steps called directly on NumPy data, variables without gradients in
`apply`, and metrics held by layers or lists (real Keras 3 is the oracle where it behaves as
Keras on TensorFlow does; TF-only facts are checked against NumPy float64 or stated)."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

pytestmark = pytest.mark.keras_oracle

_X = np.random.RandomState(0).rand(16, 4).astype("float32")
_Y = (_X @ np.array([1.0, -2.0, 0.5, 3.0], "float32"))[:, None]
_W = np.array([[0.1], [-0.2], [0.3], [0.05]], "float32")


# ---------------------------------------------------------------------- A. dict batches
class _DictStep(keras.Model):
    """Reads features and labels from one dict, as keras.io examples built on
    `Dataset.from_tensor_slices({"image": ..., "label": ...})` do."""

    def train_step(self, data):
        x, y = data["feat"], data["label"]
        with tf.GradientTape() as tape:
            loss = self.compute_loss(y=y, y_pred=self(x, training=True))
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        return {"batch_loss": loss}


def test_custom_step_reads_dict_batches():
    # Keras on TensorFlow builds a custom step's model in its first step, so the dict (which
    # the model's single input could not take) never reaches the model; the torch backend
    # differs here, so the reference is SGD on mean squared error in NumPy float64.
    inputs = keras.Input(shape=(4,))
    model = _DictStep(inputs, keras.layers.Dense(1)(inputs))
    model.set_weights([_W, np.zeros(1, "float32")])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    ds = tf.data.Dataset.from_tensor_slices({"feat": _X, "label": _Y}).batch(8)
    history = model.fit(ds, epochs=2, verbose=0)

    w, b = _W.astype(np.float64), np.zeros(1)
    losses = []
    for _ in range(2):
        for start in (0, 8):
            xb, yb = _X[start:start + 8].astype(np.float64), _Y[start:start + 8]
            err = xb @ w + b - yb
            losses.append(np.mean(err ** 2))
            w -= 0.1 * xb.T @ (2 * err) / len(xb)
            b -= 0.1 * np.sum(2 * err, axis=0) / len(xb)
    np.testing.assert_allclose(history.history["batch_loss"], [losses[1], losses[3]], rtol=1e-5)
    np.testing.assert_allclose(model.get_weights()[0], w, rtol=1e-5)


def test_custom_step_still_reports_errors_of_the_model():
    inputs = keras.Input(shape=(4,))
    model = _DictStep(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    ds = tf.data.Dataset.from_tensor_slices({"feat": _X[:, :3], "label": _Y}).batch(8)
    with pytest.raises(ValueError):
        model.fit(ds, epochs=1, verbose=0)


# ---------------------------------------------------------------------- B. recompiling
def _recompiled_history(lib, second_compile):
    model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(1)])
    model.set_weights([_W, np.zeros(1, "float32")])
    model.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    second_compile(model, lib)
    history = model.fit(_X, _Y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    return model, history.history


@pytest.mark.parametrize("second_compile", [
    lambda m, lib: m.compile(optimizer=lib.optimizers.Adam(0.01)),
    lambda m, lib: m.compile(optimizer=lib.optimizers.SGD(0.1), metrics=["mse"]),
    lambda m, lib: m.compile(optimizer=lib.optimizers.SGD(0.1), loss="mae"),
], ids=["optimizer_only", "metrics_only", "loss_only"])
def test_compiling_again_keeps_what_is_not_given(second_compile):
    k = import_keras()
    theirs, h_theirs = _recompiled_history(k, second_compile)
    ours, h_ours = _recompiled_history(keras, second_compile)
    assert sorted(h_ours) == sorted(h_theirs)
    for key in h_theirs:
        assert_matches(h_ours[key], h_theirs[key], rtol=1e-5, what=key)
    assert ours.loss == theirs.loss
    assert ours.get_compile_config()["loss"] == theirs.get_compile_config()["loss"]


# ---------------------------------------------------------------------- C. callback hooks
def _hook_calls(lib):
    calls = []

    class KwargsOnly(lib.callbacks.Callback):
        # logs taken only by keyword: fine for Keras's batch hooks, which pass `logs=`
        def on_train_batch_end(self, batch, **kwargs):
            calls.append(("train_batch_end", batch, sorted(kwargs["logs"])))

        def on_test_batch_end(self, batch, **kwargs):
            calls.append(("test_batch_end", batch, sorted(kwargs["logs"])))

        def on_predict_batch_end(self, batch, **kwargs):
            calls.append(("predict_batch_end", batch, sorted(kwargs["logs"])))

        def on_epoch_end(self, epoch, *args):
            calls.append(("epoch_end", epoch, sorted(args[0])))

    lam = lib.callbacks.LambdaCallback(
        on_batch_begin=lambda batch, logs: calls.append(("batch_begin", batch)),
        on_batch_end=lambda batch, logs: calls.append(("batch_end", batch, sorted(logs))))
    model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    model.fit(_X, _Y, batch_size=8, epochs=1, verbose=0, callbacks=[KwargsOnly(), lam],
              validation_data=(_X[:8], _Y[:8]))
    model.predict(_X[:8], verbose=0, callbacks=[KwargsOnly()])
    return calls


def test_batch_hooks_get_logs_by_keyword_and_lambda_batch_aliases_run():
    k = import_keras()
    assert _hook_calls(keras) == _hook_calls(k)


def test_lambda_train_batch_function_wins_over_the_alias():
    calls = []
    cb = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: calls.append("train_batch_end"),
        on_batch_end=lambda batch, logs: calls.append("batch_end"))
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(_X, _Y, batch_size=8, epochs=1, verbose=0, callbacks=[cb])
    # Keras: the function given for on_train_batch_end replaces the method that would call
    # on_batch_end, so only it runs.
    assert calls == ["train_batch_end", "train_batch_end"]


# ---------------------------------------------------------------------- D. optimizer misuse
def _grads_and_model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(_X) - _Y))
    return tape.gradient(loss, model.trainable_variables), model


def test_apply_gradients_given_a_bare_list_of_gradients_says_what_it_takes():
    grads, _ = _grads_and_model()
    # TF: AttributeError "'EagerTensor' object has no attribute '_unique_id'"
    with pytest.raises(TypeError, match=r"\(gradient, variable\) pairs.*received a Tensor"):
        keras.optimizers.SGD(0.1).apply_gradients(grads)


def test_apply_gradients_with_pairs_swapped_is_refused():
    grads, model = _grads_and_model()
    with pytest.raises(TypeError, match="second item is a Tensor"):
        keras.optimizers.SGD(0.1).apply_gradients(zip(model.trainable_variables, grads))


def test_apply_given_pairs_points_to_apply_gradients():
    grads, model = _grads_and_model()
    # TF: TypeError "object of type 'zip' has no len()"
    with pytest.raises(TypeError, match="call `apply_gradients"):
        keras.optimizers.SGD(0.1).apply(zip(grads, model.trainable_variables))
    with pytest.raises(ValueError, match="not enough values to unpack"):
        keras.optimizers.SGD(0.1).apply_gradients(zip([], []))  # as TF: an exhausted zip


# ---------------------------------------------------------------------- E. strategy in steps
def test_steps_of_a_model_made_in_a_strategy_scope_run_in_its_replica_context():
    # Keras on TF runs fit/evaluate/predict steps through `strategy.run`, so inside them
    # get_strategy() is the model's strategy and there is a replica context (TF 2.21 facts).
    seen = []

    class Probe(keras.Model):
        def _record(self, data):
            ctx = tf.distribute.get_replica_context()
            seen.append((type(tf.distribute.get_strategy()).__name__, tf.distribute.has_strategy(),
                         tf.distribute.in_cross_replica_context(), ctx is not None))

        def train_step(self, data):
            self._record(data)
            return super().train_step(data)

        def test_step(self, data):
            self._record(data)
            return super().test_step(data)

        def predict_step(self, data):
            self._record(data)
            return super().predict_step(data)

    strategy = tf.distribute.MirroredStrategy()
    with strategy.scope():
        inputs = keras.Input((4,))
        model = Probe(inputs, keras.layers.Dense(1)(inputs))
        model.compile(optimizer="sgd", loss="mse")
    model.fit(_X, _Y, batch_size=8, epochs=1, verbose=0)
    model.evaluate(_X, _Y, batch_size=8, verbose=0)
    model.predict(_X, batch_size=8, verbose=0)
    assert seen and set(seen) == {("MirroredStrategy", True, False, True)}
    assert not tf.distribute.has_strategy()  # nothing left entered


# ---------------------------------------------------------------------- F. steps called directly
def _direct_steps(lib):
    model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(1)])
    model.set_weights([_W, np.zeros(1, "float32")])
    model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
    return model.test_step((_X[:8], _Y[:8]))  # NumPy arrays, not tensors


def test_test_step_called_directly_on_numpy_arrays():
    k = import_keras()
    theirs = _direct_steps(k)
    ours = _direct_steps(keras)
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        assert_matches(ours[key], theirs[key], rtol=1e-6, what=key)


# ---------------------------------------------------------------------- G. variables without grads
def test_apply_leaves_out_variables_without_gradients_before_checking_them():
    dense = keras.layers.Dense(1)
    dense.build((None, 4))
    dense.set_weights([_W, np.zeros(1, "float32")])
    statistic = keras.Variable(np.zeros(1, "float32"), trainable=False)
    optimizer = keras.optimizers.SGD(0.1)
    optimizer.build(dense.trainable_variables)  # as fit builds it before the first step
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(dense(_X) - _Y))
    variables = dense.trainable_variables + [statistic]
    grads = tape.gradient(loss, variables)
    with pytest.warns(UserWarning, match="Gradients do not exist"):
        optimizer.apply(grads, variables)
    err = _X.astype(np.float64) @ _W - _Y
    np.testing.assert_allclose(dense.kernel.numpy(), _W - 0.1 * _X.T @ (2 * err) / len(_X),
                               rtol=1e-5)
    assert statistic.numpy().tolist() == [0.0]


def test_custom_step_may_apply_on_all_model_weights():
    # A train_step that differentiates with respect to `self.weights` (BatchNormalization's
    # statistics included) trains on TensorFlow; the statistics follow BatchNormalization's
    # own moving-average update (momentum 0.99), here on the raw inputs.
    class AllWeights(keras.Model):
        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                loss = self.compute_loss(y=y, y_pred=self(x, training=True))
            self.optimizer.apply(tape.gradient(loss, self.weights), self.weights)
            return {"batch_loss": loss}

    inputs = keras.Input((4,))
    norm = keras.layers.BatchNormalization()
    model = AllWeights(inputs, keras.layers.Dense(1)(norm(inputs)))
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    with pytest.warns(UserWarning, match="Gradients do not exist"):
        model.fit(_X, _Y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    expected = np.zeros(4)
    for start in (0, 8):
        expected = 0.99 * expected + 0.01 * _X[start:start + 8].astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(norm.moving_mean.numpy(), expected, rtol=1e-5)


# ---------------------------------------------------------------------- H. tracked metrics
def _tracked_metrics_model(lib):
    class MeanActivation(lib.layers.Layer):
        """Tracks its input's mean in a metric of its own."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.mean_act = lib.metrics.Mean(name="mean_act")

        def call(self, inputs):
            self.mean_act.update_state(lib.ops.mean(inputs))
            return inputs

    class WithMetricList(lib.Model):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.extra = [lib.metrics.Mean(name="extra_a"), lib.metrics.Mean(name="extra_b")]

    inputs = lib.Input((4,))
    model = WithMetricList(inputs, lib.layers.Dense(1)(MeanActivation()(inputs)))
    model.set_weights([_W, np.zeros(1, "float32")])
    model.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    history = model.fit(_X, _Y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    return [m.name for m in model.metrics], history.history


def test_metrics_held_by_layers_and_in_lists_are_tracked():
    k = import_keras()
    names_theirs, h_theirs = _tracked_metrics_model(k)
    names_ours, h_ours = _tracked_metrics_model(keras)
    assert names_ours == names_theirs
    assert sorted(h_ours) == sorted(h_theirs)
    for key in h_theirs:
        assert_matches(h_ours[key], h_theirs[key], rtol=1e-5, what=key)
