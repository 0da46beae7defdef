"""ScheduleFreeAdamW (Keras 3's formula: Adam steps on an auxiliary sequence z, an
averaged sequence x, and the weights set to their interpolation y)."""

import tensorflux as tf
from tensorflux.keras.optimizers._common import base_positional, split_base_kwargs
from tensorflux.keras.optimizers.base import Optimizer, _eager

__all__ = ["ScheduleFreeAdamW"]


class ScheduleFreeAdamW(Optimizer):
    """Schedule-free AdamW (Defazio et al., 2024): with `z` the "momentum" slot (starting at
    the weights) and `y` the weights,
    `z -= lr * g / (sqrt(v / (1 - b2^t)) + eps)`, `x_old = (y - (1-b1) z_old) / b1`,
    `x = (1 - 1/t) x_old + z / t`, `y = (1-b1) z + b1 x`; `lr` ramps up linearly over
    `warmup_steps`.

    `z_old` is the slot before this step's update, as in Keras on its TensorFlow and JAX
    backends (Keras's torch backend reads the slot after the in-place update instead).

    >>> import tensorflux as tf
    >>> from tensorflux.keras import optimizers
    >>> w = tf.Variable([1.0])
    >>> _ = optimizers.ScheduleFreeAdamW(learning_rate=0.1).apply_gradients(
    ...     [(tf.constant([2.0]), w)])
    >>> round(float(w[0]), 5)
    0.9
    """

    _supports_flat = True

    @base_positional
    def __init__(self, learning_rate=0.0025, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 warmup_steps=0, **kwargs):
        base, rest = split_base_kwargs(kwargs)
        super().__init__(learning_rate=learning_rate, **base, **rest)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.warmup_steps = warmup_steps

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"])
        with _eager():
            for momentum, variable in zip(self._momentums, var_list):
                if momentum is not None:
                    momentum.assign(tf.identity(variable))

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = tf.cast(learning_rate, dtype)
        gradient = tf.cast(gradient, dtype)
        local_step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        epsilon = tf.cast(self.epsilon, dtype)
        if self.warmup_steps > 0:
            warmup = tf.cast(self.warmup_steps, dtype)
            lr = lr * tf.minimum(local_step / warmup, tf.ones_like(local_step))
        momentum = self._slot(self._momentums, variable)
        velocity = self._slot(self._velocities, variable)
        momentum_old = tf.identity(momentum)
        bias_correction_2 = 1 - tf.pow(beta_2, local_step)
        self.assign_add(velocity, (tf.square(gradient) - velocity) * (1 - beta_2))
        denom = tf.sqrt(velocity / bias_correction_2) + epsilon
        self.assign_sub(momentum, lr * gradient / denom)
        weight = 1.0 / local_step
        x_old = (variable - (1 - beta_1) * momentum_old) / beta_1
        x_new = (1 - weight) * x_old + weight * momentum
        self.assign(variable, (1 - beta_1) * momentum + beta_1 * x_new)

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                       "warmup_steps": self.warmup_steps})
        return config
