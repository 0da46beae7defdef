"""tf.keras: what `import tensorflux as tf; tf.keras` gives, TensorFlow's tf.keras namespace
(TF 2.16+, with Keras 3): every name of tensorflux.keras, plus the Keras 1/2 APIs that TF keeps
there (tensorflux.keras.legacy). It is what the `keras` attribute of tensorflux gives (`tf.keras`,
`from tensorflux import keras`), as in TensorFlow; imports of the package's own modules
(`from tensorflux.keras.backend import ...`) give Keras 3's.

tensorflux.keras's modules are not changed. Each one that TF extends (backend, layers, losses,
metrics, preprocessing and its image, sequence and text) is seen here through a namespace that
holds its legacy names and passes every other name to the Keras 3 module, so the objects are
the same ones. A namespace, and the legacy module behind it, loads on first use.

>>> import tensorflux as tf
>>> tf.keras.layers.Dense is tf.keras.layers.Dense
True
>>> tf.keras.preprocessing.sequence.make_sampling_table(3).shape
(3,)
"""

import importlib as _importlib
import sys as _sys
import types as _types

# Extended module -> (the Keras 3 module it extends, or None; the module of its additions, or
# None), by path below tf.keras.
_EXTENDED = {
    "backend": ("tensorflux.keras.backend", "tensorflux.keras.legacy.backend"),
    "layers": ("tensorflux.keras.layers", "tensorflux.keras.legacy.layers"),
    "layers.experimental": (None, "tensorflux.keras.layers.experimental"),
    "layers.experimental.preprocessing": (
        None, "tensorflux.keras.layers.experimental.preprocessing"),
    "losses": ("tensorflux.keras.losses", "tensorflux.keras.legacy.losses"),
    "metrics": ("tensorflux.keras.metrics", "tensorflux.keras.legacy.metrics"),
    "preprocessing": ("tensorflux.keras.preprocessing", None),
    "preprocessing.image": ("tensorflux.keras.preprocessing.image",
                            "tensorflux.keras.legacy.preprocessing.image"),
    "preprocessing.sequence": ("tensorflux.keras.preprocessing.sequence",
                               "tensorflux.keras.legacy.preprocessing.sequence"),
    "preprocessing.text": (None, "tensorflux.keras.legacy.preprocessing.text"),
}


def _children(path):
    """The extended modules directly below `path` ("" for tf.keras itself), by name."""
    prefix = f"{path}." if path else ""
    return [p[len(prefix):] for p in _EXTENDED
            if p.startswith(prefix) and "." not in p[len(prefix):]]


def _child_or_base(module, path, base, name):
    """The attribute `name` of tf.keras's module at `path` that `module` (the namespace) does
    not hold yet: an extended child's namespace (kept in `module`), or the Keras 3 module's
    own attribute."""
    if name in _children(path):
        child = _Namespace(f"{path}.{name}" if path else name)
        setattr(module, name, child)
        return child
    if base is not None and not name.startswith("__"):
        try:
            return getattr(_importlib.import_module(base), name)
        except AttributeError:
            pass
    shown = "tf.keras" + (f".{path}" if path else "")
    hint = vars(module).get("_removed", {}).get(name)
    raise AttributeError(f"module {shown!r} has no attribute {name!r}"
                         + (f" ({hint})" if hint else ""))


def _names(module, path, base):
    names = {n for n in vars(module) if not n.startswith("_")} | set(_children(path))
    if base is not None:
        names.update(n for n in dir(_importlib.import_module(base)) if not n.startswith("_"))
    return sorted(names)


class _Namespace(_types.ModuleType):
    """One extended module of tf.keras (tf.keras.backend, ...): holds the legacy names, and
    passes the others to the Keras 3 module it extends."""

    def __init__(self, path):
        super().__init__(f"{__name__}.{path}", f"tf.keras.{path}: Keras 3's names and the "
                                               "legacy ones TensorFlow keeps there.")
        self._path = path
        self._base, legacy = _EXTENDED[path]
        if legacy is not None:
            legacy = _importlib.import_module(legacy)
            for name in legacy.__all__:
                setattr(self, name, getattr(legacy, name))
        # (Keras 2 names that TF dropped too, with what to write instead: the AttributeError
        # says it)
        self._removed = getattr(legacy, "_REMOVED", {})

    def __getattr__(self, name):
        return _child_or_base(self, self._path, self._base, name)

    def __dir__(self):
        return _names(self, self._path, self._base)

    def __repr__(self):
        return f"<module 'tf.keras.{self._path}' (tensorflux)>"

    def __reduce__(self):
        # Pickled by reference, as modules are, so cloudpickle can send a function that
        # uses `layers = tf.keras.layers` to another process (joblib, GridSearchCV(n_jobs)).
        return _namespace, (self._path,)


def _namespace(path):
    """tf.keras's namespace at `path` ("layers", "preprocessing.image")."""
    module = _this
    for name in path.split("."):
        module = getattr(module, name)
    return module


def __getattr__(name):
    return _child_or_base(_this, "", "tensorflux.keras", name)


def __dir__():
    return _names(_this, "", "tensorflux.keras")


_this = _sys.modules[__name__]
__version__ = _importlib.import_module("tensorflux.keras").__version__
