"""Metric `_direction` ("up", "down" or none) against real Keras 3, class by class.

Callbacks in mode="auto" read it to know whether a monitored metric should grow or shrink,
so every metric class both libraries define must carry Keras's value exactly.
"""

import inspect

import pytest

from tensorflux.keras import losses, metrics
from tests.keras._oracle import fresh_names, import_keras  # noqa: F401

pytestmark = pytest.mark.keras_oracle
keras = import_keras()

# Values for the constructor arguments some Keras metric classes require.
REQUIRED_ARGUMENTS = {"num_classes": 3, "target_class_ids": [0], "recall": 0.5,
                      "precision": 0.5, "specificity": 0.5, "sensitivity": 0.5}


def _shared_metric_classes():
    return sorted(name for name, _ in inspect.getmembers(keras.metrics, inspect.isclass)
                  if inspect.isclass(getattr(metrics, name, None)))


SHARED = _shared_metric_classes()


def _required(cls):
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return [p.name for p in parameters if p.default is inspect.Parameter.empty
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _instantiate(cls, loss_module):
    kwargs = {}
    for name in _required(cls):
        if name == "fn":
            kwargs[name] = loss_module.mean_squared_error
        elif name in REQUIRED_ARGUMENTS:
            kwargs[name] = REQUIRED_ARGUMENTS[name]
        else:
            raise AssertionError(f"no test value for required argument {name!r} of {cls}")
    return cls(**kwargs)


def test_the_shared_classes_cover_the_common_metrics():
    # Guards the introspection itself: an empty or tiny list would pass vacuously.
    for name in ("MeanAbsoluteError", "CosineSimilarity", "AUC", "F1Score", "R2Score",
                 "TruePositives", "MeanMetricWrapper", "Mean"):
        assert name in SHARED


@pytest.mark.parametrize("name", SHARED)
def test_direction_matches_keras(name):
    theirs = _instantiate(getattr(keras.metrics, name), keras.losses)
    ours = _instantiate(getattr(metrics, name), losses)
    assert getattr(ours, "_direction", None) == getattr(theirs, "_direction", None)
    assert hasattr(ours, "_direction") == hasattr(theirs, "_direction")


def _not_a_loss(y_true, y_pred):
    return y_pred - y_true


@pytest.mark.parametrize("pick", [
    lambda m: m.losses.mean_absolute_error,
    lambda m: m.losses.huber,
    lambda m: m.losses.binary_crossentropy,
    lambda m: m.losses.cosine_similarity,
    lambda m: m.losses.MeanSquaredError(),
    lambda m: m.losses.Huber(delta=0.5),
    lambda m: type("UserLoss", (m.losses.Loss,), {"call": lambda self, a, b: a})(),
    lambda m: m.metrics.binary_accuracy,
    lambda m: _not_a_loss,
], ids=["mae_fn", "huber_fn", "bce_fn", "cosine_loss_fn", "mse_instance", "huber_instance",
        "user_loss_subclass", "accuracy_fn", "custom_fn"])
def test_mean_metric_wrapper_direction_matches_keras(pick):
    from tensorflux import keras as tfk

    theirs = keras.metrics.MeanMetricWrapper(pick(keras))
    ours = tfk.metrics.MeanMetricWrapper(pick(tfk))
    assert getattr(ours, "_direction", None) == getattr(theirs, "_direction", None)


@pytest.mark.parametrize("identifier", ["mse", "mae", "mape", "msle", "cosine_similarity",
                                        "auc", "binary_crossentropy", "hinge", "poisson",
                                        "f1_score", "r2_score", "root_mean_squared_error",
                                        "true_positives"])
def test_direction_of_metrics_found_by_name_matches_keras(identifier):
    theirs = keras.metrics.get(identifier)
    ours = metrics.get(identifier)
    assert type(ours).__name__ == type(theirs).__name__
    assert getattr(ours, "_direction", None) == getattr(theirs, "_direction", None)
