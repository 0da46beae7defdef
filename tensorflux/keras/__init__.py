"""tensorflux.keras: Keras 3's API on the tensorflux core (minimal until the lead assembles it)."""

from tensorflux.keras import backend, layers, models, saving
from tensorflux.keras.engine.input_layer import Input, InputLayer
from tensorflux.keras.engine.keras_tensor import KerasTensor
from tensorflux.keras.layers.base import Layer
from tensorflux.keras.models import Functional, Model, Sequential

__all__ = ["Functional", "Input", "InputLayer", "KerasTensor", "Layer", "Model", "Sequential",
           "backend", "layers", "models", "saving"]
