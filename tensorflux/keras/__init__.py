"""tensorflux.keras: Keras 3's API, defaults and numerics on the tensorflux core.

Code written for Keras runs with its import changed to `from tensorflux import keras`.
"""

from tensorflux.keras import (
    activations,
    applications,
    backend,
    callbacks,
    constraints,
    datasets,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    regularizers,
    saving,
    utils,
)
from tensorflux.keras.engine.input_layer import Input, InputLayer
from tensorflux.keras.engine.keras_tensor import KerasTensor
from tensorflux.keras.layers.base import Layer
from tensorflux.keras.models import Functional, Model, Sequential

__version__ = "3.15.1"  # the Keras API version this module follows

__all__ = ["Functional", "Input", "InputLayer", "KerasTensor", "Layer", "Model", "Sequential",
           "activations", "applications", "backend", "callbacks", "constraints", "datasets",
           "initializers", "layers", "losses", "metrics", "models", "optimizers", "regularizers",
           "saving", "utils"]
