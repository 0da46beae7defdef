"""tensorflux.summary (tf.summary): TensorBoard event files, written without TensorFlow or
protobuf.

Events are encoded by tensorflux.proto.wire's schema-driven encoder (event_pb.py) and framed
as TFRecords with masked CRC-32C (record.py), so the unmodified `tensorboard` program reads
them. Scalars, histograms, images, audio and text are written the way TensorFlow 2 writes
them: as tensor summaries tagged with the plugin that displays them. reader.py reads event
files back (tf.compat.v1.train.summary_iterator).

>>> import tempfile, tensorflux as tf
>>> writer = tf.summary.create_file_writer(tempfile.mkdtemp())
>>> with writer.as_default():
...     for step in range(3):
...         _ = tf.summary.scalar("loss", 1.0 / (step + 1), step=step)
...     tf.summary.histogram("weights", [0.1, 0.5, 0.5, 0.9], step=0)
True
>>> writer.close()
"""

from tensorflux.summary import experimental
from tensorflux.summary.summary_ops import audio, graph, histogram, image, scalar, text, write
from tensorflux.summary.trace import trace_export, trace_off, trace_on
from tensorflux.summary.writer import (
    SummaryWriter,
    create_file_writer,
    create_noop_writer,
    flush,
    record_if,
    should_record_summaries,
)

__all__ = ["SummaryWriter", "audio", "create_file_writer", "create_noop_writer", "experimental",
           "flush", "graph", "histogram", "image", "record_if", "scalar",
           "should_record_summaries", "text", "trace_export", "trace_off", "trace_on", "write"]
