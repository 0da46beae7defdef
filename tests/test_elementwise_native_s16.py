"""numpy_elementwise_native: the llvmlite loops that default plans run for their large fused
programs and optimizer update groups give the NumPy runner's bits (the oracle: the same
program through nb.fused_elementwise or the NumPy group), instruction by instruction, over
NaN, infinities, signed zeros, subnormals and ties, on one thread and two; and a default
`fit` gives the same weights with the loops on and off."""

import copy

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tensorflux.backends import numpy_backend as nb
from tensorflux.backends import numpy_denormals, numpy_llvm
from tests.tolerances import assert_same_bits

ne = pytest.importorskip("tensorflux.backends.numpy_elementwise_native")
if not ne.available():
    pytest.skip("llvmlite's native kernels do not run here", allow_module_level=True)

F32, F64, BOOL = tf.float32, tf.float64, tf.bool
# NaN and infinities are the point of most cases: NumPy's warnings about them are not.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


@pytest.fixture(params=[1, 2], ids=["1 thread", "2 threads"])
def threads(request, monkeypatch):
    """Runs the test on that many kernel threads, with split thresholds small enough for
    test-sized arrays; `threads.splits` counts splits into more than one piece and
    `threads.loops` the layouts and groups that made a native loop."""
    monkeypatch.setattr(nb, "_PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(ne, "_SPLIT_MIN_BYTES", 1)
    in_parallel = nb._in_parallel

    def counted(run, pieces, nbytes):
        state.splits += len(pieces) > 1
        return in_parallel(run, pieces, nbytes)
    monkeypatch.setattr(nb, "_in_parallel", counted)
    layout, group = ne._layout, ne._Group.bind

    def counted_layout(*args):
        found = layout(*args)
        state.loops += found is not None
        return found

    def counted_bind(self, args):
        found = group(self, args)
        state.loops += found is not None
        return found
    monkeypatch.setattr(ne, "_layout", counted_layout)
    monkeypatch.setattr(ne._Group, "bind", counted_bind)

    class state:
        count = request.param
        splits = 0
        loops = 0
    nb.set_threads(request.param)
    yield state
    nb.set_threads(0)


def _special(rng, shape, dtype=np.float32, share=0.05):
    """Random values of both signs with a share of NaN (both signs), infinities, zeros of
    both signs, subnormals, the extremes of the dtype and a few repeated values (ties)."""
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    flat = x.reshape(-1)
    info = np.finfo(dtype)
    specials = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, 2.0,
                         info.tiny / 4, -info.tiny / 3, info.smallest_subnormal, info.max,
                         -info.max, info.tiny], dtype)
    picks = rng.integers(0, flat.size, size=max(1, int(flat.size * share)))
    flat[picks] = rng.choice(specials, size=picks.size)
    return x


def _pair(rng, shape, dtype=np.float32):
    """Two arrays with specials at many of the same positions (both NaN of either sign, equal
    values, zeros of opposite signs) and elsewhere independent."""
    a, b = _special(rng, shape, dtype, 0.2), _special(rng, shape, dtype, 0.2)
    same = rng.random(shape) < 0.1
    b[same] = a[same]
    zeros = rng.random(shape) < 0.05
    a[zeros], b[zeros] = np.array(0.0, dtype), np.array(-0.0, dtype)
    return a, b


def _numpy(program, inputs, out=None):
    return nb.fused_elementwise(*inputs, program=program, out=out)


def _looped(program, inputs, out=None):
    size = int(np.prod(np.broadcast_shapes(*(np.shape(a) for a in inputs))))
    run = nb.specialize("fused_elementwise", {"program": program}, len(inputs),
                        result_size=size)
    return run(*inputs, out=out)


# ------------------------------------------------------------------ single instructions

UNARY = ["negative", "square", "sqrt", "abs", "relu"]
BINARY = ["add", "subtract", "multiply", "divide", "maximum", "minimum"]
COMPARE = ["greater", "greater_equal", "less", "less_equal", "equal", "not_equal"]


def _one(kernel, n_operands, dtype):
    return ((kernel, tuple(range(n_operands)), (), dtype),)


@pytest.mark.parametrize("dtype", [F32, F64], ids=["float32", "float64"])
@pytest.mark.parametrize("kernel", UNARY + BINARY + COMPARE)
def test_each_instruction_gives_the_numpy_runners_bits(threads, kernel, dtype):
    rng = np.random.default_rng(abs(hash(kernel)) % 1000)
    native = dtype.as_numpy_dtype
    a, b = _pair(rng, (130, 257), native)
    operands = [a] if kernel in UNARY else [a, b]
    program = _one(kernel, len(operands), BOOL if kernel in COMPARE else dtype)
    expected = _numpy(program, operands)
    assert_same_bits(_looped(program, operands), expected)
    # the operands the other way round (which NaN, which zero is kept)
    if kernel not in UNARY:
        assert_same_bits(_looped(program, operands[::-1]), _numpy(program, operands[::-1]))
    # under flush-to-zero, as a compiled run computes
    flushed = numpy_denormals.flushing(lambda: (_looped(program, operands),
                                                _numpy(program, operands)))()
    assert_same_bits(*flushed)
    assert threads.loops >= 1
    assert threads.splits or threads.count == 1


def test_maximum_minimum_and_relu_keep_numpys_nan_and_signed_zero_rules(threads):
    # Every pair of these, against NumPy's own ufuncs (an oracle outside the backend).
    values = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 1e-45, -1e-45],
                      np.float32)
    a = np.repeat(values, values.size)
    b = np.tile(values, values.size)
    a, b = np.tile(a, 200), np.tile(b, 200)  # (over the loops' minimum size)
    for kernel, ufunc in (("maximum", np.maximum), ("minimum", np.minimum)):
        assert_same_bits(_looped(_one(kernel, 2, F32), [a, b]), ufunc(a, b))
    assert_same_bits(_looped(_one("relu", 1, F32), [a]), np.maximum(a, np.float32(0)))
    assert_same_bits(_looped(_one("negative", 1, F32), [a]), np.negative(a))
    assert_same_bits(_looped(_one("abs", 1, F32), [a]), np.abs(a))
    assert threads.loops == 5


# ------------------------------------------------------------------ composed programs

BIAS_RELU = (("add", (0, 1), (), F32), ("relu", (2,), (), F32))
RELU_GRAD = (("greater", (0, 1), (), BOOL), ("cast", (3,), (("dtype", F32),), F32),
             ("multiply", (2, 4), (), F32))
RELU_SELECT = (("greater", (0, 1), (), BOOL), ("select", (3, 2, 1), (), F32))
MIN_MAX = (("maximum", (0, 1), (), F32), ("minimum", (0, 1), (), F32),
           ("maximum", (1, 0), (), F32), ("minimum", (1, 0), (), F32),
           ("subtract", (2, 3), (), F32), ("negative", (5,), (), F32),
           ("add", (6, 7), (), F32), ("add", (8, 6), (), F32))
SELECTS = (("less_equal", (0, 1), (), BOOL), ("divide", (0, 1), (), F32),
           ("select", (2, 3, 1), (), F32), ("abs", (4,), (), F32),
           ("sqrt", (5,), (), F32), ("not_equal", (0, 6), (), BOOL),
           ("cast", (7,), (("dtype", F32),), F32), ("square", (8,), (), F32),
           ("multiply", (9, 6), (), F32))
CASTS = (("cast", (0,), (("dtype", F64),), F64), ("multiply", (2, 2), (), F64),
         ("cast", (3,), (("dtype", F32),), F32), ("equal", (4, 1), (), BOOL),
         ("cast", (0,), (("dtype", BOOL),), BOOL), ("select", (6, 5, 6), (), BOOL),
         ("cast", (7,), (("dtype", F32),), F32), ("subtract", (4, 8), (), F32))
# Single-element instructions (a power of two scalars) feeding the per-element ones.
HEADED = (("pow", (1, 2), (), F32), ("subtract", (2, 3), (), F32),
          ("multiply", (0, 4), (), F32), ("maximum", (5, 1), (), F32))


def _read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


def _cases(rng):
    x, y = _pair(rng, (300, 70))
    return {
        "read-only inputs": (MIN_MAX, [_read_only(x), _read_only(y)]),
        "bias + relu": (BIAS_RELU, [x, _special(rng, 70)]),
        "bias + relu, a (1, 70) row over three axes": (
            BIAS_RELU, [_special(rng, (20, 15, 70)), _special(rng, (1, 70))]),
        "bias + relu, 1027 columns (a vector tail)": (
            BIAS_RELU, [_special(rng, (17, 1027)), _special(rng, 1027)]),
        "relu gradient": (RELU_GRAD, [x, np.zeros((), np.float32), y]),
        "relu gradient by select": (RELU_SELECT, [x, np.float32(0), y]),
        "maximum, minimum, negative": (MIN_MAX, [x, y]),
        "a column": (MIN_MAX, [x, _special(rng, (300, 1))]),
        "a column over three axes": (MIN_MAX, [_special(rng, (30, 10, 70)),
                                               _special(rng, (30, 10, 1))]),
        "a NumPy scalar": (MIN_MAX, [x, np.float32(-0.0)]),
        "selects, divisions by zero": (SELECTS, [x, y]),
        "casts": (CASTS, [x, y]),
        "a head of single elements": (
            HEADED, [x, np.array([1.5], np.float32), np.array(3.0, np.float32)]),
        "float64": (tuple((name, refs, attrs, F64) for name, refs, attrs, _ in BIAS_RELU),
                    [x.astype(np.float64), _special(rng, 70, np.float64)]),
        "flat, odd length": (MIN_MAX, list(_pair(rng, 40_001))),
    }


@pytest.mark.parametrize("case", sorted(_cases(np.random.default_rng(0))))
def test_a_composed_program_gives_the_numpy_runners_bits(threads, case):
    program, inputs = _cases(np.random.default_rng(3))[case]
    expected = _numpy(program, inputs)
    assert_same_bits(_looped(program, inputs), expected)
    out = np.empty_like(expected)
    size = expected.size
    run = nb.specialize("fused_elementwise", {"program": program}, len(inputs),
                        result_size=size)
    assert run(*inputs, out=out) is out
    assert_same_bits(out, expected)
    assert threads.loops == 2  # (one per specialize)
    assert threads.splits or threads.count == 1


def test_two_nans_added_or_multiplied_give_the_nan_numpy_gives(threads):
    # x86 returns the first operand's NaN; NumPy's loops give the first array's, or the
    # single element's for an array and a single element (which LLVM would swap at will).
    n = 40_000
    plus, minus = np.full(n, np.nan, np.float32), np.full(n, -np.nan, np.float32)
    for kernel in ("add", "multiply"):
        program = _one(kernel, 2, F32)
        for inputs in ([plus, minus], [minus, plus], [plus, np.float32(-np.nan)],
                       [np.array(-np.nan, np.float32), plus], [plus, minus[:1]]):
            assert_same_bits(_looped(program, inputs), _numpy(program, inputs))
    # Over a broadcast row NumPy's choice follows its iterator's buffers (mostly the first
    # operand's, as here); the values are NaN either way.
    rows = np.full((300, 70), np.nan, np.float32)
    got = _looped(_one("add", 2, F32), [rows, np.full(70, -np.nan, np.float32)])
    assert np.isnan(got).all() and not np.signbit(got).any()
    assert threads.loops == 11


def run_twice(y, z, program):
    return nb.specialize("fused_elementwise", {"program": program, "out_fits": True}, 2,
                         result_size=y.size)(y, z, out=y)


def test_a_program_writing_over_its_input_or_a_view_of_it_gives_the_numpy_bits(threads):
    rng = np.random.default_rng(4)
    x, b = _special(rng, (300, 70)), _special(rng, 70)
    expected = _numpy(BIAS_RELU, [x, b])
    run = nb.specialize("fused_elementwise", {"program": BIAS_RELU, "out_fits": True}, 2,
                        result_size=x.size)
    y = x.copy()
    assert run(y, b, out=y) is y
    assert_same_bits(y, expected)
    # out is both inputs: the result may be a new array (the plan assigns it then)
    twice = (("add", (0, 1), (), F32), ("relu", (2,), (), F32))
    y = x.copy()
    assert_same_bits(run_twice(y, y, twice), _numpy(twice, [x, x]))
    # out overlapping an input without being it: the loop writes a new array
    z = np.concatenate([x.reshape(-1), x.reshape(-1)[:70]])
    view = z[70:].reshape(300, 70)
    source = z[:-70].reshape(300, 70)
    got = run(source, b, out=view)
    assert_same_bits(got, expected)


def test_an_empty_batch_gives_an_empty_result(threads):
    rng = np.random.default_rng(7)
    b = _special(rng, 70)
    run = ne.elementwise(BIAS_RELU, lambda *inputs, out=None: _numpy(BIAS_RELU, inputs, out))
    for rows in (0, 3):
        x = _special(rng, (max(rows, 1), 70))[:rows]
        assert_same_bits(run(x, b), _numpy(BIAS_RELU, [x, b]))
    assert threads.loops == 2


def test_what_the_loops_do_not_lower_runs_as_the_numpy_runner_runs_it(threads):
    rng = np.random.default_rng(5)
    x = _special(rng, (300, 70))
    cases = [
        # exp: NumPy's SIMD loop rounds differently from libm.
        ((("exp", (0,), (), F32), ("add", (1, 2), (), F32)), [x, x]),
        # float32 with float64: NumPy promotes.
        ((("add", (0, 1), (), F64),), [x, x.astype(np.float64)]),
        # integers.
        ((("add", (0, 1), (), tf.int32),), [x.astype(np.int32), x.astype(np.int32)]),
        # a strided view.
        (BIAS_RELU, [x[:, ::2], x[0, ::2].copy()]),
        # a broadcast that is neither a row nor a column.
        (BIAS_RELU, [_special(rng, (30, 10, 70)), _special(rng, (10, 1))]),
        # a single element of another dtype than the program computes in.
        (BIAS_RELU, [x, np.float64(0.5)]),
    ]
    for program, inputs in cases:
        assert_same_bits(_looped(program, inputs), _numpy(program, inputs))
    assert threads.loops == 0


def test_the_switch_off_leaves_the_numpy_runner(threads, monkeypatch):
    monkeypatch.setattr(numpy_llvm, "_enabled", False)
    rng = np.random.default_rng(6)
    x, b = _special(rng, (300, 70)), _special(rng, 70)
    assert_same_bits(_looped(BIAS_RELU, [x, b]), _numpy(BIAS_RELU, [x, b]))
    assert threads.loops == 0


# ------------------------------------------------------------------ update groups

def _adam_parts():
    """An Adam step as the plan folds it (see test_numpy_loops)."""
    m_update = (("subtract", (0, 1), (), F32), ("multiply", (4, 2), (), F32),
                ("add", (3, 5), (), F32))
    v_update = (("square", (0,), (), F32), ("subtract", (4, 1), (), F32),
                ("multiply", (5, 2), (), F32), ("add", (3, 6), (), F32))
    var_update = (("pow", (0, 1), (), F32), ("pow", (2, 1), (), F32),
                  ("subtract", (3, 10), (), F32), ("sqrt", (11,), (), F32),
                  ("multiply", (4, 12), (), F32), ("subtract", (3, 9), (), F32),
                  ("divide", (13, 14), (), F32), ("multiply", (5, 15), (), F32),
                  ("sqrt", (6,), (), F32), ("add", (17, 7), (), F32),
                  ("divide", (16, 18), (), F32), ("subtract", (8, 19), (), F32))
    return [(m_update, 4, True), (v_update, 4, True), (var_update, 9, True)]


def _adam_args(g, m, v, var, step):
    f = np.float32
    return (g, m, np.array(f(0.1)), m,
            g, v, np.array(f(0.001)), v,
            np.array(f(0.9)), np.array(f(step)), np.array(f(0.999)), np.array(f(1)),
            np.array(f(1e-3)), m, v, np.array(f(1e-7)), var)


@pytest.mark.parametrize("n", [nb._FUSED_CHUNKED_MIN_SIZE, 5 * nb._FUSED_CHUNK + 3333])
@pytest.mark.parametrize("special", [False, True], ids=["normal", "specials"])
def test_an_adam_group_gives_the_numpy_groups_bits_and_adams_numbers(threads, monkeypatch,
                                                                     n, special):
    monkeypatch.setattr(nb, "_FUSED_CHUNKS_PER_PIECE", 1)
    rng = np.random.default_rng(n)
    parts = _adam_parts()
    numpy_group = nb.fused_update_group(parts, [None] * 3, n, native=None)
    loop_group = nb.fused_update_group(parts, [None] * 3, n)
    make = (lambda: _special(rng, n)) if special else (
        lambda: rng.standard_normal(n).astype(np.float32))
    state = (make(), make() * np.float32(0.1), np.abs(make()) * np.float32(0.01), make())
    expected, got = [a.copy() for a in state], [a.copy() for a in state]
    for step in (1, 2, 3):
        numpy_group(*_adam_args(*expected, step))
        loop_group(*_adam_args(*got, step))
    for e, g in zip(expected, got):
        assert_same_bits(g, e)
    assert threads.loops == 3
    assert threads.splits or threads.count == 1
    if not special:  # and those are Adam's numbers (float64 oracle)
        g, m, v, var = (a.astype(np.float64) for a in state)
        for step in (1, 2, 3):
            m = m + (g - m) * 0.1
            v = v + (g * g - v) * 0.001
            var = var - 1e-3 * np.sqrt(1 - 0.999 ** step) / (1 - 0.9 ** step) * m / (
                np.sqrt(v) + 1e-7)
        np.testing.assert_allclose(got[3], var, rtol=1e-5, atol=1e-6)


def test_an_update_group_reads_what_earlier_updates_stored_in_the_same_element(threads):
    # u += v; v *= u; u -= v: the third update reads the u the first stored and the v the
    # second stored, and stores into u a second time.
    n = nb._FUSED_CHUNKED_MIN_SIZE + 9
    add = (("add", (1, 0), (), F32),)
    scale = (("multiply", (1, 0), (), F32),)
    take = (("subtract", (1, 0), (), F32),)
    parts = [(add, 2, True), (scale, 2, True), (take, 2, True)]
    rng = np.random.default_rng(2)
    u0, v0 = _pair(rng, n)
    results = []
    for native in (None, False):
        group = nb.fused_update_group(parts, [None] * 3, n, native=native)
        u, v = u0.copy(), v0.copy()
        group(v, u, u, v, v, u)
        results.append((u, v))
    (u_numpy, v_numpy), (u, v) = results
    assert_same_bits(u, u_numpy)
    assert_same_bits(v, v_numpy)
    first = u0 + v0
    np.testing.assert_array_equal(v, first * v0)
    np.testing.assert_array_equal(u, first - first * v0)
    assert threads.loops == 1


# ------------------------------------------------------------------ programs from Keras

OPTIMIZERS = {
    "adam": lambda: keras.optimizers.Adam(1e-3),
    "rmsprop": lambda: keras.optimizers.RMSprop(1e-3),
    "sgd momentum": lambda: keras.optimizers.SGD(0.01, momentum=0.9),
    "sgd nesterov": lambda: keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True),
    "adam amsgrad": lambda: keras.optimizers.Adam(1e-3, amsgrad=True),
}


def _mlp(width, optimizer, jit_compile=False):
    keras.utils.set_random_seed(7)
    model = keras.Sequential([keras.Input((784,)),
                              keras.layers.Dense(width, activation="relu"),
                              keras.layers.Dense(width, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=OPTIMIZERS[optimizer](), loss="categorical_crossentropy",
                  jit_compile=jit_compile)
    return model


def _data(n=192):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((n, 784)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]
    return x, y


def _captured(monkeypatch, optimizer):
    """The large programs and update groups a default fit builds, each with the arguments
    of its first call (copied, aliases kept): (kind, what it was made from, arguments)."""
    seen = []
    make_group, make = nb.fused_update_group, nb.specialize

    def recording(kind, made_from, run):
        def first_call(*args, **kwargs):
            if not any(s[2] is first_call for s in seen):
                seen.append((kind, made_from, first_call, copy.deepcopy((args, kwargs))))
            return run(*args, **kwargs)
        return first_call

    def group(parts, kernels, size, native=False):
        run = make_group(parts, kernels, size, native)
        return run if run is None else recording("group", (parts, kernels, size), run)

    def specialize(kernel_name, attrs, n_inputs, result_size=None, *args, **kwargs):
        run = make(kernel_name, attrs, n_inputs, result_size, *args, **kwargs)
        if (run is None or kernel_name != "fused_elementwise" or kwargs.get("native", False)
                is not False or not result_size or result_size < nb._LOOP_MIN_SIZE):
            return run
        return recording("program", attrs["program"], run)
    monkeypatch.setattr(nb, "fused_update_group", group)
    monkeypatch.setattr(nb, "specialize", specialize)
    _mlp(256, optimizer).fit(*_data(), batch_size=64, epochs=1, verbose=0)
    monkeypatch.setattr(nb, "fused_update_group", make_group)
    monkeypatch.setattr(nb, "specialize", make)
    return [(kind, made_from, arguments) for kind, made_from, _, arguments in seen]


def _spoil(arguments, rng):
    """The arguments (copied, aliases kept) with specials put into their large float arrays."""
    arguments = copy.deepcopy(arguments)
    seen = set()
    for a in arguments[0]:
        if type(a) is np.ndarray and a.size > 1000 and a.dtype.kind == "f" and id(a) not in seen:
            seen.add(id(a))
            flat = a.reshape(-1)
            special = _special(rng, flat.size, a.dtype, 0.02)
            picks = rng.random(flat.size) < 0.05
            flat[picks] = special[picks]
    return arguments


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_the_programs_a_keras_fit_builds_give_the_numpy_runners_bits(threads, monkeypatch,
                                                                     optimizer):
    captured = _captured(monkeypatch, optimizer)
    kinds = [kind for kind, _, _ in captured]
    assert kinds.count("program") >= 2  # bias + relu, relu gradients
    if not optimizer.startswith("sgd"):  # (SGD's momentum and variable updates: no group)
        assert "group" in kinds
    rng = np.random.default_rng(9)
    threads.loops = 0
    for kind, made_from, arguments in captured:
        for spoiled in (False, True):
            args, kwargs = _spoil(arguments, rng) if spoiled else copy.deepcopy(arguments)
            expected_args, expected_kwargs = copy.deepcopy((args, kwargs))
            if kind == "group":
                parts, kernels, size = made_from
                nb.fused_update_group(parts, kernels, size, native=None)(*expected_args)
                nb.fused_update_group(parts, kernels, size)(*args)
                for got, expected in zip(args, expected_args):
                    if type(got) is np.ndarray:
                        assert_same_bits(got, expected)
            else:
                program = made_from
                expected = _numpy(program, expected_args)
                assert_same_bits(_looped(program, args), expected)
    assert threads.loops == 2 * len(captured)


def test_a_default_fit_gives_the_same_weights_with_the_loops_on_and_off(threads, monkeypatch):
    # A W4-like MLP, smaller: 784 -> 512 -> 512 -> 10, Adam over 670k parameters.
    x, y = _data(256)
    results = []
    for on in (True, False):
        monkeypatch.setattr(numpy_llvm, "_enabled", on)
        threads.loops = 0
        model = _mlp(512, "adam")
        losses = model.fit(x, y, batch_size=64, epochs=2, verbose=0).history["loss"]
        assert (threads.loops > 0) == on
        results.append((losses, [w.numpy() for w in model.weights + model.optimizer.variables]))
    (losses, weights), (numpy_losses, numpy_weights) = results
    assert losses == numpy_losses
    for got, expected in zip(weights, numpy_weights):
        assert_same_bits(got, expected)
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


@pytest.mark.parametrize("kernel", ["maximum", "minimum"])
def test_jit_plans_take_these_loops_with_numpys_max_and_min_under_flushing(kernel):
    """A plan built for jit_compile (specialize(..., native=True)) runs these loops where they
    run, not numpy_loops' Numba loops (whose maximum and minimum kept a subnormal operand that
    NumPy's return as the zero it compares as under a compiled run's denormals-are-zero,
    before session 18: see test_loops_flushing_s18)."""
    from tensorflux.backends import numpy_denormals

    rng = np.random.default_rng(1)
    a, b = _pair(rng, (130, 257))
    program = _one(kernel, 2, F32)
    run = nb.specialize("fused_elementwise", {"program": program}, 2, result_size=a.size,
                        native=True)
    assert run is not None
    got, expected = numpy_denormals.flushing(lambda: (run(a, b), _numpy(program, [a, b])))()
    assert got.tobytes() == expected.tobytes(), (
        f"{np.count_nonzero(got.view(np.uint32) != expected.view(np.uint32))} elements differ")
