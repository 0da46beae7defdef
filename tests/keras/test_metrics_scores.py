"""F1Score, FBetaScore and R2Score against real Keras 3: accumulation over several batches,
sample weights, averaging modes, reset, configs, lookup by name, argument errors, and use as
compiled metrics."""

import warnings

import numpy as np
import pytest

from tensorflux.keras import metrics
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

pytestmark = [pytest.mark.keras_oracle,
              pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")]
keras = import_keras()

rng = np.random.default_rng(7)
N, C = 10, 4


def _classification_batches():
    batches = []
    for _ in range(3):
        y_true = rng.integers(0, 2, (N, C)).astype("float32")
        y_pred = rng.uniform(size=(N, C)).astype("float32")
        y_pred[0] = 0.0  # a row of zeros: no positive prediction without a threshold
        y_pred[1, :2] = y_pred[1].max()  # a tie for the row maximum
        batches.append((y_true, y_pred, rng.uniform(0, 2, N).astype("float32")))
    return batches


def _one_hot_batches():
    batches = []
    for _ in range(3):
        y_true = np.eye(C, dtype="float32")[rng.integers(0, C, N)]
        y_pred = rng.dirichlet(np.ones(C), N).astype("float32")
        batches.append((y_true, y_pred, rng.uniform(0, 2, N).astype("float32")))
    return batches


def _regression_batches(columns=3):
    batches = []
    for _ in range(3):
        y_true = rng.normal(size=(N, columns)).astype("float32")
        y_pred = (y_true + 0.5 * rng.normal(size=(N, columns))).astype("float32")
        batches.append((y_true, y_pred, rng.uniform(0, 2, N).astype("float32")))
    return batches


CASES = [
    ("F1Score", {}, _classification_batches),
    ("F1Score", {"threshold": 0.5}, _classification_batches),
    ("F1Score", {"average": "micro"}, _classification_batches),
    ("F1Score", {"average": "macro", "threshold": 0.3}, _classification_batches),
    ("F1Score", {"average": "weighted"}, _one_hot_batches),
    ("FBetaScore", {}, _classification_batches),
    ("FBetaScore", {"beta": 2.0, "threshold": 0.6}, _classification_batches),
    ("FBetaScore", {"beta": 0.5, "average": "micro"}, _one_hot_batches),
    ("FBetaScore", {"beta": 3.0, "average": "macro"}, _classification_batches),
    ("FBetaScore", {"beta": 0.7, "average": "weighted", "threshold": 0.5},
     _classification_batches),
    ("R2Score", {}, _regression_batches),
    ("R2Score", {"class_aggregation": None}, _regression_batches),
    ("R2Score", {"class_aggregation": "variance_weighted_average"}, _regression_batches),
    ("R2Score", {"num_regressors": 2}, _regression_batches),
    ("R2Score", {"class_aggregation": None, "num_regressors": 5}, _regression_batches),
    ("R2Score", {}, lambda: _regression_batches(columns=1)),
]
IDS = [f"{name}-{i}" for i, (name, _, _) in enumerate(CASES)]


def _both(name, kwargs):
    return getattr(metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)


@pytest.mark.parametrize("name,kwargs,make", CASES, ids=IDS)
def test_score_accumulates_like_keras(name, kwargs, make):
    ours, theirs = _both(name, kwargs)
    batches = make()
    for i, (y_true, y_pred, weights) in enumerate(batches):
        sample_weight = weights if i % 2 else None
        ours.update_state(y_true, y_pred, sample_weight=sample_weight)
        theirs.update_state(y_true, y_pred, sample_weight=sample_weight)
        assert_matches(ours.result(), theirs.result(), rtol=1e-5, atol=1e-6,
                       what=f"{name}{kwargs} after batch {i}")
    assert [v.name.split(":")[0] for v in ours.variables] == [v.name for v in theirs.variables]
    assert [tuple(v.shape) for v in ours.variables] == [tuple(v.shape) for v in
                                                        theirs.variables]
    ours.reset_state()
    theirs.reset_state()
    y_true, y_pred, weights = batches[-1]
    ours.update_state(y_true, y_pred, sample_weight=weights)
    theirs.update_state(y_true, y_pred, sample_weight=weights)
    assert_matches(ours.result(), theirs.result(), rtol=1e-5, atol=1e-6,
                   what=f"{name}{kwargs} after reset")
    assert ours.name == theirs.name


@pytest.mark.parametrize("name,kwargs,make", CASES, ids=IDS)
def test_score_config_matches_keras(name, kwargs, make):
    ours, theirs = _both(name, kwargs)
    assert ours.get_config() == theirs.get_config()
    clone = type(ours).from_config(ours.get_config())
    assert clone.get_config() == ours.get_config()
    assert metrics.serialize(ours) == keras.metrics.serialize(theirs)
    revived = metrics.deserialize(keras.metrics.serialize(theirs))
    assert type(revived) is type(ours) and revived.get_config() == ours.get_config()


@pytest.mark.parametrize("identifier", ["f1_score", "F1Score", "f_beta_score", "FBetaScore",
                                        "r2_score", "R2Score"])
def test_scores_found_by_name_like_keras(identifier):
    ours, theirs = metrics.get(identifier), keras.metrics.get(identifier)
    assert type(ours).__name__ == type(theirs).__name__
    assert ours.get_config() == theirs.get_config()


@pytest.mark.parametrize("identifier", ["fbeta_score", "r2", "f1"])
def test_names_keras_does_not_know_are_refused(identifier):
    with pytest.raises(ValueError):
        keras.metrics.get(identifier)
    with pytest.raises(ValueError):
        metrics.get(identifier)


def test_sample_weight_forms_match_keras():
    y_true = rng.normal(size=(N, 2)).astype("float32")
    y_pred = rng.normal(size=(N, 2)).astype("float32")
    for weight in (2.0, rng.uniform(size=(N,)).astype("float32"),
                   rng.uniform(size=(N, 1)).astype("float32"),
                   rng.uniform(size=(N, 2)).astype("float32")):
        ours, theirs = _both("R2Score", {"class_aggregation": None})
        ours.update_state(y_true, y_pred, sample_weight=weight)
        theirs.update_state(y_true, y_pred, sample_weight=weight)
        assert_matches(ours.result(), theirs.result(), rtol=1e-5, atol=1e-6,
                       what=f"R2Score with sample_weight of shape {np.shape(weight)}")


def test_r2_constant_column_and_one_dimensional_rank_fix_match_keras():
    # A column with no variance gives an infinite raw score, reported as 0.
    y_true = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 3.0]], "float32")
    y_pred = np.array([[0.5, 0.2], [1.5, 1.1], [1.0, 2.5]], "float32")
    ours, theirs = _both("R2Score", {"class_aggregation": None})
    ours.update_state(y_true, y_pred)
    theirs.update_state(y_true, y_pred)
    assert_matches(ours.result(), theirs.result(), rtol=1e-5, what="constant column")
    # y_pred of shape (batch,) against y_true of shape (batch, 1) is brought to rank 2.
    ours, theirs = _both("R2Score", {})
    ours.update_state(y_true[:, 1:], y_pred[:, 1])
    theirs.update_state(y_true[:, 1:], y_pred[:, 1])
    assert_matches(ours.result(), theirs.result(), rtol=1e-5, what="rank fix")


@pytest.mark.parametrize("num_regressors", [2, 3])
def test_adjusted_r2_falls_back_and_warns_like_keras(num_regressors):
    # 3 samples of 1 column: 2 regressors divide by zero, 3 are more than the samples.
    y_true = np.array([[1.0], [2.0], [4.0]], "float32")
    y_pred = np.array([[1.5], [2.0], [3.0]], "float32")
    ours, theirs = _both("R2Score", {"num_regressors": num_regressors})
    ours.update_state(y_true, y_pred)
    theirs.update_state(y_true, y_pred)
    with pytest.warns(UserWarning) as ours_warnings:
        ours_result = ours.result()
    with pytest.warns(UserWarning):
        theirs_result = theirs.result()
    assert_matches(ours_result, theirs_result, rtol=1e-5, what="adjusted R2 fallback")
    assert "R2" in str(ours_warnings[0].message)


@pytest.mark.parametrize("name,kwargs", [
    ("FBetaScore", {"average": "samples"}),
    ("FBetaScore", {"beta": 1}),
    ("FBetaScore", {"beta": -1.0}),
    ("FBetaScore", {"threshold": 1}),
    ("FBetaScore", {"threshold": 1.5}),
    ("FBetaScore", {"threshold": 0.0}),
    ("F1Score", {"average": "binary"}),
    ("F1Score", {"threshold": 2.0}),
    ("R2Score", {"class_aggregation": "mean"}),
    ("R2Score", {"num_regressors": -1}),
])
def test_bad_arguments_raise_like_keras(name, kwargs):
    with pytest.raises(ValueError):
        getattr(keras.metrics, name)(**kwargs)
    with pytest.raises(ValueError, match=name[:2]):
        getattr(metrics, name)(**kwargs)


@pytest.mark.parametrize("name", ["F1Score", "R2Score"])
def test_inputs_that_are_not_2d_raise_like_keras(name):
    ours, theirs = _both(name, {})
    y = np.zeros((2, 3, 4), "float32")
    with pytest.raises(ValueError):
        theirs.update_state(y, y)
    with pytest.raises(ValueError, match=f"{name} '.*' expects 2D inputs"):
        ours.update_state(y, y)


def test_scores_as_compiled_metrics_match_keras():
    """The same Dense model, weights and data in both: evaluate() reports the same scores."""
    from tensorflux import keras as tfk

    x = rng.normal(size=(24, 5)).astype("float32")
    labels = np.eye(3, dtype="float32")[rng.integers(0, 3, 24)]

    def build(module, scores):
        model = module.Sequential([module.Input((5,)),
                                   module.layers.Dense(3, activation="softmax")])
        model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=scores(module))
        return model

    def scores(module):
        return [module.metrics.F1Score(average="macro"), "f1_score",
                module.metrics.FBetaScore(beta=2.0, average="weighted", threshold=0.4),
                module.metrics.R2Score()]

    theirs = build(keras, scores)
    ours = build(tfk, scores)
    ours.set_weights(theirs.get_weights())
    theirs_logs = theirs.evaluate(x, labels, batch_size=8, verbose=0, return_dict=True)
    ours_logs = ours.evaluate(x, labels, batch_size=8, verbose=0, return_dict=True)
    assert sorted(ours_logs) == sorted(theirs_logs)
    for key, value in theirs_logs.items():
        assert_matches(np.asarray(ours_logs[key]), np.asarray(value), rtol=1e-4, atol=1e-5,
                       what=key)
    # One training epoch runs with the scores compiled (their variables built lazily).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = ours.fit(x, labels, batch_size=8, epochs=1, verbose=0)
    assert {"f1_score", "fbeta_score", "r2_score"} <= set(history.history)
