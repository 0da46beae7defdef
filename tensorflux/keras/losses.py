"""keras.losses: Keras 3's loss functions and Loss classes, reductions and sample weighting.

The numerics follow keras/src/losses/{loss,losses}.py and the backend crossentropies: the
same epsilon (1e-7) clipping in probability space, the same rank squeeze/expand of labels,
the same "sum_over_batch_size" reduction. Where Keras would silently broadcast labels against
predictions of another shape, these raise an InvalidArgumentError naming the loss and shapes.
"""

import inspect as _inspect
import math as _math
import sys as _sys

from tensorflux import errors
from tensorflux.context import context as _context
from tensorflux.dtypes import DType as _DType
from tensorflux.keras import _objects
from tensorflux.ops._core import const_like
from tensorflux.tensor import Tensor as _Tensor
from tensorflux.tensor import _is_dense_tensor

__all__ = [
    "BinaryCrossentropy", "BinaryFocalCrossentropy", "CTC", "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy", "CategoricalGeneralizedCrossEntropy", "CategoricalHinge",
    "Circle", "CosineSimilarity", "Dice", "Hinge",
    "Huber", "KLDivergence", "LogCosh", "Loss", "LossFunctionWrapper", "MeanAbsoluteError",
    "MeanAbsolutePercentageError", "MeanSquaredError", "MeanSquaredLogarithmicError",
    "Poisson", "SparseCategoricalCrossentropy", "SquaredHinge", "Tversky",
    "binary_crossentropy", "binary_focal_crossentropy", "categorical_crossentropy",
    "categorical_focal_crossentropy", "categorical_generalized_cross_entropy",
    "categorical_hinge", "circle", "cosine_similarity", "ctc", "deserialize",
    "dice", "get", "hinge", "huber", "kl_divergence", "kld", "log_cosh", "logcosh", "mae",
    "mape", "mean_absolute_error", "mean_absolute_percentage_error", "mean_squared_error",
    "mean_squared_logarithmic_error", "mse", "msle", "poisson", "serialize",
    "sparse_categorical_crossentropy", "squared_hinge", "tversky",
]

EPSILON = 1e-7  # keras.backend.epsilon()
_REDUCTIONS = ("sum_over_batch_size", "sum", None, "none", "mean", "mean_with_sample_weight")


def _tf():
    return _sys.modules["tensorflux"]  # (imported lazily: tensorflux imports this module)


# ------------------------------------------------------------------ conversion and shapes

def _float_dtype(dtype):
    """Keras's `dtype` argument (None -> floatx, a name, a DType or a DTypePolicy) as a DType."""
    tf = _tf()
    if dtype is None:
        from tensorflux.keras import backend

        return tf.as_dtype(backend.floatx())
    dtype = getattr(dtype, "compute_dtype", dtype)
    return tf.as_dtype(dtype)


def _dtype_name(dtype):
    return _float_dtype(dtype).name


_DTYPES = {}  # a dtype's name ("float32": a Loss's dtype) -> the DType


def convert(x, dtype=None):
    """`x` as a tensor; cast (not refused) when it has another dtype, as keras.ops does."""
    # (an eager Tensor, the common case, is one class test: it is a dense, non-Variable one)
    if x.__class__ is not _Tensor and not (_is_dense_tensor(x)
                                           and not isinstance(x, _tf().Variable)):
        x = _tf().convert_to_tensor(x)
    if dtype is not None:
        if dtype.__class__ is not _DType:
            named = _DTYPES.get(dtype) if dtype.__class__ is str else None
            if named is None:
                named = _tf().as_dtype(dtype)
                if dtype.__class__ is str:
                    _DTYPES[dtype] = named
            dtype = named
        current = x.dtype
        if current is not dtype and current != dtype:
            x = _tf().cast(x, dtype)
    return x


def _prediction(y_pred):
    """y_pred as a float tensor (integer predictions are computed in floatx)."""
    y_pred = convert(y_pred)
    if not y_pred.dtype.is_floating:
        y_pred = convert(y_pred, _tf().float32)
    return y_pred


def _shape(x):
    """x's dims as a tuple (None for an unknown dim), or None for an unknown rank."""
    shape = x.shape
    dims = getattr(shape, "_dims", shape)  # (a TensorShape's own tuple, or None)
    if dims is shape:
        return tuple(shape) if shape.rank is not None else None
    return dims


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Keras's rule: when ranks differ by one and the longer ends in 1, align them.

    A rank-1 partner is expanded (N,) -> (N, 1) when `expand_rank_1`; otherwise the trailing 1
    is squeezed away.

    >>> from tensorflux.keras import losses
    >>> a, b = losses.squeeze_or_expand_to_same_rank([1.0, 2.0], [[1.0], [2.0]])
    >>> tuple(a.shape), tuple(b.shape)
    ((2, 1), (2, 1))
    """
    tf = _tf()
    x1, x2 = convert(x1), convert(x2)
    rank1, rank2 = x1.shape.rank, x2.shape.rank
    if rank1 is None or rank2 is None or rank1 == rank2:
        return x1, x2
    if rank1 == rank2 + 1 and x1.shape[-1] == 1:
        if rank2 == 1 and expand_rank_1:
            x2 = tf.expand_dims(x2, -1)
        else:
            x1 = tf.squeeze(x1, axis=-1)
    if rank2 == rank1 + 1 and x2.shape[-1] == 1:
        if rank1 == 1 and expand_rank_1:
            x1 = tf.expand_dims(x1, -1)
        else:
            x2 = tf.squeeze(x2, axis=-1)
    return x1, x2


def _shapes_match(a, b):
    if a is None or b is None:
        return True
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


def _check_same_shape(op, y_true, y_pred):
    if not _shapes_match(_shape(y_true), _shape(y_pred)):
        raise errors.InvalidArgumentError(
            f"{op}: y_true and y_pred must have the same shape (after Keras's squeeze/expand "
            f"of a trailing 1), received y_true of shape {_shape(y_true)} and y_pred of shape "
            f"{_shape(y_pred)}", op)


def _aligned(op, y_true, y_pred):
    """(y_true cast to y_pred's dtype, y_pred), rank-aligned and checked to match in shape."""
    y_pred = _prediction(y_pred)
    y_true = convert(y_true, y_pred.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    _check_same_shape(op, y_true, y_pred)
    return y_true, y_pred


def _const(value, x):
    """`value` as a constant of x's dtype: eagerly, a Python number's cached tensor (the loss
    functions' epsilon, 1.0, ...); a trace makes its own, so that its graph holds constants,
    not captured tensors."""
    kind = value.__class__
    if _context.graph is not None or (kind is not float and kind is not int):
        return _tf().constant(value, dtype=x.dtype)
    return const_like(value, x.dtype)


def _is_eager():
    return _context.graph is None


# ------------------------------------------------------------------ reduction

def standardize_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"Invalid value for argument `reduction`. Expected one of "
                         f"{set(_REDUCTIONS)}. Received: reduction={reduction}")
    return reduction


def apply_mask(sample_weight, mask, dtype, reduction):
    """Folds a boolean mask of valid entries into the sample weights (Keras's apply_mask)."""
    tf = _tf()
    if mask is None:
        return sample_weight
    mask = convert(mask)
    if reduction in ("mean", "sum_over_batch_size"):
        total = tf.cast(tf.size(mask), dtype)
        valid = tf.reduce_sum(tf.cast(mask, dtype))
        weight = tf.math.divide_no_nan(total, valid)
        float_mask = tf.where(tf.cast(mask, tf.bool), weight * tf.ones_like(tf.cast(mask, dtype)),
                              tf.zeros_like(tf.cast(mask, dtype)))
    else:
        float_mask = tf.cast(mask, dtype)
    if sample_weight is None:
        return float_mask
    sample_weight = convert(sample_weight, dtype)
    float_mask, sample_weight = squeeze_or_expand_to_same_rank(float_mask, sample_weight)
    return sample_weight * float_mask


def _check_weight_shape(op, values, sample_weight):
    vs, ws = _shape(values), _shape(sample_weight)
    # A loss already reduced to a scalar (a custom loss that takes the mean itself) is
    # scaled by each weight, as Keras's broadcasting does: with class_weight it then weighs
    # by the batch's mean weight.
    if vs is None or ws is None or len(ws) == 0 or len(vs) == 0:
        return
    ok = len(ws) == len(vs) and all(
        w is None or v is None or w == v or w == 1 for v, w in zip(vs, ws))
    if not ok:
        raise errors.InvalidArgumentError(
            f"{op}: sample_weight of shape {ws} cannot weigh per-sample loss values of shape "
            f"{vs} (it must have their shape, a trailing 1 more or less, or be a scalar)", op)


def _check_mask_weight(op, mask, sample_weight):
    """Names the loss when sample weights cannot broadcast against the outputs' mask (a
    (batch,) weight for a masked (batch, timesteps) loss), where the multiply would fail
    without saying whose weights they are."""
    mask, sample_weight = squeeze_or_expand_to_same_rank(mask, sample_weight)
    ms, ws = _shape(mask), _shape(sample_weight)
    if ms is None or ws is None:
        return
    tf = _tf()
    try:
        tf.broadcast_static_shape(tf.TensorShape(ms), tf.TensorShape(ws))
    except (ValueError, errors.InvalidArgumentError):
        raise errors.InvalidArgumentError(
            f"{op}: sample_weight of shape {ws} cannot weigh the masked loss values of shape "
            f"{ms} (it must have their shape, a trailing 1 more or less, or be a scalar)",
            op) from None


def reduce_values(values, sample_weight=None, reduction="sum_over_batch_size"):
    """Keras's reduce_values: "sum", or the sum divided by the element count (or weight sum)."""
    tf = _tf()
    shape = _shape(values)
    if reduction is None or reduction == "none" or shape == () or shape == (0,):
        return values
    loss = tf.reduce_sum(values)
    if reduction in ("sum_over_batch_size", "mean", "mean_with_sample_weight"):
        if reduction == "mean_with_sample_weight" and sample_weight is not None:
            divisor = tf.cast(tf.reduce_sum(sample_weight), loss.dtype)
        else:
            divisor = _size_divisor(values, shape, loss.dtype)
            if divisor is not None:
                # divide_no_nan(loss, divisor) is where(divisor != 0, loss / divisor, 0):
                # loss / divisor itself for this nonzero divisor (its value, and its
                # gradient g / divisor), without the five ops that guard against zero.
                return loss / divisor
            divisor = tf.cast(tf.size(values), loss.dtype)
        loss = tf.math.divide_no_nan(loss, divisor)
    return loss


# (shape, dtype, backend) -> cast(size(values), dtype), computed as reduce_values computes
# it, for eager calls: a constant per batch shape (cleared when it grows long).
_SIZE_DIVISORS = {}


def _size_divisor(values, shape, dtype):
    """cast(size(values), dtype) for an eager, fully-defined, nonempty float loss (from a
    cache); None elsewhere (a trace, a dynamic shape, no elements, an integer loss)."""
    context = _context
    if context.graph is not None:
        return None
    key = (shape, dtype, context.backend)
    divisor = _SIZE_DIVISORS.get(key)
    if divisor is not None:
        return divisor
    if shape is None or not dtype.is_floating:
        return None
    count = 1
    for dim in shape:
        if dim is None:
            return None
        count *= dim
    if not 0 < count < 2 ** 31:  # (tf.size is an int32)
        return None
    if len(_SIZE_DIVISORS) >= 64:
        _SIZE_DIVISORS.clear()
    tf = _tf()
    divisor = _SIZE_DIVISORS[key] = tf.cast(tf.size(values), dtype)
    return divisor


def reduce_weighted_values(values, sample_weight=None, mask=None,
                           reduction="sum_over_batch_size", dtype=None, name="loss"):
    """Keras's reduce_weighted_values: mask -> weights, weights * values, then reduce."""
    reduction = standardize_reduction(reduction)
    values = convert(values, dtype)
    if sample_weight is not None:
        sample_weight = convert(sample_weight, values.dtype)
        if mask is not None:
            _check_mask_weight(name, convert(mask), sample_weight)
    sample_weight = apply_mask(sample_weight, mask, values.dtype, reduction)
    if sample_weight is not None:
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        _check_weight_shape(name, values, sample_weight)
        values = values * sample_weight
    return reduce_values(values, sample_weight, reduction)


# ------------------------------------------------------------------ Loss base classes

def _auto_name(class_name):
    """Keras's auto_name, on the shared counters that backend.clear_session resets."""
    from tensorflux.keras import backend

    return backend.auto_name(class_name)


def _from_config(cls, config):
    try:
        return cls(**config)
    except TypeError as error:
        # Most often a subclass whose __init__ takes arguments its get_config() leaves out.
        raise TypeError(
            f"Could not create {cls.__name__} from its config {config}: {error}. If "
            f"{cls.__name__}.__init__() takes arguments, get_config() must return them "
            "(`config = super().get_config(); config.update(...)`), or from_config() must "
            "supply them.") from error


class SuperInitNotCalledError(RuntimeError, AttributeError):
    """RuntimeError as Keras raises; an AttributeError too, so hasattr() stays False."""


_SET_BY_INIT = frozenset({"_dtype", "name", "reduction", "_variables", "_metrics"})


class _Named:
    """What Loss and keras.metrics.Metric share: `name`, `dtype`, the label that names the
    object in error messages, the config round trip and the repr."""

    @property
    def dtype(self):
        return self._dtype

    def __getattr__(self, name):
        # Only reached for a missing attribute: the ones __init__ sets are missing when a
        # subclass's __init__ did not call super().__init__().
        if name in _SET_BY_INIT and "_dtype" not in self.__dict__:
            raise SuperInitNotCalledError(
                f"{type(self).__name__} has no attribute '{name}' because its `__init__()` "
                "does not call `super().__init__()`; call it first thing, passing on `name`, "
                "`dtype` and the other base arguments (`super().__init__(**kwargs)`).")
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def _label(self):
        return f"{type(self).__name__} '{self.name}'"

    from_config = classmethod(_from_config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


def _bind_arguments(class_name, order, values, args, kwargs):
    """`values` (the defaults) updated with `args` (by `order`) and `kwargs`, refusing what
    Python's own signature would refuse."""
    if len(args) > len(order):
        raise TypeError(f"{class_name}() takes at most {len(order)} positional arguments")
    values.update(zip(order, args))
    for key, value in kwargs.items():
        if key not in values:
            raise TypeError(f"{class_name}() got an unexpected keyword argument {key!r}")
        values[key] = value
    return values


def _init_signature(order, defaults):
    """The Signature `(self, <order with defaults>)` a generated class's `__init__(*args,
    **kwargs)` shows to inspect.signature (and so to help() and IDEs)."""
    kind = _inspect.Parameter.POSITIONAL_OR_KEYWORD
    return _inspect.Signature([_inspect.Parameter("self", kind)] + [
        _inspect.Parameter(name, kind, default=defaults[name]) for name in order])


def _call_fn(owner, fn, y_true, y_pred, kwargs):
    """(values, mask) of the loss function `fn` (through its masked form where it has one);
    its errors are relabelled with `owner`'s label."""
    masked = _MASKED.get(fn)
    try:
        if masked is not None:
            return masked(y_true, y_pred, **kwargs)
        values = fn(y_true, y_pred, **kwargs)
    except errors.InvalidArgumentError as error:
        raise errors.InvalidArgumentError(f"{owner._label()}: {error.message}",
                                          error.op) from None
    if values is None:  # (else "Attempt to convert a value (None)", naming neither)
        raise ValueError(f"{owner._label()}: its function {getattr(fn, '__name__', fn)!r} "
                         "returned None; it must return a tensor of values, one per sample "
                         "(is a `return` missing?).")
    return values, None


def _fn_from_config(cls, config, deserialize_fn):
    config = dict(config)
    if "fn" in config:
        config["fn"] = deserialize_fn(config["fn"])
    return cls(**config)


class Loss(_Named):
    """Base class: subclasses implement `call(y_true, y_pred)` -> per-sample losses.

    `__call__` converts both inputs to the loss dtype, applies `sample_weight` and reduces
    with `reduction` ("sum_over_batch_size" by default).
    """

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        self.name = name or _auto_name(type(self).__name__)
        self.reduction = standardize_reduction(reduction)
        self._dtype = _dtype_name(dtype)

    def _call_with_mask(self, y_true, y_pred):
        return self.call(y_true, y_pred), None

    def __call__(self, y_true, y_pred, sample_weight=None):
        in_mask = getattr(y_pred, "_keras_mask", None)
        y_pred = convert(y_pred, self._dtype)
        y_true = convert(y_true)
        if y_true.dtype.name == "string":
            # (the cast below would fail only when the step runs, as NumPy's "could not
            # convert string to float", naming neither the loss nor the labels)
            raise ValueError(
                f"{self._label()} needs numeric labels (y_true), but received strings (a "
                f"string tensor of shape {_shape(y_true)}). Map the class names to "
                "integer indices first, e.g. with keras.layers.StringLookup or "
                "np.unique(y, return_inverse=True).")
        y_true = convert(y_true, self._dtype)
        losses, out_mask = self._call_with_mask(y_true, y_pred)
        if in_mask is not None and out_mask is not None:
            mask = _tf().logical_and(convert(in_mask, "bool"), convert(out_mask, "bool"))
        else:
            mask = in_mask if in_mask is not None else out_mask
        # (the label names the loss in the errors of weights and masks alone)
        label = "loss" if sample_weight is None and mask is None else self._label()
        return reduce_weighted_values(losses, sample_weight=sample_weight, mask=mask,
                                      reduction=self.reduction, dtype=self._dtype, name=label)

    def call(self, y_true, y_pred):
        raise NotImplementedError

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}


class LossFunctionWrapper(Loss):
    """A Loss around a per-sample loss function `fn(y_true, y_pred, **kwargs)`."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def _call_with_mask(self, y_true, y_pred):
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return _call_fn(self, self.fn, y_true, y_pred, self._fn_kwargs)

    def call(self, y_true, y_pred):
        return self._call_with_mask(y_true, y_pred)[0]

    def get_config(self):
        config = super().get_config()
        config["fn"] = serialize(self.fn)
        config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config):
        return _fn_from_config(cls, config, deserialize)

    def __repr__(self):
        return f"<LossFunctionWrapper({self.fn}, kwargs={self._fn_kwargs})>"


def _wrapper_class(class_name, fn, default_name, doc, params=(), config_params=None,
                   order=None):
    """A LossFunctionWrapper subclass with Keras's signature: params + reduction/name/dtype.

    `config_params` lists the params get_config reports (Keras leaves some out, e.g. Huber's
    delta); by default all of them. `order` is the positional order where Keras's differs
    from params + reduction, name, dtype (Dice and Tversky put `axis` after `name`).
    """
    config_params = [p for p, _ in params] if config_params is None else config_params

    order = order or [p for p, _ in params] + ["reduction", "name", "dtype"]
    defaults = dict(params, reduction="sum_over_batch_size", name=default_name, dtype=None)

    def __init__(self, *args, **kwargs):  # noqa: N807 - becomes the class's __init__
        values = _bind_arguments(class_name, order, dict(defaults), args, kwargs)
        reduction, name, dtype = values.pop("reduction"), values.pop("name"), values.pop("dtype")
        LossFunctionWrapper.__init__(self, fn, reduction=reduction, name=name, dtype=dtype,
                                     **values)
        for key, value in values.items():
            setattr(self, key, value)

    __init__.__signature__ = _init_signature(order, defaults)

    def get_config(self):
        config = Loss.get_config(self)
        config.update({key: getattr(self, key) for key in config_params})
        return config

    return type(class_name, (LossFunctionWrapper,), {
        "__init__": __init__, "get_config": get_config, "from_config": classmethod(_from_config),
        "__doc__": doc, "__module__": __name__})


# ------------------------------------------------------------------ regression losses

def mean_squared_error(y_true, y_pred):
    """mean((y_true - y_pred)^2, axis=-1).

    >>> from tensorflux.keras import losses
    >>> losses.mean_squared_error([[0.0, 1.0]], [[1.0, 1.0]]).numpy().tolist()
    [0.5]
    """
    tf = _tf()
    y_true, y_pred = _aligned("mean_squared_error", y_true, y_pred)
    return tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """mean(|y_true - y_pred|, axis=-1).

    >>> from tensorflux.keras import losses
    >>> losses.mean_absolute_error([[0.0, 1.0]], [[1.0, 1.0]]).numpy().tolist()
    [0.5]
    """
    tf = _tf()
    y_true, y_pred = _aligned("mean_absolute_error", y_true, y_pred)
    return tf.reduce_mean(tf.abs(y_true - y_pred), axis=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    """100 * mean(|(y_true - y_pred) / max(|y_true|, epsilon)|, axis=-1).

    >>> from tensorflux.keras import losses
    >>> losses.mean_absolute_percentage_error([[2.0]], [[1.0]]).numpy().tolist()
    [50.0]
    """
    tf = _tf()
    y_true, y_pred = _aligned("mean_absolute_percentage_error", y_true, y_pred)
    diff = tf.abs((y_true - y_pred) / tf.maximum(tf.abs(y_true), _const(EPSILON, y_pred)))
    return _const(100.0, y_pred) * tf.reduce_mean(diff, axis=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    """mean((log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1))^2, axis=-1).

    >>> from tensorflux.keras import losses
    >>> losses.mean_squared_logarithmic_error([[1.0]], [[1.0]]).numpy().tolist()
    [0.0]
    """
    tf = _tf()
    y_true, y_pred = _aligned("mean_squared_logarithmic_error", y_true, y_pred)
    eps, one = _const(EPSILON, y_pred), _const(1.0, y_pred)
    first = tf.math.log(tf.maximum(y_pred, eps) + one)
    second = tf.math.log(tf.maximum(y_true, eps) + one)
    return tf.reduce_mean(tf.square(first - second), axis=-1)


def _l2_normalize(x, axis):
    """Keras's ops.normalize(order=2): x * min(rsqrt(sum(x^2)), 1 / epsilon)."""
    tf = _tf()
    inv = tf.math.rsqrt(tf.reduce_sum(tf.square(x), axis=axis, keepdims=True))
    return x * tf.minimum(inv, _const(1.0 / EPSILON, x))


def cosine_similarity(y_true, y_pred, axis=-1):
    """-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis).

    >>> from tensorflux.keras import losses
    >>> [round(float(v), 6) for v in losses.cosine_similarity([[1.0, 0.0]], [[2.0, 0.0]]).numpy()]
    [-1.0]
    """
    tf = _tf()
    y_true, y_pred = _aligned("cosine_similarity", y_true, y_pred)
    return -tf.reduce_sum(_l2_normalize(y_true, axis) * _l2_normalize(y_pred, axis), axis=axis)


def huber(y_true, y_pred, delta=1.0):
    """mean of 0.5 * e^2 where |e| <= delta, else delta * |e| - 0.5 * delta^2.

    >>> from tensorflux.keras import losses
    >>> losses.huber([[0.0, 0.0]], [[0.5, 3.0]]).numpy().tolist()
    [1.3125]
    """
    tf = _tf()
    y_true, y_pred = _aligned("huber", y_true, y_pred)
    delta = _const(delta, y_pred)
    half = _const(0.5, y_pred)
    error = y_pred - y_true
    abs_error = tf.abs(error)
    return tf.reduce_mean(tf.where(abs_error <= delta, half * tf.square(error),
                                   delta * abs_error - half * tf.square(delta)), axis=-1)


def log_cosh(y_true, y_pred):
    """mean(log(cosh(y_pred - y_true)), axis=-1), as x + softplus(-2x) - log(2).

    >>> from tensorflux.keras import losses
    >>> losses.log_cosh([[0.0]], [[0.0]]).numpy().tolist()
    [0.0]
    """
    tf = _tf()
    y_true, y_pred = _aligned("log_cosh", y_true, y_pred)
    x = y_pred - y_true
    return tf.reduce_mean(x + tf.math.softplus(x * _const(-2.0, x)) - _const(_math.log(2.0), x),
                          axis=-1)


# ------------------------------------------------------------------ hinge losses

def _hinge_labels(y_true):
    """Maps {0, 1} labels to {-1, 1}; other labels (already -1/1) pass unchanged."""
    tf = _tf()
    zero, one = _const(0.0, y_true), _const(1.0, y_true)
    is_binary = tf.reduce_all(tf.logical_or(tf.equal(y_true, zero), tf.equal(y_true, one)))
    return tf.where(is_binary, _const(2.0, y_true) * y_true - one, y_true)


def hinge(y_true, y_pred):
    """mean(max(1 - y_true * y_pred, 0), axis=-1), with {0, 1} labels mapped to {-1, 1}.

    >>> from tensorflux.keras import losses
    >>> losses.hinge([[1.0, 0.0]], [[0.5, -2.0]]).numpy().tolist()
    [0.25]
    """
    tf = _tf()
    y_true, y_pred = _aligned("hinge", y_true, y_pred)
    y_true = _hinge_labels(y_true)
    return tf.reduce_mean(tf.maximum(_const(1.0, y_pred) - y_true * y_pred,
                                     _const(0.0, y_pred)), axis=-1)


def squared_hinge(y_true, y_pred):
    """mean(max(1 - y_true * y_pred, 0)^2, axis=-1), with {0, 1} labels mapped to {-1, 1}.

    >>> from tensorflux.keras import losses
    >>> losses.squared_hinge([[1.0, 0.0]], [[0.5, -2.0]]).numpy().tolist()
    [0.125]
    """
    tf = _tf()
    y_true, y_pred = _aligned("squared_hinge", y_true, y_pred)
    y_true = _hinge_labels(y_true)
    return tf.reduce_mean(tf.square(tf.maximum(_const(1.0, y_pred) - y_true * y_pred,
                                               _const(0.0, y_pred))), axis=-1)


def categorical_hinge(y_true, y_pred):
    """max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0).

    >>> from tensorflux.keras import losses
    >>> round(float(losses.categorical_hinge([[0.0, 1.0]], [[0.2, 0.6]])[0]), 6)
    0.6
    """
    tf = _tf()
    y_true, y_pred = _aligned("categorical_hinge", y_true, y_pred)
    one = _const(1.0, y_pred)
    pos = tf.reduce_sum(y_true * y_pred, axis=-1)
    neg = tf.reduce_max((one - y_true) * y_pred, axis=-1)
    return tf.maximum(neg - pos + one, _const(0.0, y_pred))


# ------------------------------------------------------------------ probabilistic losses

def kl_divergence(y_true, y_pred):
    """sum(y_true * log(y_true / y_pred), axis=-1), both clipped to [epsilon, 1].

    >>> from tensorflux.keras import losses
    >>> losses.kl_divergence([[0.5, 0.5]], [[0.5, 0.5]]).numpy().tolist()
    [0.0]
    """
    tf = _tf()
    y_true, y_pred = _aligned("kl_divergence", y_true, y_pred)
    eps, one = _const(EPSILON, y_pred), _const(1.0, y_pred)
    y_true = tf.clip_by_value(y_true, eps, one)
    y_pred = tf.clip_by_value(y_pred, eps, one)
    return tf.reduce_sum(y_true * tf.math.log(y_true / y_pred), axis=-1)


def poisson(y_true, y_pred):
    """mean(y_pred - y_true * log(y_pred + epsilon), axis=-1).

    >>> from tensorflux.keras import losses
    >>> losses.poisson([[0.0]], [[1.0]]).numpy().tolist()
    [1.0]
    """
    tf = _tf()
    y_true, y_pred = _aligned("poisson", y_true, y_pred)
    return tf.reduce_mean(y_pred - y_true * tf.math.log(y_pred + _const(EPSILON, y_pred)),
                          axis=-1)


def _check_axis(op, axis):
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise ValueError(f"{op}: `axis` must be of type `int`. Received: axis={axis} of type "
                         f"{type(axis)}")


def _clip_probabilities(p):
    return _tf().clip_by_value(p, _const(EPSILON, p), _const(1.0 - EPSILON, p))


def _categorical_aligned(op, y_true, y_pred):
    y_pred = _prediction(y_pred)
    y_true = convert(y_true, y_pred.dtype)
    _check_same_shape(op, y_true, y_pred)
    if y_pred.shape.rank is not None and y_pred.shape.rank < 1:
        raise errors.InvalidArgumentError(
            f"{op}: y_true and y_pred must be at least rank 1, received shapes "
            f"{_shape(y_true)} and {_shape(y_pred)}", op)
    return y_true, y_pred


def _smooth_categorical(y_true, label_smoothing, axis=-1):
    if not label_smoothing:
        return y_true
    tf = _tf()
    num_classes = tf.cast(tf.shape(y_true)[axis], y_true.dtype)
    return y_true * _const(1.0 - label_smoothing, y_true) + \
        _const(label_smoothing, y_true) / num_classes


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """-sum(y_true * log(p), axis): p = softmax(logits), or y_pred renormalized and clipped.

    >>> from tensorflux.keras import losses
    >>> loss = losses.categorical_crossentropy([[0.0, 1.0]], [[0.5, 0.5]])
    >>> round(float(loss[0]), 6)
    0.693147
    """
    tf = _tf()
    op = "categorical_crossentropy"
    _check_axis(op, axis)
    y_true, y_pred = _categorical_aligned(op, y_true, y_pred)
    y_true = _smooth_categorical(y_true, label_smoothing, axis)
    if from_logits:
        return tf.nn.softmax_cross_entropy_with_logits(y_true, y_pred, axis=axis)
    p = y_pred / tf.reduce_sum(y_pred, axis=axis, keepdims=True)
    return -tf.reduce_sum(y_true * tf.math.log(_clip_probabilities(p)), axis=axis)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False,
                                   label_smoothing=0.0, axis=-1):
    """Categorical crossentropy weighted by alpha * (1 - p)^gamma per class.

    >>> from tensorflux.keras import losses
    >>> loss = losses.categorical_focal_crossentropy([[0.0, 1.0]], [[0.5, 0.5]])
    >>> round(float(loss[0]), 6)
    0.043322
    """
    tf = _tf()
    op = "categorical_focal_crossentropy"
    _check_axis(op, axis)
    y_true, y_pred = _categorical_aligned(op, y_true, y_pred)
    y_true = _smooth_categorical(y_true, label_smoothing, axis)
    if from_logits:
        y_pred = tf.nn.softmax(y_pred, axis=axis)
    output = _clip_probabilities(y_pred / tf.reduce_sum(y_pred, axis=axis, keepdims=True))
    cce = -y_true * tf.math.log(output)
    modulating = tf.pow(_const(1.0, output) - output, _const(gamma, output))
    return tf.reduce_sum(modulating * _const(alpha, output) * cce, axis=axis)


def _sparse_labels(op, y_true, y_pred, axis):
    """Integer labels with the class axis of y_pred removed, shape-checked."""
    tf = _tf()
    y_true = convert(y_true)
    rank = y_pred.shape.rank
    if rank is None or rank < 1:
        raise errors.InvalidArgumentError(
            f"{op}: y_pred must be at least rank 1, received shape {_shape(y_pred)}", op)
    if y_true.shape.rank == rank and y_true.shape[axis] == 1:
        y_true = tf.squeeze(y_true, axis=axis)
    expected = list(_shape(y_pred))
    del expected[axis % rank]
    if not _shapes_match(_shape(y_true), tuple(expected)):
        raise errors.InvalidArgumentError(
            f"{op}: y_true must have the shape of y_pred without its class axis "
            f"{tuple(expected)} (or with a trailing 1), received y_true of shape "
            f"{_shape(y_true)} and y_pred of shape {_shape(y_pred)}", op)
    return y_true


def _check_label_range(op, labels, num_classes):
    """Eagerly, labels outside [0, num_classes) raise; in a graph the gather kernels check."""
    tf = _tf()
    if not _is_eager() or num_classes is None or labels.shape.num_elements() == 0:
        return
    low = int(tf.reduce_min(labels))
    high = int(tf.reduce_max(labels))
    if low < 0 or high >= num_classes:
        bad = low if low < 0 else high
        raise errors.InvalidArgumentError(
            f"{op}: labels must be class indices in [0, {num_classes}), received label {bad} "
            f"(labels of shape {_shape(labels)})", op)


def _sparse_cce(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """(losses, mask of valid entries or None), Keras's sparse_categorical_crossentropy."""
    tf = _tf()
    op = "sparse_categorical_crossentropy"
    y_pred = _prediction(y_pred)
    labels = _sparse_labels(op, y_true, y_pred, axis)
    rank = y_pred.shape.rank
    class_axis = axis % rank
    valid = None
    if ignore_class is not None:
        valid = tf.not_equal(convert(labels, y_pred.dtype), _const(ignore_class, y_pred))
        labels = tf.where(valid, convert(labels, y_pred.dtype), tf.zeros_like(
            convert(labels, y_pred.dtype)))
        # Keras zeroes ignored rows; ones give the same (masked) result without 0/0 in the
        # probability path's renormalization.
        filler = tf.zeros_like(y_pred) if from_logits else tf.ones_like(y_pred)
        y_pred = tf.where(tf.expand_dims(valid, class_axis), y_pred, filler)
    if labels.dtype not in (tf.int32, tf.int64):
        labels = tf.cast(labels, tf.int32)
    if class_axis != rank - 1:
        perm = [i for i in range(rank) if i != class_axis] + [class_axis]
        y_pred = tf.transpose(y_pred, perm)
    num_classes = y_pred.shape[-1]
    _check_label_range(op, labels, num_classes)
    if from_logits:
        result = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=y_pred)
    else:
        p = _clip_probabilities(y_pred / tf.reduce_sum(y_pred, axis=-1, keepdims=True))
        # gather (batch_dims) rather than one_hot: its kernel rejects out-of-range labels in
        # traced graphs too, where one_hot would silently give a zero loss.
        flat_p = tf.reshape(p, [-1, num_classes])
        picked = tf.gather(flat_p, tf.reshape(labels, [-1]), batch_dims=1)
        result = -tf.reshape(tf.math.log(picked), tf.shape(labels))
    if valid is not None:
        result = tf.where(valid, result, tf.zeros_like(result))
    return result, valid


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None,
                                    axis=-1):
    """Categorical crossentropy against integer labels; `ignore_class` entries give 0.

    >>> from tensorflux.keras import losses
    >>> round(float(losses.sparse_categorical_crossentropy([1], [[0.5, 0.5]])[0]), 6)
    0.693147
    """
    return _sparse_cce(y_true, y_pred, from_logits, ignore_class, axis)[0]


def _smooth_binary(y_true, label_smoothing):
    if not label_smoothing:
        return y_true
    return y_true * _const(1.0 - label_smoothing, y_true) + _const(0.5 * label_smoothing, y_true)


def _elementwise_bce(y_true, y_pred, from_logits):
    tf = _tf()
    if from_logits:
        return tf.nn.sigmoid_cross_entropy_with_logits(labels=y_true, logits=y_pred)
    p = _clip_probabilities(y_pred)
    one = _const(1.0, p)
    return -(y_true * tf.math.log(p) + (one - y_true) * tf.math.log(one - p))


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """mean over `axis` of -(y log p + (1 - y) log(1 - p)), p clipped to [1e-7, 1 - 1e-7].

    >>> from tensorflux.keras import losses
    >>> [round(float(v), 6) for v in losses.binary_crossentropy([[1.0]], [[0.5]]).numpy()]
    [0.693147]
    """
    tf = _tf()
    y_pred = _prediction(y_pred)
    y_true = convert(y_true, y_pred.dtype)
    _check_same_shape("binary_crossentropy", y_true, y_pred)
    y_true = _smooth_binary(y_true, label_smoothing)
    return tf.reduce_mean(_elementwise_bce(y_true, y_pred, from_logits), axis=axis)


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25,
                              gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1):
    """Binary crossentropy weighted by (1 - p_t)^gamma (and alpha when class-balancing).

    >>> from tensorflux.keras import losses
    >>> [round(float(v), 6) for v in losses.binary_focal_crossentropy([[1.0]], [[0.5]]).numpy()]
    [0.173287]
    """
    tf = _tf()
    y_pred = _prediction(y_pred)
    y_true = convert(y_true, y_pred.dtype)
    _check_same_shape("binary_focal_crossentropy", y_true, y_pred)
    y_true = _smooth_binary(y_true, label_smoothing)
    if from_logits:
        y_pred = tf.sigmoid(y_pred)
    one = _const(1.0, y_pred)
    bce = _elementwise_bce(y_true, y_pred, False)
    p_t = y_true * y_pred + (one - y_true) * (one - y_pred)
    focal = tf.pow(one - p_t, _const(gamma, y_pred)) * bce
    if apply_class_balancing:
        alpha_t = _const(alpha, y_pred)
        focal = (y_true * alpha_t + (one - y_true) * (one - alpha_t)) * focal
    return tf.reduce_mean(focal, axis=axis)


# ------------------------------------------------------------------ segmentation losses

def dice(y_true, y_pred, axis=None):
    """1 - 2 * sum(y_true * y_pred) / (sum(y_true) + sum(y_pred) + epsilon).

    >>> from tensorflux.keras import losses
    >>> round(float(losses.dice([[1.0, 0.0]], [[1.0, 0.0]])), 6)
    0.0
    """
    tf = _tf()
    y_true, y_pred = _aligned("dice", y_true, y_pred)
    intersection = tf.reduce_sum(y_true * y_pred, axis=axis)
    total = tf.reduce_sum(y_true, axis=axis) + tf.reduce_sum(y_pred, axis=axis)
    return _const(1.0, y_pred) - _const(2.0, y_pred) * intersection / (
        total + _const(EPSILON, y_pred))


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    """1 - TP / (TP + alpha * FP + beta * FN + epsilon), on soft counts.

    >>> from tensorflux.keras import losses
    >>> round(float(losses.tversky([[1.0, 0.0]], [[1.0, 0.0]])), 6)
    0.0
    """
    tf = _tf()
    y_true, y_pred = _aligned("tversky", y_true, y_pred)
    one = _const(1.0, y_pred)
    intersection = tf.reduce_sum(y_true * y_pred, axis=axis)
    fp = tf.reduce_sum((one - y_pred) * y_true, axis=axis)
    fn = tf.reduce_sum(y_pred * (one - y_true), axis=axis)
    score = intersection / (intersection + fp * _const(alpha, y_pred) + fn * _const(
        beta, y_pred) + _const(EPSILON, y_pred))
    return one - score


def categorical_generalized_cross_entropy(y_true, y_pred, q):
    """(1 - p^q) / q, p the predicted probability of each sample's integer class: between
    crossentropy (q -> 0) and mean absolute error (q = 1), robust to noisy labels.

    Labels of shape (batch, 1) are read as (batch,), the documented meaning (Keras 3.15
    broadcasts them to a (batch, batch) result).

    >>> from tensorflux.keras import losses
    >>> losses.categorical_generalized_cross_entropy([1], [[0.75, 0.25]], q=0.5).numpy().tolist()
    [1.0]
    """
    tf = _tf()
    op = "categorical_generalized_cross_entropy"
    y_pred = _prediction(y_pred)
    labels = tf.cast(_sparse_labels(op, y_true, y_pred, -1), tf.int32)
    _check_label_range(op, labels, y_pred.shape[-1])
    p = tf.reduce_sum(y_pred * tf.one_hot(labels, tf.shape(y_pred)[-1], dtype=y_pred.dtype),
                      axis=-1)
    q = _const(q, y_pred)
    return (_const(1.0, y_pred) - tf.pow(p, q)) / q


# ------------------------------------------------------------------ similarity losses

def _label_column(labels):
    return _tf().reshape(labels, [-1, 1]) if labels.shape.rank == 1 else labels


def _circle(y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal=True,
            gamma=80, margin=0.4):
    """(losses, mask of the samples with a positive loss), Keras's circle."""
    tf = _tf()
    y_pred = _prediction(y_pred)
    labels = tf.cast(convert(y_true), tf.int32)
    refs = y_pred if ref_embeddings is None else convert(ref_embeddings, y_pred.dtype)
    ref_labels = labels if ref_labels is None else tf.cast(convert(ref_labels), tf.int32)
    distances = tf.maximum(_const(1.0, y_pred) - tf.matmul(y_pred, refs, transpose_b=True),
                           _const(0.0, y_pred))
    positive = tf.equal(_label_column(labels), tf.transpose(_label_column(ref_labels)))
    negative = tf.logical_not(positive)
    if remove_diagonal:
        rows = tf.range(tf.size(labels))
        columns = tf.range(tf.size(ref_labels))
        positive = tf.logical_and(positive, tf.not_equal(tf.expand_dims(rows, 1),
                                                         tf.expand_dims(columns, 0)))
    zero = _const(0.0, y_pred)
    positive_weights = tf.maximum((_const(margin, y_pred) + distances) * tf.cast(
        positive, y_pred.dtype), zero)
    negative_weights = tf.maximum((_const(1.0 + margin, y_pred) - distances) * tf.cast(
        negative, y_pred.dtype), zero)
    positive_terms = _const(-gamma, y_pred) * positive_weights * (_const(margin, y_pred)
                                                                 - distances)
    negative_terms = _const(gamma, y_pred) * negative_weights * (_const(1.0 - margin, y_pred)
                                                                - distances)
    excluded = _const(-_math.inf, y_pred)
    positive_loss = tf.reduce_logsumexp(tf.where(positive, positive_terms, excluded), axis=1)
    negative_loss = tf.reduce_logsumexp(tf.where(negative, negative_terms, excluded), axis=1)
    losses = tf.math.softplus(positive_loss + negative_loss)
    return losses, tf.greater(losses, zero)


def circle(y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal=True,
           gamma=80, margin=0.4):
    """Circle loss of L2-normalized embeddings y_pred with integer labels y_true, against
    reference embeddings and labels (the batch itself by default): pulls same-label pairs
    together and pushes the others apart, weighting each pair by how far it is from its
    optimum. Samples with a zero loss are left out of the mean (as Keras masks them).

    >>> from tensorflux.keras import losses
    >>> loss = losses.circle([0, 0, 1], [[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], gamma=4)
    >>> [round(float(v), 4) for v in loss]  # the last sample has no same-label partner
    [0.4235, 2.0568, 0.0]
    """
    return _circle(y_true, y_pred, ref_labels, ref_embeddings, remove_diagonal, gamma,
                   margin)[0]


# ------------------------------------------------------------------ sequence losses

def ctc(y_true, y_pred):
    """CTC loss of integer label rows y_true (batch, max_length), 0 being the blank that also
    pads them, against logits y_pred (batch, frames, classes), every frame counted.

    >>> from tensorflux.keras import losses
    >>> [round(float(v), 6) for v in losses.ctc([[1]], [[[0.0, 0.0], [0.0, 0.0]]])]
    [0.287682]
    """
    tf = _tf()
    y_true, y_pred = convert(y_true), _prediction(y_pred)
    if y_true.shape.rank != 2:
        raise ValueError("Targets `y_true` are expected to be a tensor of shape `(batch_size, "
                         f"max_length)` in integer format. Received: y_true.shape="
                         f"{_shape(y_true)}")
    if y_pred.shape.rank != 3:
        raise ValueError("Logits `y_pred` are expected to be a tensor of shape `(batch_size, "
                         f"max_length, num_classes)`. Received: y_pred.shape={_shape(y_pred)}")
    labels = tf.cast(y_true, tf.int32)
    label_length = tf.reduce_sum(tf.cast(tf.not_equal(labels, 0), tf.int32), axis=-1)
    frames = y_pred.shape[1] if y_pred.shape[1] is not None else tf.shape(y_pred)[1]
    logit_length = tf.fill(tf.shape(y_pred)[:1], tf.cast(frames, tf.int32))
    return tf.nn.ctc_loss(labels, y_pred, label_length, logit_length, logits_time_major=False,
                          blank_index=0)


# ------------------------------------------------------------------ classes

_SMOOTH = (("from_logits", False), ("label_smoothing", 0.0), ("axis", -1))

MeanSquaredError = _wrapper_class(
    "MeanSquaredError", mean_squared_error, "mean_squared_error",
    "Mean of squares of errors between labels and predictions.")
MeanAbsoluteError = _wrapper_class(
    "MeanAbsoluteError", mean_absolute_error, "mean_absolute_error",
    "Mean of absolute differences between labels and predictions.")
MeanAbsolutePercentageError = _wrapper_class(
    "MeanAbsolutePercentageError", mean_absolute_percentage_error,
    "mean_absolute_percentage_error", "Mean absolute percentage error.")
MeanSquaredLogarithmicError = _wrapper_class(
    "MeanSquaredLogarithmicError", mean_squared_logarithmic_error,
    "mean_squared_logarithmic_error", "Mean squared logarithmic error.")
CosineSimilarity = _wrapper_class(
    "CosineSimilarity", cosine_similarity, "cosine_similarity",
    "Negative cosine similarity between labels and predictions.", (("axis", -1),),
    config_params=())
# Keras 3's Huber.get_config omits delta (so a reloaded Huber has delta=1.0); kept identical.
Huber = _wrapper_class("Huber", huber, "huber_loss", "Huber loss.", (("delta", 1.0),),
                       config_params=())
LogCosh = _wrapper_class("LogCosh", log_cosh, "log_cosh", "Logarithm of the hyperbolic cosine.")
Hinge = _wrapper_class("Hinge", hinge, "hinge", "Hinge loss.")
SquaredHinge = _wrapper_class("SquaredHinge", squared_hinge, "squared_hinge",
                              "Squared hinge loss.")
CategoricalHinge = _wrapper_class("CategoricalHinge", categorical_hinge, "categorical_hinge",
                                  "Categorical hinge loss.")
KLDivergence = _wrapper_class("KLDivergence", kl_divergence, "kl_divergence",
                              "Kullback-Leibler divergence.")
Poisson = _wrapper_class("Poisson", poisson, "poisson", "Poisson loss.")
BinaryCrossentropy = _wrapper_class(
    "BinaryCrossentropy", binary_crossentropy, "binary_crossentropy",
    "Binary crossentropy (from probabilities, or logits with from_logits=True).", _SMOOTH)
BinaryFocalCrossentropy = _wrapper_class(
    "BinaryFocalCrossentropy", binary_focal_crossentropy, "binary_focal_crossentropy",
    "Binary focal crossentropy.",
    (("apply_class_balancing", False), ("alpha", 0.25), ("gamma", 2.0)) + _SMOOTH)
CategoricalCrossentropy = _wrapper_class(
    "CategoricalCrossentropy", categorical_crossentropy, "categorical_crossentropy",
    "Categorical crossentropy against one-hot (or soft) labels.", _SMOOTH)
CategoricalFocalCrossentropy = _wrapper_class(
    "CategoricalFocalCrossentropy", categorical_focal_crossentropy,
    "categorical_focal_crossentropy", "Categorical focal crossentropy.",
    (("alpha", 0.25), ("gamma", 2.0)) + _SMOOTH)
Dice = _wrapper_class("Dice", dice, "dice", "Dice loss.", (("axis", None),),
                      order=["reduction", "name", "axis", "dtype"])
Tversky = _wrapper_class("Tversky", tversky, "tversky", "Tversky loss.",
                         (("alpha", 0.5), ("beta", 0.5), ("axis", None)),
                         order=["alpha", "beta", "reduction", "name", "axis", "dtype"])
Circle = _wrapper_class(
    "Circle", circle, "circle",
    "Circle loss of L2-normalized embeddings against integer labels (metric learning).",
    (("gamma", 80.0), ("margin", 0.4), ("remove_diagonal", True)))
CTC = _wrapper_class("CTC", ctc, "ctc",
                     "CTC loss of integer label rows (0 the blank and padding) against logits.")


class CategoricalGeneralizedCrossEntropy(LossFunctionWrapper):
    """Generalized crossentropy (1 - p^q) / q of integer labels, q in (0, 1).

    >>> from tensorflux.keras import losses
    >>> float(losses.CategoricalGeneralizedCrossEntropy()([1, 0], [[0.75, 0.25], [0.25, 0.75]]))
    1.0
    """

    def __init__(self, q=0.5, reduction="sum_over_batch_size",
                 name="categorical_generalized_cross_entropy", dtype=None):
        if not 0 < q < 1:
            raise ValueError("q must be in the interval (0, 1)")
        super().__init__(categorical_generalized_cross_entropy, name=name, reduction=reduction,
                         dtype=dtype, q=q)
        self.q = q

    def get_config(self):
        return {**Loss.get_config(self), "q": self.q}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """Categorical crossentropy against integer labels; `ignore_class` entries are masked out.

    >>> from tensorflux.keras import losses
    >>> loss = losses.SparseCategoricalCrossentropy(ignore_class=0)
    >>> round(float(loss([1, 0], [[0.5, 0.5], [0.9, 0.1]])), 6)
    0.693147
    """

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 axis=-1, name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(sparse_categorical_crossentropy, name=name, reduction=reduction,
                         dtype=dtype, from_logits=from_logits, ignore_class=ignore_class,
                         axis=axis)
        self.from_logits = from_logits
        self.ignore_class = ignore_class

    def get_config(self):
        config = Loss.get_config(self)
        config.update({"from_logits": self.from_logits, "ignore_class": self.ignore_class})
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


# ------------------------------------------------------------------ lookup

mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh

# Functions whose Keras version attaches a mask of valid entries to its result.
_MASKED = {sparse_categorical_crossentropy: _sparse_cce, circle: _circle}

_CLASSES = (Loss, LossFunctionWrapper, KLDivergence, Poisson, BinaryCrossentropy,
            BinaryFocalCrossentropy, CategoricalCrossentropy, CategoricalFocalCrossentropy,
            SparseCategoricalCrossentropy, MeanSquaredError, MeanAbsoluteError,
            MeanAbsolutePercentageError, MeanSquaredLogarithmicError, CosineSimilarity,
            LogCosh, Huber, Hinge, SquaredHinge, CategoricalHinge, Dice, Tversky, Circle, CTC,
            CategoricalGeneralizedCrossEntropy)
_FUNCTIONS = (kl_divergence, poisson, binary_crossentropy, binary_focal_crossentropy,
              categorical_crossentropy, categorical_focal_crossentropy,
              sparse_categorical_crossentropy, mean_squared_error, mean_absolute_error,
              mean_absolute_percentage_error, mean_squared_logarithmic_error,
              cosine_similarity, log_cosh, huber, hinge, squared_hinge, categorical_hinge,
              dice, tversky, circle, ctc, categorical_generalized_cross_entropy)
ALL_OBJECTS_DICT = {obj.__name__: obj for obj in _CLASSES + _FUNCTIONS}
ALL_OBJECTS_DICT.update({
    "bce": binary_crossentropy, "BCE": binary_crossentropy, "kld": kl_divergence,
    "KLD": kl_divergence, "mae": mean_absolute_error, "MAE": mean_absolute_error,
    "mse": mean_squared_error, "MSE": mean_squared_error,
    "mape": mean_absolute_percentage_error, "MAPE": mean_absolute_percentage_error,
    "msle": mean_squared_logarithmic_error, "MSLE": mean_squared_logarithmic_error,
    # Keras 2 names still found in saved compile configs.
    "kullback_leibler_divergence": kl_divergence, "logcosh": log_cosh,
})


def serialize(loss):
    """Keras 3's dict form of a Loss instance or a loss function (a user's one under its
    registered "package>name")."""
    from tensorflux.keras.saving import serialization

    custom = serialization.serialize_custom_object(loss, ALL_OBJECTS_DICT)
    if custom is not None:
        return custom
    return _objects.serialize_object(loss, "keras.losses", ALL_OBJECTS_DICT)


def deserialize(name, custom_objects=None):
    """A Loss instance or loss function from a name or a Keras config dict; a user's loss
    comes only from the registry, a custom object scope or `custom_objects`."""
    from tensorflux.keras.saving import serialization

    custom = serialization.deserialize_custom_object(name, ALL_OBJECTS_DICT, custom_objects,
                                                     "loss")
    if custom is not None:
        return custom
    return _objects.deserialize_object(name, ALL_OBJECTS_DICT, "loss", custom_objects)


def get(identifier):
    """A loss from None, a name ("mse", "CategoricalCrossentropy"), a config dict or callable.

    >>> from tensorflux.keras import losses
    >>> losses.get("mse") is losses.mean_squared_error
    True
    >>> type(losses.get("BinaryCrossentropy")).__name__
    'BinaryCrossentropy'
    """
    return _objects.get_object(identifier, ALL_OBJECTS_DICT, "loss")



def __getattr__(name):
    # tf.keras's Keras 2 `Reduction` names, for `from tensorflow.keras.losses import Reduction`
    # written with only its import changed; loaded on first use and kept out of dir(), which
    # stays Keras 3's.
    if name == "Reduction":
        from tensorflux.keras.legacy.losses import Reduction

        return Reduction
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
