"""keras.metrics' F-scores (FBetaScore, F1Score) and coefficient of determination (R2Score).

All three keep per-class sums in variables created on the first `update_state`, when the
number of classes (the last dimension of y_pred) is known, and follow the accumulation and
averaging rules of keras/src/metrics/f_score_metrics.py and regression_metrics.py.
"""

import warnings

from tensorflux import errors
from tensorflux.keras.losses import squeeze_or_expand_to_same_rank
from tensorflux.keras.metrics import Metric, convert

__all__ = ["F1Score", "FBetaScore", "R2Score"]

_AVERAGES = (None, "micro", "macro", "weighted")
_CLASS_AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")


def _tf():
    import tensorflux as tf

    return tf


def _epsilon():
    from tensorflux.keras import backend

    return backend.epsilon()


def _check_2d(metric, y_true, y_pred):
    """The number of classes, once y_true and y_pred are known to be (batch, classes)."""
    true_shape, pred_shape = tuple(y_true.shape), tuple(y_pred.shape)
    if len(true_shape) != 2 or len(pred_shape) != 2:
        raise ValueError(f"{metric._label()} expects 2D inputs of shape (batch_size, "
                         f"output_dim), received y_true of shape {true_shape} and y_pred of "
                         f"shape {pred_shape}")
    if true_shape[-1] is None or pred_shape[-1] is None:
        raise ValueError(f"{metric._label()} expects 2D inputs whose last dimension (output_dim) "
                         f"is known, received y_true of shape {true_shape} and y_pred of shape "
                         f"{pred_shape}")
    return pred_shape[-1]


def _check_float(metric_class, argument, value):
    if not isinstance(value, float):
        raise ValueError(f"{metric_class}: `{argument}` must be a Python float, received "
                         f"{argument}={value!r} of type {type(value).__name__}")


class FBetaScore(Metric):
    """The F-beta score, (1 + beta^2) * precision * recall / (beta^2 * precision + recall),
    per class (average=None) or averaged ("micro", "macro", "weighted").

    Predictions above `threshold` count as positive; with threshold=None, the largest
    prediction of each row does (several when tied, none when all are 0).

    >>> from tensorflux.keras import metrics
    >>> m = metrics.FBetaScore(beta=2.0, threshold=0.5, average="micro")
    >>> m.update_state([[1, 0], [1, 1]], [[0.9, 0.2], [0.8, 0.1]])
    >>> round(float(m.result()), 4)
    0.7143
    """

    _direction = "up"

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score",
                 dtype=None):
        super().__init__(name=name, dtype=dtype)
        label = type(self).__name__
        if average not in _AVERAGES:
            raise ValueError(f"{label}: `average` must be one of None, 'micro', 'macro' or "
                             f"'weighted', received average={average!r}")
        _check_float(label, "beta", beta)
        if beta <= 0.0:
            raise ValueError(f"{label}: `beta` must be > 0, received beta={beta}")
        if threshold is not None:
            _check_float(label, "threshold", threshold)
            if not 0.0 < threshold <= 1.0:
                raise ValueError(f"{label}: `threshold` must satisfy 0 < threshold <= 1, "
                                 f"received threshold={threshold}")
        self.average = average
        self.beta = beta
        self.threshold = threshold
        # "micro" pools every class into one count; the others keep one count per class.
        self.axis = None if average == "micro" else 0
        self._built = False

    def _build(self, y_true, y_pred):
        num_classes = _check_2d(self, y_true, y_pred)
        shape = () if self.average == "micro" else (num_classes,)
        self.true_positives = self.add_variable(shape, name="true_positives")
        self.false_positives = self.add_variable(shape, name="false_positives")
        self.false_negatives = self.add_variable(shape, name="false_negatives")
        self.intermediate_weights = self.add_variable(shape, name="intermediate_weights")
        self._built = True

    def _positive_predictions(self, y_pred):
        tf = _tf()
        if self.threshold is not None:
            return y_pred > self.threshold
        row_max = tf.reduce_max(y_pred, axis=-1, keepdims=True)
        # A row of zeros has no positive prediction, not one per class.
        return tf.logical_and(y_pred >= row_max, tf.abs(y_pred) > 1e-9)

    def update_state(self, y_true, y_pred, sample_weight=None):
        tf = _tf()
        y_true = convert(y_true, self.dtype)
        y_pred = convert(y_pred, self.dtype)
        if not self._built:
            self._build(y_true, y_pred)
        y_pred = tf.cast(self._positive_predictions(y_pred), self.dtype)
        if sample_weight is not None:
            sample_weight = tf.expand_dims(convert(sample_weight, self.dtype), 1)

        def weighted_sum(values):
            if sample_weight is not None:
                values = values * sample_weight
            return tf.reduce_sum(values, axis=self.axis)

        one = tf.constant(1.0, dtype=self.dtype)
        self.true_positives.assign_add(weighted_sum(y_pred * y_true))
        self.false_positives.assign_add(weighted_sum(y_pred * (one - y_true)))
        self.false_negatives.assign_add(weighted_sum((one - y_pred) * y_true))
        self.intermediate_weights.assign_add(weighted_sum(y_true))

    def result(self):
        if not self._built:
            raise ValueError(f"{self._label()} has no result before its first update_state: "
                             "it learns the number of classes from y_pred")
        tf = _tf()
        epsilon = _epsilon()
        tp = self.true_positives.read_value()
        precision = tp / (tp + self.false_positives.read_value() + epsilon)
        recall = tp / (tp + self.false_negatives.read_value() + epsilon)
        beta_squared = self.beta ** 2
        score = precision * recall / (beta_squared * precision + recall + epsilon)
        score = score * (1 + beta_squared)
        if self.average == "weighted":
            support = self.intermediate_weights.read_value()
            return tf.reduce_sum(score * (support / (tf.reduce_sum(support) + epsilon)))
        if self.average is not None:
            return tf.reduce_mean(score)
        return score

    def get_config(self):
        return {**super().get_config(), "average": self.average, "beta": self.beta,
                "threshold": self.threshold}


class F1Score(FBetaScore):
    """The F1 score, 2 * precision * recall / (precision + recall): FBetaScore with beta=1.

    >>> from tensorflux.keras import metrics
    >>> m = metrics.F1Score(threshold=0.5)
    >>> m.update_state([[1, 1], [1, 0]], [[0.6, 0.2], [0.7, 0.9]])
    >>> [round(float(v), 4) for v in m.result()]
    [1.0, 0.0]
    """

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name,
                         dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config


class R2Score(Metric):
    """The coefficient of determination, 1 - residual sum of squares / total sum of squares,
    per output column, then aggregated ("uniform_average", "variance_weighted_average", or
    None for one score per column); adjusted for `num_regressors` predictors when nonzero.

    >>> from tensorflux.keras import metrics
    >>> m = metrics.R2Score()
    >>> m.update_state([[1.0], [2.0], [3.0]], [[1.0], [2.0], [4.0]])
    >>> float(m.result())
    0.5
    """

    _direction = "up"

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score",
                 dtype=None):
        super().__init__(name=name, dtype=dtype)
        if class_aggregation not in _CLASS_AGGREGATIONS:
            raise ValueError(f"R2Score: `class_aggregation` must be one of "
                             f"{_CLASS_AGGREGATIONS}, received "
                             f"class_aggregation={class_aggregation!r}")
        if num_regressors < 0:
            raise ValueError(f"R2Score: `num_regressors` must be >= 0, received "
                             f"num_regressors={num_regressors}")
        self.class_aggregation = class_aggregation
        self.num_regressors = num_regressors
        # Keras counts every element of y_true here (not rows): the adjusted score uses it.
        self.num_samples = self.add_variable((), name="num_samples")
        self._built = False

    def _build(self, y_true, y_pred):
        num_classes = _check_2d(self, y_true, y_pred)
        self.squared_sum = self.add_variable((num_classes,), name="squared_sum")
        self.sum = self.add_variable((num_classes,), name="sum")
        self.total_mse = self.add_variable((num_classes,), name="residual")
        self.count = self.add_variable((num_classes,), name="count")
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        tf = _tf()
        y_true = convert(y_true, self.dtype)
        y_pred = convert(y_pred, self.dtype)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        if not self._built:
            self._build(y_true, y_pred)
        weight = convert(1.0 if sample_weight is None else sample_weight, self.dtype)
        if weight.shape.rank == 1:
            weight = tf.expand_dims(weight, 1)
        try:
            weight = tf.broadcast_to(weight, tf.shape(y_true))
        except errors.InvalidArgumentError as error:
            raise errors.InvalidArgumentError(
                f"{self._label()}: sample_weight of shape {tuple(weight.shape)} does not "
                f"broadcast to y_true of shape {tuple(y_true.shape)}", error.op) from None
        weighted_true = y_true * weight
        self.sum.assign_add(tf.reduce_sum(weighted_true, axis=0))
        self.squared_sum.assign_add(tf.reduce_sum(y_true * weighted_true, axis=0))
        self.total_mse.assign_add(tf.reduce_sum(tf.square(y_true - y_pred) * weight, axis=0))
        self.count.assign_add(tf.reduce_sum(weight, axis=0))
        self.num_samples.assign_add(tf.cast(tf.size(y_true), self.num_samples.dtype))

    def result(self):
        if not self._built:
            raise ValueError(f"{self._label()} has no result before its first update_state: "
                             "it learns the number of outputs from y_pred")
        tf = _tf()
        total_sum = self.sum.read_value()
        mean = total_sum / self.count.read_value()
        total = self.squared_sum.read_value() - total_sum * mean
        raw_scores = 1.0 - self.total_mse.read_value() / total
        # A constant column (zero variance) scores 0 rather than -inf, as in Keras.
        raw_scores = tf.where(tf.math.is_inf(raw_scores), tf.zeros_like(raw_scores),
                              raw_scores)
        if self.class_aggregation == "uniform_average":
            score = tf.reduce_mean(raw_scores)
        elif self.class_aggregation == "variance_weighted_average":
            score = tf.reduce_sum(total * raw_scores) / tf.reduce_sum(total)
        else:
            score = raw_scores
        if self.num_regressors == 0:
            return score
        return self._adjusted(score)

    def _adjusted(self, score):
        """1 - (1 - R2) (n - 1) / (n - p - 1), or plain R2 where that is undefined (p >= n-1)."""
        tf = _tf()
        n = tf.cast(self.num_samples.read_value(), "float32")
        p = tf.constant(float(self.num_regressors), "float32")
        one = tf.constant(1.0, "float32")
        self._warn_if_not_adjustable(n, p)
        adjusted = one - (one - score) * (n - one) / (n - p - one)
        return tf.where(p < n - one, adjusted, score)

    @staticmethod
    def _warn_if_not_adjustable(n, p):
        try:
            n, p = float(n.numpy()), float(p.numpy())
        except errors.InvalidArgumentError:  # inside a trace: no value to judge yet
            return
        if p >= n - 1:
            reason = ("more regressors than data points" if p > n - 1
                      else "num_regressors == num_samples - 1 divides by zero")
            warnings.warn(f"R2Score: the adjusted R2 score is undefined ({reason}); "
                          f"returning the standard R2 score.", stacklevel=3)

    def get_config(self):
        return {**super().get_config(), "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}
