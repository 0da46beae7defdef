"""Keras 3's name scopes: the stack of layer names that gives a variable its `path`
("model/block/dense/kernel") when it is created.

A layer opens its scope around its build and its call. The first time it does, it records
the path it was opened under (`layer._parent_path`); every later scope of that layer starts
from that recorded path, wherever the layer is called from, so a layer built on its own, or
first called by one model, keeps the path it got then.

>>> from tensorflux.keras.engine.name_scope import current_path, name_scope
>>> with name_scope("outer"):
...     with name_scope("inner"):
...         current_path()
'outer/inner'
"""

import threading

__all__ = ["current_path", "name_scope"]


class _ScopeStack(threading.local):
    def __init__(self):
        self.entries = []


_stack = _ScopeStack()


class name_scope:  # noqa: N801 - Keras's name (keras.name_scope)
    """Enters `name` below the current path.

    `caller` is the object opening the scope (a layer). With `deduplicate`, a caller that
    already opened a scope of the same name directly above does not open a second one, and a
    caller with a recorded `_parent_path` starts its scope from that path instead of the
    current one. `override_parent` gives that starting path explicitly.
    """

    __slots__ = ("name", "caller", "deduplicate", "override_parent", "_pushed")

    def __init__(self, name, caller=None, deduplicate=True, override_parent=None):
        if not isinstance(name, str) or "/" in name:
            raise ValueError("Argument `name` must be a string and cannot contain character "
                             f"`/`. Received: name={name}")
        self.name = name
        self.caller = caller
        self.deduplicate = deduplicate
        if override_parent is None and deduplicate:
            override_parent = getattr(caller, "_parent_path", None)
        self.override_parent = override_parent
        self._pushed = False

    def __enter__(self):
        entries = _stack.entries
        if self.deduplicate and entries and self.caller is not None:
            top = entries[-1]
            if top.caller is self.caller and top.name == self.name:
                return self
        entries.append(self)
        self._pushed = True
        return self

    def __exit__(self, *exc_info):
        if self._pushed:
            self._pushed = False
            entries = _stack.entries
            if entries:
                entries.pop()


def current_path():
    """The path of the open scopes ("" when none is open)."""
    parts = []
    for entry in _stack.entries:
        if entry.override_parent is not None:
            parts = [part for part in entry.override_parent.split("/") if part]
        parts.append(entry.name)
    return "/".join(parts)

