"""tf.io image codecs: decode_png / encode_png (NumPy + zlib), decode_bmp, and decode_jpeg /
decode_gif / decode_image through Pillow.

PNG byte streams are built here from the PNG specification (png_bytes: zlib + struct, every
row filter type, Adam7 interlacing), independently of tensorflux's decoder; the expected
pixels follow the specification, and where TensorFlow converts (channels=, dtype=) its
libpng rules, with values recorded from TensorFlow 2.21 where the rule is TensorFlow's own.
"""

import io
import struct
import sys
import zlib

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import errors

# ---------------------------------------------------------------- an independent PNG writer

_ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
          (0, 1, 1, 2)]


def _chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data +
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def _row_bytes(row, depth):
    values = [int(v) for v in np.asarray(row).reshape(-1)]
    if depth == 16:
        return b"".join(struct.pack(">H", v) for v in values)
    if depth == 8:
        return bytes(values)
    bits = "".join(format(v, f"0{depth}b") for v in values)
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))


def _predictor(kind, a, b, c):
    if kind == 0:
        return 0
    if kind == 1:
        return a
    if kind == 2:
        return b
    if kind == 3:
        return (a + b) // 2
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _filtered(rows, bpp, filters):
    out, previous = b"", bytes(len(rows[0]))
    for number, row in enumerate(rows):
        kind = filters[number % len(filters)]
        line = bytearray([kind])
        for x, value in enumerate(row):
            a = row[x - bpp] if x >= bpp else 0
            c = previous[x - bpp] if x >= bpp else 0
            line.append((value - _predictor(kind, a, previous[x], c)) % 256)
        out += bytes(line)
        previous = row
    return out


def png_bytes(samples, depth, color_type, palette=None, transparency=None, interlace=False,
              filters=(0, 1, 2, 3, 4), idat_chunks=1):
    """A PNG file of `samples` (height, width[, channels]) as the specification lays it out."""
    samples = np.asarray(samples)
    if samples.ndim == 2:
        samples = samples[:, :, None]
    height, width, channels = samples.shape
    bpp = max(1, channels * depth // 8)
    windows = _ADAM7 if interlace else [(0, 0, 1, 1)]
    raw = b""
    for x0, y0, dx, dy in windows:
        part = samples[y0::dy, x0::dx]
        if part.size:
            raw += _filtered([_row_bytes(r, depth) for r in part], bpp, filters)
    data = zlib.compress(raw)
    cuts = [len(data) * i // idat_chunks for i in range(idat_chunks + 1)]
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(
        ">IIBBBBB", width, height, depth, color_type, 0, 0, int(interlace)))
    if palette is not None:
        out += _chunk(b"PLTE", bytes(np.asarray(palette, np.uint8).reshape(-1).tolist()))
    if transparency is not None:
        out += _chunk(b"tRNS", transparency)
    for start, stop in zip(cuts, cuts[1:]):
        out += _chunk(b"IDAT", data[start:stop])
    return out + _chunk(b"IEND", b"")


def _decode(data, **kwargs):
    return tf.io.decode_png(data, **kwargs).numpy()


RNG = np.random.default_rng(7)

# ---------------------------------------------------------------- the file's own samples


@pytest.mark.parametrize("interlace", [False, True])
@pytest.mark.parametrize("depth,color_type,channels", [
    (8, 0, 1), (16, 0, 1), (8, 2, 3), (16, 2, 3), (8, 4, 2), (16, 4, 2), (8, 6, 4), (16, 6, 4)])
def test_decode_png_reads_every_colour_type_filter_and_interlacing(depth, color_type,
                                                                   channels, interlace):
    samples = RNG.integers(0, 2 ** depth, (11, 13, channels))
    data = png_bytes(samples, depth, color_type, interlace=interlace, idat_chunks=3)
    decoded = _decode(data, dtype=tf.uint16 if depth == 16 else tf.uint8)
    assert decoded.dtype == (np.uint16 if depth == 16 else np.uint8)
    np.testing.assert_array_equal(decoded, samples)


@pytest.mark.parametrize("depth", [1, 2, 4])
@pytest.mark.parametrize("interlace", [False, True])
def test_low_bit_grey_scales_to_eight_bits(depth, interlace):
    samples = RNG.integers(0, 2 ** depth, (9, 11))
    decoded = _decode(png_bytes(samples, depth, 0, interlace=interlace))
    np.testing.assert_array_equal(decoded[..., 0], samples * (255 // (2 ** depth - 1)))


@pytest.mark.parametrize("depth", [1, 2, 4, 8])
def test_palette_images_expand_with_their_transparency(depth):
    colours = RNG.integers(0, 256, (2 ** depth, 3))
    index = RNG.integers(0, 2 ** depth, (6, 10))
    alphas = RNG.integers(0, 256, max(1, 2 ** depth // 2))  # shorter than the palette
    plain = _decode(png_bytes(index, depth, 3, palette=colours))
    np.testing.assert_array_equal(plain, colours[index])
    data = png_bytes(index, depth, 3, palette=colours, transparency=bytes(alphas.tolist()),
                     interlace=True)
    rgba = _decode(data)  # channels=0: a palette with tRNS has an alpha channel
    full = np.concatenate([alphas, np.full(2 ** depth - len(alphas), 255)])
    np.testing.assert_array_equal(rgba, np.dstack([colours[index], full[index]]))
    np.testing.assert_array_equal(_decode(data, channels=3), colours[index])


def test_tiny_and_one_pixel_interlaced_images():
    for shape in [(1, 1, 3), (2, 9, 4), (9, 2, 4), (3, 1, 3)]:
        samples = RNG.integers(0, 256, shape)
        data = png_bytes(samples, 8, 2 if shape[2] == 3 else 6, interlace=True)
        np.testing.assert_array_equal(_decode(data), samples)


# ---------------------------------------------------------------- TensorFlow's conversions

def test_channel_and_depth_conversions_follow_tensorflow():
    grey = RNG.integers(0, 256, (4, 5))
    data = png_bytes(grey, 8, 0)
    np.testing.assert_array_equal(_decode(data, channels=3), np.repeat(grey[..., None], 3, 2))
    rgba = _decode(data, channels=4)
    np.testing.assert_array_equal(rgba[..., :3], np.repeat(grey[..., None], 3, 2))
    assert (rgba[..., 3] == 255).all()
    np.testing.assert_array_equal(_decode(data, dtype=tf.uint16)[..., 0], grey * 257)
    wide = RNG.integers(0, 65536, (4, 5, 4))
    data = png_bytes(wide, 16, 6)
    np.testing.assert_array_equal(_decode(data), wide >> 8)  # libpng keeps the high byte
    np.testing.assert_array_equal(_decode(data, channels=3, dtype=tf.uint16), wide[..., :3])
    grey_alpha = RNG.integers(0, 256, (3, 4, 2))
    np.testing.assert_array_equal(_decode(png_bytes(grey_alpha, 8, 4), channels=1),
                                  grey_alpha[..., :1])


def test_rgb_to_grey_matches_values_recorded_from_tensorflow():
    rgb = [[[215, 147, 109], [0, 0, 0], [255, 255, 255]],
           [[10, 200, 30], [1, 2, 3], [250, 5, 128]]]
    data = png_bytes(rgb, 8, 2)
    assert _decode(data, channels=1)[..., 0].tolist() == [[162, 0, 255], [123, 1, 92]]
    assert _decode(data, channels=1, dtype=tf.uint16)[..., 0].tolist() == [
        [41634, 0, 65535], [31611, 257, 23644]]
    wide = png_bytes([[[63916, 9541, 33994], [15418, 51421, 56375], [65535, 0, 1]]], 16, 2)
    assert _decode(wide, channels=1, dtype=tf.uint16)[..., 0].tolist() == [
        [28587, 41222, 19594]]
    assert _decode(wide, channels=1)[..., 0].tolist() == [[111, 161, 76]]
    # TensorFlow's opaque filler has the file's bit depth: 3 for a 2-bit grey image.
    assert _decode(png_bytes([[0, 1, 2, 3]], 2, 0), channels=4).tolist() == [
        [[0, 0, 0, 3], [85, 85, 85, 3], [170, 170, 170, 3], [255, 255, 255, 3]]]


def test_decode_image_scales_floats_and_keeps_a_static_rank():
    samples = RNG.integers(0, 65536, (3, 4, 3))
    data = png_bytes(samples, 16, 2)
    floats = tf.io.decode_image(data, dtype=tf.float32)
    assert floats.dtype == tf.float32
    np.testing.assert_allclose(floats.numpy(), samples / 65535.0, rtol=1e-6)
    eight = RNG.integers(0, 256, (3, 4, 1))
    np.testing.assert_allclose(tf.io.decode_image(png_bytes(eight, 8, 0),
                                                  dtype=tf.float64).numpy(), eight / 255.0)


# ---------------------------------------------------------------- encoding, errors, graphs

@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_encode_png_round_trips(channels, dtype):
    top = np.iinfo(dtype).max
    image = RNG.integers(0, top + 1, (7, 9, channels)).astype(dtype)
    image[:3] = np.cumsum(image[:3], axis=1, dtype=dtype)  # smooth rows: other filters win
    data = tf.io.encode_png(image, compression=9)
    assert data.dtype == tf.string and data.shape == ()
    np.testing.assert_array_equal(tf.io.decode_png(data, dtype=tf.as_dtype(dtype)).numpy(),
                                  image)


def test_malformed_inputs_raise_invalid_argument():
    good = png_bytes(RNG.integers(0, 256, (4, 4, 3)), 8, 2)
    broken_crc = good[:-20] + bytes([good[-20] ^ 1]) + good[-19:]
    cases = [(b"", "empty"), (b"hello world", "Unknown image file format"),
             (good[:60], "PNG"), (broken_crc, "CRC"), (b"BM" + bytes(60), "BMP")]
    for data, message in cases:
        with pytest.raises(errors.InvalidArgumentError, match=message):
            tf.io.decode_png(data)
    with pytest.raises(errors.InvalidArgumentError, match="channels"):
        tf.io.decode_png(good, channels=2)
    with pytest.raises(errors.InvalidArgumentError, match="dtype"):
        tf.io.decode_png(good, dtype=tf.float32)
    with pytest.raises(errors.InvalidArgumentError, match="scalar"):
        tf.io.decode_png([good, good])
    with pytest.raises(errors.InvalidArgumentError, match="uint8 or uint16"):
        tf.io.encode_png(tf.zeros([2, 2, 3]))
    with pytest.raises(errors.InvalidArgumentError, match="5"):
        tf.io.encode_png(tf.zeros([2, 2, 5], tf.uint8))


def test_decoders_trace_with_tensorflows_static_shapes(tmp_path):
    data = png_bytes(RNG.integers(0, 256, (5, 6, 3)), 8, 2)

    @tf.function
    def decode(contents):
        shapes = [tuple(tf.io.decode_png(contents, channels=3).shape),
                  tuple(tf.io.decode_png(contents).shape),
                  tf.io.decode_image(contents).shape.rank,
                  tuple(tf.io.decode_image(contents, expand_animations=False).shape),
                  tuple(tf.io.encode_png(tf.io.decode_png(contents)).shape)]
        return tf.io.decode_png(contents, channels=1), shapes

    grey, shapes = decode(tf.constant(data))
    assert shapes == [(None, None, 3), (None, None, None), None, (None, None, None), ()]
    assert grey.shape == (5, 6, 1)
    paths = []
    for i in range(3):
        paths.append(str(tmp_path / f"{i}.png"))
        with open(paths[-1], "wb") as handle:
            handle.write(png_bytes(np.full((2 + i, 3, 3), i * 40), 8, 2))
    # The "Load images" tutorial's map: read_file and decode trace as TensorFlow's ops do.
    images = tf.data.Dataset.from_tensor_slices(paths).map(
        lambda path: tf.io.decode_png(tf.io.read_file(path), channels=3))
    assert tuple(images.element_spec.shape) == (None, None, 3)
    assert [tuple(x.shape) for x in images] == [(2, 3, 3), (3, 3, 3), (4, 3, 3)]
    assert [int(x.numpy().max()) for x in images] == [0, 40, 80]


# ---------------------------------------------------------------- BMP

def _bmp_bytes(pixels, bits, top_down=False):
    """An uncompressed BMP (BITMAPINFOHEADER) of (h, w, 3|4) RGB(A) or (h, w) indices."""
    height, width = pixels.shape[:2]
    depth = bits // 8
    stride = (width * depth + 3) // 4 * 4
    rows = pixels if top_down else pixels[::-1]
    body = b""
    for row in rows:
        line = row[:, [2, 1, 0, 3][:depth]] if depth >= 3 else row[:, None]
        body += bytes(line.astype(np.uint8).reshape(-1).tolist()).ljust(stride, b"\0")
    palette = bytes(4 * 256) if bits == 8 else b""
    offset = 14 + 40 + len(palette)
    header = b"BM" + struct.pack("<IHHI", offset + len(body), 0, 0, offset)
    info = struct.pack("<IiiHHIIiiII", 40, width, -height if top_down else height, 1, bits,
                       0, len(body), 0, 0, 256 if bits == 8 else 0, 0)
    return header + info + palette + body


@pytest.mark.parametrize("bits,top_down", [(24, False), (32, False), (24, True), (8, False)])
def test_decode_bmp(bits, top_down):
    shape = (5, 7) if bits == 8 else (5, 7, bits // 8)
    pixels = RNG.integers(0, 256, shape)
    data = _bmp_bytes(pixels, bits, top_down)
    expected = pixels[..., None] if bits == 8 else pixels
    np.testing.assert_array_equal(tf.io.decode_bmp(data).numpy(), expected)
    np.testing.assert_array_equal(tf.io.decode_image(data).numpy(), expected)
    rgb = tf.io.decode_bmp(data, channels=3).numpy()
    np.testing.assert_array_equal(rgb, np.broadcast_to(expected, shape[:2] + (3,))
                                  if bits == 8 else expected[..., :3])
    with pytest.raises(errors.InvalidArgumentError, match="decode_bmp"):
        tf.io.decode_png(data)
    with pytest.raises(errors.InvalidArgumentError, match="0, 3 or 4"):
        tf.io.decode_bmp(data, channels=1)


# ---------------------------------------------------------------- through Pillow

def _pillow():
    return pytest.importorskip("PIL.Image", reason="Pillow is the oracle here")


@pytest.mark.parametrize("mode", ["1", "L", "LA", "RGB", "RGBA", "P", "I;16"])
def test_pngs_written_by_pillow_decode_as_pillow_reads_them(mode):
    image_module = _pillow()
    pixels = RNG.integers(0, 256, (12, 17, 4)).astype(np.uint8)
    image = image_module.fromarray(pixels, "RGBA").convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="png")
    expected = np.asarray(image.convert("RGBA" if mode == "P" else image.mode))
    if mode == "1":
        expected = expected.astype(np.uint8) * 255
    dtype = tf.uint16 if mode == "I;16" else tf.uint8
    decoded = tf.io.decode_png(buffer.getvalue(), dtype=dtype).numpy()
    if mode == "P":  # Pillow writes tRNS for an RGBA-converted palette only if needed
        expected = expected[..., :decoded.shape[2]]
    np.testing.assert_array_equal(decoded, expected.reshape(decoded.shape))


def test_our_pngs_read_back_in_pillow():
    image_module = _pillow()
    pixels = RNG.integers(0, 256, (10, 8, 4)).astype(np.uint8)
    data = tf.io.encode_png(pixels).numpy()
    np.testing.assert_array_equal(np.asarray(image_module.open(io.BytesIO(data))), pixels)


def test_jpeg_and_gif_decode_as_pillow_does():
    image_module = _pillow()
    y, x = np.mgrid[:16, :24]
    smooth = np.stack([x * 10, y * 15, (x + y) * 5], -1).astype(np.uint8)
    buffer = io.BytesIO()
    image_module.fromarray(smooth).save(buffer, format="jpeg", quality=90)
    jpeg = buffer.getvalue()
    reference = np.asarray(image_module.open(io.BytesIO(jpeg)).convert("RGB"))
    np.testing.assert_array_equal(tf.io.decode_jpeg(jpeg).numpy(), reference)
    np.testing.assert_array_equal(tf.io.decode_image(jpeg).numpy(), reference)
    assert np.abs(tf.io.decode_jpeg(jpeg).numpy().astype(int) - smooth).max() < 12
    assert tf.io.decode_jpeg(jpeg, channels=1).shape == (16, 24, 1)
    assert tf.io.decode_jpeg(jpeg, ratio=2).shape == (8, 12, 3)
    with pytest.raises(errors.InvalidArgumentError, match="4 channels"):
        tf.io.decode_jpeg(jpeg, channels=4)
    frames = [RNG.integers(0, 256, (6, 5, 3)).astype(np.uint8) for _ in range(3)]
    images = [image_module.fromarray(f).convert("P") for f in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, format="gif", save_all=True, append_images=images[1:])
    gif = buffer.getvalue()
    expected = np.stack([np.asarray(i.convert("RGB")) for i in images])
    np.testing.assert_array_equal(tf.io.decode_gif(gif).numpy(), expected)
    np.testing.assert_array_equal(tf.io.decode_image(gif).numpy(), expected)
    np.testing.assert_array_equal(
        tf.io.decode_image(gif, expand_animations=False).numpy(), expected[0])
    with pytest.raises(errors.InvalidArgumentError, match="animated"):
        tf.io.decode_png(gif)


def test_without_pillow_jpeg_names_it_and_png_still_decodes(monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match="pip install pillow"):
        tf.io.decode_jpeg(b"\xff\xd8\xff\xe0" + bytes(20))
    samples = RNG.integers(0, 256, (3, 3, 3))
    np.testing.assert_array_equal(_decode(png_bytes(samples, 8, 2)), samples)
