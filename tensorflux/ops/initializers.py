"""TensorFlow's own initializers (tf.constant_initializer, tf.zeros_initializer, ...): callables
(shape, dtype) -> tensor with get_config/from_config, as tf.Variable and Keras layers accept.

A seeded random initializer gives the same values on every call (TF2's behaviour): it draws
statelessly from the seed; an unseeded one draws anew each call.
"""

from tensorflux import dtypes, errors
from tensorflux.ops import array
from tensorflux.ops import random as _random
from tensorflux.tensor import constant

__all__ = ["Initializer", "constant_initializer", "zeros_initializer", "ones_initializer",
           "random_normal_initializer", "random_uniform_initializer"]


class Initializer:
    """The base of the initializers: call with (shape, dtype)."""

    def __call__(self, shape, dtype=None, **kwargs):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _dtype(name, dtype, floating=False):
    dtype = dtypes.float32 if dtype is None else dtypes.as_dtype(dtype)
    if floating and not dtype.is_floating:
        raise errors.InvalidArgumentError(
            f"{name}: expected a floating-point dtype, received {dtype.name}", name)
    return dtype


class zeros_initializer(Initializer):  # noqa: N801 - TensorFlow's name
    """Zeros of the given shape and dtype.

    >>> import tensorflux as tf
    >>> tf.zeros_initializer()([2]).numpy().tolist()
    [0.0, 0.0]
    """

    def __call__(self, shape, dtype=None, **kwargs):
        return array.zeros(shape, _dtype("zeros_initializer", dtype))


class ones_initializer(Initializer):  # noqa: N801
    """Ones of the given shape and dtype.

    >>> import tensorflux as tf
    >>> tf.ones_initializer()([2], tf.int32).numpy().tolist()
    [1, 1]
    """

    def __call__(self, shape, dtype=None, **kwargs):
        return array.ones(shape, _dtype("ones_initializer", dtype))


class constant_initializer(Initializer):  # noqa: N801
    """A constant: a scalar fills the shape, a list or array of as many values is reshaped.

    >>> import tensorflux as tf
    >>> tf.constant_initializer([1.0, 2.0, 3.0, 4.0])([2, 2]).numpy().tolist()
    [[1.0, 2.0], [3.0, 4.0]]
    """

    def __init__(self, value=0, support_partition=False):
        self.value = value
        self.support_partition = support_partition

    def __call__(self, shape, dtype=None, **kwargs):
        return constant(self.value, dtype=_dtype("constant_initializer", dtype),
                        shape=list(shape))

    def get_config(self):
        return {"value": self.value}


class random_normal_initializer(Initializer):  # noqa: N801
    """Normal samples with the given mean and standard deviation.

    >>> import tensorflux as tf
    >>> init = tf.random_normal_initializer(stddev=1.0, seed=1)
    >>> bool(tf.reduce_all(init([3]) == init([3])))
    True
    """

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype=None, **kwargs):
        dtype = _dtype("random_normal_initializer", dtype, floating=True)
        if self.seed is None:
            return _random.normal(shape, self.mean, self.stddev, dtype)
        return _random.stateless_normal(shape, [self.seed, 0], self.mean, self.stddev, dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class random_uniform_initializer(Initializer):  # noqa: N801
    """Uniform samples in [minval, maxval).

    >>> import tensorflux as tf
    >>> x = tf.random_uniform_initializer(-1.0, 1.0, seed=2)([100]).numpy()
    >>> bool(x.min() >= -1.0 and x.max() < 1.0)
    True
    """

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def __call__(self, shape, dtype=None, **kwargs):
        dtype = _dtype("random_uniform_initializer", dtype)
        if self.seed is None:
            return _random.uniform(shape, self.minval, self.maxval, dtype)
        return _random.stateless_uniform(shape, [self.seed, 0], self.minval, self.maxval,
                                         dtype)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}
