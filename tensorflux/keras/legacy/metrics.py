"""tf.keras.metrics' Keras 2 aliases: the loss functions under their short names (`mse`,
`MAE`, `kld`, `logcosh`, ...), usable as metrics."""

from tensorflux.keras.losses import (
    KLD,
    MAE,
    MAPE,
    MSE,
    MSLE,
    kld,
    kullback_leibler_divergence,
    logcosh,
    mae,
    mape,
    mse,
    msle,
)

__all__ = ["KLD", "MAE", "MAPE", "MSE", "MSLE", "kld", "kullback_leibler_divergence",
           "logcosh", "mae", "mape", "mse", "msle"]
