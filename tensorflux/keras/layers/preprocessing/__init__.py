"""keras.layers preprocessing and augmentation layers, one module per family."""

from tensorflux.keras.layers.preprocessing.image import (
    CenterCrop,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
    Resizing,
)
from tensorflux.keras.layers.preprocessing.index_lookup import IntegerLookup, StringLookup
from tensorflux.keras.layers.preprocessing.normalization import Normalization
from tensorflux.keras.layers.preprocessing.text_vectorization import TextVectorization

__all__ = ["CenterCrop", "IntegerLookup", "Normalization", "RandomContrast", "RandomCrop",
           "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "Resizing",
           "StringLookup", "TextVectorization"]
