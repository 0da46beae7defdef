"""keras.metrics: Keras 3's stateful metrics, metric functions, names and accumulation rules.

A metric keeps its state in non-trainable tf.Variables (`metric.variables`), updated in place
by `update_state`, read by `result()` and zeroed by `reset_state()`. The accumulation rules
(per-sample reduction, sample weights, confusion-matrix buckets, AUC summation) follow
keras/src/metrics/*.py.
"""

from tensorflux import errors
from tensorflux import variable as _variable
from tensorflux.context import context
from tensorflux.keras import _objects
from tensorflux.keras import losses as _losses
from tensorflux.keras.losses import (
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_crossentropy,
    categorical_focal_crossentropy,
    categorical_hinge,
    hinge,
    huber,
    kl_divergence,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    poisson,
    sparse_categorical_crossentropy,
    squared_hinge,
    squeeze_or_expand_to_same_rank,
)
from tensorflux.tensor import Tensor as _Tensor

__all__ = [
    "AUC", "Accuracy", "BinaryAccuracy", "BinaryCrossentropy", "BinaryIoU", "CategoricalAccuracy",
    "CategoricalCrossentropy", "CategoricalHinge", "ConcordanceCorrelation", "CosineSimilarity",
    "F1Score", "FBetaScore", "IoU", "MeanIoU", "OneHotIoU", "OneHotMeanIoU", "PearsonCorrelation",
    "FalseNegatives", "FalsePositives", "Hinge", "KLDivergence", "LogCoshError", "Mean",
    "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanMetricWrapper", "MeanSquaredError",
    "MeanSquaredLogarithmicError", "Metric", "Poisson", "Precision", "PrecisionAtRecall",
    "R2Score", "Recall", "RecallAtPrecision", "RootMeanSquaredError",
    "SensitivityAtSpecificity", "SparseCategoricalAccuracy", "SparseCategoricalCrossentropy",
    "SpecificityAtSensitivity",
    "SparseTopKCategoricalAccuracy", "SquaredHinge", "Sum", "TopKCategoricalAccuracy",
    "TrueNegatives", "TruePositives", "accuracy", "binary_accuracy", "binary_crossentropy",
    "binary_focal_crossentropy", "categorical_accuracy", "categorical_crossentropy",
    "categorical_focal_crossentropy", "categorical_hinge",
    "concordance_correlation", "deserialize",
    "get", "hinge", "huber", "kl_divergence", "log_cosh", "mean_absolute_error",
    "mean_absolute_percentage_error", "mean_squared_error", "mean_squared_logarithmic_error",
    "pearson_correlation", "poisson", "resolve_accuracy", "resolve_metric", "serialize",
    "sparse_categorical_accuracy", "sparse_categorical_crossentropy",
    "sparse_top_k_categorical_accuracy", "squared_hinge", "top_k_categorical_accuracy",
]

EPSILON = 1e-7
NEG_INF = -1e10
convert = _losses.convert


def _tf():
    import tensorflux as tf

    return tf


def _rank(x):
    return x.shape.rank


_ZEROS = {}  # (shape, dtype) -> the eager zeros tensor reset_state assigns (see _zeros)


def _zeros(shape, dtype):
    """tf.zeros(shape, dtype=dtype) for a reset_state's assign: eagerly, one cached tensor per
    shape and dtype (a metric reset is mostly making its zeros). Safe because assign copies
    the value into the variable's own buffer and keeps no reference to the tensor, which
    no one else sees; a trace, or a StatelessScope (which keeps the assigned tensor as the
    variable's value), gets a new one."""
    tf = _tf()
    if context.graph is not None or _variable._open_scopes:
        return tf.zeros(shape, dtype=dtype)
    key = (shape, dtype)
    zeros = _ZEROS.get(key)
    if zeros is None:
        zeros = tf.zeros(shape, dtype=dtype)
        if len(_ZEROS) < 64:
            _ZEROS[key] = zeros
    return zeros


# ------------------------------------------------------------------ base classes

class Metric(_losses._Named):
    """Base class: state in `self.variables`; subclasses implement update_state and result.

    >>> from tensorflux.keras import metrics
    >>> m = metrics.Mean()
    >>> m.update_state([1.0, 3.0])
    >>> float(m.result()), [v.name for v in m.variables]
    (2.0, ['total', 'count'])
    """

    def __init__(self, dtype=None, name=None):
        self.name = name or _losses._auto_name(type(self).__name__)
        self._dtype = _losses._dtype_name(dtype)
        self._variables = []
        self._metrics = []

    def __setattr__(self, name, value):
        # As Keras: a metric held in an attribute (or a list of them) is part of this one,
        # so `variables` and the default reset_state() cover its state too.
        if not name.startswith("_"):
            held = value if isinstance(value, (list, tuple)) else [value]
            metrics = self.__dict__.get("_metrics")
            if metrics is not None:
                metrics.extend(m for m in held if isinstance(m, Metric)
                               and m is not self and not any(m is t for t in metrics))
        object.__setattr__(self, name, value)

    @property
    def variables(self):
        out = list(self._variables)
        for metric in self._metrics:
            out.extend(metric.variables)
        return out

    # Keras's Metric has no trainable weights; these mirror its Layer-like accessors.
    @property
    def non_trainable_variables(self):
        return self.variables

    @property
    def trainable_variables(self):
        return []

    def add_variable(self, shape, initializer="zeros", dtype=None, aggregation="sum", name=None):
        """A non-trainable variable holding part of this metric's state, named as in Keras 3:
        `name` "total" and `path` "mean/total" (under the name scopes open now)."""
        from tensorflux.keras import backend, initializers
        from tensorflux.keras.engine import load_budget
        from tensorflux.keras.engine.name_scope import name_scope
        from tensorflux.keras.layers.base import KerasVariable

        tf = _tf()
        init = initializers.get(initializer)
        dtype = tf.as_dtype(dtype or self._dtype)
        name = name or backend.auto_name("variable")
        load_budget.charge(self, name, tuple(shape), dtype)  # (a model file's compile config)
        with name_scope(self.name.replace("/", ">"), caller=self):
            variable = KerasVariable(init(tuple(shape), dtype=dtype), trainable=False,
                                     name=name)
        self._variables.append(variable)
        return variable

    def add_weight(self, shape=(), initializer=None, dtype=None, name=None):
        return self.add_variable(shape=shape, initializer=initializer or "zeros", dtype=dtype,
                                 name=name)

    def reset_state(self):
        for v in self.variables:
            shape = v.shape
            v.assign(_zeros(tuple(shape), v.dtype) if shape.is_fully_defined()
                     else _tf().zeros(shape, dtype=v.dtype))

    def update_state(self, *args, **kwargs):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def stateless_update_state(self, metric_variables, *args, **kwargs):
        """The values `metric_variables` (one per `self.variables`) would take after
        `update_state(*args, **kwargs)`; this metric's own state is left as it was."""
        return self._with_values(metric_variables, lambda: self.update_state(*args, **kwargs))[1]

    def stateless_result(self, metric_variables):
        """`result()` computed from the values `metric_variables` instead of the state."""
        return self._with_values(metric_variables, self.result)[0]

    def stateless_reset_state(self):
        """The values `reset_state()` would give the variables, leaving them unchanged."""
        return self._with_values(None, self.reset_state)[1]

    def _with_values(self, values, fn):
        """Runs `fn` with `values` swapped into the variables (eagerly, restored after):
        returns fn's result and the values the variables held when it returned."""
        tf = _tf()
        variables = self.variables
        if values is not None and len(values) != len(variables):
            raise ValueError(
                "Argument `metric_variables` must be a list of tensors corresponding 1:1 to "
                f"{type(self).__name__}().variables. Received list with length {len(values)}, "
                f"but expected {len(variables)} variables.")
        if not tf.executing_eagerly():
            raise NotImplementedError(
                f"The stateless methods of metric '{self.name}' inside a tf.function: "
                "tensorflux swaps the values into the metric's variables, which only works "
                "eagerly; call update_state() / result() inside the function instead.")
        saved = [v.numpy() for v in variables]
        try:
            for v, value in zip(variables, values or ()):
                v.assign(value)
            out = fn()
            if out is not None:
                out = tf.nest.map_structure(tf.identity, out)
            new_values = [tf.identity(v.read_value()) for v in variables]
        finally:
            for v, value in zip(variables, saved):
                v.assign(value)
        return out, new_values

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    __str__ = _losses._Named.__repr__


def _check_broadcast(op, weight_shape, value_shape):
    ws, vs = tuple(weight_shape), tuple(value_shape)
    if None in ws or None in vs:
        return
    ok = len(ws) <= len(vs) and all(w in (1, v) for w, v in zip(reversed(ws), reversed(vs)))
    if not ok:
        raise errors.InvalidArgumentError(
            f"{op}: sample_weight of shape {ws} does not match values of shape {vs}", op)


# Exact shortcuts for the per-batch update and result() of eager loops (Keras's "training loop
# from scratch" calls update_state every step): each is taken only where a cheap check shows it
# gives the very value of the general ops it replaces, which run otherwise (and while tracing,
# where they cost nothing per step).

_SUM_IS_VALUE = frozenset({"float32", "float64"})


def _sum_all(values):
    """tf.reduce_sum(values). Of a float32/float64 scalar it is the scalar itself (-0.0 and
    NaN included), so no op is run; float16/bfloat16 sums turn -0.0 into 0.0."""
    if values.shape.rank == 0 and values.dtype.name in _SUM_IS_VALUE:
        return values
    return _tf().reduce_sum(values)


def _sample_count(values, dtype):
    """tf.cast(tf.shape(values)[0], dtype), or 1 for a scalar: the samples `values` holds.

    With a known first dimension n it is the Python n, which assign_add converts to `dtype`
    (a cached constant): for a float dtype and n < 2**24 both are one rounding of the exact
    n, the same float; else the ops run.
    """
    tf = _tf()
    rank = values.shape.rank
    num_samples = 1 if rank == 0 else values.shape[0] if rank is not None else None
    if num_samples is not None and dtype.is_floating and num_samples < 2 ** 24:
        return num_samples
    if rank is not None and rank == 0:
        return tf.cast(1, dtype)
    return tf.cast(tf.shape(values)[0], dtype)


def _divide_no_nan(x, y):
    """tf.math.divide_no_nan(x, y) for metric results. Eagerly (no tape recording), where x and
    y are floats of one dtype and no y is 0, it is x / y: divide_no_nan's wheres then pick x / y
    everywhere (NaN and inf divide as they do there), so one division replaces its seven ops."""
    tf = _tf()
    if context.graph is None and not context.tapes and x.dtype is y.dtype and \
            x.dtype.is_floating:
        raw = y._value if y.__class__ is _Tensor else None
        if raw is not None and raw.ndim == 0:
            # (a scalar count, as Mean's: its value compared as tf.not_equal's kernel would,
            # without making the comparison's tensor)
            if raw != 0:
                return x / y
        else:
            nonzero = tf.not_equal(y, 0)
            if bool(nonzero if nonzero.shape.rank == 0 else tf.reduce_all(nonzero)):
                return x / y
    return tf.math.divide_no_nan(x, y)


def _reshape(x, dims):
    """tf.reshape(x, dims) for dims with one -1 and the rest > 0, the -1 worked out where x's
    size is known: reshape's eager fast path takes only known dims; the result is the same."""
    size = x.shape.num_elements()
    if size is not None:
        known = 1
        for d in dims:
            known *= 1 if d == -1 else d
        if known > 0 and size % known == 0:
            dims = [size // known if d == -1 else d for d in dims]
    return _tf().reshape(x, dims)


def _broadcast_as(x, like):
    """tf.broadcast_to(x, tf.shape(like)), with like's shape as a list where it is known."""
    tf = _tf()
    target = _losses._shape(like)
    if target is None or None in target:
        return tf.broadcast_to(x, tf.shape(like))
    return tf.broadcast_to(x, list(target))


def reduce_to_samplewise_values(values, sample_weight, reduce_fn, dtype, mask=None, op="metric"):
    """Keras's per-sample reduction: weights broadcast over trailing axes, values reduced."""
    values = convert(values, dtype)
    # As in Keras, a mask on the values (ignore_class) only applies when there are weights:
    # unweighted, ignored entries count as samples with a loss of 0.
    if sample_weight is not None:
        sample_weight = convert(sample_weight, dtype)
        if mask is not None:
            sample_weight = _losses.apply_mask(sample_weight, mask, dtype, "sum")
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        weight_ndim, values_ndim = _rank(sample_weight), _rank(values)
        if values_ndim > weight_ndim:
            values = reduce_fn(values, axis=list(range(weight_ndim, values_ndim)))
        _check_broadcast(op, sample_weight.shape, values.shape)
        sample_weight = _broadcast_as(sample_weight, values)
        values = values * sample_weight
        if weight_ndim > 1:
            sample_weight = reduce_fn(sample_weight, axis=list(range(1, weight_ndim)))
    values_ndim = _rank(values)
    if values_ndim > 1:
        values = reduce_fn(values, axis=list(range(1, values_ndim)))
    return values, sample_weight


class Sum(Metric):
    """The running (weighted) sum of the values.

    >>> from tensorflux.keras import metrics
    >>> m = metrics.Sum()
    >>> m.update_state([1.0, 3.0]); m.update_state(2.0)
    >>> float(m.result())
    6.0
    """

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(shape=(), initializer="zeros", dtype=self.dtype,
                                       name="total")

    def update_state(self, values, sample_weight=None):
        tf = _tf()
        values, _ = reduce_to_samplewise_values(values, sample_weight, tf.reduce_sum,
                                                self.dtype, op=self._label())
        self.total.assign_add(_sum_all(values))

    def reset_state(self):
        self.total.assign(_zeros((), self.total.dtype))

    def result(self):
        return _tf().identity(self.total.read_value())


class Mean(Metric):
    """The running (weighted) mean of the values: total / count.

    >>> from tensorflux.keras import metrics
    >>> m = metrics.Mean()
    >>> m.update_state([1.0, 3.0], sample_weight=[1.0, 3.0])
    >>> float(m.result())
    2.5
    """

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(shape=(), initializer="zeros", dtype=self.dtype,
                                       name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", dtype=self.dtype,
                                       name="count")

    def update_state(self, values, sample_weight=None, _mask=None):
        tf = _tf()
        values, sample_weight = reduce_to_samplewise_values(
            values, sample_weight, tf.reduce_mean, self.dtype, mask=_mask, op=self._label())
        self.total.assign_add(_sum_all(values))
        if sample_weight is not None:
            self.count.assign_add(tf.cast(tf.reduce_sum(sample_weight), self.count.dtype))
        else:
            self.count.assign_add(_sample_count(values, self.count.dtype))

    def reset_state(self):
        self.total.assign(_zeros((), self.total.dtype))
        self.count.assign(_zeros((), self.count.dtype))

    def result(self):
        return _divide_no_nan(self.total.read_value(), self.count.read_value())


class MeanMetricWrapper(Mean):
    """The running mean of `fn(y_true, y_pred, **kwargs)` over all samples seen.

    >>> from tensorflux.keras import metrics
    >>> m = metrics.MeanMetricWrapper(metrics.mean_squared_error, name="mse")
    >>> m.update_state([[0.0], [1.0]], [[1.0], [1.0]])
    >>> float(m.result())
    0.5
    """

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs
        # As in Keras, a wrapped built-in loss is known to be minimized; any other function
        # has no direction, so callbacks in mode="auto" ask for an explicit mode.
        if _is_builtin_loss(fn):
            self._direction = "down"

    def update_state(self, y_true, y_pred, sample_weight=None):
        in_mask = getattr(y_pred, "_keras_mask", None)
        values, out_mask = _losses._call_fn(self, self._fn, y_true, y_pred, self._fn_kwargs)
        sample_weight = _losses.apply_mask(sample_weight, in_mask, self.dtype, "sum")
        return super().update_state(values, sample_weight=sample_weight, _mask=out_mask)

    def get_config(self):
        config = {**super().get_config(), "fn": serialize(self._fn)}
        config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config):
        return _losses._fn_from_config(cls, config, deserialize)


def _is_builtin_loss(fn):
    """Whether `fn` is one of keras.losses' functions, or an instance of one of its classes
    (exactly that class, not a subclass, as Keras checks it)."""
    return (any(fn is known for known in _losses._FUNCTIONS + _losses._CLASSES)
            or type(fn) in _losses._CLASSES)


def _wrapper_class(class_name, fn, default_name, direction, doc, params=(),
                   config_params=None):
    """A MeanMetricWrapper subclass with Keras's signature (name, dtype, then params) whose
    `_direction` ("up" or "down") tells callbacks in mode="auto" which way is better."""
    order = ["name", "dtype"] + [p for p, _ in params]
    config_params = [p for p, _ in params] if config_params is None else config_params

    defaults = dict(params, name=default_name, dtype=None)

    def __init__(self, *args, **kwargs):  # noqa: N807 - becomes the class's __init__
        values = _losses._bind_arguments(class_name, order, dict(defaults), args, kwargs)
        name, dtype = values.pop("name"), values.pop("dtype")
        MeanMetricWrapper.__init__(self, fn, name=name, dtype=dtype, **values)
        self._direction = direction
        for key, value in values.items():
            setattr(self, key, value)

    __init__.__signature__ = _losses._init_signature(order, defaults)

    def get_config(self):
        config = {"name": self.name, "dtype": self.dtype}
        config.update({key: getattr(self, key) for key in config_params})
        return config

    return type(class_name, (MeanMetricWrapper,), {
        "__init__": __init__, "get_config": get_config,
        "from_config": classmethod(_losses._from_config),
        "__doc__": doc, "__module__": __name__})


# ------------------------------------------------------------------ accuracy functions

def _floatx(x):
    return _tf().cast(x, _tf().float32)


def accuracy(y_true, y_pred):
    """1.0 where y_true == y_pred exactly, else 0.0.

    >>> from tensorflux.keras import metrics
    >>> metrics.accuracy([1.0, 2.0], [1.0, 3.0]).numpy().tolist()
    [1.0, 0.0]
    """
    tf = _tf()
    y_pred = convert(y_pred)
    y_true = convert(y_true, y_pred.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return _floatx(tf.equal(y_true, y_pred))


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1.0 where (y_pred > threshold) equals y_true, else 0.0.

    >>> from tensorflux.keras import metrics
    >>> metrics.binary_accuracy([1.0, 0.0], [0.7, 0.6]).numpy().tolist()
    [1.0, 0.0]
    """
    tf = _tf()
    y_pred = _losses._prediction(y_pred)
    y_true = convert(y_true)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    y_pred = tf.cast(y_pred > tf.constant(threshold, dtype=y_pred.dtype), y_true.dtype)
    return _floatx(tf.equal(y_true, y_pred))


# The most mantissa bits (with the implicit one) of each float dtype: every integer of magnitude
# up to 2**bits has an exact float of the dtype.
_EXACT_INT_BITS = {"float16": 11, "bfloat16": 8, "float32": 24, "float64": 53}


def _known_last(x):
    """x's last dimension where its rank (>= 1) and that dimension are known, else None."""
    rank = x.shape.rank
    return x.shape[-1] if rank else None


def _indices_exact_in(dtype, *sizes):
    """Whether class indices 0..size-1 (each size known) are exact floats of `dtype`: then
    two such indices, or an int label and such an index, are equal as `dtype` floats exactly
    when they are equal as integers (a larger label rounds to >= 2**bits, past every index),
    so Keras's casts of both to y_pred's dtype before comparing may be skipped."""
    bits = _EXACT_INT_BITS.get(dtype.name)
    return bits is not None and all(size is not None and size <= 2 ** bits for size in sizes)


def categorical_accuracy(y_true, y_pred):
    """1.0 where argmax(y_true) == argmax(y_pred), else 0.0.

    >>> from tensorflux.keras import metrics
    >>> metrics.categorical_accuracy([[0, 1], [1, 0]], [[0.2, 0.8], [0.3, 0.7]]).numpy().tolist()
    [1.0, 0.0]
    """
    tf = _tf()
    y_pred = _losses._prediction(y_pred)
    y_true = convert(y_true)
    true_index = tf.argmax(y_true, axis=-1)
    # (both argmaxes are int64 indices: compared as integers where that is exact)
    exact = _indices_exact_in(y_pred.dtype, _known_last(y_true), _known_last(y_pred))
    y_true = true_index if exact else convert(true_index, y_pred.dtype)
    reshape = _rank(y_true) == _rank(y_pred)
    if reshape:
        original = tf.shape(y_true)
        y_true = tf.squeeze(y_true, axis=-1)
    predicted = tf.argmax(y_pred, axis=-1)
    if not exact:
        predicted = tf.cast(predicted, y_true.dtype)
    matches = _floatx(tf.equal(y_true, predicted))
    return tf.reshape(matches, original) if reshape else matches


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where the integer label equals argmax(y_pred), else 0.0.

    >>> from tensorflux.keras import metrics
    >>> metrics.sparse_categorical_accuracy([1, 1], [[0.2, 0.8], [0.7, 0.3]]).numpy().tolist()
    [1.0, 0.0]
    """
    tf = _tf()
    y_pred = _losses._prediction(y_pred)
    y_true = convert(y_true)
    # int32/int64 labels compare with the argmax as integers where that is exact.
    exact = y_true.dtype.name in ("int32", "int64") and _indices_exact_in(
        y_pred.dtype, _known_last(y_pred))
    if not exact:
        y_true = convert(y_true, y_pred.dtype)
    labels = y_true
    reshape = _rank(y_true) == _rank(y_pred) and y_true.shape[-1] == 1
    if reshape:
        y_true = tf.squeeze(y_true, axis=-1)
    if exact:
        predicted = tf.argmax(y_pred, axis=-1, output_type=y_true.dtype)
    else:
        predicted = tf.cast(tf.argmax(y_pred, axis=-1), y_true.dtype)
    matches = _floatx(tf.equal(y_true, predicted))
    if reshape and not _restores_squeezed(matches, y_true):
        matches = tf.reshape(matches, tf.shape(labels))
    if _rank(matches) > 1 and matches.shape[-1] == 1:
        matches = tf.squeeze(matches, axis=-1)
    return matches


def _restores_squeezed(matches, squeezed):
    """Whether reshaping `matches` back to the labels' (..., 1) shape and squeezing that 1
    again gives `matches` itself: so when both shapes are known, equal, and of rank >= 1."""
    shape = _losses._shape(matches)
    return shape is not None and len(shape) >= 1 and None not in shape and \
        shape == _losses._shape(squeezed)


def _in_top_k(targets, predictions, k):
    """Whether predictions[i, targets[i]] is >= the k-th largest value of row i."""
    tf = _tf()
    num_classes = predictions.shape[-1]
    if num_classes is not None and k > num_classes:
        k = num_classes
    kth = tf.math.top_k(predictions, k=k)[0][:, -1]
    target_values = tf.gather(predictions, tf.cast(targets, tf.int32), batch_dims=1)
    return target_values >= kth


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where argmax(y_true) is among the k largest predictions.

    >>> from tensorflux.keras import metrics
    >>> metrics.top_k_categorical_accuracy([[0, 0, 1]], [[0.5, 0.3, 0.2]], k=2).numpy().tolist()
    [0.0]
    """
    tf = _tf()
    y_pred = _losses._prediction(y_pred)
    y_true = tf.argmax(convert(y_true, y_pred.dtype), axis=-1)
    if _rank(y_pred) > 2:
        y_pred = tf.reshape(y_pred, [-1, y_pred.shape[-1]])
    reshape = _rank(y_true) > 1
    if reshape:
        original = tf.shape(y_true)
        y_true = _reshape(y_true, [-1])
    matches = _floatx(_in_top_k(y_true, y_pred, k))
    return tf.reshape(matches, original) if reshape else matches


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False):
    """1.0 where the integer label is among the k largest predictions.

    >>> from tensorflux.keras import metrics
    >>> metrics.sparse_top_k_categorical_accuracy([2], [[0.5, 0.3, 0.2]], k=2).numpy().tolist()
    [0.0]
    """
    tf = _tf()
    y_pred = convert(y_pred)
    y_true = convert(y_true, y_pred.dtype if from_sorted_ids else tf.int32)
    if _rank(y_pred) > 2:
        y_pred = tf.reshape(y_pred, [-1, y_pred.shape[-1]])
    reshape = _rank(y_true) > 1
    if reshape:
        original = tf.shape(y_true)
        y_true = _reshape(y_true, [-1])
    if from_sorted_ids:
        matches = tf.reduce_any(tf.equal(tf.expand_dims(y_true, 1), y_pred[:, :k]), axis=1)
    else:
        matches = _in_top_k(y_true, _losses._prediction(y_pred), k)
    matches = _floatx(matches)
    return tf.reshape(matches, original) if reshape else matches


def cosine_similarity(y_true, y_pred, axis=-1):
    """sum(l2_normalize(y_true) * l2_normalize(y_pred), axis) (the metric is not negated).

    >>> from tensorflux.keras import metrics
    >>> [round(float(v), 6) for v in metrics.cosine_similarity([[1.0, 0.0]], [[2.0, 0.0]])]
    [1.0]
    """
    return -_losses.cosine_similarity(y_true, y_pred, axis=axis)


# ------------------------------------------------------------------ accuracy classes

Accuracy = _wrapper_class("Accuracy", accuracy, "accuracy", "up",
                          "How often predictions equal labels.")
BinaryAccuracy = _wrapper_class("BinaryAccuracy", binary_accuracy, "binary_accuracy", "up",
                                "How often thresholded predictions match binary labels.",
                                (("threshold", 0.5),))
CategoricalAccuracy = _wrapper_class("CategoricalAccuracy", categorical_accuracy,
                                     "categorical_accuracy", "up",
                                     "How often argmax(y_pred) matches one-hot labels.")
SparseCategoricalAccuracy = _wrapper_class(
    "SparseCategoricalAccuracy", sparse_categorical_accuracy, "sparse_categorical_accuracy",
    "up", "How often argmax(y_pred) matches integer labels.")


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often one-hot targets are in the top `k` predictions (default 5)."""

    _direction = "up"

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "k": self.k}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often integer targets are in the top `k` predictions (default 5)."""

    _direction = "up"

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None,
                 from_sorted_ids=False):
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k,
                         from_sorted_ids=from_sorted_ids)
        self.k = k
        self.from_sorted_ids = from_sorted_ids

    def get_config(self):
        config = {"name": self.name, "dtype": self.dtype, "k": self.k}
        if self.from_sorted_ids:
            config["from_sorted_ids"] = True
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


# ------------------------------------------------------------------ regression / probabilistic

MeanSquaredError = _wrapper_class("MeanSquaredError", mean_squared_error, "mean_squared_error",
                                  "down", "Running mean of the mean squared error.")
MeanAbsoluteError = _wrapper_class("MeanAbsoluteError", mean_absolute_error,
                                   "mean_absolute_error", "down",
                                   "Running mean of the mean absolute error.")
MeanAbsolutePercentageError = _wrapper_class(
    "MeanAbsolutePercentageError", mean_absolute_percentage_error,
    "mean_absolute_percentage_error", "down",
    "Running mean of the mean absolute percentage error.")
MeanSquaredLogarithmicError = _wrapper_class(
    "MeanSquaredLogarithmicError", mean_squared_logarithmic_error,
    "mean_squared_logarithmic_error", "down",
    "Running mean of the mean squared logarithmic error.")
CosineSimilarity = _wrapper_class("CosineSimilarity", cosine_similarity, "cosine_similarity",
                                  "up", "Running mean of the cosine similarity.",
                                  (("axis", -1),), config_params=[])
LogCoshError = _wrapper_class("LogCoshError", log_cosh, "logcosh", "down",
                              "Running mean of the log-cosh error.")
KLDivergence = _wrapper_class("KLDivergence", kl_divergence, "kl_divergence", "down",
                              "Running mean of the KL divergence.")
Poisson = _wrapper_class("Poisson", poisson, "poisson", "down",
                         "Running mean of the Poisson loss.")
Hinge = _wrapper_class("Hinge", hinge, "hinge", "down", "Running mean of the hinge loss.")
SquaredHinge = _wrapper_class("SquaredHinge", squared_hinge, "squared_hinge", "down",
                              "Running mean of the squared hinge loss.")
CategoricalHinge = _wrapper_class("CategoricalHinge", categorical_hinge, "categorical_hinge",
                                  "down", "Running mean of the categorical hinge loss.")
BinaryCrossentropy = _wrapper_class(
    "BinaryCrossentropy", binary_crossentropy, "binary_crossentropy", "down",
    "Running mean of the binary crossentropy.", (("from_logits", False),
                                                 ("label_smoothing", 0)))
CategoricalCrossentropy = _wrapper_class(
    "CategoricalCrossentropy", categorical_crossentropy, "categorical_crossentropy", "down",
    "Running mean of the categorical crossentropy.",
    (("from_logits", False), ("label_smoothing", 0), ("axis", -1)))
SparseCategoricalCrossentropy = _wrapper_class(
    "SparseCategoricalCrossentropy", sparse_categorical_crossentropy,
    "sparse_categorical_crossentropy", "down",
    "Running mean of the sparse categorical crossentropy.",
    (("from_logits", False), ("ignore_class", None), ("axis", -1)))


class RootMeanSquaredError(Mean):
    """sqrt of the running mean of squared errors.

    >>> from tensorflux.keras import metrics
    >>> m = metrics.RootMeanSquaredError()
    >>> m.update_state([[0.0], [0.0]], [[3.0], [4.0]])
    >>> round(float(m.result()), 5)
    3.53553
    """

    _direction = "down"

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        tf = _tf()
        y_true = convert(y_true, self.dtype)
        y_pred = convert(y_pred, self.dtype)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        _losses._check_same_shape(self._label(), y_true, y_pred)
        return super().update_state(tf.square(y_pred - y_true), sample_weight=sample_weight)

    def result(self):
        return _tf().sqrt(super().result())


# ------------------------------------------------------------------ confusion matrices

_TP, _FP, _TN, _FN = "tp", "fp", "tn", "fn"


def _to_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def parse_init_thresholds(thresholds, default_threshold=0.5):
    if thresholds is not None:
        bad = [t for t in _to_list(thresholds) if t is None or t < 0 or t > 1]
        if bad:
            raise ValueError(f"Threshold values must be in [0, 1]. Received: {bad}")
    return _to_list(default_threshold if thresholds is None else thresholds)


def is_evenly_distributed_thresholds(thresholds):
    """Whether thresholds are i / (n - 1) for i = 0..n-1 (within Keras's allclose)."""
    n = len(thresholds)
    if n < 3:
        return False
    return all(abs(t - i / (n - 1)) <= EPSILON + 1e-5 * abs(i / (n - 1))
               for i, t in enumerate(thresholds))


def _filter_top_k(x, k):
    tf = _tf()
    _, indices = tf.math.top_k(x, k=k)
    mask = tf.reduce_sum(tf.one_hot(indices, x.shape[-1], dtype=x.dtype), axis=-2)
    one = tf.constant(1.0, dtype=x.dtype)
    return x * mask + tf.constant(NEG_INF, dtype=x.dtype) * (one - mask)


def _scalar(value, dtype):
    """tf.constant(value, dtype) for a Python scalar: the ops' cached one (made as
    tf.constant makes it, once per dtype and backend) rather than a new tensor each update."""
    from tensorflux.ops._core import const_like

    return const_like(value, dtype)


def _update_bucketed(variables, y_true, y_pred, thresholds, multi_label, sample_weights,
                     label_weights, with_epsilon):
    """Keras's optimized path for evenly spaced thresholds: bucket, then reverse cumsum."""
    tf = _tf()
    num_thresholds = len(thresholds)
    dtype = y_pred.dtype
    weights = None  # (Keras's weights of 1.0: the labels below are 0.0 or 1.0, so x * 1.0 is x)
    if sample_weights is not None:
        weights = _broadcast_as(tf.cast(sample_weights, dtype), y_pred)
        if not multi_label:
            weights = _reshape(weights, [-1])
    if label_weights is not None:
        lw = _broadcast_as(tf.expand_dims(convert(label_weights, dtype), 0), y_pred)
        if not multi_label:
            lw = _reshape(lw, [-1])
        weights = lw if weights is None else weights * lw
    one = _scalar(1.0, dtype)
    y_pred = tf.clip_by_value(y_pred, _scalar(0.0, dtype), one)
    y_true = tf.cast(tf.cast(y_true, tf.bool), dtype)
    if not multi_label:
        y_true = _reshape(y_true, [-1])
        y_pred = _reshape(y_pred, [-1])
    true_labels, false_labels = y_true, one - y_true
    if weights is not None:
        true_labels, false_labels = true_labels * weights, false_labels * weights
    buckets = tf.math.ceil(y_pred * _scalar(num_thresholds - 1.0, dtype)) - one
    if with_epsilon:
        buckets = tf.nn.relu(buckets)
    # one_hot of the bucket index stands in for segment_sum; index -1 (a prediction of
    # exactly 0 without the epsilon thresholds) gives a zero row, as segment_sum drops it.
    hot = tf.one_hot(tf.cast(buckets, tf.int32), num_thresholds, dtype=dtype)
    tp = tf.cumsum(tf.reduce_sum(tf.expand_dims(true_labels, -1) * hot, axis=0), axis=-1,
                   reverse=True)
    fp = tf.cumsum(tf.reduce_sum(tf.expand_dims(false_labels, -1) * hot, axis=0), axis=-1,
                   reverse=True)
    if multi_label:
        tp, fp = tf.transpose(tp), tf.transpose(fp)
    total_true = tf.reduce_sum(true_labels, axis=0)
    total_false = tf.reduce_sum(false_labels, axis=0)
    updates = {_TP: tp, _FP: fp, _TN: total_false - fp, _FN: total_true - tp}
    for key, variable in variables.items():
        variable.assign_add(tf.cast(updates[key], variable.dtype))


_THRESHOLD_TENSORS = {}


def _threshold_tensor(thresholds, dtype, rank):
    """tf.constant(thresholds, dtype) shaped (T, 1) or (T, 1, 1), made once per dtype and
    backend (as const_like's scalars) rather than at every update."""
    values = tuple(float(v) for v in thresholds)
    key = (values, dtype.name, rank, context.backend)
    tensor = _THRESHOLD_TENSORS.get(key)
    if tensor is None:
        nested = [[v] for v in values] if rank == 2 else [[[v]] for v in values]
        with _tf().init_scope():  # (an eager constant even while tracing: it is cached)
            tensor = _tf().constant(nested, dtype=dtype)
        if len(_THRESHOLD_TENSORS) >= 64:
            _THRESHOLD_TENSORS.clear()
        _THRESHOLD_TENSORS[key] = tensor
    return tensor


def _update_thresholded(variables, y_true, y_pred, thresholds, multi_label, sample_weight,
                        label_weights):
    """Keras's general path: compare every prediction with every threshold."""
    tf = _tf()
    dtype = y_pred.dtype
    if multi_label:
        preds = tf.expand_dims(y_pred, 0)
        labels = tf.expand_dims(tf.cast(y_true, tf.bool), 0)
        t = _threshold_tensor(thresholds, dtype, 3)
    else:
        preds = _reshape(y_pred, [1, -1])
        labels = _reshape(tf.cast(y_true, tf.bool), [1, -1])
        t = _threshold_tensor(thresholds, dtype, 2)
    pred_is_pos = preds > t
    weights = None
    if sample_weight is not None:
        weights = _broadcast_as(tf.cast(sample_weight, dtype), y_pred)
        weights = tf.expand_dims(weights, 0) if multi_label else _reshape(weights, [1, -1])
    if label_weights is not None and not multi_label:
        lw = _broadcast_as(tf.expand_dims(convert(label_weights, dtype), 0), y_pred)
        lw = _reshape(lw, [1, -1])
        weights = lw if weights is None else weights * lw
    # Keras broadcasts the labels over the thresholds first (labels AND ones); the labels of
    # shape (1, ...) broadcast against the predictions of shape (T, ...) in logical_and just
    # the same. Each negation is made only when a counted condition uses it.
    negations = {}

    def negated(which, x):
        if which not in negations:
            negations[which] = tf.logical_not(x)
        return negations[which]

    conditions = {_TP: lambda: (labels, pred_is_pos),
                  _FN: lambda: (labels, negated("pred", pred_is_pos)),
                  _FP: lambda: (negated("label", labels), pred_is_pos),
                  _TN: lambda: (negated("label", labels), negated("pred", pred_is_pos))}
    weighted = {}  # (the weights broadcast to the counts' shape, and zeros, per dtype)
    for key, variable in variables.items():
        label, pred = conditions[key]()
        both = tf.logical_and(label, pred)
        if weights is None:
            counted = tf.cast(both, variable.dtype)
        else:
            if variable.dtype not in weighted:
                shaped = tf.cast(both, variable.dtype)
                weighted[variable.dtype] = (
                    tf.cast(weights, variable.dtype) * tf.ones_like(shaped),
                    tf.zeros_like(shaped))
            filled, zeros = weighted[variable.dtype]
            counted = tf.where(both, filled, zeros)
        variable.assign_add(tf.reduce_sum(counted, axis=1))


def update_confusion_matrix_variables(variables, y_true, y_pred, thresholds, top_k=None,
                                      class_id=None, sample_weight=None, multi_label=False,
                                      label_weights=None, thresholds_distributed_evenly=False,
                                      op="metric"):
    """Adds this batch's TP/FP/TN/FN counts per threshold to `variables` ({"tp": var, ...})."""
    tf = _tf()
    dtype = next(iter(variables.values())).dtype
    y_true = convert(y_true, dtype)
    y_pred = convert(y_pred, dtype)
    y_pred, y_true = squeeze_or_expand_to_same_rank(y_pred, y_true)
    if not _losses._shapes_match(_losses._shape(y_true), _losses._shape(y_pred)):
        raise errors.InvalidArgumentError(
            f"{op}: y_true and y_pred must have the same shape, received y_true of shape "
            f"{_losses._shape(y_true)} and y_pred of shape {_losses._shape(y_pred)}", op)
    if sample_weight is not None:
        sample_weight = tf.expand_dims(convert(sample_weight, dtype), -1)
        _, sample_weight = squeeze_or_expand_to_same_rank(y_true, sample_weight,
                                                          expand_rank_1=False)
        _check_broadcast(op, sample_weight.shape, y_pred.shape)
    if top_k is not None:
        y_pred = _filter_top_k(y_pred, top_k)
    if class_id is not None:
        if _rank(y_pred) == 1:
            raise ValueError(f"When class_id is provided, y_pred must be a 2D array with shape "
                             f"(num_samples, num_classes), found shape: {tuple(y_pred.shape)}")
        y_true = y_true[..., class_id:class_id + 1]
        y_pred = y_pred[..., class_id:class_id + 1]
    if thresholds_distributed_evenly:
        with_epsilon = thresholds[0] < 0.0 or thresholds[-1] > 1.0
        return _update_bucketed(variables, y_true, y_pred, thresholds, multi_label,
                                sample_weight, label_weights, with_epsilon)
    return _update_thresholded(variables, y_true, y_pred, thresholds, multi_label,
                               sample_weight, label_weights)


class _Thresholded(Metric):
    """A metric of confusion-matrix counts kept per threshold."""

    def _init_thresholds(self, thresholds, default_threshold):
        self.init_thresholds = thresholds
        self.thresholds = parse_init_thresholds(thresholds, default_threshold=default_threshold)
        self._thresholds_distributed_evenly = is_evenly_distributed_thresholds(self.thresholds)

    def _threshold_variable(self, name):
        return self.add_variable(shape=(len(self.thresholds),), name=name)

    def _update_counts(self, variables, y_true, y_pred, sample_weight, **options):
        update_confusion_matrix_variables(
            variables, y_true, y_pred, thresholds=self.thresholds,
            thresholds_distributed_evenly=self._thresholds_distributed_evenly,
            sample_weight=sample_weight, op=self._label(), **options)

    def _per_threshold(self, value):
        # (value[0] of the one threshold's shape (1,) value, as a cheaper reshape)
        return _tf().reshape(value, ()) if len(self.thresholds) == 1 else value


class _ConfusionMatrixConditionCount(_Thresholded):
    _CONDITION = _TP

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._init_thresholds(thresholds, 0.5)
        self.accumulator = self._threshold_variable("accumulator")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self._update_counts({self._CONDITION: self.accumulator}, y_true, y_pred, sample_weight)

    def result(self):
        return self._per_threshold(self.accumulator.read_value())

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_ConfusionMatrixConditionCount):
    """The (weighted) count of true positives at each threshold (default 0.5).

    >>> from tensorflux.keras import metrics
    >>> m = metrics.TruePositives()
    >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    >>> float(m.result())
    2.0
    """

    _CONDITION = _TP


class FalsePositives(_ConfusionMatrixConditionCount):
    """The (weighted) count of false positives at each threshold (default 0.5)."""

    _CONDITION = _FP


class TrueNegatives(_ConfusionMatrixConditionCount):
    """The (weighted) count of true negatives at each threshold (default 0.5)."""

    _CONDITION = _TN


class FalseNegatives(_ConfusionMatrixConditionCount):
    """The (weighted) count of false negatives at each threshold (default 0.5)."""

    _CONDITION = _FN


class _PrecisionRecall(_Thresholded):
    _OTHER = _FP
    _OTHER_NAME = "false_positives"
    _direction = "up"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.top_k = top_k
        self.class_id = class_id
        self._init_thresholds(thresholds, 0.5 if top_k is None else NEG_INF)
        self.true_positives = self._threshold_variable("true_positives")
        setattr(self, self._OTHER_NAME, self._threshold_variable(self._OTHER_NAME))

    def update_state(self, y_true, y_pred, sample_weight=None):
        self._update_counts(
            {_TP: self.true_positives, self._OTHER: getattr(self, self._OTHER_NAME)},
            y_true, y_pred, sample_weight, top_k=self.top_k, class_id=self.class_id)

    def result(self):
        tp = self.true_positives.read_value()
        other = getattr(self, self._OTHER_NAME).read_value()
        return self._per_threshold(_divide_no_nan(tp, tp + other))

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds,
                "top_k": self.top_k, "class_id": self.class_id}


class Precision(_PrecisionRecall):
    """TP / (TP + FP) at each threshold (default 0.5).

    >>> from tensorflux.keras import metrics
    >>> m = metrics.Precision()
    >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    >>> round(float(m.result()), 6)
    0.666667
    """

    _OTHER, _OTHER_NAME = _FP, "false_positives"


class Recall(_PrecisionRecall):
    """TP / (TP + FN) at each threshold (default 0.5).

    >>> from tensorflux.keras import metrics
    >>> m = metrics.Recall()
    >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    >>> round(float(m.result()), 6)
    0.666667
    """

    _OTHER, _OTHER_NAME = _FN, "false_negatives"


class _AtConstraint(_Thresholded):
    """The best of one rate (sensitivity, specificity, precision, recall) over the thresholds
    where another reaches `value`: confusion counts at num_thresholds thresholds evenly spaced
    in [0, 1] (0.5 alone when num_thresholds is 1). Subclasses name the pair in _RATES."""

    _direction = "up"
    _VALUE_NAME = None
    _RATES = None  # (constrained rate, maximized rate)

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        if value < 0 or value > 1:
            raise ValueError(f"Argument `{self._VALUE_NAME}` must be in the range [0, 1]. "
                             f"Received: {self._VALUE_NAME}={value}")
        if num_thresholds <= 0:
            raise ValueError(f"Argument `num_thresholds` must be an integer > 0. Received: "
                             f"num_thresholds={num_thresholds}")
        super().__init__(name=name, dtype=dtype)
        setattr(self, self._VALUE_NAME, value)
        self.value = value
        self.num_thresholds = num_thresholds
        self.class_id = class_id
        if num_thresholds == 1:
            self.thresholds = [0.5]
        else:
            self.thresholds = [0.0] + [(i + 1) / (num_thresholds - 1)
                                       for i in range(num_thresholds - 2)] + [1.0]
        self._thresholds_distributed_evenly = num_thresholds > 1
        self.true_positives = self._threshold_variable("true_positives")
        self.false_positives = self._threshold_variable("false_positives")
        self.true_negatives = self._threshold_variable("true_negatives")
        self.false_negatives = self._threshold_variable("false_negatives")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self._update_counts(
            {_TP: self.true_positives, _FP: self.false_positives, _TN: self.true_negatives,
             _FN: self.false_negatives}, y_true, y_pred, sample_weight, class_id=self.class_id)

    def _rate(self, which):
        tp, fp = self.true_positives.read_value(), self.false_positives.read_value()
        tn, fn = self.true_negatives.read_value(), self.false_negatives.read_value()
        hits, misses = {"sensitivity": (tp, fn), "recall": (tp, fn), "specificity": (tn, fp),
                        "precision": (tp, fp)}[which]
        return _divide_no_nan(hits, hits + misses)

    def result(self):
        tf = _tf()
        constrained, maximized = (self._rate(which) for which in self._RATES)
        feasible = constrained >= tf.constant(self.value, dtype=constrained.dtype)
        # 0 when no threshold reaches the value.
        return tf.reduce_max(tf.where(feasible, maximized, tf.zeros_like(maximized)))

    def get_config(self):
        return {**super().get_config(), "class_id": self.class_id,
                "num_thresholds": self.num_thresholds, self._VALUE_NAME: self.value}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class SensitivityAtSpecificity(_AtConstraint):
    """The best sensitivity TP / (TP + FN) where specificity TN / (TN + FP) >= `specificity`.

    >>> from tensorflux.keras import metrics
    >>> m = metrics.SensitivityAtSpecificity(0.5, num_thresholds=3)
    >>> m.update_state([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])
    >>> float(m.result())
    0.5
    """

    _VALUE_NAME = "specificity"
    _RATES = ("specificity", "sensitivity")

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)


class SpecificityAtSensitivity(_AtConstraint):
    """The best specificity TN / (TN + FP) where sensitivity TP / (TP + FN) >= `sensitivity`.

    >>> from tensorflux.keras import metrics
    >>> m = metrics.SpecificityAtSensitivity(0.5, num_thresholds=3)
    >>> m.update_state([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])
    >>> float(m.result())
    0.5
    """

    _VALUE_NAME = "sensitivity"
    _RATES = ("sensitivity", "specificity")

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)


class PrecisionAtRecall(_AtConstraint):
    """The best precision TP / (TP + FP) where recall TP / (TP + FN) >= `recall`.

    >>> from tensorflux.keras import metrics
    >>> m = metrics.PrecisionAtRecall(0.5, num_thresholds=3)
    >>> m.update_state([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])
    >>> float(m.result())
    0.5
    """

    _VALUE_NAME = "recall"
    _RATES = ("recall", "precision")

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)


class RecallAtPrecision(_AtConstraint):
    """The best recall TP / (TP + FN) where precision TP / (TP + FP) >= `precision`.

    >>> from tensorflux.keras import metrics
    >>> m = metrics.RecallAtPrecision(0.5, num_thresholds=3)
    >>> m.update_state([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])
    >>> float(m.result())
    1.0
    """

    _VALUE_NAME = "precision"
    _RATES = ("precision", "recall")

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)


_CURVES = {"roc": "ROC", "pr": "PR", "prgain": "PRGAIN"}
_SUMMATIONS = {"interpolation": "interpolation", "majoring": "majoring",
               "minoring": "minoring"}


class AUC(Metric):
    """Area under the ROC or PR curve from confusion counts at `num_thresholds` thresholds.

    >>> from tensorflux.keras import metrics
    >>> m = metrics.AUC(num_thresholds=3)
    >>> m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    >>> round(float(m.result()), 6)
    0.75
    """

    _direction = "up"

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name=None, dtype=None, thresholds=None, multi_label=False, num_labels=None,
                 label_weights=None, from_logits=False):
        curve_key = str(getattr(curve, "value", curve))
        if curve_key.lower() not in _CURVES or curve_key not in (curve_key.lower(),
                                                                curve_key.upper()):
            raise ValueError(f'Invalid AUC curve value: "{curve}". Expected values are '
                             f'["PR", "ROC", "PRGAIN"]')
        method = str(getattr(summation_method, "value", summation_method))
        if method.lower() not in _SUMMATIONS or method not in (method.lower(),
                                                               method.capitalize()):
            raise ValueError(f'Invalid AUC summation method value: "{summation_method}". '
                             f'Expected values are ["interpolation", "majoring", "minoring"]')
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            self.num_thresholds = len(thresholds) + 2
            thresholds = sorted(thresholds)
            self._thresholds_distributed_evenly = is_evenly_distributed_thresholds(
                [0.0] + thresholds + [1.0])
        else:
            if num_thresholds <= 1:
                raise ValueError(f"Argument `num_thresholds` must be an integer > 1. "
                                 f"Received: num_thresholds={num_thresholds}")
            self.num_thresholds = num_thresholds
            thresholds = [(i + 1) * 1.0 / (num_thresholds - 1)
                          for i in range(num_thresholds - 2)]
            self._thresholds_distributed_evenly = True
        self._thresholds = [0.0 - EPSILON] + list(thresholds) + [1.0 + EPSILON]
        self.curve = _CURVES[curve_key.lower()]
        self.summation_method = _SUMMATIONS[method.lower()]
        super().__init__(name=name, dtype=dtype)
        self.multi_label = multi_label
        self.num_labels = num_labels
        self.label_weights = None if label_weights is None else convert(label_weights,
                                                                         self.dtype)
        self._from_logits = from_logits
        self._built = False
        if multi_label:
            if num_labels:
                self._build([None, num_labels])
        else:
            if num_labels:
                raise ValueError("`num_labels` is needed only when `multi_label` is True.")
            self._build(None)

    @property
    def thresholds(self):
        return list(self._thresholds)

    def _build(self, shape):
        if self.multi_label:
            if len(shape) != 2:
                raise ValueError(f"`y_pred` must have rank 2 when `multi_label=True`. Found "
                                 f"rank {len(shape)}. Full shape received for `y_pred`: "
                                 f"{tuple(shape)}")
            self._num_labels = shape[1]
            variable_shape = (self.num_thresholds, self._num_labels)
        else:
            variable_shape = (self.num_thresholds,)
        self._build_input_shape = shape
        self.true_positives = self.add_variable(variable_shape, name="true_positives")
        self.false_positives = self.add_variable(variable_shape, name="false_positives")
        self.true_negatives = self.add_variable(variable_shape, name="true_negatives")
        self.false_negatives = self.add_variable(variable_shape, name="false_negatives")
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = convert(y_pred)
        if not self._built:
            self._build(tuple(y_pred.shape))
        if self._from_logits:
            y_pred = _tf().sigmoid(_losses._prediction(y_pred))
        update_confusion_matrix_variables(
            {_TP: self.true_positives, _TN: self.true_negatives, _FP: self.false_positives,
             _FN: self.false_negatives}, y_true, y_pred, self._thresholds,
            thresholds_distributed_evenly=self._thresholds_distributed_evenly,
            sample_weight=sample_weight, multi_label=self.multi_label,
            label_weights=None if self.multi_label else self.label_weights, op=self._label())

    def _by_label(self, terms):
        tf = _tf()
        if not self.multi_label:
            return tf.reduce_sum(terms)
        by_label = tf.reduce_sum(terms, axis=0)
        if self.label_weights is None:
            return tf.reduce_mean(by_label)
        return tf.math.divide_no_nan(tf.reduce_sum(by_label * self.label_weights),
                                     tf.reduce_sum(self.label_weights))

    def interpolate_pr_auc(self):
        """Davis & Goadrich's interpolated PR-AUC, as Keras computes it."""
        tf = _tf()
        n = self.num_thresholds
        tp = self.true_positives.read_value()
        fp = self.false_positives.read_value()
        fn = self.false_negatives.read_value()
        zero = tf.zeros_like(tp[1:])
        dtp = tp[:n - 1] - tp[1:]
        p = tp + fp
        dp = p[:n - 1] - p[1:]
        prec_slope = tf.math.divide_no_nan(dtp, tf.maximum(dp, zero))
        intercept = tp[1:] - prec_slope * p[1:]
        both = tf.logical_and(p[:n - 1] > zero, p[1:] > zero)
        safe_ratio = tf.where(both, tf.math.divide_no_nan(p[:n - 1], tf.maximum(p[1:], zero)),
                              tf.ones_like(p[1:]))
        increment = tf.math.divide_no_nan(prec_slope * (dtp + intercept * tf.math.log(
            safe_ratio)), tf.maximum(tp[1:] + fn[1:], zero))
        return self._by_label(increment)

    def result(self):
        tf = _tf()
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self.interpolate_pr_auc()
        n = self.num_thresholds
        tp = self.true_positives.read_value()
        fp = self.false_positives.read_value()
        tn = self.true_negatives.read_value()
        fn = self.false_negatives.read_value()
        # (tp + fn and fp + tn are the positives and negatives seen, the same at every
        # threshold: _divide_no_nan's single division applies once both kinds were seen)
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, tf.math.divide_no_nan(tp, tp + fp)
        else:
            one = tf.ones_like(tp)
            scaling = tf.math.divide_no_nan(tp + fn, tn + fp)
            recall_gain = one - scaling * tf.math.divide_no_nan(fn, tp)
            precision_gain = one - scaling * tf.math.divide_no_nan(fp, tp)
            no_tp = tf.equal(tp, tf.zeros_like(tp))
            recall_gain = tf.maximum(tf.where(no_tp, tf.zeros_like(tp), recall_gain),
                                     tf.zeros_like(tp))
            precision_gain = tf.where(no_tp, one, precision_gain)
            x, y = recall_gain, precision_gain
        if self.summation_method == "interpolation":
            heights = (y[:n - 1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = tf.minimum(y[:n - 1], y[1:])
        else:
            heights = tf.maximum(y[:n - 1], y[1:])
        return self._by_label((x[:n - 1] - x[1:]) * heights)

    def reset_state(self):
        if self._built:
            super().reset_state()

    def get_config(self):
        label_weights = self.label_weights
        if label_weights is not None:
            label_weights = label_weights.numpy().tolist()
        config = {"num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "multi_label": self.multi_label,
                  "num_labels": self.num_labels, "label_weights": label_weights,
                  "from_logits": self._from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return {**super().get_config(), **config}


# ------------------------------------------------------------------ F-scores, R2, IoU, correlation

# Here, not at the top: metrics_scores and metrics_iou subclass Metric from this module.
from tensorflux.keras.metrics_iou import (  # noqa: E402
    BinaryIoU,
    ConcordanceCorrelation,
    IoU,
    MeanIoU,
    OneHotIoU,
    OneHotMeanIoU,
    PearsonCorrelation,
    concordance_correlation,
    pearson_correlation,
)
from tensorflux.keras.metrics_scores import F1Score, FBetaScore, R2Score  # noqa: E402

# ------------------------------------------------------------------ lookup

_CLASSES = (Metric, Mean, Sum, MeanMetricWrapper, MeanSquaredError, RootMeanSquaredError,
            MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError,
            CosineSimilarity, LogCoshError, AUC, FalseNegatives, FalsePositives, Precision,
            Recall, TrueNegatives, TruePositives, Hinge, SquaredHinge, CategoricalHinge,
            KLDivergence, Poisson, BinaryCrossentropy, CategoricalCrossentropy,
            SparseCategoricalCrossentropy, Accuracy, BinaryAccuracy, CategoricalAccuracy,
            SparseCategoricalAccuracy, TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy,
            F1Score, FBetaScore, R2Score, PearsonCorrelation, ConcordanceCorrelation, IoU,
            BinaryIoU, MeanIoU, OneHotIoU, OneHotMeanIoU, PrecisionAtRecall, RecallAtPrecision,
            SensitivityAtSpecificity, SpecificityAtSensitivity)
ALL_OBJECTS_DICT = {cls.__name__: cls for cls in _CLASSES}
ALL_OBJECTS_DICT.update({_objects.snake_case(cls.__name__): cls for cls in _CLASSES})
ALL_OBJECTS_DICT.update({
    "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy, "mse": MeanSquaredError,
    "MSE": MeanSquaredError, "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
    "mape": MeanAbsolutePercentageError, "MAPE": MeanAbsolutePercentageError,
    "msle": MeanSquaredLogarithmicError, "MSLE": MeanSquaredLogarithmicError,
})
# Functions are found by name too when a config names one ({"class_name": "function"}).
_FUNCTIONS = {fn.__name__: fn for fn in (
    accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
    top_k_categorical_accuracy, sparse_top_k_categorical_accuracy, hinge, squared_hinge,
    categorical_hinge, kl_divergence, poisson, binary_crossentropy, categorical_crossentropy,
    sparse_categorical_crossentropy, mean_squared_error, mean_absolute_error,
    mean_absolute_percentage_error, mean_squared_logarithmic_error, log_cosh, huber,
    pearson_correlation, concordance_correlation, binary_focal_crossentropy,
    categorical_focal_crossentropy)}
_SERIALIZABLE = {**_FUNCTIONS, **{cls.__name__: cls for cls in _CLASSES}}


def serialize(metric):
    """Keras 3's dict form of a metric instance or a metric function (a user's one under
    its registered "package>name")."""
    from tensorflux.keras.saving import serialization

    custom = serialization.serialize_custom_object(metric, _SERIALIZABLE)
    if custom is not None:
        return custom
    return _objects.serialize_object(metric, "keras.metrics", _SERIALIZABLE)


def deserialize(config, custom_objects=None):
    """A metric (instance or function) from a name or a Keras config dict; a user's metric
    comes only from the registry, a custom object scope or `custom_objects`."""
    from tensorflux.keras.saving import serialization

    custom = serialization.deserialize_custom_object(
        config, {**ALL_OBJECTS_DICT, **_FUNCTIONS}, custom_objects, "metric")
    if custom is not None:
        return custom
    if isinstance(config, dict) and config.get("class_name") == "function":
        return _objects.deserialize_object(config, _FUNCTIONS, "metric", custom_objects)
    return _objects.deserialize_object(config, ALL_OBJECTS_DICT, "metric", custom_objects)


def get(identifier):
    """A metric from None, a name ("mse", "accuracy", "AUC"), a config dict or a callable.

    >>> from tensorflux.keras import metrics
    >>> type(metrics.get("accuracy")).__name__
    'Accuracy'
    """
    return _objects.get_object(identifier, ALL_OBJECTS_DICT, "metric")


def _last_dim(shape):
    shape = tuple(shape) if shape is not None else None
    return shape[-1] if shape else None


def resolve_accuracy(name, loss=None, y_true_shape=None, y_pred_shape=None):
    """The accuracy metric Keras's compile picks for "accuracy"/"acc", named `name`.

    Keras 3 decides from the shapes: y_pred's last dimension 1 -> BinaryAccuracy; a lower
    rank y_true, or y_true ending in 1 against several classes -> SparseCategoricalAccuracy;
    else CategoricalAccuracy. When the shapes cannot decide (unknown dimensions), the loss
    does, as in Keras 2.

    >>> from tensorflux.keras import metrics
    >>> m = metrics.resolve_accuracy("acc", None, (32,), (32, 10))
    >>> type(m).__name__, m.name
    ('SparseCategoricalAccuracy', 'acc')
    """
    true_shape = None if y_true_shape is None else tuple(y_true_shape)
    pred_shape = None if y_pred_shape is None else tuple(y_pred_shape)
    p_last, t_last = _last_dim(pred_shape), _last_dim(true_shape)
    known = pred_shape is not None and true_shape is not None and p_last is not None
    if known:
        is_binary = p_last == 1
        is_sparse = len(true_shape) < len(pred_shape) or (t_last == 1 and p_last > 1)
    else:
        loss_name = _loss_name(loss)
        is_binary = "binary" in loss_name
        is_sparse = "sparse" in loss_name
    if is_binary:
        return BinaryAccuracy(name=str(name))
    if is_sparse:
        return SparseCategoricalAccuracy(name=str(name))
    return CategoricalAccuracy(name=str(name))


def _loss_name(loss):
    if loss is None:
        return ""
    if isinstance(loss, str):
        return loss.lower()
    fn = getattr(loss, "fn", None)
    name = getattr(fn, "__name__", None) or type(loss).__name__
    return _objects.snake_case(name) if name[:1].isupper() else name.lower()


def resolve_metric(identifier, y_true_shape=None, y_pred_shape=None, loss=None):
    """Keras's compile_utils.get_metric: a Metric instance named after the identifier."""
    if identifier is None:
        raise ValueError("Expected metric, received `None`")
    if str(identifier).lower() in ("accuracy", "acc"):
        return resolve_accuracy(identifier, loss, y_true_shape, y_pred_shape)
    metric = get(identifier)
    if isinstance(identifier, str):
        name = identifier
    else:
        name = getattr(metric, "name", None) or getattr(metric, "__name__", None) or \
            _objects.snake_case(type(metric).__name__)
    if not isinstance(metric, Metric):
        metric = MeanMetricWrapper(metric)
    metric.name = name
    return metric
