"""The tf.keras guide's custom train_step (`self.compiled_loss(...)`,
`self.compiled_metrics.update_state(...)`, `{m.name: m.result() for m in self.metrics}`) runs
as Keras 3 runs it, deprecation warnings included, and trains to the same History.

Keras 3 keeps these shims in its TensorFlow trainer only; the oracle (Keras on torch) runs the
same step with the shims' bodies written out (keras/src/backend/tensorflow/trainer.py):
compiled_loss is `compute_loss(x=None, y, y_pred, sample_weight)` and
compiled_metrics.update_state updates every metric in `self.metrics`, each `Mean` (the loss
tracker too) with `y_pred` alone.
"""

import warnings

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

RNG = np.random.default_rng(14)
X = RNG.normal(size=(24, 3)).astype("float32")
Y = RNG.normal(size=(24, 1)).astype("float32")
SW = RNG.uniform(0.5, 1.5, size=(24,)).astype("float32")


def _ours_class(base):
    class Legacy(base):
        def train_step(self, data):
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compiled_loss(y, y_pred, sample_weight,
                                          regularization_losses=self.losses)
            gradients = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
            self.compiled_metrics.update_state(y, y_pred, sample_weight)
            return {m.name: m.result() for m in self.metrics}

    return Legacy


def _keras_class(k, base):
    import torch

    class Legacy(base):
        def train_step(self, data):
            x, y, sample_weight = k.utils.unpack_x_y_sample_weight(data)
            y_pred = self(x, training=True)
            self.zero_grad()
            loss = self.compute_loss(x=None, y=y, y_pred=y_pred, sample_weight=sample_weight)
            loss.backward()
            trainable = self.trainable_weights[:]
            with torch.no_grad():
                self.optimizer.apply([v.value.grad for v in trainable], trainable)
            for metric in self.metrics:
                if isinstance(metric, k.metrics.Mean):
                    metric.update_state(y_pred, sample_weight=sample_weight)
                else:
                    metric.update_state(y, y_pred, sample_weight=sample_weight)
            return {m.name: m.result() for m in self.metrics}

    return Legacy


def _functional(k, cls):
    i = k.Input((3,))
    return cls(i, k.layers.Dense(1, kernel_regularizer="l2", name="out")(i))


def _subclassed(k, cls):
    class Net(cls):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = k.layers.Dense(4, activation="tanh", name="hidden")
            self.out = k.layers.Dense(1, name="out")

        def call(self, x, training=None):
            h = self.hidden(x)
            self.add_loss(0.01 * k.ops.mean(k.ops.square(h)))
            return self.out(h)

    model = Net(name="net")
    model(X[:1])
    return model


CASES = {
    "functional_l2_mae": (_functional, lambda k: ["mae"], False),
    "subclassed_add_loss_metric_objects": (
        _subclassed, lambda k: [k.metrics.MeanSquaredError(), k.metrics.MeanAbsoluteError()],
        False),
    "functional_sample_weight": (_functional, lambda k: ["mae"], True),
}


@pytest.mark.keras_oracle
@pytest.mark.parametrize("run_eagerly", [False, True], ids=["graph", "eager"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_legacy_train_step_trains_like_keras(case, run_eagerly):
    k = import_keras()
    build, metrics, weighted = CASES[case]
    extra = {"sample_weight": SW} if weighted else {}

    theirs = build(k, _keras_class(k, k.Model))
    theirs.compile(k.optimizers.Adam(0.01), "mse", metrics=metrics(k))
    weights = theirs.get_weights()
    expected = theirs.fit(X, Y, epochs=3, batch_size=8, shuffle=False, verbose=0,
                          **extra).history

    ours = build(keras, _ours_class(keras.Model))
    ours.compile(keras.optimizers.Adam(0.01), "mse", metrics=metrics(keras),
                 run_eagerly=run_eagerly)
    ours.set_weights(weights)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = ours.fit(X, Y, epochs=3, batch_size=8, shuffle=False, verbose=0,
                           **extra).history

    assert sorted(history) == sorted(expected)
    for key in expected:
        assert_matches(np.array(history[key]), np.array(expected[key]), rtol=1e-5, atol=1e-6,
                       what=f"history[{key!r}]")
    for w_ours, w_theirs in zip(ours.get_weights(), theirs.get_weights()):
        assert_matches(w_ours, w_theirs, rtol=1e-5, atol=1e-6, what="weights after fit")


def test_compiled_loss_and_metrics_warn_as_keras_does():
    i = keras.Input((3,))
    model = keras.Model(i, keras.layers.Dense(1, kernel_regularizer="l2")(i))
    model.compile("sgd", "mse", metrics=["mae"])
    y_pred = model(X[:4])
    with pytest.warns(UserWarning, match=r"`model.compiled_loss\(\)` is deprecated. Instead, "
                                         r"use `model.compute_loss"):
        loss = model.compiled_loss(Y[:4], y_pred, regularization_losses=model.losses)
    # compute_loss already counts model.losses; the shim must not count them twice
    assert_matches(loss, model.compute_loss(y=Y[:4], y_pred=y_pred), what="compiled_loss")
    with pytest.warns(UserWarning, match=r"`model.compiled_metrics\(\)` is deprecated"):
        model.compiled_metrics.update_state(Y[:4], y_pred)
    assert_matches(model.metrics[0].result(), np.mean(y_pred.numpy()),
                   what="the loss tracker (a Mean) takes y_pred alone")
