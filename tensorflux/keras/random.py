"""keras.random: seeded random tensors and SeedGenerator, with Keras 3's seed semantics.

`seed` may be None (a fresh draw from the tf.random stream each call, repeatable after
`keras.utils.set_random_seed`), an int (the same values on every call), or a SeedGenerator
(each call advances it, so a seeded generator replays one sequence).

>>> from tensorflux import keras
>>> a = keras.random.normal((2,), seed=3).numpy().tolist()
>>> a == keras.random.normal((2,), seed=3).numpy().tolist()
True
"""

import tensorflux as tf
from tensorflux.keras import backend

__all__ = ["SeedGenerator", "categorical", "dropout", "normal", "randint", "shuffle",
           "truncated_normal", "uniform"]


class SeedGenerator:
    """A stateful seed: pass it as `seed=` and each draw advances it.

    >>> from tensorflux import keras
    >>> a, b = keras.random.SeedGenerator(1), keras.random.SeedGenerator(1)
    >>> x1, x2 = keras.random.uniform((2,), seed=a), keras.random.uniform((2,), seed=a)
    >>> x1.numpy().tolist() == keras.random.uniform((2,), seed=b).numpy().tolist()
    True
    >>> x1.numpy().tolist() == x2.numpy().tolist()
    False
    """

    def __init__(self, seed=None, name=None, **kwargs):
        if kwargs:
            raise ValueError(f"SeedGenerator: unrecognized keyword arguments {sorted(kwargs)}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"Argument `seed` must be an integer. Received: seed={seed!r}")
        self._initial_seed = seed
        self.name = name or backend.auto_name("seed_generator")
        self._generator = (tf.random.Generator.from_non_deterministic_state() if seed is None
                           else tf.random.Generator.from_seed(seed))

    @property
    def generator(self):
        """The tf.random.Generator that holds this object's state."""
        return self._generator

    def next(self, ordered=True):
        """A fresh seed pair (an int64 tensor of shape (2,)); advances the state."""
        return self._generator.make_seeds(1)[:, 0]

    def get_config(self):
        return {"seed": self._initial_seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<SeedGenerator name={self.name} seed={self._initial_seed}>"


class _GlobalStream:
    """seed=None: tf.random's global stream, which tf.random.set_seed makes repeatable."""

    def normal(self, shape, mean, stddev, dtype):
        return tf.random.normal(shape, mean=mean, stddev=stddev, dtype=dtype)

    def uniform(self, shape, minval, maxval, dtype):
        return tf.random.uniform(shape, minval=minval, maxval=maxval, dtype=dtype)

    def truncated_normal(self, shape, mean, stddev, dtype):
        return tf.random.truncated_normal(shape, mean=mean, stddev=stddev, dtype=dtype)


_GLOBAL = _GlobalStream()


def _source(seed):
    if seed is None:
        return _GLOBAL
    if isinstance(seed, SeedGenerator):
        return seed.generator
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError("Argument `seed` must be either an integer, a "
                         f"keras.random.SeedGenerator instance, or None. Received: seed={seed!r}")
    return tf.random.Generator.from_seed(seed)


def _shape(shape):
    return [shape] if isinstance(shape, int) else [int(d) for d in shape]


def _float_dtype(dtype):
    dtype = backend.standardize_dtype(dtype)
    if not (dtype.startswith("float") or dtype == "bfloat16"):
        raise ValueError(f"Expected a floating dtype. Received: dtype={dtype}")
    return dtype


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Samples from a normal distribution."""
    return _source(seed).normal(_shape(shape), mean, stddev, _float_dtype(dtype))


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Samples uniform in [minval, maxval)."""
    return _source(seed).uniform(_shape(shape), minval, maxval, _float_dtype(dtype))


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal samples, those beyond two standard deviations from the mean redrawn."""
    return _source(seed).truncated_normal(_shape(shape), mean, stddev, _float_dtype(dtype))


def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Integers uniform in [minval, maxval).

    >>> from tensorflux import keras
    >>> x = keras.random.randint((100,), 2, 5, seed=1).numpy()
    >>> bool(x.min() >= 2 and x.max() < 5), str(x.dtype)
    (True, 'int32')
    """
    dtype = backend.standardize_dtype(dtype)
    if dtype not in ("int32", "int64"):
        draw = _source(seed).uniform(_shape(shape), int(minval), int(maxval), "int64")
        return tf.cast(draw, dtype)
    return _source(seed).uniform(_shape(shape), int(minval), int(maxval), dtype)


def dropout(inputs, rate, noise_shape=None, seed=None):
    """inputs with each entry zeroed with probability `rate`, the rest scaled by 1/(1-rate)."""
    inputs = tf.convert_to_tensor(inputs)
    if not 0 <= rate < 1:
        raise ValueError(f"dropout: `rate` must be in [0, 1). Received: rate={rate}")
    if rate == 0:
        return inputs
    static = tuple(inputs.shape)
    shape = list(static if noise_shape is None else noise_shape)
    shape = [static[i] if d is None else d for i, d in enumerate(shape)]
    if None in shape:
        raise ValueError(f"dropout: the noise shape {tuple(shape)} has unknown dimensions; "
                         "pass a fully known `noise_shape`.")
    keep = tf.greater_equal(uniform(shape, dtype=inputs.dtype.name, seed=seed), rate)
    scaled = inputs / tf.constant(1.0 - rate, dtype=inputs.dtype)
    return tf.where(keep, scaled, tf.zeros_like(inputs))


def shuffle(x, axis=0, seed=None):
    """x with its slices along `axis` in a random order.

    >>> from tensorflux import keras
    >>> sorted(keras.random.shuffle([1, 2, 3, 4], seed=5).numpy().tolist())
    [1, 2, 3, 4]
    """
    x = tf.convert_to_tensor(x)
    # The argsort of uniform keys is a uniformly random permutation (ties have probability
    # ~n^2 / 2^24 in float32, so the keys are float64 draws).
    keys = uniform([x.shape[axis]], dtype="float64", seed=seed)
    return tf.gather(x, tf.argsort(keys), axis=axis)


def categorical(logits, num_samples, dtype="int32", seed=None):
    """`num_samples` class indices per row of `logits` ([batch, classes]), drawn by the
    Gumbel-max trick: argmax(logits + Gumbel noise) is distributed as softmax(logits)."""
    logits = tf.convert_to_tensor(logits)
    if logits.shape.rank != 2:
        raise ValueError(f"categorical: `logits` should be a 2-D tensor [batch_size, "
                         f"num_classes]. Received: shape={tuple(logits.shape)}")
    batch, classes = logits.shape
    tiny = 1e-20
    u = uniform([batch, int(num_samples), classes], dtype="float32", seed=seed)
    gumbel = -tf.math.log(-tf.math.log(u + tiny) + tiny)
    scores = tf.expand_dims(tf.cast(logits, "float32"), 1) + gumbel
    return tf.cast(tf.argmax(scores, axis=-1), backend.standardize_dtype(dtype))
