"""The profiler's Python tracer (ProfilerOptions(python_tracer_level=1)): every Python
function call, and every call of a function written in C, as an event on its thread's line.

Events are named as TensorFlow's (and JAX's) Python tracer names them: a Python function as
"$<file name>:<first line> <function>" ("$train.py:12 step"), a C function as
"$<module> <name>" ("$builtins len"), "$<unknown> <name>" for a method of a built-in type
("$<unknown> append").

It runs through sys.setprofile, on the thread that starts the session and on threads started
while it is on (threading.setprofile; on Python 3.12 and later, every thread running at the
start too). A call already running when tracing starts and returning during it is recorded
from the session's start; one still running at stop() is recorded up to the stop. Nothing is
installed while no session with the option is on, and a thread's hook takes itself away at
its first call after the session ends. The profiler's own code is not recorded.
"""

import os
import sys
import threading
import time

from tensorflux.profiler import recorder

__all__ = ["start", "stop"]

_HERE = os.path.dirname(os.path.abspath(__file__))  # (the profiler's own files are skipped)


class _Tracer:
    """The hooks of one session: a stack of open calls for each thread."""

    def __init__(self, session):
        self.session = session
        self.threads = []  # (events list, open-call stack) of each thread hooked
        self.names = {}  # code object -> event name, or None for the profiler's own code
        self.lock = threading.Lock()
        self.previous = sys.getprofile()
        getprofile = getattr(threading, "getprofile", None)  # (Python 3.10+)
        self.previous_threading = getprofile() if getprofile is not None else None

    def name_of_code(self, code):
        name = self.names.get(code)
        if name is None and code not in self.names:
            filename = code.co_filename
            if os.path.dirname(os.path.abspath(filename)) == _HERE:
                name = None
            else:
                name = f"${os.path.basename(filename)}:{code.co_firstlineno} {code.co_name}"
            self.names[code] = name
        return name

    def hook(self):
        """A profile function for the calling thread."""
        session = self.session
        events = session.events()
        stack = []  # [name, start, frame] of the calls open on this thread
        with self.lock:
            self.threads.append((events, stack))
        clock = time.perf_counter_ns
        state = recorder.state
        name_of_code = self.name_of_code
        start_ns = session.start_ns
        append = events.append

        def profile(frame, event, arg):
            now = clock()
            if state.session is not session:  # (the session is over: leave this thread)
                sys.setprofile(None)
                return
            if event == "call":
                name = name_of_code(frame.f_code)
                if name is not None:
                    stack.append((name, now, frame))
            elif event == "return":
                if stack and stack[-1][2] is frame:
                    name, begun, _ = stack.pop()
                    append((name, "", begun, now, None))
                else:  # (a call running since before the start: recorded from the start)
                    name = name_of_code(frame.f_code)
                    if name is not None:
                        append((name, "", start_ns, now, None))
            elif event == "c_call":
                if name_of_code(frame.f_code) is None:  # (called by the profiler's code)
                    return
                module = getattr(arg, "__module__", None)
                stack.append((f"${module if isinstance(module, str) else '<unknown>'} "
                              f"{getattr(arg, '__name__', '?')}", now, arg))
            elif stack and stack[-1][2] is arg:  # c_return, c_exception
                name, begun, _ = stack.pop()
                append((name, "", begun, now, None))
        return profile

    def first_call(self, frame, event, arg):
        """threading.setprofile's hook for a new thread: puts the thread's own in place."""
        if recorder.state.session is not self.session:
            sys.setprofile(None)
            return
        profile = self.hook()
        sys.setprofile(profile)
        profile(frame, event, arg)

    def close(self):
        """Records the calls still open, up to now."""
        now = time.perf_counter_ns()
        with self.lock:
            threads = list(self.threads)
        for events, stack in threads:
            for name, begun, _ in list(stack):
                events.append((name, "", begun, now, None))
            stack.clear()


_tracer = []  # the _Tracer of the session on now, if it traces Python


def start(session):
    """Starts tracing Python calls for `session` (already recorder.state.session)."""
    tracer = _Tracer(session)
    _tracer.append(tracer)
    threading.setprofile(tracer.first_call)
    everywhere = getattr(threading, "setprofile_all_threads", None)
    if everywhere is not None:  # (Python 3.12+: threads already running too)
        everywhere(tracer.first_call)
    sys.setprofile(tracer.hook())


def stop():
    """Stops tracing (after recorder.state.session was cleared) and closes open calls."""
    if not _tracer:
        return
    tracer = _tracer.pop()
    sys.setprofile(tracer.previous)
    threading.setprofile(tracer.previous_threading)
    tracer.close()
