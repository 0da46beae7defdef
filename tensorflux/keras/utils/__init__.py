"""keras.utils: Progbar, PyDataset, set_random_seed, the x/y/sample_weight packing helpers,
array helpers (to_categorical, normalize, pad_sequences), dataset builders, image helpers
(Pillow optional), the bounding_boxes helpers, plot_model, FeatureSpace, and Keras's aliases
of keras.saving's registration functions, keras.backend's clear_session/standardize_dtype/
is_keras_tensor and Sequence (PyDataset)."""

import random
import sys

from tensorflux.keras.backend import clear_session, standardize_dtype
from tensorflux.keras.engine.keras_tensor import is_keras_tensor
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
from tensorflux.keras.utils import bounding_boxes, legacy
from tensorflux.keras.utils.config import Config
from tensorflux.keras.utils.dataset_utils import (
    audio_dataset_from_directory,
    image_dataset_from_directory,
    split_dataset,
    text_dataset_from_directory,
)
from tensorflux.keras.utils.feature_space import FeatureSpace
from tensorflux.keras.utils.file_utils import get_file
from tensorflux.keras.utils.image_utils import array_to_img, img_to_array, load_img, save_img
from tensorflux.keras.utils.io_utils import (
    disable_interactive_logging,
    enable_interactive_logging,
    is_interactive_logging_enabled,
)
from tensorflux.keras.utils.model_visualization import model_to_dot, plot_model
from tensorflux.keras.utils.numerical_utils import normalize, to_categorical
from tensorflux.keras.utils.progbar import Progbar
from tensorflux.keras.utils.py_dataset import PyDataset
from tensorflux.keras.utils.sequence_utils import pad_sequences
from tensorflux.keras.utils.timeseries_dataset_utils import timeseries_dataset_from_array

Sequence = PyDataset  # Keras 3 keeps its Keras 2 name as an alias

__all__ = [
    "Config", "CustomObjectScope", "FeatureSpace", "Progbar", "PyDataset",
    "audio_dataset_from_directory",
    "bounding_boxes", "legacy",
    "clear_session",
    "custom_object_scope",
    "deserialize_keras_object", "disable_interactive_logging", "enable_interactive_logging",
    "get_custom_objects", "get_file", "get_registered_name", "get_registered_object",
    "register_keras_serializable", "serialize_keras_object",
    "image_dataset_from_directory", "is_interactive_logging_enabled", "model_to_dot",
    "normalize", "pack_x_y_sample_weight", "pad_sequences", "plot_model", "set_random_seed",
    "split_dataset", "text_dataset_from_directory", "to_categorical", "unpack_x_y_sample_weight",
    "Sequence", "array_to_img", "get_source_inputs", "img_to_array", "is_keras_tensor",
    "load_img", "save_img", "standardize_dtype", "timeseries_dataset_from_array",
]


def set_random_seed(seed):
    """Seeds Python's `random`, NumPy's global generator (when NumPy is loaded) and
    tf.random, so that weight initialization, dropout and fit's shuffling repeat.

    >>> from tensorflux.keras import utils
    >>> utils.set_random_seed(1)
    """
    if not isinstance(seed, int):
        raise ValueError("Expected `seed` argument to be an integer. Received: "
                         f"seed={seed} (of type {type(seed)})")
    import tensorflux as tf

    random.seed(seed)
    # Keras seeds NumPy too; tensorflux.keras never imports NumPy, but user code may rely on it.
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(seed)
    tf.random.set_seed(seed)


def unpack_x_y_sample_weight(data):
    """Splits `x`, `(x,)`, `(x, y)` or `(x, y, sample_weight)` into three values."""
    from tensorflux.keras.trainers.data_adapters import unpack_x_y_sample_weight as unpack

    return unpack(data)


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """Packs x, y and sample_weight into the tuple form fit expects from a dataset."""
    from tensorflux.keras.trainers.data_adapters import pack_x_y_sample_weight as pack

    return pack(x, y, sample_weight)


def get_source_inputs(tensor):
    """The Input KerasTensors that `tensor` was computed from (keras.utils.get_source_inputs).
    """
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        return [tensor]
    node = history[0]._inbound_nodes[history[1]]
    if node.is_input:
        return [tensor]
    found = []
    for parent in node.input_tensors:
        for source in get_source_inputs(parent):
            if all(source is not seen for seen in found):
                found.append(source)
    return found
