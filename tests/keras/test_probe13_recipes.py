"""Probe round 13, keras.io "Keras recipes" condensed: the Trainer pattern, the Endpoint layer
(add_loss and a metric inside a layer), Conv layers overriding convolution_op, memory-efficient
embeddings, distillation through compute_loss, scikit-learn metrics written into the logs,
sample-size estimation by repeated fits, a TensorFlow-NumPy model, reproducibility, gradient
accumulation (the optimizer argument, by hand, and a train_step with tf.Variable accumulators
and a tf.cond whose branches return None), tf.data feeding fit, a TFRecord round trip,
Functional subclassing, the Antirectifier, a mixture density network, optimizer subclasses,
compute_loss signatures and int8 quantization.

Each recipe runs here and in real Keras 3 (torch backend) from the same weights and batches and
must give the same logs keys, shapes and numbers; where a recipe needs TensorFlow itself (the
tf.data, tf.io, tf.experimental.numpy and tf.GradientTape parts), Keras gets the same batches
as arrays, keras.ops or torch autograd, and the TF-only results are checked against NumPy."""

import contextlib
import io

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tests.keras._oracle import (  # noqa: F401
    assert_matches,
    assert_same_results,
    fresh_names,
    history_lists,
    import_keras,
    to_numpy,
)

pytestmark = pytest.mark.keras_oracle


def _ours(k):
    return k is keras


def _init(model, seed, variables=None, scale=0.2):
    """The same deterministic values for our and Keras's float weights, in weights order."""
    rng = np.random.default_rng(seed)
    for w in model.weights if variables is None else variables:
        if np.dtype(getattr(w.dtype, "name", w.dtype)).kind == "f":
            w.assign((scale * rng.standard_normal(tuple(w.shape))).astype("float32"))


def _both(recipe):
    """recipe(k) with our keras and with real Keras, compared."""
    assert_same_results(recipe(keras), recipe(import_keras()))


def _grads(k, loss_fn, variables):
    """(loss, gradients) of loss_fn() by each library's own autodiff: tf.GradientTape here,
    torch autograd for Keras on torch."""
    if _ours(k):
        with tf.GradientTape() as tape:
            loss = loss_fn()
        return loss, tape.gradient(loss, variables)
    for v in variables:
        v.value.grad = None
    loss = loss_fn()
    loss.backward()
    return loss, [v.value.grad for v in variables]


def _apply(k, optimizer, grads, variables):
    if _ours(k):
        optimizer.apply_gradients(zip(grads, variables))
        return
    import torch

    with torch.no_grad():
        optimizer.apply(grads, variables)


def _data(n, d, classes, seed=0):
    rng = np.random.RandomState(seed)
    return rng.rand(n, d).astype("float32"), rng.randint(0, classes, n)


def _mlp(k, seed, d=6, hidden=8, out=3, activation="softmax"):
    model = k.Sequential([k.Input((d,)), k.layers.Dense(hidden, activation="relu"),
                          k.layers.Dense(out, activation=activation)])
    _init(model, seed)
    return model


def test_trainer_pattern_model_training_another_model_matches_keras():
    def recipe(k):
        x, y = _data(32, 6, 3)

        class MyTrainer(k.Model):
            def __init__(self, model):
                super().__init__()
                self.model = model
                self.loss_fn = k.losses.SparseCategoricalCrossentropy()
                self.accuracy_metric = k.metrics.SparseCategoricalAccuracy()
                self.loss_tracker = k.metrics.Mean(name="loss")

            @property
            def metrics(self):
                return [self.loss_tracker, self.accuracy_metric]

            def train_step(self, data):
                x, y = data
                seen = {}

                def loss():
                    seen["pred"] = self.model(x, training=True)
                    return self.loss_fn(y, seen["pred"])

                value, grads = _grads(k, loss, self.trainable_variables)
                _apply(k, self.optimizer, grads, self.trainable_variables)
                self.loss_tracker.update_state(value)
                self.accuracy_metric.update_state(y, seen["pred"])
                return {m.name: m.result() for m in self.metrics}

            def test_step(self, data):
                x, y = data
                y_pred = self.model(x, training=False)
                self.loss_tracker.update_state(self.loss_fn(y, y_pred))
                self.accuracy_metric.update_state(y, y_pred)
                return {m.name: m.result() for m in self.metrics}

            def call(self, x):
                return self.model(x)

        model = _mlp(k, 1)
        trainer = MyTrainer(model)
        trainer.compile(optimizer=k.optimizers.SGD(0.1))
        history = trainer.fit(x, y, epochs=3, batch_size=8, validation_data=(x, y), verbose=0,
                              shuffle=False)
        return {"history": history_lists(history), "weights": model.get_weights(),
                "evaluate": trainer.evaluate(x, y, verbose=0, return_dict=True),
                "trainable": len(trainer.trainable_weights),
                "predict": trainer.predict(x[:4], verbose=0)}

    _both(recipe)


def test_endpoint_layer_add_loss_and_metric_then_inference_model_match_keras():
    def recipe(k):
        ops = k.ops

        class LogisticEndpoint(k.layers.Layer):
            def __init__(self, name=None):
                super().__init__(name=name)
                self.loss_fn = k.losses.BinaryCrossentropy(from_logits=True)
                self.accuracy_fn = k.metrics.BinaryAccuracy(name="accuracy")

            def call(self, logits, targets=None, sample_weight=None):
                if targets is not None:
                    self.add_loss(self.loss_fn(targets, logits, sample_weight))
                    self.accuracy_fn.update_state(targets, ops.sigmoid(logits), sample_weight)
                return ops.sigmoid(logits)

        inputs = k.Input((5,), name="inputs")
        logits = k.layers.Dense(1)(inputs)
        targets = k.Input((1,), name="targets")
        sample_weight = k.Input((1,), name="sample_weight")
        model = k.Model([inputs, targets, sample_weight],
                        LogisticEndpoint()(logits, targets, sample_weight))
        _init(model, 2)
        rng = np.random.RandomState(0)
        data = {"inputs": rng.rand(16, 5).astype("float32"),
                "targets": rng.randint(0, 2, (16, 1)).astype("float32"),
                "sample_weight": rng.rand(16, 1).astype("float32")}
        model.compile(k.optimizers.Adam(1e-2))
        history = model.fit(data, epochs=3, batch_size=4, verbose=0, shuffle=False)
        # the inference-only model: the same layers called without targets, weights copied
        inference_in = k.Input((5,), name="inputs")
        inference = k.Model(inference_in, LogisticEndpoint()(
            k.layers.Dense(1)(inference_in), targets=None, sample_weight=None))
        inference.set_weights(model.get_weights())
        return {"history": history_lists(history), "weights": model.get_weights(),
                "evaluate": model.evaluate(data, verbose=0, return_dict=True),
                "losses": len(model.losses), "metrics": [m.name for m in model.metrics],
                "predict": model.predict(data, verbose=0),
                "inference": inference.predict(data["inputs"], verbose=0)}

    _both(recipe)


def test_conv_layers_overriding_convolution_op_or_call_match_keras():
    # (Keras's Conv1D.call does not go through convolution_op; Conv2D and Conv3D do, here and
    # there, so the override is probed on those.)
    def recipe(k):
        ops, layers = k.ops, k.layers

        class StandardizedConv2D(layers.Conv2D):
            def convolution_op(self, inputs, kernel):
                mean, var = ops.moments(kernel, axes=[0, 1, 2], keepdims=True)
                return ops.conv(inputs, (kernel - mean) / ops.sqrt(var + 1e-10),
                                padding="valid", strides=list(self.strides),
                                dilation_rate=self.dilation_rate)

        class StandardizedConv2DWithCall(layers.Conv2D):
            def call(self, inputs):
                mean, var = ops.moments(self.kernel, axes=[0, 1, 2], keepdims=True)
                result = ops.conv(inputs, (self.kernel - mean) / ops.sqrt(var + 1e-10),
                                  padding="valid", strides=list(self.strides),
                                  dilation_rate=self.dilation_rate)
                return result + self.bias if self.use_bias else result

        class CenteredConv3D(layers.Conv3D):
            def convolution_op(self, inputs, kernel):
                kernel = kernel - ops.mean(kernel, axis=(0, 1, 2, 3), keepdims=True)
                return super().convolution_op(inputs, kernel)

        rng = np.random.RandomState(0)
        x, y = rng.rand(12, 8, 8, 1).astype("float32"), rng.randint(0, 3, 12)
        model = k.Sequential([k.Input((8, 8, 1)), StandardizedConv2D(4, 3, activation="relu"),
                              layers.MaxPooling2D(2), StandardizedConv2DWithCall(4, 2),
                              layers.Flatten(), layers.Dense(3, activation="softmax")])
        _init(model, 3)
        model.compile(loss="sparse_categorical_crossentropy", optimizer="adam",
                      metrics=["accuracy"])
        history = model.fit(x, y, batch_size=4, epochs=2, validation_split=0.25, verbose=0,
                            shuffle=False)
        conv3d = k.Sequential([k.Input((5, 4, 4, 2)), CenteredConv3D(3, 2, padding="same")])
        _init(conv3d, 4)
        return {"history": history_lists(history), "weights": model.get_weights(),
                "conv3d": conv3d.predict(rng.rand(2, 5, 4, 4, 2).astype("float32"), verbose=0)}

    _both(recipe)


def test_quotient_remainder_and_mixed_dimension_embeddings_match_keras():
    def recipe(k):
        ops, layers = k.ops, k.layers

        class QREmbedding(layers.Layer):
            def __init__(self, first_id, embedding_dim, num_buckets, name=None):
                super().__init__(name=name)
                self.first_id = first_id
                self.num_buckets = num_buckets
                self.q_embeddings = layers.Embedding(num_buckets, embedding_dim)
                self.r_embeddings = layers.Embedding(num_buckets, embedding_dim)

            def call(self, inputs):
                index = inputs - self.first_id
                return (self.q_embeddings(ops.floor_divide(index, self.num_buckets))
                        * self.r_embeddings(ops.mod(index, self.num_buckets)))

        class MDEmbedding(layers.Layer):
            def __init__(self, block_sizes, block_dims, base_dim, name=None):
                super().__init__(name=name)
                self.block_sizes, self.base_dim = block_sizes, base_dim
                self.encoders = [layers.Embedding(size, dim)
                                 for size, dim in zip(block_sizes, block_dims)]
                self.projectors = [layers.Lambda(lambda t: t) if dim == base_dim
                                   else layers.Dense(base_dim, use_bias=False)
                                   for dim in block_dims]

            def call(self, inputs):
                out = ops.zeros(ops.shape(inputs) + (self.base_dim,))
                start = 0
                for size, encoder, projector in zip(self.block_sizes, self.encoders,
                                                    self.projectors):
                    inside = ops.logical_and(inputs >= start, inputs < start + size)
                    emb = projector(encoder(ops.clip(inputs - start, 0, size - 1)))
                    out = out + emb * ops.expand_dims(ops.cast(inside, "float32"), -1)
                    start += size
                return out

        rng = np.random.RandomState(0)
        ids = rng.randint(100, 130, (16, 3)).astype("int64")
        inputs = k.Input((3,), dtype="int64")
        pooled = [layers.GlobalAveragePooling1D()(QREmbedding(100, 4, 6)(inputs)),
                  layers.GlobalAveragePooling1D()(MDEmbedding([10, 20], [4, 2], 4)(
                      ops.subtract(inputs, 100)))]
        model = k.Model(inputs, layers.Dense(1)(layers.Concatenate()(pooled)))
        _init(model, 5)
        model.compile(optimizer=k.optimizers.Adam(0.01), loss="mse",
                      metrics=[k.metrics.RootMeanSquaredError()])
        history = model.fit(ids, rng.rand(16, 1).astype("float32"), batch_size=4, epochs=2,
                            verbose=0, shuffle=False)
        return {"history": history_lists(history), "weights": model.get_weights(),
                "paths": [w.path for w in model.weights],
                "predict": model.predict(ids[:3], verbose=0)}

    _both(recipe)


def test_distiller_with_compute_loss_override_matches_keras():
    def recipe(k):
        ops = k.ops

        class Distiller(k.Model):
            def __init__(self, student, teacher):
                super().__init__()
                self.teacher, self.student = teacher, student

            def compile(self, optimizer, metrics, student_loss_fn, distillation_loss_fn,
                        alpha=0.1, temperature=3):
                super().compile(optimizer=optimizer, metrics=metrics)
                self.student_loss_fn = student_loss_fn
                self.distillation_loss_fn = distillation_loss_fn
                self.alpha, self.temperature = alpha, temperature

            def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                             allow_empty=False):
                teacher_pred = self.teacher(x, training=False)
                distillation = self.distillation_loss_fn(
                    ops.softmax(teacher_pred / self.temperature, axis=1),
                    ops.softmax(y_pred / self.temperature, axis=1)) * self.temperature ** 2
                return (self.alpha * self.student_loss_fn(y, y_pred)
                        + (1 - self.alpha) * distillation)

            def call(self, x):
                return self.student(x)

        x, y = _data(24, 5, 3)
        teacher = _mlp(k, 6, d=5, activation=None)
        student = _mlp(k, 7, d=5, hidden=4, activation=None)
        teacher.compile(optimizer="adam", metrics=[k.metrics.SparseCategoricalAccuracy()],
                        loss=k.losses.SparseCategoricalCrossentropy(from_logits=True))
        teacher_history = teacher.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False)
        distiller = Distiller(student=student, teacher=teacher)
        distiller.compile(optimizer=k.optimizers.Adam(),
                          metrics=[k.metrics.SparseCategoricalAccuracy()],
                          student_loss_fn=k.losses.SparseCategoricalCrossentropy(
                              from_logits=True),
                          distillation_loss_fn=k.losses.KLDivergence(), temperature=10)
        history = distiller.fit(x, y, epochs=3, batch_size=8, verbose=0, shuffle=False)
        return {"teacher": history_lists(teacher_history), "history": history_lists(history),
                "evaluate": distiller.evaluate(x, y, verbose=0, return_dict=True),
                "student": student.get_weights(), "teacher_weights": teacher.get_weights(),
                "trainable": len(distiller.trainable_weights)}

    _both(recipe)


def test_sklearn_metrics_written_into_logs_reach_history_and_csv_like_keras(tmp_path):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")

    def recipe(k):
        x, y = _data(40, 6, 2)

        class MetricsCallback(k.callbacks.Callback):
            def __init__(self, x_val, y_val):  # (no super().__init__(), as in the recipe)
                self.x_val, self.y_val, self.seen = x_val, y_val, []

            def on_epoch_end(self, epoch, logs=None):
                proba = self.model.predict(self.x_val, verbose=0)[:, 0]
                pred = (proba > 0.5).astype(int)
                logs["val_f1"] = sklearn_metrics.f1_score(self.y_val, pred, zero_division=0)
                logs["val_auc_sk"] = sklearn_metrics.roc_auc_score(self.y_val, proba)
                self.seen.append([sorted(logs), sorted(self.params)])

        model = _mlp(k, 8, hidden=5, out=1, activation="sigmoid")
        model.compile(optimizer=k.optimizers.RMSprop(0.01), loss="binary_crossentropy",
                      metrics=["accuracy", k.metrics.AUC(name="auc")])
        callback = MetricsCallback(x[30:], y[30:])
        path = tmp_path / f"{k.__name__}.csv"
        history = model.fit(x[:30], y[:30], validation_data=(x[30:], y[30:]), epochs=3,
                            batch_size=10, verbose=0, shuffle=False,
                            callbacks=[callback, k.callbacks.CSVLogger(str(path))])
        return {"history": history_lists(history), "seen": callback.seen,
                "csv": path.read_text().splitlines()[0], "weights": model.get_weights()}

    _both(recipe)


def test_sample_size_estimation_refits_from_saved_weights_like_keras():
    def recipe(k):
        x, y = _data(64, 6, 3, seed=1)
        model = _mlp(k, 9)
        initial = model.get_weights()
        results = []
        for n in (16, 32, 64):
            model.set_weights(initial)
            model.compile(optimizer=k.optimizers.Adam(0.05), metrics=["accuracy"],
                          loss="sparse_categorical_crossentropy")
            stop = k.callbacks.EarlyStopping(monitor="val_loss", patience=1,
                                             restore_best_weights=True)
            history = model.fit(x[:n], y[:n], validation_data=(x, y), epochs=6, batch_size=8,
                                verbose=0, shuffle=False, callbacks=[stop])
            clone = k.models.clone_model(model)
            clone.set_weights(model.get_weights())
            results.append({"epochs": len(history.history["loss"]),
                            "stopped": stop.stopped_epoch,
                            "evaluate": model.evaluate(x, y, verbose=0),
                            "clone": clone.predict(x[:2], verbose=0)})
        return results

    _both(recipe)


def test_tensorflow_numpy_model_matches_keras_ops_model():
    # ours in tf.experimental.numpy (as the recipe), Keras in keras.ops: the same maths
    def recipe(k):
        tnp = tf.experimental.numpy if _ours(k) else k.ops

        class TNPDense(k.layers.Layer):
            def __init__(self, units, activation=None):
                super().__init__()
                self.units, self.activation = units, activation

            def build(self, input_shape):
                self.w = self.add_weight(name="weights", shape=(input_shape[1], self.units),
                                         initializer="uniform")
                self.bias = self.add_weight(name="bias", shape=(self.units,),
                                            initializer="zeros")

            def call(self, inputs):
                outputs = tnp.matmul(inputs, self.w) + self.bias
                return self.activation(outputs) if self.activation else outputs

        class TNPForwardFeedRegressionNetwork(k.Model):
            def __init__(self, blocks=None, **kwargs):
                super().__init__(**kwargs)
                self.blocks = blocks
                self.block_weights = None  # lists of weights made in build, as the recipe
                self.biases = None

            def build(self, input_shape):
                current = input_shape[1]
                self.block_weights, self.biases = [], []
                for i, block in enumerate(self.blocks):
                    self.block_weights.append(self.add_weight(
                        shape=(current, block), name=f"block-{i}", initializer="glorot_normal"))
                    self.biases.append(self.add_weight(shape=(block,), name=f"bias-{i}",
                                                       initializer="zeros"))
                    current = block
                self.linear_layer = self.add_weight(shape=(current, 1), name="linear_projector",
                                                    initializer="glorot_normal")

            def call(self, inputs):
                activations = inputs
                for w, b in zip(self.block_weights, self.biases):
                    activations = tnp.maximum(tnp.matmul(activations, w) + b, 0.0)
                return tnp.matmul(activations, self.linear_layer)

        rng = np.random.RandomState(1)
        x = rng.rand(20, 5).astype("float32")
        y = (3 * x[:, :1] - x[:, 1:2]).astype("float32")
        model = TNPForwardFeedRegressionNetwork(blocks=[3, 3])
        model.compile(optimizer="adam", loss="mean_squared_error",
                      metrics=[k.metrics.RootMeanSquaredError()])
        model.build((None, 5))
        _init(model, 22)
        history = model.fit(x, y, epochs=3, batch_size=4, verbose=0, shuffle=False)
        layered = k.Sequential([k.Input((5,)), TNPDense(3, activation=lambda t: tnp.maximum(
            t, 0)), TNPDense(1)])
        _init(layered, 11)
        return {"history": history_lists(history), "weights": model.get_weights(),
                "names": [w.name for w in model.weights], "params": model.count_params(),
                "layered": layered.predict(x[:3], verbose=0)}

    _both(recipe)


def test_reproducibility_semantics_of_seeds_match_keras():
    # The numbers differ between libraries by design; which draws repeat does not.
    def recipe(k):
        def values(t):
            return k.ops.convert_to_numpy(t)

        def equal(a, b):
            return bool(np.array_equal(values(a), values(b)))

        k.utils.set_random_seed(812)
        out = {"python_numpy": [__import__("random").random(), np.random.rand(2)],
               "int_seed": equal(k.random.normal((3,), seed=1337),
                                 k.random.normal((3,), seed=1337))}
        k.utils.set_random_seed(812)
        first = [values(k.random.uniform((3,))) for _ in range(2)]
        k.utils.set_random_seed(812)
        again = [values(k.random.uniform((3,))) for _ in range(2)]
        out["unseeded"] = [equal(*first), equal(first[0], again[0]), equal(first[1], again[1])]
        g1, g2 = k.random.SeedGenerator(42), k.random.SeedGenerator(42)
        a = k.random.normal((2,), seed=g1)
        out["generator"] = [equal(a, k.random.normal((2,), seed=g1)),
                            equal(a, k.random.normal((2,), seed=g2))]
        init = k.initializers.GlorotNormal(seed=1337)
        out["initializer"] = [equal(init((3, 2)), init((3, 2))),
                              equal(init((3, 2)), k.initializers.GlorotNormal(seed=1337)((3, 2)))]
        x = np.ones((4, 6), "float32")
        d1, d2 = k.layers.Dropout(0.5, seed=7), k.layers.Dropout(0.5, seed=7)
        m1 = d1(x, training=True)
        out["dropout"] = [equal(m1, d2(x, training=True)), equal(m1, d1(x, training=True))]
        return out

    _both(recipe)


def test_gradient_accumulation_steps_and_by_hand_match_keras():
    def recipe(k):
        x, y = _data(32, 6, 3)
        out = {}
        for name, make in (
                ("sgd", lambda: k.optimizers.SGD(0.1, momentum=0.9,
                                                 gradient_accumulation_steps=2)),
                ("adam", lambda: k.optimizers.Adam(0.01, gradient_accumulation_steps=3))):
            model = _mlp(k, 12, hidden=5, activation=None)
            optimizer = make()
            model.compile(optimizer=optimizer, metrics=["accuracy"],
                          loss=k.losses.SparseCategoricalCrossentropy(from_logits=True))
            history = model.fit(x, y, epochs=2, batch_size=4, verbose=0, shuffle=False)
            out[name] = {"history": history_lists(history), "weights": model.get_weights(),
                         "iterations": int(k.ops.convert_to_numpy(optimizer.iterations)),
                         "variables": len(optimizer.variables)}
        model = k.Sequential([k.Input((6,)), k.layers.Dense(3)])
        _init(model, 13)
        optimizer = k.optimizers.SGD(0.5)
        optimizer.build(model.trainable_variables)
        loss_fn = k.losses.SparseCategoricalCrossentropy(from_logits=True)
        total = None
        for step in range(4):
            xb, yb = x[step * 8:(step + 1) * 8], y[step * 8:(step + 1) * 8]
            _, grads = _grads(k, lambda xb=xb, yb=yb: loss_fn(yb, model(xb, training=True)),
                              model.trainable_variables)
            grads = [to_numpy(g) for g in grads]
            total = grads if total is None else [t + g for t, g in zip(total, grads)]
            if step % 2:
                grads = [t / 2 for t in total]
                _apply(k, optimizer, grads if _ours(k) else [__import__("torch").as_tensor(g)
                                                             for g in grads],
                       model.trainable_variables)
                total = None
        out["by_hand"] = model.get_weights()
        return out

    _both(recipe)


def test_train_step_accumulating_into_tf_variables_under_a_none_cond_trains_like_keras():
    """The community gradient-accumulation Model: tf.Variable accumulators and
    tf.cond(step == n, apply, lambda: None) in a traced train_step (TF's cond keeps the
    branches' None results as None). Keras: SGD(gradient_accumulation_steps=2), which
    averages the two gradients as the train_step does."""
    x, y = _data(24, 4, 3)

    def build(k, cls=None, **kwargs):
        inputs = k.Input((4,))
        outputs = k.layers.Dense(3)(k.layers.Dense(5, activation="relu")(inputs))
        model = (cls or k.Model)(inputs=inputs, outputs=outputs, **kwargs)
        _init(model, 26, model.trainable_weights)
        return model

    class GAModel(keras.Model):
        def __init__(self, n_gradients, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.n_gradients = tf.constant(n_gradients, dtype=tf.int32)
            self.n_acum_step = tf.Variable(0, dtype=tf.int32, trainable=False)
            self.gradient_accumulation = [tf.Variable(tf.zeros_like(v), trainable=False)
                                          for v in self.trainable_variables]

        def train_step(self, data):
            self.n_acum_step.assign_add(1)
            x, y = data
            with tf.GradientTape() as tape:
                loss = self.compute_loss(x, y, self(x, training=True))
            gradients = tape.gradient(loss, self.trainable_variables)
            for acc, grad in zip(self.gradient_accumulation, gradients):
                acc.assign_add(grad / tf.cast(self.n_gradients, tf.float32))
            tf.cond(tf.equal(self.n_acum_step, self.n_gradients), self.apply_accu_gradients,
                    lambda: None)
            return {"loss": loss}

        def apply_accu_gradients(self):
            self.optimizer.apply_gradients(zip(self.gradient_accumulation,
                                               self.trainable_variables))
            self.n_acum_step.assign(0)
            for acc in self.gradient_accumulation:
                acc.assign(tf.zeros_like(acc))

    ours = build(keras, GAModel, n_gradients=2)
    ours.compile(optimizer=keras.optimizers.SGD(0.2),
                 loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ours.fit(x, y, epochs=2, batch_size=6, verbose=0, shuffle=False)
    real = import_keras()
    theirs = build(real)
    theirs.compile(optimizer=real.optimizers.SGD(0.2, gradient_accumulation_steps=2),
                   loss=real.losses.SparseCategoricalCrossentropy(from_logits=True))
    theirs.fit(x, y, epochs=2, batch_size=6, verbose=0, shuffle=False)
    assert_same_results([v.numpy() for v in ours.trainable_weights],
          [real.ops.convert_to_numpy(v) for v in theirs.trainable_weights])


def test_cond_branches_returning_none_in_a_function_return_none():
    counter = tf.Variable(0.0)

    def bump():
        counter.assign_add(1.0)

    @tf.function
    def step(x):
        nothing = tf.cond(x > 0, bump, lambda: None)
        pair = tf.cond(x > 0, lambda: (x * 2.0, None), lambda: (x, None))
        return nothing, pair

    nothing, (doubled, none) = step(tf.constant(1.5))
    assert nothing is None and none is None and float(doubled) == 3.0
    step(tf.constant(-1.0))
    assert float(counter.numpy()) == 1.0

    @tf.function
    def mixed(x):
        return tf.cond(x > 0, lambda: x, lambda: None)

    with pytest.raises(ValueError, match="same structure.*returned None"):
        mixed(tf.constant(1.0))


def test_tf_data_pipeline_with_cache_and_prefetch_trains_as_keras_on_the_same_batches():
    def recipe(k):
        x, y = _data(30, 4, 2)
        xv, yv = _data(10, 4, 2, seed=3)

        def model():
            m = _mlp(k, 14, d=4, hidden=4, out=1, activation="sigmoid")
            m.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
            return m

        m, repeated = model(), model()
        if _ours(k):
            def scale(a, b):
                return a * 2.0, tf.cast(b, "float32")

            data = tf.data.Dataset.from_tensor_slices((x, y))
            train = (data.map(scale, num_parallel_calls=tf.data.AUTOTUNE).cache().batch(8)
                     .prefetch(tf.data.AUTOTUNE))
            val = (tf.data.Dataset.from_tensor_slices((xv * 2, yv.astype("float32"))).batch(8)
                   .cache().prefetch(1))
            history = m.fit(train, validation_data=val, epochs=3, verbose=0)
            evaluated = m.evaluate(val, verbose=0, return_dict=True)
            predicted = m.predict(train.map(lambda a, b: a), verbose=0)
            history_2 = repeated.fit(train.repeat(), steps_per_epoch=3, epochs=2, verbose=0)
        else:
            yf, yvf = y.astype("float32"), yv.astype("float32")
            history = m.fit(x * 2, yf, validation_data=(xv * 2, yvf), batch_size=8, epochs=3,
                            verbose=0, shuffle=False)
            evaluated = m.evaluate(xv * 2, yvf, batch_size=8, verbose=0, return_dict=True)
            predicted = m.predict(x * 2, batch_size=8, verbose=0)
            # repeat(): 3 batches of 8 an epoch, the 4th batch short (the data's end)
            xs, ys = np.concatenate([x, x]) * 2, np.concatenate([yf, yf])
            bounds = [(0, 8), (8, 16), (16, 24), (24, 30), (30, 38), (38, 46)]
            history_2 = repeated.fit(((xs[a:b], ys[a:b]) for a, b in bounds),
                                     steps_per_epoch=3, epochs=2, verbose=0)
        return {"history": history_lists(history), "evaluate": evaluated, "predict": predicted,
                "repeated": history_lists(history_2), "weights": repeated.get_weights()}

    _both(recipe)


def test_tfrecord_round_trip_parses_and_trains_like_the_source_arrays(tmp_path):
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, (5, 6, 6, 3)).astype("uint8")
    labels, boxes = rng.randint(0, 10, 5), rng.rand(5, 4).astype("float32")
    path = str(tmp_path / "data.tfrec")
    with tf.io.TFRecordWriter(path) as writer:
        for i in range(5):
            feature = {
                "image": tf.train.Feature(bytes_list=tf.train.BytesList(
                    value=[tf.io.encode_png(images[i]).numpy()])),
                "path": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"img_%d" % i])),
                "bbox": tf.train.Feature(float_list=tf.train.FloatList(value=boxes[i])),
                "category_id": tf.train.Feature(int64_list=tf.train.Int64List(
                    value=[int(labels[i])])),
                "seq": tf.train.Feature(int64_list=tf.train.Int64List(value=range(i + 1)))}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature))
                         .SerializeToString())
    spec = {"image": tf.io.FixedLenFeature([], tf.string),
            "path": tf.io.FixedLenFeature([], tf.string), "bbox": tf.io.VarLenFeature(tf.float32),
            "category_id": tf.io.FixedLenFeature([], tf.int64),
            "seq": tf.io.VarLenFeature(tf.int64)}

    def parse(example):
        example = tf.io.parse_single_example(example, spec)
        example["image"] = tf.io.decode_png(example["image"], channels=3)
        example["bbox"] = tf.sparse.to_dense(example["bbox"])
        example["seq"] = tf.sparse.to_dense(example["seq"])
        return example

    rows = list(tf.data.TFRecordDataset(path).map(parse))
    np.testing.assert_array_equal(np.stack([r["image"].numpy() for r in rows]), images)
    assert [r["category_id"].dtype for r in rows] == [tf.int64] * 5
    np.testing.assert_array_equal([int(r["category_id"]) for r in rows], labels)
    np.testing.assert_array_equal(np.stack([r["bbox"].numpy() for r in rows]), boxes)
    assert [r["path"].numpy() for r in rows] == [b"img_%d" % i for i in range(5)]
    for i, row in enumerate(rows):
        np.testing.assert_array_equal(row["seq"].numpy(), np.arange(i + 1))
    # batched parsing (parse_example after batch): a string feature is a batch of bytes
    batch = next(iter(tf.data.TFRecordDataset(path).batch(4).map(
        lambda b: tf.io.parse_example(b, {"path": spec["path"],
                                          "category_id": spec["category_id"]}))))
    assert batch["path"].numpy().tolist() == [b"img_%d" % i for i in range(4)]
    np.testing.assert_array_equal(batch["category_id"].numpy(), labels[:4])
    # training input: the same predictions as Keras on the source arrays
    real = import_keras()
    predictions = []
    for k in (keras, real):
        model = k.Sequential([k.Input((6, 6, 3)), k.layers.Rescaling(1 / 255.0),
                              k.layers.Flatten(), k.layers.Dense(2)])
        _init(model, 15)
        predictions.append(model)
    data = tf.data.TFRecordDataset([path]).map(parse).map(
        lambda s: tf.cast(s["image"], "float32")).batch(2)
    assert_same_results(predictions[0].predict(data, verbose=0),
          predictions[1].predict(images.astype("float32"), verbose=0))


def test_functional_subclass_package_saves_loads_and_nests_like_keras(tmp_path):
    def recipe(k):
        @k.saving.register_keras_serializable(package=f"probe13_{k.__name__.split('.')[0]}")
        class MyModel(k.Model):
            def __init__(self, num_classes, input_shape=(8, 8, 1), hidden=6, **kwargs):
                inputs = k.Input(input_shape)
                x = k.layers.Conv2D(3, 3, activation="relu")(inputs)
                x = k.layers.Dense(hidden, activation="relu")(k.layers.GlobalAveragePooling2D()(x))
                outputs = k.layers.Dense(num_classes, activation="softmax")(x)
                super().__init__(inputs=inputs, outputs=outputs, **kwargs)
                self.num_classes, self.hidden, self.shape_ = num_classes, hidden, input_shape

            def get_config(self):
                return {"num_classes": self.num_classes, "input_shape": self.shape_,
                        "hidden": self.hidden, "name": self.name}

        model = MyModel(3, name="pkg_model")
        _init(model, 15)
        rng = np.random.RandomState(0)
        x, y = rng.rand(10, 8, 8, 1).astype("float32"), rng.randint(0, 3, 10)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        history = model.fit(x, y, epochs=2, batch_size=5, verbose=0, shuffle=False)
        path = str(tmp_path / f"{k.__name__.split('.')[0]}.keras")
        model.save(path)
        loaded = k.saving.load_model(path)
        inputs = k.Input((8, 8, 1))
        outer = k.Model(inputs, k.layers.Dense(2)(model(inputs)))
        _init(outer, 16)
        return {"history": history_lists(history), "type": type(loaded).__name__,
                "predict": loaded.predict(x[:3], verbose=0),
                "evaluate": loaded.evaluate(x, y, verbose=0),
                "layers": [layer.name for layer in model.layers][1:],
                "outer": outer.predict(x[:2], verbose=0), "outer_layers": len(outer.layers)}

    _both(recipe)


def test_antirectifier_and_mixture_density_network_match_keras():
    def recipe(k):
        ops, layers = k.ops, k.layers

        class Antirectifier(layers.Layer):
            def __init__(self, initializer="he_normal", **kwargs):
                super().__init__(**kwargs)
                self.initializer = k.initializers.get(initializer)

            def build(self, input_shape):
                dim = input_shape[-1]
                self.kernel = self.add_weight(shape=(dim * 2, dim), name="kernel",
                                              initializer=self.initializer)

            def call(self, inputs):
                inputs -= ops.mean(inputs, axis=-1, keepdims=True)
                both = ops.concatenate([ops.relu(inputs), ops.relu(-inputs)], axis=-1)
                return ops.matmul(both, self.kernel)

            def get_config(self):
                return {**super().get_config(),
                        "initializer": k.initializers.serialize(self.initializer)}

        class MixtureDensityOutput(layers.Layer):
            def __init__(self, output_dim, num_mixtures, **kwargs):
                super().__init__(**kwargs)
                self.mus = layers.Dense(num_mixtures * output_dim, name="mdn_mus")
                self.sigmas = layers.Dense(num_mixtures * output_dim, name="mdn_sigmas",
                                           activation=lambda t: k.activations.elu(t) + 1
                                           + k.backend.epsilon())
                self.pi = layers.Dense(num_mixtures, name="mdn_pi")

            def build(self, input_shape):
                for layer in (self.mus, self.sigmas, self.pi):
                    layer.build(input_shape)

            def call(self, x):
                return layers.concatenate([self.mus(x), self.sigmas(x), self.pi(x)])

        def mdn_loss(y_true, y_pred, mixes=3):
            mus, sigmas, pi = ops.split(y_pred, [mixes, 2 * mixes], axis=-1)
            log_component = (-0.5 * ops.square((y_true - mus) / sigmas) - ops.log(sigmas)
                             - 0.5 * np.log(2 * np.pi))
            return -ops.mean(ops.logsumexp(ops.log_softmax(pi, axis=-1) + log_component,
                                           axis=-1))

        rng = np.random.RandomState(0)
        x, y = rng.rand(24, 6).astype("float32"), rng.randint(0, 3, 24)
        model = k.Sequential([k.Input((6,)), layers.Dense(8), Antirectifier(), layers.Dense(8),
                              Antirectifier(), layers.Dense(3)])
        _init(model, 17)
        model.compile(loss=k.losses.SparseCategoricalCrossentropy(from_logits=True),
                      optimizer=k.optimizers.RMSprop(),
                      metrics=[k.metrics.SparseCategoricalAccuracy()])
        history = model.fit(x, y, batch_size=6, epochs=2, validation_split=0.25, verbose=0,
                            shuffle=False)
        xs = np.linspace(-1, 1, 40).astype("float32")[:, None]
        ys = (np.sin(3 * xs) + 0.1 * rng.standard_normal(xs.shape)).astype("float32")
        mdn = k.Sequential([k.Input((1,)), layers.Dense(8, activation="relu"),
                            MixtureDensityOutput(1, 3)])
        _init(mdn, 18)
        mdn.compile(loss=mdn_loss, optimizer=k.optimizers.Adam())
        mdn_history = mdn.fit(xs, ys, epochs=3, batch_size=10, verbose=0, shuffle=False)
        config = model.layers[1].get_config()
        return {"history": history_lists(history), "weights": model.get_weights(),
                "config": sorted(config), "initializer": config["initializer"]["class_name"],
                "mdn": history_lists(mdn_history), "mdn_weights": mdn.get_weights()}

    _both(recipe)


def test_optimizer_subclasses_overriding_apply_or_update_step_match_keras():
    def recipe(k):
        ops = k.ops
        x, y = _data(24, 4, 3)

        class GCRMSprop(k.optimizers.RMSprop):  # gradient centralization
            def apply(self, grads, trainable_variables=None):
                centred = [g - ops.mean(g, axis=list(range(len(g.shape) - 1)), keepdims=True)
                           if len(g.shape) > 1 else g for g in grads]
                return super().apply(centred, trainable_variables)

        class MomentumSGD(k.optimizers.Optimizer):
            def __init__(self, learning_rate=0.01, beta=0.9, name="my_sgd", **kwargs):
                super().__init__(learning_rate=learning_rate, name=name, **kwargs)
                self.beta = beta

            def build(self, variables):
                if self.built:
                    return
                super().build(variables)
                self.moms = [self.add_variable_from_reference(v, "mom") for v in variables]

            def update_step(self, gradient, variable, learning_rate):
                mom = self.moms[self._get_variable_index(variable)]
                self.assign(mom, self.beta * mom + gradient)
                self.assign_sub(variable, ops.cast(learning_rate, variable.dtype) * mom)

        out = {}
        for name, optimizer in (("gc", GCRMSprop(0.01)), ("momentum", MomentumSGD(0.1))):
            model = _mlp(k, 24, d=4, hidden=5, activation=None)
            model.compile(optimizer=optimizer, metrics=["accuracy"],
                          loss=k.losses.SparseCategoricalCrossentropy(from_logits=True))
            history = model.fit(x, y, epochs=2, batch_size=6, verbose=0, shuffle=False)
            out[name] = {"history": history_lists(history), "weights": model.get_weights(),
                         "variables": [v.path for v in optimizer.variables]}
        return out

    _both(recipe)


def test_compute_loss_and_compute_metrics_overrides_match_keras():
    def recipe(k):
        ops = k.ops
        x, y = _data(24, 4, 3)

        class WithTraining(k.Model):
            def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                             training=True):
                loss = super().compute_loss(x, y, y_pred, sample_weight, training=training)
                return loss + 0.1 * ops.mean(ops.square(y_pred)) if training else loss

        class WithKwargs(k.Model):
            def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, **kwargs):
                return 2.0 * super().compute_loss(x, y, y_pred, sample_weight, **kwargs)

        class ExtraMetric(k.Model):
            def compute_metrics(self, x, y, y_pred, sample_weight=None):
                return {**super().compute_metrics(x, y, y_pred, sample_weight),
                        "extra": ops.mean(y_pred)}

        out = {}
        for cls in (WithTraining, WithKwargs, ExtraMetric):
            inputs = k.Input((4,))
            model = cls(inputs, k.layers.Dense(3)(k.layers.Dense(5, activation="relu")(inputs)))
            _init(model, 25)
            model.compile(optimizer="adam", metrics=["accuracy"],
                          loss=k.losses.SparseCategoricalCrossentropy(from_logits=True))
            history = model.fit(x, y, epochs=2, batch_size=6, verbose=0, shuffle=False,
                                validation_data=(x, y))
            out[cls.__name__] = {"history": history_lists(history), "weights": model.get_weights(),
                                 "evaluate": model.evaluate(x, y, verbose=0, return_dict=True)}
        return out

    _both(recipe)


def test_debugging_tips_feature_extractor_summary_and_eager_fit_match_keras():
    def recipe(k):
        x, y = _data(16, 6, 3)
        inputs = k.Input((6,), name="in")
        hidden = k.layers.Dense(8, name="d1")(inputs)
        hidden = k.layers.LayerNormalization(name="norm")(hidden)
        model = k.Model(inputs, k.layers.Dense(3, name="out")(hidden))
        _init(model, 19)
        extractor = k.Model(inputs=model.inputs, outputs=[lay.output for lay in model.layers])
        features = extractor.predict(x[:3], verbose=0)
        model.compile(optimizer="adam", metrics=["accuracy"], run_eagerly=True,
                      loss=k.losses.SparseCategoricalCrossentropy(from_logits=True))
        history = model.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False)
        text = io.StringIO()
        with contextlib.redirect_stdout(text):
            model.summary()
        total = [line.split(":")[1].split("(")[0].strip()
                 for line in text.getvalue().splitlines() if "Total params" in line]
        return {"features": features, "history": history_lists(history),
                "weights": model.get_weights(), "total": total,
                "counts": [layer.count_params() for layer in model.layers],
                "by_index": model.get_layer(index=2).name}

    _both(recipe)


def test_int8_quantized_model_predicts_and_trains_like_keras():
    def recipe(k):
        rng = np.random.RandomState(0)
        x = rng.rand(4, 6).astype("float32")
        inputs = k.Input((6,))
        hidden = k.layers.Dense(8, activation="relu", name="d1")(inputs)
        hidden = k.layers.EinsumDense("ab,bc->ac", output_shape=5, bias_axes="c",
                                      name="ed")(hidden)
        model = k.Model(inputs, k.layers.Dense(3, name="d2")(hidden))
        _init(model, 27)
        model.quantize("int8")
        before = model.predict(x, verbose=0)
        model.compile(optimizer="sgd", loss="mse")
        model.fit(x, np.ones((4, 3), "float32"), epochs=1, batch_size=2, verbose=0,
                  shuffle=False)
        embedding = k.Sequential([k.Input((3,), dtype="int32"), k.layers.Embedding(10, 4)])
        _init(embedding, 28)
        embedding.quantize("int8")
        return {"paths": [w.path for w in model.weights],
                "dtypes": [np.dtype(getattr(w.dtype, "name", w.dtype)).name
                           for w in model.weights],
                "policy": model.layers[1].dtype_policy.name, "quantized": before,
                "trained": model.predict(x, verbose=0),
                "embedding": embedding.predict(rng.randint(0, 10, (4, 3)), verbose=0)}

    _both(recipe)
