"""Learning-rate schedules (Keras 3's formulas, written with tensorflux ops so that they run
eagerly and inside tf.function from the optimizer's iteration Variable)."""

import math

import tensorflux as tf

__all__ = ["LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay",
           "PolynomialDecay", "InverseTimeDecay", "CosineDecay", "CosineDecayRestarts",
           "serialize", "deserialize"]


def _as_float_tensor(value):
    return value if isinstance(value, (tf.Tensor, tf.Variable)) else tf.convert_to_tensor(value)


class LearningRateSchedule:
    """A serializable function of the optimizer step: subclasses define `__call__(step)`
    and `get_config()`."""

    def __call__(self, step):
        raise NotImplementedError(f"Learning rate schedule '{self.__class__.__name__}' must "
                                  "override `__call__(self, step)`.")

    def get_config(self):
        raise NotImplementedError(f"Learning rate schedule '{self.__class__.__name__}' must "
                                  "override `get_config()` in order to be serializable.")

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _check_steps(name, value):
    if value <= 0:
        raise ValueError(f"Argument `{name}` must be > 0. Received: {name}={value}")


class _StaircaseDecay(LearningRateSchedule):
    """Shared by ExponentialDecay and InverseTimeDecay: the same arguments, config and
    decay progress `step / decay_steps` (floored if staircase); subclasses apply it."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase, name):
        super().__init__()
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name
        _check_steps("decay_steps", decay_steps)

    def _progress(self, step):
        """(initial learning rate as a tensor, its dtype, the decay progress)."""
        initial_learning_rate = _as_float_tensor(self.initial_learning_rate)
        dtype = initial_learning_rate.dtype
        p = tf.cast(step, dtype) / tf.cast(self.decay_steps, dtype)
        if self.staircase:
            p = tf.floor(p)
        return initial_learning_rate, dtype, p

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class ExponentialDecay(_StaircaseDecay):
    """`initial_learning_rate * decay_rate ** (step / decay_steps)` (floored if staircase).

    >>> from tensorflux.keras.optimizers import schedules
    >>> round(float(schedules.ExponentialDecay(0.1, 10, 0.5)(20)), 6)
    0.025
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="ExponentialDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        initial_learning_rate, dtype, p = self._progress(step)
        return initial_learning_rate * tf.pow(tf.cast(self.decay_rate, dtype), p)


class PiecewiseConstantDecay(LearningRateSchedule):
    """`values[i]` for `boundaries[i-1] < step <= boundaries[i]`.

    >>> from tensorflux.keras.optimizers import schedules
    >>> s = schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.25])
    >>> [float(s(x)) for x in (10, 11, 21)]
    [1.0, 0.5, 0.25]
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        super().__init__()
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of values. "
                f"Received: boundaries={boundaries} of length {len(boundaries)}, and "
                f"values={values} of length {len(values)}.")
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step):
        step = _as_float_tensor(step)
        boundaries = [tf.cast(b, step.dtype) for b in self.boundaries]
        values = [tf.convert_to_tensor(v) for v in self.values]
        dtype = values[0].dtype
        result = tf.cast(step <= boundaries[0], dtype) * values[0]
        result = result + tf.cast(step > boundaries[-1], dtype) * values[-1]
        for low, high, value in zip(boundaries[:-1], boundaries[1:], values[1:-1]):
            in_range = tf.logical_and(step > low, step <= high)
            result = result + tf.cast(in_range, dtype) * value
        return result

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """`(initial - end) * (1 - step/decay_steps) ** power + end` (cycling if asked).

    >>> from tensorflux.keras.optimizers import schedules
    >>> round(float(schedules.PolynomialDecay(0.1, 10, end_learning_rate=0.0)(5)), 6)
    0.05
    """

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001,
                 power=1.0, cycle=False, name="PolynomialDecay"):
        super().__init__()
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle
        self.name = name
        _check_steps("decay_steps", decay_steps)

    def __call__(self, step):
        initial_learning_rate = _as_float_tensor(self.initial_learning_rate)
        dtype = initial_learning_rate.dtype
        end_learning_rate = tf.cast(self.end_learning_rate, dtype)
        power = tf.cast(self.power, dtype)
        global_step = tf.cast(step, dtype)
        decay_steps = tf.cast(self.decay_steps, dtype)
        if self.cycle:
            multiplier = tf.where(tf.equal(global_step, 0), tf.ones_like(global_step),
                                  tf.math.ceil(global_step / self.decay_steps))
            decay_steps = decay_steps * multiplier
        else:
            global_step = tf.minimum(global_step, decay_steps)
        p = global_step / decay_steps
        return (initial_learning_rate - end_learning_rate) * tf.pow(1 - p, power) \
            + end_learning_rate

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "end_learning_rate": self.end_learning_rate,
                "power": self.power, "cycle": self.cycle, "name": self.name}


class InverseTimeDecay(_StaircaseDecay):
    """`initial_learning_rate / (1 + decay_rate * step / decay_steps)`.

    >>> from tensorflux.keras.optimizers import schedules
    >>> round(float(schedules.InverseTimeDecay(0.1, 1, 0.5)(2)), 6)
    0.05
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="InverseTimeDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        initial_learning_rate, dtype, p = self._progress(step)
        denom = tf.cast(1, dtype) + tf.cast(self.decay_rate, dtype) * p
        return initial_learning_rate / denom


class CosineDecay(LearningRateSchedule):
    """Cosine decay from `initial_learning_rate` (or, after a linear warmup, from
    `warmup_target`) to `alpha` times it over `decay_steps`.

    >>> from tensorflux.keras.optimizers import schedules
    >>> round(float(schedules.CosineDecay(0.1, 10)(5)), 6)
    0.05
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay",
                 warmup_target=None, warmup_steps=0):
        super().__init__()
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_steps = warmup_steps
        self.warmup_target = warmup_target
        _check_steps("decay_steps", decay_steps)

    def _decay_function(self, step, decay_steps, decay_from_lr, dtype):
        completed_fraction = step / decay_steps
        pi = tf.constant(math.pi, dtype)
        cosine_decayed = 0.5 * (1.0 + tf.cos(pi * completed_fraction))
        decayed = (1 - self.alpha) * cosine_decayed + self.alpha
        return decay_from_lr * decayed

    def __call__(self, step):
        initial_learning_rate = _as_float_tensor(self.initial_learning_rate)
        dtype = initial_learning_rate.dtype
        decay_steps = tf.cast(self.decay_steps, dtype)
        global_step = tf.cast(step, dtype)
        if self.warmup_target is None:
            global_step = tf.minimum(global_step, decay_steps)
            return self._decay_function(global_step, decay_steps, initial_learning_rate,
                                        dtype)
        warmup_target = tf.cast(self.warmup_target, dtype)
        warmup_steps = tf.cast(self.warmup_steps, dtype)
        global_step = tf.minimum(global_step, decay_steps + warmup_steps)
        # Both branches are computed and one is selected (Keras uses a cond): the
        # unselected one may divide by zero warmup steps, which is harmless here.
        warmup = (warmup_target - initial_learning_rate) * (global_step / warmup_steps) \
            + initial_learning_rate
        decay = self._decay_function(global_step - warmup_steps, decay_steps, warmup_target,
                                     dtype)
        return tf.where(global_step < warmup_steps, warmup, decay)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha, "name": self.name,
                "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR): periods grow by `t_mul`, peaks by `m_mul`.

    >>> from tensorflux.keras.optimizers import schedules
    >>> s = schedules.CosineDecayRestarts(0.1, 10)
    >>> [round(float(s(x)), 6) for x in (0, 5, 10)]
    [0.1, 0.05, 0.1]
    """

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0,
                 alpha=0.0, name="SGDRDecay"):
        super().__init__()
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = first_decay_steps
        self._t_mul = t_mul
        self._m_mul = m_mul
        self.alpha = alpha
        self.name = name
        _check_steps("first_decay_steps", first_decay_steps)

    def __call__(self, step):
        initial_learning_rate = _as_float_tensor(self.initial_learning_rate)
        dtype = initial_learning_rate.dtype
        first_decay_steps = tf.cast(self.first_decay_steps, dtype)
        alpha = tf.cast(self.alpha, dtype)
        t_mul = tf.cast(self._t_mul, dtype)
        m_mul = tf.cast(self._m_mul, dtype)
        completed_fraction = tf.cast(step, dtype) / first_decay_steps
        # t_mul is a Python number, so Keras's cond on it is decided here.
        if self._t_mul == 1.0:
            i_restart = tf.floor(completed_fraction)
            completed_fraction = completed_fraction - i_restart
        else:
            i_restart = tf.floor(tf.math.log(1.0 - completed_fraction * (1.0 - t_mul))
                                 / tf.math.log(t_mul))
            sum_r = (1.0 - tf.pow(t_mul, i_restart)) / (1.0 - t_mul)
            completed_fraction = (completed_fraction - sum_r) / tf.pow(t_mul, i_restart)
        m_fac = tf.pow(m_mul, i_restart)
        cosine_decayed = 0.5 * m_fac * (1.0 + tf.cos(tf.constant(math.pi, dtype)
                                                     * completed_fraction))
        decayed = (1 - alpha) * cosine_decayed + alpha
        return initial_learning_rate * decayed

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "first_decay_steps": self.first_decay_steps, "t_mul": self._t_mul,
                "m_mul": self._m_mul, "alpha": self.alpha, "name": self.name}


_SCHEDULES = {cls.__name__: cls for cls in (
    ExponentialDecay, PiecewiseConstantDecay, PolynomialDecay, InverseTimeDecay, CosineDecay,
    CosineDecayRestarts)}


def serialize(learning_rate_schedule):
    """Keras 3's dict form: {"module": "keras.optimizers.schedules", "class_name", ...}; a
    user's schedule carries its module and the name it was registered under, which
    `deserialize` looks up."""
    cls = type(learning_rate_schedule)
    config = learning_rate_schedule.get_config()
    if _SCHEDULES.get(cls.__name__) is cls:
        return {"module": "keras.optimizers.schedules", "class_name": cls.__name__,
                "config": config, "registered_name": None}
    from tensorflux.keras.saving import serialization

    return {"module": None if cls.__module__ == "__main__" else cls.__module__,
            "class_name": cls.__name__, "config": config,
            "registered_name": serialization.get_registered_name(cls)}


def deserialize(config, custom_objects=None):
    """A schedule from `serialize`'s dict (or Keras 2's {"class_name", "config"})."""
    if isinstance(config, LearningRateSchedule):
        return config
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret learning rate schedule config: {config!r}")
    name, registered = config["class_name"], config.get("registered_name")
    cls = ((custom_objects or {}).get(name) or (registered and _registered(registered))
           or _SCHEDULES.get(name) or _registered(name))
    if cls is None:
        raise ValueError(f"Unknown decay: '{name}'. Please ensure you are using a "
                         "`keras.utils.custom_object_scope` and that this object is "
                         "included in the scope.")
    return cls.from_config(dict(config.get("config", {})))


def _registered(name):
    """A user's registered class, through the serialization registry when it exists."""
    try:
        from tensorflux.keras.saving import serialization
    except ImportError:
        return None
    lookup = getattr(serialization, "get_registered_object", None)
    return lookup(name) if lookup is not None else None
