"""keras.layers SimpleRNN, LSTM and GRU: RNN layers over their cells. LSTM and GRU with the
default activations run the whole sequence in one fused primitive (tf.nn.lstm_sequence /
gru_sequence, after one input-projection matmul); other configurations step the cell."""

from tensorflux.context import context
from tensorflux.keras import activations
from tensorflux.keras.layers.base import InputSpec
from tensorflux.keras.layers.rnn.cells import CELL_ARGS, GRUCell, LSTMCell, SimpleRNNCell, pick
from tensorflux.keras.layers.rnn.rnn import _CellOwningRNN, masked_outputs

__all__ = ["GRU", "LSTM", "SimpleRNN"]


def _tf():
    import tensorflux as tf

    return tf


# What the subclasses' constructors pass on to _RecurrentLayer's, besides the cell's arguments
_LAYER_ARGS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll",
               "activity_regularizer", "seed", "use_cudnn")


class _RecurrentLayer(_CellOwningRNN):
    """An RNN owning a Keras cell: the cell's arguments are the layer's, and its config is
    the cell's config (without "cell") plus the RNN flags, as in Keras."""

    _cell_class = None
    _cell_name = None
    _cell_only_args = ()

    def __init__(self, units, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, activity_regularizer=None, seed=None,
                 use_cudnn="auto", cell_kwargs=None, **kwargs):
        cell_kwargs = dict(cell_kwargs or {})
        implementation = kwargs.pop("implementation", None)
        if implementation is not None and self._cell_class is not SimpleRNNCell:
            cell_kwargs["implementation"] = implementation
        cell = self._cell_class(units, dtype=kwargs.get("dtype"),
                                trainable=kwargs.get("trainable", True), name=self._cell_name,
                                seed=seed, **cell_kwargs)
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         activity_regularizer=activity_regularizer, **kwargs)
        self.input_spec = InputSpec(ndim=3)
        if use_cudnn not in ("auto", True, False):
            raise ValueError("Invalid valid received for argument `use_cudnn`. Expected one of "
                             f"{{'auto', True, False}}. Received: use_cudnn={use_cudnn}")
        self.use_cudnn = use_cudnn

    def __getattr__(self, name):
        # units, activation, kernel_initializer, ... are the cell's (Keras's properties).
        if name.startswith("_") or name in ("cell", "states"):
            raise AttributeError(name)
        cell = self.__dict__.get("cell")
        if cell is not None and name in CELL_ARGS + self._cell_only_args + ("units",):
            return getattr(cell, name)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def _forwarded(self, arguments):
        """This constructor's keyword arguments from a subclass constructor's explicit ones
        (its `locals()`): the cell's go in `cell_kwargs`, the layer's stay as they are."""
        return {"cell_kwargs": pick(arguments, CELL_ARGS + self._cell_only_args),
                **pick(arguments, _LAYER_ARGS)}

    def build(self, sequences_shape, initial_state_shape=None):
        super().build(sequences_shape, initial_state_shape)
        # the built kernel fixes the feature size: a mismatch is an error naming the layer
        self.input_spec = InputSpec(ndim=3, axes={-1: tuple(sequences_shape)[-1]})

    def call(self, sequences, initial_state=None, mask=None, training=False):
        return super().call(sequences, mask=mask, training=training,
                            initial_state=initial_state)

    # -- the fused path
    _fused_loop = None  # (projected inputs, initial_state, mask) -> inner_loop's result

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if self._fused_loop is None or not self._fusable(training):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        return self._fused_loop(self._projected_inputs(sequences, training), initial_state, mask)

    def _fusable(self, training):
        cell = self.cell
        # (Under two tapes, a second derivative may be asked for: the fused kernels' gradients
        # have none, the cell's steps do; a WGAN-GP penalty on an LSTM critic.)
        return (len(context.tapes) < 2 and cell.activation is activations.tanh and
                cell.recurrent_activation is activations.sigmoid and
                not (training and cell.recurrent_dropout > 0) and
                sequences_known_dtype(cell))

    def _projected_inputs(self, sequences, training):
        """x @ kernel (+ input bias) for all timesteps in one matmul, after input dropout
        (one mask for every timestep, as the cell's)."""
        tf = _tf()
        cell = self.cell
        if training and 0.0 < cell.dropout < 1.0:
            cell._dropout_mask = None
            count = getattr(cell, "dropout_mask_count", None)
            mask = cell.get_dropout_mask(sequences[:, 0])
            if count is not None:
                mask = mask[0]
            sequences = sequences * mask[:, None, :]
        return tf.matmul(sequences, cell.kernel)

    def _finish(self, hs, mask, final_states):
        outputs = masked_outputs(hs, mask, self._initial_given, self.zero_output_for_mask,
                                 self.go_backwards)
        last_output = outputs[:, -1] if mask is not None else hs[:, -1]
        return last_output, outputs, final_states


def sequences_known_dtype(cell):
    return cell.compute_dtype in ("float32", "float64", "float16")


class SimpleRNN(_RecurrentLayer):
    """Fully-connected RNN whose output is fed back as the next input.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> tuple(keras.layers.SimpleRNN(4)(tf.ones((2, 3, 5))).shape)
    (2, 4)
    """

    _cell_class = SimpleRNNCell
    _cell_name = "simple_rnn_cell"

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, seed=None, **kwargs):
        super().__init__(units, **self._forwarded(locals()), **kwargs)

    def __getattr__(self, name):
        if name == "recurrent_activation":
            raise AttributeError(name)
        return super().__getattr__(name)

    def get_config(self):
        config = super().get_config()
        config.pop("seed", None)  # Keras 3's SimpleRNN config has no seed
        return config


class LSTM(_RecurrentLayer):
    """Long Short-Term Memory layer (Hochreiter 1997), Keras 3's defaults and weight layout:
    kernel (in, 4u), recurrent_kernel (u, 4u), bias (4u,), gate blocks [i, f, c, o].

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> out, h, c = keras.layers.LSTM(4, return_sequences=True, return_state=True)(
    ...     tf.ones((2, 3, 5)))
    >>> tuple(out.shape), tuple(h.shape), tuple(c.shape)
    ((2, 3, 4), (2, 4), (2, 4))
    """

    _cell_class = LSTMCell
    _cell_name = "lstm_cell"
    _cell_only_args = ("unit_forget_bias",)

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False,
                 use_cudnn="auto", **kwargs):
        super().__init__(units, **self._forwarded(locals()), **kwargs)

    def _fused_loop(self, xw, initial_state, mask):
        from tensorflux.ops import nn

        cell = self.cell
        if cell.use_bias:
            xw = xw + cell.bias
        hs, cs = nn.lstm_sequence(xw, initial_state[0], initial_state[1],
                                  cell.recurrent_kernel, mask=mask,
                                  go_backwards=self.go_backwards)
        return self._finish(hs, mask, [hs[:, -1], cs[:, -1]])


class GRU(_RecurrentLayer):
    """Gated Recurrent Unit (Cho et al. 2014), Keras 3's defaults and layout: gate blocks
    [z, r, h]; with `reset_after=True` (default) the bias is (2, 3u): input row, recurrent
    row.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.GRU(4)
    >>> tuple(layer(tf.ones((2, 3, 5))).shape), tuple(layer.cell.bias.shape)
    ((2, 4), (2, 12))
    """

    _cell_class = GRUCell
    _cell_name = "gru_cell"
    _cell_only_args = ("reset_after",)

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, reset_after=True,
                 use_cudnn="auto", **kwargs):
        super().__init__(units, **self._forwarded(locals()), **kwargs)

    def _fused_loop(self, xw, initial_state, mask):
        from tensorflux.ops import nn

        cell = self.cell
        input_bias, recurrent_bias = cell._biases()
        if input_bias is not None:
            xw = xw + input_bias
        hs = nn.gru_sequence(xw, initial_state[0], cell.recurrent_kernel,
                             recurrent_bias=recurrent_bias, mask=mask,
                             reset_after=cell.reset_after, go_backwards=self.go_backwards)
        return self._finish(hs, mask, [hs[:, -1]])
