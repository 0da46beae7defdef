"""TensorFlow's top-level helpers around the op library: folds, case, grouping no-ops,
Hessians, gradient pass-through and recomputation, init_scope, the logger, symbolic-tensor
tests, vectorized_map, and TensorProto conversion.
"""

import builtins
import contextlib
import functools
import operator

from tensorflux import dtypes, errors, nest
from tensorflux.context import context
from tensorflux.ops import array
from tensorflux.tensor import _TensorLike, convert_to_tensor

__all__ = ["foldl", "foldr", "case", "group", "no_op", "hessians", "grad_pass_through",
           "recompute_grad", "init_scope", "get_logger", "is_symbolic_tensor",
           "type_spec_from_value", "vectorized_map", "TensorProto", "make_tensor_proto",
           "make_ndarray", "get_current_name_scope", "inside_function", "no_gradient", "tuple",
           "AggregationMethod", "random_index_shuffle", "timestamp"]


# ------------------------------------------------------------------ type specs

def type_spec_from_value(value):
    """The TypeSpec describing `value`: a composite's own spec (RaggedTensorSpec, ...), a
    Dataset's DatasetSpec, else the TensorSpec of the value as a tensor (a Variable's too:
    tensorflux has no VariableSpec).

    >>> import tensorflux as tf
    >>> tf.type_spec_from_value([[1, 2]])
    TensorSpec(shape=(1, 2), dtype=tf.int32, name=None)
    """
    from tensorflux.tensor import TensorSpec

    spec = getattr(value, "_type_spec", None)
    if spec is not None:
        return spec
    element_spec = getattr(value, "element_spec", None)
    if element_spec is not None and hasattr(value, "cardinality"):
        from tensorflux.data.dataset import DatasetSpec

        return DatasetSpec(element_spec)
    try:
        tensor = convert_to_tensor(value)
    except (TypeError, ValueError) as error:
        raise TypeError(f"type_spec_from_value: could not build a TypeSpec for {value!r} of "
                        f"unsupported type {type(value).__name__} ({error})") from None
    return TensorSpec(tensor.shape, tensor.dtype)


# ------------------------------------------------------------------ folds and case

def _fold(op, fn, elems, initializer, reverse):
    from tensorflux import control

    if not callable(fn):
        raise TypeError(f"{op}: fn must be callable, received {fn!r}")
    flat, count = control._rows(op, elems)
    order = list(range(count))[::-1] if reverse else list(range(count))
    if initializer is None:
        if not count:
            raise ValueError(f"{op}: elems is empty and there is no initializer")
        accumulator = control._element(elems, flat, order[0])
        order = order[1:]
    else:
        accumulator = nest.map_structure(
            lambda v: v if isinstance(v, _TensorLike) else convert_to_tensor(v), initializer)
    for i in order:
        accumulator = fn(accumulator, control._element(elems, flat, i))
    return accumulator


def foldl(fn, elems, initializer=None, parallel_iterations=10, back_prop=True,
          swap_memory=False, name=None):
    """fn(...fn(fn(initializer, elems[0]), elems[1])..., elems[n-1]): the slices of elems
    along axis 0 folded from the left (elems[0] starts when there is no initializer).

    >>> import tensorflux as tf
    >>> int(tf.foldl(lambda a, x: a + x, tf.constant([1, 2, 3]), initializer=10))
    16
    """
    return _fold("foldl", fn, elems, initializer, reverse=False)


def foldr(fn, elems, initializer=None, parallel_iterations=10, back_prop=True,
          swap_memory=False, name=None):
    """The fold of foldl from the right: the last slice first.

    >>> import tensorflux as tf
    >>> int(tf.foldr(lambda a, x: a * 10 + x, tf.constant([1, 2, 3])))
    321
    """
    return _fold("foldr", fn, elems, initializer, reverse=True)


def case(pred_fn_pairs, default=None, exclusive=False, strict=False, name="case"):
    """The result of the fn of the first pair whose predicate is True, else default().

    Without a default, no true predicate is an error when it is known (eagerly); a traced
    function then runs the last pair's fn. With exclusive=True, more than one true predicate
    is an InvalidArgumentError, eagerly and each time a traced function runs, as in TF 2.21
    (without a default, the last pair stands in for it and is not counted, as there).

    >>> import tensorflux as tf
    >>> int(tf.case([(tf.constant(False), lambda: tf.constant(1)),
    ...              (tf.constant(True), lambda: tf.constant(2))], default=lambda: tf.constant(3)))
    2
    """
    from tensorflux.graph.control_flow import cond

    if isinstance(pred_fn_pairs, dict):
        pred_fn_pairs = list(pred_fn_pairs.items())
    pairs = list(pred_fn_pairs)
    if not pairs or not all(isinstance(p, (list, builtins.tuple)) and len(p) == 2 and callable(p[1])
                            for p in pairs):
        raise TypeError("case: pred_fn_pairs must be a non-empty list of (predicate, "
                        f"callable) pairs, received {pred_fn_pairs!r}")
    if default is not None and not callable(default):
        raise TypeError(f"case: default must be callable, received {default!r}")
    predicates = [convert_to_tensor(p) for p, _ in pairs]
    if exclusive:
        _check_exclusive(predicates if default is not None else predicates[:-1])
    if all(p._value is not None for p in predicates):
        for p, (_, fn) in zip(predicates, pairs):
            if bool(p.numpy()):
                return fn()
        if default is None:
            raise errors.InvalidArgumentError(
                "case: none of the predicates is True and there is no default", "case")
        return default()
    if default is None:
        default = pairs[-1][1]
        pairs, predicates = pairs[:-1], predicates[:-1]
    branch = default
    for p, (_, fn) in reversed(list(zip(predicates, pairs))):
        branch = functools.partial(cond, p, fn, branch)
    return branch()


def _check_exclusive(predicates):
    """tf.case(exclusive=True): at most one of `predicates` may be true; checked now when
    they are known, else by a host call each time the traced function runs."""
    if len(predicates) < 2:
        return
    names = ", ".join(p.name if p._value is None else "?" for p in predicates)

    def check(*values):
        flags = [bool(v) for v in values]
        if builtins.sum(flags) > 1:
            raise errors.InvalidArgumentError(
                f"case: Input error: exclusive=True: more than 1 conditions ({names}) "
                f"evaluated as True: {flags}", "case")

    if context.graph is None or all(p._value is not None for p in predicates):
        check(*predicates)
        return
    from tensorflux.control import py_function

    py_function(check, list(predicates), Tout=None)


def timestamp(name=None):
    """The time in seconds since the epoch as a float64 scalar; inside a tf.function, read
    each time the function runs (TF's Timestamp op is stateful).

    >>> import tensorflux as tf
    >>> t = tf.timestamp()
    >>> t.dtype, float(t) > 1.6e9
    (tf.float64, True)
    """
    import time

    if context.graph is None:
        return convert_to_tensor(time.time(), dtype=dtypes.float64)
    from tensorflux.control import py_function

    out = py_function(lambda: convert_to_tensor(time.time(), dtype=dtypes.float64), [],
                      Tout=dtypes.float64)
    out.set_shape([])
    return out


def group(*inputs, **kwargs):
    """An op that only orders `inputs`: tensorflux runs ops in program order (stateful ones
    in traced functions too), so there is nothing to group; returns None, as TF eagerly.

    >>> import tensorflux as tf
    >>> tf.group(tf.constant(1)) is None
    True
    """
    return None


def no_op(name=None):
    """An op that does nothing; None.

    >>> import tensorflux as tf
    >>> tf.no_op() is None
    True
    """
    return None


# (named as TensorFlow's; the module's other code reaches Python's tuple as builtins.tuple)
def tuple(tensors, control_inputs=None, name=None):  # noqa: A001
    """The tensors, once all of them (and control_inputs) are computed. Eagerly everything
    already is, so `tensors` comes back as it was given, as in TensorFlow; in a traced function
    each tensor passes through tf.identity (None entries stay None).

    >>> import tensorflux as tf
    >>> [int(t) for t in tf.tuple([tf.constant(1), tf.constant(2)])]
    [1, 2]
    """
    if isinstance(tensors, (str, bytes)) or not hasattr(tensors, "__iter__"):
        raise TypeError(f"tuple: tensors must be a list of tensors, received {tensors!r}")
    if control_inputs is not None and not isinstance(control_inputs, (list, builtins.tuple)):
        raise TypeError("tuple: control_inputs must be a list of tensors or ops, received "
                        f"{control_inputs!r}")
    if context.graph is None:
        return tensors
    return [None if t is None else array.identity(t) for t in tensors]



# The first seed word that tf.random.experimental.index_shuffle puts before its two: with it,
# random_index_shuffle(i, [word, a, b], m) is index_shuffle(i, [a, b], m), as in TensorFlow.
_INDEX_SHUFFLE_WORD = 498247692


def random_index_shuffle(index, seed, max_index, rounds=4, name=None):
    """tf.random.experimental.index_shuffle with a three-word seed: the position of `index`
    in a permutation of [0, max_index] that `seed` (a vector of 3 integers) determines.

    The permutations are tensorflux's, not TensorFlow's (as for index_shuffle); `rounds`,
    the number of rounds of TensorFlow's cipher, is checked and otherwise unused.

    >>> import tensorflux as tf
    >>> x = tf.random_index_shuffle(tf.range(4), seed=[1, 5, 9], max_index=3)
    >>> sorted(x.numpy().tolist())
    [0, 1, 2, 3]
    """
    from tensorflux.ops import math
    from tensorflux.ops.random import index_shuffle
    from tensorflux.ops.sampling import fold_in

    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"random_index_shuffle: rounds must be a positive int, received "
                         f"{rounds!r}")
    seed = seed if isinstance(seed, _TensorLike) else convert_to_tensor(seed)
    if seed.shape.as_list() != [3] or not seed.dtype.is_integer:
        raise errors.InvalidArgumentError(
            "random_index_shuffle: seed must be a vector of 3 integers, received "
            f"{seed.dtype.name} with shape {builtins.tuple(seed.shape)}", "random_index_shuffle")
    seed = math.cast(seed, dtypes.int64)
    pair = math.where(math.equal(seed[0], _INDEX_SHUFFLE_WORD), seed[1:],
                      fold_in(seed[1:], seed[0]))
    return index_shuffle(index, pair, max_index)


# ------------------------------------------------------------------ gradients

class AggregationMethod:
    """How tf.gradients sums the gradients reaching one tensor. tensorflux always adds them
    with one add_n, so the choice only names TensorFlow's constants.

    >>> import tensorflux as tf
    >>> tf.AggregationMethod.DEFAULT == tf.AggregationMethod.ADD_N
    True
    """

    ADD_N = 0
    DEFAULT = ADD_N
    EXPERIMENTAL_TREE = 1
    EXPERIMENTAL_ACCUMULATE_N = 2


def no_gradient(op_type):
    """Declares that ops of type `op_type` have no gradient. tensorflux defines each
    primitive's gradient with the primitive itself, so there is no registry to change; the
    name is checked and None returned, as TensorFlow does.

    >>> import tensorflux as tf
    >>> tf.no_gradient("MyOp") is None
    True
    """
    if not isinstance(op_type, str):
        raise TypeError(f"no_gradient: op_type must be a string, received {op_type!r}")
    return None


def hessians(ys, xs, gate_gradients=False, aggregation_method=None, name="hessians"):
    """The Hessian of sum(ys) for each x in xs, of shape x.shape + x.shape; inside a traced
    function only, as tf.gradients.

    >>> import tensorflux as tf
    >>> @tf.function
    ... def h(x):
    ...     return tf.hessians(tf.reduce_sum(x ** 3), x)[0]
    >>> h(tf.constant([1.0, 2.0])).numpy().tolist()
    [[6.0, 0.0], [0.0, 12.0]]
    """
    from tensorflux.graph.gradients import gradients

    xs = list(xs) if isinstance(xs, (list, builtins.tuple)) else [xs]
    first = gradients(ys, xs)
    out = []
    for x, g in zip(xs, first):
        dims = list(x.shape)
        if None in dims:
            raise errors.InvalidArgumentError(
                f"hessians: x must have a known shape, received {builtins.tuple(x.shape)}",
                "hessians")
        if g is None:
            out.append(None)
            continue
        flat = array.reshape(g, [-1])
        rows = []
        for i in range(flat.shape[0]):
            (row,) = gradients(flat[i], [x])
            rows.append(array.zeros_like(x) if row is None else row)
        out.append(array.reshape(array.stack(rows), dims + dims))
    return out


def grad_pass_through(f):
    """f, with the gradient of its result passed straight to its arguments (the identity),
    as if f were tf.identity: for non-differentiable steps such as rounding or an
    assignment. f's result must have its arguments' structure.

    >>> import tensorflux as tf
    >>> x = tf.constant(1.3)
    >>> with tf.GradientTape() as tape:
    ...     tape.watch(x)
    ...     y = tf.grad_pass_through(tf.round)(x)
    >>> float(y), float(tape.gradient(y, x))
    (1.0, 1.0)
    """
    from tensorflux.autodiff import custom_gradient

    @functools.wraps(f)
    def passed(*args, **kwargs):
        @custom_gradient
        def inner(*inputs):
            def grad(*upstream, variables=None):
                if variables:
                    return list(upstream), [None] * len(variables)
                return list(upstream)
            return f(*inputs, **kwargs), grad
        return inner(*args)
    return passed


def recompute_grad(f):
    """f, computing its gradient by running f again (under a tape) in the backward pass
    instead of keeping what f recorded: the values and gradients are f's.

    >>> import tensorflux as tf
    >>> g = tf.recompute_grad(lambda x: x * x)
    >>> x = tf.constant(3.0)
    >>> with tf.GradientTape() as tape:
    ...     tape.watch(x)
    ...     y = g(x)
    >>> float(tape.gradient(y, x))
    6.0
    """
    from tensorflux.autodiff import GradientTape, custom_gradient

    @functools.wraps(f)
    def recomputed(*args, **kwargs):
        @custom_gradient
        def inner(*inputs):
            def grad(*upstream, variables=None):
                watched = [x for x in inputs if isinstance(x, _TensorLike)]
                with GradientTape() as tape:
                    tape.watch(watched)
                    again = nest.flatten(f(*inputs, **kwargs))
                sources = list(inputs) + list(variables or [])
                grads = tape.gradient(again, sources, output_gradients=list(upstream))
                input_grads = grads[:len(inputs)]
                return (input_grads, grads[len(inputs):]) if variables else input_grads
            return f(*inputs, **kwargs), grad
        return inner(*args)
    return recomputed


# ------------------------------------------------------------------ contexts and tests

@contextlib.contextmanager
def init_scope():
    """Runs its block eagerly, outside any function being traced and with gradient tapes
    paused: for creating variables and other state once, from inside a tf.function.

    >>> import tensorflux as tf
    >>> @tf.function
    ... def f():
    ...     with tf.init_scope():
    ...         return tf.executing_eagerly()
    >>> bool(f())
    True
    """
    graph, tapes = context.graph, context.tapes
    context.graph, context.tapes = None, []
    try:
        yield
    finally:
        context.graph, context.tapes = graph, tapes


def get_current_name_scope():
    """The full name of the innermost tf.name_scope, without its trailing "/" ("" outside any).

    >>> import tensorflux as tf
    >>> with tf.name_scope("outer"):
    ...     with tf.name_scope("inner"):
    ...         tf.get_current_name_scope()
    'outer/inner'
    """
    return context.name_scope.rstrip("/")


def inside_function():
    """True while a tf.function is being traced (its Python body runs), False eagerly.

    >>> import tensorflux as tf
    >>> tf.inside_function()
    False
    """
    return context.graph is not None


def get_logger():
    """The logger of tensorflux's messages (logging's "tensorflux" logger).

    >>> import tensorflux as tf
    >>> tf.get_logger().name
    'tensorflux'
    """
    import logging

    return logging.getLogger("tensorflux")


def is_symbolic_tensor(tensor):
    """Whether tensor is a symbolic tensor of a function being traced (not an eager one).

    >>> import tensorflux as tf
    >>> tf.is_symbolic_tensor(tf.constant(1.0))
    False
    """
    from tensorflux.graph.ir import SymbolicTensor

    return isinstance(tensor, SymbolicTensor)


def vectorized_map(fn, elems, fallback_to_while_loop=True, warn=True):
    """fn applied to each slice of elems along axis 0, the results stacked (tf.map_fn's
    result; tensorflux runs it as map_fn).

    >>> import tensorflux as tf
    >>> tf.vectorized_map(lambda x: x * 2, tf.constant([[1.0, 2.0]])).numpy().tolist()
    [[2.0, 4.0]]
    """
    from tensorflux.control import map_fn

    return map_fn(fn, elems)


# ------------------------------------------------------------------ TensorProto

class TensorProto:
    """A tensor as data: dtype, shape and its values (little-endian bytes in
    tensor_content), as tf.make_tensor_proto makes and tf.make_ndarray reads."""

    def __init__(self, tensor):
        self._tensor = tensor
        self.dtype = tensor.dtype
        self.tensor_shape = list(tensor.shape)

    @property
    def tensor_content(self):
        value = self._tensor.numpy()
        return value.astype(value.dtype.newbyteorder("<")).tobytes() \
            if self.dtype.name != "string" else b"".join(value.ravel().tolist())

    def __repr__(self):
        return f"TensorProto(dtype={self.dtype.name}, tensor_shape={self.tensor_shape})"


def make_tensor_proto(values, dtype=None, shape=None, verify_shape=False,
                      allow_broadcast=False):
    """A TensorProto of values (converted like tf.constant, reshaped or broadcast to shape).

    >>> import tensorflux as tf
    >>> tf.make_tensor_proto([1.0, 2.0], shape=[2, 1])
    TensorProto(dtype=float32, tensor_shape=[2, 1])
    """
    from tensorflux.tensor import constant

    op = "make_tensor_proto"
    if allow_broadcast and verify_shape:
        raise ValueError(f"{op}: allow_broadcast and verify_shape cannot both be set")
    given = constant(values, dtype=dtype)
    if shape is None:
        return TensorProto(given)
    dims = [int(d) for d in shape]
    total = functools.reduce(operator.mul, dims, 1)
    count = given.shape.num_elements()
    if allow_broadcast:
        if tuple(given.shape) not in ((), (1,)) and count != total:
            raise TypeError(f"{op}: expected shape {tuple(dims)}, received "
                            f"{tuple(given.shape)} (allow_broadcast takes a scalar, a "
                            "1-vector or as many values as the shape)")
    else:
        if verify_shape and tuple(given.shape) != tuple(dims):
            raise TypeError(f"{op}: expected shape {tuple(dims)}, received "
                            f"{tuple(given.shape)}")
        if count > total:
            raise ValueError(f"{op}: too many values for shape {tuple(dims)}: it takes at "
                             f"most {total}, received {count}")
    flat = array.reshape(given, [-1])
    if 0 < count < total:
        # As TF's TensorProto: the values given, then the last one repeated.
        flat = array.concat([flat, array.fill([total - count], flat[-1])], 0)
    elif count == 0 and total:
        flat = array.zeros([total], given.dtype)
    return TensorProto(array.reshape(flat, dims))


def make_ndarray(tensor):
    """The NumPy array that a TensorProto holds.

    >>> import tensorflux as tf
    >>> tf.make_ndarray(tf.make_tensor_proto([1, 2])).tolist()
    [1, 2]
    """
    if not isinstance(tensor, TensorProto):
        if type(tensor).__module__ == "tensorflux.summary.event_pb":
            # A TensorProto message read from an event file (summary_iterator).
            from tensorflux.summary.reader import tensor_proto_to_ndarray

            return tensor_proto_to_ndarray(tensor)
        if type(tensor).__name__ == "TensorProto" and hasattr(tensor, "tensor_content"):
            # A protobuf TensorProto, as the tensorboard package's event readers return
            # (EventAccumulator.Tensors): its own reader decodes it.
            from tensorboard.util import tensor_util

            return tensor_util.make_ndarray(tensor)
        raise TypeError(f"make_ndarray: expected a TensorProto, received "
                        f"{type(tensor).__name__}")
    return tensor._tensor.numpy()
