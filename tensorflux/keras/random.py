"""keras.random: seeded random tensors and SeedGenerator, with Keras 3's seed semantics.

`seed` may be None (a fresh draw from the tf.random stream each call, repeatable after
`keras.utils.set_random_seed`), an int (the same values on every call), or a SeedGenerator
(each call advances it, so a seeded generator replays one sequence).

>>> from tensorflux import keras
>>> a = keras.random.normal((2,), seed=3).numpy().tolist()
>>> a == keras.random.normal((2,), seed=3).numpy().tolist()
True
"""

import random as _python_random

import tensorflux as tf
from tensorflux.keras import backend
from tensorflux.tensor import _is_dense_tensor

__all__ = ["SeedGenerator", "beta", "binomial", "categorical", "dropout", "gamma", "normal",
           "randint", "shuffle", "truncated_normal", "uniform"]


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
        # No seed: one drawn from Python's `random`, as Keras does, so that
        # keras.utils.set_random_seed makes unseeded generators repeatable too.
        start = _python_random.randint(1, 10**9) if seed is None else seed
        self._start = start
        self._generator = tf.random.Generator.from_seed(start)

    @property
    def generator(self):
        """The tf.random.Generator that holds this object's state."""
        return self._generator

    def next(self, ordered=True):
        """A fresh seed pair (an int64 tensor of shape (2,)); advances the state."""
        return self._generator.make_seeds(1)[:, 0]

    @property
    def state(self):
        """A snapshot of the generator's state, [seed, draws so far], as an int64 tensor of
        shape (2,) in the order of Keras's seed state (read-only here: draws advance the
        generator)."""
        # (a generator from seed s starts at counter s, and each draw adds one)
        draws = int(self._generator.state[0]) - self._start
        return tf.constant([self._start, draws], dtype=tf.int64)

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
    return _IntSeed.from_seed(seed)


class _IntSeed(tf.random.Generator):
    """The source of a draw with an int seed: a generator from that seed that does not
    advance, so that the draw gives the same numbers on every call, as in Keras (traced, a
    generator's draw asks it for a seed on every run of the graph)."""

    def _next_seed(self, count=1):
        return super()._next_seed(0)


def _shape(shape):
    """`shape` as a list of ints for tf.random, except where a value is known only when a
    traced graph runs (a Functional model's batch size: `ops.shape(x)[0]`, `tf.shape(x)`):
    those tensors stay as they are, and tf.random draws the shape at run time."""
    if isinstance(shape, int):
        return [shape]
    if _is_dense_tensor(shape):
        value = tf.get_static_value(shape)
        if value is None:
            return shape
        value = value.tolist()
        return [value] if isinstance(value, int) else value
    return [_dim(d) for d in shape]


def _dim(d):
    if _is_dense_tensor(d):
        value = tf.get_static_value(d)
        return d if value is None else int(value)
    return int(d)


def _size(x, axis):
    """The size of `x` along `axis`: an int, or a scalar tensor while tracing an unknown one."""
    size = x.shape[axis]
    return tf.shape(x)[axis] if size is None else size


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
    if not dtype.startswith(("int", "uint")):
        raise ValueError("`keras.random.randint` requires an integer `dtype`. Received: "
                         f"dtype={dtype}")
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
    # (None entries of noise_shape, and all of it when it is None, are the inputs' sizes)
    noise_shape = [None] * inputs.shape.rank if noise_shape is None else list(noise_shape)
    shape = [_size(inputs, axis) if d is None else d for axis, d in enumerate(noise_shape)]
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
    keys = uniform([_size(x, axis)], dtype="float64", seed=seed)
    return tf.gather(x, tf.argsort(keys), axis=axis)


def categorical(logits, num_samples, dtype="int32", seed=None):
    """`num_samples` class indices per row of `logits` ([batch, classes]), drawn by the
    Gumbel-max trick: argmax(logits + Gumbel noise) is distributed as softmax(logits)."""
    logits = tf.convert_to_tensor(logits)
    if logits.shape.rank != 2:
        raise ValueError(f"categorical: `logits` should be a 2-D tensor [batch_size, "
                         f"num_classes]. Received: shape={tuple(logits.shape)}")
    tiny = 1e-20
    u = uniform([_size(logits, 0), int(num_samples), _size(logits, 1)], dtype="float32",
                seed=seed)
    gumbel = -tf.math.log(-tf.math.log(u + tiny) + tiny)
    scores = tf.expand_dims(tf.cast(logits, "float32"), 1) + gumbel
    return tf.cast(tf.argmax(scores, axis=-1), backend.standardize_dtype(dtype))


def _seed_pair(seed):
    """A shape-[2] seed for tf.random's stateless samplers, drawn from `seed` as the other
    functions here draw their numbers (so an int seed repeats and a SeedGenerator advances)."""
    return _source(seed).uniform([2], 0, 2**62, "int64")


def gamma(shape, alpha, dtype=None, seed=None):
    """Samples from Gamma(alpha, 1); `alpha` broadcasts to `shape`.

    >>> from tensorflux import keras
    >>> keras.random.gamma((2, 3), alpha=[1.0, 2.0, 3.0], seed=1).shape
    TensorShape([2, 3])
    """
    return tf.random.stateless_gamma(_shape(shape), _seed_pair(seed), alpha=alpha,
                                     dtype=_float_dtype(dtype))


def binomial(shape, counts, probabilities, dtype=None, seed=None):
    """The number of successes in `counts` trials of probability `probabilities` (both
    broadcast to `shape`), as floats by default.

    >>> from tensorflux import keras
    >>> keras.random.binomial((3,), counts=4, probabilities=1.0, seed=1).numpy().tolist()
    [4.0, 4.0, 4.0]
    """
    dtype = backend.standardize_dtype(dtype)
    return tf.random.stateless_binomial(_shape(shape), _seed_pair(seed),
                                        counts=tf.cast(counts, "float32"),
                                        probs=tf.cast(probabilities, "float32"),
                                        output_dtype=dtype)


def beta(shape, alpha, beta, dtype=None, seed=None):
    """Samples from Beta(alpha, beta), as X / (X + Y) for X ~ Gamma(alpha) and
    Y ~ Gamma(beta); `alpha` and `beta` broadcast to `shape`.

    >>> from tensorflux import keras
    >>> x = keras.random.beta((1000,), alpha=2.0, beta=5.0, seed=1).numpy()
    >>> bool(0 < x.min() and x.max() < 1), round(float(x.mean()), 1)
    (True, 0.3)
    """
    dtype = _float_dtype(dtype)
    shape = _shape(shape)
    # One draw for both gammas: the stacked parameters make independent halves.
    alphas = tf.stack([tf.broadcast_to(tf.cast(alpha, dtype), shape),
                       tf.broadcast_to(tf.cast(beta, dtype), shape)])
    x, y = tf.unstack(tf.random.stateless_gamma([2] + shape, _seed_pair(seed), alpha=alphas,
                                                dtype=dtype))
    return x / (x + y)
