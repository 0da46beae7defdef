"""tf.profiler.experimental: records what a program runs, for TensorBoard's Profile tab.

While a session is on (start/stop, or the Profile context), every compiled run (a
tf.function call, a Keras step) times each of its kernels, every eager op times itself, and
each Trace context marks a span; stop() writes them where TensorBoard's profile plugin looks,
`<logdir>/plugins/profile/<YYYY_MM_DD_HH_MM_SS>/<host>.xplane.pb`, as TensorFlow does, with
the same events also as `<host>.trace.json.gz` in the Chrome trace format (Perfetto,
chrome://tracing). Each thread is a line; an op's event is named "<node name>:<op type>" with
TensorFlow's op type names. Kernels a compiled run hands to the backend's worker threads are
timed as a whole, on the calling thread; a Numba-compiled step (jit_compile) is one event.
With ProfilerOptions(python_tracer_level=1) every Python call is an event too
(tensorflux.profiler.python_tracer).

The file is laid out as TensorFlow's, so that its converter (TensorBoard's Profile tab) finds
the steps: each line lists its events by start, an event before those it holds, and times
count from the profile's start. A Trace named "TraceContext" (Keras's profile_batch) or one
with `_r=1` marks a step: the overview page shows each step's time, and its kernels' time
as the step's compute.

>>> import os, tempfile, tensorflux as tf
>>> logdir = tempfile.mkdtemp()
>>> step = tf.function(lambda x: tf.nn.relu(x @ x))
>>> with tf.profiler.experimental.Profile(logdir):
...     with tf.profiler.experimental.Trace("train", step_num=0, _r=1):
...         _ = step(tf.ones((4, 4)))
>>> run, = os.listdir(os.path.join(logdir, "plugins", "profile"))
>>> sorted(name.split(".", 1)[1] for name in
...        os.listdir(os.path.join(logdir, "plugins", "profile", run)))
['trace.json.gz', 'xplane.pb']

There is no profiler server: server.start and client.trace/monitor (remote capture) raise.
"""

import collections
import os
import time

from tensorflux import errors
from tensorflux.profiler import recorder

__all__ = ["Profile", "ProfilerOptions", "Trace", "client", "server", "start", "stop"]

ProfilerOptions = collections.namedtuple(
    "ProfilerOptions", ["host_tracer_level", "python_tracer_level", "device_tracer_level",
                        "delay_ms"])
ProfilerOptions.__new__.__defaults__ = (2, 0, 1, None)
ProfilerOptions.__doc__ = (
    "Options of a profiling session, as TensorFlow's: python_tracer_level=1 records every "
    "Python call (tensorflux.profiler.python_tracer); the other levels are accepted, and "
    "tensorflux records one level of host detail.")


def start(logdir, options=None):
    """Starts profiling; the events go under `logdir` at stop()."""
    if not isinstance(logdir, (str, os.PathLike)):
        raise TypeError(f"tf.profiler.experimental.start: logdir must be a path (str or "
                        f"os.PathLike), but got {type(logdir).__name__}: {logdir!r}")
    if options is not None and not isinstance(options, ProfilerOptions):
        raise TypeError(f"tf.profiler.experimental.start: options must be a "
                        f"tf.profiler.experimental.ProfilerOptions, but got "
                        f"{type(options).__name__}")
    if recorder.state.session is not None:
        raise errors.AlreadyExistsError("Another profiler is running.")
    session = recorder.Session(os.fspath(logdir), options)
    _eager_ops_timed(True)
    recorder.state.session = session
    if options is not None and options.python_tracer_level:
        from tensorflux.profiler import python_tracer

        python_tracer.start(session)


def stop(save=True):
    """Stops profiling, writing what was recorded where `save` (the default)."""
    session = recorder.state.session
    if session is None:
        raise errors.UnavailableError(
            "Cannot export profiling results. No profiler is running.")
    recorder.state.session = None
    if session.options is not None and session.options.python_tracer_level:
        from tensorflux.profiler import python_tracer

        python_tracer.stop()
    _eager_ops_timed(False)
    session.stop_wall_ns = time.time_ns()
    if save:
        _save(session)


class Profile:
    """A context that profiles its body (start on entry, stop on exit)."""

    def __init__(self, logdir, options=None):
        self._logdir, self._options = logdir, options

    def __enter__(self):
        start(self._logdir, self._options)
        return self

    def __exit__(self, *exc):
        stop()
        return False


class Trace:
    """A context marking a span of the program in the profile, named `name`; its keyword
    arguments become the event's stats (TensorFlow's `step_num` and `_r=1` mark a training
    step). Costs nothing while no profiler is on."""

    __slots__ = ("_name", "_stats", "_start")

    def __init__(self, name, **kwargs):
        self._name, self._stats, self._start = name, kwargs, None

    def __enter__(self):
        if recorder.state.session is not None:
            self._start = time.perf_counter_ns()
        return self

    def __exit__(self, *exc):
        if self._start is not None:
            recorder.record(self._name, "", self._start, time.perf_counter_ns(),
                            dict(self._stats) or None)
            self._start = None
        return False


class _Unsupported:
    def __init__(self, name, functions):
        self._name, self._functions = name, functions

    def __getattr__(self, attr):
        if attr not in self._functions:
            raise AttributeError(f"module 'tf.profiler.experimental.{self._name}' has no "
                                 f"attribute {attr!r}")

        def unsupported(*args, **kwargs):
            raise errors.UnimplementedError(
                f"tf.profiler.experimental.{self._name}.{attr}: tensorflux has no profiler "
                "server for remote capture; profile in the process with "
                "tf.profiler.experimental.start/stop or Profile(logdir).")
        return unsupported

    def __dir__(self):
        return list(self._functions)


server = _Unsupported("server", ("start",))
client = _Unsupported("client", ("trace", "monitor"))


# ------------------------------------------------------------------ eager ops

_bind = []  # Primitive.bind as it was, while eager ops are timed


def _eager_ops_timed(on):
    """Puts a timing Primitive.bind in place (on) or takes it away. While it is in place the
    hottest ops' eager fast paths, which skip bind, are off: each primitive forgets its
    bound backend after a call, so the next one goes through bind again."""
    from tensorflux import primitive
    from tensorflux.graph.graphdef import op_type_of_primitive

    if not on:
        if _bind:
            primitive.Primitive.bind = _bind.pop()
        return
    original = primitive.Primitive.bind
    _bind.append(original)
    context = primitive.context
    clock = time.perf_counter_ns
    unbound = primitive._UNBOUND
    names = {}

    def bind(self, *inputs, **attrs):
        session = recorder.state.session
        if session is None or context.graph is not None:  # (tracing records no time)
            return original(self, *inputs, **attrs)
        start_ns = clock()
        try:
            return original(self, *inputs, **attrs)
        finally:
            end_ns = clock()
            self._backend = unbound
            found = names.get(self.name)
            if found is None:
                kind = op_type_of_primitive(self.name)
                found = names[self.name] = (f"{self.name}:{kind}", kind)
            session.add(found[0], found[1], start_ns, end_ns, _EAGER)
    for prim in list(primitive.registry.values()):
        prim._backend = unbound
    primitive.Primitive.bind = bind


_EAGER = {"is_eager": 1}  # (TensorFlow's stat for an op run eagerly)


# ------------------------------------------------------------------ files

def _save(session):
    import gzip
    import json
    import socket

    from tensorflux.io.atomic import atomic_write
    from tensorflux.proto.xplane_pb import encode_xspace

    host = socket.gethostname() or "localhost"
    run = time.strftime("%Y_%m_%d_%H_%M_%S", time.localtime(session.start_wall_ns / 1e9))
    folder = os.path.join(session.logdir, "plugins", "profile", run)
    os.makedirs(folder, exist_ok=True)
    data = encode_xspace(_xspace(session, host))
    atomic_write(os.path.join(folder, f"{host}.xplane.pb"), lambda f: f.write(data))
    trace = gzip.compress(json.dumps(_chrome_trace(session)).encode("utf-8"), mtime=0)
    atomic_write(os.path.join(folder, f"{host}.trace.json.gz"), lambda f: f.write(trace))


def _xspace(session, host):
    """The session as an XSpace dict (tensorflux.proto.xplane_pb): a "/host:CPU" plane with a
    line per thread, and a "Task Environment" plane with the start and stop times and the
    session's options, as TensorFlow writes them."""
    from tensorflux.proto.xplane_pb import encode_profile_options, stat

    event_ids, stat_ids = {}, {}
    event_metadata, stat_metadata = {}, {}

    def stat_id(name):
        found = stat_ids.get(name)
        if found is None:
            found = stat_ids[name] = len(stat_ids) + 1
            stat_metadata[found] = {"id": found, "name": name}
        return found

    lines = []
    for tid, (thread_name, events) in session.lines.items():
        xevents = []
        # By start, an event before those it holds: TensorFlow's step grouping (the
        # converter's EventForest) nests each event under the nearest earlier one on its line
        # that covers it, so a step's kernels join the step only in this order.
        for name, display, start_ns, end_ns, stats in sorted(
                list(events), key=lambda e: (e[2], -e[3])):
            key = (name, display)
            metadata_id = event_ids.get(key)
            if metadata_id is None:
                metadata_id = event_ids[key] = len(event_ids) + 1
                event_metadata[metadata_id] = {"id": metadata_id, "name": name,
                                               "display_name": display}
            xevent = {"metadata_id": metadata_id,
                      "offset_ps": (start_ns - session.start_ns) * 1000,
                      "duration_ps": (end_ns - start_ns) * 1000}
            if stats:
                xevent["stats"] = [stat(stat_id(k), v) for k, v in stats.items()]
            xevents.append(xevent)
        # (times from the profile's start, as TensorFlow writes them; the start itself, since
        # the epoch, is the "Task Environment" plane's profile_start_time)
        lines.append({"id": tid, "display_id": tid, "name": thread_name,
                      "display_name": thread_name, "timestamp_ns": 0, "events": xevents})
    host_plane = {"id": 0, "name": "/host:CPU", "lines": lines,
                  "event_metadata": event_metadata, "stat_metadata": stat_metadata}
    options = session.options or ProfilerOptions()
    profile_options = encode_profile_options({
        "version": 1, "host_tracer_level": options.host_tracer_level,
        "device_tracer_level": options.device_tracer_level,
        "python_tracer_level": options.python_tracer_level,
        "repository_path": session.logdir})
    environment = {"id": 1, "name": "Task Environment",
                   "stat_metadata": {1: {"id": 1, "name": "profile_start_time"},
                                     2: {"id": 2, "name": "profile_stop_time"},
                                     3: {"id": 3, "name": "profile_options"}},
                   "stats": [{"metadata_id": 1, "uint64_value": session.start_wall_ns},
                             {"metadata_id": 2, "uint64_value": session.stop_wall_ns},
                             {"metadata_id": 3, "bytes_value": profile_options}]}
    return {"planes": [host_plane, environment], "hostnames": [host]}


def _chrome_trace(session):
    """The session in the Chrome trace event format: complete ("X") events in microseconds
    from the session's start, a thread_name record per line."""
    pid = os.getpid()
    events = [{"ph": "M", "name": "process_name", "pid": pid, "args": {"name": "/host:CPU"}}]
    for tid, (thread_name, recorded) in session.lines.items():
        events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid,
                       "args": {"name": thread_name}})
        for name, _, start_ns, end_ns, stats in list(recorded):
            event = {"ph": "X", "name": name, "pid": pid, "tid": tid,
                     "ts": (start_ns - session.start_ns) / 1000.0,
                     "dur": (end_ns - start_ns) / 1000.0}
            if stats:
                event["args"] = dict(stats)
            events.append(event)
    return {"displayTimeUnit": "ns", "traceEvents": events}
