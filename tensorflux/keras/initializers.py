"""keras.initializers: Keras 3's weight initializers, their configs, names and fan maths.

A seeded initializer returns the same values on every call (as Keras 3's integer seeds do);
an unseeded one draws fresh values from tf.random each call, so tf.random.set_seed makes a
whole model's initialization reproducible.
"""

import math as _math

from tensorflux.keras import _objects
from tensorflux.tensor import _is_dense_tensor

__all__ = [
    "Constant", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "Identity",
    "Initializer", "LecunNormal", "LecunUniform", "Ones", "Orthogonal", "RandomNormal",
    "RandomUniform", "STFT", "TruncatedNormal", "VarianceScaling", "Zeros", "compute_fans",
    "deserialize", "get", "serialize",
    # Keras 3's alias names of the same classes
    "IdentityInitializer", "OrthogonalInitializer", "STFTInitializer", "constant",
    "glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "identity", "lecun_normal",
    "lecun_uniform", "ones", "orthogonal", "random_normal", "random_uniform", "stft",
    "truncated_normal", "variance_scaling", "zeros",
]

# 1 / stddev of a unit normal truncated to [-2, 2], as Keras uses for truncated_normal.
_TRUNCATION_STDDEV = 0.8796256610342398


def _tf():
    import tensorflux as tf

    return tf


def _dtype(dtype):
    tf = _tf()
    return tf.float32 if dtype is None else tf.as_dtype(dtype)


def _shape(shape):
    return tuple(int(d) for d in shape)


class Initializer:
    """Base class: `__call__(shape, dtype=None)` returns a tensor of that shape."""

    def __call__(self, shape, dtype=None):
        raise NotImplementedError("Initializer subclasses must implement the `__call__()` "
                                  "method.")

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def clone(self):
        return self.__class__.from_config(self.get_config())

    def __repr__(self):
        return f"<{type(self).__name__} config={self.get_config()}>"


class Zeros(Initializer):
    """All zeros.

    >>> from tensorflux.keras import initializers
    >>> initializers.Zeros()((2,)).numpy().tolist()
    [0.0, 0.0]
    """

    def __call__(self, shape, dtype=None):
        return _tf().zeros(_shape(shape), dtype=_dtype(dtype))


class Ones(Initializer):
    """All ones.

    >>> from tensorflux.keras import initializers
    >>> initializers.Ones()((2,)).numpy().tolist()
    [1.0, 1.0]
    """

    def __call__(self, shape, dtype=None):
        return _tf().ones(_shape(shape), dtype=_dtype(dtype))


class Constant(Initializer):
    """Every element equal to `value`.

    >>> from tensorflux.keras import initializers
    >>> initializers.Constant(3.0)((2,)).numpy().tolist()
    [3.0, 3.0]
    """

    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype=None):
        tf = _tf()
        dtype = _dtype(dtype)
        value = tf.cast(tf.convert_to_tensor(self.value), dtype)
        return value * tf.ones(_shape(shape), dtype=dtype)

    def get_config(self):
        # As Keras writes it: an array value in its `__numpy__` form (a pretrained
        # embedding matrix given as Constant(matrix)), read back by from_config.
        from tensorflux.keras.saving.serialization import serialize_keras_object

        value = self.value
        if hasattr(value, "numpy"):
            value = value.numpy()
        return {"value": serialize_keras_object(value)}

    @classmethod
    def from_config(cls, config):
        from tensorflux.keras.saving.serialization import deserialize_keras_object

        return cls(deserialize_keras_object(config["value"]))


class Identity(Initializer):
    """gain * the identity matrix (2-D shapes only).

    >>> from tensorflux.keras import initializers
    >>> initializers.Identity()((2, 2)).numpy().tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        shape = _shape(shape)
        if len(shape) != 2:
            raise ValueError(f"Identity matrix initializer can only be used for 2D matrices. "
                             f"Received: shape={shape} of rank {len(shape)}.")
        tf = _tf()
        dtype = _dtype(dtype)
        return tf.constant(self.gain, dtype=dtype) * tf.eye(shape[0], shape[1], dtype=dtype)

    # Keras 3's Identity has no get_config of its own, so its config is {} and a reloaded
    # Identity has gain 1.0; kept identical for interchangeable files.


class RandomInitializer(Initializer):
    """Base of the random initializers: holds the seed (an int, or None for fresh draws)."""

    def __init__(self, seed=None):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"`seed` argument should be an integer or None. Received: "
                             f"seed={seed!r}")
        self.seed = seed

    def _draw(self, kind, shape, dtype, **kwargs):
        tf = _tf()
        if self.seed is None:
            source = tf.random
        else:
            # A fresh generator per call: the same seed gives the same values every call.
            source = tf.random.Generator.from_seed(self.seed)
        return getattr(source, kind)(_shape(shape), dtype=_dtype(dtype), **kwargs)

    def get_config(self):
        return {"seed": self.seed}


class RandomNormal(RandomInitializer):
    """Normal samples with `mean` and `stddev` (defaults 0 and 0.05).

    >>> from tensorflux.keras import initializers
    >>> initializers.RandomNormal(seed=1)((3, 2)).shape
    TensorShape([3, 2])
    """

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean = mean
        self.stddev = stddev
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None):
        return self._draw("normal", shape, dtype, mean=self.mean, stddev=self.stddev)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(RandomInitializer):
    """Normal samples within 2 standard deviations of `mean` (defaults 0 and 0.05).

    >>> from tensorflux.keras import initializers
    >>> x = initializers.TruncatedNormal(seed=1)((100,)).numpy()
    >>> bool(abs(x).max() <= 0.1)
    True
    """

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean = mean
        self.stddev = stddev
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None):
        return self._draw("truncated_normal", shape, dtype, mean=self.mean,
                          stddev=self.stddev)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class RandomUniform(RandomInitializer):
    """Uniform samples in [minval, maxval) (defaults -0.05 and 0.05).

    >>> from tensorflux.keras import initializers
    >>> x = initializers.RandomUniform(seed=1)((100,)).numpy()
    >>> bool(x.min() >= -0.05 and x.max() < 0.05)
    True
    """

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval = minval
        self.maxval = maxval
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None):
        return self._draw("uniform", shape, dtype, minval=self.minval, maxval=self.maxval)

    def get_config(self):
        return {**super().get_config(), "minval": self.minval, "maxval": self.maxval}


def compute_fans(shape, input_axes=None, output_axes=None):
    """(fan_in, fan_out) of a weight shape, as Keras computes them.

    >>> from tensorflux.keras import initializers
    >>> initializers.compute_fans((3, 3, 8, 16))
    (72, 144)
    """
    shape = _shape(shape)
    if input_axes is not None and output_axes is not None:
        fan_in = _math.prod(shape[axis] for axis in input_axes)
        fan_out = _math.prod(shape[axis] for axis in output_axes)
        return int(fan_in), int(fan_out)
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = _math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class VarianceScaling(RandomInitializer):
    """Samples scaled to the weight's fans: variance = scale / n, n by `mode`.

    >>> from tensorflux.keras import initializers
    >>> init = initializers.VarianceScaling(scale=2.0, mode="fan_in", distribution="uniform")
    >>> bool(abs(init((50, 10)).numpy()).max() <= (3 * 2.0 / 50) ** 0.5)
    True
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None,
                 input_axes=None, output_axes=None):
        if scale <= 0.0:
            raise ValueError(f"Argument `scale` must be positive float. Received: scale={scale}")
        allowed_modes = {"fan_in", "fan_out", "fan_avg"}
        if mode not in allowed_modes:
            raise ValueError(f"Invalid `mode` argument: {mode}. Please use one of "
                             f"{sorted(allowed_modes)}")
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        allowed = {"uniform", "truncated_normal", "untruncated_normal"}
        if distribution not in allowed:
            raise ValueError(f"Invalid `distribution` argument: {distribution}. Please use one "
                             f"of {sorted(allowed)}")
        self.scale = scale
        self.mode = mode
        self.distribution = distribution
        self.input_axes = input_axes
        self.output_axes = output_axes
        super().__init__(seed=seed)

    def _variance(self, shape):
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        if self.mode == "fan_in":
            return self.scale / max(1.0, fan_in)
        if self.mode == "fan_out":
            return self.scale / max(1.0, fan_out)
        return self.scale / max(1.0, (fan_in + fan_out) / 2.0)

    def __call__(self, shape, dtype=None):
        scale = self._variance(shape)
        if self.distribution == "truncated_normal":
            stddev = _math.sqrt(scale) / _TRUNCATION_STDDEV
            return self._draw("truncated_normal", shape, dtype, mean=0.0, stddev=stddev)
        if self.distribution == "untruncated_normal":
            return self._draw("normal", shape, dtype, mean=0.0, stddev=_math.sqrt(scale))
        limit = _math.sqrt(3.0 * scale)
        return self._draw("uniform", shape, dtype, minval=-limit, maxval=limit)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "mode": self.mode,
                "distribution": self.distribution, "input_axes": self.input_axes,
                "output_axes": self.output_axes}


class _Preset(VarianceScaling):
    """A VarianceScaling with fixed scale/mode/distribution; its config holds only the seed."""

    _SCALE, _MODE, _DISTRIBUTION = 1.0, "fan_in", "truncated_normal"

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        super().__init__(scale=self._SCALE, mode=self._MODE, distribution=self._DISTRIBUTION,
                         seed=seed, input_axes=input_axes, output_axes=output_axes)

    def get_config(self):
        return {"seed": self.seed, "input_axes": self.input_axes,
                "output_axes": self.output_axes}


class GlorotUniform(_Preset):
    """Uniform in [-limit, limit], limit = sqrt(6 / (fan_in + fan_out)).

    >>> from tensorflux.keras import initializers
    >>> initializers.GlorotUniform(seed=1).get_config()
    {'seed': 1, 'input_axes': None, 'output_axes': None}
    """

    _SCALE, _MODE, _DISTRIBUTION = 1.0, "fan_avg", "uniform"


class GlorotNormal(_Preset):
    """Truncated normal with stddev sqrt(2 / (fan_in + fan_out)) / 0.8796."""

    _SCALE, _MODE, _DISTRIBUTION = 1.0, "fan_avg", "truncated_normal"


class LecunNormal(_Preset):
    """Truncated normal with stddev sqrt(1 / fan_in) / 0.8796."""

    _SCALE, _MODE, _DISTRIBUTION = 1.0, "fan_in", "truncated_normal"


class LecunUniform(_Preset):
    """Uniform in [-limit, limit], limit = sqrt(3 / fan_in)."""

    _SCALE, _MODE, _DISTRIBUTION = 1.0, "fan_in", "uniform"


class HeNormal(_Preset):
    """Truncated normal with stddev sqrt(2 / fan_in) / 0.8796."""

    _SCALE, _MODE, _DISTRIBUTION = 2.0, "fan_in", "truncated_normal"


class HeUniform(_Preset):
    """Uniform in [-limit, limit], limit = sqrt(6 / fan_in)."""

    _SCALE, _MODE, _DISTRIBUTION = 2.0, "fan_in", "uniform"


def _orthonormal_columns(a):
    """Q of the QR decomposition of `a` (rows >= cols) with R's diagonal made positive.

    Gram-Schmidt, applied twice per column for float32 accuracy, gives exactly that Q:
    the factorization with positive diag(R) is unique, which is what Keras's
    `q * sign(diag(r))` normalizes to.
    """
    tf = _tf()
    basis = None
    for column in tf.unstack(a, axis=1):
        v = tf.reshape(column, [-1, 1])
        if basis is not None:
            for _ in range(2):
                v = v - tf.matmul(basis, tf.matmul(basis, v, transpose_a=True))
        v = v / tf.norm(v)
        basis = v if basis is None else tf.concat([basis, v], axis=1)
    return basis


class Orthogonal(RandomInitializer):
    """A (semi-)orthogonal matrix from the QR decomposition of normal samples, times `gain`.

    >>> from tensorflux.keras import initializers
    >>> import tensorflux as tf
    >>> w = initializers.Orthogonal(seed=1)((4, 4))
    >>> bool(tf.reduce_max(tf.abs(tf.matmul(w, w, transpose_a=True) - tf.eye(4))) < 1e-5)
    True
    """

    def __init__(self, gain=1.0, seed=None):
        self.gain = gain
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None):
        tf = _tf()
        shape = _shape(shape)
        if len(shape) < 2:
            raise ValueError(f"The tensor to initialize must be at least two-dimensional. "
                             f"Received: shape={shape} of rank {len(shape)}.")
        num_rows = _math.prod(shape[:-1])
        num_cols = shape[-1]
        flat_shape = (max(num_cols, num_rows), min(num_cols, num_rows))
        a = self._draw("normal", flat_shape, dtype)
        q = _orthonormal_columns(a)
        if num_rows < num_cols:
            q = tf.transpose(q)
        return tf.constant(self.gain, dtype=q.dtype) * tf.reshape(q, shape)

    def get_config(self):
        return {**super().get_config(), "gain": self.gain}


def _cosine_sum(coefficients, length, periodic):
    """scipy's general_cosine window sum_k (-1)^k a_k cos(2 pi k n / (M - 1)) as a list: the
    cosine window of tf.signal, of period `length` when periodic (scipy's symmetric window of
    length + 1 less its last point), else length - 1."""
    from tensorflux.signal import _cosine_window

    period = length if periodic else length - 1
    return _cosine_window(coefficients, length, period, "float64").numpy().tolist()


def _bartlett(length, periodic):
    if length <= 1:
        return [1.0] * length
    size = length + 1 if periodic else length
    half = (size - 1) / 2.0
    values = [2.0 * n / (size - 1) if n <= half else 2.0 - 2.0 * n / (size - 1)
              for n in range(size)]
    return values[:length]


# scipy.signal.get_window's names for the windows tensorflux computes itself (Keras asks
# scipy, which tensorflux does not depend on).
_WINDOWS = {
    "hann": lambda m, p: _cosine_sum((0.5, 0.5), m, p),
    "hamming": lambda m, p: _cosine_sum((0.54, 0.46), m, p),
    "blackman": lambda m, p: _cosine_sum((0.42, 0.5, 0.08), m, p),
    "bartlett": _bartlett,
    "boxcar": lambda m, p: [1.0] * m,
}
_WINDOWS.update({"hanning": _WINDOWS["hann"], "han": _WINDOWS["hann"],
                 "hamm": _WINDOWS["hamming"], "ham": _WINDOWS["hamming"],
                 "black": _WINDOWS["blackman"], "blk": _WINDOWS["blackman"],
                 "bart": _WINDOWS["bartlett"], "brt": _WINDOWS["bartlett"],
                 "ones": _WINDOWS["boxcar"], "rect": _WINDOWS["boxcar"],
                 "rectangular": _WINDOWS["boxcar"], "box": _WINDOWS["boxcar"]})


def get_window(window, length, periodic=False):
    """The values (a list of floats) of the window named `window` (scipy.signal.get_window's
    names: "hann", "hamming", "blackman", "bartlett", "boxcar" and their aliases), symmetric
    or `periodic` (the DFT-even form spectral analysis uses).

    >>> [round(v, 6) for v in get_window("hann", 4, periodic=True)]
    [0.0, 0.5, 1.0, 0.5]
    """
    maker = _WINDOWS.get(window.lower()) if isinstance(window, str) else None
    if maker is None:
        raise ValueError(f"Unknown window type {window!r}: tensorflux computes the windows "
                         f"{', '.join(sorted(_WINDOWS))}; pass other windows as values.")
    return maker(int(length), bool(periodic))


class STFT(Initializer):
    """The kernel `(frame_length, 1, fft_length // 2 + 1)` of a convolution that computes a
    short-time Fourier transform: the real (`side="real"`, cosines) or imaginary (sines) part
    of the DFT basis, times `window` (a window name, its values, or None), scaled by the
    window's L2 norm (`scaling="density"`) or L1 norm ("spectrum").

    >>> from tensorflux.keras import initializers
    >>> kernel = initializers.STFT("real", window=None, scaling=None)((4, 1, 3))
    >>> kernel.numpy()[:, 0, 0].tolist()
    [1.0, 1.0, 1.0, 1.0]
    """

    def __init__(self, side="real", window="hann", scaling="density", periodic=False):
        if side not in ("real", "imag"):
            raise ValueError(f"side should be 'real' or 'imag', not {side}")
        if isinstance(window, str):
            get_window(window, 1)  # an unknown name fails now, not when a layer builds
        if scaling is not None and scaling not in ("density", "spectrum"):
            raise ValueError("Scaling is invalid, it must be `None`, 'density' or 'spectrum'. "
                             f"Received scaling={scaling}")
        self.side = side
        self.window = window
        self.scaling = scaling
        self.periodic = periodic

    def __call__(self, shape, dtype=None):
        tf = _tf()
        dtype = _dtype(dtype)
        frame_length, _, bins = _shape(shape)
        # Keras's arithmetic, in `dtype` step by step: -2 * t * (k / fft_length) * pi.
        fft_length = (bins - 1) * 2
        freq = tf.reshape(tf.range(bins, dtype=dtype), (1, 1, bins)) / tf.constant(
            fft_length, dtype)
        time = tf.reshape(tf.range(frame_length, dtype=dtype), (frame_length, 1, 1))
        args = (tf.constant(-2, dtype) * time) * freq * tf.constant(_math.pi, dtype)
        kernel = tf.cos(args) if self.side == "real" else tf.sin(args)
        if self.window is None:
            return kernel
        window = self.window
        if isinstance(window, str):
            window = get_window(window, frame_length, self.periodic)
        window = tf.cast(tf.convert_to_tensor(window), dtype)
        if tuple(window.shape) != (frame_length,):
            raise ValueError("The shape of `window` must be equal to [frame_length]."
                             f"Received: window shape={tuple(window.shape)}")
        window = tf.reshape(window, (frame_length, 1, 1))
        if self.scaling == "density":
            kernel = kernel * window / tf.sqrt(tf.reduce_sum(tf.square(window)))
        elif self.scaling == "spectrum":
            kernel = kernel * window / tf.reduce_sum(tf.abs(window))
        else:
            kernel = kernel * window
        return kernel

    def get_config(self):
        window = self.window
        if hasattr(window, "numpy"):
            window = window.numpy().tolist()
        return {"side": self.side, "window": window, "periodic": self.periodic,
                "scaling": self.scaling}


_CLASSES = (Initializer, Constant, Identity, Ones, Zeros, GlorotNormal, GlorotUniform, HeNormal,
            HeUniform, LecunNormal, LecunUniform, Orthogonal, RandomNormal, RandomUniform,
            STFT, TruncatedNormal, VarianceScaling)
ALL_OBJECTS_DICT = {cls.__name__: cls for cls in _CLASSES}
ALL_OBJECTS_DICT.update({_objects.snake_case(cls.__name__): cls for cls in _CLASSES})
ALL_OBJECTS_DICT.update({"IdentityInitializer": Identity, "normal": RandomNormal, "one": Ones,
                         "OrthogonalInitializer": Orthogonal, "uniform": RandomUniform,
                         "zero": Zeros, "STFTInitializer": STFT})

# Keras 3 exports each class under its snake_case name too (keras.initializers.he_normal is
# HeNormal); configs and saved files still name the class.
IdentityInitializer = Identity
OrthogonalInitializer = Orthogonal
STFTInitializer = STFT
constant = Constant
glorot_normal = GlorotNormal
glorot_uniform = GlorotUniform
he_normal = HeNormal
he_uniform = HeUniform
identity = Identity
lecun_normal = LecunNormal
lecun_uniform = LecunUniform
ones = Ones
orthogonal = Orthogonal
random_normal = RandomNormal
random_uniform = RandomUniform
stft = STFT
truncated_normal = TruncatedNormal
variance_scaling = VarianceScaling
zeros = Zeros


def serialize(initializer):
    """Keras 3's dict form: {"module": "keras.initializers", "class_name": ..., "config": ...}.

    >>> from tensorflux.keras import initializers
    >>> initializers.serialize(initializers.Zeros())["class_name"]
    'Zeros'
    """
    return _objects.serialize_object(initializer, "keras.initializers", ALL_OBJECTS_DICT)


def deserialize(config, custom_objects=None):
    """An initializer from a name or a Keras config dict."""
    obj = _objects.deserialize_object(config, ALL_OBJECTS_DICT, "initializer", custom_objects)
    return obj() if isinstance(obj, type) else obj


def get(identifier):
    """An initializer from None, a name ("glorot_uniform"), a config dict, a class or callable.

    >>> from tensorflux.keras import initializers
    >>> type(initializers.get("he_normal")).__name__
    'HeNormal'
    """
    if identifier is None:
        return None
    if _is_tensor_like(identifier):
        return _fixed_value(identifier)
    return _objects.get_object(identifier, ALL_OBJECTS_DICT, "initializer")


def _is_tensor_like(value):
    tf = _tf()
    return _is_dense_tensor(value) or isinstance(value, tf.Variable) or (
        hasattr(value, "__array__") and hasattr(value, "shape") and not callable(value))


def _fixed_value(value):
    tf = _tf()
    value = tf.convert_to_tensor(value.numpy() if hasattr(value, "numpy") else value)

    def initialize_fn(shape, dtype=None):
        if tuple(_shape(shape)) != tuple(value.shape):
            raise ValueError(f"initializer: the fixed value has shape {tuple(value.shape)}, "
                             f"but a weight of shape {tuple(_shape(shape))} was requested")
        return value if dtype is None else tf.cast(value, dtype)

    return initialize_fn
