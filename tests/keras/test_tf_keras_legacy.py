"""`tf.keras` (and `from tensorflux import keras`), TensorFlow's namespace: the tensorflux.keras
package (Keras 3, the same objects) plus the Keras 1/2 APIs TF keeps there. Real Keras 3 (torch
backend) is the oracle where its legacy code runs without TensorFlow (Tokenizer, sequence
tools, ImageDataGenerator, and the keras.ops functions the backend wrappers stand for); NumPy
float64 elsewhere."""

import functools
import json
import os
import random
import subprocess
import sys
import warnings

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

pytestmark = pytest.mark.keras_oracle

K = tf.keras.backend
RNG = np.random.default_rng(0)


def _f32(*shape):
    return RNG.standard_normal(shape).astype("float32")


def _probabilities(*shape):
    return RNG.uniform(0.05, 1.0, shape).astype("float32")


def _legacy(module):
    """Real Keras's legacy module (keras.src.legacy.<module>)."""
    import_keras()
    import importlib

    return importlib.import_module(f"keras.src.legacy.{module}")


# ---------------------------------------------------------------------- the namespace
def test_keras_is_the_namespace_over_the_keras_3_package():
    import tensorflux.keras as imported

    package = sys.modules["tensorflux.keras"]
    # As `from tensorflow import keras` in TF 2.16+: every route to the attribute gives the
    # namespace, and the package's own modules stay Keras 3's.
    assert keras is tf.keras and imported is tf.keras and getattr(tf, "keras") is tf.keras  # noqa: B009
    assert tf.keras is not package
    assert "Reduction" not in dir(package.losses) and "flatten" not in dir(package.backend)
    # (but `from tensorflux.keras import backend as K; K.flatten`, as `from tensorflow.keras
    # import backend as K` in TF, reaches tf.keras's Keras 2 names, and so do the layers'
    # and losses' legacy names)
    assert package.backend.flatten is tf.keras.backend.flatten
    assert package.losses.Reduction is tf.keras.losses.Reduction
    # (tf.keras's import paths work on the package too: `from tensorflux.keras.preprocessing.
    # text import Tokenizer`, as `from tensorflow.keras...` in TF; Keras 3's listing is kept)
    assert "text" not in package.preprocessing.__all__
    assert tf.keras.backend.flatten is not None and tf.keras.losses.Reduction.SUM == "sum"
    # Every other name is Keras 3's own object.
    assert tf.keras.layers.Dense is keras.layers.Dense and tf.keras.Model is keras.Model
    assert tf.keras.backend.floatx is keras.backend.floatx
    assert tf.keras.preprocessing.sequence.pad_sequences is keras.utils.pad_sequences
    assert tf.keras.__version__ == keras.__version__
    assert {"flatten", "floatx"} <= set(dir(tf.keras.backend))
    assert "text" in dir(tf.keras.preprocessing) and "backend" in dir(tf.keras)
    with pytest.raises(AttributeError, match="tf.keras.backend' has no attribute 'nope'"):
        tf.keras.backend.nope  # noqa: B018
    with pytest.raises(AttributeError, match="cannot be replaced"):
        tf.keras = None


def test_namespaces_cover_tensorflows_additions():
    real = import_keras()
    import importlib

    tf_keras = importlib.import_module("keras._tf_keras.keras")
    for path in ("backend", "layers", "losses", "metrics", "preprocessing",
                 "preprocessing.image", "preprocessing.sequence", "preprocessing.text"):
        theirs, plain, ours = tf_keras, real, tf.keras
        for part in path.split("."):
            theirs, ours = getattr(theirs, part), getattr(ours, part)
            plain = getattr(plain, part, None)
        added = {n for n in dir(theirs) if not n.startswith("_") and not hasattr(plain, n)}
        assert added, path
        assert {n for n in added if not hasattr(ours, n)} == set(), path


def test_import_stays_light_and_namespaces_load_on_use():
    code = ("import sys, tensorflux as tf\n"
            "assert 'tensorflux.keras' not in sys.modules\n"
            "from tensorflux import keras\n"
            "assert keras is tf.keras and 'tensorflux.keras.legacy.backend' not in sys.modules\n"
            "tf.keras.backend\n"
            "assert 'tensorflux.keras.legacy.backend' in sys.modules\n"
            "assert 'tensorflux.keras.legacy.preprocessing.image' not in sys.modules\n"
            "tf.keras.preprocessing.image.ImageDataGenerator\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_dir_lists_keras_top_level_names_without_loading_them():
    # Notebook tab completion: Keras's top-level names that tensorflux.keras has are listed,
    # the lazily loaded ones too, and listing them imports none.
    real = import_keras()
    code = ("import sys\n"
            "from tensorflux import keras\n"
            "names = dir(keras)\n"
            "assert 'tensorflux.keras.applications' not in sys.modules\n"
            "print(' '.join(names))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    listed = set(out.stdout.split())
    assert listed, out.stderr
    theirs = {n for n in dir(real) if not n.startswith("_") and hasattr(keras, n)}
    assert {"StatelessScope", "applications", "ops", "Quantizer"} <= theirs
    assert theirs - listed == set()


# ---------------------------------------------------------------------- backend: NumPy
X2, X3, Y3, X4 = _f32(4, 5), _f32(2, 5, 4), _f32(3, 4, 2), _f32(2, 5, 6, 3)
T2, P2 = (RNG.random((4, 5)) > 0.5).astype("float32"), _probabilities(4, 5)
LABELS = np.array([[1, 0, 2, 4], [2, 3, 0, 0]])  # classes on axis 1 of X3
EPS = 1e-7


def _np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_bce(t, p):
    p = np.clip(p, EPS, 1 - EPS)
    return -(t * np.log(p + EPS) + (1 - t) * np.log(1 - p + EPS))


def _np_relu(x, alpha=0.0, max_value=None, threshold=0.0):
    y = np.where(x > threshold, x, alpha * (x - threshold))
    return y if max_value is None else np.minimum(y, max_value)


def _np_sparse_ce(labels, probabilities):
    logp = np.log(np.clip(probabilities, EPS, 1 - EPS))
    logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
    return -np.take_along_axis(logp, labels[..., None], -1)[..., 0]


x64 = X2.astype("float64")
ELEMENTWISE = [
    ("abs", lambda: K.abs(X2), lambda: np.abs(x64)),
    ("all", lambda: K.all(X2 > 0, axis=1), lambda: (x64 > 0).all(1)),
    ("any", lambda: K.any(X2, axis=0, keepdims=True), lambda: (x64 != 0).any(0, keepdims=True)),
    ("arange", lambda: K.arange(2, 9, 3), lambda: np.arange(2, 9, 3)),
    ("arange_negative", lambda: K.arange(-3), lambda: np.arange(0)),
    ("argmax", lambda: K.argmax(X2), lambda: x64.argmax(-1)),
    ("argmin", lambda: K.argmin(X2, 0), lambda: x64.argmin(0)),
    ("batch_flatten", lambda: K.batch_flatten(X4), lambda: X4.reshape(2, -1)),
    ("batch_normalization", lambda: K.batch_normalization(X2, 0.3, 2.0, 0.1, 1.5),
     lambda: (x64 - 0.3) / np.sqrt(2.0 + 1e-3) * 1.5 + 0.1),
    ("bias_add_last", lambda: K.bias_add(X4, X4[0, 0, 0], "channels_last"),
     lambda: X4 + X4[0, 0, 0]),
    ("bias_add_first", lambda: K.bias_add(X4, X4[0, :, 0, 0], "channels_first"),
     lambda: X4 + X4[0, :, 0, 0][:, None, None]),
    ("binary_crossentropy", lambda: K.binary_crossentropy(T2, P2), lambda: _np_bce(T2, P2)),
    ("binary_crossentropy_logits", lambda: K.binary_crossentropy(T2, X2, from_logits=True),
     lambda: np.maximum(x64, 0) - x64 * T2 + np.log1p(np.exp(-np.abs(x64)))),
    ("binary_focal", lambda: K.binary_focal_crossentropy(T2, P2, apply_class_balancing=True),
     lambda: (T2 * 0.25 + (1 - T2) * 0.75) * (1 - (T2 * P2 + (1 - T2) * (1 - P2))) ** 2
     * _np_bce(T2, P2)),
    ("categorical_crossentropy", lambda: K.categorical_crossentropy(T2, P2),
     lambda: -(T2 * np.log(np.clip(P2 / P2.sum(-1, keepdims=True), EPS, 1 - EPS))).sum(-1)),
    ("categorical_logits", lambda: K.categorical_crossentropy(T2, X2, True, axis=0),
     lambda: -(T2 * np.log(_np_softmax(x64, 0))).sum(0)),
    ("categorical_focal", lambda: K.categorical_focal_crossentropy(T2, X2, from_logits=True),
     lambda: (0.25 * (1 - _np_softmax(x64)) ** 2 * -T2 * np.log(_np_softmax(x64))).sum(-1)),
    ("sparse_categorical", lambda: K.sparse_categorical_crossentropy([1, 0, 3, 2], P2),
     lambda: _np_sparse_ce(np.array([1, 0, 3, 2]), P2)),
    ("sparse_categorical_column_labels",
     lambda: K.sparse_categorical_crossentropy([[1], [0], [3], [2]], X2, from_logits=True),
     lambda: -np.log(_np_softmax(x64))[np.arange(4), [1, 0, 3, 2]]),
    ("sparse_categorical_axis",
     lambda: K.sparse_categorical_crossentropy(LABELS, X3, from_logits=True, axis=1),
     lambda: -np.take_along_axis(np.log(_np_softmax(X3.astype("float64"), 1)),
                                 LABELS[:, None], 1)[:, 0]),
    ("sparse_categorical_ignore",
     lambda: K.sparse_categorical_crossentropy([1, 0, 3, 2], P2, ignore_class=3),
     lambda: _np_sparse_ce(np.array([1, 0, 3, 2]), P2) * [1, 1, 0, 1]),
    ("cast_to_floatx", lambda: K.cast_to_floatx([1, 2]), lambda: np.array([1.0, 2.0])),
    ("clip", lambda: K.clip(X2, -0.5, 0.3), lambda: np.clip(x64, -0.5, 0.3)),
    ("clip_open", lambda: K.clip(X2, None, 0.3), lambda: np.minimum(x64, 0.3)),
    ("clip_crossed", lambda: K.clip(X2, 0.5, 0.2), lambda: np.full_like(x64, 0.5)),
    ("concatenate", lambda: K.concatenate([X2, X2]), lambda: np.concatenate([x64, x64], -1)),
    ("cumprod", lambda: K.cumprod(X2), lambda: np.cumprod(x64, 0)),
    ("cumsum", lambda: K.cumsum(X2, 1), lambda: np.cumsum(x64, 1)),
    ("dot", lambda: K.dot(X3, X2[:, :3]), lambda: np.dot(X3.astype("float64"), x64[:, :3])),
    ("dot_3d", lambda: K.dot(X3, Y3), lambda: np.dot(X3.astype("float64"), Y3)),
    ("elu", lambda: K.elu(X2, 0.5), lambda: np.where(x64 > 0, x64, 0.5 * np.expm1(x64))),
    ("expand_dims", lambda: K.expand_dims(X2), lambda: x64[..., None]),
    ("flatten", lambda: K.flatten(X4), lambda: X4.ravel()),
    ("gather", lambda: K.gather(X2, [2, 0]), lambda: x64[[2, 0]]),
    ("hard_sigmoid", lambda: K.hard_sigmoid(X2 * 4), lambda: np.clip(0.8 * x64 + 0.5, 0, 1)),
    ("in_top_k", lambda: K.in_top_k(X2, [0, 1, 3, 2], 2),
     lambda: [i in np.argsort(-x64[r])[:2] for r, i in enumerate([0, 1, 3, 2])]),
    ("l2_normalize", lambda: K.l2_normalize(X2, axis=1),
     lambda: x64 / np.sqrt((x64 ** 2).sum(1, keepdims=True))),
    ("max", lambda: K.max(X2, 1), lambda: x64.max(1)),
    ("mean_of_bool", lambda: K.mean(X2 > 0), lambda: (x64 > 0).mean()),
    ("one_hot", lambda: K.one_hot([0, 2, 1], 4), lambda: np.eye(4)[[0, 2, 1]]),
    ("permute_dimensions", lambda: K.permute_dimensions(X4, (0, 3, 1, 2)),
     lambda: X4.transpose(0, 3, 1, 2)),
    ("prod", lambda: K.prod(X2, axis=1), lambda: x64.prod(1)),
    ("relu_leaky", lambda: K.relu(X2, alpha=0.2), lambda: _np_relu(x64, 0.2)),
    ("relu_all", lambda: K.relu(X2, alpha=0.1, max_value=0.5, threshold=0.2),
     lambda: _np_relu(x64, 0.1, 0.5, 0.2)),
    ("relu6", lambda: K.relu(X2 * 10, max_value=6), lambda: np.clip(10 * x64, 0, 6)),
    ("repeat", lambda: K.repeat(X2, 3), lambda: np.repeat(x64[:, None], 3, 1)),
    ("repeat_elements", lambda: K.repeat_elements(X2, 2, 1), lambda: np.repeat(x64, 2, 1)),
    ("resize_images", lambda: K.resize_images(X4, 2, 3, "channels_last"),
     lambda: X4.repeat(2, 1).repeat(3, 2)),
    ("resize_volumes", lambda: K.resize_volumes(X4[..., None], 2, 1, 2, "channels_last"),
     lambda: X4[..., None].repeat(2, 1).repeat(2, 3)),
    ("reverse", lambda: K.reverse(X2, 1), lambda: x64[:, ::-1]),
    ("softmax_axes", lambda: K.softmax(X3, axis=(1, 2)),
     lambda: np.exp(X3) / np.exp(X3.astype("float64")).sum((1, 2), keepdims=True)),
    ("spatial_2d_padding", lambda: K.spatial_2d_padding(X4, ((1, 2), (0, 1)), "channels_last"),
     lambda: np.pad(X4, ((0, 0), (1, 2), (0, 1), (0, 0)))),
    ("spatial_3d_padding",
     lambda: K.spatial_3d_padding(X4[None], ((1, 0), (0, 1), (2, 0)), "channels_first"),
     lambda: np.pad(X4[None], ((0, 0), (0, 0), (1, 0), (0, 1), (2, 0)))),
    ("sqrt", lambda: K.sqrt(X2), lambda: np.sqrt(np.maximum(x64, 0))),
    ("squeeze", lambda: K.squeeze(X2[:, None], 1), lambda: x64),
    ("std", lambda: K.std(X2, 1), lambda: x64.std(1)),
    ("var", lambda: K.var(X2, keepdims=True), lambda: x64.var(keepdims=True)),
    ("sum", lambda: K.sum(X2, axis=[0, 1]), lambda: x64.sum()),
    ("temporal_padding", lambda: K.temporal_padding(X3, (2, 1)),
     lambda: np.pad(X3, ((0, 0), (2, 1), (0, 0)))),
    ("tile", lambda: K.tile(X2, (2, 1)), lambda: np.tile(x64, (2, 1))),
    ("transpose", lambda: K.transpose(X3), lambda: X3.T),
    ("zeros_like", lambda: K.zeros_like(X2, dtype="int32"), lambda: np.zeros((4, 5), "int32")),
]


@pytest.mark.parametrize("name,ours,reference", ELEMENTWISE, ids=[c[0] for c in ELEMENTWISE])
def test_backend_function_matches_numpy(name, ours, reference):
    assert_matches(ours(), np.asarray(reference()), rtol=2e-6, atol=2e-6, what=name)


def test_batch_dot_matches_an_einsum_with_keras_shapes():
    a, b = _f32(3, 4), _f32(3, 4)
    assert_matches(K.batch_dot(a, b), np.einsum("bi,bi->b", a, b)[:, None], rtol=1e-5)
    c, d = _f32(3, 5, 4), _f32(3, 4, 6)
    assert_matches(K.batch_dot(c, d), np.einsum("bij,bjk->bik", c, d), rtol=1e-5, atol=1e-5)
    e = _f32(3, 2, 5, 7)
    assert_matches(K.batch_dot(c, e, axes=(1, 2)), np.einsum("bjx,byjz->bxyz", c, e),
                   rtol=1e-5, atol=1e-5)
    assert K.int_shape(K.batch_dot(K.ones((32, 20, 1)), K.ones((32, 30, 20)), axes=(1, 2))) == \
        (32, 1, 30)
    with pytest.raises(ValueError, match="over axis 0"):
        K.batch_dot(a, b, axes=0)
    with pytest.raises(ValueError, match="different batch sizes"):
        K.batch_dot(a, _f32(2, 4))


def test_values_variables_and_shapes():
    zeros = K.zeros((2, 3))
    assert isinstance(zeros, tf.Variable) and K.dtype(zeros) == "float32"
    assert not isinstance(K.zeros((2, 0)), tf.Variable)
    assert isinstance(K.ones((2,), dtype="int32"), tf.Variable)
    assert_matches(K.eye(3), np.eye(3))
    v = K.variable([[1.0, 2.0]], dtype="float64", name="v")
    assert K.int_shape(v) == (1, 2) and K.ndim(v) == 2 and K.count_params(v) == 2
    K.set_value(v, [[0.1, 0.2]])
    assert K.get_value(v).tolist() == [[0.1, 0.2]]  # float64 kept exactly
    K.batch_set_value([(v, [[3, 4]])])
    assert [a.tolist() for a in K.batch_get_value([v])] == [[[3.0, 4.0]]]
    K.update_add(v, [[1.0, 1.0]])
    K.moving_average_update(v, [[0.0, 10.0]], 0.9)
    assert_matches(K.eval(v), np.array([[4.0, 5.0]]) * 0.9 + np.array([[0.0, 10.0]]) * 0.1)
    assert K.get_value(7) == 7 and K.is_sparse(v) is False
    assert K.int_shape(keras.Input((3, None))) == (None, 3, None)
    assert K.constant(3, shape=(2, 2)).dtype == tf.float32
    assert K.cast_to_floatx(np.arange(2)).dtype == np.float32


def test_random_draws_have_their_distributions():
    uniform = K.random_uniform((4000,), -1.0, 3.0, seed=1).numpy()
    assert uniform.dtype == np.float32 and -1 <= uniform.min() and uniform.max() < 3
    assert abs(uniform.mean() - 1.0) < 0.1
    normal = K.random_normal((4000,), 2.0, 0.5).numpy()
    assert abs(normal.mean() - 2.0) < 0.05 and abs(normal.std() - 0.5) < 0.05
    truncated = K.truncated_normal((4000,), stddev=2.0).numpy()
    assert np.abs(truncated).max() <= 4.0
    bernoulli = K.random_bernoulli((4000,), p=0.3).numpy()
    assert set(np.unique(bernoulli)) <= {0.0, 1.0} and abs(bernoulli.mean() - 0.3) < 0.05
    assert isinstance(K.random_normal_variable((2, 2), 0.0, 1.0), tf.Variable)
    kept = K.dropout(np.ones((4000,), "float32"), 0.25).numpy()
    assert np.isclose(kept[kept != 0], 1 / 0.75).all() and 0.15 < (kept == 0).mean() < 0.35


def test_switch_folds_and_loops():
    x = K.constant([1.0, -2.0])
    assert K.switch(x > 0, x, -x).numpy().tolist() == [1.0, 2.0]
    assert K.switch(K.constant(False, "bool"), lambda: x, lambda: 2 * x).numpy().tolist() == \
        [2.0, -4.0]
    grid = _f32(2, 3, 4)
    assert_matches(K.switch(grid[:, :, 0] > 0, grid, -grid),
                   np.where(grid[:, :, :1] > 0, grid, -grid))
    with pytest.raises(ValueError, match="Rank of `condition`"):
        K.switch(grid > 0, x, x)
    values = _f32(5)
    assert_matches(K.foldl(lambda a, b: a * 0.5 + b, values),
                   functools.reduce(lambda a, b: a * 0.5 + b, values.astype("float64")))
    assert_matches(K.foldr(lambda a, b: a * 0.5 + b, values, initializer=np.float32(1)),
                   functools.reduce(lambda a, b: a * 0.5 + b, values[::-1].astype("float64"),
                                    1.0))
    assert_matches(K.map_fn(lambda row: row * 2, X2), 2 * x64)


def test_rnn_runs_the_step_over_time_with_masks():
    inputs, mask = _f32(2, 4, 3), np.array([[1, 1, 0, 1], [0, 1, 1, 1]], bool)

    def step(x, states):
        return x + states[0] + states[1], [states[0] + x]

    constant = _f32(2, 3)
    last, outputs, states = K.rnn(step, inputs, [np.zeros((2, 3), "float32")], mask=mask,
                                  constants=[constant], go_backwards=True)
    state, previous, expected = np.zeros((2, 3)), np.zeros((2, 3)), []
    for t in range(3, -1, -1):
        output = inputs[:, t] + state + constant
        keep = mask[:, t:t + 1]
        state = np.where(keep, state + inputs[:, t], state)
        previous = np.where(keep, output, previous)
        expected.append(previous)
    assert_matches(outputs, np.stack(expected, 1), rtol=1e-5, atol=1e-5)
    assert_matches(last, expected[-1], rtol=1e-5, atol=1e-5)
    assert_matches(states[0], state, rtol=1e-5, atol=1e-5)
    _, time_major, _ = K.rnn(lambda x, s: (x, s), inputs.transpose(1, 0, 2),
                             [np.zeros((2, 3), "float32")], time_major=True)
    assert_matches(time_major, inputs.transpose(1, 0, 2))


def test_gradients_inside_a_function():
    @tf.function
    def slope(x):
        return K.gradients(K.sum(K.square(x)), [x])[0]

    assert_matches(slope(tf.constant([1.0, -2.0])), np.array([2.0, -4.0]))


# ---------------------------------------------------------------------- backend: Keras ops
def test_convolutions_and_pools_are_keras_ops():
    k = import_keras()
    x, x1 = _f32(2, 7, 6, 3), _f32(2, 9, 4)
    kernel, kernel1 = _f32(3, 3, 3, 4), _f32(3, 4, 5)
    depthwise, pointwise = _f32(3, 3, 3, 2), _f32(1, 1, 6, 5)
    pairs = [
        (K.conv2d(x, kernel, (2, 1), "same", "channels_last"),
         k.ops.conv(x, kernel, (2, 1), "same", "channels_last")),
        (K.conv2d(x.transpose(0, 3, 1, 2), kernel, data_format="channels_first",
                  dilation_rate=(2, 1)),
         k.ops.conv(x.transpose(0, 3, 1, 2), kernel, data_format="channels_first",
                    dilation_rate=(2, 1))),
        (K.conv1d(x1, kernel1, padding="causal", data_format="channels_last", dilation_rate=2),
         k.ops.conv(np.pad(x1, ((0, 0), (4, 0), (0, 0))), kernel1, dilation_rate=2)),
        (K.conv3d(x[..., None, :], _f32(2, 2, 1, 3, 2), data_format="channels_last"), None),
        (K.depthwise_conv2d(x, depthwise, padding="same", data_format="channels_last"),
         k.ops.depthwise_conv(x, depthwise, padding="same")),
        (K.separable_conv2d(x, depthwise, pointwise, data_format="channels_last"),
         k.ops.separable_conv(x, depthwise, pointwise)),
        (K.pool2d(x, (2, 2), (2, 2), "same", "channels_last", "max"),
         k.ops.max_pool(x, 2, 2, "same")),
        (K.pool2d(x, (3, 2), (1, 1), "valid", "channels_last", "avg"),
         k.ops.average_pool(x, (3, 2), 1, "valid")),
        (K.pool3d(x[..., None, :], (2, 2, 1), (1, 1, 1), "valid", "channels_last", "avg"),
         k.ops.average_pool(x[..., None, :], (2, 2, 1), 1)),
        (K.conv2d_transpose(x, _f32(3, 3, 5, 3), (2, 14, 12, 5), (2, 2), "same",
                            "channels_last"),
         None),
        (K.resize_images(x, 2, 2, "channels_last", "bilinear"),
         k.ops.image.resize(x, (14, 12), "bilinear")),
    ]
    for i, (ours, theirs) in enumerate(pairs):
        if theirs is not None:
            assert_matches(ours, theirs, rtol=1e-4, atol=1e-4, what=f"case {i}")
    # conv3d and conv2d_transpose: the shapes and one value worked out by hand.
    assert K.int_shape(pairs[3][0]) == (2, 6, 5, 1, 2)
    transposed = K.conv2d_transpose(np.ones((1, 1, 1, 1), "float32"),
                                    np.arange(4.0, dtype="float32").reshape(2, 2, 1, 1),
                                    (1, 2, 2, 1), (2, 2), "valid", "channels_last")
    assert transposed.numpy()[0, :, :, 0].tolist() == [[0.0, 1.0], [2.0, 3.0]]
    with pytest.raises(ValueError, match="Invalid pooling mode"):
        K.pool2d(x, (2, 2), pool_mode="median")


def test_ctc_cost_and_decode_match_keras_ops_with_the_last_class_blank():
    k = import_keras()
    probabilities = _np_softmax(_f32(2, 8, 5).astype("float64")).astype("float32")
    labels = np.array([[1, 2, 0], [3, 3, 1]])
    cost = K.ctc_batch_cost(labels, probabilities, np.array([[8], [6]]), np.array([[2], [3]]))
    log_p = np.log(probabilities + EPS)
    theirs = k.ops.ctc_loss(labels, log_p, np.array([2, 3]), np.array([8, 6]), mask_index=4)
    assert_matches(cost, np.asarray(theirs)[:, None], rtol=1e-4, atol=1e-4)
    (decoded,), log_prob = K.ctc_decode(probabilities, np.array([8, 6]))
    their_decoded, their_score = k.ops.ctc_decode(log_p, np.array([8, 6]), strategy="greedy",
                                                  mask_index=4)
    their_decoded = np.asarray(their_decoded)[0]
    assert decoded.shape == (2, 8)
    assert decoded.numpy()[:, :their_decoded.shape[1]].tolist() == their_decoded.tolist()
    assert (decoded.numpy()[:, their_decoded.shape[1]:] == -1).all()
    sparse = K.ctc_label_dense_to_sparse(labels, [2, 3])
    assert sparse.indices.numpy().tolist() == [[0, 0], [0, 1], [1, 0], [1, 1], [1, 2]]
    assert sparse.values.numpy().tolist() == [1, 2, 3, 3, 1]


def test_a_dice_loss_written_with_the_backend_trains():
    def dice_loss(y_true, y_pred):
        y_true, y_pred = K.flatten(y_true), K.flatten(y_pred)
        intersection = K.sum(y_true * y_pred)
        return 1 - (2 * intersection + 1) / (K.sum(y_true) + K.sum(y_pred) + 1)

    x = RNG.uniform(size=(16, 4)).astype("float32")
    y = (x[:, :2] > 0.5).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="sigmoid")])
    model.compile(keras.optimizers.Adam(0.05), loss=dice_loss)
    before = float(dice_loss(y, model.predict(x, verbose=0)))
    history = model.fit(x, y, epochs=5, batch_size=16, verbose=0).history["loss"]
    assert history[-1] < history[0] and float(dice_loss(y, model.predict(x, verbose=0))) < before


# ---------------------------------------------------------------------- losses, metrics, layers
def test_reduction_and_metric_aliases():
    reduction = tf.keras.losses.Reduction
    assert reduction.all() == ("auto", "none", "sum", "sum_over_batch_size")
    reduction.validate("sum")
    with pytest.raises(ValueError, match="Invalid Reduction Key"):
        reduction.validate("mean")
    loss = keras.losses.MeanSquaredError(reduction=reduction.SUM)
    assert_matches(loss([[0.0], [1.0]], [[1.0], [3.0]]), 5.0)
    assert tf.keras.metrics.mse is keras.losses.mean_squared_error
    assert tf.keras.metrics.MAE is keras.losses.mean_absolute_error
    assert tf.keras.metrics.logcosh is keras.losses.log_cosh


def test_thresholded_relu():
    x = _f32(3, 4)
    layer = tf.keras.layers.ThresholdedReLU(theta=0.2)
    assert_matches(layer(x), np.where(x > 0.2, x, 0.0))
    assert layer.get_config()["theta"] == 0.2
    with pytest.raises(ValueError, match=">=0"):
        tf.keras.layers.ThresholdedReLU(-1.0)


@pytest.mark.parametrize("name,axis", [("RandomHeight", 1), ("RandomWidth", 2)])
def test_random_height_and_width_resize_like_keras(name, axis):
    k = import_keras()
    x = _f32(2, 6, 4, 3)
    layer = getattr(tf.keras.layers, name)((0.5, 0.5), seed=1)
    size = [6, 4]
    size[axis - 1] = int(1.5 * size[axis - 1])
    assert_matches(layer(x), k.ops.image.resize(x, size, "bilinear"), rtol=1e-5, atol=1e-5)
    nearest = getattr(tf.keras.layers, name)((-0.5, -0.5), interpolation="nearest")
    taken = [slice(None)] * 4
    taken[axis] = slice(1, None, 2)  # half-pixel centres: rows 1, 3, 5 of 6
    assert_matches(nearest(x), x[tuple(taken)])
    assert_matches(layer(x, training=False), x)
    drawn = {getattr(tf.keras.layers, name)(0.4)(x).shape[axis] for _ in range(12)}
    assert len(drawn) > 1 and all(0.6 * x.shape[axis] - 1 <= d <= 1.4 * x.shape[axis]
                                  for d in drawn)
    with pytest.raises(ValueError, match="larger than -1"):
        getattr(tf.keras.layers, name)((-2.0, 0.1))


def test_legacy_layers_train_save_and_read_tensorflows_configs(tmp_path):
    pytest.importorskip("h5py", reason="saving needs the h5 extra")
    layers = tf.keras.layers
    model = keras.Sequential([keras.Input((8, 6, 3)), layers.RandomHeight(0.2, seed=2),
                              layers.RandomWidth(0.2), layers.ThresholdedReLU(0.3),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(1)])
    assert model.layers[0].output.shape == (None, None, 6, 3)
    x = _f32(4, 8, 6, 3)
    model.compile("sgd", "mse")
    model.fit(x, np.zeros((4, 1)), epochs=1, verbose=0)
    model.save(tmp_path / "legacy.keras")
    restored = keras.models.load_model(tmp_path / "legacy.keras")
    assert_matches(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    with open(tmp_path / "config.json", "w") as f:  # a layer config as TF 2.21 writes it
        json.dump({"module": "keras._legacy.layers", "class_name": "RandomWidth", "config": {
            "name": "random_width", "trainable": True, "dtype": {
                "module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
                "registered_name": None}, "factor": [-0.1, 0.3], "interpolation": "bilinear",
            "seed": None}, "registered_name": None}, f)
    with open(tmp_path / "config.json") as f:
        layer = keras.saving.deserialize_keras_object(json.load(f))
    assert type(layer) is layers.RandomWidth and layer.factor == [-0.1, 0.3]
    assert keras.saving.serialize_keras_object(layer)["module"] == "keras._legacy.layers"


# ---------------------------------------------------------------------- text
TEXTS = ["The cat sat on the mat.", "The dog ate my homework!", "cat cat dog", "",
         "Unseen words here", ["A", "list", "of", "words", "cat"]]


@pytest.mark.parametrize("settings", [{}, {"num_words": 4}, {"oov_token": "<OOV>"},
                                      {"num_words": 5, "oov_token": "<OOV>"},
                                      {"char_level": True, "lower": False}],
                         ids=["default", "num_words", "oov", "both", "chars"])
def test_tokenizer_matches_keras(settings):
    text = _legacy("preprocessing.text")
    ours, theirs = tf.keras.preprocessing.text.Tokenizer(**settings), text.Tokenizer(**settings)
    fitted = TEXTS[:3] if settings.get("char_level") else TEXTS[:3] + TEXTS[5:]
    ours.fit_on_texts(fitted)
    theirs.fit_on_texts(fitted)
    assert ours.word_index == theirs.word_index and ours.index_docs == theirs.index_docs
    texts = TEXTS if not settings.get("char_level") else TEXTS[:5]
    sequences = theirs.texts_to_sequences(texts)
    assert ours.texts_to_sequences(texts) == sequences
    assert ours.sequences_to_texts(sequences + [[1, 99, 2]]) == \
        theirs.sequences_to_texts(sequences + [[1, 99, 2]])
    for mode in ("binary", "count", "freq", "tfidf"):
        assert_matches(ours.texts_to_matrix(texts, mode), theirs.texts_to_matrix(texts, mode),
                       rtol=1e-14, atol=0, what=mode)
        assert ours.texts_to_matrix(texts, mode).dtype == np.float64
    assert ours.to_json() == theirs.to_json()
    for restored in (tf.keras.preprocessing.text.tokenizer_from_json(theirs.to_json()),
                     text.tokenizer_from_json(ours.to_json())):
        assert restored.texts_to_sequences(texts) == sequences
        assert restored.index_word == theirs.index_word


def test_tokenizer_errors_and_word_functions():
    text = _legacy("preprocessing.text")
    ours = tf.keras.preprocessing.text
    with pytest.raises(ValueError, match="fit on some text"):
        ours.Tokenizer().texts_to_matrix(["a"])
    tokenizer = ours.Tokenizer()
    tokenizer.fit_on_texts(["a b"])
    with pytest.raises(ValueError, match="Unknown vectorization mode"):
        tokenizer.texts_to_matrix(["a"], mode="tf")
    with pytest.raises(TypeError, match="Unrecognized keyword"):
        ours.Tokenizer(words=3)
    sample = "Hello, World!  It's\ta test-case."
    assert ours.text_to_word_sequence(sample) == text.text_to_word_sequence(sample)
    assert ours.text_to_word_sequence(sample, filters="", lower=False, split=",") == \
        text.text_to_word_sequence(sample, filters="", lower=False, split=",")
    assert ours.hashing_trick(sample, 17, "md5") == text.hashing_trick(sample, 17, "md5")
    assert ours.one_hot(sample, 11) == text.one_hot(sample, 11)


# ---------------------------------------------------------------------- sequence
@pytest.mark.parametrize("settings", [
    {"length": 3}, {"length": 4, "sampling_rate": 2, "stride": 3, "batch_size": 4},
    {"length": 2, "reverse": True, "start_index": 2, "end_index": 20, "batch_size": 5}],
    ids=["plain", "strided", "reversed"])
def test_timeseries_generator_matches_keras(settings):
    sequence = _legacy("preprocessing.sequence")
    data, targets = np.arange(50, dtype="float64").reshape(25, 2), np.arange(25)
    ours = tf.keras.preprocessing.sequence.TimeseriesGenerator(data, targets, **settings)
    theirs = sequence.TimeseriesGenerator(data, targets, **settings)
    assert len(ours) == len(theirs)
    for i in range(len(ours)):
        for a, b in zip(ours[i], theirs[i]):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)
    config = ours.get_config()
    assert json.loads(config["data"]) == data.tolist() and config["start_index"] == \
        settings.get("start_index", 0) + settings["length"]


def test_timeseries_generator_shuffles_and_feeds_fit():
    data = np.arange(40, dtype="float32").reshape(20, 2)
    generator = tf.keras.preprocessing.sequence.TimeseriesGenerator(
        data, data[:, :1], length=4, batch_size=6, shuffle=True)
    x, y = generator[0]
    assert x.shape == (6, 4, 2)
    np.testing.assert_array_equal(x[:, -1, :1] + 2, y)  # each target follows its window
    model = keras.Sequential([keras.Input((4, 2)), keras.layers.Flatten(),
                              keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(generator, epochs=1, verbose=0)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # (Keras's randint(0, 10e6))
def test_sampling_table_and_skipgrams_match_keras():
    sequence = _legacy("preprocessing.sequence")
    ours = tf.keras.preprocessing.sequence
    table = sequence.make_sampling_table(30, 0.05)
    assert_matches(ours.make_sampling_table(30, 0.05), table, rtol=1e-14, atol=0)
    words = [int(w) for w in RNG.integers(0, 30, 40)]
    for settings in ({}, {"categorical": True, "window_size": 2}, {"sampling_table": table},
                     {"negative_samples": 2.0, "seed": 3}, {"shuffle": False}):
        random.seed(5)
        mine = ours.skipgrams(words, 30, **settings)
        random.seed(5)
        assert mine == sequence.skipgrams(words, 30, **settings), settings


# ---------------------------------------------------------------------- image transforms
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # (Keras's scipy import path)
@pytest.mark.parametrize("fill_mode", ["nearest", "constant", "reflect", "wrap", "mirror"])
def test_affine_transform_matches_keras_scipy(fill_mode):
    pytest.importorskip("scipy", reason="Keras's legacy transforms run on SciPy")
    image = _legacy("preprocessing.image")
    for trial in range(4):
        channels_last = trial % 2 == 0
        x = RNG.random((7, 9, 3) if channels_last else (3, 7, 9)).astype("float32")
        axes = ({"row_axis": 0, "col_axis": 1, "channel_axis": 2} if channels_last else
                {"row_axis": 1, "col_axis": 2, "channel_axis": 0})
        params = {"theta": RNG.uniform(-40, 40), "tx": RNG.uniform(-3, 3),
                  "ty": RNG.uniform(-3, 3), "shear": RNG.uniform(-20, 20),
                  "zx": RNG.uniform(0.7, 1.3), "zy": RNG.uniform(0.7, 1.3)}
        order = trial // 2
        ours = tf.keras.preprocessing.image.apply_affine_transform(
            x, **params, **axes, fill_mode=fill_mode, cval=0.3, order=order)
        theirs = image.apply_affine_transform(x, **params, **axes, fill_mode=fill_mode,
                                              cval=0.3, order=order)
        assert ours.dtype == theirs.dtype
        assert_matches(ours, theirs, rtol=1e-5, atol=1e-5, what=f"{fill_mode} {trial}")


def test_channel_and_brightness_shifts_match_keras():
    pytest.importorskip("PIL", reason="brightness goes through Pillow")
    image = _legacy("preprocessing.image")
    ours = tf.keras.preprocessing.image
    x = (RNG.random((5, 6, 3)) * 200).astype("float32")
    assert_matches(ours.apply_channel_shift(x, 30.0, 2), image.apply_channel_shift(x, 30.0, 2))
    for scale in (True, False):
        assert_matches(ours.apply_brightness_shift(x, 1.4, scale),
                       image.apply_brightness_shift(x, 1.4, scale), rtol=1e-5, atol=1e-4)
    wide = x * 3 - 100
    assert_matches(ours.apply_brightness_shift(wide, 0.7, False),
                   image.apply_brightness_shift(wide, 0.7, False), rtol=1e-4, atol=1e-3)


def test_random_transforms_draw_within_their_ranges():
    ours = tf.keras.preprocessing.image
    x = RNG.random((3, 8, 8)).astype("float32")  # channels first, the helpers' default
    for transform in (lambda: ours.random_rotation(x, 0), lambda: ours.random_shift(x, 0, 0),
                      lambda: ours.random_shear(x, 0), lambda: ours.random_zoom(x, (1, 1))):
        np.testing.assert_array_equal(transform(), x)
    for transform, params in [
            (lambda: ours.random_rotation(x, 30), lambda r: {"theta": r.uniform(-30, 30)}),
            (lambda: ours.random_shift(x, 0.2, 0.1),
             lambda r: {"tx": r.uniform(-0.1, 0.1) * 8, "ty": r.uniform(-0.2, 0.2) * 8}),
            (lambda: ours.random_shear(x, 10), lambda r: {"shear": r.uniform(-10, 10)}),
            (lambda: ours.random_zoom(x, (0.8, 1.2)),
             lambda r: {"zx": r.uniform(0.8, 1.2), "zy": r.uniform(0.8, 1.2)})]:
        random.seed(11)
        drawn = transform()
        expected = ours.apply_affine_transform(x, **params(random.Random(11)))
        np.testing.assert_array_equal(drawn, expected)
    shifted = ours.random_channel_shift(x, 0.5)
    assert x.min() <= shifted.min() and shifted.max() <= x.max() and shifted.shape == x.shape
    with pytest.raises(ValueError, match="zoom_range"):
        ours.random_zoom(x, (0.9,))


def test_image_data_generator_random_parameters():
    generator = tf.keras.preprocessing.image.ImageDataGenerator(
        rotation_range=20, width_shift_range=3, height_shift_range=0.25, shear_range=5,
        zoom_range=(0.5, 0.9), channel_shift_range=4.0, horizontal_flip=True,
        brightness_range=(0.8, 1.2))
    draws = [generator.get_random_transform((8, 10, 3)) for _ in range(200)]
    assert all(-20 <= d["theta"] <= 20 and -5 <= d["shear"] <= 5 for d in draws)
    assert all(-2 <= d["tx"] <= 2 for d in draws)  # 0.25 of 8 rows
    assert {d["ty"] for d in draws} == {-2, -1, 0, 1, 2}  # whole pixels below 3
    assert all(0.5 <= d["zx"] <= 0.9 and 0.5 <= d["zy"] <= 0.9 for d in draws)
    assert all(-4 <= d["channel_shift_intensity"] <= 4 for d in draws)
    assert 50 < sum(d["flip_horizontal"] for d in draws) < 150
    assert not any(d["flip_vertical"] for d in draws)
    assert generator.get_random_transform((8, 10, 3), seed=4) == \
        generator.get_random_transform((8, 10, 3), seed=4)
    x = RNG.random((8, 10, 3)).astype("float32")
    flipped = generator.apply_transform(x, {"flip_horizontal": True, "flip_vertical": True})
    np.testing.assert_array_equal(flipped, x[::-1, ::-1])
    with pytest.raises(ValueError, match="zoom_range"):
        tf.keras.preprocessing.image.ImageDataGenerator(zoom_range=(1, 2, 3))


# ---------------------------------------------------------------------- ImageDataGenerator
IMAGES = (np.random.default_rng(5).random((10, 6, 5, 3)) * 255).astype("float32")


@pytest.mark.parametrize("settings", [
    {"rescale": 1 / 255}, {"samplewise_center": True, "samplewise_std_normalization": True},
    {"featurewise_center": True, "featurewise_std_normalization": True, "rescale": 0.01},
    {"zca_whitening": True}, {"featurewise_center": True, "data_format": "channels_first"}],
    ids=["rescale", "samplewise", "featurewise", "zca", "channels_first"])
def test_generator_normalization_and_batches_match_keras(settings):
    image = _legacy("preprocessing.image")
    x = IMAGES.transpose(0, 3, 1, 2) if settings.get("data_format") else IMAGES
    y, weights = np.arange(10), np.linspace(0.1, 1.0, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = tf.keras.preprocessing.image.ImageDataGenerator(**settings)
        theirs = image.ImageDataGenerator(**settings)
    ours.fit(x)
    theirs.fit(x)
    for name in ("mean", "std", "zca_whitening_matrix"):
        if getattr(theirs, name) is not None:
            assert getattr(ours, name).dtype == getattr(theirs, name).dtype
            assert_matches(getattr(ours, name), getattr(theirs, name), rtol=1e-5, atol=1e-6,
                           what=name)
    mine = ours.flow(x, y, batch_size=4, shuffle=False, sample_weight=weights)
    keras_batches = theirs.flow(x, y, batch_size=4, shuffle=False, sample_weight=weights)
    assert len(mine) == len(keras_batches) == 3
    for i in range(3):
        for a, b in zip(mine[i], keras_batches[i]):
            assert a.dtype == b.dtype
            assert_matches(a, b, rtol=1e-5, atol=1e-4)  # (float32 sums in other orders)


def test_flow_splits_subsets_and_batches_extra_inputs_like_keras():
    image = _legacy("preprocessing.image")
    y = np.array([0, 1] * 5)
    extra = np.arange(10.0)[:, None]
    for subset in ("training", "validation"):
        ours = tf.keras.preprocessing.image.ImageDataGenerator(validation_split=0.3).flow(
            (IMAGES, extra), y, batch_size=3, shuffle=False, subset=subset)
        theirs = image.ImageDataGenerator(validation_split=0.3).flow(
            (IMAGES, extra), y, batch_size=3, shuffle=False, subset=subset)
        assert len(ours) == len(theirs)
        (x_ours, extra_ours), y_ours = ours[0]
        (x_theirs, extra_theirs), y_theirs = theirs[0]
        assert_matches(x_ours, x_theirs)
        assert_matches(extra_ours, extra_theirs)
        assert_matches(y_ours, y_theirs)
    with pytest.raises(ValueError, match="different number of classes"):
        tf.keras.preprocessing.image.ImageDataGenerator(validation_split=0.3).flow(
            IMAGES, np.sort(y), subset="training")
    with pytest.raises(ValueError, match="rank 4"):
        tf.keras.preprocessing.image.ImageDataGenerator().flow(IMAGES[0])


def test_seeded_shuffled_flow_repeats_and_covers_every_sample():
    generator = tf.keras.preprocessing.image.ImageDataGenerator(
        rotation_range=30, width_shift_range=0.2, horizontal_flip=True)
    y = np.arange(10)

    def epoch(seed):
        flow = generator.flow(IMAGES, y, batch_size=4, seed=seed)
        return [flow[i] for i in range(len(flow))]

    first, again, other = epoch(7), epoch(7), epoch(8)
    for (xa, ya), (xb, yb) in zip(first, again):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert sorted(np.concatenate([b[1] for b in first]).tolist()) == list(range(10))
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(first, other))
    assert first[0][0].shape == (4, 6, 5, 3) and first[0][0].dtype == np.float32
    x, labels = next(iter(generator.flow(IMAGES, y, batch_size=6)))
    assert x.shape == (6, 6, 5, 3) and labels.shape == (6,)


def test_generator_feeds_fit():
    generator = tf.keras.preprocessing.image.ImageDataGenerator(rescale=1 / 255,
                                                               zoom_range=0.1)
    model = keras.Sequential([keras.Input((6, 5, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    history = model.fit(generator.flow(IMAGES, np.zeros(10), batch_size=5), epochs=2,
                        verbose=0)
    assert len(history.history["loss"]) == 2


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    pil = pytest.importorskip("PIL.Image", reason="the file iterators need Pillow")
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(3)
    for name, count in (("cats", 3), ("dogs", 4), ("zebras", 2)):
        for i in range(count):
            folder = root / name / ("nested" if name == "dogs" and i % 2 else "")
            folder.mkdir(parents=True, exist_ok=True)
            pixels = (rng.random((5 + i, 7, 3)) * 255).astype("uint8")
            pil.fromarray(pixels).save(folder / f"image{i}.png")
    (root / "cats" / "notes.txt").write_text("not an image")
    return root


@pytest.mark.parametrize("settings", [
    {}, {"class_mode": "binary", "classes": ["cats", "dogs"]},
    {"class_mode": "sparse", "color_mode": "grayscale"},
    {"class_mode": None, "color_mode": "rgba", "target_size": (4, 6)},
    {"class_mode": "input"}, {"subset": "validation"}, {"subset": "training"}],
    ids=["categorical", "binary", "sparse", "none", "input", "validation", "training"])
def test_flow_from_directory_matches_keras(image_folder, settings, capsys):
    image = _legacy("preprocessing.image")
    settings = dict(settings)
    target_size = settings.pop("target_size", (5, 7))
    split = {"validation_split": 0.5} if "subset" in settings else {}
    ours = tf.keras.preprocessing.image.ImageDataGenerator(rescale=1 / 255, **split) \
        .flow_from_directory(image_folder, target_size, batch_size=3, shuffle=False,
                             **settings)
    theirs = image.ImageDataGenerator(rescale=1 / 255, **split).flow_from_directory(
        image_folder, target_size, batch_size=3, shuffle=False, **settings)
    assert ours.class_indices == theirs.class_indices
    assert ours.filenames == theirs.filenames and ours.filepaths == theirs.filepaths
    assert ours.classes.dtype == theirs.classes.dtype
    np.testing.assert_array_equal(ours.classes, theirs.classes)
    assert len(ours) == len(theirs)
    for i in range(len(ours)):
        mine, keras_batch = ours[i], theirs[i]
        if not isinstance(keras_batch, tuple):
            mine, keras_batch = (mine,), (keras_batch,)
        for a, b in zip(mine, keras_batch):
            assert a.dtype == b.dtype
            assert_matches(a, b)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == printed[1] and printed[0].startswith("Found")


def test_flow_from_dataframe_reads_a_table_of_files(image_folder):
    table = {"file": ["cats/image0.png", "dogs/image0.png", "missing.png", "zebras/image1.png",
                      "dogs/nested/image1.png", "cats/notes.txt"],
             "label": ["cat", "dog", "dog", "zebra", "dog", "cat"],
             "tags": [["cat"], ["dog", "cat"], ["dog"], ["zebra"], ["dog"], ["cat"]],
             "weight": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
             "score": [0.5, 1.5, 2.5, 3.5, 4.5, 5.5]}
    generator = tf.keras.preprocessing.image.ImageDataGenerator(rescale=1 / 255)
    with pytest.warns(UserWarning, match="2 invalid image filename"):
        flow = generator.flow_from_dataframe(table, str(image_folder), "file", "label",
                                             weight_col="weight", target_size=(5, 7),
                                             shuffle=False, batch_size=4)
    assert flow.class_indices == {"cat": 0, "dog": 1, "zebra": 2}
    assert flow.filenames == ["cats/image0.png", "dogs/image0.png", "zebras/image1.png",
                              "dogs/nested/image1.png"]
    x, y, w = flow[0]
    assert x.shape == (4, 5, 7, 3) and 0 <= x.min() and x.max() <= 1
    np.testing.assert_array_equal(y, np.eye(3)[[0, 1, 2, 1]])
    np.testing.assert_array_equal(w, [1.0, 2.0, 4.0, 5.0])
    loaded = tf.keras.preprocessing.image.img_to_array(
        tf.keras.preprocessing.image.load_img(image_folder / "dogs/image0.png",
                                              target_size=(5, 7)))
    assert_matches(x[1], loaded / 255)
    multi = generator.flow_from_dataframe(table, str(image_folder), "file", "tags",
                                          classes=["dog", "cat"], target_size=(5, 7),
                                          shuffle=False, validate_filenames=False)
    assert multi.class_indices == {"dog": 0, "cat": 1}
    assert multi.classes[:2] == [[1], [0, 1]]
    raw = generator.flow_from_dataframe(table, str(image_folder), "file", "score",
                                        class_mode="raw", target_size=(5, 7), shuffle=False,
                                        batch_size=2, validate_filenames=False)
    np.testing.assert_array_equal(raw[0][1], [0.5, 1.5])
    with pytest.raises(ValueError, match="there must be 2 classes"):
        generator.flow_from_dataframe(table, str(image_folder), "file", "label",
                                      class_mode="binary")


def test_flow_saves_augmented_images(tmp_path):
    pytest.importorskip("PIL", reason="saving goes through Pillow")
    generator = tf.keras.preprocessing.image.ImageDataGenerator(horizontal_flip=True)
    flow = generator.flow(IMAGES[:3], batch_size=3, save_to_dir=str(tmp_path),
                          save_prefix="aug", save_format="png")
    flow[0]
    saved = sorted(os.listdir(tmp_path))
    assert len(saved) == 3 and all(n.startswith("aug_") and n.endswith(".png") for n in saved)
