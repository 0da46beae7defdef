"""keras.preprocessing: Keras 3's legacy namespace, `image` and `sequence` helpers and the
dataset builders, all mapped onto keras.utils."""

from tensorflux.keras.preprocessing import image, sequence
from tensorflux.keras.utils.dataset_utils import (
    image_dataset_from_directory,
    text_dataset_from_directory,
)
from tensorflux.keras.utils.timeseries_dataset_utils import timeseries_dataset_from_array

__all__ = ["image", "image_dataset_from_directory", "sequence", "text_dataset_from_directory",
           "timeseries_dataset_from_array"]


def __getattr__(name):
    # tf.keras's `text` module (Keras 3 dropped it), for `from tensorflow.keras import
    # preprocessing; preprocessing.text.Tokenizer` written with only its import changed.
    if name == "text":
        import importlib

        return importlib.import_module(f"{__name__}.text")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
