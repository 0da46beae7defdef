"""tf.compat.v1: the TF1 names that TF2 scripts still call in their preamble.

Verbosity (`logging`), session configuration (`ConfigProto`, whose settings are accepted and
have no effect: tensorflux allocates no GPU memory up front and places ops as tf.device says),
`set_random_seed` and `enable_eager_execution` work as in TF2. The TF1 execution model
(sessions running graphs built from placeholders) is not tensorflux's: `Session` can be
created, as TF2 allows, but running one, `placeholder` and `disable_eager_execution` raise
errors that say what TF2 code does instead.

>>> import logging, tensorflux as tf
>>> tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)
>>> tf.compat.v1.logging.get_verbosity()
40
>>> tf.compat.v1.logging.set_verbosity(logging.NOTSET)  # (back to the root logger's level)
"""

import copy as _copy
import logging as _logging
import sys as _sys
import types as _types

__all__ = ["logging", "ConfigProto", "GPUOptions", "GraphOptions", "OptimizerOptions",
           "Session", "InteractiveSession", "disable_eager_execution",
           "enable_eager_execution", "disable_v2_behavior", "enable_v2_behavior",
           "executing_eagerly", "set_random_seed", "placeholder", "reset_default_graph"]

_TF2_ADVICE = ("tensorflux runs TensorFlow 2 programs: ops execute eagerly, and "
               "@tf.function compiles a Python function into a graph. Compute values "
               "directly (`x.numpy()` for `sess.run(x)`), pass inputs as function arguments "
               "instead of placeholders, and decorate the step with @tf.function for speed.")


# ------------------------------------------------------------------ logging

def _logger():
    """TF's logger (tf.get_logger()); as TF does, it gets a stderr handler printing
    'LEVEL:name:message' when neither it nor the root logger has one."""
    logger = _logging.getLogger("tensorflux")
    if not logger.handlers and not _logging.getLogger().handlers:
        handler = _logging.StreamHandler(_sys.stderr)
        handler.setFormatter(_logging.Formatter(_logging.BASIC_FORMAT))
        logger.addHandler(handler)
    return logger


def _set_verbosity(v):
    """Sets the threshold of the messages shown: DEBUG, INFO, WARN, ERROR or FATAL (or
    logging's names and numbers)."""
    _logger().setLevel(v)


def _get_verbosity():
    return _logger().getEffectiveLevel()


def _log(level, msg, *args, **kwargs):
    _logger().log(level, msg, *args, **kwargs)


def _log_if(level, msg, condition, *args):
    if condition:
        _log(level, msg, *args)


_CALLS = {}


def _call_count():
    """How many times the caller's caller's line has logged through log_every_n or
    log_first_n, this call included."""
    frame = _sys._getframe(2)
    key = (frame.f_code.co_filename, frame.f_lineno)
    _CALLS[key] = _CALLS.get(key, 0) + 1
    return _CALLS[key]


def _log_every_n(level, msg, n, *args):
    """Logs on the first call from this line and then every n-th."""
    if (_call_count() - 1) % max(int(n), 1) == 0:
        _log(level, msg, *args)


def _log_first_n(level, msg, n, *args):
    """Logs on the first n calls from this line only."""
    if _call_count() <= n:
        _log(level, msg, *args)


def _flush():
    raise NotImplementedError("tf.compat.v1.logging.flush is not implemented, as in "
                              "TensorFlow; the stream handlers flush after each message")


def _task_level_status_message(msg):
    _log(_logging.ERROR, msg)


logging = _types.SimpleNamespace(
    DEBUG=_logging.DEBUG, INFO=_logging.INFO, WARN=_logging.WARN, ERROR=_logging.ERROR,
    FATAL=_logging.FATAL,
    set_verbosity=_set_verbosity, get_verbosity=_get_verbosity, log=_log, log_if=_log_if,
    log_every_n=_log_every_n, log_first_n=_log_first_n, vlog=_log, flush=_flush,
    TaskLevelStatusMessage=_task_level_status_message,
    debug=lambda msg, *args, **kwargs: _log(_logging.DEBUG, msg, *args, **kwargs),
    info=lambda msg, *args, **kwargs: _log(_logging.INFO, msg, *args, **kwargs),
    warning=lambda msg, *args, **kwargs: _log(_logging.WARNING, msg, *args, **kwargs),
    warn=lambda msg, *args, **kwargs: _log(_logging.WARNING, msg, *args, **kwargs),
    error=lambda msg, *args, **kwargs: _log(_logging.ERROR, msg, *args, **kwargs),
    fatal=lambda msg, *args, **kwargs: _log(_logging.FATAL, msg, *args, **kwargs))


# ------------------------------------------------------------------ session configuration

class _Options:
    """A protocol-buffer-like record of settings: known fields only, each checked against
    its default's type as protobuf checks it; sub-messages are created on first access and
    are not assignable; str() prints the fields that differ from their defaults in the text
    format."""

    # name: default value, or a _Options subclass for a sub-message; in field-number order,
    # the order the text format prints them in
    _FIELDS = {}
    _ENUMS = {}  # name: {number: text}

    def __init__(self, **fields):
        for name, value in fields.items():
            if name not in self._FIELDS:
                raise ValueError(f'Protocol message {type(self).__name__} has no "{name}" '
                                 f"field.")
            default = self._FIELDS[name]
            if isinstance(default, type):  # (a copy, as protobuf's constructor makes)
                getattr(self, name).__dict__.update(
                    _copy.deepcopy(_as_options(default, value).__dict__))
            elif isinstance(default, dict):
                getattr(self, name).update(value)
            elif isinstance(default, list):
                getattr(self, name).extend(value)
            else:
                setattr(self, name, value)

    def __getattr__(self, name):
        default = type(self)._FIELDS.get(name) if not name.startswith("_") else None
        if default is None:
            raise AttributeError(f'Protocol message {type(self).__name__} has no "{name}" '
                                 "field.")
        if isinstance(default, (type, dict, list)):
            value = default() if isinstance(default, type) else type(default)()
            self.__dict__[name] = value
            return value
        return default

    def __setattr__(self, name, value):
        default = self._FIELDS.get(name)
        if default is None:
            raise AttributeError(f'Protocol message {type(self).__name__} has no "{name}" '
                                 "field.")
        if isinstance(default, (type, dict, list)):
            raise AttributeError(f'Assignment not allowed to message field "{name}" in '
                                 "protocol message object.")
        if isinstance(default, int):
            if isinstance(value, (float, str, bytes)):
                raise TypeError(f"{type(value).__name__!r} object cannot be interpreted as an "
                                f"integer (field {name!r})")
            value = type(default)(value)
        elif isinstance(default, float):
            if isinstance(value, (str, bytes)):
                raise TypeError(f"must be real number, not {type(value).__name__} (field "
                                f"{name!r})")
            value = float(value)
        elif isinstance(default, str) and not isinstance(value, str):
            raise TypeError(f"expected str, {type(value).__name__} found (field {name!r})")
        self.__dict__[name] = value

    def _text(self, indent=""):
        from tensorflux.proto.message import double_text

        lines = []
        for name, default in self._FIELDS.items():
            if name not in self.__dict__:
                continue
            value = self.__dict__[name]
            if isinstance(default, type):
                inner = value._text(indent + "  ")
                if inner:
                    lines.append(f"{indent}{name} {{\n{inner}{indent}}}\n")
            elif isinstance(default, dict):
                lines += [f'{indent}{name} {{\n{indent}  key: "{k}"\n{indent}  value: {v}\n'
                          f"{indent}}}\n" for k, v in sorted(value.items())]
            elif isinstance(default, list):
                lines += [f'{indent}{name}: "{v}"\n' for v in value]
            elif value != default:
                if name in self._ENUMS:
                    text = self._ENUMS[name].get(value, value)
                elif isinstance(value, bool):
                    text = "true" if value else "false"
                elif isinstance(value, float):
                    text = double_text(value)
                elif isinstance(value, str):
                    text = f'"{value}"'
                else:
                    text = str(value)
                lines.append(f"{indent}{name}: {text}\n")
        return "".join(lines)

    def __str__(self):
        return self._text()

    __repr__ = __str__

    def __eq__(self, other):
        return type(other) is type(self) and str(other) == str(self)

    __hash__ = None


def _as_options(cls, value):
    if isinstance(value, cls):
        return value
    if isinstance(value, dict):
        return cls(**value)
    raise TypeError(f"expected a {cls.__name__} (or a dict of its fields), received "
                    f"{type(value).__name__}")


class GPUOptions(_Options):
    """tf.compat.v1.GPUOptions: recorded only (CuPy's memory pool grows as needed)."""

    _FIELDS = {"per_process_gpu_memory_fraction": 0.0, "allocator_type": "",
               "deferred_deletion_bytes": 0, "allow_growth": False, "visible_device_list": "",
               "polling_active_delay_usecs": 0, "polling_inactive_delay_msecs": 0,
               "force_gpu_compatible": False}


class OptimizerOptions(_Options):
    """tf.compat.v1.OptimizerOptions (graph optimizer and XLA JIT levels): recorded only."""

    DEFAULT, OFF, ON_1, ON_2 = 0, -1, 1, 2
    L1, L0 = 0, -1
    _FIELDS = {"do_common_subexpression_elimination": False, "do_constant_folding": False,
               "opt_level": 0, "do_function_inlining": False, "global_jit_level": 0,
               "max_folded_constant_in_bytes": 0, "cpu_global_jit": False}
    _ENUMS = {"global_jit_level": {0: "DEFAULT", -1: "OFF", 1: "ON_1", 2: "ON_2"},
              "opt_level": {0: "L1", -1: "L0"}}


class GraphOptions(_Options):
    """tf.compat.v1.GraphOptions: recorded only."""

    _FIELDS = {"enable_recv_scheduling": False, "optimizer_options": OptimizerOptions,
               "build_cost_model": 0, "infer_shapes": False, "place_pruned_graph": False,
               "enable_bfloat16_sendrecv": False, "timeline_step": 0,
               "build_cost_model_after": 0}


class ConfigProto(_Options):
    """tf.compat.v1.ConfigProto: a session's settings, accepted and recorded with no effect.
    (tf.config sets threads, device visibility and soft placement in TF2.)

    >>> import tensorflux as tf
    >>> config = tf.compat.v1.ConfigProto()
    >>> config.gpu_options.allow_growth = True
    >>> print(config, end="")
    gpu_options {
      allow_growth: true
    }
    """

    _FIELDS = {"device_count": {}, "intra_op_parallelism_threads": 0, "placement_period": 0,
               "device_filters": [], "inter_op_parallelism_threads": 0,
               "gpu_options": GPUOptions, "allow_soft_placement": False,
               "log_device_placement": False, "use_per_session_threads": False,
               "graph_options": GraphOptions, "operation_timeout_in_ms": 0,
               "isolate_session_state": False, "share_cluster_devices_in_session": False}


# ------------------------------------------------------------------ the TF1 execution model

class Session:
    """tf.compat.v1.Session. Creating one (often only to pass a ConfigProto) works, as in
    TF2; running one does not: tensorflux executes TF2 code, eagerly or in tf.function."""

    def __init__(self, target="", graph=None, config=None):
        self._config = config

    def _unsupported(self, what):
        raise NotImplementedError(f"tf.compat.v1.{type(self).__name__}.{what} runs TF1 graphs, "
                                  f"which tensorflux does not build. {_TF2_ADVICE}")

    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        self._unsupported("run")

    def partial_run(self, handle, fetches, feed_dict=None):
        self._unsupported("partial_run")

    def make_callable(self, fetches, feed_list=None, accept_options=False):
        self._unsupported("make_callable")

    def as_default(self):
        self._unsupported("as_default")

    def __enter__(self):
        self._unsupported("__enter__ (`with Session() as sess:`)")

    def __exit__(self, *exc_info):
        return False

    @property
    def graph(self):
        self._unsupported("graph")

    def close(self):
        """Nothing to release."""


class InteractiveSession(Session):
    """tf.compat.v1.InteractiveSession: as Session, creating one is harmless."""


def disable_eager_execution():
    raise NotImplementedError("tf.compat.v1.disable_eager_execution switches to TF1 graph "
                              f"mode, which tensorflux does not have. {_TF2_ADVICE}")


def disable_v2_behavior():
    raise NotImplementedError("tf.compat.v1.disable_v2_behavior switches to TF1 behavior "
                              f"(graphs and sessions), which tensorflux does not have. "
                              f"{_TF2_ADVICE}")


def enable_eager_execution(config=None, device_policy=None, execution_mode=None):
    """Nothing to do: tensorflux always executes eagerly outside tf.function."""


def enable_v2_behavior():
    """Nothing to do: tensorflux always behaves as TF2."""


def executing_eagerly():
    from tensorflux.control import executing_eagerly as eagerly

    return eagerly()


def set_random_seed(seed):
    """The TF1 name of tf.random.set_seed."""
    from tensorflux.ops.random import set_seed

    set_seed(seed)


def placeholder(dtype, shape=None, name=None):
    raise RuntimeError("tf.placeholder() is not compatible with eager execution. Make the "
                       "value an argument of a tf.function (with an input_signature of "
                       "tf.TensorSpec to fix its shape and dtype), or use keras.Input for a "
                       "model's input.")


def reset_default_graph():
    """Nothing to reset: eager code builds no default graph (as in TF2, where this only
    clears the unused TF1 graph)."""


def _train_module():
    """tf.compat.v1.train, holding only summary_iterator (reading event files back)."""
    from tensorflux.summary.reader import summary_iterator

    module = _types.ModuleType("tensorflux.compat.v1.train", _train_module.__doc__)
    module.summary_iterator = summary_iterator

    def missing(name):
        optimizer = ""
        if name.endswith("Optimizer") and name != "Optimizer":
            keras_name = {"GradientDescent": "SGD", "Momentum": "SGD(momentum=...)"}.get(
                name[:-len("Optimizer")], name[:-len("Optimizer")])
            optimizer = f": use tf.keras.optimizers.{keras_name}"
        raise AttributeError(f"module 'tensorflux.compat.v1.train' has no attribute {name!r} "
                             "(tensorflux provides only summary_iterator here; TF2's tf.train "
                             f"and tf.keras.optimizers hold the rest){optimizer}")

    module.__getattr__ = missing
    return module


# The event-file messages of tf.compat.v1 (tensorflow.core.util.event_pb2 and summary_pb2).
_EVENT_MESSAGES = ("Event", "Summary", "SummaryMetadata", "HistogramProto")
# The graph messages of tf.compat.v1 (what concrete_function.graph.as_graph_def() returns).
_GRAPH_MESSAGES = ("GraphDef", "NodeDef", "AttrValue", "NameAttrList")


def __getattr__(name):
    if name == "keras":
        return _sys.modules["tensorflux"].keras
    if name == "train":
        globals()["train"] = _train_module()
        return globals()["train"]
    if name in _EVENT_MESSAGES:
        from tensorflux.summary import event_pb

        return getattr(event_pb, name)
    if name in _GRAPH_MESSAGES:
        from tensorflux.graph import graphdef

        return getattr(graphdef, name)
    hint = _V1_HINTS.get(name)
    raise AttributeError(f"module 'tensorflux.compat.v1' has no attribute {name!r} "
                         "(tensorflux provides TF2's API and only the preamble subset of "
                         "tf.compat.v1)" + (f": {hint}" if hint else ""))


# TF1 names common in Keras 2 era scripts: the TF2 code that replaces them, for the
# AttributeError.
_V1_HINTS = {
    "get_default_graph": "TF2 code runs eagerly, so there is no graph to keep; drop "
                         "`graph = get_default_graph()` and `with graph.as_default():` (a "
                         "model can predict from any thread, a web server's included)",
    "global_variables_initializer": "variables are initialized when they are created; "
                                    "remove the call",
    "local_variables_initializer": "variables are initialized when they are created; "
                                   "remove the call",
    "get_variable": "create a tf.Variable(initial_value, name=...), or use a Keras layer",
    "variable_scope": "use tf.name_scope for names, and keep variables in Keras layers or "
                      "tf.Module objects instead of looking them up by scope",
    "layers": "use tf.keras.layers (tf.compat.v1.layers.dense is keras.layers.Dense)",
    "random_normal": "use tf.random.normal",
    "random_uniform": "use tf.random.uniform",
    "truncated_normal": "use tf.random.truncated_normal",
    "to_float": "use tf.cast(x, tf.float32)",
    "to_int32": "use tf.cast(x, tf.int32)",
    "log": "use tf.math.log",
}
for _name in ("get_session", "set_session"):
    _V1_HINTS[_name] = ("TF2 has no sessions: ops run eagerly (or in tf.function); remove "
                        "the session code")
