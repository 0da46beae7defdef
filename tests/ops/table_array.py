"""Op-table rows for tensorflux.ops.array and tensorflux.ops.indexing."""

import numpy as np

import tensorflux as tf
from tensorflux.ops import array, indexing, random
from tensorflux.ops._static import RuntimeShape
from tests.ops.harness import Row, combine, fixed, ints, uniform

# ------------------------------------------------------------------ NumPy references


def _gather_ref(params, indices, axis, batch_dims):
    if batch_dims == 0:
        return np.take(params, indices, axis=axis)
    return np.stack([_gather_ref(p, i, axis - 1, batch_dims - 1)
                     for p, i in zip(params, indices)])


def _gather_nd_ref(params, indices, batch_dims=0):
    if batch_dims:
        return np.stack([_gather_nd_ref(p, i, batch_dims - 1) for p, i in zip(params, indices)])
    depth = indices.shape[-1]
    rows = [params[tuple(ix)] for ix in indices.reshape(-1, depth)]
    return np.array(rows).reshape(indices.shape[:-1] + params.shape[depth:])


def _scatter_nd_ref(indices, updates, shape):
    out = np.zeros(shape)
    depth = indices.shape[-1]
    flat = updates.reshape((-1,) + tuple(shape[depth:]))
    for ix, u in zip(indices.reshape(-1, depth), flat):
        out[tuple(ix)] += u
    return out


def _scatter_update_ref(tensor, indices, updates):
    out = tensor.copy()
    depth = indices.shape[-1]
    flat = updates.reshape((-1,) + tensor.shape[depth:])
    for ix, u in zip(indices.reshape(-1, depth), flat):
        out[tuple(ix)] = u
    return out


def _pad_ref(x, paddings, mode):
    return np.pad(x, paddings, mode={"CONSTANT": "constant", "REFLECT": "reflect",
                                     "SYMMETRIC": "symmetric"}[mode])


def _pad_grad_ref(g, paddings, mode):
    """The adjoint of _pad_ref: <pad(x), g> = <x, pad_grad(g)>, built one basis vector at a
    time."""
    shape = tuple(d - b - a for d, (b, a) in zip(g.shape, paddings))
    out = np.zeros(shape)
    for j in range(out.size):
        e = np.zeros(out.size)
        e[j] = 1
        out.reshape(-1)[j] = np.sum(_pad_ref(e.reshape(shape), paddings, mode) * g)
    return out


def _unique_ref(x):
    seen = []
    for v in x.tolist():
        if v not in seen:
            seen.append(v)
    return np.array(seen, x.dtype), np.array([seen.index(v) for v in x.tolist()], np.int32)


def _stable_argsort(x, axis, descending):
    moved = np.moveaxis(x, axis, -1)
    out = np.empty(moved.shape, np.int32)
    for idx in np.ndindex(moved.shape[:-1]):
        row = moved[idx].tolist()
        sign = -1 if descending else 1
        out[idx] = sorted(range(len(row)), key=lambda i, row=row: (sign * row[i], i))
    return np.moveaxis(out, -1, axis)


def _split_ref(x, sizes, axis):
    return np.split(x, np.cumsum(sizes)[:-1], axis=axis)


def _linspace_ref(start, stop, num, axis):
    return np.linspace(start, stop, num, axis=axis)


MASK = np.array([[True, False, True], [False, False, True]])
BATCH_INDICES = combine(uniform((2, 3, 4)), ints((2, 2), 0, 3))

ROWS = [
    # creation (no tensor inputs: forward only)
    Row("range_int", lambda: tf.range(2, 11, 3), lambda: np.arange(2, 11, 3, dtype=np.int32),
        fixed(), grad=()),
    Row("range_negative_delta", lambda: tf.range(5, -1, -2),
        lambda: np.arange(5, -1, -2, dtype=np.int32), fixed(), grad=()),
    Row("range_float", lambda: tf.range(0.5, 2.0, 0.25),
        lambda: np.arange(0.5, 2.0, 0.25), fixed(), dtypes=("float32",), grad=()),
    Row("range_dtype", lambda: tf.range(4, dtype=tf.float64), lambda: np.arange(4.0), fixed(),
        dtypes=("float64",), grad=()),
    Row("eye", lambda: tf.eye(2, 3, dtype=tf.float64), lambda: np.eye(2, 3), fixed(),
        dtypes=("float64",), grad=()),
    Row("eye_batch", lambda: tf.eye(2, batch_shape=[3], dtype=tf.float64),
        lambda: np.broadcast_to(np.eye(2), (3, 2, 2)), fixed(), dtypes=("float64",), grad=()),
    Row("linspace", lambda a, b: tf.linspace(a, b, 5),
        lambda a, b: _linspace_ref(a, b, 5, 0), uniform((), ())),
    Row("linspace_batch_axis_last", lambda a, b: tf.linspace(a, b, 4, axis=-1),
        lambda a, b: _linspace_ref(a, b, 4, -1), uniform((2,), (2,))),
    Row("linspace_num_1", lambda a, b: tf.linspace(a, b, 1),
        lambda a, b: _linspace_ref(a, b, 1, 0), uniform((2,), (2,))),

    # adding and removing axes
    Row("expand_dims_0", lambda x: tf.expand_dims(x, 0), lambda x: x[None], uniform((2, 3))),
    Row("expand_dims_neg", lambda x: tf.expand_dims(x, -1), lambda x: x[..., None],
        uniform((2, 3))),
    Row("squeeze_all", tf.squeeze, np.squeeze, uniform((1, 3, 1))),
    Row("squeeze_axis_neg", lambda x: tf.squeeze(x, axis=-1),
        lambda x: np.squeeze(x, axis=-1), uniform((1, 3, 1))),

    # joining and splitting
    Row("concat_0", lambda a, b, c: tf.concat([a, b, c], 0),
        lambda a, b, c: np.concatenate([a, b, c], 0), uniform((1, 3), (2, 3), (1, 3))),
    Row("concat_neg", lambda a, b: tf.concat([a, b], -1),
        lambda a, b: np.concatenate([a, b], -1), uniform((2, 1), (2, 3)), second_order=True),
    Row("split_even", lambda x: tf.split(x, 3, axis=1), lambda x: np.split(x, 3, axis=1),
        uniform((2, 6))),
    Row("split_sizes_inferred", lambda x: tf.split(x, [1, -1, 2], axis=-1),
        lambda x: _split_ref(x, [1, 2, 2], -1), uniform((2, 5))),
    Row("split_partial_use", lambda x: tf.split(x, [2, 1])[0], lambda x: x[:2],
        uniform((3, 2))),
    Row("tile", lambda x: tf.tile(x, [2, 3]), lambda x: np.tile(x, (2, 3)), uniform((2, 2)),
        second_order=True),
    Row("tile_ones", lambda x: tf.tile(x, [1, 2, 1]), lambda x: np.tile(x, (1, 2, 1)),
        uniform((2, 1, 3))),
    Row("pad_constant", lambda x: tf.pad(x, [[1, 0], [2, 1]], constant_values=0.5),
        lambda x: np.pad(x, [(1, 0), (2, 1)], constant_values=0.5), uniform((2, 3))),
    Row("pad_reflect", lambda x: tf.pad(x, [[1, 1], [2, 1]], "reflect"),
        lambda x: _pad_ref(x, [(1, 1), (2, 1)], "REFLECT"), uniform((2, 3)),
        second_order=True),
    Row("pad_symmetric", lambda x: tf.pad(x, [[2, 1], [0, 3]], "SYMMETRIC"),
        lambda x: _pad_ref(x, [(2, 1), (0, 3)], "SYMMETRIC"), uniform((2, 3))),
    Row("pad_grad_reflect",
        lambda g: array._pad_grad.bind(g, paddings=((1, 1), (2, 0)), mode="REFLECT"),
        lambda g: _pad_grad_ref(g, [(1, 1), (2, 0)], "REFLECT"), uniform((4, 5))),
    Row("pad_grad_symmetric",
        lambda g: array._pad_grad.bind(g, paddings=((0, 2), (1, 1)), mode="SYMMETRIC"),
        lambda g: _pad_grad_ref(g, [(0, 2), (1, 1)], "SYMMETRIC"), uniform((4, 4))),

    # gather family (integer indices are sampled and kept as int32)
    Row("gather_axis0", lambda p, i: indexing.gather(p, i),
        lambda p, i: _gather_ref(p, i, 0, 0), combine(uniform((4, 2)), ints((5,), 0, 4))),
    Row("gather_axis_neg_2d_indices", lambda p, i: indexing.gather(p, i, axis=-1),
        lambda p, i: _gather_ref(p, i, 2, 0), combine(uniform((2, 2, 3)), ints((2, 2), 0, 3))),
    Row("gather_repeated_constant", lambda p: indexing.gather(p, tf.constant([1, 1, 0, 1]), axis=1),
        lambda p: p[:, [1, 1, 0, 1]], uniform((2, 3)), second_order=True),
    Row("gather_batch_dims_adjacent",
        lambda p, i: indexing.gather(p, i, axis=1, batch_dims=1),
        lambda p, i: _gather_ref(p, i, 1, 1), BATCH_INDICES),
    Row("gather_batch_dims_axis2",
        lambda p, i: indexing.gather(p, i, axis=2, batch_dims=1),
        lambda p, i: _gather_ref(p, i, 2, 1), combine(uniform((2, 3, 4)), ints((2, 2), 0, 4))),
    Row("gather_grad",
        lambda i, g: indexing._gather_grad.bind(i, g, shape=(3, 2), axis=0, batch_dims=0),
        lambda i, g: _scatter_nd_ref(i[:, None], g, (3, 2)),
        combine(ints((4,), 0, 3), uniform((4, 2)))),
    Row("gather_nd", lambda p, i: indexing.gather_nd(p, i), _gather_nd_ref,
        combine(uniform((3, 4)), ints((5, 2), 0, 3))),
    Row("gather_nd_slices", lambda p, i: indexing.gather_nd(p, i), _gather_nd_ref,
        combine(uniform((3, 2, 2)), ints((2, 2, 1), 0, 3))),
    Row("gather_nd_batch_dims", lambda p, i: indexing.gather_nd(p, i, batch_dims=1),
        lambda p, i: _gather_nd_ref(p, i, 1), combine(uniform((2, 3, 2)), ints((2, 3, 1), 0, 3))),
    Row("scatter_nd", lambda i, u: indexing.scatter_nd(i, u, [4, 2]),
        lambda i, u: _scatter_nd_ref(i, u, (4, 2)), combine(ints((5, 1), 0, 4), uniform((5, 2)))),
    Row("tensor_scatter_nd_update",
        lambda t, u: indexing.tensor_scatter_nd_update(t, tf.constant([[2, 0], [0, 1]]), u),
        lambda t, u: _scatter_update_ref(t, np.array([[2, 0], [0, 1]]), u),
        uniform((3, 2), (2,))),
    Row("tensor_scatter_nd_update_rows",
        lambda t, u: indexing.tensor_scatter_nd_update(t, tf.constant([[1]]), u),
        lambda t, u: _scatter_update_ref(t, np.array([[1]]), u), uniform((3, 2), (1, 2))),
    Row("tensor_scatter_nd_add", lambda t, i, u: indexing.tensor_scatter_nd_add(t, i, u),
        lambda t, i, u: t + _scatter_nd_ref(i, u, t.shape),
        combine(uniform((4,)), ints((6, 1), 0, 4), uniform((6,)))),
    Row("tensor_scatter_nd_sub", lambda t, i, u: indexing.tensor_scatter_nd_sub(t, i, u),
        lambda t, i, u: t - _scatter_nd_ref(i, u, t.shape),
        combine(uniform((3, 2)), ints((2, 1), 0, 3), uniform((2, 2)))),

    # slicing
    Row("slice", lambda x: indexing.slice(x, [1, 0], [2, -1]), lambda x: x[1:3, 0:],
        uniform((3, 4))),
    Row("strided_slice", lambda x: indexing.strided_slice(x, [0, 3], [3, 0], [2, -1]),
        lambda x: x[0:3:2, 3:0:-1], uniform((3, 4))),
    Row("strided_slice_masks",
        lambda x: indexing.strided_slice(x, [1, 0, 0, 2], [0, 0, 0, 0], [1, 1, 1, -1],
                                         begin_mask=0b0001, end_mask=0b1001,
                                         ellipsis_mask=0b0100, new_axis_mask=0b0010),
        lambda x: x[:, None, ..., 2::-1], uniform((2, 3, 4))),
    Row("strided_slice_shrink",
        lambda x: indexing.strided_slice(x, [-1, 1], [0, 3], [1, 1], shrink_axis_mask=1),
        lambda x: x[-1, 1:3], uniform((3, 4))),
    Row("reverse", lambda x: indexing.reverse(x, [0, -1]), lambda x: x[::-1, :, ::-1],
        uniform((2, 2, 3))),
    Row("boolean_mask", lambda x, m: indexing.boolean_mask(x, m), lambda x, m: x[m],
        combine(uniform((2, 3, 2)), fixed(MASK))),
    Row("boolean_mask_axis", lambda x, m: indexing.boolean_mask(x, m, axis=1),
        lambda x, m: x[:, m], combine(uniform((2, 3)), fixed([True, False, True]))),

    # tensor[key]
    Row("getitem_int_negative_step", lambda x: x[1, ::-2], lambda x: x[1, ::-2],
        uniform((3, 5))),
    Row("getitem_ellipsis_newaxis", lambda x: x[..., None, 1:], lambda x: x[..., None, 1:],
        uniform((2, 3, 3))),
    Row("getitem_negative_int", lambda x: x[-1, :, -2], lambda x: x[-1, :, -2],
        uniform((2, 3, 3))),
    Row("getitem_repeated_list", lambda x: indexing.getitem(x, [0, 2, 0, 0]),
        lambda x: x[[0, 2, 0, 0]],
        uniform((3, 2)), second_order=True),
    Row("getitem_index_tensor", lambda x, i: indexing.getitem(x, (slice(None), i)),
        lambda x, i: x[:, i],
        combine(uniform((2, 4)), ints((2, 3), -4, 4))),
    Row("getitem_mixed_advanced", lambda x, i: indexing.getitem(x, (i, slice(None), 1)),
        lambda x, i: x[i, :, 1],
        combine(uniform((3, 2, 4)), ints((5,), 0, 3))),
    Row("getitem_bool_mask", lambda x, m: x[m], lambda x, m: x[m],
        combine(uniform((2, 3)), fixed(MASK))),
    Row("getitem_bool_mask_tail", lambda x, m: indexing.getitem(x, (slice(None), m[0])),
        lambda x, m: x[:, m[0]],
        combine(uniform((2, 3)), fixed(MASK))),
    Row("getitem_grad_basic",
        lambda g: indexing._getitem_grad.bind(g, shape=(3,), key=((None, None, -1),)),
        lambda g: g[::-1], uniform((3,))),

    # sorting, unique, repeat
    Row("sort", tf.sort, lambda x: np.sort(x, axis=-1), uniform((2, 5))),
    Row("sort_descending_axis0", lambda x: tf.sort(x, axis=0, direction="DESCENDING"),
        lambda x: -np.sort(-x, axis=0), uniform((4, 3))),
    Row("take_along_axis_grad",
        lambda i, g: array._take_along_axis_grad.bind(i, g, shape=(2, 3), axis=1),
        lambda i, g: np.stack([np.bincount(i[r], weights=g[r], minlength=3) for r in range(2)]),
        combine(ints((2, 4), 0, 3), uniform((2, 4)))),
    Row("argsort", lambda x: tf.argsort(x, axis=0),
        lambda x: _stable_argsort(x, 0, False), combine(ints((5, 2), 0, 3)), grad=()),
    Row("argsort_descending_stable", lambda x: tf.argsort(x, direction="DESCENDING"),
        lambda x: _stable_argsort(x, -1, True), combine(ints((2, 6), 0, 3)), grad=()),
    Row("unique", tf.unique, _unique_ref, ints((8,), 0, 4), grad=()),
    Row("repeat_scalar_flat", lambda x: tf.repeat(x, 2), lambda x: np.repeat(x, 2),
        uniform((2, 2))),
    Row("repeat_list_axis", lambda x: tf.repeat(x, [2, 0, 1], axis=-1),
        lambda x: np.repeat(x, [2, 0, 1], axis=-1), uniform((2, 3))),

    # the module's first ops
    Row("fill", lambda: tf.fill([2, 3], 1.5), lambda: np.full((2, 3), 1.5, np.float32), fixed(),
        dtypes=("float32",), grad=()),
    Row("identity_of_variable", lambda x: tf.identity(tf.Variable(x)), lambda x: x,
        uniform((3,)), grad=()),
    Row("stop_gradient_forward", tf.stop_gradient, lambda x: x, uniform((3,)), grad=()),
    Row("one_hot", lambda i: tf.one_hot(i, 4, axis=0),
        lambda i: (np.arange(4)[:, None] == i[None]).astype(np.float32),
        ints((3,), -1, 5), dtypes=("float32",), grad=()),
    Row("stack_axis1", lambda a, b: tf.stack([a, b], axis=1),
        lambda a, b: np.stack([a, b], axis=1), uniform((2, 3), (2, 3))),
    Row("unstack_neg", lambda x: tf.unstack(x, axis=-1), lambda x: list(np.moveaxis(x, -1, 0)),
        uniform((2, 3))),
    Row("reshape_inferred", lambda x: tf.reshape(x, [3, -1]), lambda x: x.reshape(3, -1),
        uniform((2, 3))),
    Row("broadcast_to", lambda x: tf.broadcast_to(x, [2, 3, 2]),
        lambda x: np.broadcast_to(x, (2, 3, 2)), uniform((3, 1))),
]

# Dynamic-shape primitives: what traced graphs use when static shapes have unknown dims.
ROWS += [
    Row("sum_to_dynamic_shape", array.sum_to_dynamic_shape,
        lambda g, like: np.sum(g, axis=(0, 2), keepdims=True)[0], uniform((2, 3, 4), (3, 1)),
        grad=(0,), second_order=True),
    Row("broadcast_like", lambda x, like: array._broadcast_like.bind(x, like),
        lambda x, like: np.broadcast_to(x, like.shape), uniform((3, 1), (2, 3, 4)), grad=(0,),
        second_order=True),
    Row("dynamic_shape", lambda x: array._dynamic_shape.bind(x, dtype=tf.int32),
        lambda x: np.array(x.shape, np.int32), uniform((2, 3)), grad=()),
]

# Shape-like arguments known only at run time (ops/_static.py RuntimeShape), bound eagerly
# here; tests/graph/test_dynamic_shapes.py traces them.
ROWS += [
    Row("reshape_dynamic", lambda x: array._reshape_dynamic.bind(
        x, tf.constant([3, -1]), branches=RuntimeShape(array._reshape_kernel, (1,))),
        lambda x: x.reshape(3, -1), uniform((2, 3)), grad=(0,)),
    Row("broadcast_to_dynamic", lambda x: array._broadcast_to_dynamic.bind(
        x, tf.constant([2, 3, 2]), branches=RuntimeShape(array._broadcast_to_kernel, (1,))),
        lambda x: np.broadcast_to(x, (2, 3, 2)), uniform((3, 1)), grad=(0,)),
    Row("tile_dynamic", lambda x: array._tile_dynamic.bind(
        x, tf.constant([2, 3]), branches=RuntimeShape(array._tile_kernel, (1,))),
        lambda x: np.tile(x, (2, 3)), uniform((2, 2)), grad=(0,)),
    Row("fill_dynamic", lambda x: x + array._fill_dynamic.bind(
        tf.constant([2, 3]), branches=RuntimeShape(array._fill_kernel, (0,), value=1,
                                                   dtype=x.dtype, op="ones")),
        lambda x: x + 1, uniform((2, 3)), grad=()),
    Row("range_dynamic", lambda x: array._range_dynamic.bind(
        tf.constant(1), tf.constant(8), tf.constant(3),
        branches=RuntimeShape(array._range_kernel, (0, 1, 2), dtype=tf.int32)),
        lambda x: np.arange(1, 8, 3, dtype=np.int32), uniform((1,)), grad=()),
    Row("one_hot_dynamic", lambda x: array._one_hot_dynamic.bind(
        tf.constant([0, 2, 5]), tf.constant(4), branches=RuntimeShape(
            array._one_hot_kernel, (1,), on_value=1, off_value=0, axis=-1, dtype=x.dtype)),
        lambda x: np.concatenate([np.eye(4)[[0, 2]], np.zeros((1, 4))]), uniform((1,)),
        grad=()),
    Row("getitem_grad_dynamic", lambda g: indexing._getitem_grad_dynamic.bind(
        g, tf.constant([3, 2]), branches=RuntimeShape(
            indexing._getitem_grad_kernel, (1,), key=((1, None, None),))),
        lambda g: np.concatenate([np.zeros((1, 2)), g]), uniform((2, 2)), grad=(0,)),
    Row("gather_grad_dynamic", lambda g: indexing._gather_grad_dynamic.bind(
        tf.constant([0, 2]), g, tf.constant([3, 2]), branches=RuntimeShape(
            indexing._gather_grad_kernel, (2,), axis=0, batch_dims=0)),
        lambda g: np.stack([g[0], np.zeros(2), g[1]]), uniform((2, 2)), grad=(0,)),
    Row("random_draw_dynamic", lambda x: x + 0 * tf.reduce_sum(random._random_draw_dynamic.bind(
        tf.constant([2, 3]), tf.constant([1, 2, 3, 4], tf.uint64), branches=RuntimeShape(
            random._draw_kernel, (0,), kernel="random_normal", dtype=x.dtype, op="normal"))),
        lambda x: x, uniform((1,)), grad=()),
]
