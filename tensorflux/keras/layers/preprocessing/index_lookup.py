"""keras.layers.StringLookup and IntegerLookup: vocabularies (given or adapted) mapped to
indices, or to multi_hot/count/one_hot/tf_idf encodings, and back with invert=True.

Index layout as Keras: [mask token, in "int" mode] + num_oov_indices OOV slots + the
vocabulary; the other modes leave masked inputs out. With more than one OOV slot, integers go
to slot `x mod num_oov_indices`; strings (and integers with oov_method="farmhash", as their
decimal text) to their FarmHash Fingerprint64 bucket, or their SipHash bucket under a salt,
TensorFlow's tf.strings.to_hash_bucket_fast/_strong.
adapt() counts tokens on the host (Python lists of the data's values) and orders them by
count, ties by the token, both descending (Keras's lexsort).
"""

import math
import os
from collections import Counter

from tensorflux.keras import backend
from tensorflux.keras.layers.base import Layer, _describe

__all__ = ["IntegerLookup", "StringLookup"]

_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")


def _tf():
    import tensorflux as tf

    return tf


def _strings():
    from tensorflux.ops import strings

    return strings


def _host_values(data):
    """The flat Python values of an array, tensor or (nested) list."""
    if hasattr(data, "numpy"):
        data = data.numpy()
    if hasattr(data, "tolist"):
        data = data.tolist()
    if isinstance(data, (list, tuple)):
        values = []
        for item in data:
            values.extend(_host_values(item) if isinstance(item, (list, tuple)) or
                          hasattr(item, "tolist") else [item])
        return values
    return [data]


def _adapt_batches(data, steps=None):
    """The batches adapt() reads, as Keras: a Dataset's (the first `steps`, the features of
    (features, labels) pairs), an iterable's such as a generator (the first `steps`), or
    the data itself (an array, tensor or list)."""
    if hasattr(data, "element_spec") and hasattr(data, "batch"):
        for batch in data if steps is None else data.take(steps):
            yield batch[0] if isinstance(batch, tuple) else batch
        return
    whole = isinstance(data, (list, tuple, str, bytes)) or hasattr(data, "numpy") or \
        hasattr(data, "tolist") or hasattr(data, "flat_values")
    if whole or not hasattr(data, "__iter__"):
        yield data
        return
    for i, batch in enumerate(data):
        if steps is not None and i >= steps:
            return
        yield batch


def _rows(data):
    """Documents (one list of tokens each) of data adapt() takes whole: each row of a
    rank >= 2 array one, each element of a rank-1 array one (Keras's column expansion)."""
    if hasattr(data, "numpy"):
        data = data.numpy()
    if hasattr(data, "tolist"):
        data = data.tolist()
    if not isinstance(data, (list, tuple)):
        return [[data]]
    return [_host_values(row) if isinstance(row, (list, tuple)) else [row] for row in data]


def _batch_documents(data):
    """Documents of one update_state() batch, as Keras counts them: a scalar or rank-1
    batch is one document; each row of a rank >= 2 (or ragged) batch is one."""
    if isinstance(data, _Documents):
        return data
    if hasattr(data, "to_list"):  # a RaggedTensor
        data = data.to_list()
    elif hasattr(data, "numpy"):
        data = data.numpy()
    if hasattr(data, "tolist"):
        data = data.tolist()
    if not isinstance(data, (list, tuple)):
        return [[data]]
    if not any(isinstance(row, (list, tuple)) for row in data):
        return [list(data)]
    return [_host_values(row) if isinstance(row, (list, tuple)) else [row] for row in data]


class _Documents(list):
    """Token rows, one document each, as TextVectorization hands them to its lookup."""


class _IndexLookup(Layer):
    _string = True
    _allow_non_tensor_positional_args = True  # (lists of strings, numbers)

    def __init__(self, max_tokens, num_oov_indices, mask_token, oov_token, vocabulary_dtype,
                 vocabulary=None, idf_weights=None, invert=False, output_mode="int",
                 sparse=False, pad_to_max_tokens=False, oov_method="floormod", salt=None,
                 **kwargs):
        # The vocabulary size a saved config records: the encodings' depth until the
        # vocabulary itself is loaded from the assets.
        frozen_size = kwargs.pop("vocabulary_size", None)
        super().__init__(**kwargs)
        if max_tokens is not None and max_tokens <= 1:
            raise ValueError("If set, `max_tokens` must be greater than 1. Received: "
                             f"max_tokens={max_tokens}")
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError("If pad_to_max_tokens is True, must set `max_tokens`. Received: "
                             f"max_tokens={max_tokens}")
        if num_oov_indices < 0:
            raise ValueError("`num_oov_indices` must be greater than or equal to 0. "
                             f"Received: num_oov_indices={num_oov_indices}")
        if oov_method not in ("floormod", "farmhash"):
            raise ValueError(f"Unknown value for `oov_method` argument of "
                             f"{type(self).__name__}. Allowed values are: ('floormod', "
                             f"'farmhash'). Received: oov_method={oov_method}")
        salt = _salt(salt, self._string or oov_method == "farmhash")
        if output_mode not in _MODES:
            raise ValueError(f"Invalid value for argument `output_mode`. Expected one of "
                             f"{_MODES}. Received: output_mode={output_mode}")
        if invert and output_mode != "int":
            raise ValueError("`output_mode` must be `'int'` when `invert` is true. Received: "
                             f"output_mode={output_mode}")
        if sparse:
            raise NotImplementedError("sparse outputs are not supported by tensorflux")
        if idf_weights is not None and output_mode != "tf_idf":
            raise ValueError("`idf_weights` should only be set if `output_mode` is "
                             f"`'tf_idf'`. Received: output_mode={output_mode}")
        self.max_tokens = max_tokens
        self.num_oov_indices = num_oov_indices
        self.mask_token = mask_token
        self.oov_token = oov_token
        self.vocabulary_dtype = vocabulary_dtype
        self.invert = invert
        self.output_mode = output_mode
        self.sparse = sparse
        self.pad_to_max_tokens = pad_to_max_tokens
        self.oov_method = oov_method
        self.salt = salt
        self._frozen_vocab_size = frozen_size
        self._tokens = []
        self._idf = None
        self._loaded_idf = None
        # A vocabulary file is saved as the vocabulary.txt asset, not as its path (as Keras):
        # the model file then loads anywhere, and loading never reads a path it names.
        self._vocabulary_arg = None if isinstance(vocabulary, str) else vocabulary
        self._idf_weights_arg = idf_weights
        self._keys = None
        self._has_vocabulary = False  # until set_vocabulary, adapt or a load
        # A vocabulary given to the constructor makes the layer non-adaptable, as in Keras
        # (set_vocabulary later does not).
        self._has_input_vocabulary = vocabulary is not None
        self._token_counts = Counter()  # adapt state: update_state adds, finalize_state uses
        self._document_counts = Counter()
        self._num_documents = 0
        self.built = True
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    @property
    def compute_dtype(self):
        # (a Sequential built from data makes an Input of this dtype, as Keras)
        return "string" if self._string else self.vocabulary_dtype

    @property
    def variable_dtype(self):
        return self.compute_dtype

    # ------------------------------------------------------------------ vocabulary
    def _masks_to_slot(self):
        """Whether the mask token has index 0: in "int" mode; the encodings drop it."""
        return self.mask_token is not None and self.output_mode == "int"

    def _token_start_index(self):
        return int(self._masks_to_slot()) + self.num_oov_indices

    def _normalize_token(self, token):
        return token

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Sets the vocabulary (a list, array or tensor, or a file path of lines for
        StringLookup); with special tokens first it must match this layer's layout."""
        if isinstance(vocabulary, str):
            from tensorflux.keras.saving.serialization import in_safe_mode

            if in_safe_mode():  # a path in a model file must not read the user's files
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': the config asks to read the "
                    f"vocabulary file {vocabulary!r}, outside the model archive. Loading "
                    "refuses it, since a model file could read any local file that way; pass "
                    "safe_mode=False to the loading function if you trust the file.")
            with open(vocabulary, encoding="utf-8") as handle:
                vocabulary = [line.rstrip("\n") for line in handle]
        tokens = [self._normalize_token(t) for t in _host_values(vocabulary)]
        specials = self._special_tokens()
        if tokens[:len(specials)] == specials and specials:
            tokens = tokens[len(specials):]
        if len(set(tokens)) != len(tokens):
            repeated = sorted({self._decode(t) for t in tokens if tokens.count(t) > 1})
            raise ValueError(f"The passed vocabulary has at least one repeated term. Please "
                             f"uniquify your dataset. The repeated terms are: {repeated}")
        # (the OOV token is reserved only where invert maps indices back to it)
        reserved = [] if self.mask_token is None else [self._normalize_token(self.mask_token)]
        if self.invert:
            reserved.append(self._normalize_token(self.oov_token))
        for special in reserved:
            if special in tokens:
                raise ValueError(
                    f"Found reserved token {self._decode(special)!r} at unexpected location "
                    f"in `vocabulary` (index {tokens.index(special)}). The vocabulary need not "
                    "include the OOV and mask tokens: either remove them, or put them only at "
                    f"its start, in this order: {[self._decode(t) for t in specials]}.")
        if self.max_tokens is not None and \
                len(tokens) + self._token_start_index() > self.max_tokens:
            raise ValueError(f"Attempted to set a vocabulary larger than the maximum vocab "
                             f"size. Received vocabulary size is "
                             f"{len(tokens) + self._token_start_index()}; `max_tokens` is "
                             f"{self.max_tokens}.")
        self._tokens = tokens
        self._keys = None
        self._has_vocabulary = True
        self._frozen_vocab_size = self.vocabulary_size()
        if self.output_mode == "tf_idf":
            if idf_weights is None:
                raise ValueError("When specifying the `vocabulary` argument, in TF-IDF "
                                 "output mode, the `idf_weights` argument must also be "
                                 "provided.")
            weights = [float(w) for w in _host_values(idf_weights)]
            if len(weights) == len(tokens) + self._token_start_index():
                weights = weights[self._token_start_index():]
            if len(weights) != len(tokens):
                raise ValueError(f"`idf_weights` must be the same length as vocabulary. "
                                 f"len(idf_weights) is {len(weights)}; len(vocabulary) is "
                                 f"{len(tokens)}")
            self._set_idf(weights)

    def _set_idf(self, weights):
        mean = sum(weights) / len(weights) if weights else 0.0
        idf = [mean] * self._token_start_index() + list(weights)
        if self.pad_to_max_tokens and self.max_tokens is not None:
            idf += [0.0] * (self.max_tokens - len(idf))
        self._idf = idf

    def _special_tokens(self):
        specials = [self._normalize_token(self.mask_token)] if self._masks_to_slot() else []
        return specials + [self._normalize_token(self.oov_token)] * self.num_oov_indices

    def get_vocabulary(self, include_special_tokens=True):
        """The tokens by index (special tokens first unless include_special_tokens=False)."""
        tokens = [self._decode(t) for t in self._tokens]
        if not include_special_tokens:
            return tokens
        return [self._decode(t) for t in self._special_tokens()] + tokens

    def _decode(self, token):
        return token

    def vocabulary_size(self):
        return len(self._tokens) + self._token_start_index()

    def _depth(self):
        """The width of multi_hot/count/one_hot/tf_idf outputs."""
        if self.pad_to_max_tokens:
            return self.max_tokens
        if not self._tokens and self._frozen_vocab_size is not None:
            return self._frozen_vocab_size
        return self.vocabulary_size()

    def adapt(self, data, steps=None):
        """Learns the vocabulary (and document frequencies for tf_idf) from data: the
        reset_state(), update_state(batch) for each batch, finalize_state() sequence."""
        self.reset_state()
        for batch in _adapt_batches(data, steps):
            # (data taken whole counts each element of a rank-1 array as a document)
            self.update_state(batch if batch is not data or isinstance(data, _Documents)
                              else _Documents(_rows(data)))
        self.finalize_state()

    def update_state(self, data):
        """Adds one batch's token counts (and, for tf_idf, its documents) to the adapt
        state; finalize_state() turns the counts into the vocabulary."""
        if self._has_input_vocabulary:
            raise ValueError(f"Cannot adapt layer '{self.name}' after setting a static "
                             "vocabulary via the `vocabulary` argument.")
        documents = [[self._normalize_token(t) for t in doc]
                     for doc in _batch_documents(data)]
        for document in documents:
            self._token_counts.update(document)
        if self.output_mode == "tf_idf":
            for document in documents:
                self._document_counts.update(set(document))
            self._num_documents += len(documents)

    def reset_state(self):
        """Clears the counts update_state() gathered (the vocabulary stays)."""
        if self._has_input_vocabulary:
            return
        self._token_counts = Counter()
        self._document_counts = Counter()
        self._num_documents = 0

    def finalize_state(self):
        """Sets the vocabulary from the gathered counts: tokens by count, ties by the token,
        both descending, cut to max_tokens; tf_idf weights from the document counts. With
        nothing gathered (or a vocabulary given to the constructor) it changes nothing."""
        counts = self._token_counts
        for special in (self.mask_token, self.oov_token):  # never learned, as Keras
            if special is not None:
                counts.pop(self._normalize_token(special), None)
        if self._has_input_vocabulary or not counts:
            return
        ordered = sorted(counts.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
        if self.max_tokens:
            ordered = ordered[:self.max_tokens - self._token_start_index()]
        self._tokens = [token for token, _ in ordered]
        self._keys = None
        self._has_vocabulary = True
        self._frozen_vocab_size = self.vocabulary_size()
        if self.output_mode == "tf_idf":
            documents, frequency = self._num_documents, self._document_counts
            self._set_idf([math.log(1 + documents / (1 + frequency[t]))
                           for t in self._tokens])
        self.reset_state()

    # ------------------------------------------------------------------ saving
    def save_assets(self, dir_path):
        """Writes assets/<path>/vocabulary.txt as Keras does: every token of
        get_vocabulary() (special tokens included) as str(), joined by newlines, no final
        newline. A vocabulary given to the constructor lives in the config instead."""
        if self._vocabulary_arg is not None:
            return
        vocabulary = self.get_vocabulary(include_special_tokens=True)
        with open(os.path.join(dir_path, "vocabulary.txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(str(w) for w in vocabulary))

    def load_assets(self, dir_path):
        """Reads vocabulary.txt back (Keras's reader: splitlines, trailing empty lines
        dropped); in tf_idf mode the idf weights come from the weights file beforehand."""
        if self._vocabulary_arg is not None:
            return
        with open(os.path.join(dir_path, "vocabulary.txt"), encoding="utf-8") as f:
            lines = f.read().splitlines()
        while lines and lines[-1] == "":
            lines.pop()
        values = lines if self._string else [int(line) for line in lines]
        if self.output_mode != "tf_idf":
            self.set_vocabulary(values)
            return
        idf = self._loaded_idf
        if idf is None:
            raise ValueError(f"{_describe(self)}: output_mode 'tf_idf' needs the "
                             "`idf_weights` saved with the vocabulary; the weights file has "
                             "none.")
        specials = [self._decode(t) for t in self._special_tokens()]
        has_specials = bool(specials) and values[:len(specials)] == specials
        count = len(values) - (len(specials) if has_specials else 0)
        start = self._token_start_index() if has_specials else 0
        if len(idf) < start + count:
            raise ValueError(f"{_describe(self)}: the saved idf_weights hold {len(idf)} "
                             f"values for a vocabulary of {len(values)} tokens.")
        self.set_vocabulary(values, idf_weights=idf[start:start + count])
        if has_specials and len(idf) == len(self._idf):
            self._idf = list(idf)  # Keras keeps the saved front (and back) padding as is

    def _save_extra_vars(self):
        """Datasets Keras's save_own_variables writes into this layer's vars group."""
        if self.output_mode != "tf_idf" or self._idf is None:
            return {}
        return {"idf_weights": _tf().constant(self._idf, dtype=backend.floatx())}

    def _load_extra_vars(self, arrays):
        if self.output_mode == "tf_idf" and "idf_weights" in arrays:
            self._loaded_idf = [float(w) for w in _host_values(arrays["idf_weights"])]
            if self._tokens and len(self._loaded_idf) == len(self._idf or []):
                self._idf = list(self._loaded_idf)

    # ------------------------------------------------------------------ call
    def _key_tensor(self):
        tf = _tf()
        if self._keys is None:
            dtype = "string" if self._string else self.vocabulary_dtype
            self._keys = tf.constant(self._tokens, dtype=dtype) if self._tokens else \
                tf.zeros((0,), dtype=dtype)
        return self._keys

    def _check_vocabulary(self):
        """Keras's errors for a layer called before it has a vocabulary (adapt forgotten):
        a RuntimeError where the encoding's width would be the unknown vocabulary size,
        else TensorFlow's error for an uninitialized lookup table."""
        from tensorflux.keras.engine.keras_tensor import trace_state

        if self._has_vocabulary or trace_state.depth:  # (or working out output shapes)
            return
        if self.output_mode != "int" and not self.pad_to_max_tokens and \
                self._frozen_vocab_size is None:
            raise RuntimeError(
                f"When using `output_mode={self.output_mode}` and `pad_to_max_tokens=False`, "
                f"you must set the layer's vocabulary before calling it ({_describe(self)}). "
                "Either pass a `vocabulary` argument to the layer, or call `adapt` with some "
                "sample data.")
        from tensorflux import errors

        raise errors.FailedPreconditionError(
            f"{_describe(self)} has no vocabulary (its lookup table is not initialized): pass "
            "`vocabulary=` to the layer, or call `adapt()` with some sample data before "
            "calling it.", "lookup")

    def _lookup(self, inputs):
        """int64 indices of the (dense) inputs; the mask token gets 0."""
        tf = _tf()
        self._check_vocabulary()
        positions = _strings().lookup_index(inputs, self._key_tensor())
        found = tf.greater_equal(positions, 0)
        start = self._token_start_index()
        indices = positions + start
        if self.num_oov_indices == 0:
            unknown = tf.logical_not(found)
            if self.mask_token is not None:
                unknown = tf.logical_and(unknown, tf.not_equal(inputs, self._mask_key()))
            # A host call, so that traced calls (fit, predict, Dataset.map) check each batch
            # when they run, as Keras's tf.Assert does.
            tf.numpy_function(_check_in_vocabulary, [inputs, unknown], Tout=[])
            oov = tf.zeros_like(indices)
        elif self.num_oov_indices == 1:
            oov = tf.zeros_like(indices) + (start - 1)
        elif self._string or self.oov_method == "farmhash":
            oov = self._hash_buckets(inputs) + (start - self.num_oov_indices)
        else:
            oov = tf.math.floormod(tf.cast(inputs, "int64"), self.num_oov_indices) + \
                (start - self.num_oov_indices)
        indices = tf.where(found, indices, oov)
        if self.mask_token is not None:
            indices = tf.where(tf.equal(inputs, self._mask_key()), tf.zeros_like(indices),
                               indices)
        return indices

    def _hash_buckets(self, inputs):
        """The OOV slot of each input: its FarmHash bucket, or SipHash under a salt."""
        strings = _strings()
        text = inputs if self._string else strings.as_string(inputs)
        if self.salt is not None:
            return strings.to_hash_bucket_strong(text, self.num_oov_indices, self.salt)
        return strings.to_hash_bucket_fast(text, self.num_oov_indices)

    def _mask_key(self):
        tf = _tf()
        dtype = "string" if self._string else self.vocabulary_dtype
        return tf.constant(self._normalize_token(self.mask_token), dtype=dtype)

    def _invert(self, inputs):
        tf = _tf()
        self._check_vocabulary()
        tokens = self.get_vocabulary()
        dtype = "string" if self._string else self.vocabulary_dtype
        table = tf.constant([self._normalize_token(t) for t in tokens], dtype=dtype)
        indices = tf.cast(inputs, "int64")
        inside = tf.logical_and(tf.greater_equal(indices, 0),
                                tf.less(indices, len(tokens)))
        safe = tf.where(inside, indices, tf.zeros_like(indices))
        values = tf.gather(table, safe)
        oov = tf.constant(self._normalize_token(self.oov_token), dtype=dtype)
        return tf.where(inside, values, oov)

    def _prepare(self, inputs):
        tf = _tf()
        if self._string:
            if not hasattr(inputs, "dtype"):
                return tf.convert_to_tensor(inputs, dtype="string")
            dtype = inputs.dtype  # (a NumPy text array has kind U, S or O)
            if getattr(dtype, "name", dtype) != "string" and getattr(dtype, "kind", "") \
                    not in "USO":
                self._wrong_dtype(inputs, "strings")
            return inputs
        inputs = tf.convert_to_tensor(inputs)
        if inputs.dtype.name == "string":
            self._wrong_dtype(inputs, f"{self.vocabulary_dtype} values")
        return tf.cast(inputs, self.vocabulary_dtype) \
            if inputs.dtype.name != self.vocabulary_dtype else inputs

    def _wrong_dtype(self, inputs, expected):
        raise ValueError(
            f"{_describe(self)} looks up {expected}, received an input of dtype "
            f"{getattr(inputs.dtype, 'name', inputs.dtype)} with shape {tuple(inputs.shape)}; "
            f"{'StringLookup' if not self._string else 'IntegerLookup'} handles those")

    def _unmasked(self, inputs):
        """Where the inputs are not the mask token (None without one), for the encodings,
        which leave masked inputs out."""
        if self.mask_token is None:
            return None
        return _tf().not_equal(inputs, self._mask_key())

    def call(self, inputs):
        if hasattr(inputs, "flat_values") and hasattr(inputs, "with_flat_values"):
            return self._call_ragged(inputs)
        if self.invert:
            return self._invert(inputs)
        inputs = self._prepare(inputs)
        indices = self._lookup(inputs)
        if self.output_mode == "int":
            return indices
        return self._encode(indices, self._unmasked(inputs))

    def _call_ragged(self, inputs):
        """A RaggedTensor (tf.strings.unicode_split's characters, say): "int" mode and invert
        map its flat values; the encodings give one dense row per ragged row."""
        if self.output_mode == "int":
            return inputs.with_flat_values(self.call(inputs.flat_values))
        if inputs.ragged_rank != 1:
            raise ValueError(f"{_describe(self)}: output_mode {self.output_mode!r} accepts "
                             f"RaggedTensors of shape (rows, None), received {inputs.shape}")
        tf = _tf()
        flat = self._prepare(inputs.flat_values)
        indices = self._lookup(flat)
        depth = self._depth()
        unmasked = self._unmasked(flat)
        if unmasked is not None:
            indices = tf.where(unmasked, indices, tf.zeros_like(indices) + depth)
        # Index `depth` (the padding, and masked tokens) encodes as a zero row.
        return self._encode(inputs.with_flat_values(indices).to_tensor(default_value=depth))

    def _encode(self, indices, valid=None):
        """Keras's encode_categorical_inputs for the lookup results."""
        tf = _tf()
        if self.output_mode == "int":
            return indices
        depth = self._depth()
        if valid is not None:
            # Padding goes to index `depth`, which one_hot turns into a zero row (a mask
            # multiply would need expand_dims over two unknown dims, which does not trace).
            indices = tf.where(valid, indices, tf.zeros_like(indices) + depth)
        rank = indices.shape.rank
        if rank == 0:
            indices = tf.expand_dims(indices, -1)
        if self.output_mode == "one_hot":
            # (Keras one-hots a scalar as a batch of one: shape (1, depth).)
            if rank == 0 or indices.shape[-1] != 1:
                indices = tf.expand_dims(indices, -1)
        rank = indices.shape.rank
        if rank > 2:
            raise ValueError(f"{_describe(self)}: output_mode {self.output_mode!r} accepts "
                             f"inputs of rank <= 2, received shape {tuple(indices.shape)}")
        # Keras encodes in the lookup's int64 value dtype; only tf_idf weighs in floatx.
        dtype = backend.floatx() if self.output_mode == "tf_idf" else "int64"
        counts = tf.reduce_sum(tf.one_hot(indices, depth, dtype=dtype), axis=-2)
        if self.output_mode in ("multi_hot", "one_hot"):
            return tf.minimum(counts, tf.constant(1, dtype))
        if self.output_mode == "count":
            return counts
        return counts * tf.constant(self._idf, dtype=dtype)

    def compute_output_spec(self, inputs):
        from tensorflux.keras.engine.keras_tensor import KerasTensor

        shape = tuple(inputs.shape)
        if self.invert:
            return KerasTensor(shape, "string" if self._string else self.vocabulary_dtype)
        if self.output_mode == "int":
            return KerasTensor(shape, "int64")
        depth = self._depth()
        if self.output_mode == "one_hot" and not shape:
            return KerasTensor((1, depth), backend.floatx())
        if self.output_mode == "one_hot" and shape[-1] != 1:
            return KerasTensor(shape + (depth,), backend.floatx())
        return KerasTensor(shape[:-1] + (depth,) if len(shape) > 1 else (depth,),
                           backend.floatx())

    def get_config(self):
        vocabulary = self._vocabulary_arg
        if vocabulary is not None and not isinstance(vocabulary, str):
            vocabulary = [self._decode(self._normalize_token(t))
                          for t in _host_values(vocabulary)]
        idf = self._idf_weights_arg
        if idf is not None:
            idf = [float(w) for w in _host_values(idf)]
        return {**super().get_config(), "invert": self.invert, "max_tokens": self.max_tokens,
                "num_oov_indices": self.num_oov_indices, "oov_token": self.oov_token,
                "mask_token": self.mask_token, "output_mode": self.output_mode,
                "sparse": self.sparse, "pad_to_max_tokens": self.pad_to_max_tokens,
                "vocabulary_dtype": self.vocabulary_dtype, "idf_weights": idf,
                "vocabulary": vocabulary, "vocabulary_size": self._frozen_vocab_size,
                "oov_method": self.oov_method, "salt": self.salt}


def _check_in_vocabulary(values, unknown):
    """Raises Keras's error when any value is flagged out of vocabulary (NumPy arrays)."""
    if not unknown.any():
        return
    from tensorflux import errors

    found = values[unknown].tolist() if getattr(values, "ndim", 0) else [
        values.item() if hasattr(values, "item") else values]
    shown = [(f'"{v.decode("utf-8", "replace")}"' if isinstance(v, bytes) else str(v))
             for v in found]
    if len(shown) > 6:  # tf.strings.format's summary: the first and last three
        shown = shown[:3] + ["..."] + shown[-3:]
    raise errors.InvalidArgumentError(
        "When `num_oov_indices=0` all inputs should be in vocabulary, found OOV values "
        f"[{' '.join(shown)}], consider setting `num_oov_indices=1`.", "lookup")


def _salt(salt, hashed):
    """Keras's salt: None, or two ints (one int is used twice); only for hashing layers."""
    if salt is None:
        return None
    if not hashed:
        raise ValueError("`salt` can only be used when `oov_method='farmhash'`. Received: "
                         "oov_method=floormod")
    if isinstance(salt, (tuple, list)) and len(salt) == 2:
        return list(salt)
    if isinstance(salt, int):
        return [salt, salt]
    raise ValueError("The `salt` argument for `IndexLookup` can only be a tuple of 2 "
                     f"integers, or a single integer. Received: salt={salt}.")


class StringLookup(_IndexLookup):
    """Maps strings to integer indices through a vocabulary (or encodes them).

    >>> from tensorflux import keras
    >>> layer = keras.layers.StringLookup(vocabulary=["a", "b"])
    >>> layer(["b", "z", "a"]).numpy().tolist()
    [2, 0, 1]
    """

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]",
                 vocabulary=None, idf_weights=None, invert=False, output_mode="int",
                 pad_to_max_tokens=False, sparse=False, encoding="utf-8", name=None, salt=None,
                 **kwargs):
        kwargs.pop("vocabulary_dtype", None)
        self.encoding = encoding
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices,
                         mask_token=mask_token, oov_token=oov_token,
                         vocabulary_dtype="string", vocabulary=vocabulary,
                         idf_weights=idf_weights, invert=invert, output_mode=output_mode,
                         sparse=sparse, pad_to_max_tokens=pad_to_max_tokens, salt=salt,
                         name=name, **kwargs)

    def _normalize_token(self, token):
        if isinstance(token, str):
            return token.encode(self.encoding)
        if isinstance(token, bytes):
            return token
        raise ValueError(f"{_describe(self)} expects string tokens, received {token!r} of type "
                         f"{type(token).__name__}; IntegerLookup handles integers")

    def _decode(self, token):
        return token.decode(self.encoding) if isinstance(token, bytes) else token

    def get_config(self):
        config = super().get_config()
        del config["vocabulary_dtype"]  # always "string", and Keras leaves it out
        config["encoding"] = self.encoding
        return config


class IntegerLookup(_IndexLookup):
    """Maps integers to contiguous indices through a vocabulary (or encodes them).

    >>> from tensorflux import keras
    >>> layer = keras.layers.IntegerLookup(vocabulary=[12, 36])
    >>> layer([36, 7, 12]).numpy().tolist()
    [2, 0, 1]
    """

    _string = False

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1,
                 vocabulary=None, vocabulary_dtype="int64", idf_weights=None, invert=False,
                 output_mode="int", sparse=False, pad_to_max_tokens=False,
                 oov_method="floormod", salt=None, name=None, **kwargs):
        if vocabulary_dtype not in ("int32", "int64"):
            raise ValueError("vocabulary_dtype must be an integer dtype. Received: "
                             f"vocabulary_dtype={vocabulary_dtype}")
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices,
                         mask_token=mask_token, oov_token=oov_token,
                         vocabulary_dtype=vocabulary_dtype, vocabulary=vocabulary,
                         idf_weights=idf_weights, invert=invert, output_mode=output_mode,
                         sparse=sparse, pad_to_max_tokens=pad_to_max_tokens,
                         oov_method=oov_method, salt=salt, name=name, **kwargs)

    def _normalize_token(self, token):
        try:  # (the lines of a vocabulary file are numerals)
            return int(token)
        except ValueError:
            raise ValueError(f"{_describe(self)} expects integer tokens, received {token!r}; "
                             f"StringLookup handles strings") from None
