"""Background work of the input pipeline: prefetch threads and the parallel-map worker pool.

Every thread is a daemon, every queue is bounded, an exception raised in a worker is handed
to the consumer (the same object, its traceback intact) and closing an iterator stops its
threads: a pipeline can fail, but it cannot hang the program.
"""

import collections
import queue
import threading

__all__ = ["WorkerPool", "active_options", "prefetch_iterator"]

_POLL_SECONDS = 0.05

# The tf.data.Options of the pipeline being read in this thread: set by the Iterator around
# each element, and handed on to the prefetch threads that pipeline starts.
ACTIVE = threading.local()


def active_options():
    """The Options of the pipeline whose element this thread is making, or None."""
    return getattr(ACTIVE, "options", None)


class _End:
    pass


class _Failure:
    def __init__(self, error):
        self.error = error


def _put(channel, item, stop):
    """Puts unless `stop` is set first; returns whether the item went in."""
    while not stop.is_set():
        try:
            channel.put(item, timeout=_POLL_SECONDS)
            return True
        except queue.Full:
            continue
    return False


def _produce(make_iterator, channel, stop, options):
    ACTIVE.options = options
    iterator = None
    try:
        iterator = make_iterator()
        for item in iterator:
            if not _put(channel, item, stop):
                return
        _put(channel, _End, stop)
    except BaseException as error:  # noqa: B036 - handed to the consumer, which re-raises it
        _put(channel, _Failure(error), stop)
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


class prefetch_iterator:  # noqa: N801 - used like a generator function
    """Runs `make_iterator()` in a background thread, at most `buffer_size` items ahead.

    The thread starts at once; `next` re-raises a producer's exception in the consumer;
    `close()` (or garbage collection) stops the producer.
    """

    def __init__(self, make_iterator, buffer_size, name="tensorflux-prefetch"):
        self._channel = queue.Queue(maxsize=max(1, int(buffer_size)))
        self._stop = threading.Event()
        self._finished = False
        thread = threading.Thread(target=_produce, args=(make_iterator, self._channel,
                                                         self._stop, active_options()),
                                  name=name, daemon=True)
        thread.start()

    def __iter__(self):
        return self

    def __next__(self):
        if self._finished:
            raise StopIteration
        item = self._channel.get()
        if item is _End:
            self.close()
            raise StopIteration
        if isinstance(item, _Failure):
            self.close()
            raise item.error
        return item

    def close(self):
        self._finished = True
        self._stop.set()
        _drain(self._channel)

    def __del__(self):
        self.close()


def _drain(channel):
    # A producer blocked on a full queue notices `stop` within one poll; draining frees the
    # buffered elements now rather than when the thread exits.
    try:
        while True:
            channel.get_nowait()
    except queue.Empty:
        pass


class _Future:
    __slots__ = ("_done", "_result", "_error", "_notify")

    def __init__(self, notify=None):
        self._done = threading.Event()
        self._result = None
        self._error = None
        self._notify = notify

    def set(self, result, error):
        self._result, self._error = result, error
        self._done.set()
        if self._notify is not None:
            self._notify.put(self)

    def result(self):
        self._done.wait()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return self._result


class WorkerPool:
    """A fixed set of daemon threads running submitted calls; `submit` returns a future."""

    def __init__(self, num_threads, name="tensorflux-map"):
        self._tasks = queue.Queue()
        self._threads = []
        for i in range(max(1, int(num_threads))):
            thread = threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _work(self):
        while True:
            task = self._tasks.get()
            if task is None:
                return
            future, fn, args = task
            try:
                result = fn(*args)
            except BaseException as error:  # noqa: B036 - re-raised by future.result()
                future.set(None, error)
            else:
                future.set(result, None)
            del task, future, args

    def submit(self, fn, *args, notify=None):
        future = _Future(notify)
        self._tasks.put((future, fn, args))
        return future

    def shutdown(self):
        # Pending tasks are dropped; running ones finish in their daemon threads.
        try:
            while True:
                self._tasks.get_nowait()
        except queue.Empty:
            pass
        for _ in self._threads:
            self._tasks.put(None)


def parallel_map_iterator(iterator, fn, num_threads, deterministic=True, in_flight=None):
    """Yields fn(item) for each item of `iterator`, computed by `num_threads` threads with at
    most `in_flight` calls outstanding; in input order when `deterministic`."""
    in_flight = max(1, int(in_flight or num_threads))
    pool = WorkerPool(num_threads)
    pending = collections.deque()
    finished = None if deterministic else queue.Queue()
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) < in_flight:
                try:
                    item = next(iterator)
                except StopIteration:
                    exhausted = True
                    break
                pending.append(pool.submit(fn, item, notify=finished))
            if not pending:
                return
            if deterministic:
                future = pending.popleft()
            else:
                future = finished.get()
                pending.remove(future)
            yield future.result()
    finally:
        pool.shutdown()
        close = getattr(iterator, "close", None)
        if close is not None:
            close()
