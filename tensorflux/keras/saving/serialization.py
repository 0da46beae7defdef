"""Keras 3's object config format and the allowlist it resolves classes from.

`serialize_keras_object` writes {"module", "class_name", "config", "registered_name",
"build_config"?, "compile_config"?}; `deserialize_keras_object` reads it back. Classes come
ONLY from tensorflux's public table (filled by `keras_export`/`export_public`) and from objects
the user registered or passed as custom_objects: no module named by a config is ever imported,
and Python code in a config (lambdas) is never run.
"""

import inspect
import threading

__all__ = ["CustomObjectScope", "SafeModeScope", "custom_object_scope",
           "deserialize_keras_object", "export_public", "get_custom_objects",
           "get_registered_name", "get_registered_object", "in_safe_mode", "keras_export",
           "legacy_layer_config", "register_keras_serializable", "serialize_keras_object"]

# "Custom>Scale" -> class or function registered by the user.
_GLOBAL_CUSTOM_OBJECTS = {}
# id(object) -> registered name.
_GLOBAL_CUSTOM_NAMES = {}
# "keras.layers.Dense" -> the tensorflux class or function for that public Keras name.
_PUBLIC = {}
# id(object) -> "keras.layers.Dense".
_PUBLIC_NAMES = {}
# "Dense" -> ["keras.layers.Dense"]: lets legacy configs (no module) resolve by class name.
_PUBLIC_BY_SHORT_NAME = {}

_PLAIN = (str, int, float, bool)


class UnknownObjectError(TypeError, ValueError):
    """A config names a class no allowlist, registration or custom_objects provides. Keras
    raises TypeError for `.keras` files and ValueError ("Unknown layer") for legacy `.h5`
    files and JSON; this is both, so either `except` catches it."""


class _Scopes(threading.local):
    def __init__(self):
        self.stack = []
        self.safe_mode = None


_scopes = _Scopes()


# ---------------------------------------------------------------------- the allowlist
def export_public(api_name, obj):
    """Adds `obj` to the allowlist under its public Keras name ("keras.layers.Dense")."""
    _PUBLIC[api_name] = obj
    _PUBLIC_NAMES.setdefault(id(obj), api_name)
    short = api_name.rsplit(".", 1)[-1]
    names = _PUBLIC_BY_SHORT_NAME.setdefault(short, [])
    if api_name not in names:
        names.append(api_name)
    return obj


def keras_export(*api_names):
    """Decorator: `@keras_export("keras.layers.Dense")` registers the class as public."""

    def decorate(obj):
        for name in api_names:
            export_public(name, obj)
        return obj

    return decorate


def _ensure_public_tables():
    """Registers the engine's own public classes (idempotent; lazy to avoid import cycles)."""
    if "keras.Sequential" in _PUBLIC:
        return
    # keras.applications loads on first use; its modules register classes that files name
    # (ConvNeXt's LayerScale), so they are loaded before any config is resolved.
    # (and the augmentation layers that keras.layers loads on first use)
    import importlib

    import tensorflux.keras.applications  # noqa: F401

    # (and keras.distillation's Distiller and losses, which load on first use as well)
    import tensorflux.keras.distillation  # noqa: F401
    from tensorflux.keras import optimizers

    # (optimizers written inside other configs, as a MultiOptimizer's, under Keras's name)
    for optimizer_class in optimizers.ALL_OBJECTS_DICT.values():
        export_public(f"keras.optimizers.{optimizer_class.__name__}", optimizer_class)

    # (and the legacy layers TF's files name as keras._legacy.layers: ThresholdedReLU, ...)
    import tensorflux.keras.legacy.layers  # noqa: F401
    from tensorflux.keras.layers.preprocessing import AUGMENTATION_MODULES

    for module in AUGMENTATION_MODULES:
        importlib.import_module(module)
    from tensorflux.keras.engine.input_layer import InputLayer
    from tensorflux.keras.engine.op_layers import OP_CLASSES
    from tensorflux.keras.layers.base import Layer
    from tensorflux.keras.models.functional import Functional
    from tensorflux.keras.models.model import Model
    from tensorflux.keras.models.sequential import Sequential

    export_public("keras.Sequential", Sequential)
    export_public("keras.models.Sequential", Sequential)
    export_public("keras.Model", Model)
    export_public("keras.models.Model", Model)
    export_public("keras.layers.InputLayer", InputLayer)
    export_public("keras.layers.Layer", Layer)
    export_public("keras.src.models.functional.Functional", Functional)
    export_public("keras.models.Functional", Functional)
    _PUBLIC_NAMES[id(Functional)] = "keras.src.models.functional.Functional"
    for class_name, cls in OP_CLASSES.items():
        export_public(f"{cls.keras_module}.{class_name}", cls)
    _export_keras_ops(OP_CLASSES)


def _export_keras_ops(operator_classes):
    """The keras.ops nodes, saved and loaded as Keras 3's op classes (`keras.src.ops.numpy.Sum`).
    A class name shared with an operator class (Add, ...) loads as the keras.ops function, as
    in Keras, where `x + y` is `ops.add`, except where the operator class is written for
    Keras's format and kept for what it adds (GetItem's tuple keys, Cast's ONNX dtype). They
    are not registered by short name: a legacy config's "Softmax" stays the layer."""
    from tensorflux.keras.ops._saving import op_classes

    for cls in op_classes().values():
        api_name = f"{cls.keras_module}.{cls.__name__}"
        _PUBLIC_NAMES.setdefault(id(cls), api_name)
        kept = operator_classes.get(cls.__name__)
        if kept is None or not getattr(kept, "loads_keras_format", False):
            _PUBLIC[api_name] = cls


# ---------------------------------------------------------------------- registration
def register_keras_serializable(package="Custom", name=None):
    """Registers a class or function as "package>name" for (de)serialization.

    >>> from tensorflux import keras
    >>> @keras.saving.register_keras_serializable(package="demo")
    ... def twice(x):
    ...     return 2 * x
    >>> keras.saving.get_registered_name(twice)
    'demo>twice'
    """

    def decorate(obj):
        registered = f"{package}>{name or obj.__name__}"
        if inspect.isclass(obj) and not hasattr(obj, "get_config"):
            raise ValueError("Cannot register a class that does not have a get_config() "
                             "method.")
        previous = _GLOBAL_CUSTOM_OBJECTS.get(registered)
        if previous is not None and previous is not obj:  # registered again (re-run code)
            _GLOBAL_CUSTOM_NAMES.pop(id(previous), None)
        _GLOBAL_CUSTOM_OBJECTS[registered] = obj
        _GLOBAL_CUSTOM_NAMES[id(obj)] = registered
        return obj

    return decorate


def get_registered_name(obj):
    """The name `obj` was registered under, else its `__name__`."""
    return _custom_name(obj) or getattr(obj, "__name__", None)


def _custom_name(obj):
    """The name `obj` is registered under, or None. The table is keyed by id(): an entry
    counts only while the registry still holds that very object (a class registered and
    then replaced can be freed, and a new class may get its id)."""
    name = _GLOBAL_CUSTOM_NAMES.get(id(obj))
    return name if name is not None and _GLOBAL_CUSTOM_OBJECTS.get(name) is obj else None


def get_registered_object(name, custom_objects=None, module_objects=None):
    """The object registered (or in scope / in custom_objects) under `name`, else None."""
    for scope in reversed(_scopes.stack):
        if name in scope:
            return scope[name]
    if name in _GLOBAL_CUSTOM_OBJECTS:
        return _GLOBAL_CUSTOM_OBJECTS[name]
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    if module_objects and name in module_objects:
        return module_objects[name]
    return None


def get_custom_objects():
    """The global dict of registered custom objects (mutating it registers objects)."""
    return _GLOBAL_CUSTOM_OBJECTS


class CustomObjectScope:
    """`with CustomObjectScope({"Scale": Scale}):` makes the objects resolvable by name."""

    def __init__(self, *custom_objects):
        merged = {}
        for objects in custom_objects:
            merged.update(objects or {})
        self.custom_objects = merged

    def __enter__(self):
        _scopes.stack.append(self.custom_objects)
        return self

    def __exit__(self, *exc_info):
        _scopes.stack.pop()
        return False


custom_object_scope = CustomObjectScope


class SafeModeScope:
    """`with SafeModeScope(False):` lets the loaders inside it run Lambda code (Keras's
    scope, set by load_model so that nested from_config calls see the caller's choice)."""

    def __init__(self, safe_mode=True):
        self.safe_mode = safe_mode

    def __enter__(self):
        self._previous = _scopes.safe_mode
        _scopes.safe_mode = self.safe_mode
        return self

    def __exit__(self, *exc_info):
        _scopes.safe_mode = self._previous
        return False


def in_safe_mode():
    """The safe_mode of the innermost SafeModeScope, or None outside any."""
    return _scopes.safe_mode


def _scope_objects():
    merged = {}
    for scope in _scopes.stack:
        merged.update(scope)
    return merged


# ---------------------------------------------------------------------- serialize
def serialize_keras_object(obj):
    """Keras 3's config dict for `obj` (plain values, lists and dicts pass through)."""
    if obj is None or isinstance(obj, _PLAIN):
        return obj
    if isinstance(obj, (list, tuple)):
        items = [serialize_keras_object(x) for x in obj]
        return tuple(items) if isinstance(obj, tuple) else items
    if isinstance(obj, dict):
        return {k: serialize_keras_object(v) for k, v in obj.items()}
    if isinstance(obj, bytes):
        return {"class_name": "__bytes__", "config": {"value": obj.decode("utf-8")}}
    if isinstance(obj, slice):
        return {"class_name": "__slice__",
                "config": {"start": serialize_keras_object(obj.start),
                           "stop": serialize_keras_object(obj.stop),
                           "step": serialize_keras_object(obj.step)}}
    if obj is Ellipsis:
        return {"class_name": "__ellipsis__", "config": {}}
    special = _serialize_special(obj)
    if special is not None:
        return special
    _ensure_public_tables()
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return _serialize_function(obj)
    if inspect.isclass(obj):
        return get_registered_name(obj)
    if not hasattr(obj, "get_config"):
        raise TypeError(f"Cannot serialize object {obj!r} of type {type(obj)}. To be "
                        "serializable, a class must implement the `get_config()` method.")
    config = obj.get_config()
    if not isinstance(config, dict):
        raise TypeError(f"The `get_config()` method of {obj} should return a dict. It "
                        f"returned: {config}")
    inner = serialize_keras_object(config)
    cls = type(obj)
    public = _PUBLIC_NAMES.get(id(cls))
    if public is not None and _custom_name(cls) is None:
        module, class_name = public.rsplit(".", 1)
        registered = "Functional" if class_name == "Functional" and module.startswith(
            "keras.src") else None
        if module.startswith("keras.src.ops."):  # Keras writes its op classes' names
            registered = class_name
        result = {"module": module, "class_name": class_name, "config": inner,
                  "registered_name": registered}
    else:
        module = cls.__module__
        result = {"module": None if module == "__main__" else module,
                  "class_name": cls.__name__, "config": inner,
                  "registered_name": _custom_name(cls) or cls.__name__}
    if hasattr(obj, "get_build_config"):
        build_config = obj.get_build_config()
        if build_config is not None:
            result["build_config"] = serialize_keras_object(build_config)
    if hasattr(obj, "get_compile_config"):
        compile_config = obj.get_compile_config()
        if compile_config is not None:
            result["compile_config"] = serialize_keras_object(compile_config)
    return result


def _serialize_special(obj):
    from tensorflux.keras.engine.keras_tensor import KerasTensor
    from tensorflux.tensor import _TensorLike

    if isinstance(obj, KerasTensor):
        history = obj._keras_history
        if history is not None:
            history = [history[0].name, history[1], history[2]]
        return {"class_name": "__keras_tensor__",
                "config": {"shape": None if obj.shape is None else list(obj.shape),
                           "dtype": obj.dtype, "keras_history": history}}
    if isinstance(obj, _TensorLike):
        return {"class_name": "__tensor__",
                "config": {"value": obj.numpy().tolist(), "dtype": obj.dtype.name}}
    if type(obj).__module__ == "numpy":
        if getattr(obj, "ndim", 0) > 0:
            return {"class_name": "__numpy__",
                    "config": {"value": obj.tolist(), "dtype": str(obj.dtype)}}
        return obj.item()
    if type(obj).__name__ == "DType" and hasattr(obj, "name"):
        return obj.name
    if hasattr(obj, "as_list") and hasattr(obj, "rank"):  # a TensorShape
        return None if obj.rank is None else obj.as_list()
    if inspect.isfunction(obj) and obj.__name__ == "<lambda>":
        raise ValueError("Cannot serialize a lambda: tensorflux never stores Python code in "
                         "a config. Use a named function registered with "
                         "@keras.saving.register_keras_serializable().")
    return None


def _serialize_function(fn):
    """Keras 3.15's form for every function: its name under the `function` class of the
    `builtins` module (Keras finds its own functions by name among its modules, and refuses a
    public function written with its module and its name as `registered_name`)."""
    public = _PUBLIC_NAMES.get(id(fn))
    if public is not None:
        return _builtin_function_config(public.rsplit(".", 1)[1])
    for module_name in _FUNCTION_MODULES:
        table = _module_table(module_name)
        if table and table.get(fn.__name__) is fn:
            return _builtin_function_config(fn.__name__)
    registered = _custom_name(fn)
    if registered is None and fn.__module__ != "builtins":
        raise ValueError(f"Cannot serialize the function {fn.__name__!r}: it is not a Keras "
                         "function; register it with "
                         "@keras.saving.register_keras_serializable().")
    return custom_function_config(fn)


def custom_function_config(fn):
    """What Keras 3 writes for a user's function (registered or not): the registered name
    ("package>name", else `__name__`) as the config, under the `function` class of the
    `builtins` module."""
    return _builtin_function_config(get_registered_name(fn))


def _builtin_function_config(name):
    return {"module": "builtins", "class_name": "function", "config": name,
            "registered_name": "function"}


# Public Keras modules whose own `get`/allowlists resolve names (written by other files).
_FUNCTION_MODULES = ("keras.activations", "keras.losses", "keras.metrics",
                     "keras.initializers", "keras.regularizers", "keras.constraints",
                     "keras.optimizers")


def _keras_module(module_name):
    """The tensorflux module for a public Keras module name, from a fixed table."""
    try:
        if module_name == "keras.activations":
            from tensorflux.keras import activations as module
        elif module_name == "keras.losses":
            from tensorflux.keras import losses as module
        elif module_name == "keras.metrics":
            from tensorflux.keras import metrics as module
        elif module_name == "keras.initializers":
            from tensorflux.keras import initializers as module
        elif module_name == "keras.regularizers":
            from tensorflux.keras import regularizers as module
        elif module_name == "keras.constraints":
            from tensorflux.keras import constraints as module
        elif module_name == "keras.optimizers":
            from tensorflux.keras import optimizers as module
        else:
            return None
    except ImportError:
        return None
    return module


def _module_table(module_name):
    module = _keras_module(module_name)
    if module is None:
        return None
    return {name: getattr(module, name) for name in getattr(module, "__all__", ())
            if hasattr(module, name)}


# ---------------------------------------------------------------------- deserialize
def deserialize_keras_object(config, custom_objects=None, safe_mode=True, module_objects=None,
                             **kwargs):
    """The object a Keras 3 (or Keras 2) config describes, resolved from the allowlist."""
    custom_objects = {**(custom_objects or {}), **_scope_objects()}
    if _scopes.safe_mode is not None:
        safe_mode = _scopes.safe_mode
    if config is None:
        return None
    if isinstance(config, str):
        found = get_registered_object(config, custom_objects, module_objects)
        return config if found is None else found
    if isinstance(config, _PLAIN):
        return config
    if isinstance(config, (list, tuple)):
        return [deserialize_keras_object(x, custom_objects, safe_mode, module_objects)
                for x in config]
    if not isinstance(config, dict):
        raise TypeError(f"Could not parse config: {config}")
    if "class_name" not in config or "config" not in config:
        return {k: deserialize_keras_object(v, custom_objects, safe_mode, module_objects)
                for k, v in config.items()}
    class_name = config["class_name"]
    inner = config["config"] if config["config"] is not None else {}
    special = _deserialize_special(class_name, inner, custom_objects, safe_mode)
    if special is not _NOT_SPECIAL:
        return special
    module = config.get("module")
    registered = config.get("registered_name") or class_name
    if class_name == "function":
        if not isinstance(inner, str):
            raise TypeError("Expected 'config' to be a non-null str for a function class "
                            f"name, instead got {type(inner)}\nFull config: {config}")
        return _resolve_function(inner, registered, module, custom_objects, module_objects)
    if not isinstance(inner, dict):
        raise TypeError(f"Expected 'config' to be a dict for {class_name},\ninstead got "
                        f"{type(inner)}\nFull config: {config}")
    cls = _resolve_class(class_name, registered, module, custom_objects, module_objects)
    if cls is None:
        delegated = _delegate(module, config, custom_objects)
        if delegated is not None:
            return delegated
        raise UnknownObjectError(
            f"Could not locate class '{class_name}' (module {module!r}). Make sure "
            "custom classes are decorated with "
            "`@keras.saving.register_keras_serializable()` or passed in "
            "`custom_objects`. Only tensorflux's own Keras classes and registered "
            f"objects can be loaded. Full object config: {config}")
    if not inspect.isclass(cls):
        return cls
    with CustomObjectScope(custom_objects):
        from_config = getattr(cls, "from_config", None)
        if from_config is None:
            raise TypeError(f"Unable to reconstruct an instance of '{class_name}' because the "
                            "class is missing a `from_config()` method.")
        try:
            parameters = inspect.signature(from_config).parameters
        except (TypeError, ValueError):
            parameters = {}
        extra = {}
        if "custom_objects" in parameters:
            extra["custom_objects"] = custom_objects
        if "safe_mode" in parameters:
            extra["safe_mode"] = safe_mode
        instance = from_config(inner, **extra)
        build_config = config.get("build_config")
        if build_config and not getattr(instance, "built", True) and \
                hasattr(instance, "build_from_config"):
            instance.build_from_config(build_config)
        compile_config = config.get("compile_config")
        if compile_config and hasattr(instance, "compile_from_config"):
            instance.compile_from_config(compile_config)
    return instance


def legacy_layer_config(layer_config):
    """An entry of a model config's "layers" list without a "module" key (legacy `.h5`,
    Keras 2 JSON) made loadable: a keras.ops node ("Tanh", "Add": Keras's legacy `.h5` names
    them without a module; unlike every layer's, an op's config has no "trainable") gets its
    op module, and a one-item `axis` list (tf.keras 2's built BatchNormalization wrote [3])
    becomes an int, as Keras 3's legacy loader does."""
    if not isinstance(layer_config, dict) or "module" in layer_config or \
            not isinstance(layer_config.get("config"), dict):
        return layer_config
    class_name = layer_config.get("class_name")
    if "trainable" not in layer_config["config"] and isinstance(class_name, str):
        try:
            module = _resolve_op_class("keras.src.ops", class_name).keras_module
        except (ValueError, AttributeError):
            module = None
        if module is not None:
            return dict(layer_config, module=module)
    axis = layer_config["config"].get("axis")
    if isinstance(axis, list) and len(axis) == 1 and isinstance(axis[0], int):
        layer_config = dict(layer_config, config=dict(layer_config["config"], axis=axis[0]))
    return layer_config


_NOT_SPECIAL = object()


def _deserialize_special(class_name, inner, custom_objects, safe_mode):
    if class_name == "__keras_tensor__":
        from tensorflux.keras.engine.keras_tensor import KerasTensor

        tensor = KerasTensor(inner["shape"], dtype=inner["dtype"])
        tensor._pre_serialization_keras_history = inner.get("keras_history")
        return tensor
    if class_name == "__tensor__":
        import tensorflux as tf

        return tf.constant(inner["value"], dtype=inner["dtype"])
    if class_name == "__numpy__":
        return _numpy_from_config(inner)
    if class_name == "__bytes__":
        return inner["value"].encode("utf-8")
    if class_name == "__ellipsis__":
        return Ellipsis
    if class_name == "__slice__":
        return slice(*(deserialize_keras_object(inner[k], custom_objects, safe_mode)
                       for k in ("start", "stop", "step")))
    if class_name == "__lambda__":
        raise ValueError("Requested the deserialization of a Python lambda. tensorflux never "
                         "runs code stored in a config (it carries a risk of arbitrary code "
                         "execution); define the function in your code and pass it in "
                         "`custom_objects`, or register it.")
    if class_name == "__typespec__":
        raise ValueError("TypeSpec configs are not supported by tensorflux.")
    return _NOT_SPECIAL


# Bytes per item a `__numpy__` string dtype may declare beyond its longest value.
_MAX_STRING_PADDING = 1024


def _numpy_from_config(inner):
    """The array of a `__numpy__` config. Its dtype comes from the file, so a fixed-width
    string dtype far wider than its values (a short config asking for gigabytes of padding)
    takes the values' own width, and raw-byte (void, structured) dtypes are refused."""
    import numpy as np

    dtype = np.dtype(inner["dtype"])
    if dtype.kind == "V":
        raise ValueError(f"A `__numpy__` config may not use the raw-byte dtype {dtype}; "
                         "model files hold numeric, boolean and string arrays.")
    if dtype.kind in "SU":
        values = np.array(inner["value"], dtype=dtype.kind)
        if dtype.itemsize > max(values.dtype.itemsize, _MAX_STRING_PADDING):
            return values
        return values.astype(dtype)
    return np.array(inner["value"], dtype=dtype)


def _resolve_class(class_name, registered, module, custom_objects, module_objects):
    for key in (registered, class_name):
        if custom_objects and key in custom_objects:
            return custom_objects[key]
    if registered in _GLOBAL_CUSTOM_OBJECTS:
        return _GLOBAL_CUSTOM_OBJECTS[registered]
    if module_objects and class_name in module_objects:
        return module_objects[class_name]
    _ensure_public_tables()
    if module is not None and f"{module}.{class_name}" in _PUBLIC:
        return _PUBLIC[f"{module}.{class_name}"]
    if module is not None and module.startswith("keras.src.ops."):
        return _resolve_op_class(module, class_name)
    if module is None or module == "keras" or module.startswith("keras.") or \
            module.startswith("tensorflux.keras"):
        names = _PUBLIC_BY_SHORT_NAME.get(class_name, [])
        preferred = [n for n in names if module and n.startswith(module.split(".src")[0])]
        for name in preferred + names:
            return _PUBLIC[name]
    if module is None:  # Keras's legacy `.h5` writes a registered model's bare class name
        found = _find_by_short_name(class_name, custom_objects)
        if inspect.isclass(found):
            return found
    return None


def _resolve_op_class(module, class_name):
    """A Keras op class of another `keras.src.ops.*` module than tensorflux's table says
    (classes move between Keras versions), by class name, from the keras.ops allowlist only;
    an unknown op raises a ValueError naming it."""
    from tensorflux.keras.ops._saving import op_class_for

    cls = op_class_for(module, class_name)
    return _PUBLIC.get(f"{cls.keras_module}.{class_name}", cls)


def _delegate(module, config, custom_objects):
    """Objects of the public modules other files own (initializers, losses...): resolved by
    that module's own allowlisted `deserialize`."""
    target = _keras_module(module) if module else None
    if target is None or not hasattr(target, "deserialize"):
        return None
    try:
        return target.deserialize(config, custom_objects=custom_objects)
    except TypeError:
        return target.deserialize(config)


def _resolve_function(name, registered, module, custom_objects, module_objects):
    for key in (registered, name):
        if custom_objects and key in custom_objects:
            return custom_objects[key]
        if key in _GLOBAL_CUSTOM_OBJECTS:
            return _GLOBAL_CUSTOM_OBJECTS[key]
    if module_objects and name in module_objects:
        return module_objects[name]
    _ensure_public_tables()
    if module and f"{module}.{name}" in _PUBLIC:
        return _PUBLIC[f"{module}.{name}"]
    modules = [module] if module in _FUNCTION_MODULES else list(_FUNCTION_MODULES)
    for module_name in modules:
        table = _module_table(module_name)
        if table and name in table and callable(table[name]):
            return table[name]
    found = _find_by_short_name(name, custom_objects)
    if found is not None:
        return found
    raise TypeError(f"Could not locate function '{name}' (module {module!r}). Make sure custom "
                    "functions are decorated with "
                    "`@keras.saving.register_keras_serializable()` or passed in "
                    "`custom_objects`.")


# ---------------------------------------------------------------------- custom objects of
# the object modules (losses, metrics): found by name in custom_objects, the scopes and the
# registry only; nothing a config names is imported.
def _find_custom(name, custom_objects):
    if not isinstance(name, str) or not name:
        return None
    return get_registered_object(name, {**(custom_objects or {}), **_scope_objects()})


def _find_by_short_name(name, custom_objects):
    """A registered or custom object for a name its file wrote in another form: "p>fn" when
    the caller passed custom_objects={"fn": fn}, or a bare "fn" (what Keras <= 3.6 and
    earlier tensorflux wrote) when exactly one object is registered as "<package>>fn"."""
    if not isinstance(name, str) or not name:
        return None
    objects = {**(custom_objects or {}), **_scope_objects()}
    if ">" in name:
        return objects.get(name.split(">", 1)[1])
    suffix = f">{name}"
    for table in (objects, _GLOBAL_CUSTOM_OBJECTS):
        matches = {id(obj): obj for key, obj in table.items() if key.endswith(suffix)}
        if len(matches) == 1:
            return next(iter(matches.values()))
    return None


def _is_tensorflux(obj):
    module = getattr(obj, "__module__", None) or ""
    return (module == "tensorflux" or module.startswith("tensorflux.")) and \
        _custom_name(obj) is None


def serialize_custom_object(obj, allowlist):
    """Keras 3's config for a loss or metric that is not one of `allowlist`'s built-ins (a
    user's function, a subclass of Loss or Metric): the registered name ("package>Name")
    goes into the file, as Keras writes it. None for a built-in object."""
    if inspect.isfunction(obj):
        if allowlist.get(obj.__name__) is obj or obj.__name__ == "<lambda>" or \
                _is_tensorflux(obj):
            return None
        return custom_function_config(obj)
    cls = type(obj)
    if inspect.isclass(obj) or allowlist.get(cls.__name__) is cls or _is_tensorflux(cls) or \
            not hasattr(obj, "get_config"):
        return None
    config = obj.get_config()
    if not isinstance(config, dict):
        raise TypeError(f"The `get_config()` method of {obj} should return a dict. It "
                        f"returned: {config}")
    module = cls.__module__
    return {"module": None if module == "__main__" else module, "class_name": cls.__name__,
            "config": serialize_keras_object(config),
            "registered_name": _custom_name(cls) or cls.__name__}


def deserialize_custom_object(config, allowlist, custom_objects=None, kind="object"):
    """The user's object (registered, in a custom object scope or in `custom_objects`) that a
    Keras config of a loss or metric (`kind`) names, instantiated from its config; None when
    the config names none (a built-in, left to the module's allowlist)."""
    if not isinstance(config, dict) or "class_name" not in config:
        return None
    class_name = config["class_name"]
    inner = config.get("config")
    if class_name == "function":
        found = _find_custom(inner, custom_objects)
        if found is None and isinstance(inner, str) and inner not in allowlist:
            found = _find_by_short_name(inner, custom_objects)
            if found is None:
                raise TypeError(  # (Keras's type and opening words)
                    f"Could not locate function '{inner}' (a {kind}): no function is "
                    "registered under that name. Decorate it with "
                    "`@keras.saving.register_keras_serializable()` (with the same package "
                    "and name) or pass it in `custom_objects` (under its full or short "
                    "name); tensorflux never imports what a file names.")
        return found
    registered = config.get("registered_name")
    if not registered:
        return None  # Keras writes registered_name None for its own classes
    cls = _find_custom(registered, custom_objects) or _find_custom(class_name, custom_objects)
    if cls is None and registered not in allowlist:
        cls = _find_by_short_name(registered, custom_objects)
    if cls is None or not inspect.isclass(cls):
        return cls
    with CustomObjectScope(custom_objects or {}):
        return cls.from_config(dict(inner or {}))
