"""keras.ops.math: top_k, in_top_k, logsumexp, segment reductions, rsqrt, erf and its
relatives, cdist, log-determinants, complex views, and Fourier transforms.

Keras passes complex signals as (real, imaginary) pairs of float tensors; the transforms run
tf.signal's FFTs on the complex tensor of the pair and give the pair of the result.
"""

import math as _math

import tensorflux as tf
from tensorflux.keras.ops._dispatch import (
    convert,
    float_operand,
    keras_op,
    result_type,
    static_shape,
)
from tensorflux.ops import composite


@keras_op
def top_k(x, k, sorted=True):  # noqa: A002 - Keras's argument name
    """(values, int32 indices) of the k largest entries along the last axis.

    >>> from tensorflux.keras import ops
    >>> values, indices = ops.top_k([1.0, 3.0, 2.0], 2)
    >>> values.numpy().tolist(), indices.numpy().tolist()
    ([3.0, 2.0], [1, 2])
    """
    values, indices = tf.math.top_k(convert(x), k=k, sorted=sorted)
    return values, tf.cast(indices, "int32")


@keras_op
def in_top_k(targets, predictions, k):
    """Whether each target's prediction is among that row's k largest."""
    predictions = convert(predictions)
    targets = tf.cast(convert(targets), "int32")
    picked = tf.gather(predictions, targets, batch_dims=1)
    larger = tf.reduce_sum(tf.cast(predictions > tf.expand_dims(picked, -1), "int32"), axis=-1)
    return tf.logical_and(larger < k, tf.math.is_finite(picked))


@keras_op
def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over `axis`, without overflow."""
    axis = list(axis) if isinstance(axis, (tuple, list)) else axis
    return tf.reduce_logsumexp(float_operand(x), axis=axis, keepdims=keepdims)


@keras_op
def rsqrt(x):
    return tf.math.rsqrt(float_operand(x))


@keras_op
def erf(x):
    return tf.math.erf(float_operand(x))


@keras_op
def erfc(x):
    """1 - erf(x), accurate where erf(x) is close to 1.

    >>> from tensorflux.keras import ops
    >>> [round(v, 7) for v in ops.erfc([0.0, 3.0]).numpy().tolist()]
    [1.0, 2.21e-05]
    """
    return _erfc(float_operand(x))


def _erfc(x):
    magnitude = tf.abs(x)
    # Below 2, 1 - erf loses under 3 digits; beyond, the continued fraction
    # erfc(z) = exp(-z^2) / sqrt(pi) / (z + (1/2) / (z + 1 / (z + (3/2) / (z + ...))))
    # reaches float64 precision in 40 terms. It is evaluated at z >= 2 only, so the branch
    # not taken stays finite and passes no NaN into gradients.
    z = tf.maximum(magnitude, tf.cast(2.0, x.dtype))
    fraction = tf.zeros_like(z)
    for k in range(40, 0, -1):
        fraction = (k / 2) / (z + fraction)
    tail = tf.exp(-tf.square(z)) / (_math.sqrt(_math.pi) * (z + fraction))
    upper = tf.where(magnitude < 2.0, 1.0 - tf.math.erf(magnitude), tail)
    return tf.where(x < 0, 2.0 - upper, upper)


# Giles's single-precision approximation of erfinv ("Approximating the erfinv function",
# 2010): polynomials in w = -log(1 - x^2), for w < 5 (in w - 2.5) and beyond (in sqrt(w) - 3).
_ERFINV_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06,
                   0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_ERFINV_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844,
                0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)


def _polynomial(coefficients, w):
    total = tf.zeros_like(w) + coefficients[0]
    for c in coefficients[1:]:
        total = total * w + c
    return total


@keras_op
def erfinv(x):
    """The inverse of erf on (-1, 1) (+-inf at +-1).

    Giles's approximation refined by Newton steps on erf; the last step is written so that
    its gradient is the exact derivative sqrt(pi) / 2 * exp(erfinv(x)^2).

    >>> from tensorflux.keras import ops
    >>> round(float(ops.erfinv(0.5)), 6)
    0.476936
    """
    x = float_operand(x)
    edge = tf.abs(x) == 1.0
    infinity = tf.constant(float("inf"), x.dtype)
    edge_values = tf.where(x > 0, infinity, -infinity)
    x = tf.where(edge, tf.zeros_like(x), x)  # (computed as 0, the edges are set at the end)
    w = -tf.math.log((1.0 - x) * (1.0 + x))
    central = _polynomial(_ERFINV_CENTRAL, w - 2.5)
    tail = _polynomial(_ERFINV_TAIL, tf.sqrt(tf.maximum(w, tf.cast(5.0, x.dtype))) - 3.0)
    y = tf.where(w < 5.0, central, tail) * x
    half_root_pi = _math.sqrt(_math.pi) / 2

    def residual(y):  # erf(y) - x; near +-1 as (1 - |x|) - erfc(|y|), which keeps its digits
        near_one = tf.sign(x) * ((1.0 - tf.abs(x)) - _erfc(tf.abs(y)))
        return tf.where(tf.abs(x) < 0.5, tf.math.erf(y) - x, near_one)

    if x.dtype.name == "float64":  # (float32 needs the one step below only)
        y = y - residual(y) * half_root_pi * tf.exp(tf.square(y))
    y = tf.stop_gradient(y)
    y = y - residual(y) * tf.stop_gradient(half_root_pi * tf.exp(tf.square(y)))
    return tf.where(edge, edge_values, y)


@keras_op
def logdet(x):
    """log(det(x)) of square matrices, as torch.logdet: NaN where the determinant is negative
    (its log is not real), -inf where it is zero."""
    sign, log_abs = tf.linalg.slogdet(float_operand(x))
    nan = tf.constant(float("nan"), log_abs.dtype)
    return tf.where(sign < 0, nan, log_abs)  # (a zero determinant's log_abs is already -inf)


@keras_op
def cdist(x, y):
    """Euclidean distances between the rows of x (..., m, d) and y (..., n, d): (..., m, n).

    >>> from tensorflux.keras import ops
    >>> ops.cdist([[0.0, 0.0]], [[3.0, 4.0], [0.0, 1.0]]).numpy().tolist()
    [[5.0, 1.0]]
    """
    dtype = result_type(x, y, float)
    x, y = convert(x, dtype), convert(y, dtype)
    if len(static_shape(x)) < 2 or len(static_shape(y)) < 2:
        raise ValueError(f"cdist: inputs must have rank >= 2 (..., rows, features), received "
                         f"shapes {static_shape(x)} and {static_shape(y)}")
    if static_shape(x)[-1] != static_shape(y)[-1]:
        raise ValueError(f"cdist: the inputs' last dimensions must match, received shapes "
                         f"{static_shape(x)} and {static_shape(y)}")
    difference = tf.expand_dims(x, -2) - tf.expand_dims(y, -3)
    return tf.sqrt(tf.reduce_sum(tf.square(difference), axis=-1))


@keras_op
def view_as_complex(x):
    """A real tensor (..., 2) of (real, imaginary) pairs as a complex64 tensor (...)."""
    x = convert(x)
    if not static_shape(x) or static_shape(x)[-1] != 2:
        raise ValueError("view_as_complex: the last dimension must be 2 (real and imaginary), "
                         f"received shape {static_shape(x)}")
    return tf.complex(tf.cast(x[..., 0], "float32"), tf.cast(x[..., 1], "float32"))


@keras_op
def view_as_real(x):
    """A complex tensor (...) as a real tensor (..., 2) of (real, imaginary) pairs."""
    x = convert(x)
    return tf.stack([tf.math.real(x), tf.math.imag(x)], axis=-1)


# ---------------------------------------------------------------------- segments
# (Keras's segment ops drop ids outside [0, num_segments), where tf.math's refuse ids past
# the end as TF's CPU kernels do: hence the unchecked forms.)
def _segments(data, segment_ids, num_segments):
    data = convert(data)
    segment_ids = tf.cast(convert(segment_ids), "int32")
    if len(static_shape(segment_ids)) != 1:
        raise ValueError("segment_ids must be a vector (one id per row of data), received "
                         f"shape {static_shape(segment_ids)}")
    if num_segments is None:
        num_segments = int(tf.reduce_max(segment_ids)) + 1
    return data, segment_ids, num_segments


@keras_op
def segment_sum(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
    """Sums of the rows of `data` sharing a segment id; rows with an id outside
    [0, num_segments) (a -1 marking padding) are dropped, as in Keras.

    >>> from tensorflux.keras import ops
    >>> ops.segment_sum([1, 2, 10, 20], [0, -1, 1, 1], 2).numpy().tolist()
    [1, 30]
    """
    return composite.unchecked_segment_sum(*_segments(data, segment_ids, num_segments))


@keras_op
def segment_max(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
    """Maxima of the rows of `data` per segment id; an empty segment holds the dtype's
    lowest value (TensorFlow's convention) and ids outside [0, num_segments) are dropped.

    >>> from tensorflux.keras import ops
    >>> ops.segment_max([1, 2, 10, 20], [0, 0, 1, 1], 2).numpy().tolist()
    [2, 20]
    """
    return composite.unchecked_segment_max(*_segments(data, segment_ids, num_segments))


@keras_op
def segment_min(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
    """Minima of the rows of `data` per segment id (an empty segment holds the highest)."""
    return composite.unchecked_segment_min(*_segments(data, segment_ids, num_segments))


@keras_op
def segment_prod(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
    """Products of the rows of `data` per segment id (an empty segment holds 1).

    >>> from tensorflux.keras import ops
    >>> ops.segment_prod([1, 2, 10, 20], [0, 0, 1, 1]).numpy().tolist()
    [2, 200]
    """
    data, segment_ids, num_segments = _segments(data, segment_ids, num_segments)
    # members[n, s]: row n belongs to segment s; other rows count as the product's identity.
    members = tf.one_hot(segment_ids, num_segments, on_value=True, off_value=False,
                         dtype="bool")
    members = tf.reshape(members, static_shape(members) + (1,) * (len(static_shape(data)) - 1))
    picked = tf.where(members, tf.expand_dims(data, 1), tf.ones_like(tf.expand_dims(data, 1)))
    return tf.reduce_prod(picked, axis=0)


# ---------------------------------------------------------------------- Fourier transforms
def _complex_pair(x, what):
    """The (real, imaginary) float tensors of a Keras complex pair, checked."""
    if not isinstance(x, (tuple, list)) or len(x) != 2:
        raise ValueError(f"{what}: expected a tuple of two tensors, the real and imaginary "
                         f"parts; received {type(x).__name__} {x!r}")
    real, imag = convert(x[0]), convert(x[1])
    if static_shape(real) != static_shape(imag):
        raise ValueError(f"{what}: the real and imaginary parts must have one shape, received "
                         f"{static_shape(real)} and {static_shape(imag)}")
    if not (real.dtype.is_floating and imag.dtype.is_floating):
        raise ValueError(f"{what}: the real and imaginary parts must be floating point, "
                         f"received {real.dtype.name} and {imag.dtype.name}")
    if not static_shape(real):
        raise ValueError(f"{what}: expected inputs of rank >= 1, received a scalar")
    dtype = result_type(real, imag)
    return tf.cast(real, dtype), tf.cast(imag, dtype)


def _transform_dtype(x):
    """The float dtype a transform of x runs in: x's own, half precision widened to float32."""
    return x.dtype if x.dtype.name in ("float32", "float64") else "float32"


def _as_complex(real, imag):
    """The complex tensor of a float pair."""
    dtype = _transform_dtype(real)
    return tf.complex(tf.cast(real, dtype), tf.cast(imag, dtype))


def _as_pair(z, dtype):
    """A complex tensor as its (real, imaginary) pair in `dtype`."""
    return tf.cast(tf.math.real(z), dtype), tf.cast(tf.math.imag(z), dtype)


@keras_op
def fft(x):
    """The discrete Fourier transform along the last axis of a (real, imag) pair.

    >>> from tensorflux.keras import ops
    >>> real, imag = ops.fft(([1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0]))
    >>> real.numpy().tolist(), imag.numpy().tolist()
    ([10.0, -2.0, -2.0, -2.0], [0.0, 2.0, 0.0, -2.0])
    """
    real, imag = _complex_pair(x, "fft")
    return _as_pair(tf.signal.fft(_as_complex(real, imag)), real.dtype)


@keras_op
def fft2(x):
    """The 2-D discrete Fourier transform over the last two axes of a (real, imag) pair."""
    real, imag = _complex_pair(x, "fft2")
    return _as_pair(tf.signal.fft2d(_as_complex(real, imag)), real.dtype)


@keras_op
def ifft2(x):
    """The inverse of fft2 (scaled by 1 / (rows * columns))."""
    real, imag = _complex_pair(x, "ifft2")
    return _as_pair(tf.signal.ifft2d(_as_complex(real, imag)), real.dtype)


def _rfft(x, n):
    """The n // 2 + 1 non-negative-frequency terms of the DFT of real x (fitted to n)."""
    return tf.signal.rfft(tf.cast(x, _transform_dtype(x)), [n])


@keras_op
def rfft(x, fft_length=None):
    """The DFT of a real signal along its last axis: the fft_length // 2 + 1 terms of
    non-negative frequency as a (real, imag) pair; the signal is cropped or zero-padded to
    fft_length (default: its length).

    >>> from tensorflux.keras import ops
    >>> real, imag = ops.rfft([0.0, 1.0, 2.0, 3.0])
    >>> real.numpy().tolist(), imag.numpy().tolist()
    ([6.0, -2.0, -2.0], [0.0, 2.0, 0.0])
    """
    x = float_operand(x)
    if not static_shape(x):
        raise ValueError("rfft: expected an input of rank >= 1, received a scalar")
    n = static_shape(x)[-1] if fft_length is None else int(fft_length)
    return _as_pair(_rfft(x, n), x.dtype)


@keras_op
def irfft(x, fft_length=None):
    """The inverse of rfft: a real signal of length fft_length (default 2 * (bins - 1))
    from the non-negative-frequency terms of a (real, imag) pair.

    >>> from tensorflux.keras import ops
    >>> ops.irfft(([6.0, -2.0, -2.0], [0.0, 2.0, 0.0])).numpy().tolist()
    [0.0, 1.0, 2.0, 3.0]
    """
    real, imag = _complex_pair(x, "irfft")
    n = 2 * (static_shape(real)[-1] - 1) if fft_length is None else int(fft_length)
    return tf.cast(tf.signal.irfft(_as_complex(real, imag), [n]), real.dtype)


# Keras's (torch's) string windows: periodic cosine windows of these coefficients.
_WINDOWS = {"hann": (0.5, 0.5), "hamming": (0.54, 0.46)}


def _window(window, sequence_length, fft_length, dtype):
    """The analysis window (periodic Hann or Hamming, a given one, or ones), zero-padded on
    both sides to fft_length as torch.stft centres it."""
    from tensorflux.signal import _cosine_window

    if window is None:
        values = tf.ones([sequence_length], dtype)
    elif isinstance(window, str):
        if window not in _WINDOWS:
            raise ValueError("window: a string window must be 'hann' or 'hamming', received "
                             f"{window!r}")
        values = _cosine_window(_WINDOWS[window], sequence_length, sequence_length, dtype)
    else:
        values = convert(window, dtype)
        if static_shape(values) != (sequence_length,):
            raise ValueError(f"window: expected a window of shape ({sequence_length},) "
                             f"(sequence_length), received shape {static_shape(values)}")
    left = (fft_length - sequence_length) // 2
    return tf.pad(values, [[left, fft_length - sequence_length - left]])


def _check_frames(sequence_length, sequence_stride, fft_length):
    if isinstance(sequence_stride, bool) or not isinstance(sequence_stride, int) or \
            sequence_stride <= 0:
        raise ValueError("sequence_stride must be a positive integer, received "
                         f"{sequence_stride!r}")
    if fft_length < sequence_length:
        raise ValueError(f"fft_length ({fft_length}) must be at least sequence_length "
                         f"({sequence_length})")


@keras_op
def extract_sequences(x, sequence_length, sequence_stride):
    """Windows of `sequence_length` along the last axis, `sequence_stride` apart:
    (..., n) -> (..., 1 + (n - sequence_length) // sequence_stride, sequence_length).

    >>> from tensorflux.keras import ops
    >>> ops.extract_sequences([1, 2, 3, 4, 5, 6], 3, 2).numpy().tolist()
    [[1, 2, 3], [3, 4, 5]]
    """
    x = convert(x)
    if not static_shape(x):
        raise ValueError("extract_sequences: expected an input of rank >= 1, received a scalar")
    return tf.signal.frame(x, sequence_length, sequence_stride)


@keras_op
def stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True):
    """The short-time Fourier transform along the last axis: (real, imag) of shape
    (..., frames, fft_length // 2 + 1). Frames of fft_length samples, sequence_stride apart,
    are multiplied by the window (of sequence_length samples, centred) before their rfft;
    `center` reflect-pads the signal by fft_length // 2 on both sides first."""
    x = convert(x)
    if x.dtype.name not in ("float32", "float64"):
        raise TypeError(f"stft: expected a float32 or float64 signal, received {x.dtype.name}")
    _check_frames(sequence_length, sequence_stride, fft_length)
    if center:
        half = fft_length // 2
        x = tf.pad(x, [[0, 0]] * (len(static_shape(x)) - 1) + [[half, half]], mode="REFLECT")
    frames = tf.signal.frame(x, fft_length, sequence_stride)
    spectrum = _rfft(frames * _window(window, sequence_length, fft_length, x.dtype), fft_length)
    return _as_pair(spectrum, x.dtype)


@keras_op
def istft(x, sequence_length, sequence_stride, fft_length, length=None, window="hann",
          center=True):
    """The inverse of stft: the frames' irfft, windowed and overlap-added, divided by the
    summed squared window; `center` removes stft's padding, `length` crops the result (and
    zero-pads a short one only in torch.istft's case, as Keras on torch does).

    The default case (sequence_length == fft_length, centred, a window) divides by the
    squared windows actually overlapping each sample, as torch.istft; the others divide by
    their periodic sum, as tf.signal.inverse_stft_window_fn, both as Keras does."""
    from tensorflux.signal import _dual_window, _fit

    real, imag = _complex_pair(x, "istft")
    if len(static_shape(real)) < 2:
        raise ValueError("istft: expected inputs of rank >= 2 (..., frames, bins), received "
                         f"shape {static_shape(real)}")
    _check_frames(sequence_length, sequence_stride, fft_length)
    frames = tf.signal.irfft(_as_complex(real, imag), [fft_length])
    overlap_and_add = tf.signal.overlap_and_add
    if window is None:
        signal = overlap_and_add(frames, sequence_stride)
    elif sequence_length == fft_length and center:
        win = _window(window, sequence_length, fft_length, frames.dtype)
        count = static_shape(frames)[-2]
        envelope = overlap_and_add(tf.tile(tf.square(win)[None, :], [count, 1]),
                                   sequence_stride)
        signal = overlap_and_add(frames * win, sequence_stride)
        signal = signal / tf.where(envelope > 1e-11, envelope, tf.ones_like(envelope))
    else:
        win = _window(window, sequence_length, fft_length, frames.dtype)
        signal = overlap_and_add(frames * _dual_window(win, sequence_stride), sequence_stride)
    start = fft_length // 2 if center else 0
    total = static_shape(signal)[-1]
    if length is None:
        signal = signal[..., start:total - start]
    elif sequence_length == fft_length and center and window is not None:
        # torch.istft's case (Keras on torch) zero-pads a short result up to `length`
        signal = _fit(signal[..., start:], (int(length),))
    else:
        # Keras's own overlap-add only clips, on every backend: a short result stays short
        signal = signal[..., start:start + int(length)]
    return tf.cast(signal, real.dtype)


__all__ = ["cdist", "erf", "erfc", "erfinv", "extract_sequences", "fft", "fft2", "ifft2",
           "in_top_k", "irfft", "istft", "logdet", "logsumexp", "rfft", "rsqrt",
           "segment_max", "segment_min", "segment_prod", "segment_sum", "stft", "top_k",
           "view_as_complex", "view_as_real"]
