"""tf.profiler.experimental: what a profile records (kernels of compiled runs, eager ops, Trace
spans, Keras's profile_batch), the files it writes, and that it changes nothing else.

The XPlane file is checked twice: through tensorflux's schema for its meaning, and by a raw
protobuf walk written here against the field numbers of tsl/profiler/protobuf/xplane.proto
(XSpace.planes = 1, hostnames = 4; XPlane.id = 1, name = 2, lines = 3, event_metadata = 4,
stat_metadata = 5; XLine.id = 1, name = 2, timestamp_ns = 3, events = 4; XEvent.metadata_id =
1, offset_ps = 2, duration_ps = 3, stats = 4; XEventMetadata.id = 1, name = 2, display_name =
4), so that a wrong number in the schema cannot pass. (TensorFlow 2.21's own converter,
`_pywrap_profiler_plugin.xspace_to_tools_data(..., "framework_op_stats")`, read these files
into its op table when this was written; TF is not a test dependency.)
"""

import gzip
import json
import threading
import warnings

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras, primitive
from tensorflux.proto.xplane_pb import decode_xspace

profiler = tf.profiler.experimental


@pytest.fixture(autouse=True)
def no_profiler_left_on():
    yield
    from tensorflux.profiler import recorder

    if recorder.state.session is not None:  # (a failed test must not leak its session)
        profiler.stop(save=False)


def profile_files(logdir):
    """(xplane bytes, Chrome trace dict) of the one run under logdir."""
    runs = list((logdir / "plugins" / "profile").iterdir())
    assert len(runs) == 1, runs
    (xplane,) = runs[0].glob("*.xplane.pb")
    (trace,) = runs[0].glob("*.trace.json.gz")
    assert not [p for p in runs[0].iterdir() if p.name.endswith(".tmp")]
    assert xplane.name.split(".")[0] == trace.name.split(".")[0]  # (the host name)
    return xplane.read_bytes(), json.loads(gzip.decompress(trace.read_bytes()))


def host_events(data):
    """[(name, display name, start ps, duration ps, stats dict, line name)] of the host
    plane, decoded with tensorflux's schema."""
    space = decode_xspace(data)
    (plane,) = [p for p in space["planes"] if p["name"] == "/host:CPU"]
    meta = plane.get("event_metadata", {})
    stat_names = {k: v["name"] for k, v in plane.get("stat_metadata", {}).items()}
    found = []
    for line in plane.get("lines", []):
        for event in line.get("events", []):
            m = meta[event["metadata_id"]]
            stats = {stat_names[s["metadata_id"]]: next(v for k, v in s.items()
                                                         if k != "metadata_id")
                     for s in event.get("stats", [])}
            found.append((m["name"], m.get("display_name", ""), event.get("offset_ps", 0),
                          event.get("duration_ps", 0), stats, line.get("name", "")))
    return found


def runs_and_kernels(data):
    """host_events less the events of tf.function calls (those with a tf_function_call
    stat, around a run's event when the function records its calls)."""
    return [e for e in host_events(data) if "tf_function_call" not in e[4]]


# ------------------------------------------------------------------ a raw protobuf walk

def _varint(data, pos):
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def raw_fields(data):
    """{field number: [values]} of one message: ints for varints, bytes for lengths."""
    fields, pos = {}, 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = _varint(data, pos)
        elif wire_type == 2:
            size, pos = _varint(data, pos)
            value, pos = data[pos:pos + size], pos + size
        else:
            raise AssertionError(f"unexpected wire type {wire_type} in field {number}")
        fields.setdefault(number, []).append(value)
    return fields


def test_the_file_has_xplane_protos_field_numbers(tmp_path):
    matmul = tf.function(lambda a: a @ a)
    with profiler.Profile(str(tmp_path)):
        matmul(tf.ones((3, 3)))
    data, _ = profile_files(tmp_path)
    space = raw_fields(data)
    assert space[4] and all(isinstance(h, bytes) for h in space[4])  # hostnames
    planes = [raw_fields(p) for p in space[1]]
    (host,) = [p for p in planes if p[2] == [b"/host:CPU"]]
    names = {}
    for entry in host[4]:  # event_metadata map entries: key = 1, value = 2
        entry = raw_fields(entry)
        value = raw_fields(entry[2][0])
        assert value[1] == entry[1]  # XEventMetadata.id is its key
        names[entry[1][0]] = (value[2][0].decode(), value.get(4, [b""])[0].decode())
    assert ("MatMul" in {display for _, display in names.values()})
    lines = [raw_fields(line) for line in host[3]]
    assert all(1 in line and 3 not in line for line in lines)  # (timestamp_ns 0: see below)
    events = [raw_fields(e) for line in lines for e in line[4]]
    assert events and all(e[1][0] in names and e[3][0] >= 0 for e in events)


# ------------------------------------------------------------------ what is recorded

def test_a_function_run_records_its_kernels_inside_its_span(tmp_path):
    x = tf.constant(np.arange(16, dtype=np.float32).reshape(4, 4))

    @tf.function
    def step(a):
        return tf.nn.relu(a @ a) + tf.reduce_sum(a)

    expected = step(x).numpy()
    with profiler.Profile(str(tmp_path)):
        with profiler.Trace("train", step_num=7, _r=1):
            result = step(x).numpy()
    np.testing.assert_array_equal(result, expected)
    events = runs_and_kernels(profile_files(tmp_path)[0])
    by_name = {name: (start, duration, stats) for name, _, start, duration, stats, _ in events}
    train_start, train_duration, train_stats = by_name["train"]
    assert train_stats == {"step_num": 7, "_r": 1}
    (function_name,) = [n for n, d, *_ in events if d == "" and n != "train"]
    f_start, f_duration, _ = by_name[function_name]
    assert train_start <= f_start and f_start + f_duration <= train_start + train_duration
    kernels = [(n, d, s, t) for n, d, s, t, _, _ in events if d]
    assert "MatMul" in {d for _, d, _, _ in kernels} and "Sum" in {d for _, d, _, _ in kernels}
    for name, display, start, duration in kernels:
        assert name.endswith(":" + display)
        assert f_start <= start and start + duration <= f_start + f_duration
    assert sum(t for *_, t in kernels) <= f_duration


def test_eager_ops_are_recorded_and_their_fast_paths_come_back_after(tmp_path):
    bind = primitive.Primitive.bind
    a = tf.constant([1.0, 2.0])
    with profiler.Profile(str(tmp_path)):
        for _ in range(2):  # (the second call would take add's eager fast path)
            b = a + a
        c = tf.exp(a)
    np.testing.assert_allclose(c.numpy(), np.exp([1.0, 2.0]), rtol=1e-6)
    np.testing.assert_array_equal(b.numpy(), [2.0, 4.0])
    assert primitive.Primitive.bind is bind
    events = host_events(profile_files(tmp_path)[0])
    eager = [(n, d) for n, d, _, _, stats, _ in events if stats.get("is_eager") == 1]
    assert eager.count(("add:AddV2", "AddV2")) == 2 and ("exp:Exp", "Exp") in eager
    _ = a + a
    from tensorflux.ops import math as math_ops
    assert math_ops._add._backend is not primitive._UNBOUND  # (bound again: fast path on)


def test_nothing_is_recorded_outside_a_session_and_trace_costs_no_error():
    from tensorflux.profiler import recorder

    with profiler.Trace("idle", step_num=1):
        tf.function(lambda v: v * 2.0)(tf.constant(1.0))
    assert recorder.state.session is None


def test_each_thread_is_a_line_of_its_own(tmp_path):
    double = tf.function(lambda v: v * 2.0)
    double(tf.constant([1.0]))
    with profiler.Profile(str(tmp_path)):
        worker = threading.Thread(target=lambda: double(tf.constant([1.0])), name="feeder")
        worker.start()
        worker.join()
        double(tf.constant([1.0]))
    events = host_events(profile_files(tmp_path)[0])
    lines = {line for _, display, _, _, _, line in events if display == ""}
    assert {"feeder", threading.current_thread().name} <= lines


def test_a_failing_kernel_is_reported_by_node_as_without_the_profiler(tmp_path):
    pick = tf.function(lambda v, i: tf.gather(v, i))
    v = tf.constant([1.0, 2.0])
    pick(v, tf.constant(0))
    with pytest.raises(tf.errors.InvalidArgumentError) as plain:
        pick(v, tf.constant(5))
    with profiler.Profile(str(tmp_path)):
        with pytest.raises(tf.errors.InvalidArgumentError) as profiled:
            pick(v, tf.constant(5))
    assert str(profiled.value) == str(plain.value)
    assert "gather" in str(profiled.value)


def test_a_native_step_is_one_event(tmp_path):
    pytest.importorskip("numba")
    from tensorflux.backends import numpy_native

    step = tf.function(lambda v: tf.tanh(v) * 2.0 + 1.0, jit_compile=True)
    x = tf.constant(np.linspace(-1, 1, 8, dtype=np.float32))
    with profiler.Profile(str(tmp_path / "cold")):
        step(x)  # (a native step runs on NumPy's kernels until it is hot, then compiles)
    events = runs_and_kernels(profile_files(tmp_path / "cold")[0])
    assert [d for _, d, *_ in events].count("") == 1 and "FusedElementwise" in {
        d for _, d, *_ in events}
    for _ in range(numpy_native._HOT_CALLS):
        step(x)
    expected = step(x).numpy()  # (Numba's tanh may differ from NumPy's in the last bit)
    with profiler.Profile(str(tmp_path / "hot")):
        result = step(x).numpy()
    np.testing.assert_array_equal(result, expected)
    events = runs_and_kernels(profile_files(tmp_path / "hot")[0])
    assert [d for _, d, *_ in events] == [""]  # (the run: a compiled plan has no kernels)


def test_the_chrome_trace_holds_the_same_events(tmp_path):
    double = tf.function(lambda v: v * 2.0)
    with profiler.Profile(str(tmp_path)):
        double(tf.constant([1.0, 2.0]))
    data, trace = profile_files(tmp_path)
    complete = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert sorted(e["name"] for e in complete) == sorted(n for n, *_ in host_events(data))
    assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in complete)
    named = {e["tid"] for e in trace["traceEvents"] if e["name"] == "thread_name"}
    assert {e["tid"] for e in complete} <= named


# ------------------------------------------------------------------ the API's errors

def test_start_and_stop_errors_are_tensorflows(tmp_path):
    with pytest.raises(tf.errors.UnavailableError, match="No profiler is running"):
        profiler.stop()
    profiler.start(str(tmp_path))
    with pytest.raises(tf.errors.AlreadyExistsError, match="Another profiler is running"):
        profiler.start(str(tmp_path))
    profiler.stop(save=False)
    assert not (tmp_path / "plugins").exists()
    with pytest.raises(TypeError, match="logdir must be a path.*int"):
        profiler.start(3)
    with pytest.raises(TypeError, match="ProfilerOptions.*dict"):
        profiler.start(str(tmp_path), options={"host_tracer_level": 2})
    assert profiler.ProfilerOptions() == (2, 0, 1, None)
    profiler.start(tmp_path, profiler.ProfilerOptions(host_tracer_level=3))
    profiler.stop()
    assert list((tmp_path / "plugins" / "profile").glob("*/*.xplane.pb"))
    with pytest.raises(tf.errors.UnimplementedError, match="no profiler server"):
        profiler.server.start(6009)
    with pytest.raises(tf.errors.UnimplementedError, match="no profiler server"):
        profiler.client.trace("grpc://localhost:6009", str(tmp_path), 1000)


# ------------------------------------------------------------------ Keras

def test_keras_profile_batch_records_those_batches(tmp_path):
    # Keras counts batches from 1 over the whole fit and passes each batch's index within
    # its epoch as step_num (keras/src/callbacks/tensorboard.py on_train_batch_begin): with 2
    # batches per epoch, batches 2-3 are epoch 0's batch 1 and epoch 1's batch 0.
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")
    callback = keras.callbacks.TensorBoard(str(tmp_path), profile_batch=(2, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(x, y, batch_size=4, epochs=3, verbose=0, callbacks=[callback])
    events = host_events(profile_files(tmp_path / "train")[0])
    traces = [stats for name, _, _, _, stats, _ in events if name == "TraceContext"]
    assert traces == [{"graph_type": "train", "step_num": 1},
                      {"graph_type": "train", "step_num": 0}]
    second = model.layers[1].name
    matmuls = [n for n, d, *_ in events if d == "MatMul" and f"/{second}/" in n]
    assert len(matmuls) >= 2  # (forward, and the gradient's, in each of the two steps)
    from tensorflux.profiler import recorder
    assert recorder.state.session is None


def test_keras_leaves_a_profile_the_program_runs_alone(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    profiler.start(str(tmp_path / "mine"))
    callback = keras.callbacks.TensorBoard(str(tmp_path / "tb"), profile_batch=1)
    with pytest.warns(UserWarning, match="profiler did not start.*Another profiler"):
        model.fit(np.ones((4, 3), "float32"), np.ones((4, 1), "float32"), epochs=1,
                  verbose=0, callbacks=[callback])
    profiler.stop()  # (still the program's, and still on)
    assert not (tmp_path / "tb" / "train" / "plugins").exists()
    events = host_events(profile_files(tmp_path / "mine")[0])
    assert any(d == "MatMul" for _, d, *_ in events)


# ------------------------------------------------------------------ tf.summary's trace

def test_summary_trace_with_profiler_writes_a_profile(tmp_path):
    from tensorflux.profiler import recorder

    writer = tf.summary.create_file_writer(str(tmp_path / "logs"))
    tf.summary.trace_on(graph=True, profiler=True, profiler_outdir=str(tmp_path / "prof"))
    assert recorder.state.session is not None
    square = tf.function(lambda v: v * v)
    square(tf.constant([3.0]))
    with writer.as_default():
        with pytest.warns(UserWarning, match="Ignoring `profiler_outdir`"):
            tf.summary.trace_export("square", step=0, profiler_outdir=str(tmp_path / "x"))
    writer.flush()
    assert recorder.state.session is None
    events = host_events(profile_files(tmp_path / "prof")[0])
    assert ("Mul" in {d for _, d, *_ in events})
    assert not (tmp_path / "x").exists()
    # Without a folder the profiler stays off, as TensorFlow warns; trace_off stops it.
    with pytest.warns(UserWarning, match="No `profiler_outdir`"):
        tf.summary.trace_on(profiler=True)
    assert recorder.state.session is None
    tf.summary.trace_off()
    tf.summary.trace_on(profiler=True, profiler_outdir=str(tmp_path / "off"))
    tf.summary.trace_off()
    assert recorder.state.session is None
    assert list((tmp_path / "off" / "plugins" / "profile").glob("*/*.xplane.pb"))


# ------------------------------------------------------------------ names that find the layer

def test_gradient_and_fused_nodes_keep_their_layers_name(tmp_path):
    # TF names a gradient's ops "gradient_tape/<the forward op's scope>/..."; tensorflux's
    # gradients and the nodes its passes fuse keep the layer's scope too.
    dense = keras.layers.Dense(3, activation="relu", name="scored")
    x = tf.constant(np.ones((2, 4), np.float32))
    dense(x)

    @tf.function
    def step(v):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(dense(v))
        return tape.gradient(loss, dense.kernel)

    expected = step(x).numpy()
    with profiler.Profile(str(tmp_path)):
        np.testing.assert_array_equal(step(x).numpy(), expected)
    names = [n for n, d, *_ in host_events(profile_files(tmp_path)[0]) if d]
    assert any(n.startswith("gradient_tape/scored/") and n.endswith(":MatMul") for n in names)
    assert any(n.startswith("scored/") and n.endswith(":MatMul") for n in names)
    assert all(n.startswith(("scored/", "gradient_tape/")) for n in names), names


# ------------------------------------------------------------------ what TF's converter needs

def _raw_host_lines(data):
    """[(line fields, [event fields])] of the "/host:CPU" plane, by the raw walk."""
    planes = [raw_fields(p) for p in raw_fields(data)[1]]
    (host,) = [p for p in planes if p[2] == [b"/host:CPU"]]
    return [(line, [raw_fields(e) for e in line.get(4, [])])
            for line in (raw_fields(x) for x in host[3])]


def test_each_line_lists_its_events_by_start_an_enclosing_one_first(tmp_path):
    # TF 2.21's converter (_pywrap_profiler_plugin.xspace_to_tools_data, "overview_page")
    # groups a step's events by nesting each under the nearest *earlier* event of its line
    # that covers it: written in the order they ended (kernels before their run, the run
    # before its Trace span), a Keras fit's kernels joined no step and the overview page said
    # "No step marker observed"; in this order it listed the 3 profiled steps ("train 1",
    # "train 2", "train 3"), as it does for TF's own Trace("TraceContext", graph_type="train").
    step = tf.function(lambda a: tf.nn.relu(a @ a) + 1.0)
    x = tf.ones((4, 4))
    step(x)
    with profiler.Profile(str(tmp_path)):
        for i in range(2):
            with profiler.Trace("TraceContext", graph_type="train", step_num=i):
                step(x)
    data, _ = profile_files(tmp_path)
    (line, events), = _raw_host_lines(data)
    starts = [(e.get(2, [0])[0], -e.get(3, [0])[0]) for e in events]  # (offset, -duration)
    assert starts == sorted(starts)
    names = [n for n, *_ in host_events(data)]
    first = names.index("TraceContext")
    assert names.count("TraceContext") == 2 and first == 0
    # (after a span comes its run, then the run's kernels, before the next span)
    second = names.index("TraceContext", first + 1)
    inner = names[first + 1:second]
    assert ":" not in inner[0] and any(n.endswith(":MatMul") for n in inner[1:])


def test_times_are_from_the_profiles_start_as_tensorflow_writes_them(tmp_path):
    # TF 2.21 writes each line's timestamp_ns from the profile's start (7276 ns in a
    # profile of a Keras fit, /tmp/s14/r4) and the start since the epoch as the "Task
    # Environment" plane's profile_start_time (XStat.uint64_value = 3); with epoch line times
    # its trace viewer gave the profile a zero-length span (fullTimespan [6560210000,
    # 6560210000] ms), with times from the start [0.024, 4.48] ms.
    import time

    before = time.time_ns()
    with profiler.Profile(str(tmp_path)):
        tf.function(lambda a: a * 2.0)(tf.ones((2,)))
    after = time.time_ns()
    data, _ = profile_files(tmp_path)
    for line, _ in _raw_host_lines(data):
        assert line.get(3, [0]) == [0]  # (timestamp_ns 0: left out, proto3)
    planes = [raw_fields(p) for p in raw_fields(data)[1]]
    (env,) = [p for p in planes if p[2] == [b"Task Environment"]]
    names = {}
    for entry in env[5]:  # stat_metadata map: key = 1, value = XStatMetadata (name = 2)
        entry = raw_fields(entry)
        names[entry[1][0]] = raw_fields(entry[2][0])[2][0].decode()
    stats = {names[s[1][0]]: s for s in (raw_fields(x) for x in env[6])}
    start, stop = stats["profile_start_time"][3][0], stats["profile_stop_time"][3][0]
    assert before <= start <= stop <= after
    ends = [e.get(2, [0])[0] + e.get(3, [0])[0] for _, events in _raw_host_lines(data)
            for e in events]
    assert ends and max(ends) <= (stop - start) * 1000  # (picoseconds)


def test_the_sessions_options_are_recorded_as_profile_options(tmp_path):
    # TF 2.21 (and JAX 0.x, through the same profiler) store the options as the "Task
    # Environment" stat profile_options, a ProfileOptions message: JAX with
    # host_tracer_level=2, python_tracer_level=1 wrote fields {1: 1, 2: 2, 3: 1, 4: 1, 5: 1,
    # 7: 1}: host_tracer_level = 2, device_tracer_level = 3, python_tracer_level = 4,
    # version = 5; TF 2.21 wrote the log folder as repository_path = 10.
    options = profiler.ProfilerOptions(host_tracer_level=3, python_tracer_level=0,
                                       device_tracer_level=0)
    with profiler.Profile(str(tmp_path), options):
        pass
    data, _ = profile_files(tmp_path)
    planes = [raw_fields(p) for p in raw_fields(data)[1]]
    (env,) = [p for p in planes if p[2] == [b"Task Environment"]]
    blobs = [raw_fields(s)[6][0] for s in env[6] if 6 in raw_fields(s)]  # bytes_value = 6
    (found,) = [raw_fields(b) for b in blobs]
    assert found[2] == [3] and 3 not in found and 4 not in found  # (0: left out)
    assert found[5] == [1] and found[10] == [str(tmp_path).encode()]


# ------------------------------------------------------------------ the Python tracer

def _traced_helper(v):
    return v * 2


def _traced_caller(n):
    total = 0
    for i in range(n):
        total += _traced_helper(i)
    return len([total])


def _python_events(data):
    return [(n, start, duration, line) for n, _, start, duration, _, line in host_events(data)
            if n.startswith("$")]


def test_python_calls_are_named_as_tensorflows_python_tracer_names_them(tmp_path):
    # JAX 0.x's Python tracer (TSL's, as TF's: xla/python/profiler python_hooks) named a
    # Python function "$<file name>:<first line> <name>" ("$jaxpy.py:6 work"), a C function
    # "$<module> <name>" ("$builtins len") and a built-in type's method "$<unknown> <name>"
    # ("$<unknown> append"); the names below are derived by that rule from the code objects.
    import os

    items = []
    options = profiler.ProfilerOptions(python_tracer_level=1)
    with profiler.Profile(str(tmp_path), options):
        _traced_caller(3)
        items.append(1)
    events = _python_events(profile_files(tmp_path)[0])
    names = [n for n, *_ in events]
    here = os.path.basename(__file__)
    caller = f"${here}:{_traced_caller.__code__.co_firstlineno} _traced_caller"
    helper = f"${here}:{_traced_helper.__code__.co_firstlineno} _traced_helper"
    assert names.count(caller) == 1 and names.count(helper) == 3
    assert "$builtins len" in names and "$<unknown> append" in names
    (c_start, c_duration), = [(s, d) for n, s, d, _ in events if n == caller]
    for name, start, duration, _ in events:
        if name == helper:
            assert c_start <= start and start + duration <= c_start + c_duration
    assert not [n for n in names if "experimental.py" in n or "recorder.py" in n
                or "python_tracer.py" in n]  # (the profiler's own code)


def test_python_tracer_follows_new_threads_and_leaves_no_hook(tmp_path):
    import sys

    def previous(frame, event, arg):  # (a profile function the program had set)
        return None

    sys.setprofile(previous)
    try:
        with profiler.Profile(str(tmp_path), profiler.ProfilerOptions(python_tracer_level=1)):
            worker = threading.Thread(target=_traced_caller, args=(2,), name="py-worker")
            worker.start()
            worker.join()
        assert sys.getprofile() is previous
    finally:
        sys.setprofile(None)
    assert threading.getprofile() is None
    events = _python_events(profile_files(tmp_path)[0])
    on_worker = [n for n, _, _, line in events if line == "py-worker"]
    assert sum(n.endswith(" _traced_helper") for n in on_worker) == 2


def test_python_calls_open_at_the_start_or_the_stop(tmp_path):
    # A call running when tracing starts is recorded from the start, one running at the
    # stop up to the stop (as TSL's tracer: "$profiler.py:151 start_trace" at offset 0).
    def starts():
        profiler.start(str(tmp_path), profiler.ProfilerOptions(python_tracer_level=1))

    def stops():
        _traced_helper(1)
        profiler.stop()

    starts()
    stops()
    data, _ = profile_files(tmp_path)
    events = {n.rsplit(" ", 1)[1]: (s, d) for n, s, d, _ in _python_events(data)
              if n.rsplit(" ", 1)[1] in ("starts", "stops", "_traced_helper")}
    assert events["starts"][0] == 0
    s_start, s_duration = events["stops"]
    h_start, h_duration = events["_traced_helper"]
    assert s_start <= h_start and h_start + h_duration <= s_start + s_duration
    ends = [s + d for _, s, d, _ in _python_events(data)]
    assert s_start + s_duration == max(ends)


def test_without_the_option_no_python_call_is_recorded(tmp_path):
    import sys

    with profiler.Profile(str(tmp_path)):
        assert sys.getprofile() is None
        _traced_caller(2)
    assert not _python_events(profile_files(tmp_path)[0])


def test_a_function_call_event_says_whether_it_traced(tmp_path):
    # TF 2.21 records each tf.function call as an event named after the function with the
    # stats tf_function_call and tracing_count: a Keras fit's third call was
    # 'multi_step_on_iterator' {'tf_function_call': 'notTraced-nonXla', 'tracing_count': 1}.
    from tensorflux.profiler import recorder

    def scaled(v):
        return v * 3.0

    plain = tf.function(scaled)
    native = tf.function(scaled, jit_compile=True)
    x = tf.constant([1.0, 2.0])
    with profiler.Profile(str(tmp_path)):
        results = [recorder.function_call(plain, (x,), {}),  # (traces)
                   recorder.function_call(plain, (x,), {}),
                   recorder.function_call(plain, (tf.constant([[1.0]]),), {}),  # (retraces)
                   recorder.function_call(native, (x,), {})]
    np.testing.assert_array_equal(results[1].numpy(), [3.0, 6.0])
    calls = [stats for n, d, _, _, stats, _ in host_events(profile_files(tmp_path)[0])
             if n == "scaled" and "tf_function_call" in stats]
    assert calls == [{"tf_function_call": "traced-nonXla", "tracing_count": 1},
                     {"tf_function_call": "notTraced-nonXla", "tracing_count": 1},
                     {"tf_function_call": "traced-nonXla", "tracing_count": 2},
                     {"tf_function_call": "traced-xla", "tracing_count": 1}]


def test_a_tf_function_call_is_an_event_around_its_run(tmp_path):
    # TF 2.21: "<function name>" {'tf_function_call': 'notTraced-nonXla', 'tracing_count':
    # 1} around the function's execution (a Keras fit's 'multi_step_on_iterator').
    def doubled(v):
        return v * 2.0

    step = tf.function(doubled)
    x = tf.constant([1.0])
    with profiler.Profile(str(tmp_path)):
        step(x)
        step(x)
    events = host_events(profile_files(tmp_path)[0])
    calls = [(s, d, stats) for n, _, s, d, stats, _ in events if "tf_function_call" in stats]
    assert [stats for *_, stats in calls] == [
        {"tf_function_call": "traced-nonXla", "tracing_count": 1},
        {"tf_function_call": "notTraced-nonXla", "tracing_count": 1}]
    runs = [(s, d) for n, disp, s, d, stats, _ in events
            if disp == "" and "tf_function_call" not in stats]
    assert len(runs) == 2
    for (c_start, c_duration, _), (r_start, r_duration) in zip(calls, runs):
        assert c_start <= r_start and r_start + r_duration <= c_start + c_duration
