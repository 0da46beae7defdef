"""Python scalars cached as tensors (binary_operands' scalars, const_like) keep the sign of a
zero: 0.0 and -0.0 are equal as dict keys, and a cache keyed by the value alone handed one
for the other (`x * 0.0` gave -0.0 once `x * -0.0` had run). The oracle is NumPy's IEEE
arithmetic on the same float32 values."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.keras import losses
from tensorflux.ops._core import const_like


def _bits(value):
    return np.asarray(value).view(np.uint8).tolist()


@pytest.mark.parametrize("first", [-0.0, 0.0])
def test_a_scalar_zero_keeps_its_sign_whichever_was_cached_first(first):
    x = tf.constant([1.0, -2.0])
    zero = tf.constant([-0.0, 0.0])
    values = np.array([1.0, -2.0], np.float32)
    zeros = np.array([-0.0, 0.0], np.float32)
    for scalar in (first, -first, first):
        s = np.float32(scalar)
        assert _bits((x * scalar).numpy()) == _bits(values * s)
        assert _bits(tf.multiply(x, scalar).numpy()) == _bits(values * s)
        assert _bits((zero + scalar).numpy()) == _bits(zeros + s)
        assert _bits(tf.add(zero, scalar).numpy()) == _bits(zeros + s)
        assert _bits(tf.subtract(zero, scalar).numpy()) == _bits(zeros - s)
        assert _bits(tf.maximum(zero, scalar).numpy()) == _bits(np.maximum(zeros, s))


def test_const_like_keeps_the_sign_of_zero():
    for first in (0.0, -0.0):
        a, b = const_like(first, tf.float32), const_like(-first, tf.float32)
        assert np.signbit(a.numpy()) == np.signbit(np.float32(first))
        assert np.signbit(b.numpy()) == np.signbit(np.float32(-first))
    assert const_like(2, tf.int32).numpy() == 2 and const_like(2.5, tf.float64).numpy() == 2.5


def test_loss_constants_keep_the_sign_of_zero():
    x = tf.constant([1.0])
    assert not np.signbit(losses._const(0.0, x).numpy())
    assert np.signbit(losses._const(-0.0, x).numpy())
    assert not np.signbit(losses._const(0.0, x).numpy())
