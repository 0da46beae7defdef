"""tf.Module: a container whose Variables and sub-Modules are found by walking its attributes."""

import re

from tensorflux.control import name_scope
from tensorflux.variable import Variable

__all__ = ["Module"]

# The instance attribute holding a checkpoint restore's callbacks for values whose variables
# this module has not created yet (tf.train's deferred restore); tf.train's object-graph walk
# skips names starting with "__", and the callbacks are no Variables or Modules.
_PENDING_RESTORES = "__pending_restores__"
_VALID_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # a Python identifier, as TF


def _snake_case(name):
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


class Module:
    """Base class for objects that own Variables and other Modules.

    `variables`, `trainable_variables` and `submodules` walk the attributes (and lists,
    tuples and dicts in them): a module's own objects, then its submodules', each once.

    >>> import tensorflux as tf
    >>> class Dense(tf.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.w = tf.Variable([[1.0]])
    ...         self.b = tf.Variable([0.0], trainable=False)
    >>> m = Dense()
    >>> len(m.variables), len(m.trainable_variables), m.name
    (2, 1, 'dense')
    """

    # Attributes the walk skips (as TF skips its own bookkeeping).
    _TF_MODULE_IGNORED_PROPERTIES = frozenset()

    def __init__(self, name=None):
        if name is None:
            name = _snake_case(type(self).__name__)
        elif not _VALID_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid module name. Module names must be valid "
                             "Python identifiers (e.g. a valid class name).")
        self._name = name
        with name_scope(name) as scope:
            self._scope_name = scope

    def __setattr__(self, name, value):
        object.__setattr__(self, name, value)
        run_pending_restores(self, name)

    @property
    def name(self):
        return self._name

    @property
    def name_scope(self):
        """A name_scope for this module's name (naming only)."""
        return name_scope(self._scope_name)

    @property
    def variables(self):
        """Every Variable of this module and its submodules, each once."""
        return tuple(self._flatten(predicate=lambda v: isinstance(v, Variable)))

    @property
    def trainable_variables(self):
        """The trainable Variables of this module and its submodules."""
        return tuple(self._flatten(predicate=lambda v: isinstance(v, Variable) and v.trainable))

    @property
    def non_trainable_variables(self):
        return tuple(self._flatten(
            predicate=lambda v: isinstance(v, Variable) and not v.trainable))

    @property
    def submodules(self):
        """Every Module reachable from this one (not itself), each once."""
        return tuple(self._flatten(predicate=lambda v: isinstance(v, Module)))

    def _flatten(self, recursive=True, predicate=None):
        """The Variables and Modules under this module that satisfy `predicate` (all, when
        None), in TF's order: a module's own ones first (attributes sorted by name, dicts by
        key), then those of each of its submodules in that order; each object once."""
        found, seen = [], {id(self)}
        self._walk(self, predicate or (lambda value: True), found, seen, recursive)
        return found

    @classmethod
    def _walk(cls, module, predicate, found, seen, recursive):
        ignored = getattr(module, "_TF_MODULE_IGNORED_PROPERTIES", frozenset())
        attributes = vars(module)
        submodules = []
        for key in sorted(attributes):
            if key in ignored:
                continue
            for value in _tracked(attributes[key]):
                if id(value) in seen:
                    continue
                seen.add(id(value))
                if predicate(value):
                    found.append(value)
                if recursive and isinstance(value, Module):
                    submodules.append(value)
        for submodule in submodules:
            cls._walk(submodule, predicate, found, seen, recursive)

    @classmethod
    def with_name_scope(cls, method):
        """Decorator kept for TF compatibility: calls `method` inside the module's scope."""
        def wrapped(self, *args, **kwargs):
            with self.name_scope:
                return method(self, *args, **kwargs)
        wrapped.__name__ = getattr(method, "__name__", "method")
        wrapped.__doc__ = getattr(method, "__doc__", None)
        return wrapped

    def __repr__(self):
        return f"<{type(self).__module__}.{type(self).__name__} object named {self._name!r}>"


def run_pending_restores(obj, name=None):
    """Lets a checkpoint restore waiting on `obj` match what setting attribute `name` (None:
    any attribute's contents) just added."""
    pending = obj.__dict__.get(_PENDING_RESTORES)
    if pending:
        for restore in tuple(pending.values()):
            restore(name)


def _tracked(value):
    """The Variables and Modules in an attribute value, through lists, tuples and dicts
    (sorted by key, as tf.nest flattens them)."""
    if isinstance(value, (Variable, Module)):
        yield value
    elif isinstance(value, dict):
        for key in sorted(value, key=str):
            yield from _tracked(value[key])
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tracked(item)
