"""tf.keras.layers.experimental.preprocessing (TF 2.3-2.15): the stable preprocessing layers
under their Keras 2 path (see tensorflux.keras.layers.experimental)."""

from tensorflux.keras.layers import (
    CategoryEncoding,
    CenterCrop,
    Discretization,
    HashedCrossing,
    Hashing,
    IntegerLookup,
    Normalization,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomHeight,
    RandomRotation,
    RandomTranslation,
    RandomWidth,
    RandomZoom,
    Rescaling,
    Resizing,
    StringLookup,
    TextVectorization,
)

# TF 2.15's names here, less PreprocessingLayer (below).
__all__ = [
    "CategoryEncoding", "CenterCrop", "Discretization", "HashedCrossing", "Hashing",
    "IntegerLookup", "Normalization", "RandomContrast", "RandomCrop", "RandomFlip",
    "RandomHeight", "RandomRotation", "RandomTranslation", "RandomWidth", "RandomZoom",
    "Rescaling", "Resizing", "StringLookup", "TextVectorization",
]

_REMOVED = {
    "PreprocessingLayer": "Keras 3 has no public PreprocessingLayer base: subclass "
                          "keras.layers.Layer, and give it an `adapt(data)` method if it "
                          "learns state from data",
}


def __getattr__(name):
    hint = _REMOVED.get(name)
    raise AttributeError("module 'tf.keras.layers.experimental.preprocessing' has no "
                         f"attribute {name!r}" + (f" ({hint})" if hint else ""))
