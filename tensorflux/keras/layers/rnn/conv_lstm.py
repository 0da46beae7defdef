"""keras.layers ConvLSTM2D and its cell: an LSTM whose input and recurrent transforms are 2-D
convolutions (per-step tf.nn.conv2d; gates [i, f, c, o] along the kernel's output axis)."""

from tensorflux.keras.layers.base import InputSpec, Layer
from tensorflux.keras.layers.rnn.cells import (
    CELL_ARGS,
    DropoutRNNCell,
    cell_args_config,
    pick,
    set_cell_args,
    unit_forget_bias_initializer,
)
from tensorflux.keras.layers.rnn.rnn import _CellOwningRNN

__all__ = ["ConvLSTM2D", "ConvLSTM2DCell"]


def _tf():
    import tensorflux as tf

    return tf


def _pair(value, name):
    if isinstance(value, int):
        return (value, value)
    value = tuple(value)
    if len(value) != 2 or not all(isinstance(v, int) for v in value):
        raise ValueError(f"The `{name}` argument must be a tuple of 2 integers. Received: "
                         f"{name}={value}")
    return value


def _conv_out(size, k, stride, padding, dilation):
    if size is None:
        return None
    extent = (k - 1) * dilation + 1
    if padding == "same":
        return -(-size // stride)
    return (size - extent) // stride + 1


_LAYER_KEYS = ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate",
               "activation", "recurrent_activation", "use_bias", "kernel_initializer",
               "recurrent_initializer", "bias_initializer", "unit_forget_bias",
               "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
               "kernel_constraint", "recurrent_constraint", "bias_constraint", "dropout",
               "recurrent_dropout")


class ConvLSTM2DCell(DropoutRNNCell, Layer):
    """The cell of ConvLSTM2D: states [h, c] of shape (batch, rows, cols, filters)."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 **kwargs):
        kwargs.pop("rank", None)
        super().__init__(**kwargs)
        self.seed = seed
        self.rank = 2
        self.filters = filters
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.strides = _pair(strides, "strides")
        padding = str(padding).lower()
        if padding not in ("valid", "same"):
            raise ValueError(f"The `padding` argument must be one of 'valid', 'same'. "
                             f"Received: padding={padding}")
        self.padding = padding
        data_format = data_format or "channels_last"
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"The `data_format` argument must be one of 'channels_last', "
                             f"'channels_first'. Received: data_format={data_format}")
        self.data_format = data_format
        self.dilation_rate = _pair(dilation_rate, "dilation_rate")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError("Specifying `strides > 1` is not compatible with `dilation_rate "
                             f"> 1`. Received: strides={self.strides} and dilation_rate="
                             f"{self.dilation_rate}")
        set_cell_args(self, pick(locals(), CELL_ARGS))
        self.unit_forget_bias = unit_forget_bias
        self.dropout_mask_count = 4
        self.state_size = -1  # set by build: (rows, cols, filters) per state

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
        rows = _conv_out(spatial[0], self.kernel_size[0], self.strides[0], self.padding,
                         self.dilation_rate[0])
        cols = _conv_out(spatial[1], self.kernel_size[1], self.strides[1], self.padding,
                         self.dilation_rate[1])
        self.output_spatial = (rows, cols)

    def _nhwc(self, x):
        return _tf().transpose(x, [0, 2, 3, 1]) if self.data_format == "channels_first" else x

    def _from_nhwc(self, x):
        return _tf().transpose(x, [0, 3, 1, 2]) if self.data_format == "channels_first" else x

    def call(self, inputs, states, training=False):
        tf = _tf()
        h_tm1, c_tm1 = self._nhwc(states[0]), self._nhwc(states[1])
        inputs = self._nhwc(inputs)
        f = self.filters
        dp = self.get_dropout_mask(inputs) if training and 0 < self.dropout < 1 else None
        rdp = self.get_recurrent_dropout_mask(h_tm1) \
            if training and 0 < self.recurrent_dropout < 1 else None
        gates = []
        for g in range(4):
            x = inputs * dp[g] if dp is not None else inputs
            h = h_tm1 * rdp[g] if rdp is not None else h_tm1
            xg = tf.nn.conv2d(x, self.kernel[:, :, :, g * f:(g + 1) * f], self.strides,
                              self.padding.upper(), dilations=self.dilation_rate)
            if self.bias is not None:
                xg = xg + self.bias[g * f:(g + 1) * f]
            hg = tf.nn.conv2d(h, self.recurrent_kernel[:, :, :, g * f:(g + 1) * f], 1, "SAME")
            gates.append(xg + hg)
        i = self.recurrent_activation(gates[0])
        fg = self.recurrent_activation(gates[1])
        c = fg * c_tm1 + i * self.activation(gates[2])
        o = self.recurrent_activation(gates[3])
        h = o * self.activation(c)
        h, c = self._from_nhwc(h), self._from_nhwc(c)
        return h, [h, c]

    def get_initial_state(self, batch_size=None):
        tf = _tf()
        rows, cols = self.output_spatial
        shape = (batch_size, self.filters, rows, cols) if self.data_format == \
            "channels_first" else (batch_size, rows, cols, self.filters)
        return [tf.zeros(shape, dtype=self.compute_dtype),
                tf.zeros(shape, dtype=self.compute_dtype)]

    def get_config(self):
        return {**super().get_config(), **cell_args_config(self, _LAYER_KEYS + ("seed",))}


class ConvLSTM2D(_CellOwningRNN):
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
        cell = ConvLSTM2DCell(
            filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
            dilation_rate=dilation_rate, activation=activation,
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
        self.input_spec = InputSpec(ndim=5)

    def __getattr__(self, name):
        cell = self.__dict__.get("cell")
        if cell is not None and name in _LAYER_KEYS:
            return getattr(cell, name)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def build(self, sequences_shape, initial_state_shape=None):
        super().build(sequences_shape, initial_state_shape)

    def _check_initial_state(self, initial_state):
        if len(initial_state) != 2:
            raise ValueError(f"ConvLSTM2D '{self.name}' expects 2 initial states, received "
                             f"{len(initial_state)}")

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if initial_state is None and not self.stateful and tuple(sequences.shape)[0] is None:
            # unknown batch in a symbolic trace: zero states shaped from the sequences
            tf = _tf()
            cell = self.cell
            rows, cols = cell.output_spatial
            column = tf.zeros_like(self.cell._nhwc(sequences[:, 0])[:, :1, :1, :1])
            state = column + tf.zeros((rows, cols, cell.filters), dtype=column.dtype)
            state = cell._from_nhwc(state)
            initial_state = [state, state]
        return super().call(sequences, initial_state=initial_state, mask=mask,
                            training=training)
