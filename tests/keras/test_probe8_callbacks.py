"""Probe round 8 fixes for callbacks as training scripts combine them.

Expected values come from real Keras 3.15.1 where it runs, else from the logged quantities
themselves (where Keras 3.15.1 fails outright)."""

import os

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tests.keras._oracle import import_keras


def small_model(lr=0.1):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"),
                              keras.layers.Dense(1, activation="sigmoid")])
    rng = np.random.RandomState(1)
    model.set_weights([(rng.standard_normal(w.shape) * 0.3).astype("float32")
                       for w in model.get_weights()])
    model.compile(keras.optimizers.SGD(lr), "binary_crossentropy", metrics=["accuracy"])
    return model


def data():
    x = np.random.RandomState(0).rand(40, 4).astype("float32")
    return x, (x.sum(1) > 2).astype("int32")


class BatchLosses(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        self.losses = getattr(self, "losses", []) + [float(logs["loss"])]


def test_checkpoint_best_only_with_integer_save_freq(tmp_path):
    # Keras 3.15.1 raises TypeError ('NoneType' object is not callable) here: the comparison
    # was only chosen at the first epoch end, after the first batch-level save.
    x, y = data()
    recorder = BatchLosses()
    checkpoint = keras.callbacks.ModelCheckpoint(
        str(tmp_path / "m-{epoch}-{batch}.weights.h5"), monitor="loss", save_best_only=True,
        save_weights_only=True, save_freq=2)
    small_model(lr=0.5).fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0,
                            callbacks=[recorder, checkpoint])
    expected, best = [], None
    for step, loss in enumerate(recorder.losses, start=1):
        if step % 2 == 0 and (best is None or loss < best):
            best = loss
            epoch, batch = divmod(step - 1, 5)
            expected.append(f"m-{epoch + 1}-{batch + 1}.weights.h5")
    assert sorted(os.listdir(tmp_path)) == sorted(expected)
    assert checkpoint.best == pytest.approx(best)


def test_checkpoint_integer_save_freq_unknown_monitor_asks_for_mode(tmp_path):
    x, y = data()
    checkpoint = keras.callbacks.ModelCheckpoint(
        str(tmp_path / "m.keras"), monitor="my_score", save_best_only=True, save_freq=1)
    logs_score = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: logs.update(my_score=1.0))
    with pytest.raises(ValueError, match="mode='max'"):
        small_model().fit(x, y, epochs=1, batch_size=8, verbose=0,
                          callbacks=[logs_score, checkpoint])
    assert not (tmp_path / "m.keras").exists()  # raised at the first save, not the epoch end


def test_epoch_checkpoints_need_no_batch_hooks(tmp_path):
    # fit may skip building per-batch logs for these (see _wants_batch_logs in the trainer).
    path = str(tmp_path / "m.keras")
    assert not keras.callbacks.ModelCheckpoint(path)._implements_train_batch_hooks()
    assert keras.callbacks.ModelCheckpoint(path, save_freq=5)._implements_train_batch_hooks()
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "b"))
    assert not backup._implements_train_batch_hooks()
    assert keras.callbacks.BackupAndRestore(str(tmp_path / "b"),
                                            save_freq=3)._implements_train_batch_hooks()

    class Logged(keras.callbacks.ModelCheckpoint):
        def on_train_batch_end(self, batch, logs=None):
            super().on_train_batch_end(batch, logs)
            self.seen = batch

    assert Logged(path)._implements_train_batch_hooks()
    x, y = data()
    logged = Logged(path)
    small_model().fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[logged])
    assert logged.seen == 4 and os.path.exists(path)


@pytest.mark.keras_oracle
def test_callbacks_given_as_a_dict_are_flattened_like_keras():
    real = import_keras()

    def names(module):
        nested = {"b": module.callbacks.EarlyStopping(),
                  "a": [module.callbacks.History(), module.callbacks.TerminateOnNaN()]}
        return [type(c).__name__ for c in module.callbacks.CallbackList(nested).callbacks]

    assert names(keras) == names(real)
    x, y = data()
    history = keras.callbacks.History()
    small_model().fit(x, y, epochs=2, verbose=0, callbacks={"h": history})
    assert history.epoch == [0, 1]


@pytest.mark.keras_oracle
@pytest.mark.parametrize("verbose", [1, 2])
def test_progbar_averages_vector_log_values_like_keras(capsys, verbose):
    # a custom train_step may return a vector; Keras shows its mean (we raised TypeError)
    real = import_keras()
    lines = []
    for module in (keras, real):
        bar = module.utils.Progbar(2, verbose=verbose, interval=0)
        bar.update(1, [("loss", 0.5), ("vec", np.array([1.0, 3.0]))])
        bar.update(2, [("loss", 0.25), ("vec", np.array([2.0, 6.0]))])
        out = capsys.readouterr().out
        last = out.replace("\b", "\n").replace("\r", "\n").strip().split("\n")[-1]
        lines.append(last[last.index("loss:"):])
    assert lines[0] == lines[1]
    assert "vec: " in lines[0]


class VectorLogs(keras.Model):
    """A custom train_step that also logs a vector (TF 2.21's TensorBoard callback raises
    ValueError "Expected scalar shape, saw shape: (2,)." for it)."""

    def train_step(self, data):
        import tensorflux as tf

        x, y = data
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.binary_crossentropy(y, self(x, training=True)))
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return {"loss": loss, "vec": tf.constant([1.0, 3.0])}


def test_tensorboard_names_a_vector_log_value(tmp_path):
    x, y = data()
    inputs = keras.Input((4,))
    model = VectorLogs(inputs, keras.layers.Dense(1, activation="sigmoid")(inputs))
    model.compile(keras.optimizers.SGD(0.1))
    board = keras.callbacks.TensorBoard(str(tmp_path), write_graph=False)
    with pytest.raises(ValueError, match=r"'vec' has shape \(2,\)"):
        model.fit(x, y[:, None].astype("float32"), epochs=1, batch_size=16, verbose=0,
                  callbacks=[board])


@pytest.mark.keras_oracle
def test_stop_at_epoch_begin_keeps_the_logs_of_the_batch_that_ran():
    """A callback stopping training in on_epoch_begin: Keras still runs one batch, and that
    epoch's on_epoch_end and on_train_end get its loss."""
    real = import_keras()
    seen = []
    for k in (keras, real):
        class Stop(k.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.model.stop_training = epoch == 1

            def on_train_end(self, logs=None):
                self.end = logs

        stop = Stop()
        model = k.Sequential([k.Input((3,)), k.layers.Dense(1)])
        model.compile("sgd", "mse")
        x = np.random.RandomState(0).rand(40, 3).astype("float32")
        history = model.fit(x, x[:, :1], epochs=3, batch_size=10, verbose=0,
                            callbacks=[stop])
        seen.append((sorted(stop.end or {}), len(history.history["loss"])))
    assert seen[0] == seen[1] and seen[0][0] == ["loss"]


def test_make_ndarray_reads_the_tensorboard_packages_tensor_protos():
    tensor_util = pytest.importorskip("tensorboard.util.tensor_util")
    proto = tensor_util.make_tensor_proto(np.arange(6, dtype=np.float32).reshape(2, 3))
    np.testing.assert_array_equal(tf.make_ndarray(proto),
                                  np.arange(6, dtype=np.float32).reshape(2, 3))
