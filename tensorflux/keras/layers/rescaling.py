"""keras.layers.Rescaling: `inputs * scale + offset` (e.g. 1/255 for images)."""

from tensorflux.keras.layers.base import Layer

__all__ = ["Rescaling"]


class Rescaling(Layer):
    """Casts the input to the layer's dtype, then returns `inputs * scale + offset`; `scale`
    and `offset` may be scalars or per-channel lists.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.Rescaling(0.5, offset=1.0)(tf.constant([[2, 4]])).numpy().tolist()
    [[2.0, 3.0]]
    """

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale
        self.offset = offset
        self.supports_masking = True
        self.built = True

    def call(self, inputs):
        import tensorflux as tf

        dtype = self.compute_dtype
        scale = tf.cast(self.scale, dtype)
        offset = tf.cast(self.offset, dtype)
        return tf.cast(inputs, dtype) * scale + offset

    def get_config(self):
        from tensorflux.keras.saving.serialization import serialize_keras_object

        return {**super().get_config(), "scale": serialize_keras_object(self.scale),
                "offset": serialize_keras_object(self.offset)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from tensorflux.keras.saving.serialization import deserialize_keras_object

        config = dict(config)
        for key in ("scale", "offset"):
            if key in config:
                config[key] = deserialize_keras_object(config[key],
                                                       custom_objects=custom_objects)
        return super().from_config(config)
