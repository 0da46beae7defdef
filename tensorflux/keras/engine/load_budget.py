"""The memory budget of a model file being loaded.

A model file's config decides the shapes of the variables built while it loads: a few bytes
of JSON (`Dense(units=10**9)`) can ask for gigabytes before any weight is read. The loaders
open a LoadBudget sized from the file itself (the bytes its weights declare, plus a little
for variables files do not store), and every path that creates a variable while building a
model charges it here first, so an oversized one is refused before it is allocated.
"""

import math
import threading

__all__ = ["LoadBudget", "charge"]


class _Current(threading.local):
    budget = None


_current = _Current()


def _itemsize(dtype):
    import tensorflux as tf

    try:
        return tf.as_dtype(dtype).size or 8
    except (TypeError, ValueError):
        return 8


class LoadBudget:
    """`with LoadBudget(stored, source):` lets the variables created inside it take at most
    `stored + slack` bytes together; `stored` is what the file's weights declare."""

    # Bytes for the variables a file does not hold: seed states, compiled metrics' state,
    # a stateful RNN's states, and configs saved without weights.
    SLACK = 64 << 20

    def __init__(self, stored, source):
        self.stored = int(stored)
        self.limit = self.stored + self.SLACK
        self.source = source
        self.used = 0

    def __enter__(self):
        self._previous = _current.budget
        _current.budget = self
        return self

    def __exit__(self, *exc_info):
        _current.budget = self._previous
        return False

    def charge(self, owner, name, shape, dtype):
        nbytes = math.prod(int(d) for d in shape) * _itemsize(dtype)
        if self.used + nbytes > self.limit:
            who = "" if owner is None else \
                f" of {type(owner).__name__} '{getattr(owner, 'name', owner)}'"
            dtype = getattr(dtype, "name", dtype)
            raise ValueError(
                f"Refusing to load {self.source}: its config makes the variable '{name}'"
                f"{who} with shape {tuple(shape)} ({dtype}, {nbytes} bytes), which takes "
                f"the model past the {self.limit} bytes its file allows ({self.stored} bytes "
                f"of stored weights plus {self.SLACK} for variables files do not store; "
                f"{self.used} already used). The config asks for far more memory than the "
                "file holds weights for: it is corrupt or was crafted.")
        self.used += nbytes


def charge(owner, name, shape, dtype):
    """Counts a variable about to be created (by `owner`, a layer or metric, or None) against
    the budget of the model file loading now; does nothing outside a load."""
    budget = _current.budget
    if budget is not None:
        budget.charge(owner, name, shape, dtype)
