"""keras.layers preprocessing and augmentation layers, one module per family."""

from tensorflux.keras.layers.preprocessing.category_encoding import CategoryEncoding
from tensorflux.keras.layers.preprocessing.discretization import Discretization
from tensorflux.keras.layers.preprocessing.hashing import Hashing
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
from tensorflux.keras.layers.preprocessing.random_brightness import RandomBrightness
from tensorflux.keras.layers.preprocessing.text_vectorization import TextVectorization

__all__ = ["CategoryEncoding", "CenterCrop", "Discretization", "Hashing", "IntegerLookup",
           "Normalization", "RandomBrightness", "RandomContrast", "RandomCrop", "RandomFlip",
           "RandomRotation", "RandomTranslation", "RandomZoom", "Resizing", "StringLookup",
           "TextVectorization"]
