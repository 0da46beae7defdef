"""keras.layers.RNN: runs a cell over the time axis (masks, initial and stateful states,
go_backwards, return_sequences/return_state), the generic per-step loop of all RNN layers."""

from tensorflux.keras.engine import tree
from tensorflux.keras.layers.base import Layer, _describe, _format_shape, floating_input
from tensorflux.keras.layers.rnn.cells import DropoutRNNCell, StackedRNNCells

__all__ = ["RNN"]


def _tf():
    import tensorflux as tf

    return tf


def _in_graph():
    from tensorflux.context import context

    return context.graph is not None


def _static_dim(x, axis):
    dim = tuple(x.shape)[axis]
    return None if dim is None else int(dim)


def _plain(structure):
    """Tracked lists (layer attributes) as plain lists, so structures can be rebuilt."""
    if isinstance(structure, (list, tuple)):
        return [_plain(s) for s in structure]
    return structure


def _bool_mask(layer, mask, sequences):
    """The (batch, time) boolean mask of a call, checked against the sequences."""
    tf = _tf()
    if mask is None:
        return None
    if tree.is_nested(mask):
        mask = tree.flatten(mask)[0]
        if mask is None:
            return None
    mask = tf.convert_to_tensor(mask)
    shape = tuple(mask.shape)
    expected = tuple(sequences.shape)[:2]
    if len(shape) == 3 and shape[-1] == 1:
        mask = tf.squeeze(mask, axis=-1)
        shape = shape[:2]
    if len(shape) != 2 or any(a is not None and b is not None and a != b
                              for a, b in zip(shape, expected)):
        raise ValueError(f"{_describe(layer)} expected a mask of shape (batch, timesteps) = "
                         f"{_format_shape(expected)}, received a mask of shape "
                         f"{_format_shape(shape)}")
    if mask.dtype.name != "bool":
        mask = tf.not_equal(mask, tf.zeros_like(mask))
    return mask


def masked_outputs(outputs, mask, initial_given, zero_output_for_mask, go_backwards):
    """Keras's outputs of a masked recurrence from its per-step states `outputs` (processing
    order, masked steps carrying the previous state): zeros where masked with
    zero_output_for_mask, else zeros until the first unmasked step (Keras's output starts
    at zeros, not at the initial state)."""
    tf = _tf()
    if mask is None:
        return outputs
    step_mask = tf.reverse(mask, [1]) if go_backwards else mask
    if zero_output_for_mask:
        keep = step_mask
    elif initial_given:
        keep = tf.greater(tf.math.cumsum(tf.cast(step_mask, "int32"), axis=1), 0)
    else:
        return outputs  # zero initial states: the carried state is already zero there
    return tf.where(keep[:, :, None], outputs, tf.zeros_like(outputs))


def generic_rnn(step, inputs, states, mask, go_backwards, zero_output_for_mask,
                return_all_outputs):
    """The per-step loop (Keras's backend.rnn): returns (last_output, outputs, states).

    `step(x_t, states) -> (output, new_states)`. In a symbolic shape trace with an unknown
    number of timesteps one step stands for all of them (shapes only)."""
    tf = _tf()
    timesteps = _static_dim(inputs, 1)
    flat_states = tree.flatten(states)
    if timesteps is None:
        if not _in_graph():
            raise ValueError("RNN: the number of timesteps must be known, received input "
                             f"shape {tuple(inputs.shape)}")
        output, new_states = step(inputs[:, 0], states)
        rank = len(tuple(inputs.shape))
        column = tf.zeros_like(inputs[(slice(None), slice(None)) + (slice(0, 1),) * (rank - 2)])
        sequence = column + output[:, None]
        return output, sequence, new_states
    successive = []
    prev_output = None
    order = range(timesteps - 1, -1, -1) if go_backwards else range(timesteps)
    for t in order:
        output, new_states = step(inputs[:, t], states)
        flat_new = tree.flatten(new_states)
        if mask is not None:
            m = mask[:, t:t + 1]
            if prev_output is None:
                prev_output = tf.zeros_like(output)
            fallback = tf.zeros_like(output) if zero_output_for_mask else prev_output
            output = tf.where(m, output, fallback)
            flat_new = [tf.where(m, n, s) for n, s in zip(flat_new, flat_states)]
        states = tree.pack_sequence_as(new_states, flat_new)
        flat_states = flat_new
        prev_output = output
        successive.append(output)
    if not successive:
        raise ValueError("RNN: cannot run over a sequence with 0 timesteps")
    last_output = successive[-1]
    outputs = tf.stack(successive, axis=1) if return_all_outputs else last_output[:, None]
    return last_output, outputs, states


class RNN(Layer):
    """Base class for recurrent layers: runs `cell` over the timesteps of its input.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.RNN(keras.layers.SimpleRNNCell(4), return_sequences=True)
    >>> tuple(layer(tf.ones((2, 3, 5))).shape)
    (2, 3, 4)
    """

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, **kwargs):
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        if "call" not in dir(cell):
            raise ValueError(f"Argument `cell` should have a `call` method. Received: "
                             f"cell={cell}")
        if "state_size" not in dir(cell):
            raise ValueError("The RNN cell should have a `state_size` attribute (single "
                             "integer or list of integers, one integer per RNN state). "
                             f"Received: cell={cell}")
        super().__init__(**kwargs)
        self.zero_output_for_mask = zero_output_for_mask
        self.cell = cell
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.stateful = stateful
        self.unroll = unroll
        self.supports_masking = True
        self.input_spec = None
        object.__setattr__(self, "states", None)  # Keras does not track the state variables
        self._expected_batch_size = None
        state_size = getattr(self.cell, "state_size", None)
        if not isinstance(state_size, (list, tuple, int)):
            raise ValueError("state_size must be an integer, or a list/tuple of integers (one "
                             "for each state tensor).")
        if isinstance(state_size, int):
            self.state_size = [state_size]
            self.single_state = True
        else:
            self.state_size = list(state_size)
            self.single_state = False

    # ------------------------------------------------------------------ shapes and masks
    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        batch, length = sequences_shape[0], sequences_shape[1]
        states_shape = []
        for size in self.state_size:
            if isinstance(size, int):
                states_shape.append((batch, size))
            else:
                states_shape.append([(batch, s) for s in size])
        output_size = getattr(self.cell, "output_size", None)
        if output_size is None:
            output_size = self.state_size[0]
        output_shape = (batch, length, output_size) if self.return_sequences else \
            (batch, output_size)
        if self.return_state:
            return (output_shape, *states_shape)
        return output_shape

    def compute_mask(self, _, mask=None):
        mask = tree.flatten(mask)[0] if tree.is_nested(mask) else mask
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None for _ in self.state_size]
        return output_mask

    def build(self, sequences_shape, initial_state_shape=None):
        sequences_shape = tuple(sequences_shape)
        if len(sequences_shape) < 3:
            raise ValueError(f"{_describe(self)} expected an input of rank >= 3 (batch, "
                             f"timesteps, features), received shape "
                             f"{_format_shape(sequences_shape)}")
        step_shape = (sequences_shape[0],) + tuple(sequences_shape[2:])
        if isinstance(self.cell, Layer) and not self.cell.built:
            self.cell.build(step_shape)
            self.cell.built = True
        if self.stateful:
            if self.states is not None:
                self.reset_state()
            else:
                if sequences_shape[0] is None:
                    raise ValueError("When using `stateful=True` in a RNN, the batch size "
                                     "must be static. Found dynamic batch size: "
                                     f"sequence.shape={_format_shape(sequences_shape)}")
                self._create_state_variables(sequences_shape[0])
                self._expected_batch_size = sequences_shape[0]

    def _create_state_variables(self, batch_size):
        from tensorflux.keras.engine.load_budget import charge
        from tensorflux.variable import Variable

        for size in tree.flatten(self.state_size):  # (a model file's batch_shape sets these)
            if isinstance(size, int):
                charge(self, "rnn_state", (batch_size, size), self.cell.compute_dtype)
        states = tree.map_structure(
            lambda value: Variable(value, trainable=False, name="rnn_state"),
            self.get_initial_state(batch_size))
        object.__setattr__(self, "states", states)

    def get_initial_state(self, batch_size):
        tf = _tf()
        fn = getattr(self.cell, "get_initial_state", None)
        if not fn:
            return [tf.zeros((batch_size, d), dtype=self.cell.compute_dtype)
                    for d in self.state_size]
        state = fn(batch_size=batch_size)
        if not tree.is_nested(state):
            state = [state]
        return list(state)

    def reset_states(self):
        self.reset_state()

    def reset_state(self):
        tf = _tf()
        if self.states is not None:
            for v in tree.flatten(self.states):
                v.assign(tf.zeros_like(v))

    # ------------------------------------------------------------------ the call
    def inner_loop(self, sequences, initial_state, mask, training=False):
        cell_kwargs = {}
        if isinstance(self.cell, Layer) and self.cell._call_has_training_arg:
            cell_kwargs["training"] = training

        def step(inputs, states):
            output, new_states = self.cell(inputs, states, **cell_kwargs)
            if not tree.is_nested(new_states):
                new_states = [new_states]
            return output, new_states

        return generic_rnn(step, sequences, initial_state, mask, self.go_backwards,
                           self.zero_output_for_mask, self.return_sequences)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        tf = _tf()
        sequences = floating_input(sequences, self.compute_dtype)
        timesteps = _static_dim(sequences, 1)
        if self.unroll and timesteps is None and not _in_graph():
            raise ValueError("Cannot unroll a RNN if the time dimension is undefined.")
        if timesteps == 0:
            raise tf.errors.InvalidArgumentError(
                f"{_describe(self)} received a sequence with 0 timesteps, input shape "
                f"{_format_shape(tuple(sequences.shape))}; it needs at least one")
        mask = _bool_mask(self, mask, sequences)
        self._initial_given = initial_state is not None or self.stateful
        if initial_state is None:
            if self.stateful:
                initial_state = [tf.convert_to_tensor(v) for v in tree.flatten(self.states)]
                initial_state = tree.pack_sequence_as(self.states, initial_state)
            elif _static_dim(sequences, 0) is None:
                # unknown batch (a symbolic trace): zeros shaped like the sequences' batch
                column = tf.zeros_like(sequences[:, 0, :1])
                initial_state = tree.map_structure(
                    lambda d: column + tf.zeros((d,), dtype=column.dtype),
                    _plain(self.state_size))
            else:
                initial_state = self.get_initial_state(batch_size=_static_dim(sequences, 0))
        if self.stateful:
            actual = _static_dim(sequences, 0)
            if self._expected_batch_size is not None and actual is not None and \
                    actual != self._expected_batch_size:
                raise ValueError("If an RNN is stateful, the batch size of the input sequences "
                                 "must be the same as the batch size of the initial state. \n"
                                 f"- Expected batch size: {self._expected_batch_size}\n"
                                 f"- Received batch size: {actual}")
        if not tree.is_nested(initial_state):
            initial_state = [initial_state]
        initial_state = tree.map_structure(
            lambda x: tf.cast(tf.convert_to_tensor(x), self.cell.compute_dtype),
            list(initial_state))
        self._check_initial_state(initial_state)
        self._check_state_batch(initial_state, tuple(sequences.shape))
        try:
            last_output, outputs, states = self.inner_loop(
                sequences=sequences, initial_state=initial_state, mask=mask,
                training=training)
        finally:
            self._reset_dropout_masks(self.cell)
        if self.stateful:
            for variable, state in zip(tree.flatten(self.states), tree.flatten(states)):
                variable.assign(state)
        output = outputs if self.return_sequences else last_output
        if self.return_state:
            return (output, *states)
        return output

    def _check_initial_state(self, initial_state):
        flat = tree.flatten(initial_state)
        sizes = tree.flatten(self.state_size)
        if len(flat) != len(sizes):
            raise ValueError(f"{_describe(self)} expects {len(sizes)} initial state tensor(s) "
                             f"(state_size={self.state_size}), received {len(flat)}")
        for state, size in zip(flat, sizes):
            shape = tuple(state.shape)
            if len(shape) != 2 or shape[-1] not in (None, size):
                raise ValueError(f"{_describe(self)} expected an initial state of shape "
                                 f"(batch, {size}), received shape {_format_shape(shape)}")

    def _check_state_batch(self, initial_state, sequences_shape):
        batch = sequences_shape[0]
        for state in tree.flatten(initial_state):
            rows = _static_dim(state, 0)
            if batch is not None and rows is not None and rows != batch:
                raise _tf().errors.InvalidArgumentError(
                    f"{_describe(self)} received an initial state of shape "
                    f"{_format_shape(tuple(state.shape))} with sequences of shape "
                    f"{_format_shape(sequences_shape)}: each initial state needs the "
                    f"sequences' batch size, {batch}")

    def _reset_dropout_masks(self, cell):
        if isinstance(cell, DropoutRNNCell):
            cell.reset_dropout_mask()
            cell.reset_recurrent_dropout_mask()
        if isinstance(cell, StackedRNNCells):
            for c in cell.cells:
                self._reset_dropout_masks(c)

    # ------------------------------------------------------------------ config
    def get_config(self):
        from tensorflux.keras.saving.serialization import serialize_keras_object

        config = {
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
            "cell": serialize_keras_object(self.cell),
        }
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from tensorflux.keras.saving.serialization import deserialize_keras_object

        config = dict(config)
        cell = deserialize_keras_object(config.pop("cell"), custom_objects=custom_objects)
        return cls(cell, **config)


class _CellOwningRNN(RNN):
    """An RNN layer that builds its own cell from its arguments (LSTM, ConvLSTM2D...): its
    config is the cell's (without name, trainable, dtype) plus the RNN flags, as in Keras."""

    def get_config(self):
        config = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            config.pop(key, None)
        base = super().get_config()
        del base["cell"]
        return {**base, **config, "activity_regularizer": base.get("activity_regularizer")}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
