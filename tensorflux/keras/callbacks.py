"""tensorflux.keras.callbacks: Keras 3's training callbacks (History, ProgbarLogger,
EarlyStopping, ModelCheckpoint, ReduceLROnPlateau, LearningRateScheduler, CSVLogger,
TerminateOnNaN, LambdaCallback, BackupAndRestore, SwapEMAWeights, RemoteMonitor; TensorBoard
lives in callbacks_tensorboard.py) and CallbackList.

Callbacks talk to the model only through `get_weights`/`set_weights`, `optimizer`
(`learning_rate`), `stop_training`, `save`/`save_weights`/`load_weights`, `_initial_epoch`
and `metrics` (read by mode="auto"), so any object with those works as a model.
"""

import collections
import csv
import json
import math
import numbers
import os
import shutil
import warnings

from tensorflux.io.atomic import atomic_write
from tensorflux.tensor import _is_dense_tensor

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger", "EarlyStopping",
           "ModelCheckpoint", "ReduceLROnPlateau", "LearningRateScheduler", "CSVLogger",
           "TerminateOnNaN", "LambdaCallback", "BackupAndRestore", "TensorBoard",
           "SwapEMAWeights", "RemoteMonitor"]


def _print(message):
    print(message, flush=True)


def _to_float(value):
    """A log value as a Python float (tensors and NumPy scalars included)."""
    if isinstance(value, float):
        return value
    return float(value)


def _pythonify_logs(logs):
    """Logs as Keras's CallbackList hands them to each callback: always a dict (None gives
    {}), sorted by key, nested dicts merged in, tensors read as NumPy arrays and every value
    that converts made a Python float (so `logs["outputs"]` of predict is an ndarray)."""
    result = {}
    for key, value in sorted((logs or {}).items()):
        if isinstance(value, dict):
            result.update(_pythonify_logs(value))
            continue
        if _is_dense_tensor(value):
            value = value.numpy()
        try:
            value = _to_float(value)
        except (TypeError, ValueError):
            pass
        result[key] = value
    return result


class Callback:
    """Base class: override the hooks you need; `self.model` and `self.params` are set by
    the training loop.

    >>> from tensorflux.keras.callbacks import Callback
    >>> class Count(Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         print(epoch, logs["loss"])
    >>> Count().on_epoch_end(0, {"loss": 0.5})
    0 0.5
    """

    def __init__(self):
        self.params = None
        self._model = None

    def set_params(self, params):
        self.params = params

    def set_model(self, model):
        self._model = model

    @property
    def model(self):
        return self._model

    def on_batch_begin(self, batch, logs=None):
        """A backwards-compatibility alias for `on_train_batch_begin`."""

    def on_batch_end(self, batch, logs=None):
        """A backwards-compatibility alias for `on_train_batch_end`."""

    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of an epoch (training only)."""

    def on_epoch_end(self, epoch, logs=None):
        """Called at the end of an epoch with its training and validation logs."""

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        """Called before each evaluation batch."""

    def on_test_batch_end(self, batch, logs=None):
        """Called after each evaluation batch."""

    def on_predict_batch_begin(self, batch, logs=None):
        """Called before each prediction batch."""

    def on_predict_batch_end(self, batch, logs=None):
        """Called after each prediction batch."""

    def on_train_begin(self, logs=None):
        """Called at the start of fit."""

    def on_train_end(self, logs=None):
        """Called at the end of fit."""

    def on_test_begin(self, logs=None):
        """Called at the start of evaluate (and of validation inside fit)."""

    def on_test_end(self, logs=None):
        """Called at the end of evaluate."""

    def on_predict_begin(self, logs=None):
        """Called at the start of predict."""

    def on_predict_end(self, logs=None):
        """Called at the end of predict."""


class CallbackList(Callback):
    """Calls every hook on a list of callbacks, adding History and ProgbarLogger if asked.

    >>> from tensorflux.keras.callbacks import CallbackList, History
    >>> callbacks = CallbackList(add_history=True, epochs=1, steps=1, verbose=0)
    >>> [type(c).__name__ for c in callbacks.callbacks]
    ['History']
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None,
                 **params):
        super().__init__()
        self.callbacks = _flatten(callbacks) if callbacks else []
        self._add_default_callbacks(add_history, add_progbar)
        self.set_model(model)
        self.set_params(params)

    def _add_default_callbacks(self, add_history, add_progbar):
        self._progbar = next((c for c in self.callbacks if isinstance(c, ProgbarLogger)), None)
        self._history = next((c for c in self.callbacks if isinstance(c, History)), None)
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if self._progbar is None and add_progbar:
            self._progbar = ProgbarLogger()
            self.callbacks.append(self._progbar)

    def append(self, callback):
        self.callbacks.append(callback)

    def set_params(self, params):
        self.params = params
        if params:
            for callback in self.callbacks:
                callback.set_params(params)

    def set_model(self, model):
        if not model:
            return
        super().set_model(model)
        if self._history:
            model.history = self._history
        for callback in self.callbacks:
            callback.set_model(model)

    def _call(self, hook, *args):
        """Calls `hook` on every callback. As in Keras, batch hooks get their logs by keyword
        (a callback may take them as `**kwargs`), the others by position."""
        *index, logs = args
        logs = _pythonify_logs(logs)
        if "batch" in hook:
            for callback in self.callbacks:
                getattr(callback, hook)(*index, logs=logs)
        else:
            for callback in self.callbacks:
                getattr(callback, hook)(*index, logs)

    def __iter__(self):
        return iter(self.callbacks)


def _forwarding_hook(cls, hook, dispatch):
    """`cls`'s method `hook`, with Callback's signature for it, that hands its arguments on
    as `self.<dispatch>(hook, ...)`."""
    if "batch" in hook:
        def forward(self, batch, logs=None):
            getattr(self, dispatch)(hook, batch, logs)
    elif "epoch" in hook:
        def forward(self, epoch, logs=None):
            getattr(self, dispatch)(hook, epoch, logs)
    else:
        def forward(self, logs=None):
            getattr(self, dispatch)(hook, logs)
    forward.__name__ = hook
    forward.__qualname__ = f"{cls.__name__}.{hook}"
    return forward


def _forward_hooks(cls, hooks, dispatch):
    for hook in hooks:
        setattr(cls, hook, _forwarding_hook(cls, hook, dispatch))


# CallbackList passes every hook of Callback on to its callbacks.
_forward_hooks(CallbackList, [name for name in vars(Callback) if name.startswith("on_")],
               "_call")


def _flatten(callbacks):
    """Callbacks from any nesting of lists, tuples and dicts (a dict's values in key order,
    as Keras's tree.flatten takes them)."""
    if isinstance(callbacks, dict):
        callbacks = [callbacks[key] for key in sorted(callbacks)]
    if isinstance(callbacks, (list, tuple)):
        out = []
        for c in callbacks:
            out.extend(_flatten(c))
        return out
    return [callbacks]


class History(Callback):
    """Records every epoch's logs in `history` (key -> list); fit returns it.

    >>> from tensorflux.keras.callbacks import History
    >>> h = History()
    >>> h.on_train_begin()
    >>> h.on_epoch_end(0, {"loss": 1.0})
    >>> h.history, h.epoch
    ({'loss': [1.0]}, [0])
    """

    def __init__(self):
        super().__init__()
        self.history = {}

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(v)
        if self.model is not None:
            self.model.history = self


class ProgbarLogger(Callback):
    """Prints Keras 3's progress bar (`Epoch i/N` only when N > 1)."""

    def __init__(self):
        super().__init__()
        self.seen = 0
        self.progbar = None
        self.target = None
        self.verbose = 1
        self.epochs = 1
        self._called_in_fit = False

    def set_params(self, params):
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else verbose
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def on_train_begin(self, logs=None):
        self._called_in_fit = True

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._reset_progbar()
            self._maybe_init_progbar()

    def on_predict_begin(self, logs=None):
        self._reset_progbar()
        self._maybe_init_progbar()

    def on_epoch_begin(self, epoch, logs=None):
        self._reset_progbar()
        self._maybe_init_progbar()
        if self.verbose and self.epochs > 1:
            _print(f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch, logs=None):
        self._update_progbar(batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._update_progbar(batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._update_progbar(batch, None)

    def on_epoch_end(self, epoch, logs=None):
        self._finalize_progbar(logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finalize_progbar(logs)

    def on_predict_end(self, logs=None):
        self._finalize_progbar(logs)

    def _reset_progbar(self):
        self.seen = 0
        self.progbar = None

    def _maybe_init_progbar(self):
        if self.progbar is None:
            from tensorflux.keras.utils.progbar import Progbar

            self.progbar = Progbar(target=self.target, verbose=self.verbose, unit_name="step",
                                   stateless_metrics=set())

    def _update_progbar(self, batch, logs=None):
        logs = logs or {}
        self._maybe_init_progbar()
        self.seen = batch + 1
        if self.verbose == 1:
            self.progbar.update(self.seen, list(logs.items()), finalize=False)

    def _finalize_progbar(self, logs):
        logs = logs or {}
        self._maybe_init_progbar()
        if self.target is None:
            self.target = self.seen
            self.progbar.target = self.target
        self.progbar.update(self.target, list(logs.items()), finalize=True)


class MonitorCallback(Callback):
    """Shared by callbacks that watch one logged value: mode, min_delta and the comparison.

    mode="auto" decides the direction as Keras 3 does, from the model alone: "loss" and
    "val_loss" are minimized; any other monitor must name (without its "val_" prefix) one of
    the model's compiled metrics, whose `_direction` ("up" or "down") decides. Nothing is
    guessed from a name: a monitor that names no compiled metric, a metric without a
    direction (e.g. TruePositives or a plain function), or a multi-output key such as
    "val_out_accuracy" (its metric is named "accuracy") raises a ValueError asking for
    mode="min" or mode="max".
    """

    def __init__(self, monitor="val_loss", mode="auto", baseline=None, min_delta=0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"{self.__class__.__name__} mode '{mode}' is unknown, fallback to "
                          "auto mode.", stacklevel=2)
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.best = baseline
        self.min_delta = abs(min_delta)
        self.monitor_op = None

    def _set_monitor_op(self):
        if self.mode == "min":
            self.monitor_op = _less
        elif self.mode == "max":
            self.monitor_op = _greater
        else:
            self.monitor_op = self._auto_monitor_op()
        if self.monitor_op is _less:
            self.min_delta *= -1

    def _auto_monitor_op(self):
        metric_name = self.monitor.removeprefix("val_")
        op = _less if metric_name == "loss" else None
        # Every compiled metric of that name is consulted and the last with a direction wins,
        # as in Keras (so a compiled metric named "loss" would override the default).
        for metric in _compiled_metrics(self.model):
            direction = getattr(metric, "_direction", None)
            if getattr(metric, "name", None) == metric_name and direction is not None:
                op = _greater if direction == "up" else _less
        if op is None:
            raise ValueError(
                f"{self.__class__.__name__}(monitor={self.monitor!r}, mode='auto') cannot tell "
                "whether that quantity should be maximized or minimized: only 'loss' and the "
                "model's compiled metrics that define a direction are known. Pass "
                "`mode='max'` to monitor based on the highest metric value, or `mode='min'` "
                "to use the lowest value.")
        return op

    def _is_improvement(self, monitor_value, reference_value):
        if reference_value is None:
            return True
        return self.monitor_op(monitor_value - self.min_delta, reference_value)


def _compiled_metrics(model):
    """The metric objects of the model's compiled metrics: the contents of the containers
    (CompileMetrics) in `model.metrics`, not the loss trackers beside them, as Keras reads
    them."""
    found = []
    for entry in getattr(model, "metrics", None) or []:
        inner = getattr(entry, "metrics", None)
        if isinstance(inner, (list, tuple)):
            found.extend(inner)
    return found


def _less(a, b):
    return a < b


def _greater(a, b):
    return a > b


class EarlyStopping(MonitorCallback):
    """Stops training when `monitor` has not improved for `patience` epochs; optionally
    restores the weights of the best epoch.

    >>> from tensorflux.keras.callbacks import EarlyStopping
    >>> EarlyStopping(patience=2).patience
    2
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta=min_delta)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.wait = 0
        self.stopped_epoch = 0
        self.restore_best_weights = restore_best_weights
        self.best_weights = None
        self.start_from_epoch = start_from_epoch

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            _print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                _print("Restoring model weights from the end of the best epoch: "
                       f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(f"Early stopping conditioned on metric `{self.monitor}` which is not "
                          f"available. Available metrics are: {','.join(list(logs.keys()))}",
                          stacklevel=2)
        return value


class _SavesEveryNBatches:
    """Shared by ModelCheckpoint and BackupAndRestore: counts the batches seen towards an
    integer `save_freq` (the batch index restarts at 0 each epoch)."""

    def _should_save_on_batch(self, batch):
        if self.save_freq == "epoch":
            return False
        if self._last_batch_seen is None or batch <= self._last_batch_seen:
            add_batches = batch + 1
        else:
            add_batches = batch - self._last_batch_seen
        self._batches_seen_since_last_saving += add_batches
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _implements_train_batch_hooks(self):
        """Whether fit must call this callback's batch hooks: with save_freq="epoch" they do
        nothing (unless a subclass adds its own), and fit can skip building each batch's logs."""
        if self.save_freq != "epoch":
            return True
        hooks = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")
        for cls in type(self).__mro__:
            if cls in (ModelCheckpoint, BackupAndRestore):
                return False
            if any(name in vars(cls) for name in hooks):
                return True
        return False


def _checked_period(period):
    """ModelCheckpoint's `period`: a positive integer (bool excluded)."""
    if isinstance(period, numbers.Integral) and not isinstance(period, bool) and period > 0:
        return int(period)
    raise ValueError("ModelCheckpoint expected `period` to be a positive integer (the number "
                     f"of epochs between two saves), received period={period!r} of type "
                     f"{type(period).__name__}.")


class ModelCheckpoint(_SavesEveryNBatches, MonitorCallback):
    """Saves the model (or its weights) every epoch or every `save_freq` batches; the path
    may hold `{epoch}` and log fields such as `{val_loss:.2f}`.

    `period=N` (tf_keras 2.x's, deprecated there and removed in Keras 3) saves at the end of
    every N-th epoch this callback sees, when `save_freq="epoch"`; with save_best_only, only
    those epochs are compared with the best. An integer `save_freq` ignores it, as tf_keras
    does.

    >>> from tensorflux.keras.callbacks import ModelCheckpoint
    >>> ModelCheckpoint("m-{epoch:02d}.keras")._get_file_path(2, None, {})
    'm-03.keras'
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None, *, period=None):
        super().__init__(monitor, mode, initial_value_threshold)
        self.verbose = verbose
        self.filepath = os.fspath(filepath)
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = None
        self._current_epoch = 0
        if self.save_freq != "epoch" and not isinstance(self.save_freq, int):
            raise ValueError(f"Unrecognized save_freq: {self.save_freq}. Expected save_freq "
                             "are 'epoch' or integer values")
        # tf_keras's count of the epochs ended since the last save (kept across fit calls)
        self.period = 1 if period is None else _checked_period(period)
        self.epochs_since_last_save = 0
        if period is not None:
            warnings.warn("`ModelCheckpoint(period=...)` is deprecated (a tf_keras 2 argument, "
                          "removed in Keras 3): it saves every `period` epochs here, as in "
                          "tf_keras, but Keras 3 only takes `save_freq`, 'epoch' or a number "
                          "of batches (e.g. `save_freq=period * steps_per_epoch`). With an "
                          "integer `save_freq`, `period` is ignored.",
                          DeprecationWarning, stacklevel=2)
        if save_weights_only:
            if not self.filepath.endswith(".weights.h5"):
                raise ValueError("When using `save_weights_only=True` in `ModelCheckpoint`, "
                                 "the filepath provided must end in `.weights.h5` (Keras "
                                 f"weights format). Received: filepath={self.filepath}")
        elif not self.filepath.endswith((".keras", ".h5")):
            raise ValueError("The filepath provided must end in `.keras` (Keras model "
                             f"format). Received: filepath={self.filepath}")

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save_model(epoch=self._current_epoch, batch=batch, logs=logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        self.epochs_since_last_save += 1
        if self.save_freq == "epoch" and self.epochs_since_last_save >= self.period:
            self.epochs_since_last_save = 0
            self._save_model(epoch=epoch, batch=None, logs=logs)

    def _should_save_model(self, epoch, batch, logs, filepath):
        logs = logs or {}
        if not self.save_best_only:
            if self.verbose > 0:
                _print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.",
                          stacklevel=2)
            return True
        if len(getattr(current, "shape", ())) > 0:
            warnings.warn("Can save best model only when `monitor` is a scalar value. "
                          f"Received: {current}. Falling back to `save_best_only=False`.",
                          stacklevel=2)
            return True
        if self.monitor_op is None:
            # An integer save_freq reaches here before the first epoch end (Keras 3.15 fails
            # with "'NoneType' object is not callable").
            self._set_monitor_op()
        best_str = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                _print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best_str} to "
                       f"{current:.5f}, saving model to {filepath}")
            self.best = current
            return True
        if self.verbose > 0:
            _print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best_str}")
        return False

    def _save_model(self, epoch, batch, logs):
        filepath = self._get_file_path(epoch, batch, logs)
        if os.path.isdir(filepath):
            raise OSError("Please specify a non-directory filepath for ModelCheckpoint. "
                          f"Filepath used is an existing directory: {filepath}")
        if not self._should_save_model(epoch, batch, logs, filepath):
            return
        dirname = os.path.dirname(filepath)
        if dirname and not os.path.exists(dirname):
            os.makedirs(dirname, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)
        if self.verbose > 0:
            _print(f"\nEpoch {epoch + 1}: finished saving model to {filepath}")

    def _get_file_path(self, epoch, batch, logs):
        logs = logs or {}
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as error:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". '
                           f"Reason: {error}") from error


class ReduceLROnPlateau(MonitorCallback):
    """Multiplies the learning rate by `factor` when `monitor` stalls for `patience` epochs.

    >>> from tensorflux.keras.callbacks import ReduceLROnPlateau
    >>> ReduceLROnPlateau().factor
    0.1
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0, **kwargs):
        super().__init__(monitor, mode, min_delta=min_delta)
        if factor >= 1.0:
            raise ValueError("ReduceLROnPlateau does not support a factor >= 1.0. "
                             f"Received factor={factor}")
        self.factor = factor
        self.min_lr = min_lr
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.cooldown_counter = 0
        self.wait = 0

    def _reset(self):
        self.best = None
        self.cooldown_counter = 0
        self.wait = 0

    def _reduce_optimizer_lr(self, optimizer, epoch, name=""):
        old_lr = _to_float(optimizer.learning_rate)
        if old_lr > _float32(self.min_lr):
            new_lr = max(old_lr * self.factor, self.min_lr)
            optimizer.learning_rate = new_lr
            if self.verbose > 0:
                name_str = f" {name}" if name else ""
                _print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing{name_str} learning "
                       f"rate to {new_lr}.")
            return True
        return False

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        logs = logs if logs is not None else {}
        optimizers = _log_learning_rates(self.model.optimizer, logs)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` "
                          f"which is not available. Available metrics are: "
                          f"{','.join(list(logs.keys()))}.", stacklevel=2)
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                if optimizers is not None:
                    reduced = any([self._reduce_optimizer_lr(o, epoch, o.name)
                                   for o in optimizers])
                else:
                    reduced = self._reduce_optimizer_lr(self.model.optimizer, epoch)
                if reduced:
                    self.cooldown_counter = self.cooldown
                    self.wait = 0

    def in_cooldown(self):
        return self.cooldown_counter > 0


def _sub_optimizers(optimizer):
    return getattr(optimizer, "optimizers", None)


def _log_learning_rates(optimizer, logs):
    """Writes the learning rate into `logs` (one `learning_rate_<name>` per sub-optimizer of
    a multi-optimizer); returns the sub-optimizers, or None."""
    optimizers = _sub_optimizers(optimizer)
    if optimizers is not None:
        for opt in optimizers:
            logs[f"learning_rate_{opt.name}"] = _to_float(opt.learning_rate)
    else:
        logs["learning_rate"] = _to_float(optimizer.learning_rate)
    return optimizers


def _float32(value):
    """`value` rounded to float32, as Keras compares learning rates (np.float32(min_lr))."""
    import tensorflux as tf

    return float(tf.constant(value, tf.float32))


class LearningRateScheduler(Callback):
    """Sets the learning rate at each epoch start to `schedule(epoch, lr)` (or
    `schedule(epoch)`).

    >>> from tensorflux.keras.callbacks import LearningRateScheduler
    >>> LearningRateScheduler(lambda epoch, lr: lr * 0.5).verbose
    0
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def _update_optimizer_lr(self, optimizer, epoch):
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        try:
            learning_rate = self.schedule(epoch, _to_float(optimizer.learning_rate))
        except TypeError:
            learning_rate = self.schedule(epoch)
        if not isinstance(learning_rate, numbers.Real) or isinstance(learning_rate,
                                                                     numbers.Integral):
            raise ValueError("The output of the `schedule` function should be a float. "
                             f"Got: {learning_rate}")
        optimizer.learning_rate = learning_rate
        return learning_rate

    def on_epoch_begin(self, epoch, logs=None):
        optimizers = _sub_optimizers(self.model.optimizer)
        for opt in optimizers if optimizers is not None else [self.model.optimizer]:
            learning_rate = self._update_optimizer_lr(opt, epoch)
            if self.verbose > 0:
                which = f"{opt.name} " if optimizers is not None else ""
                _print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting {which}learning "
                       f"rate to {learning_rate}.")

    def on_epoch_end(self, epoch, logs=None):
        _log_learning_rates(self.model.optimizer, logs if logs is not None else {})


class CSVLogger(Callback):
    """Streams each epoch's logs to a CSV file (`epoch` first, then sorted keys).

    >>> from tensorflux.keras.callbacks import CSVLogger
    >>> CSVLogger("log.csv").sep
    ','
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.writer = None
        self.keys = None
        self.append_header = True
        self.csv_file = None

    def on_train_begin(self, logs=None):
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename, encoding="utf-8") as f:
                    self.append_header = not bool(len(f.readline()))
            mode = "a"
        else:
            mode = "w"
        if self.csv_file and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, mode, newline="", encoding="utf-8")  # noqa: SIM115
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}

        def handle_value(k):
            if isinstance(k, str):
                return k
            if isinstance(k, collections.abc.Iterable) and len(getattr(k, "shape", (1,))):
                return f'"[{", ".join(map(str, k))}]"'
            return k

        if self.keys is None:
            self.keys = sorted(logs.keys())
            if self.keys and not any(key.startswith("val_") for key in self.keys):
                self.keys.extend([f"val_{k}" for k in self.keys])
        if not self.writer:
            class CustomDialect(csv.excel):
                delimiter = self.sep

            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + (self.keys or []),
                                         dialect=CustomDialect)
            if self.append_header:
                self.writer.writeheader()
        row = collections.OrderedDict({"epoch": epoch})
        row.update((key, handle_value(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


class TerminateOnNaN(Callback):
    """Stops training (or raises, with raise_error=True) when a batch loss is NaN or inf.

    >>> from tensorflux.keras.callbacks import TerminateOnNaN
    >>> TerminateOnNaN().raise_error
    False
    """

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = _to_float(loss)
        if math.isnan(loss) or math.isinf(loss):
            if self.raise_error:
                raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. Loss value: "
                                   f"{loss}. Terminating training immediately.")
            _print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback made of functions: `LambdaCallback(on_epoch_end=lambda epoch, logs: ...)`.

    >>> from tensorflux.keras.callbacks import LambdaCallback
    >>> LambdaCallback(on_epoch_end=lambda epoch, logs: print("done", epoch)).on_epoch_end(3)
    done 3
    """

    # The hooks are methods of the class (forwarded to `_run` below; not instance attributes,
    # as in Keras) so that a training loop that skips per-batch work when no class overrides
    # a batch hook still calls on_train_batch_* here.
    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None,
                 **kwargs):
        super().__init__()
        self.__dict__.update(kwargs)
        self._functions = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end,
                           "on_train_begin": on_train_begin, "on_train_end": on_train_end,
                           # (Keras's aliases on_batch_begin/_end run when the
                           # on_train_batch_* functions are not given)
                           "on_train_batch_begin": on_train_batch_begin
                           or kwargs.get("on_batch_begin"),
                           "on_train_batch_end": on_train_batch_end
                           or kwargs.get("on_batch_end")}

    def _run(self, hook, *args):
        fn = self._functions.get(hook)
        if fn is not None:
            fn(*args)


_forward_hooks(LambdaCallback, ["on_epoch_begin", "on_epoch_end", "on_train_begin",
                                "on_train_end", "on_train_batch_begin", "on_train_batch_end"],
               "_run")


class BackupAndRestore(_SavesEveryNBatches, Callback):
    """Backs up the model's weights (with the optimizer state) and the epoch at each epoch
    end, atomically; when fit starts again after a crash it restores them and resumes at the
    next epoch. The backup is deleted when training ends (delete_checkpoint=True).

    >>> from tensorflux.keras.callbacks import BackupAndRestore
    >>> BackupAndRestore("backup").delete_checkpoint
    True
    """

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False,
                 delete_checkpoint=True):
        super().__init__()
        self.save_freq = save_freq
        self.double_checkpoint = double_checkpoint
        self.delete_checkpoint = delete_checkpoint
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = 0
        self._current_epoch = 0
        if not backup_dir:
            raise ValueError("Empty `backup_dir` argument passed")
        self.backup_dir = os.fspath(backup_dir)
        self._weights_path = os.path.join(self.backup_dir, "latest.weights.h5")
        self._training_metadata_path = os.path.join(self.backup_dir, "training_metadata.json")
        self._prev_weights_path = f"{self._weights_path}.bkp"
        self._prev_training_metadata_path = f"{self._training_metadata_path}.bkp"
        if save_freq != "epoch" and not isinstance(save_freq, int):
            raise ValueError("Invalid value for argument `save_freq`. Received: "
                             f"save_freq={save_freq}. Expected either 'epoch' or an integer "
                             "value.")

    def on_train_begin(self, logs=None):
        try:
            self._load_model()
        except OSError:
            if not os.path.exists(self._prev_weights_path):
                raise
            shutil.copyfile(self._prev_weights_path, self._weights_path)
            if os.path.exists(self._prev_training_metadata_path):
                shutil.copyfile(self._prev_training_metadata_path,
                                self._training_metadata_path)
            elif os.path.exists(self._training_metadata_path):
                os.remove(self._training_metadata_path)
            self._load_model()

    def _load_model(self):
        if not getattr(self.model, "built", True):
            raise ValueError(
                "To use the BackupAndRestore callback, you model must be built before you "
                f"call `fit()`. Model {self.model} is unbuilt. You can build it beforehand by "
                "calling it on a batch of data.")
        if os.path.exists(self._weights_path):
            optimizer = getattr(self.model, "optimizer", None)
            if optimizer is not None and not getattr(optimizer, "built", True):
                optimizer.build(self.model.trainable_variables)
            self.model.load_weights(self._weights_path)
        if os.path.exists(self._training_metadata_path):
            with open(self._training_metadata_path, encoding="utf-8") as f:
                training_metadata = json.loads(f.read())
            self.model._initial_epoch = training_metadata["epoch"]

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        self._last_batch_seen = 0
        if self.save_freq == "epoch":
            self._save_model()

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save_model()

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint and os.path.exists(self._weights_path):
            shutil.copyfile(self._weights_path, self._prev_weights_path)
        if self.double_checkpoint and os.path.exists(self._training_metadata_path):
            shutil.copyfile(self._training_metadata_path, self._prev_training_metadata_path)
        # Weights first, then the epoch: each file is replaced atomically, so a crash leaves
        # either the previous backup or the new one, never a torn file.
        self.model.save_weights(filepath=self._weights_path, overwrite=True)
        metadata = json.dumps({"epoch": self._current_epoch, "batch": self._last_batch_seen})
        atomic_write(self._training_metadata_path, lambda f: f.write(metadata), mode="w")

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.exists(self.backup_dir):
            shutil.rmtree(self.backup_dir)


class SwapEMAWeights(Callback):
    """Puts the optimizer's EMA weights (use_ema=True) into the model for evaluation and
    prediction, and the training weights back afterwards; with `swap_on_epoch=True` also
    for the callbacks that run at epoch end (e.g. ModelCheckpoint), and after the last epoch
    the EMA weights stay in the model.

    The swap is exact (a copy, not the add/subtract trick Keras's TensorFlow backend uses).

    >>> from tensorflux.keras.callbacks import SwapEMAWeights
    >>> SwapEMAWeights(swap_on_epoch=True).swap_on_epoch
    True
    """

    def __init__(self, swap_on_epoch=False):
        super().__init__()
        self.swap_on_epoch = swap_on_epoch
        self._ema_weights_in_model = False

    def _ema_optimizers(self):
        optimizer = self.model.optimizer
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)
        inner = _sub_optimizers(optimizer)
        if inner is None:
            candidates = [optimizer]
        else:
            candidates = [opt for opt in inner if getattr(opt, "use_ema", False)]
            if not candidates:
                raise ValueError("SwapEMAWeights must be used when at least one inner "
                                 "optimizer has `use_ema=True` set. Received a "
                                 "MultiOptimizer with all inner optimizers having "
                                 "`use_ema=False`.")
        for opt in candidates:
            if not hasattr(opt, "_model_variables_moving_average"):
                raise ValueError("SwapEMAWeights must be used when `use_ema=True` is set on "
                                 f"the optimizer. Received: use_ema={opt.use_ema}")
        return candidates

    @staticmethod
    def _pairs(optimizer):
        return zip(optimizer._trainable_variables, optimizer._model_variables_moving_average)

    def _swap_variables(self):
        import tensorflux as tf

        for optimizer in self._ema_optimizers():
            for variable, average in self._pairs(optimizer):
                held = tf.constant(variable.numpy().copy())
                variable.assign(average)
                average.assign(held)

    def _finalize_ema_values(self):
        for optimizer in self._ema_optimizers():
            for variable, average in self._pairs(optimizer):
                average.assign(variable)

    def on_epoch_begin(self, epoch, logs=None):
        if self.swap_on_epoch and self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False

    def on_epoch_end(self, epoch, logs=None):
        if self.swap_on_epoch and not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True
            # Training ends here: keep the EMA weights in the model and in the averages.
            if epoch == self.params["epochs"] - 1:
                self._finalize_ema_values()

    def on_test_begin(self, logs=None):
        if not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True

    def on_test_end(self, logs=None):
        if self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False

    def on_predict_begin(self, logs=None):
        if not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True

    def on_predict_end(self, logs=None):
        # Keras 3.15 tests `not self._ema_weights_in_model` here, so after predict() the EMA
        # weights stay in the model (it swaps only if they were not in); kept for parity.
        if not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False


def _plain(value):
    """A JSON-ready log value: NumPy scalars and 0-d arrays become Python numbers."""
    if callable(getattr(value, "numpy", None)):  # a tensorflux Tensor
        value = value.numpy()
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", 0) == 0 and hasattr(value, "dtype"):
        return item()
    if hasattr(value, "tolist") and hasattr(value, "dtype"):
        return value.tolist()
    return value


class RemoteMonitor(Callback):
    """POSTs `{"epoch": epoch, **logs}` to `root + path` at each epoch end, as JSON when
    `send_as_json`, else as a form with the JSON under `field`. Uses urllib (no `requests`);
    only http(s) URLs; an unreachable server gives a warning, not an error.

    >>> from tensorflux.keras.callbacks import RemoteMonitor
    >>> RemoteMonitor().root + RemoteMonitor().path
    'http://localhost:9000/publish/epoch/end/'
    """

    def __init__(self, root="http://localhost:9000", path="/publish/epoch/end/", field="data",
                 headers=None, send_as_json=False):
        super().__init__()
        self.root = root
        self.path = path
        self.field = field
        self.headers = headers
        self.send_as_json = send_as_json

    def _request(self, send):
        import urllib.parse
        import urllib.request

        url = self.root + self.path
        scheme = urllib.parse.urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            raise ValueError(f"RemoteMonitor posts to http(s) URLs only, received {url!r}")
        if self.send_as_json:
            body = json.dumps(send).encode("utf-8")
            content_type = "application/json"
        else:
            body = urllib.parse.urlencode({self.field: json.dumps(send)}).encode("utf-8")
            content_type = "application/x-www-form-urlencoded"
        headers = {"Content-Type": content_type}
        headers.update(self.headers or {})
        return urllib.request.Request(url, data=body, headers=headers, method="POST")

    def on_epoch_end(self, epoch, logs=None):
        import urllib.error
        import urllib.request

        send = {"epoch": epoch}
        for key, value in (logs or {}).items():
            send[key] = _plain(value)
        request = self._request(send)
        try:
            with urllib.request.urlopen(request) as response:
                response.read()
        except urllib.error.HTTPError:
            pass  # the server answered: like `requests.post`, a status code is not an error
        except (urllib.error.URLError, OSError):
            warnings.warn(f"Could not reach RemoteMonitor root server at {self.root}",
                          stacklevel=2)


# At the end: callbacks_tensorboard subclasses Callback from this module.
from tensorflux.keras.callbacks_tensorboard import TensorBoard  # noqa: E402
