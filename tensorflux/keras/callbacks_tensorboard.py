"""keras.callbacks.TensorBoard: training curves, weight histograms and the traced train graph
written as TensorBoard event files (through tensorflux.summary), in Keras 3's layout.

Runs `<log_dir>/train` and `<log_dir>/validation` hold one writer each. Per epoch:
`epoch_<name>` scalars at step `epoch` (validation logs without their `val_` prefix),
`epoch_learning_rate`, and optionally `epoch_steps_per_second`; weight histograms
`<weight path>/histogram` (and images `<weight path>/image`; a path is
`model/layer/kernel`, as in Keras) every `histogram_freq`
epochs. With an integer `update_freq`, `batch_<name>` scalars every that many batches. After
the first training batch, the graph of the compiled train function (when it is a
tf.function) goes to the graph dashboard; with `write_graph`, a Sequential or Functional
model's JSON config is also written under the tag "keras" when the callback receives the model
(the conceptual graph Keras writes). With `embeddings_freq`, `<log_dir>/projector_config.pbtxt`
names the Embedding layers and the weights are saved every `embeddings_freq` epochs to
`train/keras_embedding.ckpt-<epoch>.weights.h5`, as Keras 3 does. With `profile_batch`, the
profiler (tf.profiler.experimental) records the training batches from the start batch to the
stop batch (counted from 1 over the whole fit, as Keras counts them), each inside a
`Trace("TraceContext", graph_type="train", step_num=batch)`, and writes them under
`<log_dir>/train/plugins/profile/` for TensorBoard's Profile tab, with the graphs traced
meanwhile (`batch_<stop>`) for the graph dashboard, as Keras on TensorFlow does.
"""

import os
import time
import warnings

from tensorflux.keras.callbacks import Callback

__all__ = ["TensorBoard"]


def _float(value, tag="value"):
    if hasattr(value, "numpy"):
        value = value.numpy()
    shape = getattr(value, "shape", ())
    if shape:
        # tf.summary.scalar refuses these too (ValueError), e.g. a vector a train_step logs
        raise ValueError(f"TensorBoard writes logged values as scalars: {tag!r} has shape "
                         f"{tuple(shape)}, expected shape ().")
    return float(value)


class TensorBoard(Callback):
    """Writes TensorBoard logs while a model trains (Keras 3's arguments and tags).

    >>> import tempfile
    >>> from tensorflux.keras.callbacks import TensorBoard
    >>> TensorBoard(log_dir=tempfile.mkdtemp(), update_freq="batch").update_freq
    1
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0,
                 embeddings_freq=0, embeddings_metadata=None):
        super().__init__()
        self._start_batch, self._stop_batch = _profile_range(profile_batch)
        self._should_trace = self._stop_batch > 0
        self._is_tracing = False
        self._profiler_started = False
        self._batch_trace = None
        if update_freq != "epoch" and update_freq != "batch" and (
                not isinstance(update_freq, int) or update_freq < 1):
            raise ValueError("update_freq must be 'epoch', 'batch' or a positive integer. "
                             f"Received: update_freq={update_freq!r}")
        self.log_dir = str(os.fspath(log_dir))
        self.histogram_freq = histogram_freq
        self.write_graph = write_graph
        self.write_images = write_images
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self.embeddings_freq = embeddings_freq
        self.embeddings_metadata = embeddings_metadata
        self._global_train_batch = 0
        self._global_test_batch = 0
        self._previous_epoch_iterations = 0
        self._epoch_start_time = 0.0
        self._batch_start_time = 0.0
        self._should_write_train_graph = False
        self._writers = {}
        self._prev_summary_state = []
        self._train_dir = os.path.join(self.log_dir, "train")
        self._val_dir = os.path.join(self.log_dir, "validation")

    @property
    def summary(self):
        # Imported on use: `import tensorflux` stays free of the I/O modules until needed.
        from tensorflux import summary
        return summary

    def set_model(self, model):
        super().set_model(model)
        self._log_write_dir = self.log_dir
        self._train_dir = os.path.join(self.log_dir, "train")
        self._val_dir = os.path.join(self.log_dir, "validation")
        self._close_writers()
        self._should_write_train_graph = bool(self.write_graph)
        if self.write_graph:
            self._write_keras_model_summary()
        if self.embeddings_freq:
            self._configure_embeddings()

    @property
    def _train_writer(self):
        if "train" not in self._writers:
            self._writers["train"] = self.summary.create_file_writer(self._train_dir)
        return self._writers["train"]

    @property
    def _val_writer(self):
        if "val" not in self._writers:
            self._writers["val"] = self.summary.create_file_writer(self._val_dir)
        return self._writers["val"]

    def _close_writers(self):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    # -------------------------------------------------------------- default writer stack

    def _push_writer(self, writer, step):
        """Makes `writer` the default (at `step`) for batch-level summaries, recording only
        every `update_freq` steps; nothing when logging per epoch."""
        if self.update_freq == "epoch":
            return
        update_freq = self.update_freq
        contexts = (writer.as_default(step),
                    self.summary.record_if(lambda: step % update_freq == 0))
        self._prev_summary_state.append(contexts)
        contexts[0].__enter__()
        contexts[1].__enter__()

    def _pop_writer(self):
        if self.update_freq == "epoch" or not self._prev_summary_state:
            return
        contexts = self._prev_summary_state.pop()
        contexts[1].__exit__(None, None, None)
        contexts[0].__exit__(None, None, None)

    # -------------------------------------------------------------- hooks

    def on_train_begin(self, logs=None):
        self._global_train_batch = 0
        self._previous_epoch_iterations = 0
        self._push_writer(self._train_writer, self._global_train_batch)

    def on_train_end(self, logs=None):
        self._pop_writer()
        if self._is_tracing:
            self._stop_trace()
        self._close_writers()

    def on_test_begin(self, logs=None):
        self._push_writer(self._val_writer, self._global_test_batch)

    def on_test_end(self, logs=None):
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and hasattr(optimizer, "iterations") and logs:
            with self.summary.record_if(True), self._val_writer.as_default():
                for name, value in logs.items():
                    self.summary.scalar(f"evaluation_{name}_vs_iterations", _float(value, name),
                                        step=optimizer.iterations)
        self._pop_writer()

    def on_train_batch_begin(self, batch, logs=None):
        self._global_train_batch += 1
        if self.update_freq != "epoch":
            self._pop_writer()
            self._push_writer(self._train_writer, self._global_train_batch)
        if self.write_steps_per_second:
            self._batch_start_time = time.time()
        if not self._should_trace:
            return
        if self._global_train_batch == self._start_batch:
            self._start_trace()
        if self._profiler_started:
            from tensorflux.profiler import experimental as profiler

            self._batch_trace = profiler.Trace("TraceContext", graph_type="train",
                                               step_num=batch)
            self._batch_trace.__enter__()

    def on_train_batch_end(self, batch, logs=None):
        if self._should_write_train_graph:
            self._write_keras_model_train_graph()
            self._should_write_train_graph = False
        if self.write_steps_per_second:
            elapsed = max(time.time() - self._batch_start_time, 1e-9)
            self.summary.scalar("batch_steps_per_second", 1.0 / elapsed,
                                step=self._global_train_batch)
        if isinstance(logs, dict):
            for name, value in logs.items():
                self.summary.scalar(f"batch_{name}", _float(value, name),
                                    step=self._global_train_batch)
        if self._is_tracing:
            if self._batch_trace is not None:
                self._batch_trace.__exit__(None, None, None)
                self._batch_trace = None
            if self._global_train_batch >= self._stop_batch:
                self._stop_trace()

    def on_test_batch_begin(self, batch, logs=None):
        self._global_test_batch += 1
        if self.update_freq != "epoch":
            self._pop_writer()
            self._push_writer(self._val_writer, self._global_test_batch)

    def on_epoch_begin(self, epoch, logs=None):
        if self.write_steps_per_second:
            self._previous_epoch_iterations = _float(self.model.optimizer.iterations)
            self._epoch_start_time = time.time()

    def on_epoch_end(self, epoch, logs=None):
        self._log_epoch_metrics(epoch, logs)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)
        if self.embeddings_freq and epoch % self.embeddings_freq == 0:
            self._log_embeddings(epoch)

    # -------------------------------------------------------------- profiling

    def _start_trace(self):
        from tensorflux import errors
        from tensorflux.profiler import experimental as profiler

        self.summary.trace_on(graph=True, profiler=False)
        try:
            profiler.start(self._train_dir)
            self._profiler_started = True
        except errors.AlreadyExistsError as error:
            # (a profile the program runs itself goes on; the callback leaves it alone)
            warnings.warn(f"TensorBoard(profile_batch=...): the profiler did not start: "
                          f"{error}", stacklevel=2)
        self._is_tracing = True

    def _stop_trace(self):
        from tensorflux.profiler import experimental as profiler

        with self._train_writer.as_default(), warnings.catch_warnings():
            # (tensorflux's trace holds the functions traced since trace_on; the train
            # function traced earlier is in the graph dashboard already, from the first batch)
            warnings.filterwarnings("ignore", message=".*no tf.function was traced")
            self.summary.trace_export(name=f"batch_{self._stop_batch}", step=self._stop_batch)
        if self._profiler_started:
            if self._batch_trace is not None:
                self._batch_trace.__exit__(None, None, None)
                self._batch_trace = None
            profiler.stop()
            self._profiler_started = False
        self._is_tracing = False

    # -------------------------------------------------------------- what is written

    def _write_keras_model_train_graph(self):
        """The graph of the traced train function, when training runs one."""
        concrete = _latest_concrete_function(getattr(self.model, "train_function", None))
        if concrete is None:
            return
        with self.summary.record_if(True), self._train_writer.as_default():
            self.summary.graph(concrete.graph)

    def _write_keras_model_summary(self):
        """The model's JSON config under the tag "keras" at step 0, which TensorBoard's graph
        dashboard draws as the conceptual graph (Sequential and Functional models only)."""
        if type(self.model).__name__ not in ("Functional", "Sequential"):
            return
        try:
            config_json = self.model.to_json()
        except Exception as exc:  # a model that cannot be serialized must not stop training
            warnings.warn(f"Model failed to serialize as JSON. Ignoring... {exc}", stacklevel=2)
            return
        metadata = {"plugin_data": {"plugin_name": "graph_keras_model", "content": b"1"}}
        with self.summary.record_if(True), self._train_writer.as_default():
            self.summary.write("keras", config_json, step=0, metadata=metadata)

    def _configure_embeddings(self):
        """Writes projector_config.pbtxt (protobuf text format) with one entry per
        top-level Embedding layer; `embeddings_metadata` is one path for all of them or a
        dict of paths by layer name."""
        from tensorflux.keras.layers import Embedding

        metadata = self.embeddings_metadata
        unused = dict(metadata) if isinstance(metadata, dict) else {}
        entries = []
        embeddings = [layer for layer in self.model.layers if isinstance(layer, Embedding)]
        for layer in embeddings:
            # The same name for every layer, as Keras writes it (it assumes the embedding
            # is the model's first weighted layer).
            entry = ('  tensor_name: '
                     '"layer_with_weights-0/embeddings/.ATTRIBUTES/VARIABLE_VALUE"\n')
            path = metadata if isinstance(metadata, str) else unused.pop(layer.name, None)
            if path is not None:
                entry += f"  metadata_path: {_pbtxt_string(path)}\n"
            entries.append("embeddings {\n" + entry + "}\n")
        if unused:
            raise ValueError("Unrecognized `Embedding` layer names passed to "
                             "`keras.callbacks.TensorBoard` `embeddings_metadata` argument: "
                             f"{list(unused)} (the model's Embedding layers: "
                             f"{[layer.name for layer in embeddings]})")
        os.makedirs(self.log_dir, exist_ok=True)
        with open(os.path.join(self.log_dir, "projector_config.pbtxt"), "w",
                  encoding="utf-8") as handle:
            handle.write("".join(entries))

    def _log_embeddings(self, epoch):
        os.makedirs(self._train_dir, exist_ok=True)
        self.model.save_weights(
            os.path.join(self._train_dir, f"keras_embedding.ckpt-{epoch}.weights.h5"))

    def _collect_learning_rate(self, logs):
        optimizer = getattr(self.model, "optimizer", None)
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)
        if hasattr(optimizer, "optimizers"):
            for opt in optimizer.optimizers:
                logs[f"learning_rate_{opt.name}"] = _float(opt.learning_rate)
        elif optimizer is not None and hasattr(optimizer, "learning_rate"):
            logs["learning_rate"] = _float(optimizer.learning_rate)
        return logs

    def _compute_steps_per_second(self):
        iterations = _float(self.model.optimizer.iterations)
        elapsed = max(time.time() - self._epoch_start_time, 1e-9)
        return (iterations - self._previous_epoch_iterations) / elapsed

    def _log_epoch_metrics(self, epoch, logs):
        if not logs:
            return
        train_logs = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val_logs = {k: v for k, v in logs.items() if k.startswith("val_")}
        train_logs = self._collect_learning_rate(train_logs)
        if self.write_steps_per_second:
            train_logs["steps_per_second"] = self._compute_steps_per_second()
        # record_if(True): the batch-level condition (every update_freq steps) must not
        # drop epoch summaries. tf.keras 2 did the same; Keras 3.15 drops an epoch's
        # summaries when its last batch count is not a multiple of update_freq (an open bug,
        # tensorflow#49109), which is not copied.
        if train_logs:
            with self.summary.record_if(True), self._train_writer.as_default():
                for name, value in train_logs.items():
                    self.summary.scalar(f"epoch_{name}", _float(value, name), step=epoch)
        if val_logs:
            with self.summary.record_if(True), self._val_writer.as_default():
                for name, value in val_logs.items():
                    self.summary.scalar(f"epoch_{name[4:]}", _float(value, name), step=epoch)

    def _log_weights(self, epoch):
        with self.summary.record_if(True), self._train_writer.as_default():
            for layer in self.model.layers:
                for weight in layer.weights:
                    weight_name = _weight_path(weight).replace(":", "_")
                    self.summary.histogram(f"{weight_name}/histogram", weight, step=epoch)
                    if self.write_images:
                        self._log_weight_as_image(weight, f"{weight_name}/image", epoch)
            self._train_writer.flush()

    def _log_weight_as_image(self, weight, weight_name, epoch):
        """A kernel as an image, as Keras shows it: a bias as a 1-pixel-high strip, a dense
        kernel as [1, min, max, 1], a 3-D kernel as one image per output channel."""
        import tensorflux as tf

        w_img = tf.squeeze(weight)
        shape = tuple(w_img.shape)
        if len(shape) == 1:
            w_img = tf.reshape(w_img, [1, shape[0], 1, 1])
        elif len(shape) == 2:
            if shape[0] > shape[1]:
                w_img = tf.transpose(w_img)
                shape = tuple(w_img.shape)
            w_img = tf.reshape(w_img, [1, shape[0], shape[1], 1])
        elif len(shape) == 3:
            w_img = tf.transpose(w_img, [2, 0, 1])  # channels_last: one image per kernel
            shape = tuple(w_img.shape)
            w_img = tf.reshape(w_img, [shape[0], shape[1], shape[2], 1])
        shape = tuple(w_img.shape)
        if len(shape) == 4 and shape[-1] in (1, 3, 4):
            self.summary.image(weight_name, w_img, step=epoch)


def _profile_range(profile_batch):
    """(start, stop) of a profile_batch argument (an int, "start,stop" or a pair), checked as
    Keras checks it; (0, 0) when profiling is off."""
    value = profile_batch
    if isinstance(value, str):
        try:
            value = [int(part) for part in value.split(",")]
        except ValueError:
            value = None
    if isinstance(value, int):
        value = (value, value)
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(v, int) for v in value)
            or value[0] < 0 or value[1] < value[0]):
        raise ValueError("profile_batch must be a non-negative integer or a pair of "
                         "non-negative integers (start, stop) with start <= stop, the range "
                         f"of batches to profile. Received: profile_batch={profile_batch!r}")
    return tuple(value)


def _pbtxt_string(text):
    """A string as a protobuf text-format literal."""
    escaped = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _weight_path(weight):
    path = getattr(weight, "path", None)
    return path if path else weight.name


def _latest_concrete_function(function):
    """The most recently traced ConcreteFunction of a tf.function, or None (a plain Python
    train function, as with run_eagerly=True, has no graph)."""
    cache = getattr(function, "_cache", None)
    if not cache:
        return None
    return list(cache.values())[-1]
