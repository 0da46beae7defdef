"""keras.StatelessScope: run code on given variable values without changing the variables.

tensorflux variables hold their values themselves, so the scope swaps the mapped values in
when it opens, notes every Keras variable assigned while it is open (KerasVariable.assign
reports to it), and on exit keeps their final values for `get_current_value` and puts the
original values back. Eager only, like tensorflux's `stateless_call`.
"""

import threading

__all__ = ["StatelessScope", "get_stateless_scope", "in_stateless_scope"]


class _Current(threading.local):
    scope = None


_current = _Current()


def get_stateless_scope():
    """The innermost open StatelessScope, or None."""
    return _current.scope


def in_stateless_scope():
    return _current.scope is not None


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
        self.state_mapping = {}  # id(variable) -> its value (a tensor)
        self._variables = {}  # id(variable) -> the variable, for those in state_mapping
        self._originals = None  # while open: id(variable) -> (variable, value before)
        for variable, value in state_mapping or ():
            if not isinstance(variable, Variable):
                raise ValueError("Invalid reference variable in StatelessScope: all keys in "
                                 "argument `state_mapping` must be Variable instances. "
                                 f"Received instead: {variable!r}")
            if isinstance(value, Variable):
                value = tf.cast(value.read_value(), variable.dtype)
            else:
                value = tf.convert_to_tensor(value, dtype=variable.dtype)
            if tuple(value.shape) != tuple(variable.shape):
                raise ValueError("Invalid variable value in StatelessScope: all values in "
                                 "argument `state_mapping` must be tensors with a shape that "
                                 f"matches the corresponding variable shape. For variable "
                                 f"'{getattr(variable, 'path', variable.name)}' of shape "
                                 f"{tuple(variable.shape)}, received a value of shape "
                                 f"{tuple(value.shape)}.")
            self.state_mapping[id(variable)] = value
            self._variables[id(variable)] = variable

    def __enter__(self):
        import tensorflux as tf

        if not tf.executing_eagerly():
            raise NotImplementedError(
                "keras.StatelessScope inside a tf.function: tensorflux swaps the mapped values "
                "into the variables, which only works eagerly.")
        self._outer = _current.scope
        self._originals = {}
        _current.scope = self
        for key, variable in self._variables.items():
            variable.assign(self.state_mapping[key])  # (noted as a write: restored on exit)
        return self

    def _note_write(self, variable):
        """Called by a variable about to be assigned inside the scope: keeps its value from
        before, the first time."""
        if id(variable) in self._originals:
            return
        import tensorflux as tf

        if not tf.executing_eagerly():
            raise NotImplementedError(
                f"Variable '{getattr(variable, 'path', variable.name)}' is assigned inside a "
                "tf.function traced while a keras.StatelessScope is open: tensorflux's scope "
                "captures eager assignments only. Call the layer or metric eagerly inside the "
                "scope.")
        self._originals[id(variable)] = (variable, variable.read_value())

    def add_loss(self, loss):
        self.losses.append(loss)

    def add_update(self, update):
        variable, value = update
        if self._originals is None:
            self.state_mapping[id(variable)] = value
        else:
            variable.assign(value)

    def get_current_value(self, variable):
        """`variable`'s value in this scope: its current one while the scope is open, the one
        the scope left it with afterwards; None where the scope never mapped or assigned it."""
        if self._originals is not None and id(variable) in self._originals:
            return variable.read_value()
        return self.state_mapping.get(id(variable))

    def __exit__(self, *exc_info):
        try:
            for key, (variable, original) in self._originals.items():
                self.state_mapping[key] = variable.read_value()
                variable.assign(original)
        finally:
            self._originals = None
            _current.scope = self._outer
