"""tf.summary.experimental: the default step (set_step, get_step)."""

from tensorflux.summary.writer import get_step, set_step

__all__ = ["get_step", "set_step"]
