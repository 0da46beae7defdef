"""keras.layers.Hashing: strings or integers to `num_bins` bins by a stable hash.

Keras 3 computes this layer with TensorFlow on every backend (on torch or JAX without
TensorFlow installed, it cannot be constructed): FarmHash Fingerprint64 of each value's string
form modulo the bin count, or keyed SipHash-2-4 when `salt` is given. tensorflux computes the
same two functions in pure Python (tensorflux.ops._string_hash, which tf.strings shares), so
its bins equal Keras's. The hashing runs on the host, also inside traced calls (a model's fit
and predict, Dataset.map), as a host callback.
"""

from tensorflux.keras import backend
from tensorflux.keras.layers.base import Layer, _describe
from tensorflux.keras.layers.preprocessing.category_encoding import encode_categorical
from tensorflux.ops._string_hash import fingerprint64, siphash24

__all__ = ["Hashing"]

_MODES = ("int", "one_hot", "multi_hot", "count")


def _tf():
    import tensorflux as tf

    return tf


def _as_text(value):
    """The bytes TensorFlow's as_string gives a value (floats were truncated to int64)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bool):
        return b"true" if value else b"false"
    return str(int(value)).encode("ascii")


class Hashing(Layer):
    """Hashes each string or integer into one of `num_bins` bins (FarmHash64, or SipHash64
    with `salt`); with `mask_value`, that value goes to bin 0 and the others to bins
    1..num_bins - 1. `output_mode` "one_hot", "multi_hot" or "count" encodes the bins as
    CategoryEncoding does.

    >>> from tensorflux import keras
    >>> layer = keras.layers.Hashing(num_bins=3)
    >>> layer([["A"], ["B"], ["C"], ["D"], ["E"]]).numpy().ravel().tolist()
    [1, 0, 1, 1, 2]
    """

    _allow_non_tensor_positional_args = True  # (lists of strings or numbers)

    def __init__(self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False,
                 **kwargs):
        if kwargs.get("dtype") is None:
            kwargs["dtype"] = "int64" if output_mode == "int" else backend.floatx()
        super().__init__(**kwargs)
        if num_bins is None or num_bins <= 0:
            raise ValueError("The `num_bins` for `Hashing` cannot be `None` or non-positive "
                             f"values. Received: num_bins={num_bins}.")
        if output_mode == "int" and self.dtype not in ("int32", "int64"):
            raise ValueError('When `output_mode="int"`, `dtype` should be an integer type, '
                             f"'int32' or 'in64'. Received: dtype={kwargs['dtype']}")
        if output_mode not in _MODES:
            raise ValueError(f"Invalid value for argument `output_mode`. Expected one of "
                             f"{_MODES}. Received: output_mode={output_mode}")
        if sparse and output_mode == "int":
            raise ValueError('`sparse` may only be true if `output_mode` is `"one_hot"`, '
                             f'`"multi_hot"`, or `"count"`. Received: sparse={sparse} and '
                             f"output_mode={output_mode}")
        if sparse:
            raise NotImplementedError(f"{_describe(self)}: sparse=True (a SparseTensor output) "
                                      "is not supported by tensorflux")
        self.num_bins = num_bins
        self.mask_value = mask_value
        self.strong_hash = salt is not None
        self.output_mode = output_mode
        self.sparse = sparse
        self.salt = None
        if salt is not None:
            if isinstance(salt, (tuple, list)) and len(salt) == 2:
                self.salt = list(salt)
            elif isinstance(salt, int):
                self.salt = [salt, salt]
            else:
                raise ValueError("The `salt` argument for `Hashing` can only be a tuple of size "
                                 f"2 integers, or a single integer. Received: salt={salt}.")
        self.autocast = False  # (float inputs are truncated to integers, not cast)
        self.built = True

    def _bin(self, value, bins):
        text = _as_text(value)
        digest = siphash24(self.salt, text) if self.strong_hash else fingerprint64(text)
        return digest % bins

    def _hash_to_bins(self, inputs):
        from tensorflux import dtypes
        from tensorflux.ops.strings import _elementwise

        tf = _tf()
        bins = self.num_bins
        mask = None
        if self.mask_value is not None and bins > 1:
            bins -= 1
            mask = _as_text(self.mask_value) if isinstance(self.mask_value, (str, bytes)) \
                else self.mask_value
        if inputs.dtype.is_floating:
            inputs = tf.cast(inputs, "int64")

        def to_bin(value):
            if mask is not None and value == mask:
                return 0
            return self._bin(value, bins) + (1 if mask is not None else 0)

        # A host callback per batch, so that traced calls (fit, predict, Dataset.map) hash
        # when they run, as the string ops do.
        return _elementwise("Hashing", inputs, to_bin, dtypes.int64)

    def call(self, inputs):
        tf = _tf()
        if not hasattr(inputs, "dtype"):
            inputs = tf.convert_to_tensor(inputs)
        if self.output_mode == "one_hot" and inputs.shape.rank and inputs.shape[-1] == 1:
            inputs = tf.squeeze(inputs, -1)
        indices = self._hash_to_bins(inputs)
        return encode_categorical(self, indices, self.output_mode, self.num_bins, self.dtype)

    def get_config(self):
        return {**super().get_config(), "num_bins": self.num_bins, "salt": self.salt,
                "mask_value": self.mask_value, "output_mode": self.output_mode,
                "sparse": self.sparse}
