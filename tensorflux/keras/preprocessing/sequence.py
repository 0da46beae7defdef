"""keras.preprocessing.sequence: pad_sequences, as keras.utils.pad_sequences."""

from tensorflux.keras.utils.sequence_utils import pad_sequences

__all__ = ["pad_sequences"]


def __getattr__(name):
    """tf.keras's legacy names (TimeseriesGenerator, ...), for `from tensorflow.keras.preprocessing.
    sequence import ...` written with only its import changed: Keras 3's module lacks them, TF's
    has them."""
    from tensorflux.keras.legacy.preprocessing import sequence as legacy

    if not name.startswith("__") and name in legacy.__all__:
        return getattr(legacy, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
