"""keras.layers.Discretization: bucketizes numbers by bin boundaries, given or learned by
adapt() as approximate quantiles (Keras's weighted quantile summaries, in float32)."""

import bisect
import math
import struct

from tensorflux.keras.layers.base import Layer, _describe
from tensorflux.keras.layers.preprocessing.category_encoding import encode_categorical

__all__ = ["Discretization"]

_MODES = ("int", "one_hot", "multi_hot", "count")


def _tf():
    import tensorflux as tf

    return tf


def _f32(value):
    """`value` rounded to float32 (one correctly rounded float64 operation on float32
    operands, rounded to float32, is the float32 operation's result)."""
    return struct.unpack("f", struct.pack("f", value))[0]


def _summarize(data, epsilon):
    """A summary (values, weights) of one batch: every `step`-th sorted value, each standing
    for `step` values."""
    tf = _tf()
    values = tf.sort(tf.reshape(tf.cast(tf.convert_to_tensor(data), "float32"), [-1]))
    count = int(values.shape[0])
    step = max(count / (1.0 / epsilon), 1)
    picked = values.numpy().tolist()[int(step - 1)::int(step)]
    return picked, [_f32(step)] * len(picked)


def _merge(new, old, epsilon):
    pairs = list(zip(new[0] + old[0], new[1] + old[1]))
    pairs.sort(key=lambda pair: pair[0])
    return _compress(([p[0] for p in pairs], [p[1] for p in pairs]), epsilon)


def _interp(x, xp, fp):
    """NumPy's interp at one point (float64), including its handling of exact hits."""
    j = bisect.bisect_right(xp, x) - 1
    if j == -1:
        return fp[0]
    if j >= len(xp) - 1 or xp[j] == x:
        return fp[j]
    slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
    result = slope * (x - xp[j]) + fp[j]
    if math.isnan(result):
        result = slope * (x - xp[j + 1]) + fp[j + 1]
        if math.isnan(result) and fp[j] == fp[j + 1]:
            result = fp[j]
    return result


def _compress(summary, epsilon):
    """Resamples a summary at the quantiles epsilon, 2 * epsilon, ..., 1 (Keras's
    compress_summary): cumulative weights in float32, interpolation in float64."""
    values, weights = summary
    if len(values) * epsilon < 1:
        return summary
    percents = [epsilon + i * epsilon for i in range(math.ceil(1.0 / epsilon))]
    cumulative = []
    total = 0.0
    for weight in weights:
        total = _f32(total + weight)
        cumulative.append(total)
    fractions = [_f32(c / total) for c in cumulative]
    new_values = [_interp(p, fractions, values) for p in percents]
    new_cumulative = [_interp(p, fractions, cumulative) for p in percents]
    new_weights = [c - p for c, p in zip(new_cumulative, [0.0] + new_cumulative[:-1])]
    return [_f32(v) for v in new_values], [_f32(w) for w in new_weights]


class Discretization(Layer):
    """Maps each number to the index of its bin: bin i holds
    `bin_boundaries[i - 1] <= x < bin_boundaries[i]`. With `num_bins`, `adapt(data)` places
    the boundaries at approximate quantiles (error about `epsilon`), as Keras does.

    >>> from tensorflux import keras
    >>> layer = keras.layers.Discretization(bin_boundaries=[0.0, 1.0, 2.0])
    >>> layer([[-1.5, 1.0, 3.4, 0.5]]).numpy().tolist()
    [[0, 2, 3, 1]]
    """

    _allow_non_tensor_positional_args = True  # (lists of numbers)

    def __init__(self, bin_boundaries=None, num_bins=None, epsilon=0.01, output_mode="int",
                 sparse=False, dtype=None, name=None):
        super().__init__(name=name, dtype=dtype)
        if sparse:
            raise NotImplementedError(f"{_describe(self)}: sparse=True (a SparseTensor output) "
                                      "is not supported by tensorflux")
        if output_mode not in _MODES:
            raise ValueError(f"The `output_mode` argument value of Discretization should be "
                             f"one of {', '.join(repr(m) for m in _MODES)}. Received: "
                             f"{output_mode}")
        if num_bins is not None and num_bins < 0:
            raise ValueError("`num_bins` must be greater than or equal to 0. Received: "
                             f"`num_bins={num_bins}`")
        if num_bins is not None and bin_boundaries is not None:
            raise ValueError("Both `num_bins` and `bin_boundaries` should not be set. "
                             f"Received: `num_bins={num_bins}` and "
                             f"`bin_boundaries={bin_boundaries}`")
        if num_bins is None and bin_boundaries is None:
            raise ValueError("You need to set either `num_bins` or `bin_boundaries`.")
        self.bin_boundaries = bin_boundaries
        self.num_bins = num_bins
        self.epsilon = epsilon
        self.output_mode = output_mode
        self.sparse = sparse
        self.summary = None if bin_boundaries else ([], [])
        self.built = True

    @property
    def output_dtype(self):
        return self.compute_dtype if self.output_mode != "int" else "int32"

    def adapt(self, data, steps=None):
        """Learns `num_bins - 1` boundaries from an array, a tensor, a tf.data Dataset or an
        iterable of batches (at most `steps` batches)."""
        if self.num_bins is None:
            raise ValueError("Cannot adapt a Discretization layer that has been initialized "
                             "with `bin_boundaries`, use `num_bins` instead.")
        self.reset_state()
        if hasattr(data, "element_spec") and hasattr(data, "take"):
            if steps is not None:
                data = data.take(steps)
            for batch in data:
                self.update_state(batch)
        elif hasattr(data, "__iter__") and not hasattr(data, "shape"):
            for i, batch in enumerate(data):
                if steps is not None and i >= steps:
                    break
                self.update_state(batch)
        else:
            self.update_state(data)
        self.finalize_state()

    def update_state(self, data):
        self.summary = _merge(_summarize(data, self.epsilon), self.summary, self.epsilon)

    def finalize_state(self):
        if self.num_bins is None:
            return
        self.bin_boundaries = _compress(self.summary, 1.0 / self.num_bins)[0][:-1]

    def reset_state(self):
        if self.num_bins is None:
            return
        self.summary = ([], [])

    def call(self, inputs):
        tf = _tf()
        if self.bin_boundaries is None:
            raise ValueError("You need to either pass the `bin_boundaries` argument at "
                             "construction time or call `adapt(dataset)` before you can start "
                             "using the `Discretization` layer.")
        inputs = tf.convert_to_tensor(inputs)
        if inputs.dtype.name != "float64":
            inputs = tf.cast(inputs, "float32")
        boundaries = tf.constant(list(self.bin_boundaries), dtype=inputs.dtype)
        # The index of x's bin is the number of boundaries at or below x.
        above = tf.greater_equal(tf.expand_dims(inputs, -1), boundaries)
        indices = tf.reduce_sum(tf.cast(above, "int32"), axis=-1)
        return encode_categorical(self, indices, self.output_mode,
                                  len(self.bin_boundaries) + 1, self.output_dtype)

    def get_config(self):
        return {"bin_boundaries": _listify(self.bin_boundaries), "num_bins": self.num_bins,
                "epsilon": self.epsilon, "output_mode": self.output_mode,
                "sparse": self.sparse, "name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = config["dtype"].get("config", {}).get("name")
        if config.get("bin_boundaries") is not None and config.get("num_bins") is not None:
            # An adapted layer: rebuilt from num_bins, then given its learned boundaries.
            boundaries = config.pop("bin_boundaries")
            layer = cls(**config)
            layer.bin_boundaries = boundaries
            return layer
        return cls(**config)


def _listify(value):
    if value is None:
        return None
    if hasattr(value, "numpy"):
        value = value.numpy()
    return value.tolist() if hasattr(value, "tolist") else list(value)
