"""keras.metrics against real Keras 3: accumulation over batches, weights, reset, configs."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import errors
from tensorflux.keras import losses, metrics
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

pytestmark = pytest.mark.keras_oracle
keras = import_keras()

rng = np.random.default_rng(1)
N, C = 8, 5


def _batches(kind):
    out = []
    for _ in range(3):
        if kind == "binary":
            y_true = rng.integers(0, 2, (N, 1)).astype("float32")
            y_pred = rng.uniform(size=(N, 1)).astype("float32")
        elif kind == "categorical":
            y_true = np.eye(C, dtype="float32")[rng.integers(0, C, N)]
            y_pred = rng.dirichlet(np.ones(C), N).astype("float32")
        elif kind == "sparse":
            y_true = rng.integers(0, C, (N, 1)).astype("float32")
            y_pred = rng.dirichlet(np.ones(C), N).astype("float32")
        elif kind == "multilabel":
            y_true = rng.integers(0, 2, (N, 3)).astype("float32")
            y_pred = rng.uniform(size=(N, 3)).astype("float32")
        else:
            y_true = rng.normal(size=(N, 3)).astype("float32")
            y_pred = rng.normal(size=(N, 3)).astype("float32")
        weights = rng.uniform(0, 2, N).astype("float32")
        out.append((y_true, y_pred, weights))
    return out


CASES = [
    ("Accuracy", {}, "sparse_exact"),
    ("BinaryAccuracy", {}, "binary"),
    ("BinaryAccuracy", {"threshold": 0.7}, "binary"),
    ("CategoricalAccuracy", {}, "categorical"),
    ("SparseCategoricalAccuracy", {}, "sparse"),
    ("TopKCategoricalAccuracy", {"k": 2}, "categorical"),
    ("SparseTopKCategoricalAccuracy", {"k": 3}, "sparse"),
    ("MeanSquaredError", {}, "regression"),
    ("MeanAbsoluteError", {}, "regression"),
    ("MeanAbsolutePercentageError", {}, "regression"),
    ("MeanSquaredLogarithmicError", {}, "regression"),
    ("RootMeanSquaredError", {}, "regression"),
    ("CosineSimilarity", {}, "regression"),
    ("LogCoshError", {}, "regression"),
    ("Hinge", {}, "binary"),
    ("SquaredHinge", {}, "binary"),
    ("CategoricalHinge", {}, "categorical"),
    ("KLDivergence", {}, "categorical"),
    ("Poisson", {}, "categorical"),
    ("BinaryCrossentropy", {}, "binary"),
    ("BinaryCrossentropy", {"label_smoothing": 0.1}, "binary"),
    ("CategoricalCrossentropy", {}, "categorical"),
    ("SparseCategoricalCrossentropy", {}, "sparse"),
    ("SparseCategoricalCrossentropy", {"ignore_class": 1}, "sparse"),
    ("TruePositives", {}, "binary"),
    ("FalsePositives", {"thresholds": [0.2, 0.5, 0.9]}, "binary"),
    ("TrueNegatives", {}, "binary"),
    ("FalseNegatives", {"thresholds": [0.0, 0.5, 1.0]}, "binary"),
    ("Precision", {}, "binary"),
    ("Precision", {"thresholds": [0.3, 0.6]}, "binary"),
    ("Precision", {"top_k": 2}, "multilabel"),
    ("Recall", {"class_id": 1}, "multilabel"),
    ("Recall", {"thresholds": [0.0, 0.25, 0.5, 0.75, 1.0]}, "binary"),
    ("AUC", {}, "binary"),
    ("AUC", {"curve": "PR"}, "binary"),
    ("AUC", {"summation_method": "majoring", "num_thresholds": 50}, "binary"),
    ("AUC", {"summation_method": "minoring", "curve": "PR"}, "binary"),
    ("AUC", {"curve": "PRGAIN"}, "binary"),
    ("AUC", {"thresholds": [0.1, 0.4, 0.8]}, "binary"),
    ("AUC", {"multi_label": True}, "multilabel"),
    ("AUC", {"multi_label": True, "num_labels": 3, "label_weights": [1.0, 2.0, 0.5]},
     "multilabel"),
    ("AUC", {"label_weights": [2.0]}, "binary"),
    ("AUC", {"from_logits": True}, "regression_binary"),
]


def _data(kind):
    if kind == "sparse_exact":
        return [(rng.integers(0, 3, N).astype("float32"), rng.integers(0, 3, N).astype("float32"),
                 rng.uniform(0, 2, N).astype("float32")) for _ in range(3)]
    if kind == "regression_binary":
        return [(rng.integers(0, 2, (N, 1)).astype("float32"),
                 rng.normal(size=(N, 1)).astype("float32") * 2,
                 rng.uniform(0, 2, N).astype("float32")) for _ in range(3)]
    return _batches(kind)


@pytest.mark.parametrize("name,kwargs,kind", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_metric_accumulates_like_keras(name, kwargs, kind):
    ours = getattr(metrics, name)(**kwargs)
    theirs = getattr(keras.metrics, name)(**kwargs)
    batches = _data(kind)
    for i, (y_true, y_pred, weights) in enumerate(batches):
        sample_weight = weights if i % 2 else None
        ours.update_state(y_true, y_pred, sample_weight=sample_weight)
        theirs.update_state(y_true, y_pred, sample_weight=sample_weight)
        assert_matches(ours.result(), theirs.result(), rtol=2e-6, atol=2e-6,
                       what=f"{name} after batch {i}")
    assert len(ours.variables) == len(theirs.variables)
    for v in ours.variables:
        assert isinstance(v, tf.Variable) and not v.trainable
    ours.reset_state()
    theirs.reset_state()
    assert_matches(ours.result(), theirs.result(), what=f"{name} after reset")
    y_true, y_pred, weights = batches[0]
    ours.update_state(y_true, y_pred, sample_weight=weights)
    theirs.update_state(y_true, y_pred, sample_weight=weights)
    assert_matches(ours.result(), theirs.result(), rtol=2e-6, atol=2e-6,
                   what=f"{name} after reset and update")
    assert ours.name == theirs.name


def _jsonable(config):
    return {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in config.items()}


@pytest.mark.parametrize("name,kwargs,kind", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_metric_config_matches_keras(name, kwargs, kind):
    ours = getattr(metrics, name)(**kwargs)
    theirs = getattr(keras.metrics, name)(**kwargs)
    theirs_config = _jsonable(theirs.get_config())
    if "label_weights" in theirs_config and theirs_config["label_weights"] is not None:
        theirs_config["label_weights"] = keras.ops.convert_to_numpy(
            theirs.get_config()["label_weights"]).tolist()
    assert ours.get_config() == theirs_config
    clone = type(ours).from_config(ours.get_config())
    assert clone.get_config() == ours.get_config()


def test_mean_and_sum_match_keras():
    values = rng.normal(size=(4, 3)).astype("float32")
    weights = rng.uniform(size=(4,)).astype("float32")
    for name in ("Mean", "Sum"):
        ours, theirs = getattr(metrics, name)(), getattr(keras.metrics, name)()
        ours.update_state(values, sample_weight=weights)
        theirs.update_state(values, sample_weight=weights)
        ours.update_state(values[0])
        theirs.update_state(values[0])
        ours.update_state(2.5, sample_weight=3.0)
        theirs.update_state(2.5, sample_weight=3.0)
        assert_matches(ours.result(), theirs.result(), what=name)


def test_mean_metric_wrapper_of_a_function():
    ours = metrics.MeanMetricWrapper(losses.huber, name="huber_metric", delta=0.5)
    theirs = keras.metrics.MeanMetricWrapper(keras.losses.huber, name="huber_metric", delta=0.5)
    for y_true, y_pred, weights in _batches("regression"):
        ours.update_state(y_true, y_pred, sample_weight=weights)
        theirs.update_state(y_true, y_pred, sample_weight=weights)
    assert_matches(ours.result(), theirs.result())


@pytest.mark.parametrize("name,expected", [
    ("accuracy", metrics.Accuracy), ("mse", metrics.MeanSquaredError),
    ("AUC", metrics.AUC), ("auc", metrics.AUC), ("categorical_crossentropy",
                                                 metrics.CategoricalCrossentropy),
    ("binary_accuracy", metrics.BinaryAccuracy), ("top_k_categorical_accuracy",
                                                  metrics.TopKCategoricalAccuracy),
])
def test_get_by_name_matches_keras(name, expected):
    ours = metrics.get(name)
    assert isinstance(ours, expected)
    assert type(keras.metrics.get(name)).__name__ == expected.__name__
    # Keras uniquifies auto-generated names ("auc", "auc_1", ...); the stem is what matters.
    assert ours.name.split("_")[0] == keras.metrics.get(name).name.split("_")[0]


@pytest.mark.parametrize("identifier,y_true,y_pred,expected", [
    ("accuracy", (32, 1), (32, 1), "BinaryAccuracy"),
    ("acc", (32,), (32, 1), "BinaryAccuracy"),
    ("accuracy", (32,), (32, 10), "SparseCategoricalAccuracy"),
    ("acc", (32, 1), (32, 10), "SparseCategoricalAccuracy"),
    ("accuracy", (32, 10), (32, 10), "CategoricalAccuracy"),
    ("Accuracy", (32, 5, 1), (32, 5, 7), "SparseCategoricalAccuracy"),
])
def test_resolve_accuracy_matches_keras_compile(identifier, y_true, y_pred, expected):
    from keras.src.trainers.compile_utils import get_metric

    theirs = get_metric(identifier, keras.KerasTensor(y_true), keras.KerasTensor(y_pred))
    ours = metrics.resolve_accuracy(identifier, None, y_true, y_pred)
    assert type(theirs).__name__ == expected == type(ours).__name__
    assert ours.name == theirs.name == identifier
    assert metrics.resolve_metric(identifier, y_true, y_pred).name == identifier


def test_resolve_accuracy_falls_back_to_the_loss():
    assert isinstance(metrics.resolve_accuracy("acc", "binary_crossentropy", None, (None, None)),
                      metrics.BinaryAccuracy)
    assert isinstance(metrics.resolve_accuracy("acc", losses.SparseCategoricalCrossentropy(),
                                               None, None), metrics.SparseCategoricalAccuracy)


def test_resolve_metric_names_functions_like_keras():
    from keras.src.trainers.compile_utils import get_metric

    shape = keras.KerasTensor((4, 2))
    assert metrics.resolve_metric("mae").name == get_metric("mae", shape, shape).name
    ours = metrics.resolve_metric(losses.mean_squared_error)
    theirs = get_metric(keras.losses.mean_squared_error, shape, shape)
    assert ours.name == theirs.name


def test_metrics_serialize_like_keras():
    ours = metrics.serialize(metrics.AUC(curve="PR"))
    theirs = keras.metrics.serialize(keras.metrics.AUC(curve="PR"))
    assert ours["module"] == theirs["module"] == "keras.metrics"
    assert ours["class_name"] == theirs["class_name"]
    restored = metrics.deserialize(theirs).get_config()
    assert restored == {**metrics.AUC(curve="PR").get_config(), "name": theirs["config"]["name"]}


def test_metric_shape_mismatch_raises_naming_metric():
    m = metrics.MeanSquaredError()
    with pytest.raises(errors.InvalidArgumentError) as info:
        m.update_state(np.zeros((4, 3), "float32"), np.zeros((4, 5), "float32"))
    assert "MeanSquaredError" in str(info.value) and "(4, 3)" in str(info.value)
    with pytest.raises(errors.InvalidArgumentError, match="Precision"):
        metrics.Precision().update_state(np.zeros((4, 3)), np.zeros((4, 5)))


def test_metric_update_inside_function():
    m = metrics.BinaryAccuracy()

    @tf.function
    def step(y_true, y_pred):
        m.update_state(y_true, y_pred)

    y_true, y_pred, _ = _batches("binary")[0]
    step(tf.constant(y_true), tf.constant(y_pred))
    step(tf.constant(y_true), tf.constant(y_pred))
    expected = np.mean((y_pred > 0.5) == (y_true > 0.5))
    assert abs(float(m.result()) - expected) < 1e-6
