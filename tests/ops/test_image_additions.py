"""tf.image flips, crops, pads, colour and dtype conversions, patches and metrics: NumPy float64
references (checked against TensorFlow 2.21 when written) and values observed from TensorFlow,
gradients against central finite differences (tests/ops/harness).

ROWS follow the op-table format, so they can join tests/ops/table.py."""

import numpy as np
import pytest

import tensorflux as tf
from tests.ops import harness
from tests.ops.harness import Row, positive, uniform
from tests.tolerances import assert_close


def _central_np(x, fraction):
    h, w = x.shape[-3], x.shape[-2]
    top, left = int((h - h * fraction) / 2), int((w - w * fraction) / 2)
    return x[..., top:h - top, left:w - left, :]


def _crop_or_pad_np(x, rows, cols):
    h, w = x.shape[-3], x.shape[-2]
    out = np.zeros(x.shape[:-3] + (rows, cols, x.shape[-1]))
    src_top, src_left = max((h - rows) // 2, 0), max((w - cols) // 2, 0)
    dst_top, dst_left = max((rows - h) // 2, 0), max((cols - w) // 2, 0)
    n_h, n_w = min(rows, h), min(cols, w)
    out[..., dst_top:dst_top + n_h, dst_left:dst_left + n_w, :] = \
        x[..., src_top:src_top + n_h, src_left:src_left + n_w, :]
    return out


def _standardize_np(x):
    axes = (-3, -2, -1)
    n = np.prod(x.shape[-3:])
    mean = x.mean(axis=axes, keepdims=True)
    std = np.maximum(x.std(axis=axes, keepdims=True), 1 / np.sqrt(n))
    return (x - mean) / std


def _contrast_np(x, factor):
    mean = x.mean(axis=(-3, -2), keepdims=True)
    return (x - mean) * factor + mean


def _patches_np(x, k, s, r, padding):
    """Per-output-pixel loops over TensorFlow's ExtractImagePatches definition."""
    b, h, w, c = x.shape
    eff = [(k[i] - 1) * r[i] + 1 for i in range(2)]
    if padding == "VALID":
        out = [max(-(-(n - e + 1) // st), 0) for n, e, st in zip((h, w), eff, s)]
        pad = [0, 0]
    else:
        out = [-(-n // st) for n, st in zip((h, w), s)]
        pad = [max((o - 1) * st + e - n, 0) // 2 for o, st, e, n in zip(out, s, eff, (h, w))]
    result = np.zeros((b, out[0], out[1], k[0] * k[1] * c))
    for oi in range(out[0]):
        for oj in range(out[1]):
            values = []
            for i in range(k[0]):
                for j in range(k[1]):
                    y, z = oi * s[0] + i * r[0] - pad[0], oj * s[1] + j * r[1] - pad[1]
                    inside = 0 <= y < h and 0 <= z < w
                    values.append(x[:, y, z, :] if inside else np.zeros((b, c)))
            result[:, oi, oj, :] = np.concatenate(values, axis=-1)
    return result


GRAY = np.array([0.2989, 0.5870, 0.1140])

ROWS = [
    Row("image_flip_left_right", tf.image.flip_left_right, lambda x: x[..., ::-1, :],
        uniform((2, 3, 4, 2))),
    Row("image_flip_up_down", tf.image.flip_up_down, lambda x: x[..., ::-1, :, :],
        uniform((3, 4, 2))),
    Row("image_transpose", tf.image.transpose, lambda x: np.swapaxes(x, -3, -2),
        uniform((2, 3, 4, 1))),
    Row("image_rot90", tf.image.rot90, lambda x: np.rot90(x, 1, axes=(-3, -2)),
        uniform((2, 3, 4, 2))),
    Row("image_rot90_k3", lambda x: tf.image.rot90(x, 3), lambda x: np.rot90(x, 3, axes=(0, 1)),
        uniform((3, 4, 2))),
    Row("image_rot90_k2", lambda x: tf.image.rot90(x, k=2),
        lambda x: np.rot90(x, 2, axes=(-3, -2)), uniform((2, 3, 4, 2))),
    Row("image_crop_to_bounding_box", lambda x: tf.image.crop_to_bounding_box(x, 1, 2, 2, 3),
        lambda x: x[:, 1:3, 2:5, :], uniform((2, 4, 6, 2))),
    Row("image_pad_to_bounding_box", lambda x: tf.image.pad_to_bounding_box(x, 1, 2, 5, 7),
        lambda x: np.pad(x, [(1, 1), (2, 1), (0, 0)]), uniform((3, 4, 2))),
    Row("image_central_crop", lambda x: tf.image.central_crop(x, 0.33),
        lambda x: _central_np(x, 0.33), uniform((2, 5, 6, 3))),
    Row("image_central_crop_07", lambda x: tf.image.central_crop(x, 0.7),
        lambda x: _central_np(x, 0.7), uniform((5, 6, 3))),
    Row("image_resize_with_crop_or_pad", lambda x: tf.image.resize_with_crop_or_pad(x, 3, 9),
        lambda x: _crop_or_pad_np(x, 3, 9), uniform((2, 5, 6, 2))),
    Row("image_resize_with_crop_or_pad_b", lambda x: tf.image.resize_with_crop_or_pad(x, 8, 3),
        lambda x: _crop_or_pad_np(x, 8, 3), uniform((5, 6, 2))),
    Row("image_rgb_to_grayscale", tf.image.rgb_to_grayscale,
        lambda x: (x @ GRAY)[..., None], uniform((2, 3, 4, 3), low=0, high=1)),
    Row("image_grayscale_to_rgb", tf.image.grayscale_to_rgb,
        lambda x: np.repeat(x, 3, axis=-1), uniform((2, 3, 1))),
    Row("image_per_image_standardization", tf.image.per_image_standardization,
        _standardize_np, uniform((2, 3, 4, 3))),
    Row("image_adjust_brightness", lambda x: tf.image.adjust_brightness(x, 0.3),
        lambda x: x + 0.3, uniform((3, 4, 2))),
    Row("image_adjust_contrast", lambda x: tf.image.adjust_contrast(x, 1.7),
        lambda x: _contrast_np(x, 1.7), uniform((2, 3, 4, 3))),
    Row("image_adjust_gamma", lambda x: tf.image.adjust_gamma(x, 0.6, 1.3),
        lambda x: 1.3 * x ** 0.6, positive((2, 3, 4, 1), low=0.1, high=1.0)),
    Row("image_extract_patches_valid",
        lambda x: tf.image.extract_patches(x, [1, 2, 3, 1], [1, 2, 1, 1], [1, 1, 1, 1], "VALID"),
        lambda x: _patches_np(x, (2, 3), (2, 1), (1, 1), "VALID"), uniform((2, 5, 6, 2))),
    Row("image_extract_patches_same_rates",
        lambda x: tf.image.extract_patches(x, [1, 3, 2, 1], [1, 2, 3, 1], [1, 2, 1, 1], "SAME"),
        lambda x: _patches_np(x, (3, 2), (2, 3), (2, 1), "SAME"), uniform((1, 5, 6, 2))),
]

FORWARD = [(row, dtype) for row in ROWS for dtype in row.dtypes]


@pytest.mark.parametrize("row,dtype", FORWARD, ids=[f"{r.name}-{d}" for r, d in FORWARD])
def test_forward_matches_numpy(row, dtype):
    harness.check_forward(row, dtype)


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_vjp_matches_finite_differences(row):
    harness.check_vjp(row)


def _images():
    """The inputs the TensorFlow values below were computed from (NumPy's PCG64 stream)."""
    rng = np.random.default_rng(0)
    img = rng.uniform(0, 1, (2, 5, 6, 3)).astype(np.float32)
    img2 = np.clip(img + rng.normal(0, 0.1, img.shape), 0, 1).astype(np.float32)
    big = rng.uniform(0, 1, (2, 16, 16, 3)).astype(np.float32)
    big2 = np.clip(big + rng.normal(0, 0.1, big.shape), 0, 1).astype(np.float32)
    return img, img2, big, big2


@pytest.mark.parametrize("source,target,saturate,expected", [
    ("uint8", "float32", False, [[0.0, 0.003921568859368563, 0.007843137718737125],
                                 [0.3921568989753723, 0.7843137979507446, 1.0]]),
    ("float32", "uint8", False, [[0, 127, 255], [255, 50, 231]]),
    ("float32", "uint8", True, [[0, 127, 255], [255, 255, 0]]),
    ("uint8", "int32", False, [[0, 8388608, 16777216], [838860800, 1677721600, 2139095040]]),
    ("int32", "uint8", False, [[0, 2, 255], [255, 128, 1]]),
    ("uint8", "int16", False, [[0, 128, 256], [12800, 25600, 32640]]),
    ("int16", "uint8", True, [[0, 2, 255], [0, 7, 1]]),
    ("float32", "int16", False, [[0, 16383, 32734], [32767, -26215, -3276]]),
])
def test_convert_image_dtype_matches_tensorflow(source, target, saturate, expected):
    inputs = {"uint8": [[0, 1, 2], [100, 200, 255]],
              "float32": [[0.0, 0.5, 0.999], [1.0, 1.2, -0.1]],
              "int32": [[0, 2**24, 2**31 - 1], [-5, 2**30, 12345678]],
              "int16": [[0, 256, 32767], [-300, 1000, 128]]}
    x = tf.constant(inputs[source], dtype=source)
    out = tf.image.convert_image_dtype(x, target, saturate=saturate)
    assert out.dtype.name == target
    np.testing.assert_allclose(out.numpy(), np.array(expected), rtol=1e-7)


def test_integer_images_keep_their_dtype_as_tensorflow():
    img, *_ = _images()
    u8 = (img * 255).astype(np.uint8)
    assert tf.image.rgb_to_grayscale(u8).dtype == tf.uint8
    assert tf.image.adjust_brightness(u8, 0.3).dtype == tf.uint8
    assert tf.image.adjust_contrast(u8, 1.7).dtype == tf.uint8
    assert tf.image.adjust_gamma(u8, 2.0, 0.9).dtype == tf.uint8
    assert tf.image.per_image_standardization(u8).dtype == tf.float32
    # Brightness of an integer image: shifted in float, saturated back.
    expected = np.clip(u8 / 255.0 + 0.3, 0, 1) * 255.5
    np.testing.assert_array_equal(tf.image.adjust_brightness(u8, 0.3).numpy(),
                                  expected.astype(np.uint8))
    assert_close(tf.image.per_image_standardization(np.ones((2, 2, 1), np.float32)).numpy(),
                 np.zeros((2, 2, 1)), dtype="float32")


def test_psnr_and_ssim_match_tensorflow():
    img, img2, big, big2 = _images()
    assert_close(tf.image.psnr(img, img2, 1.0).numpy(), [19.996177673339844, 20.79630470275879],
                 dtype="float32", rtol=1e-5)
    u8, u8b = (img * 255).astype(np.uint8), (img2 * 255).astype(np.uint8)
    assert_close(tf.image.psnr(u8, u8b, 255).numpy(), [20.002708435058594, 20.787160873413086],
                 dtype="float32", rtol=1e-5)
    # TensorFlow computes both metrics in float32 whatever the input dtype.
    assert tf.image.psnr(img.astype(np.float64), img2.astype(np.float64), 1.0).dtype \
        == tf.float32
    assert_close(tf.image.ssim(big, big2, 1.0).numpy(), [0.9449102282524109, 0.9477581977844238],
                 dtype="float32", rtol=1e-5)
    assert_close(tf.image.ssim(img, img2, 1.0, filter_size=3, filter_sigma=0.8).numpy(),
                 [0.9190647006034851, 0.9601804614067078], dtype="float32", rtol=1e-5)
    assert_close(tf.image.ssim((big * 255).astype(np.uint8), (big2 * 255).astype(np.uint8),
                               255).numpy(), [0.9448228478431702, 0.9478079676628113],
                 dtype="float32", rtol=1e-5)
    index_map = tf.image.ssim(big, big2, 1.0, return_index_map=True)
    assert index_map.shape == (2, 6, 6, 3)


def test_psnr_and_ssim_gradients_match_tensorflow():
    img, img2, big, big2 = _images()
    x = tf.constant(big)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(tf.image.ssim(x, big2, 1.0))
    g = tape.gradient(y, x).numpy()
    assert_close(g[0, 3, 4], [-0.00042612740071490407, 0.0005203866749070585,
                              0.0010069656418636441], rtol=1e-3, atol=1e-7)
    assert_close(g[1, 10, 2], [0.0005934351356700063, -0.00038516614586114883,
                               8.895678911358118e-05], rtol=1e-3, atol=1e-7)
    assert_close(np.abs(g).sum(), 1.7827910599499441, rtol=1e-4)
    x = tf.constant(img)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(tf.image.psnr(x, img2, 1.0))
    g = tape.gradient(y, x).numpy()
    assert_close(g[0, 1, 2], [-0.5914881825447083, -1.547765851020813, 0.026903485879302025],
                 rtol=1e-4, atol=1e-6)
    assert_close(np.abs(g).sum(), 138.89606879698113, rtol=1e-4)


def test_random_flips_are_seeded_and_per_image():
    images = np.arange(64 * 2 * 3, dtype=np.float32).reshape(64, 2, 3, 1)
    tf.random.set_seed(11)
    a = tf.image.random_flip_left_right(images, seed=5).numpy()
    tf.random.set_seed(11)
    b = tf.image.random_flip_left_right(images, seed=5).numpy()
    np.testing.assert_array_equal(a, b)
    flipped = np.array([np.array_equal(a[i], images[i, :, ::-1]) for i in range(64)])
    kept = np.array([np.array_equal(a[i], images[i]) for i in range(64)])
    assert np.all(flipped | kept) and 10 < flipped.sum() < 54
    up = tf.image.random_flip_up_down(images, seed=6).numpy()
    assert all(np.array_equal(up[i], images[i]) or np.array_equal(up[i], images[i, ::-1])
               for i in range(64))


def test_random_crop_brightness_contrast_stay_in_range():
    value = np.arange(5 * 6 * 2, dtype=np.float32).reshape(5, 6, 2)
    crop = tf.image.random_crop(value, [2, 3, 2], seed=4).numpy()
    windows = [value[i:i + 2, j:j + 3] for i in range(4) for j in range(4)]
    assert any(np.array_equal(crop, w) for w in windows)
    tf.random.set_seed(3)
    first = tf.image.random_crop(value, [2, 3, 2], seed=4).numpy()
    tf.random.set_seed(3)
    np.testing.assert_array_equal(first, tf.image.random_crop(value, [2, 3, 2], seed=4).numpy())
    image = np.full((2, 2, 1), 0.5, np.float32)
    for seed in range(5):
        shifted = tf.image.random_brightness(image, 0.2, seed=seed).numpy()
        assert 0.3 <= shifted.min() == shifted.max() <= 0.7
    contrasted = tf.image.random_contrast(np.array([[[0.0], [1.0]]], np.float32), 0.5, 1.5,
                                          seed=1).numpy()
    spread = contrasted[0, 1, 0] - contrasted[0, 0, 0]
    assert 0.5 <= spread <= 1.5
    with pytest.raises(ValueError):
        tf.image.random_brightness(image, -1.0)
    with pytest.raises(ValueError):
        tf.image.random_contrast(image, 1.0, 0.5)


def test_bad_boxes_raise_clear_errors():
    image = np.zeros((4, 4, 1), np.float32)
    with pytest.raises(tf.errors.InvalidArgumentError, match="does not fit"):
        tf.image.crop_to_bounding_box(image, 2, 2, 3, 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="does not fit"):
        tf.image.pad_to_bounding_box(image, 2, 0, 5, 4)
    with pytest.raises(tf.errors.InvalidArgumentError, match="rank 3"):
        tf.image.flip_left_right(np.zeros((4, 4), np.float32))
    with pytest.raises(tf.errors.InvalidArgumentError, match="central_fraction"):
        tf.image.central_crop(image, 0.0)
