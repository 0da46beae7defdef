"""Every op-table row traced by tf.function gives what it gives eagerly: forward values, and
gradients from a GradientTape inside the function or outside the call."""

import numpy as np
import pytest

import tensorflux as tf
from tests.ops import harness, table_random
from tests.ops.table import ROWS

# Random rows draw new values on every call by design: only shapes and dtypes must agree.
RANDOM = {row.name for row in table_random.ROWS}
# Rows that TensorFlow cannot trace either, with the error tracing must raise instead.
UNTRACEABLE = {
    # tf.Variable(x) made on every call: TF's first call traces twice and the second trace
    # may not create Variables.
    "identity_of_variable": "singleton tf.Variables created on the first call",
}
TRACEABLE = [row for row in ROWS if row.name not in UNTRACEABLE]
GRADIENT = [row for row in TRACEABLE if row.grad != ()]


def _inputs(row, dtype):
    rng = np.random.default_rng(0)
    return [tf.constant(a) for a in harness.cast_inputs(row.sample(rng), dtype)]


def _assert_same(row, got, expected, what):
    got, expected = harness.to_list(got), harness.to_list(expected)
    assert len(got) == len(expected), f"{row.name}: {len(got)} {what}s, eager gave {len(expected)}"
    for i, (g, e) in enumerate(zip(got, expected)):
        if e is None:
            assert g is None, f"{row.name}: {what} {i} is not None, eager gave None"
            continue
        assert g is not None, f"{row.name}: {what} {i} is None, eager gave a tensor"
        g, e = np.asarray(g.numpy()), np.asarray(e.numpy())
        assert g.dtype == e.dtype, f"{row.name}: {what} {i} dtype {g.dtype}, eager {e.dtype}"
        assert g.shape == e.shape, f"{row.name}: {what} {i} shape {g.shape}, eager {e.shape}"
        if row.name in RANDOM:
            continue
        if g.dtype.kind in "biuUSO":
            np.testing.assert_array_equal(g, e, err_msg=f"{row.name}: {what} {i}")
            continue
        # Exact, or within 1e-6 of the eager value relative to its magnitude.
        scale = float(np.max(np.abs(e[np.isfinite(e)]), initial=0.0))
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-6 * scale, equal_nan=True,
                                   err_msg=f"{row.name}: {what} {i}")


@pytest.mark.parametrize("name", sorted(UNTRACEABLE))
def test_untraceable_rows_raise_a_clear_error(name):
    row = next(r for r in ROWS if r.name == name)
    tensors = _inputs(row, row.dtypes[0] if row.dtypes else "float64")
    with pytest.raises(ValueError, match=UNTRACEABLE[name]):
        tf.function(row.fn)(*tensors)


@pytest.mark.parametrize("row", TRACEABLE, ids=[r.name for r in TRACEABLE])
def test_traced_forward_matches_eager(row):
    dtype = row.dtypes[0] if row.dtypes else "float64"
    tensors = _inputs(row, dtype)
    expected = row.fn(*tensors)
    traced = tf.function(row.fn)
    _assert_same(row, traced(*tensors), expected, "output")
    # The second call replays the compiled plan instead of tracing.
    _assert_same(row, traced(*tensors), expected, "output")
    assert traced.experimental_get_tracing_count() == 1


def _wrt(row, tensors):
    return row.grad_inputs([t.numpy() for t in tensors])


def _gradients(row, wrt, tensors, seeds):
    with tf.GradientTape() as tape:
        for i in wrt:
            tape.watch(tensors[i])
        outs = harness.to_list(row.fn(*tensors))
    return tape.gradient(outs, [tensors[i] for i in wrt], output_gradients=list(seeds))


def _seeds(row, tensors):
    rng = np.random.default_rng(1)
    outs = harness.to_list(row.fn(*tensors))
    return [tf.constant(rng.standard_normal(size=tuple(o.shape)).astype(o.dtype.name))
            if o.dtype.is_floating else None for o in outs]


@pytest.mark.parametrize("row", GRADIENT, ids=[r.name for r in GRADIENT])
def test_tape_inside_function_matches_eager_tape(row):
    tensors = _inputs(row, "float64")
    seeds = _seeds(row, tensors)
    wrt = _wrt(row, tensors)
    expected = _gradients(row, wrt, tensors, seeds)
    traced = tf.function(lambda ts, ss: _gradients(row, wrt, ts, ss))
    _assert_same(row, traced(tensors, seeds), expected, "gradient")


@pytest.mark.parametrize("row", GRADIENT, ids=[r.name for r in GRADIENT])
def test_tape_outside_function_call_matches_eager_tape(row):
    tensors = _inputs(row, "float64")
    seeds = _seeds(row, tensors)
    expected = _gradients(row, _wrt(row, tensors), tensors, seeds)
    traced = tf.function(row.fn)
    traced(*tensors)  # traced and compiled before any tape watches it
    _assert_same(row, _outer_tape_gradients(row, traced, tensors, seeds), expected, "gradient")


def _outer_tape_gradients(row, traced, tensors, seeds):
    wrt = _wrt(row, tensors)
    with tf.GradientTape() as tape:
        for i in wrt:
            tape.watch(tensors[i])
        outs = harness.to_list(traced(*tensors))
    return tape.gradient(outs, [tensors[i] for i in wrt], output_gradients=list(seeds))
