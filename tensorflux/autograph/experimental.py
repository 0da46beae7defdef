"""tf.autograph.experimental: do_not_convert, set_loop_options and the Feature names."""

import enum

from tensorflux.autograph.impl import do_not_convert

__all__ = ["Feature", "do_not_convert", "set_loop_options"]


class Feature(enum.Enum):
    """Optional conversions TensorFlow's AutoGraph names; tensorflux accepts and ignores
    them (its conversion is fixed)."""

    ALL = "ALL"
    AUTO_CONTROL_DEPS = "AUTO_CONTROL_DEPS"
    ASSERT_STATEMENTS = "ASSERT_STATEMENTS"
    BUILTIN_FUNCTIONS = "BUILTIN_FUNCTIONS"
    EQUALITY_OPERATORS = "EQUALITY_OPERATORS"
    LISTS = "LISTS"
    NAME_SCOPES = "NAME_SCOPES"


def set_loop_options(parallel_iterations=None, swap_memory=None, maximum_iterations=None,
                     shape_invariants=None):
    """Options for the loop whose body this call opens: `shape_invariants`, a list of
    (loop variable, shape) pairs whose shapes may change across iterations, and
    `maximum_iterations`. AutoGraph reads the call from the source when it converts the
    loop; run as plain Python it does nothing.

    >>> import tensorflux as tf
    >>> @tf.function
    ... def doubling(x):
    ...     for _ in tf.range(2):
    ...         tf.autograph.experimental.set_loop_options(
    ...             shape_invariants=[(x, tf.TensorShape([None]))])
    ...         x = tf.concat([x, x], 0)
    ...     return x
    >>> doubling(tf.constant([1.0])).numpy().tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    return None
