"""The seed's five Keras snippets, written as a Keras user writes them, with `keras` replaced by
`tensorflux.keras`: (a) the Sequential MLP, (b) an L2 kernel regularizer, (c) the 'sgd' and
'rmsprop' optimizers, (d) Dropout(0.5), (e) a VGG16-style base with Flatten and Dense heads in
a Functional Model. Real Keras 3 (torch backend) is the oracle for the History numbers: the same
initial weights, shuffle=False, the same History to 1e-5."""

import numpy as np
import pytest

from tensorflux.keras.layers import Dense, Dropout, Flatten, Input
from tensorflux.keras.models import Model, Sequential
from tensorflux.keras.regularizers import l2
from tensorflux.keras.utils import set_random_seed

# The Pima Indians diabetes data's shape (768 samples, 8 features), seeded and synthetic; the
# label is a noisy rule of the features so that accuracy has something to learn.
_rng = np.random.default_rng(7)
X_train = _rng.normal(size=(768, 8)).astype("float32")
y_train = ((X_train[:, 0] + 0.5 * X_train[:, 3] - 0.3 * X_train[:, 5]
            + 0.3 * _rng.normal(size=768)) > 0).astype("float32")

EPOCHS = 3  # the seed trains longer; three epochs exercise the same code and keep tests fast


@pytest.fixture(scope="module")
def keras():
    from tests.keras._oracle import import_keras

    return import_keras()


@pytest.fixture(autouse=True)
def seeded():
    set_random_seed(1337)


def _keras_twin(keras, regularizer=None, dropout=False):
    """The snippet's model in real Keras; its initial weights are copied into ours."""
    layers = [keras.Input((8,)), keras.layers.Dense(10, activation="relu"),
              keras.layers.Dense(10, activation="relu", kernel_regularizer=regularizer)]
    if dropout:
        layers.append(keras.layers.Dropout(0.5))
    layers.append(keras.layers.Dense(1, activation="sigmoid"))
    return keras.Sequential(layers)


def _assert_history_equal(ours, theirs):
    assert sorted(ours.history) == sorted(theirs.history)
    for key in theirs.history:
        np.testing.assert_allclose(ours.history[key], theirs.history[key], rtol=1e-5,
                                   atol=1e-6, err_msg=key)


def _bce(y, p):
    p = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))


# ------------------------------------------------------------------ (a) the Sequential MLP

def test_a_sequential_mlp_trains_as_written():
    model = Sequential()
    model.add(Dense(10, activation='relu', input_dim=8))
    model.add(Dense(10, activation='relu'))
    model.add(Dense(1, activation='sigmoid'))
    model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])
    history = model.fit(X_train, y_train, epochs=EPOCHS, batch_size=10, verbose=0)

    assert sorted(history.history) == ["accuracy", "loss"]
    assert len(history.history["loss"]) == EPOCHS
    assert history.history["loss"][-1] < history.history["loss"][0]
    _, accuracy = model.evaluate(X_train, y_train, verbose=0)
    assert accuracy > 0.7


def test_a_input_shape_spelling_builds_the_same_model():
    model = Sequential()
    model.add(Dense(10, activation='relu', input_shape=(8,)))
    model.add(Dense(10, activation='relu'))
    model.add(Dense(1, activation='sigmoid'))
    assert [w.shape for w in model.get_weights()] == [(8, 10), (10,), (10, 10), (10,), (10, 1),
                                                      (1,)]
    assert model.count_params() == 90 + 110 + 11


@pytest.mark.keras_oracle
def test_a_history_matches_keras(keras):
    theirs = _keras_twin(keras)
    theirs.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])

    model = Sequential()
    model.add(Dense(10, activation='relu', input_dim=8))
    model.add(Dense(10, activation='relu'))
    model.add(Dense(1, activation='sigmoid'))
    model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])
    model.set_weights(theirs.get_weights())

    kw = dict(epochs=EPOCHS, batch_size=10, shuffle=False, verbose=0)
    _assert_history_equal(model.fit(X_train, y_train, **kw), theirs.fit(X_train, y_train, **kw))
    for ours, reference in zip(model.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ (b) kernel_regularizer=l2

def _regularized_model():
    model = Sequential()
    model.add(Dense(10, activation='relu', input_dim=8))
    model.add(Dense(10, activation='relu', kernel_regularizer=l2(0.01)))
    model.add(Dense(1, activation='sigmoid'))
    model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])
    return model


def test_b_reported_loss_includes_the_l2_penalty():
    model = _regularized_model()
    model.fit(X_train, y_train, epochs=1, batch_size=10, verbose=0)

    kernel = model.layers[1].kernel.numpy().astype(np.float64)
    penalty = 0.01 * float(np.sum(kernel ** 2))
    assert penalty > 1e-3  # large enough that leaving it out would fail the check below
    data_loss = _bce(y_train, model.predict(X_train, verbose=0)[:, 0])
    loss, _ = model.evaluate(X_train, y_train, batch_size=768, verbose=0)
    assert loss == pytest.approx(data_loss + penalty, rel=1e-5)
    assert len(model.losses) == 1
    assert float(model.losses[0]) == pytest.approx(penalty, rel=1e-5)


@pytest.mark.keras_oracle
def test_b_history_with_the_penalty_matches_keras(keras):
    theirs = _keras_twin(keras, regularizer=keras.regularizers.l2(0.01))
    theirs.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])
    model = _regularized_model()
    model.set_weights(theirs.get_weights())

    kw = dict(epochs=EPOCHS, batch_size=10, shuffle=False, verbose=0)
    _assert_history_equal(model.fit(X_train, y_train, **kw), theirs.fit(X_train, y_train, **kw))
    np.testing.assert_allclose(model.evaluate(X_train, y_train, verbose=0),
                               theirs.evaluate(X_train, y_train, verbose=0), rtol=1e-5)


# ------------------------------------------------------------------ (c) 'sgd' and 'rmsprop'

def _compiled_with(optimizer):
    model = Sequential()
    model.add(Dense(10, activation='relu', input_dim=8))
    model.add(Dense(10, activation='relu'))
    model.add(Dense(1, activation='sigmoid'))
    model.compile(optimizer=optimizer, loss='binary_crossentropy', metrics=['accuracy'])
    return model


@pytest.mark.parametrize("optimizer, class_name", [("sgd", "SGD"), ("rmsprop", "RMSprop")])
def test_c_optimizer_strings_resolve_to_keras_defaults(optimizer, class_name):
    model = _compiled_with(optimizer)
    assert type(model.optimizer).__name__ == class_name
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(
        0.01 if optimizer == "sgd" else 0.001)
    history = model.fit(X_train, y_train, epochs=2, batch_size=10, verbose=0)
    assert history.history["loss"][1] < history.history["loss"][0]


@pytest.mark.keras_oracle
@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop"])
def test_c_history_matches_keras(keras, optimizer):
    theirs = _keras_twin(keras)
    theirs.compile(optimizer=optimizer, loss='binary_crossentropy', metrics=['accuracy'])
    model = _compiled_with(optimizer)
    model.set_weights(theirs.get_weights())

    kw = dict(epochs=EPOCHS, batch_size=10, shuffle=False, verbose=0)
    _assert_history_equal(model.fit(X_train, y_train, **kw), theirs.fit(X_train, y_train, **kw))


# ------------------------------------------------------------------ (d) Dropout(0.5)

def _with_dropout():
    model = Sequential()
    model.add(Dense(10, activation='relu', input_dim=8))
    model.add(Dense(10, activation='relu'))
    model.add(Dropout(0.5))
    model.add(Dense(1, activation='sigmoid'))
    model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])
    return model


def test_d_dropout_trains_and_is_off_at_inference():
    model = _with_dropout()
    history = model.fit(X_train, y_train, epochs=EPOCHS, batch_size=10, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))

    first = model.predict(X_train, verbose=0)
    np.testing.assert_array_equal(model.predict(X_train, verbose=0), first)
    # With the Dropout layer removed and the same weights, inference is unchanged...
    plain = Sequential([Input((8,))] + [layer for layer in model.layers
                                        if not isinstance(layer, Dropout)])
    np.testing.assert_allclose(plain.predict(X_train, verbose=0), first, rtol=1e-6, atol=1e-7)
    # ...while in training mode half the hidden units are dropped and the rest scaled by 2.
    hidden = Sequential([Input((8,))] + model.layers[:2])(X_train).numpy()
    dropped = model.layers[2](hidden, training=True).numpy()
    active = hidden != 0
    zeroed = np.mean(dropped[active] == 0)
    assert 0.45 < zeroed < 0.55
    kept = dropped[active] != 0
    np.testing.assert_allclose(dropped[active][kept], 2 * hidden[active][kept], rtol=1e-6)


@pytest.mark.keras_oracle
def test_d_inference_with_dropout_matches_keras(keras):
    theirs = _keras_twin(keras, dropout=True)
    theirs.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])
    model = _with_dropout()
    model.set_weights(theirs.get_weights())
    np.testing.assert_allclose(model.predict(X_train, verbose=0),
                               theirs.predict(X_train, verbose=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.evaluate(X_train, y_train, verbose=0),
                               theirs.evaluate(X_train, y_train, verbose=0), rtol=1e-5)


# ------------------------------------------------------------------ (e) VGG16-style base

def _conv_layers():
    """Conv2D and MaxPooling2D, or a skip naming the one that does not exist yet."""
    from tensorflux.keras import layers

    missing = [name for name in ("Conv2D", "MaxPooling2D") if not hasattr(layers, name)]
    if missing:
        pytest.skip(f"tensorflux.keras.layers.{missing[0]} is not written yet (issue 5)")
    return layers.Conv2D, layers.MaxPooling2D


def VGG16(weights=None, include_top=False, input_shape=None, width=1):
    """keras.applications.VGG16(include_top=False) built from layers, until applications exist:
    five blocks of 3x3 'same' relu convolutions and 2x2 max pooling, named as Keras names
    them. `width` divides the channel counts, to keep the training test fast."""
    Conv2D, MaxPooling2D = _conv_layers()
    if weights is not None or include_top:
        raise ValueError("this stand-in has no pretrained weights and no top")
    img_input = Input(shape=input_shape or (None, None, 3))
    x = img_input
    for block, (filters, convs) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)],
                                             start=1):
        for i in range(1, convs + 1):
            x = Conv2D(filters // width, (3, 3), activation="relu", padding="same",
                       name=f"block{block}_conv{i}")(x)
        x = MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    return Model(img_input, x, name="vgg16")


def _flatten_base(input_shape=None):
    """A base whose spatial size is unknown without input_shape, from Dense (per pixel) only:
    exercises Flatten's unknown size whether or not the convolution layers exist."""
    img_input = Input(shape=input_shape or (None, None, 3))
    x = Dense(4, activation="relu", name="block1_conv1")(img_input)
    return Model(img_input, x, name="base")


def _assert_actionable_flatten_error(error, dense_name):
    message = str(error)
    assert f"Dense '{dense_name}'" in message
    assert "None" in message and "unknown" in message
    assert "Flatten" in message  # where the unknown size came from
    assert "input_shape=(224, 224, 3)" in message and "GlobalAveragePooling2D" in message


def test_e_flatten_of_unknown_size_raises_at_the_dense_naming_cause_and_fix():
    base_model = _flatten_base()
    x = base_model.output
    x = Flatten()(x)
    with pytest.raises(ValueError) as info:
        x = Dense(1024, activation='relu', name="fc1")(x)
    _assert_actionable_flatten_error(info.value, "fc1")


def test_e_flatten_base_with_input_shape_trains_one_step():
    num_classes = 5
    base_model = _flatten_base(input_shape=(32, 32, 3))
    x = base_model.output
    x = Flatten()(x)
    x = Dense(1024, activation='relu')(x)
    predictions = Dense(num_classes, activation='softmax')(x)
    model = Model(inputs=base_model.input, outputs=predictions)
    model.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])

    images = np.random.default_rng(0).normal(size=(8, 32, 32, 3)).astype("float32")
    labels = np.eye(num_classes, dtype="float32")[np.arange(8) % num_classes]
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(images, labels, epochs=1, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_e_vgg16_base_without_input_shape_raises_at_the_dense():
    num_classes = 5
    base_model = VGG16(weights=None, include_top=False)
    x = base_model.output
    x = Flatten()(x)
    with pytest.raises(ValueError) as info:
        x = Dense(1024, activation='relu', name="fc1")(x)
        predictions = Dense(num_classes, activation='softmax')(x)
        Model(inputs=base_model.input, outputs=predictions)
    _assert_actionable_flatten_error(info.value, "fc1")


def test_e_vgg16_base_with_input_shape_trains_one_step():
    num_classes = 5
    base_model = VGG16(weights=None, include_top=False, input_shape=(32, 32, 3), width=8)
    x = base_model.output
    x = Flatten()(x)
    x = Dense(1024, activation='relu')(x)
    predictions = Dense(num_classes, activation='softmax')(x)
    model = Model(inputs=base_model.input, outputs=predictions)
    model.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])

    images = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype("float32")
    labels = np.eye(num_classes, dtype="float32")[np.arange(4) % num_classes]
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(images, labels, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    changed = [not np.array_equal(a, b) for a, b in zip(before, model.get_weights())]
    assert sum(changed) >= len(changed) - 2  # relu units that never fire may keep their bias


def test_e_vgg16_base_at_224_builds():
    base_model = VGG16(weights=None, include_top=False, input_shape=(224, 224, 3))
    assert tuple(base_model.output.shape) == (None, 7, 7, 512)
    x = Flatten()(base_model.output)
    assert tuple(x.shape) == (None, 25088)
    x = Dense(1024, activation='relu')(x)
    predictions = Dense(10, activation='softmax')(x)
    model = Model(inputs=base_model.input, outputs=predictions)
    # VGG16's 14,714,688 convolution parameters plus the heads.
    assert base_model.count_params() == 14_714_688
    assert model.count_params() == 14_714_688 + 25088 * 1024 + 1024 + 1024 * 10 + 10


def _applications_vgg16():
    try:
        from tensorflux.keras.applications import VGG16 as applications_vgg16
    except ImportError:
        pytest.skip("tensorflux.keras.applications.VGG16 is not written yet (issue 6)")
    return applications_vgg16


def test_e_applications_vgg16_as_written_raises_at_the_dense():
    VGG16 = _applications_vgg16()
    num_classes = 5
    # The seed passes weights='imagenet'; weights=None keeps the test offline.
    base_model = VGG16(weights=None, include_top=False)
    x = base_model.output
    x = Flatten()(x)
    with pytest.raises(ValueError) as info:
        x = Dense(1024, activation='relu', name="fc1")(x)
        predictions = Dense(num_classes, activation='softmax')(x)
        Model(inputs=base_model.input, outputs=predictions)
    _assert_actionable_flatten_error(info.value, "fc1")


def test_e_applications_vgg16_with_input_shape_matches_the_stand_in():
    base_model = _applications_vgg16()(weights=None, include_top=False, input_shape=(32, 32, 3))
    stand_in = VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    assert [w.shape for w in base_model.get_weights()] == \
        [w.shape for w in stand_in.get_weights()]
    x = Flatten()(base_model.output)
    predictions = Dense(5, activation='softmax')(Dense(1024, activation='relu')(x))
    model = Model(inputs=base_model.input, outputs=predictions)
    assert model.count_params() == 14_714_688 + 512 * 1024 + 1024 + 1024 * 5 + 5
