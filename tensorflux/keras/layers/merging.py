"""keras.layers merging layers: Add, Subtract, Multiply, Average, Maximum, Minimum,
Concatenate and Dot, plus their functional forms (keras.layers.add, ...)."""

import math

from tensorflux.keras import backend
from tensorflux.keras.layers.base import _MASKS_ATTACHED, Layer, _describe, _format_shape

__all__ = ["Add", "Average", "Concatenate", "Dot", "Maximum", "Minimum", "Multiply",
           "Subtract", "add", "average", "concatenate", "dot", "maximum", "minimum",
           "multiply", "subtract"]


def _tf():
    import tensorflux as tf

    return tf


def _shapes_text(shapes):
    return "[" + ", ".join("None" if s is None else _format_shape(s) for s in shapes) + "]"


def _static_shape(x):
    return tuple(x.shape.as_list()) if hasattr(x.shape, "as_list") else tuple(x.shape)


def _same_dtype(inputs):
    """The inputs cast to one dtype by Keras's promotion rules when their dtypes differ (an
    int64 lookup output concatenated with float features gives float32, as in Keras)."""
    names = [x.dtype.name if hasattr(x.dtype, "name") else str(x.dtype) for x in inputs]
    if len(set(names)) <= 1:
        return list(inputs)
    tf = _tf()
    dtype = backend.result_type(*names)
    return [x if name == dtype else tf.cast(x, dtype) for x, name in zip(inputs, names)]


def _is_shape_list(input_shape):
    return isinstance(input_shape, (list, tuple)) and bool(input_shape) and all(
        s is None or isinstance(s, (list, tuple)) for s in input_shape)


class _Merge(Layer):
    """Elementwise merges of a list of inputs (broadcasting dims of 1, as Keras)."""

    _exact_inputs = None  # Subtract takes exactly 2

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self._reshape_required = False

    def get_config(self):
        # (defined, so that Layer's auto-config, which records constructor arguments such as
        # input_shape, stays off: Keras's merge layers write the base config only)
        return super().get_config()

    def _check_list(self, input_shape):
        if not _is_shape_list(input_shape):
            raise ValueError(f"{_describe(self)}: a merge layer should be called on a list of "
                             f"inputs. Received: input_shape={input_shape} (not a list of "
                             "shapes)")
        if self._exact_inputs is not None and len(input_shape) != self._exact_inputs:
            raise ValueError(f"{_describe(self)} should be called on exactly "
                             f"{self._exact_inputs} inputs. Received {len(input_shape)} "
                             f"inputs of shapes {_shapes_text(input_shape)}")

    def _elementwise_shape(self, shape1, shape2, all_shapes):
        if shape1 is None or shape2 is None:
            return None
        if len(shape1) < len(shape2):
            shape1, shape2 = shape2, shape1
        if not shape2:
            return tuple(shape1)
        out = list(shape1[:-len(shape2)])
        for i, j in zip(shape1[-len(shape2):], shape2):
            if i is None or j is None:
                out.append(None)
            elif i == 1 or j == 1:
                out.append(max(i, j) if min(i, j) == 1 else i)
            elif i != j:
                raise ValueError(f"{_describe(self)} received inputs with incompatible "
                                 f"shapes {_shapes_text(all_shapes)}: non-batch dimensions "
                                 f"{i} and {j} differ (only equal sizes or 1 broadcast).")
            else:
                out.append(i)
        return tuple(out)

    def build(self, input_shape):
        self._check_list(input_shape)
        batch_sizes = {s[0] for s in input_shape if s} - {None}
        if len(batch_sizes) > 1:
            raise ValueError(f"{_describe(self)} cannot merge tensors with different batch "
                             f"sizes. Received shapes {_shapes_text(input_shape)}")
        output = None if input_shape[0] is None else tuple(input_shape[0][1:])
        for shape in input_shape[1:]:
            output = self._elementwise_shape(
                output, None if shape is None else tuple(shape[1:]), input_shape)
        self._reshape_required = None in input_shape or len({len(s) for s in input_shape}) > 1

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"{_describe(self)}: a merge layer should be called on a list of "
                             f"inputs. Received: inputs={inputs} (not a list of tensors)")
        if self._exact_inputs is not None and len(inputs) != self._exact_inputs:
            raise ValueError(f"{_describe(self)} should be called on exactly "
                             f"{self._exact_inputs} inputs. Received {len(inputs)} inputs.")
        masks = ([getattr(x, "_keras_mask", None) for x in inputs] if _MASKS_ATTACHED[0]
                 else None)
        inputs = _same_dtype(inputs)
        if self._reshape_required:
            # Lower-rank inputs gain size-1 axes after the batch axis (Keras's rule).
            tf = _tf()
            max_rank = max(len(x.shape) for x in inputs)
            for index, x in enumerate(inputs):
                for _ in range(max_rank - len(x.shape)):
                    x = tf.expand_dims(x, 1)
                inputs[index] = x
        if self._masked_op is not None and masks and any(m is not None for m in masks):
            return self._masked_op(inputs, masks)
        return self._merge_function(inputs)

    # Multiply, Maximum and Minimum keep masked-out entries from changing the result.
    _masked_op = None

    def _merge_function(self, inputs):
        output = inputs[0]
        for x in inputs[1:]:
            output = self._op(output, x)
        return output

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        if not isinstance(mask, (tuple, list)):
            raise ValueError(f"`mask` should be a list. Received: mask={mask}")
        if any(m is None for m in mask):
            return None
        from tensorflux.keras import ops  # keras.ops: the masks may be symbolic

        output = mask[0]
        for m in mask[1:]:
            output = ops.logical_or(output, m)
        return output


def _entry_mask(mask, x):
    """A (batch, steps) mask broadcast over the features of `x`."""
    from tensorflux.keras import ops

    return ops.broadcast_to(ops.expand_dims(mask, -1), ops.shape(x))


def _merge_skipping_masked(op, inputs, masks):
    """Keras's Maximum / Minimum with masks: an input's masked-out entries take the running
    result's value (and the running result's masked-out entries take the input's), so they
    never win."""
    from tensorflux.keras import ops

    output = output_mask = None
    for x, mask in zip(inputs, masks):
        if mask is not None:
            mask = _entry_mask(mask, x)
        if output is None:
            output, output_mask = x, mask
            continue
        if mask is not None:
            x = ops.where(mask, x, output)
        if output_mask is not None:
            output = ops.where(output_mask, output, x)
        output_mask = (ops.logical_or(output_mask, mask)
                       if mask is not None and output_mask is not None else None)
        output = op(output, x)
    return output


class Add(_Merge):
    """Sums a list of inputs of the same shape.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.Add()([tf.constant([[1.0]]), tf.constant([[2.0]])]).numpy().tolist()
    [[3.0]]
    """

    def _op(self, x, y):
        return _tf().add(x, y)


class Subtract(_Merge):
    """inputs[0] - inputs[1] (exactly two inputs).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.Subtract()([tf.constant([[3.0]]), tf.constant([[1.0]])]).numpy().tolist()
    [[2.0]]
    """

    _exact_inputs = 2

    def _op(self, x, y):
        return _tf().subtract(x, y)


class Multiply(_Merge):
    """The elementwise product of a list of inputs.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.Multiply()([tf.constant([[3.0]]), tf.constant([[2.0]])]).numpy().tolist()
    [[6.0]]
    """

    def _op(self, x, y):
        return _tf().multiply(x, y)

    def _masked_op(self, inputs, masks):
        """As Keras: masked-out entries count as 1, and where every input is masked out the
        product is 0 (only when all inputs have masks)."""
        from tensorflux.keras import ops

        all_masked = all(m is not None for m in masks)
        output = output_mask = None
        for x, mask in zip(inputs, masks):
            if mask is not None:
                mask = _entry_mask(mask, x)
                x = ops.where(mask, x, ops.cast(1, x.dtype))
                if all_masked:
                    output_mask = mask if output_mask is None else ops.logical_or(output_mask,
                                                                                  mask)
            output = x if output is None else self._op(output, x)
        if all_masked:
            output = ops.where(output_mask, output, ops.cast(0, output.dtype))
        return output


class Average(_Merge):
    """The elementwise mean of a list of inputs.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.Average()([tf.constant([[3.0]]), tf.constant([[2.0]])]).numpy().tolist()
    [[2.5]]
    """

    def _op(self, x, y):
        return _tf().add(x, y)

    def _merge_function(self, inputs):
        return super()._merge_function(inputs) / len(inputs)


class Maximum(_Merge):
    """The elementwise maximum of a list of inputs.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.Maximum()([tf.constant([[3.0]]), tf.constant([[2.0]])]).numpy().tolist()
    [[3.0]]
    """

    def _op(self, x, y):
        return _tf().maximum(x, y)

    def _masked_op(self, inputs, masks):
        return _merge_skipping_masked(self._op, inputs, masks)


class Minimum(_Merge):
    """The elementwise minimum of a list of inputs.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.Minimum()([tf.constant([[3.0]]), tf.constant([[2.0]])]).numpy().tolist()
    [[2.0]]
    """

    def _op(self, x, y):
        return _tf().minimum(x, y)

    def _masked_op(self, inputs, masks):
        return _merge_skipping_masked(self._op, inputs, masks)


class Concatenate(_Merge):
    """Concatenates a list of inputs along `axis` (other dimensions must match).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.Concatenate()([tf.zeros((2, 3)), tf.zeros((2, 4))]).shape
    TensorShape([2, 7])
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def build(self, input_shape):
        if not _is_shape_list(input_shape):
            raise ValueError(f"{_describe(self)} should be called on a list of at least 1 "
                             f"input. Received: input_shape={input_shape}")
        shapes = [s for s in input_shape if s is not None]
        if not shapes:
            return
        ranks = {len(s) for s in shapes}
        error = ValueError(
            f"{_describe(self)} requires inputs with matching shapes except for the "
            f"concatenation axis {self.axis}. Received: input_shape="
            f"{_shapes_text(input_shape)}")
        if len(ranks) != 1:
            raise error
        rank = ranks.pop()
        if not -rank <= self.axis < rank:
            raise ValueError(f"{_describe(self)}: axis {self.axis} is out of range for inputs "
                             f"of rank {rank}. Received: input_shape="
                             f"{_shapes_text(input_shape)}")
        axis = self.axis % rank
        for dim in range(rank):
            if dim == axis:
                continue
            known = {s[dim] for s in shapes if s[dim] is not None}
            if len(known) > 1:
                raise error

    def call(self, inputs):
        return _tf().concat(_same_dtype(inputs), axis=self.axis)

    def compute_mask(self, inputs, mask=None):
        if mask is None or all(m is None for m in mask):
            return None
        from tensorflux.keras import ops  # keras.ops: the masks may be symbolic

        masks = []
        for x, m in zip(inputs, mask):
            if m is None:
                m = ops.ones_like(x, dtype="bool")
            elif len(m.shape) < len(x.shape):
                m = ops.logical_or(ops.expand_dims(m, -1), ops.zeros_like(x, dtype="bool"))
            masks.append(m)
        return ops.any(ops.concatenate(masks, axis=self.axis), axis=-1)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def _l2_normalize(x, axis):
    """Keras's ops.normalize(order=2): x * min(rsqrt(sum(x**2)), 1/epsilon)."""
    tf = _tf()
    square_sum = tf.reduce_sum(tf.square(x), axis=axis, keepdims=True)
    inv_norm = tf.minimum(tf.math.rsqrt(square_sum), 1.0 / backend.epsilon())
    return x * inv_norm


def _product(dims):
    """The number of elements of `dims`, or -1 (inferred by reshape) when one is unknown."""
    return -1 if None in dims else math.prod(dims)


def _reshape_keeping_batch(x, shape):
    return _tf().reshape(x, [-1 if i == 0 and d is None else d for i, d in enumerate(shape)])


def _batch_dot(layer, x, y, axes):
    """Keras's batch_dot: per-sample contraction of x's axes[0] with y's axes[1]."""
    tf = _tf()
    x_shape, y_shape = _static_shape(x), _static_shape(y)
    x_ndim, y_ndim = len(x_shape), len(y_shape)
    if x_ndim < 2 or y_ndim < 2:
        raise ValueError(f"{_describe(layer)} cannot do batch_dot on inputs with rank < 2. "
                         f"Received inputs with shapes {_format_shape(x_shape)} and "
                         f"{_format_shape(y_shape)}.")
    a0, a1 = axes
    if 0 in (a0, a1):
        raise ValueError(f"{_describe(layer)} cannot perform batch_dot over axis 0 (the batch "
                         "axis).")
    orig_x_ndim, orig_y_ndim = x_ndim, y_ndim
    if x_ndim == 2:
        x = tf.expand_dims(x, 1)
        a0 += 1
        x_ndim += 1
    if y_ndim == 2:
        y = tf.expand_dims(y, 2)
        y_ndim += 1
    if a0 != x_ndim - 1:
        pattern = list(range(x_ndim))
        for i in range(a0, x_ndim - 1):
            pattern[i] = pattern[i + 1]
        pattern[-1] = a0
        x = tf.transpose(x, pattern)
    if a1 != 1:
        pattern = list(range(y_ndim))
        for i in range(a1, 1, -1):
            pattern[i] = pattern[i - 1]
        pattern[1] = a1
        y = tf.transpose(y, pattern)
    x_mid = y_trail = None
    if x_ndim > 3:
        shape = _static_shape(x)
        x_mid = shape[1:-1]
        x = _reshape_keeping_batch(x, (shape[0], _product(x_mid), shape[-1]))
    if y_ndim > 3:
        shape = _static_shape(y)
        y_trail = shape[2:]
        y = _reshape_keeping_batch(y, (shape[0], shape[1], _product(y_trail)))
    result = tf.matmul(x, y)
    if x_mid is not None or y_trail is not None:
        shape = _static_shape(result)
        out = list(shape[:1]) + (list(x_mid) if x_mid is not None else list(shape[1:-1]))
        out += list(y_trail) if y_trail is not None else list(shape[-1:])
        result = _reshape_keeping_batch(result, out)
    if orig_x_ndim == 2:
        result = tf.squeeze(result, 1)
    elif orig_y_ndim == 2:
        result = tf.squeeze(result, -1)
    return result


class Dot(_Merge):
    """Per-sample dot product of two inputs along `axes` (cosine similarity if `normalize`).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> x = tf.constant([[1.0, 2.0]])
    >>> keras.layers.Dot(axes=1)([x, x]).numpy().tolist()
    [[5.0]]
    """

    _exact_inputs = 2

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axes, int):
            if not isinstance(axes, (list, tuple)):
                raise TypeError("Invalid type for argument `axes`: it should be a list or an "
                                f"int. Received: axes={axes}")
            if len(axes) != 2:
                raise ValueError("Invalid format for argument `axes`: it should contain two "
                                 f"elements. Received: axes={axes}")
            if not isinstance(axes[0], int) or not isinstance(axes[1], int):
                raise ValueError("Invalid format for argument `axes`: list elements should be "
                                 f"integers. Received: axes={axes}")
        self.axes = axes
        self.normalize = normalize

    def _resolve_axes(self, rank1, rank2):
        if isinstance(self.axes, int):
            if self.axes < 0:
                return [self.axes % rank1, self.axes % rank2]
            return [self.axes] * 2
        return [a % r if a < 0 else a for a, r in zip(self.axes, (rank1, rank2))]

    def build(self, input_shape):
        if not _is_shape_list(input_shape) or len(input_shape) != 2:
            raise ValueError(f"{_describe(self)} should be called on a list of 2 inputs. "
                             f"Received: input_shape={input_shape}")
        shape1, shape2 = input_shape
        if shape1 is None or shape2 is None:
            return
        axes = self._resolve_axes(len(shape1), len(shape2))
        for axis, shape in zip(axes, (shape1, shape2)):
            if not 0 <= axis < len(shape):
                raise ValueError(f"{_describe(self)}: axis {axis} is out of range for an "
                                 f"input of shape {_format_shape(shape)}")
        d1, d2 = shape1[axes[0]], shape2[axes[1]]
        if d1 is not None and d2 is not None and d1 != d2:
            raise ValueError(f"{_describe(self)} received incompatible input shapes: axis "
                             f"values {d1} (at axis {axes[0]}) != {d2} (at axis {axes[1]}). "
                             f"Full input shapes: {_format_shape(shape1)}, "
                             f"{_format_shape(shape2)}")

    def call(self, inputs):
        if len(inputs) != 2:
            raise ValueError(f"{_describe(self)} should be called on exactly 2 inputs. "
                             f"Received {len(inputs)} inputs.")
        x1, x2 = _same_dtype(inputs)
        axes = self._resolve_axes(len(x1.shape), len(x2.shape))
        if self.normalize:
            x1 = _l2_normalize(x1, axes[0])
            x2 = _l2_normalize(x2, axes[1])
        return _batch_dot(self, x1, x2, axes)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def add(inputs, **kwargs):
    """Functional form of `Add`: `keras.layers.add([x1, x2])`."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """Functional form of `Subtract`."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """Functional form of `Multiply`."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """Functional form of `Average`."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """Functional form of `Maximum`."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """Functional form of `Minimum`."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """Functional form of `Concatenate`."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, **kwargs):
    """Functional form of `Dot`."""
    return Dot(axes=axes, **kwargs)(inputs)
