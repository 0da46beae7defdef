"""Generative-model and custom-training patterns from keras.io (session 11 probes): a GAN model
with its own compile() and two optimizers stepped by two tapes, a VAE whose loss trackers are
its `metrics`, the WGAN-GP gradient penalty (a tape inside a tape), an input image optimized
through a frozen CNN (style transfer / DeepDream), add_loss inside layers with a custom
test_step, the batch structure a PyDataset hands to a custom train_step, and the errors of
common mistakes. Real Keras 3 (torch backend) is the oracle: its steps take gradients with
torch.autograd where ours use tf.GradientTape, on the same weights and data."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tests.keras._oracle import assert_matches, fresh_names, import_keras, to_numpy  # noqa: F401

pytestmark = pytest.mark.keras_oracle

RNG = np.random.RandomState(0)
IMAGES = RNG.rand(8, 8, 8, 1).astype("float32")
LATENT = RNG.standard_normal((16, 4)).astype("float32")
ROWS = RNG.rand(12, 6).astype("float32")


def _both():
    return keras, import_keras()


def _set_weights(model, seed, scale=0.3):
    """Deterministic weights, the same for ours and Keras (BatchNorm's ones/zeros kept)."""
    rng = np.random.RandomState(seed)
    new = []
    for w in model.get_weights():
        if w.ndim == 1 and np.all(w == 1):
            new.append(np.ones_like(w))
        elif w.ndim == 1 and np.all(w == 0):
            new.append(np.zeros_like(w))
        else:
            new.append((rng.standard_normal(w.shape) * scale).astype(w.dtype))
    model.set_weights(new)


def _gradients(k, loss_fn, variables):
    """(loss, gradients of loss_fn() for variables): a GradientTape for ours, torch.autograd
    for Keras on torch. A variable the loss does not reach gets None on both."""
    if k is keras:
        with tf.GradientTape() as tape:
            loss = loss_fn()
        return loss, tape.gradient(loss, variables)
    import torch

    loss = loss_fn()
    grads = torch.autograd.grad(loss, [v.value for v in variables], allow_unused=True)
    return loss, list(grads)


def _call_for_torch(k, cls, call):
    """Keras on torch builds a model from a symbolic call before its first step, so a model
    whose train_step does the work needs a call() there; on TensorFlow, as here, the keras.io
    GAN and VAE have none."""
    if k is not keras:
        cls.call = call


# ---------------------------------------------------------------- GAN (keras.io DCGAN)
def _gan_history(k):
    L, ops = k.layers, k.ops
    latent = ops.convert_to_tensor(LATENT)
    disc = k.Sequential([k.Input((8, 8, 1)), L.Conv2D(4, 3, strides=2, padding="same"),
                         L.LeakyReLU(negative_slope=0.2), L.GlobalMaxPooling2D(), L.Dense(1)])
    gen = k.Sequential([k.Input((4,)), L.Dense(2 * 2 * 4), L.LeakyReLU(negative_slope=0.2),
                        L.Reshape((2, 2, 4)),
                        L.Conv2DTranspose(4, 4, strides=2, padding="same"),
                        L.BatchNormalization(), L.LeakyReLU(negative_slope=0.2),
                        L.Conv2DTranspose(1, 4, strides=2, padding="same",
                                          activation="sigmoid")])
    _set_weights(disc, 1)
    _set_weights(gen, 2)

    class GAN(k.Model):
        def __init__(self, discriminator, generator):
            super().__init__()
            self.discriminator = discriminator
            self.generator = generator

        def compile(self, d_optimizer, g_optimizer, loss_fn):
            super().compile()
            self.d_optimizer = d_optimizer
            self.g_optimizer = g_optimizer
            self.loss_fn = loss_fn
            self.d_loss_metric = k.metrics.Mean(name="d_loss")
            self.g_loss_metric = k.metrics.Mean(name="g_loss")

        @property
        def metrics(self):
            return [self.d_loss_metric, self.g_loss_metric]

        def train_step(self, real_images):
            n = ops.shape(real_images)[0]
            fake = self.generator(latent[:n], training=True)
            combined = ops.concatenate([fake, real_images], axis=0)
            labels = ops.concatenate([ops.ones((n, 1)), ops.zeros((n, 1))], axis=0)
            d_vars = self.discriminator.trainable_weights
            d_loss, grads = _gradients(
                k, lambda: self.loss_fn(labels, self.discriminator(ops.stop_gradient(combined))),
                d_vars)
            self.d_optimizer.apply_gradients(zip(grads, d_vars))
            g_vars = self.generator.trainable_weights
            g_loss, grads = _gradients(k, lambda: self.loss_fn(
                ops.zeros((n, 1)),
                self.discriminator(self.generator(latent[n:2 * n], training=True))), g_vars)
            self.g_optimizer.apply_gradients(zip(grads, g_vars))
            self.d_loss_metric.update_state(d_loss)
            self.g_loss_metric.update_state(g_loss)
            return {"d_loss": self.d_loss_metric.result(), "g_loss": self.g_loss_metric.result()}

    _call_for_torch(k, GAN, lambda self, x: self.discriminator(x))
    gan = GAN(disc, gen)
    gan.compile(d_optimizer=k.optimizers.Adam(0.003, beta_1=0.5),
                g_optimizer=k.optimizers.Adam(0.003, beta_1=0.5),
                loss_fn=k.losses.BinaryCrossentropy(from_logits=True))
    history = gan.fit(IMAGES, epochs=2, batch_size=4, shuffle=False, verbose=0).history
    bn = gen.layers[4]
    return (history, [m.name for m in gan.metrics], int(gan.d_optimizer.iterations.numpy()),
            int(gan.g_optimizer.iterations.numpy()), int(gan.optimizer.iterations.numpy()),
            gen.get_weights(), to_numpy(bn.moving_mean))


def test_gan_with_two_optimizers_and_its_own_compile_trains_as_keras():
    ours, theirs = (_gan_history(k) for k in _both())
    assert sorted(ours[0]) == sorted(theirs[0]) == ["d_loss", "g_loss"]
    for key in ("d_loss", "g_loss"):
        assert_matches(ours[0][key], theirs[0][key], rtol=1e-4, atol=1e-5, what=key)
    assert ours[1:5] == theirs[1:5] == (["d_loss", "g_loss"], 4, 4, 0)
    for a, b in zip(ours[5], theirs[5]):
        # (atol: the bias before BatchNorm gets a gradient that is rounding noise only, which
        # Adam scales up to ~1e-5 on either side)
        assert_matches(a, b, rtol=1e-3, atol=1e-4, what="generator weights")
    assert_matches(ours[6], theirs[6], rtol=1e-3, atol=1e-6, what="BatchNorm moving mean")


# ---------------------------------------------------------------- VAE (keras.io)
def _vae_results(k):
    L, ops = k.layers, k.ops

    class Sampling(L.Layer):
        def call(self, inputs):
            z_mean, z_log_var = inputs
            return z_mean + ops.exp(0.5 * z_log_var) * 0.3  # a fixed epsilon

    inp = k.Input((6,))
    h = L.Dense(4, activation="relu")(inp)
    z_mean, z_log_var = L.Dense(2)(h), L.Dense(2)(h)
    encoder = k.Model(inp, [z_mean, z_log_var, Sampling()([z_mean, z_log_var])])
    latent = k.Input((2,))
    decoder = k.Model(latent, L.Dense(6, activation="sigmoid")(L.Dense(4)(latent)))
    _set_weights(encoder, 3)
    _set_weights(decoder, 4)

    class VAE(k.Model):
        def __init__(self, encoder, decoder, **kwargs):
            super().__init__(**kwargs)
            self.encoder = encoder
            self.decoder = decoder
            self.total_loss_tracker = k.metrics.Mean(name="total_loss")
            self.reconstruction_loss_tracker = k.metrics.Mean(name="reconstruction_loss")
            self.kl_loss_tracker = k.metrics.Mean(name="kl_loss")

        @property
        def metrics(self):
            return [self.total_loss_tracker, self.reconstruction_loss_tracker,
                    self.kl_loss_tracker]

        def _losses_of(self, data):
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            rec = ops.mean(ops.sum(k.losses.binary_crossentropy(
                data[..., None], reconstruction[..., None]), axis=1))
            kl = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            kl = ops.mean(ops.sum(kl, axis=1))
            return rec + kl, rec, kl

        def _update(self, total, rec, kl):
            self.total_loss_tracker.update_state(total)
            self.reconstruction_loss_tracker.update_state(rec)
            self.kl_loss_tracker.update_state(kl)
            return {m.name: m.result() for m in self.metrics}

        def train_step(self, data):
            parts = []

            def total():
                parts[:] = self._losses_of(data)
                return parts[0]

            _, grads = _gradients(k, total, self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
            return self._update(*parts)

        def test_step(self, data):
            return self._update(*self._losses_of(data))

    _call_for_torch(k, VAE, lambda self, x: self.decoder(self.encoder(x)[2]))
    vae = VAE(encoder, decoder)
    vae.compile(optimizer=k.optimizers.Adam(0.01))
    history = vae.fit(ROWS, epochs=3, batch_size=4, shuffle=False, verbose=0,
                      validation_data=(ROWS[:4],)).history
    return history, vae.evaluate(ROWS, batch_size=5, verbose=0), vae.metrics_names


def test_vae_trackers_as_metrics_reset_each_epoch_as_keras():
    ours, theirs = (_vae_results(k) for k in _both())
    assert sorted(ours[0]) == sorted(theirs[0])
    for key in theirs[0]:
        assert_matches(ours[0][key], theirs[0][key], rtol=1e-4, atol=1e-5, what=key)
    assert_matches(ours[1], theirs[1], rtol=1e-4, atol=1e-5, what="evaluate")
    assert ours[2] == theirs[2] == ["total_loss", "reconstruction_loss", "kl_loss"]


# ---------------------------------------------------------------- WGAN-GP
def _critic(k):
    L = k.layers
    critic = k.Sequential([k.Input((8, 8, 1)), L.Conv2D(3, 3, strides=2, padding="same"),
                           L.LeakyReLU(negative_slope=0.2), L.Flatten(), L.Dense(1)])
    _set_weights(critic, 5)
    return critic


def _penalty_ours(critic, real, fake, alpha):
    with tf.GradientTape() as outer:
        interpolated = real + alpha * (fake - real)
        with tf.GradientTape() as inner:
            inner.watch(interpolated)
            pred = critic(interpolated, training=True)
        grads = inner.gradient(pred, [interpolated])[0]
        norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]))
        penalty = tf.reduce_mean((norm - 1.0) ** 2)
    return penalty, outer.gradient(penalty, critic.trainable_variables)


def _penalty_torch(critic, real, fake, alpha):
    import torch

    interpolated = torch.as_tensor(real + alpha * (fake - real)).requires_grad_(True)
    pred = critic(interpolated, training=True)
    (grads,) = torch.autograd.grad(pred.sum(), interpolated, create_graph=True)
    norm = torch.sqrt(torch.sum(torch.square(grads), dim=(1, 2, 3)))
    penalty = torch.mean((norm - 1.0) ** 2)
    params = [v.value for v in critic.trainable_variables]
    return penalty, torch.autograd.grad(penalty, params, allow_unused=True)


def test_wgan_gradient_penalty_nested_tape_matches_torch_eager_and_traced():
    real, fake = IMAGES[:4], IMAGES[4:] * 0.5
    alpha = RNG.rand(4, 1, 1, 1).astype("float32")
    ours_critic, theirs_critic = _critic(keras), _critic(import_keras())
    expected, expected_grads = _penalty_torch(theirs_critic, real, fake, alpha)
    traced = tf.function(_penalty_ours)
    for penalty, grads in (_penalty_ours(ours_critic, tf.constant(real), tf.constant(fake),
                                         alpha),
                           traced(ours_critic, tf.constant(real), tf.constant(fake), alpha)):
        assert_matches(penalty, expected, rtol=1e-4, atol=1e-6, what="penalty")
        assert len(grads) == len(expected_grads) == 4
        for a, b in zip(grads, expected_grads):
            # The last bias does not reach the input gradient: None on both.
            assert (a is None) == (b is None)
            if a is not None:
                assert_matches(a, b, rtol=1e-3, atol=1e-5, what="penalty gradient")


# ---------------------------------------------------------------- an image optimized
def _style_losses(k):
    L, ops = k.layers, k.ops
    inp = k.Input((8, 8, 3))
    c1 = L.Conv2D(4, 3, activation="relu", padding="same", name="c1")(inp)
    c2 = L.Conv2D(4, 3, activation="relu", padding="same", name="c2")(L.MaxPooling2D()(c1))
    cnn = k.Model(inp, {"c1": c1, "c2": c2})
    _set_weights(cnn, 6, 0.4)
    cnn.trainable = False
    base = ops.convert_to_tensor(IMAGES[:1, :, :, 0][..., None] * np.ones(3, "float32"))

    def gram(x):
        features = ops.reshape(ops.transpose(x, (2, 0, 1)), (ops.shape(x)[-1], -1))
        return ops.matmul(features, ops.transpose(features))

    def loss_of(image):
        features = cnn(ops.concatenate([base, image], axis=0))
        content = ops.sum(ops.square(features["c2"][1] - features["c2"][0]))
        style = ops.sum(ops.square(gram(features["c1"][1]) - 0.5 * gram(features["c1"][0])))
        return 0.02 * content + 1e-3 * style

    image = k.Variable(IMAGES[1:2, :, :, 0][..., None] * np.ones(3, "float32"))
    optimizer = k.optimizers.SGD(k.optimizers.schedules.ExponentialDecay(
        initial_learning_rate=0.5, decay_steps=2, decay_rate=0.9))
    losses = []
    for _ in range(4):
        loss, grads = _gradients(k, lambda: loss_of(image), [image])
        optimizer.apply_gradients(zip(grads, [image]))
        losses.append(float(to_numpy(loss)))
    return losses, to_numpy(image), len(cnn.trainable_weights), cnn.get_weights()


def test_image_variable_optimized_through_a_frozen_cnn_as_keras():
    ours, theirs = (_style_losses(k) for k in _both())
    assert_matches(ours[0], theirs[0], rtol=1e-4, atol=1e-6, what="losses")
    assert_matches(ours[1], theirs[1], rtol=1e-4, atol=1e-5, what="image")
    assert ours[2] == theirs[2] == 0
    for a, b in zip(ours[3], theirs[3]):  # the frozen CNN did not move
        assert_matches(a, b, what="frozen weights")


# ---------------------------------------------------------------- add_loss + test_step
def _add_loss_results(k):
    L, ops = k.layers, k.ops

    class ActivityPenalty(L.Layer):
        def call(self, inputs):
            self.add_loss(0.05 * ops.sum(ops.square(inputs)))
            return inputs

    class Net(k.Model):
        def __init__(self):
            super().__init__()
            self.hidden = L.Dense(4, activation="tanh")
            self.penalty = ActivityPenalty()
            self.out = L.Dense(1)

        def call(self, inputs, training=False):
            h = self.penalty(self.hidden(inputs))
            if training:
                self.add_loss(0.01 * ops.mean(h))
            return self.out(h)

        def test_step(self, data):
            x, y = data
            y_pred = self(x, training=False)
            loss = self.compute_loss(y=y, y_pred=y_pred)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    net = Net()
    net(ROWS[:1])
    _set_weights(net, 7)
    net.compile(k.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    y = ROWS[:, :1] * 2 - 0.5
    history = net.fit(ROWS, y, epochs=2, batch_size=6, shuffle=False, verbose=0,
                      validation_data=(ROWS[6:], y[6:])).history
    return history, net.evaluate(ROWS, y, verbose=0, return_dict=True), net.metrics_names


def test_add_loss_in_layers_and_custom_test_step_as_keras():
    ours, theirs = (_add_loss_results(k) for k in _both())
    assert sorted(ours[0]) == sorted(theirs[0])
    for key in theirs[0]:
        assert_matches(ours[0][key], theirs[0][key], rtol=1e-4, atol=1e-5, what=key)
    assert sorted(ours[1]) == sorted(theirs[1])
    for key in theirs[1]:
        assert_matches(ours[1][key], theirs[1][key], rtol=1e-4, atol=1e-5, what=key)
    assert ours[2] == theirs[2]


# ---------------------------------------------------------------- PyDataset batches
def _structure(value):
    if isinstance(value, (tuple, list)):  # (Keras on torch collates into lists; on TF tuples)
        return [_structure(v) for v in value]
    if isinstance(value, dict):
        return {key: _structure(v) for key, v in value.items()}
    return tuple(value.shape)


def _seen_by_train_step(k, item):
    class Batches(k.utils.PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, index):
            return item(index)

    class Recorder(k.Model):
        def __init__(self):
            super().__init__()
            self.seen, self.kinds = [], []

        def train_step(self, data):
            self.seen.append(_structure(data))
            self.kinds.append(type(data).__name__)
            return {"n": 1.0}

    _call_for_torch(k, Recorder, lambda self, x: x)
    model = Recorder()
    model.compile(optimizer="sgd")
    try:
        model.fit(Batches(), epochs=1, verbose=0)
    except ValueError as error:
        return ("ValueError", str(error)[:40])
    return model.seen[0], model.kinds[0]


@pytest.mark.parametrize("item", [
    lambda i: IMAGES[4 * i:4 * i + 4],  # a bare array: Keras makes it (x,)
    lambda i: (IMAGES[4 * i:4 * i + 4],),
    lambda i: [IMAGES[4 * i:4 * i + 4], LATENT[4 * i:4 * i + 4]],
    lambda i: {"image": IMAGES[4 * i:4 * i + 4]},
    lambda i: (IMAGES[:4],) * 4,  # four parts: refused
], ids=["array", "tuple1", "list", "dict", "four_parts"])
def test_py_dataset_batches_reach_a_custom_train_step_as_in_keras(item):
    ours, theirs = (_seen_by_train_step(k, item) for k in _both())
    assert ours[0] == theirs[0]
    if ours[0] == "ValueError":
        assert ours == theirs  # the same message opening
    else:
        assert ours[1] == ("dict" if theirs[1] == "dict" else "tuple")  # a tuple, as on TF


# ---------------------------------------------------------------- common mistakes
def _fit_outcome(k, make):
    try:
        model = make(k)
        model.fit(ROWS, ROWS[:, :1], epochs=1, verbose=0)
    except Exception as error:  # noqa: BLE001 - the outcome is what is compared
        return type(error).__name__, str(error)
    return ("ok",)


def _no_compile(k):
    class Custom(k.Model):
        def __init__(self):
            super().__init__()
            self.dense = k.layers.Dense(1)

        def call(self, x):
            return self.dense(x)

        def train_step(self, data):
            return {"loss": 0.0}

    return Custom()


def _compile_without_super(k):
    class GanLike(k.Model):
        def __init__(self):
            super().__init__()
            self.dense = k.layers.Dense(1)

        def call(self, x):
            return self.dense(x)

        def compile(self, d_optimizer, g_optimizer):
            self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer

    model = GanLike()
    model.compile(k.optimizers.Adam(), k.optimizers.Adam())
    return model


def _no_super_init(k):
    class Forgot(k.Model):
        def __init__(self):
            self.dense = k.layers.Dense(1)

        def call(self, x):
            return self.dense(x)

    model = Forgot()
    model(ROWS)
    return model


@pytest.mark.parametrize("make,error,words", [
    (_no_compile, "ValueError", "compile()"),
    (_compile_without_super, "ValueError", "compile()"),
], ids=["fit_without_compile", "compile_without_super"])
def test_common_mistakes_raise_keras_errors(make, error, words):
    ours, theirs = (_fit_outcome(k, make) for k in _both())
    assert ours[0] == theirs[0] == error
    assert words in ours[1] and words in theirs[1]


def test_forgotten_super_init_fails_at_the_first_call_as_on_tensorflow():
    # (Keras on TensorFlow raises this RuntimeError; on torch an AttributeError comes first.)
    with pytest.raises(RuntimeError, match=r"forgot to call `super\(\).__init__\(\)`"):
        _no_super_init(keras)


def test_train_step_that_returns_no_dict_says_what_it_needs():
    # (Keras fails later with an AttributeError on `.items()`; ours names the step.)
    class Wrong(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)

        def call(self, x):
            return self.dense(x)

        def train_step(self, data):
            return keras.ops.sum(data[0])

    model = Wrong()
    model.compile(optimizer="sgd")
    with pytest.raises(TypeError, match="`train_step` must return a dict"):
        model.fit(ROWS, ROWS[:, :1], verbose=0)


# ---------------------------------------------------------------- stop_training in a step
def _stopped_in_step(k):
    class StopsItself(k.Model):
        def __init__(self):
            super().__init__()
            self.dense = k.layers.Dense(1)

        def call(self, x):
            return self.dense(x)

        def train_step(self, data):
            self.stop_training = True  # (traced: this Python runs at the first call)
            return super().train_step(data)

    model = StopsItself()
    model(ROWS[:1])
    _set_weights(model, 8)
    model.compile(k.optimizers.SGD(0.1), loss="mse")
    history = model.fit(ROWS, ROWS[:, :1], epochs=3, batch_size=4, shuffle=False,
                        verbose=0).history
    return history, int(model.optimizer.iterations.numpy())


@pytest.mark.parametrize("eagerly", [False, True])
def test_a_step_that_sets_stop_training_ends_fit_with_its_logs(eagerly):
    # The steps before an epoch's last run for their effects only; the step that stops
    # training (traced at its first call, or run eagerly) still reports its loss.
    tf.config.run_functions_eagerly(eagerly)
    try:
        ours = _stopped_in_step(keras)
    finally:
        tf.config.run_functions_eagerly(False)
    theirs = _stopped_in_step(import_keras())
    assert list(ours[0]) == list(theirs[0]) == ["loss"]
    assert_matches(ours[0]["loss"], theirs[0]["loss"], rtol=1e-5, what="loss")
    assert ours[1] == theirs[1] == 1
