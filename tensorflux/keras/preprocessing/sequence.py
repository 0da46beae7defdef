"""keras.preprocessing.sequence: pad_sequences, as keras.utils.pad_sequences."""

from tensorflux.keras.utils.sequence_utils import pad_sequences
from tensorflux.ops._lazy import lazy_attributes

__all__ = ["pad_sequences"]

# tf.keras's legacy names, for `from tensorflow.keras.preprocessing.sequence import ...` written
# with only its import changed (Keras 3's module lacks them, TF's has them); loaded on first use.
_LEGACY = (
    "TimeseriesGenerator", "make_sampling_table", "skipgrams",
)
__getattr__, __dir__ = lazy_attributes(
    __name__, {name: "tensorflux.keras.legacy.preprocessing.sequence" for name in _LEGACY})
