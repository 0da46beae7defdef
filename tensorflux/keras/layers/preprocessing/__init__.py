"""keras.layers preprocessing and augmentation layers, one module per family."""

from tensorflux.keras.layers.preprocessing.category_encoding import CategoryEncoding
from tensorflux.keras.layers.preprocessing.color import (
    RandomColorDegeneration,
    RandomColorJitter,
    RandomGaussianBlur,
    RandomGrayscale,
    RandomHue,
    RandomInvert,
    RandomPosterization,
    RandomSaturation,
    RandomSharpness,
    Solarization,
)
from tensorflux.keras.layers.preprocessing.discretization import Discretization
from tensorflux.keras.layers.preprocessing.geometric import (
    RandomElasticTransform,
    RandomPerspective,
    RandomShear,
)
from tensorflux.keras.layers.preprocessing.hashing import Hashing
from tensorflux.keras.layers.preprocessing.histogram import (
    AutoContrast,
    ContrastLimitedAdaptiveHistogramEqualization,
    Equalization,
)
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
from tensorflux.keras.layers.preprocessing.max_num_bounding_boxes import MaxNumBoundingBoxes
from tensorflux.keras.layers.preprocessing.mixing import CutMix, MixUp, RandomErasing
from tensorflux.keras.layers.preprocessing.normalization import Normalization
from tensorflux.keras.layers.preprocessing.policies import AugMix, RandAugment
from tensorflux.keras.layers.preprocessing.random_brightness import RandomBrightness
from tensorflux.keras.layers.preprocessing.text_vectorization import TextVectorization

__all__ = ["AugMix", "AutoContrast", "CategoryEncoding", "CenterCrop",
           "ContrastLimitedAdaptiveHistogramEqualization", "CutMix", "Discretization",
           "Equalization", "Hashing", "IntegerLookup", "MaxNumBoundingBoxes", "MixUp",
           "Normalization", "RandAugment", "RandomBrightness", "RandomColorDegeneration",
           "RandomColorJitter", "RandomContrast", "RandomCrop", "RandomElasticTransform",
           "RandomErasing", "RandomFlip", "RandomGaussianBlur", "RandomGrayscale", "RandomHue",
           "RandomInvert", "RandomPerspective", "RandomPosterization", "RandomRotation",
           "RandomSaturation", "RandomSharpness", "RandomShear", "RandomTranslation",
           "RandomZoom", "Resizing", "Solarization", "StringLookup", "TextVectorization"]
