"""keras.layers: the Layer base class, InputLayer and InputSpec (concrete layers are added by
their own modules)."""

from tensorflux.keras.engine.input_layer import Input, InputLayer
from tensorflux.keras.layers.base import InputSpec, Layer

__all__ = ["Input", "InputLayer", "InputSpec", "Layer"]
