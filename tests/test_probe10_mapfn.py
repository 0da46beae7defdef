"""tf.map_fn, tf.scan, tf.vectorized_map and keras.ops.map / scan over tensors whose first
dimension is unknown when traced (tf.function input_signature [None, ...], keras.Input,
tf.data batches): they run as a tf.while_loop. Values from NumPy float64, gradients from
central differences, a Keras Lambda's predictions from real Keras (torch backend)."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import errors, keras
from tests.tolerances import central_difference

ROWS = np.array([[0.3, -1.2, 0.5], [1.1, 0.4, -0.7], [-0.2, 0.9, 2.0], [0.6, 0.6, -1.5]])


def _unknown_rows(fn, dtype=tf.float64, width=3):
    return tf.function(fn, input_signature=[tf.TensorSpec([None, width], dtype)])


def test_map_fn_unknown_rows_values_and_static_shape():
    f = _unknown_rows(lambda t: tf.map_fn(lambda r: tf.reduce_sum(r * r) + r[0], t))
    np.testing.assert_allclose(f(tf.constant(ROWS)).numpy(),
                               (ROWS * ROWS).sum(1) + ROWS[:, 0], rtol=1e-12)
    assert f(tf.zeros((0, 3), tf.float64)).shape == (0,)
    assert f.get_concrete_function().structured_outputs.shape.as_list() == [None]


def test_map_fn_gradient_in_traced_function_matches_central_differences():
    def loss_np(x):
        y = (np.sin(x) * x).sum(1)
        return (y * y).sum()

    @_unknown_rows
    def grad(t):
        with tf.GradientTape() as tape:
            tape.watch(t)
            y = tf.map_fn(lambda r: tf.reduce_sum(tf.sin(r) * r), t)
            loss = tf.reduce_sum(y * y)
        return loss, tape.gradient(loss, t)

    loss, g = grad(tf.constant(ROWS))
    np.testing.assert_allclose(float(loss), loss_np(ROWS), rtol=1e-12)
    np.testing.assert_allclose(g.numpy(), central_difference(loss_np, ROWS), rtol=1e-6)


def test_map_fn_gradient_reaches_a_captured_variable():
    w0 = np.array([0.5, -1.0, 2.0])
    w = tf.Variable(w0)

    @_unknown_rows
    def grad(t):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.map_fn(lambda r: tf.tanh(tf.reduce_sum(r * w)), t))
        return tape.gradient(loss, w)

    expected = central_difference(lambda v: np.tanh(ROWS @ v).sum(), w0)
    np.testing.assert_allclose(grad(tf.constant(ROWS)).numpy(), expected, rtol=1e-6)


def test_map_fn_back_prop_false_stops_the_gradient():
    @_unknown_rows
    def grad(t):
        with tf.GradientTape() as tape:
            tape.watch(t)
            loss = tf.reduce_sum(tf.map_fn(lambda r: r * r, t, back_prop=False)) + \
                tf.reduce_sum(t)
        return tape.gradient(loss, t)

    np.testing.assert_allclose(grad(tf.constant(ROWS)).numpy(), np.ones_like(ROWS))


def test_map_fn_nested_elems_and_output_signature():
    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32),
                                  tf.TensorSpec([None], tf.int32)])
    def f(a, b):
        return tf.map_fn(
            lambda e: {"s": tf.reduce_sum(e["a"]) * tf.cast(e["b"], tf.float32),
                       "n": tf.strings.as_string(e["b"])},
            {"a": a, "b": b}, fn_output_signature={"s": tf.float32, "n": tf.string})

    out = f(tf.constant([[1.0, 2.0], [3.0, 4.0]]), tf.constant([2, 3]))
    assert out["s"].numpy().tolist() == [6.0, 21.0]
    assert out["n"].numpy().tolist() == [b"2", b"3"]


def test_vectorized_map_unknown_rows():
    f = _unknown_rows(lambda t: tf.vectorized_map(lambda r: tf.tensordot(r, r, 1), t))
    np.testing.assert_allclose(f(tf.constant(ROWS)).numpy(), (ROWS * ROWS).sum(1))


def _scan_np(x, init, reverse=False):
    rows = x[::-1] if reverse else x
    out, acc = [], init
    for r in rows:
        acc = r if acc is None else acc * 0.5 + r * acc + r
        out.append(acc)
    out = np.stack(out)
    return out[::-1] if reverse else out


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("with_init", [False, True])
def test_scan_unknown_rows_values_and_gradient(reverse, with_init):
    init = np.array([0.1, -0.2, 0.3]) if with_init else None

    @_unknown_rows
    def f(t):
        with tf.GradientTape() as tape:
            tape.watch(t)
            kwargs = {"initializer": tf.constant(init)} if with_init else {}
            y = tf.scan(lambda a, r: a * 0.5 + r * a + r, t, reverse=reverse, **kwargs)
            loss = tf.reduce_sum(y * y)
        return y, tape.gradient(loss, t)

    y, g = f(tf.constant(ROWS))
    np.testing.assert_allclose(y.numpy(), _scan_np(ROWS, init, reverse), rtol=1e-12)
    expected = central_difference(lambda x: (_scan_np(x, init, reverse) ** 2).sum(), ROWS)
    np.testing.assert_allclose(g.numpy(), expected, rtol=1e-6)


def test_scan_structured_accumulator_unknown_rows():
    f = _unknown_rows(lambda t: tf.scan(lambda a, r: (a[0] + r, a[1] * r), t,
                                        initializer=(tf.zeros(3, tf.float64),
                                                     tf.ones(3, tf.float64))))
    total, product = f(tf.constant(ROWS))
    np.testing.assert_allclose(total.numpy(), np.cumsum(ROWS, 0), rtol=1e-12)
    np.testing.assert_allclose(product.numpy(), np.cumprod(ROWS, 0), rtol=1e-12)


def test_nested_map_fn_and_scan_gradient():
    def loss_np(x):
        out = np.zeros_like(x)
        for k, row in enumerate(x):
            acc = None
            for j, e in enumerate(row):
                acc = e if acc is None else acc * e + 1.0
                out[k, j] = acc
        return out.sum()

    @_unknown_rows
    def grad(t):
        with tf.GradientTape() as tape:
            tape.watch(t)
            loss = tf.reduce_sum(tf.map_fn(lambda r: tf.scan(lambda a, e: a * e + 1.0, r), t))
        return tape.gradient(loss, t)

    np.testing.assert_allclose(grad(tf.constant(ROWS)).numpy(),
                               central_difference(loss_np, ROWS), rtol=1e-6)


def test_map_fn_over_tf_data_string_batches():
    ds = tf.data.Dataset.from_tensor_slices(["a b c", "hello world", "x"]).batch(2)
    counted = ds.map(lambda b: tf.map_fn(
        lambda s: tf.strings.length(tf.strings.regex_replace(s, " ", "")), b,
        fn_output_signature=tf.int32))
    assert [b.numpy().tolist() for b in counted] == [[3, 10], [1]]
    upper = ds.map(lambda b: tf.map_fn(tf.strings.upper, b))
    assert [b.numpy().tolist() for b in upper] == [[b"A B C", b"HELLO WORLD"], [b"X"]]


def test_map_fn_py_function_rows_unknown_rows():
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def reverse(batch):
        return tf.map_fn(lambda s: tf.ensure_shape(tf.py_function(
            lambda v: v.numpy()[::-1], [s], tf.string), []), batch)

    assert reverse(tf.constant(["ab", "cde"])).numpy().tolist() == [b"ba", b"edc"]
    assert reverse(tf.constant([], tf.string)).shape == (0,)


def test_results_of_partly_known_shape_unknown_rows():
    f = tf.function(lambda t: tf.map_fn(lambda n: tf.range(n), t),
                    input_signature=[tf.TensorSpec([None], tf.int32)])
    assert f(tf.constant([2, 2])).numpy().tolist() == [[0, 1], [0, 1]]

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float64)])
    def g(t):
        with tf.GradientTape() as tape:
            tape.watch(t)
            y = tf.map_fn(lambda r: r * r, t)
            assert y.shape.as_list() == [None, None]
            loss = tf.reduce_sum(y * t)
        return y, tape.gradient(loss, t)

    y, grad = g(tf.constant(ROWS))
    np.testing.assert_allclose(y.numpy(), ROWS ** 2, rtol=1e-12)
    np.testing.assert_allclose(grad.numpy(), central_difference(lambda x: (x ** 3).sum(), ROWS),
                               rtol=1e-6)


def test_unknown_rows_clear_errors():
    f = tf.function(lambda t: tf.map_fn(
        lambda s: tf.py_function(lambda v: v.numpy() + b"!", [s], tf.string), t),
        input_signature=[tf.TensorSpec([None], tf.string)])
    with pytest.raises(errors.UnimplementedError, match="known rank"):
        f(tf.constant(["a"]))
    ragged = tf.RaggedTensorSpec([None], tf.string)
    g = tf.function(lambda t: tf.map_fn(tf.strings.split, t, fn_output_signature=ragged),
                    input_signature=[tf.TensorSpec([None], tf.string)])
    with pytest.raises(errors.UnimplementedError, match="RaggedTensorSpec"):
        g(tf.constant(["a b"]))
    with pytest.raises(ValueError, match="same first dimension"):
        tf.map_fn(lambda e: e[0] + e[1], (tf.ones(3), tf.ones(2)))
    with pytest.raises(ValueError, match="RaggedTensorSpec"):
        tf.map_fn(tf.range, tf.constant([1, 3]))


def test_keras_ops_map_and_scan_unknown_rows():
    ops = keras.ops
    m = _unknown_rows(lambda t: ops.map(lambda r: {"a": r[0], "s": ops.sum(r * r)}, t))
    out = m(tf.constant(ROWS))
    np.testing.assert_allclose(out["a"].numpy(), ROWS[:, 0])
    np.testing.assert_allclose(out["s"].numpy(), (ROWS * ROWS).sum(1), rtol=1e-12)

    @_unknown_rows
    def s(t):
        return (ops.scan(lambda c, r: (c + r, ops.sum(c)), ops.zeros((3,), "float64"), t),
                ops.scan(lambda c, r: (c * 0.5 + r, None), ops.zeros((3,), "float64"), t,
                         reverse=True))
    (carry, ys), (carry_rev, none) = s(tf.constant(ROWS))
    np.testing.assert_allclose(carry.numpy(), ROWS.sum(0), rtol=1e-12)
    np.testing.assert_allclose(ys.numpy(), np.concatenate([[0.0], np.cumsum(ROWS.sum(1))[:-1]]),
                               rtol=1e-12, atol=1e-12)
    expected = np.zeros(3)
    for r in ROWS[::-1]:
        expected = expected * 0.5 + r
    np.testing.assert_allclose(carry_rev.numpy(), expected, rtol=1e-12)
    assert none is None


def _per_image(img):
    return tf.reduce_mean(img, axis=-1, keepdims=True) * 2.0 + tf.reverse(img, [1])[..., :1]


def _per_batch(t):
    return tf.reduce_mean(t, axis=-1, keepdims=True) * 2.0 + tf.reverse(t, [2])[..., :1]


def _image_model(transform):
    inp = keras.Input((4, 4, 2))
    h = keras.layers.Lambda(transform)(inp)
    out = keras.layers.Dense(1)(keras.layers.Flatten()(h))
    model = keras.Model(inp, out)
    rng = np.random.RandomState(3)
    model.set_weights([rng.standard_normal(w.shape).astype("float32") * 0.1
                       for w in model.get_weights()])
    model.compile(keras.optimizers.SGD(0.01), "mse")
    return model


def test_keras_lambda_map_fn_unknown_batch_trains_like_its_vectorized_form():
    rng = np.random.RandomState(0)
    x = rng.rand(10, 4, 4, 2).astype("float32")
    y = rng.rand(10, 1).astype("float32")
    looped = _image_model(lambda t: tf.map_fn(_per_image, t))
    vectorized = _image_model(_per_batch)
    assert looped.output_shape == (None, 1)
    assert looped.layers[1].output.shape == (None, 4, 4, 1)
    looped.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    vectorized.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    for a, b in zip(looped.get_weights(), vectorized.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.keras_oracle
def test_keras_lambda_ops_map_matches_keras():
    from tests.keras._oracle import assert_matches, import_keras

    k = import_keras()
    x = np.random.RandomState(1).rand(3, 4, 2).astype("float32")

    def build(lib):
        inp = lib.Input((4, 2))
        out = lib.layers.Lambda(lambda t: lib.ops.map(
            lambda r: lib.ops.sum(r * r, axis=-1) + r[0, 0], t))(inp)
        return lib.Model(inp, out)

    try:
        ours, theirs = build(keras), build(k)
        assert ours.output_shape == theirs.output_shape == (None, 4)
        assert_matches(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))
    finally:  # (fresh auto-names for later tests, as tests/keras/_oracle.fresh_names does)
        keras.backend.clear_session()
        k.utils.clear_session(free_memory=False)
