"""Process-wide execution state: the active backend, the recording tapes, the graph being traced."""

import threading

__all__ = ["context", "device"]


class _Context(threading.local):
    """What `Primitive.bind` reads on every call; kept to plain attributes for speed.

    It is thread-local, as TensorFlow's eager context is: a tape or trace started in one
    thread does not record another thread's ops.
    """

    def __init__(self):
        self.backend = None  # set lazily by backends.default_backend()
        self.tapes = []  # active GradientTapes, innermost last
        self.graph = None  # the Graph being traced, or None when eager
        self.device_stack = []
        self.name_scope = ""  # tf.name_scope's full scope ("outer/inner/"); Variables' prefix
        # While a Keras layer's call is traced, its path ("model/dense/"): the prefix of the
        # graph nodes it adds, as TF names them, so that an error when the graph runs names
        # the layer ("sequential/embedding/gather: indices[1,2] = 12 is not in [0, 10)").
        self.layer_scope = ""

    # `eager_backend` is `backend` while no graph is being traced, else None: with `not
    # context.tapes`, all the ops' eager fast paths read (a thread-local lookup costs about
    # a tenth of a small op). Only assignments change graph and backend, so this keeps it
    # current.
    def __setattr__(self, name, value):
        _set(self, name, value)
        if name == "graph" or name == "backend":
            try:
                backend = self.backend if self.graph is None else None
            except AttributeError:  # in __init__, before both are set
                return
            _set(self, "eager_backend", backend)


_set = threading.local.__setattr__


context = _Context()


def current_backend():
    backend = context.backend
    if backend is None:
        from tensorflux.backends import default_backend

        backend = context.backend = default_backend()
    return backend


class device:  # noqa: N801 - TensorFlow's public name
    """`with tf.device("GPU:0"):` runs the ops inside on that device's backend.

    As in TensorFlow 2, placement is soft by default: a device that is not here (a GPU on a
    machine without one, a TPU) runs the ops on the CPU; tf.config.set_soft_device_placement
    (False) makes that an InvalidArgumentError. None or "" names no device.

    >>> import tensorflux as tf
    >>> with tf.device("CPU:0"):
    ...     tf.constant(1.0).device.endswith("CPU:0")
    True
    """

    def __init__(self, device_name):
        if callable(device_name):
            raise RuntimeError("tf.device does not support functions when eager execution "
                               "is enabled.")
        # A tf.config.LogicalDevice (or PhysicalDevice) stands for its name.
        name = getattr(device_name, "name", device_name)
        self.device_name = name if name is None or isinstance(name, str) else str(name)

    def __enter__(self):
        from tensorflux.backends import placement

        backend = placement(self.device_name)
        context.device_stack.append(current_backend())
        if backend is not None:
            context.backend = backend
        return self

    def __exit__(self, *exc_info):
        context.backend = context.device_stack.pop()
        return False
