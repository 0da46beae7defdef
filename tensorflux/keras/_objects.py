"""Lookup, serialize and deserialize for the Keras object modules (allowlists only, no imports).

activations, initializers, regularizers, constraints, losses and metrics each keep an explicit
dict of the names they accept; these helpers turn Keras identifiers (None, a name, a Keras 3
config dict, a class, an instance or a callable) into objects through that dict alone, so a
config can never make tensorflux import or run anything it did not list.
"""

import difflib
import inspect
import re

__all__ = ["serialize_object", "deserialize_object", "get_object", "snake_case", "did_you_mean"]


def snake_case(name):
    """Keras's `to_snake_case`: "GlorotUniform" -> "glorot_uniform", "L1L2" -> "l1l2"."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def serialize_object(obj, module, allowlist):
    """Keras 3's dict form of `obj`: module, class_name, config, registered_name. A user's
    function or class is written under its registered name ("package>name") where it has
    one, as Keras writes it, so either side finds it in its registry."""
    if obj is None:
        return None
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        name = obj.__name__
        if allowlist.get(name) is not obj:
            name = _registered_name(obj) or name
        # What Keras 3 writes for any function (serialize_keras_object).
        return {"module": "builtins", "class_name": "function", "config": name,
                "registered_name": "function"}
    cls = type(obj)
    if not hasattr(obj, "get_config"):
        raise ValueError(f"Cannot serialize {obj!r}: it is neither a function nor an object "
                         f"with get_config()")
    known = allowlist.get(cls.__name__) is cls
    return {"module": module if known else cls.__module__, "class_name": cls.__name__,
            "config": obj.get_config(),
            "registered_name": None if known else _registered_name(cls) or cls.__name__}


def _registered_name(obj):
    from tensorflux.keras.saving.serialization import get_registered_name

    return get_registered_name(obj)


def _lookup(name, allowlist, custom_objects, kind):
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    if name in allowlist:
        return allowlist[name]
    registered = _registered(name)
    if registered is not None:
        return registered
    from tensorflux.keras.saving.serialization import UnknownObjectError

    # (both ValueError, as Keras's `get` raises, and TypeError, as its loaders raise)
    raise UnknownObjectError(
        f"Could not interpret {kind} identifier: {name!r}.{did_you_mean(name, allowlist)} "
        "Known names: "
        f"{', '.join(sorted(allowlist))}. A custom {kind} must be registered with "
        "@keras.saving.register_keras_serializable() or passed in `custom_objects`.")


def did_you_mean(name, names, limit=3):
    """" Did you mean 'a' or 'b'?" for the entries of `names` closest to a misspelled `name`
    (case-insensitively, so "Adm" finds "adam" and "binary_crossentropyy" both spellings of
    it), or "" when none is close: the typo is then pointed at rather than buried in a list."""
    if not isinstance(name, str):
        return ""
    by_lower = {}
    for known in sorted(names, key=str):
        if isinstance(known, str):
            by_lower.setdefault(known.lower(), []).append(known)
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=limit)
    # (of "Accuracy" and "accuracy", the one written in the typo's case first)
    found = [known for key in close for known in sorted(
        by_lower[key], key=lambda known: known.islower() != name.islower())][:limit]
    if not found:
        return ""
    quoted = [repr(known) for known in found]
    listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    return f" Did you mean {listed}?"


def _registered(name):
    """An object registered with keras.saving.register_keras_serializable, when available."""
    try:
        from tensorflux.keras.saving import serialization
    except ImportError:
        return None
    getter = getattr(serialization, "get_registered_object", None)
    return getter(name) if getter is not None else None


def _registered_short(name, custom_objects):
    """A registered or custom object for a name written in another form ("package>fn" with
    custom_objects={"fn": ...}, or a bare "fn" registered as "package>fn")."""
    from tensorflux.keras.saving.serialization import _find_by_short_name

    return _find_by_short_name(name, custom_objects)


def deserialize_object(config, allowlist, kind, custom_objects=None):
    """An object from a name or a Keras (2 or 3) config dict, resolved via `allowlist`."""
    if config is None:
        return None
    if isinstance(config, str):
        return _lookup(config, allowlist, custom_objects, kind)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret {kind} identifier: {config!r}")
    class_name = config["class_name"]
    inner = config.get("config", {})
    if class_name == "function":
        # Keras 3 writes {"config": "package>name", "registered_name": "function"}; older
        # files put the name in registered_name.
        registered = config.get("registered_name")
        name = inner if registered in (None, "function") else registered
        if not isinstance(name, str):
            raise ValueError(f"Could not interpret {kind} identifier: {config!r}")
        for key in (name, inner):
            if custom_objects and isinstance(key, str) and key in custom_objects:
                return custom_objects[key]
        if isinstance(inner, str) and inner in allowlist:
            return allowlist[inner]
        found = _registered(name) or _registered_short(name, custom_objects)
        return found if found is not None else _lookup(name, allowlist, custom_objects, kind)
    name = config.get("registered_name") or class_name
    if custom_objects and name in custom_objects:
        cls = custom_objects[name]
    elif class_name in allowlist:
        cls = allowlist[class_name]
    else:
        cls = _lookup(name, allowlist, custom_objects, kind)
    if inner is None:
        inner = {}
    if not inspect.isclass(cls):
        return cls
    if hasattr(cls, "from_config"):
        return cls.from_config(dict(inner))
    return cls(**inner)


def get_object(identifier, allowlist, kind, instantiate_class=True):
    """Keras's `<module>.get`: None, a name, a config dict, a class, an instance or a callable."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize_object(identifier, allowlist, kind)
    elif isinstance(identifier, str):
        obj = _lookup(identifier, allowlist, None, kind)
    else:
        obj = identifier
    if inspect.isclass(obj) and instantiate_class:
        return obj()
    if callable(obj):
        return obj
    raise ValueError(f"Could not interpret {kind} identifier: {identifier!r}")
