"""A graph tensor kept past its tf.function's trace (appended to a list while tracing) has no
value: an eager op given one says so, naming the op, the tensor and its function, with
TensorFlow's TypeError, instead of a kernel's complaint about None."""

import pytest

import tensorflux as tf
from tensorflux.graph.ir import SymbolicValueError


@pytest.fixture
def escaped():
    kept = []

    @tf.function
    def double(x):
        y = x * 2.0
        kept.append(y)
        return y

    double(tf.constant([1.0, 2.0]))
    return kept[0]


@pytest.mark.parametrize("use, op", [
    (lambda t: t + 1.0, "add"),
    (lambda t: tf.exp(t), "exp"),
    (lambda t: tf.matmul(t[None], t[:, None]), "getitem"),
    (lambda t: tf.reduce_sum(t), "reduce_sum"),
    # Kernels that took None without complaint, and gave an answer: False, a string tensor of
    # None, a scalar zero.
    (lambda t: tf.equal(t, 1.0), "equal"),
    (lambda t: tf.math.not_equal(t, 1.0), "not_equal"),
    (lambda t: tf.stack([t, t]), "stack"),
    (lambda t: tf.zeros_like(t), "fill_like"),
])
def test_an_eager_op_on_an_escaped_tensor_names_it_and_its_function(escaped, use, op):
    with pytest.raises(TypeError) as caught:
        use(escaped)
    message = str(caught.value)
    assert message.startswith(f"{op}: input 0: ")
    assert escaped.name in message and "'double'" in message and "escaped" in message


def test_numpy_of_an_escaped_tensor_says_it_escaped(escaped):
    with pytest.raises(SymbolicValueError, match="escaped its tf.function's trace"):
        escaped.numpy()
    with pytest.raises(AttributeError):  # (SymbolicValueError is one, as TF's has no numpy)
        float(escaped)


def test_numpy_while_tracing_keeps_the_tracing_message():
    @tf.function
    def peek(x):
        y = x + 1.0
        with pytest.raises(SymbolicValueError, match="while a tf.function is being traced"):
            y.numpy()
        return y

    assert float(peek(tf.constant(1.0))) == 2.0
