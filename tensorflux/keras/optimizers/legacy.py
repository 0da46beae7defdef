"""keras.optimizers.legacy: Keras 3 keeps the names of Keras 2's optimizers here only to say
that they are gone; creating one raises ImportError, as it does in Keras 3."""


class _LegacyOptimizer:
    """Stands for a Keras 2 (tf.keras) optimizer; instantiating it raises ImportError."""

    def __init__(self, *args, **kwargs):
        name = type(self).__name__
        raise ImportError(
            f"`keras.optimizers.legacy.{name}` is not supported in Keras 3, whose API "
            f"tensorflux follows. Use `keras.optimizers.{name}` instead (Keras 3's optimizer; "
            "Keras 2's `decay` argument is replaced by a learning-rate schedule).")


def _legacy(name):
    return type(name, (_LegacyOptimizer,), {"__module__": __name__,
                                            "__doc__": _LegacyOptimizer.__doc__})


Adagrad, Adam, Ftrl, Optimizer, RMSprop, SGD = (
    _legacy(name) for name in ("Adagrad", "Adam", "Ftrl", "Optimizer", "RMSprop", "SGD"))

__all__ = ["Adagrad", "Adam", "Ftrl", "Optimizer", "RMSprop", "SGD"]
