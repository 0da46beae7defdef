"""tf.summary.trace_on / trace_export / trace_off: the graphs of the tf.functions traced
while a trace is on, written for TensorBoard's graph dashboard.

TensorFlow records every function that runs during the trace; tensorflux records each
function graph traced during it (tf.function calls `record_function_graph` after tracing), so
a function must first be called after trace_on, as in TensorFlow's guide. The export is a
RunMetadata holding each graph as a `function_graphs` entry, tagged with the
"graph_run_metadata_graph" plugin as TensorFlow tags it. There is no profiler: profiler=True
with profiler_outdir also runs the profiler (tf.profiler.experimental) from trace_on to
trace_export, which writes the profile there.

>>> import tempfile, tensorflux as tf
>>> tf.summary.trace_on(graph=True)
>>> double = tf.function(lambda x: x * 2.0)
>>> _ = double(tf.constant(1.0))
>>> with tf.summary.create_file_writer(tempfile.mkdtemp()).as_default():
...     tf.summary.trace_export("double", step=0)
"""

import threading
import warnings

import numpy as np

from tensorflux.proto.wire import encode
from tensorflux.summary import summary_ops
from tensorflux.summary.event_pb import RUN_METADATA

__all__ = ["record_function_graph", "trace_export", "trace_off", "trace_on"]

_lock = threading.Lock()
_trace = None  # {"graph": bool, "graphs": [...]} while a trace is on


def _inside_function():
    from tensorflux.context import context

    return context.graph is not None


def trace_on(graph=True, profiler=False, profiler_outdir=None):
    """Starts recording the graphs of the tf.functions traced from now on (process-wide),
    and with profiler=True the profiler, whose profile goes to `profiler_outdir`."""
    global _trace
    if _inside_function():
        warnings.warn("Cannot enable trace inside a tf.function.", stacklevel=2)
        return
    with _lock:
        if _trace is not None:
            warnings.warn("Trace already enabled", stacklevel=2)
            return
        if profiler and profiler_outdir is None:
            warnings.warn("No `profiler_outdir` passed to trace_on(). Profiler won't be "
                          "enabled.", stacklevel=2)
            profiler = False
        if profiler:
            from tensorflux.profiler import experimental

            experimental.start(profiler_outdir)
        _trace = {"graph": bool(graph or profiler), "graphs": [], "profiler": bool(profiler)}


def record_function_graph(concrete_function):
    """Called by tf.function with each newly traced ConcreteFunction; kept while a trace
    records graphs."""
    with _lock:
        if _trace is not None and _trace["graph"]:
            _trace["graphs"].append(concrete_function.graph)


def trace_off():
    """Stops the trace and discards what it recorded (a profile it runs is written)."""
    global _trace
    with _lock:
        trace, _trace = _trace, None
    if trace is not None and trace["profiler"]:
        from tensorflux import errors
        from tensorflux.profiler import experimental

        try:
            experimental.stop()
        except errors.OpError as error:  # (stopped by the program already)
            warnings.warn(f"Error while stopping profiler: {error}", stacklevel=2)


def trace_export(name, step=None, profiler_outdir=None):
    """Stops the trace and writes the recorded graphs under `name` (prefixed by the
    enclosing name scopes) to the default writer, if there is one."""
    if _inside_function():
        warnings.warn("Cannot export trace inside a tf.function.", stacklevel=2)
        return
    with _lock:
        trace = _trace
    if trace is None:
        raise ValueError("Must enable trace before export through tf.summary.trace_on.")
    graphs = trace["graphs"]
    if trace["profiler"] and profiler_outdir:
        warnings.warn("Ignoring `profiler_outdir` passed to trace_export(). Please pass it to "
                      "trace_on() instead.", stacklevel=2)
    if trace["graph"] and not graphs and not trace["profiler"]:
        warnings.warn(f"tf.summary.trace_export({name!r}): no tf.function was traced since "
                      "trace_on, so the exported trace holds no graph (tensorflux records "
                      "a function when it is traced: call it for the first time after "
                      "trace_on).", stacklevel=2)
    run_metadata = encode(RUN_METADATA, {"function_graphs": [
        {"pre_optimization_graph": summary_ops._graph_def_bytes(g)} for g in graphs]})
    metadata = {"plugin_data": {"plugin_name": "graph_run_metadata_graph", "content": b"1"}}
    with summary_ops.summary_scope(name, "graph_run_metadata_graph_summary") as (tag, _):
        summary_ops.write(tag, np.array(run_metadata, dtype=object), step=step,
                          metadata=metadata)
    trace_off()
