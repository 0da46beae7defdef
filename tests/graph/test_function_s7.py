"""tf.function details checked against TensorFlow 2.21 (each expected value, structure, error
type and key message below was observed there): concrete functions (Python defaults, keyword
calls, structured signatures and outputs, pretty printing), Variables created on the first
call only, returned dict order, tf.while_loop's result structure, and argument errors."""

import collections
import re

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.graph.control_flow import while_loop

F32 = tf.TensorSpec([], tf.float32)


# ------------------------------------------------------------------ concrete functions

def test_concrete_function_takes_python_defaults_and_keywords():
    @tf.function
    def g(x, scale=2.0):
        return x * scale

    cf = g.get_concrete_function(F32)
    assert float(cf(tf.constant(3.0))) == 6.0
    assert float(cf(x=tf.constant(3.0))) == 6.0
    assert float(cf(tf.constant(3.0), scale=2.0)) == 6.0
    assert cf.structured_input_signature == ((tf.TensorSpec([], tf.float32, "x"), 2.0), {})
    five = g.get_concrete_function(F32, 5.0)
    assert float(five(tf.constant(3.0))) == 15.0  # the traced value, not the default
    assert float(five(tf.constant(3.0), 5.0)) == 15.0
    with pytest.raises(TypeError, match=r"Binding inputs to tf.function failed due to "
                                        r"`Can not cast 6.0 to Literal\[5.0\]`"):
        five(tf.constant(3.0), 6.0)


def test_concrete_function_argument_errors():
    @tf.function
    def add(x, y):
        return x + y

    cf = add.get_concrete_function(F32, F32)
    assert float(cf(y=tf.constant(1.0), x=tf.constant(2.0))) == 3.0
    # NumPy arrays and Python values convert to the specs' dtype
    assert float(cf(np.ones((), np.float64), True)) == 2.0
    twice = tf.function(lambda x: x * 2).get_concrete_function(tf.TensorSpec([2], tf.float32))
    assert twice([1.0, 2.0]).numpy().tolist() == [2.0, 4.0]
    assert twice(np.ones(2, np.int64)).dtype == tf.float32
    with pytest.raises(TypeError, match="missing a required argument: 'y'"):
        cf(tf.constant(1.0))
    with pytest.raises(TypeError, match="too many positional arguments"):
        cf(tf.constant(1.0), tf.constant(1.0), tf.constant(1.0))
    with pytest.raises(TypeError):
        cf("a", 1.0)
    with pytest.raises(tf.errors.InvalidArgumentError):
        cf(tf.constant(1), tf.constant(2))


def test_structured_outputs_shapes_and_dtypes_keep_the_returned_structure():
    @tf.function
    def two(x, y):
        return {"z": x + y, "a": (x, [y * 2])}

    cf = two.get_concrete_function(tf.TensorSpec([2], tf.float32, name="foo"),
                                   tf.TensorSpec(None, tf.float32))
    assert cf.structured_input_signature == (
        (tf.TensorSpec([2], tf.float32, "foo"), tf.TensorSpec(None, tf.float32, "y")), {})
    outputs = cf.structured_outputs
    assert list(outputs) == ["z", "a"] and isinstance(outputs["a"], tuple)
    assert isinstance(outputs["a"][1], list) and outputs["a"][0].shape == (2,)
    shapes = cf.output_shapes
    assert list(shapes) == ["z", "a"] and shapes["z"].rank is None
    assert shapes["a"][0] == tf.TensorShape([2]) and shapes["a"][1][0].rank is None
    assert cf.output_dtypes == {"z": tf.float32, "a": (tf.float32, [tf.float32])}
    result = cf(y=tf.constant(1.0), x=tf.constant([1.0, 2.0]))
    assert list(result) == ["z", "a"] and result["z"].numpy().tolist() == [2.0, 3.0]
    assert (tf.TensorSpec([2], tf.float32, "foo").name, len(cf.inputs)) == ("foo", 2)
    assert cf.output_shapes is not None and len(cf.outputs) == 3

    @tf.function
    def mixed(x):
        return x, 3, None

    cf = mixed.get_concrete_function(F32)
    assert cf.structured_outputs[1].dtype == tf.int32 and cf.structured_outputs[2] is None
    assert cf.output_shapes[2].rank is None
    assert cf.pretty_printed_signature().splitlines()[3] == (
        "  Tuple[TensorSpec(shape=(), dtype=tf.float32, name=None), TensorSpec(shape=(), "
        "dtype=tf.int32, name=None), Literal[None]]")


def test_pretty_printed_signatures_are_tfs():
    @tf.function
    def f(x, y=1.0):
        return x * y

    cf = f.get_concrete_function(tf.TensorSpec([None, 3], tf.float32))
    assert cf.pretty_printed_signature() == (
        "Input Parameters:\n"
        "  x (POSITIONAL_OR_KEYWORD): TensorSpec(shape=(None, 3), dtype=tf.float32, "
        "name=None)\n"
        "  y (POSITIONAL_OR_KEYWORD): Literal[1.0]\n"
        "Output Type:\n"
        "  TensorSpec(shape=(None, 3), dtype=tf.float32, name=None)\n"
        "Captures:\n"
        "  None")
    assert cf.pretty_printed_signature(verbose=False) == (
        "(x: TensorSpec(shape=(None, 3), dtype=tf.float32, name=None), y: Literal[1.0]) -> "
        "TensorSpec(shape=(None, 3), dtype=tf.float32, name=None)")
    f.get_concrete_function(F32, 5.0)
    both = f.pretty_printed_concrete_signatures()
    assert both.count("Input Parameters:") == 2 and "Captures:\n  None\n\nInput" in both
    assert "  y (POSITIONAL_OR_KEYWORD): Literal[5.0]" in both
    assert tf.function(lambda x: x).pretty_printed_concrete_signatures() == ""

    @tf.function
    def keyword_only(x, *, k=3, s="a"):
        return x * k

    cf = keyword_only.get_concrete_function(F32, k=4)
    assert cf.structured_input_signature == (
        (tf.TensorSpec([], tf.float32, "x"),), {"k": 4, "s": "a"})
    assert cf.pretty_printed_signature().splitlines()[2:4] == [
        "  k (KEYWORD_ONLY): Literal[4]", "  s (KEYWORD_ONLY): Literal['a']"]
    assert float(cf(tf.constant(2.0))) == 8.0


def test_variables_and_captures_of_a_concrete_function():
    v = tf.Variable(2.0)
    w = tf.Variable(3.0, trainable=False)

    @tf.function
    def use(x):
        return x * v + w

    cf = use.get_concrete_function(F32)
    assert cf.variables == (v, w) and cf.trainable_variables == (v,)
    captures = cf.pretty_printed_signature().split("Captures:\n")[1].splitlines()
    assert len(captures) == 2 and all(re.fullmatch(
        r"  \d+: TensorSpec\(shape=\(\), dtype=tf.resource, name=None\)", c) for c in captures)


def test_nested_arguments_are_named_after_their_path_and_flat_calls_work():
    @tf.function
    def d(inp, lst, *rest, **kw):
        return inp["b"] + inp["a"] + lst[0]

    cf = d.get_concrete_function({"b": F32, "a": tf.TensorSpec([], name="nm")}, [F32, 3], F32,
                                 q=F32)
    args, kwargs = cf.structured_input_signature
    assert list(args[0]) == ["b", "a"]
    assert [args[0]["b"].name, args[0]["a"].name, args[1][0].name, args[2].name] == [
        "inp_b", "nm", "lst_0", "rest_0"]
    assert args[1][1] == 3 and kwargs["q"].name == "q"
    assert "  rest_0 (POSITIONAL_ONLY): TensorSpec" in cf.pretty_printed_signature()
    one, two, zero = tf.constant(1.0), tf.constant(2.0), tf.constant(0.0)
    assert float(cf({"a": one, "b": two}, [tf.constant(3.0), 3], zero, q=zero)) == 6.0
    assert float(cf(one, two, tf.constant(3.0), zero, zero)) == 6.0  # flat: sorted keys
    with pytest.raises(TypeError, match=r"Can not cast 4 to Literal\[3\]"):
        cf({"a": one, "b": two}, [tf.constant(3.0), 4], zero, q=zero)


def test_method_concrete_function_with_an_input_signature():
    class Mod(tf.Module):
        def __init__(self):
            self.v = tf.Variable(2.0)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def call(self, x):
            return x * self.v

    m = Mod()
    cf = m.call.get_concrete_function()
    assert cf.structured_input_signature == ((tf.TensorSpec([None], tf.float32, "x"),), {})
    assert cf(x=tf.constant([1.0])).numpy().tolist() == [2.0] and cf.variables == (m.v,)
    assert m.call.input_signature == (tf.TensorSpec([None], tf.float32),)
    with pytest.raises(TypeError, match="Can not cast TensorSpec"):
        m.call.get_concrete_function(tf.TensorSpec([None], tf.int32))
    assert m.call.experimental_get_tracing_count() == 1


def test_numpy_scalars_are_tensors_and_equal_python_values_share_a_trace():
    traces = []

    @tf.function
    def f(x, y=1.0):
        traces.append(1)
        return x * y

    f(tf.constant(1.0))
    f(np.float32(3.0))
    f(2.0)
    f(2)
    assert len(traces) == 2 and f.experimental_get_tracing_count() == 2


# ------------------------------------------------------------------ Variables in tf.function

def test_variable_created_on_the_first_call_only():
    class M(tf.Module):
        def __init__(self):
            self.v = None

        @tf.function
        def __call__(self, x):
            if self.v is None:
                self.v = tf.Variable(tf.ones_like(x) * 3)
            return self.v * x

    m = M()
    assert m(tf.constant([2.0, 3.0])).numpy().tolist() == [6.0, 9.0]
    assert m.__call__.experimental_get_tracing_count() == 2  # TF traces twice
    assert m(tf.constant([2.0, 5.0])).numpy().tolist() == [6.0, 15.0]
    assert m.__call__.experimental_get_tracing_count() == 2
    assert len(m.variables) == 1 and len(m.trainable_variables) == 1
    # ones_like of a fully known shape lifts without any call (get_concrete_function).
    other = M()
    cf = other.__call__.get_concrete_function(tf.TensorSpec([2], tf.float32))
    assert cf(tf.constant([2.0, 3.0])).numpy().tolist() == [6.0, 9.0]


class _FromInput(tf.Module):
    def __init__(self):
        self.v = None

    @tf.function
    def __call__(self, x):
        if self.v is None:
            self.v = tf.Variable(x * 2)  # depends on the input: initialized by this call
        self.v.assign_add(x)
        return self.v.read_value()


def test_initial_value_from_the_first_calls_input():
    m = _FromInput()
    assert m(tf.constant([1.0, 2.0])).numpy().tolist() == [3.0, 6.0]
    assert m(tf.constant([1.0, 2.0])).numpy().tolist() == [4.0, 8.0]
    assert m.__call__.experimental_get_tracing_count() == 2
    fresh = _FromInput()
    with pytest.raises(Exception, match="Unable to lift tensor"):  # TF: UnliftableError
        fresh.__call__.get_concrete_function(tf.TensorSpec([2], tf.float32))


def test_initial_value_from_inputs_cannot_be_jit_compiled():
    class M(tf.Module):
        def __init__(self):
            self.v = None

        @tf.function(jit_compile=True)
        def __call__(self, x):
            if self.v is None:
                self.v = tf.Variable(x * 2)
            return self.v * 1

    with pytest.raises(tf.errors.UnimplementedError, match="failed to lift variable creations"):
        M()(tf.constant([1.0, 2.0]))


SINGLETON = "tf.function only supports singleton tf.Variables created on the first call"


def test_a_variable_created_on_every_call_is_an_error_on_the_first_call():
    count = []

    @tf.function
    def bad(x):
        count.append(1)
        return tf.Variable(1.0) * x

    with pytest.raises(ValueError, match=SINGLETON):
        bad(tf.constant(1.0))
    assert len(count) == 2 and bad.experimental_get_tracing_count() == 1
    with pytest.raises(ValueError, match=SINGLETON):
        bad(tf.constant(2.0))
    assert len(count) == 3 and bad.experimental_get_tracing_count() == 1

    made = []

    @tf.function
    def in_init_scope(x):
        with tf.init_scope():  # eager, but still made by the trace: TF counts it
            made.append(tf.Variable(1.0))
        return x * made[-1]

    with pytest.raises(ValueError, match=SINGLETON):
        in_init_scope(tf.constant(1.0))


def test_variables_created_by_a_later_trace():
    @tf.function
    def later(x):
        if x.shape[0] == 3:
            tf.Variable(1.0)
        return x

    later(tf.zeros(2))
    with pytest.raises(ValueError, match="Creating variables on a non-first call to a "
                                         "function decorated with tf.function."):
        later.get_concrete_function(tf.TensorSpec([3]))

    @tf.function
    def first_creates(x):
        if x.shape[0] == 3:
            tf.Variable(1.0)
        return x

    with pytest.raises(ValueError, match=SINGLETON):
        first_creates.get_concrete_function(tf.TensorSpec([3]))
    assert first_creates(tf.zeros(2)).numpy().tolist() == [0.0, 0.0]
    assert first_creates.experimental_get_tracing_count() == 2


def test_a_trace_that_raises_is_not_counted():
    calls = []

    @tf.function
    def boom(x):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first trace fails")
        return x

    with pytest.raises(RuntimeError):
        boom(tf.constant(1.0))
    assert boom.experimental_get_tracing_count() == 0
    assert float(boom(tf.constant(1.0))) == 1.0
    assert boom.experimental_get_tracing_count() == 1


def test_keras_layers_and_optimizers_built_inside_a_function():
    from tensorflux import keras

    layer = keras.layers.Dense(2)
    f = tf.function(lambda x: layer(x))
    assert f(tf.ones((1, 3))).shape == (1, 2) and f.experimental_get_tracing_count() == 2
    assert f(tf.ones((2, 3))).shape == (2, 2) and f.experimental_get_tracing_count() == 3
    with pytest.raises(ValueError, match=SINGLETON):
        tf.function(lambda x: keras.layers.Dense(2)(x))(tf.ones((1, 3)))
    model = keras.Sequential([keras.layers.Dense(3), keras.layers.Dense(1)])
    h = tf.function(lambda x: model(x))
    assert h(tf.ones((1, 3))).shape == (1, 1)
    assert h.experimental_get_tracing_count() == 2 and len(model.weights) == 4
    opt = keras.optimizers.Adam()
    v = tf.Variable([1.0, 2.0])

    @tf.function
    def step():
        opt.apply([tf.ones(2)], [v])
        return v.read_value()

    np.testing.assert_allclose(step().numpy(), [0.999, 1.999], rtol=1e-6)
    assert step.experimental_get_tracing_count() == 2


# ------------------------------------------------------------------ returned structures

def test_returned_dicts_keep_their_insertion_order():
    traces = []

    @tf.function
    def f(x):
        traces.append(1)
        return {"z": x["z"], "a": x["a"], "m": {"y": x["a"], "b": x["z"]}}

    out = f({"a": tf.constant(1.0), "z": tf.constant(2.0)})
    assert list(out) == ["z", "a", "m"] and list(out["m"]) == ["y", "b"]
    assert float(out["z"]) == 2.0
    out = f({"z": tf.constant(1.0), "a": tf.constant(2.0)})  # same trace, TF too
    assert len(traces) == 1 and float(out["z"]) == 1.0
    ordered = tf.function(lambda x: collections.OrderedDict([("z", x), ("a", x)]))(1.0)
    assert isinstance(ordered, collections.OrderedDict) and list(ordered) == ["z", "a"]


def _loop(kind, body, start, mode):
    def run():
        return while_loop(lambda i: i < 3, body, kind(start))

    return run() if mode == "eager" else tf.function(run)()


@pytest.mark.parametrize("mode", ["eager", "traced"])
def test_while_loop_result_structure(mode):
    eager = mode == "eager"
    # Traced: loop_vars' type; eager: the body's (TF runs the Python loop).
    out = _loop(list, lambda i: (i + 1,), [0], mode)
    assert type(out) is (tuple if eager else list) and int(out[0]) == 3
    out = _loop(tuple, lambda i: [i + 1], [0], mode)
    assert type(out) is (list if eager else tuple) and int(out[0]) == 3
    out = _loop(list, lambda i: [i + 1], [0], mode)
    assert type(out) is list
    two = lambda: while_loop(lambda i, a: i < 3, lambda i, a: [i + 1, a * 2], (0, 1))  # noqa: E731
    out = two() if eager else tf.function(two)()
    assert type(out) is (list if eager else tuple) and [int(t) for t in out] == [3, 8]
    if eager:
        with pytest.raises(TypeError):  # TF iterates the bare result
            _loop(list, lambda i: i + 1, [tf.constant(0)], mode)
        assert type(while_loop(lambda i: i < 0, lambda i: (i + 1,), [0])) is list
    else:
        assert int(_loop(list, lambda i: i + 1, [tf.constant(0)], mode)[0]) == 3


def test_while_loop_argument_errors():
    with pytest.raises(TypeError):
        while_loop(lambda i: i < 3, lambda i: i + 1, tf.constant(5))
    with pytest.raises(ValueError, match="'loop_vars' must be provided."):
        while_loop(lambda: False, lambda: (), [])
    same = "The two structures don't have the same nested structure."
    with pytest.raises(ValueError, match=same):
        tf.function(lambda: while_loop(lambda i, a: i < 3, lambda i, a: (i + 1,), [0, 1]))()
    with pytest.raises(ValueError, match=same):  # a dict is a structure: not wrapped
        tf.function(lambda: while_loop(lambda d: d["z"] < 3, lambda d: {"z": d["z"] + 1},
                                       [{"z": 0}]))()
    with pytest.raises(TypeError, match=same):  # eagerly, nested lists and tuples differ
        while_loop(lambda i, p: i < 3, lambda i, p: (i + 1, (p[0],)), [0, [1]])
    traced = tf.function(lambda: while_loop(lambda i, p: i < 3, lambda i, p: (i + 1, (p[0],)),
                                            [0, [1]]))()
    assert isinstance(traced[1], list) and int(traced[0]) == 3


# ------------------------------------------------------------------ call errors

BINDING = "Binding inputs to tf.function failed due to "


def test_call_argument_errors_are_tfs_type_errors():
    @tf.function
    def f(x, y=1.0):
        return x * y

    one = tf.constant(1.0)
    cases = [((one, 2.0, 3.0), {}, "too many positional arguments"),
             ((one,), {"z": 3.0}, "got an unexpected keyword argument 'z'"),
             ((), {}, "missing a required argument: 'x'"),
             ((one,), {"x": 2.0}, "multiple values for argument 'x'")]
    for args, kwargs, reason in cases:
        with pytest.raises(TypeError) as info:
            f(*args, **kwargs)
        message = str(info.value)
        assert message.startswith(f"{BINDING}`{reason}`. Received args: ")
        assert message.endswith("for signature: (x, y=<captured_default_value>).")


def test_input_signature_mismatches_are_tfs_type_errors():
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def g(x):
        return x * 2

    assert g([1, 2]).numpy().tolist() == [2.0, 4.0]  # converted to the spec's dtype
    assert g(np.array([1.0, 2.0])).dtype == tf.float32 and g(x=tf.constant([1.0])).shape == (1,)
    with pytest.raises(TypeError) as info:
        g(tf.constant([1, 2]))
    assert str(info.value).startswith(
        f"{BINDING}`Can not cast TensorSpec(shape=(2,), dtype=tf.int32, name=None) to "
        "TensorSpec(shape=(None,), dtype=tf.float32, name=None)`.")
    assert str(info.value).endswith(
        "for signature: (x: TensorSpec(shape=(None,), dtype=tf.float32, name=None)).")
    with pytest.raises(TypeError, match=r"Can not cast TensorSpec\(shape=\(1, 2\)"):
        g(tf.constant([[1.0, 2.0]]))
    with pytest.raises(TypeError, match="too many positional arguments"):
        g(tf.constant([1.0]), tf.constant([1.0]))
    with pytest.raises(TypeError, match="Cannot convert 'abc' to EagerTensor"):
        g("abc")
    pair = tf.function(lambda xs: xs[0], input_signature=[(F32, F32)])
    with pytest.raises(TypeError, match=r"to tuple type\."):
        pair([tf.constant(1.0), tf.constant(2.0)])
    with pytest.raises(TypeError, match="to have length of 2"):
        pair((tf.constant(1.0),))
    keyed = tf.function(lambda d: d["a"], input_signature=[{"a": F32}])
    with pytest.raises(TypeError, match="has different keys with the TraceType"):
        keyed({"b": tf.constant(1.0)})
    with pytest.raises(TypeError, match=r"to a Dict type\."):
        keyed(tf.constant(1.0))


def test_input_signature_must_fit_the_parameters():
    with pytest.raises(TypeError, match="input_signature contains 2 extra type constraints."):
        tf.function(lambda x: x, input_signature=[F32, F32, F32])
    with pytest.raises(TypeError, match="input_signature missing type constraint for y"):
        tf.function(lambda x, y: x, input_signature=[F32])

    def method(self, x, y):
        return x

    with pytest.raises(TypeError, match="missing type constraint for y"):  # self aside
        tf.function(method, input_signature=[F32])
    with pytest.raises(TypeError, match="keyword-only parameter `k` must have a default"):
        tf.function(lambda x, *, k: x, input_signature=[F32])
    defaulted = tf.function(lambda x, y=2: x * y, input_signature=[F32])
    assert float(defaulted(tf.constant(1.0))) == 2.0
    variadic = tf.function(lambda *a: a[0] + a[1], input_signature=[F32, F32])
    assert float(variadic(tf.constant(1.0), tf.constant(2.0))) == 3.0
