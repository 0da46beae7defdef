"""keras.ops.core: conversion, dtypes and shapes, control flow, scans, scatter and slice
updates."""

import builtins

import tensorflux as tf
from tensorflux.control import rows_loop
from tensorflux.keras import backend
from tensorflux.keras.engine.keras_tensor import KerasTensor, trace_state
from tensorflux.keras.ops._dispatch import convert, keras_op, static_shape
from tensorflux.tensor import _TensorLike

__all__ = ["associative_scan", "cast", "cond", "convert_to_numpy", "convert_to_tensor",
           "custom_gradient", "dtype", "fori_loop", "is_tensor", "map", "saturate_cast", "scan",
           "scatter", "scatter_update", "shape", "slice", "slice_update", "stop_gradient",
           "switch", "unstack", "vectorized_map", "while_loop"]


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    """A tensor for `x`; Python ints become int32 and floats floatx, as in Keras.

    >>> from tensorflux.keras import ops
    >>> ops.convert_to_tensor([1, 2]).dtype.name, ops.convert_to_tensor(2.0).dtype.name
    ('int32', 'float32')
    """
    if sparse or ragged:
        raise ValueError("convert_to_tensor: tensorflux has no sparse or ragged tensors "
                         f"(received sparse={sparse}, ragged={ragged}).")
    if isinstance(x, KerasTensor):
        return x if dtype is None else cast(x, dtype)
    return convert(x, None if dtype is None else backend.standardize_dtype(dtype))


def convert_to_numpy(x):
    """A NumPy array holding the value of `x` (a tensor, a Variable or an array)."""
    if isinstance(x, KerasTensor):
        raise ValueError(f"convert_to_numpy: a symbolic KerasTensor ({x.name}) has no value; "
                         "call the model on data instead.")
    if _python_values(x):
        # NumPy's own inference, as Keras's np.array(x): 64-bit ints and floats.
        dtype = tf.convert_to_tensor(x).dtype.name
        x = tf.constant(x, dtype=_NUMPY_DEFAULTS.get(dtype, dtype))
    x = convert(x)
    value = x.numpy()  # raises, naming the tensor, for a symbolic one left by a traced call
    if x.shape.rank == 0:  # an ndarray of shape (), where a scalar's numpy() is a NumPy scalar
        return tf.reshape(x, [1]).numpy().reshape(())
    return value


_NUMPY_DEFAULTS = {"float32": "float64", "int32": "int64"}


def _python_values(x):
    """Whether `x` is a Python number or a (nested) list/tuple of them, nothing else."""
    if isinstance(x, (bool, int, float)):
        return True
    return isinstance(x, (list, tuple)) and builtins.all(_python_values(i) for i in x)


def is_tensor(x):
    """True for tensorflux tensors and Variables (not for NumPy arrays)."""
    return isinstance(x, _TensorLike)


@keras_op
def cast(x, dtype):
    """`x` converted to `dtype`.

    >>> from tensorflux.keras import ops
    >>> ops.cast([1.7, -1.7], "int32").numpy().tolist()
    [1, -1]
    """
    return tf.cast(convert(x), backend.standardize_dtype(dtype))


@keras_op
def saturate_cast(x, dtype):
    """`x` converted to `dtype`, clamping values to its range first."""
    return tf.saturate_cast(convert(x), backend.standardize_dtype(dtype))


def dtype(x):
    """The dtype name of `x` ("float32").

    >>> from tensorflux.keras import ops
    >>> ops.dtype(ops.ones((2,)))
    'float32'
    """
    if isinstance(x, KerasTensor):
        return x.dtype
    return backend.standardize_dtype(convert(x).dtype)


def shape(x):
    """The shape of `x` as a tuple: ints, or for a dimension unknown until run time a scalar
    tensor (and None for a KerasTensor's unknown dimensions).

    >>> from tensorflux.keras import ops
    >>> ops.shape(ops.zeros((2, 3)))
    (2, 3)
    """
    if isinstance(x, KerasTensor):
        return x.shape
    x = convert(x)
    dims = static_shape(x)
    if None not in dims:
        return dims
    dynamic = tf.shape(x)
    return tuple(dynamic[i] if d is None else d for i, d in enumerate(dims))


@keras_op
def stop_gradient(variable):
    """`variable` itself, with no gradient flowing back through it."""
    return tf.stop_gradient(convert(variable))


@keras_op
def unstack(x, num=None, axis=0):
    """The slices of `x` along `axis`, as a list."""
    return tf.unstack(convert(x), num=num, axis=axis)


def cond(pred, true_fn, false_fn):
    """`true_fn()` if `pred` else `false_fn()`; one graph node when traced.

    >>> from tensorflux.keras import ops
    >>> float(ops.cond(ops.convert_to_tensor(True), lambda: 1.0, lambda: 2.0))
    1.0
    """
    return tf.cond(pred, true_fn, false_fn)


@keras_op
def while_loop(cond, body, loop_vars, maximum_iterations=None):
    """Repeats `loop_vars = body(*loop_vars)` while `cond(*loop_vars)`; a single (non-tuple)
    `loop_vars` is passed and returned as itself, as in Keras.

    >>> from tensorflux.keras import ops
    >>> int(ops.while_loop(lambda i: i < 10, lambda i: i + 3, 0))
    12
    """
    is_tuple = isinstance(loop_vars, (tuple, list))
    loop_vars = tuple(loop_vars) if is_tuple else (loop_vars,)
    loop_vars = tuple(convert(v) if isinstance(v, (int, float)) else v for v in loop_vars)

    def wrapped_body(*args):
        outputs = body(*args)
        return tuple(outputs) if is_tuple else (outputs,)

    outputs = tf.while_loop(cond, wrapped_body, loop_vars,
                            maximum_iterations=maximum_iterations)
    return tuple(outputs) if is_tuple else outputs[0]


def fori_loop(lower, upper, body_fun, init_val):
    """`init_val` updated by `body_fun(i, value)` for i in [lower, upper).

    >>> from tensorflux.keras import ops
    >>> float(ops.fori_loop(0, 4, lambda i, v: v + 1.5, 0.0))
    6.0
    """
    if isinstance(lower, int) and isinstance(upper, int) and tf.executing_eagerly():
        # Eagerly a Python loop, as Keras's eager backends: `i` stays a Python int, so a body
        # like `acc + i` on a float accumulator does not mix tensor dtypes.
        for i in range(lower, upper):
            init_val = body_fun(i, init_val)
        return init_val

    def body(i, value):
        return i + 1, body_fun(i, value)

    def keep_going(i, value):
        return i < upper

    return while_loop(keep_going, body, (lower, init_val))[1]


def switch(index, branches, *operands):
    """`branches[index](*operands)`, with `index` clamped to the valid range.

    >>> from tensorflux.keras import ops
    >>> float(ops.switch(1, [lambda x: x + 1.0, lambda x: x * 10.0], 2.0))
    20.0
    """
    last = len(branches) - 1
    static = tf.get_static_value(index) if isinstance(index, _TensorLike) else index
    if static is not None:
        return branches[max(0, min(int(static), last))](*operands)
    index = tf.clip_by_value(tf.cast(index, "int32"), 0, last)
    return _switch_from(index, branches, operands, 0)


def _switch_from(index, branches, operands, first):
    if first == len(branches) - 1:
        return branches[first](*operands)
    return tf.cond(tf.equal(index, first), lambda: branches[first](*operands),
                   lambda: _switch_from(index, branches, operands, first + 1))


@keras_op
def map(f, xs):  # noqa: A001 - Keras's name
    """`f` applied to each slice of `xs` (a tensor or a nested structure of tensors) along
    the first axis, the results (of any structure) stacked.

    >>> from tensorflux.keras import ops
    >>> ops.map(lambda d: d["a"] * d["b"], {"a": ops.ones((2,)), "b": ops.arange(2.0)}).numpy()
    array([0., 1.], dtype=float32)
    """
    return _map_rows(f, xs, "map")


@keras_op
def vectorized_map(function, elements):
    """`function` applied to each slice of `elements` (a tensor or a nested structure of
    tensors) along the first axis, results stacked (a loop here)."""
    return _map_rows(function, elements, "vectorized_map")


def _map_rows(f, xs, op):
    row = _spec_row(xs)
    if row is not None:
        return _spec_rows(f(row))
    flat = _unknown_length(xs)
    if flat is not None:
        return rows_loop(op, lambda carry, x: (carry, f(x)), (), xs, flat)[1]
    return _stack_structure([f(x) for x in _slices(xs, op)])


def _unknown_length(xs):
    """The flat tensors of `xs` when they are traced (in a tf.function) with a first
    dimension known only when it runs, which a tf.while_loop then steps through; else None."""
    if tf.executing_eagerly():
        return None
    flat = [convert(x) for x in tf.nest.flatten(xs)]
    if not flat or any(static_shape(x)[:1] != (None,) for x in flat):
        return None
    return flat


def _spec_row(xs):
    """While a layer's output spec is worked out on keras.Input placeholders (batch size
    unknown, and nothing of that throwaway graph runs), the first row of `xs`: one step gives
    the spec. Otherwise None."""
    if not trace_state.depth:
        return None
    flat = [convert(x) for x in tf.nest.flatten(xs)]
    if not any(static_shape(x)[:1] == (None,) for x in flat):
        return None
    return tf.nest.pack_sequence_as(xs, [x[0] for x in flat])


def _spec_rows(ys):
    return tf.nest.map_structure(lambda y: None if y is None else _rows_of(convert(y)), ys)


def _rows_of(row):
    """A placeholder for an unknown number of rows like `row`, in the graph being traced."""
    from tensorflux.context import context

    return context.graph.placeholder([None] + list(static_shape(row)), row.dtype)


def _slices(xs, op):
    """The slices of the tensors of structure `xs` along their first axis, each slice
    packed in the structure of `xs`."""
    flat = [convert(x) for x in tf.nest.flatten(xs)]
    lengths = {static_shape(x)[0] if static_shape(x) else None for x in flat}
    if len(lengths) != 1 or None in lengths:
        raise ValueError(f"{op}: the tensors of `xs` must share a known first dimension to "
                         f"slice along; received shapes {[static_shape(x) for x in flat]}")
    columns = [tf.unstack(x) for x in flat]
    return [tf.nest.pack_sequence_as(xs, list(items)) for items in zip(*columns)]


def _stack_structure(outputs):
    """The per-step `outputs` (each one structure) stacked leaf by leaf; None stays None."""
    if not outputs:
        raise ValueError("Cannot stack the results of zero steps: the input has length 0.")
    return tf.nest.map_structure(
        lambda *ys: None if ys[0] is None else tf.stack([convert(y) for y in ys]), *outputs)


@keras_op
def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """(final carry, stacked outputs) of `carry, y = f(carry, x)` over `xs` (a tensor or a
    nested structure of tensors; or `length` steps with x None), as JAX's lax.scan."""
    if xs is None:
        if length is None:
            raise ValueError("scan: give `xs` or `length`; both are None.")
        items = [None] * int(length)
    elif _spec_row(xs) is not None:
        carry, y = f(init, _spec_row(xs))
        return carry, _spec_rows(y)
    else:
        flat = _unknown_length(xs)
        if flat is not None:
            return rows_loop("scan", f, init, xs, flat, reverse=reverse)
        items = _slices(xs, "scan")
        if length is not None and int(length) != len(items):
            raise ValueError(f"scan: `length` is {length} but `xs` has {len(items)} steps.")
    if reverse:
        items = items[::-1]
    carry, ys = init, []
    for x in items:
        carry, y = f(carry, x)
        ys.append(y)
    if reverse:
        ys = ys[::-1]
    return carry, _stack_structure(ys) if ys else None


@keras_op
def associative_scan(f, elems, reverse=False, axis=0):
    """The running combinations [a, f(a, b), f(f(a, b), c), ...] of `elems` along `axis` (a
    tensor or a nested structure of tensors of one length there), for an associative `f`:
    log2(length) rounds, each combining every entry with the one `shift` places earlier.

    >>> from tensorflux.keras import ops
    >>> ops.associative_scan(lambda a, b: a + b, ops.arange(1, 5)).numpy().tolist()
    [1, 3, 6, 10]
    """
    if not callable(f):
        raise TypeError(f"associative_scan: `f` must be callable; received {f!r}")
    flat = [convert(x) for x in tf.nest.flatten(elems)]
    lengths = {static_shape(x)[axis] for x in flat}
    if len(lengths) != 1:
        raise ValueError("associative_scan: the tensors of `elems` must have one length "
                         f"along axis {axis}; received shapes "
                         f"{[static_shape(x) for x in flat]}")
    length = lengths.pop()
    if length is None:
        raise ValueError(f"associative_scan needs the length along axis {axis} known; "
                         f"received shapes {[static_shape(x) for x in flat]}")
    if reverse:
        flat = [tf.reverse(x, [axis]) for x in flat]

    def part(x, start, stop):
        index = [builtins.slice(None)] * len(static_shape(x))
        index[axis] = builtins.slice(start, stop)
        return x[tuple(index)]

    shift = 1
    while shift < length:
        earlier = tf.nest.pack_sequence_as(elems, [part(x, 0, length - shift) for x in flat])
        later = tf.nest.pack_sequence_as(elems, [part(x, shift, length) for x in flat])
        combined = [convert(c) for c in tf.nest.flatten(f(earlier, later))]
        flat = [tf.concat([part(x, 0, shift), c], axis=axis) for x, c in zip(flat, combined)]
        shift *= 2
    if reverse:
        flat = [tf.reverse(x, [axis]) for x in flat]
    return tf.nest.pack_sequence_as(elems, flat)


@keras_op
def scatter(indices, values, shape):
    """A zero tensor of `shape` with `values` added at `indices` (duplicates accumulate)."""
    return tf.scatter_nd(convert(indices), convert(values), list(shape))


_SCATTER_REDUCTIONS = {"add": tf.tensor_scatter_nd_add, "max": tf.tensor_scatter_nd_max,
                       "min": tf.tensor_scatter_nd_min}


@keras_op
def scatter_update(inputs, indices, updates, reduction=None):
    """`inputs` with the entries at `indices` replaced by `updates` (reduction=None), or
    combined with them where several updates meet one entry: "add", "max", "min", "mul".

    >>> from tensorflux.keras import ops
    >>> ops.scatter_update([0.0, 0.0], [[0], [0]], [2.0, 3.0], reduction="add").numpy().tolist()
    [5.0, 0.0]
    """
    if reduction is not None:
        if not isinstance(reduction, str) or reduction.lower() not in ("add", "max", "min",
                                                                      "mul"):
            raise ValueError(f"scatter_update: reduction must be None, 'add', 'max', 'min' or "
                             f"'mul'. Received: reduction={reduction!r}")
        reduction = reduction.lower()
    inputs = convert(inputs)
    indices, updates = convert(indices), convert(updates, inputs.dtype)
    if reduction is None:
        return tf.tensor_scatter_nd_update(inputs, indices, updates)
    if reduction != "mul":
        return _SCATTER_REDUCTIONS[reduction](inputs, indices, updates)
    # The product of the updates meeting each entry (their segments: the entries' row-major
    # positions among the first k axes), times the entry.
    depth = static_shape(indices)[-1]
    shape = tf.shape(inputs, out_type=tf.int64)
    lead = shape[:depth]
    strides = tf.math.cumprod(lead, exclusive=True, reverse=True)
    positions = tf.reduce_sum(tf.cast(indices, tf.int64) * strides, axis=-1)
    factors = tf.math.unsorted_segment_prod(updates, positions, tf.reduce_prod(lead))
    return inputs * tf.reshape(factors, shape)


@keras_op
def slice(inputs, start_indices, shape):  # noqa: A001 - Keras's name
    """The block of `inputs` of size `shape` starting at `start_indices`."""
    return tf.slice(convert(inputs), list(start_indices), list(shape))


@keras_op
def slice_update(inputs, start_indices, updates):
    """`inputs` with the block starting at `start_indices` replaced by `updates`.

    >>> from tensorflux.keras import ops
    >>> ops.slice_update(ops.zeros((4,)), (1,), ops.ones((2,))).numpy().tolist()
    [0.0, 1.0, 1.0, 0.0]
    """
    inputs = convert(inputs)
    updates = convert(updates, inputs.dtype)
    starts = [int(s) for s in start_indices]
    paddings = [[s, n - s - u] for s, n, u in zip(starts, static_shape(inputs),
                                                  static_shape(updates))]
    inside = tf.pad(tf.ones_like(updates, dtype="bool"), paddings, constant_values=False)
    return tf.where(inside, tf.pad(updates, paddings), inputs)


def custom_gradient(f):
    """Decorates `f(*x) -> (y, grad_fn)` so gradients of y use grad_fn (TensorFlow's form,
    `grad_fn(upstream)`)."""
    return tf.custom_gradient(f)
