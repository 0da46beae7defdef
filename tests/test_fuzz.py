"""Fuzzes every op-table row with random shapes, dtypes and hostile values.

The invariant (reliability.md section 4, plan (a)): for any inputs, an op either returns
tensors (or None, for rows whose result is a gradient) or raises one of its documented
errors, InvalidArgumentError or TypeError. Any other exception (an IndexError from a
kernel, an OverflowError, a MemoryError, ...) is a bug in the op: it should validate first.

NaN and inf results are not errors: as in TensorFlow, ops return them silently. The NumPy
backend silences NumPy's RuntimeWarnings for its own modules; pyproject.toml's pytest filter
turns those same warnings into errors in tests, so each call here restores the user's view.

Deterministic: Hypothesis runs derandomized, without its example database, so CI sees the
same examples every run.
"""

import contextlib
import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tensorflux as tf
from tensorflux import errors
from tests.ops.table import ROWS

DOCUMENTED_ERRORS = (errors.InvalidArgumentError, TypeError)
DTYPES = ("float16", "float32", "float64", "int32", "bool")
MAX_RANK, MAX_DIM = 3, 4
# An op that turns a fuzzed value into an allocation size must fail with an error, not take
# the machine down: the address space is capped while a row runs (Linux only).
MEMORY_HEADROOM = 4 * 2 ** 30

FUZZ = settings(max_examples=15, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


def float_elements(dtype):
    finfo = np.finfo(dtype)
    edges = [math.nan, math.inf, -math.inf, -0.0, 0.0, float(finfo.max), float(finfo.min),
             float(finfo.tiny), 1.0, -1.0, 0.5]
    return st.one_of(st.sampled_from(edges),
                     st.floats(width=finfo.bits, allow_nan=True, allow_infinity=True))


def int_elements(dtype):
    info = np.iinfo(dtype)
    return st.one_of(st.integers(max(-8, int(info.min)), min(8, int(info.max))),
                     st.sampled_from([int(info.min), int(info.max)]),
                     st.integers(int(info.min), int(info.max)))


def elements(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return float_elements(dtype)
    if dtype.kind in "iu":
        return int_elements(dtype)
    if dtype.kind == "b":
        return st.booleans()
    if dtype.kind == "c":
        part = float_elements(np.float64 if dtype.itemsize == 16 else np.float32)
        return st.builds(complex, part, part)
    raise ValueError(f"the fuzzer has no elements for dtype {dtype}")


shapes = hnp.array_shapes(min_dims=0, max_dims=MAX_RANK, min_side=0, max_side=MAX_DIM)


@st.composite
def fuzzed_inputs(draw, sampled):
    """As many arrays as the row's sampler gives, with fuzzed shapes, dtypes and values.

    Shapes are either shared by all inputs, independent, or the sampler's own (so that ops
    with shape constraints, like matmul, also get inputs they accept); dtypes likewise.
    """
    shape_mode = draw(st.sampled_from(["shared", "independent", "sampler"]))
    dtype_mode = draw(st.sampled_from(["shared", "independent", "sampler"]))
    shared_shape, shared_dtype = draw(shapes), draw(st.sampled_from(DTYPES))
    arrays = []
    for original in sampled:
        shape = {"shared": shared_shape, "sampler": original.shape}.get(shape_mode)
        if shape is None or (shape_mode == "sampler" and original.size > 64):
            shape = draw(shapes)
        dtype = {"shared": shared_dtype}.get(dtype_mode)
        if dtype_mode == "sampler":
            # Float inputs are tested in every float dtype; others keep theirs (int64, complex).
            dtype = (draw(st.sampled_from(DTYPES[:3])) if original.dtype.kind == "f"
                     else original.dtype)
        elif dtype is None:
            dtype = draw(st.sampled_from(DTYPES))
        arrays.append(draw(hnp.arrays(dtype, shape, elements=elements(dtype))))
    return arrays


@contextlib.contextmanager
def capped_memory():
    try:
        import resource

        with open("/proc/self/status") as status:
            size_kb = next(int(line.split()[1]) for line in status if line.startswith("VmSize"))
    except (ImportError, OSError, StopIteration):  # not Linux: run without the cap
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = size_kb * 1024 + MEMORY_HEADROOM
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    if soft != resource.RLIM_INFINITY and soft <= cap:
        yield
        return
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def describe(arrays):
    return "; ".join(f"{a.dtype}{list(a.shape)}={a.tolist()!r}" for a in arrays)


def call_row(row, arrays):
    """Calls row.fn; returns its outputs, or None when it raised a documented error."""
    tensors = [tf.constant(a) for a in arrays]
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"tensorflux(\.|$)")
            out = row.fn(*tensors)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        for o in outs:
            if o is None:  # rows that return gradients: integer inputs have none, as in TF
                continue
            if not tf.is_tensor(o):
                pytest.fail(f"{row.name} returned {type(o).__name__}, not a tensor, for "
                            f"{describe(arrays)}")
            # The value must be readable, and its dtype one tensorflux knows.
            o.numpy()
            _ = o.dtype
    except DOCUMENTED_ERRORS:
        return None
    except Exception as error:
        pytest.fail(f"{row.name} raised {type(error).__module__}.{type(error).__name__}: "
                    f"{error}\n  inputs: {describe(arrays)}\n  (expected a result, "
                    f"InvalidArgumentError or TypeError)", pytrace=False)
    return outs


def test_the_table_has_rows():
    assert ROWS, "tests/ops/table.py has no rows: the fuzz would test nothing"


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_op_returns_tensors_or_raises_a_documented_error(row):
    sampled = row.sample(np.random.default_rng(0))

    @FUZZ
    @given(arrays=fuzzed_inputs(sampled))
    def fuzz(arrays):
        call_row(row, arrays)

    with capped_memory():
        fuzz()


def test_the_fuzzer_reaches_both_outcomes():
    # Guards against a strategy that only ever produces invalid (or only valid) inputs.
    row = next(r for r in ROWS if r.name == "add")
    outcomes = []

    @FUZZ
    @given(arrays=fuzzed_inputs(row.sample(np.random.default_rng(0))))
    def fuzz(arrays):
        outcomes.append(call_row(row, arrays) is not None)

    fuzz()
    assert True in outcomes and False in outcomes, outcomes
