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


def quantization_config_arg(layer, config):
    """A layer's `quantization_config` argument: None, a QuantizationConfig, or its dict
    from a config (another value is a ValueError naming it)."""
    if config is None:
        return None
    from tensorflux.keras import quantizers

    if isinstance(config, dict):
        config = quantizers.deserialize(config)
    if not isinstance(config, quantizers.QuantizationConfig):
        raise ValueError(f"{_describe(layer)}: `quantization_config` must be a "
                         "keras.quantizers.QuantizationConfig. Received: "
                         f"{config!r} (of type {type(config).__name__})")
    return config


def serialize_quantization_config(config):
    if config is None:
        return None
    from tensorflux.keras.saving.serialization import serialize_keras_object

    return serialize_keras_object(config)


def with_input_gradient(forward, input_gradient, inputs, variables):
    """`forward(inputs, *values)` of a quantized layer (the values of its integer kernel,
    scales...), differentiable in `inputs` only, through `input_gradient(upstream,
    *values)` (the dequantized kernel's gradient, Keras's custom gradient)."""
    tf = _tf()

    @tf.custom_gradient
    def call(x, *values):
        def grad(upstream):
            return (input_gradient(upstream, *values),) + (None,) * len(values)

        return forward(x, *values), grad

    return call(inputs, *(tf.convert_to_tensor(v) for v in variables))


def bias_and_activation(layer, x):
    """`layer.activation(x + layer.bias)`, without the parts the layer does not have."""
    if layer.bias is not None:
        x = _tf().add(x, layer.bias)
    if layer.activation is not None:
        x = layer.activation(x)
    return x


def requantize(layer, weights, axis):
    """(values, scale, zero point or None) of the float `weights` in `layer`'s quantized mode
    and int4 group size, with Keras's default quantizers (what a file of a quantized layer
    with LoRA holds: its weight with the LoRA update merged, quantized again)."""
    from tensorflux.keras import quantizers

    config = None
    if layer._int4_block_size is not None:
        config = quantizers.Int4QuantizationConfig(block_size=layer._int4_block_size)
    return quantizers.quantize_kernel(weights, layer._quantized_mode, config, axis,
                                      use_config_quantizer=False)


class _MergedFileWeight:
    """The place of the variable `target` in a LoRA layer's weights file: it writes
    `values()[slot]` (the weight with the LoRA update merged, as Keras saves it), and loading
    it assigns `target` and resets the LoRA factors to zeros, as Keras does (its files hold no
    LoRA factors)."""

    def __init__(self, layer, target, values, slot):
        self._layer, self._target, self._values, self._slot = layer, target, values, slot
        self.shape, self.dtype = target.shape, target.dtype
        self.name, self.path = target.name, target.path

    def numpy(self):
        value = self._values()[self._slot]
        return value.numpy() if hasattr(value, "numpy") else value

    def assign(self, value):
        self._target.assign(value)
        self._layer.reset_lora()


class LoRAMixin:
    """Keras's LoRA (low-rank adaptation) of a layer's float weight, kept in `_<name>`
    (`_lora_name`: "kernel" or "embeddings"). `enable_lora(rank)` freezes it and adds the
    trainable factors `lora_<name>_a` (the weight's shape with `rank` as its last dimension)
    and `lora_<name>_b` (rank, last dimension); from then on `layer.<name>` and the layer's
    call use `_<name> + (lora_alpha / rank) * a @ b`. Files hold that merged weight, in the
    layout of a layer without LoRA; loading one resets the factors to zeros (Keras's rules).

    >>> from tensorflux import keras
    >>> layer = keras.layers.Dense(2)
    >>> layer.build((None, 3))
    >>> layer.enable_lora(1)
    >>> [w.name for w in layer.trainable_weights]
    ['bias', 'lora_kernel_a', 'lora_kernel_b']
    """

    _lora_name = "kernel"
    lora_enabled = False
    lora_rank = None
    lora_alpha = None
    _is_quantized = False  # (the quantization state of layers that have it)
    _quantized_mode = None
    _int4_block_size = None

    def _init_lora(self, lora_rank, lora_alpha):
        self.lora_rank = lora_rank
        self.lora_alpha = lora_alpha if lora_alpha is not None else lora_rank
        self.lora_enabled = False

    def enable_lora(self, rank, lora_alpha=None, a_initializer="he_uniform",
                    b_initializer="zeros"):
        """Freezes the layer's weight and adds the trainable LoRA factors of `rank`, scaled
        by `lora_alpha / rank` (lora_alpha defaults to rank); the layer must be built. `b`
        starts at zeros, so the layer's outputs do not change until it trains."""
        from tensorflux.keras import initializers, quantizers

        name = self._lora_name
        if getattr(self, f"{name}_constraint") is not None:
            raise ValueError(f"{_describe(self)}: LoRA is incompatible with a constraint on "
                             f"its {name}. To enable LoRA on this layer, remove its "
                             f"`{name}_constraint` argument (received a "
                             f"{type(getattr(self, f'{name}_constraint')).__name__}).")
        if not (self.built or self.__dict__.get("_in_build")):
            raise ValueError(f"Cannot enable lora on a layer that isn't yet built: build "
                             f"{_describe(self)} first (call it on data, or `layer.build("
                             "input_shape)`).")
        if self.lora_enabled:
            raise ValueError(f"lora is already enabled on {_describe(self)} (with rank "
                             f"{self.lora_rank}). This can only be done once per layer.")
        _positive_int(_describe(self), "rank", rank)
        shape = self._lora_shape()
        regularizer = getattr(self, f"{name}_regularizer")
        with quantizers.unlocked_state(self):
            # (float32 whatever the policy: small updates must not underflow, as in Keras)
            setattr(self, f"lora_{name}_a", self.add_weight(
                name=f"lora_{name}_a", shape=shape[:-1] + (rank,), dtype="float32",
                initializer=initializers.get(a_initializer), regularizer=regularizer))
            setattr(self, f"lora_{name}_b", self.add_weight(
                name=f"lora_{name}_b", shape=(rank, shape[-1]), dtype="float32",
                initializer=initializers.get(b_initializer), regularizer=regularizer))
        getattr(self, f"_{name}").trainable = False
        self.lora_enabled = True
        self.lora_rank = rank
        self.lora_alpha = lora_alpha if lora_alpha is not None else rank

    def _stored_weight(self):
        """The variable `_<name>` (an AttributeError until build creates it: Keras's)."""
        weight = self.__dict__.get(f"_{self._lora_name}")
        if weight is None:
            raise AttributeError(f"{_describe(self)}: you must build the layer before "
                                 f"accessing `{self._lora_name}`.")
        return weight

    def _lora_shape(self):
        """The (unpacked) shape of the float weight that LoRA adapts."""
        return tuple(getattr(self, f"_{self._lora_name}").shape)

    def _lora_factors(self):
        return (getattr(self, f"lora_{self._lora_name}_a"),
                getattr(self, f"lora_{self._lora_name}_b"))

    def _with_lora(self, weight):
        """`weight` + the LoRA update, in the compute dtype (`weight` itself without LoRA)."""
        if not self.lora_enabled:
            return weight
        tf = _tf()
        a, b = self._lora_factors()
        if not weight.dtype.is_floating:
            weight = tf.cast(weight, "float32")
        update = (self.lora_alpha / self.lora_rank) * tf.matmul(a, b)
        return tf.cast(tf.add(weight, update), self.compute_dtype)

    def _add_lora_output(self, outputs, projected):
        """A quantized call's `outputs` + the LoRA term, from `projected` (the inputs
        contracted with the `a` factor as the weight would be), as Keras adds it."""
        if not self.lora_enabled:
            return outputs
        tf = _tf()
        update = tf.matmul(projected, self._lora_factors()[1])
        return tf.cast(outputs + (self.lora_alpha / self.lora_rank) * update,
                       self.compute_dtype)

    def reset_lora(self):
        """Sets both LoRA factors to zeros (the layer then computes with its frozen weight)."""
        for factor in self._lora_factors():
            factor.assign(_tf().zeros(factor.shape, factor.dtype))

    def quantized_variables_in_file_order(self):
        """Keras's order of the layer's variables in weight files, with the weight (and a
        quantized one's scales) holding the LoRA update and no LoRA factors: a quantized
        layer's weight, its bias, then its scales (and zero points); another layer's own
        variables in creation order."""
        if self._is_quantized:
            from tensorflux.keras import quantizers

            weight, *rest = quantizers.quantized_variables(self, f"_{self._lora_name}")
            bias = getattr(self, "bias", None)
            return self._lora_file_order([weight] + ([bias] if bias is not None else []) + rest)
        factors = self._lora_factors() if self.lora_enabled else ()
        return self._lora_file_order([
            v for v in self._trainable_variables + self._non_trainable_variables
            if not any(v is factor for factor in factors)])

    def _lora_file_order(self, variables):
        """`variables` (the layer's file order) with the frozen weight and, for a quantized
        layer, its scale and zero point written merged with the LoRA update."""
        if not self.lora_enabled:
            return variables
        cache = []

        def values():
            if not cache:
                cache.append(self._merged_for_file())
            return cache[0]

        targets = self._merged_file_targets()
        return [_MergedFileWeight(self, v, values, targets.index(v))
                if any(v is t for t in targets) else v for v in variables]

    def _merged_file_targets(self):
        name = self._lora_name
        targets = [getattr(self, f"_{name}")]
        if self._is_quantized:
            targets.append(getattr(self, f"{name}_scale"))
            if self._int4_block_size is not None:
                targets.append(getattr(self, f"{name}_zero"))
        return targets

    def _merged_for_file(self):
        """The values of _merged_file_targets() with the LoRA update merged: the float
        weight, or the quantized values, scale (and zero point) of the merged weight."""
        tf = _tf()
        a, b = self._lora_factors()
        merged = tf.add(self._float_weight(), (self.lora_alpha / self.lora_rank) *
                        tf.matmul(a, b))
        if not self._is_quantized:
            return [tf.cast(merged, getattr(self, f"_{self._lora_name}").dtype)]
        values, scale, zero = self._quantize_merged(merged)
        return [values, scale] + ([] if zero is None else [zero])

    def _float_weight(self):
        """The frozen weight as floats (a quantized layer's dequantized)."""
        return getattr(self, f"_{self._lora_name}")

    def _lora_config(self):
        if not self.lora_rank:
            return {}
        return {"lora_rank": self.lora_rank, "lora_alpha": self.lora_alpha}


class Dense(LoRAMixin, Layer):
    """A densely connected layer: `activation(inputs @ kernel + bias)`.

    The kernel has shape `(input_dim, units)`, the bias `(units,)` (Keras's layout).
    `enable_lora(rank)` (or `lora_rank=`) adapts the kernel with LoRA (see LoRAMixin).

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
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        set_weight_args(self, kernel=(kernel_initializer, kernel_regularizer, kernel_constraint),
                        bias=(bias_initializer, bias_regularizer, bias_constraint))
        self._init_lora(lora_rank, lora_alpha)
        self.quantization_config = quantization_config_arg(self, quantization_config)
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
        mode = self.quantization_mode
        if mode is not None:
            self.quantized_build((input_dim, self.units), mode, self.quantization_config)
        else:
            self._kernel = add_weight_from_args(self, "kernel", (input_dim, self.units))
        if self.use_bias:
            self.bias = add_weight_from_args(self, "bias", (self.units,))
        else:
            self.bias = None
        self.input_spec = InputSpec(min_ndim=2, axes={-1: input_dim})
        if self.lora_rank:
            self.enable_lora(self.lora_rank)  # (without lora_alpha: Keras's Dense resets it)

    @property
    def kernel(self):
        """The kernel the layer computes with: its variable, with the LoRA update added
        once LoRA is enabled (an int4 kernel unpacked, as Keras returns it)."""
        kernel = self._stored_weight()
        if self._quantized_mode == "int4":
            from tensorflux.keras import quantizers

            kernel = quantizers.unpack_int4(kernel, self.units, axis=-1)
        return self._with_lora(kernel)

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
        if self._is_quantized:
            outputs = self._quantized_matmul(inputs)
            if self.lora_enabled:
                outputs = self._add_lora_output(outputs,
                                                _tf().matmul(inputs, self.lora_kernel_a))
            return bias_and_activation(self, outputs)
        return bias_and_activation(self, _tf().matmul(inputs, self.kernel))

    # ------------------------------------------------------------------ quantization
    _is_quantized = False
    _int4_block_size = None

    def quantize(self, mode=None, type_check=True, config=None):
        """Replaces the float kernel by int8 values with one float scale per unit
        (`kernel_scale`), Keras's "int8" mode, or by int4 values packed two per byte
        ("int4": per groups of input rows with zero points, or per unit); all of them are
        non-trainable. int8 calls quantize their inputs per row too (unless the config's
        activation_quantizer is None).

        >>> import tensorflux as tf
        >>> from tensorflux import keras
        >>> layer = keras.layers.Dense(2)
        >>> layer.build((None, 3))
        >>> layer.quantize("int8")
        >>> [(w.name, w.dtype.name) for w in layer.weights]
        [('bias', 'float32'), ('kernel', 'int8'), ('kernel_scale', 'float32')]
        """
        from tensorflux.keras import quantizers

        mode, config = quantizers.begin_layer_quantize(self, mode, config, type_check, Dense)
        self.quantization_config = config
        # (the frozen kernel alone: LoRA factors stay as they are, as in Keras)
        values, scale, zero = quantizers.quantize_kernel(self._kernel, mode, config, axis=0)
        kernel_shape = tuple(self._kernel.shape)
        del self._kernel
        with quantizers.unlocked_state(self):
            self.quantized_build(kernel_shape, mode, config)
        quantizers.assign_quantized(self, "_kernel", values, scale, zero)
        quantizers.finish_layer_quantize(self, mode, config)

    def quantized_build(self, kernel_shape, mode, config=None):
        """Creates the integer kernel (int4: packed along the units) and its scales (zeros
        and ones until quantize or loading assigns them)."""
        from tensorflux.keras import quantizers

        quantizers.build_quantized_kernel(self, "_kernel", kernel_shape, mode, config)

    def _quantized_matmul(self, inputs):
        """`inputs @ kernel` from the integer kernel, as Keras computes each mode."""
        from tensorflux.keras import quantizers

        tf = _tf()
        dtype = self.compute_dtype
        grouped = self._int4_block_size is not None

        def forward(x, kernel, scale, *groups):
            if grouped:
                return tf.matmul(x, self._dequantize(kernel, scale, *groups))
            kernel = self._integer_kernel(kernel)
            if self.inputs_quantizer:
                values, inputs_scale = self.inputs_quantizer(x, axis=-1)
                product = quantizers.int_product(tf.matmul, values, kernel, dtype)
                return product / (scale * inputs_scale)
            return tf.matmul(x, tf.cast(kernel, x.dtype)) / scale

        def input_gradient(upstream, *values):
            return tf.matmul(upstream, self._dequantize(*values), transpose_b=True)

        return with_input_gradient(forward, input_gradient, inputs,
                                   quantizers.quantized_variables(self, "_kernel"))

    def _lora_shape(self):
        return (self._kernel.shape[0], self.units)

    def _integer_kernel(self, kernel):
        if self._quantized_mode == "int4":
            from tensorflux.keras import quantizers

            return quantizers.unpack_int4(kernel, self.units, axis=-1)
        return kernel

    def _dequantize(self, kernel, scale, *groups):
        """The float kernel of the integer `kernel` and its scale (and int4 groups')."""
        from tensorflux.keras import quantizers

        tf = _tf()
        if self._int4_block_size is not None:
            return tf.cast(quantizers.dequantize_with_sz_map(
                self._integer_kernel(kernel), scale, *groups, group_axis=0),
                self.compute_dtype)
        return tf.cast(self._integer_kernel(kernel), self.compute_dtype) / scale

    def _float_weight(self):
        if not self._is_quantized:
            return self._kernel
        from tensorflux.keras import quantizers

        return self._dequantize(*quantizers.quantized_variables(self, "_kernel"))

    def _quantize_merged(self, kernel):
        return requantize(self, kernel, axis=0)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **weight_args_config(self, "kernel", "bias", activity_regularizer=False),
            "quantization_config": serialize_quantization_config(self.quantization_config),
            **self._lora_config(),
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


class Embedding(LoRAMixin, Layer):
    """Turns integer indices into dense vectors: row `i` of `embeddings` (input_dim, output_dim).
    `enable_lora(rank)` adapts the embeddings with LoRA (see LoRAMixin).

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
        input_length = kwargs.pop("input_length", None)
        if input_length is not None and "input_shape" not in kwargs and \
                "batch_input_shape" not in kwargs:
            # Keras 3 dropped the argument; Keras 2 read it as the input shape, which is what
            # lets `Sequential([Embedding(..., input_length=n), Flatten(), ...])` build (and
            # show its summary) before it sees data.
            lengths = input_length if isinstance(input_length, (list, tuple)) else \
                (input_length,)
            kwargs["input_shape"] = tuple(lengths)
        super().__init__(**kwargs)
        self._init_lora(lora_rank, lora_alpha)
        self.quantization_config = quantization_config_arg(self, quantization_config)
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

    _lora_name = "embeddings"

    def build(self, input_shape=None):
        if "_embeddings" in self.__dict__:
            return
        mode = self.quantization_mode
        if mode is not None:
            self.quantized_build((self.input_dim, self.output_dim), mode,
                                 self.quantization_config)
        else:
            self._embeddings = add_weight_from_args(self, "embeddings",
                                                    (self.input_dim, self.output_dim))
        if self.lora_rank:
            self.enable_lora(self.lora_rank)  # (without lora_alpha, as Keras's Embedding)

    @property
    def embeddings(self):
        """The table the layer looks rows up in: its variable, with the LoRA update added
        once LoRA is enabled (an int4 table unpacked, as Keras returns it)."""
        return self._with_lora(self._integer_table())

    def _lora_shape(self):
        return (self.input_dim, self.output_dim)

    def _integer_table(self):
        table = self._stored_weight()
        if self._quantized_mode == "int4":
            from tensorflux.keras import quantizers

            table = quantizers.unpack_int4(table, self.output_dim, axis=-1)
        return table

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
            if self._is_quantized:
                outputs = self._quantized_lookup(inputs)
                if self.lora_enabled:
                    outputs = self._add_lora_output(
                        outputs, tf.gather(self.lora_embeddings_a, inputs, axis=0))
                return outputs
            outputs = tf.gather(self.embeddings, inputs, axis=0)
        except tf.errors.InvalidArgumentError as error:
            raise tf.errors.InvalidArgumentError(
                f"{_describe(self)} received an index outside [0, {self.input_dim}) "
                f"(input_dim={self.input_dim}) in an input of shape "
                f"{_format_shape(tuple(inputs.shape))}: {error}", "Embedding") from None
        return tf.cast(outputs, self.compute_dtype)

    # ------------------------------------------------------------------ quantization
    _is_quantized = False
    _int4_block_size = None

    def quantize(self, mode=None, type_check=True, config=None):
        """Replaces the float embeddings by int8 values with one float scale per row
        (`embeddings_scale`), Keras's "int8" mode, or by int4 values packed two per byte
        ("int4": per groups of columns with zero points, or per row); all of them are
        non-trainable."""
        from tensorflux.keras import quantizers

        mode, config = quantizers.begin_layer_quantize(self, mode, config, type_check,
                                                       Embedding)
        self.quantization_config = config
        # (per row: the scales reduce over the columns; int4 groups run along the columns)
        values, scale, zero = quantizers.quantize_kernel(self._embeddings, mode, config,
                                                         axis=-1)
        del self._embeddings
        with quantizers.unlocked_state(self):
            self.quantized_build((self.input_dim, self.output_dim), mode, config)
        quantizers.assign_quantized(self, "_embeddings", values, scale, zero)
        quantizers.finish_layer_quantize(self, mode, config)

    def quantized_build(self, embeddings_shape, mode, config=None):
        """Creates the integer embeddings and their per-row (or per-group) scales."""
        from tensorflux.keras import quantizers

        quantizers.build_quantized_kernel(self, "_embeddings", embeddings_shape, mode, config,
                                          per_row=True)

    def _quantized_lookup(self, ids):
        """The rows of `ids`, dequantized as Keras does for each mode."""
        from tensorflux.keras import quantizers

        tf = _tf()
        rows = tf.cast(tf.gather(self._integer_table(), ids, axis=0), self.compute_dtype)
        scale = tf.gather(self.embeddings_scale, ids, axis=0)
        if self._int4_block_size is None:
            return rows / tf.expand_dims(scale, -1)
        zero = tf.gather(self.embeddings_zero, ids, axis=0)
        return quantizers.dequantize_with_sz_map(rows, scale, zero, self.g_idx, group_axis=-1)

    def _float_weight(self):
        if not self._is_quantized:
            return self._embeddings
        from tensorflux.keras import quantizers

        tf = _tf()
        table = tf.cast(self._integer_table(), self.compute_dtype)
        if self._int4_block_size is None:
            return table / tf.expand_dims(self.embeddings_scale, -1)
        return quantizers.dequantize_with_sz_map(table, self.embeddings_scale,
                                                 self.embeddings_zero, self.g_idx,
                                                 group_axis=-1)

    def _quantize_merged(self, embeddings):
        return requantize(self, embeddings, axis=-1)

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
            "quantization_config": serialize_quantization_config(self.quantization_config),
            **self._lora_config(),
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
        if "_embeddings" in self.__dict__:
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
