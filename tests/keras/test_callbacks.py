"""Callbacks: behaviour on a small fake model (real Keras 3's callbacks as the oracle where
available), atomic writes, and real-fit checks once tensorflux.keras models can fit."""

import json
import math
import os

import numpy as np
import pytest

from tensorflux.io.atomic import atomic_write
from tensorflux.keras import callbacks as cbks
from tensorflux.keras import optimizers

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras", reason="real Keras 3 is the oracle")


class FakeModel:
    """What callbacks use of a model: weights, optimizer, stop_training and saving."""

    def __init__(self, optimizer=None):
        self.weights = [np.zeros((2,), "float32"), np.zeros((), "float32")]
        self.optimizer = optimizer if optimizer is not None else optimizers.SGD(0.1)
        self.stop_training = False
        self.built = True
        self.saved = []
        self._initial_epoch = None
        self.trainable_variables = []

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w) for w in weights]

    def train_epoch(self, epoch):
        self.weights = [w + 1 for w in self.weights]

    def save(self, filepath, overwrite=True):
        self.saved.append(filepath)

    def save_weights(self, filepath, overwrite=True):
        state = {"weights": [w.tolist() for w in self.weights],
                 "lr": float(self.optimizer.learning_rate)}
        atomic_write(filepath, lambda f: f.write(json.dumps(state)), mode="w")
        self.saved.append(filepath)

    def load_weights(self, filepath):
        with open(filepath) as f:
            state = json.load(f)
        self.weights = [np.array(w, "float32") for w in state["weights"]]
        self.optimizer.learning_rate = state["lr"]


def fit(model, callbacks, epoch_logs, batch_logs=None, module=cbks):
    """The training loop's calls to callbacks, as tensorflux's (and Keras's) fit makes them."""
    steps = len(batch_logs[0]) if batch_logs else 1
    callback_list = module.CallbackList(callbacks, add_history=True, model=model,
                                        verbose=0, epochs=len(epoch_logs), steps=steps)
    model.stop_training = False
    callback_list.on_train_begin()
    start = model._initial_epoch or 0
    for epoch in range(start, len(epoch_logs)):
        callback_list.on_epoch_begin(epoch)
        for step in range(steps):
            callback_list.on_train_batch_begin(step)
            logs = batch_logs[epoch][step] if batch_logs else {"loss": epoch_logs[epoch]["loss"]}
            callback_list.on_train_batch_end(step, dict(logs))
            if model.stop_training:
                break
        model.train_epoch(epoch)
        callback_list.on_epoch_end(epoch, dict(epoch_logs[epoch]))
        if model.stop_training:
            break
    callback_list.on_train_end()
    return model.history


VAL_LOSSES = [1.0, 0.8, 0.9, 0.85, 0.95, 0.7, 0.6, 0.65, 0.66, 0.67]


def _epoch_logs():
    return [{"loss": 1.0 / (i + 1), "val_loss": v} for i, v in enumerate(VAL_LOSSES)]


@pytest.mark.keras_oracle
@pytest.mark.parametrize("kwargs", [
    {"patience": 2},
    {"patience": 2, "restore_best_weights": True},
    {"patience": 1, "min_delta": 0.06},
    {"patience": 3, "baseline": 0.75, "restore_best_weights": True},
    {"patience": 1, "start_from_epoch": 3},
    {"monitor": "loss", "patience": 0},
])
def test_early_stopping_matches_keras(keras, kwargs):
    ours, theirs = FakeModel(), FakeModel()
    ours_cb, theirs_cb = cbks.EarlyStopping(**kwargs), keras.callbacks.EarlyStopping(**kwargs)
    ours_history = fit(ours, [ours_cb], _epoch_logs())
    fit(theirs, [theirs_cb], _epoch_logs(), module=keras.callbacks)
    assert ours_cb.stopped_epoch == theirs_cb.stopped_epoch
    assert ours_cb.best_epoch == theirs_cb.best_epoch
    assert ours_cb.wait == theirs_cb.wait
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert len(ours_history.epoch) == ours_cb.stopped_epoch + 1 or ours_cb.stopped_epoch == 0


@pytest.mark.keras_oracle
@pytest.mark.parametrize("kwargs", [
    {"patience": 1},
    {"patience": 2, "factor": 0.5, "cooldown": 1},
    {"patience": 1, "factor": 0.5, "min_lr": 0.02},
    {"patience": 1, "min_delta": 0.2, "mode": "min"},
])
def test_reduce_lr_on_plateau_matches_keras(keras, kwargs):
    ours = FakeModel(optimizers.SGD(learning_rate=0.1))
    theirs = FakeModel(keras.optimizers.SGD(learning_rate=0.1))
    seen = {"ours": [], "theirs": []}
    record = [cbks.LambdaCallback(on_epoch_end=lambda e, logs: seen["ours"].append(
        float(ours.optimizer.learning_rate)))]
    record_k = [keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen[
        "theirs"].append(float(theirs.optimizer.learning_rate)))]
    history = fit(ours, [cbks.ReduceLROnPlateau(**kwargs)] + record, _epoch_logs())
    fit(theirs, [keras.callbacks.ReduceLROnPlateau(**kwargs)] + record_k, _epoch_logs(),
        module=keras.callbacks)
    np.testing.assert_allclose(seen["ours"], seen["theirs"], rtol=1e-6)
    assert min(seen["ours"]) < 0.1
    # The learning rate is logged, as Keras does, before History sees the logs.
    assert len(history.history["learning_rate"]) == len(VAL_LOSSES)


@pytest.mark.keras_oracle
@pytest.mark.parametrize("logs", [
    [{"loss": 0.5, "accuracy": 0.25}, {"loss": 0.25, "accuracy": 0.5}],
    [{"loss": 0.5, "val_loss": 0.75}, {"loss": 0.125, "val_loss": 0.625}],
])
def test_csv_logger_file_matches_keras(keras, tmp_path, logs):
    ours_path, theirs_path = tmp_path / "ours.csv", tmp_path / "theirs.csv"
    fit(FakeModel(), [cbks.CSVLogger(ours_path)], logs)
    fit(FakeModel(), [keras.callbacks.CSVLogger(str(theirs_path))], logs,
        module=keras.callbacks)
    assert ours_path.read_bytes() == theirs_path.read_bytes()
    # append=True continues the same file without a second header.
    fit(FakeModel(), [cbks.CSVLogger(ours_path, append=True)], logs)
    fit(FakeModel(), [keras.callbacks.CSVLogger(str(theirs_path), append=True)], logs,
        module=keras.callbacks)
    assert ours_path.read_bytes() == theirs_path.read_bytes()


def test_csv_logger_content(tmp_path):
    path = tmp_path / "log.csv"
    fit(FakeModel(), [cbks.CSVLogger(path, separator=";")],
        [{"loss": 0.5, "acc": 1.0}, {"loss": 0.25, "acc": 0.5}])
    assert path.read_text().splitlines() == [
        "epoch;acc;loss;val_acc;val_loss", "0;1.0;0.5;NA;NA", "1;0.5;0.25;NA;NA"]


@pytest.mark.keras_oracle
@pytest.mark.parametrize("kwargs", [
    {"save_best_only": True},
    {"save_best_only": False},
    {"save_best_only": True, "monitor": "loss", "mode": "max"},
    {"save_best_only": True, "initial_value_threshold": 0.75},
])
def test_model_checkpoint_matches_keras(keras, tmp_path, kwargs):
    pattern = str(tmp_path / "sub" / "model-{epoch:02d}-{val_loss:.2f}.keras")
    ours, theirs = FakeModel(), FakeModel()
    fit(ours, [cbks.ModelCheckpoint(pattern, **kwargs)], _epoch_logs())
    fit(theirs, [keras.callbacks.ModelCheckpoint(pattern, **kwargs)], _epoch_logs(),
        module=keras.callbacks)
    assert ours.saved == theirs.saved and ours.saved
    assert os.path.isdir(tmp_path / "sub")


def test_model_checkpoint_paths_and_errors(tmp_path):
    with pytest.raises(ValueError, match=".weights.h5"):
        cbks.ModelCheckpoint(str(tmp_path / "w.h5"), save_weights_only=True)
    with pytest.raises(ValueError, match=".keras"):
        cbks.ModelCheckpoint(str(tmp_path / "model.txt"))
    with pytest.raises(ValueError, match="save_freq"):
        cbks.ModelCheckpoint(str(tmp_path / "m.keras"), save_freq="sometimes")
    model = FakeModel()
    checkpoint = cbks.ModelCheckpoint(str(tmp_path / "m-{epoch}-{batch}.keras"), save_freq=2)
    fit(model, [checkpoint], [{"loss": 1.0}] * 2,
        batch_logs=[[{"loss": 1.0}] * 3, [{"loss": 1.0}] * 3])
    # Every second batch across epochs: batches 2 and 1 (1-based) then 3.
    assert [os.path.basename(p) for p in model.saved] == ["m-1-2.keras", "m-2-1.keras",
                                                          "m-2-3.keras"]
    with pytest.raises(KeyError, match="Failed to format"):
        cbks.ModelCheckpoint(str(tmp_path / "{nothing}.keras"))._get_file_path(0, None, {})


def test_terminate_on_nan_stops_at_the_bad_batch(capsys):
    model = FakeModel()
    batches = [[{"loss": 1.0}, {"loss": float("nan")}, {"loss": 1.0}], [{"loss": 1.0}] * 3]
    history = fit(model, [cbks.TerminateOnNaN()], [{"loss": 1.0}, {"loss": 1.0}],
                  batch_logs=batches)
    assert model.stop_training and history.epoch == [0]
    assert "Batch 1: Invalid loss, terminating training" in capsys.readouterr().out
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 0"):
        fit(FakeModel(), [cbks.TerminateOnNaN(raise_error=True)], [{"loss": 1.0}],
            batch_logs=[[{"loss": math.inf}]])


class Crash(cbks.Callback):
    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise KeyboardInterrupt("simulated crash")


def test_backup_and_restore_resumes_after_a_crash(tmp_path):
    backup = tmp_path / "backup"
    logs = [{"loss": 1.0}] * 5
    model = FakeModel()
    with pytest.raises(KeyboardInterrupt):
        fit(model, [cbks.BackupAndRestore(backup), Crash(at_epoch=3)], logs)
    metadata = json.loads((backup / "training_metadata.json").read_text())
    assert metadata == {"epoch": 3, "batch": 0}
    # No temporary files are left beside the backups.
    assert sorted(os.listdir(backup)) == ["latest.weights.h5", "training_metadata.json"]
    # A new process: fresh model, same callback arguments; it resumes at epoch 3.
    resumed = FakeModel()
    seen = []
    history = fit(resumed, [cbks.BackupAndRestore(backup),
                            cbks.LambdaCallback(on_epoch_begin=lambda e, logs: seen.append(e))],
                  logs)
    assert seen == [3, 4] and history.epoch == [3, 4]
    # Three epochs before the crash, two after: the weights count all five.
    assert resumed.get_weights()[0].tolist() == [5.0, 5.0]
    assert not backup.exists()  # delete_checkpoint=True


def test_backup_and_restore_keeps_the_backup_when_asked(tmp_path):
    backup = tmp_path / "backup"
    fit(FakeModel(), [cbks.BackupAndRestore(backup, delete_checkpoint=False,
                                            double_checkpoint=True)], [{"loss": 1.0}] * 2)
    assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == 2
    assert (backup / "latest.weights.h5.bkp").exists()
    with pytest.raises(ValueError, match="backup_dir"):
        cbks.BackupAndRestore("")


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "data.bin"
    atomic_write(target, lambda f: f.write(b"first"))

    def broken(f):
        f.write(b"partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, broken)
    assert target.read_bytes() == b"first"
    assert os.listdir(tmp_path) == ["data.bin"]
    # mode=None hands the writer a temporary path (for libraries that open files).
    atomic_write(target, lambda p: open(p, "wb").write(b"second"), mode=None)
    assert target.read_bytes() == b"second"


def test_history_lr_scheduler_and_lambda():
    model = FakeModel(optimizers.SGD(learning_rate=0.1))
    calls = []
    history = fit(model, [
        cbks.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch else lr),
        cbks.LambdaCallback(on_train_begin=lambda logs: calls.append("begin"),
                            on_train_batch_end=lambda b, logs: calls.append(("batch", b)),
                            on_train_end=lambda logs: calls.append("end")),
    ], [{"loss": 1.0}, {"loss": 0.5}, {"loss": 0.25}])
    assert history.history["loss"] == [1.0, 0.5, 0.25]
    np.testing.assert_allclose(history.history["learning_rate"], [0.1, 0.05, 0.025],
                               rtol=1e-6)
    assert calls == ["begin", ("batch", 0), ("batch", 0), ("batch", 0), "end"]
    with pytest.raises(ValueError, match="should be a float"):
        fit(FakeModel(), [cbks.LearningRateScheduler(lambda epoch: 1)], [{"loss": 1.0}])


@pytest.mark.keras_oracle
@pytest.mark.parametrize("monitor", ["val_custom", "val_accuracy", "accuracy"])
def test_monitor_mode_errors_and_auto_direction(keras, monitor):
    """Keras guesses nothing from a name: a model without compiled metrics (as FakeModel)
    only knows "loss"; "accuracy" needs an explicit mode there too (real compiled metrics
    are covered in test_callback_monitor_mode.py)."""
    logs = [{"loss": 1.0, monitor: a} for a in (0.5, 0.75, 0.7)]
    for module in (keras.callbacks, cbks):
        stopper = module.EarlyStopping(monitor=monitor)
        stopper.set_model(FakeModel())
        with pytest.raises(ValueError, match="mode='max'"):
            stopper.on_epoch_end(0, dict(logs[0]))
    stopped = []
    for module in (keras.callbacks, cbks):
        stopper = module.EarlyStopping(monitor=monitor, mode="max", patience=0)
        fit(FakeModel(), [stopper], logs, module=module)
        stopped.append((stopper.stopped_epoch, stopper.best))
    assert stopped[1] == stopped[0] == (2, 0.75)


def test_unknown_mode_falls_back_to_auto():
    with pytest.warns(UserWarning, match="unknown"):
        assert cbks.EarlyStopping(mode="sideways").mode == "auto"


def test_progbar_logger_prints_epochs(capsys):
    pytest.importorskip("tensorflux.keras.utils.progbar")
    model = FakeModel()
    callback_list = cbks.CallbackList([], add_progbar=True, model=model, verbose=2, epochs=2,
                                      steps=2)
    callback_list.on_train_begin()
    for epoch in range(2):
        callback_list.on_epoch_begin(epoch)
        for step in range(2):
            callback_list.on_train_batch_end(step, {"loss": 0.5})
        callback_list.on_epoch_end(epoch, {"loss": 0.5})
    callback_list.on_train_end()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert lines[1].startswith("2/2 - ") and lines[1].endswith(" - loss: 0.5000")


# ---------------------------------------------------------------- with a real fit

def _real_model():
    from tensorflux import keras as tfk

    if not hasattr(tfk, "Sequential") or not hasattr(getattr(tfk, "layers", None), "Dense"):
        pytest.skip("tensorflux.keras has no Sequential/Dense yet")
    if not hasattr(tfk.Sequential, "fit"):
        pytest.skip("tensorflux.keras models cannot fit yet")
    model = tfk.Sequential([tfk.Input((3,)), tfk.layers.Dense(1)])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.05), loss="mse")
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype("float32")
    return x, x.sum(axis=1, keepdims=True)


def test_real_fit_early_stopping_and_reduce_lr():
    model = _real_model()
    x, y = _data()
    history = model.fit(x, y, epochs=30, verbose=0, validation_split=0.25, callbacks=[
        cbks.EarlyStopping(patience=1, min_delta=10.0),
        cbks.ReduceLROnPlateau(patience=1, factor=0.5, min_delta=10.0)])
    assert len(history.history["loss"]) == 2
    assert float(model.optimizer.learning_rate) == pytest.approx(0.025)


def test_real_fit_backup_and_restore(tmp_path):
    model = _real_model()
    if not hasattr(model, "save_weights") or not hasattr(model, "load_weights"):
        pytest.skip("tensorflux.keras models cannot save weights yet")
    x, y = _data()
    backup = tmp_path / "backup"
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=4, verbose=0,
                  callbacks=[cbks.BackupAndRestore(backup), Crash(at_epoch=2)])
    saved = [w.copy() for w in model.get_weights()]
    fresh = _real_model()
    seen = []
    fresh.fit(x, y, epochs=4, verbose=0, callbacks=[
        cbks.BackupAndRestore(backup),
        cbks.LambdaCallback(on_epoch_begin=lambda e, logs: seen.append(e),
                            on_train_begin=lambda logs: seen.append(
                                [w.copy() for w in fresh.get_weights()]))])
    assert seen[1:] == [2, 3]
    for a, b in zip(seen[0], saved):
        np.testing.assert_allclose(a, b)
    assert not backup.exists()


def test_atomic_write_gives_files_ordinary_permissions(tmp_path):
    """mkstemp's owner-only mode must not leak into saved models: a new file gets 0666 less
    the umask, as open() would give it, and a replaced file keeps its mode."""
    import os

    from tensorflux.io.atomic import atomic_write

    umask = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh.bin"
        atomic_write(fresh, lambda f: f.write(b"x"))
        assert fresh.stat().st_mode & 0o777 == 0o644
        kept = tmp_path / "kept.bin"
        kept.write_bytes(b"old")
        kept.chmod(0o640)
        atomic_write(kept, lambda f: f.write(b"new"))
        assert kept.stat().st_mode & 0o777 == 0o640 and kept.read_bytes() == b"new"
    finally:
        os.umask(umask)
