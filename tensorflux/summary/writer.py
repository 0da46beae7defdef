"""Summary writers (tf.summary.create_file_writer) and the thread's default writer and step.

A writer owns one event file, `events.out.tfevents.<time>.<host>.<pid>.<n><suffix>`, named as
TensorFlow 2 names it. Its first record is the `file_version` Event. Later records are
queued and written with one `os.write` of whole framed records to a file opened for
appending, when the queue holds `max_queue` records, when `flush_millis` have passed since
the first unflushed one, on `flush()`, on leaving `as_default()`, on `close()` and at exit.
A crash while writing can therefore only cut the last record short, and TensorBoard reads
every record before it.

As in TensorFlow, the default writer, the default step and the recording condition are
per thread.

>>> import tempfile, tensorflux as tf
>>> writer = tf.summary.create_file_writer(tempfile.mkdtemp())
>>> with writer.as_default(step=3):
...     tf.summary.scalar("loss", 0.5)
True
>>> tf.summary.scalar("loss", 0.5, step=4)  # no default writer: nothing is written
False
>>> writer.close()
"""

import atexit
import contextlib
import itertools
import operator
import os
import socket
import threading
import time
import weakref

from tensorflux.summary.event_pb import encode_event
from tensorflux.summary.record import encode_record

__all__ = ["SummaryWriter", "create_file_writer", "create_noop_writer", "flush", "get_step",
           "record_if", "set_step", "should_record_summaries"]

_FILE_VERSION = "brain.Event:2"
_writer_ids = itertools.count()
_open_writers = weakref.WeakSet()


class _State(threading.local):
    def __init__(self):
        self.writer = None
        self.step = None
        self.is_recording = True


_state = _State()


class SummaryWriter:
    """Writes summaries to an event file in `logdir` (create it with create_file_writer)."""

    def __init__(self, logdir, max_queue=None, flush_millis=None, filename_suffix=None):
        self._logdir = os.fspath(logdir)
        self._max_queue = 10 if max_queue is None else int(max_queue)
        self._flush_seconds = (120000 if flush_millis is None else flush_millis) / 1000.0
        suffix = ".v2" if filename_suffix is None else str(filename_suffix)
        os.makedirs(self._logdir, exist_ok=True)
        name = (f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}."
                f"{os.getpid()}.{next(_writer_ids)}{suffix}")
        self._path = os.path.join(self._logdir, name)
        self._lock = threading.RLock()
        self._queue = []
        self._timer = None
        self._closed = False
        self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._write_records([encode_record(encode_event(
            {"wall_time": time.time(), "file_version": _FILE_VERSION}))])
        _open_writers.add(self)

    @property
    def logdir(self):
        return self._logdir

    @property
    def path(self):
        """The event file this writer appends to."""
        return self._path

    @property
    def closed(self):
        return self._closed

    def set_as_default(self, step=None):
        """Makes this the thread's default writer (and `step`, when given, its step)."""
        self._check_open()
        _state.writer = self
        if step is not None:
            _state.step = step

    @contextlib.contextmanager
    def as_default(self, step=None):
        """A context in which this is the default writer (and `step`, when given, the default
        step); the writer is flushed on leaving it, and the previous ones restored."""
        self._check_open()
        old_writer, old_step = _state.writer, _state.step
        try:
            _state.writer = self
            if step is not None:
                _state.step = step
            yield self
            self.flush()
        finally:
            _state.writer, _state.step = old_writer, old_step

    def init(self):
        """Kept for TensorFlow compatibility: the writer is ready once created."""

    def add_event(self, event):
        """Queues one Event (a dict, see tensorflux.summary.event_pb, or its serialized
        bytes) for writing."""
        record = encode_record(event if isinstance(event, bytes) else encode_event(event))
        with self._lock:
            self._check_open()
            self._queue.append(record)
            if len(self._queue) >= self._max_queue:
                self._flush_locked()
            elif self._timer is None and self._flush_seconds > 0:
                self._timer = threading.Timer(self._flush_seconds, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self):
        """Writes the queued events to the file."""
        with self._lock:
            if not self._closed:
                self._flush_locked()

    def close(self):
        """Flushes and closes the event file; later writes raise. Closing twice is allowed."""
        with self._lock:
            if self._closed:
                return
            try:
                self._flush_locked()
            finally:
                self._closed = True
                os.close(self._fd)
                _open_writers.discard(self)

    def _flush_locked(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._queue:
            records, self._queue = self._queue, []
            self._write_records(records)

    def _write_records(self, records):
        data = memoryview(b"".join(records))
        while data:  # os.write may write less than asked (signals, full disks)
            written = os.write(self._fd, data)
            data = data[written:]

    def _check_open(self):
        if self._closed:
            raise RuntimeError(f"SummaryWriter for {self._logdir!r} is already closed")

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __del__(self):
        if not getattr(self, "_closed", True):
            with contextlib.suppress(Exception):
                self.close()

    def __repr__(self):
        return f"<SummaryWriter {self._path!r}{' (closed)' if self._closed else ''}>"


class _NoopWriter:
    """A writer that writes nothing (tf.summary.create_noop_writer). As in TensorFlow, making
    it the default changes nothing: the default writer and step stay as they were, so
    summaries under it go to an enclosing writer if there is one, else nowhere."""

    def set_as_default(self, step=None):
        pass

    @contextlib.contextmanager
    def as_default(self, step=None):
        yield

    def init(self):
        pass

    def add_event(self, event):
        pass

    def flush(self):
        pass

    def close(self):
        pass


def create_file_writer(logdir, max_queue=None, flush_millis=None, filename_suffix=None,
                       name=None, experimental_trackable=False, experimental_mesh=None):
    """A SummaryWriter for `logdir` (created if missing). `max_queue` (default 10) events
    are buffered at most; `flush_millis` (default 120000) bounds how long one waits."""
    return SummaryWriter(logdir, max_queue, flush_millis, filename_suffix)


def create_noop_writer():
    """A writer whose summaries go nowhere."""
    return _NoopWriter()


def flush(writer=None, name=None):
    """Flushes `writer`, or the default writer when None."""
    writer = _state.writer if writer is None else writer
    if writer is not None:
        writer.flush()


def set_step(step):
    """Sets the default step (an int, or a Variable/tensor read when a summary is written)
    for this thread (tf.summary.experimental.set_step)."""
    _state.step = step


def get_step():
    """The default step of this thread, or None."""
    return _state.step


@contextlib.contextmanager
def record_if(condition):
    """A context in which summaries are written only while `condition` (a bool, or a callable
    returning one, evaluated at each summary) holds."""
    old = _state.is_recording
    try:
        _state.is_recording = condition
        yield
    finally:
        _state.is_recording = old


def recording_condition():
    """The record_if condition in force (a bool, a callable or a tensor)."""
    return _state.is_recording


@contextlib.contextmanager
def writing_to(writer, recording=True):
    """A context in which `writer` is the default and recording is `recording`, without the
    flush on exit that as_default does (for summaries traced into a tf.function)."""
    old = _state.writer, _state.is_recording
    try:
        _state.writer, _state.is_recording = writer, recording
        yield
    finally:
        _state.writer, _state.is_recording = old


def should_record_summaries():
    """Whether a summary written now would be recorded: a default writer exists and the
    record_if condition holds."""
    if _state.writer is None:
        return False
    condition = _state.is_recording
    return bool(condition() if callable(condition) else condition)


def current_writer():
    """The thread's default writer, or None."""
    return _state.writer


def resolve_step(step):
    """The int step of a summary: `step`, else the default step; ValueError when neither,
    TypeError for a step with a fraction."""
    if step is None:
        step = _state.step
    if step is None:
        raise ValueError("No step set. Please specify one either through the `step` argument "
                         "or through tf.summary.experimental.set_step()")
    if hasattr(step, "numpy"):
        step = step.numpy()
    try:
        return operator.index(step)
    except TypeError:
        pass
    if isinstance(step, (str, bytes)) or not float(step).is_integer():
        # TensorFlow refuses any float step; one with a fraction would be silently cut.
        raise TypeError(f"A summary step must be an integer, received {step!r}")
    return int(step)


@atexit.register
def _flush_all_at_exit():
    for writer in list(_open_writers):
        with contextlib.suppress(Exception):
            writer.flush()
