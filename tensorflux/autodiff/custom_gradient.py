"""custom_gradient: a function whose gradient is given by the user (tf.custom_gradient)."""

import functools
import inspect

from tensorflux.context import context
from tensorflux.nest import flatten, pack_with
from tensorflux.ops._core import aval
from tensorflux.primitive import Primitive
from tensorflux.tensor import _TensorLike, convert_to_tensor
from tensorflux.variable import Variable

__all__ = ["custom_gradient"]


def _custom_vjp(g, *inputs, out, n_results, n_args, grad_fn):
    """Calls the user's grad_fn; the result inputs themselves get no cotangent."""
    upstream = g if isinstance(g, tuple) else (g,)
    return (None,) * n_results + tuple(grad_fn(*upstream))


def _custom_rule(*avals, n_results, n_args, grad_fn):
    return tuple(aval(a.shape, a.dtype) for a in avals[:n_results])


# custom_gradient: the identity on f's results (its first n_results inputs); its VJP is the
# user's grad_fn, bound in the attrs, giving cotangents for f's arguments and variables.
# The results are inputs so that the kernel can return them; their cotangent is None, so the
# ops that f recorded (kept for gradients of grad_fn) receive nothing from this node.
_custom_gradient = Primitive("custom_gradient", vjp=_custom_vjp, shape_rule=_custom_rule,
                             multiple_results=True,
                             aliases=True)


class _VariableWatcher:
    """Sits in context.tapes while f runs and notes the trainable Variables its ops read."""

    def __init__(self):
        self.variables = {}

    def _record(self, primitive, inputs, attrs, outputs):
        for x in inputs:
            if isinstance(x, Variable) and x.trainable:
                self.variables.setdefault(id(x), x)


def custom_gradient(f=None):
    """Decorates f(*x) -> (y, grad_fn) so that gradients of y use grad_fn.

    grad_fn(*upstream) returns one gradient per argument of f. If f reads trainable Variables
    that are not among its arguments, grad_fn must accept a `variables` keyword and return
    (argument_gradients, variable_gradients). The ops f runs are recorded by outer tapes, so
    a grad_fn written with tensorflux ops can itself be differentiated.

    >>> import tensorflux as tf
    >>> @tf.custom_gradient
    ... def clip_gradient(x):
    ...     return tf.identity(x), lambda dy: tf.clip_by_value(dy, -0.5, 0.5)
    >>> x = tf.constant(2.0)
    >>> with tf.GradientTape() as tape:
    ...     tape.watch(x)
    ...     y = clip_gradient(x * 3.0)
    >>> float(tape.gradient(y, x))
    1.5
    """
    if f is None:
        return custom_gradient
    binds_self = _is_method(f)

    @functools.wraps(f)
    def decorated(*args, **kwargs):
        if binds_self and args:
            # A method: `self` is bound, not an input to differentiate (as TF's decorator).
            return _call(functools.partial(f, args[0]), args[1:], kwargs)
        return _call(f, args, kwargs)

    return decorated


def _is_method(f):
    """Whether f is defined in a class body with `self` first (a method, called bound)."""
    parts = getattr(f, "__qualname__", "").split(".")
    if len(parts) < 2 or parts[-2] == "<locals>":
        return False
    try:
        parameters = list(inspect.signature(f).parameters)
    except (TypeError, ValueError):
        return False
    return bool(parameters) and parameters[0] == "self"


def _call(f, args, kwargs):
    """Runs f(*args, **kwargs) and binds its results to the user's grad_fn."""
    watcher = _VariableWatcher()
    context.tapes.append(watcher)
    try:
        result, grad_fn = f(*args, **kwargs)
    finally:
        context.tapes.remove(watcher)
    flat_args = flatten(args)
    variables = [v for v in watcher.variables.values()
                 if all(v is not a for a in flat_args)]
    if variables and not _accepts_variables(grad_fn):
        raise TypeError("@tf.custom_gradient grad_fn must accept keyword argument "
                        f"'variables', since function uses variables: {variables}")
    flat_result = flatten(result)
    results = [_tensor(r) for r in flat_result]
    inputs = [a if isinstance(a, _TensorLike) else _tensor(a) for a in flat_args]
    n_results, n_args = len(results), len(inputs)

    def grad_wrapper(*upstream):
        if variables:
            input_grads, variable_grads = grad_fn(*upstream, variables=variables)
            variable_grads = flatten(variable_grads)
            if len(variable_grads) != len(variables):
                raise ValueError("Must return gradient for each variable from "
                                 "@custom_gradient grad_fn.")
        else:
            input_grads, variable_grads = grad_fn(*upstream), []
        input_grads = flatten(input_grads)
        if len(input_grads) != n_args:
            raise ValueError(f"custom_gradient function expected to return {n_args} "
                             f"gradients, but returned {len(input_grads)} instead.")
        return input_grads + variable_grads

    outputs = _custom_gradient.bind(*results, *inputs, *variables, n_results=n_results,
                                    n_args=n_args, grad_fn=grad_wrapper)
    return pack_with(result, outputs, _rebuild)


def _accepts_variables(fn):
    try:
        spec = inspect.getfullargspec(fn)
    except TypeError:
        return True
    return "variables" in spec.args or "variables" in spec.kwonlyargs or spec.varkw is not None


def _tensor(x):
    if isinstance(x, Variable):
        return x.read_value()  # a snapshot: later assignments must not change the result
    return x if isinstance(x, _TensorLike) else convert_to_tensor(x)


def _rebuild(original, packed):
    # Results come back as plain lists, tuples and (sorted-key) dicts; namedtuples keep their type.
    if isinstance(original, tuple):
        return type(original)(*packed) if hasattr(original, "_fields") else tuple(packed)
    return packed
