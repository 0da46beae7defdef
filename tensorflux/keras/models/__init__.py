"""keras.models: Model, Functional and Sequential."""

from tensorflux.keras.models.functional import Functional
from tensorflux.keras.models.model import Model
from tensorflux.keras.models.sequential import Sequential
from tensorflux.keras.saving.saving_api import load_model, save_model

__all__ = ["Functional", "Model", "Sequential", "load_model", "save_model"]
