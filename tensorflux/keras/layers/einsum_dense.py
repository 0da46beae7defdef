"""keras.layers.EinsumDense: a dense layer whose contraction is an einsum equation."""

import re

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
from tensorflux.keras.layers.core import bias_and_activation

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


class EinsumDense(Layer):
    """A dense layer computing `activation(einsum(equation, inputs, kernel) + bias)`.

    `output_shape` gives the output's dimensions after the batch one (None where the input
    decides); `bias_axes` names the output letters that get a bias.

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
        for arg, value in (("lora_rank", lora_rank), ("quantization_config",
                                                      quantization_config)):
            if value:
                raise NotImplementedError(f"{_describe(self)}: `{arg}` is not supported by "
                                          f"tensorflux yet (received {arg}={value!r}).")
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
        self.lora_rank = None
        self.lora_alpha = None
        self.lora_enabled = False
        self.quantization_config = None

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
        self._kernel = add_weight_from_args(self, "kernel", tuple(kernel_shape),
                                            initializer=kernel_initializer)
        if bias_shape is not None:
            self.bias = add_weight_from_args(self, "bias", tuple(bias_shape))
        else:
            self.bias = None

    @property
    def kernel(self):
        if not self.built:
            raise AttributeError("You must build the layer before accessing `kernel`.")
        return self._kernel

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
        return bias_and_activation(self, _tf().einsum(self.equation, inputs, self._kernel))

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
            "quantization_config": None,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("output_shape") is not None and not isinstance(config["output_shape"],
                                                                     int):
            config["output_shape"] = tuple(config["output_shape"])
        return super().from_config(config)
