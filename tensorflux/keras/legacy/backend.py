"""tf.keras.backend's Keras 1/2 functions (`K.sum`, `K.flatten`, `K.batch_dot`, ...), as thin
wrappers over tensorflux ops with TensorFlow's semantics: what `K = tf.keras.backend` code
computes with TF 2.16+ it computes here.

>>> import tensorflux as tf
>>> K = tf.keras.backend
>>> y_true, y_pred = tf.constant([[1.0, 0.0]]), tf.constant([[0.5, 0.5]])
>>> intersection = K.sum(K.flatten(y_true) * K.flatten(y_pred))
>>> float(2 * intersection / (K.sum(y_true) + K.sum(y_pred)))  # a dice coefficient
0.5
"""

import builtins
import math

import tensorflux as tf
from tensorflux.keras import backend as _config
from tensorflux.keras import ops
from tensorflux.ops.ctc import SparseTensorValue
from tensorflux.tensor import _is_dense_tensor

__all__ = [
    "abs", "all", "any", "arange", "argmax", "argmin", "batch_dot", "batch_flatten",
    "batch_get_value", "batch_normalization", "batch_set_value", "bias_add",
    "binary_crossentropy", "binary_focal_crossentropy", "cast", "cast_to_floatx",
    "categorical_crossentropy", "categorical_focal_crossentropy", "clip", "concatenate",
    "constant", "conv1d", "conv2d", "conv2d_transpose", "conv3d", "cos", "count_params",
    "ctc_batch_cost", "ctc_decode", "ctc_label_dense_to_sparse", "cumprod", "cumsum",
    "depthwise_conv2d", "dot", "dropout", "dtype", "elu", "equal", "eval", "exp", "expand_dims",
    "eye", "flatten", "foldl", "function", "foldr", "gather", "get_value", "gradients", "greater",
    "greater_equal", "hard_sigmoid", "in_top_k", "int_shape", "is_sparse", "l2_normalize",
    "less", "less_equal", "log", "map_fn", "max", "maximum", "mean", "min", "minimum",
    "moving_average_update", "name_scope", "ndim", "not_equal", "one_hot", "ones", "ones_like",
    "permute_dimensions", "pool2d", "pool3d", "pow", "prod", "random_bernoulli", "random_normal",
    "random_normal_variable", "random_uniform", "random_uniform_variable", "relu", "repeat",
    "repeat_elements", "reshape", "resize_images", "resize_volumes", "reverse", "rnn", "round",
    "separable_conv2d", "set_value", "shape", "sigmoid", "sign", "sin", "softmax", "softplus",
    "softsign", "sparse_categorical_crossentropy", "spatial_2d_padding", "spatial_3d_padding",
    "sqrt", "square", "squeeze", "stack", "std", "stop_gradient", "sum", "switch", "tanh",
    "temporal_padding", "tile", "to_dense", "transpose", "truncated_normal", "update",
    "update_add", "update_sub", "var", "variable", "zeros", "zeros_like",
]

# Keras 2 names that TF 2.16+'s tf.keras.backend no longer has (neither does this one): what
# to write instead, added to the AttributeError that old code gets.
_REMOVED = {
    "learning_phase": "Keras 3 has no global learning phase: pass training=True or False "
                      "when calling the model or layer",
    "placeholder": "Keras 3 has no placeholders: use keras.Input(shape=...)",
    "get_session": "Keras 3 has no TF1 sessions: ops run eagerly (or in tf.function)",
    "image_dim_ordering": "use K.image_data_format() ('channels_last' or 'channels_first')",
    "print_tensor": "use tf.print(x)",
    "random_binomial": "use K.random_bernoulli(shape, p)",
}
for _old, _new in (("set_learning_phase", "learning_phase"), ("in_train_phase", "learning_phase"),
                   ("in_test_phase", "learning_phase"), ("is_placeholder", "placeholder"),
                   ("set_session", "get_session"), ("get_graph", "get_session")):
    _REMOVED[_old] = _REMOVED[_new]
_REMOVED["set_image_dim_ordering"] = "use K.set_image_data_format('channels_last')"

# ---------------------------------------------------------------------- TensorFlow's own
# The legacy functions that are a TensorFlow op under another name, with the same arguments.
abs = tf.abs  # noqa: A001 - Keras's name
cast = tf.cast
cos = tf.cos
cumprod = tf.math.cumprod
cumsum = tf.cumsum
equal = tf.equal
exp = tf.exp
gather = tf.gather
greater = tf.greater
greater_equal = tf.greater_equal
less = tf.less
less_equal = tf.less_equal
log = tf.math.log
maximum = tf.maximum
minimum = tf.minimum
name_scope = tf.name_scope
not_equal = tf.not_equal
pow = tf.pow  # noqa: A001 - Keras's name
reshape = tf.reshape
round = tf.round  # noqa: A001 - Keras's name
shape = tf.shape
sigmoid = tf.sigmoid
sign = tf.sign
sin = tf.sin
softplus = tf.math.softplus
softsign = tf.math.softsign
square = tf.square
stack = tf.stack
tanh = tf.tanh
transpose = tf.transpose


# ---------------------------------------------------------------------- values and variables
def _as(value, dtype):
    """`value` as a tensor of `dtype`, converted the way numpy.asarray(value, dtype) does
    (floats truncate into integer dtypes; Python floats keep float64 precision)."""
    if not _is_dense_tensor(value):
        try:
            return tf.convert_to_tensor(value, dtype=dtype)
        except (TypeError, ValueError):
            value = tf.convert_to_tensor(value)
    return tf.cast(value, dtype)


def _float_if_bool(x):
    x = tf.convert_to_tensor(x)
    return tf.cast(x, _config.floatx()) if x.dtype == tf.bool else x


def constant(value, dtype=None, shape=None, name=None):
    """A constant tensor, of floatx unless `dtype` says otherwise."""
    return tf.constant(value, dtype=dtype or _config.floatx(), shape=shape, name=name)


def variable(value, dtype=None, name=None, constraint=None):
    """A tf.Variable holding `value` as `dtype` (floatx by default). tensorflux has no sparse
    tensors: a SciPy sparse matrix becomes a dense variable."""
    if hasattr(value, "toarray"):
        value = value.toarray()
    dtype = dtype or _config.floatx()
    return tf.Variable(_as(value, dtype), dtype=dtype, name=name, constraint=constraint)


def _variable_unless_empty(value, dtype, name):
    # TF returns a variable when every dimension is nonzero, else a plain tensor.
    if builtins.all(value.shape.as_list()):
        return variable(value, dtype=dtype, name=name)
    return value


def zeros(shape, dtype=None, name=None):
    """A variable of zeros (a tensor when a dimension is 0)."""
    dtype = dtype or _config.floatx()
    return _variable_unless_empty(tf.zeros(shape, dtype=dtype), dtype, name)


def ones(shape, dtype=None, name=None):
    """A variable of ones (a tensor when a dimension is 0)."""
    dtype = dtype or _config.floatx()
    return _variable_unless_empty(tf.ones(shape, dtype=dtype), dtype, name)


def eye(size, dtype=None, name=None):
    """A variable holding the identity matrix of `size`."""
    dtype = dtype or _config.floatx()
    return variable(tf.eye(size, dtype=dtype), dtype=dtype, name=name)


def zeros_like(x, dtype=None, name=None):
    return tf.zeros_like(x, dtype=dtype)


def ones_like(x, dtype=None, name=None):
    return tf.ones_like(x, dtype=dtype)


def arange(start, stop=None, step=1, dtype="int32"):
    """tf.range(start, stop, step) (a negative `start` alone gives an empty range), cast to
    `dtype` unless that is the default int32."""
    if stop is None and start < 0:
        start = 0
    result = tf.range(start, stop, step)
    return result if dtype == "int32" else tf.cast(result, dtype)


def cast_to_floatx(x):
    """A tensor cast to floatx, or anything else as a NumPy array of floatx."""
    if _is_dense_tensor(x):
        return tf.cast(x, _config.floatx())
    return _as(x, _config.floatx()).numpy()


def get_value(x):
    """The NumPy value of a tensor or variable; anything else is returned as it is."""
    return x.numpy() if _is_dense_tensor(x) else x


def batch_get_value(tensors):
    return [x.numpy() for x in tensors]


def set_value(x, value):
    """Assigns `value` (converted to the variable's dtype) to variable `x`."""
    x.assign(_as(value, x.dtype))


def batch_set_value(tuples):
    for x, value in tuples:
        set_value(x, value)


def update(x, new_x):
    return x.assign(new_x)


def update_add(x, increment):
    return x.assign_add(increment)


def update_sub(x, decrement):
    return x.assign_sub(decrement)


def moving_average_update(x, value, momentum):
    """x <- x * momentum + value * (1 - momentum)."""
    value = tf.cast(value, x.dtype)
    return x.assign_sub((x - value) * (1 - tf.cast(momentum, x.dtype)))


def eval(x):  # noqa: A001 - Keras's name
    return get_value(x)


def function(inputs, outputs, updates=None, name=None, **kwargs):
    """Keras 2's `K.function(inputs, outputs)`: a callable that runs the graph from the
    symbolic `inputs` to `outputs` (Keras tensors of a functional model) on data, in inference
    mode, and returns NumPy arrays, as tf_keras does in TF2's eager mode. It is
    `keras.Model(inputs, outputs)` called with training=False.

    >>> import numpy as np
    >>> import tensorflux as tf
    >>> K = tf.keras.backend
    >>> x = tf.keras.Input((2,))
    >>> double = K.function([x], [x * 2.0])
    >>> double([np.ones((1, 2), "float32")])[0].tolist()
    [[2.0, 2.0]]
    """
    if kwargs:
        raise ValueError("K.function: Session keyword arguments are not supported (there is "
                         f"no TF1 session). Received: {sorted(kwargs)}")
    if updates:
        raise ValueError("K.function: `updates` are not supported (Keras 2 ran them in a "
                         "TF1 session); apply them with variable.assign(...) instead. "
                         f"Received: {updates}")
    for tensor in tf.nest.flatten([inputs, outputs]):
        if not _config.is_keras_tensor(tensor):
            raise ValueError("K.function expects Keras tensors (keras.Input(...), "
                             "model.input, layer.output) as inputs and outputs; received "
                             f"{type(tensor).__name__}: {tensor!r}")
    from tensorflux.keras.models import Model

    model = Model(inputs=inputs, outputs=outputs, name=name)
    # One-element lists stay lists (Keras 2 returned `[array]` for `[output]`).
    wrap_output = isinstance(outputs, (list, tuple)) and len(outputs) == 1
    single_input = isinstance(inputs, (list, tuple)) and len(inputs) == 1

    def run(model_inputs):
        # The model was built from a list: a bare array for its one input goes in a list.
        if single_input and not isinstance(model_inputs, (list, tuple)):
            model_inputs = [model_inputs]
        result = model(model_inputs, training=False)
        if wrap_output:
            result = [result]
        return tf.nest.map_structure(lambda t: t.numpy() if _is_dense_tensor(t) else t, result)

    return run


def is_sparse(tensor):
    """Always False: tensorflux has no sparse tensors."""
    return False


def to_dense(tensor):
    return tensor


# ---------------------------------------------------------------------- shapes and types
def int_shape(x):
    """The static shape as a tuple of ints (None where unknown).

    >>> import tensorflux as tf
    >>> tf.keras.backend.int_shape(tf.zeros((2, 3)))
    (2, 3)
    """
    shape = x.shape
    return tuple(shape.as_list()) if hasattr(shape, "as_list") else tuple(shape)


def ndim(x):
    return len(int_shape(x))


def dtype(x):
    """The dtype's name: "float32", "int64", ..."""
    return _config.standardize_dtype(x.dtype)


def count_params(x):
    """The number of scalars in `x` (its static shape's product)."""
    return math.prod(int_shape(x))


def flatten(x):
    return tf.reshape(x, [-1])


def batch_flatten(x):
    """(batch, d1, d2, ...) -> (batch, d1 * d2 * ...)."""
    x = tf.convert_to_tensor(x)
    return tf.reshape(x, tf.stack([-1, tf.reduce_prod(tf.shape(x)[1:])]))


def expand_dims(x, axis=-1):
    return tf.expand_dims(x, axis)


def squeeze(x, axis):
    return tf.squeeze(x, [axis])


def permute_dimensions(x, pattern):
    return tf.transpose(x, perm=pattern)


def reverse(x, axes):
    return tf.reverse(x, [axes] if isinstance(axes, int) else axes)


def tile(x, n):
    return tf.tile(x, [n] if isinstance(n, int) else n)


def repeat(x, n):
    """(batch, dim) -> (batch, n, dim), each row repeated n times."""
    if ndim(x) != 2:
        raise ValueError(f"Expected input `x` to have rank 2. Received: rank(x)={ndim(x)}")
    return tf.tile(tf.expand_dims(x, 1), [1, n, 1])


def repeat_elements(x, rep, axis):
    """Each slice of `x` along `axis` repeated `rep` times in a row (numpy.repeat)."""
    return tf.repeat(x, rep, axis=axis)


def concatenate(tensors, axis=-1):
    if axis < 0:
        rank = ndim(tf.convert_to_tensor(tensors[0]))
        axis = axis % rank if rank else 0
    return tf.concat(tensors, axis)


def one_hot(indices, num_classes):
    return tf.one_hot(indices, depth=num_classes, axis=-1)


def _pad(x, spatial_padding, channels_first):
    """`x` zero-padded by one (before, after) pair per spatial axis."""
    pairs = [list(p) for p in spatial_padding]
    pattern = [[0, 0], [0, 0]] + pairs if channels_first else [[0, 0]] + pairs + [[0, 0]]
    return tf.pad(x, pattern)


def _check_padding(padding, count):
    if len(padding) != count or builtins.any(len(p) != 2 for p in padding):
        raise ValueError(f"Expected `padding` to be a tuple of {count} tuples of 2 integers. "
                         f"Received: padding={padding}")


def temporal_padding(x, padding=(1, 1)):
    """(batch, steps, features) padded by padding[0] steps before and padding[1] after."""
    if len(padding) != 2:
        raise ValueError("Expected `padding` to be a tuple of 2 integers. "
                         f"Received: padding={padding}")
    return _pad(x, [padding], channels_first=False)


def spatial_2d_padding(x, padding=((1, 1), (1, 1)), data_format=None):
    _check_padding(padding, 2)
    return _pad(x, padding, _data_format(data_format) == "channels_first")


def spatial_3d_padding(x, padding=((1, 1), (1, 1), (1, 1)), data_format=None):
    _check_padding(padding, 3)
    return _pad(x, padding, _data_format(data_format) == "channels_first")


# ---------------------------------------------------------------------- reductions
def all(x, axis=None, keepdims=False):  # noqa: A001 - Keras's name
    """Logical AND of `x` (cast to bool) along `axis`."""
    return tf.reduce_all(tf.cast(x, tf.bool), axis, keepdims)


def any(x, axis=None, keepdims=False):  # noqa: A001 - Keras's name
    """Logical OR of `x` (cast to bool) along `axis`."""
    return tf.reduce_any(tf.cast(x, tf.bool), axis, keepdims)


def sum(x, axis=None, keepdims=False):  # noqa: A001 - Keras's name
    return tf.reduce_sum(x, axis, keepdims)


def prod(x, axis=None, keepdims=False):
    return tf.reduce_prod(x, axis, keepdims)


def max(x, axis=None, keepdims=False):  # noqa: A001 - Keras's name
    return tf.reduce_max(x, axis, keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001 - Keras's name
    return tf.reduce_min(x, axis, keepdims)


def mean(x, axis=None, keepdims=False):
    """The mean along `axis` (booleans counted as floatx 0/1)."""
    return tf.reduce_mean(_float_if_bool(x), axis, keepdims)


def std(x, axis=None, keepdims=False):
    """The population standard deviation along `axis`."""
    return tf.math.reduce_std(_float_if_bool(x), axis=axis, keepdims=keepdims)


def var(x, axis=None, keepdims=False):
    """The population variance along `axis`."""
    return tf.math.reduce_variance(_float_if_bool(x), axis=axis, keepdims=keepdims)


def argmax(x, axis=-1):
    return tf.argmax(x, axis)


def argmin(x, axis=-1):
    return tf.argmin(x, axis)


# ---------------------------------------------------------------------- elementwise
def sqrt(x):
    """sqrt(max(x, 0)): negative inputs give 0, not NaN."""
    x = tf.convert_to_tensor(x)
    return tf.sqrt(tf.maximum(x, tf.zeros_like(x)))


def clip(x, min_value, max_value):
    """x clipped to [min_value, max_value] (None: unbounded; max < min clips to min)."""
    numbers = (int, float)
    if isinstance(min_value, numbers) and isinstance(max_value, numbers) and \
            max_value < min_value:
        max_value = min_value
    min_value = -math.inf if min_value is None else min_value
    max_value = math.inf if max_value is None else max_value
    return tf.clip_by_value(x, min_value, max_value)


def relu(x, alpha=0.0, max_value=None, threshold=0.0):
    """x where x > threshold, else alpha * (x - threshold); capped at max_value.

    >>> import tensorflux as tf
    >>> tf.keras.backend.relu([-2.0, 1.0, 3.0], alpha=0.5, max_value=2.0).numpy().tolist()
    [-1.0, 1.0, 2.0]
    """
    x = tf.convert_to_tensor(x)
    if alpha != 0 and max_value is None and threshold == 0:
        return tf.nn.leaky_relu(x, alpha=alpha)
    if threshold != 0:
        y = x * tf.cast(x > threshold, x.dtype)
    else:
        y = tf.nn.relu(x)
    if max_value is not None:
        y = tf.clip_by_value(y, tf.cast(0, y.dtype), tf.cast(max_value, y.dtype))
    if alpha != 0:
        y = y - tf.cast(alpha, y.dtype) * tf.nn.relu(threshold - x)
    return y


def elu(x, alpha=1.0):
    """x for x > 0, else alpha * (exp(x) - 1)."""
    res = tf.nn.elu(x)
    return res if alpha == 1 else tf.where(tf.convert_to_tensor(x) > 0, res, alpha * res)


def hard_sigmoid(x):
    """clip(0.2 * x + 0.5, 0, 1)."""
    return tf.clip_by_value(tf.convert_to_tensor(x) * 0.2 + 0.5, 0.0, 1.0)


def softmax(x, axis=-1):
    """Softmax along `axis` (an int or a tuple of axes) of a tensor of rank 2 or more."""
    x = tf.convert_to_tensor(x)
    if x.shape.rank <= 1:
        raise ValueError(f"Cannot apply softmax to a tensor that is 1D. Received input: {x}")
    if isinstance(axis, int):
        return tf.nn.softmax(x, axis=axis)
    e = tf.exp(x - tf.reduce_max(x, axis=axis, keepdims=True))
    return e / tf.reduce_sum(e, axis=axis, keepdims=True)


def l2_normalize(x, axis=None):
    return tf.math.l2_normalize(x, axis=axis)


def in_top_k(predictions, targets, k):
    """Whether each target is among the k largest of its row of predictions."""
    return tf.math.in_top_k(targets, predictions, k)


def switch(condition, then_expression, else_expression):
    """then_expression where condition, else else_expression. A scalar condition picks one
    of the two whole (tf.cond; either may be a callable); a tensor condition is elementwise,
    broadcast over the expressions' trailing axes.

    >>> import tensorflux as tf
    >>> K = tf.keras.backend
    >>> x = K.constant([1.0, -2.0])
    >>> K.switch(x > 0, x, K.zeros_like(x)).numpy().tolist()
    [1.0, 0.0]
    """
    condition = tf.cast(condition, tf.bool)
    cond_ndim = ndim(condition)
    if not cond_ndim:
        return tf.cond(condition, _thunk(then_expression), _thunk(else_expression))
    then_expression = then_expression() if callable(then_expression) else then_expression
    else_expression = else_expression() if callable(else_expression) else else_expression
    then_expression = tf.convert_to_tensor(then_expression)
    expr_ndim = ndim(then_expression)
    if cond_ndim > expr_ndim:
        raise ValueError("Rank of `condition` should be less than or equal to rank of "
                         f"`then_expression` and `else_expression`. ndim(condition)={cond_ndim}"
                         f", ndim(then_expression)={expr_ndim}")
    if cond_ndim > 1:
        trailing = tf.ones([expr_ndim - cond_ndim], "int32")
        condition = tf.reshape(condition, tf.concat([tf.shape(condition), trailing], 0))
    return tf.where(condition, then_expression, else_expression)


def _thunk(value):
    return value if callable(value) else (lambda: value)


def stop_gradient(variables):
    """tf.stop_gradient of a tensor, or of each tensor of a list."""
    if isinstance(variables, (list, tuple)):
        return [tf.stop_gradient(v) for v in variables]
    return tf.stop_gradient(variables)


def gradients(loss, variables):
    """d(loss)/d(variables), inside a traced tf.function (TensorFlow's graph-mode call)."""
    return tf.gradients(loss, variables)


# ---------------------------------------------------------------------- products
def dot(x, y):
    """Matrix product; for inputs of rank > 2, numpy.dot's contraction of x's last axis with
    y's second-to-last one."""
    x, y = tf.convert_to_tensor(x), tf.convert_to_tensor(y)
    if ndim(x) > 2 or ndim(y) > 2:
        if ndim(y) < 2:
            raise ValueError(f"dot: expected y of rank >= 2 when x has rank {ndim(x)}, "
                             f"received shape {int_shape(y)}")
        return tf.tensordot(x, y, [[ndim(x) - 1], [ndim(y) - 2]])
    return tf.matmul(x, y)


def batch_dot(x, y, axes=None):
    """Per sample of the batch (axis 0), x contracted with y over axes[0] of x and axes[1] of
    y; the result keeps x's other axes, then y's. Two (batch, n) inputs give (batch, 1).

    >>> import tensorflux as tf
    >>> K = tf.keras.backend
    >>> x, y = K.ones((32, 20, 1)), K.ones((32, 30, 20))
    >>> K.int_shape(K.batch_dot(x, y, axes=(1, 2)))
    (32, 1, 30)
    """
    x, y = tf.convert_to_tensor(x), tf.convert_to_tensor(y)
    x_shape, y_shape = int_shape(x), int_shape(y)
    x_ndim, y_ndim = len(x_shape), len(y_shape)
    if x_ndim < 2 or y_ndim < 2:
        raise ValueError("Cannot do batch_dot on inputs with rank < 2. Received inputs with "
                         f"shapes {x_shape} and {y_shape}.")
    if None not in (x_shape[0], y_shape[0]) and x_shape[0] != y_shape[0]:
        raise ValueError("Cannot do batch_dot on inputs with different batch sizes. Received "
                         f"inputs with shapes {x_shape} and {y_shape}.")
    if isinstance(axes, int):
        axes = (axes, axes)
    if axes is None:
        axes = (x_ndim - 1, y_ndim - 1 if y_ndim == 2 else y_ndim - 2)
    if builtins.any(isinstance(a, (list, tuple)) for a in axes):
        raise ValueError("Multiple target dimensions are not supported. Expected: None, int, "
                         f"(int, int), Provided: {axes}")
    a0, a1 = axes[0] % x_ndim, axes[1] % y_ndim
    if 0 in (a0, a1):
        raise ValueError("Cannot perform batch_dot over axis 0. If your inputs are not "
                         "batched, add a dummy batch dimension to your inputs using "
                         "K.expand_dims(x, 0)")
    d0, d1 = x_shape[a0], y_shape[a1]
    if None not in (d0, d1) and d0 != d1:
        raise ValueError(f"Cannot do batch_dot on inputs with shapes {x_shape} and {y_shape} "
                         f"with axes={list(axes)}. x.shape[{a0}] != y.shape[{a1}] ({d0} != "
                         f"{d1}).")
    letters = iter("bcdefghijklmnopqrstuvwxyz")
    x_letters = ["a"] + [next(letters) for _ in range(x_ndim - 1)]
    y_letters = ["a"] + [next(letters) for _ in range(y_ndim - 1)]
    y_letters[a1] = x_letters[a0]
    kept = [c for i, c in enumerate(x_letters) if i != a0] + \
        [c for i, c in enumerate(y_letters) if i not in (0, a1)]
    result = tf.einsum(f"{''.join(x_letters)},{''.join(y_letters)}->{''.join(kept)}", x, y)
    return tf.expand_dims(result, -1) if x_ndim == y_ndim == 2 else result


# ---------------------------------------------------------------------- losses
def _epsilon(like):
    return tf.cast(_config.epsilon(), like.dtype)


def binary_crossentropy(target, output, from_logits=False):
    """Elementwise binary cross-entropy; probabilities are clipped to [eps, 1 - eps] and
    eps is added inside the logs."""
    target, output = tf.convert_to_tensor(target), tf.convert_to_tensor(output)
    if from_logits:
        return tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=output)
    eps = _epsilon(output)
    output = tf.clip_by_value(output, eps, 1.0 - eps)
    return -(target * tf.math.log(output + eps) + (1 - target) * tf.math.log(1 - output + eps))


def binary_focal_crossentropy(target, output, apply_class_balancing=False, alpha=0.25,
                              gamma=2.0, from_logits=False):
    """binary_crossentropy scaled by (1 - p_t) ** gamma, and by alpha (positives) or
    1 - alpha (negatives) with apply_class_balancing."""
    target, output = tf.convert_to_tensor(target), tf.convert_to_tensor(output)
    probabilities = tf.sigmoid(output) if from_logits else output
    p_t = target * probabilities + (1 - target) * (1 - probabilities)
    focal = tf.pow(1.0 - p_t, gamma) * binary_crossentropy(target, output, from_logits)
    if apply_class_balancing:
        focal = (target * alpha + (1 - target) * (1 - alpha)) * focal
    return focal


def _class_probabilities(output, from_logits, axis):
    """Predicted probabilities along `axis`, rescaled to sum to 1 and clipped to
    [eps, 1 - eps]."""
    if from_logits:
        output = tf.nn.softmax(output, axis=axis)
    output = output / tf.reduce_sum(output, axis, keepdims=True)
    eps = _epsilon(output)
    return tf.clip_by_value(output, eps, 1.0 - eps)


def _check_same_shape(target, output, name):
    if not target.shape.is_compatible_with(output.shape):
        raise ValueError(f"{name}: target and output must have the same shape, received "
                         f"{int_shape(target)} and {int_shape(output)}")


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """-sum(target * log(probabilities)) along `axis`."""
    target, output = tf.convert_to_tensor(target), tf.convert_to_tensor(output)
    _check_same_shape(target, output, "categorical_crossentropy")
    if from_logits:
        return tf.nn.softmax_cross_entropy_with_logits(labels=target, logits=output, axis=axis)
    output = _class_probabilities(output, False, axis)
    return -tf.reduce_sum(target * tf.math.log(output), axis)


def categorical_focal_crossentropy(target, output, alpha=0.25, gamma=2.0, from_logits=False,
                                   axis=-1):
    """sum(alpha * (1 - p) ** gamma * -target * log(p)) along `axis`."""
    target, output = tf.convert_to_tensor(target), tf.convert_to_tensor(output)
    _check_same_shape(target, output, "categorical_focal_crossentropy")
    output = _class_probabilities(output, from_logits, axis)
    focal = alpha * tf.pow(1.0 - output, gamma) * (-target * tf.math.log(output))
    return tf.reduce_sum(focal, axis=axis)


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1,
                                    ignore_class=None):
    """Cross-entropy of integer labels; targets equal to `ignore_class` give 0."""
    target = tf.cast(target, "int64")
    output = tf.convert_to_tensor(output)
    if not from_logits:
        eps = _epsilon(output)
        output = tf.math.log(tf.clip_by_value(output, eps, 1 - eps))
    rank = output.shape.rank
    axis %= rank
    if axis != rank - 1:
        output = tf.transpose(output, [a for a in range(rank) if a != axis] + [axis])
    result_shape = tf.shape(output)[:-1]
    reshaped = ndim(target) != rank - 1
    if reshaped:
        target = tf.reshape(target, [-1])
        output = tf.reshape(output, [-1, tf.shape(output)[-1]])
    if ignore_class is not None:
        valid = tf.not_equal(target, tf.cast(ignore_class, target.dtype))
        target = tf.where(valid, target, tf.zeros_like(target))
    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=target, logits=output)
    if ignore_class is not None:
        loss = tf.where(valid, loss, tf.zeros_like(loss))
    return tf.reshape(loss, result_shape) if reshaped else loss


# ---------------------------------------------------------------------- CTC
def ctc_label_dense_to_sparse(labels, label_lengths):
    """The first label_lengths[i] labels of each row, as a SparseTensorValue (indices,
    values, dense_shape)."""
    labels = tf.convert_to_tensor(labels)
    label_lengths = tf.cast(label_lengths, "int32")
    keep = tf.sequence_mask(label_lengths, tf.shape(labels)[1])
    indices = tf.where(keep)
    return SparseTensorValue(tf.cast(indices, "int64"), tf.gather_nd(labels, indices),
                             tf.cast(tf.shape(labels), "int64"))


def ctc_batch_cost(y_true, y_pred, input_length, label_length):
    """The CTC loss (batch, 1) of softmax outputs y_pred (batch, steps, classes, the last one
    the blank) for dense labels y_true; lengths have shape (batch, 1)."""
    label_length = tf.cast(tf.squeeze(label_length, axis=-1), "int32")
    input_length = tf.cast(tf.squeeze(input_length, axis=-1), "int32")
    y_pred = tf.convert_to_tensor(y_pred)
    log_probabilities = tf.math.log(tf.transpose(y_pred, [1, 0, 2]) + _epsilon(y_pred))
    loss = tf.nn.ctc_loss(tf.cast(y_true, "int32"), log_probabilities, label_length,
                          input_length, blank_index=-1)
    return tf.expand_dims(loss, 1)


def ctc_decode(y_pred, input_length, greedy=True, beam_width=100, top_paths=1):
    """Best label sequences of softmax outputs y_pred (batch, steps, classes), each a dense
    (batch, steps) tensor padded with -1, and their log probabilities."""
    y_pred = tf.convert_to_tensor(y_pred)
    log_probabilities = tf.math.log(tf.transpose(y_pred, [1, 0, 2]) + _epsilon(y_pred))
    input_length = tf.cast(input_length, "int32")
    if greedy:
        decoded, log_prob = tf.nn.ctc_greedy_decoder(log_probabilities, input_length)
    else:
        decoded, log_prob = tf.nn.ctc_beam_search_decoder(
            log_probabilities, input_length, beam_width=beam_width, top_paths=top_paths)
    padded = tf.fill(tf.shape(y_pred)[:2], tf.constant(-1, "int64"))
    return [tf.tensor_scatter_nd_update(padded, d.indices, tf.cast(d.values, "int64"))
            for d in decoded], log_prob


# ---------------------------------------------------------------------- layers' maths
def _data_format(data_format):
    data_format = _config.image_data_format() if data_format is None else data_format
    if data_format not in ("channels_first", "channels_last"):
        raise ValueError(f"Unknown data_format: {data_format}")
    return data_format


def _padding(padding, allowed=("same", "valid")):
    if padding not in allowed:
        raise ValueError(f"Invalid padding: {padding}; expected one of {allowed}")
    return padding


def conv1d(x, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """1D convolution; padding "causal" pads dilation_rate * (kernel_size - 1) steps on the
    left first."""
    data_format = _data_format(data_format)
    if _padding(padding, ("same", "valid", "causal")) == "causal":
        left = dilation_rate * (int_shape(kernel)[0] - 1)
        x = _pad(x, [(left, 0)], data_format == "channels_first")
        padding = "valid"
    return ops.conv(x, kernel, strides, padding, data_format, dilation_rate)


def conv2d(x, kernel, strides=(1, 1), padding="valid", data_format=None,
           dilation_rate=(1, 1)):
    return ops.conv(x, kernel, strides, _padding(padding), _data_format(data_format),
                    dilation_rate)


def conv3d(x, kernel, strides=(1, 1, 1), padding="valid", data_format=None,
           dilation_rate=(1, 1, 1)):
    return ops.conv(x, kernel, strides, _padding(padding), _data_format(data_format),
                    dilation_rate)


def depthwise_conv2d(x, depthwise_kernel, strides=(1, 1), padding="valid", data_format=None,
                     dilation_rate=(1, 1)):
    return ops.depthwise_conv(x, depthwise_kernel, strides, _padding(padding),
                              _data_format(data_format), dilation_rate)


def separable_conv2d(x, depthwise_kernel, pointwise_kernel, strides=(1, 1), padding="valid",
                     data_format=None, dilation_rate=(1, 1)):
    if len(strides) != 2:
        raise ValueError("`strides` must be a tuple of 2 integers.")
    return ops.separable_conv(x, depthwise_kernel, pointwise_kernel, strides, _padding(padding),
                              _data_format(data_format), dilation_rate)


def conv2d_transpose(x, kernel, output_shape, strides=(1, 1), padding="valid",
                     data_format=None, dilation_rate=(1, 1)):
    """The transposed 2D convolution producing `output_shape` (TensorFlow's form: the kernel
    is (height, width, output_channels, input_channels))."""
    channels_first = _data_format(data_format) == "channels_first"
    if dilation_rate[0] != dilation_rate[1]:
        raise ValueError("Expected the 2 dimensions of the `dilation_rate` argument to be "
                         f"equal to each other. Received: dilation_rate={dilation_rate}")
    output_shape = list(output_shape)
    if channels_first:
        x = tf.transpose(x, [0, 2, 3, 1])
        output_shape = [output_shape[0]] + output_shape[2:] + [output_shape[1]]
    if output_shape[0] is None:
        output_shape[0] = tf.shape(x)[0]
    x = tf.nn.conv2d_transpose(x, kernel, tf.stack(output_shape), (1, *strides, 1),
                               padding=_padding(padding).upper(), dilations=dilation_rate)
    return tf.transpose(x, [0, 3, 1, 2]) if channels_first else x


def _pool(x, pool_size, strides, padding, data_format, pool_mode):
    pool = {"max": ops.max_pool, "avg": ops.average_pool}.get(pool_mode)
    if pool is None:
        raise ValueError(f"Invalid pooling mode: {pool_mode}")
    return pool(x, pool_size, strides, _padding(padding), _data_format(data_format))


def pool2d(x, pool_size, strides=(1, 1), padding="valid", data_format=None, pool_mode="max"):
    """2D max ("max") or average ("avg") pooling."""
    if len(pool_size) != 2:
        raise ValueError("`pool_size` must be a tuple of 2 integers.")
    if len(strides) != 2:
        raise ValueError("`strides` must be a tuple of 2 integers.")
    return _pool(x, pool_size, strides, padding, data_format, pool_mode)


def pool3d(x, pool_size, strides=(1, 1, 1), padding="valid", data_format=None,
           pool_mode="max"):
    """3D max ("max") or average ("avg") pooling."""
    return _pool(x, pool_size, strides, padding, data_format, pool_mode)


def bias_add(x, bias, data_format=None):
    """x + bias, the bias on the channels axis (1D) or on all non-batch axes."""
    channels_first = _data_format(data_format) == "channels_first"
    x, bias = tf.convert_to_tensor(x), tf.convert_to_tensor(bias)
    bias_shape = int_shape(bias)
    if len(bias_shape) not in (1, ndim(x) - 1):
        raise ValueError(f"Unexpected bias dimensions {len(bias_shape)}. Expected it to be 1 "
                         f"or {ndim(x) - 1} dimensions")
    if channels_first:
        # (C,) or (..., C) becomes (1, C, ...): the channels move next to the batch axis.
        bias = tf.reshape(bias, (1, bias_shape[-1]) + bias_shape[:-1] +
                          (1,) * (ndim(x) - 1 - len(bias_shape)))
    return x + bias


def batch_normalization(x, mean, var, beta, gamma, axis=-1, epsilon=1e-3):
    """(x - mean) / sqrt(var + epsilon) * gamma + beta."""
    return tf.nn.batch_normalization(x, mean, var, beta, gamma, epsilon)


def dropout(x, level, noise_shape=None, seed=None):
    """Inverted dropout: a fraction `level` of x zeroed, the rest scaled by 1 / (1 - level)."""
    return tf.nn.dropout(x, rate=level, noise_shape=noise_shape, seed=seed)


def resize_images(x, height_factor, width_factor, data_format, interpolation="nearest"):
    """Images (batch, height, width, channels, or channels first) scaled up by integer
    factors, with tf.image.resize's `interpolation`."""
    channels_first = _data_format(data_format) == "channels_first"
    x = tf.convert_to_tensor(x)
    if channels_first:
        x = tf.transpose(x, [0, 2, 3, 1])
    size = tf.shape(x)[1:3] * tf.constant([height_factor, width_factor], "int32")
    x = tf.image.resize(x, size, method=interpolation)
    return tf.transpose(x, [0, 3, 1, 2]) if channels_first else x


def resize_volumes(x, depth_factor, height_factor, width_factor, data_format):
    """Volumes (batch, depth, height, width, channels, or channels first) with each voxel
    repeated by the three factors."""
    first = 2 if _data_format(data_format) == "channels_first" else 1
    for axis, factor in enumerate((depth_factor, height_factor, width_factor), first):
        x = repeat_elements(x, factor, axis)
    return x


# ---------------------------------------------------------------------- random
def _random(draw, shape, dtype, seed, **kwargs):
    return draw(shape, dtype=dtype or _config.floatx(), seed=seed, **kwargs)


def random_uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    return _random(tf.random.uniform, shape, dtype, seed, minval=minval, maxval=maxval)


def random_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    return _random(tf.random.normal, shape, dtype, seed, mean=mean, stddev=stddev)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    return _random(tf.random.truncated_normal, shape, dtype, seed, mean=mean, stddev=stddev)


def random_bernoulli(shape, p=0.0, dtype=None, seed=None):
    """1 with probability p, else 0."""
    draw = random_uniform(shape, dtype=dtype, seed=seed)
    return tf.cast(draw <= p, draw.dtype)


def random_uniform_variable(shape, low, high, dtype=None, name=None, seed=None):
    return variable(random_uniform(shape, low, high, dtype, seed), dtype=dtype, name=name)


def random_normal_variable(shape, mean, scale, dtype=None, name=None, seed=None):
    return variable(random_normal(shape, mean, scale, dtype, seed), dtype=dtype, name=name)


# ---------------------------------------------------------------------- loops
def map_fn(fn, elems, name=None, dtype=None):
    return tf.map_fn(fn, elems, dtype=dtype)


def _fold(fn, elems, initializer, reverse):
    elems = tf.convert_to_tensor(elems)
    if initializer is None:
        initializer = elems[-1] if reverse else elems[0]
        elems = elems[:-1] if reverse else elems[1:]
    if int_shape(elems)[0] == 0:
        return initializer
    results = tf.scan(fn, elems, initializer=initializer, reverse=reverse)
    return results[0] if reverse else results[-1]


def foldl(fn, elems, initializer=None, name=None):
    """fn(... fn(fn(initializer, elems[0]), elems[1]) ..., elems[-1]) (initializer defaults
    to elems[0])."""
    return _fold(fn, elems, initializer, reverse=False)


def foldr(fn, elems, initializer=None, name=None):
    """foldl from the last element to the first (initializer defaults to elems[-1])."""
    return _fold(fn, elems, initializer, reverse=True)


def rnn(step_function, inputs, initial_states, go_backwards=False, mask=None, constants=None,
        unroll=False, input_length=None, time_major=False, zero_output_for_mask=False,
        return_all_outputs=True):
    """Runs `step_function(input_t, states + constants) -> (output_t, new_states)` over the
    time axis of `inputs`; returns (last_output, outputs, new_states). Masked steps (mask of
    shape (batch, time)) keep the previous states and output (zeros with
    zero_output_for_mask)."""
    from tensorflux.keras.layers.rnn.rnn import generic_rnn

    inputs = tf.convert_to_tensor(inputs)
    if time_major:
        inputs = _swap_batch_and_time(inputs)
    if mask is not None:
        mask = tf.cast(mask, tf.bool)
        if time_major:
            mask = _swap_batch_and_time(mask)
        if ndim(mask) == 3:
            mask = mask[:, :, 0]
    constants = tuple(constants or ())

    def step(x_t, states):
        return step_function(x_t, tuple(states) + constants)

    last_output, outputs, new_states = generic_rnn(
        step, inputs, list(initial_states), mask, go_backwards, zero_output_for_mask,
        return_all_outputs)
    return last_output, _swap_batch_and_time(outputs) if time_major else outputs, new_states


def _swap_batch_and_time(x):
    return tf.transpose(x, [1, 0] + list(range(2, ndim(x))))
