"""The Trainer mixin of keras.Model: compile, fit, evaluate, predict and the *_on_batch calls,
with Keras 3's semantics (keras_compat.md 4.5). The train step is traced once per batch shape
by tensorflux.function and replayed every batch."""

import inspect
import numbers
import sys
import warnings
from collections.abc import Mapping

import tensorflux as tf
from tensorflux.context import context, current_backend
from tensorflux.keras import backend
from tensorflux.keras.engine.keras_tensor import KerasTensor, trace_output_spec
from tensorflux.keras.layers.base import Layer, held_metrics
from tensorflux.keras.trainers import _distributed, data_adapters
from tensorflux.keras.trainers.compile_utils import CompileLoss, CompileMetrics
from tensorflux.keras.trainers.data_adapters import (
    EpochIterator,
    flatten,
    map_structure,
    train_validation_split,
    unpack_x_y_sample_weight,
)
from tensorflux.profiler import recorder as _recorder
from tensorflux.tensor import Tensor

__all__ = ["Trainer"]

_PROFILER = _recorder.state  # (while a profiler session is on, steps take tf.function's path)


def _metrics_module():
    from tensorflux.keras import metrics

    return metrics


def _callbacks_module():
    from tensorflux.keras import callbacks

    return callbacks


def pythonify_logs(logs):
    """Logs as a dict sorted by key with Python floats (nested dicts are merged), as Keras's
    CallbackList passes them on; values that are not numbers are kept."""
    result = {}
    for key, value in sorted((logs or {}).items()):
        if isinstance(value, dict):
            result.update(pythonify_logs(value))
            continue
        try:
            value = float(value)
        except (TypeError, ValueError):
            pass
        result[key] = value
    return result


class Trainer:
    """Mixin giving a Model compile/fit/evaluate/predict.

    Every attribute has a class-level default so a Model works whether or not its __init__
    calls Trainer.__init__.
    """

    compiled = False
    optimizer = None
    loss = None
    history = None
    stop_training = False
    stop_evaluating = False
    stop_predicting = False
    steps_per_execution = 1
    train_function = None
    test_function = None
    predict_function = None
    _compile_loss = None
    _compile_metrics = None
    _loss_tracker = None
    _run_eagerly = False
    _jit_compile = None
    _initial_epoch = None
    _eval_epoch_iterator = None
    _compile_config = None
    _distribute_strategy = None

    def __init__(self):
        self._distribute_strategy = _strategy_in_scope()
        self.compiled = False
        self.loss = None
        self.steps_per_execution = 1
        self._initial_epoch = None
        self._compile_loss = None
        self._compile_metrics = None
        self._loss_tracker = None
        self.train_function = None
        self.test_function = None
        self.predict_function = None

    # ------------------------------------------------------------------ compile

    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1,
                jit_compile="auto", auto_scale_loss=True):
        """Configures the model for training (Keras 3's arguments and defaults)."""
        from tensorflux.keras import optimizers

        # Checked before anything is set, so a refused call leaves the model as it was (Keras
        # fails later with an error that does not name the argument).
        steps_per_execution = _whole_number("compile", "steps_per_execution",
                                            steps_per_execution, minimum=1)
        optimizer = optimizers.get(optimizer)
        self.optimizer = optimizer
        if auto_scale_loss and optimizer is not None and \
                getattr(self, "dtype_policy", None) is not None and \
                self.dtype_policy.name == "mixed_float16" and \
                not isinstance(optimizer, optimizers.LossScaleOptimizer):
            # Keras: float16 training scales its loss dynamically unless told not to.
            self.optimizer = optimizers.LossScaleOptimizer(optimizer,
                                                           name="loss_scale_optimizer")
        output_names = _output_names(self)
        # As in Keras, compiling again without a loss or metrics keeps the earlier ones (so
        # `model.compile(optimizer=...)` only swaps the optimizer).
        if loss is not None:
            self._compile_loss = CompileLoss(loss, loss_weights, output_names=output_names)
            self.loss = loss
        if metrics is not None or weighted_metrics is not None:
            self._compile_metrics = CompileMetrics(metrics, weighted_metrics,
                                                   output_names=output_names,
                                                   compile_loss=self._compile_loss)
        if jit_compile == "auto":
            jit_compile = False
        if jit_compile and run_eagerly:
            jit_compile = False
            warnings.warn("If `run_eagerly` is True, then `jit_compile` cannot also be True. "
                          "Disabling `jit_compile`.", stacklevel=2)
        self._jit_compile = bool(jit_compile)
        self._run_eagerly = bool(run_eagerly)
        self.stop_training = False
        self.compiled = True
        self._loss_tracker = _metrics_module().Mean(name="loss")
        self.steps_per_execution = steps_per_execution
        self.train_function = None
        self.test_function = None
        self.predict_function = None
        self._compile_config = dict(
            optimizer=optimizer, loss=loss, loss_weights=loss_weights, metrics=metrics,
            weighted_metrics=weighted_metrics, run_eagerly=run_eagerly,
            steps_per_execution=steps_per_execution, jit_compile=jit_compile)

    @property
    def distribute_strategy(self):
        """The tf.distribute strategy whose scope the model was made in, else the current
        one (the default strategy outside any scope)."""
        if self._distribute_strategy is not None:
            return self._distribute_strategy
        from tensorflux import distribute

        return distribute.get_strategy()

    @property
    def run_eagerly(self):
        return self._run_eagerly

    @run_eagerly.setter
    def run_eagerly(self, value):
        self._run_eagerly = bool(value)
        self.train_function = self.test_function = self.predict_function = None

    @property
    def jit_compile(self):
        return bool(self._jit_compile)

    @jit_compile.setter
    def jit_compile(self, value):
        self._jit_compile = bool(value)

    def get_compile_config(self):
        if self.compiled and self._compile_config is not None:
            return _serialize_compile_config(self._compile_config)
        return {}

    def compile_from_config(self, config):
        if type(self).compile is not Trainer.compile:
            warnings.warn(
                "`compile()` was not called as part of model loading because the model's "
                "`compile()` method is custom. All subclassed Models that have `compile()` "
                "overridden should also override `get_compile_config()` and "
                "`compile_from_config(config)`. Alternatively, you can call `compile()` "
                "manually after loading.", stacklevel=2)
            return
        from tensorflux.keras import losses, metrics, optimizers

        def revive(value, module):
            if isinstance(value, dict) and "class_name" in value:
                return module.deserialize(value)
            if isinstance(value, dict):
                return {k: revive(v, module) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [revive(v, module) for v in value]
            return value

        config = dict(config)
        config["optimizer"] = revive(config.get("optimizer", "rmsprop"), optimizers)
        config["loss"] = revive(config.get("loss"), losses)
        for key in ("metrics", "weighted_metrics"):
            config[key] = revive(config.get(key), metrics)
        self.compile(**config)
        if self.optimizer is not None and getattr(self, "built", False):
            self._build_optimizer()

    # ------------------------------------------------------------------ metrics

    @property
    def metrics(self):
        """Loss tracker, compiled metrics, per-output loss trackers, then tracked metrics."""
        found = []
        if self.compiled:
            if self._loss_tracker is not None:
                found.append(self._loss_tracker)
            if self._compile_metrics is not None:
                found.append(self._compile_metrics)
            if self._compile_loss is not None:
                found.extend(self._compile_loss.metrics)
        found.extend(self._tracked_metrics())
        unique, seen = [], set()
        for metric in found:
            if id(metric) not in seen:
                seen.add(id(metric))
                unique.append(metric)
        return unique

    def _tracked_metrics(self):
        """Metric objects the user set as attributes (or in list, tuple or dict attributes)
        of the model or of its layers, as Keras tracks them."""
        metric_class = _metrics_module().Metric
        found = [m for m in held_metrics(self, metric_class) if m is not self._loss_tracker]
        flatten_layers = getattr(self, "_flatten_layers", None)
        if flatten_layers is not None:
            for layer in flatten_layers(include_self=False):
                # (tensorflux's own layers hold no metrics: only user classes are scanned)
                if isinstance(layer, Trainer) or type(layer).__module__.startswith("tensorflux."):
                    continue
                found.extend(held_metrics(layer, metric_class))
        return found

    @property
    def metrics_names(self):
        return [m.name for m in self.metrics]

    @property
    def metrics_variables(self):
        return [v for m in self.metrics for v in m.variables]

    def reset_metrics(self):
        for metric in self.metrics:
            metric.reset_state()

    def _reset_metrics_listed(self):
        """self.reset_metrics(); returns the `self.metrics` list it reset where the caller may
        read it again instead of scanning the model anew (see _still_listed), else None:
        Trainer's own `metrics` and `reset_metrics`, and metrics of tensorflux's own classes
        only, whose reset_state and result run no user code that could add a metric."""
        cls = type(self)
        if cls.reset_metrics is not Trainer.reset_metrics or cls.metrics is not Trainer.metrics:
            self.reset_metrics()
            return None
        metrics = self.metrics
        for metric in metrics:
            metric.reset_state()
        for metric in metrics:
            if not type(metric).__module__.startswith("tensorflux."):
                return None
            if metric.__class__ is CompileMetrics:
                for inner in metric.metrics:
                    if not type(inner).__module__.startswith("tensorflux."):
                        return None
        return metrics

    def get_metrics_result(self):
        return self._metrics_result(self.metrics)

    def _metrics_result(self, metrics):
        results = {}
        for metric in metrics:
            result = metric.result()
            if isinstance(result, dict):
                results.update(result)
            else:
                results[metric.name] = result
        return results

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        del x
        if self._compile_metrics is not None:
            self._compile_metrics.update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()

    # ------------------------------------------------------------------ tf.keras shims

    @property
    def compiled_metrics(self):
        """Deprecated tf.keras API, kept as Keras 3 keeps it: `update_state(y, y_pred,
        sample_weight=None)` updates every metric of `model.metrics`, each `Mean` (the loss
        tracker among them) with `y_pred` alone, the others with `(y, y_pred)`."""
        return _DeprecatedCompiledMetric(self)

    def _compiled_metrics_update_state(self, y, y_pred, sample_weight=None):
        warnings.warn("`model.compiled_metrics()` is deprecated. Instead, use e.g.:\n```\n"
                      "for metric in self.metrics:\n    metric.update_state(y, y_pred)\n"
                      "```\n", stacklevel=3)
        mean = _metrics_module().Mean
        for metric in self.metrics:
            if isinstance(metric, mean):
                metric.update_state(y_pred, sample_weight=sample_weight)
            else:
                metric.update_state(y, y_pred, sample_weight=sample_weight)

    def compiled_loss(self, y, y_pred, sample_weight=None, regularization_losses=None):
        """Deprecated tf.keras API, kept as Keras 3 keeps it: `compute_loss(x=None, y, y_pred,
        sample_weight)`, which already adds `model.losses`; `regularization_losses` is
        ignored. It does not update the loss tracker."""
        del regularization_losses
        warnings.warn("`model.compiled_loss()` is deprecated. Instead, use "
                      "`model.compute_loss(x, y, y_pred, sample_weight, training)`.",
                      stacklevel=2)
        return self.compute_loss(x=None, y=y, y_pred=y_pred, sample_weight=sample_weight)

    # ------------------------------------------------------------------ loss

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Compiled loss plus every `model.losses` term (regularization recomputed now)."""
        del x, training
        losses = []
        if self._compile_loss is not None:
            loss = self._compile_loss(y, y_pred, sample_weight)
            if loss is not None:
                losses.append(loss)
        for loss in getattr(self, "losses", None) or []:
            losses.append(self._aggregate_additional_loss(loss))
        if not losses:
            raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`.")
        total = losses[0]
        for loss in losses[1:]:
            total = total + loss
        return total

    def _compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if "training" in inspect.signature(self.compute_loss).parameters:
            return self.compute_loss(x, y, y_pred, sample_weight, training=training)
        return self.compute_loss(x, y, y_pred, sample_weight)

    def stateless_compute_loss(self, trainable_variables, non_trainable_variables,
                               metrics_variables, x=None, y=None, y_pred=None,
                               sample_weight=None, training=True):
        """compute_loss() with the given values in place of the model's variables (which
        keep theirs); returns (loss, (trainable, non-trainable, metrics values after it))."""
        from tensorflux.keras.engine.stateless_scope import StatelessScope

        groups = ((trainable_variables, self.trainable_variables, "trainable_variables"),
                  (non_trainable_variables, self.non_trainable_variables,
                   "non_trainable_variables"))
        mapping = []
        for given, own, what in groups:  # (values the loss depends on: all of them, in order)
            given = list(given)
            if len(given) != len(own):
                raise ValueError(f"Argument `{what}` must be a list of tensors corresponding "
                                 f"1:1 to {type(self).__name__}().{what}. Received list with "
                                 f"length {len(given)}, but expected {len(own)} variables.")
            mapping.extend(zip(own, given))
        # (metric values, as in Keras, may be fewer: those left out come back as None)
        mapping.extend(zip(self.metrics_variables, metrics_variables))
        with StatelessScope(state_mapping=mapping) as scope:
            loss = self._compute_loss(x, y, y_pred, sample_weight=sample_weight,
                                      training=training)
        non_trainable = [scope.get_current_value(v) for v in self.non_trainable_variables]
        metrics = [scope.get_current_value(v) for v in self.metrics_variables]
        return loss, (trainable_variables, non_trainable, metrics)

    def _aggregate_additional_loss(self, loss):
        loss = tf.convert_to_tensor(loss)
        if loss.dtype.name != backend.floatx():
            loss = tf.cast(loss, backend.floatx())
        return tf.reduce_sum(loss)

    # ------------------------------------------------------------------ steps

    def _call_model(self, x, training):
        call = getattr(self, "call", None)
        try:
            takes_training = call is not None and (
                "training" in inspect.signature(call).parameters)
        except (TypeError, ValueError):
            takes_training = True
        return self(x, training=training) if takes_training else self(x)

    def train_step(self, data):
        """One optimization step on a batch: forward, loss, gradients, update, metrics."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            y_pred = self._call_model(x, training=True)
            loss = self._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                      training=True)
            self._track_loss(loss, x)
            scale_loss = getattr(self.optimizer, "scale_loss", None)
            if scale_loss is not None:
                loss = scale_loss(loss)
        trainable = list(self.trainable_weights)
        if trainable:
            gradients = tape.gradient(loss, trainable)
            self.optimizer.apply(gradients, trainable)
        else:
            warnings.warn("The model does not have any trainable weights.", stacklevel=2)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def _track_loss(self, loss, x):
        """Adds a batch's loss to the running mean, weighted by its size. A batch known to be
        empty adds nothing: its loss is an empty tensor (Keras's reduction leaves it so), whose
        zero weight would still make the mean NaN; TensorFlow's steps, traced for any batch
        size, add 0 there."""
        size = _batch_size(x)
        if type(size) is int and size == 0:
            return
        self._loss_tracker.update_state(loss, sample_weight=size)

    def test_step(self, data):
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        y_pred = self._call_model(x, training=False)
        loss = self._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                  training=False)
        self._track_loss(loss, x)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def predict_step(self, data):
        x, _, _ = unpack_x_y_sample_weight(data)
        return self._call_model(x, training=False)

    def _compiled(self, step, name):
        strategy = self._distribute_strategy
        if strategy is not None and _multi_worker(self) is None:
            step = _in_replica_of(strategy, step)

        def one_step_on_data(data):
            return step(data)

        one_step_on_data.__name__ = name
        if self.run_eagerly:
            # (a compiled step flushes subnormals in its plan's runner; an eager one here)
            return _flushing_denormals(one_step_on_data)
        return _FlatStepFunction(step, name, self.jit_compile or None)

    def make_train_function(self, force=False):
        if self.train_function is None or force:
            step, workers = self.train_step, _multi_worker(self)
            if workers is not None:
                step = _distributed.step_function(workers, self, step, training=True)
            self.train_function = self._compiled(step, "train_function")
        return self.train_function

    def make_test_function(self, force=False):
        if self.test_function is None or force:
            step, workers = self.test_step, _multi_worker(self)
            if workers is not None:
                step = _distributed.step_function(workers, self, step, training=False)
            self.test_function = self._compiled(step, "test_function")
        return self.test_function

    def make_predict_function(self, force=False):
        if self.predict_function is None or force:
            self.predict_function = self._compiled(self.predict_step, "predict_function")
        return self.predict_function

    # ------------------------------------------------------------------ building

    def _assert_compile_called(self, method_name=None):
        if not self.compiled:
            raise ValueError("You must call `compile()` before using the model.")

    def _build_optimizer(self):
        optimizer = self.optimizer
        if optimizer is not None and not getattr(optimizer, "built", True):
            optimizer.build(self.trainable_variables)

    def _symbolic_build(self, iterator=None, data_batch=None):
        """Creates every variable (model, compiled metrics and losses, optimizer) before the
        step is traced, as Keras 3's trainer does: the model runs on symbolic stand-ins for
        the first batch, so the state its `call` updates (counters, statistics, seeds) does
        not move. A step that runs eagerly, or a model without `call()` (its custom
        `train_step` does the work, as in the keras.io GAN and VAE examples), builds what it
        uses in its first step instead, as Keras's TensorFlow backend lets every model."""
        if not self._builds_ahead():
            return
        model_unbuilt = not _all_layers_built(self)
        metrics_unbuilt = self._compile_metrics is not None and not self._compile_metrics.built
        loss_unbuilt = self._compile_loss is not None and not self._compile_loss.built
        if model_unbuilt or metrics_unbuilt or loss_unbuilt:
            if data_batch is None:
                data_batch = iterator.peek()
            x, y, _ = unpack_x_y_sample_weight(map_structure(_symbolic_input, data_batch))
            try:
                y_pred = self._symbolic_call(x)
            except Exception:
                if not _has_custom_step(self):
                    raise
                # A custom step reads its batch its own way (a dict holding features and
                # labels, say): it builds what it uses in its first step, as on TensorFlow.
                return
            if metrics_unbuilt and y is not None:
                self._compile_metrics.build(y, y_pred)
            if loss_unbuilt and y is not None:
                self._compile_loss.build(y, y_pred)
        if model_unbuilt and not _all_layers_built(self):
            return  # a layer `call` leaves out builds in the step; the optimizer builds there too
        self._build_optimizer()

    def _builds_ahead(self):
        """Whether the trainer builds the model before its first step (see _symbolic_build)."""
        return not self.run_eagerly and _implements_call(self)

    def _symbolic_call(self, x):
        """The model's output specs (KerasTensors) for inputs `x` (KerasTensors), from a
        call traced into a throwaway graph: it builds the layers, and nothing runs."""
        return trace_output_spec(self._call_model, (x,), {"training": False})

    def _callback_list(self, callbacks, add_history, verbose, epochs, steps):
        callbacks_module = _callbacks_module()
        if not isinstance(callbacks, callbacks_module.CallbackList):
            callbacks = callbacks_module.CallbackList(
                callbacks, add_history=add_history, add_progbar=verbose != 0,
                verbose=verbose, epochs=epochs, steps=steps, model=self)
        if add_history:
            for callback in callbacks.callbacks:
                if isinstance(callback, callbacks_module.History):
                    self.history = callback
        return callbacks

    # ------------------------------------------------------------------ fit

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1, max_queue_size=None, workers=None,
            use_multiprocessing=None):
        """Trains the model for `epochs` epochs; returns the History callback.

        `max_queue_size`, `workers` and `use_multiprocessing` are Keras 2's (tf_keras) and
        deprecated: see _keras2_loader_args."""
        self._assert_compile_called("fit")
        loader = _keras2_loader_args("fit", max_queue_size, workers,
                                     use_multiprocessing)
        max_epochs = backend.max_epochs()  # keras.config.set_max_epochs, for debugging runs
        if max_epochs and max_epochs < epochs:
            warnings.warn(f"Limiting epochs to {max_epochs}", stacklevel=2)
            epochs = max_epochs
        self._eval_epoch_iterator = None
        if validation_split and validation_data is None:
            (x, y, sample_weight), validation_data = train_validation_split(
                (x, y, sample_weight), validation_split=validation_split)
        if validation_data is not None:
            val_x, val_y, val_sample_weight = unpack_x_y_sample_weight(validation_data)
        multi_worker = _multi_worker(self)
        if multi_worker is not None:  # one replica per process: each takes its part of the data
            x = _distributed.shard(multi_worker, x, y, sample_weight, batch_size,
                                   steps_per_epoch, shuffle, class_weight)
            y = sample_weight = class_weight = None
            if validation_data is not None:
                val_x = _distributed.shard(multi_worker, val_x, val_y, val_sample_weight,
                                           validation_batch_size or batch_size,
                                           validation_steps)
                val_y = val_sample_weight = None
        epoch_iterator = EpochIterator(
            x=x, y=y, sample_weight=sample_weight, batch_size=batch_size,
            steps_per_epoch=steps_per_epoch, shuffle=shuffle, class_weight=class_weight,
            steps_per_execution=self.steps_per_execution)
        _pass_loader_args(epoch_iterator, loader)
        self._symbolic_build(iterator=epoch_iterator)
        if multi_worker is not None:
            _distributed.start_training(multi_worker, self)
        epoch_iterator.reset()
        callbacks = self._callback_list(callbacks, True, verbose, epochs,
                                        epoch_iterator.num_batches)
        batch_hooks = _wants_batch_logs(callbacks, "train")
        self.stop_training = False
        training_logs = {}
        train_function = self.make_train_function()
        callbacks.on_train_begin()
        initial_epoch = self._initial_epoch or initial_epoch
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            callbacks.on_epoch_begin(epoch)
            logs = self._run_batches(epoch_iterator, train_function, callbacks, "train",
                                     batch_hooks)
            epoch_logs = dict(self._get_metrics_result_or_logs(logs))
            if validation_data is not None and self._should_eval(epoch, validation_freq):
                if self._eval_epoch_iterator is None:
                    self._eval_epoch_iterator = EpochIterator(
                        x=val_x, y=val_y, sample_weight=val_sample_weight,
                        batch_size=validation_batch_size or batch_size,
                        steps_per_epoch=validation_steps, shuffle=False,
                        steps_per_execution=self.steps_per_execution)
                    _pass_loader_args(self._eval_epoch_iterator, loader)
                val_logs = self.evaluate(
                    x=val_x, y=val_y, sample_weight=val_sample_weight,
                    batch_size=validation_batch_size or batch_size, steps=validation_steps,
                    callbacks=callbacks, return_dict=True, _use_cached_eval_dataset=True)
                epoch_logs.update({f"val_{name}": value for name, value in val_logs.items()})
            callbacks.on_epoch_end(epoch, epoch_logs)
            training_logs = epoch_logs
            if self.stop_training:
                break
        finalize = getattr(self.optimizer, "finalize_variable_values", None)
        if finalize is not None and epochs > 0:
            finalize(self.trainable_weights)
        self._eval_epoch_iterator = None
        callbacks.on_train_end(logs=training_logs)
        return self.history

    def _should_eval(self, epoch, validation_freq):
        epoch = epoch + 1
        if isinstance(validation_freq, int):
            return epoch % validation_freq == 0
        if isinstance(validation_freq, list):
            return epoch in validation_freq
        raise ValueError("Expected `validation_freq` to be a list or int. Received: "
                         f"validation_freq={validation_freq} of the type "
                         f"{type(validation_freq)}.")

    def _get_metrics_result_or_logs(self, logs, metrics=None):
        """Keras's: the metrics' results where the step's logs have their names, else the
        logs. `metrics`: the model's metrics list, known unchanged (see _still_listed)."""
        workers = _multi_worker(self)
        if workers is not None:
            _distributed.combine_results(workers, self)
        if metrics is not None and type(self).get_metrics_result is Trainer.get_metrics_result:
            metric_logs = self._metrics_result(metrics)
        else:
            metric_logs = self.get_metrics_result()
        if isinstance(logs, dict) and set(logs) == set(metric_logs):
            return metric_logs
        return logs

    def _flatten_metrics_in_order(self, logs, metrics=None):
        names = []
        for metric in self.metrics if metrics is None else metrics:
            if isinstance(metric, CompileMetrics):
                names += [m.name for m in metric.metrics]
            else:
                names.append(metric.name)
        results = [logs[name] for name in names if name in logs]
        results += [logs[key] for key in sorted(logs) if key not in names]
        return results[0] if len(results) == 1 else results

    # ------------------------------------------------------------------ evaluate / predict

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False, max_queue_size=None,
                 workers=None, use_multiprocessing=None, **kwargs):
        """Loss and metrics on the data: [loss, *metrics], a scalar, or a dict (the Keras 2
        loader arguments as in `fit`)."""
        use_cached = kwargs.pop("_use_cached_eval_dataset", False)
        if kwargs:
            raise ValueError(f"Arguments not recognized: {kwargs}")
        self._assert_compile_called("evaluate")
        loader = _keras2_loader_args("evaluate", max_queue_size, workers,
                                     use_multiprocessing)
        if (callbacks is None and verbose == 0 and steps is None and not use_cached
                and loader is None):
            data = _one_batch(x, y, sample_weight, batch_size)
            if data is not None and not self.run_eagerly and _multi_worker(self) is None:
                return self._evaluate_one_batch(data, return_dict)
        if use_cached and self._eval_epoch_iterator is not None:
            epoch_iterator = self._eval_epoch_iterator
        else:
            multi_worker = _multi_worker(self)
            if multi_worker is not None:
                x = _distributed.shard(multi_worker, x, y, sample_weight, batch_size, steps)
                y = sample_weight = None
            epoch_iterator = EpochIterator(
                x=x, y=y, sample_weight=sample_weight, batch_size=batch_size,
                steps_per_epoch=steps, shuffle=False,
                steps_per_execution=self.steps_per_execution)
            _pass_loader_args(epoch_iterator, loader)
        self._symbolic_build(iterator=epoch_iterator)
        epoch_iterator.reset()
        callbacks = self._callback_list(callbacks, False, verbose, 1, epoch_iterator.num_batches)
        batch_hooks = _wants_batch_logs(callbacks, "test")
        test_function = self.make_test_function()
        self.stop_evaluating = False
        callbacks.on_test_begin()
        self.reset_metrics()
        logs = self._run_batches(epoch_iterator, test_function, callbacks, "test", batch_hooks)
        logs = pythonify_logs(self._get_metrics_result_or_logs(logs))
        callbacks.on_test_end(logs)
        if return_dict:
            return logs
        return self._flatten_metrics_in_order(logs)

    def _evaluate_one_batch(self, data, return_dict):
        """evaluate's result on arrays that make one batch, with nothing to report (no
        callbacks, verbose=0): the loop's steps without building its epoch iterator and
        callback list (most of a small evaluate's time otherwise). `data` is the batch the
        iterator would give (_one_batch); an empty CallbackList's hooks do nothing."""
        self._symbolic_build(data_batch=data)
        test_function = self.make_test_function()
        self.stop_evaluating = False
        metrics = self._reset_metrics_listed()
        traced = _tracing_count(test_function)
        # (the loop's step: subnormals flushed, the logs checked)
        logs = _flushing_denormals(test_function)(data)
        if type(logs) is not dict:
            _check_logs(logs, "test")
        metrics = _still_listed(metrics, test_function, traced)
        logs = pythonify_logs(self._get_metrics_result_or_logs(logs, metrics))
        if return_dict:
            return logs
        return self._flatten_metrics_in_order(logs, metrics)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None,
                max_queue_size=None, workers=None, use_multiprocessing=None):
        """The model's outputs on `x`, batch by batch, concatenated into NumPy arrays (the
        Keras 2 loader arguments as in `fit`)."""
        loader = _keras2_loader_args("predict", max_queue_size, workers,
                                     use_multiprocessing)
        outputs = self._predict_one_batch(x, batch_size, verbose, steps, callbacks)
        if outputs is not None:
            return outputs
        outputs = self._predict_batches_directly(x, batch_size, verbose, steps, callbacks)
        if outputs is not None:
            return outputs
        epoch_iterator = EpochIterator(x=x, batch_size=batch_size, steps_per_epoch=steps,
                                       shuffle=False,
                                       steps_per_execution=self.steps_per_execution)
        _pass_loader_args(epoch_iterator, loader)
        if not getattr(self, "built", True) and self._builds_ahead():
            batch = map_structure(_symbolic_input, epoch_iterator.peek())
            self._symbolic_call(unpack_x_y_sample_weight(batch)[0])
        callbacks = self._callback_list(callbacks, False, verbose, 1, epoch_iterator.num_batches)
        batch_hooks = _wants_batch_logs(callbacks, "predict")
        predict_function = self.make_predict_function()
        self.stop_predicting = False
        callbacks.on_predict_begin()
        results = []
        self._run_batches(epoch_iterator, predict_function, callbacks, "predict", batch_hooks,
                          results.append)
        callbacks.on_predict_end()
        if not results:
            raise ValueError("Unexpected result of `predict_function` (Empty batch_outputs). "
                             "Please use `Model.compile(..., run_eagerly=True)`, or "
                             "`tf.config.run_functions_eagerly(True)` for more information of "
                             "where went wrong, or file a issue/bug to `keras`.")
        return _joined_outputs(results)

    def _predict_one_batch(self, x, batch_size, verbose, steps, callbacks):
        """predict's result when `x` is one array that fits in one batch and there is nothing
        to report (no callbacks, verbose=0): the predict function on it directly, the batch
        the loop below would make, without building the loop (most of a single sample's
        predict time otherwise). None when the loop is needed."""
        if (callbacks is not None or verbose != 0 or steps is not None or self.run_eagerly
                or not getattr(self, "built", False) or backend.max_steps_per_epoch()
                or batch_size is not None and type(batch_size) is not int):
            # (a cap on the steps: the loop says it limits them; a batch_size that is no int,
            # a bool or a float: the loop checks it)
            return None
        if self.stop_predicting:
            self.stop_predicting = False
        function = self.make_predict_function()
        flat = function.__class__ is _FlatStepFunction
        if flat:
            outputs = function.lone_array_outputs(x, True, batch_size or 32)
            if outputs is not _NOT_LONE:
                return outputs
        if x.__class__ is Tensor or type(x).__name__ == "ndarray":
            shape = x._value.shape if x.__class__ is Tensor else x.shape
            if not shape or not 0 < shape[0] <= (batch_size or 32):
                return None  # (before converting it: the loop converts it again)
        tensor = _lone_array(x)
        lone = tensor is not None
        if not lone:
            if (data_adapters._is_nested(x) or not data_adapters.can_slice_array(x)
                    or x is None):
                return None
            tensor = data_adapters._to_tensor(x)  # (a DataFrame, a sparse matrix, ...)
        shape = tensor.shape
        if not shape.rank or not 0 < (shape[0] or 0) <= (batch_size or 32):
            return None
        # (the loop's result: _concatenate of one part is its numpy())
        if flat and lone:
            return _numpy_outputs(function.call_on_tensor(x, tensor, True))
        return _numpy_outputs(function((tensor,)))

    def _predict_batches_directly(self, x, batch_size, verbose, steps, callbacks):
        """predict's result for one array of more rows than a batch, with nothing to report
        (no callbacks, verbose=0), when every batch's shape was traced before: what the loop
        computes (the array converted once, split into the same views, each given to the
        predict function as the loop's batch, the outputs concatenated), without building
        the epoch iterator and callbacks or calling through tf.function per batch (most of
        a small model's predict on a few hundred samples). None when the loop is needed."""
        if (callbacks is not None or verbose != 0 or steps is not None or self.run_eagerly
                or not getattr(self, "built", False) or backend.max_steps_per_epoch()
                or batch_size is not None and type(batch_size) is not int
                or _PROFILER.session is not None):
            return None
        function = self.make_predict_function()
        tensor = _lone_array(x) if function.__class__ is _FlatStepFunction else None
        if tensor is None:
            return None
        value = tensor._value
        rows, size = (value.shape[0] if value.ndim else 0), batch_size or 32
        if rows <= size or size < 0:
            return None
        # (ArrayDataAdapter's batches: full ones, then the rest; the loop's batch is the
        # tensor itself, the structure of predict_on_batch's)
        sizes = [size] * (rows // size) + ([rows % size] if rows % size else [])
        traced = getattr(function._functions.get(None), "_fast", {})
        concretes = {}
        for n in (sizes[0], sizes[-1]):
            concrete = traced.get((((n,) + value.shape[1:], value.dtype),))
            if concrete is None or concrete._variable_args or not concrete._steady():
                return None  # (the loop traces it, with its tf.function call)
            concretes[n] = concrete
        self.stop_predicting = False
        # The loop's batches are views of a private copy of the converted array (tf.split's
        # kernel copies it first): here, views of the converted array, a copy already
        # unless `x` is a Tensor (whose array no plan writes into: only arrays that own
        # their memory are reused as buffers). Each plan's runner flushes subnormals itself,
        # as in the loop.
        results, start = [], 0
        for n in sizes:
            results.append(concretes[n]._call_compiled([value[start:start + n]]))
            start += n
        return _joined_outputs(results)

    def _run_batches(self, epoch_iterator, function, callbacks, mode, batch_hooks,
                     collect=None):
        """Runs `function` on each batch between the per-batch callbacks, passing each result to
        `collect` before the batch-end callback; stops after the batch in which a callback set
        `stop_training` (evaluating, predicting). Returns the last result ({} if none).

        The loop runs with subnormal floats flushed to zero, as each step would (see
        _flushing_denormals): the mode is set once, not for every step."""
        return _flushing_denormals(self._batches)(epoch_iterator, function, callbacks, mode,
                                                  batch_hooks, collect)

    def _batches(self, epoch_iterator, function, callbacks, mode, batch_hooks, collect):
        stop = {"train": "stop_training", "test": "stop_evaluating",
                "predict": "stop_predicting"}[mode]
        # With no per-batch callback, only the last training step's logs are ever read: the
        # steps before it run for their updates alone, when the number of steps is known.
        for_effects = getattr(function, "run_for_effects", None)
        last = first = None
        if (for_effects is not None and mode == "train" and not batch_hooks
                and collect is None and epoch_iterator.steps_per_epoch is None
                and isinstance(epoch_iterator.data_adapter, data_adapters.ArrayDataAdapter)):
            last = epoch_iterator.num_batches - 1
            # A step's Python runs when it is traced (its first call), or on every call when
            # tf.function runs eagerly: those calls keep their logs, so a step that sets
            # `self.stop_training` ends the epoch with its own logs, as in Keras.
            if tf.config.functions_run_eagerly():
                last = None
            elif not function.experimental_get_tracing_count():
                first = 0
        # Keras runs `steps_per_execution` steps between two batch callbacks, which see the
        # first and the last step index of the group (the last one as if the group were full)
        # and, predicting, the group's outputs concatenated.
        group = self.steps_per_execution
        result, pending, outputs = {}, None, []
        for step, data in epoch_iterator:
            # (a step after which training stops keeps its logs: a callback that stops in
            # on_epoch_begin still gets the loss of the batch that ran, as in Keras)
            if last is not None and step != last and step != first and not self.stop_training:
                for_effects(data)
                if self.stop_training:
                    break
                continue
            if batch_hooks and step % group == 0:
                getattr(callbacks, f"on_{mode}_batch_begin")(step)
                pending = step + group - 1
            result = function(data)
            if type(result) is not dict and mode != "predict":
                _check_logs(result, mode)
            if collect is not None:
                collect(result)
            if batch_hooks and mode == "predict":
                outputs.append(result)
            if batch_hooks and step == pending:
                self._batch_end(callbacks, mode, step, result, outputs)
                pending = None
            if getattr(self, stop):
                break
        if pending is not None:  # a last, partial group
            self._batch_end(callbacks, mode, pending, result, outputs)
        return result

    @staticmethod
    def _batch_end(callbacks, mode, step, result, outputs):
        """The batch-end callback of one group of steps. Training and evaluating, callbacks
        get the step's own logs (CallbackList sorts and flattens them as Keras's does: a
        nested dict sorts under its own key); predicting, the group's outputs."""
        if mode == "predict":
            result = outputs[0] if len(outputs) == 1 else tf.nest.map_structure(
                lambda *parts: tf.concat(parts, axis=0), *outputs)
            outputs.clear()
            result = {"outputs": result}
        getattr(callbacks, f"on_{mode}_batch_end")(step, result)

    # ------------------------------------------------------------------ single batches

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict=False):
        """One training step on one batch; returns the logs like evaluate()."""
        self._assert_compile_called("train_on_batch")
        if class_weight is not None:
            if sample_weight is not None:
                raise ValueError(
                    "Arguments `sample_weight` and `class_weight` cannot be specified at the "
                    f"same time. Received: sample_weight={sample_weight}, "
                    f"class_weight={class_weight}")
            sample_weight = data_adapters.class_weight_to_sample_weights(y, class_weight)
        data = _batch(x, y, sample_weight)
        self._symbolic_build(data_batch=data)
        train_function = self.make_train_function()
        metrics = self._reset_metrics_listed()
        traced = _tracing_count(train_function)
        logs = pythonify_logs(train_function(data))
        if return_dict:
            return logs
        return self._flatten_metrics_in_order(logs, _still_listed(metrics, train_function,
                                                                  traced))

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        self._assert_compile_called("test_on_batch")
        data = _batch(x, y, sample_weight)
        self._symbolic_build(data_batch=data)
        test_function = self.make_test_function()
        metrics = self._reset_metrics_listed()
        traced = _tracing_count(test_function)
        logs = pythonify_logs(test_function(data))
        if return_dict:
            return logs
        return self._flatten_metrics_in_order(logs, _still_listed(metrics, test_function,
                                                                  traced))

    def predict_on_batch(self, x):
        function = self.make_predict_function()
        if function.__class__ is _FlatStepFunction:
            # (the batch _batch makes of a lone array is its tensor, not a tuple)
            outputs = function.lone_array_outputs(x, False, None)
            if outputs is not _NOT_LONE:
                return outputs
            tensor = _lone_array(x)
            if tensor is not None:
                return _numpy_outputs(function.call_on_tensor(x, tensor, False))
        return _numpy_outputs(function(_batch(x, None, None)))


# ------------------------------------------------------------------ helpers

def _flushing_denormals(run):
    """`run` wrapped to compute with subnormal floats flushed to zero, as TensorFlow's CPU
    kernels do, where the current backend can (numpy_backend.flushing_denormals: Adam's moments
    of a weight whose gradient stays zero decay below 1e-38 within a few epochs, and every
    operation on them takes a slow path); `run` itself elsewhere."""
    flushing = getattr(current_backend(), "flushing_denormals", None)
    return run if flushing is None else flushing(run)


def _user_stacklevel():
    """The `stacklevel` that makes a warning issued by the caller of this function point at
    the first frame outside tensorflux.keras: the user's line, also when the call came
    through a wrapper such as `fit_generator`."""
    level, frame = 1, sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith(
            "tensorflux.keras."):
        frame = frame.f_back
        level += 1
    return level


def _whole_number(method, name, value, minimum):
    """`value` as an int when it is an integer (bool excluded) of at least `minimum` (0 or
    1), else a ValueError naming `Model.<method>()`'s argument and what it received."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum:
        return int(value)
    kind = "positive" if minimum == 1 else "non-negative"
    raise ValueError(f"`Model.{method}()` expected `{name}` to be a {kind} integer, received "
                     f"{name}={value!r} of type {type(value).__name__}.")


def _keras2_loader_args(method, max_queue_size, workers, use_multiprocessing):
    """Checks the data-loading arguments that tf_keras 2.x's fit/evaluate/predict take and
    Keras 3's reject, and warns once for the call that gave any: Keras 3 reads them from a
    keras.utils.PyDataset's constructor. Returns {"workers", "max_queue_size"} for a PyDataset
    input that keeps the default of one worker (see _pass_loader_args), or None when
    neither was given. `use_multiprocessing` is accepted and ignored: a PyDataset's workers
    are threads here (tf_keras too ignores it for arrays, tf.data and one worker)."""
    if max_queue_size is None and workers is None and use_multiprocessing is None:
        return None  # (every call of predict's single-sample path comes here)
    if workers is not None:
        workers = _whole_number(method, "workers", workers, minimum=0)
    if max_queue_size is not None:
        max_queue_size = _whole_number(method, "max_queue_size", max_queue_size, minimum=0)
    if use_multiprocessing is not None and use_multiprocessing not in (True, False):
        raise ValueError(f"`Model.{method}()` expected `use_multiprocessing` to be a bool, "
                         f"received use_multiprocessing={use_multiprocessing!r} of type "
                         f"{type(use_multiprocessing).__name__}.")
    given = [name for name, value in (("max_queue_size", max_queue_size), ("workers", workers),
                                      ("use_multiprocessing", use_multiprocessing))
             if value is not None]
    if not given:
        return None
    warnings.warn(
        f"`Model.{method}()` got {', '.join(f'`{name}`' for name in given)}: Keras 2 "
        "arguments, removed in Keras 3, which takes them from a `keras.utils.PyDataset`'s "
        "constructor instead (`super().__init__(workers=..., use_multiprocessing=..., "
        "max_queue_size=...)`). For arrays, tf.data datasets and generators they do nothing; "
        "a PyDataset that keeps one worker gets `workers` and `max_queue_size` from here, and "
        "its workers are threads (`use_multiprocessing` is ignored).",
        DeprecationWarning, stacklevel=_user_stacklevel())
    if workers is None and max_queue_size is None:
        return None
    return {"workers": workers, "max_queue_size": max_queue_size}


def _pass_loader_args(epoch_iterator, loader):
    """Hands Keras 2's `workers`/`max_queue_size` to a PyDataset's adapter, which uses them
    when the dataset did not set workers of its own."""
    adapter = epoch_iterator.data_adapter
    if loader is not None and isinstance(adapter, data_adapters.PyDatasetAdapter):
        adapter.use_fit_loader_args(**loader)


def _strategy_in_scope():
    """The tf.distribute strategy whose scope is active, else None (tensorflux.distribute is
    not loaded by this: without it, no scope can be active)."""
    distribute = sys.modules.get("tensorflux.distribute")
    if distribute is None or not distribute.has_strategy():
        return None
    return distribute.get_strategy()


def _in_replica_of(strategy, step):
    """`step` run in `strategy`'s replica context, as Keras runs the steps of a model made in
    a strategy's scope (`strategy.run`): inside, tf.distribute.get_strategy() is that strategy
    and get_replica_context() its replica's. A traced step enters it while tracing only."""
    def step_on_replica(data):
        with strategy._in_replica("mean"):
            return step(data)

    step_on_replica.__name__ = getattr(step, "__name__", "step")
    return step_on_replica


def _multi_worker(model):
    """The model's strategy when its replicas are separate processes (the trainer then
    distributes fit and evaluate, see _distributed.py), else None."""
    strategy = model._distribute_strategy or _strategy_in_scope()
    if strategy is None or strategy.extended._communicator is None:
        return None
    return strategy


class _DeprecatedCompiledMetric:
    """What `model.compiled_metrics` returns (Keras 3's DeprecatedCompiledMetric)."""

    def __init__(self, model):
        self._model = model

    def update_state(self, y, y_pred, sample_weight=None):
        return self._model._compiled_metrics_update_state(y, y_pred,
                                                          sample_weight=sample_weight)


class _FlatStepFunction:
    """A step over one nested `data` batch, compiled with tf.function and called with the
    batch's leaves as positional tensors: steady-state calls then take tf.function's fast path
    (one dict lookup on the tensors' shapes) instead of binding the signature and flattening
    the structure every batch. One tf.function per nesting of the batch ((x, y), (x, y, w),
    dicts...), so a new structure traces once, as it would with the nested argument."""

    def __init__(self, step, name, jit_compile):
        self._step = step
        self._jit_compile = jit_compile
        self._functions = {}
        # (x shape, y shape, x dtype, y dtype) -> ConcreteFunction, for (x, y) batches run
        # for their effects: a fit's steps before an epoch's last skip the lookups.
        self._effects = {}
        # (in a tuple, array type, shape, dtype) -> (ConcreteFunction, ...), for batches of
        # one array (predict and predict_on_batch): see call_on_tensor.
        self._lone = {}
        self._lone_kinds = set()
        self.__name__ = name

    def __call__(self, data):
        function, leaves = self._function_for(data)
        try:
            return function(*leaves)
        except tf.errors.OperatorNotAllowedInGraphError as error:
            self._note_graph_only(error)
            raise

    def lone_array_outputs(self, x, in_tuple, max_rows):
        """The step's outputs as NumPy (each output's numpy()) on the batch `(tensor,)` if
        `in_tuple`, else `tensor`, where `tensor` is the lone array `x` as _lone_array
        converts it; _NOT_LONE where this path does not apply: `x` is not a Tensor or a NumPy
        array of a shape and dtype that call_on_tensor ran before (see there), or it has rank
        0 or more than `max_rows` rows (when given).

        A single sample's predict is mostly this framework's time around a small plan (the
        call layers of _function_for and Function.__call__, tensors made and read): here the
        raw array goes to the plan's runner straight from a dict lookup, after the tests
        tf.function's steady-state path makes, and its result comes back as numpy() gives
        it."""
        kind = x.__class__
        if kind is Tensor:
            value = x._value
            shape = value.shape
            entry = self._lone.get((in_tuple, kind, shape, value.dtype))
        elif kind in self._lone_kinds:  # (NumPy's ndarray, once an entry has it)
            shape = x.shape
            entry = self._lone.get((in_tuple, kind, shape, x.dtype))
        else:
            return _NOT_LONE
        if (entry is None or not shape or max_rows is not None and not 0 < shape[0] <= max_rows
                or _PROFILER.session is not None):
            return _NOT_LONE
        concrete, backend_in_use, floatx, copied = entry
        if (context.backend is not backend_in_use or backend.floatx() != floatx
                or not concrete._steady()):
            return _NOT_LONE
        value = x.copy() if copied else x._value  # (convert_to_tensor's copy of an array)
        return _numpy_outputs(concrete._call_compiled([value]))

    def call_on_tensor(self, x, tensor, in_tuple):
        """self((tensor,)) if `in_tuple`, else self(tensor), where `tensor` is the lone array
        `x` as _lone_array converted it. When tf.function's steady-state path has the
        ConcreteFunction this call ran (its cache of positional shapes, which only grows),
        lone_array_outputs takes it for later arrays of `x`'s type, shape and dtype: the
        same trace, on the same input value (the conversion is checked to be the one it
        repeats: `x` itself, or a copy of a NumPy array in its own dtype)."""
        result = self((tensor,) if in_tuple else tensor)
        value = tensor._value
        kind = x.__class__
        copied = kind is not Tensor
        key = (in_tuple, kind, x.shape if copied else value.shape, x.dtype if copied
               else value.dtype)
        if key in self._lone or len(self._lone) >= 64:
            return result
        if not copied:
            if tensor is not x:
                return result  # (cast to floatx)
        else:
            backend_in_use = current_backend()
            if (value is x or value.__class__ is not kind or value.dtype != x.dtype
                    or getattr(backend_in_use, "infer_array", None) is None
                    or backend_in_use.infer_array(x) is not x):
                return result  # (cast, or converted otherwise than by a copy)
        function = self._functions.get(_FLAT_TUPLES.get(1) if in_tuple else None)
        concrete = getattr(function, "_fast", {}).get(((value.shape, value.dtype),))
        if concrete is not None and not concrete._variable_args:
            self._lone[key] = (concrete, current_backend(), backend.floatx(), copied)
            if copied:
                self._lone_kinds.add(kind)
        return result

    def run_for_effects(self, data):
        """The step's updates without its results (see Function._call_for_effects)."""
        key = None
        if type(data) is tuple and len(data) == 2:
            x, y = data
            if x.__class__ is Tensor and y.__class__ is Tensor:
                x, y = x._value, y._value
                key = (x.shape, y.shape, x.dtype, y.dtype)
                concrete = self._effects.get(key)
                if concrete is not None and concrete._steady():
                    concrete._run_for_effects([x, y])
                    return
        function, leaves = self._function_for(data)
        try:
            concrete = function._call_for_effects(*leaves)
        except tf.errors.OperatorNotAllowedInGraphError as error:
            self._note_graph_only(error)
            raise
        if key is not None and concrete is not None and len(self._effects) < 64:
            self._effects[key] = concrete

    def _note_graph_only(self, error):
        """Says how to run a step that uses a tensor's value as a Python bool (`if loss > 1:`
        in a custom train_step, which Keras on torch runs eagerly): the step is traced into a
        graph, as Keras on TensorFlow traces it without AutoGraph."""
        if hasattr(error, "add_note") and not getattr(error, "_keras_step_noted", False):
            error._keras_step_noted = True
            step = self.__name__.replace("_function", "_step")
            error.add_note(f"Raised while tracing the model's {step} into a graph. "
                           "Python control flow on a tensor's value needs "
                           "`model.compile(..., run_eagerly=True)`, or keras.ops.cond / "
                           "keras.ops.where in the step.")

    def _function_for(self, data):
        if type(data) is tuple and all(type(leaf) is Tensor for leaf in data):
            # The usual batch, (x, y) of tensors: its leaves are itself.
            leaves = data
            structure = _FLAT_TUPLES.get(len(data))
            if structure is None:
                structure = _FLAT_TUPLES[len(data)] = _structure_of(data, [])
        else:
            leaves = []
            structure = _structure_of(data, leaves)
        function = self._functions.get(structure)
        if function is None:
            step = self._step

            def flat_step(*flat):
                return step(_rebuild(structure, iter(flat)))

            flat_step.__name__ = self.__name__
            function = tf.function(flat_step, jit_compile=self._jit_compile)
            self._functions[structure] = function
        return function, leaves

    def experimental_get_tracing_count(self):
        return sum(f.experimental_get_tracing_count() for f in self._functions.values())

    @property
    def _cache(self):
        """Every traced ConcreteFunction, oldest first (read by the TensorBoard callback)."""
        cache = {}
        for number, function in enumerate(self._functions.values()):
            for key, concrete in function._cache.items():
                cache[(number, key)] = concrete
        return cache


_FLAT_TUPLES = {}  # length -> _structure_of of a tuple of that many tensors


def _structure_of(value, leaves):
    """Appends the leaves of nested lists/tuples/dicts to `leaves`; returns the nesting as a
    hashable description that _rebuild turns back into the structure."""
    if isinstance(value, dict):
        keys = tuple(value)
        return (dict, keys, tuple(_structure_of(value[k], leaves) for k in keys))
    if isinstance(value, (list, tuple)):
        return (type(value), tuple(_structure_of(v, leaves) for v in value))
    leaves.append(value)
    return None


def _rebuild(structure, leaves):
    if structure is None:
        return next(leaves)
    kind = structure[0]
    if kind is dict:
        return {k: _rebuild(s, leaves) for k, s in zip(structure[1], structure[2])}
    items = [_rebuild(s, leaves) for s in structure[1]]
    return kind(*items) if hasattr(kind, "_fields") else kind(items)


def _tracing_count(function):
    """How many times a compiled step has traced (None for a step that runs eagerly, as
    every tf.function does under tf.config.run_functions_eagerly)."""
    if function.__class__ is _FlatStepFunction and not tf.config.functions_run_eagerly():
        return function.experimental_get_tracing_count()
    return None


def _still_listed(metrics, function, traced):
    """`metrics` (from _reset_metrics_listed) when the model's metrics list cannot have
    changed since: the step in between ran compiled without tracing, so none of its Python
    ran (a step that traces, or runs eagerly, can set a new metric on the model). Else None:
    the caller scans the model again."""
    if metrics is None or traced is None or function.experimental_get_tracing_count() != traced:
        return None
    return metrics


def _one_batch(x, y, sample_weight, batch_size):
    """The one batch the evaluate loop's epoch iterator makes of `x`, `y` and `sample_weight`
    when each is a lone NumPy array (not of objects) or tensorflux Tensor (`sample_weight` or
    `y` and `sample_weight` may be None), all of rank 1 or more with the same number of
    rows, more than 0 and at most the batch size: ArrayDataAdapter's batch, (x, y) or
    (x, y, sample_weight) of the converted arrays themselves, no split (x alone: its
    tensor). None otherwise (the loop then runs, and makes its own checks), and for a
    `batch_size` that is no positive int, when a cap on the steps is set (the loop warns of
    it), or while a profiler is on."""
    if (batch_size is not None and (type(batch_size) is not int or batch_size <= 0)
            or backend.max_steps_per_epoch() or _PROFILER.session is not None):
        return None
    if x is None or y is None and sample_weight is not None:
        return None
    rows = None
    for value in (x, y, sample_weight):
        if value is None:
            continue
        if value.__class__ is Tensor:
            shape = value._value.shape if value._value is not None else None
        elif (type(value).__name__ == "ndarray" and type(value).__module__ == "numpy"
              and value.dtype.kind != "O"):
            shape = value.shape
        else:
            return None
        if not shape or rows is not None and shape[0] != rows:
            return None
        rows = shape[0]
    if not 0 < rows <= (batch_size or 32):
        return None
    if y is None:
        return data_adapters._to_tensor(x)  # (x alone is the batch, not wrapped in a tuple)
    return tuple(data_adapters._to_tensor(value) for value in (x, y, sample_weight)
                 if value is not None)


def _output_names(model):
    """The model's output names (Keras's Functional `output_names`), when it has them."""
    names = getattr(model, "output_names", None)
    if names is not None:
        return list(names)
    try:
        outputs = model.outputs
    except (AttributeError, ValueError):
        return None
    names = []
    for tensor in outputs or []:
        history = getattr(tensor, "_keras_history", None)
        if history is None:
            return None
        names.append(history.operation.name)
    return names or None


def _check_logs(logs, mode):
    """A train/test step must return its logs as a dict: say so plainly, rather than fail
    later inside the callbacks."""
    if not isinstance(logs, Mapping):
        raise TypeError(
            f"`{mode}_step` must return a dict of logs mapping names to values (such as "
            f"{{'loss': loss}} or `self.compute_metrics(...)`); it returned "
            f"{type(logs).__name__}: {logs!r:.80}")


def _all_layers_built(model):
    """Whether the model and every layer it tracks are built (a model marked built by a
    shape-only `build()` can still hold unbuilt sublayers). Once true it is remembered, so
    train_on_batch does not walk the layers on every call."""
    if not getattr(model, "built", True):
        return False
    if getattr(model, "_every_layer_built", False):
        return True
    flatten = getattr(model, "_flatten_layers", None)
    layers = flatten() if flatten is not None else [model]
    built = all(getattr(layer, "built", True) for layer in layers)
    if built:
        object.__setattr__(model, "_every_layer_built", True)
    return built


def _has_custom_step(model):
    """Whether the model's class overrides train_step or test_step."""
    cls = type(model)
    return cls.train_step is not Trainer.train_step or cls.test_step is not Trainer.test_step


def _implements_call(model):
    """False for a model whose class leaves `call()` to Layer's, which only raises."""
    return type(model).call is not Layer.call


def _symbolic_input(value):
    """A KerasTensor with the shape and dtype of a batch leaf (None stays None)."""
    if value is None:
        return None
    return KerasTensor(tuple(value.shape), value.dtype.name)


def _lone_array(x):
    """`x` as a batch's tensor (data_adapters._to_tensor's) when it is a single tensorflux
    Tensor or NumPy array (not of objects): the common inputs of predict on a few samples,
    told apart by their exact types. None for anything else, which takes the general path."""
    if x.__class__ is Tensor:
        tensor = x
    elif type(x).__name__ == "ndarray" and type(x).__module__ == "numpy" and x.dtype.kind != "O":
        tensor = tf.convert_to_tensor(x)
    else:
        return None
    dtype = tensor.dtype
    if dtype.is_floating and dtype.name != backend.floatx():
        tensor = tf.cast(tensor, backend.floatx())
    return tensor


_NOT_LONE = object()  # (lone_array_outputs: the general path is taken)


def _joined_outputs(results):
    """predict's result from its batches' outputs: each output's parts concatenated into a
    NumPy array, in the structure of the first batch's."""
    structure = results[0]
    if structure.__class__ is Tensor:  # (one output: its parts are the results)
        return _concatenate(results)
    parts = [[t] for t in flatten(structure)]
    for batch_outputs in results[1:]:
        for part, value in zip(parts, flatten(batch_outputs)):
            part.append(value)
    arrays = iter([_concatenate(part) for part in parts])
    return map_structure(lambda _: next(arrays), structure)


def _numpy_outputs(outputs):
    """Each output tensor's numpy(), in the outputs' structure."""
    if outputs.__class__ is Tensor:
        return outputs.numpy()
    return map_structure(lambda t: t.numpy(), outputs)


def _batch(x, y, sample_weight):
    batch = data_adapters.pack_x_y_sample_weight(x, y, sample_weight)
    if isinstance(batch, list):
        batch = tuple(batch)
    return map_structure(data_adapters._to_tensor, batch)


def _batch_size(x):
    for leaf in flatten(x):
        if not isinstance(leaf, (Tensor, KerasTensor)):
            leaf = tf.convert_to_tensor(leaf)  # NumPy data given to a step called directly
        size = leaf.shape[0] if leaf.shape.rank else None
        return size if size is not None else tf.shape(leaf)[0]
    raise ValueError("The model input is empty: cannot tell the batch size.")


def _concatenate(parts):
    if len(parts) == 1:
        return parts[0].numpy()
    return tf.concat(parts, axis=0)._numpy()  # a new array, the caller's alone: no copy


def _wants_batch_logs(callbacks, mode):
    """False when no callback does anything per batch, so the loop can skip building logs."""
    base = getattr(_callbacks_module(), "Callback", None)
    if base is None or not hasattr(callbacks, "callbacks"):
        return True
    names = {"train": ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin",
                       "on_batch_end"),
             "test": ("on_test_batch_begin", "on_test_batch_end"),
             "predict": ("on_predict_batch_begin", "on_predict_batch_end")}[mode]
    for callback in callbacks.callbacks:
        # A callback that says whether its train-batch hooks do anything (ModelCheckpoint
        # and BackupAndRestore only do with an integer save_freq) is taken at its word.
        implements = getattr(callback, "_implements_train_batch_hooks", None)
        if mode == "train" and implements is not None:
            if implements():
                return True
            continue
        for name in names:
            # (a hook set on the instance counts too: LambdaCallback(on_predict_batch_end=f))
            if (getattr(type(callback), name, None) is not getattr(base, name, None)
                    or name in getattr(callback, "__dict__", {})):
                return True
    return False


def _serialize_compile_config(config):
    """Keras's compile config: names stay strings, objects become their Keras 3 dicts."""
    from tensorflux.keras import losses, metrics, optimizers

    def serialize(value):
        if value is None or isinstance(value, (str, int, float, bool)):
            return value
        if isinstance(value, (list, tuple)):
            return [serialize(v) for v in value]
        if isinstance(value, dict):
            return {k: serialize(v) for k, v in value.items()}
        if isinstance(value, optimizers.Optimizer):
            return optimizers.serialize(value)
        if isinstance(value, losses.Loss) or callable(value) and not isinstance(
                value, metrics.Metric):
            return losses.serialize(value)
        return metrics.serialize(value)
    return {key: serialize(value) for key, value in config.items()}
