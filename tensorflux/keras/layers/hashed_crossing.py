"""keras.layers.HashedCrossing: the cross of categorical features hashed into `num_bins` bins.

Keras 3 computes it with TensorFlow's `tf.sparse.cross_hashed` on every backend (without
TensorFlow it cannot be constructed). tensorflux computes the same function in pure Python:
each value's hash (an integer's own 64-bit pattern, a string's FarmHash Fingerprint64) folded
into the key 0xDECAFCAFFE with TensorFlow's FingerprintCat64 (the one copy, in tensorflux.ragged,
that tf.sparse/tf.ragged.cross_hashed use too), modulo the bin count. The hashing runs on the
host: eagerly, or as a host call inside a traced model step.
"""

from tensorflux.keras.layers.base import Layer, _describe
from tensorflux.keras.layers.preprocessing.category_encoding import encode_categorical
from tensorflux.ops._string_hash import fingerprint64

__all__ = ["HashedCrossing"]

_MASK64 = (1 << 64) - 1


def _tf():
    import tensorflux as tf

    return tf


def _feature_hash(value):
    if isinstance(value, bytes):
        return fingerprint64(value)
    if isinstance(value, str):
        return fingerprint64(value.encode("utf-8"))
    return int(value) & _MASK64


def hashed_cross(values, num_bins):
    """The bin of one crossed feature tuple, as tf.sparse.cross_hashed computes it.

    >>> hashed_cross(["A", 101], 5)
    1
    """
    # The fold is tf.ragged/tf.sparse.cross_hashed's own (one copy of the hash); imported
    # here, not at the top, so `from tensorflux import keras` does not load tf.ragged.
    from tensorflux.ragged.ops import _DEFAULT_HASH_KEY, _fingerprint_cat64

    output = _DEFAULT_HASH_KEY
    for value in values:
        output = _fingerprint_cat64(output, _feature_hash(value))
    return output % num_bins


class HashedCrossing(Layer):
    """Crosses two or more categorical features (integers or strings of equal shape `()`,
    `(batch,)` or `(batch, 1)`) and hashes each combination into one of `num_bins` bins;
    `output_mode="one_hot"` one-hot encodes the bins.

    >>> from tensorflux import keras
    >>> layer = keras.layers.HashedCrossing(num_bins=5)
    >>> layer((["A", "B", "A", "B", "A"], [101, 101, 101, 102, 102])).numpy().tolist()
    [1, 4, 1, 1, 3]
    """

    _allow_non_tensor_positional_args = True  # (lists of strings or numbers)

    def __init__(self, num_bins, output_mode="int", sparse=False, name=None, dtype=None,
                 **kwargs):
        if output_mode == "int" and dtype is None:
            dtype = "int64"
        super().__init__(name=name, dtype=dtype, **kwargs)
        if output_mode not in ("int", "one_hot"):
            raise ValueError(f"Invalid value for argument `output_mode`. Expected one of "
                             f"('int', 'one_hot'). Received: output_mode={output_mode}")
        if sparse:
            raise NotImplementedError(f"{_describe(self)}: sparse=True (a SparseTensor output) "
                                      "is not supported by tensorflux")
        self.num_bins = num_bins
        self.output_mode = output_mode
        self.sparse = sparse
        self.autocast = False
        self.built = True

    def _as_tensors(self, inputs):
        tf = _tf()
        if not isinstance(inputs, (list, tuple)):
            raise ValueError("`HashedCrossing` should be called on a list or tuple of inputs. "
                             f"Received: inputs={inputs}")
        if len(inputs) < 2:
            raise ValueError("`HashedCrossing` should be called on at least two inputs. "
                             f"Received: inputs={inputs}")
        tensors = [tf.convert_to_tensor(x) for x in inputs]
        shape = tuple(tensors[0].shape)
        if len(shape) > 2 or (len(shape) == 2 and shape[-1] != 1):
            raise ValueError("All `HashedCrossing` inputs should have shape `()`, "
                             "`(batch_size)` or `(batch_size, 1)`. Received: input shapes "
                             f"{[tuple(x.shape) for x in tensors]}")
        if any(tuple(x.shape) != shape for x in tensors[1:]):
            raise ValueError("All `HashedCrossing` inputs should have equal shape. Received: "
                             f"input shapes {[tuple(x.shape) for x in tensors]}")
        if not all(x.dtype.is_integer or x.dtype.name == "string" for x in tensors):
            raise ValueError("All `HashedCrossing` inputs should have an integer or string "
                             f"dtype. Received: dtypes {[x.dtype.name for x in tensors]}")
        return tensors, shape

    def _bins(self, *values):
        """The int64 bins (a tensor) of feature values of one shape (tensors, or the host
        arrays and scalars of a host call)."""
        tf = _tf()
        tensors = [tf.convert_to_tensor(v) for v in values]
        columns = [tf.reshape(t, [-1]).numpy().tolist() for t in tensors]
        bins = [hashed_cross(row, self.num_bins) for row in zip(*columns)]
        return tf.reshape(tf.constant(bins, "int64"), tensors[0].shape)

    def call(self, inputs):
        tf = _tf()
        tensors, shape = self._as_tensors(inputs)
        # A host call: it runs at once on eager tensors, and is an op of a traced graph (a
        # model's step, Dataset.map), as TensorFlow's cross_hashed kernel is.
        indices = tf.numpy_function(self._bins, tensors, tf.int64, stateful=False)
        indices.set_shape(shape)
        return encode_categorical(self, indices, self.output_mode, self.num_bins, self.dtype)

    def compute_output_shape(self, input_shape):
        # (from the shapes alone, without tracing the host call)
        shape = tuple(input_shape[0])
        if self.output_mode == "int":
            return shape
        if shape and shape[-1] == 1:
            shape = shape[:-1]
        return shape + (self.num_bins,)

    def get_config(self):
        # Keras's config: these five entries only, `dtype` as the plain dtype name.
        return {"num_bins": self.num_bins, "output_mode": self.output_mode,
                "sparse": self.sparse, "name": self.name, "dtype": self.dtype}
