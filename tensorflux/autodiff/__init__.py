"""Reverse-mode automatic differentiation: GradientTape, custom_gradient, the walker; and
ForwardAccumulator's Jacobian-vector products built on it."""

from tensorflux.autodiff.backward import UnconnectedGradients
from tensorflux.autodiff.custom_gradient import custom_gradient
from tensorflux.autodiff.forward import ForwardAccumulator
from tensorflux.autodiff.tape import GradientTape

__all__ = ["ForwardAccumulator", "GradientTape", "UnconnectedGradients", "custom_gradient"]
