"""keras.layers.TextVectorization: standardize, split, ngrams, then a StringLookup.

Splitting gives dense token rows padded with b"" (see ops/strings.py). b"" is the lookup's
mask token, as in Keras: index 0 in "int" mode (TensorFlow's ragged-to-dense padding), left
out of the multi_hot/count/tf_idf encodings, and never learned by adapt(); so the padding and
the empty tokens a custom split can make are treated alike, as Keras treats them.
With `ragged=True` the "int" rows come back unpadded, as a tf.RaggedTensor cut from the
padded indices by the split's row lengths.
"""

from tensorflux.keras.layers.base import Layer, _describe
from tensorflux.keras.layers.preprocessing.index_lookup import (
    StringLookup,
    _adapt_batches,
    _Documents,
    _host_values,
)
from tensorflux.tensor import _is_dense_tensor

__all__ = ["TextVectorization"]

# Keras's DEFAULT_STRIP_REGEX.
_STRIP_REGEX = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'
_STANDARDIZE = (None, "lower_and_strip_punctuation", "lower", "strip_punctuation")


def _tf():
    import tensorflux as tf

    return tf


def _strings():
    from tensorflux.ops import strings

    return strings


class TextVectorization(Layer):
    """Turns strings into token indices (int, padded or cut to output_sequence_length) or
    into multi_hot/count/tf_idf vectors over a vocabulary given or learned by adapt().

    >>> from tensorflux import keras
    >>> layer = keras.layers.TextVectorization(vocabulary=["the", "cat"])
    >>> layer(["The cat, the end."]).numpy().tolist()
    [[2, 3, 2, 1]]
    """

    _allow_non_tensor_positional_args = True  # (lists of strings, numbers)

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation",
                 split="whitespace", ngrams=None, output_mode="int",
                 output_sequence_length=None, pad_to_max_tokens=False, vocabulary=None,
                 idf_weights=None, sparse=False, ragged=False, encoding="utf-8", name=None,
                 **kwargs):
        vocabulary_size = kwargs.pop("vocabulary_size", None)
        super().__init__(name=name, **kwargs)
        if not (standardize in _STANDARDIZE or callable(standardize)):
            raise ValueError(f"Invalid value for argument `standardize`. Expected one of "
                             f"{_STANDARDIZE} or a callable. Received: standardize="
                             f"{standardize}")
        if split not in (None, "whitespace", "character") and not callable(split):
            raise ValueError("Invalid value for argument `split`. Expected one of (None, "
                             f"'whitespace', 'character') or a callable. Received: "
                             f"split={split}")
        if ngrams is not None and not (isinstance(ngrams, int) or (
                isinstance(ngrams, (tuple, list)) and all(isinstance(n, int) for n in ngrams))):
            raise ValueError("`ngrams` must be None, an integer, or a tuple of integers. "
                             f"Received: ngrams={ngrams}")
        if output_mode == "int" and output_sequence_length is not None and \
                output_sequence_length <= 0:
            raise ValueError("`output_sequence_length` must be positive, received "
                             f"{output_sequence_length}")
        if output_sequence_length is not None and output_mode != "int":
            raise ValueError("`output_sequence_length` must not be set if `output_mode` is "
                             f"not 'int'. Received output_sequence_length="
                             f"{output_sequence_length}.")
        if ragged and output_mode != "int":
            raise ValueError("`ragged=True` is only supported with `output_mode='int'`. "
                             f"Received: ragged={ragged} and output_mode={output_mode}")
        self._standardize = standardize
        self._split = split
        self._ngrams_arg = ngrams
        self._ngrams = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else (
            tuple(ngrams) if ngrams is not None else None)
        self._output_mode = output_mode
        self._output_sequence_length = output_sequence_length
        self._ragged = bool(ragged)
        self._encoding = encoding
        self._lookup_layer = StringLookup(
            max_tokens=max_tokens, vocabulary=vocabulary, idf_weights=idf_weights,
            pad_to_max_tokens=pad_to_max_tokens,
            mask_token="", output_mode=output_mode,
            sparse=sparse, encoding=encoding, vocabulary_size=vocabulary_size,
            name=f"{self.name}_lookup")
        self._pad_to_max_tokens = pad_to_max_tokens
        self._max_tokens = max_tokens
        self._has_input_vocabulary = vocabulary is not None  # (not adaptable, as in Keras)
        self.built = True

    @property
    def compute_dtype(self):
        return "string"  # (so a Sequential built from data makes a string Input, as Keras)

    @property
    def variable_dtype(self):
        return "string"

    def _preprocess(self, inputs):
        """The dense tokens (padded with b"") after standardize, split and ngrams."""
        return self._tokens(inputs)[0]

    def _tokens(self, inputs):
        """(tokens, row lengths) after standardize, split and ngrams: the tokens dense and
        padded with b"", the lengths None where there is no split into rows."""
        tf = _tf()
        strings = _strings()
        inputs = _string_tensor(inputs)
        if inputs.dtype.name != "string":
            raise ValueError(f"{_describe(self)} expected string inputs, received dtype "
                             f"{inputs.dtype.name} with shape {tuple(inputs.shape)}")
        if self._standardize in ("lower", "lower_and_strip_punctuation"):
            inputs = strings.lower(inputs)
        if self._standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            inputs = strings.regex_replace(inputs, _STRIP_REGEX, "")
        if callable(self._standardize):
            inputs = self._standardize(inputs)
        if self._split is None:
            return inputs, None
        if inputs.shape.rank > 1:
            if inputs.shape[-1] != 1:
                raise ValueError("When using `TextVectorization` to tokenize strings, the "
                                 "input rank must be 1 or the last shape dimension must be 1. "
                                 f"Received: inputs.shape={tuple(inputs.shape)} with rank="
                                 f"{inputs.shape.rank}")
            inputs = tf.squeeze(inputs, axis=-1)
        if callable(self._split):
            tokens, lengths = self._split(inputs), None
            if isinstance(tokens, tf.RaggedTensor):  # tf.strings.split of a batch, say
                tokens, lengths = tokens.to_tensor(default_value=b""), tokens.row_lengths()
        elif self._split == "character":
            tokens, lengths = _characters(inputs, self._encoding)
        else:
            tokens, lengths = strings.split_padded(inputs)
        if self._ngrams is not None:
            if lengths is None:
                raise NotImplementedError("ngrams after a custom split are not supported")
            tokens, lengths = strings.ngrams_padded(tokens, lengths, self._ngrams, " ")
        return tokens, lengths

    def adapt(self, data, batch_size=None, steps=None):
        """Learns the vocabulary from strings (an array, tensor, list or Dataset): the
        reset_state(), update_state(batch) for each batch, finalize_state() sequence. Data
        taken whole makes one document of each string (tf_idf's document frequencies)."""
        self.reset_state()
        for batch in _adapt_batches(data, steps):
            self.update_state(_column(batch) if batch is data else batch)
        self.finalize_state()

    def update_state(self, data):
        """Adds one batch's tokens (after standardize, split and ngrams) to the lookup's
        adapt state: each row of tokens is one document, a single row is the whole batch."""
        tokens = self._preprocess(data).numpy().tolist()
        if not isinstance(tokens, list):
            rows = [[tokens]]  # one unsplit string
        elif not tokens or not isinstance(tokens[0], list):
            rows = [tokens]  # one string split, or a rank-1 batch without a split
        else:
            rows = tokens
        self._lookup_layer.update_state(
            _Documents([t for t in _host_values(row) if t != b""] for row in rows))

    def reset_state(self):
        self._lookup_layer.reset_state()

    def finalize_state(self):
        self._lookup_layer.finalize_state()

    def call(self, inputs):
        tf = _tf()
        tokens, lengths = self._tokens(inputs)
        lookup = self._lookup_layer
        indices = lookup._lookup(tokens)  # (the padding b"" is the mask: index 0)
        if self._output_mode != "int":
            return lookup._encode(indices, lookup._unmasked(tokens))
        length = self._output_sequence_length
        if self._ragged and lengths is not None and indices.shape.rank == 2 and \
                not _symbolic_trace():
            # Each row cut to its own token count (and to output_sequence_length), unpadded.
            # (A keras.Input trace keeps the padded form: Keras's symbolic output is dense.)
            if length is not None:
                indices = indices[:, :length]
                lengths = tf.minimum(lengths, tf.cast(length, lengths.dtype))
            return tf.RaggedTensor.from_tensor(indices, lengths=lengths)
        if length is not None:
            # Pad by the full length, then cut: static paddings, so it also traces.
            paddings = [[0, 0]] * (indices.shape.rank - 1) + [[0, length]]
            indices = tf.pad(indices, paddings)[..., :length]
            if indices.shape.rank == 2:
                indices = tf.reshape(indices, [-1, length])  # a static last dimension
        return indices

    def compute_output_spec(self, inputs):
        from tensorflux.keras import backend
        from tensorflux.keras.engine.keras_tensor import KerasTensor

        shape = tuple(inputs.shape)
        if len(shape) > 1 and shape[-1] == 1 and self._split is not None:
            shape = shape[:-1]
        if self._output_mode == "int":
            length = None if self._ragged else self._output_sequence_length
            return KerasTensor(shape + (length,), "int64")
        depth = self._max_tokens if self._pad_to_max_tokens else \
            self._lookup_layer.vocabulary_size()
        return KerasTensor(shape[:1] + (depth,), backend.floatx())

    def compute_output_shape(self, input_shape):
        from tensorflux.keras.engine.keras_tensor import KerasTensor

        return tuple(self.compute_output_spec(KerasTensor(tuple(input_shape), "string")).shape)

    def get_vocabulary(self, include_special_tokens=True):
        return self._lookup_layer.get_vocabulary(include_special_tokens)

    def vocabulary_size(self):
        return self._lookup_layer.vocabulary_size()

    def set_vocabulary(self, vocabulary, idf_weights=None):
        self._lookup_layer.set_vocabulary(vocabulary, idf_weights)

    def save_assets(self, dir_path):
        self._lookup_layer.save_assets(dir_path)

    def load_assets(self, dir_path):
        self._lookup_layer.load_assets(dir_path)

    def _save_extra_vars(self):
        return self._lookup_layer._save_extra_vars()

    def _load_extra_vars(self, arrays):
        self._lookup_layer._load_extra_vars(arrays)

    def get_config(self):
        lookup = self._lookup_layer.get_config()
        return {**super().get_config(), "max_tokens": lookup["max_tokens"],
                "standardize": self._standardize, "split": self._split,
                "ngrams": self._ngrams_arg, "output_mode": self._output_mode,
                "output_sequence_length": self._output_sequence_length,
                "pad_to_max_tokens": self._pad_to_max_tokens, "sparse": lookup["sparse"],
                "ragged": self._ragged, "vocabulary": lookup["vocabulary"],
                "idf_weights": lookup["idf_weights"], "encoding": self._encoding,
                "vocabulary_size": self.vocabulary_size()}

    @classmethod
    def from_config(cls, config):
        """A callable standardize/split is saved as its registered name (Keras's function
        config) and looked up again here; model files never carry code."""
        from tensorflux.keras.saving.serialization import deserialize_keras_object

        config = dict(config)
        for key in ("standardize", "split"):
            if isinstance(config.get(key), dict):
                config[key] = deserialize_keras_object(config[key])
        if isinstance(config.get("ngrams"), list):
            config["ngrams"] = tuple(config["ngrams"])
        return cls(**config)


def _symbolic_trace():
    """Whether the call traces keras.Input tensors (to find the output's shape and dtype)."""
    from tensorflux.keras.engine.keras_tensor import trace_state

    return trace_state.depth > 0


def _characters(inputs, encoding):
    """(characters padded with b"", lengths) of a rank-0 or rank-1 string tensor: the
    padded form of tf.strings.unicode_split, computed on the host."""
    tf = _tf()

    def split(values):
        rows = [values] if not hasattr(values, "ndim") or values.ndim == 0 else values.tolist()
        rows = [row.item() if hasattr(row, "item") else row for row in rows]
        pieces = [[c.encode(encoding) for c in row.decode(encoding, "replace")]
                  for row in rows]
        width = max((len(p) for p in pieces), default=0)
        return ([p + [b""] * (width - len(p)) for p in pieces],
                [len(p) for p in pieces])

    tokens, lengths = tf.numpy_function(split, [inputs], Tout=["string", "int64"])
    if inputs.shape.rank == 0:
        return tf.reshape(tokens, [-1]), tf.reshape(lengths, [])
    # The host result has no static shape (and an empty batch comes back as shape (0,)).
    tokens = tf.reshape(tokens, tf.stack([tf.shape(inputs)[0], tf.shape(tokens)[-1]]))
    return tokens, tf.reshape(lengths, [-1])


def _string_tensor(data):
    """data as a tensor: lists and NumPy arrays of str or bytes (NumPy's '<U…' included) as
    strings, as Keras takes them; others as tensors of their own dtype, for the caller to
    refuse."""
    if _is_dense_tensor(data):
        return data
    tf = _tf()
    try:
        return tf.convert_to_tensor(data, dtype="string")
    except TypeError:
        return tf.convert_to_tensor(data)


def _column(data):
    """Strings adapt() takes whole, a rank-1 batch made a column (one document each)."""
    data = _string_tensor(data)
    return _tf().expand_dims(data, -1) if data.shape.rank == 1 else data

