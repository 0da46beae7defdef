"""keras.utils.plot_model and model_to_dot: a model's layer graph as Graphviz dot text.

The dot text needs nothing installed; rendering it to PNG/SVG/PDF runs Graphviz's `dot`
program, which must be on the PATH (as Keras requires graphviz).
"""

import os
import shutil
import subprocess

__all__ = ["model_to_dot", "plot_model"]

_GRAPHVIZ_MISSING = ("You must install graphviz (see instructions at "
                     "https://graphviz.gitlab.io/download/) for `plot_model` to work: the `dot` "
                     "program was not found on the PATH. (Saving to a `.dot` file needs no "
                     "graphviz.)")


class Dot:
    """The dot source of a graph, with pydot's `to_string()` and `create(prog, format)`."""

    def __init__(self, source, dpi=None):
        self.source = source
        self.dpi = dpi

    def to_string(self):
        return self.source

    def __str__(self):
        return self.source

    def create(self, prog="dot", format="png"):  # noqa: A002 - pydot's argument name
        program = shutil.which(prog)
        if program is None:
            raise ImportError(_GRAPHVIZ_MISSING)
        result = subprocess.run([program, f"-T{format}"], input=self.source.encode("utf-8"),
                                capture_output=True, check=False, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"graphviz `{prog}` failed: "
                               f"{result.stderr.decode('utf-8', 'replace')}")
        return result.stdout

    def write(self, path, format="raw"):  # noqa: A002 - pydot's argument name
        data = self.source.encode("utf-8") if format in ("raw", "dot") else self.create(
            format=format)
        with open(path, "wb") as handle:
            handle.write(data)


def _quote(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _shape_text(shapes):
    shapes = [tuple(s) if s is not None else None for s in shapes]
    if len(shapes) == 1:
        return str(shapes[0])
    return str(shapes)


def _layer_graph(model):
    """(layers in order, edges as (from layer, to layer), output shapes by layer id)."""
    network = model
    if not hasattr(network, "_nodes") and getattr(model, "_functional", None) is not None:
        network = model._functional
    operations = getattr(network, "_operations", None)
    if operations is None or not hasattr(network, "_nodes"):
        layers = list(model.layers)
        edges = list(zip(layers, layers[1:]))
        return layers, edges, {}
    edges, shapes = [], {}
    for operation in operations:
        for node in operation._inbound_nodes:
            shapes.setdefault(id(operation), [t.shape for t in node.output_tensors])
            for tensor in node.input_tensors:
                history = tensor._keras_history
                if history is not None and history.operation in operations:
                    edge = (history.operation, operation)
                    if edge not in edges:
                        edges.append(edge)
    return list(operations), edges, shapes


def _check_kwargs(kwargs):
    if kwargs.pop("layer_range", None) is not None:
        raise ValueError("Argument `layer_range` is no longer supported.")
    if kwargs:
        raise ValueError(f"Unrecognized keyword arguments: {kwargs}")


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True,
                 rankdir="TB", expand_nested=False, dpi=200, subgraph=False,
                 show_layer_activations=False, show_trainable=False, splines="ortho",
                 **kwargs):
    """The model's layers and connections as a Dot object (`str()` gives the dot text).

    >>> from tensorflux import keras
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    >>> "Dense" in model_to_dot(model).to_string()
    True
    """
    _check_kwargs(kwargs)
    layers, edges, shapes = _layer_graph(model)
    number = {id(layer): f"layer_{i}" for i, layer in enumerate(layers)}
    lines = [f"digraph {_quote(model.name)} {{",
             f"  graph [rankdir={rankdir}, concentrate=true, dpi={dpi}, "
             f"splines={_quote(splines)}];",
             "  node [shape=record];"]
    for layer in layers:
        class_name = type(layer).__name__
        label = f"{layer.name} ({class_name})" if show_layer_names else class_name
        rows = [label]
        activation = getattr(layer, "activation", None)
        if show_layer_activations and activation is not None:
            rows.append(f"Activation: {getattr(activation, '__name__', activation)}")
        if show_dtype:
            rows.append(f"Output dtype: {getattr(layer, 'dtype', None)}")
        if show_shapes and id(layer) in shapes:
            rows.append(f"Output shape: {_shape_text(shapes[id(layer)])}")
        if show_trainable:
            rows.append(f"Trainable: {'Y' if getattr(layer, 'trainable', False) else 'N'}")
        lines.append(f"  {number[id(layer)]} [label={_quote(chr(10).join(rows))}];")
    for source, target in edges:
        lines.append(f"  {number[id(source)]} -> {number[id(target)]};")
    lines.append("}")
    return Dot("\n".join(lines) + "\n", dpi=dpi)


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False,
               show_layer_names=False, rankdir="TB", expand_nested=False, dpi=200,
               show_layer_activations=False, show_trainable=False, splines="ortho", **kwargs):
    """Draws the model's graph into `to_file`: `.dot` writes the dot text (always works);
    other extensions (png, svg, pdf, ...) render it with Graphviz's `dot` program. A bitmap
    is also returned as an IPython Image when IPython is installed, so that a notebook shows
    it inline, as Keras does."""
    _check_kwargs(kwargs)
    dot = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype,
                       show_layer_names=show_layer_names, rankdir=rankdir,
                       expand_nested=expand_nested, dpi=dpi,
                       show_layer_activations=show_layer_activations,
                       show_trainable=show_trainable, splines=splines)
    to_file = os.fspath(to_file)
    extension = os.path.splitext(to_file)[1][1:].lower() or "png"
    if extension in ("dot", "gv"):
        dot.write(to_file, format="raw")
    else:
        dot.write(to_file, format=extension)
    if extension in ("png", "jpg", "jpeg", "gif"):
        try:
            from IPython import display
        except ImportError:
            return None
        return display.Image(filename=to_file)
    return None
