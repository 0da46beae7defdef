"""keras.layers audio front ends: STFTSpectrogram (a short-time Fourier transform as a
trainable convolution) and MelSpectrogram (a log-mel spectrogram on keras.ops.stft and
tf.signal's mel filters)."""

import math

from tensorflux.keras import backend
from tensorflux.keras.initializers import STFT, get_window
from tensorflux.keras.layers.base import InputSpec, Layer, _describe, _format_shape
from tensorflux.keras.layers.convolutional import (
    _conv,
    standardize_data_format,
    standardize_padding,
)

__all__ = ["MelSpectrogram", "STFTSpectrogram", "stft"]

_FLOATS = ("float16", "float32", "float64")


def _tf():
    import tensorflux as tf

    return tf


def _size(x, axis):
    """x's length along `axis`: the static one where known, else a scalar read at run time
    (keras.ops.shape's, imported on first use like `stft` below)."""
    from tensorflux.keras.ops.core import shape

    return shape(x)[axis]


def _check_float(layer, inputs):
    if inputs.dtype.name not in _FLOATS:
        raise TypeError(f"{_describe(layer)}: invalid input type. Expected `float16`, "
                        f"`float32` or `float64`. Received: input type={inputs.dtype.name}")


class STFTSpectrogram(Layer):
    """The spectrogram of each channel of (batch, time, channels) signals (channels first:
    (batch, channels, time)), computed by strided convolutions with STFT kernels
    (`real_kernel`, `imag_kernel`, trainable) of `frame_length` taps every `frame_step`
    (default `frame_length // 2`), `fft_length // 2 + 1` frequencies (default: the next power
    of two). `mode`: "log" (log magnitude), "magnitude", "psd", "real", "imag", "angle" or
    "stft" (real then imaginary bins). Output (batch, frames, channels * bins), or (batch,
    frames, bins, channels) with `expand_dims`.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.STFTSpectrogram(frame_length=8, frame_step=4)
    >>> layer(tf.ones((2, 32, 3))).shape
    TensorShape([2, 7, 15])
    """

    _MODES = ("log", "magnitude", "psd", "real", "imag", "angle", "stft")

    def __init__(self, mode="log", frame_length=256, frame_step=None, fft_length=None,
                 window="hann", periodic=False, scaling="density", padding="valid",
                 expand_dims=False, data_format=None, **kwargs):
        if frame_step is not None and (frame_step > frame_length or frame_step < 1):
            raise ValueError("`frame_step` should be a positive integer not greater than "
                             f"`frame_length`. Received frame_step={frame_step}, "
                             f"frame_length={frame_length}")
        if fft_length is not None and fft_length < frame_length:
            raise ValueError("`fft_length` should be not less than `frame_length`. Received "
                             f"fft_length={fft_length}, frame_length={frame_length}")
        if mode not in self._MODES:
            raise ValueError(f"Output mode is invalid, it must be one of "
                             f"{', '.join(self._MODES)}. Received: mode={mode}")
        if scaling is not None and scaling not in ("density", "spectrum"):
            raise ValueError("Scaling is invalid, it must be `None`, 'density' or 'spectrum'. "
                             f"Received scaling={scaling}")
        if padding not in ("valid", "same"):
            raise ValueError("Padding is invalid, it should be 'valid', 'same'. Received: "
                             f"padding={padding}")
        if isinstance(window, str):
            get_window(window, 1)
        super().__init__(**kwargs)
        self.mode = mode
        self.frame_length = frame_length
        self.frame_step = frame_step
        self._frame_step = frame_step or frame_length // 2
        self.fft_length = fft_length
        self._fft_length = fft_length or 2 ** int(math.ceil(math.log2(frame_length)))
        self.window = window
        self.periodic = periodic
        self.scaling = scaling
        self.padding = standardize_padding(_describe(self), padding)
        self.expand_dims = expand_dims
        self.data_format = standardize_data_format(data_format)
        self.input_spec = InputSpec(ndim=3)

    def build(self, input_shape):
        shape = (self.frame_length, 1, self._fft_length // 2 + 1)
        if self.mode != "imag":
            self.real_kernel = self.add_weight(
                name="real_kernel", shape=shape,
                initializer=STFT("real", self.window, self.scaling, self.periodic))
        if self.mode != "real":
            self.imag_kernel = self.add_weight(
                name="imag_kernel", shape=shape,
                initializer=STFT("imag", self.window, self.scaling, self.periodic))

    def _apply_conv(self, inputs, kernel):
        """Each channel convolved on its own: (batch, channels, bins, frames)."""
        tf = _tf()
        channels_last = self.data_format == "channels_last"
        time_axis, channel_axis = (1, 2) if channels_last else (2, 1)
        channels = tuple(inputs.shape)[channel_axis]
        if channels is None:
            raise ValueError(f"{_describe(self)} needs the channel dimension of its input, "
                             f"received shape {_format_shape(tuple(inputs.shape))}")
        # the time axis may be unknown (variable-length audio): read it at run time then
        steps = _size(inputs, time_axis)
        if channels_last:
            signals = tf.reshape(tf.transpose(inputs, [0, 2, 1]), [-1, steps, 1])
        else:
            signals = tf.reshape(inputs, [-1, 1, steps])
        outputs = _conv(signals, tf.cast(kernel, inputs.dtype), 1, (self._frame_step,),
                        self.padding, (1,), self.data_format)
        if channels_last:
            outputs = tf.transpose(outputs, [0, 2, 1])
        bins = tuple(outputs.shape)[1]
        return tf.reshape(outputs, [-1, channels, bins, _size(outputs, 2)])

    def _adjust_shapes(self, outputs):
        tf = _tf()
        channels, bins = tuple(outputs.shape)[1:3]
        if self.expand_dims:
            order = [0, 3, 2, 1] if self.data_format == "channels_last" else [0, 1, 3, 2]
            return tf.transpose(outputs, order)
        outputs = tf.reshape(outputs, [-1, channels * bins, _size(outputs, 3)])
        if self.data_format == "channels_last":
            outputs = tf.transpose(outputs, [0, 2, 1])
        return outputs

    def call(self, inputs):
        tf = _tf()
        _check_float(self, inputs)
        real = self._apply_conv(inputs, self.real_kernel) if self.mode != "imag" else None
        imag = self._apply_conv(inputs, self.imag_kernel) if self.mode != "real" else None
        if self.mode == "real":
            return self._adjust_shapes(real)
        if self.mode == "imag":
            return self._adjust_shapes(imag)
        if self.mode == "angle":
            return self._adjust_shapes(tf.math.atan2(imag, real))
        if self.mode == "stft":
            return self._adjust_shapes(tf.concat([real, imag], axis=2))
        power = tf.square(real) + tf.square(imag)
        if self.mode == "psd":
            # The one-sided density: every bin but DC and Nyquist counts twice.
            return self._adjust_shapes(
                power + tf.pad(power[:, :, 1:-1, :], [[0, 0], [0, 0], [1, 1], [0, 0]]))
        epsilon = tf.constant(backend.epsilon(), power.dtype)
        magnitude = self._adjust_shapes(tf.sqrt(tf.maximum(power, epsilon)))
        if self.mode == "magnitude":
            return magnitude
        return tf.math.log(tf.maximum(magnitude, epsilon))

    def get_config(self):
        return {
            **super().get_config(),
            "mode": self.mode,
            "frame_length": self.frame_length,
            "frame_step": self.frame_step,
            "fft_length": self.fft_length,
            "window": self.window,
            "periodic": self.periodic,
            "scaling": self.scaling,
            "padding": self.padding,
            "data_format": self.data_format,
            "expand_dims": self.expand_dims,
        }


def stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True):
    """keras.ops.stft, which MelSpectrogram computes (imported on first use: the layers load
    before keras.ops).

    >>> import tensorflux as tf
    >>> real, imag = stft(tf.ones((2, 16)), 8, 4, 8, window=None)
    >>> real.shape, float(real[0, 2, 0]), float(real[0, 2, 1])
    (TensorShape([2, 5, 5]), 8.0, 0.0)
    """
    from tensorflux.keras.ops.math import stft as ops_stft

    return ops_stft(x, sequence_length, sequence_stride, fft_length, window, center)


class MelSpectrogram(Layer):
    """The mel spectrogram of raw audio (batch, samples) or (samples,): |STFT| ** `mag_exp`
    (hann window of `sequence_length`, every `sequence_stride` samples, centered frames),
    `num_mel_bins` triangular mel filters between `min_freq` and `max_freq`, then, with
    `power_to_db`, decibels relative to `ref_power` clipped to `top_db` below the maximum.
    Output (batch, num_mel_bins, frames).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.MelSpectrogram(fft_length=64, sequence_stride=16, num_mel_bins=8)
    >>> layer(tf.random.uniform((2, 200))).shape
    TensorShape([2, 8, 13])
    """

    def __init__(self, fft_length=2048, sequence_stride=512, sequence_length=None,
                 window="hann", sampling_rate=16000, num_mel_bins=128, min_freq=20.0,
                 max_freq=None, power_to_db=True, top_db=80.0, mag_exp=2.0, min_power=1e-10,
                 ref_power=1.0, **kwargs):
        self.fft_length = fft_length
        self.sequence_stride = sequence_stride
        self.sequence_length = sequence_length or fft_length
        if self.fft_length < self.sequence_length:
            raise ValueError("`fft_length` must be greater than or equal to `sequence_length`. "
                             f"Received: `sequence_length`={self.sequence_length}, "
                             f"`fft_length`={self.fft_length}.")
        self.window = window
        self.sampling_rate = sampling_rate
        self.num_mel_bins = num_mel_bins
        self.min_freq = min_freq
        self.max_freq = max_freq or int(sampling_rate / 2)
        self.power_to_db = power_to_db
        self.top_db = top_db
        self.mag_exp = mag_exp
        self.min_power = min_power
        self.ref_power = ref_power
        super().__init__(**kwargs)
        self.built = True

    def call(self, inputs):
        from tensorflux.signal import _mel_weights

        tf = _tf()
        dtype = self.compute_dtype if self.compute_dtype in ("float32", "float64") \
            else "float32"
        inputs = tf.cast(inputs, dtype)
        real, imag = stft(inputs, self.sequence_length, self.sequence_stride, self.fft_length,
                          self.window, center=True)
        spectrum = tf.pow(tf.sqrt(tf.square(real) + tf.square(imag)),
                          tf.constant(self.mag_exp, dtype))
        matrix = _mel_weights(self.num_mel_bins, tuple(spectrum.shape)[-1],
                              self.sampling_rate, self.min_freq, self.max_freq, dtype)
        outputs = tf.matmul(spectrum, matrix)
        if self.power_to_db:
            outputs = self._dbscale(outputs)
        rank = len(outputs.shape)
        outputs = tf.transpose(outputs, list(range(rank - 2)) + [rank - 1, rank - 2])
        return tf.cast(outputs, self.compute_dtype)

    def _dbscale(self, power):
        tf = _tf()
        floor = tf.constant(self.min_power, power.dtype)
        ten = tf.constant(10.0, power.dtype)
        log10 = tf.constant(math.log(10.0), power.dtype)
        db = ten * tf.math.log(tf.maximum(power, floor)) / log10
        ref = max(abs(self.ref_power), self.min_power)
        db = db - tf.constant(10.0 * math.log10(ref), power.dtype)
        # Keras clips against the maximum over the whole batch.
        return tf.maximum(db, tf.reduce_max(db) - tf.constant(self.top_db, power.dtype))

    def get_config(self):
        return {
            **super().get_config(),
            "fft_length": self.fft_length,
            "sequence_stride": self.sequence_stride,
            "sequence_length": self.sequence_length,
            "window": self.window,
            "sampling_rate": self.sampling_rate,
            "num_mel_bins": self.num_mel_bins,
            "min_freq": self.min_freq,
            "max_freq": self.max_freq,
            "power_to_db": self.power_to_db,
            "top_db": self.top_db,
            "mag_exp": self.mag_exp,
            "min_power": self.min_power,
            "ref_power": self.ref_power,
        }
