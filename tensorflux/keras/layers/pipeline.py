"""keras.layers.Pipeline: layers applied one after the other, as one layer (for preprocessing
stacks used in a data pipeline or inside a model)."""

from tensorflux.keras.engine import tree
from tensorflux.keras.layers.base import Layer

__all__ = ["Pipeline"]


class Pipeline(Layer):
    """Calls `layers` in order, passing each one's output (and mask) to the next; unlike a
    Sequential model it is a plain layer, with no training loop of its own.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> pipeline = keras.layers.Pipeline([keras.layers.Rescaling(2.0),
    ...                                   keras.layers.Rescaling(1.0, offset=1.0)])
    >>> pipeline(tf.constant([[1.0, 2.0]])).numpy().tolist()
    [[3.0, 5.0]]
    """

    _allow_non_tensor_positional_args = True

    def __init__(self, layers, name=None):
        super().__init__(name=name)
        self._pipeline_layers = layers
        self.autocast = False  # (each layer converts its own inputs)

    @property
    def layers(self):
        return self._pipeline_layers

    def call(self, inputs, training=True, mask=None):
        outputs = inputs
        for layer in self._pipeline_layers:
            kwargs = {}
            if layer._call_has_mask_arg:
                kwargs["mask"] = mask
            if layer._call_has_training_arg and training is not None:
                kwargs["training"] = training
            outputs = layer(inputs, **kwargs)
            inputs = outputs
            mask = tree.map_structure(lambda t: getattr(t, "_keras_mask", None), outputs)
        return outputs

    def get_config(self):
        from tensorflux.keras.saving.serialization import serialize_keras_object

        # Keras's config: the layers and the name only.
        return {"layers": serialize_keras_object(self._pipeline_layers), "name": self.name}

    @classmethod
    def from_config(cls, config):
        from tensorflux.keras.saving.serialization import deserialize_keras_object

        layers = config.get("layers")
        if not isinstance(layers, (list, tuple)):
            raise ValueError("`Pipeline` config must contain a `layers` key mapping to a list "
                             f"of serialized layers. Received config with layers={layers}.")
        config = {**config, "layers": [deserialize_keras_object(x) for x in layers]}
        return cls(**config)
