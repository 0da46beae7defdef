"""The profiler's recording: while a session is on, compiled runs time each kernel, eager ops
time themselves, and tf.profiler.experimental.Trace marks spans, each as an event on the
line of the thread that ran it.

Nothing here costs anything while no session is on: a compiled run tests `state.session`
once (tensorflux.graph.executor), and eager ops are timed by a `Primitive.bind` that is put
in place only for the session's duration.

An event is (name, display name, start, end, stats): times are time.perf_counter_ns()
readings, stats a dict of int, float or str values, or None. TensorFlow names an op's event
"<node name>:<op type>" with the op type as its display name, and so does tensorflux, with
TensorFlow's op type names (tensorflux.graph.graphdef.op_type).
"""

import threading
import time

__all__ = ["Session", "active", "clock", "function_call", "record", "state"]


class _State:
    """The one profiling session of the process, or None."""

    __slots__ = ("session",)

    def __init__(self):
        self.session = None


state = _State()
clock = time.perf_counter_ns  # (the clock of every event's times)
# .plan: the plan whose run the thread is in, while profiling (its event is the run's);
# .function: the tf.function whose call the thread is in (function_call)
running = threading.local()


class Session:
    """The events of one profiling session, by thread."""

    def __init__(self, logdir, options=None):
        self.logdir = logdir
        self.options = options
        # A monotonic clock for durations, anchored to the wall clock once, for the file.
        self.start_wall_ns = time.time_ns()
        self.start_ns = time.perf_counter_ns()
        self.stop_wall_ns = None
        self.lines = {}  # native thread id -> (thread name, [event, ...])
        self._lock = threading.Lock()

    def events(self):
        """The event list of the calling thread."""
        tid = threading.get_native_id()
        line = self.lines.get(tid)
        if line is None:
            with self._lock:
                line = self.lines.setdefault(tid, (threading.current_thread().name, []))
        return line[1]

    def add(self, name, display, start, end, stats=None):
        self.events().append((name, display, start, end, stats))

    def wall_ns(self, perf_ns):
        """A perf_counter_ns reading as nanoseconds since the epoch."""
        return self.start_wall_ns + (perf_ns - self.start_ns)


def active():
    """The session on now, or None."""
    return state.session


def record(name, display, start, end, stats=None):
    """Adds an event to the session on now, if any."""
    session = state.session
    if session is not None:
        session.add(name, display, start, end, stats)


def timed(kernel, name, display):
    """`kernel`, recording an event around each call while a session is on."""
    clock = time.perf_counter_ns

    def timed_kernel(*args, **kwargs):
        session = state.session
        if session is None:
            return kernel(*args, **kwargs)
        start = clock()
        try:
            return kernel(*args, **kwargs)
        finally:
            session.add(name, display, start, clock())
    timed_kernel.__wrapped__ = kernel
    return timed_kernel


def function_call(function, args, kwargs):
    """Calls the tf.function `function` (a session is on) with an event for the call, as
    TensorFlow records one: named after the function, with the stats tf_function_call
    ("traced" when this call traced it, else "notTraced"; "-xla" under jit_compile, else
    "-nonXla") and tracing_count (the function's traces so far)."""
    outer = getattr(running, "function", None)
    running.function = function
    traces = function.experimental_get_tracing_count()
    start = time.perf_counter_ns()
    try:
        return function(*args, **kwargs)
    finally:
        end = time.perf_counter_ns()
        running.function = outer
        count = function.experimental_get_tracing_count()
        mode = ("traced" if count > traces else "notTraced") + (
            "-xla" if function.jit_compile else "-nonXla")
        record(function.__name__, "", start, end,
               {"tf_function_call": mode, "tracing_count": count})
