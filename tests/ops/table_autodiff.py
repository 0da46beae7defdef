"""Op-table rows for tensorflux.autodiff (the custom_gradient primitive).

Each row's grad_fn is the true derivative, written with tensorflux ops, so the generic VJP
and second-order checks verify that custom_gradient calls it and differentiates through it.
"""

import numpy as np

import tensorflux as tf
from tensorflux.autodiff import custom_gradient
from tests.ops.harness import Row, uniform


@custom_gradient
def _log1pexp(x):
    e = tf.exp(x)

    def grad(upstream):
        return upstream * (1 - 1 / (1 + e))
    return tf.log(1 + e), grad


@custom_gradient
def _product_and_sum(a, b):
    def grad(d_product, d_sum):
        return d_product * b + d_sum, d_product * a + d_sum
    return (a * b, a + b), grad


ROWS = [
    Row("custom_gradient_log1pexp", _log1pexp, lambda x: np.log1p(np.exp(x)), uniform((5,)),
        second_order=True),
    Row("custom_gradient_two_outputs", lambda a, b: list(_product_and_sum(a, b)),
        lambda a, b: [a * b, a + b], uniform((3,), (3,)), second_order=True),
]
