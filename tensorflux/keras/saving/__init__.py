"""keras.saving: object registration and (de)serialization, and model files (`.keras`,
`.weights.h5`, legacy `.h5`), and KerasFileEditor for editing the weights in them."""

from tensorflux.keras.saving.file_editor import KerasFileEditor
from tensorflux.keras.saving.saving_api import load_model, load_weights, save_model, save_weights
from tensorflux.keras.saving.serialization import (
    CustomObjectScope,
    custom_object_scope,
    deserialize_keras_object,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
    serialize_keras_object,
)

__all__ = ["CustomObjectScope", "KerasFileEditor", "custom_object_scope",
           "deserialize_keras_object", "get_custom_objects", "get_registered_name",
           "get_registered_object", "load_model", "load_weights", "register_keras_serializable",
           "save_model", "save_weights", "serialize_keras_object"]
