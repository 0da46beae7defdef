"""A minimal PNG encoder (8-bit grayscale, grayscale+alpha, RGB, RGBA) on zlib and NumPy.

>>> import numpy as np
>>> data = encode_png(np.zeros((2, 3, 1), np.uint8))
>>> data[:8], len(data) > 8
(b'\\x89PNG\\r\\n\\x1a\\n', True)
"""

import struct
import zlib

import numpy as np

__all__ = ["encode_png"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# channels -> PNG colour type
_COLOR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}


def _chunk(kind, data):
    return b"".join((struct.pack(">I", len(data)), kind, data,
                     struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)))


def encode_png(image, compression=-1):
    """The PNG bytes of a uint8 array of shape [height, width, channels], channels 1 to 4
    (as tf.image.encode_png). Every row uses filter type 0 (none)."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in _COLOR_TYPES:
        raise ValueError(f"encode_png: expected a uint8 array of shape [height, width, "
                         f"channels] with 1 to 4 channels, received dtype {image.dtype} and "
                         f"shape {image.shape}")
    height, width, channels = image.shape
    rows = np.zeros((height, 1 + width * channels), np.uint8)  # column 0: filter type 0
    rows[:, 1:] = image.reshape(height, width * channels)
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOR_TYPES[channels], 0, 0, 0)
    return b"".join((_SIGNATURE, _chunk(b"IHDR", header),
                     _chunk(b"IDAT", zlib.compress(rows.tobytes(), compression)),
                     _chunk(b"IEND", b"")))
