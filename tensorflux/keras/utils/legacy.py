"""keras.utils.legacy: the Keras 2 config format, {"class_name", "config"} with no module,
which tf.keras 2 model JSON and mid-level libraries still write and read.

Classes and functions are looked up only in the custom-object scopes, the registered objects,
`custom_objects` and the `module_objects` the caller passes: a config names no module, and
nothing named by one is imported.

>>> from tensorflux import keras
>>> from tensorflux.keras.utils import legacy
>>> config = legacy.serialize_keras_object(keras.initializers.Constant(2.0))
>>> config
{'class_name': 'Constant', 'config': {'value': 2.0}}
>>> objects = {"Constant": keras.initializers.Constant}
>>> legacy.deserialize_keras_object(config, module_objects=objects).value
2.0
"""

import inspect as _inspect

from tensorflux.keras.saving import serialization as _serialization

__all__ = ["deserialize_keras_object", "serialize_keras_object"]

# Marks a config item that was an object (not a dict) when serialized, so that deserializing
# turns it back into one.
_PASSIVE = "__passive_serialization__"


def serialize_keras_object(instance):
    """{"class_name": registered name, "config": get_config()} for an object with a config
    (its items that are objects serialized the same way), a function's registered name, or
    None for None."""
    instance = _inspect.unwrap(instance)
    if instance is None:
        return None
    if hasattr(instance, "get_config"):
        config = {}
        for key, item in instance.get_config().items():
            if isinstance(item, str):
                config[key] = item
                continue
            try:
                serialized = serialize_keras_object(item)
            except ValueError:
                config[key] = item
                continue
            if isinstance(serialized, dict) and not isinstance(item, dict):
                serialized[_PASSIVE] = True
            config[key] = serialized
        return {"class_name": _serialization.get_registered_name(type(instance)), "config": config}
    if hasattr(instance, "__name__"):
        return _serialization.get_registered_name(instance)
    raise ValueError(f"Cannot serialize {instance} because it doesn't implement "
                     "`get_config()`.")


def _unknown(kind, name):
    return ValueError(f"Unknown {kind}: '{name}'. Please ensure you are using a "
                      "`keras.utils.custom_object_scope` and that this object is included in "
                      "the scope, or pass it in `custom_objects` or `module_objects`.")


def _class_and_config(config, module_objects, custom_objects, kind):
    if not isinstance(config, dict) or "class_name" not in config or "config" not in config:
        raise ValueError(f"Improper config format for {config}. Expecting python dict "
                         "contains `class_name` and `config` as keys")
    class_name = config["class_name"]
    cls = _serialization.get_registered_object(class_name, custom_objects, module_objects)
    if cls is None:
        raise _unknown(kind, class_name)
    inner = config["config"]
    if isinstance(inner, list):
        return cls, inner
    inner = dict(inner)
    for key, item in inner.items():
        if key == "name":
            continue
        if isinstance(item, dict) and _PASSIVE in item:
            inner[key] = deserialize_keras_object(item, module_objects, custom_objects,
                                                  "config_item")
        elif isinstance(item, str):
            found = _serialization.get_registered_object(item, custom_objects, module_objects)
            if _inspect.isfunction(found):
                inner[key] = found
    return cls, inner


def deserialize_keras_object(identifier, module_objects=None, custom_objects=None,
                             printable_module_name="object"):
    """The object a legacy config describes: a {"class_name", "config"} dict (built with
    from_config, or the constructor), or a name (a class named is instantiated without
    arguments, anything else returned as found). None gives None; a function passes
    through."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        cls, config = _class_and_config(identifier, module_objects, custom_objects,
                                        printable_module_name)
        custom_objects = custom_objects or {}
        from_config = getattr(cls, "from_config", None)
        if from_config is None:
            with _serialization.CustomObjectScope(custom_objects):
                return cls(**config)
        if "custom_objects" in _inspect.signature(from_config).parameters:
            return from_config(config, custom_objects={**_serialization.get_custom_objects(),
                                                       **custom_objects})
        with _serialization.CustomObjectScope(custom_objects):
            return from_config(config)
    if isinstance(identifier, str):
        found = _serialization.get_registered_object(identifier, custom_objects, module_objects)
        if found is None:
            raise _unknown(printable_module_name, identifier)
        return found() if _inspect.isclass(found) else found
    if _inspect.isfunction(identifier):
        return identifier
    raise ValueError(f"Could not interpret serialized {printable_module_name}: {identifier}")
