"""keras.layers.Normalization: (x - mean) / max(sqrt(variance), epsilon), with adapt()."""

import math

from tensorflux.keras import backend
from tensorflux.keras.layers.base import Layer, _describe

__all__ = ["Normalization"]


def _tf():
    import tensorflux as tf

    return tf


def _shape(x):
    shape = x.shape
    return tuple(shape.as_list()) if hasattr(shape, "as_list") else tuple(shape)


class Normalization(Layer):
    """Feature-wise normalization over `axis` (the kept axes), with the statistics passed as
    `mean`/`variance` or learned by `adapt(data)`; `invert=True` undoes it.

    After build, an adaptable layer holds non-trainable weights mean, variance (the kept
    axes' shape) and count (int64 scalar), in Keras's order.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.Normalization()
    >>> layer.adapt(tf.constant([[1.0], [3.0]]))
    >>> layer(tf.constant([[1.0], [3.0]])).numpy().tolist()
    [[-1.0], [1.0]]
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            axis = ()
        elif isinstance(axis, int):
            axis = (axis,)
        else:
            axis = tuple(axis)
        self.axis = axis
        self.input_mean = mean
        self.input_variance = variance
        self.invert = invert
        self.supports_masking = True
        self._build_input_shape = None
        self._mean = self._variance = None  # the given statistics, broadcast (after build)
        if (mean is not None) != (variance is not None):
            raise ValueError("When setting values directly, both `mean` and `variance` must "
                             f"be set. Received: mean={mean} and variance={variance}")
        if mean is not None:
            mean_shape = tuple(_tf().convert_to_tensor(mean).shape)
            variance_shape = tuple(_tf().convert_to_tensor(variance).shape)
            if mean_shape != variance_shape:
                raise ValueError("When setting values directly, `mean` and `variance` must "
                                 f"have the same shape. Received: mean shape {mean_shape} and "
                                 f"variance shape {variance_shape}")
            if len(mean_shape) > len(self.axis):
                # (e.g. the (1, n) `mean` attribute of an adapted layer: pass its
                # adapt_mean, or the 1-D array of per-feature values.)
                raise ValueError("The rank of `mean` must be less than or equal to the number "
                                 f"of axes ({len(self.axis)}). Received: mean shape "
                                 f"{mean_shape} for axis {self.axis}")

    def build(self, input_shape):
        if input_shape is None:
            return
        tf = _tf()
        ndim = len(input_shape)
        self._build_input_shape = tuple(input_shape)
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ValueError("All `axis` values must be in the range [-ndim, ndim). Received "
                             f"inputs with ndim={ndim}, while axis={self.axis}")
        self._keep_axis = tuple(sorted(d if d >= 0 else d + ndim for d in self.axis))
        for d in self._keep_axis:
            if input_shape[d] is None:
                raise ValueError("All `axis` values to be kept must have a known shape. "
                                 f"Received axis={self.axis}, inputs.shape={tuple(input_shape)}"
                                 f", with unknown axis at index {d}")
        self._reduce_axis = tuple(d for d in range(ndim) if d not in self._keep_axis)
        self._broadcast_shape = [input_shape[d] if d in self._keep_axis else 1
                                 for d in range(ndim)]
        self._mean_and_var_shape = tuple(input_shape[d] for d in self._keep_axis)
        if self.input_mean is None:
            self.adapt_mean = self.add_weight(name="mean", shape=self._mean_and_var_shape,
                                              initializer="zeros", trainable=False)
            self.adapt_variance = self.add_weight(name="variance",
                                                  shape=self._mean_and_var_shape,
                                                  initializer="ones", trainable=False)
            self.count = self.add_weight(name="count", shape=(), dtype="int64",
                                         initializer="zeros", trainable=False)
            self.built = True
            self.finalize_state()
        else:
            dtype = self.compute_dtype
            mean = tf.cast(tf.convert_to_tensor(self.input_mean), dtype)
            variance = tf.cast(tf.convert_to_tensor(self.input_variance), dtype)
            if mean.shape.rank:
                expanded = [1] * ndim
                for i in range(1, mean.shape.rank + 1):
                    expanded[self._keep_axis[-i]] = int(mean.shape[-i])
                mean = tf.reshape(mean, expanded)
                variance = tf.reshape(variance, expanded)
            self._mean = tf.broadcast_to(mean, self._broadcast_shape)
            self._variance = tf.broadcast_to(variance, self._broadcast_shape)

    @property
    def mean(self):
        """The mean, shaped to broadcast over the inputs (None before build). An adapted
        layer's is read from its weights, so adapt, set_weights and loading all show."""
        return self._statistic("adapt_mean", self._mean)

    @property
    def variance(self):
        """The variance, shaped like `mean`."""
        return self._statistic("adapt_variance", self._variance)

    def _statistic(self, weight, given):
        if self.input_mean is not None or not self.built:
            return given
        tf = _tf()
        return tf.cast(tf.reshape(getattr(self, weight), self._broadcast_shape),
                       self.compute_dtype)

    def finalize_state(self):
        """Nothing to do: `mean` and `variance` are read from the weights when used."""

    def adapt(self, data):
        """Learns the mean and variance over the reduced axes from an array, a tensor, a
        tf.data Dataset (of batches, or of samples, then batched by 128) or an iterable of
        batches; batches are combined with Keras's running update."""
        tf = _tf()
        batches, input_shape = self._adapt_batches(data)
        if not self.built:
            self.build(input_shape)
        else:
            for d in self._keep_axis:
                if input_shape[d] != self._build_input_shape[d]:
                    raise ValueError(f"The layer was built with input_shape="
                                     f"{self._build_input_shape}, but adapt() is being called "
                                     f"with data with an incompatible shape, data.shape="
                                     f"{input_shape}")
        if batches is None:
            x = _as_float(data, self.compute_dtype)
            total_mean = tf.reduce_mean(x, axis=self._reduce_axis)
            total_var = tf.math.reduce_variance(x, axis=self._reduce_axis)
        else:
            total_mean = tf.zeros(self._mean_and_var_shape)
            total_var = tf.zeros(self._mean_and_var_shape)
            total_count = 0
            for batch in batches:
                batch = _as_float(_first(batch), self.compute_dtype)
                shape = _shape(batch)
                for d in self._keep_axis:
                    if shape[d] != self._build_input_shape[d]:
                        raise ValueError("adapt() yielded a batch with incompatible shape. "
                                         f"Expected {self._build_input_shape}, got {shape}.")
                batch_mean = tf.reduce_mean(batch, axis=self._reduce_axis)
                batch_var = tf.math.reduce_variance(batch, axis=self._reduce_axis)
                count = math.prod(shape[d] for d in self._reduce_axis) \
                    if self._reduce_axis else 1
                total_count += count
                batch_weight = float(count) / total_count
                existing_weight = 1.0 - batch_weight
                new_mean = total_mean * existing_weight + batch_mean * batch_weight
                total_var = (total_var + (total_mean - new_mean) ** 2) * existing_weight + \
                    (batch_var + (batch_mean - new_mean) ** 2) * batch_weight
                total_mean = new_mean
        self.adapt_mean.assign(tf.cast(total_mean, self.adapt_mean.dtype))
        self.adapt_variance.assign(tf.cast(total_var, self.adapt_variance.dtype))
        self.finalize_state()

    def _adapt_batches(self, data):
        """(None, shape) for one array/tensor, else (iterable of batches, first shape)."""
        if hasattr(data, "shape") and hasattr(data, "dtype") and not _is_dataset(data):
            return None, _shape(data)
        if _is_dataset(data):
            spec = data.element_spec
            spec = spec[0] if isinstance(spec, tuple) else spec
            shape = tuple(spec.shape.as_list() if hasattr(spec.shape, "as_list")
                          else spec.shape)
            if len(shape) == 1:
                data = data.batch(128)
            batches = list(data)
            if not batches:
                raise ValueError(f"{_describe(self)}: adapt() received an empty dataset")
            return batches, _shape(_first(batches[0]))
        if hasattr(data, "__iter__"):
            batches = list(data)
            if not batches:
                raise ValueError("adapt() received an empty iterable (no batches). Expected "
                                 "at least one batch.")
            first = _first(batches[0])
            if not hasattr(first, "shape"):
                raise TypeError("adapt() expects an iterable that yields arrays or tensors "
                                f"with a `.shape` attribute. Got {type(first).__name__}.")
            return batches, _shape(first)
        raise TypeError(f"Unsupported data type: {type(data)}. `adapt` supports arrays, "
                        "tensors, tf.data.Dataset and iterables of batches.")

    def call(self, inputs):
        tf = _tf()
        # (read from the weights at every call, so that set_weights and loading take effect)
        mean, variance = self.mean, self.variance
        if mean is None:
            raise ValueError("You must call `.build(input_shape)` on the layer before using "
                             "it.")
        inputs = _as_float(inputs, self.compute_dtype)
        scale = tf.maximum(tf.sqrt(variance), backend.epsilon())
        if self.invert:
            return mean + inputs * scale
        return (inputs - mean) / scale

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "invert": self.invert,
                "mean": _listify(self.input_mean), "variance": _listify(self.input_variance)}


def _listify(value):
    if value is None:
        return None
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "numpy"):
        return value.numpy().tolist()
    return list(value) if isinstance(value, (list, tuple)) else value


def _is_dataset(data):
    return hasattr(data, "element_spec") and hasattr(data, "batch")


def _first(batch):
    return batch[0] if isinstance(batch, tuple) else batch


def _as_float(x, dtype):
    tf = _tf()
    x = tf.convert_to_tensor(x)
    return tf.cast(x, dtype) if x.dtype.name != dtype else x
