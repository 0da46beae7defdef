"""Higher-order control flow and execution helpers: tf.map_fn, tf.scan, tf.switch_case,
tf.py_function / tf.numpy_function, tf.name_scope, tf.control_dependencies,
tf.executing_eagerly."""

import functools

from tensorflux import dtypes, errors, nest
from tensorflux.composite_tensor import CompositeTensor, TypeSpec
from tensorflux.context import context
from tensorflux.graph.control_flow import cond
from tensorflux.ops import array, indexing, math
from tensorflux.ops._core import aval
from tensorflux.tensor import Tensor, TensorShape, TensorSpec, _TensorLike, convert_to_tensor

__all__ = ["executing_eagerly", "name_scope", "control_dependencies", "switch_case", "map_fn",
           "scan", "py_function", "numpy_function"]


def executing_eagerly():
    """False while a tf.function is being traced, True otherwise.

    >>> import tensorflux as tf
    >>> tf.executing_eagerly()
    True
    """
    return context.graph is None


# ------------------------------------------------------------------ naming and ordering

class name_scope:  # noqa: N801 - TensorFlow's name
    """A context manager naming a scope; entering it gives the full scope name ("a/b/").

    Names only: tensorflux ops do not carry scoped names; a tf.Variable made inside takes
    the scope as its name's prefix, as in TF ("outer/inner/v:0").

    >>> import tensorflux as tf
    >>> with tf.name_scope("outer"):
    ...     with tf.name_scope("inner") as scope:
    ...         scope
    'outer/inner/'
    """

    def __init__(self, name):
        if name is not None and not isinstance(name, str):
            raise ValueError(f"name_scope: name must be a string, received {name!r}")
        self._name = name
        self._previous = None

    @property
    def name(self):
        return self._name

    def __enter__(self):
        stack = context.name_scope
        self._previous = stack
        if not self._name:
            scope = ""
        elif self._name.endswith("/"):
            scope = self._name  # an absolute scope, as TF treats a trailing slash
        else:
            scope = f"{stack}{self._name}/"
        context.name_scope = scope
        return scope

    def __exit__(self, *exc):
        context.name_scope = self._previous
        return False


class control_dependencies:  # noqa: N801 - TensorFlow's name
    """A context manager that orders ops after `control_inputs` in a graph.

    Eagerly ops run in program order, and in a traced tensorflux graph stateful ops
    (assignments, prints, asserts) keep their program order too, so this is a no-op
    kept for code written for TensorFlow.
    """

    def __init__(self, control_inputs):
        if control_inputs is not None and not isinstance(control_inputs, (list, tuple)) \
                and not callable(control_inputs):
            raise TypeError("control_dependencies: control_inputs must be a list of tensors or "
                            f"operations, received {type(control_inputs).__name__}")
        self.control_inputs = control_inputs

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


# ------------------------------------------------------------------ switch_case

def switch_case(branch_index, branch_fns, default=None, name="switch_case"):
    """Runs branch_fns[branch_index]() (default, or the last branch, when out of range).

    branch_fns is a list of callables, a dict {int: callable} or a list of (int, callable).

    >>> import tensorflux as tf
    >>> int(tf.switch_case(tf.constant(1), [lambda: tf.constant(10), lambda: tf.constant(20)]))
    20
    """
    if not isinstance(branch_index, _TensorLike):
        raise TypeError(f"'branch_index' must be a Tensor, got {type(branch_index)}")
    if not branch_index.dtype.is_integer or branch_index.shape.rank not in (0, None):
        raise errors.InvalidArgumentError(
            f"switch_case: branch_index must be a scalar integer tensor, received shape "
            f"{branch_index.shape} and dtype {branch_index.dtype.name}", "switch_case")
    pairs = _branches(branch_fns)
    fallback = default if default is not None else pairs[-1][1]
    if branch_index._value is not None:
        index = int(branch_index)
        return dict(pairs).get(index, fallback)()

    def chain(k):
        if k == len(pairs):
            return fallback()
        key, fn = pairs[k]
        return cond(math.equal(branch_index, key), fn, lambda: chain(k + 1))
    return chain(0)


def _branches(branch_fns):
    if isinstance(branch_fns, dict):
        pairs = sorted(branch_fns.items())
    elif isinstance(branch_fns, (list, tuple)) and branch_fns and \
            all(isinstance(b, tuple) and len(b) == 2 for b in branch_fns):
        pairs = sorted(branch_fns, key=lambda b: b[0])
    elif isinstance(branch_fns, (list, tuple)):
        pairs = list(enumerate(branch_fns))
    else:
        raise TypeError(f"switch_case: branch_fns must be a list, tuple or dict, received "
                        f"{type(branch_fns).__name__}")
    if not pairs:
        raise ValueError("switch_case: branch_fns must not be empty")
    for key, fn in pairs:
        if not isinstance(key, int) or not callable(fn):
            raise TypeError(f"switch_case: each branch must be an int key and a callable, "
                            f"received {key!r}: {fn!r}")
    return pairs


# ------------------------------------------------------------------ map_fn and scan

def _rows(op, elems):
    """The flat tensors of elems (RaggedTensors and SparseTensors kept as they are: fn gets
    their rows) and their common leading size: an int, or None when it is known only when
    the traced function runs."""
    flat = [e if isinstance(e, (_TensorLike, CompositeTensor)) else convert_to_tensor(e)
            for e in nest.flatten(elems)]
    if not flat:
        raise ValueError(f"{op}: elems must contain at least one tensor")
    if any(t.shape.rank == 0 for t in flat):
        raise ValueError(f"{op}: elems must be tensors of rank >= 1 (unstacked on axis 0), "
                         f"received shapes {[t.shape for t in flat]}")
    sizes = {t.shape[0] if t.shape.rank else None for t in flat}
    known = sizes - {None}
    if len(known) > 1:
        raise ValueError(f"{op}: every tensor of elems must have the same first dimension; "
                         f"received shapes {[t.shape for t in flat]}")
    if None not in sizes:
        return flat, known.pop()
    if any(isinstance(t, CompositeTensor) for t in flat):
        raise errors.UnimplementedError(
            f"{op}: a RaggedTensor or SparseTensor in elems needs a known number of rows "
            f"when traced; received shapes {[t.shape for t in flat]}", op)
    return flat, None


def _element(elems, flat, i):
    return nest.pack_sequence_as(
        elems, [t._row(i) if isinstance(t, CompositeTensor) else t[i] for t in flat])


def _conformed(op, value, signature):
    """fn's result converted to fn_output_signature's dtypes (a DType or TensorSpec per leaf)."""
    if signature is None:
        return nest.map_structure(lambda v: v if isinstance(v, _TensorLike) else
                                  convert_to_tensor(v), value)
    specs = nest.flatten(signature)
    leaves = nest.flatten(value)
    if len(specs) != len(leaves):
        raise ValueError(f"{op}: fn returned {len(leaves)} values but fn_output_signature "
                         f"describes {len(specs)}")
    out = []
    for leaf, spec in zip(leaves, specs):
        dtype = spec.dtype if isinstance(spec, (TensorSpec, TypeSpec)) else dtypes.as_dtype(
            spec)
        if isinstance(leaf, (_TensorLike, CompositeTensor)):
            if leaf.dtype is not dtype:
                raise TypeError(f"{op}: fn returned a {leaf.dtype.name} tensor where "
                                f"fn_output_signature says {dtype.name}")
        else:
            leaf = convert_to_tensor(leaf, dtype=dtype)
        out.append(leaf)
    return nest.pack_sequence_as(value, out)


def _element_signature(elems):
    """TF's fn_output_signature when none is given and elems hold RaggedTensors: the spec of
    one element of elems (a RaggedTensor's row is a RaggedTensorSpec one ragged_rank lower),
    so that tf.map_fn(tf.square, rt) stacks rows of any length into a RaggedTensor again.
    None (fn's results decide) when elems are all dense, as before."""
    leaves = nest.flatten(elems)
    if not any(isinstance(v, CompositeTensor) and hasattr(v, "ragged_rank") for v in leaves):
        return None

    def spec(value):
        if isinstance(value, CompositeTensor) and hasattr(value, "ragged_rank"):
            return type(value._type_spec)(value.shape[1:], value.dtype, value.ragged_rank - 1,
                                          value.row_splits_dtype)
        return TensorSpec(value.shape[1:], value.dtype)
    return nest.map_structure(spec, elems)


def _stack_results(op, results, signature, empty_template):
    if not results:
        return nest.map_structure(
            lambda spec: array.zeros([0] + _known_dims(spec), _spec_dtype(spec)),
            empty_template)
    flat = [nest.flatten(r) for r in results]
    # A RaggedTensorSpec (or SparseTensorSpec) in the signature stacks the rows as one
    # composite, so that fn may return rows of different lengths.
    specs = nest.flatten(signature) if signature is not None else []
    specs = specs if len(specs) == len(flat[0]) else [None] * len(flat[0])
    for k, spec in enumerate(specs):
        shapes = {tuple(row[k].shape) for row in flat if row[k].shape.is_fully_defined()}
        if not isinstance(spec, TypeSpec) and len(shapes) > 1:
            raise ValueError(f"{op}: fn returned results of different shapes "
                             f"{sorted(shapes, key=str)} for different elements; to stack "
                             "rows of different lengths, pass fn_output_signature="
                             "tf.RaggedTensorSpec(...)")
    stacked = [spec._stack([row[k] for row in flat]) if isinstance(spec, TypeSpec) else
               array.stack([row[k] for row in flat]) for k, spec in enumerate(specs)]
    return nest.pack_sequence_as(results[0], stacked)


def _spec_dtype(spec):
    return spec.dtype if isinstance(spec, (TensorSpec, _TensorLike)) else dtypes.as_dtype(spec)


def _known_dims(spec):
    shape = spec.shape if isinstance(spec, (TensorSpec, _TensorLike)) else TensorShape([])
    return [0 if d is None else d for d in shape] if shape.rank is not None else []


def map_fn(fn, elems, dtype=None, parallel_iterations=None, back_prop=True,
           swap_memory=False, infer_shape=True, name=None, fn_output_signature=None):
    """fn applied to each slice of elems along axis 0, the results stacked.

    elems may be a nested structure of tensors of one first dimension; fn then receives the
    structure of slices. fn_output_signature (a DType, TensorSpec or structure of them) gives
    the result's dtypes when they differ from elems'. In a traced function the loop is
    unrolled when the first dimension is known (faster to run), and a tf.while_loop when it
    is not; fn's results then need a known rank.

    >>> import tensorflux as tf
    >>> tf.map_fn(lambda x: x * 2, tf.constant([1, 2, 3])).numpy().tolist()
    [2, 4, 6]
    """
    if not callable(fn):
        raise TypeError(f"map_fn: fn must be callable, received {fn!r}")
    signature = fn_output_signature if fn_output_signature is not None else dtype
    if signature is None:
        signature = _element_signature(elems)
    flat, count = _rows("map_fn", elems)
    if count is None:
        if any(isinstance(spec, TypeSpec) and not isinstance(spec, TensorSpec)
               for spec in nest.flatten(signature)):
            raise errors.UnimplementedError(
                "map_fn: a RaggedTensorSpec or SparseTensorSpec fn_output_signature needs a "
                f"first dimension known when traced; elems have shapes "
                f"{[t.shape for t in flat]}", "map_fn")

        def step(carry, row):
            return carry, _conformed("map_fn", fn(row), signature)
        result = rows_loop("map_fn", step, (), elems, flat)[1]
    else:
        results = [_conformed("map_fn", fn(_element(elems, flat, i)), signature)
                   for i in range(count)]
        template = signature if signature is not None else nest.map_structure(
            lambda t: TensorSpec(t.shape[1:], t.dtype), elems)
        result = _stack_results("map_fn", results, signature, template)
    if back_prop:
        return result
    return nest.map_structure(
        lambda v: array.stop_gradient(v) if isinstance(v, _TensorLike) else v, result)


def scan(fn, elems, initializer=None, parallel_iterations=10, back_prop=True,
         swap_memory=False, infer_shape=True, reverse=False, name=None):
    """The running accumulation a = fn(a, x) over the slices x of elems (along axis 0),
    each step's `a` stacked. Without initializer the first slice starts the accumulation.
    Traced, the loop is unrolled when the first dimension is known, else a tf.while_loop.

    >>> import tensorflux as tf
    >>> tf.scan(lambda a, x: a + x, tf.constant([1, 2, 3, 4])).numpy().tolist()
    [1, 3, 6, 10]
    """
    if not callable(fn):
        raise TypeError(f"scan: fn must be callable, received {fn!r}")
    flat, count = _rows("scan", elems)
    if count is None:
        return _scan_loop(fn, elems, flat, initializer, reverse)
    order = list(range(count))[::-1] if reverse else list(range(count))
    results = []
    if initializer is None:
        if not count:
            raise ValueError("scan: elems is empty and there is no initializer")
        accumulator = _element(elems, flat, order[0])
        results.append(accumulator)
        order = order[1:]
    else:
        accumulator = nest.map_structure(
            lambda v: v if isinstance(v, _TensorLike) else convert_to_tensor(v), initializer)
    for i in order:
        accumulator = _conformed("scan", fn(accumulator, _element(elems, flat, i)), None)
        previous = results[0] if results else initializer
        if len(nest.flatten(accumulator)) != len(nest.flatten(previous)):
            raise ValueError(f"scan: fn must return the structure of its accumulator "
                             f"({previous!r}), received {accumulator!r}")
        results.append(accumulator)
    if reverse:
        results = results[::-1]
    template = nest.map_structure(lambda t: TensorSpec(t.shape, t.dtype), accumulator)
    return _stack_results("scan", results, None, template)


def _scan_loop(fn, elems, flat, initializer, reverse):
    """tf.scan over elems whose first dimension is unknown until the traced function runs."""
    count = array.shape(flat[0])[0]
    first = None
    if initializer is None:
        # The first row (the last when reversed) starts the accumulation and the results.
        first = count - 1 if reverse else convert_to_tensor(0)
        initializer = nest.pack_sequence_as(elems, [t[first] for t in flat])
    initializer = nest.map_structure(
        lambda v: v if isinstance(v, _TensorLike) else convert_to_tensor(v), initializer)
    dtypes_in = [v.dtype for v in nest.flatten(initializer)]

    def step(accumulator, row):
        result = fn(accumulator, row)
        leaves = nest.flatten(result)
        if len(leaves) != len(dtypes_in):
            raise ValueError(f"scan: fn must return the structure of its accumulator "
                             f"({initializer!r}), received {result!r}")
        leaves = [v if isinstance(v, _TensorLike) else convert_to_tensor(v, dtype=d)
                  for v, d in zip(leaves, dtypes_in)]
        result = nest.pack_sequence_as(initializer, leaves)
        return result, result

    _, stacked = rows_loop("scan", step, initializer, elems, flat, reverse=reverse,
                           skip_first=first is not None, first=initializer)
    return stacked


def rows_loop(op, step, carry, elems, flat, reverse=False, skip_first=False, first=None):
    """`carry, out = step(carry, row)` for each row of elems (flattened: `flat`, whose first
    dimension is unknown when traced) as one tf.while_loop, the outs stacked (a None out
    stays None). Returns (final carry, stacked outs in row order).

    skip_first: the first row taken (the last when reversed) is not stepped; `first` (the
    structure of the outs) is its out. step is traced once more beforehand, on placeholders,
    to learn the outs' structure, dtypes and shapes."""
    from tensorflux.graph.control_flow import _trace_subgraph, while_loop

    structure = []

    def probe(*leaves):
        rows = nest.pack_sequence_as(elems, list(leaves[n_carry:]))
        _, out = step(nest.pack_sequence_as(carry, list(leaves[:n_carry])), rows)
        structure.append(out)
        return [v for v in nest.flatten(out) if v is not None]

    carry = nest.map_structure(
        lambda v: v if isinstance(v, _TensorLike) else convert_to_tensor(v), carry)
    carry_leaves = nest.flatten(carry)
    n_carry = len(carry_leaves)
    avals = ([aval(c.shape, c.dtype) for c in carry_leaves]
             + [aval(t.shape[1:], t.dtype) for t in flat])
    graph, _ = _trace_subgraph(probe, avals, f"{op}_spec")
    out_structure = structure[0]
    for out in graph.outputs:
        if out.shape.rank is None:
            raise errors.UnimplementedError(
                f"{op}: over a first dimension unknown when traced, fn's results need a known "
                f"rank; give the result its shape (x.set_shape(...) or tf.ensure_shape, as for "
                f"a tf.py_function result)", op)
    count = array.shape(flat[0])[0]
    results = [_unwritten(out, count) for out in graph.outputs]
    if reverse:
        start, stop, stride = count - 1, -1, -1
    else:
        start, stop, stride = convert_to_tensor(0), count, 1
    first_index = start
    if skip_first:
        results = [_put(r, start, v, first_index, reverse)
                   for r, v in zip(results, nest.flatten(first))]
        start = start + stride

    def keep_going(i, carry_now, written):
        return math.not_equal(i, stop)

    def body(i, carry_now, written):
        row = nest.pack_sequence_as(elems, [t[i] for t in flat])
        carry_next, out = step(carry_now, row)
        outs = [v for v in nest.flatten(out) if v is not None]
        return i + stride, carry_next, [_put(r, i, v, first_index, reverse)
                                        for r, v in zip(written, outs)]

    _, carry, results = while_loop(keep_going, body, [start, carry, results])
    stacked = iter(results)
    # (None outs, which Keras's scan allows, stay None)
    return carry, nest.pack_sequence_as(
        out_structure, [None if v is None else next(stacked) for v in nest.flatten(out_structure)])


def _unwritten(out, count):
    """What the rows of an out (a tensor of the probe trace) are written into: [count, *shape]
    when its shape is fully known, each row replaced in turn (a copy per step, where a
    growing array would concatenate); else an empty tensor, which the first row replaces and
    the others join."""
    empty = convert_to_tensor(b"" if out.dtype is dtypes.string else 0, dtype=out.dtype)
    if out.shape.is_fully_defined():
        dims = convert_to_tensor(list(out.shape), dtypes.int32)
        return array.fill(array.concat([array.reshape(count, [1]), dims], 0), empty)
    result = array.identity(array.fill([0] * (out.shape.rank + 1), empty))
    result._shape = TensorShape([None]).concatenate(out.shape)  # (the loop's shape invariant)
    return result


def _put(result, i, value, first_index, reverse):
    """result with row i set to value (see _unwritten); rows come in order from first_index,
    downwards when reverse."""
    value = value if isinstance(value, _TensorLike) else convert_to_tensor(value, result.dtype)
    row = array.expand_dims(value, 0)
    if result.shape[1:].is_fully_defined():
        return indexing.tensor_scatter_nd_update(result, array.reshape(i, [1, 1]), row)
    joined = [row, result] if reverse else [result, row]
    return cond(math.equal(i, first_index), lambda: row, lambda: array.concat(joined, 0))


# ------------------------------------------------------------------ host Python calls

def py_function(func=None, inp=None, Tout=None, name=None):  # noqa: N803 - TF's name
    """Calls the Python function func(*inp) on eager tensors and returns its results as
    tensors of the dtypes Tout (a DType, a list of them, or None for no result). Without
    func, it is a decorator, as TF's: `@tf.py_function(Tout=tf.float32)`.

    Eagerly func just runs (a GradientTape sees its ops). Inside a tf.function it runs as a
    host callback each time the graph runs; its results then have unknown shapes, and no
    gradient flows through it.

    >>> import tensorflux as tf
    >>> float(tf.py_function(lambda x: x * 2.0, [tf.constant(2.0)], Tout=tf.float32))
    4.0
    """
    if func is None:
        return _host_decorator("py_function", inp, Tout, numpy_inputs=False)
    return _host_call("py_function", func, _required_inp("py_function", inp), Tout,
                      numpy_inputs=False)


def numpy_function(func=None, inp=None, Tout=None, stateful=True, name=None):  # noqa: N803
    """Like py_function, but func receives and returns NumPy arrays; no gradient. Without
    func, it is a decorator, as TF's: `@tf.numpy_function(Tout=tf.float32)`.

    >>> import tensorflux as tf
    >>> float(tf.numpy_function(lambda x: x * 2, [tf.constant(2.0)], Tout=tf.float32))
    4.0
    """
    if func is None:
        return _host_decorator("numpy_function", inp, Tout, numpy_inputs=True)
    return _host_call("numpy_function", func, _required_inp("numpy_function", inp), Tout,
                      numpy_inputs=True)


def _required_inp(op, inp):
    if inp is None:
        raise TypeError(f"{op}: missing argument inp (the list of func's arguments); only "
                        f"the decorator form, {op}(Tout=...), leaves func and inp out")
    return inp


def _host_decorator(op, inp, tout, numpy_inputs):
    """`@tf.py_function(Tout=...)`: the decorated function, called with tensors, runs as
    py_function(func, inp=its arguments, Tout)."""
    if inp is not None:
        raise TypeError(f"{op}: as a decorator (func=None) it takes no inp; received "
                        f"inp={inp!r}")
    if tout is None:
        raise TypeError(f"{op}: as a decorator (func=None) it needs Tout by name: "
                        f"@tf.{op}(Tout=...)")

    def decorator(func):
        @functools.wraps(func)
        def wrapper(*args):
            return _host_call(op, func, list(args), tout, numpy_inputs)
        return wrapper
    return decorator


def _host_call(op, func, inp, tout, numpy_inputs):
    if not callable(func):
        raise TypeError(f"{op}: func must be callable, received {func!r}")
    inputs = [x if isinstance(x, _TensorLike) else convert_to_tensor(x)
              for x in (inp if isinstance(inp, (list, tuple)) else [inp])]
    single = tout is not None and not isinstance(tout, (list, tuple))
    touts = [] if tout is None else [dtypes.as_dtype(t) for t in ([tout] if single else tout)]
    if context.graph is None:
        args = [_host_value(x, numpy_inputs) for x in inputs]
        results = _converted(op, func(*args), touts)
    else:
        results = list(_trace_host_call(op, func, inputs, touts, numpy_inputs))
    if tout is None:
        return None
    return results[0] if single else results


def _host_value(x, numpy_inputs):
    if numpy_inputs:
        return x.numpy()
    return x.read_value() if not isinstance(x, Tensor) else x


def _converted(op, value, touts):
    values = [] if value is None else (list(value) if isinstance(value, (list, tuple))
                                       else [value])
    if len(values) != len(touts):
        raise errors.InvalidArgumentError(
            f"{op}: func returned {len(values)} values but Tout lists {len(touts)} dtypes", op)
    out = []
    for v, dtype in zip(values, touts):
        if isinstance(v, _TensorLike):
            if v.dtype is not dtype:
                raise errors.InvalidArgumentError(
                    f"{op}: func returned a {v.dtype.name} tensor where Tout says "
                    f"{dtype.name}", op)
            out.append(v if isinstance(v, Tensor) else v.read_value())
        else:
            out.append(convert_to_tensor(v, dtype=dtype))
    return out


class _NoGradient:
    """Stands for a cond branch where gradients would be asked of a host call."""

    def __init__(self, op):
        self.op = op

    def interpret(self, inputs, captured):
        raise errors.UnimplementedError(
            f"{self.op}: no gradient flows through a Python function called inside a "
            "tf.function in tensorflux; call it eagerly (or use tf.custom_gradient)", self.op)


class _HostCallback:
    """What the graph runs for a traced py_function: the `branches` of a stateful cond node
    whose kernel hands its input arrays to this callable (an always-true predicate), which
    calls the Python function on them."""

    def __init__(self, op, func, touts, numpy_inputs):
        self.op, self.func, self.touts, self.numpy_inputs = op, func, touts, numpy_inputs
        self.avals = tuple(aval(TensorShape(None), t) for t in touts)
        self.true = self.false = _NoGradient(op)
        self.__name__ = f"{op}:{getattr(func, '__name__', 'func')}"

    def __call__(self, pred, arrays):
        args = [_host_value(Tensor(a), self.numpy_inputs) for a in arrays]
        saved = context.graph
        context.graph = None  # the function runs eagerly even if called during a trace
        try:
            results = _converted(self.op, self.func(*args), self.touts)
        finally:
            context.graph = saved
        return tuple(r._value for r in results)

    def __repr__(self):
        return f"<host call {self.__name__}>"


def _trace_host_call(op, func, inputs, touts, numpy_inputs):
    from tensorflux.graph.control_flow import _stateful_cond

    always = convert_to_tensor(True)
    return _stateful_cond.bind(always, *inputs,
                               branches=_HostCallback(op, func, touts, numpy_inputs))
