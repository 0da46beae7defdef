"""The NumPy backend's native step (tensorflux/backends/numpy_native.py, jit_compile=True):
each lowering against float64 NumPy and against the ordinary NumPy runner of the same function,
the fallbacks and their reasons, bad inputs, and Keras fits against jit_compile=False and real
Keras. Every compile costs Numba about 2 s, so each test groups many ops into one function."""

import math

import numpy as np
import pytest

numba = pytest.importorskip("numba")

import tensorflux as tf  # noqa: E402
from tensorflux import errors  # noqa: E402
from tensorflux.backends import numpy_native  # noqa: E402


@pytest.fixture
def hot(monkeypatch):
    """The native step from a plan's first call on."""
    monkeypatch.setattr(numpy_native, "_HOT_CALLS", 1)


def _plan_and_runner(function, *args):
    concrete = function.get_concrete_function(*args)
    plan, _, _, runner = concrete._plan()
    return plan, _unwrapped(runner)


def _unwrapped(runner):
    """The runner inside the executor's wrapper that flushes subnormals
    (numpy_backend.flushing_denormals)."""
    while hasattr(runner, "__wrapped__"):  # (and the profiler's switch)
        runner = runner.__wrapped__
    return runner


def _assert_native(function, *args):
    """The call went through the compiled native step, not a silent NumPy fallback."""
    plan, runner = _plan_and_runner(function, *args)
    assert plan.native_reason is None, plan.native_reason
    assert isinstance(runner, numpy_native._Runner)
    assert runner._function is not None, plan.native_reason
    return plan


def _assert_fallback(function, *args):
    plan, runner = _plan_and_runner(function, *args)
    assert not isinstance(runner, numpy_native._Runner)
    assert plan.native_reason
    return plan.native_reason


def _twins(python_function):
    return (tf.function(python_function, jit_compile=True),
            tf.function(python_function, jit_compile=False))


def _numpy(result):
    return {key: value.numpy() for key, value in result.items()}


def _assert_same_as_numpy_runner(native, reference, exact_keys=()):
    """Same keys, shapes and dtypes; exact where both round the same, else to a few ulps."""
    assert native.keys() == reference.keys()
    for key, want in reference.items():
        got = native[key]
        assert got.dtype == want.dtype and got.shape == want.shape, key
        if got.dtype.kind in "biu" or key in exact_keys:
            np.testing.assert_array_equal(got, want, err_msg=key)
        else:
            rtol = 1e-6 if got.dtype == np.float32 else 1e-14
            np.testing.assert_allclose(got, want, rtol=rtol, atol=0, equal_nan=True,
                                       err_msg=key)


# ------------------------------------------------------------------ elementwise ops

_erf = np.vectorize(math.erf, otypes=[np.float64])

# name -> (tf op, float64 NumPy reference, input domains, lowered for integers)
_OPS = {
    "add": (tf.add, np.add, ("any", "any"), True),
    "subtract": (tf.subtract, np.subtract, ("any", "any"), True),
    "multiply": (tf.multiply, np.multiply, ("any", "any"), True),
    "divide": (tf.divide, np.divide, ("any", "nonzero"), False),
    "pow": (tf.pow, np.power, ("positive", "any"), False),
    "maximum": (tf.maximum, np.maximum, ("any", "any"), True),
    "minimum": (tf.minimum, np.minimum, ("any", "any"), True),
    "mul_no_nan": (tf.math.multiply_no_nan, lambda x, y: np.where(y == 0, 0.0, x * y),
                   ("any", "zeros"), False),
    "atan2": (tf.math.atan2, np.arctan2, ("any", "any"), False),
    "negative": (tf.negative, np.negative, ("any",), True),
    "abs": (tf.abs, np.abs, ("any",), True),
    "sign": (tf.sign, np.sign, ("any",), True),
    "square": (tf.square, np.square, ("any",), True),
    "sqrt": (tf.sqrt, np.sqrt, ("positive",), False),
    "rsqrt": (tf.math.rsqrt, lambda x: 1 / np.sqrt(x), ("positive",), False),
    "reciprocal": (tf.math.reciprocal, lambda x: 1 / x, ("nonzero",), False),
    "exp": (tf.exp, np.exp, ("any",), False),
    "expm1": (tf.math.expm1, np.expm1, ("any",), False),
    "log": (tf.math.log, np.log, ("positive",), False),
    "log1p": (tf.math.log1p, np.log1p, ("positive",), False),
    "sin": (tf.sin, np.sin, ("any",), False),
    "cos": (tf.cos, np.cos, ("any",), False),
    "tan": (tf.tan, np.tan, ("unit",), False),
    "tanh": (tf.tanh, np.tanh, ("any",), False),
    "sinh": (tf.sinh, np.sinh, ("any",), False),
    "cosh": (tf.cosh, np.cosh, ("any",), False),
    "asin": (tf.asin, np.arcsin, ("unit",), False),
    "acos": (tf.acos, np.arccos, ("unit",), False),
    "atan": (tf.atan, np.arctan, ("any",), False),
    "erf": (tf.math.erf, _erf, ("any",), False),
    "sigmoid": (tf.sigmoid, lambda x: 1 / (1 + np.exp(-x)), ("wide",), False),
    "softsign": (tf.nn.softsign, lambda x: x / (1 + np.abs(x)), ("any",), False),
    "floor": (tf.floor, np.floor, ("any",), False),
    "ceil": (tf.math.ceil, np.ceil, ("any",), False),
    "relu": (tf.nn.relu, lambda x: np.maximum(x, 0), ("any",), True),
    "relu6": (tf.nn.relu6, lambda x: np.clip(x, 0, 6), ("relu6",), False),
    "elu": (tf.nn.elu, lambda x: np.where(x > 0, x, np.expm1(x)), ("any",), False),
    "equal": (tf.equal, np.equal, ("few", "few"), True),
    "not_equal": (tf.not_equal, np.not_equal, ("few", "few"), True),
    "less": (tf.less, np.less, ("few", "few"), True),
    "less_equal": (tf.less_equal, np.less_equal, ("few", "few"), True),
    "greater": (tf.greater, np.greater, ("few", "few"), True),
    "greater_equal": (tf.greater_equal, np.greater_equal, ("few", "few"), True),
    "select": (tf.where, np.where, ("bool", "any", "any"), True),
}
_BOOL_OPS = {
    "logical_and": (tf.logical_and, np.logical_and, 2),
    "logical_or": (tf.logical_or, np.logical_or, 2),
    "logical_xor": (tf.math.logical_xor, np.logical_xor, 2),
    "logical_not": (tf.logical_not, np.logical_not, 1),
}
# (source dtype, target dtype) for cast
_CASTS = [("float32", "int32"), ("float32", "float64"), ("float64", "float32"),
          ("int32", "float32"), ("int64", "int32"), ("int32", "int64"), ("bool", "float32"),
          ("float32", "bool"), ("int64", "bool"), ("bool", "int32")]
_EXACT = {"add", "subtract", "multiply", "divide", "maximum", "minimum", "mul_no_nan",
          "negative", "abs", "sign", "square", "sqrt", "reciprocal", "floor", "ceil", "relu",
          "relu6", "select", "cast"}

# Operand shapes, by arity: single primitives (each op's result a graph output, so it stays one
# primitive) and fused programs (the op's result multiplied by an input of ones, or and-ed
# with an input of True: one fused_elementwise node), with size-1 dims, ranks that differ,
# rank-0 operands, and all-rank-0 results. Each is (operand shapes, shape of the ones or None).
_SHAPES = {
    "broadcast": {1: ([(3, 1, 4)], None), 2: ([(3, 1, 4), (5, 1)], None),
                  3: ([(2, 1, 3), (3,), (2, 4, 1)], None)},
    "scalar": {1: ([()], None), 2: ([(), (2, 3)], None), 3: ([(), (2, 2), ()], None)},
    "fused": {1: ([()], (2, 1)), 2: ([(4,), ()], (2, 1)), 3: ([(2, 1), (), (1, 3)], (1,))},
    "fused0": {1: ([()], ()), 2: ([(), ()], ()), 3: ([(), (), ()], ())},
}
# Which of them each dtype gets, alternating from op to op (each Numba compile takes time):
# float32 a single primitive and a fused program per op, the other dtypes one of the shapes.
_VARIANTS = {"float32": [["broadcast", "fused"], ["scalar", "fused0"]],
             "float64": [["fused"], ["broadcast"], ["fused0"], ["scalar"]],
             "int32": [["broadcast"], ["fused0"]], "int64": [["fused"], ["scalar"]],
             "bool": [["broadcast", "fused"], ["scalar", "fused0"]]}


def _sample(rng, domain, shape, dtype):
    dtype = np.dtype(dtype)
    if domain == "bool" or dtype.kind == "b":
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        if domain == "few":
            return rng.integers(-2, 3, shape).astype(dtype)
        return rng.integers(-1000, 1000, shape).astype(dtype)
    x = rng.uniform(-3, 3, shape)
    if domain == "positive":
        x = np.abs(x) + 0.1
    elif domain == "nonzero":
        x = np.where(x < 0, x - 0.1, x + 0.1)
    elif domain == "unit":
        x = x / 3.2
    elif domain == "wide":
        x = x * 6
    elif domain == "relu6":
        x = x * 3
    elif domain == "few":
        x = np.round(x)
    elif domain == "zeros":
        x = np.where(rng.random(shape) < 0.3, 0.0, x)
    return np.asarray(x, dtype)


def _elementwise_cases(rng):
    """(key, op, reference, operands, ones shape or None, exact) for each op, dtype, shape."""
    cases = []

    def add(key, op, reference, domains, in_dtypes, exact, variants):
        for variant in variants:
            shapes, ones_shape = _SHAPES[variant][len(domains)]
            operands = [_sample(rng, d, s, t) for d, s, t in zip(domains, shapes, in_dtypes)]
            cases.append((f"{key}/{variant}", op, reference, operands, ones_shape, exact))

    for k, (name, (op, reference, domains, integers)) in enumerate(_OPS.items()):
        for dtype in ["float32", "float64"] + (["int32", "int64"] if integers else []):
            in_dtypes = ["bool", dtype, dtype] if name == "select" else [dtype] * len(domains)
            add(f"{name}/{dtype}", op, reference, domains, in_dtypes, name in _EXACT,
                _VARIANTS[dtype][k % len(_VARIANTS[dtype])])
    for k, (name, (op, reference, arity)) in enumerate(_BOOL_OPS.items()):
        add(f"{name}/bool", op, reference, ("bool",) * arity, ["bool"] * arity, True,
            _VARIANTS["bool"][k % 2])
    for k, (source, target) in enumerate(_CASTS):
        add(f"cast/{source}-{target}", lambda x, t=target: tf.cast(x, t),
            lambda x, t=target: x.astype(t), ("any",), [source], True,
            [["broadcast"], ["fused"], ["scalar"], ["fused0"]][k % 4])
    return cases


_CHUNK = 25  # cases a compiled function (Numba's compile time grows faster than its length)


def _chunks():
    cases = _elementwise_cases(np.random.default_rng(0))
    return [cases[k:k + _CHUNK] for k in range(0, len(cases), _CHUNK)]


def _elementwise_function(cases):
    def step(inputs):
        results = {}
        for key, op, _, _, ones_shape, _ in cases:
            value = op(*inputs[key][:-1]) if ones_shape is not None else op(*inputs[key])
            if ones_shape is not None:
                ones = inputs[key][-1]
                value = tf.logical_and(value, ones) if value.dtype == tf.bool else \
                    value * ones
            results[key] = value
        return results
    return step


def _elementwise_inputs(cases):
    inputs = {}
    for key, _, reference, operands, ones_shape, _ in cases:
        if ones_shape is None:
            inputs[key] = [tf.constant(x) for x in operands]
        else:
            want = reference(*[x.astype(np.float64) if x.dtype.kind == "f" else x
                               for x in operands])
            dtype = "bool" if np.asarray(want).dtype == bool else _result_dtype(key)
            inputs[key] = [tf.constant(x) for x in operands] + [
                tf.constant(np.ones(ones_shape, dtype))]
    return inputs


def _result_dtype(key):
    name, dtype = key.split("/")[:2]
    return dtype.split("-")[-1]


def test_the_cases_cover_every_scalar_op_single_and_fused():
    """Every op of _SCALAR_OPS this file was written against (ops added to the table since
    are tested with their lowerings, in tests/test_numpy_native_ops.py)."""
    cases = _elementwise_cases(np.random.default_rng(0))
    covered = {key.split("/")[0] for key, *_ in cases}
    assert covered == set(_OPS) | set(_BOOL_OPS) | {"cast"}
    assert covered <= set(numpy_native._SCALAR_OPS)
    for name in covered:
        variants = {key.split("/")[-1] for key, *_ in cases if key.split("/")[0] == name}
        assert variants & {"broadcast", "scalar"} and variants & {"fused", "fused0"}, name
    for name in _OPS:
        variants = {key.split("/")[-1] for key, *_ in cases
                    if key.startswith(f"{name}/float32/")}
        assert variants & {"broadcast", "scalar"} and variants & {"fused", "fused0"}, name
    assert {key.split("/")[-1] for key, *_ in cases} == set(_SHAPES)
    dtypes = {key.split("/")[1] for key, *_ in cases}
    assert {"float32", "float64", "int32", "int64", "bool"} <= dtypes


@pytest.mark.parametrize("chunk", range(len(_chunks())))
def test_scalar_ops_against_float64_numpy_and_the_numpy_runner(hot, chunk):
    cases = _chunks()[chunk]
    native, plain = _twins(_elementwise_function(cases))
    inputs = _elementwise_inputs(cases)
    got = _numpy(native(inputs))
    plan = _assert_native(native, inputs)
    steps = {step[5].primitive.name for step in plan.node_steps}
    fused = {op[0] for step in plan.node_steps if step[5].primitive.name == "fused_elementwise"
             for op in step[2]["program"]}
    for key, *_, ones_shape, _ in cases:
        name = key.split("/")[0]
        assert name in (fused if ones_shape is not None else steps), key

    exact = {key for key, *_, e in cases if e}
    _assert_same_as_numpy_runner(got, _numpy(plain(inputs)), exact)
    for key, _, reference, operands, ones_shape, _ in cases:
        want = np.asarray(reference(*[x.astype(np.float64) if x.dtype.kind == "f" else x
                                      for x in operands]))
        if ones_shape is not None:
            want = np.broadcast_to(want, np.broadcast_shapes(want.shape, ones_shape))
        value = got[key]
        assert value.shape == want.shape, key
        if value.dtype.kind == "f":
            rtol = 1e-6 if value.dtype == np.float32 else 1e-14
            np.testing.assert_allclose(value, want, rtol=rtol, atol=1e-30, err_msg=key)
        else:  # (integer results wrap as NumPy's do)
            np.testing.assert_array_equal(value, want.astype(value.dtype), err_msg=key)


_SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 2.5, -2.5, 100.0,
                     -100.0, 1e-40, -1e-40, 3e38, -3e38])


@pytest.fixture
def subnormals_kept():
    """Compiled runs keep subnormals (IEEE arithmetic) instead of flushing them as they do by
    default: with the processor's denormals-are-zero mode, an op NumPy computes in floating
    point sees a subnormal input as zero while one that tests its bits does not, in either
    runner, so only IEEE arithmetic gives both runners one answer to compare."""
    tf.config.experimental.enable_flush_denormals(False)
    yield
    tf.config.experimental.enable_flush_denormals(True)


def test_nan_infinities_signed_zeros_and_subnormals(hot, subnormals_kept):
    """Every float op of the table on special values (each unary op on each value, each
    binary op on each pair), against the NumPy runner: NaN where it has NaN, the same
    infinities and signs of zero, bit for bit where both round the same and to a few ulps
    elsewhere; maximum, minimum, relu and sigmoid also against float64 NumPy."""
    unary = [name for name, row in _OPS.items() if len(row[2]) == 1]
    binary = [name for name, row in _OPS.items() if len(row[2]) == 2]

    def step(s, x, y):
        results = {name: _OPS[name][0](s) for name in unary}
        results.update({name: _OPS[name][0](x, y) for name in binary})
        results.update({"fused_max": tf.maximum(x * 1.0, y), "fused_min": tf.minimum(x, y * 1.0),
                        "fused_relu": tf.nn.relu(s * 1.0), "to_bool": tf.cast(s, tf.bool)})
        return results

    native, plain = _twins(step)
    for dtype in (np.float32, np.float64):
        x, y = (v.astype(dtype) for v in np.meshgrid(_SPECIAL, _SPECIAL, indexing="ij"))
        s = _SPECIAL.astype(dtype)
        with np.errstate(all="ignore"):
            got, want = _numpy(native(s, x, y)), _numpy(plain(s, x, y))
        _assert_native(native, s, x, y)
        for key, value in want.items():
            ours = got[key]
            assert ours.dtype == value.dtype and ours.shape == value.shape, key
            if value.dtype.kind != "f":
                np.testing.assert_array_equal(ours, value, err_msg=key)
                continue
            np.testing.assert_array_equal(np.isnan(ours), np.isnan(value), err_msg=key)
            kept = ~np.isnan(value)
            if key in _EXACT or key.startswith("fused"):
                np.testing.assert_array_equal(ours[kept], value[kept], err_msg=key)
            else:
                np.testing.assert_allclose(ours[kept], value[kept], err_msg=key,
                                           rtol=1e-6 if dtype == np.float32 else 1e-14)
            np.testing.assert_array_equal(np.signbit(ours[kept]), np.signbit(value[kept]),
                                          err_msg=key)
        with np.errstate(all="ignore"):
            x64, y64, s64 = (v.astype(np.float64) for v in (x, y, s))
            for key, reference in (("maximum", np.maximum(x64, y64)),
                                   ("minimum", np.minimum(x64, y64)),
                                   ("relu", np.maximum(s64, 0))):
                np.testing.assert_array_equal(got[key], reference.astype(dtype), err_msg=key)
                np.testing.assert_array_equal(np.signbit(got[key]),
                                              np.signbit(reference.astype(dtype)))
            # (sigmoid(-100) is subnormal in float32: a few units of its last place)
            np.testing.assert_allclose(got["sigmoid"], 1 / (1 + np.exp(-s64)), rtol=1e-6,
                                       atol=1e-44)


# ------------------------------------------------------------------ products, reductions, shapes

def _tolerance(dtype):
    return dict(rtol=2e-6, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-13)


def test_matmul_with_every_transpose_flag(hot):
    def step(a, b, at, bt, row):
        return {"nn": tf.matmul(a, b), "tn": tf.matmul(at, b, transpose_a=True),
                "nt": tf.matmul(a, bt, transpose_b=True),
                "tt": tf.matmul(at, bt, transpose_a=True, transpose_b=True),
                "fused": tf.nn.relu(tf.matmul(a, b) + 1.0), "row": tf.matmul(row, b)}
    native, plain = _twins(step)
    rng = np.random.default_rng(1)
    for dtype in (np.float32, np.float64):
        a, b = rng.normal(size=(3, 4)).astype(dtype), rng.normal(size=(4, 5)).astype(dtype)
        args = (a, b, np.ascontiguousarray(a.T), np.ascontiguousarray(b.T), a[:1].copy())
        got = _numpy(native(*args))
        _assert_native(native, *args)
        _assert_same_as_numpy_runner(got, _numpy(plain(*args)))
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        want = {"nn": a64 @ b64, "tn": a64 @ b64, "nt": a64 @ b64, "tt": a64 @ b64,
                "fused": np.maximum(a64 @ b64 + 1, 0), "row": a64[:1] @ b64}
        for key, value in want.items():
            assert got[key].dtype == dtype and got[key].shape == value.shape, key
            np.testing.assert_allclose(got[key], value, err_msg=key, **_tolerance(dtype))


_AXES = [None, 0, 1, -1, (0, 2), (2, 0, 1), ()]


@pytest.mark.parametrize("kinds", [("sum", "mean"), ("max", "min")])
def test_reductions_over_every_kind_of_axis(hot, kinds):
    """reduce_sum, mean, max and min over no axis, one, several, all and none, with and
    without keepdims (traced without the passes, which would fold the empty-axis ones)."""
    from tensorflux.graph import passes

    def step(x, n, s):
        results = {}
        for j, name in enumerate(kinds):
            reduce = getattr(tf, f"reduce_{name}")
            for k, axis in enumerate(_AXES):
                keepdims = (j + k) % 2 == 1  # (the pair of kinds has each axis both ways)
                results[f"{name}/{k}/{keepdims}"] = reduce(x, axis=axis, keepdims=keepdims)
            results[f"{name}/scalar"] = reduce(s)
            if name != "mean":
                results[f"{name}/int"] = reduce(n, axis=1)
                results[f"{name}/int_all"] = reduce(n, keepdims=True)
        return results

    native, plain = _twins(step)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 3, 4)).astype(np.float32)
    x[0, 1, 2] = -0.0
    n = rng.integers(-100, 100, (3, 5)).astype(np.int32)
    s = np.asarray(1.25, np.float32)
    with passes.disabled():
        got = _numpy(native(x, n, s))
        want_plain = _numpy(plain(x, n, s))
        plan = _assert_native(native, x, n, s)  # (the plan that ran: passes off)
    names = [step[5].primitive.name for step in plan.node_steps]
    assert names.count(f"reduce_{kinds[0]}") == len(_AXES) + (3 if kinds[0] != "mean" else 1)
    _assert_same_as_numpy_runner(got, want_plain)
    x64 = x.astype(np.float64)
    for key, value in got.items():
        name, k = key.split("/")[:2]
        function = getattr(np, name)
        if k == "scalar":
            want = function(np.float64(s))
        elif k.startswith("int"):
            want = function(n, axis=1) if k == "int" else function(n, keepdims=True)
        else:
            axis, keepdims = _AXES[int(k)], key.endswith("True")
            want = function(x64, axis=axis, keepdims=keepdims) if axis != () else x64
        assert value.shape == np.shape(want), key
        if value.dtype.kind == "i":
            assert value.dtype == np.int32
            np.testing.assert_array_equal(value, want, err_msg=key)
        else:
            assert value.dtype == np.float32, key
            np.testing.assert_allclose(value, want, rtol=1e-6, atol=1e-7, err_msg=key)


def test_reshape_concat_and_rank_0(hot):
    def step(x, y, s, one, column, rows):
        return {"flat": tf.reshape(x, [-1]), "matrix": tf.reshape(x, [6, 4]),
                "from_0": tf.reshape(s, [1, 1]), "to_0": tf.reshape(one, []),
                "fused_to_0": tf.reshape(one * 2.0, []) + s,
                "concat0": tf.concat([x, y], 0), "concat1": tf.concat([x, column], 1),
                "concat_last": tf.concat([x, rows, x], -1),
                "chain": tf.concat([tf.reshape(x * 2.0, [2, 12]), tf.reshape(y, [2, 12])], 0)}
    native, plain = _twins(step)
    rng = np.random.default_rng(3)
    args = (rng.normal(size=(2, 3, 4)).astype(np.float32),
            rng.normal(size=(2, 3, 4)).astype(np.float32),
            np.asarray(0.5, np.float32), np.asarray([1.5], np.float32),
            rng.normal(size=(2, 1, 4)).astype(np.float32),
            rng.normal(size=(2, 3, 2)).astype(np.float32))
    got = _numpy(native(*args))
    _assert_native(native, *args)
    x, y, s, one, column, rows = args
    want = {"flat": x.reshape(-1), "matrix": x.reshape(6, 4), "from_0": s.reshape(1, 1),
            "to_0": one.reshape(()), "fused_to_0": one.reshape(()) * 2 + s,
            "concat0": np.concatenate([x, y], 0), "concat1": np.concatenate([x, column], 1),
            "concat_last": np.concatenate([x, rows, x], -1),
            "chain": np.concatenate([(x * 2).reshape(2, 12), y.reshape(2, 12)], 0)}
    _assert_same_as_numpy_runner(got, _numpy(plain(*args)), exact_keys=set(want))
    for key, value in want.items():
        assert got[key].dtype == np.float32, key
        np.testing.assert_array_equal(got[key], value, err_msg=key)


# ------------------------------------------------------------------ variables

def _variable_step(jit_compile):
    """A step on its own variables: assign, assign_add, assign_sub on rank-0 and array
    variables (float and int), reads before and after each, a reshape and an identity of a
    variable taken before it is assigned."""
    scale = tf.Variable(1.5)
    weights = tf.Variable(np.arange(6, dtype=np.float32).reshape(2, 3))
    table = tf.Variable(np.zeros((2, 3), np.float64))
    count = tf.Variable(np.int64(0))
    total = tf.Variable(0.0)

    @tf.function(jit_compile=jit_compile)
    def step(x):
        total.assign(tf.reduce_sum(x) + total * 0.5)
        doubled = total * 2.0
        before = weights * 1.0
        flat = tf.reshape(weights, [-1])
        copy = tf.identity(weights)
        weights.assign_add(x * scale)
        after_add = weights * 1.0
        scale.assign_sub(tf.reduce_mean(x) * 0.25)
        weights.assign(tf.nn.relu(weights) - scale)
        table.assign_sub(tf.cast(weights, tf.float64) * 0.5)
        count.assign_add(1)
        return {"doubled": doubled, "before": before, "flat": flat, "copy": copy,
                "after_add": after_add,
                "after_assign": weights + 0.0, "scale": scale * 1.0, "table": table * 1.0,
                "count": count + 0}

    return step, (scale, weights, table, count, total)


def test_variable_updates_called_repeatedly(hot):
    native, native_variables = _variable_step(True)
    plain, plain_variables = _variable_step(False)
    rng = np.random.default_rng(4)
    for call in range(5):
        x = rng.normal(size=(2, 3)).astype(np.float32)
        got, want = _numpy(native(x)), _numpy(plain(x))
        for key in want:
            assert got[key].dtype == want[key].dtype, key
            assert got[key].shape == want[key].shape, key
            np.testing.assert_allclose(got[key], want[key], rtol=1e-6, atol=1e-6,
                                       err_msg=f"{key}, call {call}")
        np.testing.assert_array_equal(got["before"], got["flat"].reshape(2, 3))
        np.testing.assert_array_equal(got["before"], got["copy"])
        assert got["count"] == call + 1
        # Reads after an assign see the new value: the variables' values once the step ran.
        np.testing.assert_array_equal(got["doubled"], native_variables[4].numpy() * 2)
        np.testing.assert_array_equal(got["after_assign"], native_variables[1].numpy())
        np.testing.assert_array_equal(got["table"], native_variables[2].numpy())
        for ours, theirs in zip(native_variables, plain_variables):
            assert ours.numpy().dtype == theirs.numpy().dtype
            np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-6)
    plan = _assert_native(native, x)
    assert {"assign", "identity", "reshape"} <= {s[5].primitive.name for s in plan.node_steps}


# ------------------------------------------------------------------ fallbacks and bad input

def _assert_falls_back_to_the_same_results(step, args, reason_has):
    native, plain = _twins(step)
    for _ in range(3):  # (past _HOT_CALLS, which the `hot` fixture makes 1)
        got = _numpy(native(*args))
    reason = _assert_fallback(native, *args)
    assert reason_has in reason, reason
    want = _numpy(plain(*args))
    assert got.keys() == want.keys()
    for key in want:
        assert got[key].dtype == want[key].dtype
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    return reason


def test_a_large_product_keeps_blas(hot):
    size = int(round(numpy_native._LOOP_PRODUCT_MAX ** (1 / 3))) + 2
    rng = np.random.default_rng(5)
    a, b = (rng.normal(size=(size, size)).astype(np.float32) for _ in range(2))
    _assert_falls_back_to_the_same_results(
        lambda a, b: {"y": tf.nn.relu(tf.matmul(a, b) + 1.0)}, (a, b), "BLAS")


def test_an_unsupported_primitive_is_named(hot):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(1, 5, 5, 2)).astype(np.float32)
    w = rng.normal(size=(3, 3, 2, 2)).astype(np.float32)
    reason = _assert_falls_back_to_the_same_results(
        lambda x, w: {"y": tf.nn.conv2d(x, w, 1, "SAME") * 2.0}, (x, w), "conv2d")
    assert "not lowered" in reason


def test_other_plans_that_keep_the_numpy_runner(hot):
    big = np.ones((numpy_native._ELEMENTS_MAX // 256 + 1, 256), np.float32)
    _assert_falls_back_to_the_same_results(lambda x: {"y": tf.exp(x) * 2.0}, (big,), "NumPy")
    half = np.linspace(-2, 2, 6).astype(np.float16)
    _assert_falls_back_to_the_same_results(lambda x: {"y": x * x}, (half,), "float16")

    @tf.function(jit_compile=True, input_signature=[tf.TensorSpec([None, 3])])
    def dynamic(x):
        return x * 2.0
    x = np.ones((4, 3), np.float32)
    np.testing.assert_array_equal(dynamic(x).numpy(), x * 2)
    assert "static shape" in _assert_fallback(dynamic, tf.TensorSpec([None, 3]))


def test_without_numba_the_reason_says_so(hot, monkeypatch):
    monkeypatch.setattr(numpy_native, "_numba", False)
    assert not numpy_native.available()
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    _assert_falls_back_to_the_same_results(lambda x: {"y": tf.sigmoid(x) + x}, (x,),
                                           "not installed")


def test_a_step_numba_cannot_compile_keeps_the_numpy_runner(hot, monkeypatch):
    class Refusing:
        def compile(self, signature):
            raise TypeError("no typing for this")

    class Numba:
        typeof = staticmethod(numba.typeof)

        @staticmethod
        def njit(function, **options):
            return Refusing()

    monkeypatch.setattr(numpy_native, "_numba", Numba())
    native, plain = _twins(lambda x: {"y": tf.tanh(x) * 3.0})
    x = np.linspace(-2, 2, 6, dtype=np.float32)
    for _ in range(3):
        np.testing.assert_array_equal(native(x)["y"].numpy(), plain(x)["y"].numpy())
    plan, runner = _plan_and_runner(native, x)
    assert runner._function is None
    assert plan.native_reason == "Numba could not compile the step: no typing for this"


def test_the_numpy_runner_runs_until_the_plan_is_hot(monkeypatch):
    monkeypatch.setattr(numpy_native, "_HOT_CALLS", 3)
    native, plain = _twins(lambda x: {"y": tf.exp(x) - x})
    x = np.linspace(-2, 2, 6, dtype=np.float32)
    for call in range(1, 5):
        got = native(x)["y"].numpy()
        _, runner = _plan_and_runner(native, x)
        assert (runner._function is not None) == (call >= 3), call
        np.testing.assert_allclose(got, plain(x)["y"].numpy(), rtol=1e-6)


def test_the_runner_checks_shapes_and_copies_strided_inputs(hot):
    native, plain = _twins(lambda x, b: tf.nn.relu(tf.matmul(x, b) - 0.5) * x)
    rng = np.random.default_rng(7)
    x, b = rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=(3, 3)).astype(np.float32)
    native(x, b)
    _, runner = _plan_and_runner(native, x, b)
    assert runner._function is not None
    with pytest.raises(errors.InvalidArgumentError,
                       match=r"expected shape \(4, 3\), received \(3, 4\)"):
        runner([x.T.copy(), b], [])
    with pytest.raises(errors.InvalidArgumentError,
                       match=r"expected shape \(3, 3\), received \(3,\)"):
        runner([x, b[0]], [])
    wide = rng.normal(size=(8, 6)).astype(np.float32)
    for strided in (wide[::2, ::2], np.asfortranarray(x), x[::-1], wide.T[:4, :3]):
        assert not strided.flags.c_contiguous
        (got,) = runner([strided, np.asfortranarray(b)], [])
        contiguous = np.ascontiguousarray(strided)
        np.testing.assert_allclose(got, plain(contiguous, b).numpy(), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(
            got, np.maximum(contiguous.astype(np.float64) @ b - 0.5, 0) * contiguous,
            rtol=1e-6, atol=1e-6)


def test_a_variable_buffer_of_another_layout_hands_the_plan_to_the_numpy_runner(hot):
    # The step is compiled for the buffers' types once; a buffer replaced by one of another
    # layout is not compiled again mid-fit: the NumPy runner takes over, with the same values.
    rng = np.random.default_rng(9)
    start = rng.normal(size=(3, 3)).astype(np.float32)
    x = rng.normal(size=(3, 3)).astype(np.float32)
    results = {}
    for jit in (True, False):
        weights = tf.Variable(start)
        step = tf.function(lambda x, w=weights: w.assign_add(tf.matmul(x, w) * 0.1),
                           jit_compile=jit)
        step(x)
        if jit:
            plan, runner = _plan_and_runner(step, x)
            assert runner._function is not None, plan.native_reason
        weights._value = np.asfortranarray(weights._value)  # (as no public API would)
        step(x)
        step(x)
        results[jit] = weights.numpy()
    assert "new types" in plan.native_reason and runner._function is None
    np.testing.assert_allclose(results[True], results[False], rtol=1e-6, atol=1e-6)


def test_inputs_made_from_numpy_scalars_run_natively(hot):
    """A tensor made from np.float32(...) holds the NumPy scalar, not a 0-d array."""
    native, plain = _twins(lambda x, s, flag: {"y": tf.where(flag, x * s, x - s)})
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    for s, flag in ((np.float32(0.5), np.bool_(True)), (np.float32(-2.0), np.bool_(False))):
        args = (tf.constant(x), tf.constant(s), tf.constant(flag))
        got = _numpy(native(*args))
        _assert_native(native, *args)
        np.testing.assert_array_equal(got["y"], _numpy(plain(*args))["y"])
        np.testing.assert_array_equal(got["y"], x * s if flag else x - s)


# ------------------------------------------------------------------ Keras

def _data():
    """The seed MLP's data shape (768 x 8) with a learnable noisy label."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(768, 8)).astype("float32")
    y = ((x[:, 0] + 0.5 * x[:, 3] - 0.3 * x[:, 5] + 0.3 * rng.normal(size=768)) > 0)
    return x, y.astype("float32")


def _mlp(jit_compile, optimizer="adam", regularizer=None, weights=None):
    from tensorflux.keras.layers import Dense
    from tensorflux.keras.models import Sequential
    from tensorflux.keras.utils import set_random_seed

    set_random_seed(1337)
    model = Sequential([Dense(10, activation="relu", input_dim=8),
                        Dense(10, activation="relu", kernel_regularizer=regularizer),
                        Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer=optimizer, metrics=["accuracy"],
                  jit_compile=jit_compile)
    if weights is not None:
        model.set_weights(weights)
    return model


def _native_train_steps(model):
    """How many of the train function's plans ran natively, and the other plans' reasons."""
    ran, reasons = 0, []
    for function in model.train_function._functions.values():
        for concrete in function._cache.values():
            for plan, *_ in concrete._plans.values():
                compiled = [r for (_, native, _), r in plan._runners.items() if native
                            and isinstance(_unwrapped(r), numpy_native._Runner)
                            and _unwrapped(r)._function is not None]
                ran += bool(compiled)
                if not compiled:
                    reasons.append(plan.native_reason)
    return ran, reasons


def _assert_fits_match(native, plain, x, y, **kw):
    from tensorflux.keras.utils import set_random_seed

    set_random_seed(99)
    ours = native.fit(x, y, batch_size=10, verbose=0, **kw).history
    set_random_seed(99)
    theirs = plain.fit(x, y, batch_size=10, verbose=0, **kw).history
    assert sorted(ours) == sorted(theirs) == ["accuracy", "loss"]
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, atol=1e-6, err_msg=key)
    for a, b in zip(native.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_keras_mlp_fit_matches_jit_compile_false():
    """Default _HOT_CALLS: the steady-state step compiles during the first epoch, the
    epoch's short last batch and evaluate stay with the NumPy runner."""
    x, y = _data()
    native, plain = _mlp(True), _mlp(False)
    _assert_fits_match(native, plain, x, y, epochs=3, shuffle=False)
    _assert_fits_match(native, plain, x, y, epochs=2, shuffle=True)
    ran, reasons = _native_train_steps(native)
    assert ran == 1, reasons
    np.testing.assert_allclose(native.evaluate(x, y, verbose=0),
                               plain.evaluate(x, y, verbose=0), rtol=1e-5)


def test_keras_sgd_momentum_and_l2_fit_matches_jit_compile_false():
    from tensorflux.keras.optimizers import SGD
    from tensorflux.keras.regularizers import l2

    x, y = _data()
    native = _mlp(True, SGD(0.01, momentum=0.9), l2(0.01))
    plain = _mlp(False, SGD(0.01, momentum=0.9), l2(0.01))
    _assert_fits_match(native, plain, x, y, epochs=3, shuffle=True)
    ran, reasons = _native_train_steps(native)
    assert ran == 1, reasons


@pytest.mark.keras_oracle
def test_keras_mlp_fit_with_jit_compile_matches_real_keras():
    from tests.keras._oracle import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(1337)
    theirs = keras.Sequential([keras.Input((8,)), keras.layers.Dense(10, activation="relu"),
                               keras.layers.Dense(10, activation="relu"),
                               keras.layers.Dense(1, activation="sigmoid")])
    theirs.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    ours = _mlp(True, weights=theirs.get_weights())

    x, y = _data()
    kw = dict(epochs=3, batch_size=10, shuffle=False, verbose=0)
    mine, reference = ours.fit(x, y, **kw).history, theirs.fit(x, y, **kw).history
    assert sorted(mine) == sorted(reference)
    for key in reference:
        np.testing.assert_allclose(mine[key], reference[key], rtol=1e-5, atol=1e-6,
                                   err_msg=key)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert _native_train_steps(ours)[0] == 1


def test_layer_norm_and_its_gradient_lower_with_the_numpy_runners_bits(hot):
    """A LayerNormalization's layer_norm and layer_norm_grad run in the native step (a small
    jit plan stays native), with the NumPy runner's bits: the same steps and sums, the
    parameter sums by numpy_backend's pieces of rows (300 rows of 40: two pieces)."""
    from tensorflux import keras

    rng = np.random.default_rng(0)
    for shape in [(4, 6, 16), (300, 40)]:
        norm = keras.layers.LayerNormalization()
        norm.build(shape)
        for w in norm.weights:
            w.assign(rng.normal(size=w.shape).astype(np.float32))
        x = tf.constant((rng.normal(size=shape) * 3).astype(np.float32))
        dy = tf.constant(rng.normal(size=shape).astype(np.float32))

        def step(v, d, norm=norm):
            with tf.GradientTape() as tape:
                tape.watch(v)
                y = norm(v)
            return [y, *tape.gradient(y, [v, *norm.trainable_weights], output_gradients=d)]

        jit = tf.function(step, jit_compile=True)
        got = jit(x, dy)
        _assert_native(jit, x, dy)
        for ours, runner in zip(got, tf.function(step)(x, dy)):
            assert np.array_equal(ours.numpy().view(np.uint32), runner.numpy().view(np.uint32))
