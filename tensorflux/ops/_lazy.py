"""Module attributes loaded on first use: how the tf.* namespaces offer ops whose modules
`import tensorflux` does not load."""

import importlib
import sys

from tensorflux.ops.dispatch import dispatching

__all__ = ["lazy_attributes"]


def lazy_attributes(namespace, sources):
    """(__getattr__, __dir__) for the module `namespace`: each name of `sources` (name ->
    module) is that module's attribute of the same name, imported and cached on first use."""
    def __getattr__(name):  # noqa: N807 - the module hook's name
        source = sources.get(name)
        if source is None:
            raise AttributeError(f"module {namespace!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(source), name)
        # (an op TF dispatches for RaggedTensors takes them here too, see ops/dispatch.py)
        value = dispatching(name, value) if callable(value) else value
        setattr(sys.modules[namespace], name, value)
        return value

    def __dir__():  # noqa: N807
        return sorted(set(vars(sys.modules[namespace])) | set(sources))

    return __getattr__, __dir__
