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
