"""keras.layers attention layers: MultiHeadAttention, GroupQueryAttention, Attention
(dot-product, Luong) and AdditiveAttention (Bahdanau), with Keras 3's masks, weight layouts and
numerics."""

import math
import string

from tensorflux.keras import constraints, initializers, regularizers
from tensorflux.keras.engine.keras_tensor import KerasTensor, shape_of
from tensorflux.keras.layers.activation_layers import Softmax
from tensorflux.keras.layers.base import Layer, _describe, _format_shape
from tensorflux.keras.layers.einsum_dense import EinsumDense
from tensorflux.keras.layers.regularization import Dropout, _check_rate, _dropout, _RandomSource
from tensorflux.keras.saving.serialization import export_public

__all__ = ["AdditiveAttention", "Attention", "GroupQueryAttention", "MultiHeadAttention"]


def _tf():
    import tensorflux as tf

    return tf


def _static_shape(x):
    shape = shape_of(x)
    return None if shape is None else tuple(shape)


def _compatible(a, b):
    return a is None or b is None or a == b


def _check_mask(layer, what, mask, expected):
    """Raises a ValueError naming the layer when `mask` is not of shape `expected`."""
    shape = _static_shape(mask)
    if shape is None or expected is None:
        return
    if len(shape) != len(expected) or not all(map(_compatible, shape, expected)):
        raise ValueError(f"{_describe(layer)} expected a {what} of shape "
                         f"{_format_shape(expected)}, received shape {_format_shape(shape)}")


def _check_broadcastable(layer, what, mask, expected):
    """Raises a ValueError naming the layer when `mask` does not broadcast to `expected`."""
    shape = _static_shape(mask)
    if shape is None or expected is None:
        return
    bad = len(shape) > len(expected) or any(
        d not in (1, None) and e is not None and d != e
        for d, e in zip(reversed(shape), reversed(expected)))
    if bad:
        raise ValueError(f"{_describe(layer)} expected an {what} broadcastable to shape "
                         f"{_format_shape(expected)}, received shape {_format_shape(shape)}")


def _length(x, axis):
    """The size of `axis` of `x`: a Python int when static, else a scalar tensor."""
    size = _static_shape(x)[axis]
    return _tf().shape(x)[axis] if size is None else size


def _insert_axis(x, axis):
    """expand_dims at a negative `axis` by indexing with None, which keeps working when
    several dimensions are unknown (a traced batch and sequence lengths)."""
    return x[(Ellipsis, None) + (slice(None),) * (-axis - 1)]


def _positions(rows, cols):
    """Row and column indices of shapes (1, rows, 1) and (1, 1, cols), for band masks."""
    tf = _tf()
    return (tf.reshape(tf.range(rows), (1, -1, 1)), tf.reshape(tf.range(cols), (1, 1, -1)))


def _letter(i):
    return string.ascii_lowercase[i]


def _build_proj_equation(free_dims, bound_dims, output_dims):
    """The einsum of a projection: `free` dims kept, `bound` dims contracted, `output` dims
    created by the kernel (and biased). Returns (equation, bias_axes, output rank)."""
    free = "".join(_letter(i) for i in range(free_dims))
    bound = "".join(_letter(free_dims + i) for i in range(bound_dims))
    created = "".join(_letter(free_dims + bound_dims + i) for i in range(output_dims))
    output = free + created
    return f"{free}{bound},{bound}{created}->{output}", created, len(output)


def _get_output_shape(output_rank, known_last_dims):
    return [None] * (output_rank - len(known_last_dims)) + list(known_last_dims)


def _build_attention_equation(rank, attn_axes):
    """Einsums of the query-key product and of the value combination for projected tensors
    of shape (batch, <non-attention dims>, <attention dims>, heads, channels)."""
    target = "".join(_letter(i) for i in range(rank))
    batch_dims = [i for i in range(rank) if i not in attn_axes and i != rank - 1]
    offset = rank
    source = ""
    for i in range(rank):
        if i in batch_dims or i == rank - 1:
            source += target[i]
        else:
            source += _letter(offset)
            offset += 1
    product = ("".join(target[i] for i in batch_dims) + "".join(target[i] for i in attn_axes)
               + "".join(source[i] for i in attn_axes))
    return f"{source},{target}->{product}", f"{product},{source}->{target}", len(product)


def _build_from_call(layer, args, kwargs):
    """Builds an attention layer from the shapes of the query, value and (optional) key it
    is first called with."""
    tensors = layer._tensor_arguments(args, kwargs)
    if "value" not in tensors:
        # (TypeError, as Keras's call-signature binding raises for the missing argument)
        raise TypeError(f"{_describe(layer)} must be called with a query and a value tensor: "
                        "`layer(query, value)`; missing a required argument: 'value'.")
    layer.build(**{f"{name}_shape": _static_shape(tensors[name])
                   for name in ("query", "value", "key") if name in tensors})


def _carried_masks(query, value, key, query_mask, value_mask, key_mask):
    """The query/value/key masks, each taken from its tensor's Keras mask (an Embedding's
    mask_zero, a Masking layer) when not passed, as Keras's Layer.__call__ fills them."""
    return tuple(getattr(x, "_keras_mask", None) if mask is None else mask
                 for x, mask in ((query, query_mask), (value, value_mask), (key, key_mask)))


def _combine_masks(query_mask, value_mask, key_mask, attention_mask, *position_masks):
    """The boolean mask `(B, T, S)` combining the query/value/key masks, the position masks
    (causal, sliding window; None when unused) and `attention_mask` with a logical AND
    (Keras's rules)."""
    tf = _tf()
    auto_mask = None
    if query_mask is not None:
        auto_mask = _insert_axis(tf.cast(query_mask, "bool"), -1)
    masks = [None if m is None else _insert_axis(tf.cast(m, "bool"), -2)
             for m in (value_mask, key_mask)]
    for mask in masks + list(position_masks):
        if mask is not None:
            auto_mask = mask if auto_mask is None else tf.logical_and(auto_mask, mask)
    if attention_mask is not None:
        attention_mask = tf.cast(attention_mask, "bool")
    if auto_mask is not None:
        attention_mask = auto_mask if attention_mask is None else tf.logical_and(
            attention_mask, auto_mask)
    return attention_mask


def _causal_mask(query, value=None):
    """The lower-triangular boolean mask `(1, T, S)`: position i attends to j <= i."""
    value = query if value is None else value
    rows, cols = _positions(_length(query, 1), _length(value, 1))
    return _tf().greater_equal(rows, cols)


def _sliding_window_mask(query, value, window):
    """The band `(1, T, S)` of positions closer than `window`."""
    tf = _tf()
    value = query if value is None else value
    rows, cols = _positions(_length(query, 1), _length(value, 1))
    return tf.less(tf.abs(rows - cols), window)


def _masked_softmax(softmax, scores, mask, axis, zero_masked=True):
    """`softmax(scores)` where the entries `mask` is False at get probability 0; the mask
    gets size-1 axes inserted at `axis` until it has the rank of the scores. With
    zero_masked=False a fully masked row stays uniform, as Keras's fused
    dot_product_attention path (no dropout, no scores returned) leaves it."""
    tf = _tf()
    if mask is None:
        return softmax(scores)
    for _ in range(len(scores.shape) - len(mask.shape)):
        mask = _insert_axis(mask, axis)
    # Keras's Softmax layer with a mask: masked scores become -1e9 (-3e4 in float16) and
    # masked probabilities 0, so a fully masked row gives zeros, not a uniform distribution.
    # Done here with broadcasting `where`s, which work for unknown (None) batch sizes while
    # tracing.
    dtype = scores.dtype
    mask = tf.cast(mask, "bool")
    negative = -3e4 if dtype.name == "float16" else -1e9
    scores = tf.where(mask, scores, tf.constant(negative, dtype))
    probabilities = softmax(scores)
    if not zero_masked:
        return probabilities
    return tf.where(mask, probabilities, tf.zeros_like(probabilities))


class MultiHeadAttention(Layer):
    """Multi-head attention (Vaswani et al., 2017), Keras 3's layer.

    Query, key and value are projected by EinsumDense sublayers (kernels `(dim, heads,
    key_dim)`, biases `(heads, key_dim)`), dot-product scores scaled by `1/sqrt(key_dim)` are
    softmaxed over the attention axes (masked positions get probability 0), and the heads are
    projected back by an output EinsumDense (kernel `(heads, value_dim, dim)`).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> mha = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3)
    >>> out, scores = mha(tf.ones((1, 4, 5)), tf.ones((1, 6, 5)), return_attention_scores=True)
    >>> out.shape, scores.shape
    (TensorShape([1, 4, 5]), TensorShape([1, 2, 4, 6]))
    >>> [tuple(w.shape) for w in mha.weights][:2], tuple(mha.weights[6].shape)
    ([(5, 2, 3), (2, 3)], (2, 3, 5))
    """

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True,
                 output_shape=None, attention_axes=None, sliding_window=None,
                 flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 use_gate=False, seed=None, **kwargs):
        for arg, value, optional in (("num_heads", num_heads, False), ("key_dim", key_dim, False),
                                     ("value_dim", value_dim, True)):
            if optional and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"Received an invalid value for argument `{arg}`, expected a "
                                 f"positive integer. Received: {arg}={value}")
        super().__init__(**kwargs)
        _check_rate(dropout, "dropout")
        self.supports_masking = True
        self._num_heads = num_heads
        self._key_dim = key_dim
        self._value_dim = value_dim if value_dim else key_dim
        self._dropout = dropout
        self._use_bias = use_bias
        self._use_gate = use_gate
        if output_shape:
            if isinstance(output_shape, int):
                output_shape = (output_shape,)
            try:
                output_shape = tuple(output_shape)
            except TypeError:
                raise ValueError(f"Invalid `output_shape`: {output_shape}. When specified, the "
                                 "`output_shape` should be of type tuple, list, or int.") from None
        self._output_shape = output_shape
        self._flash_attention = bool(flash_attention)
        self._kernel_initializer = initializers.get(kernel_initializer)
        self._bias_initializer = initializers.get(bias_initializer)
        self._kernel_regularizer = regularizers.get(kernel_regularizer)
        self._bias_regularizer = regularizers.get(bias_regularizer)
        self._activity_regularizer = regularizers.get(activity_regularizer)
        self._kernel_constraint = constraints.get(kernel_constraint)
        self._bias_constraint = constraints.get(bias_constraint)
        if isinstance(attention_axes, int):
            attention_axes = (attention_axes,)
        elif attention_axes and not isinstance(attention_axes, (list, tuple)):
            raise ValueError("`attention_axes` must be an int, list, or tuple."
                             f"Received: attention_axes={attention_axes}")
        self._attention_axes = attention_axes
        if sliding_window is not None and (isinstance(sliding_window, bool) or not isinstance(
                sliding_window, int) or sliding_window <= 0):
            raise ValueError("`sliding_window` must be `None` or a positive integer. "
                             f"Received: sliding_window={sliding_window}")
        self._sliding_window = sliding_window
        self.seed = seed
        self._inverse_sqrt_key_dim = 1.0 / math.sqrt(float(self._key_dim))
        if self._flash_attention and self._dropout > 0.0:
            raise ValueError("Dropout is not supported when flash attention is enabled. "
                             "Please set dropout to 0.0 to use flash attention.")

    num_heads = property(lambda self: self._num_heads)
    key_dim = property(lambda self: self._key_dim)
    value_dim = property(lambda self: self._value_dim)
    dropout = property(lambda self: self._dropout)
    use_bias = property(lambda self: self._use_bias)
    attention_axes = property(lambda self: self._attention_axes)
    query_dense = property(lambda self: self._query_dense)
    key_dense = property(lambda self: self._key_dense)
    value_dense = property(lambda self: self._value_dense)
    output_dense = property(lambda self: self._output_dense)

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self._num_heads,
            "key_dim": self._key_dim,
            "value_dim": self._value_dim,
            "dropout": self._dropout,
            "use_bias": self._use_bias,
            "use_gate": self._use_gate,
            "output_shape": self._output_shape,
            "attention_axes": self._attention_axes,
            "sliding_window": self._sliding_window,
            "kernel_initializer": initializers.serialize(self._kernel_initializer),
            "bias_initializer": initializers.serialize(self._bias_initializer),
            "kernel_regularizer": regularizers.serialize(self._kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self._bias_regularizer),
            "activity_regularizer": regularizers.serialize(self._activity_regularizer),
            "kernel_constraint": constraints.serialize(self._kernel_constraint),
            "bias_constraint": constraints.serialize(self._bias_constraint),
            "seed": self.seed,
        }

    # ------------------------------------------------------------------ build
    def _checked_shapes(self, query_shape, value_shape, key_shape):
        """The three shapes as tuples (key defaults to value), value and key checked."""
        query_shape = tuple(query_shape)
        value_shape = tuple(value_shape)
        key_shape = value_shape if key_shape is None else tuple(key_shape)
        if value_shape[1:-1] != key_shape[1:-1]:
            raise ValueError(f"{_describe(self)}: all dimensions of `value` and `key`, except "
                             f"the last one, must be equal. Received: value_shape="
                             f"{_format_shape(value_shape)} and key_shape="
                             f"{_format_shape(key_shape)}")
        return query_shape, value_shape, key_shape

    def _maybe_build(self, args, kwargs, first):
        _build_from_call(self, args, kwargs)

    def build(self, query_shape, value_shape, key_shape=None):
        query_shape, value_shape, key_shape = self._checked_shapes(query_shape, value_shape,
                                                                   key_shape)
        if len(query_shape) != len(value_shape):
            raise ValueError(f"{_describe(self)} expected `query` and `value` of the same rank, "
                             f"received query_shape={_format_shape(query_shape)} and "
                             f"value_shape={_format_shape(value_shape)}")
        for what, shape in (("query", query_shape), ("value", value_shape), ("key", key_shape)):
            if len(shape) < 3 or shape[-1] is None:
                raise ValueError(f"{_describe(self)} expected a {what} of rank >= 3 with a "
                                 f"known last dimension, received shape "
                                 f"{_format_shape(shape)}")
        self._shapes = {"query": query_shape, "value": value_shape, "key": key_shape}
        heads = [self._num_heads, self._key_dim]
        equation, bias_axes, output_rank = _build_proj_equation(len(query_shape) - 1, 1, 2)
        self._query_dense = self._einsum(equation, _get_output_shape(output_rank - 1, heads),
                                         bias_axes, "query")
        self._query_dense.build(query_shape)
        equation, bias_axes, output_rank = _build_proj_equation(len(key_shape) - 1, 1, 2)
        self._key_dense = self._einsum(equation, _get_output_shape(output_rank - 1, heads),
                                       bias_axes, "key")
        self._key_dense.build(key_shape)
        value_heads = [self._num_heads, self._value_dim]
        if self._use_gate:
            equation, bias_axes, gate_rank = _build_proj_equation(len(query_shape) - 1, 1, 2)
            self._gate_dense = self._einsum(equation, _get_output_shape(gate_rank - 1,
                                                                        value_heads),
                                            bias_axes, "gate", activation="sigmoid")
            self._gate_dense.build(query_shape)
        equation, bias_axes, output_rank = _build_proj_equation(len(value_shape) - 1, 1, 2)
        self._value_dense = self._einsum(equation, _get_output_shape(output_rank - 1,
                                                                     value_heads),
                                         bias_axes, "value")
        self._value_dense.build(value_shape)
        self._build_attention(output_rank)
        output_shape = self._output_shape or [query_shape[-1]]
        equation, bias_axes, out_rank = _build_proj_equation(len(query_shape) - 1, 2,
                                                             len(output_shape))
        self._output_dense = self._einsum(equation, _get_output_shape(out_rank - 1,
                                                                      output_shape),
                                          bias_axes, "attention_output")
        dense_input = list(self._query_dense.compute_output_shape(query_shape))
        dense_input[-1] = self._value_dim
        self._output_dense.build(tuple(dense_input))

    def _einsum(self, equation, output_shape, bias_axes, name, activation=None):
        # Each sublayer gets its own initializer instances, as in Keras (a seeded initializer
        # object shared by several weights would give them the same values).
        kernel_init = type(self._kernel_initializer).from_config(
            self._kernel_initializer.get_config())
        bias_init = type(self._bias_initializer).from_config(self._bias_initializer.get_config())
        return EinsumDense(equation, output_shape=output_shape, activation=activation,
                           bias_axes=bias_axes if self._use_bias else None,
                           kernel_initializer=kernel_init, bias_initializer=bias_init,
                           kernel_regularizer=self._kernel_regularizer,
                           bias_regularizer=self._bias_regularizer,
                           activity_regularizer=self._activity_regularizer,
                           kernel_constraint=self._kernel_constraint,
                           bias_constraint=self._bias_constraint,
                           dtype=self.dtype_policy, name=name)

    def _build_attention(self, rank):
        if self._attention_axes is None:
            self._attention_axes = tuple(range(1, rank - 2))
        else:
            self._attention_axes = tuple(axis if axis >= 0 else (rank - 1) + axis
                                         for axis in self._attention_axes)
        for axis in self._attention_axes:
            if not 0 < axis < rank - 2:
                raise ValueError(f"{_describe(self)}: attention_axes {self._attention_axes} "
                                 f"must be between 1 and {rank - 3} for inputs of rank "
                                 f"{rank - 1}")
        self._dot_product_equation, self._combine_equation, scores_rank = \
            _build_attention_equation(rank, self._attention_axes)
        norm_axes = tuple(range(scores_rank - len(self._attention_axes), scores_rank))
        self._softmax = Softmax(axis=norm_axes, dtype=self.dtype_policy)
        self._dropout_layer = Dropout(rate=self._dropout, dtype=self.dtype_policy,
                                      seed=self.seed)

    # ------------------------------------------------------------------ call
    def call(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None,
             attention_mask=None, return_attention_scores=False, training=None,
             use_causal_mask=False):
        if key is None:
            key = value
        # (as Keras 3.15: the query's mask is the one it carries; a `query_mask=` argument is
        # ignored)
        query_mask, value_mask, key_mask = _carried_masks(query, value, key, None,
                                                          value_mask, key_mask)
        self._check_call(query, value, key, query_mask, value_mask, key_mask, attention_mask)
        attention_mask = self._compute_attention_mask(
            query, value, query_mask=query_mask, value_mask=value_mask, key_mask=key_mask,
            attention_mask=attention_mask, use_causal_mask=use_causal_mask)
        tf = _tf()
        gate = self._gate_dense(query) if self._use_gate else None
        query = self._query_dense(query)
        key = self._key_dense(key)
        value = self._value_dense(value)
        attention_output, attention_scores = self._compute_attention(
            query, key, value, attention_mask, training, return_attention_scores)
        if gate is not None:
            attention_output = tf.multiply(attention_output, gate)
        attention_output = self._output_dense(attention_output)
        if return_attention_scores:
            return attention_output, attention_scores
        return attention_output

    def _check_call(self, query, value, key, query_mask, value_mask, key_mask, attention_mask):
        shapes = {"query": _static_shape(query), "value": _static_shape(value),
                  "key": _static_shape(key)}
        for what, shape in shapes.items():
            built = self._shapes[what]
            if shape is None:
                continue
            if len(shape) != len(built) or not _compatible(shape[-1], built[-1]):
                raise ValueError(f"{_describe(self)} expected a {what} of shape "
                                 f"{_format_shape((None,) + built[1:])} (as when it was built), "
                                 f"received shape {_format_shape(shape)}")
        query_shape, value_shape, key_shape = shapes["query"], shapes["value"], shapes["key"]
        if query_shape is None or value_shape is None:
            return
        if not _compatible(query_shape[0], value_shape[0]):
            raise ValueError(f"{_describe(self)}: query and value batch sizes differ, received "
                             f"query shape {_format_shape(query_shape)} and value shape "
                             f"{_format_shape(value_shape)}")
        if key_shape is not None and not all(map(_compatible, value_shape[:-1],
                                                 key_shape[:-1])):
            raise ValueError(f"{_describe(self)}: all dimensions of `value` and `key`, except "
                             f"the last one, must be equal. Received: value_shape="
                             f"{_format_shape(value_shape)} and key_shape="
                             f"{_format_shape(key_shape)}")
        _check_mask(self, "query_mask", query_mask, query_shape[:-1])
        _check_mask(self, "value_mask", value_mask, value_shape[:-1])
        _check_mask(self, "key_mask", key_mask, value_shape[:-1])
        axes = self._attention_axes
        expected = ([d for i, d in enumerate(query_shape[:-1]) if i not in axes]
                    + [query_shape[i] for i in axes] + [value_shape[i] for i in axes])
        mask_shape = _static_shape(attention_mask)
        if mask_shape is not None and len(mask_shape) > len(expected):
            # A mask of the scores' rank, with a head axis before the attention axes (e.g.
            # (B, 1, 1, S)), broadcasts against the scores as Keras's does.
            heads = len(expected) - 2 * len(axes)
            expected = expected[:heads] + [self._num_heads] + expected[heads:]
        _check_broadcastable(self, "attention_mask", attention_mask, tuple(expected))

    def _compute_attention_mask(self, query, value, query_mask=None, value_mask=None,
                                key_mask=None, attention_mask=None, use_causal_mask=False):
        """The boolean mask `(B, T, S)` combining the query/value/key masks, the causal and
        sliding-window masks and `attention_mask` with a logical AND (Keras's rules)."""
        return _combine_masks(
            query_mask, value_mask, key_mask, attention_mask,
            self._compute_causal_mask(query, value) if use_causal_mask else None,
            None if self._sliding_window is None
            else self._compute_sliding_window_mask(query, value))

    def _compute_causal_mask(self, query, value=None):
        return _causal_mask(query, value)

    def _compute_sliding_window_mask(self, query, value=None):
        return _sliding_window_mask(query, value, self._sliding_window)

    def _masked_softmax(self, attention_scores, attention_mask=None):
        # The mask has no head axis: it is inserted before the attention axes.
        return _masked_softmax(self._softmax, attention_scores, attention_mask,
                               -len(self._attention_axes) * 2 - 1)

    def _compute_attention(self, query, key, value, attention_mask=None, training=None,
                           return_attention_scores=False):
        """Scaled dot-product attention of projected `(B, T, N, key_dim)` tensors; returns
        (output `(B, T, N, value_dim)`, scores `(B, N, T, S)`)."""
        tf = _tf()
        if self._flash_attention and return_attention_scores:
            raise ValueError("Returning attention scores is not supported when flash "
                             "attention is enabled. Please disable flash attention to access "
                             "attention scores.")
        query = tf.multiply(query, tf.constant(self._inverse_sqrt_key_dim, query.dtype))
        attention_scores = tf.einsum(self._dot_product_equation, key, query)
        if self._dropout > 0.0 or return_attention_scores or query.shape.rank != 4:
            attention_scores = self._masked_softmax(attention_scores, attention_mask)
        else:  # Keras's fused dot_product_attention path, which has no _masked_softmax
            attention_scores = _masked_softmax(self._softmax, attention_scores, attention_mask,
                                               -3, zero_masked=False)
        if self._dropout > 0.0:
            final_scores = self._dropout_layer(attention_scores, training=training)
        else:
            final_scores = attention_scores
        attention_output = tf.einsum(self._combine_equation, final_scores, value)
        return attention_output, attention_scores

    def compute_mask(self, inputs, previous_mask=None):
        return previous_mask  # the output is masked like the query

    def compute_output_shape(self, query_shape, value_shape, key_shape=None):
        query_shape, value_shape, key_shape = self._checked_shapes(query_shape, value_shape,
                                                                   key_shape)
        if self._output_shape:
            return query_shape[:-1] + tuple(self._output_shape)
        return query_shape


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"Received an invalid value for argument `{name}`, expected a "
                         f"positive integer. Received: {name}={value}")


class GroupQueryAttention(Layer):
    """Grouped-query attention (Ainslie et al., 2023): `num_query_heads` query heads share
    `num_key_value_heads` key/value heads, each key/value head serving
    `num_query_heads // num_key_value_heads` consecutive query heads.

    Projections are EinsumDense sublayers "query" (kernel `(dim, query_heads, head_dim)`),
    "key" and "value" (`(dim, kv_heads, head_dim)`), an optional sigmoid "gate" like the query,
    and "attention_output" (`(query_heads, head_dim, dim)`); scores are scaled by
    `1/sqrt(head_dim)`. Keras's class is GroupedQueryAttention, exported under this name.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> gqa = keras.layers.GroupQueryAttention(head_dim=2, num_query_heads=4,
    ...                                        num_key_value_heads=2)
    >>> out, scores = gqa(tf.ones((1, 3, 5)), tf.ones((1, 6, 5)), return_attention_scores=True)
    >>> out.shape, scores.shape
    (TensorShape([1, 3, 5]), TensorShape([1, 4, 3, 6]))
    >>> [tuple(w.shape) for w in gqa.weights][::2]
    [(5, 4, 2), (5, 2, 2), (5, 2, 2), (4, 2, 5)]
    """

    def __init__(self, head_dim, num_query_heads, num_key_value_heads, dropout=0.0,
                 use_bias=True, sliding_window=None, flash_attention=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, use_gate=False, seed=None,
                 **kwargs):
        for name, value in (("head_dim", head_dim), ("num_query_heads", num_query_heads),
                            ("num_key_value_heads", num_key_value_heads)):
            _positive_int(name, value)
        super().__init__(**kwargs)
        _check_rate(dropout, "dropout")
        self.supports_masking = True
        self.head_dim = head_dim
        self.num_query_heads = num_query_heads
        self.num_key_value_heads = num_key_value_heads
        if num_query_heads % num_key_value_heads != 0:
            raise ValueError("`num_query_heads` must be divisible by `num_key_value_heads`. "
                             f"Received: num_query_heads={num_query_heads}, "
                             f"num_key_value_heads={num_key_value_heads}")
        self.num_repeats = num_query_heads // num_key_value_heads
        self.dropout = dropout
        self.use_bias = use_bias
        self.use_gate = use_gate
        if sliding_window is not None:
            _positive_int("sliding_window", sliding_window)
        self.sliding_window = sliding_window
        self._flash_attention = bool(flash_attention)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.seed = seed
        self._inverse_sqrt_head_dim = 1.0 / math.sqrt(float(head_dim))
        if self._flash_attention and self.dropout > 0.0:
            raise ValueError("Dropout is not supported when flash attention is enabled. "
                             "Please set dropout to 0.0 to use flash attention.")

    def _maybe_build(self, args, kwargs, first):
        _build_from_call(self, args, kwargs)

    def build(self, query_shape, value_shape, key_shape=None):
        query_shape, value_shape = tuple(query_shape), tuple(value_shape)
        key_shape = value_shape if key_shape is None else tuple(key_shape)
        for what, shape in (("query", query_shape), ("value", value_shape), ("key", key_shape)):
            if len(shape) != 3 or shape[-1] is None:
                raise ValueError(f"{_describe(self)} expected a {what} of shape (batch, "
                                 "length, features) with known features, received shape "
                                 f"{_format_shape(shape)}")
        self.feature_dim = query_shape[-1]
        query_heads = (None, self.num_query_heads, self.head_dim)
        kv_heads = (None, self.num_key_value_heads, self.head_dim)
        self._query_dense = self._einsum("bqm,muh->bquh", query_heads, "uh", "query")
        self._query_dense.build(query_shape)
        self._key_dense = self._einsum("bkm,mvh->bkvh", kv_heads, "vh", "key")
        self._key_dense.build(key_shape)
        if self.use_gate:
            self._gate_dense = self._einsum("bqm,muh->bquh", query_heads, "uh", "gate",
                                            activation="sigmoid")
            self._gate_dense.build(query_shape)
        self._value_dense = self._einsum("bkm,mvh->bkvh", kv_heads, "vh", "value")
        self._value_dense.build(value_shape)
        self._softmax = Softmax(axis=-1, dtype=self.dtype_policy)
        self._dropout_layer = Dropout(rate=self.dropout, dtype=self.dtype_policy,
                                      seed=self.seed)
        self._dot_product_equation = "bquh,bkuh->buqk"
        self._combine_equation = "buqk,bkuh->bquh"
        self._output_dense = self._einsum("bquh,uhm->bqm", (None, self.feature_dim), "m",
                                          "attention_output")
        self._output_dense.build((None, None, self.num_query_heads, self.head_dim))

    def _einsum(self, equation, output_shape, bias_axes, name, activation=None):
        # Fresh initializer instances per sublayer, as Keras makes (see MultiHeadAttention).
        kernel_init = type(self.kernel_initializer).from_config(
            self.kernel_initializer.get_config())
        bias_init = type(self.bias_initializer).from_config(self.bias_initializer.get_config())
        return EinsumDense(equation, output_shape=output_shape, activation=activation,
                           bias_axes=bias_axes if self.use_bias else None,
                           kernel_initializer=kernel_init, bias_initializer=bias_init,
                           kernel_regularizer=self.kernel_regularizer,
                           bias_regularizer=self.bias_regularizer,
                           activity_regularizer=self.activity_regularizer,
                           kernel_constraint=self.kernel_constraint,
                           bias_constraint=self.bias_constraint,
                           dtype=self.dtype_policy, name=name)

    def call(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None,
             attention_mask=None, return_attention_scores=False, training=None,
             use_causal_mask=False):
        tf = _tf()
        if key is None:
            key = value
        query_mask, value_mask, key_mask = _carried_masks(query, value, key, query_mask,
                                                          value_mask, key_mask)
        self._check_call(query, value, key)
        attention_mask = self._compute_attention_mask(
            query, value, query_mask=query_mask, value_mask=value_mask, key_mask=key_mask,
            attention_mask=attention_mask, use_causal_mask=use_causal_mask)
        gate = self._gate_dense(query) if self.use_gate else None
        query = self._query_dense(query)
        key = self._key_dense(key)
        value = self._value_dense(value)
        # Query head u reads key/value head u // num_repeats (Keras's ops.repeat on the head
        # axis); a gather needs no reshape, so unknown batch and lengths trace.
        heads = [u // self.num_repeats for u in range(self.num_query_heads)]
        key = tf.gather(key, heads, axis=2)
        value = tf.gather(value, heads, axis=2)
        output, scores = self._compute_attention(query, key, value, attention_mask, training,
                                                 return_attention_scores)
        if gate is not None:
            output = tf.multiply(output, gate)
        output = self._output_dense(output)
        if return_attention_scores:
            return output, scores
        return output

    def _check_call(self, query, value, key):
        shapes = [_static_shape(x) for x in (query, value, key)]
        if None in shapes:
            return
        query_shape, value_shape, key_shape = shapes
        if not _compatible(query_shape[-1], value_shape[-1]):
            raise ValueError("The last dimension of `query_shape` and `value_shape` must be "
                             f"equal, but are {query_shape[-1]}, {value_shape[-1]}. Received: "
                             f"query_shape={_format_shape(query_shape)}, "
                             f"value_shape={_format_shape(value_shape)}")
        if not all(map(_compatible, value_shape[:-1], key_shape[:-1])):
            raise ValueError(f"{_describe(self)}: all dimensions of `value` and `key`, except "
                             f"the last one, must be equal. Received: value_shape="
                             f"{_format_shape(value_shape)} and key_shape="
                             f"{_format_shape(key_shape)}")

    def _compute_attention_mask(self, query, value, query_mask=None, value_mask=None,
                                key_mask=None, attention_mask=None, use_causal_mask=False):
        return _combine_masks(
            query_mask, value_mask, key_mask, attention_mask,
            self._compute_causal_mask(query, value) if use_causal_mask else None,
            None if self.sliding_window is None
            else self._compute_sliding_window_mask(query, value))

    def _compute_causal_mask(self, query, value=None):
        return _causal_mask(query, value)

    def _compute_sliding_window_mask(self, query, value=None):
        return _sliding_window_mask(query, value, self.sliding_window)

    def _compute_attention(self, query, key, value, attention_mask=None, training=None,
                           return_attention_scores=False):
        """Scaled dot-product attention of `(B, T, heads, head_dim)` tensors; returns (output
        `(B, T, heads, head_dim)`, scores `(B, heads, T, S)`)."""
        tf = _tf()
        if self._flash_attention and return_attention_scores:
            raise ValueError("Returning attention scores is not supported when flash "
                             "attention is enabled. Please disable flash attention to access "
                             "attention scores.")
        query = tf.multiply(query, tf.constant(self._inverse_sqrt_head_dim, query.dtype))
        scores = tf.einsum(self._dot_product_equation, query, key)
        fused = not (self.dropout > 0.0 or return_attention_scores or query.shape.rank != 4)
        scores = _masked_softmax(self._softmax, scores, attention_mask, -3, zero_masked=not fused)
        dropped = (self._dropout_layer(scores, training=training) if self.dropout > 0.0
                   else scores)
        return tf.einsum(self._combine_equation, dropped, value), scores

    def compute_mask(self, inputs, previous_mask=None):
        return previous_mask  # the output is masked like the query

    def compute_output_shape(self, query_shape, value_shape, key_shape=None):
        return tuple(query_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "head_dim": self.head_dim,
            "num_query_heads": self.num_query_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "use_bias": self.use_bias,
            "use_gate": self.use_gate,
            "sliding_window": self.sliding_window,
            "dropout": self.dropout,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "seed": self.seed,
        }


# Keras's class is named GroupedQueryAttention (default layer names and weight paths in saved
# files come from that name) but is exported, and written into configs, as
# keras.layers.GroupQueryAttention. Defining the class under the exported name registered it
# under that name; it now takes Keras's class name.
GroupQueryAttention.__name__ = GroupQueryAttention.__qualname__ = "GroupedQueryAttention"
# Keras's legacy `.h5` writer names a layer by its Python class name, with no module.
export_public("keras.layers.GroupedQueryAttention", GroupQueryAttention)


class Attention(Layer):
    """Dot-product attention (Luong-style): `softmax(query . key^T) . value`.

    Called on `[query, value]` or `[query, value, key]`; `mask=[query_mask, value_mask]`
    hides value steps (scores - 1e9) and zeroes the output at masked query steps.
    `score_mode="concat"` scores with `sum(tanh(query + key))` instead.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> q = tf.constant([[[1.0, 0.0]]])
    >>> v = tf.constant([[[1.0, 0.0], [0.0, 1.0]]])
    >>> out, scores = keras.layers.Attention()([q, v], return_attention_scores=True)
    >>> [round(s, 4) for s in scores.numpy().ravel().tolist()]
    [0.7311, 0.2689]
    """

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.use_scale = use_scale
        self.score_mode = score_mode
        _check_rate(dropout, "dropout")
        self.dropout = dropout
        self.seed = seed
        self._random = _RandomSource(seed) if dropout > 0 else None
        if self.score_mode not in ("dot", "concat"):
            raise ValueError("Invalid value for argument score_mode. Expected one of "
                             f"{{'dot', 'concat'}}. Received: score_mode={score_mode}")
        self.supports_masking = True

    def build(self, input_shape):
        self._validate_inputs(input_shape)
        self.scale = None
        self.concat_score_weight = None
        if self.use_scale:
            self.scale = self.add_weight(name="scale", shape=(), initializer="ones")
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight(name="concat_score_weight", shape=(),
                                                       initializer="ones")

    def _calculate_scores(self, query, key):
        tf = _tf()
        if self.score_mode == "dot":
            scores = tf.matmul(query, key, transpose_b=True)
            if self.scale is not None:
                scores = tf.multiply(scores, self.scale)
            return scores
        q = _insert_axis(query, -2)
        k = _insert_axis(key, -3)
        summed = q + k if self.scale is None else self.scale * (q + k)
        return self.concat_score_weight * tf.reduce_sum(tf.tanh(summed), axis=-1)

    def _apply_scores(self, scores, value, scores_mask=None, training=False):
        tf = _tf()
        if scores_mask is not None:
            padding_mask = tf.logical_not(scores_mask)
            max_value = 65504.0 if scores.dtype.name == "float16" else 1.0e9
            if len(padding_mask.shape) == 2:
                padding_mask = _insert_axis(padding_mask, -2)
            scores = tf.where(padding_mask, scores - tf.constant(max_value, scores.dtype),
                              scores)
        weights = tf.nn.softmax(scores, axis=-1)
        if training and self.dropout > 0:
            weights = _dropout(self, weights, self.dropout, None, self._random)
        return tf.matmul(weights, value), weights

    def _calculate_score_mask(self, scores, v_mask, use_causal_mask):
        tf = _tf()
        if not use_causal_mask:
            return v_mask
        rows, cols = _positions(_length(scores, -2), _length(scores, -1))
        causal = tf.greater_equal(rows, cols)
        if v_mask is not None:
            return tf.logical_and(_insert_axis(v_mask, -2), causal)
        return causal

    def call(self, inputs, mask=None, training=False, return_attention_scores=False,
             use_causal_mask=False):
        tf = _tf()
        self._validate_inputs(inputs, mask)
        q, v = inputs[0], inputs[1]
        k = inputs[2] if len(inputs) > 2 else v
        q_mask = mask[0] if mask else None
        v_mask = mask[1] if mask else None
        self._check_call(q, v, k, q_mask, v_mask)
        if v_mask is not None:
            v_mask = tf.cast(v_mask, "bool")
        scores = self._calculate_scores(query=q, key=k)
        scores_mask = self._calculate_score_mask(scores, v_mask, use_causal_mask)
        output, attention_scores = self._apply_scores(scores, v, scores_mask, training)
        if q_mask is not None:
            q_mask = _insert_axis(tf.cast(q_mask, "bool"), -1)
            output = tf.where(q_mask, output, tf.zeros_like(output))
        if return_attention_scores:
            return output, attention_scores
        return output

    def _check_call(self, q, v, k, q_mask, v_mask):
        q_shape, v_shape, k_shape = (_static_shape(x) for x in (q, v, k))
        if None in (q_shape, v_shape, k_shape):
            return
        if len(q_shape) < 2 or len(q_shape) != len(v_shape) or len(v_shape) != len(k_shape):
            raise ValueError(f"{_describe(self)} expected query, value and key of the same "
                             f"rank (>= 2), received shapes {_format_shape(q_shape)}, "
                             f"{_format_shape(v_shape)} and {_format_shape(k_shape)}")
        if not _compatible(q_shape[-1], k_shape[-1]):
            raise ValueError(f"{_describe(self)} expected query and key with the same last "
                             f"dimension, received query shape {_format_shape(q_shape)} and "
                             f"key shape {_format_shape(k_shape)}")
        if not all(map(_compatible, v_shape[:-1], k_shape[:-1])):
            raise ValueError(f"{_describe(self)} expected value and key with the same "
                             f"dimensions except the last one, received value shape "
                             f"{_format_shape(v_shape)} and key shape {_format_shape(k_shape)}")
        if not all(map(_compatible, q_shape[:-2], v_shape[:-2])):
            raise ValueError(f"{_describe(self)} expected query and value with the same batch "
                             f"dimensions, received query shape {_format_shape(q_shape)} and "
                             f"value shape {_format_shape(v_shape)}")
        _check_mask(self, "query mask", q_mask, q_shape[:-1])
        _check_mask(self, "value mask", v_mask, v_shape[:-1])

    def compute_mask(self, inputs, mask=None):
        if mask is None and isinstance(inputs, (list, tuple)):
            # A symbolic call: the masks travel on the KerasTensors (Embedding, Masking).
            mask = [x._keras_mask if isinstance(x, KerasTensor) else None for x in inputs]
        self._validate_inputs(inputs, mask)
        if mask is None or mask[0] is None:
            return None
        return mask[0]

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape[0])[:-1], tuple(input_shape[1])[-1])

    def _validate_inputs(self, inputs, mask=None):
        name = _describe(self)
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"{name} must be called on a list of inputs, namely [query, value] "
                             f"or [query, value, key]. Received: inputs={inputs}.")
        if len(inputs) < 2 or len(inputs) > 3:
            raise ValueError(f"{name} accepts inputs list of length 2 or 3, namely "
                             f"[query, value] or [query, value, key]. Received length: "
                             f"{len(inputs)}.")
        if mask is not None:
            if not isinstance(mask, (list, tuple)):
                raise ValueError(f"{name} mask must be a list, namely [query_mask, "
                                 f"value_mask]. Received: mask={mask}.")
            if len(mask) < 2 or len(mask) > 3:
                raise ValueError(f"{name} accepts mask list of length 2 or 3. Received: "
                                 f"mask of length {len(mask)}.")

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale,
                "score_mode": self.score_mode, "dropout": self.dropout, "seed": self.seed}


class AdditiveAttention(Attention):
    """Additive (Bahdanau-style) attention: scores `sum(scale * tanh(query + key))`, with a
    trainable `scale` of shape `(dim,)` (glorot_uniform) when `use_scale`.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.AdditiveAttention()
    >>> layer([tf.ones((2, 3, 4)), tf.ones((2, 5, 4))]).shape
    TensorShape([2, 3, 4])
    >>> tuple(layer.scale.shape)
    (4,)
    """

    def __init__(self, use_scale=True, dropout=0.0, **kwargs):
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)

    def build(self, input_shape):
        self._validate_inputs(input_shape)
        dim = tuple(input_shape[0])[-1]
        self.scale = None
        self.concat_score_weight = None
        if self.use_scale:
            if dim is None:
                raise ValueError(f"{_describe(self)} needs a known last query dimension, "
                                 f"received shape {_format_shape(tuple(input_shape[0]))}")
            self.scale = self.add_weight(name="scale", shape=(dim,),
                                         initializer="glorot_uniform")

    def _calculate_scores(self, query, key):
        tf = _tf()
        q = _insert_axis(query, -2)
        k = _insert_axis(key, -3)
        tanh = tf.tanh(q + k)
        if self.use_scale:
            tanh = self.scale * tanh
        return tf.reduce_sum(tanh, axis=-1)

    def get_config(self):
        config = super().get_config()
        del config["score_mode"]
        return config
