"""Lamb (Keras 3's formula: Adam's bias-corrected step scaled per variable by the trust
ratio ||w|| / ||update||)."""

import tensorflux as tf
from tensorflux.keras.optimizers._common import base_positional, split_base_kwargs
from tensorflux.keras.optimizers.base import Optimizer

__all__ = ["Lamb"]


def _l2_norm(x):
    return tf.sqrt(tf.reduce_sum(tf.square(x)))


class Lamb(Optimizer):
    """`update = m_hat / (sqrt(v_hat) + eps)`; `var -= ratio * lr * update` with
    `ratio = ||var|| / ||update||` (1 where either norm is 0).

    The trust ratio is a norm per variable, so Lamb updates variable by variable rather than
    on the flat buffers.

    >>> import tensorflux as tf
    >>> from tensorflux.keras import optimizers
    >>> w = tf.Variable([3.0, 4.0])
    >>> _ = optimizers.Lamb(learning_rate=0.1).apply_gradients([(tf.constant([1.0, 1.0]), w)])
    >>> [round(x, 4) for x in w.numpy().tolist()]
    [2.6464, 3.6464]
    """

    @base_positional
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 **kwargs):
        base, rest = split_base_kwargs(kwargs)
        super().__init__(learning_rate=learning_rate, **base, **rest)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"])

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = tf.cast(learning_rate, dtype)
        gradient = tf.cast(gradient, dtype)
        local_step = tf.cast(self.iterations + 1, dtype)
        beta_1_power = tf.pow(tf.cast(self.beta_1, dtype), local_step)
        beta_2_power = tf.pow(tf.cast(self.beta_2, dtype), local_step)
        m = self._slot(self._momentums, variable)
        v = self._slot(self._velocities, variable)
        self.assign_add(m, (gradient - m) * (1 - self.beta_1))
        self.assign_add(v, (tf.square(gradient) - v) * (1 - self.beta_2))
        m_hat = m / (1.0 - beta_1_power)
        update = m_hat / (tf.sqrt(v / (1.0 - beta_2_power)) + self.epsilon)
        w_norm = _l2_norm(variable)
        g_norm = _l2_norm(update)
        one = tf.ones_like(w_norm)
        safe_g_norm = tf.where(g_norm > 0, g_norm, one)
        ratio = tf.where(w_norm > 0, tf.where(g_norm > 0, w_norm / safe_g_norm, one), one)
        self.assign_sub(variable, ratio * lr * update)

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config
