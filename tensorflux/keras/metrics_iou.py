"""keras.metrics' intersection-over-union metrics (IoU, MeanIoU, BinaryIoU, OneHotIoU,
OneHotMeanIoU) and correlation metrics (PearsonCorrelation, ConcordanceCorrelation).

The IoU metrics accumulate a (num_classes, num_classes) confusion matrix, rows indexed by the
true class and columns by the predicted one, and follow the accumulation rules of
keras/src/metrics/iou_metrics.py: the matrix has the metric's dtype, an integer by default, so
fractional sample weights are truncated (Keras warns about it, and so do we); labels or
predictions outside [0, num_classes) and entries of `ignore_class` are left out.
"""

import warnings

from tensorflux import errors
from tensorflux.keras.losses import squeeze_or_expand_to_same_rank
from tensorflux.keras.metrics import Metric, _wrapper_class, convert

__all__ = ["BinaryIoU", "ConcordanceCorrelation", "IoU", "MeanIoU", "OneHotIoU",
           "OneHotMeanIoU", "PearsonCorrelation", "concordance_correlation",
           "pearson_correlation"]

# Keras's default confusion-matrix dtype is "int": int32 on its torch and jax backends, int64
# on TensorFlow's. We take TensorFlow's: a segmentation dataset counts billions of pixels,
# past what int32 holds.
_DEFAULT_DTYPE = "int64"


def _tf():
    import tensorflux as tf

    return tf


def _epsilon():
    from tensorflux.keras import backend

    return backend.epsilon()


def _flatten(x):
    return _tf().reshape(x, [-1]) if x.shape.rank > 1 else x


def _is_float_tensor(x):
    return hasattr(x, "dtype") and "float" in str(getattr(x.dtype, "name", x.dtype))


class _IoUBase(Metric):
    """The confusion matrix every IoU metric accumulates; subclasses read it in `result`."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        super().__init__(name=name, dtype=dtype or _DEFAULT_DTYPE)
        self._direction = "up"
        self.num_classes = num_classes
        self.ignore_class = ignore_class
        self.sparse_y_true = sparse_y_true
        self.sparse_y_pred = sparse_y_pred
        self.axis = axis
        self.total_cm = self.add_variable((num_classes, num_classes),
                                          name="total_confusion_matrix")

    def update_state(self, y_true, y_pred, sample_weight=None):
        tf = _tf()
        if not self.sparse_y_true:
            y_true = tf.argmax(convert(y_true), axis=self.axis)
        if not self.sparse_y_pred:
            y_pred = tf.argmax(convert(y_pred), axis=self.axis)
        y_true = _flatten(convert(y_true, self.dtype))
        y_pred = _flatten(convert(y_pred, self.dtype))
        n_true, n_pred = y_true.shape[0], y_pred.shape[0]
        if n_true is not None and n_pred is not None and n_true != n_pred:
            hint = (" y_pred looks like per-class scores: pass sparse_y_pred=False"
                    if self.sparse_y_pred and n_pred == n_true * self.num_classes else "")
            raise errors.InvalidArgumentError(
                f"{self._label()}: y_true holds {n_true} class ids but y_pred holds {n_pred} "
                f"(the metric compares them one to one).{hint}", self._label())
        if sample_weight is None:
            sample_weight = 1
        elif _is_float_tensor(sample_weight) and "int" in self.dtype:
            warnings.warn(f"{self._label()}: sample_weight is float but the metric's dtype is "
                          f"{self.dtype}, so fractional weights are truncated; pass integer "
                          "weights or a float dtype.", stacklevel=2)
        sample_weight = _flatten(convert(sample_weight, self.dtype))
        sample_weight = tf.broadcast_to(sample_weight, tf.shape(y_true))

        zero = tf.zeros_like(y_true)
        num_classes = tf.constant(self.num_classes, dtype=y_true.dtype)
        in_bounds = tf.logical_and(
            tf.logical_and(y_true >= zero, y_true < num_classes),
            tf.logical_and(y_pred >= zero, y_pred < num_classes))
        if self.ignore_class is not None:
            ignored = tf.constant(self.ignore_class, dtype=y_true.dtype)
            in_bounds = tf.logical_and(in_bounds, tf.not_equal(y_true, ignored))
        # Left-out entries land in cell (0, 0) with weight 0, as in Keras.
        y_true = tf.where(in_bounds, y_true, zero)
        y_pred = tf.where(in_bounds, y_pred, zero)
        sample_weight = tf.where(in_bounds, sample_weight, tf.zeros_like(sample_weight))
        self.total_cm.assign_add(_confusion_matrix(y_true, y_pred, self.num_classes,
                                                   sample_weight, self.dtype))


def _confusion_matrix(labels, predictions, num_classes, weights, dtype):
    """The (num_classes, num_classes) matrix of summed weights at (label, prediction)."""
    tf = _tf()
    labels, predictions = squeeze_or_expand_to_same_rank(labels, predictions)
    indices = tf.cast(tf.stack([labels, predictions], axis=1), tf.int64)
    return tf.scatter_nd(indices, tf.cast(weights, dtype), [num_classes, num_classes])


class IoU(_IoUBase):
    """Intersection over union, TP / (TP + FP + FN), averaged over `target_class_ids`.

    Classes that never occur (neither in y_true nor in y_pred) are left out of the mean.

    >>> from tensorflux.keras import metrics
    >>> m = metrics.IoU(num_classes=2, target_class_ids=[0])
    >>> m.update_state([0, 0, 1, 1], [0, 1, 0, 1])
    >>> round(float(m.result()), 4)
    0.3333
    """

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        super().__init__(num_classes=num_classes, name=name, dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=sparse_y_true,
                         sparse_y_pred=sparse_y_pred, axis=axis)
        if max(target_class_ids) >= num_classes:
            raise ValueError(f"{type(self).__name__}: target class id "
                             f"{max(target_class_ids)} is out of range, which is "
                             f"[0, {num_classes})")
        self.target_class_ids = list(target_class_ids)

    def result(self):
        tf = _tf()
        cm = self.total_cm.read_value()
        # Sums in the metric's dtype, then float32, as Keras computes them.
        predicted = tf.reduce_sum(cm, axis=0)
        actual = tf.reduce_sum(cm, axis=1)
        true_positives = tf.linalg.diag_part(cm)
        denominator = predicted + actual - true_positives
        ids = tf.constant(self.target_class_ids, dtype=tf.int32)
        true_positives = tf.cast(tf.gather(true_positives, ids), tf.float32)
        denominator = tf.cast(tf.gather(denominator, ids), tf.float32)
        valid = denominator > 1e-9
        epsilon = _epsilon()
        iou = tf.where(valid, true_positives / (denominator + epsilon),
                       tf.zeros_like(denominator))
        # Keras sums over `axis` here, which fails for any axis but -1/0 on this 1-D vector;
        # the whole vector is what it means.
        num_valid = tf.reduce_sum(tf.cast(valid, tf.float32))
        return tf.reduce_sum(iou) / (num_valid + epsilon)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "target_class_ids": self.target_class_ids, "ignore_class": self.ignore_class,
                "sparse_y_true": self.sparse_y_true, "sparse_y_pred": self.sparse_y_pred,
                "axis": self.axis}


class BinaryIoU(IoU):
    """IoU of a binary task: predictions >= `threshold` are class 1, the others class 0;
    the mean over `target_class_ids` ([0], [1] or [0, 1]).

    >>> from tensorflux.keras import metrics
    >>> m = metrics.BinaryIoU(target_class_ids=[0, 1], threshold=0.3)
    >>> m.update_state([0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7])
    >>> round(float(m.result()), 4)
    0.3333
    """

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(num_classes=2, target_class_ids=target_class_ids, name=name,
                         dtype=dtype)
        self.threshold = threshold

    def update_state(self, y_true, y_pred, sample_weight=None):
        tf = _tf()
        y_true = convert(y_true, self.dtype)
        y_pred = convert(y_pred, tf.float32)
        y_pred = tf.cast(y_pred >= tf.constant(self.threshold, tf.float32), self.dtype)
        return super().update_state(y_true, y_pred, sample_weight)

    def get_config(self):
        return {"target_class_ids": self.target_class_ids, "threshold": self.threshold,
                "name": self.name, "dtype": self.dtype}


class MeanIoU(IoU):
    """IoU averaged over every class that occurs.

    >>> from tensorflux.keras import metrics
    >>> m = metrics.MeanIoU(num_classes=2, dtype="float32")
    >>> m.update_state([0, 0, 1, 1], [0, 1, 0, 1], sample_weight=[0.3, 0.3, 0.3, 0.1])
    >>> round(float(m.result()), 4)
    0.2381
    """

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        super().__init__(num_classes=num_classes, target_class_ids=list(range(num_classes)),
                         name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=sparse_y_true, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self.dtype,
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class OneHotIoU(IoU):
    """IoU for one-hot labels: labels (and predictions, unless `sparse_y_pred`) become class
    ids by argmax over `axis`.

    >>> from tensorflux.keras import metrics
    >>> m = metrics.OneHotIoU(num_classes=3, target_class_ids=[0, 2])
    >>> m.update_state([[0, 0, 1], [1, 0, 0]], [[0.2, 0.3, 0.5], [0.7, 0.2, 0.1]])
    >>> round(float(m.result()), 4)
    1.0
    """

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
                 sparse_y_pred=False, axis=-1):
        super().__init__(num_classes=num_classes, target_class_ids=target_class_ids,
                         name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=False, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        return {"num_classes": self.num_classes, "target_class_ids": self.target_class_ids,
                "name": self.name, "dtype": self.dtype, "ignore_class": self.ignore_class,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class OneHotMeanIoU(MeanIoU):
    """MeanIoU for one-hot labels (argmax over `axis`, as OneHotIoU).

    >>> from tensorflux.keras import metrics
    >>> m = metrics.OneHotMeanIoU(num_classes=3)
    >>> m.update_state([[0, 0, 1], [1, 0, 0]], [[0.2, 0.3, 0.5], [0.1, 0.2, 0.7]])
    >>> round(float(m.result()), 4)
    0.25
    """

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None,
                 sparse_y_pred=False, axis=-1):
        super().__init__(num_classes=num_classes, name=name, dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=False,
                         sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self.dtype,
                "ignore_class": self.ignore_class, "sparse_y_pred": self.sparse_y_pred,
                "axis": self.axis}


# ------------------------------------------------------------------ correlation

def _same_rank_pair(y_true, y_pred):
    y_pred = convert(y_pred)
    y_true = convert(y_true, y_pred.dtype)
    return squeeze_or_expand_to_same_rank(y_true, y_pred)


def pearson_correlation(y_true, y_pred, axis=-1):
    """The Pearson correlation of y_true and y_pred along `axis`: the mean product of their
    standardized values (population standard deviations).

    >>> from tensorflux.keras import metrics
    >>> r = metrics.pearson_correlation([[0, 1, 0.5], [1, 1, 0.2]], [[0.1, 0.9, 0.5],
    ...                                                             [1, 0.9, 0.2]])
    >>> [round(float(v), 4) for v in r]
    [1.0, 0.9934]
    """
    tf = _tf()
    y_true, y_pred = _same_rank_pair(y_true, y_pred)
    true_centered = y_true - tf.reduce_mean(y_true, axis=axis, keepdims=True)
    pred_centered = y_pred - tf.reduce_mean(y_pred, axis=axis, keepdims=True)
    true_centered = true_centered / tf.math.reduce_std(true_centered, axis=axis, keepdims=True)
    pred_centered = pred_centered / tf.math.reduce_std(pred_centered, axis=axis, keepdims=True)
    return tf.reduce_mean(true_centered * pred_centered, axis=axis)


def concordance_correlation(y_true, y_pred, axis=-1):
    """Lin's concordance correlation along `axis`, as Keras 3 computes it:
    mean(2 (y_true - mean(y_pred)) (y_pred - mean(y_pred))
         / (var(y_true) + var(y_pred) + (mean(y_true) - mean(y_pred))^2 + epsilon)).

    Keras centres y_true on the mean of y_pred in the numerator; we keep its numbers.

    >>> from tensorflux.keras import metrics
    >>> r = metrics.concordance_correlation([[0, 1, 0.5], [1, 1, 0.2]], [[0.1, 0.9, 0.5],
    ...                                                                 [1, 0.9, 0.2]])
    >>> [round(float(v), 4) for v in r]
    [0.9756, 0.9877]
    """
    tf = _tf()
    y_true, y_pred = _same_rank_pair(y_true, y_pred)
    true_mean = tf.reduce_mean(y_true, axis=axis, keepdims=True)
    pred_mean = tf.reduce_mean(y_pred, axis=axis, keepdims=True)
    true_var = tf.math.reduce_variance(y_true - true_mean, axis=axis, keepdims=True)
    pred_var = tf.math.reduce_variance(y_pred - pred_mean, axis=axis, keepdims=True)
    covariance = (y_true - pred_mean) * (y_pred - pred_mean)
    norm = true_var + pred_var + tf.square(true_mean - pred_mean)
    return tf.reduce_mean(2.0 * covariance / (norm + _epsilon()), axis=axis)


PearsonCorrelation = _wrapper_class(
    "PearsonCorrelation", pearson_correlation, "pearson_correlation", "up",
    """The running mean of the per-sample Pearson correlation along `axis`.

    >>> from tensorflux.keras import metrics
    >>> m = metrics.PearsonCorrelation()
    >>> m.update_state([[0, 1, 0.5], [1, 1, 0.2]], [[0.1, 0.9, 0.5], [1, 0.9, 0.2]])
    >>> round(float(m.result()), 4)
    0.9967
    """, params=[("axis", -1)])

ConcordanceCorrelation = _wrapper_class(
    "ConcordanceCorrelation", concordance_correlation, "concordance_correlation", "up",
    """The running mean of the per-sample concordance correlation along `axis`.

    >>> from tensorflux.keras import metrics
    >>> m = metrics.ConcordanceCorrelation()
    >>> m.update_state([[0, 1, 0.5], [1, 1, 0.2]], [[0.1, 0.9, 0.5], [1, 0.9, 0.2]])
    >>> round(float(m.result()), 4)
    0.9816
    """, params=[("axis", -1)])
PearsonCorrelation.__module__ = ConcordanceCorrelation.__module__ = __name__
