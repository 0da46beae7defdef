"""Muon (Keras 3's formula: momentum orthogonalized by five Newton-Schulz iterations for 2D
variables, AdamW for every other variable)."""

import re

import tensorflux as tf
from tensorflux.keras.optimizers._common import split_base_kwargs
from tensorflux.keras.optimizers.base import Optimizer

__all__ = ["Muon"]


def _swap_last_axes(x):
    rank = len(x.shape)
    perm = list(range(rank))
    perm[-2], perm[-1] = rank - 1, rank - 2
    return tf.transpose(x, perm)


class Muon(Optimizer):
    """Muon for 2D variables, AdamW for the rest (rank != 2, paths containing "embedding"
    when `exclude_embeddings`, paths matching a regex of `exclude_layers`).

    Muon step: `m = momentum*m + g`; `u = NS5(g + momentum*m)` (or `NS5(m)` without
    nesterov); `var -= lr * u * sqrt(max(rows, cols)) * rms_rate`. Weight decay is
    `weight_decay` on Muon variables and `adam_weight_decay` on AdamW ones.

    The orthogonalization is a matrix product per variable, so Muon updates variable by
    variable.

    >>> import tensorflux as tf
    >>> from tensorflux.keras import optimizers
    >>> w = tf.Variable([1.0])
    >>> _ = optimizers.Muon(learning_rate=0.1, adam_weight_decay=None).apply_gradients(
    ...     [(tf.constant([2.0]), w)])
    >>> round(float(w[0]), 5)
    0.9
    """

    def __init__(self, learning_rate=0.001, adam_beta_1=0.9, adam_beta_2=0.999,
                 adam_weight_decay=0.004, epsilon=1e-7, weight_decay=0.004, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, exclude_layers=None,
                 exclude_embeddings=True, muon_a=3.4445, muon_b=-4.7750, muon_c=2.0315,
                 adam_lr_ratio=1, momentum=0.95, ns_steps=5, nesterov=True, rms_rate=0.2,
                 **kwargs):
        base, rest = split_base_kwargs(dict(
            kwargs, weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
            global_clipnorm=global_clipnorm, use_ema=use_ema, ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps, name=name))
        super().__init__(learning_rate=learning_rate, **base, **rest)
        self.adam_beta_1 = adam_beta_1
        self.adam_beta_2 = adam_beta_2
        self.epsilon = epsilon
        self.muon_a = muon_a
        self.muon_b = muon_b
        self.muon_c = muon_c
        self.adam_lr_ratio = adam_lr_ratio
        self.momentum = momentum
        self.ns_steps = ns_steps
        self.nesterov = nesterov
        self.exclude_embeddings = exclude_embeddings
        self.exclude_layers = exclude_layers or []
        self.adam_weight_decay = adam_weight_decay
        self.rms_rate = rms_rate

    def _should_use_adamw(self, variable):
        if len(variable.shape) != 2:
            return True
        path = getattr(variable, "path", None) or variable.name
        if self.exclude_embeddings and "embedding" in path.lower():
            return True
        return any(re.search(keyword, path) for keyword in self.exclude_layers)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self.momentums = [None] * len(var_list)
        self.adam_velocities = [None] * len(var_list)
        for variable in var_list:
            index = self._get_variable_index(variable)
            self.momentums[index] = self.add_variable_from_reference(variable, "momentum")
            if self._should_use_adamw(variable):
                self.adam_velocities[index] = self.add_variable_from_reference(
                    variable, "velocity")

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        m, v = self.momentums[index], self.adam_velocities[index]
        if v is not None:
            self._adamw_update_step(gradient, variable, learning_rate * self.adam_lr_ratio,
                                    m, v)
        else:
            self._muon_update_step(gradient, variable, learning_rate, m)

    def _muon_update_step(self, gradient, variable, lr, m):
        self.assign_add(m, gradient + m * (self.momentum - 1))
        g = gradient + self.momentum * m if self.nesterov else m
        update = self.zeropower_via_newtonschulz5(g, self.ns_steps)
        self.assign_sub(variable, self.lr_adjust(lr * update))

    def _adamw_update_step(self, gradient, variable, learning_rate, m, v):
        dtype = variable.dtype
        lr = tf.cast(learning_rate, dtype)
        gradient = tf.cast(gradient, dtype)
        local_step = tf.cast(self.iterations + 1, dtype)
        beta_1_power = tf.pow(tf.cast(self.adam_beta_1, dtype), local_step)
        beta_2_power = tf.pow(tf.cast(self.adam_beta_2, dtype), local_step)
        alpha = lr * tf.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        self.assign_add(m, (gradient - m) * (1 - self.adam_beta_1))
        self.assign_add(v, (tf.square(gradient) - v) * (1 - self.adam_beta_2))
        self.assign_sub(variable, m * alpha / (tf.sqrt(v) + self.epsilon))

    def transpose_last_axis(self, x):
        return _swap_last_axes(x)

    def lr_adjust(self, x):
        """Scales a 2D update by `sqrt(max(rows, cols)) * rms_rate` (Moonlight's rule)."""
        if self.rms_rate is None:
            return x
        scale = tf.sqrt(tf.constant(float(max(int(x.shape[0]), int(x.shape[1]))), x.dtype))
        return x * scale * self.rms_rate

    def zeropower_via_newtonschulz5(self, x, steps):
        """An approximate orthogonalization of `x` (U S' V^T, not U V^T) by `steps` quintic
        Newton-Schulz iterations, with Keras's coefficients (muon_a, muon_b, muon_c)."""
        shape = tuple(x.shape)
        if len(shape) < 2:
            raise ValueError("Expected gradient or momentum to have at least 2 dimensions. "
                             f"Received: shape={shape}")
        a, b, c = self.muon_a, self.muon_b, self.muon_c
        tall = int(shape[-2]) > int(shape[-1])
        if tall:
            x = _swap_last_axes(x)
        # Scale so that the spectral norm is at most 1 (the Frobenius norm bounds it).
        x = x / (tf.sqrt(tf.reduce_sum(tf.square(x), axis=[-2, -1], keepdims=True)) + 1e-7)
        for _ in range(steps):
            temp_a = tf.matmul(x, _swap_last_axes(x))
            temp_b = b * temp_a + tf.matmul(c * temp_a, temp_a)
            x = a * x + tf.matmul(temp_b, x)
        if tall:
            x = _swap_last_axes(x)
        return x

    def _apply_weight_decay(self, variables):
        for variable in variables:
            if not self._use_weight_decay(variable):
                continue
            decay = (self.adam_weight_decay if self._should_use_adamw(variable)
                     else self.weight_decay)
            if decay is None:
                continue
            wd = tf.cast(decay, variable.dtype)
            lr = tf.cast(self.learning_rate, variable.dtype)
            variable.assign(variable - variable * wd * lr)

    def get_config(self):
        config = super().get_config()
        config.update({
            "adam_beta_1": self.adam_beta_1, "adam_beta_2": self.adam_beta_2,
            "epsilon": self.epsilon, "exclude_layers": self.exclude_layers,
            "muon_a": self.muon_a, "muon_b": self.muon_b, "muon_c": self.muon_c,
            "adam_lr_ratio": self.adam_lr_ratio, "momentum": self.momentum,
            "ns_steps": self.ns_steps, "nesterov": self.nesterov,
            "exclude_embeddings": self.exclude_embeddings,
            "adam_weight_decay": self.adam_weight_decay, "rms_rate": self.rms_rate,
        })
        return config


