"""keras.Operation: a callable that runs `call` on values and records a Node of the Functional
graph on KerasTensors; the base of Layer and keras.Function. Also Keras's automatic config (the
constructor's plain arguments) that Operation and Layer share."""

import inspect

from tensorflux.keras import backend
from tensorflux.keras.engine import tree
from tensorflux.keras.engine.keras_tensor import (
    KerasTensor,
    Node,
    any_symbolic_tensors,
    trace_output_spec,
)

__all__ = ["Operation"]


def generates_config(get_config):
    """Marks `get_config` as one that builds the config from the constructor's arguments, so
    that `Operation.__new__` records them for the classes that inherit it unchanged."""
    get_config._generated = True
    return get_config


class Operation:
    """A computation of a Functional graph: `call` runs it on tensors, and a call on
    KerasTensors (from keras.Input) returns the symbolic outputs of `compute_output_spec`,
    recorded as a node of the graph, so that `keras.Model(inputs, outputs)` runs it.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> class Double(keras.Operation):
    ...     def call(self, x):
    ...         return x * 2.0
    ...     def compute_output_spec(self, x):
    ...         return keras.KerasTensor(x.shape, x.dtype)
    >>> Double()(tf.constant([1.0, 2.0])).numpy().tolist()
    [2.0, 4.0]
    >>> x = keras.Input((3,))
    >>> Double(name="double")(x).shape
    (None, 3)
    """

    def __new__(cls, *args, **kwargs):
        instance = object.__new__(cls)
        if getattr(cls.get_config, "_generated", False):
            # What the constructor received, for Keras's automatic config of a class that
            # does not write get_config; kept only when every value is one a config can hold.
            arguments = (args, kwargs) if _is_plain(args) and _is_plain(kwargs) else None
            object.__setattr__(instance, "_constructor_call", arguments)
        return instance

    def __init__(self, name=None):
        if name is None:
            name = backend.auto_name(self.__class__.__name__)
        if not isinstance(name, str) or "/" in name:
            raise ValueError("Argument `name` must be a string and cannot contain character "
                             f"`/`. Received: name={name} (of type {type(name)})")
        self.name = name
        self._inbound_nodes = []
        self._outbound_nodes = []

    def __call__(self, *args, **kwargs):
        if any_symbolic_tensors(args, kwargs):
            return self.symbolic_call(*args, **kwargs)
        return self.call(*args, **kwargs)

    def symbolic_call(self, *args, **kwargs):
        """The KerasTensors `compute_output_spec` gives for KerasTensor arguments, recorded
        as a new node of this operation (what `keras.Model(inputs, outputs)` then runs)."""
        outputs = self.compute_output_spec(*args, **kwargs)
        for x in tree.flatten(outputs):
            if not isinstance(x, KerasTensor):
                raise ValueError(f"All operation outputs must be tensors: "
                                 f"{type(self).__name__} '{self.name}' returned from "
                                 f"compute_output_spec() a {type(x).__name__}: {x!r}")
        Node(self, args, kwargs, outputs)
        return outputs

    def call(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} '{self.name}' does not implement "
                                  "`call()`, which computes the operation's outputs.")

    def compute_output_spec(self, *args, **kwargs):
        """KerasTensors with the shapes and dtypes of the outputs for KerasTensor arguments;
        by default found by running `call` on placeholders of a throwaway graph."""
        try:
            return trace_output_spec(self.call, args, kwargs)
        except Exception as error:
            cls = type(self).__name__
            message = (f"Could not automatically infer the output shape / dtype of "
                       f"'{self.name}' (of type {cls}). Either the `{cls}.call()` method is "
                       f"incorrect, or you need to implement the `{cls}.compute_output_spec() "
                       f"/ compute_output_shape()` method. Error encountered:\n\n{error}")
            try:  # (the same class, so callers catch what they would have caught)
                retold = type(error)(message)
            except Exception:  # (an exception class that does not take a message)
                raise error from None
            raise retold.with_traceback(error.__traceback__) from None

    # ------------------------------------------------------------------ config
    @generates_config
    def get_config(self):
        """`{"name": ...}`, plus, for a class that does not override it, the plain values
        its constructor was called with (Keras's automatic config); NotImplementedError when
        they are not plain values."""
        config = {"name": self.name}
        if type(self).get_config is not Operation.get_config:
            return config
        config.update(_constructor_arguments(self))
        return _keys_init_takes(type(self), config)

    @classmethod
    def from_config(cls, config):
        """An instance rebuilt from `get_config()`'s dict: `cls(**config)`."""
        try:
            return cls(**config)
        except TypeError as error:
            raise TypeError(f"Error when deserializing class '{cls.__name__}' using config="
                            f"{config}.\n\nException encountered: {error}") from error

    # ------------------------------------------------------------------ graph connectivity
    def _node_attribute(self, attribute, node_index=0):
        """The input or output tensor(s) of the `node_index`-th call on symbolic inputs;
        `input` and `output` are those of the first call, as in Keras 3."""
        if not self._inbound_nodes:
            raise AttributeError(f"{type(self).__name__} '{self.name}' has never been called "
                                 f"on a symbolic input (keras.Input), so it has no "
                                 f"{attribute}.")
        if node_index >= len(self._inbound_nodes):
            raise ValueError(f"Asked for the {attribute} of call (node) {node_index} of "
                             f"'{self.name}', but it has only {len(self._inbound_nodes)} "
                             "inbound nodes.")
        node = self._inbound_nodes[node_index]
        values = node.input_tensors if attribute == "input" else node.output_tensors
        return values[0] if len(values) == 1 else list(values)

    @property
    def input(self):
        """The input KerasTensor(s) of the first symbolic call (a list for several)."""
        return self._node_attribute("input")

    @property
    def output(self):
        """The output KerasTensor(s) of the first symbolic call (a list for several)."""
        return self._node_attribute("output")

    def __repr__(self):
        return f"<Operation name={self.name}>"


# ---------------------------------------------------------------------- automatic config
_PLAIN_VALUES = (str, int, float, bool, type(None))


def _is_plain(value):
    """Whether `value` is one Keras's automatic config keeps: a str, int, float, bool or None,
    or a list, tuple or dict (with str keys) holding only such values."""
    if isinstance(value, _PLAIN_VALUES):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


def _constructor_arguments(obj):
    """The constructor arguments recorded by Operation.__new__, bound to the parameters of
    `__init__` with its defaults and **kwargs spread, as Keras 3 generates the config of a
    class that does not override get_config. Raises NotImplementedError, naming the class,
    when a config could not rebuild the object: an argument or default that is not a plain
    value, or positional-only or *args parameters."""
    cls = type(obj)
    call = getattr(obj, "_constructor_call", None)
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    positional = [p.name for p in parameters if p.kind is p.POSITIONAL_ONLY]
    if positional:
        raise NotImplementedError(_override_message(
            cls, f"its __init__() has positional-only parameters ({_names(positional)})"))
    if call is None:
        raise NotImplementedError(_override_message(
            cls, "it was given arguments that are not plain values (a str, int, float, bool, "
                 "None, or a list, tuple or dict of them)"))
    try:
        bound = inspect.Signature(parameters).bind(*call[0], **call[1])
    except TypeError as error:
        raise NotImplementedError(_override_message(
            cls, f"its arguments do not match its __init__() ({error})")) from None
    bound.apply_defaults()
    arguments = {}
    for parameter in parameters:
        value = bound.arguments[parameter.name]
        if parameter.kind is parameter.VAR_POSITIONAL:
            if value:
                raise NotImplementedError(_override_message(
                    cls, f"it was given *{parameter.name} arguments, which a config cannot "
                         "pass back"))
        elif parameter.kind is parameter.VAR_KEYWORD:
            arguments.update(value)
        else:
            arguments[parameter.name] = value
    arguments.pop("name", None)
    not_plain = [k for k, v in arguments.items() if not _is_plain(v)]
    if not_plain:
        raise NotImplementedError(_override_message(
            cls, f"the value of {_names(not_plain)} is not a plain value (a str, int, float, "
                 "bool, None, or a list, tuple or dict of them)"))
    return arguments


def _keys_init_takes(cls, config):
    """`config` without the keys `cls.__init__` cannot take (it has no **kwargs), so that
    `cls(**config)` rebuilds the object. (Keras keeps name, trainable and dtype there for a
    layer, and its file then fails to load.)"""
    parameters = inspect.signature(cls.__init__).parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return config
    return {k: v for k, v in config.items() if k in parameters}


def _names(names):
    return ", ".join(f"'{name}'" for name in names)


def _override_message(cls, why):
    return (f"{cls.__name__}.get_config() cannot be generated automatically: {why}. Override "
            f"get_config() to return the arguments that rebuild it, for example:\n\n"
            f"    def get_config(self):\n"
            f"        return {{**super().get_config(), \"factor\": self.factor}}")
