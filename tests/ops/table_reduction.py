"""Op-table rows for tensorflux.ops.reduction."""

import numpy as np

from tensorflux.ops import reduction as r
from tests.ops.harness import Row, fixed, positive, uniform


def _cumulative(ufunc, x, axis, exclusive=False, reverse=False):
    if reverse:
        x = np.flip(x, axis)
    out = ufunc.accumulate(x, axis=axis)
    if exclusive:
        pad = np.full_like(np.take(out, [0], axis=axis), ufunc.identity)
        out = np.concatenate([pad, np.delete(out, -1, axis=axis)], axis=axis)
    return np.flip(out, axis) if reverse else out


def _top_k_reference(x, k):
    order = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    return np.take_along_axis(x, order, axis=-1), order.astype(np.int32)


def _logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


# Two-way ties in the maximum and the minimum: central differences give each tied entry half
# the slope, as TensorFlow's even split does (a three-way tie would give 1/2 against 1/3).
_TIES = fixed([[1.0, 3.0, 3.0, -2.0], [0.5, -1.0, 0.5, -1.0], [2.0, 1.0, 2.0, 1.5]])
# One and two zeros in a row: the product's gradient is exact there.
_ZEROS = fixed([[0.0, 2.0, -1.5, 3.0], [1.5, 0.0, 0.0, 2.0], [1.2, -0.7, 0.9, 2.0]])

ROWS = [
    Row("reduce_sum_all", r.reduce_sum, np.sum, uniform((3, 4)), second_order=True),
    Row("reduce_sum_axis_keepdims", lambda x: r.reduce_sum(x, 1, keepdims=True),
        lambda x: np.sum(x, 1, keepdims=True), uniform((2, 3, 2)), second_order=True),
    Row("reduce_sum_negative_axes", lambda x: r.reduce_sum(x, [-1, 0]),
        lambda x: np.sum(x, (0, 2)), uniform((2, 3, 2))),
    Row("reduce_sum_empty_axis_list", lambda x: r.reduce_sum(x, []), lambda x: x,
        uniform((2, 3))),
    Row("reduce_mean_axis0", lambda x: r.reduce_mean(x, 0), lambda x: np.mean(x, 0),
        uniform((4, 3)), second_order=True),
    Row("reduce_mean_keepdims", lambda x: r.reduce_mean(x, [0, 2], keepdims=True),
        lambda x: np.mean(x, (0, 2), keepdims=True), uniform((2, 3, 2)), second_order=True),
    Row("reduce_max_axis1", lambda x: r.reduce_max(x, 1), lambda x: np.max(x, 1),
        uniform((3, 4))),
    Row("reduce_max_ties_keepdims", lambda x: r.reduce_max(x, -1, keepdims=True),
        lambda x: np.max(x, -1, keepdims=True), _TIES),
    Row("reduce_max_all_ties", r.reduce_max, np.max, _TIES),
    Row("reduce_min_axis0", lambda x: r.reduce_min(x, 0), lambda x: np.min(x, 0),
        uniform((3, 4))),
    Row("reduce_min_ties", lambda x: r.reduce_min(x, 1), lambda x: np.min(x, 1), _TIES),
    Row("reduce_prod_axis1", lambda x: r.reduce_prod(x, 1), lambda x: np.prod(x, 1),
        uniform((3, 4))),
    Row("reduce_prod_zeros", lambda x: r.reduce_prod(x, -1), lambda x: np.prod(x, -1), _ZEROS),
    Row("reduce_prod_all_zeros", r.reduce_prod, np.prod, _ZEROS),
    Row("reduce_prod_axes_keepdims", lambda x: r.reduce_prod(x, [0, 2], keepdims=True),
        lambda x: np.prod(x, (0, 2), keepdims=True), uniform((2, 3, 2))),
    Row("reduce_any", lambda x: r.reduce_any(x, 1), lambda x: np.any(x, 1),
        fixed([[True, False], [False, False]]), dtypes=("float32",), grad=()),
    Row("reduce_all_keepdims", lambda x: r.reduce_all(x, 0, keepdims=True),
        lambda x: np.all(x, 0, keepdims=True), fixed([[True, False], [True, True]]),
        dtypes=("float32",), grad=()),
    Row("reduce_logsumexp", lambda x: r.reduce_logsumexp(x, 1), lambda x: _logsumexp(x, 1),
        uniform((3, 4), low=-5, high=5), second_order=True),
    Row("reduce_logsumexp_large_keepdims",
        lambda x: r.reduce_logsumexp(x, 0, keepdims=True),
        lambda x: _logsumexp(x, 0, keepdims=True),
        fixed([[1000.0, -1000.0, 80.0], [1000.0, -1001.0, 90.0]])),
    Row("reduce_variance_axis0", lambda x: r.reduce_variance(x, 0),
        lambda x: np.var(x, 0), uniform((4, 3))),
    Row("reduce_std_keepdims", lambda x: r.reduce_std(x, -1, keepdims=True),
        lambda x: np.std(x, -1, keepdims=True), uniform((3, 4))),
    Row("reduce_std_all", r.reduce_std, np.std, uniform((2, 3))),
    Row("argmax_default_axis", r.argmax, lambda x: np.argmax(x, 0), uniform((4, 3)), grad=()),
    Row("argmin_axis1_int32", lambda x: r.argmin(x, 1, output_type="int32"),
        lambda x: np.argmin(x, 1).astype(np.int32), uniform((3, 5)), grad=()),
    Row("count_nonzero", lambda x: r.count_nonzero(x, 1),
        lambda x: np.count_nonzero(x, 1).astype(np.int64), _ZEROS, grad=()),
    Row("cumsum_axis1", lambda x: r.cumsum(x, 1), lambda x: np.cumsum(x, 1), uniform((3, 4)),
        second_order=True),
    Row("cumsum_exclusive_reverse", lambda x: r.cumsum(x, 0, exclusive=True, reverse=True),
        lambda x: _cumulative(np.add, x, 0, True, True), uniform((4, 3))),
    Row("cumsum_exclusive", lambda x: r.cumsum(x, -1, exclusive=True),
        lambda x: _cumulative(np.add, x, 1, exclusive=True), uniform((3, 4))),
    Row("cumprod_axis0", lambda x: r.cumprod(x, 0), lambda x: np.cumprod(x, 0),
        positive((4, 3), low=0.5, high=1.5)),
    Row("cumprod_exclusive_reverse", lambda x: r.cumprod(x, 1, exclusive=True, reverse=True),
        lambda x: _cumulative(np.multiply, x, 1, True, True),
        positive((3, 4), low=0.5, high=1.5)),
    Row("cumprod_reverse", lambda x: r.cumprod(x, 1, reverse=True),
        lambda x: _cumulative(np.multiply, x, 1, reverse=True), uniform((2, 4))),
    Row("top_k", lambda x: r.top_k(x, 2), lambda x: _top_k_reference(x, 2), uniform((3, 5))),
    Row("top_k_all_ties", lambda x: r.top_k(x, 4), lambda x: _top_k_reference(x, 4),
        fixed([[1.0, 3.0, 2.0, 3.0], [5.0, 4.0, 4.0, 3.0]]), grad=()),
    Row("top_k_3d_values", lambda x: r.top_k(x, 3)[0],
        lambda x: _top_k_reference(x, 3)[0], uniform((2, 2, 4))),
]
