"""tf.bitwise: bitwise and, or, xor, invert and shifts of integer tensors."""

from tensorflux.ops.bitwise import (
    bitwise_and,
    bitwise_or,
    bitwise_xor,
    invert,
    left_shift,
    right_shift,
)

__all__ = ["bitwise_and", "bitwise_or", "bitwise_xor", "invert", "left_shift", "right_shift"]

# tf.bitwise ops take RaggedTensors (on their flat values), as TensorFlow dispatches them.
from tensorflux.ops.dispatch import install as _install_dispatch  # noqa: E402

_install_dispatch(globals())
