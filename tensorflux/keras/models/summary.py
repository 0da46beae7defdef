"""Model.summary(): Keras 3's table (rich's heavy-head box, rows separated), drawn without
rich: same column widths, word wrapping, "…" for words wider than a column, alignment,
cropping at the console width, totals and byte sizes."""

import builtins
import os
import re
import shutil
import sys

from tensorflux.keras.engine import tree

__all__ = ["print_summary", "readable_memory_size"]


def readable_memory_size(size):
    units = ["B", "KB", "MB", "GB", "TB", "PB"]
    for unit in units:
        if size / 1024 < 1:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} {units[-1]}"


def _count(weights):
    total = 0
    for w in weights:
        size = 1
        for d in w.shape:
            size *= int(d)
        total += size
    return total


def _memory(weights):
    unique = {id(w): w for w in weights}.values()
    bits = 0
    for w in unique:
        size = 1
        for d in w.shape:
            size *= int(d)
        bits += size * _dtype_bits(w.dtype)
    return bits / 8


def _dtype_bits(dtype):
    name = getattr(dtype, "name", str(dtype))
    if name == "bool":
        return 1
    digits = re.findall(r"\d+", name)
    return int(digits[-1]) if digits else 32


def _format_shape(shape):
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _layer_shape(layer):
    nodes = layer._inbound_nodes
    if not nodes and not layer._build_shapes_dict:
        return "?"
    if nodes:
        # A node's output tensors, flattened into a list as Keras keeps them: several
        # outputs print as "[(...), (...)]" whatever structure the layer returned.
        shapes = [_format_shape(x.shape) for x in nodes[-1].output_tensors]
    else:
        try:
            shape_dict = layer._build_shapes_dict
            shape = next(iter(shape_dict.values())) if len(shape_dict) == 1 else None
            if shape is None:
                return "?"
            outputs = layer.compute_output_shape(shape)
            shapes = _map_shapes(outputs)
        except Exception:  # noqa: BLE001 - Keras prints "?" when it cannot infer a shape
            return "?"
    flat = tree.flatten(shapes)
    if len(flat) == 1:
        return flat[0]
    return str(shapes).replace("'", "")


def _map_shapes(shapes):
    if isinstance(shapes, tuple) and all(d is None or isinstance(d, int) for d in shapes):
        return _format_shape(shapes)
    if isinstance(shapes, dict):
        return {k: _map_shapes(v) for k, v in shapes.items()}
    return type(shapes)(_map_shapes(s) for s in shapes)


def _column_widths(line_length, positions, count):
    widths = []
    current = 0
    for pos in positions:
        width = int(pos * line_length) - current
        if width < 4:
            raise ValueError("Insufficient console width to print summary.")
        widths.append(width)
        current += width
    # rich adds one space of padding on each side and one border between columns; when the
    # result is wider than the table it reduces all columns evenly (rich's ratio_reduce).
    padded = [w + 2 for w in widths]
    available = line_length - (count + 1)
    excess = sum(padded) - available
    if excess > 0:
        total_ratio = len(padded)
        remaining = excess
        reduced = []
        for value in padded:
            distributed = min(value, round(remaining / total_ratio))
            reduced.append(value - distributed)
            remaining -= distributed
            total_ratio -= 1
        padded = reduced
    return padded


# A word as rich sees it: leading whitespace (only at the start of a line), non-space
# characters, trailing whitespace.
_WORD = re.compile(r"\s*\S+\s*")


def _break_offsets(text, width):
    """Where rich breaks `text` into lines of at most `width` cells when words may not be
    folded: before each word that does not fit the rest of the line; a word longer than
    the width gets a line of its own (and is cut with an ellipsis later)."""
    offsets = []
    used = 0
    for match in _WORD.finditer(text):
        start, word = match.start(), match.group(0)
        length = len(word.rstrip())
        if width - used >= length:
            used += len(word)
        elif length > width or (used and start):
            if start:
                offsets.append(start)
            used = len(word)
    return offsets


def _truncate(line, width):
    return line if len(line) <= width else line[:max(width - 1, 0)] + "…"


def _justify(line, width, align):
    """One wrapped line as rich's Lines.justify lays it out in `width` cells."""
    if align == "left":
        return _truncate(line, width).ljust(width)
    line = _truncate(line.rstrip(), width)
    if align == "center":
        # rich puts the odd space on the right; str.center may put it on the left.
        return (" " * ((width - len(line)) // 2) + line).ljust(width)
    return line.rjust(width)


def _wrap(text, width, align="left"):
    """A cell's lines as rich draws them in a column with overflow="ellipsis": word-wrapped,
    each line cut with "…" where a single word is wider than the column, then justified."""
    lines = []
    for paragraph in text.split("\n"):
        offsets = _break_offsets(paragraph, width)
        for begin, end in zip([0, *offsets], [*offsets, len(paragraph)]):
            line = paragraph[begin:end]
            if len(line) > width:  # trailing whitespace past the width is dropped
                excess = len(line) - width
                line = line[:len(line) - min(excess, len(line) - len(line.rstrip()))]
            lines.append(_justify(line, width, align))
    return lines


def _render_table(header, rows, widths, alignment):
    def border(left, fill, middle, right):
        return left + middle.join(fill * w for w in widths) + right

    def row_lines(cells, bar, bottom=False):
        wrapped = [_wrap(cell, w - 2, align)
                   for cell, w, align in zip(cells, widths, alignment)]
        height = max(len(c) for c in wrapped)
        # Body cells sit at the top of their row, header cells at the bottom (rich's rule).
        wrapped = [[" " * (w - 2)] * (height - len(c)) + c if bottom else
                   c + [" " * (w - 2)] * (height - len(c)) for c, w in zip(wrapped, widths)]
        return [bar + bar.join(f" {cell[i]} " for cell in wrapped) + bar
                for i in range(height)]

    out = [border("┏", "━", "┳", "┓")]
    out += row_lines(header, "┃", bottom=True)
    out.append(border("┡", "━", "╇", "┩"))
    for index, row in enumerate(rows):
        if index:
            out.append(border("├", "─", "┼", "┤"))
        out += row_lines(row, "│")
    out.append(border("└", "─", "┴", "┘"))
    return out


def _in_notebook():
    """Whether this runs in a Jupyter (or Colab, Databricks) kernel, as rich detects it."""
    get_ipython = getattr(builtins, "get_ipython", None)
    if get_ipython is None:
        return False
    shell = get_ipython()
    return ("google.colab" in str(type(shell)) or bool(os.getenv("DATABRICKS_RUNTIME_VERSION"))
            or type(shell).__name__ == "ZMQInteractiveShell")


def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _env_int(name):
    value = os.environ.get(name)
    return int(value) if value is not None and value.isdigit() else None


def _console_width(to_terminal):
    """The width rich's Console gives itself: 115 columns (or JUPYTER_COLUMNS) in a
    notebook; else $COLUMNS, the size of the first of stdin, stdout, stderr that is a
    terminal, or 80 (also 80 on a dumb terminal, unless $COLUMNS and $LINES are both set)."""
    if _in_notebook():
        return _env_int("JUPYTER_COLUMNS") or 115
    columns = _env_int("COLUMNS")
    if columns is not None and _env_int("LINES") is not None:
        return columns
    if to_terminal and os.environ.get("TERM", "").lower() in ("dumb", "unknown"):
        return 80
    width = None
    for descriptor in (0, 1, 2):
        try:
            width = os.get_terminal_size(descriptor).columns
            break
        except (AttributeError, ValueError, OSError):
            continue
    return columns or width or 80


def _layer_range(layers, layer_range):
    if layer_range is None:
        return 0, len(layers)
    if len(layer_range) != 2:
        raise ValueError("layer_range must be a list or tuple of length 2. Received: "
                         f"layer_range = {layer_range} of length {len(layer_range)}")
    if not all(isinstance(x, str) for x in layer_range):
        raise ValueError(f"layer_range should contain string type only. Received: "
                         f"{layer_range}")
    lower = [i for i, layer in enumerate(layers) if re.match(layer_range[0], layer.name)]
    upper = [i for i, layer in enumerate(layers) if re.match(layer_range[1], layer.name)]
    if not lower or not upper:
        raise ValueError("Passed layer_names do not match the layer names in the model. "
                         f"Received: {layer_range}")
    if min(lower) > max(upper):
        return min(upper), max(lower) + 1
    return min(lower), max(upper) + 1


def print_summary(model, line_length=None, positions=None, print_fn=None, expand_nested=False,
                  show_trainable=False, layer_range=None):
    """Prints (or passes to `print_fn`, as one string) Keras 3's model summary."""
    from tensorflux.keras.models.functional import Functional
    from tensorflux.keras.models.sequential import Sequential

    relevant = []
    if isinstance(model, Sequential) or not isinstance(model, Functional):
        sequential_like = True
        layers = model.layers
    else:
        layers = model._operations
        sequential_like = True
        nodes = []
        for depth_nodes in model._nodes_by_depth.values():
            if len(depth_nodes) > 1 or (len(depth_nodes) == 1 and
                                        len(depth_nodes[0].input_tensors) > 1):
                sequential_like = False
                break
            nodes += depth_nodes
        if sequential_like:
            for layer in model.layers:
                seen = False
                for node in layer._inbound_nodes:
                    if any(node is n for n in nodes):
                        if seen:
                            sequential_like = False
                            break
                        seen = True
                if not sequential_like:
                    break
    if sequential_like:
        default_length = 88
        positions = positions or [0.45, 0.80, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #"]
        alignment = ["left", "left", "right"]
    else:
        default_length = 108
        positions = positions or [0.3, 0.56, 0.74, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        alignment = ["left", "left", "right", "left"]
        for depth_nodes in model._nodes_by_depth.values():
            relevant += depth_nodes
    if show_trainable:
        default_length += 12
        positions = [p * 0.90 for p in positions] + [1.0]
        header.append("Trainable")
        alignment.append("center")
    default_length = min(default_length, shutil.get_terminal_size().columns - 4)
    line_length = line_length or default_length
    widths = _column_widths(line_length, positions, len(header))

    def connections(layer):
        text = ""
        for node in layer._inbound_nodes:
            if relevant and not any(node is n for n in relevant):
                continue
            for kt in node.input_tensors:
                operation, node_index, tensor_index = kt._keras_history
                if text:
                    text += ", "
                text += f"{operation.name}[{node_index}][{tensor_index}]"
        return text or "-"

    def fields(layer, prefix=""):
        name = f"{prefix}{layer.name} ({layer.__class__.__name__})"
        if not hasattr(layer, "built"):
            params = "0"
        elif not layer.built:
            params = "0 (unbuilt)"
        else:
            params = f"{layer.count_params():,}"
        row = [name, _layer_shape(layer), params]
        if not sequential_like:
            row.append(connections(layer))
        if show_trainable:
            row.append(("Y" if layer.trainable else "N") if layer.weights else "-")
        return row

    def layer_rows(layer, level=0):
        prefix = "   " * level + "└ " if level else ""
        rows = [fields(layer, prefix)]
        if expand_nested and getattr(layer, "layers", None):
            for sub in layer.layers:
                rows.extend(layer_rows(sub, level + 1))
        return rows

    start, stop = _layer_range(layers, layer_range)
    rows = []
    for layer in layers[start:stop]:
        rows.extend(layer_rows(layer))

    trainable = model.trainable_weights
    non_trainable = model.non_trainable_weights
    trainable_count, trainable_size = _count(trainable), _memory(trainable)
    non_trainable_count, non_trainable_size = _count(non_trainable), _memory(non_trainable)
    optimizer = getattr(model, "optimizer", None)
    optimizer_vars = []
    if getattr(model, "compiled", False) and optimizer is not None and \
            getattr(optimizer, "built", False):
        optimizer_vars = list(getattr(optimizer, "variables", []))
    total = trainable_count + non_trainable_count + _count(optimizer_vars)
    total_size = trainable_size + non_trainable_size + _memory(optimizer_vars)

    # rich crops table lines at its console's width, which it measures its own way.
    console_width = _console_width(to_terminal=print_fn is None and _isatty(sys.stdout))
    lines = [f'Model: "{model.name}"']
    lines += [line[:console_width] for line in _render_table(header, rows, widths, alignment)]
    lines.append(f" Total params: {total:,} ({readable_memory_size(total_size)})")
    lines.append(f" Trainable params: {trainable_count:,} "
                 f"({readable_memory_size(trainable_size)})")
    lines.append(f" Non-trainable params: {non_trainable_count:,} "
                 f"({readable_memory_size(non_trainable_size)})")
    if optimizer_vars:
        lines.append(f" Optimizer params: {_count(optimizer_vars):,} "
                     f"({readable_memory_size(_memory(optimizer_vars))})")
    text = "\n".join(lines) + "\n"
    if print_fn is not None:
        print_fn(text)
    else:
        sys.stdout.write(text)
