"""Graphs: the IR, tracing (tf.function), passes, and the compiled executor."""

from tensorflux.graph import control_flow, gradients  # noqa: F401 - registers their primitives
from tensorflux.graph.function import ConcreteFunction, Function, function
from tensorflux.graph.ir import Graph, GraphNode, SymbolicTensor

__all__ = ["ConcreteFunction", "Function", "Graph", "GraphNode", "SymbolicTensor", "function"]
