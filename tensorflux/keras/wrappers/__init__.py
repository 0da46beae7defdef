"""keras.wrappers: scikit-learn estimators around Keras models (needs scikit-learn >= 1.6)."""

from tensorflux.keras.wrappers.sklearn_wrapper import (
    SKLearnClassifier,
    SKLearnRegressor,
    SKLearnTransformer,
)

__all__ = ["SKLearnClassifier", "SKLearnRegressor", "SKLearnTransformer"]


def __getattr__(name):
    if name == "scikit_learn":
        raise AttributeError("keras.wrappers.scikit_learn was removed in Keras 2.12: use "
                             "keras.wrappers.SKLearnClassifier or SKLearnRegressor (scikit-learn "
                             "estimators around a model-building function).")
    raise AttributeError(f"module 'keras.wrappers' has no attribute {name!r}")
