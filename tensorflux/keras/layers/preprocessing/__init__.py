"""keras.layers preprocessing and augmentation layers, one module per family. The augmentation
families added with Keras 3.x (colour, geometric, histogram, mixing, policies) load on first use;
deserialization loads them before resolving a config (saving.serialization)."""

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
from tensorflux.ops._lazy import lazy_attributes

__all__ = ["AugMix", "AutoContrast", "CategoryEncoding", "CenterCrop",
           "ContrastLimitedAdaptiveHistogramEqualization", "CutMix", "Discretization",
           "Equalization", "Hashing", "IntegerLookup", "MaxNumBoundingBoxes", "MixUp",
           "Normalization", "RandAugment", "RandomBrightness", "RandomColorDegeneration",
           "RandomColorJitter", "RandomContrast", "RandomCrop", "RandomElasticTransform",
           "RandomErasing", "RandomFlip", "RandomGaussianBlur", "RandomGrayscale", "RandomHue",
           "RandomInvert", "RandomPerspective", "RandomPosterization", "RandomRotation",
           "RandomSaturation", "RandomSharpness", "RandomShear", "RandomTranslation",
           "RandomZoom", "Resizing", "Solarization", "StringLookup", "TextVectorization"]

# Loaded on first use (AUGMENTATION_MODULES lists them for deserialization).
_LAZY = {
    **{name: "tensorflux.keras.layers.preprocessing.color" for name in (
        "RandomColorDegeneration", "RandomColorJitter", "RandomGaussianBlur", "RandomGrayscale",
        "RandomHue", "RandomInvert", "RandomPosterization", "RandomSaturation", "RandomSharpness",
        "Solarization")},
    **{name: "tensorflux.keras.layers.preprocessing.geometric" for name in (
        "RandomElasticTransform", "RandomPerspective", "RandomShear")},
    **{name: "tensorflux.keras.layers.preprocessing.histogram" for name in (
        "AutoContrast", "ContrastLimitedAdaptiveHistogramEqualization", "Equalization")},
    **{name: "tensorflux.keras.layers.preprocessing.max_num_bounding_boxes" for name in (
        "MaxNumBoundingBoxes",)},
    **{name: "tensorflux.keras.layers.preprocessing.mixing" for name in (
        "CutMix", "MixUp", "RandomErasing")},
    **{name: "tensorflux.keras.layers.preprocessing.policies" for name in (
        "AugMix", "RandAugment")},
}
AUGMENTATION_MODULES = sorted(set(_LAZY.values()))
__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
