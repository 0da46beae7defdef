"""Probe round 10, Keras-2-era code that users still copy (ImageDataGenerator, Tokenizer,
backend functions): the behaviours the probes found differing from TF 2.21's tf.keras. Real
Keras 3's legacy modules (keras.src.legacy, torch backend) are the oracle where they run."""

import importlib
import subprocess
import sys

import numpy as np
import pytest

import tensorflux as tf
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

pytestmark = pytest.mark.keras_oracle

RNG = np.random.default_rng(10)
IMAGES = (RNG.random((4, 5, 6, 3)) * 255).astype("float32")


def _keras_image():
    import_keras()
    return importlib.import_module("keras.src.legacy.preprocessing.image")


@pytest.mark.parametrize("settings", [
    {"rescale": 1 / 255},
    {"samplewise_center": True, "samplewise_std_normalization": True, "rescale": 0.5},
    {"featurewise_center": True, "featurewise_std_normalization": True},
    {"zca_whitening": True, "rescale": 0.1},
    {"preprocessing_function": lambda x: x[::-1] + 1.0, "rescale": 2.0}],
    ids=["rescale", "samplewise", "featurewise", "zca", "preprocessing_function"])
def test_standardize_changes_a_float_array_in_place_as_keras(settings):
    # Keras documents standardize as in place, so `datagen.standardize(x_test)` with no
    # assignment is code users write; ZCA whitening (and preprocessing_function) return a new
    # array, leaving the input with the values before them.
    image = _keras_image()
    ours = tf.keras.preprocessing.image.ImageDataGenerator(**settings)
    theirs = image.ImageDataGenerator(**settings)
    if settings.get("featurewise_center") or settings.get("zca_whitening"):
        ours.fit(IMAGES)
        theirs.fit(IMAGES)
    mine, keras_batch = IMAGES.copy(), IMAGES.copy()
    result, expected = ours.standardize(mine), theirs.standardize(keras_batch)
    assert (result is mine) == (expected is keras_batch)
    assert result.dtype == expected.dtype
    assert_matches(result, expected, rtol=1e-4, atol=1e-4, what="result")
    assert_matches(mine, keras_batch, rtol=1e-4, atol=1e-4, what="the input afterwards")


def test_standardize_leaves_integer_and_iterator_inputs_alone():
    generator = tf.keras.preprocessing.image.ImageDataGenerator(rescale=0.5)
    pixels = (IMAGES[0]).astype("uint8")
    halved = generator.standardize(pixels)
    assert halved.dtype == np.float32 and pixels.dtype == np.uint8
    np.testing.assert_array_equal(pixels, IMAGES[0].astype("uint8"))
    np.testing.assert_allclose(halved, pixels.astype("float64") / 2)
    # The iterators standardize their own copies: the stored images stay as given, epoch
    # after epoch.
    flow = generator.flow(IMAGES, batch_size=4, shuffle=False)
    first, again = flow[0], flow[0]
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(first, IMAGES / 2)


def test_preprocessing_text_is_an_attribute_of_the_package_module():
    # `from tensorflow.keras import preprocessing` then `preprocessing.text.Tokenizer`, with
    # only the import changed (a fresh process: nothing has imported the module yet).
    code = ("from tensorflux.keras import preprocessing\n"
            "tokenizer = preprocessing.text.Tokenizer(num_words=3)\n"
            "tokenizer.fit_on_texts(['b a b'])\n"
            "print(tokenizer.texts_to_sequences(['a b c']))\n"
            "try:\n"
            "    preprocessing.nope\n"
            "except AttributeError as e:\n"
            "    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.splitlines() == [
        "[[2, 1]]", "module 'tensorflux.keras.preprocessing' has no attribute 'nope'"], \
        out.stderr


@pytest.mark.parametrize("module, name, hint", [
    ("backend", "learning_phase", "training=True or False"),
    ("backend", "set_learning_phase", "training=True"),
    ("backend", "placeholder", r"keras.Input\(shape=...\)"),
    ("backend", "get_session", "no TF1 sessions"),
    ("layers", "CuDNNLSTM", "keras.layers.LSTM"), ("layers", "merge", "concatenate, add")])
def test_names_keras_3_removed_say_what_to_write_instead(module, name, hint):
    # TF 2.21's tf.keras lacks these too (an AttributeError, which hasattr relies on); the
    # message adds the Keras 3 way.
    namespace = getattr(tf.keras, module)
    assert not hasattr(namespace, name)
    with pytest.raises(AttributeError, match=f"'tf.keras.{module}' has no attribute '{name}' "
                                             f"\\(.*{hint}"):
        getattr(namespace, name)
    with pytest.raises(AttributeError, match=r"attribute 'nope'$"):
        namespace.nope  # noqa: B018


def test_dot_and_tensordot_in_a_layer_with_an_unknown_batch_size():
    # The attention layer of many Keras 2 answers: K.dot of a (batch, steps, features) input
    # with a (features, 1) weight; and tf.tensordot(x, W, axes=1), its TF spelling. The model
    # is built on keras.Input, whose batch size is unknown.
    K = tf.keras.backend
    keras = tf.keras

    class Attention(keras.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 1), initializer="ones")

        def call(self, x):
            scores = K.softmax(K.squeeze(K.tanh(K.dot(x, self.w)), axis=-1))
            return K.sum(x * K.expand_dims(scores), axis=1) + tf.tensordot(x, self.w, 1)[:, 0]

    inputs = keras.Input((5, 3))
    outputs = Attention()(inputs)
    assert tuple(outputs.shape) == (None, 3)
    x = RNG.standard_normal((2, 5, 3)).astype("float32")
    w = np.ones((3, 1))
    scores = np.tanh(x.astype("float64") @ w)[..., 0]
    scores = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
    expected = (x * scores[..., None]).sum(1) + (x @ w)[:, 0]
    assert_matches(keras.Model(inputs, outputs).predict(x, verbose=0), expected, rtol=1e-5,
                   atol=1e-5)
    assert_matches(tf.tensordot(tf.constant(x), tf.ones((5, 3, 2)), [[1, 2], [0, 1]]),
                   np.tensordot(x, np.ones((5, 3, 2)), [[1, 2], [0, 1]]), rtol=1e-5)


def test_gradient_of_a_clipped_where_inside_a_function():
    # A focal loss as Keras 2 answers write it: K.clip(tf.where(y == 1, p, ones), eps, 1 - eps)
    # under K.log; its gradient chains three selects with one fallback, which the fused small
    # program merged into a name it never defined (NameError).
    y = tf.constant([1.0, 0.0, 1.0, 1.0])
    p = tf.Variable([0.3, 0.6, 0.8, 0.95])

    @tf.function
    def gradient():
        with tf.GradientTape() as tape:
            picked = tf.clip_by_value(tf.where(tf.equal(y, 1), p, tf.ones_like(p)), 0.1, 0.9)
            loss = tf.reduce_sum(tf.math.log(picked))
        return tape.gradient(loss, p)

    values = np.array([0.3, 0.6, 0.8, 0.95])
    expected = np.where((values >= 0.1) & (values <= 0.9) & (y.numpy() == 1), 1 / values, 0.0)
    assert_matches(gradient(), expected, rtol=1e-6)


def test_repeat_elements_in_a_layer_with_an_unknown_batch_size():
    # K.repeat_elements (tf.repeat) in a Lambda on keras.Input: the batch size is unknown when
    # Keras infers the output shape.
    K = tf.keras.backend
    inputs = tf.keras.Input((4, 3))
    along = tf.keras.layers.Lambda(lambda z: K.repeat_elements(z, 2, axis=1))(inputs)
    batch = tf.keras.layers.Lambda(lambda z: tf.repeat(z, 3, axis=0))(inputs)
    assert tuple(along.shape) == (None, 8, 3) and tuple(batch.shape) == (None, 4, 3)
    x = RNG.standard_normal((2, 4, 3)).astype("float32")
    got_along, got_batch = tf.keras.Model(inputs, [along, batch]).predict(x, verbose=0)
    np.testing.assert_array_equal(got_along, np.repeat(x, 2, axis=1))
    np.testing.assert_array_equal(got_batch, np.repeat(x, 3, axis=0))
