"""tf.io image codecs: decode_png / encode_png in NumPy and zlib (tensorflux.io.png),
decode_bmp in NumPy, and decode_jpeg / decode_gif / WebP through Pillow when it is installed.

As in TensorFlow, every decoder looks at the bytes, not at its own name: decode_png and
decode_jpeg read PNG, JPEG and (one-frame) GIF alike. They run eagerly and inside traced
functions and Dataset.map (as host calls, with TensorFlow's static shapes).

JPEG pixels: Pillow's libjpeg decoder offers two settings, accurate (ISLOW DCT, fancy
upsampling) and draft (IFAST DCT, no fancy upsampling). dct_method="INTEGER_ACCURATE" with
fancy_upscaling=True and fancy_upscaling=False with the default or "INTEGER_FAST" DCT are
TensorFlow's pixels exactly; the two mixed settings (TF's default: INTEGER_FAST with fancy
upscaling, and INTEGER_ACCURATE without it) take the setting with the same upsampling and
can differ from TF's pixels by a few levels (3 at most on the test images).
encode_jpeg writes JPEG through Pillow (libjpeg too).
"""

import io as _stdio
import struct
import threading

import numpy as np

from tensorflux import dtypes, errors
from tensorflux.io import png

__all__ = ["decode_and_crop_jpeg", "decode_bmp", "decode_gif", "decode_image", "decode_jpeg",
           "decode_png", "encode_jpeg", "encode_png", "extract_jpeg_shape", "is_jpeg"]

_UNKNOWN = "Unknown image file format. One of JPEG, PNG, GIF, BMP, WebP required."


def _format(data):
    if data.startswith(png.SIGNATURE):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data.startswith(b"BM"):
        return "bmp"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _fail(op, message):
    return errors.InvalidArgumentError(f"{op}: {message}", op)


def _pillow(op, kind):
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError(f"tf.io.{op}: decoding {kind} images needs Pillow, which is not "
                          "installed: run `pip install pillow` (PNG and BMP decode without "
                          "it).") from error
    return Image


# ---------------------------------------------------------------- decoders on bytes

def _decode_png(op, data, channels, bits):
    try:
        return png.convert(png.decode(data), channels, bits)
    except png.PngError as error:
        raise _fail(op, f"Invalid PNG data: {error}") from error


# Pillow reads "tolerate truncated files" from a module global; a recovering decode sets it
# under this lock (a decode in another thread at that moment tolerates truncation too).
_TRUNCATED = threading.Lock()


def _decode_jpeg(op, data, channels, ratio=1, fast=False, recover=False):
    """JPEG pixels through Pillow; `fast`: libjpeg's IFAST DCT without fancy upsampling
    (Pillow's draft decoding), `recover`: a truncated file gives the rows it holds, the
    rest grey."""
    image_module = _pillow(op, "JPEG")
    image = image_module.open(_stdio.BytesIO(data))
    width, height = image.size
    # draft() makes libjpeg scale down by `ratio` (the largest of 8, 4, 2, 1 that the
    # requested size allows: floor sizes, so that 53 // (53 // 2) is 2) and, for grey,
    # output luma directly; libjpeg's output is ceil(size / ratio), as TF's.
    image.draft("L" if channels == 1 else None,
                (max(1, width // ratio), max(1, height // ratio)))
    if fast and getattr(image, "decoderconfig", None):
        image.decoderconfig = (image.decoderconfig[0], 1)  # (scale, draft)
    try:
        if recover:
            from PIL import ImageFile

            with _TRUNCATED:
                before = ImageFile.LOAD_TRUNCATED_IMAGES
                ImageFile.LOAD_TRUNCATED_IMAGES = True
                try:
                    image.load()
                finally:
                    ImageFile.LOAD_TRUNCATED_IMAGES = before
        else:
            image.load()
        if channels == 1:
            image = image.convert("L")
        elif channels == 3 or image.mode not in ("L", "RGB"):
            image = image.convert("RGB")
    except OSError as error:
        raise _fail(op, f"Invalid JPEG data or crop window ({error}); pass "
                        "try_recover_truncated=True to decode a truncated file") from error
    pixels = np.asarray(image)
    return pixels[:, :, None] if pixels.ndim == 2 else pixels


def _decode_frames(op, data, kind):
    """All frames of a GIF or WebP as (frames, height, width, channels) uint8 RGB(A)."""
    image_module = _pillow(op, kind)
    from PIL import ImageSequence

    image = image_module.open(_stdio.BytesIO(data))
    mode = "RGBA" if kind == "WebP" and image.mode == "RGBA" else "RGB"
    return np.stack([np.asarray(frame.convert(mode))
                     for frame in ImageSequence.Iterator(image)])


def _decode_bmp(op, data, channels):
    """An uncompressed 8-, 24- or 32-bit BMP, as TensorFlow reads it: 8-bit images give
    their palette indices as one grey channel, 32-bit ones keep their fourth byte as alpha."""
    if len(data) < 30:
        raise _fail(op, "Incomplete BMP header")
    offset, header_size, width, height, _, bits = struct.unpack("<I I i i H H", data[10:30])
    compression = struct.unpack("<I", data[30:34])[0] if header_size >= 40 else 0
    if bits not in (8, 24, 32) or compression not in (0, 3) or width <= 0 or height == 0:
        raise _fail(op, f"only uncompressed 8-, 24- and 32-bit BMP images are supported, "
                        f"received {bits} bits per pixel, compression {compression}")
    depth = bits // 8
    stride = (width * depth + 3) // 4 * 4
    rows = abs(height)
    if offset + stride * rows > len(data):
        raise _fail(op, "the BMP pixel data is truncated")
    pixels = np.frombuffer(data, np.uint8, stride * rows, offset).reshape(rows, stride)
    pixels = pixels[:, :width * depth].reshape(rows, width, depth)
    if height > 0:
        pixels = pixels[::-1]  # stored bottom row first
    if depth >= 3:
        pixels = pixels[:, :, [2, 1, 0, 3][:depth]]  # BGR(A) to RGB(A)
    return _with_channels(pixels, channels)


def _with_channels(pixels, channels):
    """uint8 pixels with 1, 3 or 4 channels turned into `channels` (0 keeps them)."""
    have = pixels.shape[2]
    if channels in (0, have):
        return np.ascontiguousarray(pixels)
    if have == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    if channels == 3:
        return np.ascontiguousarray(pixels[:, :, :3])
    opaque = np.full(pixels.shape[:2] + (1,), 255, np.uint8)
    return np.concatenate([pixels[:, :, :3], opaque], axis=2)


def _decode(op, data, channels, dtype, animated):
    """The pixels of image bytes in `dtype`: (h, w, c), or (frames, h, w, c) for GIF and
    WebP when `animated`."""
    if not data:
        raise _fail(op, "Input is empty.")
    kind = _format(data)
    if kind is None:
        raise _fail(op, _UNKNOWN)
    if kind == "bmp" and op != "decode_image":
        raise _fail(op, "Trying to decode BMP format using a wrong op. Use `decode_bmp` or "
                        "`decode_image` instead.")
    _check_channels(op, kind, channels)
    if kind == "png":
        wide = dtype is dtypes.uint16 or dtype.is_floating
        pixels = _decode_png(op, data, channels, 16 if wide else 8)
        return _converted(pixels, dtype)
    if kind == "jpeg":
        pixels = _decode_jpeg(op, data, channels)
    elif kind == "bmp":
        pixels = _decode_bmp(op, data, channels)
    else:
        frames = _decode_frames(op, data, "GIF" if kind == "gif" else "WebP")
        if not animated:
            if len(frames) > 1 and op not in ("decode_image", "decode_gif"):
                raise _fail(op, f"Got {len(frames)} frames, but animated gifs can only be "
                                "decoded by tf.io.decode_gif or tf.io.decode_image")
            frames = frames[0]
        if channels not in (0, 3, frames.shape[-1]):
            raise _fail(op, "Number of channels requested does not match input")
        pixels = frames[..., :3] if channels == 3 else frames
    return _converted(pixels, dtype)


def _check_channels(op, kind, channels):
    allowed = {"png": (0, 1, 3, 4), "jpeg": (0, 1, 3), "gif": (0, 3), "bmp": (0, 3, 4),
               "webp": (0, 3, 4)}[kind]
    if channels not in allowed:
        if kind == "jpeg" and channels == 4:
            raise _fail(op, "JPEG does not support 4 channels")
        raise _fail(op, f"`channels` must be {', '.join(map(str, allowed[:-1]))} or "
                        f"{allowed[-1]} for {kind.upper()}, but got {channels}")


def _converted(pixels, dtype):
    """8- or 16-bit pixels in `dtype`, as tf.image.convert_image_dtype scales them."""
    top = 65535 if pixels.dtype == np.uint16 else 255
    if dtype.is_floating:
        return pixels.astype(dtype.as_numpy_dtype) * dtype.as_numpy_dtype(1 / top)
    if dtype is dtypes.uint16 and top == 255:
        return pixels.astype(np.uint16) << 8
    return pixels


# ---------------------------------------------------------------- the tf.io functions

def _contents(op, contents):
    from tensorflux.tensor import convert_to_tensor

    tensor = convert_to_tensor(contents, dtype=dtypes.string) \
        if isinstance(contents, (bytes, str)) else convert_to_tensor(contents)
    if tensor.dtype is not dtypes.string or tensor.shape.rank not in (0, None):
        raise _fail(op, f"`contents` must be a scalar string, received {tensor.dtype.name} "
                        f"with shape {tuple(tensor.shape)}")
    return tensor


def _host_bytes(value):
    value = value.item() if hasattr(value, "item") else value
    return value.encode("latin-1") if isinstance(value, str) else bytes(value)


def _run(op, contents, dtype, rank, last, decode):
    """decode(bytes) -> array, as a host call on the scalar string `contents` that gives a
    `dtype` tensor of `rank` (None: unknown) whose last dimension is `last` when known."""
    from tensorflux.control import numpy_function
    from tensorflux.ops.array import reshape, shape, stack

    tensor = _contents(op, contents)
    image = numpy_function(lambda value: decode(_host_bytes(value)), [tensor], Tout=dtype)
    if rank is None:
        return image
    dims = shape(image)
    return reshape(image, stack([dims[i] for i in range(rank - 1)] +
                                [dims[rank - 1] if last is None else last]))


def _image_dtype(op, dtype, allowed):
    dtype = dtypes.as_dtype(dtype)
    if dtype not in allowed:
        raise _fail(op, f"dtype must be one of {', '.join(d.name for d in allowed)}, "
                        f"received {dtype.name}")
    return dtype


def decode_png(contents, channels=0, dtype=dtypes.uint8, name=None):
    """The pixels [height, width, channels] of PNG bytes (JPEG and GIF bytes decode too), as
    uint8 or uint16; `channels` 0 keeps the file's, 1, 3 and 4 convert (grey, RGB, RGBA).

    >>> import tensorflux as tf
    >>> data = tf.io.encode_png(tf.constant([[[7], [200]]], tf.uint8))
    >>> tf.io.decode_png(data, channels=3).numpy().tolist()
    [[[7, 7, 7], [200, 200, 200]]]
    """
    dtype = _image_dtype("decode_png", dtype, (dtypes.uint8, dtypes.uint16))
    channels = int(channels)
    if channels not in (0, 1, 3, 4):
        raise _fail("decode_png", f"`channels` must be 0, 1, 3 or 4 but got {channels}")
    return _run("decode_png", contents, dtype, 3, channels or None,
                lambda data: _decode("decode_png", data, channels, dtype, animated=False))


def _jpeg_options(op, channels, ratio, fancy_upscaling, try_recover_truncated,
                  acceptable_fraction, dct_method):
    channels, ratio = int(channels), int(ratio)
    if channels not in (0, 1, 3):
        raise _fail(op, "JPEG does not support 4 channels" if channels == 4 else
                    f"`channels` must be 0, 1 or 3 but got {channels}")
    if ratio not in (1, 2, 4, 8):
        raise _fail(op, f"ratio must be 1, 2, 4, or 8, got {ratio}")
    if dct_method not in ("", "INTEGER_FAST", "INTEGER_ACCURATE"):
        raise _fail(op, "dct_method must be one of {'', 'INTEGER_FAST', 'INTEGER_ACCURATE'}, "
                        f"received {dct_method!r}")
    if not 0 <= float(acceptable_fraction) <= 1:
        raise _fail(op, f"acceptable_fraction must be in [0, 1], got {acceptable_fraction}")
    # See the module docstring: the upsampling decides which of Pillow's two settings.
    fast = not fancy_upscaling
    return channels, ratio, fast, bool(try_recover_truncated)


def decode_jpeg(contents, channels=0, ratio=1, fancy_upscaling=True,
                try_recover_truncated=False, acceptable_fraction=1, dct_method="", name=None):
    """The uint8 pixels [height, width, channels] of JPEG bytes (needs Pillow; PNG and GIF
    bytes decode too), downscaled by `ratio` (1, 2, 4 or 8) in the decoder.

    `dct_method` and `fancy_upscaling` choose libjpeg's settings (TF's pixels exactly for
    INTEGER_ACCURATE with fancy upscaling and for no fancy upscaling with the default DCT;
    within a few levels otherwise: see the module docstring). With
    `try_recover_truncated`, a truncated file gives the rows it holds and grey below
    (Pillow's recovery: the pixels near the cut can differ from TF's, and
    `acceptable_fraction` is checked for range only, as libjpeg reports every row read).
    """
    channels, ratio, fast, recover = _jpeg_options(
        "decode_jpeg", channels, ratio, fancy_upscaling, try_recover_truncated,
        acceptable_fraction, dct_method)

    def decode(data):
        if _format(data) == "jpeg":
            return _decode_jpeg("decode_jpeg", data, channels, ratio, fast, recover)
        return _decode("decode_jpeg", data, channels, dtypes.uint8, animated=False)

    return _run("decode_jpeg", contents, dtypes.uint8, 3, channels or None, decode)


def decode_and_crop_jpeg(contents, crop_window, channels=0, ratio=1, fancy_upscaling=True,
                         try_recover_truncated=False, acceptable_fraction=1, dct_method="",
                         name=None):
    """decode_jpeg, then the window crop_window = [y, x, height, width] of the pixels
    (an InvalidArgumentError when it does not fit in the image)."""
    from tensorflux.tensor import convert_to_tensor

    op = "decode_and_crop_jpeg"
    channels, ratio, fast, recover = _jpeg_options(
        op, channels, ratio, fancy_upscaling, try_recover_truncated, acceptable_fraction,
        dct_method)
    window = convert_to_tensor(crop_window)
    if not window.dtype.is_integer or tuple(window.shape) not in ((4,), (None,)):
        raise _fail(op, f"crop_window must be an int32 vector [y, x, height, width], "
                        f"received {window.dtype.name} with shape {tuple(window.shape)}")
    from tensorflux.control import numpy_function
    from tensorflux.ops.array import reshape, shape, stack

    tensor = _contents(op, contents)

    def decode(value, box):
        data = _host_bytes(value)
        if _format(data) != "jpeg":
            raise _fail(op, "Invalid JPEG data or crop window: the contents are not JPEG")
        pixels = _decode_jpeg(op, data, channels, ratio, fast, recover)
        y, x, h, w = (int(v) for v in np.asarray(box).reshape(-1))
        rows, cols = pixels.shape[:2]
        if y < 0 or x < 0 or h <= 0 or w <= 0 or y + h > rows or x + w > cols:
            raise _fail(op, f"Invalid JPEG data or crop window: the window [{y}, {x}, {h}, "
                            f"{w}] does not fit in the {rows}x{cols} image")
        return np.ascontiguousarray(pixels[y:y + h, x:x + w])

    image = numpy_function(decode, [tensor, window], Tout=dtypes.uint8)
    dims = shape(image)
    return reshape(image, stack([dims[0], dims[1], channels or dims[2]]))


def _jpeg_header_shape(op, data):
    """(height, width, components) from the frame header (SOFn) of JPEG bytes."""
    if not data.startswith(b"\xff\xd8"):
        raise _fail(op, "Invalid JPEG data: the contents do not start with a JPEG marker")
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            position += 1
            continue
        marker = data[position + 1]
        if marker == 0xFF or marker == 0x01 or 0xD0 <= marker <= 0xD7:
            position += 1 if marker == 0xFF else 2
            continue
        length = struct.unpack(">H", data[position + 2:position + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD,
                      0xCE, 0xCF) and position + 10 <= len(data):
            height, width = struct.unpack(">HH", data[position + 5:position + 9])
            return height, width, data[position + 9]
        if marker == 0xDA:  # start of scan before any frame header
            break
        position += 2 + length
    raise _fail(op, "Invalid JPEG data: no frame header found")


def extract_jpeg_shape(contents, output_type=dtypes.int32, name=None):
    """[height, width, channels] of JPEG bytes, read from the header alone (no Pillow).

    >>> import tensorflux as tf
    >>> header = bytes.fromhex("ffd8ffc000110800250035030000000000000000ffd9")
    >>> tf.io.extract_jpeg_shape(header).numpy().tolist()
    [37, 53, 3]
    """
    from tensorflux.control import numpy_function
    from tensorflux.ops.array import reshape

    op = "extract_jpeg_shape"
    output_type = dtypes.as_dtype(output_type)
    if output_type not in (dtypes.int32, dtypes.int64):
        raise _fail(op, f"output_type must be int32 or int64, received {output_type.name}")
    tensor = _contents(op, contents)

    def read(value):
        dims = _jpeg_header_shape(op, _host_bytes(value))
        return np.array(dims, dtype=output_type.as_numpy_dtype)

    return reshape(numpy_function(read, [tensor], Tout=output_type), [3])


def is_jpeg(contents, name=None):
    """Whether the bytes start as JPEG does (a scalar bool, from the first 3 bytes).

    >>> import tensorflux as tf
    >>> bool(tf.io.is_jpeg(bytes.fromhex("ffd8ffe0"))), bool(tf.io.is_jpeg(b"GIF89a"))
    (True, False)
    """
    from tensorflux.ops import strings
    from tensorflux.ops.math import equal

    tensor = _contents("is_jpeg", contents)
    return equal(strings.substr(tensor, 0, 3), b"\xff\xd8\xff")


def encode_jpeg(image, format="", quality=95, progressive=False,  # noqa: A002 - TF's name
                optimize_size=False, chroma_downsampling=True, density_unit="in",
                x_density=300, y_density=300, xmp_metadata="", name=None):
    """JPEG bytes (a scalar string) of a uint8 image [height, width, 1 or 3], through Pillow
    (libjpeg): `quality` 0-100, `progressive`, `optimize_size` (optimised Huffman tables),
    `chroma_downsampling` (4:2:0, else 4:4:4), the JFIF density (`density_unit` 'in' or
    'cm') and an XMP packet, as TF writes them. `format` '' follows the channels;
    'grayscale' and 'rgb' require 1 and 3 channels.
    """
    from tensorflux.control import numpy_function
    from tensorflux.ops.array import reshape
    from tensorflux.tensor import convert_to_tensor

    op = "encode_jpeg"
    image = convert_to_tensor(image)
    if image.dtype is not dtypes.uint8:
        raise _fail(op, f"image must have type uint8, got {image.dtype.name}")
    if format not in ("", "grayscale", "rgb"):
        raise _fail(op, f"format must be '', 'grayscale' or 'rgb', received {format!r}")
    quality = int(quality)
    if not 0 <= quality <= 100:
        raise _fail(op, f"quality must be in [0,100], got {quality}")
    if density_unit not in ("in", "cm"):
        raise _fail(op, f"density_unit must be 'in' or 'cm', received {density_unit!r}")
    x_density, y_density = int(x_density), int(y_density)
    for what, value in (("x_density", x_density), ("y_density", y_density)):
        if not 0 <= value <= 65535:
            raise _fail(op, f"{what} must be in [0, 65535], got {value}")
    if image.shape.rank is not None and image.shape.rank != 3:
        raise _fail(op, f"image must be 3-dimensional [height, width, channels], received "
                        f"shape {tuple(image.shape)}")
    wanted = {"grayscale": 1, "rgb": 3}.get(format)
    xmp = xmp_metadata.encode("utf-8") if isinstance(xmp_metadata, str) else \
        bytes(xmp_metadata)
    image_module = _pillow(op, "JPEG")

    def encode(pixels):
        depth = pixels.shape[2] if pixels.ndim == 3 else None
        if depth not in (1, 3) or (wanted is not None and depth != wanted):
            raise _fail(op, f"image must have {wanted or '1 or 3'} channels"
                            f"{f' for format {format!r}' if wanted else ''}, got "
                            f"{list(pixels.shape)}")
        if 0 in pixels.shape[:2]:
            raise _fail(op, f"image must be non-empty, got shape {list(pixels.shape)}")
        picture = image_module.fromarray(np.ascontiguousarray(
            pixels[:, :, 0] if depth == 1 else pixels), "L" if depth == 1 else "RGB")
        options = {"quality": quality, "progressive": bool(progressive),
                   "optimize": bool(optimize_size),
                   # (one grey component is written 1x1, as TF's libjpeg call does)
                   "subsampling": 2 if chroma_downsampling and depth == 3 else 0}
        if xmp:
            options["xmp"] = xmp
        buffer = _stdio.BytesIO()
        picture.save(buffer, "JPEG", **options)
        data = bytearray(buffer.getvalue())
        # The JFIF APP0 segment: units (1 inch, 2 cm) and the densities, as TF sets them.
        if data[2:4] == b"\xff\xe0" and data[6:11] == b"JFIF\x00":
            data[13] = 1 if density_unit == "in" else 2
            data[14:18] = struct.pack(">HH", x_density, y_density)
        return np.array(bytes(data), dtype=object)

    return reshape(numpy_function(encode, [image], Tout=dtypes.string), [])


def decode_gif(contents, name=None):
    """The uint8 RGB frames [num_frames, height, width, 3] of GIF bytes (needs Pillow); each
    frame is the whole canvas, earlier frames showing through as the file says."""
    return _run("decode_gif", contents, dtypes.uint8, 4, 3,
                lambda data: _as_frames(_decode("decode_gif", data, 3, dtypes.uint8,
                                                animated=True)))


def _as_frames(pixels):
    return pixels if pixels.ndim == 4 else pixels[None]


def decode_bmp(contents, channels=0, name=None):
    """The uint8 pixels [height, width, channels] of an uncompressed BMP (no Pillow needed);
    `channels` 0 keeps the file's (1, 3 or 4), 3 and 4 convert."""
    channels = int(channels)
    if channels not in (0, 3, 4):
        raise _fail("decode_bmp", f"`channels` must be 0, 3 or 4 for BMP, but got {channels}")

    def decode(data):
        kind = _format(data)
        if kind != "bmp":
            raise _fail("decode_bmp", f"Trying to decode {(kind or 'unknown').upper()} "
                                      "format using DecodeBmp op. Use `decode_png` or "
                                      "`decode_image` instead.")
        return _decode_bmp("decode_bmp", data, channels)

    return _run("decode_bmp", contents, dtypes.uint8, 3, channels or None, decode)


def decode_image(contents, channels=None, dtype=dtypes.uint8, name=None,
                 expand_animations=True):
    """The pixels of PNG, JPEG, GIF, BMP or WebP bytes, found from the bytes themselves:
    [height, width, channels], or [num_frames, height, width, 3] for GIF (and WebP) when
    `expand_animations`. uint8, uint16 or float (scaled to [0, 1]) as `dtype` asks.

    >>> import tensorflux as tf
    >>> data = tf.io.encode_png(tf.constant([[[0, 255]]], tf.uint8))
    >>> tf.io.decode_image(data, dtype=tf.float32).numpy().tolist()
    [[[0.0, 1.0]]]
    """
    dtype = _image_dtype("decode_image", dtype, (dtypes.uint8, dtypes.uint16, dtypes.float16,
                                                 dtypes.float32, dtypes.float64))
    channels = int(channels or 0)
    if channels not in (0, 1, 3, 4):
        raise _fail("decode_image", f"`channels` must be 0, 1, 3 or 4 but got {channels}")
    animated = bool(expand_animations)
    return _run("decode_image", contents, dtype, None if animated else 3, channels or None,
                lambda data: _decode("decode_image", data, channels, dtype, animated))


def encode_png(image, compression=-1, name=None):
    """PNG bytes (a scalar string) of a uint8 or uint16 image [height, width, channels] with
    1 to 4 channels; `compression` is zlib's level, -1 its default.

    >>> import tensorflux as tf
    >>> data = tf.io.encode_png(tf.zeros([2, 3, 1], tf.uint8))
    >>> data.numpy()[:4]
    b'\\x89PNG'
    """
    from tensorflux.control import numpy_function
    from tensorflux.tensor import convert_to_tensor

    image = convert_to_tensor(image)
    compression = int(compression)
    if not -1 <= compression <= 9:
        raise _fail("encode_png", f"compression should be in [-1,9], got {compression}")
    if image.dtype not in (dtypes.uint8, dtypes.uint16):
        raise _fail("encode_png", f"image must have type uint8 or uint16, got "
                                  f"{image.dtype.name}")
    if image.shape.rank is not None and image.shape.rank != 3:
        raise _fail("encode_png", f"images must be rank 3 [height, width, channels], "
                                  f"received shape {tuple(image.shape)}")
    depth = image.shape[-1] if image.shape.rank else None
    if depth is not None and not 1 <= depth <= 4:
        raise _fail("encode_png", f"image must have 1, 2, 3, or 4 channels, got {depth}")

    def encode(pixels):
        if pixels.ndim != 3 or not 1 <= pixels.shape[2] <= 4 or 0 in pixels.shape[:2]:
            raise _fail("encode_png", "image must be a non-empty [height, width, channels] "
                                      f"array with 1 to 4 channels, got shape {pixels.shape}")
        return np.array(png.encode(pixels, compression), dtype=object)

    from tensorflux.ops.array import reshape

    return reshape(numpy_function(encode, [image], Tout=dtypes.string), [])
