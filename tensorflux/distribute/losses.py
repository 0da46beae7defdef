"""tf.nn.compute_average_loss and tf.nn.scale_regularization_loss: losses scaled for the
sum that an optimizer step inside `strategy.run` takes over the replicas."""

import tensorflux as tf
from tensorflux.distribute.distribute_lib import get_replica_context, in_cross_replica_context

__all__ = ["compute_average_loss", "scale_regularization_loss"]


def _replicas(function):
    if in_cross_replica_context():
        raise RuntimeError(f"You are calling `{function}` in cross replica context, while it "
                           "was expected to be called in replica context.")
    return get_replica_context().num_replicas_in_sync


def compute_average_loss(per_example_loss, sample_weight=None, global_batch_size=None):
    """The sum of the (weighted) per-example losses over the global batch size: what each
    replica minimizes so that the replicas' summed gradients are the global batch's mean.

    >>> import tensorflux as tf
    >>> from tensorflux.distribute.losses import compute_average_loss
    >>> float(compute_average_loss(tf.constant([1.0, 2.0, 3.0])))
    2.0
    """
    replicas = _replicas("compute_average_loss")
    per_example_loss = tf.convert_to_tensor(per_example_loss)
    if per_example_loss.shape.rank == 0:
        raise ValueError("Invalid value passed for `per_example_loss`. Expected a tensor with "
                         f"at least rank 1. Received per_example_loss={per_example_loss} with "
                         "rank 0")
    dtype = per_example_loss.dtype
    if sample_weight is not None:
        per_example_loss = per_example_loss * tf.cast(sample_weight, dtype)
    if global_batch_size is None:
        global_batch_size = tf.shape(per_example_loss)[0] * replicas
    elif not tf.convert_to_tensor(global_batch_size).dtype.is_integer:
        raise TypeError(f"compute_average_loss: global_batch_size must be an integer, "
                        f"received {global_batch_size!r}")
    return tf.math.divide_no_nan(tf.reduce_sum(per_example_loss),
                                 tf.cast(global_batch_size, dtype))


def scale_regularization_loss(regularization_loss):
    """The sum of the regularization losses divided by the number of replicas (each replica
    adds it once).

    >>> import tensorflux as tf
    >>> float(tf.nn.scale_regularization_loss([1.0, 2.0]))
    3.0
    """
    replicas = _replicas("scale_regularization_loss")
    loss = tf.reduce_sum(tf.convert_to_tensor(regularization_loss))
    return loss / tf.cast(replicas, loss.dtype)
