"""AutoGraph's runtime: what converted code (tensorflux.autograph.transformer) calls in place
of if/while/for statements, `and`/`or`/`not` and conditional expressions. Each helper runs
plain Python unless its condition or iterable is a symbolic tensor of the graph being traced;
then it stages tf.cond or tf.while_loop over the statement's body functions, carrying the
variables the statement changes through get_state/set_state, and checks that they keep
their dtypes, shapes and structures, with TensorFlow's messages.

Eager tensors count as Python values here: code that never branches on a traced tensor
traces to the graph it traced to before conversion. A `for` over a tf.data Dataset (or an
iterator over one) is staged too, as TF does: a loop that reads the data each run.
"""

import sys

from tensorflux import dtypes, nest
from tensorflux.autograph.impl import converted_call  # noqa: F401 - called by converted code
from tensorflux.context import context
from tensorflux.graph.control_flow import _fits, _same_structure, cond, while_loop
from tensorflux.graph.function import _flatten, _pack
from tensorflux.graph.ir import Graph, SymbolicTensor
from tensorflux.ops import array, indexing, math
from tensorflux.tensor import TensorSpec, _TensorLike, convert_to_tensor
from tensorflux.tensor_shape import TensorShape
from tensorflux.variable import Variable

_LIMITATIONS = ("See https://github.com/tensorflow/tensorflow/blob/master/tensorflow/python/"
                "autograph/g3doc/reference/limitations.md"
                "#consistency-of-control-flow-types for more info.")


# ------------------------------------------------------------------ undefined values

class Undefined:
    """What a variable holds before its first assignment, where converted control flow
    needs it bound; any use raises UnboundLocalError, as reading it in Python would."""

    __slots__ = ("symbol_name",)

    def __init__(self, symbol_name):
        self.symbol_name = symbol_name

    def __repr__(self):
        return f"<undefined {self.symbol_name}>"

    def _fail(self, *args, **kwargs):
        raise UnboundLocalError(f"'{self.symbol_name}' is used before assignment")

    def __getattr__(self, name):
        self._fail()


for _method in ("bool", "call", "getitem", "iter", "len", "int", "float", "index", "neg",
                "pos", "abs", "invert", "add", "radd", "sub", "rsub", "mul", "rmul", "truediv",
                "rtruediv", "floordiv", "rfloordiv", "mod", "rmod", "pow", "rpow", "matmul",
                "rmatmul", "and", "rand", "or", "ror", "xor", "rxor", "lt", "le", "gt", "ge",
                "contains", "setitem"):
    setattr(Undefined, f"__{_method}__", Undefined._fail)


class UndefinedReturnValue:
    """The return value of a converted function before a `return` statement ran."""

    __slots__ = ()


def ld(value):
    """A read of a variable that may still be Undefined."""
    if isinstance(value, Undefined):
        value._fail()
    return value


def retval(value):
    """The converted function's result: None when no return statement ran."""
    return None if isinstance(value, UndefinedReturnValue) else value


def _is_null(value):
    return value is None or isinstance(value, (Undefined, UndefinedReturnValue))


# ------------------------------------------------------------------ conditions

def _staged(value):
    """value as a graph tensor when control flow on it must be staged, else None."""
    if isinstance(value, SymbolicTensor):
        return value
    if isinstance(value, Variable) and context.graph is not None:
        return value.read_value()
    return None


def _condition(value, tag):
    """A staged condition as a scalar bool tensor (TF's checks and messages)."""
    hint = "to check for None, use `is not None`"
    if not isinstance(value, _TensorLike):
        value = convert_to_tensor(value)
    if value.dtype is not dtypes.bool:
        raise ValueError(f"condition of {tag} expected to be `tf.bool` scalar, got {value}; to "
                         f"use as boolean Tensor, use `tf.cast`; {hint}")
    shape = value.shape
    if shape.rank is None:
        return array.reshape(value, [])
    if shape.rank > 0:
        known = [d for d in shape if d is not None]
        size = 1
        for d in known:
            size *= d
        if size > 1:
            raise ValueError(f"condition of {tag} expected to be `tf.bool` scalar, got "
                             f"{value}; {hint}")
        return array.reshape(value, [])
    return value


def not_(value):
    """`not value`: tf.logical_not of a traced tensor."""
    staged = _staged(value)
    if staged is not None:
        return math.logical_not(staged)
    return not value


def and_(left, right):
    """`a and b` with both operands as thunks: on a traced tensor, tf.cond evaluates b only
    where a is true (TensorFlow's lazy `and`)."""
    value = left()
    staged = _staged(value)
    if staged is not None:
        return cond(staged, right, lambda: staged)
    return right() if value else value


def or_(left, right):
    """`a or b`, lazily as and_."""
    value = left()
    staged = _staged(value)
    if staged is not None:
        return cond(staged, lambda: staged, right)
    return value if value else right()


def if_exp(test, body, orelse, text):
    """`body if test else orelse` (body and orelse as thunks): tf.cond on a traced tensor."""
    staged = _staged(test)
    if staged is not None:
        return cond(_condition(staged, f"if expression `{text}`"), body, orelse)
    return body() if test else orelse()


# ------------------------------------------------------------------ if statements

def if_stmt(test, body, orelse, get_state, set_state, names, nouts):
    """An if statement: plain Python, or tf.cond over the variables it assigns that are
    used after it (the first `nouts` of `names`; the others stay local to each branch)."""
    staged = _staged(test)
    if staged is None:
        if test:
            body()
        else:
            orelse()
        return
    pred = _condition(staged, "if statement")
    initial = get_state()
    results = {}

    def branch(fn, label, other):
        def run():
            set_state(initial)
            fn()
            values = tuple(get_state()[:nouts])
            _check_branch(values, names, label)
            if other in results:
                main, alternative = (values, results[other]) if label == "main" else (
                    results[other], values)
                for name, a, b in zip(names, main, alternative):
                    _check_same(name, a, b)
            results[label] = values
            # tf.cond wants an output from each branch; a statement without any gets one.
            return [_tensors(v) for v in values] or [convert_to_tensor(0)]
        return run

    outputs = cond(pred, branch(body, "main", "else"), branch(orelse, "else", "main"))
    set_state(tuple(outputs[:nouts]) + tuple(initial[nouts:]))


def _check_branch(values, names, label):
    for name, value in zip(names, values):
        if isinstance(value, Undefined):
            raise ValueError(f"'{name}' must also be initialized in the {label} branch")
        if isinstance(value, UndefinedReturnValue):
            raise ValueError(f"the {label} branch must also have a return statement.")
        if value is None:
            raise ValueError(f"'{name}' is None at the end of the {label} branch.")
        for leaf in _leaves(value):
            if not _convertible(leaf):
                raise TypeError(
                    f"'{name}' must be a tensor (or a nested structure of tensors and Python "
                    f"numbers) at the end of the {label} branch of an if statement whose "
                    f"condition is a tensor; received {leaf!r}")


def _check_same(name, main, alternative):
    main_leaves, else_leaves = [], []
    if _same_structure(_flatten(main, main_leaves)) != _same_structure(
            _flatten(alternative, else_leaves)):
        raise TypeError(f"'{name}' must have the same nested structure in the main and else "
                        f"branches: {main!r} and {alternative!r}")
    for a, b in zip(main_leaves, else_leaves):
        a, b = _as_tensor(a), _as_tensor(b)
        if a.dtype is not b.dtype:
            raise TypeError(f"'{name}' has dtype {a.dtype.name} in the main branch, but dtype "
                            f"{b.dtype.name} in the else branch")


# ------------------------------------------------------------------ loops

def while_stmt(test, body, get_state, set_state, names, nvars, opts):
    """A while loop: plain Python, or tf.while_loop carrying the first `nvars` of `names`
    when its condition is a traced tensor."""
    first = test()
    if _staged(first) is None:
        _python_while(first, test, body)
        return

    def loop_test():
        value = test()
        staged = _staged(value)
        return _condition(value if staged is None else staged, "while statement")

    _staged_loop(loop_test, body, get_state, set_state, names, nvars, opts or {}, None)


def _python_while(result, test, body):
    while True:
        if _staged(result) is not None:
            raise NotImplementedError(
                "The condition of while loop started as non-Tensor, then changed to Tensor. "
                "This may happen either because variables changed type, or when a break or "
                "return statement inside the loop depends on a Tensor condition. In both "
                "cases, changing to a TF loop should remove the error.\n" + _LIMITATIONS)
        if not result:
            return
        body()
        result = test()


def for_stmt(iterable, extra_test, body, get_state, set_state, names, nvars, opts):
    """A for loop: over a traced tensor, tf.while_loop over its first dimension (so
    `for i in tf.range(n)` too); over anything else, a Python loop, unrolled when traced.
    extra_test (None, or a function) is false once a break or return ran."""
    staged = _staged(iterable)
    if staged is None:
        if context.graph is not None and _stageable_input(iterable):
            _dataset_for(iterable, extra_test, body, get_state, set_state, names, nvars, opts)
            return
        _python_for(iterable, extra_test, body)
        return
    if staged.shape.rank == 0:
        raise TypeError(f"Cannot iterate over a scalar tensor: {staged}")
    count = staged.shape[0] if staged.shape.rank is not None else None
    count = convert_to_tensor(count, dtypes.int32) if count is not None else array.shape(
        staged)[0]
    state = {"index": None, "start": convert_to_tensor(0, dtypes.int32),
             "shape": TensorShape([])}

    def loop_test():
        in_range = math.less(state["index"], count)
        if extra_test is None:
            return in_range
        return math.logical_and(in_range, _condition(_as_tensor(extra_test()),
                                                     "for statement"))

    def loop_body():
        index = state["index"]
        body(indexing.gather(staged, index))
        state["index"] = math.add(index, 1)

    _staged_loop(loop_test, loop_body, get_state, set_state, names, nvars, opts or {}, state)


def _stageable_input(iterable):
    """Whether a traced `for` over `iterable` becomes a loop that reads it at run time: a
    tf.data Dataset, or an iterator over one, made outside the function (of plain
    tensors)."""
    data = sys.modules.get("tensorflux.data.dataset")  # unloaded: nothing here is one
    if data is None:
        return False
    if isinstance(iterable, data.Iterator):
        if iterable._numpy or not iterable._made_eagerly:
            return False
    elif not isinstance(iterable, data.Dataset):
        return False
    return all(type(spec) is TensorSpec for spec in nest.flatten(iterable.element_spec))


def _dataset_for(source, extra_test, body, get_state, set_state, names, nvars, opts):
    """`for element in dataset` traced (TF's loop over a dataset): a tf.while_loop that
    pulls each element through a host call, so that every run of the function reads the
    dataset afresh (reshuffled, its last partial batch too) and the graph holds no copy of
    the data. Over a Dataset each run starts a new pass; over an iterator, the loop goes on
    from where the iterator is. The loop carries (element present, element)."""
    from tensorflux.control import py_function
    from tensorflux.data import dataset as data

    spec = source.element_spec
    specs = nest.flatten(spec)
    fresh = isinstance(source, data.Dataset)
    passes = {"iterator": None if fresh else source}
    # A dataset made in this function from its tensors: each run makes it from their values.
    inputs = list(getattr(source, "traced_inputs", ()))

    def pull():
        try:
            element = next(passes["iterator"])
        except StopIteration:
            return [False] + [array.zeros([d or 0 for d in s.shape] if s.shape.rank else [],
                                          s.dtype) for s in specs]
        return [True] + nest.flatten(element)

    def restart_and_pull(*values):
        if fresh:
            if passes["iterator"] is not None:
                passes["iterator"].close()
            passes["iterator"] = iter(source.make(values) if inputs else source)
        return pull()

    def staged(host, host_inputs=()):
        flat = py_function(host, list(host_inputs), [dtypes.bool] + [s.dtype for s in specs])
        flat[0].set_shape([])
        for tensor, leaf in zip(flat[1:], specs):
            tensor.set_shape(leaf.shape)
        return flat[0], nest.pack_sequence_as(spec, flat[1:])

    state = {"index": None, "start": staged(restart_and_pull, inputs),
             "shape": (TensorShape([]), nest.map_structure(lambda s: s.shape, spec))}

    def loop_test():
        present = state["index"][0]
        if extra_test is None:
            return present
        return math.logical_and(present, _condition(_as_tensor(extra_test()),
                                                    "for statement"))

    def loop_body():
        body(state["index"][1])
        state["index"] = staged(pull)

    _staged_loop(loop_test, loop_body, get_state, set_state, names, nvars, opts or {}, state,
                 relax=True)


def _python_for(iterable, extra_test, body):
    for item in iterable:
        body(item)
        if extra_test is None:
            continue
        going = extra_test()
        if _staged(going) is not None:
            raise NotImplementedError(
                "break and return statements which depend on a TF condition are not "
                "supported in Python for loops. Did you intend to make it a TF loop?\n" +
                _LIMITATIONS)
        if not going:
            return


def _staged_loop(test, body, get_state, set_state, names, nvars, opts, index, relax=False):
    """tf.while_loop over the loop variables (the first nvars of names), plus the loop's own
    carried value (a for loop's iteration index: `index` holds its start, shape, and its
    value while the functions run). With `relax`, loop variables whose shapes the body
    changes get relaxed shape invariants (see _relaxed_invariants)."""
    initial = tuple(get_state())
    loop_names = tuple(names[:nvars])
    invariants = _invariants(opts.get("shape_invariants"), initial[:nvars], loop_names)
    start = list(initial[:nvars])
    if any(_is_null(v) for v in start):
        start, invariants = _fill_undefined(body, get_state, set_state, initial, loop_names,
                                            invariants, index)
    _check_start(start, loop_names)
    if relax:
        invariants = _relaxed_invariants(body, get_state, set_state, initial, start,
                                         invariants, index)
    leaves = [index["start"]] if index is not None else []
    rest = initial[nvars:]

    def unpack(values):
        values = list(values)
        if index is not None:
            index["index"] = values.pop(0)
        return values

    def loop_cond(*values):
        set_state(tuple(unpack(values)) + rest)
        return test()

    def loop_body(*values):
        entry = unpack(values)
        set_state(tuple(entry) + rest)
        body()
        exit_ = list(get_state()[:nvars])
        for name, a, b, shape in zip(loop_names, entry, exit_, invariants):
            _check_iteration(name, a, b, shape)
        result = [index["index"]] if index is not None else []
        return result + [_tensors(v) for v in exit_]

    shapes = None
    if any(s is not None for s in invariants):
        shapes = ([index["shape"]] if index is not None else []) + [
            _shape_structure(v) if s is None else s for v, s in zip(start, invariants)]
    limit = opts.get("maximum_iterations")
    if not leaves and not start:
        leaves = [convert_to_tensor(0, dtypes.int32)]  # while_loop needs a loop variable
        if shapes is not None:
            shapes = [TensorShape([])] + shapes
        loop_cond, loop_body = _with_dummy(loop_cond), _with_dummy(loop_body)
    results = while_loop(loop_cond, loop_body, leaves + [_tensors(v) for v in start],
                         shape_invariants=shapes, maximum_iterations=limit)
    results = list(results)[len(leaves):]
    set_state(tuple(results) + rest)


def _with_dummy(fn):
    def call(dummy, *values):
        result = fn(*values)
        return [dummy, *result] if isinstance(result, list) else result
    return call


def _invariants(given, values, names):
    """Per loop variable, its shape invariant from set_loop_options (matched by identity)."""
    found = [None] * len(values)
    for pair in given or ():
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValueError(f"set_loop_options: shape_invariants must be a list of (tensor, "
                             f"shape) pairs, received {pair!r}")
        variable, shape = pair
        for k, value in enumerate(values):
            if value is variable:
                found[k] = TensorShape(shape) if not isinstance(shape, TensorShape) else shape
                break
    return found


def _shape_structure(value):
    leaves = []
    skeleton = _flatten(value, leaves)
    return _pack(skeleton, iter([_as_tensor(leaf).shape for leaf in leaves]))


def _fill_undefined(body, get_state, set_state, initial, names, invariants, index):
    """Loop variables first bound inside the loop (or None before it) get a placeholder of
    the type the body gives them: zeros of its dtype and shape (unknown dims 0, the shape
    invariant then unknown there), found by tracing the body once in a scratch graph."""
    nvars = len(names)
    first = None
    failure = None
    scratch = Graph(name="autograph_first_iteration", outer=context.graph)
    saved = context.tapes, context.graph
    context.tapes, context.graph = [], scratch
    try:
        stand_ins = tuple(_placeholder_like(scratch, v) for v in initial[:nvars])
        set_state(stand_ins + tuple(initial[nvars:]))
        if index is not None:
            index["index"] = _pack(*_stand_ins(scratch, index["start"], index["shape"]))
        body()
        first = tuple(get_state()[:nvars])
    except (UnboundLocalError, TypeError, ValueError, KeyError) as error:
        failure = ("Note: AutoGraph tried to define it automatically, but ran into a "
                   f"{type(error).__name__}: {error}")
    finally:
        context.tapes, context.graph = saved
        set_state(initial)
    start, shapes = [], list(invariants)
    for k, value in enumerate(initial[:nvars]):
        if _is_null(value) and first is not None:
            value, relaxed = _zeros_like(first[k], invariants[k], value)
            if relaxed is not None:
                shapes[k] = relaxed
        start.append(value)
    _check_start(start, names, failure)
    return start, shapes


def _relaxed_invariants(body, get_state, set_state, initial, start, invariants, index):
    """TF's shape relaxation for a loop over a dataset: a loop variable whose shape the body
    changes gets, as its invariant, the most specific shape that fits its shapes before and
    after an iteration, found by tracing the body in a scratch graph until the shapes settle.
    A body that fails there keeps the invariants as they were (the loop's own trace then
    reports the error)."""
    nvars = len(start)
    shapes = [_shape_structure(v) if s is None else s for v, s in zip(start, invariants)]
    for _ in range(3):
        scratch = Graph(name="autograph_shape_relaxation", outer=context.graph)
        saved = context.tapes, context.graph
        context.tapes, context.graph = [], scratch
        try:
            stand_ins = tuple(_pack(*_stand_ins(scratch, v, s)) for v, s in zip(start, shapes))
            set_state(stand_ins + tuple(initial[nvars:]))
            index["index"] = _pack(*_stand_ins(scratch, index["start"], index["shape"]))
            body()
            relaxed = [_relaxed_shapes(s, v) for s, v in zip(shapes, get_state()[:nvars])]
        except Exception:  # noqa: BLE001 - the loop's own trace raises it where it belongs
            return invariants
        finally:
            context.tapes, context.graph = saved
            set_state(initial)
        if relaxed == shapes:
            break
        shapes = relaxed
    return [s if s != _shape_structure(v) else given
            for v, s, given in zip(start, shapes, invariants)]


def _relaxed_shapes(shapes, value):
    """The shape structure `shapes` widened to also fit `value` (unchanged where the two
    structures differ: the loop's checks report that)."""
    known, leaves = [], []
    skeleton = _flatten(shapes, known)
    if _same_structure(skeleton) != _same_structure(_flatten(value, leaves)) or not all(
            _convertible(leaf) for leaf in leaves):
        return shapes
    return _pack(skeleton, iter([_most_specific(a, _as_tensor(b).shape)
                                 for a, b in zip(known, leaves)]))


def _most_specific(a, b):
    """The most specific shape that both `a` and `b` fit."""
    if a.rank is None or b.rank is None or a.rank != b.rank:
        return TensorShape(None)
    return TensorShape([x if x == y else None for x, y in zip(a, b)])


def _stand_ins(graph, start, shape):
    """(skeleton, placeholders) standing for the loop's own carried values `start`, whose
    shape invariants `shape` has."""
    leaves, shapes = [], []
    skeleton = _flatten(start, leaves)
    _flatten(shape, shapes)
    return skeleton, iter([graph.placeholder(s, _as_tensor(leaf).dtype)
                           for leaf, s in zip(leaves, shapes)])


def _placeholder_like(graph, value):
    if isinstance(value, (bool, int, float)) or type(value).__module__ == "numpy":
        tensor = convert_to_tensor(value)
        return graph.placeholder(tensor.shape, tensor.dtype)
    return value


def _zeros_like(like, invariant, original):
    """(a zero value shaped like `like`, the shape invariant it then needs or None)."""
    if _is_null(like):
        return original, None
    if isinstance(like, (bool, int, float)):
        return type(like)(0), None
    if isinstance(like, _TensorLike):
        shape = invariant if invariant is not None else like.shape
        if shape.rank is None:
            return array.zeros([], like.dtype), TensorShape(None)
        dims = [0 if d is None else d for d in shape]
        return array.zeros(dims, like.dtype), (shape if None in list(shape) else None)
    if isinstance(like, (list, tuple, dict)):
        leaves = []
        skeleton = _flatten(like, leaves)
        zeros = [_zeros_like(leaf, None, original)[0] for leaf in leaves]
        return _pack(skeleton, iter(zeros)), None
    raise TypeError(f"Found an unsupported type '{type(like).__name__}' while creating "
                    f"placeholder for {like!r}. Supported types include Tensor, int, float, "
                    "bool, list, tuple or dict.")


def _check_start(values, names, note=None):
    for name, value in zip(names, values):
        if isinstance(value, UndefinedReturnValue):
            raise NotImplementedError(
                "a return statement cannot be placed inside this TensorFlow loop; this may "
                "happen if a return statement depends on a static Python condition such as a "
                "hyperparameter")
        if value is None:
            raise ValueError(f"'{name}' is not allowed to be None before the loop")
        if isinstance(value, Undefined):
            raise ValueError(f"'{name}' must be defined before the loop" +
                             (f"\n{note}" if note else ""))
        for leaf in _leaves(value):
            if not _convertible(leaf):
                raise TypeError(
                    f"'{name}' is changed by a loop over a tensor (a tf.while_loop), so it "
                    f"must be a tensor or a nested structure of tensors and Python numbers; "
                    f"received {leaf!r}")


def _check_iteration(name, entry, exit_, invariant):
    entry_leaves, exit_leaves = [], []
    if _same_structure(_flatten(entry, entry_leaves)) != _same_structure(
            _flatten(exit_, exit_leaves)):
        raise TypeError(f"'{name}' does not have the same nested structure after one "
                        f"iteration: {entry!r} before, {exit_!r} after")
    for before, after in zip(entry_leaves, exit_leaves):
        if after is None or _is_null(after):
            raise ValueError(f"'{name}' is None at the end of the iteration.")
        if not _convertible(after):
            raise TypeError(f"'{name}' must stay a tensor in a loop over a tensor; after one "
                            f"iteration it is {after!r}")
        before, after = _as_tensor(before), _as_tensor(after)
        if before.dtype is not after.dtype:
            raise TypeError(f"'{name}' has dtype {before.dtype.name} before the loop, but dtype "
                            f"{after.dtype.name} after one iteration")
        if invariant is None and not _fits(before.shape, after.shape):
            raise ValueError(f"'{name}' has shape {before.shape} before the loop, but shape "
                             f"{after.shape} after one iteration. Use "
                             "tf.autograph.experimental.set_loop_options to set shape "
                             "invariants.")
        if isinstance(invariant, TensorShape) and not _fits(invariant, after.shape):
            raise ValueError(f"'{name}' has shape {after.shape} after one iteration, which does "
                             f"not conform with the shape invariant {invariant}.")


def loop_options(parallel_iterations=None, swap_memory=None, maximum_iterations=None,
                 shape_invariants=None):
    """The options a `set_loop_options(...)` call at the top of a loop body gives it."""
    return {"maximum_iterations": maximum_iterations, "shape_invariants": shape_invariants}


# ------------------------------------------------------------------ values

def _leaves(value):
    found = []
    _flatten(value, found)
    return found


def _convertible(leaf):
    return isinstance(leaf, (_TensorLike, bool, int, float, str, bytes)) or \
        type(leaf).__module__ == "numpy"


def _as_tensor(value):
    if isinstance(value, Variable):
        return value.read_value()
    if isinstance(value, _TensorLike):
        return value
    return convert_to_tensor(value)


def _tensors(value):
    """value with Python numbers (and Variables) as tensors, its structure kept."""
    leaves = []
    skeleton = _flatten(value, leaves)
    return _pack(skeleton, iter([_as_tensor(leaf) for leaf in leaves]))


# ------------------------------------------------------------------ builtins

def range_(*args):
    """range(), as tf.range when an argument is a tensor."""
    if any(isinstance(a, _TensorLike) and (_staged(a) is not None) for a in args):
        return array.range(*args)
    return range(*args)


def enumerate_(iterable, start=0):
    """enumerate(): over a tf.data Dataset in a traced function, Dataset.enumerate (as TF's
    AutoGraph), so that a `for` over it is a staged loop like one over the dataset."""
    data = sys.modules.get("tensorflux.data.dataset")
    if (context.graph is not None and data is not None and isinstance(iterable, data.Dataset)
            and _stageable_input(iterable)):
        return iterable.enumerate(start)
    return enumerate(iterable, start)


def len_(value):
    """len(): the run-time length of a traced tensor whose first dimension is unknown, and
    a TensorArray's size."""
    from tensorflux.tensor_array import TensorArray

    if isinstance(value, TensorArray):
        return value.size()
    staged = _staged(value)
    if staged is not None and staged.shape.rank not in (None, 0) and staged.shape[0] is None:
        return array.shape(staged)[0]
    return len(value)


def int_(value, *args):
    """int(): a cast to int32 of a traced tensor."""
    staged = _staged(value)
    if staged is not None and not args:
        return math.cast(staged, dtypes.int32)
    return int(value, *args)


def float_(value):
    """float(): a cast to float32 of a traced tensor."""
    staged = _staged(value)
    if staged is not None:
        return math.cast(staged, dtypes.float32)
    return float(value)


__all__ = ["Undefined", "UndefinedReturnValue", "and_", "converted_call", "enumerate_",
           "float_", "for_stmt", "if_exp", "if_stmt", "int_", "ld", "len_", "loop_options",
           "not_", "or_", "range_", "retval", "while_stmt"]
