"""Training machinery of keras.Model: the Trainer mixin, compiled losses and metrics, and the
data adapters fit/evaluate/predict iterate over."""

from tensorflux.keras.trainers.trainer import Trainer

__all__ = ["Trainer"]
