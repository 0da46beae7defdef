"""Reverse-mode automatic differentiation: GradientTape, custom_gradient, the walker."""

from tensorflux.autodiff.backward import UnconnectedGradients
from tensorflux.autodiff.custom_gradient import custom_gradient
from tensorflux.autodiff.tape import GradientTape

__all__ = ["GradientTape", "UnconnectedGradients", "custom_gradient"]
