"""tf.summary.experimental: the default step (set_step, get_step), summary_scope and
write_raw_pb."""

from tensorflux.summary.summary_ops import summary_scope, write_raw_pb
from tensorflux.summary.writer import get_step, set_step

__all__ = ["get_step", "set_step", "summary_scope", "write_raw_pb"]
