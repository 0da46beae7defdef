"""Op-table rows for tensorflux.ops.random.

Random draws have no NumPy reference value, so each row uses a draw whose result is
deterministic anyway: a zero-width distribution (stddev 0, minval == maxval, a one-value
integer range), a permutation followed by a permutation-invariant sum, or logits where all
probability sits on one class. Statistical checks are in tests/ops/test_random.py.
"""

import numpy as np

import tensorflux as tf
from tensorflux.ops import random as tfr
from tests.ops.harness import Row, fixed, uniform


def _one_class_logits():
    logits = np.full((3, 4), -np.inf)
    logits[0, 2] = logits[1, 0] = logits[2, 3] = 0.5
    return fixed(logits)


ROWS = [
    Row("random_normal_zero_stddev",
        lambda x: tfr.normal(x.shape, mean=x, stddev=0.0, dtype=x.dtype, seed=1),
        lambda x: x, uniform((2, 3))),
    Row("random_uniform_zero_width",
        lambda x: tfr.uniform(x.shape, minval=x, maxval=x, dtype=x.dtype, seed=2),
        lambda x: x, uniform((4,))),
    Row("random_truncated_normal_zero_stddev",
        lambda x: tfr.truncated_normal(x.shape, mean=x, stddev=0.0, dtype=x.dtype, seed=3),
        lambda x: x, uniform((3, 2))),
    Row("random_uniform_int_single_value",
        lambda x: x + tf.cast(tfr.uniform(x.shape, minval=3, maxval=4, dtype=tf.int64, seed=4),
                              x.dtype),
        lambda x: x + 3.0, uniform((5,))),
    Row("random_shuffle_column_sums",
        lambda x: tf.reduce_sum(tfr.shuffle(x, seed=5), axis=0),
        lambda x: np.sum(x, axis=0), uniform((6, 2)), grad=()),
    Row("random_categorical_one_class",
        lambda logits: tfr.categorical(logits, 5, seed=6),
        lambda logits: np.repeat(np.argmax(logits, axis=1)[:, None], 5, axis=1).astype(np.int64),
        _one_class_logits(), grad=()),
    Row("generator_normal_zero_stddev",
        lambda x: tfr.Generator.from_seed(7).normal(x.shape, mean=x, stddev=0.0, dtype=x.dtype),
        lambda x: x, uniform((3,))),
]
