"""tf.experimental.numpy.random: NumPy's legacy random functions on tensorflux's global seed.

As in TF, the float samplers give float64 whatever prefer_float32 says, and randint int64;
`seed` sets tensorflux's global seed (tf.random.set_seed), so streams differ from NumPy's.
"""

import tensorflux as tf
from tensorflux import dtypes
from tensorflux.experimental.numpy._dtypes import as_dtype


def seed(s):
    """Seeds the samplers below (tf.random.set_seed)."""
    tf.random.set_seed(s)


def _size(size):
    if size is None:
        return []
    return [size] if isinstance(size, int) else list(size)


def uniform(low=0.0, high=1.0, size=None):
    """Samples from [low, high), float64."""
    return tf.random.uniform(_size(size), minval=low, maxval=high, dtype=dtypes.float64)


def random(size=None):
    """Samples from [0, 1), float64."""
    return uniform(size=size)


def rand(*size):
    """Samples from [0, 1) of shape `size`, float64."""
    return uniform(size=size)


def standard_normal(size=None):
    """Standard normal samples, float64."""
    return tf.random.normal(_size(size), dtype=dtypes.float64)


def randn(*size):
    """Standard normal samples of shape `size`, float64."""
    return standard_normal(size=size)


def normal(loc=0.0, scale=1.0, size=None):
    """Normal samples with mean `loc` and standard deviation `scale`, float64."""
    return tf.random.normal(_size(size), mean=loc, stddev=scale, dtype=dtypes.float64)


def randint(low, high=None, size=None, dtype=int):
    """Integers from [low, high) (from [0, low) when high is None), int64 by default."""
    if high is None:
        low, high = 0, low
    if high <= low:
        raise ValueError(f"randint: `high` must be greater than `low`, received low={low}, "
                         f"high={high}")
    return tf.random.uniform(_size(size), minval=low, maxval=high, dtype=as_dtype(dtype))


def poisson(lam=1.0, size=None):
    """Poisson samples with rate `lam`, int64."""
    return tf.random.poisson(_size(size), lam, dtype=dtypes.int64)


__all__ = ["normal", "poisson", "rand", "randint", "randn", "random", "seed", "standard_normal",
           "uniform"]
