"""What fit/evaluate report when losses and metrics are weighted or several (probe round 10),
with real Keras 3 (torch backend) as the oracle: class_weight, sample_weight (1-D, per
timestep, in a dataset, in validation_data), weighted_metrics, loss_weights, and the
per-output `<name>_loss` entries of multi-output models."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tests.keras._oracle import fresh_names, import_keras  # noqa: F401

pytestmark = pytest.mark.keras_oracle

RNG = np.random.RandomState(0)
X = RNG.rand(30, 4).astype("float32")
Y_INT = (X.sum(1) * 1.3).astype("int32") % 3
Y_ONEHOT = np.eye(3, dtype="float32")[Y_INT]
Y_BIN = (X.sum(1) > 2).astype("float32").reshape(-1, 1)
Y_REG = X[:, :2].sum(1, keepdims=True)
SW = np.linspace(0.1, 2.0, 30).astype("float32")
FIT = {"epochs": 2, "batch_size": 8, "verbose": 0, "shuffle": False}  # last batch: 6


def _set_weights(model, seed):
    rng = np.random.RandomState(seed)
    model.set_weights([(rng.standard_normal(w.shape) * 0.5).astype("float32")
                       for w in model.get_weights()])
    return model


def _classifier(k, units=3, activation="softmax"):
    model = k.Sequential([k.Input((4,)), k.layers.Dense(5, activation="tanh"),
                          k.layers.Dense(units, activation=activation)])
    return _set_weights(model, 1)


def _three_heads(k):
    inputs = k.Input((4,), name="inp")
    hidden = k.layers.Dense(5, activation="tanh", name="hid")(inputs)
    outputs = [k.layers.Dense(3, activation="softmax", name="cls")(hidden),
               k.layers.Dense(1, activation="sigmoid", name="bin")(hidden),
               k.layers.Dense(1, name="reg")(hidden)]
    return _set_weights(k.Model(inputs, outputs), 3)


def _assert_same_history(ours, theirs, rtol=1e-5):
    assert list(ours) == list(theirs), (list(ours), list(theirs))
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=rtol, atol=1e-6, err_msg=key)


def _both(build, compile_kw, fit_args, fit_kw):
    """History dicts of the same model trained here and in Keras (on torch)."""
    histories = []
    for k in (keras, import_keras()):
        model = build(k)
        kw = {key: (value(k) if callable(value) else value) for key, value in compile_kw.items()}
        model.compile(k.optimizers.SGD(0.1), **kw)
        histories.append(model.fit(*fit_args, **fit_kw).history)
    return histories


# ---------------------------------------------------------------------- per-output losses
LOSSES = ["categorical_crossentropy", "binary_crossentropy", "mse"]


def test_per_output_losses_weigh_batches_by_size_when_eager():
    ours, theirs = _both(_three_heads, {"loss": LOSSES, "run_eagerly": True},
                         (X, [Y_ONEHOT, Y_BIN, Y_REG]), FIT)
    _assert_same_history(ours, theirs)


def test_per_output_losses_weigh_batches_by_size_in_a_traced_step():
    # Keras on TensorFlow counts each batch once in the per-output means of a traced step (its
    # batch size is unknown there); we weigh by size as Keras on torch and JAX do, consistently
    # with `loss` (README: deliberate differences). The last batch is uneven here.
    ours, theirs = _both(_three_heads, {"loss": LOSSES}, (X, [Y_ONEHOT, Y_BIN, Y_REG]), FIT)
    _assert_same_history(ours, theirs)


def test_multi_output_names_weights_and_weighted_metrics_match_keras():
    # (24 samples: even batches, so graph and eager agree on the per-output means)
    x, y = X[:24], [Y_ONEHOT[:24], Y_BIN[:24], Y_REG[:24]]
    compile_kw = {
        "loss": dict(zip(["cls", "bin", "reg"], LOSSES)),
        "loss_weights": {"cls": 0.2, "bin": 1.0, "reg": 3.0},
        "metrics": {"cls": "accuracy", "bin": ["acc", "mse"], "reg": ["mae"]},
        "weighted_metrics": {"cls": ["accuracy"], "reg": "mae"},
    }
    fit_kw = dict(FIT, sample_weight=SW[:24], validation_data=(x, y, SW[::-1][:24].copy()))
    ours, theirs = _both(_three_heads, compile_kw, (x, y), fit_kw)
    _assert_same_history(ours, theirs)

    results = []
    for k in (keras, import_keras()):
        model = _three_heads(k)
        model.compile("sgd", **compile_kw)
        results.append((model.evaluate(x, y, sample_weight=SW[:24], verbose=0),
                        model.evaluate(x, y, verbose=0, return_dict=True), model.metrics_names))
    (ours_list, ours_dict, ours_names), (their_list, their_dict, their_names) = results
    np.testing.assert_allclose(ours_list, their_list, rtol=1e-5)
    _assert_same_history(ours_dict, their_dict)
    assert ours_names == their_names


def _shared(metric):
    return [["accuracy", metric], [], [metric]]  # (one object for two outputs)


@pytest.mark.parametrize("labels", ["all", "with_loss"])
def test_losses_none_for_an_output_and_a_shared_metric_match_keras(labels):
    y = [Y_ONEHOT[:24], Y_BIN[:24], Y_REG[:24]]
    metrics = _shared
    if labels == "with_loss":
        # (y for the outputs that have a loss only; Keras then pairs the metrics with y in
        # order, so only the first output's metrics are comparable)
        y = [y[0], y[2]]
        metrics = lambda m: [["accuracy", m], [], None]  # noqa: E731
    compile_kw = {"loss": ["categorical_crossentropy", None, "mse"],
                  "metrics": lambda k: metrics(k.metrics.MeanAbsoluteError(name="m"))}
    ours, theirs = _both(_three_heads, compile_kw, (X[:24], y), FIT)
    _assert_same_history(ours, theirs)


# ---------------------------------------------------------------------- class_weight
CLASS_WEIGHT = {0: 1.0, 1: 3.0, 2: 0.5}


@pytest.mark.parametrize("labels", ["onehot", "sparse", "sparse_column"])
def test_class_weight_matches_keras(labels):
    y = {"onehot": Y_ONEHOT, "sparse": Y_INT, "sparse_column": Y_INT[:, None]}[labels]
    loss = "categorical_crossentropy" if labels == "onehot" else "sparse_categorical_crossentropy"
    ours, theirs = _both(_classifier, {"loss": loss, "metrics": ["accuracy"],
                                       "weighted_metrics": ["accuracy"]},
                         (X, y), dict(FIT, class_weight=CLASS_WEIGHT, validation_split=0.2))
    _assert_same_history(ours, theirs)


def test_binary_class_weight_with_column_labels_matches_keras():
    ours, theirs = _both(lambda k: _classifier(k, 1, "sigmoid"),
                         {"loss": "binary_crossentropy", "weighted_metrics": ["acc"]},
                         (X, Y_BIN), dict(FIT, class_weight={0: 1.0, 1: 4.0}))
    _assert_same_history(ours, theirs)


# ---------------------------------------------------------------------- sample_weight
def test_per_timestep_sample_weight_from_a_dataset_matches_keras_arrays():
    rng = np.random.RandomState(1)
    xs = rng.rand(12, 5, 3).astype("float32")
    ys = (xs.sum(-1) > 1.5).astype("int32")
    weights = (np.arange(60).reshape(12, 5) % 3 == 0).astype("float32") + 0.25

    def build(k):
        model = k.Sequential([k.Input((5, 3)), k.layers.Dense(4, activation="tanh"),
                              k.layers.Dense(2, activation="softmax")])
        return _set_weights(model, 2)

    compile_kw = {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"],
                  "weighted_metrics": ["accuracy"]}
    K = import_keras()
    theirs = build(K)
    theirs.compile(K.optimizers.SGD(0.1), **compile_kw)
    their_history = theirs.fit(xs, ys, sample_weight=weights, validation_data=(xs, ys, weights),
                               **dict(FIT, batch_size=5)).history
    ours = build(keras)
    ours.compile(keras.optimizers.SGD(0.1), **compile_kw)
    data = tf.data.Dataset.from_tensor_slices((xs, ys, weights)).batch(5)
    our_history = ours.fit(data, epochs=2, validation_data=data, verbose=0).history
    _assert_same_history(our_history, their_history)


def test_zero_sample_weights_report_zero_loss_like_keras():
    ours, theirs = _both(_classifier, {"loss": "categorical_crossentropy",
                                       "weighted_metrics": ["accuracy"]},
                         (X, Y_ONEHOT), dict(FIT, sample_weight=np.zeros(30, "float32")))
    _assert_same_history(ours, theirs)


def test_sum_reduction_loss_validation_freq_and_initial_epoch_match_keras():
    compile_kw = {"loss": lambda k: k.losses.CategoricalCrossentropy(reduction="sum"),
                  "metrics": ["acc"], "weighted_metrics": ["acc"]}
    fit_kw = dict(FIT, epochs=4, initial_epoch=1, sample_weight=SW, validation_freq=2,
                  validation_data=(X[:9], Y_ONEHOT[:9], SW[:9]))
    ours, theirs = _both(_classifier, compile_kw, (X, Y_ONEHOT), fit_kw)
    _assert_same_history(ours, theirs)
