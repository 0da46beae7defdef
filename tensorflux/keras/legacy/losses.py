"""tf.keras.losses.Reduction: Keras 2's names of the ways a loss reduces its values (Keras 3
takes the strings themselves)."""

__all__ = ["Reduction"]


class Reduction:
    """The `reduction` strings a Loss accepts, as Keras 2 named them.

    >>> import tensorflux as tf
    >>> tf.keras.losses.MeanSquaredError(reduction=tf.keras.losses.Reduction.SUM).reduction
    'sum'
    """

    AUTO = "auto"
    NONE = "none"
    SUM = "sum"
    SUM_OVER_BATCH_SIZE = "sum_over_batch_size"

    @classmethod
    def all(cls):
        return (cls.AUTO, cls.NONE, cls.SUM, cls.SUM_OVER_BATCH_SIZE)

    @classmethod
    def validate(cls, key):
        if key not in cls.all():
            raise ValueError(f'Invalid Reduction Key: {key}. Expected keys are "{cls.all()}"')
