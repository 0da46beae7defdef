"""keras.layers.EinsumDense: a dense layer whose contraction is an einsum equation."""

import math
import re
import string

from tensorflux.keras import activations, initializers
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
    floating_input,
)
from tensorflux.keras.layers.core import (
    LoRAMixin,
    bias_and_activation,
    quantization_config_arg,
    requantize,
    serialize_quantization_config,
    with_input_gradient,
)

__all__ = ["EinsumDense"]


def _tf():
    import tensorflux as tf

    return tf


def analyze_einsum(equation, bias_axes, input_shape, output_shape, owner="EinsumDense"):
    """(kernel shape, bias shape or None, full output shape, kernel input axes, kernel output
    axes) for `equation` applied to an input of `input_shape` (Keras's rules: "ab,bc->ac",
    "...ab,bc->...ac" or "ab...,bc->ac...")."""
    text = equation.replace("...", "0")
    forms = (("([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)$", False),
             ("0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)$", True),
             ("([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0$", False))
    found = [(m, left) for m, left in ((re.match(p, text), left) for p, left in forms) if m]
    if not found:
        raise ValueError(f"{owner}: invalid einsum equation '{equation}'. Equations must be "
                         "in the form [X],[Y]->[Z], ...[X],[Y]->...[Z], or [X]...,[Y]->[Z]...")
    match, left_elided = found[0]
    input_spec, weight_spec, output_spec = match.groups()
    input_shape = tuple(input_shape)
    elided = len(input_shape) - len(input_spec)
    if elided < 0 or (elided > 0 and text == equation):
        raise ValueError(f"{owner}: the equation '{equation}' expects an input of rank "
                         f"{len(input_spec)}, received shape {_format_shape(input_shape)}")
    output = [output_shape] if isinstance(output_shape, int) else list(output_shape)
    output.insert(0, input_shape[0])
    if elided > 0 and left_elided:
        for i in range(1, elided):
            output.insert(1, input_shape[i])
    elif elided > 0:
        output.extend(input_shape[len(input_shape) - elided:])
    if left_elided:
        input_index = {d: i + elided - len(input_shape) for i, d in enumerate(input_spec)}
        output_index = {d: i + elided for i, d in enumerate(output_spec)}
    else:
        input_index = {d: i for i, d in enumerate(input_spec)}
        output_index = {d: i for i, d in enumerate(output_spec)}
    for dim in input_spec:
        if dim in output_index:
            index = output_index[dim]
            if index >= len(output):
                raise ValueError(f"{owner}: output_shape {tuple(output_shape)} does not cover "
                                 f"the output '{output_spec}' of the equation '{equation}'")
            size_in, size_out = input_shape[input_index[dim]], output[index]
            if size_out is not None and size_in is not None and size_out != size_in:
                raise ValueError(f"{owner}: input shape and output shape do not match at shared "
                                 f"dimension '{dim}'. Input shape is {size_in}, and output "
                                 f"shape is {size_out} (input shape "
                                 f"{_format_shape(input_shape)}).")
    for dim in output_spec:
        if dim not in input_spec and dim not in weight_spec:
            raise ValueError(f"{owner}: dimension '{dim}' was specified in the output "
                             f"'{output_spec}' but has no corresponding dim in the input spec "
                             f"'{input_spec}' or weight spec '{weight_spec}'")
    if len(output) < max(output_index.values(), default=-1) + 1:
        raise ValueError(f"{owner}: output_shape {tuple(output_shape)} has too few dimensions "
                         f"for the output '{output_spec}' of the equation '{equation}'")
    kernel_shape, input_axes, output_axes = [], [], []
    for i, dim in enumerate(weight_spec):
        if dim in output_index:
            kernel_shape.append(output[output_index[dim]])
            output_axes.append(i)
        elif dim in input_index:
            kernel_shape.append(input_shape[input_index[dim]])
            input_axes.append(i)
        else:
            raise ValueError(f"{owner}: weight dimension '{dim}' did not have a match in either "
                             f"the input spec '{input_spec}' or the output spec "
                             f"'{output_spec}'. For this layer, the weight must be fully "
                             "specified.")
    bias_shape = None
    if bias_axes is not None:
        offset = elided if left_elided else 0
        sizes = {d: output[i + offset] for i, d in enumerate(output_spec)}
        for char in bias_axes:
            if char not in output_spec:
                raise ValueError(f"{owner}: bias dimension '{char}' was requested, but is not "
                                 f"part of the output spec '{output_spec}'")
        first = min(output_spec.find(char) for char in bias_axes)
        bias_shape = [sizes[d] if d in bias_axes else 1 for d in output_spec[first:]]
        if not left_elided:
            bias_shape.extend([1] * max(elided, 0))
    return kernel_shape, bias_shape, output, input_axes, output_axes


def _full_specs(equation, input_rank):
    """The equation's (input, kernel, output) letters, an ellipsis replaced by unused
    letters (in alphabetical order) for the input's extra axes."""
    text = equation.replace("...", "0")
    for pattern, side in (("([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)", None),
                          ("0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)", "left"),
                          ("([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0", "right")):
        match = re.match(pattern, text)
        if match is None:
            continue
        input_spec, weight_spec, output_spec = match.groups()
        if side is not None:
            spare = sorted(set(string.ascii_letters) - set(input_spec + weight_spec +
                                                            output_spec))
            extra = "".join(spare[:input_rank - len(input_spec)])
            if side == "left":
                input_spec, output_spec = extra[::-1] + input_spec, extra[::-1] + output_spec
            else:
                input_spec, output_spec = input_spec + extra, output_spec + extra
        return input_spec, weight_spec, output_spec
    raise ValueError(f"Invalid einsum equation '{equation}'. Equations must be in the form "
                     "[X],[Y]->[Z], ...[X],[Y]->...[Z], or [X]...,[Y]->[Z]....")


def scale_layout(equation, input_rank):
    """How int8 scales line up with an einsum's output, as Keras derives it: for the input
    and the kernel, {"reduced": the axes summed over (a scale per remaining position),
    "transpose", "expand", "squeeze": the moves that bring a scale of the tensor's rank
    (reduced axes kept as 1) to the output's layout}, and the einsum of the inputs'
    gradient."""
    input_spec, weight_spec, output_spec = _full_specs(equation, input_rank)
    layouts = []
    index = None  # (shared by both tensors: Keras's layout when the output has too few axes)
    for spec in (input_spec, weight_spec):
        reduced = [i for i, letter in enumerate(spec) if letter not in output_spec]
        expand = [i for i, letter in enumerate(output_spec) if letter not in spec]
        transpose = [spec.index(letter) for letter in output_spec if letter in spec]
        squeeze = []
        for axis in reduced:
            if expand:
                index = expand.pop(0)
            else:
                squeeze.append(axis)
            transpose.insert(index, axis)
        layouts.append({"reduced": reduced, "transpose": transpose, "expand": expand,
                        "squeeze": squeeze})
    return layouts[0], layouts[1], f"{output_spec},{weight_spec}->{input_spec}"


def to_output_layout(scale, layout):
    """A scale with the tensor's axes (reduced ones of size 1) moved to the output's."""
    tf = _tf()
    if layout["transpose"]:
        scale = tf.transpose(scale, layout["transpose"])
    for axis in sorted(layout["expand"]):
        scale = tf.expand_dims(scale, axis)
    if layout["squeeze"]:
        scale = tf.squeeze(scale, axis=layout["squeeze"])
    return scale


def from_output_layout(scale, layout):
    """The reverse of to_output_layout."""
    tf = _tf()
    for axis in sorted(layout["squeeze"]):
        scale = tf.expand_dims(scale, axis)
    if layout["expand"]:
        scale = tf.squeeze(scale, axis=layout["expand"])
    if layout["transpose"]:
        order = layout["transpose"]
        scale = tf.transpose(scale, sorted(range(len(order)), key=order.__getitem__))
    return scale


class EinsumDense(LoRAMixin, Layer):
    """A dense layer computing `activation(einsum(equation, inputs, kernel) + bias)`.

    `output_shape` gives the output's dimensions after the batch one (None where the input
    decides); `bias_axes` names the output letters that get a bias. `enable_lora(rank)`
    adapts the kernel with LoRA (see LoRAMixin).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.EinsumDense("abc,cd->abd", output_shape=(None, 2), bias_axes="d",
    ...                                  kernel_initializer="ones")
    >>> layer(tf.ones((1, 3, 4))).shape
    TensorShape([1, 3, 2])
    >>> [tuple(w.shape) for w in layer.weights]
    [(4, 2), (2,)]
    """

    def __init__(self, equation, output_shape, activation=None, bias_axes=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, lora_rank=None, lora_alpha=None,
                 gptq_unpacked_column_size=None, quantization_config=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(equation, str):
            raise ValueError(f"{_describe(self)}: `equation` must be a string, received "
                             f"{equation!r}")
        self.equation = equation
        self.partial_output_shape = ((output_shape,) if isinstance(output_shape, int)
                                     else tuple(output_shape))
        self.bias_axes = bias_axes
        self.activation = activations.get(activation)
        set_weight_args(self, kernel=(kernel_initializer, kernel_regularizer, kernel_constraint),
                        bias=(bias_initializer, bias_regularizer, bias_constraint))
        self._init_lora(lora_rank, lora_alpha)
        self.quantization_config = quantization_config_arg(self, quantization_config)

    def _analyze(self, input_shape):
        return analyze_einsum(self.equation, self.bias_axes, input_shape,
                              self.partial_output_shape, owner=_describe(self))

    def build(self, input_shape):
        kernel_shape, bias_shape, _, input_axes, output_axes = self._analyze(input_shape)
        self.input_spec = InputSpec(ndim=len(input_shape))
        kernel_initializer = self.kernel_initializer
        if isinstance(kernel_initializer, initializers.VarianceScaling) and (
                kernel_initializer.input_axes is None or kernel_initializer.output_axes is None):
            # Keras computes the fans of an einsum kernel over its input and output axes.
            config = kernel_initializer.get_config()
            config.update(seed=kernel_initializer.seed, input_axes=input_axes,
                          output_axes=output_axes)
            kernel_initializer = type(kernel_initializer).from_config(config)
        for name, shape in (("kernel", kernel_shape), ("bias", bias_shape or ())):
            if any(d is None for d in shape):
                raise ValueError(f"{_describe(self)} cannot create its {name}: its shape "
                                 f"{_format_shape(shape)} has an unknown dimension for the "
                                 f"input shape {_format_shape(input_shape)}; give the unknown "
                                 "sizes in `output_shape` or the input.")
        mode = self.quantization_mode
        if mode is not None:
            self.quantized_build(tuple(kernel_shape), mode, self.quantization_config)
        else:
            self._kernel = add_weight_from_args(self, "kernel", tuple(kernel_shape),
                                                initializer=kernel_initializer)
        if bias_shape is not None:
            self.bias = add_weight_from_args(self, "bias", tuple(bias_shape))
        else:
            self.bias = None
        if self.lora_rank:
            self.enable_lora(self.lora_rank, lora_alpha=self.lora_alpha)

    @property
    def kernel(self):
        """The kernel the layer computes with: its variable, with the LoRA update added
        once LoRA is enabled (an int4 kernel unpacked to its shape, as Keras returns it)."""
        kernel = self._stored_weight()
        if self._quantized_mode == "int4":
            kernel = _tf().reshape(self._unpacked_int4(kernel), self.original_kernel_shape)
        return self._with_lora(kernel)

    def _lora_shape(self):
        if self._is_quantized:
            return tuple(self.original_kernel_shape)
        return tuple(self._kernel.shape)

    def compute_output_shape(self, input_shape):
        return tuple(self._analyze(input_shape)[2])

    def __call__(self, *args, **kwargs):
        outputs = super().__call__(*args, **kwargs)
        inputs = args[0] if args else kwargs.get("inputs")
        if isinstance(outputs, KerasTensor) and isinstance(inputs, KerasTensor):
            # Keras's symbolic output has compute_output_shape's shape: a None in
            # `output_shape` stays unknown even where the input's size is known. (Only where
            # that shape agrees with the traced one: Keras orders the dims of an elided
            # "...ab" input of rank > 3 differently from the einsum it computes.)
            declared = self.compute_output_shape(inputs.shape)
            traced = outputs.shape
            if len(declared) == len(traced) and all(
                    d is None or d == t for d, t in zip(declared, traced)):
                outputs._shape = declared
        return outputs

    def call(self, inputs, training=None):
        inputs = floating_input(inputs, self.compute_dtype)
        tf = _tf()
        if self._is_quantized:
            outputs = self._quantized_einsum(inputs)
            if self.lora_enabled:
                outputs = self._add_lora_output(
                    outputs, tf.einsum(self.equation, inputs, self.lora_kernel_a))
            return bias_and_activation(self, outputs)
        return bias_and_activation(self, tf.einsum(self.equation, inputs, self.kernel))

    # ------------------------------------------------------------------ quantization
    _is_quantized = False
    _int4_block_size = None

    @property
    def _layouts(self):
        layouts = self.__dict__.get("_scale_layouts")
        if layouts is None:
            layouts = scale_layout(self.equation, self.input_spec.ndim)
            object.__setattr__(self, "_scale_layouts", layouts)
        return layouts

    def _flat_kernel_shape(self, kernel_shape):
        """int4's 2-D view of the kernel: (the summed axes' sizes, the others'), as Keras
        reshapes it (without moving the axes)."""
        reduced = self._layouts[1]["reduced"]
        rows = math.prod(d for axis, d in enumerate(kernel_shape) if axis in reduced)
        return rows, math.prod(kernel_shape) // rows

    def quantize(self, mode=None, type_check=True, config=None):
        """Replaces the float kernel by int8 values with a float scale per output position
        (`kernel_scale`, reduced over the kernel's summed axes and laid out like the
        output), Keras's "int8" mode, or by the int4 values of its 2-D view packed two per
        byte ("int4"); all of them are non-trainable. int8 calls quantize their inputs over
        the summed axes too (unless the config's activation_quantizer is None)."""
        from tensorflux.keras import quantizers

        mode, config = quantizers.begin_layer_quantize(self, mode, config, type_check,
                                                       EinsumDense)
        self.quantization_config = config
        kernel_shape = tuple(self._kernel.shape)
        if mode == "int8":
            kernel_layout = self._layouts[1]
            quantizer = quantizers.QuantizationConfig.weight_quantizer_or_default(
                config, quantizers.AbsMaxQuantizer(axis=kernel_layout["reduced"]))
            values, scale = quantizer(self._kernel, to_numpy=True)
            scale, zero = to_output_layout(scale, kernel_layout), None
        else:
            flat = _tf().reshape(self._kernel, self._flat_kernel_shape(kernel_shape))
            values, scale, zero = quantizers.quantize_kernel(flat, mode, config, axis=0,
                                                             use_config_quantizer=False)
        del self._kernel  # (the frozen kernel alone: LoRA factors stay, as in Keras)
        with quantizers.unlocked_state(self):
            self.quantized_build(kernel_shape, mode, config)
        quantizers.assign_quantized(self, "_kernel", values, scale, zero)
        quantizers.finish_layer_quantize(self, mode, config)

    def quantized_build(self, kernel_shape, mode, config=None):
        """Creates the integer kernel and its scales: int8 keeps the kernel's shape, with a
        scale shaped to broadcast against the output; int4 packs the kernel's 2-D view."""
        from tensorflux.keras import quantizers

        input_layout, kernel_layout, _ = self._layouts
        self.quantization_axis = tuple(input_layout["reduced"])
        self.original_kernel_shape = tuple(kernel_shape)
        if mode != "int8":
            quantizers.build_quantized_kernel(self, "_kernel",
                                              self._flat_kernel_shape(kernel_shape), mode,
                                              config)
            return
        self.inputs_quantizer = quantizers.QuantizationConfig.activation_quantizer_or_default(
            config, quantizers.AbsMaxQuantizer())
        self._kernel = self.add_weight(name="kernel", shape=kernel_shape, initializer="zeros",
                                       dtype="int8", trainable=False)
        scale_shape = [1 if axis in kernel_layout["reduced"] else size
                       for axis, size in enumerate(kernel_shape)]
        scale_shape = [scale_shape[axis] for axis in kernel_layout["transpose"]]
        for axis in sorted(kernel_layout["expand"]):
            scale_shape.insert(axis, 1)
        for axis in sorted(kernel_layout["squeeze"], reverse=True):
            scale_shape.pop(axis)
        self.kernel_scale = self.add_weight(name="kernel_scale", shape=tuple(scale_shape),
                                            initializer="ones", trainable=False)
        self._is_quantized = True
        self._quantized_mode = mode

    def _quantized_einsum(self, inputs):
        """The einsum from the integer kernel, as Keras computes each mode."""
        from tensorflux.keras import quantizers

        tf = _tf()
        dtype = self.compute_dtype
        input_layout, kernel_layout, gradient_equation = self._layouts
        int8 = self._quantized_mode == "int8"
        grouped = self._int4_block_size is not None

        def einsum(x, kernel):
            return tf.einsum(self.equation, x, kernel)

        def forward(x, kernel, scale, *groups):
            if grouped or not self.inputs_quantizer:
                return einsum(x, self._dequantize(kernel, scale, *groups))
            values, inputs_scale = self.inputs_quantizer(x, axis=self.quantization_axis)
            inputs_scale = to_output_layout(inputs_scale, input_layout)
            if int8:
                product = quantizers.int_product(einsum, values, kernel, dtype)
                return product / (inputs_scale * scale)
            return einsum(tf.cast(values, dtype), self._dequantize(kernel, scale)) / inputs_scale

        def input_gradient(upstream, *values):
            return tf.einsum(gradient_equation, upstream, self._dequantize(*values))

        return with_input_gradient(forward, input_gradient, inputs,
                                   quantizers.quantized_variables(self, "_kernel"))

    def _unpacked_int4(self, kernel):
        from tensorflux.keras import quantizers

        columns = self._flat_kernel_shape(self.original_kernel_shape)[1]
        return quantizers.unpack_int4(kernel, columns, axis=-1)

    def _dequantize(self, kernel, scale, *groups):
        """The float kernel (in its shape) of the integer `kernel` and its scale (and int4
        groups')."""
        from tensorflux.keras import quantizers

        tf = _tf()
        dtype = self.compute_dtype
        if self._quantized_mode == "int8":
            return tf.cast(kernel, dtype) / from_output_layout(scale, self._layouts[1])
        kernel = self._unpacked_int4(kernel)
        if self._int4_block_size is not None:
            kernel = tf.cast(quantizers.dequantize_with_sz_map(kernel, scale, *groups,
                                                               group_axis=0), dtype)
        else:
            kernel = tf.cast(kernel, dtype) / scale
        return tf.reshape(kernel, self.original_kernel_shape)

    def _float_weight(self):
        if not self._is_quantized:
            return self._kernel
        from tensorflux.keras import quantizers

        return self._dequantize(*quantizers.quantized_variables(self, "_kernel"))

    def _quantize_merged(self, kernel):
        """Keras's requantization of the merged kernel: int8 over the summed axes with the
        scale in the output's layout, int4 on the kernel's 2-D view."""
        from tensorflux.keras import quantizers

        if self._quantized_mode == "int8":
            layout = self._layouts[1]
            values, scale = quantizers.abs_max_quantize(kernel, layout["reduced"],
                                                        to_numpy=True)
            return values, to_output_layout(scale, layout), None
        flat = _tf().reshape(kernel, self._flat_kernel_shape(self.original_kernel_shape))
        return requantize(self, flat, axis=0)

    def get_config(self):
        config = super().get_config()
        config.pop("activity_regularizer", None)
        return {
            **config,
            "output_shape": self.partial_output_shape,
            "equation": self.equation,
            "activation": activations.serialize(self.activation),
            "bias_axes": self.bias_axes,
            **weight_args_config(self, "kernel", "bias"),
            "quantization_config": serialize_quantization_config(self.quantization_config),
            **self._lora_config(),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("output_shape") is not None and not isinstance(config["output_shape"],
                                                                     int):
            config["output_shape"] = tuple(config["output_shape"])
        return super().from_config(config)
