"""keras.StatelessScope: run code on given variable values without changing the variables.

As in Keras 3, a variable the scope maps reads as the mapped tensor itself while the scope is
open: every op reading it gets that tensor in its place (Primitive.bind asks the hook in
tensorflux/variable.py), so a GradientTape sees the tensor used, gradients reach the values
given to `stateless_call`, and a tf.function trace puts the tensor in its graph. Assignments
to any variable inside the scope change the scope's mapping, never the variable, and
`get_current_value` gives the values the scope ended with.
"""

from tensorflux import errors
from tensorflux.context import context
from tensorflux.keras.engine.variables import RebindsInPlace
from tensorflux.tensor import _TensorLike
from tensorflux.variable import _close_scope, _open_scope, _scoped_reads

__all__ = ["StatelessScope", "get_stateless_scope", "in_stateless_scope"]

# One per-thread slot for the open scope, shared with tensorflux.variable's read hook.
_current = _scoped_reads


def get_stateless_scope():
    """The innermost open StatelessScope, or None."""
    return _current.scope


def in_stateless_scope():
    return _current.scope is not None


def _path(variable):
    return getattr(variable, "path", None) or variable.name


class StatelessScope:
    """A scope in which variables read the values of `state_mapping` (pairs of a variable and
    its value) and assignments change nothing outside it: `get_current_value(variable)` gives
    a variable's value as the scope left it (None for one neither mapped nor assigned).

    >>> from tensorflux import keras
    >>> v = keras.Variable(1.0)
    >>> with keras.StatelessScope(state_mapping=[(v, 5.0)]) as scope:
    ...     _ = v.assign_add(1.0)
    >>> float(scope.get_current_value(v)), float(v.numpy())
    (6.0, 1.0)
    """

    def __init__(self, state_mapping=None, collect_losses=False, initialize_variables=True):
        import tensorflux as tf
        from tensorflux.variable import Variable

        self.collect_losses = collect_losses
        self.initialize_variables = initialize_variables
        self.losses = []
        self.state_mapping = {}  # id(variable) -> its value (a tensor), mapped or assigned
        self._variables = {}  # id(variable) -> the variable, for each key of state_mapping
        self.reads = None  # while open: what variables read as (this scope's and outer ones')
        self._outer = self._graph = None
        for variable, value in state_mapping or ():
            if not isinstance(variable, Variable):
                raise ValueError("Invalid reference variable in StatelessScope: all keys in "
                                 "argument `state_mapping` must be Variable instances. "
                                 f"Received instead: {variable!r}")
            if isinstance(value, Variable):
                value = tf.cast(value.read_value(), variable.dtype)
            else:
                value = tf.convert_to_tensor(value, dtype=variable.dtype)
            if not variable._shape.is_compatible_with(value.shape):
                raise ValueError("Invalid variable value in StatelessScope: all values in "
                                 "argument `state_mapping` must be tensors with a shape that "
                                 f"matches the corresponding variable shape. For variable "
                                 f"'{_path(variable)}' of shape {tuple(variable.shape)}, "
                                 f"received a value of shape {tuple(value.shape)}.")
            self.state_mapping[id(variable)] = value
            self._variables[id(variable)] = variable

    def __enter__(self):
        self._graph = context.graph  # (the graph being traced, or None: where it may be read)
        outer = _current.scope
        # A nested scope reads what the outer one maps, unless it is in another graph.
        self.reads = dict(outer.reads) if outer is not None and outer._graph is \
            self._graph else {}
        self.reads.update(self.state_mapping)
        self._outer = _open_scope(self)
        return self

    def _check_graph(self, variable, what):
        if context.graph is not self._graph:
            where = "eagerly" if self._graph is None else "inside another tf.function"
            raise NotImplementedError(
                f"Variable '{_path(variable)}' is {what} inside a tf.function traced while a "
                f"keras.StatelessScope opened {where} is open: the trace would keep the "
                "scope's values. Open the scope inside the function (call stateless_call "
                "there), or call the function eagerly outside the scope.")

    def read(self, variable):
        """The tensor a variable this scope maps reads as (tensorflux.variable's hook)."""
        if context.graph is not self._graph:
            self._check_graph(variable, "read")
        return self.reads[id(variable)]

    def write(self, variable, kind, value):
        """Variable.assign / assign_add / assign_sub inside the scope: the new value of a
        mapped or Keras variable goes to the mapping (returns True); a plain tf.Variable the
        scope does not map is assigned as usual (returns False)."""
        from tensorflux.ops import array, math
        from tensorflux.ops._core import as_operand
        from tensorflux.variable import Variable

        key = id(variable)
        if key not in self.reads and not isinstance(variable, RebindsInPlace):
            # A plain tf.Variable (a tf.random.Generator's state: Dropout's masks) is not
            # Keras state: it changes as usual, or every stateless call would draw alike.
            return False
        if context.graph is not self._graph:
            self._check_graph(variable, "assigned")
        if isinstance(value, Variable):
            value = value.read_value()
        elif not isinstance(value, _TensorLike):
            value = as_operand(kind, value, variable.dtype)
        if value.dtype is not variable.dtype:
            raise errors.InvalidArgumentError(
                f"{kind} on Variable '{_path(variable)}': expected dtype {variable.dtype.name}, "
                f"received {value.dtype.name}", kind)
        if kind != "assign":
            current = self.reads.get(key)
            if current is None:
                current = array.read_variable(variable)
            value = (math.add if kind == "assign_add" else math.subtract)(current, value)
        if not variable._shape.is_compatible_with(value.shape) or (
                variable._shape.is_fully_defined()
                and tuple(value.shape) != tuple(variable.shape)):
            raise errors.InvalidArgumentError(
                f"{kind} on Variable '{_path(variable)}': expected shape {variable.shape}, "
                f"received {value.shape}", kind)
        self.reads[key] = self.state_mapping[key] = value
        self._variables[key] = variable
        return True

    def add_loss(self, loss):
        self.losses.append(loss)

    def add_update(self, update):
        variable, value = update
        if self.reads is None:
            self.state_mapping[id(variable)] = value
            self._variables[id(variable)] = variable
        else:
            variable.assign(value)

    def get_current_value(self, variable):
        """`variable`'s value in this scope (the tensor itself: gradients flow through it):
        the mapped or last assigned one; None where the scope never mapped or assigned it."""
        return self.state_mapping.get(id(variable))

    def __exit__(self, *exc_info):
        self.reads = None
        _close_scope(self._outer)
