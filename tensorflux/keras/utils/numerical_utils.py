"""keras.utils.to_categorical and keras.utils.normalize."""

import tensorflux as tf
from tensorflux.tensor import _is_dense_tensor

__all__ = ["normalize", "to_categorical"]


def to_categorical(x, num_classes=None):
    """Class indices to one-hot rows (float64, as Keras returns for array input); a trailing
    dimension of size 1 is dropped first. As in Keras, array input indexes like NumPy (-1 is
    the last class, an index past the end raises IndexError) while a tensor goes through
    one_hot (out-of-range indices give all-zero rows, float32).

    >>> from tensorflux.keras.utils import to_categorical
    >>> to_categorical([0, 2], num_classes=3).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    >>> to_categorical([-1], num_classes=3).tolist()
    [[0.0, 0.0, 1.0]]
    """
    is_tensor = _is_dense_tensor(x)
    x = tf.cast(tf.convert_to_tensor(x), tf.int64)
    shape = x.shape.as_list()
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    flat = tf.reshape(x, [-1])
    if not num_classes:
        num_classes = int(tf.reduce_max(flat).numpy()) + 1
    num_classes = int(num_classes)
    if not is_tensor and flat.shape[0]:
        low, high = int(tf.reduce_min(flat).numpy()), int(tf.reduce_max(flat).numpy())
        if low < -num_classes or high >= num_classes:
            bad = high if high >= num_classes else low
            raise IndexError(f"to_categorical: index {bad} is out of bounds for "
                             f"num_classes={num_classes} (class indices must lie in "
                             f"[-{num_classes}, {num_classes}); received values from {low} "
                             f"to {high})")
        flat = tf.where(flat < 0, flat + num_classes, flat)
    one_hot = tf.reshape(tf.one_hot(flat, num_classes, dtype=tf.float64),
                         shape + [num_classes])
    if is_tensor:
        return tf.cast(one_hot, "float32")
    return one_hot.numpy()


def normalize(x, axis=-1, order=2):
    """Scales `x` to unit `order`-norm along `axis` (zero vectors stay zero).

    >>> import numpy as np
    >>> from tensorflux.keras.utils import normalize
    >>> normalize(np.array([[3.0, 4.0]])).tolist()
    [[0.6, 0.8]]
    """
    # A NumPy array gives a NumPy array (its float dtype kept, ints as float64); anything else
    # (a tensor, a list) gives a tensor, floatx for Python numbers, as Keras's ops path does.
    is_tensor = type(x).__name__ != "ndarray"
    value = tf.constant(x, dtype=_float_of(x)) if not is_tensor else tf.convert_to_tensor(x)
    if is_tensor and not value.dtype.is_floating:
        value = tf.cast(value, "float32")
    axis = -1 if axis is None else axis
    norm = tf.norm(value, ord=order, axis=axis, keepdims=True)
    norm = tf.where(tf.equal(norm, 0), tf.ones_like(norm), norm)
    result = value / norm
    return result if is_tensor else result.numpy()


def _float_of(x):
    dtype = getattr(x, "dtype", None)
    name = str(dtype) if dtype is not None else "float64"
    return name if name in ("float16", "float32", "float64") else "float64"
