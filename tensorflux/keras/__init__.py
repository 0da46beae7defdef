"""tensorflux.keras: Keras 3's API, defaults and numerics on the tensorflux core.

Code written for Keras runs with its import changed to `from tensorflux import keras`.
"""

from tensorflux.keras import (
    activations,
    backend,
    callbacks,
    constraints,
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
from tensorflux.keras.engine.name_scope import name_scope
from tensorflux.keras.engine.operation import Operation

# keras.Variable takes Keras's arguments; layer, optimizer and metric variables and tf.Variable
# are all instances of it.
from tensorflux.keras.engine.variables import Variable
from tensorflux.keras.initializers import Initializer
from tensorflux.keras.layers.base import InputSpec, Layer
from tensorflux.keras.losses import Loss
from tensorflux.keras.metrics import Metric
from tensorflux.keras.models import Functional, Model, Sequential
from tensorflux.keras.optimizers import Optimizer
from tensorflux.keras.regularizers import Regularizer

__version__ = "3.15.1"  # the Keras API version this module follows


def version():
    """The Keras API version tensorflux.keras follows ("3.15.1")."""
    return __version__


def device(device_name):
    """`with keras.device("cpu:0"):` (or "gpu:0") runs the ops within on that device, as
    tf.device does."""
    import tensorflux as tf

    return tf.device(device_name)


def remat(f):
    """`f`, recomputed in the backward pass instead of keeping its intermediate values
    (gradient checkpointing: less memory for more compute), as tf.recompute_grad."""
    import tensorflux as tf

    return tf.recompute_grad(f)

# Loaded on first use, so that `from tensorflux import keras` stays fast.
_LAZY = {"applications": "tensorflux.keras.applications",
         "datasets": "tensorflux.keras.datasets",
         "ops": "tensorflux.keras.ops", "random": "tensorflux.keras.random",
         "config": "tensorflux.keras.config", "preprocessing": "tensorflux.keras.preprocessing",
         "dtype_policies": "tensorflux.keras.dtype_policies",
         "mixed_precision": "tensorflux.keras.mixed_precision",
         "tree": "tensorflux.keras.tree", "export": "tensorflux.keras.export",
         "wrappers": "tensorflux.keras.wrappers",
         "distillation": "tensorflux.keras.distillation",
         "distribution": "tensorflux.keras.distribution",
         "quantizers": "tensorflux.keras.quantizers", "legacy": "tensorflux.keras.legacy",
         "visualization": "tensorflux.keras.visualization"}
# Classes loaded on first use too: (module, attribute).
_LAZY_ATTRIBUTES = {"DTypePolicy": ("tensorflux.keras.dtype_policies", "DTypePolicy"),
                    "Function": ("tensorflux.keras.engine.function", "Function"),
                    "FloatDTypePolicy": ("tensorflux.keras.dtype_policies", "FloatDTypePolicy"),
                    "RematScope": ("tensorflux.keras.engine.scopes", "RematScope"),
                    "SymbolicScope": ("tensorflux.keras.engine.scopes", "SymbolicScope"),
                    "StatelessScope": ("tensorflux.keras.engine.stateless_scope",
                                       "StatelessScope"),
                    "Quantizer": ("tensorflux.keras.quantizers", "Quantizer")}


def __getattr__(name):
    import importlib

    module = _LAZY.get(name)
    if module is None:
        if name not in _LAZY_ATTRIBUTES:
            raise AttributeError(f"module 'tensorflux.keras' has no attribute {name!r}")
        module, attribute = _LAZY_ATTRIBUTES[name]
        value = getattr(importlib.import_module(module), attribute)
        globals()[name] = value
        return value
    value = importlib.import_module(module)
    globals()[name] = value
    return value


def __dir__():
    # The lazy modules and classes too, as Keras lists them (tab completion in notebooks).
    return sorted(set(globals()) | set(_LAZY) | set(_LAZY_ATTRIBUTES))


__all__ = ["DTypePolicy", "FloatDTypePolicy", "Function", "Functional", "Initializer", "Input",
           "InputLayer", "InputSpec", "KerasTensor", "Layer", "Loss", "Metric", "Model",
           "Operation", "Optimizer", "Quantizer", "Regularizer", "RematScope", "Sequential",
           "StatelessScope", "SymbolicScope", "Variable", "activations", "applications", "backend",
           "callbacks", "config", "constraints", "datasets", "device", "distillation",
           "distribution", "dtype_policies", "export", "initializers", "layers", "losses",
           "metrics", "mixed_precision", "models", "name_scope", "ops", "optimizers",
           "preprocessing", "quantizers", "random", "regularizers", "remat", "saving", "tree",
           "utils", "version", "visualization", "wrappers"]
