"""Op-table rows for tensorflux.ops.math (elementwise, comparison, logic)."""

import numpy as np

import tensorflux as tf
from tests.ops.harness import Row, uniform

ROWS = [
    Row("add", tf.add, np.add, uniform((3, 4), (4,)), second_order=True),
    Row("multiply", tf.multiply, np.multiply, uniform((3, 1), (1, 4)), second_order=True),
    Row("exp", tf.exp, np.exp, uniform((5,)), second_order=True),
]
