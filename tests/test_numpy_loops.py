"""numpy_loops: the Numba loops that a plan built for jit_compile runs for its large fused
programs and optimizer update groups give the NumPy runner's bits, on one thread and two."""

import numpy as np
import pytest

pytest.importorskip("numba")

import tensorflux as tf  # noqa: E402
from tensorflux import keras  # noqa: E402
from tensorflux.backends import numpy_backend as nb  # noqa: E402
from tensorflux.backends import numpy_llvm, numpy_loops  # noqa: E402
from tests.tolerances import assert_same_bits

F32, F64, BOOL = tf.float32, tf.float64, tf.bool
# NaN and infinities are the point of several cases: NumPy's warnings about them are not.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


@pytest.fixture(params=[1, 2], ids=["1 thread", "2 threads"])
def threads(request, monkeypatch):
    """Runs the test on that many kernel threads, with split thresholds small enough for
    test-sized arrays; `threads.splits` counts the splits into more than one piece and
    `threads.loops` the calls that ran a Numba loop. (With the native kernels off, jit plans
    take numpy_loops' Numba loops rather than numpy_elementwise_native's: see
    numpy_backend._loops.)"""
    monkeypatch.setattr(numpy_llvm, "_enabled", False)
    monkeypatch.setattr(nb, "_PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(numpy_loops, "_SPLIT_MIN_BYTES", 1)
    in_parallel = nb._in_parallel

    def counted(run, pieces, nbytes):
        state.splits += len(pieces) > 1
        return in_parallel(run, pieces, nbytes)
    monkeypatch.setattr(nb, "_in_parallel", counted)
    bind, layout = numpy_loops._bind, numpy_loops._layout

    def counted_bind(*args):
        found = bind(*args)
        state.loops += found is not None
        return found

    def counted_layout(*args):
        found = layout(*args)
        state.loops += found is not None
        return found
    monkeypatch.setattr(numpy_loops, "_bind", counted_bind)
    monkeypatch.setattr(numpy_loops, "_layout", counted_layout)

    class state:
        count = request.param
        splits = 0
        loops = 0
    nb.set_threads(request.param)
    yield state
    nb.set_threads(0)


def _special(rng, shape, dtype=np.float32):
    """Random values with NaN, infinities and both zeros among them."""
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    flat = x.reshape(-1)
    picks = rng.integers(0, flat.size, size=min(flat.size, 64))
    flat[picks] = rng.choice(np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0],
                                      dtype), size=picks.size)
    return x


# ------------------------------------------------------------------ Adam as an update group

def _adam_parts():
    """An Adam step as the plan folds it: m += (g - m) * (1 - beta1), v += (g^2 - v) *
    (1 - beta2), var -= lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + eps), the
    step-dependent factor computed from single elements."""
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


def _adam_state(rng, n, special=False):
    make = (lambda: _special(rng, n)) if special else (
        lambda: rng.standard_normal(n).astype(np.float32))
    g, m, var = make(), make() * np.float32(0.1), make()
    v = np.abs(make()) * np.float32(0.01)
    return g, m, v, var


def _adam_args(g, m, v, var, step):
    f = np.float32
    return (g, m, np.array(f(0.1)), m,
            g, v, np.array(f(0.001)), v,
            np.array(f(0.9)), np.array(f(step)), np.array(f(0.999)), np.array(f(1)),
            np.array(f(1e-3)), m, v, np.array(f(1e-7)), var)


@pytest.mark.parametrize("n", [nb._FUSED_CHUNKED_MIN_SIZE,
                               nb._FUSED_CHUNKED_MIN_SIZE + 17,
                               5 * nb._FUSED_CHUNK + 3333])
@pytest.mark.parametrize("special", [False, True], ids=["normal", "nan-inf-zeros"])
def test_an_adam_group_as_one_loop_gives_the_numpy_groups_bits(threads, monkeypatch, n,
                                                               special):
    monkeypatch.setattr(nb, "_FUSED_CHUNKS_PER_PIECE", 1)
    rng = np.random.default_rng(n)
    parts = _adam_parts()
    numpy_group = nb.fused_update_group(parts, [None] * 3, n)
    loop_group = nb.fused_update_group(parts, [None] * 3, n, native=True)
    state = _adam_state(rng, n, special)
    expected, got = [a.copy() for a in state], [a.copy() for a in state]
    for step in (1, 2, 3):
        numpy_group(*_adam_args(*expected, step))
        loop_group(*_adam_args(*got, step))
    for e, g in zip(expected, got):
        assert_same_bits(g, e)
    assert threads.loops == 3
    assert threads.splits or threads.count == 1
    if not special:  # and those are Adam's numbers
        g, m, v, var = (a.astype(np.float64) for a in state)
        for step in (1, 2, 3):
            m = m + (g - m) * 0.1
            v = v + (g * g - v) * 0.001
            var = var - 1e-3 * np.sqrt(1 - 0.999 ** step) / (1 - 0.9 ** step) * m / (
                np.sqrt(v) + 1e-7)
        np.testing.assert_allclose(got[3], var, rtol=1e-5, atol=1e-6)


def test_an_update_group_reading_a_later_updates_target_keeps_the_order(threads):
    # u += v, then v *= u: the first update reads v before the second writes it, the second
    # reads the u the first wrote.
    n = nb._FUSED_CHUNKED_MIN_SIZE + 5
    add = (("add", (1, 0), (), F32),)
    scale = (("multiply", (1, 0), (), F32),)
    parts = [(add, 2, True), (scale, 2, True)]
    rng = np.random.default_rng(1)
    u0, v0 = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    results = []
    for native in (False, True):
        group = nb.fused_update_group(parts, [None, None], n, native=native)
        u, v = u0.copy(), v0.copy()
        group(v, u, u, v)
        results.append((u, v))
    (u_numpy, v_numpy), (u, v) = results
    assert_same_bits(u, u_numpy)
    assert_same_bits(v, v_numpy)
    np.testing.assert_array_equal(u, u0 + v0)
    np.testing.assert_array_equal(v, (u0 + v0) * v0)
    assert threads.loops == 1


def test_an_update_group_reads_what_earlier_updates_stored_in_the_same_element(threads):
    # u += v; v *= u; u -= v: the third update reads the u the first stored and the v the
    # second stored (the loop keeps both in registers rather than reading them back), and
    # stores into u a second time.
    n = nb._FUSED_CHUNKED_MIN_SIZE + 9
    add = (("add", (1, 0), (), F32),)
    scale = (("multiply", (1, 0), (), F32),)
    take = (("subtract", (1, 0), (), F32),)
    parts = [(add, 2, True), (scale, 2, True), (take, 2, True)]
    rng = np.random.default_rng(2)
    u0, v0 = _special(rng, n), _special(rng, n)
    results = []
    for native in (False, True):
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


def test_a_product_and_a_looped_update_overlap_with_the_numpy_bits(threads, monkeypatch):
    monkeypatch.setattr(nb, "_GEMM_SPLIT_MIN", 1 << 12)
    monkeypatch.setattr(nb, "_FUSED_CHUNK", 512)
    monkeypatch.setattr(nb, "_FUSED_CHUNKED_MIN_SIZE", 2048)
    monkeypatch.setattr(nb, "_FUSED_CHUNKS_PER_PIECE", 1)
    rng = np.random.default_rng(2)
    a = rng.standard_normal((64, 300), dtype=np.float32)
    b = rng.standard_normal((64, 90), dtype=np.float32)
    offset, size = 1000, 300 * 90
    n = offset + size + 777
    gradients = rng.standard_normal(n).astype(np.float32)
    write = nb.writer("matmul", {"transpose_a": True, "transpose_b": False}, 2, size)
    state = _adam_state(rng, n)
    results = []
    for native in (False, True):
        group = nb.fused_update_group(_adam_parts(), [None] * 3, n, native=native)
        combined = nb.update_after_product(write, offset, size, (300, 90), group)
        _, m, v, var = (x.copy() for x in state)
        buffer = gradients.copy()
        threads.splits = 0
        assert combined(a, b, buffer, *_adam_args(buffer, m, v, var, 1)) == ()
        results.append((buffer, m, v, var))
    for got, expected in zip(*results[::-1]):
        assert_same_bits(got, expected)
    assert threads.loops == 1
    if threads.count > 1:  # the product and the updates at once: one split, not two
        assert threads.splits == 1


# ------------------------------------------------------------------ fused elementwise programs

BIAS_RELU = (("add", (0, 1), (), F32), ("relu", (2,), (), F32))
RELU_GRAD = (("greater", (0, 1), (), BOOL), ("cast", (3,), (("dtype", F32),), F32),
             ("multiply", (2, 4), (), F32))
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


def _elementwise_cases(rng):
    x = _special(rng, (300, 70))
    return {
        "bias + relu": (BIAS_RELU, [x, _special(rng, 70)]),
        "bias + relu, a (1, 70) row over three axes": (
            BIAS_RELU, [_special(rng, (20, 15, 70)), _special(rng, (1, 70))]),
        "relu gradient": (RELU_GRAD, [x, np.zeros((), np.float32), _special(rng, (300, 70))]),
        "maximum, minimum, negative": (MIN_MAX, [x, _special(rng, (300, 70))]),
        "a column": (MIN_MAX, [x, _special(rng, (300, 1))]),
        "a NumPy scalar": (MIN_MAX, [x, np.float32(-0.0)]),
        "selects, divisions by zero": (SELECTS, [x, _special(rng, (300, 70))]),
        "casts": (CASTS, [x, _special(rng, (300, 70))]),
        "a head of single elements": (
            HEADED, [x, np.array([1.5], np.float32), np.array(3.0, np.float32)]),
        "float64": (tuple((name, refs, attrs, F64) for name, refs, attrs, _ in BIAS_RELU),
                    [x.astype(np.float64), _special(rng, 70, np.float64)]),
    }


@pytest.mark.parametrize("case", sorted(_elementwise_cases(np.random.default_rng(0))))
def test_a_fused_program_as_one_loop_gives_the_numpy_runners_bits(threads, case):
    program, inputs = _elementwise_cases(np.random.default_rng(3))[case]
    size = int(np.prod(np.broadcast_shapes(*(np.shape(a) for a in inputs))))
    numpy_run = nb.specialize("fused_elementwise", {"program": program}, len(inputs),
                              result_size=size)
    loop_run = nb.specialize("fused_elementwise", {"program": program}, len(inputs),
                             result_size=size, native=True)
    expected = numpy_run(*inputs)
    assert_same_bits(loop_run(*inputs), expected)
    out = np.empty_like(expected)
    assert loop_run(*inputs, out=out) is out
    assert_same_bits(out, expected)
    assert threads.loops == 1
    assert threads.splits or threads.count == 1


def test_a_fused_program_writing_over_its_input_gives_the_numpy_bits(threads):
    rng = np.random.default_rng(4)
    x, b = _special(rng, (300, 70)), _special(rng, 70)
    expected = nb.fused_elementwise(x, b, program=BIAS_RELU)
    loop_run = nb.specialize("fused_elementwise", {"program": BIAS_RELU, "out_fits": True}, 2,
                             result_size=x.size, native=True)
    assert loop_run(x, b, out=x) is x
    assert_same_bits(x, expected)


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
    ]
    for program, inputs in cases:
        size = int(np.prod(np.broadcast_shapes(*(np.shape(a) for a in inputs))))
        expected = nb.fused_elementwise(*inputs, program=program)
        got = nb.specialize("fused_elementwise", {"program": program}, len(inputs),
                            result_size=size, native=True)(*inputs)
        assert_same_bits(got, expected)
    assert threads.loops == 0


# ------------------------------------------------------------------ a training step

OPTIMIZERS = {
    "adam": lambda: keras.optimizers.Adam(1e-3),
    "adam amsgrad": lambda: keras.optimizers.Adam(1e-3, amsgrad=True),
    "adamax": lambda: keras.optimizers.Adamax(1e-3),
    "rmsprop centered": lambda: keras.optimizers.RMSprop(1e-3, centered=True, momentum=0.5),
    "sgd nesterov": lambda: keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True),
}


def _fit(jit_compile, width, optimizer):
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(8)
    x = rng.standard_normal((192, 784)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 192)]
    model = keras.Sequential([keras.Input((784,)),
                              keras.layers.Dense(width, activation="relu"),
                              keras.layers.Dense(width, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=OPTIMIZERS[optimizer](), loss="categorical_crossentropy",
                  jit_compile=jit_compile)
    history = model.fit(x, y, batch_size=64, epochs=2, verbose=0)
    return model, history.history["loss"]


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_a_wide_mlp_trains_to_the_same_bits_with_jit_compile(threads, optimizer):
    # 784 -> 256 -> 256 -> 10: the optimizer's updates of 270k parameters (an update group),
    # bias + relu and relu gradients over (64, 256) activations: too large for the
    # whole-plan native step.
    model, losses = _fit(False, 256, optimizer)
    assert threads.loops == 0  # the default plan keeps NumPy
    jit_model, jit_losses = _fit(True, 256, optimizer)
    assert threads.loops >= 3
    assert jit_losses == losses
    for got, expected in zip(jit_model.weights + jit_model.optimizer.variables,
                             model.weights + model.optimizer.variables):
        assert_same_bits(got.numpy(), expected.numpy())
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


def test_a_loop_numba_cannot_compile_leaves_the_numpy_path(threads, monkeypatch):
    tried = []

    def untypable(source, name):
        def loop(*arguments):
            tried.append(name)
            raise TypeError("Numba cannot type this")
        return loop
    monkeypatch.setattr(numpy_loops, "_njit", untypable)
    monkeypatch.setattr(numpy_loops, "_LOOPS", {})
    rng = np.random.default_rng(6)
    x, b = _special(rng, (300, 70)), _special(rng, 70)
    loop_run = nb.specialize("fused_elementwise", {"program": BIAS_RELU}, 2,
                             result_size=x.size, native=True)
    for _ in range(2):
        assert_same_bits(loop_run(x, b), nb.fused_elementwise(x, b, program=BIAS_RELU))
    n = nb._FUSED_CHUNKED_MIN_SIZE + 3
    parts = _adam_parts()
    state = _adam_state(rng, n)
    expected, got = [a.copy() for a in state], [a.copy() for a in state]
    nb.fused_update_group(parts, [None] * 3, n)(*_adam_args(*expected, 1))
    nb.fused_update_group(parts, [None] * 3, n, native=True)(*_adam_args(*got, 1))
    for e, g in zip(expected, got):
        assert_same_bits(g, e)
    assert tried == ["loop", "group"]  # once each: not on every call


@pytest.mark.parametrize("dtype", [F32, F64], ids=["float32", "float64"])
@pytest.mark.parametrize("kernel", ["maximum", "minimum", "relu"])
def test_maximum_and_minimum_give_numpys_bits_with_subnormals_flushed_and_kept(threads, kernel,
                                                                                dtype):
    # Under a compiled run's denormals-are-zero NumPy's maximum and minimum return a
    # subnormal operand as the signed zero it compares as (maximum(0.0, 1e-45) is 0.0);
    # with subnormals kept, its bits.
    from tensorflux.backends import numpy_denormals

    np_dtype = np.dtype(dtype.as_numpy_dtype)
    tiny = np.finfo(np_dtype).smallest_subnormal
    values = np.array([tiny, -tiny, tiny * 1000, -tiny * 77, 0.0, -0.0, 1.5, -2.0,
                       np.finfo(np_dtype).tiny, np.nan, -np.nan, np.inf, -np.inf], np_dtype)
    a, b = (np.tile(g.reshape(-1), 150) for g in np.meshgrid(values, values, indexing="ij"))
    if kernel == "relu":
        cases = [((("relu", (0,), (), dtype),), [a])]
    else:
        program = ((kernel, (0, 1), (), dtype),)
        cases = [(program, [a, b]), (program, [a, np.array(-tiny * 5, np_dtype)])]
    for program, inputs in cases:
        run = nb.specialize("fused_elementwise", {"program": program}, len(inputs),
                            result_size=a.size, native=True)
        def both(run=run, inputs=inputs, program=program):
            return run(*inputs), nb.fused_elementwise(*inputs, program=program)
        for flush in (False, True):
            got, expected = (numpy_denormals.flushing(both) if flush else both)()
            assert_same_bits(got, expected)
    assert threads.loops == len(cases)
