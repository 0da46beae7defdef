"""Graph passes (tensorflux/graph/passes.py) and the executor's buffer planning: each pass on
small traced graphs (node counts before and after, results equal to eager), and fusion on a
model-sized training step."""

import itertools
import math
from collections import Counter

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.backends import default_backend
from tensorflux.graph import passes
from tensorflux.graph.executor import Plan
from tensorflux.primitive import registry


def trace(fn, *specs):
    """The unoptimized graph of fn for these specs."""
    with passes.disabled():
        return tf.function(fn).get_concrete_function(*specs).graph


def types(graph):
    return Counter(node.type for node in graph.nodes)


def run(graph, *arrays):
    """Runs graph with the compiled executor; returns its outputs as NumPy arrays."""
    plan = Plan(graph, default_backend(), captures=list(graph.captures.values()))
    slots = plan.run([np.asarray(a, np.float32) for a in arrays],
                     [c._value for c, _ in graph.captures.values()])
    return [np.array(slots[plan.output_slot(t)]) for t in graph.outputs]


def spec(*shape):
    return tf.TensorSpec(list(shape), tf.float32)


X = np.array([[0.5, -1.25, 2.0], [1.5, 0.25, -0.75]], np.float32)


def check_same(graph, fn, *arrays):
    expected = fn(*[tf.constant(a) for a in arrays])
    expected = expected if isinstance(expected, (tuple, list)) else [expected]
    got = run(graph, *arrays)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e.numpy(), rtol=1.3e-6, atol=1e-6)


# ------------------------------------------------------------------ dead code

def test_dead_code_removes_unused_nodes_and_their_constants():
    def f(x):
        tf.exp(x) * 3.0  # unused
        return x + 1.0
    g = trace(f, spec(2, 3))
    assert types(g)["exp"] == 1
    g = passes.eliminate_dead_code(g)
    assert types(g) == Counter({"placeholder": 1, "const": 1, "add": 1})
    check_same(g, f, X)


def test_dead_code_keeps_assignments_random_draws_and_what_they_read():
    v = tf.Variable(np.zeros((2, 3), np.float32))

    def f(x):
        v.assign(tf.exp(x) * 2.0)
        tf.random.uniform([4], seed=3)  # unused, but a random draw
        tf.sqrt(x)  # unused
        return x - 1.0
    g = trace(f, spec(2, 3))
    g = passes.eliminate_dead_code(g)
    counts = types(g)
    assert counts["assign"] == 1 and counts["exp"] == 1 and counts["multiply"] == 1
    assert counts["random_uniform"] == 1 and counts["sqrt"] == 0
    run(g, X)
    np.testing.assert_allclose(v.numpy(), np.exp(X) * 2.0, rtol=1.3e-6)


# ------------------------------------------------------------------ constant folding

def test_folding_evaluates_constant_subgraphs():
    def f(x):
        scale = tf.exp(tf.constant(1.0)) + tf.constant([1.0, 2.0, 3.0]) * 2.0
        return x * scale
    g = trace(f, spec(2, 3))
    before = types(g)
    g = passes.fold_constants(g)
    g = passes.eliminate_dead_code(g)
    after = types(g)
    assert before["exp"] == 1 and after["exp"] == 0 and after["add"] == 0
    assert after == Counter({"placeholder": 1, "const": 1, "multiply": 1})
    check_same(g, f, X)


def test_folding_uses_static_shapes_for_fill_like():
    def f(x):
        return tf.zeros_like(tf.exp(x)) + x
    g = trace(f, spec(2, 3))
    assert types(g)["fill_like"] == 1
    g = passes.optimize(g)
    assert types(g)["fill_like"] == 0 and types(g)["exp"] == 0
    check_same(g, f, X)


def test_folding_skips_results_over_the_limit_and_random_draws():
    def f(x):
        big = tf.ones([50, 40]) * 2.0
        noise = tf.random.uniform([2, 3], seed=1) * 2.0
        return x + noise, big
    g = trace(f, spec(2, 3))
    random_part = {n.name for n in g.nodes if n.type in ("random_uniform", "multiply")
                   and n.outputs.shape == (2, 3)}
    g = passes.fold_constants(g, limit=100)
    big_nodes = [n for n in g.nodes if n.outputs.shape == (50, 40)]
    assert [n.type for n in big_nodes] == ["fill", "multiply"]
    g = passes.fold_constants(g)  # the default limit is 1e6 elements: `big` folds now
    big_nodes = [n for n in g.nodes if n.outputs.shape == (50, 40)]
    assert [n.type for n in big_nodes] == ["const", "const"]
    assert {n.name for n in g.nodes if n.type in ("random_uniform", "multiply")} == random_part
    # A result over a million elements is left to run time, without being computed.
    g = trace(lambda x: tf.ones([1001, 1000]) * x, spec())
    g = passes.fold_constants(g)
    assert types(g)["multiply"] == 1


# ------------------------------------------------------------------ CSE

def test_cse_merges_equal_nodes_and_equal_small_constants():
    def f(x):
        return tf.exp(x) * tf.constant(2.0) + tf.exp(x) * tf.constant(2.0)
    g = trace(f, spec(2, 3))
    assert types(g)["exp"] == 2 and types(g)["multiply"] == 2 and types(g)["const"] == 2
    g = passes.eliminate_common_subexpressions(g)
    assert types(g) == Counter({"placeholder": 1, "exp": 1, "const": 1, "multiply": 1,
                                "add": 1})
    check_same(g, f, X)


def test_cse_compares_attributes_and_keeps_large_constants_apart():
    big = np.arange(100, dtype=np.float32)

    def f(x):
        a = tf.reduce_sum(x, axis=0)
        b = tf.reduce_sum(x, axis=1)
        return a, b, tf.constant(big) + tf.reduce_sum(x), tf.constant(big.copy())
    g = trace(f, spec(2, 3))
    g = passes.eliminate_common_subexpressions(g)
    assert types(g)["reduce_sum"] == 3
    # Two equal 100-element constants: compared by identity, so both stay.
    assert sum(1 for n in g.nodes if n.type == "const" and n.attrs["value"].size == 100) == 2
    assert passes._attr_key(big) != passes._attr_key(big.copy())
    assert passes._attr_key(big) == passes._attr_key(big)
    assert passes._attr_key((1, 2.0)) == passes._attr_key((1, 2.0))
    assert passes._attr_key(0.0) != passes._attr_key(-0.0)
    assert passes._attr_key(1) != passes._attr_key(True)


def test_cse_never_merges_reads_of_a_variable_across_an_assignment():
    v = tf.Variable(np.eye(3, dtype=np.float32))

    def f(x):
        before = tf.matmul(x, v)
        v.assign(v * 2.0)
        after = tf.matmul(x, v)
        again = tf.matmul(x, v)
        return before, after + again
    g = trace(f, spec(2, 3))
    g = passes.eliminate_common_subexpressions(g)
    assert types(g)["matmul"] == 2  # `after` and `again` merge; `before` stays
    before, both = run(g, X)
    np.testing.assert_allclose(before, X)
    np.testing.assert_allclose(both, X * 4.0)


def test_cse_never_merges_stateful_nodes():
    v = tf.Variable(0.0)

    def f(x):
        v.assign_add(1.0)
        v.assign_add(1.0)
        return x * 1.0
    g = trace(f, spec())
    g = passes.optimize(g)
    assert types(g)["assign"] == 2
    run(g, 1.0)
    assert float(v.numpy()) == 2.0


# ------------------------------------------------------------------ simplification

def test_simplify_removes_arithmetic_identities():
    def f(x):
        e = tf.exp(x)
        return tf.sqrt((((1.0 * (e * 1.0) + 0.0) - 0.0) / 1.0) + (0.0 + e))
    g = trace(f, spec(2, 3))
    g = passes.simplify(g)
    g = passes.eliminate_dead_code(g)
    assert types(g) == Counter({"placeholder": 1, "exp": 1, "add": 1, "sqrt": 1})
    check_same(g, f, X)


def test_simplify_keeps_a_unit_constant_that_broadcasts_the_result():
    def f(x):
        return tf.exp(x) * tf.ones([2, 3]), tf.exp(x) + tf.zeros([3], tf.float32)
    g = trace(f, spec(3))
    g = passes.fold_constants(g)
    g = passes.simplify(g)
    assert types(g)["multiply"] == 1  # (3,) * (2, 3) changes the shape: kept
    assert types(g)["add"] == 0  # (3,) + (3,) zeros: removed
    check_same(g, f, X[0])


def test_simplify_composes_transposes_and_reshapes():
    def f(x):
        e = tf.exp(x)
        back = tf.transpose(tf.transpose(e, [1, 0, 2]), [1, 0, 2])
        turned = tf.transpose(tf.transpose(e, [1, 2, 0]), [1, 2, 0])
        flat = tf.reshape(tf.reshape(e, [6, 4]), [4, 6])
        same = tf.reshape(tf.reshape(e, [24]), [2, 3, 4])
        return back + 1.0, turned, flat, same * 2.0
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 10
    g = trace(f, spec(2, 3, 4))
    assert types(g)["transpose"] == 4 and types(g)["reshape"] == 4
    g = passes.simplify(g)
    g = passes.eliminate_dead_code(g)
    assert types(g)["transpose"] == 1 and types(g)["reshape"] == 1
    (turned,) = [n for n in g.nodes if n.type == "transpose"]
    assert turned.attrs["perm"] == (2, 0, 1)
    check_same(g, f, x)


def test_simplify_removes_same_dtype_casts_identities_and_double_negation():
    def f(x):
        e = tf.exp(x)
        c = registry["cast"].bind(e, dtype=tf.float32)
        i = registry["identity"].bind(c)
        return tf.negative(tf.negative(i)) * 3.0
    g = trace(f, spec(2, 3))
    assert types(g)["cast"] == 1 and types(g)["identity"] == 1
    g = passes.simplify(g)
    g = passes.eliminate_dead_code(g)
    assert types(g) == Counter({"placeholder": 1, "exp": 1, "const": 1, "multiply": 1})
    check_same(g, f, X)


def test_simplify_removes_reductions_over_no_axes():
    def f(x):
        total = tf.reduce_sum(tf.exp(x))
        return tf.reduce_sum(total, axis=[]) + tf.reduce_max(tf.reduce_mean(total, axis=[]))
    g = trace(f, spec(2, 3))
    assert types(g)["reduce_sum"] == 2
    g = passes.eliminate_dead_code(passes.simplify(g))
    assert types(g)["reduce_sum"] == 1 and types(g)["reduce_mean"] == 0
    assert types(g)["reduce_max"] == 0  # a scalar's max over all (no) axes
    check_same(g, f, X)


def test_simplify_keeps_variable_reads_in_place():
    v = tf.Variable(np.ones((2, 3), np.float32))

    def f(x):
        read = registry["identity"].bind(v)  # a copy of v now
        v.assign(x)
        return read * 1.0
    g = trace(f, spec(2, 3))
    g = passes.optimize(g)
    assert types(g)["identity"] == 1
    (out,) = run(g, X)
    np.testing.assert_array_equal(out, np.ones((2, 3)))


def test_replaced_outputs_stay_valid():
    def f(x):
        return tf.exp(x) * 1.0, x * 1.0
    g = trace(f, spec(2, 3))
    first, second = g.outputs
    optimized = passes.optimize(g)
    # In the optimized graph the first output is the exp's result and the second is the
    # input itself; the traced graph keeps its own outputs.
    assert optimized.outputs[0].node.type == "exp"
    assert optimized.outputs[1] is optimized.inputs[0] and types(optimized)["multiply"] == 0
    assert g.outputs[0] is first and g.outputs[1] is second
    assert first.node.type == "multiply"
    g = optimized
    check_same(g, f, X)
    a, b = tf.function(f)(tf.constant(X))
    np.testing.assert_allclose(a.numpy(), np.exp(X), rtol=1.3e-6)
    np.testing.assert_array_equal(b.numpy(), X)


# ------------------------------------------------------------------ fusion

def test_fusion_merges_an_elementwise_chain_into_one_kernel():
    def f(x):
        return tf.sigmoid(tf.nn.relu(x * 2.0 + 1.0) - tf.tanh(x))
    g = trace(f, spec(2, 3))
    g = passes.fuse_elementwise(g)
    counts = types(g)
    assert counts["fused_elementwise"] == 1
    assert sum(counts.values()) == 1 + 1 + 2  # placeholder, fused, two constants
    (fused,) = [n for n in g.nodes if n.type == "fused_elementwise"]
    assert [step[0] for step in fused.attrs["program"]] == [
        "multiply", "add", "relu", "tanh", "subtract", "sigmoid"]
    check_same(g, f, X)


def test_fusion_stops_at_shared_intermediates_and_outputs():
    def f(x):
        shared = tf.exp(x)
        out = tf.sqrt(x) + 1.0
        return shared * 2.0 + shared * 3.0, out, out * 4.0 - 1.0
    g = trace(f, spec(2, 3))
    g = passes.fuse_elementwise(g)
    counts = types(g)
    assert counts["exp"] == 1  # two consumers: computed once, outside the fused trees
    assert counts["fused_elementwise"] == 3
    check_same(g, f, np.abs(X))


def test_fusion_never_moves_a_variable_read_past_an_assignment():
    v = tf.Variable(np.ones((2, 3), np.float32))

    def f(x):
        scaled = v * 2.0
        v.assign(x)
        return scaled + 1.0, v * 2.0 + 1.0
    g = trace(f, spec(2, 3))
    g = passes.fuse_elementwise(g)
    assert types(g)["fused_elementwise"] == 1  # only the read after the assignment
    old, new = run(g, X)
    np.testing.assert_array_equal(old, np.full((2, 3), 3.0))
    np.testing.assert_allclose(new, X * 2.0 + 1.0)


def test_fusion_handles_broadcasting_casts_and_select():
    def f(x, b):
        positive = tf.cast(x > 0.0, tf.float32)
        return tf.where(x > b, x * positive, -b) + b * 0.5
    b = np.array([0.1, 0.3, -0.2], np.float32)
    g = trace(f, spec(2, 3), spec(3))
    g = passes.optimize(g)
    assert types(g)["fused_elementwise"] >= 1
    assert not {"cast", "select", "multiply", "greater"} & set(types(g))
    check_same(g, f, X, b)


def test_a_tape_outside_a_fused_function_gets_the_gradient():
    f = tf.function(lambda x: tf.reduce_sum(tf.sigmoid(x * 2.0 + 1.0) * x))
    x = tf.constant(X)
    f(x)
    assert "fused_elementwise" in types(f.get_concrete_function(x).graph)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    grad = tape.gradient(y, x).numpy()
    s = 1 / (1 + np.exp(-(2 * X + 1)))
    np.testing.assert_allclose(grad, s + x.numpy() * 2 * s * (1 - s), rtol=1e-5)


def test_fused_kernel_reuses_temporaries_and_fills_out():
    from tensorflux.backends import numpy_backend as nb

    program = (("multiply", (0, 1), (), tf.float32), ("exp", (2,), (), tf.float32),
               ("add", (3, 0), (), tf.float32))
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    y = np.float32(2.0) * np.ones((1, 3), np.float32)
    expected = np.exp(x * y) + x
    np.testing.assert_allclose(nb.fused_elementwise(x, y, program=program), expected,
                               rtol=1.3e-6)
    out = np.empty((2, 3), np.float32)
    result = nb.fused_elementwise(x, y, program=program, out=out)
    assert result is out
    np.testing.assert_allclose(out, expected, rtol=1.3e-6)
    wrong = np.empty((3, 2), np.float32)  # not the result's shape: ignored
    assert nb.fused_elementwise(x, y, program=program, out=wrong) is not wrong
    np.testing.assert_array_equal(x, np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3))


@pytest.mark.parametrize("shape", [(3, 40), (2, 5), (64,), ()])
def test_fused_relu_writes_in_place_or_into_out_with_relus_values(shape):
    from tensorflux.backends import numpy_backend as nb

    program = (("add", (0, 1), (), tf.float32), ("relu", (2,), (), tf.float32))
    inner = (("add", (0, 1), (), tf.float32), ("relu", (2,), (), tf.float32),
             ("multiply", (3, 1), (), tf.float32))  # a relu that is not last
    x = np.linspace(-2, 2, math.prod(shape), dtype=np.float32).reshape(shape)
    x.reshape(-1)[:3] = [np.nan, -0.0, 0.0] if x.size >= 3 else x.reshape(-1)[:3]
    b = np.linspace(1, -1, shape[-1] if shape else 1, dtype=np.float32).reshape(shape[-1:])
    expected = nb.relu(x + b)
    np.testing.assert_array_equal(nb.fused_elementwise(x, b, program=program), expected)
    out = np.full(shape, np.inf, np.float32)
    assert nb.fused_elementwise(x, b, program=program, out=out) is out
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(np.signbit(out), np.signbit(expected))
    np.testing.assert_array_equal(nb.fused_elementwise(x, b, program=inner), expected * b)
    wrong = np.empty((7,), np.float32)  # not the result's shape: ignored
    assert nb.fused_elementwise(x, b, program=program, out=wrong) is not wrong
    transposed = np.asfortranarray(np.full(shape, np.inf, np.float32))
    result = nb.fused_elementwise(x, b, program=program, out=transposed)
    np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_sigmoid_of_a_rank_0_value_broadcast_over_an_array(dtype):
    """sigmoid(scalar) * array as one fused program: the sigmoid of the rank-0 register is a
    NumPy scalar, which the kernel's in-place ufunc calls cannot write into."""
    step = tf.function(lambda s, ones: tf.sigmoid(s) * ones)
    ones = tf.ones((2, 3), dtype)
    for value in (0.5, -30.0, 30.0, -0.0, np.inf, -np.inf):
        s = tf.constant(np.asarray(value, dtype))
        want = 1 / (1 + np.exp(-np.float64(value)))
        got = step(s, ones).numpy()
        assert got.dtype == dtype and got.shape == (2, 3)
        np.testing.assert_array_equal(got, tf.sigmoid(s).numpy() * np.ones((2, 3), dtype))
        np.testing.assert_allclose(got, np.full((2, 3), want), rtol=1e-6)
    graph = step.get_concrete_function(s, ones).graph
    assert types(graph)["fused_elementwise"] == 1


def test_fused_kernel_chain_holds_one_temporary():
    import tracemalloc

    from tensorflux.backends import numpy_backend as nb

    program = (("exp", (0,), (), tf.float32), ("negative", (1,), (), tf.float32),
               ("add", (2, 0), (), tf.float32), ("multiply", (3, 3), (), tf.float32))
    x = np.linspace(-1, 1, 100_000, dtype=np.float32)
    nb.fused_elementwise(x, program=program)  # compiles the program
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = nb.fused_elementwise(x, program=program)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # Each instruction writes into the temporary it consumes: one buffer, not two at a time.
    assert peak < 1.5 * x.nbytes, peak
    np.testing.assert_allclose(result, (x - np.exp(x)) ** 2, rtol=1.3e-6, atol=1e-6)


def test_fused_kernel_writes_a_long_out_chunk_by_chunk_with_the_same_numbers():
    from tensorflux.backends import numpy_backend as nb

    # An Adam-like update: scalar instructions (run once) feed the long ones (per chunk).
    program = (("pow", (0, 1), (), tf.float32), ("sqrt", (5,), (), tf.float32),
               ("multiply", (2, 6), (), tf.float32), ("multiply", (3, 7), (), tf.float32),
               ("sqrt", (4,), (), tf.float32), ("add", (9, 2), (), tf.float32),
               ("divide", (8, 10), (), tf.float32), ("subtract", (3, 11), (), tf.float32))
    n = nb._FUSED_CHUNKED_MIN_SIZE + nb._FUSED_CHUNK // 3  # a partial last chunk
    rng = np.random.default_rng(0)
    m = rng.standard_normal(n).astype(np.float32)
    v = np.abs(rng.standard_normal(n)).astype(np.float32)
    inputs = (np.float32(0.999), np.array([3.0], np.float32), np.array(1e-3, np.float32), m, v)
    expected = nb._fused_compile(program, 5)(*inputs)  # the unchunked code
    out = np.empty(n, np.float32)
    assert nb.fused_elementwise(*inputs, program=program, out=out) is out
    np.testing.assert_array_equal(out, expected)
    assert nb._fused_chunked(program, inputs, out) is not None
    # In place over an input, as an optimizer's update writes its slot.
    target = m.copy()
    assert nb.fused_elementwise(*inputs[:3], target, v, program=program, out=target) is target
    np.testing.assert_array_equal(target, expected)
    # Inputs of another shape, or another dtype of out: not chunked, still right.
    assert nb._fused_chunked(program, inputs[:3] + (m.reshape(1, n), v), out) is None
    out64 = np.empty(n, np.float64)
    np.testing.assert_array_equal(nb.fused_elementwise(*inputs, program=program, out=out64),
                                  expected)


def test_small_fused_programs_skip_row_blocks_only_when_certainly_small():
    from tensorflux.backends import numpy_backend as nb

    # The cheap size bound must never call a result small that broadcasting makes large.
    limit = nb._FUSED_BLOCK_BYTES >> 3
    shapes = [(), (1,), (3,), (3, 1), (1, 3), (4, 3), (1, 1, 3), (0,), (600, 300), (300,),
              (600, 1), (1, 300), (2000, 600)]
    for combo in itertools.product(shapes, repeat=3):
        try:
            full = np.broadcast_shapes(*combo)
        except ValueError:
            continue
        arrays = [np.empty(shape, np.float32) for shape in combo]
        if nb._below_row_blocks(arrays):
            assert math.prod(full) <= limit, combo
    assert nb._below_row_blocks([np.empty((10, 10)), np.empty(10), 2.0])
    assert not nb._below_row_blocks([np.empty((600, 1)), np.empty((1, 300))])


@pytest.mark.parametrize("dtype", [tf.float16, tf.float32, tf.float64, tf.int32, tf.int64])
def test_scalar_fused_programs_give_the_ufunc_results_bit_for_bit(dtype):
    from tensorflux.backends import numpy_backend as nb

    floating = dtype.is_floating
    program = (("add", (0, 1), (), dtype), ("subtract", (3, 2), (), dtype),
               ("multiply", (4, 0), (), dtype), ("negative", (5,), (), dtype),
               ("less", (6, 1), (), tf.bool), ("select", (7, 6, 3), (), dtype),
               ("greater_equal", (8, 2), (), tf.bool), ("select", (9, 8, 0), (), dtype))
    if floating:
        program += (("divide", (10, 1), (), dtype), ("sqrt", (11,), (), dtype),
                    ("pow", (12, 2), (), dtype))
    program += (("cast", (len(program) + 2,), (("dtype", tf.float64),), tf.float64),)
    scalar = nb._fused_compile_scalar(program, 3)
    reference = nb._fused_compile(program, 3)
    native = nb.native_dtype(dtype)
    values = [0, 1, -3, 7, 2] + ([-0.0, 0.5, 1e-30, 3e38, np.inf, -np.inf, np.nan]
                                 if floating else [2**31 - 1, -(2**31)])
    for a, b, c in itertools.product(values, repeat=3):
        with np.errstate(all="ignore"):  # (inf and NaN on purpose)
            inputs = [np.array(a, native), np.array(b, native), np.array(c, native)]
            got, expected = scalar(*inputs), reference(*inputs)
        assert np.asarray(got).dtype == np.asarray(expected).dtype
        assert np.asarray(got).tobytes() == np.asarray(expected).tobytes(), (a, b, c)
        # Written into a rank-0 target (a folded assign), with numpy scalars as inputs.
        target = np.zeros((), np.float64)
        into = nb._fused_compile_scalar(program, 3, into_out=True)
        with np.errstate(all="ignore"):
            assert into(*[x[()] for x in inputs], out=target) is target
        assert target.tobytes() == np.asarray(expected).tobytes()


@pytest.mark.parametrize("dtype", [tf.float16, tf.float32, tf.float64])
def test_small_fused_programs_give_the_general_results_bit_for_bit(dtype):
    from tensorflux.backends import numpy_backend as nb

    # Rank-0 inputs 0 and 1 (step scalars: Python operators, a conditional), a [4, 3] input
    # 2 and a [3] input 3; select, relu and sigmoid inlined, a comparison's mask as numbers.
    program = (("pow", (0, 1), (), dtype), ("subtract", (1, 4), (), dtype),
               ("divide", (5, 0), (), dtype), ("less", (6, 1), (), tf.bool),
               ("select", (7, 6, 0), (), dtype), ("multiply", (2, 8), (), dtype),
               ("sigmoid", (9,), (), dtype), ("relu", (3,), (), dtype),
               ("greater", (9, 11), (), tf.bool), ("cast", (12,), (("dtype", dtype),), dtype),
               ("select", (12, 10, 11), (), dtype), ("add", (14, 13), (), dtype))
    general = nb._fused_compile(program, 4)
    native = nb.native_dtype(dtype)
    rng = np.random.default_rng(0)
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, 30.0, -30.0, 1e-3]
    for a, b in itertools.product([0.5, 2.0, -1.5, 0.0, np.nan], [3.0, 0.0, -2.0, np.inf]):
        x = (rng.standard_normal((4, 3)) * 10).astype(native)
        x.flat[:8] = special
        y = rng.standard_normal(3).astype(native)
        inputs = (np.array(a, native), np.array(b, native), x, y)
        with np.errstate(all="ignore"):  # (inf and NaN on purpose)
            expected = general(*inputs)
            got = nb._fused_compile_small(program, 4, False, (0, 1))(*inputs)
            out = np.empty((4, 3), native)
            into = nb._fused_compile_small(program, 4, True, (0, 1))(*inputs, out=out)
        assert got.dtype == expected.dtype == native and got.shape == expected.shape
        assert got.tobytes() == expected.tobytes(), (a, b)
        assert into is out and out.tobytes() == expected.tobytes()
        # The eager sigmoid is what the inlined passes compute.
        with np.errstate(all="ignore"):
            z = nb.multiply(x, nb.divide(nb.subtract(b, nb.pow(a, b)), a)).astype(native)
            np.testing.assert_array_equal(
                nb._fused_compile_small((("sigmoid", (0,), (), dtype),), 1)(z), nb.sigmoid(z))


def test_small_programs_merge_chained_selects_of_one_fallback_with_the_same_picks():
    from tensorflux.backends import numpy_backend as nb

    # select(c2, select(c1, x, y), y) as select(c1 and c2, x, y); not when the inner one
    # has another reader, another fallback, or everything is rank 0 (conditionals).
    def program(y2, extra):
        body = (("greater", (0, 2), (), tf.bool), ("less", (0, 3), (), tf.bool),
                ("select", (4, 1, 2), (), tf.float32), ("select", (5, 6, y2), (), tf.float32))
        if extra:
            body += (("add", (7, 6), (), tf.float32),)
        return body
    rng = np.random.default_rng(0)
    for shapes in [((4, 3), (4, 3), (), ()), ((), (), (), ()), ((3,), (), (3,), ())]:
        inputs = [(rng.standard_normal(shape) * 2).astype(np.float32) for shape in shapes]
        inputs[1].flat[:1] = np.nan
        for y2, extra in [(2, False), (3, False), (2, True)]:
            body = program(y2, extra)
            scalar = tuple(i for i, shape in enumerate(shapes) if shape == ())
            expected = nb._fused_compile(body, 4)(*inputs)
            got = nb._fused_compile_small(body, 4, False, scalar, input_shapes=shapes)(*inputs)
            assert np.asarray(got).tobytes() == np.asarray(expected).tobytes()
            assert np.shape(got) == np.shape(expected)
    assert nb._merged_selects(program(2, False), 4, 3, set()) == {2}
    assert not nb._merged_selects(program(3, False), 4, 3, set())
    assert not nb._merged_selects(program(2, True), 4, 4, set())


def test_small_programs_take_one_element_inputs_as_0d_only_where_the_shape_stays():
    from tensorflux.backends import numpy_backend as nb

    program = (("add", (0, 1), (), tf.float32), ("sigmoid", (3,), (), tf.float32),
               ("multiply", (4, 2), (), tf.float32))
    rng = np.random.default_rng(0)
    for x_shape, b_shape, c_shape in [((10, 1), (1,), (1,)), ((1,), (1,), (1,)),
                                      ((1, 1), (1,), (1, 1, 1)), ((3,), (1,), ())]:
        inputs = [rng.standard_normal(shape).astype(np.float32)
                  for shape in (x_shape, b_shape, c_shape)]
        expected = nb._fused_compile(program, 3)(*inputs)
        fused = nb._fused_compile_small(program, 3, input_shapes=(x_shape, b_shape, c_shape))
        got = fused(*inputs)
        assert got.shape == expected.shape and got.tobytes() == expected.tobytes()


@pytest.mark.parametrize("into_target", ["read", "write"])
def test_small_and_scalar_programs_write_an_assigns_target_with_the_general_results(
        into_target):
    from tensorflux.backends import numpy_backend as nb

    # An Adam-like variable update: step scalars (inputs 0-2), then the [5] slots and target.
    program = (("pow", (0, 1), (), tf.float32), ("subtract", (2, 6), (), tf.float32),
               ("sqrt", (4,), (), tf.float32), ("add", (8, 2), (), tf.float32),
               ("divide", (3, 9), (), tf.float32), ("multiply", (10, 7), (), tf.float32),
               ("subtract", (5, 11), (), tf.float32))
    rng = np.random.default_rng(0)
    inputs = (np.array(0.9, np.float32), np.array(3.0, np.float32), np.array(1.0, np.float32),
              rng.standard_normal(5).astype(np.float32),
              np.abs(rng.standard_normal(5)).astype(np.float32),
              rng.standard_normal(5).astype(np.float32))
    expected = nb._fused_compile(program, 6)(*inputs)
    target = inputs[5].copy() if into_target == "read" else np.empty(5, np.float32)
    fused = nb.specialize("fused_elementwise", {"program": program, "into_target": into_target},
                          6, result_size=5, input_types=tuple(
                              (x.shape, tf.float32) for x in inputs))
    args = inputs[:5] + (target,) if into_target == "read" else inputs + (target,)
    assert fused(*args) == ()
    assert target.tobytes() == expected.tobytes()
    # Rank 0 throughout: the scalar compile, also writing the target itself.
    scalar_program = program[:2] + (("multiply", (7, 3), (), tf.float32),
                                    ("add", (8, 5), (), tf.float32))
    scalars = inputs[:3] + (np.array(0.25, np.float32), np.array(2.0, np.float32),
                            np.array(-1.5, np.float32))
    expected = nb._fused_compile(scalar_program, 6)(*scalars)
    target = scalars[5].copy() if into_target == "read" else np.empty((), np.float32)
    fused = nb.specialize("fused_elementwise",
                          {"program": scalar_program, "into_target": into_target}, 6,
                          scalar_inputs=True)
    args = scalars[:5] + (target,) if into_target == "read" else scalars + (target,)
    assert fused(*args) == ()
    assert target.tobytes() == np.asarray(expected).tobytes()


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64, tf.int32, tf.int64])
def test_rank_0_assigns_in_a_plan_match_eager(dtype):
    native = dtype.as_numpy_dtype if hasattr(dtype, "as_numpy_dtype") else None
    big = np.iinfo(native).max if dtype.is_integer else 1e30
    total = tf.Variable(tf.constant(big if dtype.is_integer else 0.5, dtype))
    low = tf.Variable(tf.constant(-3 if dtype.is_integer else -0.0, dtype))
    kept = tf.Variable(tf.constant(7, dtype))

    @tf.function
    def step(x):
        total.assign_add(x)  # (wraps around for integers, as TensorFlow's kernel does)
        low.assign_sub(x)
        kept.assign(x)
        return x
    for value in (1, 2, 0):
        x = tf.constant(value, dtype)
        with np.errstate(over="ignore"):
            expected = (total.numpy() + x.numpy(), low.numpy() - x.numpy(), x.numpy())
        step(x)
        for variable, want in zip((total, low, kept), expected):
            assert variable.numpy().tobytes() == np.asarray(want, native).tobytes()


@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("transpose_b", [False, True])
@pytest.mark.parametrize("strided", [False, True])
def test_small_matmuls_of_static_shapes_in_a_plan_match_eager(transpose_a, transpose_b, strided):
    # A strided operand is no BLAS operand as it is: np.matmul's own loop, as eagerly.
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 10)).astype(np.float32)
    b = rng.standard_normal((6, 10) if transpose_b else (10, 6)).astype(np.float32)
    if transpose_a:
        a = np.ascontiguousarray(a.T)

    def f(x, y):
        if strided:
            x = x[::2] if transpose_a else x[:, ::2]
            y = y[:, ::2] if transpose_b else y[::2]
        return tf.matmul(x, y, transpose_a=transpose_a, transpose_b=transpose_b)
    eager = f(tf.constant(a), tf.constant(b)).numpy()
    traced = tf.function(f)(tf.constant(a), tf.constant(b)).numpy()
    assert traced.tobytes() == eager.tobytes()
    np.testing.assert_allclose(traced, f(tf.constant(a.astype(np.float64)),
                                         tf.constant(b.astype(np.float64))).numpy(), rtol=1e-5,
                               atol=1e-5)


def test_a_folded_assign_of_a_maximum_writes_the_target_through_out():
    v = tf.Variable(np.zeros(5, np.float32))

    @tf.function
    def f(x):
        v.assign(tf.maximum(x * 2.0, 3.0))  # (NumPy deprecates maximum's positional out)
        return x
    f(tf.constant(np.arange(5, dtype=np.float32)))
    np.testing.assert_array_equal(v.numpy(), [3, 3, 4, 6, 8])


def test_means_over_axes_of_length_one_in_a_plan_are_the_values_plus_zero():
    x = np.array([[-0.0], [1.5], [np.nan], [-np.inf], [3e38]], np.float32)
    eager = tf.reduce_mean(tf.constant(x), axis=1).numpy()
    traced = tf.function(lambda t: tf.reduce_mean(t, axis=-1))(tf.constant(x)).numpy()
    kept = tf.function(lambda t: tf.reduce_mean(t, axis=1, keepdims=True))(tf.constant(x))
    assert traced.shape == (5,) and kept.shape == (5, 1)
    assert traced.tobytes() == eager.tobytes() == np.array([0.0, 1.5, np.nan, -np.inf, 3e38],
                                                           np.float32).tobytes()
    assert kept.numpy().tobytes() == eager.tobytes()


def test_plan_folds_assigns_of_fused_values_into_the_kernel():
    v = tf.Variable(np.linspace(-1, 1, 6, dtype=np.float32))
    w = tf.Variable(np.linspace(1, 2, 6, dtype=np.float32))
    u = tf.Variable(np.ones(6, np.float32))

    def f(x):
        v.assign_add((x - v) * 0.5)
        w.assign_sub(w * x * 0.25)
        u.assign(tf.exp(x) + 1.0)
        return tf.reduce_sum(x)

    def reference(v0, w0, x):
        return (v0 + (x - v0) * np.float32(0.5), w0 - w0 * x * np.float32(0.25),
                np.exp(x) + np.float32(1))
    x = np.linspace(0.5, 1.5, 6, dtype=np.float32)
    function = tf.function(f)
    concrete = function.get_concrete_function(spec(6))
    plan = concrete._plan()[0]
    assert plan.fused_assigns == 3
    assert not [step for step in plan.steps if step[5].primitive.name == "assign"]
    for _ in range(2):
        expected = reference(v.numpy(), w.numpy(), x)
        function(tf.constant(x))
        for variable, value in zip((v, w, u), expected):
            np.testing.assert_array_equal(variable.numpy(), value)


def _adam_like(p, m, s, g, t):
    # Adam's shape: the later update reads what the earlier ones wrote.
    m.assign_add((g - m) * 0.1)
    s.assign_add((tf.square(g) - s) * 0.001)
    p.assign_sub(m * (0.01 * tf.sqrt(1.0 - tf.pow(0.999, t))) / (tf.sqrt(s) + 1e-7))


def _adam_like_reference(p, m, s, g, t):
    m = m + (g - m) * np.float32(0.1)
    s = s + (np.square(g) - s) * np.float32(0.001)
    alpha = np.float32(0.01) * np.sqrt(np.float32(1) - np.power(np.float32(0.999), t))
    return p - m * alpha / (np.sqrt(s) + np.float32(1e-7)), m, s


def test_plan_runs_consecutive_long_updates_as_one_chunked_loop_with_the_same_numbers():
    from tensorflux.backends import numpy_backend as nb

    n = nb._FUSED_CHUNKED_MIN_SIZE + nb._FUSED_CHUNK // 3  # a partial last chunk
    rng = np.random.default_rng(0)
    p0, m0, s0 = (rng.standard_normal(n).astype(np.float32) for _ in range(3))
    s0 = np.abs(s0)
    p, m, s = tf.Variable(p0), tf.Variable(m0), tf.Variable(s0)

    def f(g, t):
        _adam_like(p, m, s, g, t)
        return t

    function = tf.function(f)
    plan = function.get_concrete_function(spec(n), spec())._plan()[0]
    assert plan.fused_assigns == 3 and plan.update_groups == 1
    for step in range(1, 3):
        g = rng.standard_normal(n).astype(np.float32)
        t = np.float32(step)
        expected = _adam_like_reference(p.numpy(), m.numpy(), s.numpy(), g, t)
        function(tf.constant(g), tf.constant(t))
        for variable, value in zip((p, m, s), expected):
            np.testing.assert_array_equal(variable.numpy(), value)


def test_plan_overlaps_the_last_gradient_product_with_the_update_reading_it(monkeypatch):
    from tensorflux.backends import numpy_backend as nb

    monkeypatch.setattr(nb, "_THREADS", 2)
    monkeypatch.setattr(nb, "_GEMM_SPLIT_MIN", 1 << 12)
    monkeypatch.setattr(nb, "_FUSED_CHUNK", 1024)
    monkeypatch.setattr(nb, "_FUSED_CHUNKED_MIN_SIZE", 4096)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((64, 300)).astype(np.float32)
    b = rng.standard_normal((64, 256)).astype(np.float32)
    n = 300 * 256 + 256
    p0, m0, s0 = (rng.standard_normal(n).astype(np.float32) for _ in range(3))
    p, m, s = tf.Variable(p0), tf.Variable(m0), tf.Variable(np.abs(s0))

    def f(a, b, t):
        g = tf.concat([tf.reshape(tf.matmul(a, b, transpose_a=True), [-1]),
                       tf.reduce_sum(b, axis=0)], 0)  # written in place, then copied in
        _adam_like(p, m, s, g, t)
        return t

    function = tf.function(f)
    plan = function.get_concrete_function(spec(64, 300), spec(64, 256), spec())._plan()[0]
    assert plan.concats_in_place == 1 and plan.update_groups == 1
    assert plan.updates_overlapped == 1
    g = np.concatenate([(a.T @ b).reshape(-1), b.sum(0)])
    for step in range(1, 3):
        t = np.float32(step)
        expected = _adam_like_reference(p.numpy(), m.numpy(), s.numpy(), g, t)
        function(tf.constant(a), tf.constant(b), tf.constant(t))
        for variable, value in zip((p, m, s), expected):
            np.testing.assert_allclose(variable.numpy(), value, rtol=1e-4, atol=1e-5)


def test_plan_runs_two_independent_large_products_as_one_step(monkeypatch):
    from tensorflux.backends import numpy_backend as nb
    from tensorflux.graph import executor

    monkeypatch.setattr(nb, "_THREADS", 2)
    monkeypatch.setattr(nb, "_GEMM_SPLIT_MIN", 1 << 12)
    monkeypatch.setattr(executor, "_TOGETHER_MIN", 1 << 12)
    rng = np.random.default_rng(2)
    w = tf.Variable(rng.standard_normal((96, 64)).astype(np.float32))
    x = rng.standard_normal((80, 64)).astype(np.float32)
    g = rng.standard_normal((80, 96)).astype(np.float32)

    def f(x, g):
        # A Dense layer's backward pass: the product for the layer below, the kernel's
        # gradient (into the flat buffer), and a product that needs the first (kept apart).
        below = tf.matmul(g, w)
        flat = tf.concat([tf.reshape(tf.matmul(x, g, transpose_a=True), [-1]),
                          tf.reduce_sum(g, axis=0)], 0)
        return tf.matmul(below, x, transpose_b=True), flat
    function = tf.function(f)
    plan = function.get_concrete_function(spec(80, 64), spec(80, 96))._plan()[0]
    assert plan.products_together == 1
    for got, expected in zip(function(tf.constant(x), tf.constant(g)),
                             f(tf.constant(x), tf.constant(g))):
        np.testing.assert_array_equal(got.numpy(), expected.numpy())


def test_plan_keeps_a_buffer_written_by_paired_products_when_nothing_reads_the_other(
        monkeypatch):
    from tensorflux.backends import numpy_backend as nb
    from tensorflux.graph import executor

    monkeypatch.setattr(nb, "_THREADS", 2)
    monkeypatch.setattr(nb, "_GEMM_SPLIT_MIN", 1 << 12)
    monkeypatch.setattr(executor, "_TOGETHER_MIN", 1 << 12)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((80, 160)).astype(np.float32)
    g = rng.standard_normal((80, 128)).astype(np.float32)
    w = tf.Variable(rng.standard_normal((128, 160)).astype(np.float32))

    def f(x, g):
        unused = tf.matmul(g, w)  # nothing reads it: the pair still runs for the buffer
        flat = tf.concat([tf.reshape(tf.matmul(x, g, transpose_a=True), [-1]),
                          tf.reduce_sum(g, axis=0)], 0)
        return flat, unused
    function = tf.function(f)
    concrete = function.get_concrete_function(spec(80, 160), spec(80, 128))
    plan = concrete._plan()[0]
    assert plan.concats_in_place == 1 and plan.products_together == 1
    run = plan.runner([plan.output_slot(concrete.graph.outputs[0])])
    for scale in (1, -3):  # (a stale buffer would hold the other call's product)
        (flat,) = run([x * scale, g], [c._value for c, _ in concrete.graph.captures.values()])
        np.testing.assert_allclose(np.asarray(flat)[:160 * 128], (scale * x.T @ g).reshape(-1),
                                   rtol=1e-5, atol=1e-4)


def test_update_group_runs_one_by_one_when_buffers_overlap_or_do_not_align():
    from tensorflux.backends import numpy_backend as nb

    n = nb._FUSED_CHUNKED_MIN_SIZE
    add = (("add", (0, 1), (), tf.float32),)  # target += x, the target read as input 1
    calls = []

    def kernel(x, target):
        calls.append(1)
        np.add(target, x, out=target)
        return ()
    parts = [(add, 2, True), (add, 2, True)]
    group = nb.fused_update_group(parts, [kernel, kernel], n)
    assert nb.fused_update_group(parts, [kernel, kernel], n - 1) is None
    buffer = np.zeros(n + 1, np.float32)
    x = np.arange(n + 1, dtype=np.float32)
    a, b = buffer[:n], buffer[1:]  # overlapping targets: chunks would see each other early
    assert nb._fused_group_for((add, add), parts, [2, 2], (x[:n], a, a, b)) is None
    group(x[:n], a, a, b)
    assert len(calls) == 2
    expected = np.zeros(n + 1, np.float32)
    expected[:n] += x[:n]
    expected[1:] += expected[:n].copy()
    np.testing.assert_array_equal(buffer, expected)
    # Aligned, separate targets: the generated loop, same numbers as one after another.
    u, v = np.ones(n, np.float32), np.full(n, 2, np.float32)
    assert nb._fused_group_for((add, add), parts, [2, 2], (x[:n], u, u, v)) is not None
    group(x[:n], u, u, v)
    assert len(calls) == 2
    np.testing.assert_array_equal(u, 1 + x[:n])
    np.testing.assert_array_equal(v, 3 + x[:n])


def test_plan_writes_large_concat_pieces_in_place_with_the_same_numbers():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((64, 300)).astype(np.float32)
    b = rng.standard_normal((64, 256)).astype(np.float32)
    table = tf.Variable(rng.standard_normal((500, 40)).astype(np.float32))
    indices = rng.integers(0, 500, size=(30, 20)).astype(np.int32)

    def f(a, b, indices):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.gather(table, indices) * 0.5)
        (rows,) = tape.gradient(loss, [table])  # gather_grad, dense
        product = tf.matmul(a, b, transpose_a=True)  # (300, 256): written in place
        shared = tf.reduce_sum(b, axis=0)  # small and read again: copied in
        flat = tf.concat([tf.reshape(product, [-1]), shared, tf.reshape(rows, [-1]),
                          tf.reduce_sum(tf.square(a), axis=1)], 0)
        return flat, shared * 2.0
    function = tf.function(f)
    plan = function.get_concrete_function(spec(64, 300), spec(64, 256),
                                          tf.TensorSpec([30, 20], tf.int32))._plan()[0]
    assert plan.concats_in_place == 1
    assert not [step for step in plan.steps if step[5].primitive.name == "reshape"]
    flat, doubled = function(tf.constant(a), tf.constant(b), tf.constant(indices))
    rows = np.zeros((500, 40), np.float32)
    np.add.at(rows, indices.reshape(-1), np.full((600, 40), 0.5, np.float32))
    expected = np.concatenate([(a.T @ b).reshape(-1), b.sum(0), rows.reshape(-1),
                               np.square(a).sum(1)])
    eager_flat, eager_doubled = f(tf.constant(a), tf.constant(b), tf.constant(indices))
    np.testing.assert_array_equal(flat.numpy(), eager_flat.numpy())
    np.testing.assert_allclose(flat.numpy(), expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(doubled.numpy(), eager_doubled.numpy())
    np.testing.assert_allclose(doubled.numpy(), b.sum(0, dtype=np.float64) * 2, rtol=1e-5,
                               atol=1e-5 * np.abs(b).sum(0).max())


def test_plan_keeps_an_assign_when_a_variable_is_read_before_it():
    v = tf.Variable(np.linspace(-1, 1, 6, dtype=np.float32))
    w = tf.Variable(np.zeros(6, np.float32))

    def f(x):
        new = v * 2.0 + x
        w.assign(v * 1.0)  # reads v between computing `new` and assigning it
        v.assign(new)
        return w.read_value()

    x = np.ones(6, np.float32)
    v0 = v.numpy().copy()
    tf.function(f)(tf.constant(x))
    np.testing.assert_array_equal(w.numpy(), v0)
    np.testing.assert_array_equal(v.numpy(), v0 * np.float32(2) + x)


def test_runner_without_outputs_skips_them_and_keeps_the_updates():
    v = tf.Variable(np.zeros(4, np.float32))

    def f(x):
        v.assign_add(x * 2.0)
        return tf.exp(x) * 3.0

    function = tf.function(f)
    x = tf.constant(np.arange(4, dtype=np.float32))
    np.testing.assert_allclose(function(x).numpy(), np.exp(x.numpy()) * 3, rtol=1e-6)
    concrete = function.get_concrete_function(x)
    plan = concrete._plan()[0]
    for_effects = plan.runner(())
    assert for_effects([x._value], []) == ()
    function._call_for_effects(x)
    np.testing.assert_array_equal(v.numpy(), x.numpy() * 6)
    from tensorflux.graph.executor import _live_steps

    # exp(x) * 3 is computed only for the output: skipped.
    assert len(_live_steps(plan._program, ())) < len(plan._program)


# ------------------------------------------------------------------ executor buffers

def test_plan_releases_intermediates_and_keeps_outputs():
    def f(x):
        a = tf.matmul(x, tf.transpose(x))
        b = tf.reduce_sum(a, axis=0)
        return b * 2.0
    g = trace(f, spec(2, 3))
    plan = Plan(g, default_backend())
    slots = plan.run([X])
    out = plan.output_slot(g.outputs[0])
    produced = [step[3] for step in plan.steps]
    assert slots[out] is not None
    assert all(slots[i] is None for i in produced if i != out)
    np.testing.assert_allclose(slots[out], (X @ X.T).sum(0) * 2.0, rtol=1e-6)


def test_plan_hands_dead_buffers_to_fused_kernels_but_never_inputs_or_outputs():
    # 32x32: buffers under executor._MIN_DONATION elements are not worth handing on.
    w = tf.Variable(np.linspace(-1, 1, 1024, dtype=np.float32).reshape(32, 32) / 32)
    w_before = w.numpy().copy()

    def f(x):
        a = tf.matmul(x, w)
        b = tf.exp(a * 0.5) + 1.0
        c = tf.matmul(b, w)
        return tf.sigmoid(c) * 3.0 - 1.0, b
    x = np.linspace(0, 1, 1024, dtype=np.float32).reshape(32, 32)
    g = passes.optimize(trace(f, spec(32, 32)))
    plan = Plan(g, default_backend())
    given = [(step[5], step[6]) for step in plan._program if step[6] is not None]
    a_slot = plan.output_slot([n for n in g.nodes if n.type == "matmul"][0].outputs)
    assert plan.donations == 1 and given[0][1] == a_slot  # a is dead once b is computed
    protected = set(plan.input_slots) | {i for _, i in plan.variable_slots} | {
        plan.output_slot(t) for t in g.outputs}
    assert not protected & {slot for _, slot in given}
    for _ in range(2):
        check_same(g, f, x)
    np.testing.assert_array_equal(x, np.linspace(0, 1, 1024, dtype=np.float32).reshape(32, 32))
    np.testing.assert_array_equal(w.numpy(), w_before)


def test_optimize_is_idempotent_and_keeps_results():
    def f(x):
        e = tf.exp(x)
        return tf.transpose(tf.transpose(e * 1.0)) + e * (tf.constant(2.0) - 1.0), e
    g = trace(f, spec(2, 3))
    g = passes.optimize(g)
    once = [(n.type, n.attrs.get("program")) for n in g.nodes]
    g = passes.optimize(g)
    assert [(n.type, n.attrs.get("program")) for n in g.nodes] == once
    check_same(g, f, X)


# ------------------------------------------------------------------ a model-sized step

def _mlp_variables(seed):
    rng = np.random.default_rng(seed)
    sizes = [(8, 16), (16, 16), (16, 1)]
    params = []
    for fan_in, fan_out in sizes:
        params.append(tf.Variable(rng.normal(0, 0.5, (fan_in, fan_out)).astype(np.float32)))
        params.append(tf.Variable(rng.normal(0, 0.1, (fan_out,)).astype(np.float32)))
    slots = [(tf.Variable(np.zeros(p.shape, np.float32)), tf.Variable(np.zeros(p.shape,
                                                                                np.float32)))
             for p in params]
    return params, slots, tf.Variable(0.0)


def _make_step(params, slots, step_count, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-7):
    def train_step(x, y):
        with tf.GradientTape() as tape:
            h = tf.nn.relu(tf.matmul(x, params[0]) + params[1])
            h = tf.sigmoid(tf.matmul(h, params[2]) + params[3])
            p = tf.sigmoid(tf.matmul(h, params[4]) + params[5])
            p = tf.clip_by_value(p, 1e-6, 1.0 - 1e-6)
            loss = -tf.reduce_mean(y * tf.math.log(p) + (1.0 - y) * tf.math.log(1.0 - p))
        grads = tape.gradient(loss, params)
        step_count.assign_add(1.0)
        t = step_count * 1.0
        correction = tf.sqrt(1.0 - tf.pow(beta2, t)) / (1.0 - tf.pow(beta1, t))
        for var, g, (m, v) in zip(params, grads, slots):
            m.assign(beta1 * m + (1.0 - beta1) * g)
            v.assign(beta2 * v + (1.0 - beta2) * g * g)
            var.assign_sub(lr * correction * m / (tf.sqrt(v) + eps))
        return loss
    return train_step


def test_fusion_reduces_the_kernels_of_a_training_step_and_keeps_its_numbers():
    rng = np.random.default_rng(1)
    # Batch 128: the 128x16 intermediates are big enough to be handed on (_MIN_DONATION).
    x = tf.constant(rng.normal(size=(128, 8)).astype(np.float32))
    y = tf.constant((rng.uniform(size=(128, 1)) > 0.5).astype(np.float32))

    eager_state = _mlp_variables(0)
    plain_state = _mlp_variables(0)
    fused_state = _mlp_variables(0)
    eager = _make_step(*eager_state)
    with passes.disabled():
        plain = tf.function(_make_step(*plain_state))
        plain_graph = plain.get_concrete_function(x, y).graph
    fused = tf.function(_make_step(*fused_state))
    fused_graph = fused.get_concrete_function(x, y).graph

    backend = default_backend()
    before = Plan(plain_graph, backend, captures=list(plain_graph.captures.values()))
    after = Plan(fused_graph, backend, captures=list(fused_graph.captures.values()))
    assert types(fused_graph)["fused_elementwise"] >= 10
    assert after.kernel_count <= 0.6 * before.kernel_count, (
        before.kernel_count, after.kernel_count)
    assert after.donations > 0

    for _ in range(4):
        expected = float(eager(x, y))
        assert float(plain(x, y)) == pytest.approx(expected, rel=1e-5)
        assert float(fused(x, y)) == pytest.approx(expected, rel=1e-5)
    for e, p, f in zip(eager_state[0], plain_state[0], fused_state[0]):
        np.testing.assert_allclose(p.numpy(), e.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(f.numpy(), e.numpy(), rtol=1e-5, atol=1e-6)
    # Constants survive every call: no kernel wrote into a constant's buffer.
    consts = [(n.attrs["value"], np.array(n.attrs["value"])) for n in fused_graph.nodes
              if n.type == "const"]
    fused(x, y)
    for value, saved in consts:
        np.testing.assert_array_equal(value, saved)


def test_generated_runner_reports_the_failing_node():
    """The plan runs as generated code; a kernel failing inside it still names its node."""
    from tensorflux.errors import InvalidArgumentError

    def f(x, i):
        return tf.gather(tf.exp(x), i)
    x = tf.constant([1.0, 2.0, 3.0])
    with passes.disabled():
        g = trace(f, spec(3), tf.TensorSpec([1], tf.int32))
    plan = Plan(g, default_backend())
    run = plan.runner([plan.output_slot(g.outputs[0])])
    (good,) = run([x._value, tf.constant([2])._value])
    np.testing.assert_allclose(good, [np.exp(3.0)], rtol=1e-6)
    with pytest.raises(InvalidArgumentError, match="gather"):
        run([x._value, tf.constant([7])._value])


@pytest.mark.parametrize("name", ["simplify", "fold_constants", "eliminate_common_subexpressions",
                                  "eliminate_dead_code", "fuse_elementwise", "optimize"])
def test_every_pass_is_pure(name):
    """A pass returns a new graph and leaves the one it was given exactly as it was."""
    def f(x):
        unused = tf.exp(x)  # noqa: F841 - dead code for the passes to remove
        return tf.sigmoid(tf.exp(x) * 1.0 + (tf.constant(2.0) + 1.0)) + tf.exp(x)
    g = trace(f, spec(2, 3))
    before = [(n.name, n.type, tuple(id(i) for i in n.inputs), dict(n.attrs)) for n in g.nodes]
    outputs = list(g.outputs)
    result = getattr(passes, name)(g)
    assert result is not g
    assert [(n.name, n.type, tuple(id(i) for i in n.inputs), dict(n.attrs))
            for n in g.nodes] == before
    assert len(g.outputs) == len(outputs) and all(a is b for a, b in zip(g.outputs, outputs))
    assert len(result.nodes) <= len(g.nodes)
    check_same(result, f, X)
    check_same(g, f, X)


# ------------------------------------------------------------------ pool-gradient masks

def _relu_pool_loss(ksize=2, strides=2, share_pool_gradient=False):
    """The gradient of relu -> max-pool -> weighted sum with respect to its input, and the
    pooled values (used, as in a model's forward pass); or the relu mask applied by hand to
    a max-pool gradient that is also returned."""
    def f(x, w):
        y = tf.nn.relu(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            tape.watch(y)
            pooled = tf.nn.max_pool2d(tf.nn.relu(x) if not share_pool_gradient else y, ksize,
                                      strides, "VALID")
            loss = tf.reduce_sum(pooled * w)
        if share_pool_gradient:
            routed = tape.gradient(loss, y)
            return routed * tf.cast(y > 0.0, tf.float32), routed, pooled
        return tape.gradient(loss, x), pooled
    return f


def _relu_pool_data(shape, pooled_shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, shape).astype(np.float32)  # relu zeros and ties in many windows
    w = rng.standard_normal(pooled_shape).astype(np.float32)
    return x, w


def _full_size_masks(graph):
    return [n for n in graph.nodes if n.type == "fused_elementwise"
            and n.attrs["program"][0][0] == "greater" and n.outputs.shape[1] > 3]


def test_a_relu_mask_on_a_max_pool_gradient_moves_to_the_pooled_side():
    f = _relu_pool_loss()
    g = passes.optimize(trace(f, spec(2, 6, 7, 3), spec(2, 3, 3, 3)))
    (pool_grad,) = [n for n in g.nodes if n.type == "max_pool2d_grad"]
    masked = pool_grad.inputs[1].node  # the mask applied to the pooled gradient
    assert masked.type == "fused_elementwise" and tuple(masked.outputs.shape) == (2, 3, 3, 3)
    assert [step[0] for step in masked.attrs["program"]] == ["greater", "cast", "multiply"]
    assert g.outputs[0].node is pool_grad and not _full_size_masks(g)
    x, w = _relu_pool_data((2, 6, 7, 3), (2, 3, 3, 3), 0)
    x[0, 0, 0, 0], x[1, 2, 3, 1] = np.nan, np.inf
    w[1, 0, 0, 2] = np.inf  # inf * 0 where the window's maximum is not positive: NaN
    eager = [t.numpy() for t in f(tf.constant(x), tf.constant(w))]
    for got, expected in zip(run(g, x, w), eager):
        np.testing.assert_array_equal(got, expected)


def test_a_pool_gradient_mask_stays_for_overlapping_windows_or_a_shared_gradient():
    for f, shapes in ((_relu_pool_loss(3, 2), ((2, 7, 7, 3), (2, 3, 3, 3))),
                      (_relu_pool_loss(share_pool_gradient=True), ((2, 6, 6, 3), (2, 3, 3, 3)))):
        g = passes.optimize(trace(f, *[spec(*s) for s in shapes]))
        assert len(_full_size_masks(g)) == 1
        x, w = _relu_pool_data(*shapes, 1)
        eager = [t.numpy() for t in f(tf.constant(x), tf.constant(w))]
        for got, expected in zip(run(g, x, w), eager):
            np.testing.assert_array_equal(got, expected)


def _pool_gradient_sum(ksize=2, strides=2, padding="VALID", axis=(0, 1, 2)):
    """The sum over `axis` of a max-pool gradient (a bias gradient under a pool)."""
    def f(x, w):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.nn.max_pool2d(x, ksize, strides, padding) * w)
        return tf.reduce_sum(tape.gradient(loss, x), axis=axis)
    return f


def _sums_of_pool_gradients(graph):
    return [n for n in graph.nodes if n.type == "reduce_sum"
            and n.inputs[0].node.type == "max_pool2d_grad"]


@pytest.mark.parametrize("axis", [(0, 1, 2), (1, 2), (-3, -2), None])
def test_a_sum_of_a_max_pool_gradient_sums_its_cotangent(axis):
    f = _pool_gradient_sum(axis=axis)
    g = passes.optimize(trace(f, spec(2, 6, 7, 3), spec(2, 3, 3, 3)))
    assert not _sums_of_pool_gradients(g)
    assert not [n for n in g.nodes if n.type == "max_pool2d_grad"]  # nothing else reads it
    # Whole numbers: the float sums are exact in any order, so equal to eager's bit for bit.
    x, _ = _relu_pool_data((2, 6, 7, 3), (2, 3, 3, 3), 2)
    w = np.random.default_rng(2).integers(-3, 4, (2, 3, 3, 3)).astype(np.float32)
    x[0, 0, 0, 0], x[1, 2, 3, 1] = np.nan, np.inf
    w[1, 0, 0, 2] = np.inf
    expected = f(tf.constant(x), tf.constant(w)).numpy()
    np.testing.assert_array_equal(run(g, x, w)[0], expected)
    x, w = (np.random.default_rng(3).standard_normal(s).astype(np.float32)
            for s in ((2, 6, 7, 3), (2, 3, 3, 3)))
    np.testing.assert_allclose(run(g, x, w)[0], f(tf.constant(x), tf.constant(w)).numpy(),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["same", "overlap", "not spatial"])
def test_a_sum_of_a_max_pool_gradient_stays_where_windows_may_lose_it(kind):
    f = {"same": _pool_gradient_sum(padding="SAME"),
         "overlap": _pool_gradient_sum(3, 2),
         "not spatial": _pool_gradient_sum(axis=(0, 1))}[kind]
    shapes = ((2, 7, 7, 3), (2, 4, 4, 3) if kind == "same" else (2, 3, 3, 3))
    g = passes.optimize(trace(f, *[spec(*s) for s in shapes]))
    assert len(_sums_of_pool_gradients(g)) == 1
    x, w = _relu_pool_data(*shapes, 4)
    np.testing.assert_allclose(run(g, x, w)[0], f(tf.constant(x), tf.constant(w)).numpy(),
                               rtol=1e-6)


# ------------------------------------------------------------------ convolution epilogues

def _conv_bias_relu(data_format="NHWC", groups=1, dtype=tf.float32):
    rng = np.random.default_rng(5)
    channels = 4 * groups
    w = tf.constant(rng.standard_normal((3, 3, channels // groups, 6)).astype(dtype.name))
    b = tf.constant(rng.standard_normal(6).astype(dtype.name))

    def f(x):
        y = tf.nn.conv2d(x, w, 1, "VALID", data_format=data_format)
        if data_format == "NCHW":
            return tf.nn.relu(y + tf.reshape(b, [6, 1, 1])) * 0.5
        return tf.nn.relu(y + b) * 0.5
    shape = [10, 9, 9, channels] if data_format == "NHWC" else [10, channels, 9, 9]
    x = rng.standard_normal(shape).astype(dtype.name)
    return f, x


def test_a_bias_and_activation_after_conv2d_run_inside_the_convolution(monkeypatch):
    from tensorflux.backends import numpy_backend as nb

    # Small pieces, each given the bias and relu right after its GEMM.
    monkeypatch.setattr(nb, "_NN_COLS_BYTES", 1 << 13)
    monkeypatch.setattr(nb, "_NN_EPILOGUE_MIN_BYTES", 0)
    f, x = _conv_bias_relu()
    g = passes.optimize(trace(f, tf.TensorSpec(x.shape, tf.float32)))
    assert [n.type for n in g.nodes if n.type not in ("placeholder", "const")] == [
        "fused_conv2d"]
    np.testing.assert_array_equal(run(g, x)[0], f(tf.constant(x)).numpy())
    np.testing.assert_array_equal(tf.function(f)(tf.constant(x)).numpy(),
                                  f(tf.constant(x)).numpy())


@pytest.mark.parametrize("case", ["NCHW", "grouped", "float16"])
def test_conv2d_epilogues_elsewhere_give_the_unfused_values(case):
    f, x = _conv_bias_relu(data_format="NCHW" if case == "NCHW" else "NHWC",
                           groups=2 if case == "grouped" else 1,
                           dtype=tf.float16 if case == "float16" else tf.float32)
    traced = tf.function(f)(tf.constant(x)).numpy()
    np.testing.assert_array_equal(traced, f(tf.constant(x)).numpy())
    g = passes.optimize(trace(f, tf.TensorSpec(x.shape, tf.as_dtype(x.dtype.name))))
    assert types(g)["fused_conv2d"] == (0 if case == "NCHW" else 1)


def test_a_tape_sees_the_primitives_of_a_fused_convolution():
    f, x = _conv_bias_relu()
    x = tf.constant(x)
    function = tf.function(f)
    with tf.GradientTape() as tape:
        tape.watch(x)
        traced = tf.reduce_sum(function(x) ** 2)
    with tf.GradientTape() as tape2:
        tape2.watch(x)
        eager = tf.reduce_sum(f(x) ** 2)
    np.testing.assert_allclose(tape.gradient(traced, x).numpy(),
                               tape2.gradient(eager, x).numpy(), rtol=1e-6, atol=1e-6)


def test_a_backend_without_fused_conv2d_runs_its_parts():
    from tensorflux.graph import executor

    f, x = _conv_bias_relu()
    g = passes.optimize(trace(f, tf.TensorSpec(x.shape, tf.float32)))
    (node,) = [n for n in g.nodes if n.type == "fused_conv2d"]
    backend = default_backend()
    inputs = [x] + [n.attrs["value"] if n.type == "const" else None
                    for n in (t.node for t in node.inputs[1:])]
    unfused = executor._unfused_conv2d(backend)(*inputs, **node.attrs)
    np.testing.assert_array_equal(unfused, backend.fused_conv2d(*inputs, **node.attrs))
    np.testing.assert_array_equal(unfused, f(tf.constant(x)).numpy())


def _program(*steps):
    return tuple((name, refs, (), tf.float32) for name, refs in steps)


# (program, inputs besides the convolution's output, its register): chains run in place by
# rows, and programs that are not chains through the generic path.
_EPILOGUES = {
    "bias and relu": (_program(("add", (0, 1)), ("relu", (2,))), "b", 0),
    "bias first, scale, relu": (_program(("add", (0, 1)), ("multiply", (2, 3)),
                                          ("relu", (4,))), "b0", 1),
    "subtract from and divide a scalar": (_program(("subtract", (1, 0)), ("divide", (2, 3))),
                                          "0s", 1),
    "a one-element vector, then minimum": (_program(("maximum", (0, 1)),
                                                    ("minimum", (2, 1))), "1", 0),
    "the output read twice (generic)": (_program(("add", (0, 1)), ("multiply", (2, 0))),
                                        "b", 0),
}


@pytest.mark.parametrize("name", sorted(_EPILOGUES))
@pytest.mark.parametrize("by_piece", [False, True])
def test_fused_conv2d_gives_the_program_of_the_convolution(name, by_piece, monkeypatch):
    from tensorflux.backends import numpy_backend as nb

    if by_piece:
        monkeypatch.setattr(nb, "_NN_COLS_BYTES", 1 << 13)
        monkeypatch.setattr(nb, "_NN_EPILOGUE_MIN_BYTES", 0)
    program, kinds, register = _EPILOGUES[name]
    rng = np.random.default_rng(7)
    x = rng.standard_normal((10, 9, 9, 4)).astype(np.float32)
    w = rng.standard_normal((3, 3, 4, 6)).astype(np.float32)
    values = {"b": rng.standard_normal(6).astype(np.float32), "0": np.float32(0.75),
              "s": np.float32(-1.5), "1": rng.standard_normal(1).astype(np.float32)}
    inputs = [values[k] for k in kinds]
    conv = dict(strides=(1, 1), padding="VALID", dilations=(1, 1), data_format="NHWC")
    expected = nb.fused_elementwise(*inputs[:register], nb.conv2d(x, w, **conv),
                                    *inputs[register:], program=program)
    got = nb.fused_conv2d(x, w, *inputs, program=program, register=register, **conv)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
