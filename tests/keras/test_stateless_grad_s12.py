"""Gradients through Layer.stateless_call and keras.StatelessScope: inside a scope a variable
reads as its mapped tensor itself, so a tape (eagerly or in a tf.function) differentiates with
respect to the values given, as in Keras 3's functional (JAX-style) training. Checked against
real Keras 3 (torch backend, torch.autograd), closed forms and central differences."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tests.keras._oracle import assert_matches, fresh_names, import_keras, to_numpy  # noqa: F401
from tests.tolerances import central_difference

X = (np.arange(12, dtype="float32").reshape(4, 3) - 5.0) / 7.0
Y = np.array([[0.5], [-1.0], [2.0], [0.0]], "float32")


def _values(variables):
    return [tf.constant(v.numpy()) for v in variables]


def _dense_model(k, seed=3):
    k.utils.set_random_seed(seed)
    return k.Sequential([k.Input((3,)), k.layers.Dense(2)])


# ---------------------------------------------------------------- the repro, closed form
def test_stateless_call_gradients_are_the_closed_form():
    model = _dense_model(keras)
    kernel, bias = (v.numpy().astype("float64") for v in model.trainable_variables)
    given = [tf.constant(np.full((3, 2), 0.5, "float32")), tf.constant([1.0, -2.0])]
    with tf.GradientTape() as tape:
        tape.watch(given)
        y, non_trainable = model.stateless_call(given, [], tf.constant(X))
        loss = tf.reduce_sum(y * y)
    grads = tape.gradient(loss, given)
    # loss = sum((X W + b)^2): dW = X^T 2(XW + b), db = sum over rows of 2(XW + b)
    w, b = np.full((3, 2), 0.5), np.array([1.0, -2.0])
    residual = 2 * (X.astype("float64") @ w + b)
    np.testing.assert_allclose(grads[0].numpy(), X.T.astype("float64") @ residual, rtol=1e-5)
    np.testing.assert_allclose(grads[1].numpy(), residual.sum(0), rtol=1e-5)
    assert non_trainable == []
    # the model's variables are untouched, and read as their own values again
    np.testing.assert_array_equal(model.trainable_variables[0].numpy(), kernel)
    np.testing.assert_array_equal(model.trainable_variables[1].numpy(), bias)


def test_stateless_call_gradients_match_central_differences():
    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"),
                              keras.layers.Dense(1, dtype="float64")])
    values = _values(model.trainable_variables)
    x = tf.constant(X)

    def loss_of(vals):
        y, _ = model.stateless_call(vals, [], x)
        return tf.reduce_sum(tf.cast(y, tf.float64) ** 2)

    with tf.GradientTape() as tape:
        tape.watch(values)
        loss = loss_of(values)
    grads = tape.gradient(loss, values)
    for i, value in enumerate(values):
        if value.dtype != tf.float64:
            continue  # (float32 weights: too coarse for a finite difference)

        def fn(array, i=i):
            vals = list(values)
            vals[i] = tf.constant(array)
            return float(loss_of(vals))

        expected = central_difference(fn, value.numpy())
        np.testing.assert_allclose(grads[i].numpy(), expected, rtol=1e-5, atol=1e-7)


@pytest.mark.keras_oracle
def test_stateless_call_gradients_match_keras():
    torch = pytest.importorskip("torch")
    k = import_keras()
    theirs_model = k.Sequential([k.Input((3,)), k.layers.Dense(4, activation="relu"),
                                 k.layers.Dense(2)])
    ours_model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"),
                                   keras.layers.Dense(2)])
    weights = [to_numpy(v.value) for v in theirs_model.weights]
    ours_model.set_weights(weights)
    given = [w + 0.25 for w in weights]

    theirs_values = [torch.tensor(w, requires_grad=True) for w in given]
    y, _ = theirs_model.stateless_call(theirs_values, [], torch.tensor(X))
    theirs_loss = (y * y).sum()
    theirs_grads = torch.autograd.grad(theirs_loss, theirs_values)

    ours_values = [tf.constant(w) for w in given]
    with tf.GradientTape() as tape:
        tape.watch(ours_values)
        y, _ = ours_model.stateless_call(ours_values, [], tf.constant(X))
        ours_loss = tf.reduce_sum(y * y)
    ours_grads = tape.gradient(ours_loss, ours_values)
    assert_matches(ours_loss, theirs_loss, rtol=1e-5, what="loss")
    for i, (a, b) in enumerate(zip(ours_grads, theirs_grads)):
        assert a is not None, f"gradient {i} is None"
        assert_matches(a, b, rtol=1e-5, atol=1e-6, what=f"gradient {i}")


def test_stateless_call_gradients_inside_tf_function():
    model = _dense_model(keras)
    given = _values(model.trainable_variables)
    x = tf.constant(X)

    def value_and_grad(values):
        with tf.GradientTape() as tape:
            tape.watch(values)
            y, _ = model.stateless_call(values, [], x)
            loss = tf.reduce_sum(y * y)
        return loss, tape.gradient(loss, values)

    eager_loss, eager_grads = value_and_grad(given)
    traced = tf.function(value_and_grad, autograph=False)
    for shift in (0.0, 1.0):  # (the second call reuses the trace with new values)
        shifted = [v + shift for v in given]
        loss, grads = traced(shifted)
        expected_loss, expected_grads = value_and_grad(shifted)
        np.testing.assert_allclose(loss.numpy(), expected_loss.numpy(), rtol=1e-6)
        for a, b in zip(grads, expected_grads):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)
    assert float(eager_loss) > 0 and all(g is not None for g in eager_grads)


# ---------------------------------------------------------------- the scope itself
def test_mapped_variable_reads_as_the_mapped_tensor():
    v = keras.Variable([1.0, 2.0])
    mapped = tf.constant([5.0, 7.0])
    with keras.StatelessScope(state_mapping=[(v, mapped)]) as scope:
        assert v.value is mapped and tf.convert_to_tensor(v) is mapped
        assert v.numpy().tolist() == [5.0, 7.0] and float(v[1]) == 7.0
        with tf.GradientTape() as tape:
            tape.watch(mapped)
            y = tf.reduce_sum(v * v) + tf.reduce_sum(tf.matmul(v[None], v[:, None]))
        assert tape.gradient(y, mapped).numpy().tolist() == [20.0, 28.0]  # 4 v
        v.assign_add([1.0, 1.0])
        assert v.numpy().tolist() == [6.0, 8.0]
        assert float(tf.reduce_sum(v + 0.0)) == 14.0
    assert v.numpy().tolist() == [1.0, 2.0]
    assert scope.get_current_value(v).numpy().tolist() == [6.0, 8.0]


def test_assignments_in_a_traced_scope_return_as_values():
    v = keras.Variable(1.0)

    @tf.function(autograph=False)
    def step(start):
        with keras.StatelessScope(state_mapping=[(v, start)]) as scope:
            v.assign_add(2.0)
            v.assign(v * 3.0)
            inside = v.read_value()
        return inside, scope.get_current_value(v)

    inside, final = step(tf.constant(4.0))
    assert float(inside) == float(final) == 18.0
    assert float(v.numpy()) == 1.0


def test_reading_a_mapped_variable_in_a_trace_of_an_eager_scope_is_refused():
    v = keras.Variable(1.0)
    read = tf.function(lambda: v + 1.0, autograph=False)
    with keras.StatelessScope(state_mapping=[(v, 3.0)]):
        with pytest.raises(NotImplementedError, match="tf.function traced"):
            read()
    assert float(read()) == 2.0  # the failed trace left nothing behind


def test_a_bad_assignment_in_the_scope_names_the_variable():
    v = keras.Variable([1.0, 2.0], name="w")
    with keras.StatelessScope(state_mapping=[(v, [0.0, 0.0])]):
        with pytest.raises(ValueError, match="'w'.*shape"):
            v.assign([1.0, 2.0, 3.0])
        with pytest.raises(ValueError, match="'w'.*dtype"):
            v.assign(tf.constant([1, 2]))


# ---------------------------------------------------------------- layers with state
def _batchnorm_model(k):
    model = k.Sequential([k.Input((3,)), k.layers.Dense(2, kernel_initializer="ones"),
                          k.layers.BatchNormalization(momentum=0.8)])
    return model


@pytest.mark.keras_oracle
def test_batchnorm_stateless_call_returns_the_updated_statistics_as_keras():
    torch = pytest.importorskip("torch")
    k = import_keras()
    results = []
    for lib, to_tensor in ((k, lambda a: torch.tensor(a, requires_grad=True)),
                           (keras, tf.constant)):
        model = _batchnorm_model(lib)
        trainable = [to_tensor(np.full(tuple(v.shape), 0.3, "float32") + i)
                     for i, v in enumerate(model.trainable_variables)]
        non_trainable = [to_tensor(np.full(tuple(v.shape), 0.5, "float32"))
                         for v in model.non_trainable_variables]
        if lib is keras:
            with tf.GradientTape() as tape:
                tape.watch(trainable)
                y, new = model.stateless_call(trainable, non_trainable, tf.constant(X),
                                              training=True)
                loss = tf.reduce_sum(y * y * y)
            grads = tape.gradient(loss, trainable)
        else:
            y, new = model.stateless_call(trainable, non_trainable, torch.tensor(X),
                                          training=True)
            loss = (y * y * y).sum()
            grads = torch.autograd.grad(loss, trainable)
        stats = [to_numpy(v.value) for v in model.non_trainable_variables]
        results.append([y, loss] + list(new) + list(grads) + stats)
    ours, theirs = results[1], results[0]
    # (float32 gradients through BN: the bias's is 0 but for rounding, the others ~10)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert_matches(a, b, rtol=1e-3, atol=2e-4, what=f"batchnorm[{i}]")

    def float64_loss(kernel):
        z = X.astype("float64") @ kernel + 1.3
        normalized = (z - z.mean(0)) / np.sqrt(z.var(0) + 1e-3)
        return np.sum((2.3 * normalized + 3.3) ** 3)

    np.testing.assert_allclose(ours[4].numpy(), central_difference(float64_loss,
                               np.full((3, 2), 0.3)), rtol=1e-4)
    # closed form: moving = momentum * given + (1 - momentum) * the batch statistic
    z = X.astype("float64") @ np.full((3, 2), 0.3) + 1.3
    np.testing.assert_allclose(ours[2].numpy(), 0.8 * 0.5 + 0.2 * z.mean(0), rtol=1e-5)
    np.testing.assert_allclose(ours[3].numpy(), 0.8 * 0.5 + 0.2 * z.var(0), rtol=1e-4)
    assert ours[-2].tolist() == [0.0, 0.0] and ours[-1].tolist() == [1.0, 1.0]  # untouched


def test_batchnorm_stateless_call_in_a_tf_function_returns_the_statistics():
    model = _batchnorm_model(keras)
    trainable = _values(model.trainable_variables)
    non_trainable = [tf.fill(tuple(v.shape), 0.5) for v in model.non_trainable_variables]
    call = tf.function(lambda t, n, x: model.stateless_call(t, n, x, training=True),
                       autograph=False)
    y, new = call(trainable, non_trainable, tf.constant(X))
    y_eager, new_eager = model.stateless_call(trainable, non_trainable, tf.constant(X),
                                              training=True)
    np.testing.assert_allclose(y.numpy(), y_eager.numpy(), rtol=1e-6)
    for a, b in zip(new, new_eager):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)
    assert model.non_trainable_variables[0].numpy().tolist() == [0.0, 0.0]


def test_dropout_stateless_call_masks_and_differentiates():
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8),
                              keras.layers.Dropout(0.5, seed=2)])
    given = _values(model.trainable_variables)
    x = tf.constant(X)
    with tf.GradientTape() as tape:
        tape.watch(given)
        y, _ = model.stateless_call(given, [], x, training=True)
        loss = tf.reduce_sum(y)
    dense = X.astype("float64") @ given[0].numpy() + given[1].numpy()
    kept = y.numpy() != 0
    assert 0 < kept.sum() < kept.size
    np.testing.assert_allclose(y.numpy()[kept], 2 * dense[kept], rtol=1e-5)
    # loss = sum(mask * 2 (X W + b)): dW = X^T (2 mask), db = column sums of 2 mask
    grads = tape.gradient(loss, given)
    np.testing.assert_allclose(grads[0].numpy(), X.T @ (2.0 * kept), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grads[1].numpy(), (2.0 * kept).sum(0), rtol=1e-6)
    y, _ = model.stateless_call(given, [], x, training=False)
    np.testing.assert_allclose(y.numpy(), dense, rtol=1e-5, atol=1e-6)


def test_regularization_losses_differentiate_to_the_given_kernel():
    layer = keras.layers.Dense(2, kernel_regularizer=keras.regularizers.L2(0.1))
    layer.build((None, 3))
    kernel = tf.constant(np.arange(6, dtype="float32").reshape(3, 2))
    with tf.GradientTape() as tape:
        tape.watch(kernel)
        _, _, losses = layer.stateless_call([kernel, tf.zeros(2)], [], tf.constant(X),
                                            return_losses=True)
        total = tf.add_n(losses)
    np.testing.assert_allclose(float(total), 0.1 * np.sum(np.arange(6.0) ** 2), rtol=1e-6)
    np.testing.assert_allclose(tape.gradient(total, kernel).numpy(),
                               0.2 * np.arange(6.0).reshape(3, 2), rtol=1e-6)


# ---------------------------------------------------------------- the JAX-guide loop
def _loop_model(k):
    return k.Sequential([k.Input((3,)), k.layers.Dense(4, activation="tanh"),
                         k.layers.BatchNormalization(), k.layers.Dense(1)])


def _keras_loop(k, model, steps):
    import torch

    optimizer = k.optimizers.Adam(learning_rate=0.05)
    optimizer.build(model.trainable_variables)
    trainable = [v.value.detach().clone() for v in model.trainable_variables]
    non_trainable = [v.value.detach().clone() for v in model.non_trainable_variables]
    state = [v.value.detach().clone() for v in optimizer.variables]
    losses = []
    for _ in range(steps):
        trainable = [t.detach().requires_grad_(True) for t in trainable]
        y, non_trainable = model.stateless_call(trainable, non_trainable, torch.tensor(X),
                                                training=True)
        loss = ((y - torch.tensor(Y)) ** 2).mean()
        grads = torch.autograd.grad(loss, trainable)
        with torch.no_grad():
            trainable, state = optimizer.stateless_apply(
                state, list(grads), [t.detach() for t in trainable])
        non_trainable = [t.detach() for t in non_trainable]
        losses.append(float(loss.detach()))
    return losses, trainable, non_trainable


def _our_loop(model, steps, traced):
    optimizer = keras.optimizers.Adam(learning_rate=0.05)
    optimizer.build(model.trainable_variables)
    trainable = _values(model.trainable_variables)
    non_trainable = _values(model.non_trainable_variables)
    state = _values(optimizer.variables)

    def value_and_grad(trainable, non_trainable, x, y):
        with tf.GradientTape() as tape:
            tape.watch(trainable)
            out, non_trainable = model.stateless_call(trainable, non_trainable, x,
                                                      training=True)
            loss = tf.reduce_mean(tf.square(out - y))
        return loss, tape.gradient(loss, trainable), non_trainable

    if traced:
        value_and_grad = tf.function(value_and_grad, autograph=False)
    losses = []
    for _ in range(steps):
        loss, grads, non_trainable = value_and_grad(trainable, non_trainable,
                                                    tf.constant(X), tf.constant(Y))
        trainable, state = optimizer.stateless_apply(state, grads, trainable)
        losses.append(float(loss))
    return losses, trainable, non_trainable


@pytest.mark.keras_oracle
@pytest.mark.parametrize("traced", [False, True], ids=["eager", "tf_function"])
def test_jax_style_training_loop_matches_keras(traced):
    pytest.importorskip("torch")
    k = import_keras()
    theirs_model, ours_model = _loop_model(k), _loop_model(keras)
    ours_model.set_weights([to_numpy(v.value) for v in theirs_model.weights])
    initial = [w.copy() for w in ours_model.get_weights()]
    theirs = _keras_loop(k, theirs_model, steps=4)
    ours = _our_loop(ours_model, steps=4, traced=traced)
    assert_matches(np.array(ours[0]), np.array(theirs[0]), rtol=1e-4, atol=1e-6, what="losses")
    assert ours[0][-1] < ours[0][0]
    for group, name in ((1, "trainable"), (2, "non_trainable")):
        for i, (a, b) in enumerate(zip(ours[group], theirs[group])):
            assert_matches(a, b, rtol=1e-4, atol=1e-5, what=f"{name}[{i}]")
    for a, b in zip(ours_model.get_weights(), initial):  # the model itself never changed
        np.testing.assert_array_equal(a, b)


def test_dropout_draws_new_masks_on_each_stateless_call():
    # (its generator's state is a plain tf.Variable, which a stateless scope leaves to change)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dropout(0.5, seed=2)])
    x = tf.ones((1, 64))
    call = tf.function(lambda x: model.stateless_call([], [], x, training=True)[0],
                       autograph=False)
    for draw in (lambda: model.stateless_call([], [], x, training=True)[0],
                 lambda: call(x)):
        first, second = draw().numpy(), draw().numpy()
        assert set(np.unique(first)) <= {0.0, 2.0} and not np.array_equal(first, second)
