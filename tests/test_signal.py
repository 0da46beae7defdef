"""tf.signal and tf.image's HSV ops: the FFT primitives against numpy.fft in float64 with their
VJPs against central differences (the op-table harness, on rows of their own: ROWS), the
framing, STFT, window, mel and DCT functions against their defining formulas, and values
computed with real TensorFlow 2.21 where TensorFlow's own numerics are the reference."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import errors
from tests.ops import harness
from tests.ops.harness import Row
from tests.tolerances import assert_close

signal = tf.signal


def _pair(z):
    """A complex tensor as its [real, imaginary] outputs (the harness compares real ones)."""
    return [tf.math.real(z), tf.math.imag(z)]


def _np_pair(z):
    return [z.real, z.imag]


def _complex_fn(transform):
    return lambda re, im: _pair(transform(tf.complex(re, im)))


def _np_complex_fn(transform):
    return lambda re, im: _np_pair(transform(re + 1j * im))


def _np_frame(x, length, step):
    count = max(0, 1 + (x.shape[-1] - length) // step)
    return np.stack([x[..., f * step:f * step + length] for f in range(count)], axis=-2)


def _np_overlap_add(frames, step):
    count, length = frames.shape[-2:]
    out = np.zeros(frames.shape[:-2] + ((count - 1) * step + length,))
    for f in range(count):
        out[..., f * step:f * step + length] += frames[..., f, :]
    return out


def _np_hann(length):  # periodic, even length
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / length)


def _np_dct(x, kind, norm=None):
    """The DCTs by their defining sums (TensorFlow's and scipy's definitions)."""
    n = x.shape[-1]
    k, m = np.arange(n)[:, None], np.arange(n)[None, :]
    if kind == 1:
        weights = np.where((m == 0) | (m == n - 1), 1.0, 2.0)
        return x @ (weights * np.cos(np.pi * k * m / (n - 1))).T
    if kind == 2:
        y = x @ (2 * np.cos(np.pi * k * (2 * m + 1) / (2 * n))).T
        if norm == "ortho":
            y = y / np.sqrt(2 * n)
            y[..., 0] /= np.sqrt(2)
        return y
    if kind == 3:
        if norm == "ortho":
            x = x.copy() / np.sqrt(2 * n)
            x[..., 0] *= np.sqrt(2)
        weights = np.where(m == 0, 1.0, 2.0)
        return x @ (weights * np.cos(np.pi * m * (2 * k + 1) / (2 * n))).T
    y = x @ (2 * np.cos(np.pi * (2 * m + 1) * (2 * k + 1) / (4 * n))).T
    return y / np.sqrt(2 * n) if norm == "ortho" else y


def _np_stft(x, length, step, fft_length):
    return np.fft.rfft(_np_frame(x, length, step) * _np_hann(length), fft_length)


def _np_inverse_stft(re, im, length, step):
    frames = np.fft.irfft(re + 1j * im, length) * _np_hann(length)
    return _np_overlap_add(frames, step)


_C = harness.uniform((3, 8), (3, 8))
ROWS = [
    Row("signal_fft", _complex_fn(signal.fft), _np_complex_fn(np.fft.fft), _C,
        second_order=True, atol=2e-5),
    Row("signal_ifft", _complex_fn(signal.ifft), _np_complex_fn(np.fft.ifft), _C),
    Row("signal_fft2d", _complex_fn(signal.fft2d), _np_complex_fn(np.fft.fft2), _C, atol=2e-5),
    Row("signal_ifft2d", _complex_fn(signal.ifft2d), _np_complex_fn(np.fft.ifft2),
        harness.uniform((2, 3, 4), (2, 3, 4))),
    Row("signal_fft3d", _complex_fn(signal.fft3d), _np_complex_fn(np.fft.fftn),
        harness.uniform((2, 3, 4), (2, 3, 4)), atol=2e-5),
    Row("signal_ifft3d", _complex_fn(signal.ifft3d),
        _np_complex_fn(lambda z: np.fft.ifftn(z, axes=(-3, -2, -1))),
        harness.uniform((2, 2, 3, 2), (2, 2, 3, 2))),
    Row("signal_rfft", lambda x: _pair(signal.rfft(x)), lambda x: _np_pair(np.fft.rfft(x)),
        harness.uniform((3, 7)), second_order=True),
    Row("signal_rfft_padded", lambda x: _pair(signal.rfft(x, [10])),
        lambda x: _np_pair(np.fft.rfft(x, 10)), harness.uniform((2, 7))),
    Row("signal_rfft_cropped", lambda x: _pair(signal.rfft(x, [4])),
        lambda x: _np_pair(np.fft.rfft(x, 4)), harness.uniform((2, 7))),
    Row("signal_rfft2d", lambda x: _pair(signal.rfft2d(x, [4, 6])),
        lambda x: _np_pair(np.fft.rfft2(x, (4, 6))), harness.uniform((2, 3, 5))),
    Row("signal_rfft3d", lambda x: _pair(signal.rfft3d(x)),
        lambda x: _np_pair(np.fft.rfftn(x, axes=(-3, -2, -1))), harness.uniform((2, 3, 3))),
    Row("signal_irfft_even", lambda re, im: signal.irfft(tf.complex(re, im)),
        lambda re, im: np.fft.irfft(re + 1j * im), harness.uniform((3, 5), (3, 5)),
        second_order=True),
    Row("signal_irfft_odd_cropped", lambda re, im: signal.irfft(tf.complex(re, im), [5]),
        lambda re, im: np.fft.irfft(re + 1j * im, 5), harness.uniform((2, 5), (2, 5))),
    Row("signal_irfft_padded", lambda re, im: signal.irfft(tf.complex(re, im), [12]),
        lambda re, im: np.fft.irfft(re + 1j * im, 12), harness.uniform((2, 4), (2, 4))),
    Row("signal_irfft2d", lambda re, im: signal.irfft2d(tf.complex(re, im), [3, 5]),
        lambda re, im: np.fft.irfft2(re + 1j * im, (3, 5)), harness.uniform((4, 3), (4, 3))),
    Row("signal_irfft3d", lambda re, im: signal.irfft3d(tf.complex(re, im)),
        lambda re, im: np.fft.irfftn(re + 1j * im, axes=(-3, -2, -1)),
        harness.uniform((2, 2, 3), (2, 2, 3))),
    Row("signal_frame", lambda x: signal.frame(x, 4, 3), lambda x: _np_frame(x, 4, 3),
        harness.uniform((2, 11))),
    Row("signal_overlap_and_add", lambda x: signal.overlap_and_add(x, 3),
        lambda x: _np_overlap_add(x, 3), harness.uniform((2, 4, 7))),
    Row("signal_stft", lambda x: _pair(signal.stft(x, 8, 3, fft_length=10)),
        lambda x: _np_pair(_np_stft(x, 8, 3, 10)), harness.uniform((2, 20))),
    Row("signal_inverse_stft", lambda re, im: signal.inverse_stft(tf.complex(re, im), 8, 3),
        lambda re, im: _np_inverse_stft(re, im, 8, 3), harness.uniform((3, 5), (3, 5))),
    *[Row(f"signal_dct{kind}{'_ortho' if norm else ''}",
          lambda x, kind=kind, norm=norm: signal.dct(x, type=kind, norm=norm),
          lambda x, kind=kind, norm=norm: _np_dct(x, kind, norm), harness.uniform((2, 6)))
      for kind, norm in [(1, None), (2, None), (2, "ortho"), (3, None), (3, "ortho"),
                         (4, None), (4, "ortho")]],
    Row("signal_dct2_n", lambda x: signal.dct(x, n=8),
        lambda x: _np_dct(np.pad(x, [(0, 0), (0, 3)]), 2), harness.uniform((2, 5))),
    Row("signal_mfccs", signal.mfccs_from_log_mel_spectrograms,
        lambda x: _np_dct(x, 2) / np.sqrt(2 * x.shape[-1]), harness.uniform((3, 6))),
]
_FORWARD = [(row, dtype) for row in ROWS for dtype in row.dtypes]


@pytest.mark.parametrize("row,dtype", _FORWARD, ids=[f"{r.name}-{d}" for r, d in _FORWARD])
def test_forward_matches_numpy(row, dtype):
    harness.check_forward(row, dtype)


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_vjp_matches_finite_differences(row):
    harness.check_vjp(row)


_SECOND = [row for row in ROWS if row.second_order]


@pytest.mark.parametrize("row", _SECOND, ids=[r.name for r in _SECOND])
def test_second_order_gradient(row):
    harness.check_second_order(row)


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_shape_rules_agree_with_kernels(row):
    harness.check_shape_rules(row)


# ------------------------------------------------------------------ transforms

def test_transforms_keep_the_precision_and_follow_tensorflows_gradient_convention():
    z = np.array([1 + 2j, -0.5j, 3.0, 0.25 + 1j], np.complex64)
    assert signal.fft(z).dtype is tf.complex64
    assert signal.rfft(z.real).dtype is tf.complex64
    assert signal.irfft(tf.constant(z)).dtype is tf.float32
    assert signal.rfft([1, 2, 3]).dtype is tf.complex64  # Python ints convert as in TF
    # The gradient of a real loss is d/d re + i d/d im; for the FFT that is n * ifft(g).
    x = tf.constant(z.astype(np.complex128))
    weights = np.array([0.5 - 1j, 2.0, 1j, -1.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(tf.math.real(signal.fft(x) * tf.constant(weights)))
    np.testing.assert_allclose(tape.gradient(loss, x).numpy(), 4 * np.fft.ifft(np.conj(weights)))


def test_zero_length_transforms_give_empty_or_zero_results():
    assert signal.fft(tf.zeros([2, 0], tf.complex64)).shape == (2, 0)
    assert signal.rfft(tf.zeros([3, 4]), [0]).numpy().tolist() == [[0j]] * 3
    assert signal.irfft(tf.zeros([2, 0], tf.complex64), [4]).numpy().tolist() == [[0.0] * 4] * 2


def test_fftshift_and_ifftshift_roll_by_half():
    x = np.arange(20).reshape(4, 5)
    np.testing.assert_array_equal(signal.fftshift(x).numpy(), np.fft.fftshift(x))
    np.testing.assert_array_equal(signal.ifftshift(x, axes=1).numpy(),
                                  np.fft.ifftshift(x, axes=1))


def test_traced_transforms_match_eager_with_an_unknown_batch():
    @tf.function(input_signature=[tf.TensorSpec([None, 40], tf.float32)])
    def spectra(x):
        return (signal.stft(x, 16, 5, pad_end=True),
                signal.overlap_and_add(tf.reshape(x, [-1, 5, 8]), 3))

    x = np.random.default_rng(1).normal(size=(2, 40)).astype("float32")
    traced = spectra(x)
    eager = (signal.stft(x, 16, 5, pad_end=True), signal.overlap_and_add(x.reshape(2, 5, 8), 3))
    for a, b in zip(traced, eager):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-6)


def test_bad_arguments_name_the_op_and_what_was_expected():
    with pytest.raises(errors.InvalidArgumentError, match="fft: expected a complex64"):
        signal.fft(tf.ones([4]))
    with pytest.raises(errors.InvalidArgumentError, match="rfft2d: expected a tensor of rank"):
        signal.rfft2d(tf.ones([4]))
    with pytest.raises(errors.InvalidArgumentError, match="fft_length must be 1"):
        signal.rfft(tf.ones([4]), [2, 2])
    with pytest.raises(NotImplementedError, match="only axis=-1"):
        signal.dct(tf.ones([2, 3]), axis=0)
    with pytest.raises(errors.InvalidArgumentError, match="type-I DCT has no 'ortho'"):
        signal.dct(tf.ones([3]), type=1, norm="ortho")
    with pytest.raises(errors.InvalidArgumentError, match="Nyquist"):
        signal.linear_to_mel_weight_matrix(upper_edge_hertz=5000.0)


# ------------------------------------------------------------------ framing and windows

def test_frame_pads_the_end_along_any_axis():
    x = np.arange(14.0).reshape(7, 2)
    framed = signal.frame(x, 3, 2, pad_end=True, pad_value=-1.0, axis=0).numpy()
    assert framed.shape == (4, 3, 2)  # ceil(7 / 2) frames, the last reaching 2 rows past x
    padded = np.concatenate([x, np.full((2, 2), -1.0)])
    np.testing.assert_array_equal(framed, [padded[s:s + 3] for s in (0, 2, 4, 6)])
    assert signal.frame(np.ones(2), 3, 1).shape == (0, 3)


# tf.signal.hann_window(5) and hamming_window(6, periodic=False), from TensorFlow 2.21: an
# odd-length "periodic" window is the symmetric one.
HANN_5 = [0.0, 0.5, 1.0, 0.5, 0.0]
HAMMING_6_SYMMETRIC = [0.08, 0.3978522, 0.9121479, 0.9121478, 0.3978521, 0.08]


def test_windows_match_their_formula_and_tensorflows_odd_lengths():
    np.testing.assert_allclose(signal.hann_window(8).numpy(), _np_hann(8), atol=1e-7)
    n = np.arange(7)
    np.testing.assert_allclose(signal.hamming_window(7, periodic=False, dtype=tf.float64),
                               0.54 - 0.46 * np.cos(2 * np.pi * n / 6), rtol=1e-12)
    np.testing.assert_allclose(signal.hann_window(5).numpy(), HANN_5, atol=1e-7)
    np.testing.assert_allclose(signal.hamming_window(6, periodic=False).numpy(),
                               HAMMING_6_SYMMETRIC, atol=1e-6)
    assert signal.hann_window(1).numpy().tolist() == [1.0]
    assert signal.hann_window(0).shape == (0,)


def test_inverse_stft_with_the_dual_window_reconstructs_the_signal():
    x = np.random.default_rng(2).normal(size=(2, 64))
    spectrum = signal.stft(x, 16, 4)
    y = signal.inverse_stft(spectrum, 16, 4, window_fn=signal.inverse_stft_window_fn(4))
    np.testing.assert_allclose(y.numpy()[:, 12:-12], x[:, 12:-12], atol=1e-10)
    window = signal.inverse_stft_window_fn(3)(12, dtype=tf.float64).numpy()
    overlap = sum(np.roll(_np_hann(12) ** 2, 3 * k) for k in range(4))
    np.testing.assert_allclose(window, _np_hann(12) / overlap, rtol=1e-12)


# tf.signal.linear_to_mel_weight_matrix(4, 9, 8000, 100.0, 4000.0, tf.float64), from
# TensorFlow 2.21, rounded to 7 decimals.
MEL_4_9 = [[0.0, 0.0, 0.0, 0.0], [0.8550751, 0.1449249, 0.0, 0.0],
           [0.0, 0.8715502, 0.1284498, 0.0], [0.0, 0.1435098, 0.8564902, 0.0],
           [0.0, 0.0, 0.5652252, 0.4347748], [0.0, 0.0, 0.0854758, 0.9145242],
           [0.0, 0.0, 0.0, 0.6755206], [0.0, 0.0, 0.0, 0.3176077], [0.0, 0.0, 0.0, 0.0]]


def test_mel_weights_match_tensorflow():
    weights = signal.linear_to_mel_weight_matrix(4, 9, 8000, 100.0, 4000.0, tf.float64)
    np.testing.assert_allclose(weights.numpy(), MEL_4_9, atol=1e-7)
    assert signal.linear_to_mel_weight_matrix().shape == (129, 20)


def test_idct_inverts_dct_with_the_orthonormal_norm():
    x = np.random.default_rng(3).normal(size=(2, 9))
    for kind in (2, 3, 4):
        y = signal.idct(signal.dct(x, type=kind, norm="ortho"), type=kind, norm="ortho")
        np.testing.assert_allclose(y.numpy(), x, atol=1e-12)
    np.testing.assert_allclose(signal.idct(signal.dct(x, type=1), type=1).numpy(), 16 * x,
                               atol=1e-12)  # 2 (N - 1) x without a norm


# ------------------------------------------------------------------ tf.image HSV

# Images and the results of TensorFlow 2.21's tf.image ops on them (float32, rounded to 7
# decimals): grays, black, and colours in each sixth of the hue circle.
IMAGE = np.array([[[0.5, 0.5, 0.5], [0.2, 0.7, 0.7], [0.0, 0.0, 0.0], [1.0, 0.0, 1.0]],
                  [[0.9, 0.1, 0.3], [0.25, 0.6, 0.05], [0.3, 0.2, 0.8], [0.05, 0.4, 0.95]]],
                 "float32")
RGB_TO_HSV = [[[0.0, 0.0, 0.5], [0.5, 0.7142858, 0.7], [0.0, 0.0, 0.0], [0.8333333, 1.0, 1.0]],
              [[0.9583333, 0.8888888, 0.9], [0.2727273, 0.9166666, 0.6],
               [0.6944445, 0.75, 0.8], [0.6018519, 0.9473684, 0.95]]]
HSV = np.array([[[0.0, 1.0, 1.0], [1.0, 0.5, 0.8], [0.45, 0.3, 0.6], [0.9, 0.0, 0.4]]],
               "float32")
HSV_TO_RGB = [[[1.0, 0.0, 0.0], [0.8, 0.4, 0.4], [0.42, 0.6, 0.546], [0.4, 0.4, 0.4]]]
ADJUST_HUE_03 = [[[0.5, 0.5, 0.5], [0.6000001, 0.2, 0.7], [0.0, 0.0, 0.0], [1.0, 0.8000002, 0.0]],
                 [[0.4599998, 0.9, 0.1], [0.05, 0.36, 0.6], [0.8, 0.2, 0.22],
                  [0.95, 0.05, 0.5799998]]]
# adjust_hue(IMAGE * 4 - 2, -0.7): any value range, negative values included.
ADJUST_HUE_WIDE = [[[0.0, 0.0, 0.0], [0.4000003, -1.2, 0.8], [-2.0, -2.0, -2.0],
                    [2.0, 1.2000008, -2.0]],
                   [[-0.1600007, 1.6, -1.6], [-1.8, -0.56, 0.4000001], [1.2, -1.2, -1.1200001],
                    [1.8, -1.8, 0.3199992]]]
ADJUST_SATURATION_17 = [[[0.5, 0.5, 0.5], [0.0, 0.7, 0.7], [0.0, 0.0, 0.0], [1.0, 0.0, 1.0]],
                        [[0.9, 0.0, 0.225], [0.2181818, 0.6, 0.0], [0.1333332, 0.0, 0.8],
                         [0.0, 0.3694444, 0.95]]]
HUE_UINT8_025 = [[[127, 127, 127], [114, 51, 178], [0, 0, 0], [255, 127, 0]],
                 [[178, 229, 25], [12, 133, 153], [204, 51, 102], [242, 12, 217]]]
SATURATION_UINT8_2 = [[[127, 127, 127], [0, 178, 178], [0, 0, 0], [255, 0, 255]],
                      [[229, 0, 57], [55, 153, 0], [33, 0, 204], [0, 94, 242]]]


def test_hsv_ops_match_tensorflow():
    image = tf.image
    np.testing.assert_allclose(image.rgb_to_hsv(IMAGE).numpy(), RGB_TO_HSV, atol=1e-6)
    np.testing.assert_allclose(image.hsv_to_rgb(HSV).numpy(), HSV_TO_RGB, atol=1e-6)
    np.testing.assert_allclose(image.adjust_hue(IMAGE, 0.3).numpy(), ADJUST_HUE_03, atol=1e-6)
    np.testing.assert_allclose(image.adjust_hue(IMAGE * 4 - 2, -0.7).numpy(), ADJUST_HUE_WIDE,
                               atol=4e-6)
    np.testing.assert_allclose(image.adjust_saturation(IMAGE, 1.7).numpy(),
                               ADJUST_SATURATION_17, atol=1e-6)
    pixels = (IMAGE * 255).astype("uint8")
    hue = image.adjust_hue(pixels, 0.25)
    assert hue.dtype is tf.uint8
    np.testing.assert_allclose(hue.numpy(), HUE_UINT8_025, atol=1)
    np.testing.assert_allclose(image.adjust_saturation(pixels, 2.0).numpy(),
                               SATURATION_UINT8_2, atol=1)
    # float64 images are adjusted in float32, as TensorFlow does, and come back as float64.
    wide = image.adjust_hue(IMAGE.astype("float64"), 0.3)
    assert wide.dtype is tf.float64
    np.testing.assert_array_equal(wide.numpy(), image.adjust_hue(IMAGE, 0.3).numpy())


def test_hsv_round_trip_and_bad_input():
    x = np.random.default_rng(4).uniform(size=(3, 4, 3))
    np.testing.assert_allclose(tf.image.hsv_to_rgb(tf.image.rgb_to_hsv(x)).numpy(), x,
                               atol=1e-12)
    with pytest.raises(errors.InvalidArgumentError, match="rgb_to_hsv: expected float images"):
        tf.image.rgb_to_hsv(np.ones((2, 2, 3), "uint8"))
    with pytest.raises(errors.InvalidArgumentError, match="last dimension of 3"):
        tf.image.adjust_saturation(np.ones((2, 2, 4), "float32"), 2.0)
    with pytest.raises(errors.InvalidArgumentError, match=r"delta must be in \[-1, 1\]"):
        tf.image.adjust_hue(x, 1.5)


# ------------------------------------------------------------------ Keras and loading

def test_keras_fourier_ops_run_the_fft_primitives():
    from tensorflux.keras import ops
    from tests.ops.harness import ProbeTape

    x = tf.constant(np.random.default_rng(5).normal(size=(2, 64)))
    with ProbeTape() as probe:
        ops.fft((x, x))
        ops.istft(ops.stft(x, 16, 4, 16), 16, 4, 16)
    used = {node.primitive.name for node in probe._nodes}
    assert {"fft", "rfft", "irfft"} <= used and "matmul" not in used


def test_signal_loads_on_first_use_only():
    probe = ("import sys, tensorflux as tf\n"
             "before = 'tensorflux.signal' in sys.modules or 'numpy.fft' in sys.modules\n"
             "tf.signal.rfft([1.0, 2.0])\n"
             "print(before, 'tensorflux.signal' in sys.modules)")
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True,
                            text=True, timeout=120)
    assert result.stdout.split() == ["False", "True"], result.stderr
    assert_close(signal.rfft([1.0, 2.0]).numpy(), [3.0, -1.0], dtype="complex64")


def test_overlap_and_add_with_a_step_longer_than_the_frames_leaves_gaps():
    # (TF 2.21: tf.signal.overlap_and_add(tf.ones([2, 4]), 5) is [1, 1, 1, 1, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(signal.overlap_and_add(tf.ones([2, 4]), 5).numpy(),
                                  [1, 1, 1, 1, 0, 1, 1, 1, 1])
