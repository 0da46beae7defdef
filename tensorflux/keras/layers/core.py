"""keras.layers core layers: Dense, Activation, Embedding, ReversibleEmbedding, Lambda,
Identity, Masking, and Wrapper (the base class of layers that wrap another layer)."""

import inspect
import types

from tensorflux.composite_tensor import CompositeTensor
from tensorflux.keras import activations
from tensorflux.keras.engine.keras_tensor import KerasTensor
from tensorflux.keras.layers._weight_args import (
    add_weight_from_args,
    set_weight_args,
    weight_args_config,
)
from tensorflux.keras.layers.base import (
    InputSpec,
    Layer,
    _describe,
    _format_shape,
    _set_mask,
    floating_input,
)

__all__ = ["Activation", "Dense", "Embedding", "Identity", "Lambda", "Masking",
           "ReversibleEmbedding", "Wrapper"]


def _sparse_matmul(inputs, kernel, dtype):
    """inputs @ kernel for a SparseTensor, as Keras's TensorFlow backend computes it: a
    sparse-dense product for rank 2, the densified inputs otherwise (a RaggedTensor is an
    error naming rt.to_tensor())."""
    tf = _tf()
    if not isinstance(inputs, tf.SparseTensor):
        return tf.matmul(inputs, kernel)  # (raises the composite's conversion error)
    if inputs.dtype.name != dtype:
        inputs = inputs.with_values(tf.cast(inputs.values, dtype))
    if inputs.shape.rank == 2:
        return tf.sparse.sparse_dense_matmul(inputs, kernel)
    return tf.matmul(tf.sparse.to_dense(inputs), kernel)


def _tf():
    import tensorflux as tf

    return tf


def _positive_int(layer_name, arg, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{layer_name}: `{arg}` must be a positive integer. Received: "
                         f"{arg}={value!r} (of type {type(value).__name__}).")


def _unsupported(layer_name, **options):
    for arg, value in options.items():
        if value:
            raise NotImplementedError(f"{layer_name}: `{arg}` is not supported by tensorflux "
                                      f"yet (received {arg}={value!r}).")


def bias_and_activation(layer, x):
    """`layer.activation(x + layer.bias)`, without the parts the layer does not have."""
    if layer.bias is not None:
        x = _tf().add(x, layer.bias)
    if layer.activation is not None:
        x = layer.activation(x)
    return x


class Dense(Layer):
    """A densely connected layer: `activation(inputs @ kernel + bias)`.

    The kernel has shape `(input_dim, units)`, the bias `(units,)` (Keras's layout).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.Dense(2, kernel_initializer="ones")
    >>> layer(tf.constant([[1.0, 2.0, 3.0]])).numpy().tolist()
    [[6.0, 6.0]]
    >>> [w.path for w in layer.weights]
    ['dense/kernel', 'dense/bias']
    """

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, lora_rank=None, lora_alpha=None,
                 quantization_config=None, **kwargs):
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError("Received an invalid value for `units`, expected a positive "
                             f"integer. Received: units={units}")
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        _unsupported(_describe(self), lora_rank=lora_rank,
                     quantization_config=quantization_config)
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        set_weight_args(self, kernel=(kernel_initializer, kernel_regularizer, kernel_constraint),
                        bias=(bias_initializer, bias_regularizer, bias_constraint))
        self.quantization_config = None
        self.input_spec = InputSpec(min_ndim=2)
        self.supports_masking = True
        self._input_source = None

    def _maybe_build(self, args, kwargs, first):
        # Remembered only so that an unknown input size can be traced back to its producer.
        self._input_source = first if isinstance(first, KerasTensor) else None
        try:
            super()._maybe_build(args, kwargs, first)
        finally:
            self._input_source = None

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(self._unknown_input_dim_message(input_shape))
        self.kernel = add_weight_from_args(self, "kernel", (input_dim, self.units))
        if self.use_bias:
            self.bias = add_weight_from_args(self, "bias", (self.units,))
        else:
            self.bias = None
        self.input_spec = InputSpec(min_ndim=2, axes={-1: input_dim})

    def _unknown_input_dim_message(self, input_shape):
        source = ""
        producer = None
        history = getattr(self._input_source, "_keras_history", None)
        if history is not None:
            producer = history.operation
            source = f" It comes from {_describe(producer)}."
        hint = ""
        if producer is not None and type(producer).__name__ == "Flatten":
            flatten_in = producer._inbound_nodes[history.node_index].input_tensors
            if flatten_in and flatten_in[0].shape is not None:
                hint = (f" That Flatten received shape {_format_shape(flatten_in[0].shape)}, "
                        "whose non-batch dimensions are not all known, so the flattened "
                        "size is unknown.")
        return (f"{_describe(self)} cannot be built: the last dimension of its input is "
                f"unknown (None), received shape {_format_shape(input_shape)}.{source}{hint} "
                "A Dense layer needs a known input size to create its kernel of shape "
                f"(input_dim, {self.units}). Fix: give the model (or the convolutional base) "
                "a fully defined input shape, e.g. `input_shape=(224, 224, 3)`, or pool the "
                "spatial dimensions away with `GlobalAveragePooling2D()` instead of "
                "`Flatten()`.")

    def call(self, inputs, training=None):
        if isinstance(inputs, CompositeTensor):
            return bias_and_activation(self, _sparse_matmul(inputs, self.kernel,
                                                            self.compute_dtype))
        inputs = floating_input(inputs, self.compute_dtype)
        return bias_and_activation(self, _tf().matmul(inputs, self.kernel))

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **weight_args_config(self, "kernel", "bias", activity_regularizer=False),
            "quantization_config": None,
        }


class Activation(Layer):
    """Applies an activation function (a name such as "relu", or a callable).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.Activation("relu")(tf.constant([-1.0, 2.0])).numpy().tolist()
    [0.0, 2.0]
    """

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.activation = activations.get(activation)
        self.built = True

    def call(self, inputs):
        return self.activation(inputs)

    def get_config(self):
        return {**super().get_config(),
                "activation": activations.serialize(self.activation)}


class Embedding(Layer):
    """Turns integer indices into dense vectors: row `i` of `embeddings` (input_dim, output_dim).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.Embedding(4, 2, embeddings_initializer="ones", mask_zero=True)
    >>> layer(tf.constant([[0, 3]])).shape
    TensorShape([1, 2, 2])
    >>> layer.compute_mask(tf.constant([[0, 3]])).numpy().tolist()
    [[False, True]]
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False,
                 weights=None, lora_rank=None, lora_alpha=None, quantization_config=None,
                 **kwargs):
        _positive_int("Embedding", "input_dim", input_dim)
        _positive_int("Embedding", "output_dim", output_dim)
        kwargs.pop("input_length", None)  # deprecated in Keras 3, ignored
        super().__init__(**kwargs)
        _unsupported(_describe(self), lora_rank=lora_rank,
                     quantization_config=quantization_config)
        self.input_dim = input_dim
        self.output_dim = output_dim
        set_weight_args(self, embeddings=(embeddings_initializer, embeddings_regularizer,
                                          embeddings_constraint))
        self.mask_zero = mask_zero
        self.supports_masking = mask_zero
        self.autocast = False
        if weights is not None:
            self.build()
            if not (isinstance(weights, list) and len(weights) == 1):
                weights = [weights]
            self.set_weights(weights)

    def build(self, input_shape=None):
        if "embeddings" in self.__dict__:
            return
        self.embeddings = add_weight_from_args(self, "embeddings",
                                               (self.input_dim, self.output_dim))

    def call(self, inputs):
        tf = _tf()
        if inputs.dtype.name not in ("int32", "int64"):
            if inputs.dtype.name == "string":
                raise ValueError(
                    f"{_describe(self)} expects integer token indices, received a string "
                    f"tensor of shape {_format_shape(tuple(inputs.shape))}: map the text to "
                    f"indices first (TextVectorization, StringLookup or a Tokenizer)")
            inputs = tf.cast(inputs, "int32")
        try:
            outputs = tf.gather(self.embeddings, inputs, axis=0)
        except tf.errors.InvalidArgumentError as error:
            raise tf.errors.InvalidArgumentError(
                f"{_describe(self)} received an index outside [0, {self.input_dim}) "
                f"(input_dim={self.input_dim}) in an input of shape "
                f"{_format_shape(tuple(inputs.shape))}: {error}", "Embedding") from None
        return tf.cast(outputs, self.compute_dtype)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        if isinstance(inputs, KerasTensor):
            return KerasTensor(inputs.shape, "bool")
        return _tf().not_equal(inputs, 0)

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            **weight_args_config(self, "embeddings"),
            "mask_zero": self.mask_zero,
            "quantization_config": None,
        }


class ReversibleEmbedding(Embedding):
    """An Embedding that also maps vectors back to logits over its vocabulary:
    `layer(ids)` looks rows up, `layer(x, reverse=True)` is `x @ embeddings.T` (or `x @
    reverse_embeddings`, a separate `(output_dim, input_dim)` weight, with
    `tie_weights=False`), optionally soft-capped as `tanh(logits / cap) * cap`.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.ReversibleEmbedding(10, 4)
    >>> layer(layer(tf.constant([[1, 2]])), reverse=True).shape
    TensorShape([1, 2, 10])
    """

    def __init__(self, input_dim, output_dim, tie_weights=True,
                 embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, reverse_dtype=None,
                 logit_soft_cap=None, **kwargs):
        super().__init__(input_dim, output_dim, embeddings_initializer=embeddings_initializer,
                         embeddings_regularizer=embeddings_regularizer,
                         embeddings_constraint=embeddings_constraint, mask_zero=mask_zero,
                         **kwargs)
        self.tie_weights = tie_weights
        self.reverse_dtype = reverse_dtype
        self.logit_soft_cap = logit_soft_cap

    def build(self, input_shape=None):
        if "embeddings" in self.__dict__:
            return
        super().build(input_shape)
        if not self.tie_weights:
            self.reverse_embeddings = self.add_weight(
                name="reverse_embeddings", shape=(self.output_dim, self.input_dim),
                initializer=self.embeddings_initializer)

    def call(self, inputs, reverse=False):
        tf = _tf()
        if not reverse:
            outputs = super().call(inputs)
            if self.mask_zero:
                # Keras attaches the mask here, to eager outputs only (compute_mask is None).
                _set_mask(outputs, tf.not_equal(inputs, 0))
            return outputs
        kernel = (tf.transpose(self.embeddings) if self.tie_weights
                  else self.reverse_embeddings)
        if self.reverse_dtype is not None:
            inputs = tf.cast(inputs, self.reverse_dtype)
            kernel = tf.cast(kernel, self.reverse_dtype)
        elif inputs.dtype != kernel.dtype:
            kernel = tf.cast(kernel, inputs.dtype)
        logits = tf.matmul(inputs, kernel)
        if self.logit_soft_cap is not None:
            cap = tf.cast(self.logit_soft_cap, logits.dtype)
            logits = tf.tanh(logits / cap) * cap
        return logits

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape, reverse=False):
        # (written out: tracing `call` cannot be told `reverse`)
        shape = list(input_shape)
        if reverse:
            return tuple(shape[:-1] + [self.input_dim])
        return tuple(shape + [self.output_dim])

    def get_config(self):
        return {**super().get_config(), "tie_weights": self.tie_weights,
                "reverse_dtype": self.reverse_dtype, "logit_soft_cap": self.logit_soft_cap}


class Identity(Layer):
    """Returns its input unchanged (a placeholder layer).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.Identity()(tf.constant([1.0])).numpy().tolist()
    [1.0]
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.built = True

    def call(self, inputs):
        return inputs


class Masking(Layer):
    """Zeroes (and masks) the timesteps whose features all equal `mask_value`.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> x = tf.constant([[[0.0, 0.0], [1.0, 2.0]]])
    >>> keras.layers.Masking()(x).numpy().tolist()
    [[[0.0, 0.0], [1.0, 2.0]]]
    >>> keras.layers.Masking().compute_mask(x).numpy().tolist()
    [[False, True]]
    """

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(mask_value, dict) and mask_value.get("config", None):
            from tensorflux.keras.saving.serialization import deserialize_keras_object

            mask_value = deserialize_keras_object(mask_value)
        self.mask_value = mask_value
        self.supports_masking = True
        self.built = True

    def compute_mask(self, inputs, mask=None):
        if isinstance(inputs, KerasTensor):
            return KerasTensor(None if inputs.shape is None else inputs.shape[:-1], "bool")
        tf = _tf()
        return tf.reduce_any(tf.not_equal(inputs, self.mask_value), axis=-1)

    def call(self, inputs):
        tf = _tf()
        keep = tf.reduce_any(tf.not_equal(inputs, self.mask_value), axis=-1, keepdims=True)
        return tf.where(keep, inputs, tf.zeros_like(inputs))

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}


# ---------------------------------------------------------------------- Lambda
def _serialize_function(fn):
    if isinstance(fn, types.LambdaType) and fn.__name__ == "<lambda>":
        # Keras's marker. Keras also stores marshalled bytecode in "code"; tensorflux never
        # marshals or pickles (DESIGN.md "Files"), so the code is left out.
        return {"class_name": "__lambda__",
                "config": {"code": None, "defaults": None, "closure": None}}
    if callable(fn):
        from tensorflux.keras.saving.serialization import serialize_keras_object

        try:
            return serialize_keras_object(fn)
        except ValueError:
            # An ordinary named function: Keras writes its module and name; loading it
            # needs the function registered or passed in custom_objects.
            name = getattr(fn, "__name__", type(fn).__name__)
            return {"module": getattr(fn, "__module__", None), "class_name": "function",
                    "config": name, "registered_name": name}
    raise ValueError(f"Invalid input type for serialization. Received: {fn} of type "
                     f"{type(fn)}.")


def _is_lambda_config(config):
    return isinstance(config, dict) and config.get("class_name") == "__lambda__"


def _load_lambda(config):
    """safe_mode=False: a Python lambda stored in a config (never available in tensorflux)."""
    if config.get("config", {}).get("code") is None:
        raise ValueError(
            "This Lambda layer config names a Python lambda but holds no code: tensorflux "
            "does not serialize Python bytecode. Recreate the Lambda layer in code, or use a "
            "named function registered with @keras.saving.register_keras_serializable() (or "
            "passed in `custom_objects`), whose config stores its name.")
    raise NotImplementedError(
        "This Lambda layer's function is Python bytecode stored in the file, which tensorflux "
        "never runs, even with safe_mode=False (model files are data). Build the model in "
        "code with the same function and load the file's weights into it "
        "(`model.load_weights(path)` reads a `.keras` file), or save the model with a named "
        "function, registered with @keras.saving.register_keras_serializable() or passed in "
        "`custom_objects`, whose config stores only its name.")


def _lambda_refusal():
    return ValueError(
        "Requested the deserialization of a `Lambda` layer whose `function` is a Python "
        "lambda. Loading it would run Python bytecode stored in the file, which can execute "
        "arbitrary code; tensorflux never does, with or without safe_mode. Build the model in "
        "code with the same function and load the file's weights into it "
        "(`model.load_weights(path)` reads a `.keras` file), or save it with a named function "
        "registered with @keras.saving.register_keras_serializable() or passed in "
        "`custom_objects`.")


class Lambda(Layer):
    """Wraps a function as a layer: `function(inputs, **arguments)`.

    Configs store a named function by name (it loads back when registered or passed in
    `custom_objects`) and a Python lambda as Keras's `__lambda__` marker, which loading
    refuses: tensorflux never runs code from a model file.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.Lambda(lambda x: x * 2.0)(tf.constant([1.0])).numpy().tolist()
    [2.0]
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"{_describe(self)}: `function` must be callable. Received: "
                            f"{function!r}")
        self.arguments = arguments or {}
        self.function = function
        self.supports_masking = mask is not None
        self.mask = mask
        self._output_shape = output_shape
        try:
            parameters = inspect.signature(function).parameters
        except (TypeError, ValueError):
            parameters = {}
        self._fn_expects_training_arg = "training" in parameters
        self._fn_expects_mask_arg = "mask" in parameters

    def call(self, inputs, mask=None, training=None):
        kwargs = dict(self.arguments)
        if self._fn_expects_mask_arg:
            kwargs["mask"] = mask
        if self._fn_expects_training_arg:
            kwargs["training"] = training
        return self.function(inputs, **kwargs)

    def compute_mask(self, inputs, mask=None):
        if callable(self.mask):
            return self.mask(inputs, mask)
        return self.mask

    def get_config(self):
        from tensorflux.keras.saving.serialization import serialize_keras_object

        config = {"function": _serialize_function(self.function)}
        if self._output_shape is not None:
            config["output_shape"] = (_serialize_function(self._output_shape)
                                      if callable(self._output_shape) else self._output_shape)
        if self.mask is not None:
            config["mask"] = (_serialize_function(self.mask) if callable(self.mask)
                              else serialize_keras_object(self.mask))
        config["arguments"] = serialize_keras_object(self.arguments)
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=None):
        from tensorflux.keras.saving.serialization import deserialize_keras_object

        safe = safe_mode is not False
        config = dict(config)
        for key in ("function", "output_shape", "mask"):
            if key not in config:
                continue
            value = config[key]
            if _is_lambda_config(value):
                if safe:
                    raise _lambda_refusal()
                config[key] = _load_lambda(value)
            elif key == "output_shape" and not isinstance(value, dict):
                config[key] = tuple(value) if isinstance(value, list) and all(
                    isinstance(d, (int, type(None))) for d in value) else value
            else:
                config[key] = deserialize_keras_object(value, custom_objects=custom_objects,
                                                       safe_mode=safe)
        if "arguments" in config:
            config["arguments"] = deserialize_keras_object(config["arguments"],
                                                           custom_objects=custom_objects,
                                                           safe_mode=safe)
        return super().from_config(config)


class Wrapper(Layer):
    """The base class of layers that wrap another layer (`self.layer`), such as
    TimeDistributed and SpectralNormalization: builds the wrapped layer and keeps its
    serialized config under "layer".

    >>> from tensorflux import keras
    >>> class Twice(keras.layers.Wrapper):
    ...     def call(self, x):
    ...         return self.layer(self.layer(x))
    >>> Twice(keras.layers.Dense(2)).get_config()["layer"]["class_name"]
    'Dense'
    """

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError(f"Layer {layer} supplied to Wrapper isn't a supported layer type. "
                             "Please ensure wrapped layer is a valid Keras layer.")
        super().__init__(**kwargs)
        self.layer = layer

    def build(self, input_shape=None):
        if not self.layer.built:
            self.layer.build(input_shape)
            self.layer.built = True

    def get_config(self):
        from tensorflux.keras.saving.serialization import serialize_keras_object

        return {**super().get_config(), "layer": serialize_keras_object(self.layer)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from tensorflux.keras.saving.serialization import deserialize_keras_object

        config = dict(config)
        layer = deserialize_keras_object(config.pop("layer"), custom_objects=custom_objects)
        return cls(layer, **config)
