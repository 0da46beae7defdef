"""keras.ops.einops: `rearrange`, einops-style axis reordering, splitting and merging written
as one reshape, one transpose and one reshape."""

import math
import re

import tensorflux as tf
from tensorflux.keras.ops._dispatch import convert, keras_op, static_shape

__all__ = ["rearrange"]

_TERM = re.compile(r"\(([^()]*)\)|(\w+)")


def _groups(side, pattern):
    """Each axis of one side of a pattern as the list of its names: "b (h w)" gives
    [["b"], ["h", "w"]]."""
    groups, end = [], 0
    for match in _TERM.finditer(side):
        if side[end:match.start()].strip():
            break
        groups.append(match.group(1).split() if match.group(1) is not None
                      else [match.group(2)])
        end = match.end()
    if side[end:].strip():
        raise ValueError(f"rearrange: cannot read {side[end:].strip()!r} in the pattern "
                         f"{pattern!r}; axes are names, or names grouped in parentheses")
    return groups


@keras_op
def rearrange(tensor, pattern, **axes_lengths):
    """`tensor` with its axes reordered, split and merged as the einops `pattern` says
    ("b h w c -> b c h w", "b (h h1) w c -> b h (w h1) c" with h1=2); `axes_lengths` gives
    the sizes of split axes that cannot be inferred.

    >>> from tensorflux.keras import ops
    >>> ops.rearrange(ops.zeros((2, 3, 4)), "b h w -> b (w h)").shape
    TensorShape([2, 12])
    """
    tensor = convert(tensor)
    if pattern.count("->") != 1:
        raise ValueError(f"rearrange: the pattern must have one '->'; received {pattern!r}")
    source, target = (_groups(side, pattern) for side in pattern.split("->"))
    shape = static_shape(tensor)
    if len(source) != len(shape):
        raise ValueError(f"rearrange: the pattern {pattern!r} names {len(source)} axes; the "
                         f"tensor has shape {shape}")
    sizes = dict(axes_lengths)
    for axis, (group, dim) in enumerate(zip(source, shape)):
        dim = tf.shape(tensor)[axis] if dim is None else dim
        unknown = [name for name in group if name not in sizes]
        if len(group) == 1 and unknown:
            sizes[group[0]] = dim
        elif len(unknown) > 1:
            raise ValueError(f"rearrange: the group ({' '.join(group)}) of {pattern!r} has "
                             f"more than one length to infer; give all but one as keywords")
        elif unknown:
            sizes[unknown[0]] = dim // math.prod(sizes[name] for name in group
                                                 if name != unknown[0])
    names = [name for group in source for name in group]
    outputs = [name for group in target for name in group]
    if sorted(names) != sorted(outputs):
        raise ValueError(f"rearrange: both sides of {pattern!r} must name the same axes")
    split = tf.reshape(tensor, [sizes[name] for name in names])
    moved = tf.transpose(split, [names.index(name) for name in outputs])
    return tf.reshape(moved, [math.prod(sizes[name] for name in group) for group in target])
