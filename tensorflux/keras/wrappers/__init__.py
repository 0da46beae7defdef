"""keras.wrappers: scikit-learn estimators around Keras models (needs scikit-learn >= 1.6)."""

from tensorflux.keras.wrappers.sklearn_wrapper import (
    SKLearnClassifier,
    SKLearnRegressor,
    SKLearnTransformer,
)

__all__ = ["SKLearnClassifier", "SKLearnRegressor", "SKLearnTransformer"]
