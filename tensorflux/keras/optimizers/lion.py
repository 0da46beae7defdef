"""Lion (Keras 3's formula: the sign of an interpolated momentum)."""

import tensorflux as tf
from tensorflux.keras.optimizers._common import base_positional, split_base_kwargs
from tensorflux.keras.optimizers.base import Optimizer

__all__ = ["Lion"]


class Lion(Optimizer):
    """`var -= lr*sign(b1*m + (1-b1)*g); m = b2*m + (1-b2)*g`.

    >>> import tensorflux as tf
    >>> from tensorflux.keras import optimizers
    >>> w = tf.Variable([1.0, 1.0])
    >>> _ = optimizers.Lion(learning_rate=0.1).apply_gradients([(tf.constant([2.0, -3.0]), w)])
    >>> [round(x, 5) for x in w.numpy().tolist()]
    [0.9, 1.1]
    """

    _supports_flat = True

    @base_positional
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, **kwargs):
        base, rest = split_base_kwargs(kwargs)
        super().__init__(learning_rate=learning_rate, **base, **rest)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        if beta_1 <= 0 or beta_1 > 1:
            raise ValueError("Argument `beta_1` must be in the [0, 1] range. Otherwise, the "
                             f"optimizer degenerates to SignSGD. Received: beta_1={beta_1}.")

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums = self.add_optimizer_variables(var_list, "momentum")

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = tf.cast(learning_rate, dtype)
        gradient = tf.cast(gradient, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        m = self._slot(self._momentums, variable)
        self.assign_sub(variable, lr * tf.sign(m * beta_1 + gradient * (1.0 - beta_1)))
        self.assign(m, m * beta_2 + gradient * (1.0 - beta_2))

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2})
        return config
