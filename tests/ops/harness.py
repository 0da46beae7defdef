"""The op table's machinery: a row type, input samplers, and the generic checks run on rows.

A row says how to call one op in tensorflux, what NumPy computes for it in float64, how to
sample its inputs, and which checks apply. tests/ops/test_op_table.py runs every check on
every row; adding an op to the library means adding one row to a table_*.py module.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import tensorflux as tf
from tensorflux.autodiff.tape import GradientTape
from tests.tolerances import FD_EPS, GRAD, assert_close


@dataclass
class Row:
    """One op-table row.

    fn: takes tensorflux tensors (one per sampled input) and returns a tensor or a list.
    ref: takes float64 (or integer/bool) NumPy arrays and returns the expected array(s).
    sample: takes a numpy Generator and returns the list of input arrays, in float64 for
        float inputs (they are cast to each tested dtype); integer/bool inputs keep theirs.
    dtypes: float dtypes to test the forward pass in (float inputs are cast to them).
    grad: which inputs (indices) to check the VJP for, in float64; () for none.
    second_order: also check the gradient of the gradient (elementwise and matmul ops).
    """

    name: str
    fn: Callable
    ref: Callable
    sample: Callable
    dtypes: tuple = ("float32", "float64")
    grad: tuple | None = None
    second_order: bool = False
    rtol: float | None = None
    atol: float | None = None
    grad_tol: tuple = GRAD
    tags: tuple = field(default_factory=tuple)

    def grad_inputs(self, arrays):
        if self.grad is not None:
            return self.grad
        return tuple(i for i, a in enumerate(arrays) if a.dtype.kind == "f")

    def __repr__(self):
        return self.name


# ------------------------------------------------------------------ samplers

def uniform(*shapes, low=-2.0, high=2.0):
    """Sampler of float64 inputs uniform in [low, high]."""
    return lambda rng: [rng.uniform(low, high, size=s) for s in shapes]


def positive(*shapes, low=0.2, high=3.0):
    return uniform(*shapes, low=low, high=high)


def away_from(*shapes, points=(0.0,), gap=0.1, low=-2.0, high=2.0):
    """Uniform samples kept at least `gap` away from the kinks in `points` (for FD checks)."""
    def sample(rng):
        out = []
        for s in shapes:
            x = rng.uniform(low, high, size=s)
            for p in points:
                near = np.abs(x - p) < gap
                x = np.where(near, p + np.sign(x - p + 1e-12) * gap * 2, x)
            out.append(x)
        return out
    return sample


def ints(shape, low, high, dtype=np.int32):
    return lambda rng: [rng.integers(low, high, size=shape).astype(dtype)]


def combine(*samplers):
    """Concatenates the inputs of several samplers."""
    return lambda rng: [a for s in samplers for a in s(rng)]


def fixed(*arrays):
    return lambda rng: [np.array(a) for a in arrays]


# ------------------------------------------------------------------ generic checks

def cast_inputs(arrays, dtype):
    return [a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays]


def to_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def check_forward(row, dtype, seed=0):
    rng = np.random.default_rng(seed)
    arrays = row.sample(rng)
    cast = cast_inputs(arrays, dtype)
    tensors = [tf.constant(a) for a in cast]
    got = to_list(row.fn(*tensors))
    ref_inputs = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in cast]
    expected = to_list(row.ref(*ref_inputs))
    assert len(got) == len(expected), f"{row.name}: {len(got)} outputs, expected {len(expected)}"
    for i, (g, e) in enumerate(zip(got, expected)):
        g_np = np.asarray(g.numpy())
        e_np = np.asarray(e)
        if e_np.dtype.kind == "f" and g_np.dtype.kind == "f":
            assert g_np.dtype == np.dtype(dtype) or row.tags and "dtype_changes" in row.tags, (
                f"{row.name}: output {i} has dtype {g_np.dtype}, expected {dtype}")
        assert_close(g_np, e_np, dtype=dtype, rtol=row.rtol, atol=row.atol,
                     what=f"{row.name}[{dtype}] output {i}")


def _projected_loss(row, arrays, weights):
    """sum_i <fn(x)_i, w_i>: a scalar whose gradient is the VJP with cotangents w."""
    tensors = [tf.constant(a) for a in arrays]
    outs = to_list(row.fn(*tensors))
    return sum(float(np.sum(np.asarray(o.numpy(), np.float64) * w))
               for o, w in zip(outs, weights))


def check_vjp(row, seed=0):
    """The tape's VJP against central finite differences, in float64."""
    rng = np.random.default_rng(seed)
    arrays = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in row.sample(rng)]
    wrt = row.grad_inputs(arrays)
    tensors = [tf.constant(a) for a in arrays]
    with GradientTape(persistent=True) as tape:
        for i in wrt:
            tape.watch(tensors[i])
        outs = to_list(row.fn(*tensors))
    weights = [rng.standard_normal(size=tuple(o.shape)) for o in outs]
    seeds = [tf.constant(w.astype(np.asarray(o.numpy()).dtype)) for o, w in zip(outs, weights)]
    grads = tape.gradient(outs, [tensors[i] for i in wrt], output_gradients=seeds)
    rtol, atol = row.grad_tol
    for i, g in zip(wrt, grads):
        numeric = np.zeros_like(arrays[i])
        flat = numeric.reshape(-1)
        for j in range(arrays[i].size):
            plus = [a.copy() for a in arrays]
            minus = [a.copy() for a in arrays]
            plus[i].reshape(-1)[j] += FD_EPS
            minus[i].reshape(-1)[j] -= FD_EPS
            flat[j] = (_projected_loss(row, plus, weights)
                       - _projected_loss(row, minus, weights)) / (2 * FD_EPS)
        analytic = np.zeros_like(numeric) if g is None else np.asarray(g.numpy())
        assert_close(analytic, numeric, rtol=rtol, atol=atol,
                     what=f"{row.name}: gradient of input {i}")


def check_second_order(row, seed=0):
    """d/dx <grad f(x), v> by nested tapes against finite differences of the first gradient."""
    rng = np.random.default_rng(seed)
    arrays = [a.astype(np.float64) for a in row.sample(rng)]
    wrt = row.grad_inputs(arrays)
    weights = None

    def first_grads(arrs):
        nonlocal weights
        ts = [tf.constant(a) for a in arrs]
        with GradientTape() as tape:
            for i in wrt:
                tape.watch(ts[i])
            outs = to_list(row.fn(*ts))
        if weights is None:
            weights = [rng.standard_normal(size=tuple(o.shape)) for o in outs]
        seeds = [tf.constant(w) for w in weights]
        return [np.asarray(g.numpy()) for g in tape.gradient(outs, [ts[i] for i in wrt],
                                                              output_gradients=seeds)]

    base = first_grads(arrays)
    directions = [rng.standard_normal(size=b.shape) for b in base]
    tensors = [tf.constant(a) for a in arrays]
    with GradientTape() as outer:
        for i in wrt:
            outer.watch(tensors[i])
        with GradientTape() as inner:
            for i in wrt:
                inner.watch(tensors[i])
            outs = to_list(row.fn(*tensors))
        grads = inner.gradient(outs, [tensors[i] for i in wrt],
                               output_gradients=[tf.constant(w) for w in weights])
        h = tf.add_n([tf.reduce_sum(g * tf.constant(d)) for g, d in zip(grads, directions)])
    second = outer.gradient(h, [tensors[i] for i in wrt])
    rtol, atol = row.grad_tol
    for k, i in enumerate(wrt):
        numeric = np.zeros_like(arrays[i])
        flat = numeric.reshape(-1)
        for j in range(arrays[i].size):
            plus = [a.copy() for a in arrays]
            minus = [a.copy() for a in arrays]
            plus[i].reshape(-1)[j] += FD_EPS
            minus[i].reshape(-1)[j] -= FD_EPS
            gp, gm = first_grads(plus), first_grads(minus)
            flat[j] = sum(np.sum((a - b) * d) for a, b, d in zip(gp, gm, directions)) \
                / (2 * FD_EPS)
        analytic = np.zeros_like(numeric) if second[k] is None else np.asarray(second[k].numpy())
        assert_close(analytic, numeric, rtol=rtol, atol=atol,
                     what=f"{row.name}: second-order gradient of input {i}")


class ProbeTape(GradientTape):
    """A tape that records every op, watched or not (to inspect which primitives ran)."""

    def _record(self, primitive, inputs, attrs, outputs):
        from tensorflux.primitive import Node

        self._nodes.append(Node(primitive, inputs, attrs, outputs))


def recorded_nodes(row, dtype="float64", seed=0):
    rng = np.random.default_rng(seed)
    tensors = [tf.constant(a) for a in cast_inputs(row.sample(rng), dtype)]
    with ProbeTape() as probe:
        row.fn(*tensors)
    return probe._nodes


def check_shape_rules(row, dtype="float64"):
    """Each primitive's shape rule, on the avals of its inputs, gives the eager output."""
    from tensorflux.ops._core import aval

    for node in recorded_nodes(row, dtype):
        rule = node.primitive.shape_rule
        if rule is None:
            continue
        avals = [aval(x.shape, x.dtype) for x in node.inputs]
        predicted = rule(*avals, **node.attrs)
        outputs = node.outputs if isinstance(node.outputs, tuple) else (node.outputs,)
        predicted = predicted if isinstance(predicted, tuple) else (predicted,)
        assert len(predicted) == len(outputs), f"{row.name}/{node.primitive.name}: output count"
        for p, o in zip(predicted, outputs):
            assert p.dtype is o.dtype, (f"{row.name}/{node.primitive.name}: shape rule dtype "
                                        f"{p.dtype.name}, kernel gave {o.dtype.name}")
            assert p.shape.is_compatible_with(o.shape), (
                f"{row.name}/{node.primitive.name}: shape rule {p.shape}, kernel gave {o.shape}")
