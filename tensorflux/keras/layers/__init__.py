"""keras.layers: the Layer base class, InputLayer and InputSpec (concrete layers are added by
their own modules)."""

from tensorflux.keras.engine.input_layer import Input, InputLayer
from tensorflux.keras.layers.base import InputSpec, Layer

__all__ = ["Input", "InputLayer", "InputSpec", "Layer"]

# ---- core layers (helper "layers"): each module's classes register in the allowlist when
# defined (Layer.__init_subclass__), so importing them here is what makes configs resolve.
from tensorflux.keras.layers.activation_layers import (  # noqa: E402
    ELU,
    LeakyReLU,
    PReLU,
    ReLU,
    Softmax,
)
from tensorflux.keras.layers.core import (  # noqa: E402
    Activation,
    Dense,
    Embedding,
    Identity,
    Lambda,
    Masking,
    ReversibleEmbedding,
    Wrapper,
)
from tensorflux.keras.layers.merging import (  # noqa: E402
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    dot,
    maximum,
    minimum,
    multiply,
    subtract,
)
from tensorflux.keras.layers.normalization import (  # noqa: E402
    BatchNormalization,
    GroupNormalization,
    LayerNormalization,
    RMSNormalization,
    SpectralNormalization,
    UnitNormalization,
)
from tensorflux.keras.layers.regularization import (  # noqa: E402
    ActivityRegularization,
    AlphaDropout,
    Dropout,
    GaussianDropout,
    GaussianNoise,
    SpatialDropout1D,
    SpatialDropout2D,
    SpatialDropout3D,
)
from tensorflux.keras.layers.rescaling import Rescaling  # noqa: E402
from tensorflux.keras.layers.reshaping import (  # noqa: E402
    Flatten,
    Permute,
    RepeatVector,
    Reshape,
)

__all__ += [
    "Activation", "ActivityRegularization", "Add", "Average", "BatchNormalization",
    "Concatenate", "Dense", "Dot", "Dropout", "ELU", "Embedding", "Flatten", "GaussianDropout",
    "GaussianNoise", "GroupNormalization", "Identity", "Lambda", "LayerNormalization",
    "LeakyReLU", "Masking",
    "Maximum", "Minimum", "Multiply", "PReLU", "ReLU", "RepeatVector", "Rescaling", "Reshape",
    "Permute", "Softmax", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
    "Subtract", "UnitNormalization", "add", "average", "concatenate", "dot", "maximum",
    "minimum", "multiply",
    "subtract",
]
__all__ += ["AlphaDropout"]
__all__ += ["RMSNormalization", "ReversibleEmbedding", "SpectralNormalization", "Wrapper"]
# (Keras files these under preprocessing; their modules are tensorflux's own, not the
# preprocessing package's.)
from tensorflux.keras.layers.hashed_crossing import HashedCrossing  # noqa: E402
from tensorflux.keras.layers.pipeline import Pipeline  # noqa: E402
from tensorflux.keras.layers.spectral import MelSpectrogram, STFTSpectrogram  # noqa: E402

__all__ += ["HashedCrossing", "MelSpectrogram", "Pipeline", "STFTSpectrogram"]

# ---- convolution, pooling, padding/cropping/upsampling (helper "conv")
from tensorflux.keras.layers.convolutional import (  # noqa: E402
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    Conv2DTranspose,
    Conv3D,
    Conv3DTranspose,
    Convolution1D,
    Convolution1DTranspose,
    Convolution2D,
    Convolution2DTranspose,
    Convolution3D,
    Convolution3DTranspose,
    DepthwiseConv1D,
    DepthwiseConv2D,
    SeparableConv1D,
    SeparableConv2D,
    SeparableConvolution1D,
    SeparableConvolution2D,
)
from tensorflux.keras.layers.pooling import (  # noqa: E402
    AdaptiveAveragePooling1D,
    AdaptiveAveragePooling2D,
    AdaptiveAveragePooling3D,
    AdaptiveMaxPooling1D,
    AdaptiveMaxPooling2D,
    AdaptiveMaxPooling3D,
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    AvgPool1D,
    AvgPool2D,
    AvgPool3D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAveragePooling3D,
    GlobalAvgPool1D,
    GlobalAvgPool2D,
    GlobalAvgPool3D,
    GlobalMaxPool1D,
    GlobalMaxPool2D,
    GlobalMaxPool3D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    GlobalMaxPooling3D,
    MaxPool1D,
    MaxPool2D,
    MaxPool3D,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
)
from tensorflux.keras.layers.reshaping import (  # noqa: E402
    Cropping1D,
    Cropping2D,
    Cropping3D,
    UpSampling1D,
    UpSampling2D,
    UpSampling3D,
    ZeroPadding1D,
    ZeroPadding2D,
    ZeroPadding3D,
)

__all__ += [
    "AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "AvgPool1D", "AvgPool2D",
    "AvgPool3D", "Conv1D", "Conv1DTranspose", "Conv2D", "Conv2DTranspose", "Conv3D",
    "Convolution1D", "Convolution1DTranspose", "Convolution2D", "Convolution2DTranspose",
    "Convolution3D", "Cropping1D", "Cropping2D", "DepthwiseConv2D", "GlobalAveragePooling1D",
    "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalAvgPool1D", "GlobalAvgPool2D",
    "GlobalAvgPool3D", "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPool3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "MaxPool1D", "MaxPool2D",
    "MaxPool3D", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "SeparableConv1D",
    "SeparableConv2D", "SeparableConvolution1D", "SeparableConvolution2D",
    "UpSampling1D", "UpSampling2D", "ZeroPadding1D", "ZeroPadding2D",
]
__all__ += ["AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D",
            "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D",
            "Conv3DTranspose", "Convolution3DTranspose", "Cropping3D", "DepthwiseConv1D",
            "UpSampling3D", "ZeroPadding3D"]

# ---- recurrent layers (helper "rnn")
from tensorflux.keras.layers.rnn import (  # noqa: E402
    GRU,
    LSTM,
    RNN,
    Bidirectional,
    ConvLSTM2D,
    GRUCell,
    LSTMCell,
    SimpleRNN,
    SimpleRNNCell,
    StackedRNNCells,
    TimeDistributed,
)
from tensorflux.keras.layers.rnn.conv_lstm import ConvLSTM1D, ConvLSTM3D  # noqa: E402

__all__ += ["Bidirectional", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "GRU", "GRUCell", "LSTM",
            "LSTMCell", "RNN", "SimpleRNN", "SimpleRNNCell", "StackedRNNCells",
            "TimeDistributed"]

# ---- attention (helper "attention")
from tensorflux.keras.layers.attention import (  # noqa: E402
    AdditiveAttention,
    Attention,
    GroupQueryAttention,
    MultiHeadAttention,
)
from tensorflux.keras.layers.einsum_dense import EinsumDense  # noqa: E402

__all__ += ["AdditiveAttention", "Attention", "EinsumDense", "GroupQueryAttention",
            "MultiHeadAttention"]

# ---- preprocessing and augmentation (helper "preprocessing")
from tensorflux.keras.layers.preprocessing import (  # noqa: E402
    CategoryEncoding,
    CenterCrop,
    Discretization,
    Hashing,
    IntegerLookup,
    Normalization,
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
    Resizing,
    StringLookup,
    TextVectorization,
)

__all__ += [
    "AugMix", "AutoContrast", "CategoryEncoding", "CenterCrop",
    "ContrastLimitedAdaptiveHistogramEqualization", "CutMix", "Discretization",
    "Equalization", "Hashing", "IntegerLookup", "MaxNumBoundingBoxes", "MixUp",
    "Normalization", "RandAugment", "RandomBrightness", "RandomColorDegeneration",
    "RandomColorJitter", "RandomContrast", "RandomCrop", "RandomElasticTransform",
    "RandomErasing", "RandomFlip", "RandomGaussianBlur", "RandomGrayscale", "RandomHue",
    "RandomInvert", "RandomPerspective", "RandomPosterization", "RandomRotation",
    "RandomSaturation", "RandomSharpness", "RandomShear", "RandomTranslation", "RandomZoom",
    "Resizing", "Solarization", "StringLookup", "TextVectorization",
]

# (the augmentation families that load on first use: see layers/preprocessing/__init__.py)
from tensorflux.keras.layers import preprocessing as _preprocessing  # noqa: E402
from tensorflux.ops._lazy import lazy_attributes  # noqa: E402

_lazy_getattr, __dir__ = lazy_attributes(__name__, _preprocessing._LAZY)


def __getattr__(name):
    # tf.keras's Keras 2 layers (ThresholdedReLU, RandomHeight, RandomWidth), for `from
    # tensorflow.keras.layers import ThresholdedReLU` written with only its import changed;
    # loaded on first use and kept out of dir(), which stays Keras 3's.
    if name in ("RandomHeight", "RandomWidth", "ThresholdedReLU"):
        from tensorflux.keras.legacy import layers as legacy

        return getattr(legacy, name)
    return _lazy_getattr(name)


def serialize(layer):
    """A layer's Keras 3 config dict (keras.layers.serialize)."""
    from tensorflux.keras.saving.serialization import serialize_keras_object

    return serialize_keras_object(layer)


def deserialize(config, custom_objects=None):
    """A layer from its Keras config dict (keras.layers.deserialize): classes resolve
    through tensorflux's allowlist and registered objects only."""
    from tensorflux.keras.saving.serialization import deserialize_keras_object

    return deserialize_keras_object(config, custom_objects=custom_objects)


__all__ += ["deserialize", "serialize"]
