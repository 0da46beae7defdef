"""How fit/evaluate/predict build a model before the first step, as Keras 3 does: symbolically
(the state `call()` updates moves once per step, not once more), not at all for a model
without `call()` whose custom `train_step` does the work (the keras.io VAE, DCGAN and WGAN-GP
examples); and keras.random with a batch size known only at run time (the keras.io VAE's
`Sampling` layer) inside Functional models.
"""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

ops = keras.ops
RNG = np.random.default_rng(7)
X = (RNG.uniform(size=(24, 6)) > 0.5).astype("float32")
EPS = RNG.normal(size=(24, 2)).astype("float32")


# ------------------------------------------------------------------ a model without call()

def _coders(k):
    x = k.Input((6,))
    h = k.layers.Dense(4, activation="tanh")(x)
    encoder = k.Model(x, [k.layers.Dense(2)(h), k.layers.Dense(2)(h)])
    z = k.Input((2,))
    decoder = k.Model(z, k.layers.Dense(6, activation="sigmoid")(z))
    return encoder, decoder


def _vae_class(k, gradient_step):
    """The keras.io VAE (no `call()`, a custom `train_step`) with its noise fed in as data,
    so that both frameworks see the same numbers; `gradient_step(model, loss_fn)` is each
    backend's way of taking gradients."""

    class VAE(k.Model):
        def __init__(self, encoder, decoder, **kwargs):
            super().__init__(**kwargs)
            self.encoder, self.decoder = encoder, decoder
            self.total_tracker = k.metrics.Mean(name="total_loss")
            self.kl_tracker = k.metrics.Mean(name="kl_loss")

        @property
        def metrics(self):
            return [self.total_tracker, self.kl_tracker]

        def train_step(self, data):
            x, eps = data

            def losses():
                z_mean, z_log_var = self.encoder(x)
                z = z_mean + k.ops.exp(0.5 * z_log_var) * eps
                reconstruction = k.ops.mean(k.ops.sum(
                    k.losses.binary_crossentropy(x[..., None], self.decoder(z)[..., None]),
                    axis=1))
                kl = -0.5 * (1 + z_log_var - k.ops.square(z_mean) - k.ops.exp(z_log_var))
                kl = k.ops.mean(k.ops.sum(kl, axis=1))
                return reconstruction + kl, kl

            total, kl = gradient_step(self, losses)
            self.total_tracker.update_state(total)
            self.kl_tracker.update_state(kl)
            return {"loss": self.total_tracker.result(), "kl_loss": self.kl_tracker.result()}

    return VAE


def _tape_step(model, losses):
    with tf.GradientTape() as tape:
        total, kl = losses()
    grads = tape.gradient(total, model.trainable_weights)
    model.optimizer.apply_gradients(zip(grads, model.trainable_weights))
    return total, kl


def _torch_step(model, losses):
    import torch

    model.zero_grad()
    total, kl = losses()
    total.backward()
    trainable = model.trainable_weights[:]
    with torch.no_grad():
        model.optimizer.apply([v.value.grad for v in trainable], trainable)
    return total, kl


@pytest.mark.keras_oracle
@pytest.mark.parametrize("run_eagerly", [False, True], ids=["graph", "eager"])
def test_train_step_without_call_trains_like_keras(run_eagerly):
    k = import_keras()
    their_encoder, their_decoder = _coders(k)
    weights = their_encoder.get_weights(), their_decoder.get_weights()
    theirs = _vae_class(k, _torch_step)(their_encoder, their_decoder)
    # Keras's torch trainer builds every unbuilt model by calling it, which a model without
    # call() cannot take; its TensorFlow trainer (tensorflux's model) builds nothing first.
    theirs.built = True
    theirs.compile(optimizer=k.optimizers.Adam(0.01))
    expected = theirs.fit(X, EPS, epochs=3, batch_size=8, shuffle=False, verbose=0).history

    encoder, decoder = _coders(keras)
    ours = _vae_class(keras, _tape_step)(encoder, decoder)
    ours.compile(optimizer=keras.optimizers.Adam(0.01), run_eagerly=run_eagerly)
    encoder.set_weights(weights[0])
    decoder.set_weights(weights[1])
    history = ours.fit(X, EPS, epochs=3, batch_size=8, shuffle=False, verbose=0).history

    assert sorted(history) == sorted(expected) == ["kl_loss", "loss"]
    for key in expected:
        assert_matches(np.array(history[key]), np.array(expected[key]), rtol=1e-5, atol=1e-6,
                       what=f"history[{key!r}]")
    assert ours.optimizer.iterations.numpy() == 9
    # (the optimizer, built inside the first step, holds the same state as Keras's)
    assert len(ours.optimizer.variables) == len(theirs.optimizer.variables)


class Sampling(keras.layers.Layer):
    """The keras.io VAE's layer: z = z_mean + exp(z_log_var / 2) * eps, eps ~ N(0, 1) drawn
    with the batch's size, which a Functional model knows only at run time."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch, dim = ops.shape(z_mean)[0], ops.shape(z_mean)[1]
        epsilon = keras.random.normal(shape=(batch, dim), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


def test_keras_io_vae_with_sampling_layer_trains():
    """The example itself: random noise, so it is checked to run and learn, not against
    Keras's numbers (another random stream)."""
    keras.utils.set_random_seed(3)
    x = keras.Input((6,))
    h = keras.layers.Dense(8, activation="relu")(x)
    z_mean, z_log_var = keras.layers.Dense(2)(h), keras.layers.Dense(2)(h)
    encoder = keras.Model(x, [z_mean, z_log_var, Sampling()([z_mean, z_log_var])])
    z = keras.Input((2,))
    decoder = keras.Model(z, keras.layers.Dense(6, activation="sigmoid")(
        keras.layers.Dense(8, activation="relu")(z)))

    class VAE(_vae_class(keras, _tape_step)):
        def train_step(self, data):
            with tf.GradientTape() as tape:
                z_mean, z_log_var, z = self.encoder(data)
                reconstruction = ops.mean(ops.sum(keras.losses.binary_crossentropy(
                    data[..., None], self.decoder(z)[..., None]), axis=1))
                kl = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
                kl = ops.mean(ops.sum(kl, axis=1))
                total = reconstruction + kl
            grads = tape.gradient(total, self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
            self.total_tracker.update_state(total)
            self.kl_tracker.update_state(kl)
            return {"loss": self.total_tracker.result(), "kl_loss": self.kl_tracker.result()}

    data = np.tile(X, (4, 1))  # 96 rows: batches of 40, 40 and 16
    vae = VAE(encoder, decoder)
    vae.compile(optimizer=keras.optimizers.Adam(0.02))
    losses = vae.fit(data, epochs=8, batch_size=40, verbose=0).history["loss"]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 0.9 * losses[0], losses


# ------------------------------------------------------------------ side effects of call()

def _counter_class(k):
    class Counter(k.layers.Layer):
        def build(self, input_shape):
            self.n = self.add_weight(shape=(), initializer="zeros", trainable=False)

        def call(self, x):
            self.n.assign_add(1.0)
            return x

    return Counter


def _count_steps(k, run_eagerly=None, subclassed=False):
    """The counter's value after fit (2 epochs of one batch), evaluate and predict."""
    counter = _counter_class(k)()
    if subclassed:
        class Net(k.Model):
            def __init__(self):
                super().__init__()
                self.counter, self.dense = counter, k.layers.Dense(1)

            def call(self, x):
                return self.dense(self.counter(x))

        model = Net()
    else:
        model = k.Sequential([k.Input((2,)), counter, k.layers.Dense(1)])
    extra = {} if run_eagerly is None else {"run_eagerly": run_eagerly}
    model.compile("sgd", "mse", metrics=["mae"], **extra)
    x, y = np.ones((4, 2), "float32"), np.ones((4, 1), "float32")
    counts = []
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    counts.append(float(counter.n.numpy()))
    model.evaluate(x, y, batch_size=2, verbose=0)
    counts.append(float(counter.n.numpy()))
    model.predict(x, batch_size=2, verbose=0)
    counts.append(float(counter.n.numpy()))
    return counts


@pytest.mark.keras_oracle
@pytest.mark.parametrize("subclassed", [False, True], ids=["sequential", "subclassed"])
@pytest.mark.parametrize("run_eagerly", [False, True], ids=["graph", "eager"])
def test_state_updated_in_call_moves_once_per_step_as_keras(subclassed, run_eagerly):
    expected = _count_steps(import_keras(), subclassed=subclassed)
    assert expected == [2.0, 4.0, 6.0]
    assert _count_steps(keras, run_eagerly, subclassed) == expected


def _two_outputs(k):
    x = k.Input((3,))
    model = k.Model(x, [k.layers.Dense(2, name="a")(x), k.layers.Dense(1, name="b")(x)])
    model.compile("adam", ["mse", "mae"], metrics=[["mae"], ["mse"]])
    model._symbolic_build(data_batch=(np.ones((4, 3), "float32"),
                                      (np.ones((4, 2), "float32"), np.ones((4, 1), "float32"))))
    return (model._compile_metrics.built, model._compile_loss.built, model.optimizer.built,
            len(model.optimizer.variables), [m.name for m in model.metrics])


@pytest.mark.keras_oracle
def test_build_before_fit_creates_metrics_losses_and_optimizer_state_as_keras():
    """The symbolic build still builds all that the traced step must not create."""
    expected = _two_outputs(import_keras())
    assert expected == (True, True, True, 10, ["loss", "compile_metrics", "a_loss", "b_loss"])
    assert _two_outputs(keras) == expected


# ------------------------------------------------------------------ keras.random, run-time shapes

def _in_functional(fn, shape=(4,), rows=3, dtype="float32", data=None):
    """predict() of a Functional model whose one layer computes fn(x): the layer is traced
    with the batch dimension unknown."""

    class Apply(keras.layers.Layer):
        def call(self, x):
            return fn(x)

    x = keras.Input(shape, dtype=dtype)
    model = keras.Model(x, Apply()(x))
    if data is None:
        data = np.ones((rows,) + shape, dtype)
    return model.predict(data, verbose=0, batch_size=max(1, rows // 2))


def test_sampling_layer_in_functional_model_predicts_standard_normal_noise():
    z_mean, z_log_var = keras.Input((2,)), keras.Input((2,))
    model = keras.Model([z_mean, z_log_var], Sampling()([z_mean, z_log_var]))
    small = model.predict([np.zeros((3, 2)), np.zeros((3, 2))], verbose=0)
    assert small.shape == (3, 2)
    zeros = np.zeros((4000, 2), "float32")
    eps = model.predict([zeros, zeros], batch_size=1000, verbose=0)
    assert eps.shape == (4000, 2)
    assert abs(eps.mean()) < 0.1 and abs(eps.std() - 1) < 0.1
    # every batch draws anew (the generator advances when the graph runs)
    assert not np.allclose(eps[:1000], eps[1000:2000])
    shifted = model.predict([zeros + 3.0, np.full_like(zeros, np.log(4.0))], batch_size=1000,
                            verbose=0)
    assert abs(shifted.mean() - 3.0) < 0.2 and abs(shifted.std() - 2.0) < 0.2


def test_sampling_layer_in_functional_model_fits():
    keras.utils.set_random_seed(1)
    x = keras.Input((3,))
    z_mean, z_log_var = keras.layers.Dense(2)(x), keras.layers.Dense(2)(x)
    model = keras.Model(x, keras.layers.Dense(1)(Sampling()([z_mean, z_log_var])))
    model.compile("adam", "mse")
    data = RNG.normal(size=(10, 3)).astype("float32")
    history = model.fit(data, data[:, :1], batch_size=4, epochs=2, verbose=0).history
    assert np.all(np.isfinite(history["loss"]))


@pytest.mark.parametrize("fn, check", [
    pytest.param(lambda x: keras.random.normal(ops.shape(x)), lambda out: out.std() > 0.5,
                 id="normal_ops_shape"),
    pytest.param(lambda x: keras.random.uniform(tf.shape(x)),
                 lambda out: out.min() >= 0 and out.max() < 1 and out.std() > 0.1,
                 id="uniform_tf_shape"),
    pytest.param(lambda x: keras.random.truncated_normal(
        (ops.shape(x)[0], 4), seed=keras.random.SeedGenerator(2)),
        lambda out: np.abs(out).max() <= 2 and out.std() > 0.3, id="truncated_normal_batch"),
    pytest.param(lambda x: keras.random.randint(ops.shape(x), 0, 3),
                 lambda out: out.dtype == np.int32 and set(np.unique(out)) == {0, 1, 2},
                 id="randint"),
    # whole rows dropped or kept (scaled by 2), and both happen
    pytest.param(lambda x: keras.random.dropout(x, 0.5, noise_shape=(ops.shape(x)[0], 1)),
                 lambda out: set(np.unique(out.min(axis=1) + out.max(axis=1))) == {0.0, 4.0},
                 id="dropout_noise_shape"),
    pytest.param(lambda x: keras.random.dropout(x, 0.5, seed=3),
                 lambda out: set(np.unique(out)) == {0.0, 2.0}, id="dropout_default_noise"),
])
def test_keras_random_with_run_time_batch_size(fn, check):
    out = _in_functional(fn, rows=200)
    assert out.shape == (200, 4)
    assert check(out)


def test_shuffle_and_categorical_with_run_time_batch_size():
    rows = np.arange(60, dtype="float32")[:, None] * np.ones((1, 4), "float32")
    shuffled = _in_functional(lambda x: keras.random.shuffle(x), data=rows, rows=60)
    assert shuffled.shape == (60, 4)
    # one batch of 30 at a time: each batch's rows, reordered
    for part, original in ((shuffled[:30], rows[:30]), (shuffled[30:], rows[30:])):
        np.testing.assert_array_equal(np.sort(part[:, 0]), original[:, 0])
        assert not np.array_equal(part, original)
    logits = np.log(np.tile([[0.001, 0.999, 0.001, 0.001]], (6, 1))).astype("float32")
    drawn = _in_functional(lambda x: keras.random.categorical(x, 5, seed=4), data=logits,
                           rows=6)
    assert drawn.shape == (6, 5) and np.mean(drawn == 1) > 0.8
