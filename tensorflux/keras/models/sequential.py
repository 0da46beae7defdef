"""keras.Sequential: a stack of layers, built (as a Functional graph) once its input shape
is known: from an Input/InputLayer first, an `input_shape` argument, build(), or a first call."""

import copy

from tensorflux.keras.engine.input_layer import InputLayer
from tensorflux.keras.engine.keras_tensor import KerasTensor
from tensorflux.keras.layers.base import Layer, _freeze_shape
from tensorflux.keras.models.functional import Functional
from tensorflux.keras.models.model import Model

__all__ = ["Sequential"]


class Sequential(Model):
    """A linear stack of layers.

    >>> from tensorflux import keras
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Layer(name="noop")],
    ...                          name="seq")
    >>> [layer.name for layer in model.layers], model.built
    (['noop'], True)
    """

    _locks_state = False  # (layers are added after build, as in Keras)

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, layers=None, trainable=True, name=None):
        Model.__init__(self, trainable=trainable, name=name)
        self._functional = None
        self._layers = []
        if layers:
            for layer in layers:
                self.add(layer, rebuild=False)
            self._maybe_rebuild()

    def add(self, layer, rebuild=True):
        """Appends a layer (or the InputLayer of a keras.Input tensor) and rebuilds."""
        if isinstance(layer, KerasTensor) and layer._keras_history is not None:
            origin = layer._keras_history.operation
            if isinstance(origin, InputLayer):
                layer = origin
        if not isinstance(layer, Layer):
            raise ValueError("Only instances of `keras.Layer` can be added to a Sequential "
                             f"model. Received: {layer} (of type {type(layer)})")
        if any(existing.name == layer.name and existing is not layer
               for existing in self._layers):
            raise ValueError("All layers added to a Sequential model should have unique "
                             f"names. Name '{layer.name}' is already the name of a layer in "
                             "this model. Update the `name` argument to pass a unique name.")
        if isinstance(layer, InputLayer) and self._layers and \
                isinstance(self._layers[0], InputLayer):
            raise ValueError(f"Sequential model '{self.name}' has already been configured to "
                             f"use input shape {self._layers[0].batch_shape}. You cannot add "
                             "a different Input layer to it.")
        if not self._layers and not isinstance(layer, InputLayer):
            batch_shape = getattr(layer, "_batch_input_shape_arg", None)
            if batch_shape is not None:
                self._layers.append(InputLayer(batch_shape=batch_shape,
                                               dtype=layer.compute_dtype))
        self._layers.append(layer)
        if rebuild:
            try:
                self._maybe_rebuild()
            except Exception:
                # The layer does not fit: leave the model as it was before `add`.
                self._layers.pop()
                self._maybe_rebuild()
                raise
        else:
            self.built = False
            self._functional = None

    def pop(self, rebuild=True):
        """Removes and returns the last layer."""
        if not self.layers:
            raise IndexError("There are no layers in the model.")  # (Keras 3's type)
        layer = self._layers.pop()
        self.built = False
        self._functional = None
        if rebuild:
            self._maybe_rebuild()
        return layer

    def _maybe_rebuild(self):
        self.built = False
        self._functional = None
        if self._layers and isinstance(self._layers[0], InputLayer) and len(self._layers) > 1:
            self.build(self._layers[0].batch_shape)
        elif (self._layers and len(self._layers) > 1
              and isinstance(self._layers[0], (Functional, Sequential)) and self._layers[0].built):
            # (a built model as the first layer: TF's `Sequential([data_augmentation, ...])`)
            self.build(self._layers[0].input_shape)

    def build(self, input_shape=None):
        input_shape = _freeze_shape(input_shape)
        if not isinstance(input_shape, tuple):
            return
        if not self._layers:
            raise ValueError(f"Sequential model {self.name} cannot be built because it has no "
                             "layers. Call `model.add(layer)`.")
        if isinstance(self._layers[0], InputLayer):
            if self._layers[0].batch_shape != input_shape:
                raise ValueError(f"Sequential model '{self.name}' has already been configured "
                                 f"to use input shape {self._layers[0].batch_shape}. You "
                                 f"cannot build it with input_shape {input_shape}")
        else:
            self._layers = [InputLayer(batch_shape=input_shape,
                                       dtype=self._layers[0].compute_dtype)] + self._layers
        inputs = self._layers[0].output
        x = inputs
        for layer in self._layers[1:]:
            try:
                x = layer(x)
            except NotImplementedError:
                return
        self._functional = Functional(inputs=inputs, outputs=x)
        # (its errors name this model, which the user made, not the inner Functional)
        object.__setattr__(self._functional, "_error_name", f"Sequential '{self.name}'")
        object.__setattr__(self._functional, "_checks_last_axis_only", True)
        self._build_shapes_dict = {"input_shape": input_shape}
        self.built = True

    def call(self, inputs, training=None, mask=None):
        if self._functional is not None:
            return self._functional.call(inputs, training=training, mask=mask)
        outputs = inputs
        for layer in self.layers:
            kwargs = {}
            if layer._call_has_mask_arg and mask is not None:
                kwargs["mask"] = mask
            if layer._call_has_training_arg and training is not None:
                kwargs["training"] = training
            outputs = layer(inputs, **kwargs)
            # Keras masks (Embedding(mask_zero=True), Masking) flow to the next layer.
            mask = layer.compute_mask(inputs, mask) if layer.supports_masking else None
            inputs = outputs
        return outputs

    def _maybe_build(self, args, kwargs, first):
        from tensorflux.keras.engine.keras_tensor import shape_of

        shape = shape_of(first) if first is not None else None
        if shape is not None:
            self.build(shape)
        if not self.built:
            self.built = True

    # ------------------------------------------------------------------ structure
    @property
    def layers(self):
        layers = self._layers
        if layers and isinstance(layers[0], InputLayer):
            return layers[1:]
        return layers[:]

    @layers.setter
    def layers(self, _):
        raise AttributeError("`Model.layers` attribute is reserved and should not be used. "
                             "Please use another name.")

    def _require_functional(self, what):
        if self._functional is None:
            raise AttributeError(f"Sequential model '{self.name}' has no defined {what} yet.")
        return self._functional

    @property
    def input_shape(self):
        return self._require_functional("input shape").input_shape

    @property
    def output_shape(self):
        return self._require_functional("output shape").output_shape

    @property
    def inputs(self):
        return self._require_functional("inputs").inputs

    @property
    def outputs(self):
        return self._require_functional("outputs").outputs

    # Once the model has been called on a symbolic input (it is a layer of an outer model),
    # Keras 3 gives that first call's tensors, as for any layer; before, its own graph's.
    @property
    def input(self):
        if self._inbound_nodes:
            return self._node_attribute("input")
        return self._require_functional("input").input

    @property
    def output(self):
        if self._inbound_nodes:
            return self._node_attribute("output")
        return self._require_functional("output").output

    @property
    def input_dtype(self):
        if self._layers and isinstance(self._layers[0], InputLayer):
            return self._layers[0].dtype
        return super().input_dtype

    def compute_output_shape(self, input_shape):
        if self._functional is not None:
            return self._functional.compute_output_shape(input_shape)
        return super().compute_output_shape(input_shape)

    # ------------------------------------------------------------------ config
    def get_config(self):
        from tensorflux.keras.saving.serialization import serialize_keras_object

        layer_configs = [serialize_keras_object(layer) for layer in self._layers]
        config = Layer.get_config(self)
        config["name"] = self.name
        config["layers"] = copy.deepcopy(layer_configs)
        if self._functional is not None:
            config["build_input_shape"] = self._layers[0].batch_shape
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from tensorflux.keras.saving.serialization import (
            deserialize_keras_object,
            legacy_layer_config,
        )

        if isinstance(config, dict) and "layers" in config:
            name = config.get("name")
            build_input_shape = config.get("build_input_shape")
            layer_configs = config["layers"]
            trainable = config.get("trainable", True)
        else:
            name, build_input_shape, layer_configs, trainable = None, None, config, True
        model = cls(name=name, trainable=trainable)
        for layer_config in layer_configs:
            model.add(deserialize_keras_object(legacy_layer_config(layer_config),
                                               custom_objects=custom_objects))
        if model._functional is None and isinstance(build_input_shape, (tuple, list)):
            model.build(tuple(build_input_shape))
        return model
