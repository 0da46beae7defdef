"""PNG decoding and encoding in NumPy and zlib (ISO/IEC 15948): every colour type and bit
depth, palettes with transparency, Adam7 interlacing, chunk CRCs checked.

`decode` gives the file's own samples; `convert` turns them into the channels and bit depth
tf.io.decode_png asks for, with libpng's rules as TensorFlow configures it: 16 to 8 bits
keeps the high byte, 8 to 16 bits multiplies by 257, grey to RGB repeats, RGB to grey weighs
the channels (0.299, 0.587, 0.114), and tRNS becomes alpha only where alpha is asked for.
"""

import struct
import zlib

import numpy as np

__all__ = ["PngError", "decode", "convert", "encode"]

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# colour type: (channels, allowed bit depths)
_COLOR_TYPES = {0: (1, (1, 2, 4, 8, 16)), 2: (3, (8, 16)), 3: (1, (1, 2, 4, 8)),
                4: (2, (8, 16)), 6: (4, (8, 16))}
# Adam7 passes: (first column, first row, column step, row step).
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
          (0, 1, 1, 2))
# The most int16 entries in each of the wavefront's two skewed buffers (below): 16 MB.
_WAVEFRONT_SIZE = 8_000_000


class PngError(ValueError):
    """A byte string that is not a PNG this decoder can read (the message says why)."""


class PngImage:
    """The samples of a PNG as stored: `pixels` (height, width, channels) in uint8 or uint16
    (palette images: indices), plus what conversion needs."""

    def __init__(self, pixels, color_type, bit_depth, palette, transparency):
        self.pixels = pixels
        self.color_type = color_type
        self.bit_depth = bit_depth
        self.palette = palette            # (n, 3) uint8, colour type 3 only
        self.transparency = transparency  # palette alphas (n,) or the transparent sample(s)


def _chunks(data):
    if not data.startswith(SIGNATURE):
        raise PngError("not a PNG file (the 8-byte signature is missing)")
    pos = len(SIGNATURE)
    while pos + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        end = pos + 12 + length
        if end > len(data):
            raise PngError(f"the {kind.decode('latin-1')} chunk is truncated")
        (crc,) = struct.unpack(">I", data[end - 4:end])
        if zlib.crc32(data[pos + 4:pos + 8 + length]) & 0xFFFFFFFF != crc:
            raise PngError(f"CRC error in the {kind.decode('latin-1')} chunk")
        yield kind, body
        if kind == b"IEND":
            return
        pos = end
    raise PngError("the file ends before its IEND chunk")


def decode(data):
    """The PngImage in `data` (bytes); PngError if it is not a valid PNG."""
    header = palette = transparency = None
    compressed = []
    for kind, body in _chunks(bytes(data)):
        if kind == b"IHDR":
            header = _header(body)
        elif header is None:
            raise PngError("the first chunk is not IHDR")
        elif kind == b"PLTE":
            if len(body) % 3 or not 0 < len(body) <= 768:
                raise PngError(f"a PLTE chunk of {len(body)} bytes")
            palette = np.frombuffer(body, np.uint8).reshape(-1, 3)
        elif kind == b"tRNS":
            transparency = body
        elif kind == b"IDAT":
            compressed.append(body)
    if header is None or not compressed:
        raise PngError("the file has no IHDR or no IDAT chunk")
    width, height, depth, color_type, interlaced = header
    if color_type == 3 and palette is None:
        raise PngError("a palette image without a PLTE chunk")
    try:
        raw = zlib.decompress(b"".join(compressed))
    except zlib.error as error:
        raise PngError(f"the image data does not decompress ({error})") from error
    channels = _COLOR_TYPES[color_type][0]
    passes = _ADAM7 if interlaced else ((0, 0, 1, 1),)
    pixels = np.zeros((height, width, channels), np.uint16 if depth == 16 else np.uint8)
    pos = 0
    for x0, y0, dx, dy in passes:
        w, h = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if w <= 0 or h <= 0:
            continue
        stride = -(-w * channels * depth // 8)
        size = h * (stride + 1)
        if pos + size > len(raw):
            raise PngError("the image data is shorter than its size says")
        rows = np.frombuffer(raw, np.uint8, size, pos).reshape(h, stride + 1)
        pos += size
        pixels[y0::dy, x0::dx] = _samples(_unfilter(rows, max(1, channels * depth // 8)),
                                          w, channels, depth)
    return PngImage(pixels, color_type, depth, palette, _transparency(transparency,
                                                                      color_type, depth))


def _header(body):
    if len(body) != 13:
        raise PngError(f"an IHDR chunk of {len(body)} bytes")
    width, height, depth, color_type, compression, filtering, interlace = struct.unpack(
        ">IIBBBBB", body)
    if color_type not in _COLOR_TYPES or depth not in _COLOR_TYPES[color_type][1]:
        raise PngError(f"colour type {color_type} with bit depth {depth}")
    if width == 0 or height == 0 or compression or filtering or interlace > 1:
        raise PngError(f"an invalid IHDR ({width}x{height}, compression {compression}, "
                       f"filter method {filtering}, interlace method {interlace})")
    return width, height, depth, color_type, interlace


def _transparency(body, color_type, depth):
    if body is None:
        return None
    if color_type == 3:
        return np.frombuffer(body, np.uint8)
    wanted = {0: 1, 2: 3}.get(color_type)
    if wanted is None or len(body) < 2 * wanted:
        return None  # libpng ignores a tRNS chunk that does not fit the colour type
    return np.array(struct.unpack(f">{wanted}H", body[:2 * wanted]), np.uint32)


def _unfilter(rows, bpp):
    """The unfiltered bytes (h, stride) of filtered rows (h, 1 + stride).

    Average and Paeth make each byte depend on its left, upper and upper-left neighbours, so
    the rows are unfiltered along anti-diagonals: skewing row y right by y pixels turns each
    diagonal into one column, and each step reconstructs a whole column from the two before
    it, for every row at once (height + width steps instead of height * width).
    """
    filters = rows[:, 0]
    if filters.max(initial=0) > 4:
        raise PngError(f"unknown row filter type {int(filters.max())}")
    height, stride = rows.shape[0], rows.shape[1] - 1
    data = rows[:, 1:].reshape(height, stride // bpp, bpp).astype(np.int16)
    out = np.empty((height, stride), np.uint8)
    above = np.zeros((stride // bpp, bpp), np.int16)  # the row before the block
    # Rows per block: all of them unless the skewed buffer would outgrow _WAVEFRONT_SIZE.
    count = max(16, min(height, _WAVEFRONT_SIZE // ((height + stride // bpp) * bpp)))
    for start in range(0, height, count):
        block = _unfilter_block(data[start:start + count], filters[start:start + count],
                                above)
        out[start:start + len(block)] = block.reshape(len(block), stride)
        above = block[-1].astype(np.int16)
    return out


def _unfilter_block(data, filters, above):
    height, width, bpp = data.shape
    steps = height + width - 1
    y = np.arange(height)[:, None]
    # skewed[y + 1, y + x + 2] is pixel (y, x); row 0 holds the row above the block and
    # columns 0-1 stay zero, the left neighbours of each row's first pixel.
    skewed = np.zeros((height + 1, steps + 2, bpp), np.int16)
    filtered = np.zeros((height, steps, bpp), np.int16)
    filtered[y, y + np.arange(width)] = data
    skewed[0, 1:width + 1] = above  # row -1 sits one column left, as its skew says
    kind = filters[:, None]
    for k in range(steps):
        left = skewed[1:, k + 1]
        up = skewed[:-1, k + 1]
        up_left = skewed[:-1, k]
        predicted = np.choose(kind, (0, left, up, (left + up) >> 1,
                                     _paeth(left, up, up_left)))
        skewed[1:, k + 2] = (filtered[:, k] + predicted) & 0xFF
    return skewed[1:][y, y + np.arange(width) + 2].astype(np.uint8)


def _paeth(left, up, up_left):
    """The Paeth predictor: whichever neighbour is nearest left + up - up_left."""
    left, up, up_left = (v.astype(np.int16, copy=False) for v in (left, up, up_left))
    estimate = left + up - up_left
    to_left, to_up, to_up_left = (np.abs(estimate - left), np.abs(estimate - up),
                                  np.abs(estimate - up_left))
    return np.where((to_left <= to_up) & (to_left <= to_up_left), left,
                    np.where(to_up <= to_up_left, up, up_left))


def _samples(data, width, channels, depth):
    """(h, width, channels) samples of unfiltered row bytes."""
    height = data.shape[0]
    if depth == 16:
        return data.view(">u2").astype(np.uint16).reshape(height, width, channels)
    if depth == 8:
        return data.reshape(height, width, channels)
    bits = np.unpackbits(data, axis=1).reshape(height, -1, depth)
    weights = (1 << np.arange(depth - 1, -1, -1)).astype(np.uint8)
    values = (bits * weights).sum(axis=2, dtype=np.uint8)
    return values[:, :width * channels].reshape(height, width, channels)


# ---------------------------------------------------------------- conversion

def convert(image, channels=0, bits=8):
    """The image as `bits` (8 or 16) -bit samples with `channels` (0: the file's own; 1, 2,
    3 or 4), as tf.io.decode_png gives it."""
    pixels, depth, has_alpha = _expanded(image, channels)
    if channels == 0:
        channels = pixels.shape[2]
    color = pixels[..., :-1] if has_alpha else pixels
    alpha = pixels[..., -1:] if has_alpha else None
    if channels in (1, 2) and color.shape[2] == 3:
        color = _gray(color, depth)
    elif channels in (3, 4) and color.shape[2] == 1:
        color = np.repeat(color, 3, axis=2)
    if channels in (2, 4):
        if alpha is None:
            # TensorFlow asks libpng for an opaque filler of the file's own bit depth, so
            # 1-, 2- and 4-bit images get alpha 1, 3 and 15 (out of 255).
            opaque = (1 << image.bit_depth) - 1
            alpha = np.full(color.shape[:2] + (1,), opaque,
                            np.uint16 if depth == 16 else np.uint8)
        color = np.concatenate([color, alpha], axis=2)
    return _rescale(color, depth, bits)


def _expanded(image, channels):
    """(pixels of 8 or 16 bits with palettes expanded, their depth, whether the last channel
    is alpha); a tRNS chunk becomes alpha only where the output keeps an alpha channel."""
    pixels, depth, kind = image.pixels, image.bit_depth, image.color_type
    wants_alpha = channels in (2, 4) or (channels == 0 and kind == 3)
    if kind == 3:
        index = pixels[..., 0]
        if image.palette is not None and index.size and int(index.max()) >= len(image.palette):
            raise PngError(f"palette index {int(index.max())} is out of the "
                           f"{len(image.palette)}-colour palette")
        colors = image.palette[index]
        if image.transparency is None or not wants_alpha:
            return colors, 8, False
        alphas = np.full(len(image.palette), 255, np.uint8)
        given = image.transparency[:len(alphas)]
        alphas[:len(given)] = given
        return np.concatenate([colors, alphas[index][..., None]], axis=2), 8, True
    if depth < 8:
        pixels = pixels * np.uint8(255 // ((1 << depth) - 1))
        depth = 8
    has_alpha = kind in (4, 6)
    if image.transparency is not None and wants_alpha and not has_alpha:
        key = image.transparency
        if image.bit_depth < 8:
            key = key * (255 // ((1 << image.bit_depth) - 1))
        opaque = np.any(pixels != key.astype(pixels.dtype), axis=2, keepdims=True)
        alpha = np.where(opaque, (1 << depth) - 1, 0).astype(pixels.dtype)
        return np.concatenate([pixels, alpha], axis=2), depth, True
    return pixels, depth, has_alpha


def _gray(color, depth):
    """libpng's RGB to grey with TensorFlow's weights (0.299, 0.587) in libpng's 15-bit
    fixed point (9797, 19234, and 3737 for blue): 8-bit samples truncate, 16-bit ones
    round."""
    wide = color.astype(np.uint64)
    total = wide[..., 0] * 9797 + wide[..., 1] * 19234 + wide[..., 2] * 3737
    if depth == 16:
        return ((total + 16384) >> 15)[..., None].astype(np.uint16)
    return (total >> 15)[..., None].astype(np.uint8)


def _rescale(pixels, depth, bits):
    if depth == bits:
        return pixels
    if bits == 16:
        return pixels.astype(np.uint16) * np.uint16(257)
    return (pixels >> 8).astype(np.uint8)


# ---------------------------------------------------------------- encoding

def encode(pixels, compression=-1):
    """PNG bytes of a (height, width, channels) uint8 or uint16 array, 1 to 4 channels (grey,
    grey + alpha, RGB, RGBA); each row gets the filter with the smallest sum of absolute
    differences (libpng's heuristic), then zlib at `compression` (-1: zlib's default)."""
    height, width, channels = pixels.shape
    depth = 16 if pixels.dtype == np.uint16 else 8
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    data = pixels.astype(">u2") if depth == 16 else pixels
    rows = np.ascontiguousarray(data).view(np.uint8).reshape(height, -1)
    bpp = channels * depth // 8
    body = zlib.compress(_filtered(rows, bpp).tobytes(), compression)
    header = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


def _chunk(kind, body):
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def _filtered(rows, bpp):
    """Each row prefixed by its filter type and filtered, the type chosen per row. Filters
    act on whole rows at once (encoding needs no reconstruction); uint8 arithmetic wraps
    modulo 256 as the format does."""
    raw = rows
    left = np.zeros_like(raw)
    left[:, bpp:] = raw[:, :-bpp]
    up = np.zeros_like(raw)
    up[1:] = raw[:-1]
    up_left = np.zeros_like(raw)
    up_left[1:, bpp:] = raw[:-1, :-bpp]
    best = np.zeros(len(rows), np.uint8)
    chosen = raw.copy()
    lowest = _cost(chosen)
    for kind in range(1, 5):
        if kind == 1:
            candidate = raw - left
        elif kind == 2:
            candidate = raw - up
        elif kind == 3:
            candidate = raw - ((left.astype(np.uint16) + up) >> 1).astype(np.uint8)
        else:
            candidate = raw - _paeth(left, up, up_left).astype(np.uint8)
        cost = _cost(candidate)
        better = cost < lowest
        chosen[better], best[better], lowest[better] = candidate[better], kind, cost[better]
    return np.concatenate([best[:, None], chosen], axis=1)


def _cost(filtered):
    """Sum of |byte| per row, the bytes read as signed (libpng's filter heuristic)."""
    return np.abs(filtered.view(np.int8)).view(np.uint8).sum(axis=1, dtype=np.int64)
