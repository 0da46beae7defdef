"""keras.datasets: Keras's data sets (downloaded into, or reused from, Keras's cache
`~/.keras/datasets`), plus breast_cancer and digits shipped inside the package."""

from tensorflux.keras.datasets import (
    boston_housing,
    breast_cancer,
    california_housing,
    cifar10,
    cifar100,
    digits,
    fashion_mnist,
    imdb,
    mnist,
    reuters,
)

__all__ = ["boston_housing", "breast_cancer", "california_housing", "cifar10", "cifar100",
           "digits", "fashion_mnist", "imdb", "mnist", "reuters"]
