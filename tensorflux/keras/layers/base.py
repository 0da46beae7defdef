"""keras.layers.Layer: weights, building on first call, attribute tracking, training flag,
losses, symbolic (Functional) calls, config; plus InputSpec and its shape checks."""

import functools
import inspect
import threading

from tensorflux.composite_tensor import CompositeTensor
from tensorflux.context import context as _tf_context
from tensorflux.keras import backend, dtype_policies
from tensorflux.keras.engine import tree
from tensorflux.keras.engine.keras_tensor import (
    _PLAIN_LEAVES,
    KerasTensor,
    Node,
    any_symbolic_tensors,
    plain_call,
    shape_of,
    trace_output_spec,
    trace_state,
)
from tensorflux.keras.engine.load_budget import _current as _load_budget
from tensorflux.keras.engine.name_scope import current_path, name_scope
from tensorflux.keras.engine.operation import (
    Operation,
    _constructor_arguments,
    _keys_init_takes,
    generates_config,
)

# (re-exported: models/model.py takes them from here)
from tensorflux.keras.engine.operation import _is_plain as _is_plain
from tensorflux.keras.engine.operation import _names as _names
from tensorflux.keras.engine.stateless_scope import _current as _stateless
from tensorflux.keras.engine.variables import KerasAssign, RebindsInPlace
from tensorflux.tensor import Tensor as _Tensor
from tensorflux.tensor import _TensorLike
from tensorflux.variable import Variable

__all__ = ["InputSpec", "KerasVariable", "Layer"]


class KerasVariable(KerasAssign, RebindsInPlace, Variable):
    """A tf.Variable made by `Layer.add_weight`: it also knows its layer path and regularizer.

    `name` is the weight's own name ("kernel") and `path` adds the name scopes open when it
    was created ("model/dense/kernel"), as in Keras 3.
    """

    def __init__(self, *args, path=None, regularizer=None, **kwargs):
        super().__init__(*args, **kwargs)
        if path is None:
            scope = current_path()
            path = f"{scope}/{self._name}" if scope else self._name
        self.path = path
        self.regularizer = regularizer
        self.overwrite_with_gradient = False

    @property
    def name(self):
        return self._name

    @property
    def value(self):
        """The current value as a tensor: a property in Keras 3 (`[v.value for v in
        model.weights]`), where a plain tf.Variable's `value()` is a method. Inside a
        keras.StatelessScope mapping the variable: the mapped tensor itself."""
        return self.read_value()

    def __repr__(self):
        return (f"<KerasVariable path={self.path}, shape={tuple(self.shape)}, "
                f"dtype={self.dtype.name}, trainable={self.trainable}>")


class InputSpec:
    """What a layer accepts: dtype, rank (ndim/min_ndim/max_ndim), full shape or some axes.

    >>> from tensorflux import keras
    >>> keras.layers.InputSpec(min_ndim=2, axes={-1: 8}).axes
    {-1: 8}
    """

    def __init__(self, dtype=None, shape=None, ndim=None, max_ndim=None, min_ndim=None,
                 axes=None, allow_last_axis_squeeze=False, name=None, optional=False):
        self.dtype = None if dtype is None else backend.standardize_dtype(dtype)
        self.shape = None if shape is None else tuple(shape)
        self.ndim = len(self.shape) if self.shape is not None else ndim
        self.max_ndim = max_ndim
        self.min_ndim = min_ndim
        self.axes = dict(axes or {})
        self.allow_last_axis_squeeze = allow_last_axis_squeeze
        self.name = name
        self.optional = optional

    def __repr__(self):
        parts = [f"{k}={v}" for k, v in (("dtype", self.dtype), ("shape", self.shape),
                                          ("ndim", self.ndim), ("max_ndim", self.max_ndim),
                                          ("min_ndim", self.min_ndim), ("axes", self.axes))
                 if v]
        return f"InputSpec({', '.join(parts)})"

    def get_config(self):
        return {"dtype": self.dtype, "shape": self.shape, "ndim": self.ndim,
                "max_ndim": self.max_ndim, "min_ndim": self.min_ndim, "axes": self.axes}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _describe(layer):
    return f"{layer.__class__.__name__} '{layer.name}'"


def _format_shape(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def input_shape_error(layer, expectation, shape):
    """The ValueError layers raise for a bad input: names the layer, expected and received."""
    return ValueError(f"{_describe(layer)} expected an input {expectation}, received shape "
                      f"{_format_shape(shape)}")


def _symbolic_call_error(layer, error):
    """`error`, raised where a layer's call failed on keras.Input tensors, retold naming the
    layer (as Keras does); the same class, so callers catch what they caught before."""
    if f"'{layer.name}'" in str(error):  # (already names it: an input check, a nested call)
        return error
    cls = type(layer).__name__
    try:
        return type(error)(
            f"{_describe(layer)} failed when called on symbolic inputs (keras.Input tensors), "
            f"which it did to infer its output shape and dtype. Either `{cls}.call()` is "
            f"incorrect for these inputs, or the layer needs `compute_output_shape()` / "
            f"`compute_output_spec()`. Error encountered: {error}")
    except Exception:  # (an exception class that does not take a message)
        return error


def _note_failed_call(layer, error, args):
    """Adds to the traceback of an error raised inside `call` which layer raised it and the
    shapes it received (Keras's "Exception encountered when calling ..."); only the innermost
    layer notes it, and the error itself is unchanged."""
    if getattr(error, "_keras_layer_noted", False) or not hasattr(error, "add_note"):
        return
    try:
        shapes = [shape_of(x) for x in tree.flatten(args)]
        error.add_note(f"Raised while calling {_describe(layer)}.call() on inputs of shape "
                       f"{', '.join('?' if s is None else _format_shape(s) for s in shapes)}.")
        error._keras_layer_noted = True
    except Exception:  # (an error object that takes no attributes: left as it is)
        pass


def _check_called_without_inputs(layer):
    """TypeError for `layer()` where `call` needs an input (Keras's binding error), instead of
    a crash inside `build(None)`."""
    params = list(inspect.signature(layer.call).parameters.values())
    if params and params[0].default is inspect.Parameter.empty and \
            params[0].kind in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
        raise TypeError(f"{_describe(layer)} was called without inputs: missing a required "
                        f"argument: '{params[0].name}'")


def check_input_spec(layer, specs, inputs):
    """Raises input_shape_error when `inputs` does not satisfy `specs` (one spec per input)."""
    if not specs:
        return
    flat = [inputs] if inputs.__class__ is _Tensor else tree.flatten(inputs)
    if not isinstance(specs, (list, tuple)):
        specs = [specs]
    if len(flat) != len(specs):  # (a list given to Dense: Keras's error, not a build crash)
        raise ValueError(f"{_describe(layer)} expects {len(specs)} input(s), but it received "
                         f"{len(flat)} input tensors: "
                         f"[{', '.join(_format_shape(shape_of(x) or ()) for x in flat)}].")
    for spec, x in zip(specs, flat):
        if spec is None:
            continue
        if x is None:
            # Most often a layer whose call() forgot its `return`: say so here, where the
            # None arrives, rather than crash later in build() or in an op on None.
            raise ValueError(f"Inputs to a layer should be tensors. Got 'None' as input for "
                             f"{_describe(layer)}: if it is another layer's output, that "
                             "layer's call() returned None (is a `return` missing?)")
        shape = shape_of(x)
        if shape is None:
            continue
        rank = len(shape)
        if spec.ndim is not None and not spec.allow_last_axis_squeeze and rank != spec.ndim:
            raise input_shape_error(layer, f"of rank {spec.ndim}", shape)
        if spec.max_ndim is not None and rank > spec.max_ndim:
            raise input_shape_error(layer, f"of rank <= {spec.max_ndim}", shape)
        if spec.min_ndim is not None and rank < spec.min_ndim:
            raise input_shape_error(layer, f"of rank >= {spec.min_ndim}", shape)
        for axis, value in spec.axes.items():
            if value is None:
                continue
            if axis >= rank or axis < -rank:
                raise input_shape_error(layer, f"with an axis {axis} of size {value}", shape)
            if shape[axis] not in (value, None):
                where = "last dimension" if axis == -1 else f"dimension {value} at axis {axis}"
                if axis == -1:
                    raise input_shape_error(layer, f"with {where} {value}", shape)
                raise input_shape_error(layer, f"with {where}", shape)
        if spec.shape is not None:
            for expected, got in zip(spec.shape, shape):
                if expected is not None and got is not None and expected != got:
                    raise input_shape_error(layer, f"of shape {_format_shape(spec.shape)}",
                                            shape)


class _CallContext(threading.local):
    def __init__(self):
        self.entry = None  # the outermost layer being called
        self.training = None
        # The open autocast scope (Keras 3's AutocastScope): None when there is none, else
        # the dtype float variables are read in, "" for a scope that casts nothing.
        self.autocast = None
        # While a scope is open: (layer id, attribute) -> the variable (or list of them) an
        # attribute held before a cast value replaced it.
        self.autocast_originals = {}


_call_context = _CallContext()


class _TrackedList(list):
    """A list attribute of a layer: layers and variables appended later are tracked too."""

    def __init__(self, values, owner):
        super().__init__(values)
        self._owner = owner

    def append(self, value):
        self._owner._track(value)
        super().append(value)

    def extend(self, values):
        values = list(values)
        for value in values:
            self._owner._track(value)
        super().extend(values)

    def insert(self, index, value):
        self._owner._track(value)
        super().insert(index, value)

    def __setitem__(self, index, value):
        self._owner._track(value)
        super().__setitem__(index, value)

    def __reduce__(self):
        return list, (list(self),)


# Attributes the engine manages itself: never scanned for sublayers or variables.
_UNTRACKED = frozenset({
    "_layers", "_trainable_variables", "_non_trainable_variables", "_inbound_nodes",
    "_outbound_nodes", "_losses", "_functional", "_operations", "_nodes", "_nodes_by_depth",
    "_inputs", "_outputs", "_inputs_struct", "_outputs_struct", "_run_order",
    "_build_shapes_dict", "input_spec", "_output_tensor", "_input_tensor",
})


def _wrap_build(build):
    """Makes a subclass's build record its input shapes and mark the layer built."""
    if getattr(build, "_keras_wrapped", False):
        return build
    signature = inspect.signature(build)

    @functools.wraps(build)
    def wrapped(self, *args, **kwargs):
        if self.__dict__.get("_in_build"):  # (a subclass's build calling super().build())
            return build(self, *args, **kwargs)
        object.__setattr__(self, "_in_build", True)
        if args and not type(self).__module__.startswith("tensorflux."):
            args = (_user_build_shape(args[0]),) + args[1:]
        try:
            with self._open_name_scope():
                self._record_path()
                build(self, *args, **kwargs)
        finally:
            object.__delattr__(self, "_in_build")
        try:
            bound = signature.bind(self, *args, **kwargs).arguments
        except TypeError:
            bound = {}
        bound.pop(next(iter(signature.parameters)), None)
        shapes = {k: _freeze_shape(v) for k, v in bound.items()}
        if shapes:
            object.__setattr__(self, "_build_shapes_dict", shapes)
        object.__setattr__(self, "built", True)
        self._lock_state()

    wrapped._keras_wrapped = True
    return wrapped


def _locked_state_error(layer, what):
    """Keras's state lock: the ValueError for new state (`what`) added to a built layer."""
    if layer.__dict__.get("_in_build"):
        what += " from a second call of build() (check `layer.built` before building it)"
    return ValueError(
        f"You cannot add new elements of state (variables or sub-layers) to a layer that is "
        f"already built: {_describe(layer)} received {what} after it was built. All state "
        "must be created in the `__init__()` method or in the `build()` method.")


class _BuildShape(tuple):
    """The shape a user's `build(input_shape)` receives: Keras 3's tuple, that also answers
    the TensorShape methods Keras 2 code calls on it (tf.keras 2 passed a TensorShape):
    `input_shape.as_list()`, `.rank`, `input_shape[:-1].concatenate([units])`."""

    __slots__ = ()

    def __getitem__(self, index):
        item = super().__getitem__(index)
        return _BuildShape(item) if isinstance(index, slice) else item

    def as_list(self):
        """The dimensions as a list (None where unknown), as TensorShape.as_list."""
        return list(self)

    @property
    def rank(self):
        return len(self)

    ndims = rank

    @property
    def dims(self):
        return list(self)

    def is_fully_defined(self):
        return all(d is not None for d in self)

    def concatenate(self, other):
        """This shape followed by `other`'s dimensions (an int is one dimension)."""
        other = (other,) if isinstance(other, int) or other is None else tuple(other)
        return _BuildShape(tuple(self) + other)

    def __repr__(self):
        return repr(tuple(self))


def _user_build_shape(shape):
    """A flat shape (tuple or list of ints and None) as a _BuildShape; anything else (nested
    shapes of a multi-input layer, dicts, None) as it is."""
    if isinstance(shape, (list, tuple)) and not isinstance(shape, _BuildShape) and \
            all(d is None or (isinstance(d, int) and not isinstance(d, bool)) for d in shape):
        return _BuildShape(shape)
    return shape


def _freeze_shape(shape):
    """Shapes (TensorShape, list) as tuples, nested structures kept."""
    if shape is None:
        return None
    if hasattr(shape, "as_list"):
        return None if shape.rank is None else tuple(shape.as_list())
    if isinstance(shape, dict):
        return {k: _freeze_shape(v) for k, v in shape.items()}
    if isinstance(shape, (list, tuple)):
        if all(d is None or isinstance(d, int) for d in shape):
            return tuple(shape)
        return [_freeze_shape(s) for s in shape]
    return shape


def _is_default_method(obj, name, base):
    return getattr(type(obj), name) is getattr(base, name)


def _resolve_dtype_policy(dtype):
    """(policy name, compute dtype, variable dtype) from None (the global policy), a string,
    a DType, a DTypePolicy or its config dict."""
    if dtype is None:
        dtype = dtype_policies.global_policy_name()
    if dtype_policies.is_quantized_name(dtype):  # "int8_from_float32" or its config dict
        dtype = dtype_policies.get(dtype)
    if isinstance(dtype, dtype_policies.DTypePolicy):
        return dtype.name, dtype.compute_dtype, dtype.variable_dtype
    elif isinstance(dtype, dict):
        inner = dtype.get("config", dtype)
        name = inner.get("name", None) if isinstance(inner, dict) else None
        if name is None:
            name = dtype_policies.global_policy_name()
    elif isinstance(dtype, str):
        name = dtype
    else:  # a DType, a NumPy dtype or scalar type (np.float32)
        name = backend.standardize_dtype(dtype)
    if not name.startswith("mixed_"):
        name = backend.standardize_dtype(name)
    compute, variable = dtype_policies.parse_policy_name(name)
    return name, compute, variable


class Layer(Operation):
    """The base class of Keras layers.

    `__init__` stores config; `build(input_shape)` creates weights with `add_weight`;
    `call(inputs, training=None)` computes. Calling a layer builds it on first use.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> class Scale(keras.layers.Layer):
    ...     def build(self, input_shape):
    ...         self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")
    ...     def call(self, x):
    ...         return x * self.w
    >>> layer = Scale(name="scale")
    >>> layer(tf.constant([[1.0, 2.0]])).numpy().tolist(), layer.built
    ([[1.0, 2.0]], True)
    """

    # Keras takes only tensors (or None) as positional arguments; preprocessing layers, which
    # take Python lists of strings or numbers, allow others.
    _allow_non_tensor_positional_args = False
    # Whether building locks the layer's state (Keras 3): new variables or sub-layers then
    # raise instead of being silently added on every call. Functional and Sequential models
    # stay open, as in Keras.
    _locks_state = True
    # The DTypePolicyMap given as `dtype`, whose entry for the layer's path is its policy.
    _dtype_policy_map = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "build" in cls.__dict__:
            cls.build = _wrap_build(cls.__dict__["build"])
        if cls.__module__.startswith("tensorflux.keras.layers") and \
                not cls.__name__.startswith("_"):
            # tensorflux's own layers are the allowlist that configs resolve against.
            from tensorflux.keras.saving.serialization import export_public

            export_public(f"keras.layers.{cls.__name__}", cls)

    def __init__(self, *, activity_regularizer=None, trainable=True, dtype=None,
                 autocast=True, name=None, **kwargs):
        self._init_tracking()
        input_dim = kwargs.pop("input_dim", None)
        input_shape = kwargs.pop("input_shape", None)
        batch_input_shape = kwargs.pop("batch_input_shape", None)
        batch_size = kwargs.pop("batch_size", None)
        if kwargs:
            raise ValueError(f"Unrecognized keyword arguments passed to "
                             f"{self.__class__.__name__}: {kwargs}")
        if input_dim is not None:
            input_shape = (input_dim,)
        if batch_input_shape is not None:
            self._batch_input_shape_arg = tuple(batch_input_shape)
        elif input_shape is not None:
            if isinstance(input_shape, int):
                input_shape = (input_shape,)
            self._batch_input_shape_arg = (batch_size,) + tuple(input_shape)
        else:
            self._batch_input_shape_arg = None
        self.name = name or backend.auto_name(self.__class__.__name__)
        if not isinstance(self.name, str) or "/" in self.name:
            raise ValueError("Argument `name` must be a string and cannot contain character "
                             f"`/`. Received: name={self.name} (of type {type(self.name)})")
        # Name scopes (Keras 3): the path this layer's scope opens under, recorded the first
        # time it builds or is called, and its own path once built.
        object.__setattr__(self, "_parent_path", None)
        object.__setattr__(self, "_path", None)
        self._set_dtype_policy(dtype)
        self._trainable = bool(trainable)
        self.autocast = autocast
        self.activity_regularizer = _get_regularizer(activity_regularizer)
        self._supports_masking = not _is_default_method(self, "compute_mask", Layer)
        self.built = False
        self._build_shapes_dict = None
        self.input_spec = None
        self._inbound_nodes = []
        self._outbound_nodes = []
        self._losses = []
        self._set_call_signature()

    def _init_tracking(self):
        if "_layers" in self.__dict__:
            return
        object.__setattr__(self, "_layers", [])
        object.__setattr__(self, "_trainable_variables", [])
        object.__setattr__(self, "_non_trainable_variables", [])
        object.__setattr__(self, "_trainable", True)

    def _set_call_signature(self):
        try:
            parameters = inspect.signature(self.call).parameters
        except (TypeError, ValueError):
            parameters = {}
        names = list(parameters)
        has_var_kwargs = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
        object.__setattr__(self, "_call_arg_names", names)
        object.__setattr__(self, "_call_has_training_arg",
                           "training" in parameters or has_var_kwargs)
        object.__setattr__(self, "_call_has_mask_arg", "mask" in parameters)
        default = parameters["training"].default if "training" in parameters else None
        object.__setattr__(self, "_call_training_default",
                           None if default is inspect.Parameter.empty else default)

    # ------------------------------------------------------------------ attribute tracking
    def __setattr__(self, name, value):
        if name not in _UNTRACKED and not name.startswith("__"):
            if "_layers" not in self.__dict__:
                self._init_tracking()
            value = self._track(value)
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        value = self.__dict__.get(name)
        if isinstance(value, Layer) and any(x is value for x in self._layers):
            self._layers[:] = [x for x in self._layers if x is not value]
        elif isinstance(value, Variable):
            for store in (self._trainable_variables, self._non_trainable_variables):
                store[:] = [v for v in store if v is not value]
        object.__delattr__(self, name)

    def _track(self, value):
        if isinstance(value, Layer):
            if value is not self and not any(x is value for x in self._layers):
                if self.__dict__.get("_state_locked"):
                    raise _locked_state_error(self, f"a sub-layer {_describe(value)}")
                self._layers.append(value)
        elif isinstance(value, Variable):
            self._track_variable(value)
        elif isinstance(value, list) and not isinstance(value, _TrackedList):
            for item in value:
                self._track(item)
            if type(value) is list:
                value = _TrackedList(value, self)
        elif isinstance(value, _TrackedList):
            for item in value:
                self._track(item)
        elif isinstance(value, tuple):
            for item in value:
                self._track(item)
        elif isinstance(value, dict):
            for item in value.values():
                self._track(item)
        return value

    def _track_variable(self, variable):
        for store in (self._trainable_variables, self._non_trainable_variables):
            if any(v is variable for v in store):
                return
        if self.__dict__.get("_state_locked"):
            raise _locked_state_error(self, f"a variable '{variable.name}'")
        if variable.trainable:
            self._trainable_variables.append(variable)
        else:
            self._non_trainable_variables.append(variable)
        if not self._trainable:
            variable.trainable = False

    def _lock_state(self):
        """Called once built: from now on new variables or sub-layers raise (Keras's state
        lock), so that state created in `call()` is an error, not a new weight per call.
        Layers and variables put into a dict attribute after it was assigned (`self.heads =
        {}`, then `self.heads[name] = Dense(...)`) are tracked first, as Keras's tracked
        dicts track them."""
        if not self._locks_state:
            return
        for name, value in list(self.__dict__.items()):
            if isinstance(value, dict) and name not in _UNTRACKED:
                self._track(value)
        object.__setattr__(self, "_state_locked", True)

    # ------------------------------------------------------------------ name scopes
    def _open_name_scope(self):
        """This layer's name scope; the first one records the path it opens under, and every
        later one starts from there (Keras 3's variable path rule)."""
        if getattr(self, "_parent_path", None) is None:
            object.__setattr__(self, "_parent_path", current_path())
        return name_scope(self.name, caller=self)

    @property
    def path(self):
        """The layer's path ("model/block/dense"): its name below the scopes it was first
        built in; None until built."""
        return getattr(self, "_path", None)

    def _record_path(self):
        """Records the path of the scope being opened as the layer's own, as it builds; a
        layer given a DTypePolicyMap takes that path's policy from it there."""
        object.__setattr__(self, "_path", current_path())
        if self._dtype_policy_map is not None:
            self._set_dtype_policy(self._dtype_policy_map)

    # ------------------------------------------------------------------ dtypes
    @property
    def dtype(self):
        """The variable dtype (Keras 3: `layer.dtype` is `layer.variable_dtype`)."""
        return self._variable_dtype

    @property
    def compute_dtype(self):
        return self._compute_dtype

    @property
    def variable_dtype(self):
        return self._variable_dtype

    @property
    def input_dtype(self):
        return self._compute_dtype

    @property
    def dtype_policy(self):
        if self._dtype_policy_map is not None:
            return self._dtype_policy_map
        return dtype_policies.get(self._dtype_policy_name)

    @dtype_policy.setter
    def dtype_policy(self, value):
        policies = self._dtype_policy_map
        if policies is not None and self.path:
            # (Keras: a layer with a map and a path changes its own entry in the map)
            value = dtype_policies.get(value)
            if not isinstance(value, dtype_policies.DTypePolicyMap):
                if self.path in policies:
                    del policies[self.path]
                policies[self.path] = value
                value = policies
        self._set_dtype_policy(value)
        mode = self.quantization_mode
        if mode is not None and self.built and not getattr(self, "_is_quantized", False):
            self.quantize(mode)  # (Keras: a quantized policy quantizes a built layer)

    @property
    def quantization_mode(self):
        """The layer's quantization mode ("int8", "int4"), None when it is not quantized."""
        return dtype_policies.get(self._dtype_policy_name).quantization_mode

    def quantize(self, mode=None, type_check=True, config=None):
        """Quantizes the layer's weights (`mode` "int8" or "int4"): Dense, EinsumDense and
        Embedding implement it; other layers raise NotImplementedError once the arguments
        check."""
        from tensorflux.keras.quantizers import check_layer_quantize

        check_layer_quantize(self, mode, config)
        raise NotImplementedError(f"Layer {type(self).__name__} does not have a `quantize` "
                                  "method implemented.")

    def _set_dtype_policy(self, dtype):
        if isinstance(dtype, dict) and dtype.get("class_name") == "DTypePolicyMap":
            dtype = dtype_policies.deserialize(dtype)
        policies = dtype if isinstance(dtype, dtype_policies.DTypePolicyMap) else None
        if policies is not None or self._dtype_policy_map is not None:
            object.__setattr__(self, "_dtype_policy_map", policies)
        if policies is not None:
            dtype = policies[self.path] if self.path else policies.default_policy
        name, compute, variable = _resolve_dtype_policy(dtype)
        object.__setattr__(self, "_dtype_policy_name", name)
        object.__setattr__(self, "_compute_dtype", compute)
        object.__setattr__(self, "_variable_dtype", variable)
        # The dtype this layer's call reads its float variables in, where it differs from
        # theirs ("mixed_float16": float16); None for a plain policy, so that the common call
        # path tests one attribute.
        object.__setattr__(self, "_autocast_dtype", compute if compute != variable else None)

    # ------------------------------------------------------------------ weights
    def add_weight(self, *args, shape=None, initializer=None, dtype=None, trainable=True,
                   autocast=True, regularizer=None, constraint=None, aggregation="none",
                   overwrite_with_gradient=False, name=None, **kwargs):
        """Creates a weight Variable of this layer, tracked in creation order.

        Keras 2's positional order `(name, shape, dtype, initializer, regularizer, trainable,
        constraint)` is accepted when the first positional argument is a string.
        """
        if self.__dict__.get("_state_locked"):
            raise _locked_state_error(self, f"a variable '{name or 'variable'}'")
        if args:
            if isinstance(args[0], str):
                legacy = ("name", "shape", "dtype", "initializer", "regularizer", "trainable",
                          "constraint")
            else:
                legacy = ("shape", "initializer", "dtype", "trainable", "autocast",
                          "regularizer", "constraint", "aggregation")
            if len(args) > len(legacy):
                raise TypeError(f"add_weight() takes at most {len(legacy)} positional "
                                f"arguments ({len(args)} given)")
            given = dict(zip(legacy, args))
            name = given.get("name", name)
            shape = given.get("shape", shape)
            dtype = given.get("dtype", dtype)
            initializer = given.get("initializer", initializer)
            regularizer = given.get("regularizer", regularizer)
            trainable = given.get("trainable", trainable)
            constraint = given.get("constraint", constraint)
            autocast = given.get("autocast", autocast)
        kwargs.pop("use_resource", None)
        kwargs.pop("synchronization", None)
        autocast = kwargs.pop("experimental_autocast", autocast)
        if kwargs:
            raise TypeError(f"add_weight() got unexpected keyword arguments {sorted(kwargs)}")
        shape = () if shape is None else tuple(_freeze_shape(shape))
        name = name or backend.auto_name("variable")
        for dim in shape:
            if dim is None:
                raise ValueError(f"{_describe(self)}: cannot create the weight '{name}' with "
                                 f"an unknown dimension in its shape {_format_shape(shape)}; "
                                 "build the layer with a fully defined input shape.")
        dtype = backend.standardize_dtype(dtype or self._variable_dtype)
        if _load_budget.budget is not None:  # a model file is loading: its config sets shapes
            _load_budget.budget.charge(self, name, shape, dtype)
        if initializer is None:
            initializer = "glorot_uniform" if "float" in dtype else "zeros"
        init_fn = _get_initializer(initializer)

        def initial_value():
            return _initial_value(init_fn, shape, dtype)

        # As in Keras, this layer's scope without recording it: a weight made in __init__ is
        # placed under whatever scope is open then.
        with name_scope(self.name, caller=self):
            path = f"{current_path()}/{name}"
        variable = KerasVariable(initial_value, trainable=trainable, name=name,
                                 constraint=_get_constraint(constraint), path=path,
                                 regularizer=_get_regularizer(regularizer))
        variable.overwrite_with_gradient = overwrite_with_gradient
        variable._autocast = bool(autocast)
        self._track_variable(variable)
        return variable

    def add_variable(self, shape, initializer, dtype=None, trainable=True, autocast=True,
                     regularizer=None, constraint=None, name=None):
        return self.add_weight(shape=shape, initializer=initializer, dtype=dtype,
                               trainable=trainable, autocast=autocast, regularizer=regularizer,
                               constraint=constraint, name=name)

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        value = bool(value)
        self._trainable = value
        for variable in self._trainable_variables:
            variable.trainable = value
        for layer in self._layers:
            layer.trainable = value

    @property
    def weights(self):
        """Own weights (trainable then non-trainable), then each sublayer's, deduplicated."""
        found = []
        seen = set()
        for variable in self._trainable_variables + self._non_trainable_variables:
            if id(variable) not in seen:
                seen.add(id(variable))
                found.append(variable)
        for layer in self._layers:
            for variable in layer.weights:
                if id(variable) not in seen:
                    seen.add(id(variable))
                    found.append(variable)
        return found

    @property
    def variables(self):
        return self.weights

    @property
    def trainable_weights(self):
        if not self._trainable:
            return []
        return [v for v in self.weights if v.trainable]

    @property
    def non_trainable_weights(self):
        if not self._trainable:
            return self.weights
        return [v for v in self.weights if not v.trainable]

    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights

    def get_weights(self):
        """The values of `layer.weights` as NumPy arrays."""
        return [v.numpy() for v in self.weights]

    def set_weights(self, weights):
        """Assigns `weights` (arrays, in `layer.weights` order) after checking every shape."""
        layer_weights = self.weights
        weights = list(weights)
        if len(layer_weights) != len(weights):
            raise ValueError(f"You called `set_weights(weights)` on layer '{self.name}' with a "
                             f"weight list of length {len(weights)}, but the layer was "
                             f"expecting {len(layer_weights)} weights.")
        for variable, value in zip(layer_weights, weights):
            value_shape = tuple(getattr(value, "shape", None) or _nested_shape(value))
            if tuple(variable.shape) != value_shape:
                raise ValueError(f"Layer {self.name} weight shape {tuple(variable.shape)} is "
                                 f"not compatible with provided weight shape {value_shape} "
                                 f"(weight '{getattr(variable, 'path', variable.name)}').")
        import tensorflux as tf

        for variable, value in zip(layer_weights, weights):
            variable.assign(tf.cast(tf.convert_to_tensor(value), variable.dtype)
                            if not isinstance(value, (int, float)) else value)

    def save_own_variables(self, store):
        """Puts this layer's own variables (not its sub-layers') into the dict `store` as
        "0", "1"... in creation order: its `vars` group in a Keras weights file. Override it,
        with load_own_variables, to save other numeric state."""
        for index, variable in enumerate(self._trainable_variables +
                                         self._non_trainable_variables):
            store[str(index)] = variable.numpy()

    def load_own_variables(self, store):
        """Assigns this layer's own variables from `store` (what save_own_variables wrote)."""
        variables = self._trainable_variables + self._non_trainable_variables
        if len(store) != len(variables):
            raise ValueError(f"Layer '{self.name}' expected {len(variables)} variables, but "
                             f"received {len(store)} variables during loading. Expected: "
                             f"{[variable.name for variable in variables]}")
        for index, variable in enumerate(variables):
            variable.assign(store[str(index)])

    def stateless_call(self, trainable_variables, non_trainable_variables, *args,
                       return_losses=False, **kwargs):
        """Calls the layer with the given values in place of its variables' and returns
        (outputs, the non-trainable values after the call[, losses]); the layer's own
        variables keep their values. It runs in a keras.StatelessScope, so gradients reach
        the given tensors, eagerly and inside a tf.function (JAX-style training steps)."""
        from tensorflux.keras.engine.stateless_scope import StatelessScope

        if not self.built:
            raise ValueError(f"To call stateless_call, {_describe(self)} must be built (i.e. its "
                             "variables must have been already created). You can build it "
                             "by calling it on some data.")
        groups = ((trainable_variables, self.trainable_variables, "trainable"),
                  (non_trainable_variables, self.non_trainable_variables, "non_trainable"))
        for given, own, what in groups:
            if len(given) != len(own):
                raise ValueError(f"Argument `{what}_variables` must be a list of tensors "
                                 f"corresponding 1:1 to {type(self).__name__}()."
                                 f"{what}_variables. Received list with length {len(given)}, "
                                 f"but expected {len(own)} variables.")
        mapping = list(zip(self.trainable_variables, trainable_variables)) + \
            list(zip(self.non_trainable_variables, non_trainable_variables))
        with StatelessScope(state_mapping=mapping, collect_losses=return_losses) as scope:
            outputs = self(*args, **kwargs)
            # (add_loss values went to the scope; the regularizers read the given values)
            losses = list(scope.losses) + list(self.losses) if return_losses else None
        new_values = [scope.get_current_value(v) for v in self.non_trainable_variables]
        if return_losses:
            return outputs, new_values, losses
        return outputs, new_values

    def count_params(self):
        if not self.built:
            raise ValueError(f"You tried to call `count_params` on layer '{self.name}', but the "
                             "layer isn't built. You can build it manually via: "
                             "`layer.build(input_shape)`.")
        return _count(self.weights)

    def add_metric(self, *args, **kwargs):
        """Gone in Keras 3 (Keras 2's symbolic metrics): raises its migration message."""
        raise NotImplementedError(
            "Layer `add_metric()` method is deprecated. Add your metric in "
            "`Model.compile(metrics=[...])`, or create metric trackers in init() or build() "
            "when subclassing the layer or model, then call `metric.update_state()` whenever "
            "necessary.")

    # ------------------------------------------------------------------ losses
    def add_loss(self, loss):
        """Adds a scalar loss (summed into the training loss); kept until the next call."""
        if trace_state.depth:
            return  # a throwaway shape trace: its symbolic values are never evaluated
        if any(isinstance(x, KerasTensor) for x in tree.flatten(loss)):
            # (the Keras-2 pattern `model.add_loss(ops.mean(outputs))`: fit would never see it)
            raise ValueError(
                f"{_describe(self)}: `add_loss()` takes a tensor computed in `call()` (or "
                f"`build()`), received a symbolic KerasTensor: {loss}. Keras 3 does not "
                "support `model.add_loss(symbolic_tensor)`: add the loss in a layer's call(), "
                "or compute it in a custom train_step or compute_loss().")
        if _stateless.scope is not None:  # (Keras: a StatelessScope collects them, or not)
            if _stateless.scope.collect_losses:
                _stateless.scope.add_loss(loss)
            return
        _LOSSES_ADDED[0] = True
        self._losses.append(loss)

    def _clear_losses(self):
        if not _LOSSES_ADDED[0]:  # (no layer has ever held a loss: nothing to walk)
            return
        if not self._layers:
            self._losses.clear()
            return
        for layer in self._flatten_layers():
            layer._losses.clear()

    @property
    def losses(self):
        """add_loss values of this layer and its sublayers, then weight-regularization
        penalties recomputed from the current variable values."""
        found = list(self._losses)
        for layer in self._flatten_layers(include_self=False):
            found.extend(layer._losses)
        for variable in self.trainable_weights:
            regularizer = getattr(variable, "regularizer", None)
            if regularizer is not None:
                found.append(regularizer(variable))
        return found

    @property
    def metrics(self):
        """The metrics this layer and its sublayers hold in their attributes (a layer that
        tracks, say, its accuracy as keras.io's LogisticEndpoint does)."""
        from tensorflux.keras.metrics import Metric

        found = []
        for layer in self._flatten_layers():
            found.extend(m for m in held_metrics(layer, Metric)
                         if not any(m is seen for seen in found))
        return found

    @property
    def metrics_variables(self):
        return [v for metric in self.metrics for v in metric.variables]

    def _flatten_layers(self, include_self=True, recursive=True):
        layers = [self] if include_self else []
        seen = set()
        queue = list(self._layers)
        while queue:
            layer = queue.pop(0)
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            layers.append(layer)
            if recursive:
                queue[:0] = layer._layers
        return layers

    # ------------------------------------------------------------------ build and call
    def build(self, input_shape=None):
        """Default build: records the input shape; a layer with sublayers and no build of
        its own is traced once on a symbolic input of that shape so that they build."""
        shape = _freeze_shape(input_shape)
        self._build_shapes_dict = {"input_shape": shape}
        with self._open_name_scope():
            self._record_path()
            if shape is not None and any(not layer.built for layer in self._layers):
                try:
                    inputs = _map_shapes(lambda s: KerasTensor(s, self._compute_dtype), shape)
                    trace_output_spec(self.call, (inputs,), {})
                except Exception:  # noqa: BLE001 - Keras: the first real call builds instead
                    pass
        self.built = True
        if not self.__dict__.get("_in_build"):  # (else the subclass's build locks, once done)
            self._lock_state()

    def call(self, *args, **kwargs):
        raise NotImplementedError(f"Layer {self.__class__.__name__} does not have a `call()` "
                                  "method implemented.")

    def __call__(self, *args, **kwargs):
        if "_inbound_nodes" not in self.__dict__:
            raise RuntimeError(f"In layer '{self.__class__.__name__}', you forgot to call "
                               "`super().__init__()` as the first statement in the "
                               "`__init__()` method. Go add it!")
        if args and not self._allow_non_tensor_positional_args and (
                len(args) != 1 or not (isinstance(args[0], _TENSOR_TYPES)
                                       or type(args[0]).__name__ == "ndarray")):
            _check_positional(self, args)
        given = args, kwargs
        # (eager tensors and Python flags only, the usual eager call: no tree walks; a
        # conversion keeps such a call plain)
        plain = plain_call(args, kwargs)
        args, kwargs = self._convert_inputs(args, kwargs, plain)
        first = args[0] if args else next(iter(kwargs.values()), None)
        symbolic = not plain and any_symbolic_tensors(args, kwargs)
        if first is None and not args and not kwargs:
            _check_called_without_inputs(self)
        check_input_spec(self, self.input_spec, first)
        if not self.built:
            with self._open_name_scope():
                self._maybe_build(args, kwargs, first)
                if getattr(self, "_path", None) is None:
                    object.__setattr__(self, "_path", current_path())
            check_input_spec(self, self.input_spec, first)
        if symbolic:
            traced = kwargs  # (Keras hands call() the inputs' mask while building, too)
            previous = _mask_of(first)
            if previous is not None and self._takes_inputs_mask(args, kwargs):
                traced = dict(kwargs, mask=previous)
            with self._open_name_scope():
                try:
                    outputs = trace_output_spec(self.__call__, args, traced)
                except Exception as error:
                    raise _symbolic_call_error(self, error) from error
            if outputs is None:  # (the next layer would fail on None, far from the cause)
                raise ValueError(
                    f"{_describe(self)} returned None when called on "
                    f"{_format_shape(shape_of(first))} inputs: `{type(self).__name__}.call()` "
                    "must return its output tensor(s) (is a `return` missing?).")
            Node(self, *_uncast_keras_tensors(given, (args, kwargs)), outputs)
            self._set_symbolic_masks(first, outputs, kwargs)
            return outputs
        previous = _mask_of(first) if _MASKS_ATTACHED[0] else None
        if previous is not None and self._takes_inputs_mask(args, kwargs):
            kwargs["mask"] = previous
        outputs = self._eager_call(args, kwargs)
        # (compute_mask passes no mask on unless there is one, or the layer makes its own)
        if self.supports_masking and (previous is not None or kwargs.get("mask") is not None
                                      or _computes_masks(type(self))):
            self._set_eager_masks(first, outputs, kwargs.get("mask", previous))
        return outputs

    def _eager_call(self, args, kwargs):
        context = _call_context
        is_entry = context.entry is None
        saved_training = context.training
        if is_entry:
            context.entry = self
            self._clear_losses()
        traced = _tf_context.graph is not None
        if traced:  # (the graph's nodes are named after the layer, see context.layer_scope)
            saved_scope = _tf_context.layer_scope
            _tf_context.layer_scope = f"{getattr(self, '_path', None) or self.name}/"
        try:
            training, positional = self._resolve_training(args, kwargs)
            context.training = training
            if not self._call_has_training_arg:
                kwargs.pop("training", None)  # (Keras drops it for a call without one)
            elif training is not None and not positional:
                kwargs["training"] = training
            if self._autocast_dtype is not None or context.autocast is not None:
                outputs = self._autocast_call(context, args, kwargs)
            elif self._layers or not self.built:
                with self._open_name_scope():
                    outputs = self.call(*args, **kwargs)
            else:  # (a built layer without sublayers: add_weight opens its own scope)
                outputs = self.call(*args, **kwargs)
        except Exception as error:
            _note_failed_call(self, error, args)
            raise
        finally:
            context.training = saved_training
            if is_entry:
                context.entry = None
            if traced:
                _tf_context.layer_scope = saved_scope
        if self.__dict__.get("built") is not True:  # (setting an attribute tracks it)
            self.built = True
        if self.activity_regularizer is not None:
            self._add_activity_loss(outputs)
        return outputs

    def _autocast_call(self, context, args, kwargs):
        """`call` inside Keras 3's autocast scope: a mixed policy opens one (a float16 call
        reads its float32 variables as float16); a layer inside one opens its own where its
        compute dtype differs, or one that casts nothing where it does not autocast."""
        current = context.autocast
        target = None
        if current is not None:
            if not self.autocast or not _is_float_name(self._compute_dtype):
                target = ""
            elif current != self._compute_dtype:
                target = self._compute_dtype
        else:
            target = self._autocast_dtype
        # With the scope unchanged, only this layer's own variables may still be uncast (it
        # was built inside the scope); a new scope recasts every sublayer's too, since a call
        # may read a sublayer's weights directly (an RNN its cell's).
        if target is None:
            changes = _autocast_attributes([self], current, context.autocast_originals, False)
        else:
            changes = _autocast_attributes(self._flatten_layers(), target,
                                           context.autocast_originals, True)
        if target is not None:
            context.autocast = target
        try:
            with self._open_name_scope():
                return self.call(*args, **kwargs)
        finally:
            context.autocast = current
            _restore_attributes(changes, context.autocast_originals)

    def _resolve_training(self, args, kwargs):
        """(training value, whether it was passed positionally): the explicit argument, else
        the enclosing layer call's, else the call signature's default."""
        if kwargs.get("training") is not None:
            return kwargs["training"], False
        names = self._call_arg_names
        if "training" in names:
            index = names.index("training")
            if index < len(args) and args[index] is not None:
                return args[index], True
        if _call_context.training is not None:
            return _call_context.training, False
        return self._call_training_default, False

    def _add_activity_loss(self, outputs):
        import tensorflux as tf

        for output in tree.flatten(outputs):
            if hasattr(output, "dtype") and hasattr(output, "shape"):
                loss = self.activity_regularizer(output)
                if len(output.shape) > 0:
                    batch = tf.cast(tf.shape(output)[0], loss.dtype)
                    loss = tf.math.divide_no_nan(loss, batch)
                self.add_loss(loss)

    def _convert_inputs(self, args, kwargs, plain=None):
        """(args, kwargs) with arrays made tensors and floats autocast; `plain`: whether
        plain_call(args, kwargs) holds, where the caller knows."""
        if self._dtype_policy_map is not None and self.path is None:
            # (the first call of a layer given a DTypePolicyMap: its path, known from here,
            # picks the compute dtype that its inputs take)
            with self._open_name_scope():
                self._record_path()
        if plain is None:
            plain = plain_call(args, kwargs)
        if not self.autocast and (plain or not _has_arrays(args, kwargs)):
            return args, dict(kwargs)
        dtype = self._compute_dtype
        autocast = self.autocast
        if plain or _leaves_only(args, kwargs):
            # (no containers: each tensor or array converts alone; flags stay as they are)
            convert = _leaf_converter(dtype, autocast)
            return tuple(map(convert, args)), {k: convert(v) for k, v in kwargs.items()}

        def convert(x):
            return _convert_input(x, dtype, autocast)

        return tree.map_structure(convert, tuple(args)), tree.map_structure(convert, dict(kwargs))

    def _maybe_build(self, args, kwargs, first):
        first_shape = tree.map_structure(shape_of, first) if first is not None else None
        if not _is_default_method(self, "build", Layer):
            build_params = [p for p in inspect.signature(self.build).parameters.values()
                            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
            names = [p.name for p in build_params]
            shaped = {f"{k}_shape": tree.map_structure(shape_of, v) for k, v in
                      self._tensor_arguments(args, kwargs).items()}
            if len(shaped) > 1 and all(n in shaped for n in names) and names:
                self.build(**{n: shaped[n] for n in names})
            else:
                self.build(first_shape)
        else:
            self._build_shapes_dict = {"input_shape": _freeze_shape(first_shape)}
            self.built = True
            self._lock_state()

    def _takes_inputs_mask(self, args, kwargs):
        """Whether call() gets its input's mask as `mask=`: it has a `mask` argument, the
        caller gave none, and one argument holds tensors (as Keras's __call__ decides)."""
        return (self._call_has_mask_arg and kwargs.get("mask") is None
                and len(self._tensor_arguments(args, kwargs)) == 1)

    def _tensor_arguments(self, args, kwargs):
        names = [n for n in self._call_arg_names if n not in ("self",)]
        found = {}
        for name, value in list(zip(names, args)) + list(kwargs.items()):
            leaves = tree.flatten(value)
            if leaves and all(_is_tensor_like(v) for v in leaves):
                found[name] = value
        return found

    def _set_symbolic_masks(self, first, outputs, kwargs):
        if not self.supports_masking:
            return
        previous = kwargs.get("mask")
        if previous is None:
            previous = _mask_of(first)
        try:
            masks = self.compute_mask(first, previous)
        except Exception:  # noqa: BLE001 - masks are advisory metadata
            return
        if masks is None:
            return
        for tensor, mask in zip(tree.flatten(outputs), tree.flatten(masks)):
            if isinstance(tensor, KerasTensor) and tensor._keras_mask is None:
                tensor._keras_mask = mask

    def _set_eager_masks(self, first, outputs, previous):
        """Keras masks ride on eager and traced tensors too, as `_keras_mask` (TensorFlow's
        attribute): an output not carrying one gets what compute_mask makes of the input's."""
        flat = tree.flatten(outputs)
        if all(getattr(x, "_keras_mask", None) is not None for x in flat):
            return
        masks = self.compute_mask(first, previous)
        if masks is None:
            return
        for tensor, mask in zip(flat, tree.flatten(masks)):
            if mask is not None and getattr(tensor, "_keras_mask", None) is None:
                _set_mask(tensor, mask)

    @property
    def supports_masking(self):
        return self._supports_masking

    @supports_masking.setter
    def supports_masking(self, value):
        self._supports_masking = value

    def compute_mask(self, inputs, previous_mask=None):
        return previous_mask

    def compute_output_spec(self, *args, **kwargs):
        """KerasTensors for the outputs of calling the layer on `args` (KerasTensors)."""
        return trace_output_spec(self.call, args, kwargs)

    def compute_output_shape(self, input_shape):
        """The output shape, found by tracing `call` on a symbolic input of `input_shape`."""
        shape = _freeze_shape(input_shape)
        if not self.built:
            self.build(shape)
        inputs = _map_shapes(lambda s: KerasTensor(s, self._compute_dtype), shape)
        outputs = trace_output_spec(self.__call__, (inputs,), {})
        return tree.map_structure(lambda t: t.shape if isinstance(t, KerasTensor) else t,
                                  outputs)

    # ------------------------------------------------------------------ graph connectivity
    def get_input_at(self, node_index):
        return self._node_attribute("input", node_index)

    def get_output_at(self, node_index):
        return self._node_attribute("output", node_index)

    @property
    def input_shape(self):
        value = self.input
        return [x.shape for x in value] if isinstance(value, list) else value.shape

    @property
    def output_shape(self):
        value = self.output
        return [x.shape for x in value] if isinstance(value, list) else value.shape

    # ------------------------------------------------------------------ config
    @generates_config
    def get_config(self):
        """The layer's config. A class that does not override it gets Keras's automatic
        config: the arguments its constructor was called with (defaults included), when all
        of them are plain values; NotImplementedError otherwise."""
        automatic = type(self).get_config is Layer.get_config
        config = {"name": self.name, **(_constructor_arguments(self) if automatic else {})}
        config["trainable"] = self.trainable
        config["dtype"] = (_dtype_policy_config(self._dtype_policy_name)
                           if self._dtype_policy_map is None
                           else dtype_policies.serialize(self._dtype_policy_map))
        if self.activity_regularizer is not None:
            from tensorflux.keras.saving.serialization import serialize_keras_object

            config["activity_regularizer"] = serialize_keras_object(self.activity_regularizer)
        return _keys_init_takes(type(self), config) if automatic else config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        dtype = config.get("dtype")
        if isinstance(dtype, dict) and dtype.get("class_name") != "DTypePolicyMap":
            config["dtype"] = _resolve_dtype_policy(dtype)[0]
        try:
            return cls(**config)
        except TypeError as error:
            raise TypeError(f"Error when deserializing class '{cls.__name__}' using config="
                            f"{config}.\n\nException encountered: {error}") from error

    def get_build_config(self):
        if self._build_shapes_dict is not None:
            if len(self._build_shapes_dict) == 1:
                return {"input_shape": next(iter(self._build_shapes_dict.values()))}
            return {"shapes_dict": dict(self._build_shapes_dict)}
        return None

    def build_from_config(self, config):
        if config:
            if "input_shape" in config:
                self.build(config["input_shape"])
            elif "shapes_dict" in config:
                self.build(**config["shapes_dict"])

    def __repr__(self):
        return (f"<{self.__class__.__name__} name={getattr(self, 'name', '?')}, "
                f"built={getattr(self, 'built', False)}>")

    __str__ = __repr__


def _dtype_policy_config(name):
    if dtype_policies.is_quantized_name(name):
        return dtype_policies.serialize(dtype_policies.get(name))
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name},
            "registered_name": None}


def _count(weights):
    total = 0
    for w in weights:
        size = 1
        for d in w.shape:
            size *= int(d)
        total += size
    return total


def _nested_shape(value):
    shape = []
    while isinstance(value, (list, tuple)):
        shape.append(len(value))
        value = value[0] if value else None
    return shape


def _map_shapes(fn, shape):
    """Applies `fn` to each shape (a tuple of ints/None) of a nested structure of shapes."""
    if shape is None or (isinstance(shape, (tuple, list)) and
                         all(d is None or isinstance(d, int) for d in shape)):
        return fn(None if shape is None else tuple(shape))
    if isinstance(shape, dict):
        return {k: _map_shapes(fn, v) for k, v in shape.items()}
    return type(shape)(_map_shapes(fn, s) for s in shape)


def _is_shape_structure(shape):
    """True for a nested structure of shapes ([(None, 4), (None, 3)]), not one shape."""
    if isinstance(shape, dict):
        return True
    return isinstance(shape, list) and bool(shape) and all(
        isinstance(s, (tuple, list)) or s is None for s in shape) and not all(
        s is None for s in shape)


def _is_tensor_like(x):
    return isinstance(x, (_TensorLike, KerasTensor, CompositeTensor)) or (
        type(x).__name__ == "ndarray" and hasattr(x, "dtype"))


def _has_arrays(args, kwargs):
    return any(type(x).__name__ == "ndarray" for x in tree.flatten((args, kwargs)))


_TENSOR_TYPES = (_TensorLike, KerasTensor)


def _check_positional(layer, args):
    """Raises a ValueError naming the layer where a positional argument holds something other
    than tensors, arrays and None (a nested Python list of numbers, say), as Keras refuses
    them; before any build, which would otherwise fail on its shape."""
    pending = list(args)
    while pending:
        x = pending.pop()
        if x is None or _is_tensor_like(x):
            continue
        if isinstance(x, (list, tuple)):
            pending.extend(x)
            continue
        if isinstance(x, dict):  # (an OrderedDict too: make_csv_dataset's batches)
            pending.extend(x.values())
            continue
        shown = repr(args[0] if len(args) == 1 else args)
        if len(shown) > 120:
            shown = shown[:117] + "..."
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) takes tensors as its positional "
            f"arguments, but received {shown}, which holds {x!r} of type "
            f"{type(x).__name__}. Pass a tensor or a NumPy array (np.array(...)), or pass a "
            "value that is not a tensor as a keyword argument.")


def floating_input(x, dtype):
    """An integer or bool input as `dtype`, where a layer's arithmetic is floating (Keras's
    ops promote int32 with float32 to float32: Dense(2) of int32 features gives float32, as it
    trains); any other input as it is. TensorFlow's ops, which tensorflux's layers call, never
    promote."""
    if x.__class__ is _Tensor and x._value.dtype.kind in "fc":  # (the common case)
        return x
    dtype_of = getattr(x, "dtype", None)
    if isinstance(dtype_of, str):  # (a KerasTensor's)
        integral = dtype_of.startswith(("int", "uint", "bool"))
    else:
        integral = getattr(dtype_of, "kind", None) in ("i", "u", "b")
    if integral:
        import tensorflux as tf

        return tf.cast(x, dtype)
    return x


def _mask_of(x):
    """The `_keras_mask` of a tensor, a list of the masks of a list of tensors where any has
    one, else None."""
    if type(x) in (list, tuple):
        masks = [getattr(t, "_keras_mask", None) for t in x]
        return None if all(m is None for m in masks) else masks
    return getattr(x, "_keras_mask", None)


_OWN_COMPUTE_MASK = {}


def _computes_masks(cls):
    """Whether a layer class overrides compute_mask (it may make a mask of its own)."""
    found = _OWN_COMPUTE_MASK.get(cls)
    if found is None:
        found = _OWN_COMPUTE_MASK[cls] = cls.compute_mask is not Layer.compute_mask
    return found


# Whether a layer ever added a loss in this process: until one does, an outermost layer call
# has no losses of earlier calls to clear.
_LOSSES_ADDED = [False]


# Whether a layer ever attached a mask to a tensor in this process: until one does, a layer
# call does not look for masks on its inputs (an unset slot costs an AttributeError).
_MASKS_ATTACHED = [False]


def _set_mask(tensor, mask):
    """Attaches a Keras mask to an eager or traced tensor (not to a Variable or an array)."""
    try:
        tensor._keras_mask = mask
    except AttributeError:
        return
    _MASKS_ATTACHED[0] = True


def _is_float_name(dtype):
    return dtype in ("float16", "bfloat16", "float32", "float64")


def _autocast_variable(value):
    """Whether a layer attribute is a variable the autocast scope casts: a float KerasVariable
    made with autocast=True, or a list or tuple holding one."""
    if isinstance(value, KerasVariable):
        return getattr(value, "_autocast", True) and value.dtype.is_floating
    if type(value) in (list, tuple, _TrackedList):
        return any(isinstance(v, KerasVariable) and getattr(v, "_autocast", True)
                   and v.dtype.is_floating for v in value)
    return False


def _read_as(value, dtype):
    """A variable (or a list of them) as the scope reads it: cast to `dtype` ("" or its
    own dtype: the variable itself). The cast is an op on the variable, so gradients reach
    it in its own dtype."""
    if type(value) in (list, tuple, _TrackedList):
        values = [_read_as(v, dtype) for v in value]
        return tuple(values) if type(value) is tuple else values
    if not isinstance(value, KerasVariable) or not dtype or value.dtype.name == dtype or \
            not value.dtype.is_floating or not getattr(value, "_autocast", True):
        return value
    import tensorflux as tf

    return tf.cast(value, dtype)


def _autocast_attributes(layers, dtype, originals, recast):
    """Points the autocast variable attributes of `layers` at their values read as `dtype`:
    those still holding a variable, and with `recast` those an outer scope already cast.
    Returns what to restore: (layer, attribute, previous value, previous original)."""
    changes = []
    for layer in layers:
        key_base = id(layer)
        for name, value in list(layer.__dict__.items()):
            key = (key_base, name)
            original = originals.get(key)
            if original is None:
                if name in _UNTRACKED or not _autocast_variable(value):
                    continue
                original = value
            elif not recast:
                continue
            read = _read_as(original, dtype)
            if read is value:
                continue
            changes.append((layer, name, value, originals.get(key)))
            object.__setattr__(layer, name, read)
            if read is original:
                originals.pop(key, None)
            else:
                originals[key] = original
    return changes


def _restore_attributes(changes, originals):
    for layer, name, value, original in reversed(changes):
        object.__setattr__(layer, name, value)
        key = (id(layer), name)
        if original is None:
            originals.pop(key, None)
        else:
            originals[key] = original


def _uncast_keras_tensors(given, converted):
    """The (args, kwargs) a Node records: the caller's own KerasTensors, as Keras records
    them, so that an autocast's cast stays inside the layer instead of becoming a graph node
    (and a "Cast" layer in the model's config); other arguments as converted."""
    def pick(mine, theirs):
        return mine if isinstance(mine, KerasTensor) else theirs

    return tree.map_structure(pick, (tuple(given[0]), dict(given[1])), converted)


def _leaves_only(args, kwargs):
    """Whether every argument is an eager tensor, an array, or a Python scalar or None: no
    containers to walk."""
    return all(x.__class__ in _PLAIN_LEAVES or type(x).__name__ == "ndarray"
               for x in (*args, *kwargs.values()))


def _leaf_converter(dtype, autocast):
    """_convert_input(x, dtype, autocast) for one argument that is not a container: eager
    tensors of the right dtype (most calls) without its type tests."""
    def convert(x):
        if x.__class__ is _Tensor:
            found = x.dtype
            if not autocast or found.name == dtype or not found.is_floating:
                return x
        elif x.__class__ in _PLAIN_LEAVES:
            return x
        return _convert_input(x, dtype, autocast)
    return convert


def _convert_input(x, dtype, autocast):
    """Keras's DTypePolicy.convert_input: arrays become tensors; floats cast to `dtype`."""
    from tensorflux.tensor import Tensor, _TensorLike

    if isinstance(x, KerasTensor):
        if autocast and x.dtype.startswith("float") and x.dtype != dtype:
            from tensorflux.keras.engine import op_layers

            # (a cast node that does not convert its own input: Keras's ops never autocast)
            return op_layers.make_op_layer("cast", dtype=dtype, autocast=False)(x)
        return x
    if isinstance(x, _TensorLike):
        if autocast and x.dtype.is_floating and x.dtype.name != dtype:
            import tensorflux as tf

            cast = tf.cast(x, dtype)
            mask = getattr(x, "_keras_mask", None)
            if mask is not None:  # (the same values, in another dtype)
                _set_mask(cast, mask)
            return cast
        return x
    if type(x).__name__ == "ndarray" and hasattr(x, "dtype"):
        import tensorflux as tf

        tensor = tf.convert_to_tensor(x)
        if autocast and tensor.dtype.is_floating and tensor.dtype.name != dtype:
            tensor = tf.cast(tensor, dtype)
        return tensor
    del Tensor
    return x


# ---------------------------------------------------------------------- object lookups
def _get_initializer(identifier):
    try:
        from tensorflux.keras import initializers
    except ImportError:
        initializers = None
    if initializers is not None and hasattr(initializers, "get"):
        return initializers.get(identifier)
    return _fallback_initializer(identifier)


def _fallback_initializer(identifier):
    """Used only until keras.initializers exists: zeros, ones, glorot_uniform, callables."""
    import tensorflux as tf

    if callable(identifier):
        return identifier
    name = identifier if isinstance(identifier, str) else identifier.get("class_name", "")
    name = backend.to_snake_case(name)

    def zeros(shape, dtype=None):
        return tf.zeros(shape, dtype=dtype)

    def ones(shape, dtype=None):
        return tf.ones(shape, dtype=dtype)

    def glorot_uniform(shape, dtype=None):
        fan_in, fan_out = _fans(shape)
        limit = (6.0 / max(1.0, fan_in + fan_out)) ** 0.5
        return tf.random.uniform(shape, -limit, limit, dtype=dtype)

    table = {"zeros": zeros, "ones": ones, "glorot_uniform": glorot_uniform}
    if name not in table:
        raise ValueError(f"Could not interpret initializer identifier: {identifier!r}")
    return table[name]


def _fans(shape):
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = 1
    for d in shape[:-2]:
        receptive *= d
    return shape[-2] * receptive, shape[-1] * receptive


def _initial_value(init_fn, shape, dtype):
    import tensorflux as tf

    value = init_fn(shape, dtype=dtype)
    value = tf.convert_to_tensor(value) if not isinstance(value, tf.Tensor) else value
    if value.dtype.name != dtype:
        value = tf.cast(value, dtype)
    return value


def _get_regularizer(identifier):
    if identifier is None:
        return None
    try:
        from tensorflux.keras import regularizers
    except ImportError:
        regularizers = None
    if regularizers is not None and hasattr(regularizers, "get"):
        return regularizers.get(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret regularizer identifier: {identifier!r}")


def _get_constraint(identifier):
    if identifier is None:
        return None
    try:
        from tensorflux.keras import constraints
    except ImportError:
        constraints = None
    if constraints is not None and hasattr(constraints, "get"):
        return constraints.get(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret constraint identifier: {identifier!r}")


def held_metrics(owner, metric_class):
    """The metrics `owner` holds in its attributes, directly or in a public list, tuple or
    dict attribute (the private ones are the framework's: layers, variables, nodes)."""
    own = getattr(owner, "_metrics", None)
    if own is not None:
        return list(own)
    found = []
    for name, value in vars(owner).items():
        if isinstance(value, metric_class):
            found.append(value)
        elif name[0] != "_" and isinstance(value, (list, tuple, dict)):
            items = value.values() if isinstance(value, dict) else value
            found.extend(v for v in items if isinstance(v, metric_class))
    return found
