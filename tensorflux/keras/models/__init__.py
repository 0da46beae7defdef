"""keras.models: Model, Functional and Sequential, cloning, and the model file and JSON
entry points."""

from tensorflux.keras.models.cloning import clone_model
from tensorflux.keras.models.functional import Functional
from tensorflux.keras.models.model import Model
from tensorflux.keras.models.sequential import Sequential
from tensorflux.keras.saving.saving_api import load_model, model_from_json, save_model

__all__ = ["Functional", "Model", "Sequential", "clone_model", "load_model",
           "model_from_json", "save_model"]
