"""keras.layers.CategoryEncoding, and the one_hot/multi_hot/count encoding of integer indices
that it shares with Discretization and Hashing."""

from tensorflux.keras.layers.base import Layer, _describe

__all__ = ["CategoryEncoding", "encode_categorical"]


def _tf():
    import tensorflux as tf

    return tf


def _check_range(layer, indices, depth):
    """Keras fails on an index >= depth (negative ones encode to zero rows); checked where
    the values are at hand, i.e. eagerly."""
    from tensorflux.graph.ir import SymbolicTensor

    tf = _tf()
    if not isinstance(indices, SymbolicTensor) and int(tf.size(indices)) and \
            int(tf.reduce_max(indices)) >= depth:
        raise ValueError(f"{_describe(layer)} received index {int(tf.reduce_max(indices))}, "
                         f"but encodes only {depth} categories (indices 0 to {depth - 1})")


def encode_categorical(layer, indices, output_mode, depth, dtype, count_weights=None):
    """Integer `indices` encoded as Keras's encode_categorical_inputs does on its non-TF
    backends: "int" casts; "one_hot" adds a `depth` axis (replacing a last axis of size 1);
    "multi_hot" and "count" reduce axis 1 (axis 0 for a rank-1 input) of the one-hot codes."""
    tf = _tf()
    if output_mode == "int":
        return tf.cast(indices, dtype)
    indices = tf.cast(indices, "int64")
    if indices.shape.rank == 0:
        indices = tf.expand_dims(indices, -1)
    _check_range(layer, indices, depth)
    rank = indices.shape.rank
    if output_mode == "one_hot":
        if rank > 1 and indices.shape[-1] == 1:
            indices = tf.squeeze(indices, -1)
        return tf.one_hot(indices, depth, dtype=dtype)
    axis = 1 if rank > 1 else 0
    if output_mode == "multi_hot":
        return tf.reduce_max(tf.one_hot(indices, depth, dtype=dtype), axis=axis)
    if count_weights is not None:
        hot = tf.one_hot(indices, depth, dtype=count_weights.dtype)
        return tf.reduce_sum(hot * tf.expand_dims(count_weights, -1), axis=axis)
    return tf.reduce_sum(tf.one_hot(indices, depth, dtype=dtype), axis=axis)


class CategoryEncoding(Layer):
    """Encodes integer category indices in [0, num_tokens) as one-hot rows, a multi-hot row
    per sample, or per-sample counts (optionally weighted by `count_weights`).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.CategoryEncoding(num_tokens=4, output_mode="count")
    >>> layer(tf.constant([[0, 1, 1], [3, 3, 2]])).numpy().tolist()
    [[1.0, 2.0, 0.0, 0.0], [0.0, 0.0, 1.0, 2.0]]
    """

    _allow_non_tensor_positional_args = True  # (lists of indices)

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, **kwargs):
        super().__init__(**kwargs)
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode not in ("count", "one_hot", "multi_hot"):
            raise ValueError(f"Unknown arg for output_mode: {output_mode}")
        if num_tokens is None:
            raise ValueError("num_tokens must be set to use this layer. If the number of "
                             "tokens is not known beforehand, use the IntegerLookup layer "
                             "instead.")
        if num_tokens < 1:
            raise ValueError(f"`num_tokens` must be >= 1. Received: num_tokens={num_tokens}.")
        if sparse:
            raise NotImplementedError(f"{_describe(self)}: sparse=True (a SparseTensor output) "
                                      "is not supported by tensorflux")
        self.num_tokens = num_tokens
        self.output_mode = output_mode
        self.sparse = sparse
        self.built = True

    def call(self, inputs, count_weights=None):
        tf = _tf()
        if count_weights is not None:
            if self.output_mode != "count":
                raise ValueError("`count_weights` is not used when `output_mode` is not "
                                 f"`'count'`. Received `count_weights={count_weights}`.")
            count_weights = tf.cast(tf.convert_to_tensor(count_weights), self.compute_dtype)
        inputs = tf.convert_to_tensor(inputs)
        return encode_categorical(self, inputs, self.output_mode, self.num_tokens,
                                  self.compute_dtype, count_weights)

    def get_config(self):
        return {**super().get_config(), "num_tokens": self.num_tokens,
                "output_mode": self.output_mode}
