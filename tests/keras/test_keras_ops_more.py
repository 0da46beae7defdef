"""keras.ops.math / linalg / nn additions and keras.ops.image against real Keras 3 (the
oracle): values, dtypes and shapes on the same inputs, both data formats; gradients against
central finite differences in float64; the ops as Functional nodes, saved both ways."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras as tfk
from tensorflux.keras import ops
from tests.keras._oracle import assert_matches, fresh_names, import_keras, to_numpy  # noqa: F401
from tests.tolerances import central_difference

pytestmark = pytest.mark.keras_oracle

RNG = np.random.default_rng(0)


def normal(*shape):
    return RNG.normal(size=shape).astype("float32")


def uniform(*shape):
    return RNG.uniform(size=shape).astype("float32")


X, Y = normal(3, 8), normal(3, 8)
SIGNAL = normal(2, 40)
A = normal(2, 4, 4)
SPD = (A @ A.transpose(0, 2, 1) + 4 * np.eye(4)).astype("float32")
CHOL = np.linalg.cholesky(SPD).astype("float32")
RECT = normal(5, 3)
RHS = normal(2, 4, 3)
IMG = uniform(2, 5, 6, 3)
IMG_CF = np.ascontiguousarray(IMG.transpose(0, 3, 1, 2))
TRANSFORMS = np.array([[1.1, 0.23, -0.71, -0.13, 0.93, 1.31, 0, 0],
                       [0.83, -0.31, 1.57, 0.21, 1.22, -0.83, 0, 0]], "float32")
START = np.array([[0, 0], [5, 0], [5, 4], [0, 4]], "float32")
END = np.array([[0.3, 0.2], [4.6, 0.4], [5.2, 3.7], [0.1, 4.3]], "float32")
CL, CF = {"data_format": "channels_last"}, {"data_format": "channels_first"}

# (id, "module.op", positional args, keyword args); module "" is keras.ops itself.
CASES = [
    ("fft", "fft", ((X, Y),), {}), ("fft2", "fft2", ((X, Y),), {}),
    ("ifft2", "ifft2", ((X, Y),), {}), ("rfft", "rfft", (X,), {}),
    ("rfft_crop", "rfft", (X,), {"fft_length": 5}), ("rfft_pad", "rfft", (X,), {"fft_length": 11}),
    ("rfft_vector_int", "rfft", (np.arange(6, dtype="int32"),), {}),
    ("irfft", "irfft", ((X[:, :5], Y[:, :5]),), {}),
    ("irfft_odd", "irfft", ((X[:, :5], Y[:, :5]),), {"fft_length": 9}),
    ("stft", "stft", (SIGNAL, 16, 4, 16), {}),
    ("stft_hamming", "stft", (SIGNAL, 10, 3, 16), {"window": "hamming"}),
    ("stft_uncentred", "stft", (SIGNAL, 16, 5, 16), {"center": False}),
    ("stft_no_window", "stft", (SIGNAL, 12, 4, 16), {"window": None}),
    ("erfc", "erfc", (np.linspace(-6, 12, 40).astype("float32"),), {}),
    ("erfc_int", "erfc", (np.arange(-2, 3, dtype="int32"),), {}),
    ("erfinv", "erfinv", (np.linspace(-0.9999, 0.9999, 40).astype("float32"),), {}),
    ("erfinv_edges", "erfinv", (np.array([-1.0, 1.0, 0.0]),), {}),
    ("logdet", "logdet", (SPD,), {}),
    ("logdet_signs", "logdet", (np.array([[[-1.0, 0], [0, 1]], [[0, 0], [0, 1]]]),), {}),
    ("cdist", "cdist", (X[:, :2], Y[:2, :2]), {}),
    ("cdist_int", "cdist", (np.ones((2, 3), "int32"), np.zeros((4, 3), "int32")), {}),
    ("extract_sequences", "extract_sequences", (X, 3, 2), {}),
    ("segment_max", "segment_max", (X, np.array([0, 1, 1])), {"num_segments": 2}),
    ("segment_min", "segment_min", (X, np.array([1, 0, 1])), {"num_segments": 2}),
    ("segment_prod", "segment_prod", (X, np.array([1, 1, 0])), {}),
    ("segment_prod_int", "segment_prod", (np.array([1, 2, 3, 4]), np.array([1, 1, 0, 1])), {}),
    ("view_as_complex", "view_as_complex", (normal(3, 2),), {}),
    ("view_as_real", "view_as_real", (np.array([1 + 2j, 3 - 1j], "complex64"),), {}),
    # linalg
    ("cholesky", "cholesky", (SPD,), {}), ("cholesky_upper", "cholesky", (SPD,), {"upper": True}),
    ("cholesky_inverse", "cholesky_inverse", (CHOL,), {}),
    ("cholesky_inverse_upper", "cholesky_inverse", (CHOL.transpose(0, 2, 1),), {"upper": True}),
    ("lu_factor", "lu_factor", (A,), {}), ("lu_factor_tall", "lu_factor", (RECT,), {}),
    ("lu_factor_wide", "lu_factor", (np.ascontiguousarray(RECT.T),), {}),
    ("qr", "qr", (RECT,), {}), ("qr_complete", "qr", (RECT,), {"mode": "complete"}),
    ("solve", "solve", (A, RHS), {}), ("solve_vector", "solve", (A, RHS[..., 0]), {}),
    ("solve_triangular", "solve_triangular", (A, RHS), {}),
    ("solve_triangular_lower", "solve_triangular", (A, RHS[..., 0]), {"lower": True}),
    ("svd_values", "svd", (RECT,), {"compute_uv": False}),
    ("lstsq", "lstsq", (RECT, RECT[:, 0] + 1.0), {}),
    ("lstsq_rcond", "lstsq", (RECT, RECT[:, :2]), {"rcond": 0.5}),
    ("matrix_rank", "matrix_rank", (np.array([[1.0, 2.0], [2.0, 4.0]], "float32"),), {}),
    ("matrix_rank_tol", "matrix_rank", (RECT,), {"tol": 1.0}),
    ("pinv", "pinv", (RECT,), {}),
    ("pinv_rcond", "pinv", (np.array([[1.0, 2.0], [2.0, 4.01]], "float32"),), {"rcond": 1e-2}),
    # nn
    ("separable_conv", "separable_conv", (normal(2, 7, 7, 3), normal(3, 3, 3, 2),
                                          normal(1, 1, 6, 4)), {}),
    ("separable_conv_cf", "separable_conv", (normal(2, 3, 7, 7), normal(3, 3, 3, 2),
                                             normal(1, 1, 6, 4)),
     {"strides": 2, "padding": "same", **CF}),
    ("separable_conv_1d", "separable_conv", (normal(2, 9, 3), normal(3, 3, 1), normal(1, 3, 4)),
     {"dilation_rate": 2}),
    ("conv_transpose_1d", "conv_transpose", (normal(2, 6, 3), normal(3, 4, 3)), {"strides": 2}),
    ("conv_transpose_2d_same", "conv_transpose", (normal(2, 5, 4, 3), normal(3, 2, 4, 3)),
     {"strides": 2, "padding": "same"}),
    ("conv_transpose_2d_output_padding", "conv_transpose",
     (normal(2, 5, 4, 3), normal(3, 2, 4, 3)), {"strides": 3, "padding": "same",
                                                 "output_padding": 1}),
    ("conv_transpose_2d_dilated", "conv_transpose", (normal(2, 5, 4, 3), normal(3, 2, 4, 3)),
     {"padding": "same", "dilation_rate": 2}),
    ("conv_transpose_2d_cf", "conv_transpose", (normal(2, 3, 5, 4), normal(3, 3, 4, 3)),
     {"strides": 2, "padding": "same", **CF}),
    ("conv_transpose_3d", "conv_transpose", (normal(1, 3, 4, 3, 2), normal(2, 3, 2, 3, 2)),
     {"strides": 2, "output_padding": 1}),
    ("depth_to_space", "depth_to_space", (normal(2, 3, 3, 8), 2), {}),
    ("depth_to_space_cf", "depth_to_space", (normal(2, 8, 3, 3), 2), CF),
    ("space_to_depth", "space_to_depth", (normal(2, 4, 6, 3), 2), {}),
    ("space_to_depth_cf", "space_to_depth", (normal(2, 3, 4, 6), 2), CF),
    ("attention", "dot_product_attention", (normal(2, 5, 4, 8), normal(2, 6, 4, 8),
                                            normal(2, 6, 4, 8)), {}),
    ("attention_grouped_causal", "dot_product_attention",
     (normal(2, 5, 4, 8), normal(2, 5, 2, 8), normal(2, 5, 2, 8)),
     {"is_causal": True, "scale": 0.3}),
    ("attention_mask", "dot_product_attention",
     (normal(2, 5, 4, 8), normal(2, 6, 1, 8), normal(2, 6, 1, 8)),
     {"mask": RNG.random((2, 1, 5, 6)) > 0.3}),
    ("attention_bias", "dot_product_attention",
     (normal(2, 5, 4, 8), normal(2, 6, 4, 8), normal(2, 6, 4, 8)), {"bias": normal(1, 4, 5, 6)}),
    ("polar", "polar", (normal(3), normal(3)), {}),
    ("polar_int", "polar", (np.arange(3), np.arange(3)), {}),
    ("psnr", "psnr", (normal(2, 4), normal(2, 4), 2.0), {}),
    # image
    ("rgb_to_grayscale", "image.rgb_to_grayscale", (IMG,), CL),
    ("rgb_to_grayscale_cf", "image.rgb_to_grayscale", (IMG_CF,), CF),
    ("rgb_to_grayscale_uint8", "image.rgb_to_grayscale", ((IMG * 255).astype("uint8"),), CL),
    ("rgb_to_hsv", "image.rgb_to_hsv", (IMG,), CL),
    ("rgb_to_hsv_cf", "image.rgb_to_hsv", (IMG_CF,), CF),
    ("hsv_to_rgb", "image.hsv_to_rgb", (IMG,), CL),
    ("hsv_to_rgb_cf", "image.hsv_to_rgb", (IMG_CF[0],), CF),
    ("resize", "image.resize", (IMG, (7, 4)), CL),
    ("resize_cf", "image.resize", (IMG_CF, (3, 9)), CF),
    ("resize_nearest", "image.resize", (IMG, (8, 8)), {"interpolation": "nearest", **CL}),
    ("resize_crop", "image.resize", (IMG, (4, 4)), {"crop_to_aspect_ratio": True, **CL}),
    ("resize_pad", "image.resize", (IMG, (4, 4)),
     {"pad_to_aspect_ratio": True, "fill_value": 0.5, **CL}),
    ("map_coordinates", "image.map_coordinates",
     (normal(4, 5), RNG.uniform(-2, 6, (2, 3, 7)).astype("float32"), 1), {}),
    ("map_coordinates_wrap", "image.map_coordinates",
     (normal(4, 5, 3), RNG.uniform(-2, 6, (3, 9)).astype("float32"), 0), {"fill_mode": "wrap"}),
    ("map_coordinates_mirror", "image.map_coordinates",
     (normal(4, 5), RNG.uniform(-3, 7, (2, 9)).astype("float32"), 1),
     {"fill_mode": "mirror", "fill_value": 2.0}),
    ("pad_images", "image.pad_images", (IMG, 1, 2), {"target_height": 8, "target_width": 9, **CL}),
    ("pad_images_cf", "image.pad_images", (IMG_CF,),
     {"bottom_padding": 2, "top_padding": 1, "right_padding": 0, "target_width": 9, **CF}),
    ("crop_images", "image.crop_images", (IMG, 1, 2),
     {"target_height": 3, "target_width": 2, **CL}),
    ("crop_images_cf", "image.crop_images", (IMG_CF[0],),
     {"bottom_cropping": 2, "top_cropping": 1, "right_cropping": 1, "target_width": 3, **CF}),
    ("extract_patches", "image.extract_patches", (uniform(2, 8, 9, 3), 2), CL),
    ("extract_patches_cf_same", "image.extract_patches", (uniform(2, 3, 8, 9), (3, 2)),
     {"strides": (2, 3), "padding": "same", **CF}),
    ("extract_patches_dilated", "image.extract_patches", (uniform(8, 9, 3), 3),
     {"strides": 1, "dilation_rate": 2, **CL}),
    ("extract_patches_3d", "image.extract_patches_3d", (uniform(2, 6, 5, 4, 2), 2), CL),
    ("extract_patches_3d_same", "image.extract_patches_3d", (uniform(5, 6, 4, 2), (2, 3, 2)),
     {"strides": 1, "padding": "same", **CL}),
    ("gaussian_blur", "image.gaussian_blur", (IMG,), CL),
    ("gaussian_blur_cf", "image.gaussian_blur", (IMG_CF,),
     {"kernel_size": (5, 5), "sigma": (1.5, 0.7), **CF}),
    ("sobel_edges", "image.sobel_edges", (IMG,), CL),
    ("sobel_edges_cf", "image.sobel_edges", (IMG_CF,), CF),
    ("ssim", "image.ssim", (uniform(2, 12, 13, 3), uniform(2, 12, 13, 3)), CL),
    ("ssim_cf", "image.ssim", (uniform(3, 12, 13), uniform(3, 12, 13)),
     {"filter_size": 5, "max_val": 2.0, **CF}),
    ("scale_and_translate", "image.scale_and_translate",
     (normal(5, 6), (8, 4), np.array([1.6, 0.7], "float32"), np.array([0.3, -0.2], "float32"),
      (0, 1), "linear"), {}),
    ("scale_and_translate_cubic", "image.scale_and_translate",
     (normal(2, 5, 6, 3), (2, 8, 4, 3), np.array([1.6, 0.7], "float32"),
      np.array([0.3, -0.2], "float32"), (1, 2), "cubic"), {"antialias": False}),
    ("scale_and_translate_lanczos", "image.scale_and_translate",
     (normal(5, 6), (8, 4), np.array([1.6, 0.7], "float32"), np.array([0.3, -0.2], "float32"),
      (0, 1), "lanczos3"), {}),
    ("affine_transform_cf", "image.affine_transform", (IMG_CF[0], TRANSFORMS[0]), CF),
    ("perspective_transform_cf", "image.perspective_transform", (IMG_CF, START, END),
     {"fill_value": 0.2, **CF}),
] + [
    (f"affine_transform_{interpolation}_{mode}", "image.affine_transform", (IMG, TRANSFORMS),
     {"interpolation": interpolation, "fill_mode": mode, "fill_value": 0.5, **CL})
    for interpolation in ("bilinear", "nearest")
    for mode in ("constant", "nearest", "wrap", "mirror", "reflect")
] + [
    (f"perspective_transform_{interpolation}", "image.perspective_transform", (IMG, START, END),
     {"interpolation": interpolation, **CL}) for interpolation in ("bilinear", "nearest")
]
# Keras's torch unfold/fold want torch tensors.
TENSOR_INPUTS = {"unfold", "fold"}
CASES += [
    ("unfold", "unfold", (normal(2, 3, 7, 6), 3), {}),
    ("unfold_options", "unfold", (normal(2, 3, 7, 6), (2, 3)),
     {"dilation": (2, 1), "padding": (1, 2), "stride": (2, 3)}),
    ("fold", "fold", (normal(2, 27, 20), (7, 6), 3), {}),
    ("fold_options", "fold", (normal(2, 18, 12), (7, 6), (2, 3)),
     {"dilation": (2, 1), "padding": (1, 2), "stride": (2, 3)}),
]


def _function(module, path):
    for part in path.split("."):
        module = getattr(module, part)
    return module


def _leaves(value):
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_op_matches_keras(case):
    keras = import_keras()
    _, path, args, kwargs = case
    theirs_args = args
    if path in TENSOR_INPUTS:
        theirs_args = (keras.ops.convert_to_tensor(args[0]),) + args[1:]
    theirs = _function(keras.ops, path)(*theirs_args, **kwargs)
    ours = _function(ops, path)(*args, **kwargs)
    their_leaves, our_leaves = _leaves(theirs), _leaves(ours)
    assert len(our_leaves) == len(their_leaves), f"{path}: {len(our_leaves)} outputs"
    for index, (a, b) in enumerate(zip(our_leaves, their_leaves)):
        a, b = to_numpy(a), to_numpy(b)
        assert a.dtype == b.dtype, f"{path} output {index}: dtype {a.dtype} != Keras {b.dtype}"
        assert_matches(a, b, rtol=1e-4, atol=1e-4, what=f"{path} output {index}")


def test_integer_images_resize_rounded_in_their_dtype():
    keras = import_keras()
    images = (IMG * 255).astype("uint8")
    ours = to_numpy(ops.image.resize(images, (7, 9), data_format="channels_last"))
    theirs = to_numpy(keras.ops.image.resize(images, (7, 9), data_format="channels_last"))
    assert ours.dtype == theirs.dtype == np.uint8
    # float32 sums in another order can land a .5 on the other side: at most 1 apart
    assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 1


def test_float64_precision_of_erfc_and_erfinv():
    keras = import_keras()
    x = np.linspace(-6, 26, 60)
    theirs = to_numpy(keras.ops.erfc(x))
    np.testing.assert_allclose(ops.erfc(x).numpy(), theirs, rtol=1e-12)
    p = np.concatenate([np.linspace(-0.99999999, 0.99999999, 60), [1e-12, -3e-9]])
    np.testing.assert_allclose(ops.erfinv(p).numpy(), to_numpy(keras.ops.erfinv(p)),
                               rtol=1e-12, atol=0)


def test_decompositions_reconstruct_their_input():
    keras = import_keras()
    u, s, vh = (to_numpy(t) for t in ops.svd(RECT))
    assert (u.shape, s.shape, vh.shape) == ((5, 5), (3,), (3, 3))
    np.testing.assert_allclose((u[:, :3] * s) @ vh, RECT, atol=1e-5)
    assert_matches(s, keras.ops.svd(RECT)[1], rtol=1e-5, atol=1e-5)
    values, vectors = (to_numpy(t) for t in ops.eigh(SPD))
    assert_matches(values, keras.ops.eigh(SPD)[0], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(vectors @ (values[..., None] * vectors.transpose(0, 2, 1)), SPD,
                               atol=1e-4)
    lu, pivots = (to_numpy(t) for t in ops.lu_factor(A))
    for k in range(2):
        rows = np.arange(4)
        for i, p in enumerate(pivots[k]):
            rows[[i, p]] = rows[[p, i]]
        lower = np.tril(lu[k], -1) + np.eye(4)
        np.testing.assert_allclose(lower @ np.triu(lu[k]), A[k][rows], atol=1e-5)


def test_istft_inverts_stft():
    spectrum = ops.stft(SIGNAL, 16, 4, 16)
    np.testing.assert_allclose(ops.istft(spectrum, 16, 4, 16).numpy(), SIGNAL, atol=1e-5)
    assert tuple(ops.istft(spectrum, 16, 4, 16, length=35).shape) == (2, 35)


def test_segments_follow_tensorflow_for_empty_segments():
    data = np.array([1.0, 5.0, 2.0], "float32")
    out = ops.segment_max(data, np.array([0, 0, 2]), num_segments=4).numpy()
    np.testing.assert_array_equal(out, [5.0, np.finfo("float32").min, 2.0,
                                        np.finfo("float32").min])
    assert ops.segment_prod(data, np.array([3, 3, 7]), num_segments=2).numpy().tolist() == \
        [1.0, 1.0]


def test_jvp_matches_torch_func_jvp():
    import torch

    def ours(x, y):
        return {"a": ops.sin(x) * y, "b": x + y}

    primals = (np.array([0.3, 0.5]), np.array([2.0, 3.0]))
    tangents = (np.array([1.0, 0.5]), np.array([0.2, 0.1]))
    out, tangent = ops.jvp(ours, tuple(map(tf.constant, primals)),
                           tuple(map(tf.constant, tangents)))
    their_out, their_tangent = torch.func.jvp(
        lambda x, y: {"a": torch.sin(x) * y, "b": x + y},
        tuple(map(torch.tensor, primals)), tuple(map(torch.tensor, tangents)))
    for key in ("a", "b"):
        assert_matches(out[key], their_out[key], rtol=1e-12)
        assert_matches(tangent[key], their_tangent[key], rtol=1e-12)
    _, cubic, aux = ops.jvp(lambda x: (x ** 3, "aux"), (tf.constant(primals[0]),),
                            (tf.constant(tangents[0]),), has_aux=True)
    assert aux == "aux"
    np.testing.assert_allclose(cubic.numpy(), 3 * primals[0] ** 2 * tangents[0])


def test_elastic_transform_is_seeded_and_zero_alpha_is_identity():
    first = ops.image.elastic_transform(IMG, seed=3, data_format="channels_last").numpy()
    again = ops.image.elastic_transform(IMG, seed=3, data_format="channels_last").numpy()
    other = ops.image.elastic_transform(IMG, seed=4, data_format="channels_last").numpy()
    assert first.shape == IMG.shape and first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).max() > 1e-3
    still = ops.image.elastic_transform(IMG_CF, alpha=0.0, data_format="channels_first")
    np.testing.assert_allclose(still.numpy(), IMG_CF, atol=1e-6)


def test_clear_errors():
    with pytest.raises(ValueError, match="attn_logits_soft_cap"):
        ops.dot_product_attention(X[None, :, None], X[None, :, None], X[None, :, None],
                                  attn_logits_soft_cap=20.0)
    with pytest.raises(ValueError, match="interpolation=gaussian"):
        ops.image.resize(IMG, (3, 3), interpolation="gaussian")
    with pytest.raises(ValueError, match="mode must be 'reduced' or 'complete'"):
        ops.qr(RECT, mode="r")
    with pytest.raises(ValueError, match="real and imaginary"):
        ops.fft(X)
    with pytest.raises(ValueError, match="exactly two of top_padding"):
        ops.image.pad_images(IMG, 1, 1)


_W = RNG.normal(size=(5,))
_SQ = RNG.normal(size=(3, 3)) + 3 * np.eye(3)
_DEPTHWISE, _POINTWISE = RNG.normal(size=(3, 2, 1)), RNG.normal(size=(1, 2, 3))
_TRANSPOSE_KERNEL = RNG.normal(size=(3, 2, 2))
_IMG64 = RNG.uniform(size=(1, 4, 5, 2))
_T64 = TRANSFORMS[:1].astype("float64")


def _gram(x):
    return ops.matmul(x, ops.transpose(x)) + np.eye(3)


@pytest.mark.parametrize("shape,fn", [
    ((3, 3), lambda x: ops.sum(ops.solve(x + 3 * np.eye(3), np.arange(6.0).reshape(3, 2)) ** 2)),
    ((3, 2), lambda x: ops.sum(ops.solve(_SQ, x) ** 2)),
    ((3, 3), lambda x: ops.sum(ops.cholesky(_gram(x)) * np.arange(9.0).reshape(3, 3))),
    ((3, 3), lambda x: ops.logdet(_gram(x))),
    ((3, 3), lambda x: ops.sum(ops.cholesky_inverse(x + 3 * np.eye(3)) * _W[:3])),
    ((3, 3), lambda x: ops.sum(ops.solve_triangular(x + 3 * np.eye(3), np.ones((3, 2))) ** 2)),
    ((4, 3), lambda x: ops.sum(ops.lstsq(x, np.arange(4.0)) ** 2)),
    ((1, 3, 2, 4), lambda x: ops.sum(ops.dot_product_attention(x, x * 0.5, x + 1.0,
                                                               is_causal=True) * _W[:4])),
    ((1, 6, 2), lambda x: ops.sum(ops.separable_conv(x, _DEPTHWISE, _POINTWISE,
                                                     padding="same") ** 2)),
    ((1, 4, 2), lambda x: ops.sum(ops.conv_transpose(x, _TRANSPOSE_KERNEL, 2, "same") ** 2)),
    ((2, 5), lambda x: ops.sum(ops.fft((x, x[::-1] * 0.5))[1] * _W)),
    ((12,), lambda x: ops.sum(ops.stft(x, 4, 2, 6)[0] ** 2)),
    ((5, 4), lambda x: ops.sum(ops.istft((x, x * 0.3), 6, 2, 6) * np.arange(8.0))),
    ((5,), lambda x: ops.sum(ops.erfinv(ops.tanh(x)) * _W)),
    ((5,), lambda x: ops.sum(ops.erfc(x * 2.0) * _W)),
    ((3, 2), lambda x: ops.sum(ops.cdist(x, x[:2] + 1.0))),
    ((1, 4, 5, 2), lambda x: ops.sum(ops.image.affine_transform(
        x, _T64, fill_mode="reflect", data_format="channels_last") * np.arange(40.0).reshape(
            1, 4, 5, 2))),
    ((1, 6), lambda t: ops.sum(ops.image.affine_transform(
        _IMG64, ops.pad(t, [[0, 0], [0, 2]]) * 0.1 + _T64, data_format="channels_last") ** 2)),
    ((2, 7), lambda c: ops.sum(ops.image.map_coordinates(_IMG64[0, ..., 0], c * 1.3 + 1.7, 1,
                                                         fill_mode="mirror") ** 2)),
    ((1, 4, 5, 2), lambda x: ops.sum(ops.image.resize(x, (3, 7),
                                                      data_format="channels_last") ** 2)),
    ((1, 6, 6, 1), lambda x: ops.sum(ops.image.ssim(x, 0.5 + 0.1 * x ** 2, filter_size=3,
                                                    data_format="channels_last"))),
    ((1, 2, 4, 4), lambda x: ops.sum(ops.fold(ops.unfold(x, 2) ** 2, (4, 4), 2) *
                                     np.arange(32.0).reshape(1, 2, 4, 4))),
    ((1, 2, 2, 3), lambda x: ops.sum(ops.image.rgb_to_hsv(ops.sigmoid(x),
                                                          data_format="channels_last") * _W[:3])),
], ids=["solve", "solve_rhs", "cholesky", "logdet", "cholesky_inverse", "solve_triangular",
        "lstsq", "dot_product_attention", "separable_conv", "conv_transpose", "fft", "stft",
        "istft", "erfinv", "erfc", "cdist", "affine_transform_images",
        "affine_transform_transforms", "map_coordinates", "resize", "ssim", "unfold_fold",
        "rgb_to_hsv"])
def test_gradients_match_central_differences(shape, fn):
    x = RNG.normal(size=shape)
    variable = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(variable)
        y = fn(variable)
    grad = tape.gradient(y, variable)
    assert grad is not None
    expected = central_difference(lambda v: float(fn(tf.constant(v))), x)
    np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-5, atol=1e-6)


def _model(lib):
    """The same Functional model in tensorflux or real Keras, one node per kind of op."""
    ops_ = lib.ops
    x = lib.Input((6, 8, 2), name="x")
    s = lib.Input((16,), name="s")
    v = lib.Input((4, 4), name="v")
    t = lib.Input((8,), name="t")
    spd = ops_.matmul(v, ops_.transpose(v, (0, 2, 1))) + ops_.eye(4)
    heads = ops_.reshape(x, (-1, 6, 2, 8))
    outputs = [
        ops_.separable_conv(x, RNG_KERNELS[0], RNG_KERNELS[1], padding="same"),
        ops_.depth_to_space(ops_.concatenate([x, x], -1), 2), ops_.space_to_depth(x, 2),
        ops_.unfold(ops_.transpose(x, (0, 3, 1, 2)), 3),
        ops_.dot_product_attention(heads, heads, heads, is_causal=True),
        ops_.fft((s, s * 2.0))[1], ops_.rfft(s, 10)[0], ops_.stft(s, 8, 4, 8)[0],
        ops_.erfc(s), ops_.erfinv(ops_.tanh(s) * 0.9), ops_.cdist(v, v),
        ops_.extract_sequences(s, 4, 3), ops_.logdet(spd), ops_.cholesky(spd, upper=True),
        ops_.solve(v + 4.0 * ops_.eye(4), v), ops_.svd(v, compute_uv=False),
        ops_.qr(v, mode="complete")[1], ops_.pinv(v),
        ops_.image.rgb_to_hsv(ops_.sigmoid(ops_.concatenate([x, x[..., :1]], -1))),
        ops_.image.resize(x, (3, 5)),
        ops_.image.affine_transform(x, t, fill_mode="reflect"),
        ops_.image.extract_patches(x, 2), ops_.image.pad_images(x, 1, 2, 1, 0),
        ops_.image.crop_images(x, 1, 2, target_height=3, target_width=4),
        ops_.image.gaussian_blur(x), ops_.image.sobel_edges(x),
        ops_.image.perspective_transform(x, START, END),
    ]
    return lib.Model([x, s, v, t], outputs)


RNG_KERNELS = (normal(3, 3, 2, 1), normal(1, 1, 2, 3))
MODEL_DATA = [uniform(2, 6, 8, 2), normal(2, 16), normal(2, 4, 4), TRANSFORMS]


def _predict(model):
    return [to_numpy(y) for y in model.predict(MODEL_DATA, verbose=0)]


def _assert_same(ours, theirs, what):
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert_matches(a, b, rtol=1e-4, atol=1e-4, what=f"{what}, output {i}")


def test_functional_nodes_have_keras_shapes_and_values():
    keras = import_keras()
    ours, theirs = _model(tfk), _model(keras)
    assert [tuple(o.shape) for o in ours.outputs] == [tuple(o.shape) for o in theirs.outputs]
    assert [o.dtype for o in ours.outputs] == [o.dtype for o in theirs.outputs]
    _assert_same(_predict(ours), _predict(theirs), "tensorflux against Keras")


def test_functional_nodes_save_and_load_both_ways(tmp_path):
    # needs the ops' rows in tensorflux/keras/ops/_saving.py's table
    keras = import_keras()
    ours, theirs = _model(tfk), _model(keras)
    reference = _predict(theirs)
    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    _assert_same(_predict(keras.models.load_model(tmp_path / "ours.keras")), reference,
                 "tensorflux file in Keras")
    _assert_same(_predict(tfk.models.load_model(tmp_path / "theirs.keras")), reference,
                 "Keras file in tensorflux")
