"""tf.train.ExponentialMovingAverage: shadow variables that follow other variables' values."""

from tensorflux import dtypes
from tensorflux.variable import Variable

__all__ = ["ExponentialMovingAverage"]

_FLOAT_TYPES = (dtypes.bfloat16, dtypes.float16, dtypes.float32, dtypes.float64)


def _op_name(variable):
    name = variable.name
    return name[:-2] if name.endswith(":0") else name


class ExponentialMovingAverage:
    """Keeps a moving average of each variable given to apply():
    shadow -= (1 - decay) * (shadow - variable), the shadow starting at the variable's value.

    With num_updates (a number, tensor or Variable, read at each apply), the decay used is
    min(decay, (1 + num_updates) / (10 + num_updates)), so early averages move faster.
    zero_debias concerns averages of plain tensors, which TensorFlow 2 refuses eagerly and
    tensorflux refuses always: the shadow of a Variable starts at its value, with nothing to
    debias, so the flag is kept but changes nothing.

    >>> import tensorflux as tf
    >>> v = tf.Variable(1.0, name="v")
    >>> ema = tf.train.ExponentialMovingAverage(decay=0.9)
    >>> ema.apply([v])
    >>> _ = v.assign(3.0)
    >>> ema.apply([v])
    >>> round(float(ema.average(v)), 4), ema.average_name(v)
    (1.2, 'v/ExponentialMovingAverage')
    """

    def __init__(self, decay, num_updates=None, zero_debias=False,
                 name="ExponentialMovingAverage"):
        if not isinstance(name, str) or not name:
            raise ValueError(f"ExponentialMovingAverage: name must be a non-empty string, "
                             f"received {name!r}")
        self._decay = decay
        self._num_updates = num_updates
        self._zero_debias = zero_debias
        self._name = name
        self._averages = {}  # id(variable) -> (variable, its shadow Variable)

    @property
    def name(self):
        return self._name

    def average_name(self, var):
        """The name of var's shadow variable: var's name (without ":0") + "/" + self.name."""
        if not hasattr(var, "name"):
            raise TypeError(f"average_name: expected a Variable, received "
                            f"{type(var).__name__}")
        return f"{_op_name(var)}/{self._name}"

    def average(self, var):
        """var's shadow Variable, or None when apply() has not been given var."""
        entry = self._averages.get(id(var))
        return None if entry is None or entry[0] is not var else entry[1]

    def _effective_decay(self, dtype):
        from tensorflux.ops import math

        decay = math.cast(self._decay, dtypes.float32) if not isinstance(
            self._decay, (int, float)) else self._decay
        if self._num_updates is not None:
            steps = math.cast(self._num_updates, dtypes.float32)
            decay = math.minimum(decay, (1.0 + steps) / (10.0 + steps))
        if isinstance(decay, (int, float)):
            return float(decay)
        return math.cast(decay, dtype)

    def _shadow(self, var):
        from tensorflux.ops.framework import init_scope

        entry = self._averages.get(id(var))
        if entry is not None and entry[0] is var:
            return entry[1]
        # Made outside any function being traced, as a variable must be created once.
        with init_scope():
            shadow = Variable(var.read_value(), trainable=False, name=self.average_name(var))
        self._averages[id(var)] = (var, shadow)
        return shadow

    def apply(self, var_list=None):
        """Creates the shadows of new variables, then moves every shadow of var_list one step
        towards its variable's value. Returns None."""
        if var_list is None:
            raise ValueError("ExponentialMovingAverage.apply: pass var_list, the Variables to "
                             "average (tensorflux keeps no global list of trainable variables)")
        variables = list(var_list)
        for var in variables:
            if not isinstance(var, Variable):
                raise TypeError("ExponentialMovingAverage.apply takes Variables only, received "
                                f"{type(var).__name__} {var!r}")
            if var.dtype not in _FLOAT_TYPES:
                raise TypeError("ExponentialMovingAverage.apply: the variables must be "
                                f"bfloat16, float16, float32 or float64, received {var.name} "
                                f"of dtype {var.dtype.name}")
        for var in variables:
            shadow = self._shadow(var)
            decay = self._effective_decay(var.dtype)
            shadow.assign_sub((shadow - var) * (1.0 - decay))
        return None

    def variables_to_restore(self, moving_avg_variables=None):
        """{shadow name: variable} for moving_avg_variables (by default those given to apply):
        what a restore maps the averages' saved values onto, to evaluate with them."""
        if moving_avg_variables is None:
            moving_avg_variables = [var for var, _ in self._averages.values()]
        return {self.average_name(var): var for var in moving_avg_variables}
