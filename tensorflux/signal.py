"""tf.signal: fast Fourier transforms (1-, 2- and 3-D, complex and real), framing and
overlap-add, short-time Fourier transforms and their inverse, windows, mel filter banks,
MFCCs and discrete cosine transforms. Loaded on first use of `tf.signal`.

The transforms are three primitives on the backends' FFT kernels: `fft` (complex, forward or
inverse), `rfft` (real to half spectrum) and `irfft` (half spectrum to real), each over the
innermost axes. Gradients follow TensorFlow's convention for complex values (d/d re + i d/d
im), so the VJP of a transform is its adjoint: the FFT's is n times the inverse FFT.
"""

import math as _pymath

from tensorflux import dtypes, errors
from tensorflux.ops import array, composite, indexing, linalg, reduction
from tensorflux.ops import math as tmath
from tensorflux.ops._core import as_operand, aval, normalize_axis
from tensorflux.ops._static import fold
from tensorflux.primitive import Primitive
from tensorflux.tensor import _TensorLike, convert_to_tensor

__all__ = ["fft", "ifft", "fft2d", "ifft2d", "fft3d", "ifft3d", "rfft", "irfft", "rfft2d",
           "irfft2d", "rfft3d", "irfft3d", "fftnd", "ifftnd", "rfftnd", "irfftnd", "fftshift",
           "ifftshift", "frame", "overlap_and_add",
           "stft", "inverse_stft", "inverse_stft_window_fn", "hann_window", "hamming_window",
           "kaiser_window", "kaiser_bessel_derived_window", "vorbis_window",
           "linear_to_mel_weight_matrix", "mfccs_from_log_mel_spectrograms", "dct", "idct",
           "mdct", "inverse_mdct"]

_COMPLEX_OF = {dtypes.float32: dtypes.complex64, dtypes.float64: dtypes.complex128}


# ------------------------------------------------------------------ operands

def _int(op, value, what, low=0):
    value = fold(op, value, what)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise errors.InvalidArgumentError(
            f"{op}: {what} must be an integer >= {low}, received {value!r}", op)
    return value


def _real_operand(op, x):
    """A float32 or float64 signal; Python and NumPy integers become float32, as TensorFlow
    converts them."""
    tensor = as_operand(op, x)
    if not isinstance(x, _TensorLike) and tensor.dtype.is_integer:
        tensor = tmath.cast(tensor, dtypes.float32)
    if tensor.dtype not in _COMPLEX_OF:
        raise errors.InvalidArgumentError(
            f"{op}: expected a float32 or float64 tensor, received {tensor.dtype.name}", op)
    return tensor


def _complex_operand(op, x, rank):
    """A complex64 or complex128 tensor of rank >= `rank`; Python and NumPy real values
    become complex64, as TensorFlow converts them."""
    tensor = as_operand(op, x)
    if not isinstance(x, _TensorLike) and not tensor.dtype.is_complex:
        tensor = tmath.cast(tensor, dtypes.complex64)
    if not tensor.dtype.is_complex:
        raise errors.InvalidArgumentError(
            f"{op}: expected a complex64 or complex128 tensor, received {tensor.dtype.name}",
            op)
    _check_rank(op, tensor, rank)
    return tensor


def _check_rank(op, x, rank):
    if x.shape.rank is not None and x.shape.rank < rank:
        raise errors.InvalidArgumentError(
            f"{op}: expected a tensor of rank >= {rank}, received shape {tuple(x.shape)}", op)


def _inner_dims(op, x, rank):
    """The sizes of x's last `rank` axes, which must be known."""
    _check_rank(op, x, rank)
    dims = tuple(x.shape)[-rank:]
    if None in dims:
        raise errors.InvalidArgumentError(
            f"{op}: the last {rank} dimension(s) must be known, received shape "
            f"{tuple(x.shape)}", op)
    return dims


def _fft_length(op, fft_length, default):
    if fft_length is None:
        return tuple(default)
    values = fold(op, fft_length, "fft_length")
    if not isinstance(values, (list, tuple)) or len(values) != len(default) or any(
            isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in values):
        raise errors.InvalidArgumentError(
            f"{op}: fft_length must be {len(default)} non-negative integer(s), received "
            f"{fft_length!r}", op)
    return tuple(values)


def _fit(x, sizes):
    """x cropped, or zero-padded at the end, along each of its last len(sizes) axes."""
    found = tuple(x.shape)[-len(sizes):]
    if any(f > s for f, s in zip(found, sizes)):
        x = x[(Ellipsis,) + tuple(slice(0, s) for s in sizes)]
    pads = [[0, max(0, s - f)] for f, s in zip(found, sizes)]
    if any(after for _, after in pads):
        x = array.pad(x, [[0, 0]] * (x.shape.rank - len(sizes)) + pads)
    return x


def _points(x, rank, dtype):
    """The number of points of a transform over x's last `rank` axes, as a scalar of
    `dtype` (read at run time where a size is unknown)."""
    dims = tuple(x.shape)[-rank:]
    if None not in dims:
        return as_operand("fft", float(_pymath.prod(dims)), dtype)
    return tmath.cast(reduction.reduce_prod(array.shape(x)[-rank:]), dtype)


# ------------------------------------------------------------------ primitives

def _fft_vjp(g, x, out, rank, inverse):
    # The DFT matrix F is symmetric, so the adjoint of F is conj(F) = n times the inverse
    # DFT, and that of the inverse DFT (conj(F) / n) is F / n.
    grad = _fft.bind(g, rank=rank, inverse=not inverse)
    size = _points(x, rank, g.dtype)
    return (grad / size if inverse else grad * size,)


def _half_spectrum_counts(fft_length, dtype):
    """How many terms of the full spectrum each term of a half spectrum stands for: 2, for
    itself and its conjugate, except the self-conjugate zero and (even n) n / 2 terms."""
    n = fft_length[-1]
    counts = [1.0] + [2.0] * (n // 2)
    if n % 2 == 0 and n > 0:
        counts[-1] = 1.0
    return convert_to_tensor(counts, dtype=dtype)


def _rfft_rule(x, fft_length):
    rank = len(fft_length)
    shape = list(x.shape)[:-rank] + list(fft_length[:-1]) + [fft_length[-1] // 2 + 1]
    return aval(shape, _COMPLEX_OF[x.dtype])


def _rfft_vjp(g, x, out, fft_length):
    # The adjoint of the full DFT (n times the inverse DFT) of the zero-padded half spectrum,
    # real part: n * irfft(g / counts), since irfft lets each term stand for `counts` terms.
    # The input was cropped or padded to fft_length; its cotangent is padded or cropped back.
    rank = len(fft_length)
    grad = _irfft.bind(g / _half_spectrum_counts(fft_length, g.dtype), fft_length=fft_length)
    grad = grad * float(_pymath.prod(fft_length))
    return (_fit(grad, tuple(x.shape)[-rank:]),)


def _irfft_rule(x, fft_length):
    rank = len(fft_length)
    return aval(list(x.shape)[:-rank] + list(fft_length), x.dtype.real_dtype)


def _irfft_vjp(g, x, out, fft_length):
    # irfft counts each term `counts` times and divides by n: its adjoint is the half
    # spectrum of g times counts / n, fitted back to the input's shape.
    rank = len(fft_length)
    grad = _rfft.bind(g, fft_length=fft_length)
    scale = _half_spectrum_counts(fft_length, grad.dtype) / float(_pymath.prod(fft_length))
    return (_fit(grad * scale, tuple(x.shape)[-rank:]),)


# fft: the complex DFT over the last `rank` axes (inverse: conjugate twiddles and 1 / n).
_fft = Primitive("fft", vjp=_fft_vjp, shape_rule=lambda x, **attrs: aval(x.shape, x.dtype))
# rfft: the half spectrum of a real signal over the last len(fft_length) axes, the signal
# cropped or zero-padded to fft_length; a primitive of its own (rather than fft of a complex
# cast) because it does half the work and never makes the complex copy.
_rfft = Primitive("rfft", vjp=_rfft_vjp, shape_rule=_rfft_rule)
# irfft: the real signal of shape fft_length whose half spectrum is the input.
_irfft = Primitive("irfft", vjp=_irfft_vjp, shape_rule=_irfft_rule)


# ------------------------------------------------------------------ Fourier transforms

def _complex_fft(op, input, rank, inverse):  # noqa: A002
    return _fft.bind(_complex_operand(op, input, rank), rank=rank, inverse=inverse)


def fft(input, name=None):  # noqa: A002 - TensorFlow's argument name
    """The discrete Fourier transform over the innermost axis of a complex tensor.

    >>> import tensorflux as tf
    >>> tf.signal.fft(tf.constant([1.0, 2.0, 3.0, 4.0], tf.complex64)).numpy().tolist()
    [(10+0j), (-2+2j), (-2+0j), (-2-2j)]
    """
    return _complex_fft("fft", input, 1, False)


def ifft(input, name=None):  # noqa: A002
    """The inverse discrete Fourier transform over the innermost axis (scaled by 1 / n).

    >>> import tensorflux as tf
    >>> tf.signal.ifft(tf.constant([4.0, 0.0], tf.complex64)).numpy().tolist()
    [(2+0j), (2+0j)]
    """
    return _complex_fft("ifft", input, 1, True)


def fft2d(input, name=None):  # noqa: A002
    """The 2-D discrete Fourier transform over the two innermost axes."""
    return _complex_fft("fft2d", input, 2, False)


def ifft2d(input, name=None):  # noqa: A002
    """The inverse of fft2d (scaled by 1 / (rows * columns))."""
    return _complex_fft("ifft2d", input, 2, True)


def fft3d(input, name=None):  # noqa: A002
    """The 3-D discrete Fourier transform over the three innermost axes."""
    return _complex_fft("fft3d", input, 3, False)


def ifft3d(input, name=None):  # noqa: A002
    """The inverse of fft3d (scaled by 1 / the number of points)."""
    return _complex_fft("ifft3d", input, 3, True)


def _real_fft(op, input_tensor, fft_length, rank):
    x = _real_operand(op, input_tensor)
    dims = _inner_dims(op, x, rank)
    return _rfft.bind(x, fft_length=_fft_length(op, fft_length, dims))


def _inverse_real_fft(op, input_tensor, fft_length, rank):
    x = _complex_operand(op, input_tensor, rank)
    dims = _inner_dims(op, x, rank)
    default = dims[:-1] + (2 * (dims[-1] - 1),)
    return _irfft.bind(x, fft_length=_fft_length(op, fft_length, default))


def rfft(input_tensor, fft_length=None, name=None):
    """The DFT of a real signal over its innermost axis: the fft_length // 2 + 1 terms of
    non-negative frequency (complex64 for float32). The signal is cropped or zero-padded to
    fft_length (a list of one int; default: its length).

    >>> import tensorflux as tf
    >>> tf.signal.rfft([0.0, 1.0, 2.0, 3.0]).numpy().tolist()
    [(6+0j), (-2+2j), (-2+0j)]
    """
    return _real_fft("rfft", input_tensor, fft_length, 1)


def irfft(input_tensor, fft_length=None, name=None):
    """The real signal of length fft_length (default 2 * (terms - 1)) whose rfft is
    `input_tensor`, cropped or zero-padded to fft_length // 2 + 1 terms; the imaginary parts
    of the zero (and, for even lengths, the n / 2) frequency are ignored.

    >>> import tensorflux as tf
    >>> tf.signal.irfft(tf.constant([6.0, -2 + 2j, -2.0], tf.complex64)).numpy().tolist()
    [0.0, 1.0, 2.0, 3.0]
    """
    return _inverse_real_fft("irfft", input_tensor, fft_length, 1)


def rfft2d(input_tensor, fft_length=None, name=None):
    """rfft over the two innermost axes: shape (..., rows, columns // 2 + 1)."""
    return _real_fft("rfft2d", input_tensor, fft_length, 2)


def irfft2d(input_tensor, fft_length=None, name=None):
    """The inverse of rfft2d: a real signal of shape fft_length (default: (rows,
    2 * (columns - 1)))."""
    return _inverse_real_fft("irfft2d", input_tensor, fft_length, 2)


def rfft3d(input_tensor, fft_length=None, name=None):
    """rfft over the three innermost axes."""
    return _real_fft("rfft3d", input_tensor, fft_length, 3)


def irfft3d(input_tensor, fft_length=None, name=None):
    """The inverse of rfft3d."""
    return _inverse_real_fft("irfft3d", input_tensor, fft_length, 3)


# ------------------------------------------------------------------ n-dimensional transforms

def _nd_axes(op, x, fft_length, axes):
    """The transform's axes (non-negative, distinct): `axes`, else the last len(fft_length)
    axes where fft_length is given (NumPy's rule), else all of x's axes."""
    rank = x.shape.rank
    if axes is None:
        if fft_length is None:
            return list(range(rank))
        count = len(fold(op, fft_length, "fft_length"))
        return list(range(rank - count, rank))
    axes = fold(op, axes, "axes")
    axes = [axes] if isinstance(axes, int) else list(axes)
    axes = [normalize_axis(op, axis, rank) for axis in axes]
    if len(set(axes)) != len(axes) or not axes:
        raise errors.InvalidArgumentError(
            f"{op}: axes must be distinct and not empty, received {axes}", op)
    return axes


def _nd_scale(op, norm, points, inverse):
    """The factor applied after the (backward-normalized) transform for `norm`."""
    if norm in (None, "backward"):
        return None
    if norm == "forward":
        return float(points) if inverse else 1.0 / points
    if norm == "ortho":
        return _pymath.sqrt(points) if inverse else 1.0 / _pymath.sqrt(points)
    raise ValueError(f"{op}: norm must be None, 'backward', 'ortho' or 'forward', received "
                     f"{norm!r}")


def _nd_transform(op, x, fft_length, axes, norm, transform, default_length):
    """transform(moved x, lengths) over `axes`: those axes moved last, in their order, and
    moved back afterwards."""
    _check_rank(op, x, 1)
    axes = _nd_axes(op, x, fft_length, axes)
    dims = tuple(x.shape[a] for a in axes)
    if None in dims:
        raise errors.InvalidArgumentError(
            f"{op}: the transformed dimensions must be known, received shape "
            f"{tuple(x.shape)} over axes {axes}", op)
    lengths = _fft_length(op, fft_length, default_length(dims))
    rank = x.shape.rank
    perm = [a for a in range(rank) if a not in axes] + axes
    moved = x if perm == list(range(rank)) else linalg.transpose(x, perm)
    y = transform(moved, lengths)
    scale = _nd_scale(op, norm, _pymath.prod(lengths), op.startswith(("ifft", "irfft")))
    if scale is not None:
        y = y * tmath.cast(scale, y.dtype)
    if perm == list(range(rank)):
        return y
    back = [0] * rank
    for position, axis in enumerate(perm):
        back[axis] = position
    return linalg.transpose(y, back)


def _complex_nd(op, input_tensor, fft_length, axes, norm, inverse):
    x = _complex_operand(op, input_tensor, 1)
    return _nd_transform(
        op, x, fft_length, axes, norm,
        lambda moved, lengths: _fft.bind(_fit(moved, lengths), rank=len(lengths),
                                         inverse=inverse),
        lambda dims: dims)


def fftnd(input_tensor, fft_length=None, axes=None, norm=None, name=None):
    """The n-dimensional DFT of a complex tensor over `axes` (default: all axes, or the
    last len(fft_length)), each cropped or zero-padded to fft_length first; norm is
    "backward" (None: no scaling), "ortho" (1 / sqrt(n)) or "forward" (1 / n).

    >>> import tensorflux as tf
    >>> tf.signal.fftnd(tf.constant([[1.0, 2.0], [3.0, 4.0]], tf.complex64)).numpy().tolist()
    [[(10+0j), (-2+0j)], [(-4+0j), 0j]]
    """
    return _complex_nd("fftnd", input_tensor, fft_length, axes, norm, False)


def ifftnd(input_tensor, fft_length=None, axes=None, norm=None, name=None):
    """The inverse of fftnd ("backward" norm: scaled by 1 / n).

    >>> import tensorflux as tf
    >>> tf.signal.ifftnd(tf.constant([[4.0, 0.0], [0.0, 0.0]], tf.complex64)).numpy().tolist()
    [[(1+0j), (1+0j)], [(1+0j), (1+0j)]]
    """
    return _complex_nd("ifftnd", input_tensor, fft_length, axes, norm, True)


def rfftnd(input_tensor, fft_length=None, axes=None, norm=None, name=None):
    """fftnd of a real tensor, keeping the fft_length // 2 + 1 non-negative frequencies of
    the last of `axes`.

    >>> import tensorflux as tf
    >>> tf.signal.rfftnd([[1.0, 2.0], [3.0, 4.0]]).numpy().tolist()
    [[(10+0j), (-2+0j)], [(-4+0j), 0j]]
    """
    x = _real_operand("rfftnd", input_tensor)
    return _nd_transform("rfftnd", x, fft_length, axes, norm,
                         lambda moved, lengths: _rfft.bind(moved, fft_length=lengths),
                         lambda dims: dims)


def irfftnd(input_tensor, fft_length=None, axes=None, norm=None, name=None):
    """The real signal whose rfftnd over `axes` is `input_tensor`; fft_length defaults to
    the input's sizes but 2 * (size - 1) for the last axis.

    >>> import tensorflux as tf
    >>> x = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    >>> tf.signal.irfftnd(tf.signal.rfftnd(x), fft_length=[2, 2]).numpy().tolist()
    [[1.0, 2.0], [3.0, 4.0]]
    """
    x = _complex_operand("irfftnd", input_tensor, 1)
    return _nd_transform("irfftnd", x, fft_length, axes, norm,
                         lambda moved, lengths: _irfft.bind(moved, fft_length=lengths),
                         lambda dims: dims[:-1] + (max(0, 2 * (dims[-1] - 1)),))


def _shift(op, x, axes, sign):
    x = as_operand(op, x)
    rank = x.shape.rank
    axes = list(range(rank)) if axes is None else (
        [axes] if isinstance(axes, int) else list(axes))
    axes = [normalize_axis(op, axis, rank) for axis in axes]
    dims = [x.shape[axis] for axis in axes]
    if None in dims:
        raise errors.InvalidArgumentError(
            f"{op}: the shifted dimensions must be known, received shape {tuple(x.shape)}", op)
    if not axes:
        return x
    return composite.roll(x, [sign * (d // 2) for d in dims], axes)


def fftshift(x, axes=None, name=None):
    """x rolled so that the zero frequency is in the middle of each of `axes` (all axes by
    default).

    >>> import tensorflux as tf
    >>> tf.signal.fftshift([0, 1, 2, -2, -1]).numpy().tolist()
    [-2, -1, 0, 1, 2]
    """
    return _shift("fftshift", x, axes, 1)


def ifftshift(x, axes=None, name=None):
    """The inverse of fftshift.

    >>> import tensorflux as tf
    >>> tf.signal.ifftshift([-2, -1, 0, 1, 2]).numpy().tolist()
    [0, 1, 2, -2, -1]
    """
    return _shift("ifftshift", x, axes, -1)


# ------------------------------------------------------------------ framing

def frame(signal, frame_length, frame_step, pad_end=False, pad_value=0, axis=-1, name=None):
    """Frames of `frame_length` samples, `frame_step` apart, along `axis`: that axis of
    length n becomes (frames, frame_length), with 1 + (n - frame_length) // frame_step
    frames, or ceil(n / frame_step) with `pad_end` (the end padded with pad_value).

    >>> import tensorflux as tf
    >>> tf.signal.frame([1, 2, 3, 4, 5], 3, 2).numpy().tolist()
    [[1, 2, 3], [3, 4, 5]]
    """
    op = "frame"
    signal = as_operand(op, signal)
    _check_rank(op, signal, 1)
    rank = signal.shape.rank
    axis = normalize_axis(op, axis, rank)
    length = signal.shape[axis]
    frame_length = _int(op, frame_length, "frame_length")
    frame_step = _int(op, frame_step, "frame_step", low=1)
    if length is None:
        return _frame_of_run_time_length(signal, axis, frame_length, frame_step, pad_end,
                                         pad_value)
    if pad_end:
        frames = -(-length // frame_step)
        missing = max(0, (frames - 1) * frame_step + frame_length - length) if frames else 0
        if missing:
            pads = [[0, 0]] * rank
            pads[axis] = [0, missing]
            signal = array.pad(signal, pads, constant_values=pad_value)
    else:
        frames = max(0, 1 + (length - frame_length) // frame_step)
    starts = array.reshape(array.range(frames) * frame_step, [frames, 1])
    return indexing.gather(signal, starts + array.range(frame_length), axis=axis)


def _frame_of_run_time_length(signal, axis, frame_length, frame_step, pad_end, pad_value):
    """frame() of a signal whose framed length is known only when the traced function runs
    (a decoded WAV file in Dataset.map, as the audio tutorial's stft): the same counts,
    computed with ops; the frames dimension is then unknown too."""
    rank = signal.shape.rank
    length = array.shape(signal)[axis]
    if pad_end:
        frames = tmath.floordiv(length + (frame_step - 1), frame_step)
        missing = tmath.maximum((frames - 1) * frame_step + frame_length - length, 0)
        pad_shape = array.concat([array.shape(signal)[:axis], array.reshape(missing, [1]),
                                  array.shape(signal)[axis + 1:]], 0)
        padding = array.fill(pad_shape, as_operand("frame", pad_value, signal.dtype))
        signal = array.concat([signal, padding], axis)
    else:
        frames = tmath.maximum(1 + tmath.floordiv(length - frame_length, frame_step), 0)
    starts = array.reshape(array.range(frames) * frame_step, [-1, 1])
    framed = indexing.gather(signal, starts + array.range(frame_length), axis=axis)
    framed.set_shape(list(signal.shape)[:axis] + [None, frame_length]
                     + list(signal.shape)[axis + 1:] if rank is not None else None)
    return framed


def overlap_and_add(signal, frame_step, name=None):
    """Frames (..., frames, frame_length) placed `frame_step` apart and summed into
    (..., (frames - 1) * frame_step + frame_length) samples.

    >>> import tensorflux as tf
    >>> tf.signal.overlap_and_add([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]], 2).numpy().tolist()
    [1.0, 1.0, 3.0, 2.0, 2.0]
    """
    op = "overlap_and_add"
    signal = as_operand(op, signal)
    frames, length = _inner_dims(op, signal, 2)
    step = _int(op, frame_step, "frame_step", low=1)  # (above the length: gaps of zeros)
    lead = signal.shape.rank - 2
    outer = list(signal.shape)[:-2]
    total = (frames - 1) * step + length
    if None in outer:
        outer = array.shape(signal)[:-2]
    elif frames == 0:  # (nothing to add: zeros, as TensorFlow gives)
        return array.zeros(outer + [total], signal.dtype)
    # Each frame is cut into `pieces` blocks of `step` samples: block j of frame f lands at
    # output block f + j. With the pieces first, [pieces, frames, step] padded to
    # [pieces, frames + pieces, step] and re-read (flat) as [pieces, frames + pieces - 1,
    # step], row j comes out shifted by j blocks, so one sum over the pieces adds them all.
    pieces = -(-length // step)
    x = array.pad(signal, [[0, 0]] * (lead + 1) + [[0, pieces * step - length]])
    x = array.reshape(x, [-1, frames, pieces, step])
    x = array.pad(linalg.transpose(x, [0, 2, 1, 3]), [[0, 0], [0, 0], [0, pieces], [0, 0]])
    x = array.reshape(x, [-1, pieces * (frames + pieces) * step])
    x = array.reshape(x[:, :pieces * (frames + pieces - 1) * step],
                      [-1, pieces, frames + pieces - 1, step])
    x = array.reshape(reduction.reduce_sum(x, axis=1), [-1, (frames + pieces - 1) * step])
    x = x[:, :total]
    if isinstance(outer, list):
        return array.reshape(x, outer + [total])
    return array.reshape(x, array.concat([outer, [total]], 0))


# ------------------------------------------------------------------ windows

def _cosine_window(coefficients, window_length, period, dtype):
    """The generalized cosine window sum_k (-1)^k a_k cos(2 pi k n / period) at n = 0 ...
    window_length - 1 (a single point is 1), computed in float64. The Hann, Hamming and
    Blackman windows of TensorFlow, Keras and scipy are all this formula; they differ only in
    their period (window_length for periodic windows, window_length - 1 for symmetric ones).
    """
    if window_length <= 1:
        return array.ones([window_length], dtype)
    phase = tmath.cast(array.range(window_length), dtypes.float64) * (2 * _pymath.pi / period)
    total = array.zeros([window_length], dtypes.float64) + float(coefficients[0])
    for k, a in enumerate(coefficients[1:], start=1):
        total = total + ((-1) ** k * a) * tmath.cos(phase * float(k))
    return tmath.cast(total, dtype)


def _tf_window(op, coefficients, window_length, periodic, dtype):
    window_length = _int(op, window_length, "window_length")
    dtype = dtypes.as_dtype(dtype)
    if not dtype.is_floating:
        raise errors.InvalidArgumentError(
            f"{op}: dtype must be a floating-point type, received {dtype.name}", op)
    # TensorFlow gives an odd-length window the symmetric form even when `periodic`.
    periodic = bool(periodic) and window_length % 2 == 0
    period = window_length if periodic else window_length - 1
    return _cosine_window(coefficients, window_length, period, dtype)


def hann_window(window_length, periodic=True, dtype=dtypes.float32, name=None):
    """The Hann window 0.5 - 0.5 cos(2 pi n / N), N = window_length when `periodic` and the
    length is even, else window_length - 1 (symmetric).

    >>> import tensorflux as tf
    >>> tf.signal.hann_window(4).numpy().tolist()
    [0.0, 0.5, 1.0, 0.5]
    """
    return _tf_window("hann_window", (0.5, 0.5), window_length, periodic, dtype)


def hamming_window(window_length, periodic=True, dtype=dtypes.float32, name=None):
    """The Hamming window 0.54 - 0.46 cos(2 pi n / N), N as for hann_window.

    >>> import tensorflux as tf
    >>> [round(v, 4) for v in tf.signal.hamming_window(4).numpy().tolist()]
    [0.08, 0.54, 1.0, 0.54]
    """
    return _tf_window("hamming_window", (0.54, 0.46), window_length, periodic, dtype)


def _window_operands(op, window_length, dtype):
    window_length = _int(op, window_length, "window_length")
    dtype = dtypes.as_dtype(dtype)
    if not dtype.is_floating:
        raise errors.InvalidArgumentError(
            f"{op}: dtype must be a floating-point type, received {dtype.name}", op)
    return window_length, dtype


def _kaiser(window_length, beta):
    """The symmetric Kaiser window I0(beta sqrt(1 - r^2)) / I0(beta), r from -1 to 1, in
    float64; the exponentially scaled I0 keeps large beta from overflowing."""
    from tensorflux.ops import special

    if window_length <= 1:
        return array.ones([window_length], dtypes.float64)
    ratio = tmath.cast(array.range(window_length), dtypes.float64) * (
        2.0 / (window_length - 1)) - 1.0
    arg = float(beta) * tmath.sqrt(tmath.maximum(1.0 - ratio * ratio, 0.0))
    beta = as_operand("kaiser_window", float(beta), dtypes.float64)
    return special.bessel_i0e(arg) / special.bessel_i0e(beta) * tmath.exp(arg - beta)


def kaiser_window(window_length, beta=12.0, dtype=dtypes.float32, name=None):
    """The (symmetric) Kaiser window of shape parameter `beta`.

    >>> import tensorflux as tf
    >>> [round(v, 4) for v in tf.signal.kaiser_window(4, beta=8.0).numpy().tolist()]
    [0.0023, 0.6525, 0.6525, 0.0023]
    """
    window_length, dtype = _window_operands("kaiser_window", window_length, dtype)
    return tmath.cast(_kaiser(window_length, beta), dtype)


def kaiser_bessel_derived_window(window_length, beta=12.0, dtype=dtypes.float32, name=None):
    """The Kaiser-Bessel-derived window (of MDCT codecs): the root of the running sums of a
    Kaiser window of length window_length // 2 + 1 over their total, then mirrored.

    >>> import tensorflux as tf
    >>> [round(v, 4) for v in tf.signal.kaiser_bessel_derived_window(4).numpy().tolist()]
    [0.0073, 1.0, 1.0, 0.0073]
    """
    window_length, dtype = _window_operands("kaiser_bessel_derived_window", window_length,
                                            dtype)
    half = window_length // 2
    sums = reduction.cumsum(_kaiser(half + 1, beta))
    rising = tmath.sqrt(sums[:half] / sums[half])
    return tmath.cast(array.concat([rising, indexing.reverse(rising, [0])], 0), dtype)


def vorbis_window(window_length, dtype=dtypes.float32, name=None):
    """The Vorbis power-complementary window sin(pi/2 sin^2(pi (n + 1/2) / N)).

    >>> import tensorflux as tf
    >>> [round(v, 4) for v in tf.signal.vorbis_window(4).numpy().tolist()]
    [0.228, 0.9737, 0.9737, 0.228]
    """
    window_length, dtype = _window_operands("vorbis_window", window_length, dtype)
    n = tmath.cast(array.range(window_length), dtypes.float64) + 0.5
    inner = tmath.sin(n * (_pymath.pi / window_length))
    return tmath.cast(tmath.sin((_pymath.pi / 2) * inner * inner), dtype)


# ------------------------------------------------------------------ short-time transforms

def _enclosing_power_of_two(n):
    return 1 << max(n - 1, 0).bit_length()


def stft(signals, frame_length, frame_step, fft_length=None, window_fn=hann_window,
         pad_end=False, name=None):
    """The short-time Fourier transform of real signals along their innermost axis:
    (..., frames, fft_length // 2 + 1) complex values, each the rfft of one frame (of
    frame_length samples, frame_step apart, times window_fn(frame_length, dtype=...))
    zero-padded to fft_length (default: the smallest power of two >= frame_length).

    >>> import tensorflux as tf
    >>> tf.signal.stft(tf.ones([1, 32]), 8, 4).shape
    TensorShape([1, 7, 5])
    """
    op = "stft"
    signals = _real_operand(op, signals)
    frame_length = _int(op, frame_length, "frame_length")
    fft_length = _enclosing_power_of_two(frame_length) if fft_length is None else _int(
        op, fft_length, "fft_length")
    framed = frame(signals, frame_length, frame_step, pad_end=pad_end)
    if window_fn is not None:
        framed = framed * window_fn(frame_length, dtype=framed.dtype)
    return rfft(framed, [fft_length])


def inverse_stft(stfts, frame_length, frame_step, fft_length=None, window_fn=hann_window,
                 name=None):
    """Signals from their short-time Fourier transforms (..., frames, fft_length // 2 + 1):
    each frame's irfft, cropped or zero-padded to frame_length, times window_fn, then
    overlap-added. With window_fn=inverse_stft_window_fn(frame_step) it inverts stft.

    >>> import tensorflux as tf
    >>> x = tf.random.normal([64], seed=1)
    >>> spectrum = tf.signal.stft(x, 16, 4)
    >>> y = tf.signal.inverse_stft(spectrum, 16, 4,
    ...                            window_fn=tf.signal.inverse_stft_window_fn(4))
    >>> bool(tf.reduce_max(tf.abs(y[12:-12] - x[12:-12])) < 1e-5)
    True
    """
    op = "inverse_stft"
    stfts = _complex_operand(op, stfts, 2)
    frame_length = _int(op, frame_length, "frame_length")
    fft_length = _enclosing_power_of_two(frame_length) if fft_length is None else _int(
        op, fft_length, "fft_length")
    frames = _fit(irfft(stfts, [fft_length]), (frame_length,))
    if window_fn is not None:
        frames = frames * window_fn(frame_length, dtype=frames.dtype)
    return overlap_and_add(frames, frame_step)


def _dual_window(window, frame_step):
    """`window` divided by the sum of the squared windows of all the frames (frame_step
    apart, without end) that overlap each of its samples: the synthesis window with which
    overlap-add undoes a windowed analysis."""
    length = window.shape[0]
    periods = -(-length // frame_step)
    squares = array.pad(tmath.square(window), [[0, periods * frame_step - length]])
    overlap = reduction.reduce_sum(array.reshape(squares, [periods, frame_step]), axis=0)
    return window / array.tile(overlap, [periods])[:length]


def inverse_stft_window_fn(frame_step, forward_window_fn=hann_window, name=None):
    """The window_fn for inverse_stft that inverts an stft made with forward_window_fn and
    frame_step: the forward window over the sum of the squared windows overlapping each
    sample.

    >>> import tensorflux as tf
    >>> window_fn = tf.signal.inverse_stft_window_fn(2)
    >>> window_fn(4, dtype=tf.float32).numpy().tolist()  # hann [0, 0.5, 1, 0.5] / [1, 0.5]
    [0.0, 1.0, 1.0, 1.0]
    """
    step = _int("inverse_stft_window_fn", frame_step, "frame_step", low=1)

    def window_fn(frame_length, dtype=dtypes.float32):
        return _dual_window(forward_window_fn(frame_length, dtype=dtype), step)

    return window_fn


# ------------------------------------------------------------------ mel and cepstra

_MEL_BREAK_FREQUENCY_HERTZ = 700.0
_MEL_HIGH_FREQUENCY_Q = 1127.0


def _hertz_to_mel(hertz):
    return _MEL_HIGH_FREQUENCY_Q * _pymath.log(1.0 + hertz / _MEL_BREAK_FREQUENCY_HERTZ)


def linear_to_mel_weight_matrix(num_mel_bins=20, num_spectrogram_bins=129, sample_rate=8000,
                                lower_edge_hertz=125.0, upper_edge_hertz=3800.0,
                                dtype=dtypes.float32, name=None):
    """The (num_spectrogram_bins, num_mel_bins) matrix that maps linear spectrogram bins
    (0 to sample_rate / 2) onto triangular HTK mel filters (mel = 1127 ln(1 + f / 700)):
    filter m rises from mel edge m to m + 1 and falls to m + 2, the num_mel_bins + 2 edges
    evenly spaced in mel from lower_edge_hertz to upper_edge_hertz; the DC bin gets no
    weight. Computed in float64, returned in `dtype`.

    >>> import tensorflux as tf
    >>> tf.signal.linear_to_mel_weight_matrix(4, 9, 8000, 100.0, 4000.0).shape
    TensorShape([9, 4])
    """
    op = "linear_to_mel_weight_matrix"
    num_mel_bins = _int(op, num_mel_bins, "num_mel_bins", low=1)
    num_spectrogram_bins = _int(op, num_spectrogram_bins, "num_spectrogram_bins", low=1)
    dtype = dtypes.as_dtype(dtype)
    problem = None
    if not dtype.is_floating:
        problem = f"dtype must be a floating-point type, received {dtype.name}"
    elif sample_rate <= 0:
        problem = f"sample_rate must be positive, received {sample_rate}"
    elif lower_edge_hertz < 0:
        problem = f"lower_edge_hertz must be non-negative, received {lower_edge_hertz}"
    elif lower_edge_hertz >= upper_edge_hertz:
        problem = (f"lower_edge_hertz ({lower_edge_hertz}) must be below upper_edge_hertz "
                   f"({upper_edge_hertz})")
    elif upper_edge_hertz > sample_rate / 2:
        problem = (f"upper_edge_hertz ({upper_edge_hertz}) must not exceed the Nyquist "
                   f"frequency sample_rate / 2 ({sample_rate / 2})")
    if problem:
        raise errors.InvalidArgumentError(f"{op}: {problem}", op)
    return _mel_weights(num_mel_bins, num_spectrogram_bins, sample_rate, lower_edge_hertz,
                        upper_edge_hertz, dtype)


def _mel_weights(num_mel_bins, num_spectrogram_bins, sample_rate, lower_edge_hertz,
                 upper_edge_hertz, dtype):
    """linear_to_mel_weight_matrix without its argument checks (Keras's MelSpectrogram makes
    none: its filters may reach past the Nyquist frequency)."""
    low, high = _hertz_to_mel(lower_edge_hertz), _hertz_to_mel(upper_edge_hertz)
    edges = [low + (high - low) * i / (num_mel_bins + 1) for i in range(num_mel_bins + 2)]
    lower, center, upper = (convert_to_tensor(e, dtype=dtypes.float64)
                            for e in (edges[:-2], edges[1:-1], edges[2:]))
    hertz_per_bin = sample_rate / 2 / max(num_spectrogram_bins - 1, 1)
    hertz = tmath.cast(array.range(1, num_spectrogram_bins), dtypes.float64) * hertz_per_bin
    mel = array.reshape(_MEL_HIGH_FREQUENCY_Q * tmath.log1p(hertz / _MEL_BREAK_FREQUENCY_HERTZ),
                        [-1, 1])
    rising = (mel - lower) / (center - lower)
    falling = (upper - mel) / (upper - center)
    weights = tmath.maximum(tmath.minimum(rising, falling), 0.0)
    return tmath.cast(array.pad(weights, [[1, 0], [0, 0]]), dtype)


def mfccs_from_log_mel_spectrograms(log_mel_spectrograms, name=None):
    """Mel-frequency cepstral coefficients: the type-II DCT of log-mel spectrograms
    (..., num_mel_bins) over their last axis, scaled by 1 / sqrt(2 num_mel_bins).

    >>> import tensorflux as tf
    >>> mfccs = tf.signal.mfccs_from_log_mel_spectrograms(tf.ones([2, 8]))
    >>> mfccs.shape, round(float(mfccs[0, 0]), 5)  # a constant has only the 0th coefficient
    (TensorShape([2, 8]), 4.0)
    """
    op = "mfccs_from_log_mel_spectrograms"
    x = _real_operand(op, log_mel_spectrograms)
    (bins,) = _inner_dims(op, x, 1)
    if bins < 1:
        raise errors.InvalidArgumentError(
            f"{op}: expected at least one mel bin, received shape {tuple(x.shape)}", op)
    return dct(x, type=2) * (1.0 / _pymath.sqrt(2.0 * bins))


def _twiddle(phases, dtype):
    """exp(i * phase) for a list of phases, as a complex tensor of `dtype`."""
    phases = convert_to_tensor(phases, dtype=dtypes.float64)
    real_dtype = dtype.real_dtype
    return tmath.complex(tmath.cast(tmath.cos(phases), real_dtype),
                         tmath.cast(tmath.sin(phases), real_dtype))


def _check_dct(op, x, dct_type, n, axis, norm):
    if axis != -1:
        raise errors.UnimplementedError(f"{op}: only axis=-1 is supported, received {axis}",
                                        op)
    if dct_type not in (1, 2, 3, 4):
        raise errors.InvalidArgumentError(
            f"{op}: type must be 1, 2, 3 or 4, received {dct_type!r}", op)
    if norm not in (None, "ortho"):
        raise errors.InvalidArgumentError(
            f"{op}: norm must be None or 'ortho', received {norm!r}", op)
    if n is not None:
        _int(op, n, "n", low=1)
    (length,) = _inner_dims(op, x, 1)
    length = length if n is None else n
    if dct_type == 1 and norm == "ortho":
        raise errors.InvalidArgumentError(f"{op}: the type-I DCT has no 'ortho' norm", op)
    if dct_type == 1 and length < 2:
        raise errors.InvalidArgumentError(
            f"{op}: the type-I DCT needs at least 2 points, received {length}", op)


def dct(input, type=2, n=None, axis=-1, norm=None, name=None):  # noqa: A002
    """The discrete cosine transform of type 1, 2, 3 or 4 over the last axis, as TensorFlow
    defines them (type 2: y_k = 2 sum_n x_n cos(pi k (2n + 1) / 2N)); `n` crops or
    zero-pads the input first, norm="ortho" makes types 2, 3 and 4 orthonormal.

    >>> import tensorflux as tf
    >>> [round(v, 4) for v in tf.signal.dct([1.0, 2.0, 3.0]).numpy().tolist()]
    [12.0, -3.4641, 0.0]
    """
    op = "dct"
    x = _real_operand(op, input)
    _check_dct(op, x, type, n, axis, norm)
    if n is not None:
        x = _fit(x, (n,))
    size = x.shape[-1]
    cdtype = _COMPLEX_OF[x.dtype]
    if type == 1:
        # The real spectrum of the even extension x0 ... x(N-1) ... x1, of length 2N - 2.
        extended = array.concat([x, indexing.reverse(x[..., 1:-1], [-1])], -1)
        return tmath.real(_rfft.bind(extended, fft_length=(2 * size - 2,)))
    if type == 2:
        # y_k = 2 Re(exp(-i pi k / 2N) X_k), X the DFT of x zero-padded to 2N.
        spectrum = _rfft.bind(x, fft_length=(2 * size,))[..., :size]
        shift = _twiddle([-_pymath.pi * k / (2 * size) for k in range(size)], cdtype)
        y = 2.0 * tmath.real(spectrum * shift)
        if norm == "ortho":
            y = y * _ortho_scale(size, 1 / _pymath.sqrt(2), x.dtype)
        return y
    if type == 3:
        # The transpose of type 2: y = 2N irfft(x_n exp(i pi n / 2N)) over 2N points, whose
        # terms 1 ... N-1 count twice and whose term N is zero.
        if norm == "ortho":
            x = x * _ortho_scale(size, _pymath.sqrt(2), x.dtype)
        shift = _twiddle([_pymath.pi * k / (2 * size) for k in range(size)], cdtype)
        signal = _irfft.bind(tmath.cast(x, cdtype) * shift, fft_length=(2 * size,))
        return signal[..., :size] * float(2 * size)
    # Type 4: y_k = 2 Re(exp(-i pi (2k + 1) / 4N) Z_k), Z the DFT over 2N points of
    # x_n exp(-i pi n / 2N).
    weighted = tmath.cast(x, cdtype) * _twiddle(
        [-_pymath.pi * k / (2 * size) for k in range(size)], cdtype)
    spectrum = _fft.bind(_fit(weighted, (2 * size,)), rank=1, inverse=False)[..., :size]
    shift = _twiddle([-_pymath.pi * (2 * k + 1) / (4 * size) for k in range(size)], cdtype)
    y = 2.0 * tmath.real(spectrum * shift)
    return y * (1 / _pymath.sqrt(2 * size)) if norm == "ortho" else y


def _ortho_scale(size, first, dtype):
    """1 / sqrt(2N) for each term, times `first` for the first."""
    scale = 1 / _pymath.sqrt(2 * size)
    return convert_to_tensor([scale * first] + [scale] * (size - 1), dtype=dtype)


def idct(input, type=2, n=None, axis=-1, norm=None, name=None):  # noqa: A002
    """The inverse DCT, as TensorFlow gives it: the DCT of the inverse type (3 for 2, 2 for
    3, 1 and 4 for themselves), so an exact inverse with norm="ortho" and otherwise up to a
    factor of 2N (2(N - 1) for type 1).

    >>> import tensorflux as tf
    >>> x = tf.constant([1.0, 2.0, 3.0])
    >>> y = tf.signal.idct(tf.signal.dct(x, norm="ortho"), norm="ortho")
    >>> [round(v, 5) for v in y.numpy().tolist()]
    [1.0, 2.0, 3.0]
    """
    _check_dct("idct", _real_operand("idct", input), type, n, axis, norm)
    return dct(input, type={1: 1, 2: 3, 3: 2, 4: 4}[type], n=n, axis=axis, norm=norm)


# ------------------------------------------------------------------ MDCT

def mdct(signals, frame_length, window_fn=vorbis_window, pad_end=False, norm=None, name=None):
    """The modified discrete cosine transform of frames of `frame_length` samples (a multiple
    of 4), half a frame apart along the last axis: frame_length // 2 coefficients per frame.
    Each frame is windowed by window_fn(frame_length) (None: by 1 / sqrt(2)); norm=None or
    "ortho" (then inverse_mdct with "ortho" inverts it exactly, given a
    Princen-Bradley window such as the Vorbis or KBD window).

    >>> import tensorflux as tf
    >>> tf.signal.mdct(tf.zeros([16]), 8).shape
    TensorShape([3, 4])
    """
    op = "mdct"
    x = as_operand(op, signals)
    if not x.dtype.is_floating:
        raise ValueError(f"{op}: signals must be floating point, received {x.dtype.name}")
    frame_length = _int(op, frame_length, "frame_length", low=1)
    if frame_length % 4:
        raise ValueError(f"{op}: frame_length must be a multiple of 4, received "
                         f"{frame_length}")
    if norm not in (None, "ortho"):
        raise ValueError(f"{op}: norm must be None or 'ortho', received {norm!r}")
    frames = frame(x, frame_length, frame_length // 2, pad_end=pad_end)
    if window_fn is None:
        frames = frames * tmath.cast(1 / _pymath.sqrt(2), frames.dtype)
    else:
        frames = frames * window_fn(frame_length, dtype=frames.dtype)
    # Folding the frame's quarters (a, b, c, d) to (-c' - d, a - b'), ' being reversal,
    # turns the MDCT into a type-IV DCT of half the length.
    quarter = frame_length // 4
    a, b, c, d = (frames[..., i * quarter:(i + 1) * quarter] for i in range(4))
    folded = array.concat([tmath.negative(indexing.reverse(c, [-1])) - d,
                           a - indexing.reverse(b, [-1])], -1)
    return dct(folded, type=4, norm=norm)


def inverse_mdct(mdcts, window_fn=vorbis_window, norm=None, name=None):
    """Signals from their MDCT frames ([..., frames, half]): each frame's type-IV DCT
    unfolded to 2 * half samples, windowed, and overlap-added half a frame apart; the
    inverse of mdct with the same window and norm (up to the first and last half frame).

    >>> import tensorflux as tf
    >>> tf.signal.inverse_mdct(tf.zeros([3, 4])).shape
    TensorShape([16])
    """
    op = "inverse_mdct"
    x = as_operand(op, mdcts)
    if not x.dtype.is_floating:
        raise ValueError(f"{op}: mdcts must be floating point, received {x.dtype.name}")
    if norm not in (None, "ortho"):
        raise ValueError(f"{op}: norm must be None or 'ortho', received {norm!r}")
    (half,) = _inner_dims(op, x, 1)
    if half % 2:
        raise errors.InvalidArgumentError(
            f"{op}: the last dimension (half a frame) must be even, received {half}", op)
    if norm is None:
        unfolded = dct(x, type=4) * tmath.cast(0.5 / half, x.dtype)
    else:
        unfolded = dct(x, type=4, norm="ortho")
    first, second = unfolded[..., :half // 2], unfolded[..., half // 2:]
    frames = array.concat([second, tmath.negative(indexing.reverse(second, [-1])),
                           tmath.negative(indexing.reverse(first, [-1])),
                           tmath.negative(first)], -1)
    if window_fn is None:
        frames = frames * tmath.cast(1 / _pymath.sqrt(2), frames.dtype)
    else:
        frames = frames * window_fn(2 * half, dtype=frames.dtype)
    return overlap_and_add(frames, half)
