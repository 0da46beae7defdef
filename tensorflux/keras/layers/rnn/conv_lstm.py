"""keras.layers ConvLSTM1D/2D/3D and their cell: an LSTM whose input and recurrent transforms
are 1-D, 2-D or 3-D convolutions (gates [i, f, c, o] along the kernel's output axis)."""

from tensorflux.keras.layers.base import InputSpec, Layer
from tensorflux.keras.layers.convolutional import (
    _conv,
    conv_output_length,
    standardize_data_format,
    standardize_padding,
    standardize_tuple,
    tf_format,
)
from tensorflux.keras.layers.rnn.cells import (
    CELL_ARGS,
    DropoutRNNCell,
    cell_args_config,
    pick,
    set_cell_args,
    unit_forget_bias_initializer,
)
from tensorflux.keras.layers.rnn.rnn import _CellOwningRNN

__all__ = ["ConvLSTM1D", "ConvLSTM2D", "ConvLSTM2DCell", "ConvLSTM3D", "ConvLSTMCell"]


def _tf():
    import tensorflux as tf

    return tf


_LAYER_KEYS = ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate",
               "activation", "recurrent_activation", "use_bias", "kernel_initializer",
               "recurrent_initializer", "bias_initializer", "unit_forget_bias",
               "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
               "kernel_constraint", "recurrent_constraint", "bias_constraint", "dropout",
               "recurrent_dropout")


class ConvLSTMCell(DropoutRNNCell, Layer):
    """The cell of the ConvLSTM layers, for inputs of `rank` spatial dimensions: states
    [h, c] of the convolution's output shape with `filters` channels."""

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid",
                 data_format=None, dilation_rate=1, activation="tanh",
                 recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if rank not in (1, 2, 3):
            raise ValueError(f"Rank {rank} convolutions are not currently implemented. "
                             f"Received: rank={rank}")
        self.seed = seed
        self.rank = rank
        self.filters = filters
        self.kernel_size = standardize_tuple(kernel_size, rank, "kernel_size")
        self.strides = standardize_tuple(strides, rank, "strides")
        self.padding = standardize_padding(type(self).__name__, padding)
        self.data_format = standardize_data_format(data_format)
        self.dilation_rate = standardize_tuple(dilation_rate, rank, "dilation_rate")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError("Specifying `strides > 1` is not compatible with `dilation_rate "
                             f"> 1`. Received: strides={self.strides} and dilation_rate="
                             f"{self.dilation_rate}")
        set_cell_args(self, pick(locals(), CELL_ARGS))
        self.unit_forget_bias = unit_forget_bias
        self.dropout_mask_count = 4
        self.input_spec = InputSpec(ndim=rank + 2)
        self.state_size = -1  # set by build: the convolution's output shape per state

    def build(self, inputs_shape, states_shape=None):
        inputs_shape = tuple(inputs_shape)
        if self.data_format == "channels_first":
            channels, spatial = inputs_shape[1], inputs_shape[2:]
        else:
            channels, spatial = inputs_shape[-1], inputs_shape[1:-1]
        if None in spatial:
            raise ValueError("ConvLSTM layers only support static input shapes for the "
                             f"spatial dimension. Received invalid input shape: "
                             f"input_shape={inputs_shape}")
        if channels is None:
            raise ValueError("The channel dimension of the inputs (last axis) should be "
                             f"defined. Found None. Full input shape received: "
                             f"input_shape={inputs_shape}")
        self.spatial_dims = tuple(spatial)
        self.input_dim = channels
        self.kernel = self.add_weight(
            shape=self.kernel_size + (channels, 4 * self.filters), name="kernel",
            initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(
            shape=self.kernel_size + (self.filters, 4 * self.filters), name="recurrent_kernel",
            initializer=self.recurrent_initializer, regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint)
        if self.use_bias:
            bias_initializer = self.bias_initializer
            if self.unit_forget_bias:
                bias_initializer = unit_forget_bias_initializer(bias_initializer, self.filters)
            self.bias = self.add_weight(shape=(4 * self.filters,), name="bias",
                                        initializer=bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        else:
            self.bias = None
        self.output_spatial = self._output_spatial(spatial)

    def _output_spatial(self, spatial):
        return tuple(conv_output_length(n, k, s, self.padding, d) for n, k, s, d in
                     zip(spatial, self.kernel_size, self.strides, self.dilation_rate))

    def _gate_transforms(self, x, kernel, masks, strides, padding, dilation):
        """The four gates' convolutions of `x`: one convolution with the whole kernel, or one
        per gate when each gate sees its own dropout mask."""
        tf = _tf()
        f = self.filters
        if masks is None:
            out = _conv(x, kernel, self.rank, strides, padding, dilation, self.data_format)
            axis = 1 if self.data_format == "channels_first" else -1
            return tf.split(out, 4, axis=axis)
        return [_conv(x * masks[g], kernel[..., g * f:(g + 1) * f], self.rank, strides,
                      padding, dilation, self.data_format) for g in range(4)]

    def call(self, inputs, states, training=False):
        tf = _tf()
        h_tm1, c_tm1 = states[0], states[1]
        dp = self.get_dropout_mask(inputs) if training and 0 < self.dropout < 1 else None
        rdp = self.get_recurrent_dropout_mask(h_tm1) \
            if training and 0 < self.recurrent_dropout < 1 else None
        x_gates = self._gate_transforms(inputs, self.kernel, dp, self.strides, self.padding,
                                        self.dilation_rate)
        ones = (1,) * self.rank
        h_gates = self._gate_transforms(h_tm1, self.recurrent_kernel, rdp, ones, "same", ones)
        fmt = tf_format(self.data_format, self.rank)
        f = self.filters
        gates = []
        for g in range(4):
            x = x_gates[g]
            if self.bias is not None:
                x = tf.nn.bias_add(x, self.bias[g * f:(g + 1) * f], data_format=fmt)
            gates.append(x + h_gates[g])
        i = self.recurrent_activation(gates[0])
        forget = self.recurrent_activation(gates[1])
        c = forget * c_tm1 + i * self.activation(gates[2])
        o = self.recurrent_activation(gates[3])
        h = o * self.activation(c)
        return h, [h, c]

    def state_shape(self, batch_size=None, spatial=None):
        """The shape of each state: the convolution's output for one step (of input spatial
        size `spatial`, by default the one the cell was built for)."""
        output_spatial = self.output_spatial if spatial is None else self._output_spatial(
            spatial)
        if self.data_format == "channels_first":
            return (batch_size, self.filters) + output_spatial
        return (batch_size,) + output_spatial + (self.filters,)

    def get_initial_state(self, batch_size=None):
        tf = _tf()
        shape = self.state_shape(batch_size)
        return [tf.zeros(shape, dtype=self.compute_dtype),
                tf.zeros(shape, dtype=self.compute_dtype)]

    def get_config(self):
        return {**super().get_config(), **cell_args_config(self, _LAYER_KEYS + ("seed",))}


class ConvLSTM2DCell(ConvLSTMCell):
    """ConvLSTMCell for 2-D inputs (the rank fixed)."""

    def __init__(self, filters, kernel_size, **kwargs):
        kwargs.pop("rank", None)
        super().__init__(2, filters, kernel_size, **kwargs)


class ConvLSTM(_CellOwningRNN):
    """The convolutional LSTM over (batch, time, *spatial, channels) inputs (channels first:
    (batch, time, channels, *spatial)), `rank` spatial dimensions."""

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid",
                 data_format=None, dilation_rate=1, activation="tanh",
                 recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, **kwargs):
        cell = ConvLSTMCell(
            rank, filters, kernel_size, strides=strides, padding=padding,
            data_format=data_format, dilation_rate=dilation_rate, activation=activation,
            recurrent_activation=recurrent_activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, unit_forget_bias=unit_forget_bias,
            kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint,
            dropout=dropout, recurrent_dropout=recurrent_dropout, seed=seed,
            name="conv_lstm_cell", dtype=kwargs.get("dtype"))
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful,
                         activity_regularizer=activity_regularizer, **kwargs)
        self.input_spec = InputSpec(ndim=rank + 3)

    def __getattr__(self, name):
        cell = self.__dict__.get("cell")
        if cell is not None and name in _LAYER_KEYS:
            return getattr(cell, name)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def build(self, sequences_shape, initial_state_shape=None):
        super().build(sequences_shape, initial_state_shape)

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        batch, steps = sequences_shape[0], sequences_shape[1]
        step = tuple(sequences_shape[2:])
        spatial = step[1:] if self.data_format == "channels_first" else step[:-1]
        state = self.cell.state_shape(batch, spatial)
        output = (batch, steps) + state[1:] if self.return_sequences else state
        return (output, state, state) if self.return_state else output

    def _check_initial_state(self, initial_state):
        if len(initial_state) != 2:
            raise ValueError(f"{type(self).__name__} '{self.name}' expects 2 initial states, "
                             f"received {len(initial_state)}")

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if initial_state is None and not self.stateful and tuple(sequences.shape)[0] is None:
            # An unknown batch in a symbolic trace: zero states shaped from the sequences (a
            # (batch, 1, ..., 1) column of zeros broadcast against one state's shape).
            tf = _tf()
            first = sequences[:, 0]
            column = tf.zeros_like(first[(slice(None),) + (slice(0, 1),) *
                                         (len(first.shape) - 1)])
            state = column + tf.zeros(self.cell.state_shape()[1:], dtype=column.dtype)
            initial_state = [state, state]
        return super().call(sequences, initial_state=initial_state, mask=mask,
                            training=training)


class ConvLSTM1D(ConvLSTM):
    """1-D convolutional LSTM over (batch, time, steps, channels) inputs.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.ConvLSTM1D(2, 3, padding="same", return_sequences=True)
    >>> tuple(layer(tf.ones((1, 3, 4, 1))).shape)
    (1, 3, 4, 2)
    """
    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, **kwargs):
        super().__init__(1, filters, kernel_size, strides, padding, data_format,
                         dilation_rate, activation, recurrent_activation, use_bias,
                         kernel_initializer, recurrent_initializer, bias_initializer,
                         unit_forget_bias, kernel_regularizer, recurrent_regularizer,
                         bias_regularizer, activity_regularizer, kernel_constraint,
                         recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed,
                         return_sequences, return_state, go_backwards, stateful, **kwargs)


class ConvLSTM2D(ConvLSTM):
    """2-D convolutional LSTM over (batch, time, rows, cols, channels) inputs.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.ConvLSTM2D(2, 3, padding="same", return_sequences=True)
    >>> tuple(layer(tf.ones((1, 3, 4, 4, 1))).shape)
    (1, 3, 4, 4, 2)
    """
    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, **kwargs):
        super().__init__(2, filters, kernel_size, strides, padding, data_format,
                         dilation_rate, activation, recurrent_activation, use_bias,
                         kernel_initializer, recurrent_initializer, bias_initializer,
                         unit_forget_bias, kernel_regularizer, recurrent_regularizer,
                         bias_regularizer, activity_regularizer, kernel_constraint,
                         recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed,
                         return_sequences, return_state, go_backwards, stateful, **kwargs)


class ConvLSTM3D(ConvLSTM):
    """3-D convolutional LSTM over (batch, time, depth, rows, cols, channels) inputs.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> tuple(keras.layers.ConvLSTM3D(2, 2)(tf.ones((1, 3, 3, 3, 3, 1))).shape)
    (1, 2, 2, 2, 2)
    """
    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, **kwargs):
        super().__init__(3, filters, kernel_size, strides, padding, data_format,
                         dilation_rate, activation, recurrent_activation, use_bias,
                         kernel_initializer, recurrent_initializer, bias_initializer,
                         unit_forget_bias, kernel_regularizer, recurrent_regularizer,
                         bias_regularizer, activity_regularizer, kernel_constraint,
                         recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed,
                         return_sequences, return_state, go_backwards, stateful, **kwargs)
