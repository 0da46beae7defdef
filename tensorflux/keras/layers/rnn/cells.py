"""keras.layers recurrent cells: SimpleRNNCell, LSTMCell, GRUCell, StackedRNNCells, and the
DropoutRNNCell mixin that caches one dropout mask per sequence."""

from tensorflux.keras import activations, constraints, initializers, regularizers
from tensorflux.keras.engine import tree
from tensorflux.keras.layers.base import Layer

__all__ = ["DropoutRNNCell", "GRUCell", "LSTMCell", "SimpleRNNCell", "StackedRNNCells"]


def _tf():
    import tensorflux as tf

    return tf


def _positive_units(units):
    if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
        raise ValueError("Received an invalid value for argument `units`, expected a positive "
                         f"integer, got {units}.")


def _rate(value):
    return min(1.0, max(0.0, float(value)))


# The arguments every Keras cell shares (ConvLSTM2DCell too), in Keras's config order.
CELL_ARGS = ("activation", "recurrent_activation", "use_bias", "kernel_initializer",
             "recurrent_initializer", "bias_initializer", "kernel_regularizer",
             "recurrent_regularizer", "bias_regularizer", "kernel_constraint",
             "recurrent_constraint", "bias_constraint", "dropout", "recurrent_dropout")


def pick(arguments, names):
    """The entries of `arguments` (a constructor's `locals()`) named in `names`, in that
    order: how the cells and layers with Keras's explicit signatures pass them on."""
    return {name: arguments[name] for name in names if name in arguments}


def _codec(name):
    """The module that deserializes (`get`) and serializes a cell argument, by its name."""
    for suffix, module in (("activation", activations), ("_initializer", initializers),
                           ("_regularizer", regularizers), ("_constraint", constraints)):
        if name.endswith(suffix):
            return module
    return None


def set_cell_args(cell, arguments):
    """Sets a cell's Keras arguments (activations, initializers, ... dropout rates) as
    attributes, deserialized, and empties its dropout state."""
    for name, value in arguments.items():
        codec = _codec(name)
        if codec is not None:
            value = codec.get(value)
        elif name in ("dropout", "recurrent_dropout"):
            value = _rate(value)
        setattr(cell, name, value)
    cell._random = None
    cell._dropout_mask = None
    cell._recurrent_dropout_mask = None


def cell_args_config(cell, names):
    """The config entries of a cell's arguments `names`, serialized, in that order."""
    config = {}
    for name in names:
        codec = _codec(name)
        value = getattr(cell, name)
        config[name] = value if codec is None else codec.serialize(value)
    return config


def unit_forget_bias_initializer(base, units):
    """Keras's LSTM bias with `unit_forget_bias`: `base` for the [i, f, c, o] gate blocks but
    ones for the forget gate."""
    tf = _tf()
    ones = initializers.get("ones")

    def bias_initializer(_, dtype=None):
        return tf.concat([base((units,), dtype=dtype), ones((units,), dtype=dtype),
                          base((units * 2,), dtype=dtype)], axis=0)

    return bias_initializer


class DropoutRNNCell:
    """Mixin of cells with `dropout`/`recurrent_dropout`: one mask per sequence (Keras's
    variational dropout), drawn on the first step and reused until the RNN resets it."""

    def _draw_dropout_mask(self, step_input, rate):
        tf = _tf()
        if self._random is None:
            from tensorflux.keras.layers.regularization import _RandomSource

            self._random = _RandomSource(self.seed)
        count = getattr(self, "dropout_mask_count", None)
        shape = tuple(step_input.shape)

        def one():
            keep = tf.greater_equal(self._random.uniform(shape, step_input.dtype), rate)
            return tf.cast(keep, step_input.dtype) / (1.0 - rate)

        if rate >= 1.0:
            return tf.zeros_like(step_input) if count is None else \
                [tf.zeros_like(step_input) for _ in range(count)]
        return one() if count is None else [one() for _ in range(count)]

    def get_dropout_mask(self, step_input):
        if getattr(self, "_dropout_mask", None) is None and self.dropout > 0:
            self._dropout_mask = self._draw_dropout_mask(step_input, self.dropout)
        return getattr(self, "_dropout_mask", None)

    def get_recurrent_dropout_mask(self, step_input):
        if getattr(self, "_recurrent_dropout_mask", None) is None and \
                self.recurrent_dropout > 0:
            self._recurrent_dropout_mask = self._draw_dropout_mask(step_input,
                                                                   self.recurrent_dropout)
        return getattr(self, "_recurrent_dropout_mask", None)

    def reset_dropout_mask(self):
        self._dropout_mask = None

    def reset_recurrent_dropout_mask(self):
        self._recurrent_dropout_mask = None


class _GatedCell(DropoutRNNCell, Layer):
    """Shared constructor and config of the Keras cells (initializers, regularizers...)."""

    _extra_config = ()

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        _positive_units(units)
        super().__init__(**kwargs)
        self.units = units
        set_cell_args(self, pick(locals(), CELL_ARGS))
        self.seed = seed

    def _set_implementation(self, implementation, gates):
        # implementation 1 (a matmul per gate) is the one with a dropout mask per gate
        self.implementation = 1 if self.recurrent_dropout else implementation
        if self.implementation == 1:
            self.dropout_mask_count = gates

    def _weight(self, name, shape, initializer, kind):
        return self.add_weight(shape=shape, name=name, initializer=initializer,
                               regularizer=getattr(self, f"{kind}_regularizer"),
                               constraint=getattr(self, f"{kind}_constraint"))

    def _build_kernels(self, input_shape, gates):
        input_dim = input_shape[-1]
        self.kernel = self._weight("kernel", (input_dim, gates * self.units),
                                   self.kernel_initializer, "kernel")
        self.recurrent_kernel = self._weight("recurrent_kernel", (self.units, gates * self.units),
                                             self.recurrent_initializer, "recurrent")

    def get_config(self):
        config = cell_args_config(self, ("units",) + CELL_ARGS + ("seed",))
        for key in self._extra_config:
            config[key] = getattr(self, key)
        return {**super().get_config(), **config}

    def get_initial_state(self, batch_size=None):
        tf = _tf()
        sizes = self.state_size if isinstance(self.state_size, list) else [self.state_size]
        return [tf.zeros((batch_size, d), dtype=self.compute_dtype) for d in sizes]

    def _dropped_inputs(self, inputs, training):
        if training and 0.0 < self.dropout < 1.0:
            return self.get_dropout_mask(inputs)
        return None

    def _dropped_state(self, h, training):
        if training and 0.0 < self.recurrent_dropout < 1.0:
            return self.get_recurrent_dropout_mask(h)
        return None


class SimpleRNNCell(_GatedCell):
    """The cell of SimpleRNN: `h = activation(x @ kernel + bias + h_prev @ recurrent_kernel)`.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> cell = keras.layers.SimpleRNNCell(2, kernel_initializer="ones",
    ...                                   recurrent_initializer="zeros")
    >>> out, states = cell(tf.ones((1, 3)), [tf.zeros((1, 2))])
    >>> [round(v, 4) for v in out.numpy().ravel().tolist()]
    [0.9951, 0.9951]
    """

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 **kwargs):
        super().__init__(units, **pick(locals(), CELL_ARGS + ("seed",)), **kwargs)
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        self._build_kernels(input_shape, 1)
        self.bias = self._weight("bias", (self.units,), self.bias_initializer, "bias") \
            if self.use_bias else None

    def call(self, sequence, states, training=False):
        tf = _tf()
        prev_output = states[0] if isinstance(states, (list, tuple)) else states
        dp_mask = self._dropped_inputs(sequence, training)
        rec_dp_mask = self._dropped_state(prev_output, training)
        if dp_mask is not None:
            sequence = sequence * dp_mask
        h = tf.matmul(sequence, self.kernel)
        if self.bias is not None:
            h = h + self.bias
        if rec_dp_mask is not None:
            prev_output = prev_output * rec_dp_mask
        output = h + tf.matmul(prev_output, self.recurrent_kernel)
        if self.activation is not None:
            output = self.activation(output)
        new_state = [output] if isinstance(states, (list, tuple)) else output
        return output, new_state

    def get_config(self):
        config = super().get_config()
        del config["recurrent_activation"]
        return config


class LSTMCell(_GatedCell):
    """The cell of LSTM: gates [i, f, c, o] in the kernel columns; states [h, c].

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> cell = keras.layers.LSTMCell(1, kernel_initializer="zeros",
    ...                              recurrent_initializer="zeros", unit_forget_bias=False)
    >>> out, (h, c) = cell(tf.ones((1, 2)), [tf.zeros((1, 1)), tf.ones((1, 1))])
    >>> round(float(c[0, 0]), 4)
    0.5
    """

    _extra_config = ("unit_forget_bias",)

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, **kwargs):
        implementation = kwargs.pop("implementation", 2)
        super().__init__(units, **pick(locals(), CELL_ARGS + ("seed",)), **kwargs)
        self._set_implementation(implementation, 4)
        self.unit_forget_bias = unit_forget_bias
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape):
        self._build_kernels(input_shape, 4)
        if not self.use_bias:
            self.bias = None
            return
        bias_initializer = unit_forget_bias_initializer(self.bias_initializer, self.units) \
            if self.unit_forget_bias else self.bias_initializer
        self.bias = self._weight("bias", (4 * self.units,), bias_initializer, "bias")

    def call(self, inputs, states, training=False):
        tf = _tf()
        h_tm1, c_tm1 = states[0], states[1]
        u = self.units
        dp_mask = self._dropped_inputs(inputs, training)
        rec_dp_mask = self._dropped_state(h_tm1, training)
        if self.implementation == 1:
            xs = [inputs * m for m in dp_mask] if dp_mask is not None else [inputs] * 4
            hs = [h_tm1 * m for m in rec_dp_mask] if rec_dp_mask is not None else [h_tm1] * 4
            z = []
            for gate in range(4):
                part = tf.matmul(xs[gate], self.kernel[:, gate * u:(gate + 1) * u])
                if self.use_bias:
                    part = part + self.bias[gate * u:(gate + 1) * u]
                z.append(part + tf.matmul(hs[gate],
                                          self.recurrent_kernel[:, gate * u:(gate + 1) * u]))
        else:
            if dp_mask is not None:
                inputs = inputs * dp_mask
            zz = tf.matmul(inputs, self.kernel) + tf.matmul(h_tm1, self.recurrent_kernel)
            if self.use_bias:
                zz = zz + self.bias
            z = tf.split(zz, 4, axis=1)
        i = self.recurrent_activation(z[0])
        f = self.recurrent_activation(z[1])
        c = f * c_tm1 + i * self.activation(z[2])
        o = self.recurrent_activation(z[3])
        h = o * self.activation(c)
        return h, [h, c]


class GRUCell(_GatedCell):
    """The cell of GRU: gates [z, r, h]; `reset_after` (Keras 3's default) gives a (2, 3u)
    bias (input row, recurrent row) and applies the reset gate after the recurrent matmul.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> cell = keras.layers.GRUCell(1, kernel_initializer="zeros", recurrent_initializer="zeros")
    >>> out, _ = cell(tf.ones((1, 2)), [tf.ones((1, 1))])
    >>> round(float(out[0, 0]), 4)
    0.5
    """

    _extra_config = ("reset_after",)

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, reset_after=True,
                 seed=None, **kwargs):
        implementation = kwargs.pop("implementation", 2)
        super().__init__(units, **pick(locals(), CELL_ARGS + ("seed",)), **kwargs)
        self._set_implementation(implementation, 3)
        self.reset_after = reset_after
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        self._build_kernels(input_shape, 3)
        if self.use_bias:
            shape = (2, 3 * self.units) if self.reset_after else (3 * self.units,)
            self.bias = self._weight("bias", shape, self.bias_initializer, "bias")
        else:
            self.bias = None

    def _biases(self):
        if not self.use_bias:
            return None, None
        if not self.reset_after:
            return self.bias, None
        return self.bias[0], self.bias[1]

    def call(self, inputs, states, training=False):
        tf = _tf()
        h_tm1 = states[0] if tree.is_nested(states) else states
        u = self.units
        input_bias, recurrent_bias = self._biases()
        dp_mask = self._dropped_inputs(inputs, training)
        rec_dp_mask = self._dropped_state(h_tm1, training)
        if self.implementation == 1:
            xs = [inputs * m for m in dp_mask] if dp_mask is not None else [inputs] * 3
            hs = [h_tm1 * m for m in rec_dp_mask] if rec_dp_mask is not None else [h_tm1] * 3
            x = [tf.matmul(xs[g], self.kernel[:, g * u:(g + 1) * u]) for g in range(3)]
            if input_bias is not None:
                x = [x[g] + input_bias[g * u:(g + 1) * u] for g in range(3)]
            rec = [tf.matmul(hs[g], self.recurrent_kernel[:, g * u:(g + 1) * u])
                   for g in range(2)]
            if recurrent_bias is not None:
                rec = [rec[g] + recurrent_bias[g * u:(g + 1) * u] for g in range(2)]
            z = self.recurrent_activation(x[0] + rec[0])
            r = self.recurrent_activation(x[1] + rec[1])
            if self.reset_after:
                rh = tf.matmul(hs[2], self.recurrent_kernel[:, 2 * u:])
                if recurrent_bias is not None:
                    rh = rh + recurrent_bias[2 * u:]
                rh = r * rh
            else:
                rh = tf.matmul(r * hs[2], self.recurrent_kernel[:, 2 * u:])
            hh = self.activation(x[2] + rh)
        else:
            if dp_mask is not None:
                inputs = inputs * dp_mask
            matrix_x = tf.matmul(inputs, self.kernel)
            if input_bias is not None:
                matrix_x = matrix_x + input_bias
            x_z, x_r, x_h = tf.split(matrix_x, 3, axis=-1)
            if self.reset_after:
                inner = tf.matmul(h_tm1, self.recurrent_kernel)
                if recurrent_bias is not None:
                    inner = inner + recurrent_bias
            else:
                inner = tf.matmul(h_tm1, self.recurrent_kernel[:, :2 * u])
            z = self.recurrent_activation(x_z + inner[:, :u])
            r = self.recurrent_activation(x_r + inner[:, u:2 * u])
            if self.reset_after:
                rh = r * inner[:, 2 * u:]
            else:
                rh = tf.matmul(r * h_tm1, self.recurrent_kernel[:, 2 * u:])
            hh = self.activation(x_h + rh)
        h = z * h_tm1 + (1 - z) * hh
        return h, ([h] if tree.is_nested(states) else h)


class StackedRNNCells(Layer):
    """Cells run one after the other at each step: a deep RNN in one RNN layer.

    >>> from tensorflux import keras
    >>> cells = keras.layers.StackedRNNCells([keras.layers.GRUCell(3),
    ...                                       keras.layers.LSTMCell(2)])
    >>> cells.state_size, cells.output_size
    ([3, [2, 2]], 2)
    """

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        for cell in cells:
            if "call" not in dir(cell):
                raise ValueError("All cells must have a `call` method. "
                                 f"Received cell without a `call` method: {cell}")
            if "state_size" not in dir(cell):
                raise ValueError("All cells must have a `state_size` attribute. "
                                 f"Received cell without a `state_size`: {cell}")
        self.cells = list(cells)

    @property
    def state_size(self):
        return [c.state_size for c in self.cells]

    @property
    def output_size(self):
        last = self.cells[-1]
        if getattr(last, "output_size", None) is not None:
            return last.output_size
        if isinstance(last.state_size, (list, tuple)):
            return last.state_size[0]
        return last.state_size

    def get_initial_state(self, batch_size=None):
        tf = _tf()
        states = []
        for cell in self.cells:
            fn = getattr(cell, "get_initial_state", None)
            if fn:
                states.append(fn(batch_size=batch_size))
            elif isinstance(cell.state_size, int):
                states.append(tf.zeros((batch_size, cell.state_size),
                                       dtype=self.compute_dtype))
            else:
                states.append([tf.zeros((batch_size, d), dtype=self.compute_dtype)
                               for d in cell.state_size])
        return states

    def call(self, inputs, states, training=False, **kwargs):
        new_states = []
        for cell, cell_states in zip(self.cells, states):
            state_is_list = tree.is_nested(cell_states)
            cell_states = list(cell_states) if state_is_list else [cell_states]
            if isinstance(cell, Layer) and cell._call_has_training_arg:
                kwargs["training"] = training
            else:
                kwargs.pop("training", None)
            call_fn = cell.__call__ if callable(cell) else cell.call
            inputs, cell_states = call_fn(inputs, cell_states, **kwargs)
            if not isinstance(cell_states, (list, tuple)):
                cell_states = [cell_states]
            if len(cell_states) == 1 and not state_is_list:
                cell_states = cell_states[0]
            new_states.append(cell_states)
        if len(new_states) == 1:
            new_states = new_states[0]
        return inputs, new_states

    def build(self, input_shape):
        for cell in self.cells:
            if isinstance(cell, Layer) and not cell.built:
                cell.build(input_shape)
                cell.built = True
            if getattr(cell, "output_size", None) is not None:
                output_dim = cell.output_size
            elif isinstance(cell.state_size, (list, tuple)):
                output_dim = cell.state_size[0]
            else:
                output_dim = cell.state_size
            input_shape = (tree.flatten(input_shape)[0], output_dim)

    def get_config(self):
        from tensorflux.keras.saving.serialization import serialize_keras_object

        return {**super().get_config(),
                "cells": [serialize_keras_object(cell) for cell in self.cells]}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from tensorflux.keras.saving.serialization import deserialize_keras_object

        config = dict(config)
        cells = [deserialize_keras_object(c, custom_objects=custom_objects)
                 for c in config.pop("cells")]
        return cls(cells, **config)
