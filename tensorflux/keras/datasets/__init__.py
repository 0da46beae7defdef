"""keras.datasets: small data sets, loaded as NumPy arrays."""

from tensorflux.keras.datasets import breast_cancer

__all__ = ["breast_cancer"]
