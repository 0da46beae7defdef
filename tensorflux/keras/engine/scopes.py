"""keras.SymbolicScope and keras.RematScope: Keras 3's context managers that mark the symbolic
stage and ask for rematerialization of the layers created within them.

Rematerialization trades memory for recomputation and never changes a value; tensorflux's
tape keeps what the backward pass needs, so a RematScope validates its arguments and records
its mode (get_current_remat_mode) but computes as without it. `keras.remat(f)` is the explicit
form, which recomputes.

>>> from tensorflux import keras
>>> from tensorflux.keras.engine.scopes import get_current_remat_mode
>>> with keras.RematScope(mode="larger_than", output_size_threshold=2048):
...     get_current_remat_mode().output_size_threshold
2048
"""

import threading
from collections import namedtuple

__all__ = ["RematMode", "RematScope", "SymbolicScope", "get_current_remat_mode",
           "get_symbolic_scope", "in_symbolic_scope"]

_REMAT_MODES = ("full", "activations", "larger_than", "list_of_layers", None)

RematMode = namedtuple("RematMode", ["mode", "output_size_threshold", "layer_names"])


class _State(threading.local):
    def __init__(self):
        self.symbolic_scope = None
        self.remat_scopes = []


_state = _State()


class SymbolicScope:
    """Marks the code within as the symbolic stage (in_symbolic_scope() is then True)."""

    def __enter__(self):
        self.original_scope = _state.symbolic_scope
        _state.symbolic_scope = self
        return self

    def __exit__(self, *exc_info):
        _state.symbolic_scope = self.original_scope


def in_symbolic_scope():
    return _state.symbolic_scope is not None


def get_symbolic_scope():
    return _state.symbolic_scope


class RematScope:
    """Asks for rematerialization of the layers created within: `mode` "full",
    "activations", "larger_than" (outputs larger than `output_size_threshold`),
    "list_of_layers" (`layer_names`) or None (off). Scopes nest; the innermost applies."""

    def __init__(self, mode="full", output_size_threshold=1024, layer_names=None):
        if mode not in _REMAT_MODES:
            raise ValueError(f"Invalid mode '{mode}'. Supported modes are: 'full', "
                             "'activations', 'larger_than', 'list_of_layers', or None.")
        self.mode = mode
        self.output_size_threshold = output_size_threshold
        self.layer_names = layer_names or []
        self._pop_on_exit = False

    def __enter__(self):
        _state.remat_scopes.append(self)
        self._pop_on_exit = True
        return self

    def __exit__(self, *exc_info):
        if self._pop_on_exit:
            _state.remat_scopes.pop()
            self._pop_on_exit = False


def get_current_remat_mode():
    """The innermost RematScope's settings as a RematMode, or None outside any."""
    if not _state.remat_scopes:
        return None
    scope = _state.remat_scopes[-1]
    return RematMode(scope.mode, scope.output_size_threshold, scope.layer_names)
