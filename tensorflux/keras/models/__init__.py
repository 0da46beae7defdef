"""keras.models: Model, Functional and Sequential."""

from tensorflux.keras.models.functional import Functional
from tensorflux.keras.models.model import Model
from tensorflux.keras.models.sequential import Sequential

__all__ = ["Functional", "Model", "Sequential"]
