"""keras.layers regularization layers: Dropout, SpatialDropout1D/2D/3D, GaussianNoise,
GaussianDropout, AlphaDropout and ActivityRegularization."""

import math

from tensorflux.keras import regularizers
from tensorflux.keras.layers.base import InputSpec, Layer, _describe

__all__ = ["ActivityRegularization", "AlphaDropout", "Dropout", "GaussianDropout", "GaussianNoise",
           "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D"]


def _tf():
    import tensorflux as tf

    return tf


def _check_rate(value, arg="rate"):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"Invalid value received for argument `{arg}`. Expected a float value "
                         f"between 0 and 1. Received: {arg}={value}")


class _RandomSource:
    """Random draws for one layer: the global tf.random stream when `seed` is None, else a
    generator of its own, so that a seeded layer draws a reproducible sequence of masks."""

    def __init__(self, seed):
        self.seed = seed
        self._generator = None
        if seed is not None:
            self._generator = _tf().random.Generator.from_seed(seed)

    def uniform(self, shape, dtype):
        if self._generator is None:
            return _tf().random.uniform(shape, dtype=dtype)
        return self._generator.uniform(shape, dtype=dtype)

    def normal(self, shape, mean, stddev, dtype):
        if self._generator is None:
            return _tf().random.normal(shape, mean=mean, stddev=stddev, dtype=dtype)
        return self._generator.normal(shape, mean=mean, stddev=stddev, dtype=dtype)


def _shape(x):
    return tuple(x.shape.as_list()) if hasattr(x.shape, "as_list") else tuple(x.shape)


def _runtime_dims(inputs, shape):
    """`shape` with each unknown dimension (a batch of None while tracing, say) taken from
    the input's run-time shape, for the random draws."""
    if all(d is not None for d in shape):
        return shape
    runtime = _tf().shape(inputs)
    return [runtime[i] if d is None else d for i, d in enumerate(shape)]


def _dropout(layer, inputs, rate, noise_shape, source):
    """Inverted dropout: each kept unit is scaled by 1 / (1 - rate), dropped units are 0."""
    tf = _tf()
    if rate >= 1:
        return tf.zeros_like(inputs)
    shape = _shape(inputs)
    if noise_shape is None:
        noise_shape = shape
    else:
        if len(noise_shape) != len(shape):
            raise ValueError(f"{_describe(layer)}: noise_shape {tuple(noise_shape)} must have "
                             f"the rank of the input, received shape {shape}")
        noise_shape = tuple(s if n is None else n for n, s in zip(noise_shape, shape))
    noise_shape = _runtime_dims(inputs, noise_shape)
    keep = tf.greater_equal(source.uniform(noise_shape, inputs.dtype), rate)
    return inputs * tf.cast(keep, inputs.dtype) / (1.0 - rate)


class Dropout(Layer):
    """Inverted dropout: only with `training=True`, each unit is zeroed with probability
    `rate` and the kept ones are scaled by `1 / (1 - rate)`.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.Dropout(0.5, seed=1)
    >>> layer(tf.ones((1, 4))).numpy().tolist()
    [[1.0, 1.0, 1.0, 1.0]]
    >>> sorted(set(layer(tf.ones((1, 100)), training=True).numpy().ravel().tolist()))
    [0.0, 2.0]
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        _check_rate(rate)
        self.rate = rate
        self.seed = seed
        self.noise_shape = self._validate_noise_shape(noise_shape)
        self._random = _RandomSource(seed) if rate > 0 else None
        self.supports_masking = True
        self.built = True

    @staticmethod
    def _validate_noise_shape(noise_shape):
        if noise_shape is None:
            return None
        if isinstance(noise_shape, str):
            raise ValueError("Invalid value received for argument `noise_shape`. Expected a "
                             f"tuple or list of integers. Received: noise_shape={noise_shape}")
        noise_shape = tuple(noise_shape)
        for i, dim in enumerate(noise_shape):
            if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int)
                                    or dim <= 0):
                raise ValueError("Invalid value received for argument `noise_shape`. Expected "
                                 "all dimensions to be positive integers or None. Received "
                                 f"element at index {i}: {dim!r}")
        return noise_shape

    def call(self, inputs, training=False):
        if training and self.rate > 0:
            return _dropout(self, inputs, self.rate, self.noise_shape, self._random)
        return inputs

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed,
                "noise_shape": self.noise_shape}


class _SpatialDropout(Dropout):
    """Drops whole feature maps: one mask entry per (sample, channel)."""

    rank = None

    def __init__(self, rate, seed=None, name=None, dtype=None):
        super().__init__(rate, seed=seed, name=name, dtype=dtype)
        self.input_spec = InputSpec(ndim=self.rank)

    def _noise_shape(self, shape):
        raise NotImplementedError

    def call(self, inputs, training=False):
        if training and self.rate > 0:
            return _dropout(self, inputs, self.rate, self._noise_shape(_shape(inputs)),
                            self._random)
        return inputs

    def get_config(self):
        return {"rate": self.rate, "seed": self.seed, "name": self.name, "dtype": self.dtype}


class SpatialDropout1D(_SpatialDropout):
    """Dropout of whole 1D feature maps: inputs (batch, steps, channels).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.SpatialDropout1D(0.5)(tf.ones((1, 2, 3))).shape
    TensorShape([1, 2, 3])
    """

    rank = 3

    def _noise_shape(self, shape):
        return (shape[0], 1, shape[2])


class _SpatialDropoutND(_SpatialDropout):
    def __init__(self, rate, data_format=None, seed=None, name=None, dtype=None):
        super().__init__(rate, seed=seed, name=name, dtype=dtype)
        from tensorflux.keras.layers.reshaping import _standardize_data_format

        self.data_format = _standardize_data_format(data_format)

    def _noise_shape(self, shape):
        ones = (1,) * (self.rank - 2)
        if self.data_format == "channels_first":
            return (shape[0], shape[1]) + ones
        return (shape[0],) + ones + (shape[-1],)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class SpatialDropout2D(_SpatialDropoutND):
    """Dropout of whole 2D feature maps: inputs (batch, rows, cols, channels) by default.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.SpatialDropout2D(0.5)(tf.ones((1, 2, 2, 3))).shape
    TensorShape([1, 2, 2, 3])
    """

    rank = 4


class SpatialDropout3D(_SpatialDropoutND):
    """Dropout of whole 3D feature maps: inputs (batch, d1, d2, d3, channels) by default.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.SpatialDropout3D(0.5)(tf.ones((1, 2, 2, 2, 3))).shape
    TensorShape([1, 2, 2, 2, 3])
    """

    rank = 5


class GaussianNoise(Layer):
    """Adds zero-mean Gaussian noise of `stddev`, only with `training=True`.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.GaussianNoise(0.1)(tf.ones((1, 2))).numpy().tolist()
    [[1.0, 1.0]]
    """

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        _check_rate(stddev, "stddev")
        self.stddev = stddev
        self.seed = seed
        self._random = _RandomSource(seed) if stddev > 0 else None
        self.supports_masking = True
        self.built = True

    def call(self, inputs, training=False):
        if training and self.stddev > 0:
            noise = self._random.normal(_runtime_dims(inputs, _shape(inputs)), 0.0,
                                        self.stddev, self.compute_dtype)
            return inputs + _tf().cast(noise, inputs.dtype)
        return inputs

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(Layer):
    """Multiplies by Gaussian noise of mean 1 and stddev sqrt(rate / (1 - rate)), only with
    `training=True`.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.GaussianDropout(0.1)(tf.ones((1, 2))).numpy().tolist()
    [[1.0, 1.0]]
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        _check_rate(rate)
        self.rate = rate
        self.seed = seed
        self._random = _RandomSource(seed) if rate > 0 else None
        self.supports_masking = True
        self.built = True

    def call(self, inputs, training=False):
        if training and self.rate > 0:
            stddev = math.sqrt(self.rate / (1.0 - self.rate))
            noise = self._random.normal(_runtime_dims(inputs, _shape(inputs)), 1.0, stddev,
                                        self.compute_dtype)
            return inputs * _tf().cast(noise, inputs.dtype)
        return inputs

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


# SELU's constants (Klambauer et al., 2017), as Keras writes them.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


class AlphaDropout(Layer):
    """Dropout that keeps SELU's self-normalization: only with `training=True`, each unit is
    set to SELU's negative saturation `-alpha*scale` with probability `rate`, then all units
    go through the affine map `a*x + b` that restores the input's mean and variance.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.AlphaDropout(0.2, seed=1)
    >>> layer(tf.ones((1, 3))).numpy().tolist()
    [[1.0, 1.0, 1.0]]
    >>> layer(tf.ones((1, 3)), training=True).shape
    TensorShape([1, 3])
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate <= 1:
            raise ValueError("Invalid value received for argument `rate`. Expected a float "
                             f"value between 0 and 1. Received: rate={rate}")
        self.rate = rate
        self.seed = seed
        self.noise_shape = noise_shape
        self._random = _RandomSource(seed) if rate > 0 else None
        self.supports_masking = True
        self.built = True

    def _concrete_noise_shape(self, inputs):
        shape = _shape(inputs)
        if self.noise_shape is None:
            noise_shape = shape
        else:
            if len(self.noise_shape) != len(shape):
                raise ValueError(f"{_describe(self)}: noise_shape {tuple(self.noise_shape)} "
                                 f"must have the rank of the input, received shape {shape}")
            noise_shape = tuple(s if n is None else n for n, s in zip(self.noise_shape, shape))
        if any(d is None for d in noise_shape):
            raise ValueError(f"{_describe(self)} needs a fully known input shape to draw its "
                             f"dropout mask, received shape {shape}")
        return noise_shape

    def call(self, inputs, training=False):
        if not (training and self.rate > 0):
            return inputs
        tf = _tf()
        alpha_p = -_SELU_ALPHA * _SELU_SCALE
        uniform = self._random.uniform(self._concrete_noise_shape(inputs), inputs.dtype)
        kept = tf.cast(tf.greater_equal(uniform, self.rate), inputs.dtype)
        a = ((1 - self.rate) * (1 + self.rate * alpha_p**2)) ** -0.5
        b = -a * alpha_p * self.rate
        return a * (inputs * kept + alpha_p * (1 - kept)) + b

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed,
                "noise_shape": self.noise_shape}


class ActivityRegularization(Layer):
    """Returns its input and adds the L1/L2 penalty of it (divided by the batch size, as
    Keras 3 does for activity regularizers) to `layer.losses`.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.ActivityRegularization(l1=0.5)
    >>> _ = layer(tf.constant([[1.0, -3.0]]))
    >>> [float(v) for v in layer.losses]
    [2.0]
    """

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        kwargs.pop("activity_regularizer", None)
        super().__init__(activity_regularizer=regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.supports_masking = True
        self.l1 = l1
        self.l2 = l2
        self.built = True

    def call(self, inputs):
        return inputs

    def get_config(self):
        config = super().get_config()
        config.pop("activity_regularizer", None)
        return {**config, "l1": self.l1, "l2": self.l2}
