"""Probe round s7, core side: second derivatives through activations (torch's double backward
and TF's zeros for piecewise-linear ones are the reference), Dataset.rebatch on scalar
elements, and tf.debugging assertions eagerly, inside tf.function and inside fit (messages
as TF 2.21 writes them)."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras

_X = np.array([[-1.7, -0.3, 0.4, 1.2, 2.5], [0.9, -2.2, 3.1, -0.6, 0.15]])
_W = np.array([[0.3, -1.1, 0.7, 2.0, -0.4], [1.0, 0.5, -0.8, 0.25, 1.5]])
_V = np.array([[1.0, 0.5, -2.0, 0.3, 0.9], [-0.7, 1.2, 0.4, 1.0, -0.2]])


def _ours(name):
    nn = tf.nn
    return {"relu": nn.relu, "relu6": lambda x: nn.relu6(x * 4.0),
            "leaky_relu": lambda x: nn.leaky_relu(x, alpha=0.3), "elu": nn.elu,
            "selu": nn.selu, "gelu": nn.gelu,
            "gelu_tanh": lambda x: nn.gelu(x, approximate=True), "sigmoid": nn.sigmoid,
            "tanh": nn.tanh, "softplus": nn.softplus, "swish": nn.swish,
            "softmax": nn.softmax, "log_softmax": nn.log_softmax}[name]


def _torch(name):
    torch = pytest.importorskip("torch")
    f = torch.nn.functional
    return {"relu": torch.relu, "relu6": lambda x: f.relu6(x * 4.0),
            "leaky_relu": lambda x: f.leaky_relu(x, 0.3), "elu": f.elu, "selu": f.selu,
            "gelu": f.gelu, "gelu_tanh": lambda x: f.gelu(x, approximate="tanh"),
            "sigmoid": torch.sigmoid, "tanh": torch.tanh, "softplus": f.softplus,
            "swish": f.silu, "softmax": lambda x: torch.softmax(x, -1),
            "log_softmax": lambda x: torch.log_softmax(x, -1)}[name]


_ACTIVATIONS = ["relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "gelu_tanh", "sigmoid",
                "tanh", "softplus", "swish", "softmax", "log_softmax"]


@pytest.mark.parametrize("name", _ACTIVATIONS)
def test_gradient_of_gradient_matches_torch_double_backward(name):
    torch = pytest.importorskip("torch")
    x = tf.Variable(_X)
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            y = tf.reduce_sum(_ours(name)(x) * _W)
        g = inner.gradient(y, x)
        gv = tf.reduce_sum(g * _V)
    ours = outer.gradient(gv, x)
    assert ours is not None, f"{name}: the second derivative is unconnected"

    tx = torch.tensor(_X, requires_grad=True)
    (tg,) = torch.autograd.grad((_torch(name)(tx) * torch.tensor(_W)).sum(), tx,
                                create_graph=True)
    (theirs,) = torch.autograd.grad((tg * torch.tensor(_V)).sum(), tx, allow_unused=True,
                                    materialize_grads=True)
    np.testing.assert_allclose(g.numpy(), tg.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-9, atol=1e-12)


def test_gradient_penalty_reaches_the_bias_before_relu_and_leaky_relu():
    """WGAN-GP: d/d(bias) of a penalty on d(critic)/d(input). TF gives zeros (its ReluGrad
    and LeakyReluGrad keep a zero derivative by their features), not None."""
    rng = np.random.RandomState(0)
    w1 = tf.Variable(rng.randn(3, 4)), tf.Variable(rng.randn(4))
    w2 = tf.Variable(rng.randn(4, 1))
    x = tf.constant(rng.randn(5, 3))
    for activation in (tf.nn.relu, lambda h: tf.nn.leaky_relu(h, alpha=0.2)):
        with tf.GradientTape() as tape:
            with tf.GradientTape() as gp_tape:
                gp_tape.watch(x)
                critic = tf.matmul(activation(tf.matmul(x, w1[0]) + w1[1]), w2)
            grads = gp_tape.gradient(critic, x)
            penalty = tf.reduce_mean((tf.norm(grads, axis=1) - 1.0) ** 2)
        kernel, bias, head = tape.gradient(penalty, [w1[0], w1[1], w2])
        assert bias is not None
        np.testing.assert_array_equal(bias.numpy(), np.zeros(4))
        assert kernel is not None and head is not None


def test_leaky_relu_keeps_values_and_first_derivative_of_the_select_form():
    x = tf.Variable([-2.0, -0.0, 0.0, 1e-30, 3.0, float("inf"), float("-inf")])
    with tf.GradientTape() as tape:
        y = tf.nn.leaky_relu(x, alpha=0.25)
    expected = np.where(x.numpy() > 0, x.numpy(), x.numpy() * np.float32(0.25))
    np.testing.assert_array_equal(y.numpy(), expected)
    # TF's LeakyReluGrad: the cotangent where features > 0, alpha times it elsewhere (0 too)
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(),
                                  [0.25, 0.25, 0.25, 1.0, 1.0, 1.0, 0.25])


def test_first_order_relu_gradient_keeps_its_three_op_form():
    """The zero-derivative link is added only while an outer tape records the gradient."""
    x = tf.Variable(np.ones((2, 3), "float32"))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            y = tf.reduce_sum(tf.nn.relu(x * 2.0))
        return tape.gradient(y, x)

    kernels = set()
    for node in step.get_concrete_function().graph.nodes:
        kernels.add(node.type)
        kernels.update(op[0] for op in node.attrs.get("program", ()))  # fused chains
    assert "mul_no_nan" not in kernels
    assert {"greater", "cast", "multiply"} <= kernels


# ---------------------------------------------------------------------- rebatch
def test_rebatch_of_scalar_elements_raises_at_once_as_tf():
    with pytest.raises(ValueError, match="scalar elements"):
        tf.data.Dataset.range(10).batch(3).unbatch().rebatch(4)
    with pytest.raises(ValueError, match="scalar elements"):
        tf.data.Dataset.from_tensor_slices(([1, 2, 3], [[1], [2], [3]])).rebatch(2)


def test_rebatch_values_as_tf():
    # TF 2.21: Dataset.range(10).batch(3).rebatch(4) and the tf.data.Dataset.rebatch docs
    ds = tf.data.Dataset.range(10).batch(3).rebatch(4)
    assert [b.numpy().tolist() for b in ds] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    ds = tf.data.Dataset.range(6).batch(4).rebatch([2, 1, 1])
    assert [b.numpy().tolist() for b in ds] == [[0, 1], [2], [3], [4, 5]]
    spec = tf.data.Dataset.range(10).batch(4, drop_remainder=True).rebatch(
        2, drop_remainder=True).element_spec
    assert spec.shape.as_list() == [2]


def test_rebatch_of_scalars_of_unknown_shape_fails_when_iterated():
    ds = tf.data.Dataset.from_generator(lambda: iter([np.int64(1), np.int64(2)]),
                                        output_signature=tf.TensorSpec(None, tf.int64))
    with pytest.raises(tf.errors.InvalidArgumentError, match="rank >= 1"):
        list(ds.rebatch(2))


# ---------------------------------------------------------------------- tf.debugging
_D = tf.debugging


def _message(fn):
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        fn()
    return info.value.message if hasattr(info.value, "message") else str(info.value)


@pytest.mark.parametrize("call, text", [
    # (TF 2.21's eager messages)
    (lambda: _D.assert_equal(tf.constant(1), tf.constant(2)),
     "Condition x == y did not hold.\nFirst 1 elements of x:\n[1]\nFirst 1 elements of y:\n[2]"),
    (lambda: _D.assert_greater(tf.constant(1.0), 2.0, message="gt msg"),
     "gt msg\nCondition x > y did not hold.\nFirst 1 elements of x:\n[1.]\n"
     "First 1 elements of y:\n[2.]"),
    (lambda: _D.assert_equal(tf.constant([1, 2, 3]), tf.constant([1, 5, 3]), message="m"),
     "m\nCondition x == y did not hold.\nIndices of first 1 different values:\n[[1]]\n"
     "Corresponding x values:\n[2]\nCorresponding y values:\n[5]\nFirst 3 elements of x:\n"
     "[1 2 3]\nFirst 3 elements of y:\n[1 5 3]"),
    (lambda: _D.assert_equal(tf.constant([[1, 2], [3, 4]]), 1),
     "Condition x == y did not hold.\nFirst 3 elements of x:\n[1 2 3]\n"
     "First 1 elements of y:\n[1]"),
    (lambda: _D.assert_equal(tf.constant([1, 2, 3, 4]), tf.constant([0, 0, 0, 0]),
                             summarize=0),
     "Condition x == y did not hold."),
    (lambda: _D.assert_positive(tf.constant([1.0, 2, 3, 4, -5]), message="pos"),
     "pos.  \nCondition x > 0 did not hold element-wise:\nx (shape=(5,) dtype=float32) = \n"
     "['1.0', '2.0', '3.0', '...']"),
    (lambda: _D.assert_non_negative(tf.constant(-1.0)),
     "\nCondition x >= 0 did not hold element-wise:\nx (shape=() dtype=float32) = \n-1.0"),
    (lambda: _D.assert_all_finite(tf.constant([1.0, np.nan]), "fin msg"),
     "fin msg : Tensor had NaN values"),
])
def test_eager_assertion_messages_are_tfs(call, text):
    assert text in _message(call)


def test_assert_near_follows_tf():
    assert _D.assert_near(tf.constant([1.0, 2.0]), [1.0, 2.0 + 1e-7]) is None
    assert _D.assert_near(tf.constant([1.0, 2.0]), [1.0, 2.1], rtol=0.1, atol=0.0) is None
    # strict: |x - y| < atol + rtol |y|, so equal values fail a zero tolerance (as TF)
    assert "not equal to tolerance" in _message(
        lambda: _D.assert_near(tf.constant([1.0]), [1.0], rtol=0.0, atol=0.0))
    assert "near.  x and y not equal to tolerance rtol = 1.1920929e-06" in _message(
        lambda: _D.assert_near(tf.constant([1.0, 2.0]), [1.0, 2.1], message="near"))
    assert "not equal" in _message(lambda: _D.assert_near(tf.constant([np.nan]), [np.nan]))
    # float64's default tolerance is 10 eps = 2.22e-15
    assert "2.220446049250313e-15" in _message(lambda: _D.assert_near(
        tf.constant([1.0], tf.float64), tf.constant([1.0 + 1e-9], tf.float64)))
    with pytest.raises(ValueError):
        _D.assert_near(tf.constant([1]), tf.constant([1]))


def test_assert_shapes_static_rules_as_tf():
    x, y = tf.zeros([2, 3]), tf.zeros([2])
    assert _D.assert_shapes([(x, ("N", "Q")), (y, ("N",))]) is None
    assert _D.assert_shapes([(x, "NQ"), (y, "N"), (tf.constant(1.0), [])]) is None
    assert _D.assert_shapes([(x, (..., 3)), (tf.zeros([5, 4, 3]), ("*", "Q"))]) is None
    assert _D.assert_shapes([(tf.constant(1.0), ("N",)), (tf.zeros([1]), [])]) is None
    cases = [
        ([(x, ("N", "Q")), (tf.zeros([3, 3]), ("N", "Q"))],
         "Specified by tensor shape=(2, 3) dtype=float32 dimension 0.  Tensor shape=(3, 3) "
         "dtype=float32 dimension 0 must have size 2.  Received size 3, shape (3, 3)"),
        ([(x, (2, 4))], "Specified explicitly.  Tensor shape=(2, 3) dtype=float32 dimension 1 "
                        "must have size 4.  Received size 3, shape (2, 3)"),
        ([(x, ("N",))], "must have rank in (0, 1).  Received rank 2, shape (2, 3)"),
        ([(tf.zeros([3]), (..., "N", "Q"))], "must have rank at least 2.  Received rank 1"),
        ([(tf.zeros([5, 4, 3]), (..., "N", "Q")), (x, (..., "N", "Q"))],
         "dimension -2.  Tensor shape=(2, 3) dtype=float32 dimension -2 must have size 4"),
        ([(tf.zeros([3]), [])], "dimension 0 must have size 1.  Received size 3"),
        ([(x, ("N", ..., 3))], "only allowed as the first entry"),
    ]
    for shapes, text in cases:
        with pytest.raises(ValueError) as info:
            _D.assert_shapes(shapes)
        assert text in str(info.value)
    with pytest.raises(ValueError, match=r"^mm\.  Specified explicitly"):
        _D.assert_shapes([(x, (2, 4))], message="mm")


def test_assertions_run_each_time_a_traced_function_runs():
    @tf.function
    def add(a, b):
        _D.assert_equal(a, b, message="in fn")
        return a + b

    @tf.function
    def double(a):
        return _D.check_numerics(a, "h msg") * 2.0

    @tf.function(input_signature=[tf.TensorSpec([None, None])])
    def rows(a):
        _D.assert_shapes([(a, ("N", 2))], message="dyn")
        return a

    assert add(tf.constant([1]), tf.constant([1])).numpy().tolist() == [2]
    assert "in fn\nCondition x == y did not hold." in _message(
        lambda: add(tf.constant([1]), tf.constant([2])))
    assert double(tf.constant([1.0])).numpy().tolist() == [2.0]
    assert "h msg : Tensor had NaN values" in _message(lambda: double(tf.constant([np.nan])))
    assert rows(tf.zeros([3, 2])).shape == (3, 2)
    assert "dyn.  Specified explicitly" in _message(lambda: rows(tf.zeros([3, 3])))
    with pytest.raises(ValueError, match="must have size 2"):  # static: at trace time
        tf.function(lambda a: _D.assert_shapes([(a, ("N", 2))]))(tf.zeros([3, 3]))


def test_assertions_read_a_variable_when_the_graph_runs():
    v = tf.Variable(1.0)

    @tf.function
    def check():
        _D.assert_positive(v, message="v")
        return v * 1.0

    assert float(check()) == 1.0
    v.assign(-1.0)
    assert "v.  \nCondition x > 0 did not hold" in _message(check)


def test_assertions_inside_fit_raise_with_the_users_message():
    class Guard(keras.layers.Layer):
        def call(self, x):
            x = _D.check_numerics(x, "bad input")
            _D.assert_less(tf.reduce_max(x), 100.0, message="too big")
            return x

    model = keras.Sequential([keras.Input((3,)), Guard(), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    x[6, 0] = 1000.0
    assert "too big" in _message(lambda: model.fit(x, y, batch_size=4, epochs=1, verbose=0))
    x[6, 0] = np.nan
    assert "bad input : Tensor had NaN values" in _message(lambda: model.predict(x, verbose=0))
