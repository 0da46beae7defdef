"""Fast Fourier transform kernels of the NumPy backend, on numpy.fft (pocketfft).

numpy.fft is a submodule NumPy loads on first use, so these kernels reach it through `np.fft`
at call time and importing the backend stays as light as before. Each kernel transforms the
innermost axes and keeps the input's precision: complex64 and float32 in, complex64 and
float32 out. A transform of length 0 (which NumPy refuses) gives zeros of the output shape.
The kernels use no module-level helper but `np`, so that the CuPy backend, which re-binds the
NumPy backend's kernels to `np` = cupy, runs them with cupy.fft.
"""

import numpy as np

__all__ = ["fft", "rfft", "irfft"]


def fft(x, *, rank, inverse):
    axes = tuple(range(-rank, 0))
    if 0 in x.shape[-rank:]:
        return np.zeros(x.shape, x.dtype)
    transform = np.fft.ifftn if inverse else np.fft.fftn
    return transform(x, axes=axes).astype(x.dtype, copy=False)


def rfft(x, *, fft_length):
    rank = len(fft_length)
    dtype = np.result_type(x.dtype, np.complex64)
    if 0 in fft_length:
        shape = x.shape[:-rank] + tuple(fft_length[:-1]) + (fft_length[-1] // 2 + 1,)
        return np.zeros(shape, dtype)
    out = np.fft.rfftn(x, s=fft_length, axes=tuple(range(-rank, 0)))
    return out.astype(dtype, copy=False)


def irfft(x, *, fft_length):
    rank = len(fft_length)
    dtype = x.real.dtype
    if 0 in fft_length:
        return np.zeros(x.shape[:-rank] + tuple(fft_length), dtype)
    if 0 in x.shape[-rank:]:  # (no terms at all: the signal is zero)
        x = np.zeros(x.shape[:-rank] + (1,) * rank, x.dtype)
    out = np.fft.irfftn(x, s=fft_length, axes=tuple(range(-rank, 0)))
    return out.astype(dtype, copy=False)
