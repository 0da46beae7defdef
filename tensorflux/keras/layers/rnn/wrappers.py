"""keras.layers Bidirectional and TimeDistributed: wrappers that run a layer both ways along
time, or on every timestep."""

from tensorflux.keras.engine import tree
from tensorflux.keras.layers.base import Layer, _describe, _format_shape
from tensorflux.keras.layers.core import Wrapper

__all__ = ["Bidirectional", "TimeDistributed"]


def _tf():
    import tensorflux as tf

    return tf


def _serialize(layer):
    from tensorflux.keras.saving.serialization import serialize_keras_object

    return serialize_keras_object(layer)


def _deserialize(config, custom_objects=None):
    from tensorflux.keras.saving.serialization import deserialize_keras_object

    return deserialize_keras_object(config, custom_objects=custom_objects)


def _removeprefix(name, prefix):
    return name[len(prefix):] if name.startswith(prefix) else name


class Bidirectional(Layer):
    """Runs an RNN forwards (`forward_layer`) and backwards (`backward_layer`) and merges the
    two outputs (`merge_mode` "concat", "sum", "mul", "ave" or None for a pair).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=True,
    ...                                                      name="enc"))
    >>> tuple(layer(tf.ones((2, 4, 5))).shape)
    (2, 4, 6)
    >>> layer.forward_layer.name, layer.backward_layer.name
    ('forward_enc', 'backward_enc')
    """

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None,
                 **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError("Please initialize `Bidirectional` layer with a "
                             f"`keras.layers.Layer` instance. Received: {layer}")
        if backward_layer is not None and not isinstance(backward_layer, Layer):
            raise ValueError("`backward_layer` need to be a `keras.layers.Layer` instance. "
                             f"Received: {backward_layer}")
        if merge_mode not in ["sum", "mul", "ave", "concat", None]:
            raise ValueError(f"Invalid merge mode. Received: {merge_mode}. Merge mode should "
                             'be one of {"sum", "mul", "ave", "concat", None}')
        super().__init__(**kwargs)
        config = _serialize(layer)
        config["config"]["name"] = f"forward_{_removeprefix(layer.name, 'forward_')}"
        self.forward_layer = _deserialize(config)
        if backward_layer is None:
            config = _serialize(layer)
            config["config"]["go_backwards"] = True
            config["config"]["name"] = f"backward_{_removeprefix(layer.name, 'backward_')}"
            self.backward_layer = _deserialize(config)
        else:
            self.backward_layer = backward_layer
        self._verify_layer_config()
        for sub in (self.forward_layer, self.backward_layer):
            if getattr(sub, "zero_output_for_mask", None) is not None:
                sub.zero_output_for_mask = sub.return_sequences
        self.merge_mode = merge_mode
        if weights:
            raise NotImplementedError(f"{_describe(self)}: the `weights` argument is not "
                                      "supported; use set_weights() after building.")
        self.stateful = layer.stateful
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.supports_masking = True
        self.input_spec = layer.input_spec

    def _verify_layer_config(self):
        if self.forward_layer.go_backwards == self.backward_layer.go_backwards:
            raise ValueError("Forward layer and backward layer should have different "
                             "`go_backwards` value. Received: forward_layer.go_backwards "
                             f"{self.forward_layer.go_backwards}, "
                             f"backward_layer.go_backwards={self.backward_layer.go_backwards}")
        for attr in ("stateful", "return_sequences", "return_state"):
            fwd, bwd = getattr(self.forward_layer, attr), getattr(self.backward_layer, attr)
            if fwd != bwd:
                raise ValueError("Forward layer and backward layer are expected to have the "
                                 f'same value for attribute "{attr}", got "{fwd}" for forward '
                                 f'layer and "{bwd}" for backward layer')

    def build(self, sequences_shape, initial_state_shape=None):
        if not self.forward_layer.built:
            self.forward_layer.build(sequences_shape)
        if not self.backward_layer.built:
            self.backward_layer.build(sequences_shape)

    def call(self, sequences, initial_state=None, mask=None, training=None):
        tf = _tf()
        kwargs = {}
        if self.forward_layer._call_has_training_arg and training is not None:
            kwargs["training"] = training
        if self.forward_layer._call_has_mask_arg and mask is not None:
            kwargs["mask"] = mask
        forward_state = backward_state = None
        if initial_state is not None:
            initial_state = list(initial_state) if isinstance(initial_state, (list, tuple)) \
                else [initial_state]
            split = self._forward_state_count(initial_state)
            forward_state, backward_state = initial_state[:split], initial_state[split:]
        y = self.forward_layer(sequences, initial_state=forward_state, **kwargs)
        y_rev = self.backward_layer(sequences, initial_state=backward_state, **kwargs)
        states = ()
        if self.return_state:
            states = tuple(y[1:]) + tuple(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = tf.reverse(y_rev, [1])
        if self.merge_mode == "concat":
            output = tf.concat([y, y_rev], axis=-1)
        elif self.merge_mode == "sum":
            output = y + y_rev
        elif self.merge_mode == "ave":
            output = (y + y_rev) / 2
        elif self.merge_mode == "mul":
            output = y * y_rev
        else:
            output = (y, y_rev)
        if self.return_state:
            if self.merge_mode is None:
                return output + states
            return (output,) + states
        return output

    def _forward_state_count(self, initial_state):
        """How many of `initial_state` go to the forward layer (the rest go backwards),
        checked against both layers' state counts when they have them."""
        sizes = [getattr(layer, "state_size", None)
                 for layer in (self.forward_layer, self.backward_layer)]
        if None in sizes:
            return len(initial_state) // 2
        forward, backward = (len(tree.flatten(size)) for size in sizes)
        if len(initial_state) != forward + backward:
            raise ValueError(f"{_describe(self)} expects {forward + backward} initial state "
                             f"tensors, the forward layer's {forward} then the backward "
                             f"layer's {backward}, received {len(initial_state)}")
        return forward

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        """The forward layer's output shape, merged: the last axis doubled by "concat", a
        pair for merge_mode=None; with return_state, both layers' state shapes follow."""
        shape = self.forward_layer.compute_output_shape(sequences_shape)
        states = ()
        if self.return_state:
            shape, states = shape[0], tuple(shape[1:])
        shape = tuple(shape)
        if self.merge_mode == "concat":
            last = shape[-1]
            shape = shape[:-1] + (None if last is None else 2 * last,)
        if self.merge_mode is None:
            outputs = (shape, shape)
            return outputs + states + states if self.return_state else outputs
        return (shape,) + states + states if self.return_state else shape

    def compute_mask(self, _, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if self.return_sequences:
            output_mask = (mask, mask) if not self.merge_mode else mask
        else:
            output_mask = (None, None) if not self.merge_mode else None
        if self.return_state:
            count = 2 * len(self.forward_layer.state_size)
            head = output_mask if isinstance(output_mask, tuple) else (output_mask,)
            return head + (None,) * count
        return output_mask

    def reset_states(self):
        self.reset_state()

    def reset_state(self):
        if not self.stateful:
            raise AttributeError("Layer must be stateful.")
        self.forward_layer.reset_state()
        self.backward_layer.reset_state()

    @property
    def states(self):
        if self.forward_layer.states and self.backward_layer.states:
            return tuple(self.forward_layer.states + self.backward_layer.states)
        return None

    def get_config(self):
        config = {"merge_mode": self.merge_mode,
                  "layer": _serialize(self.forward_layer),
                  "backward_layer": _serialize(self.backward_layer)}
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        import copy

        config = copy.deepcopy(config)
        config["layer"] = _deserialize(config["layer"], custom_objects)
        backward = config.pop("backward_layer", None)
        if backward is not None:
            config["backward_layer"] = _deserialize(backward, custom_objects)
        return cls(**config)


class TimeDistributed(Wrapper):
    """Applies `layer` to every timestep (axis 1) of its input.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> tuple(keras.layers.TimeDistributed(keras.layers.Dense(2))(tf.ones((3, 4, 5))).shape)
    (3, 4, 2)
    """

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError("Please initialize `TimeDistributed` layer with a "
                             f"`keras.layers.Layer` instance. Received: {layer}")
        super().__init__(layer, **kwargs)
        self.supports_masking = True

    def _child_shape(self, input_shape):
        if not isinstance(input_shape, (tuple, list)) or len(input_shape) < 3:
            raise ValueError("`TimeDistributed` Layer should be passed an `input_shape` with "
                             f"at least 3 dimensions, received: {input_shape}")
        return (input_shape[0], *input_shape[2:])

    def build(self, input_shape):
        child = self._child_shape(tuple(input_shape))
        if not self.layer.built:
            self.layer.build(child)
            self.layer.built = True

    def call(self, inputs, training=None, mask=None):
        tf = _tf()
        shape = tuple(inputs.shape)
        if mask is not None:
            mask_shape = tuple(mask.shape)
            if len(mask_shape) < 2 or any(
                    a is not None and b is not None and a != b
                    for a, b in zip(mask_shape[:2], shape[:2])):
                raise ValueError(f"{_describe(self)}: the mask of shape "
                                 f"{_format_shape(mask_shape)} is incompatible with the input "
                                 f"shape {_format_shape(shape)}; its first two dimensions "
                                 "must be (batch, timesteps)")

        def step(x, m):
            kwargs = {}
            if self.layer._call_has_mask_arg and m is not None:
                kwargs["mask"] = m
            if self.layer._call_has_training_arg:
                kwargs["training"] = training
            return self.layer.call(x, **kwargs)

        timesteps = shape[1]
        if timesteps is None:
            # symbolic trace with unknown timesteps: one step gives the per-step shape
            out = step(inputs[:, 0], None if mask is None else mask[:, 0])
            if len(out.shape) + 1 != len(shape):
                raise ValueError(f"{_describe(self)} needs a known number of timesteps for "
                                 f"a layer that changes the rank, input shape "
                                 f"{_format_shape(shape)}")
            zeros = tf.zeros_like(inputs[(slice(None), slice(None)) +
                                         (slice(0, 1),) * (len(shape) - 2)])
            return zeros + out[:, None]
        outputs = [step(inputs[:, t], None if mask is None else mask[:, t])
                   for t in range(timesteps)]
        return tf.stack(outputs, axis=1)

    def compute_mask(self, inputs, mask=None):
        return mask
