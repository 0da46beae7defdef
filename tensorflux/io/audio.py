"""tf.audio: decode_wav and encode_wav for 16-bit PCM WAV files, in NumPy.

Both run eagerly and inside traced functions and Dataset.map (as host calls), with
TensorFlow's static shapes: decode_wav's audio is [samples, channels] float32 in [-1, 1),
its sample rate an int32 scalar.
"""

import collections
import struct

import numpy as np

from tensorflux import dtypes, errors

__all__ = ["decode_wav", "encode_wav"]

DecodeWav = collections.namedtuple("DecodeWav", ["audio", "sample_rate"])


def _fail(op, message):
    return errors.InvalidArgumentError(f"{op}: {message}", op)


def _chunks(data):
    """(chunk id, payload) of each RIFF chunk after the WAVE header."""
    if len(data) < 12 or data[:4] != b"RIFF":
        raise _fail("decode_wav", f"Header mismatch: Expected RIFF but found {data[:4]!r}")
    if data[8:12] != b"WAVE":
        raise _fail("decode_wav", f"Header mismatch: Expected WAVE but found {data[8:12]!r}")
    position = 12
    while position + 8 <= len(data):
        chunk_id = data[position:position + 4]
        size = struct.unpack("<I", data[position + 4:position + 8])[0]
        yield chunk_id, data[position + 8:position + 8 + size]
        position += 8 + size + (size & 1)  # chunks are padded to an even length


def _decode(data, desired_channels, desired_samples):
    """(float32 [samples, channels] array, sample rate) of WAV bytes."""
    fmt = samples = None
    for chunk_id, payload in _chunks(data):
        if chunk_id == b"fmt ":
            if len(payload) < 16:
                raise _fail("decode_wav", "fmt chunk is too short")
            fmt = struct.unpack("<HHIIHH", payload[:16])
        elif chunk_id == b"data" and fmt is not None:
            samples = payload
            break
    if fmt is None:
        raise _fail("decode_wav", "WAV data has no fmt chunk")
    if samples is None:
        raise _fail("decode_wav", "WAV data has no data chunk")
    encoding, channels, rate, _, _, bits = fmt
    if encoding not in (1, 0xFFFE):
        raise _fail("decode_wav", f"Bad audio format value of {encoding}: only PCM is supported")
    if bits != 16:
        raise _fail("decode_wav", f"Can only read 16-bit WAV files, but received {bits}")
    if channels < 1:
        raise _fail("decode_wav", f"Bad number of channels: {channels}")
    count = len(samples) // (2 * channels)
    audio = np.frombuffer(samples[:count * 2 * channels], "<i2").reshape(count, channels)
    audio = audio.astype(np.float32) / np.float32(32768.0)
    if desired_channels > 0:
        # Extra channels repeat the file's last one (mono becomes stereo by duplication).
        audio = audio[:, np.minimum(np.arange(desired_channels), channels - 1)]
    if desired_samples >= 0:
        audio = audio[:desired_samples]
        if len(audio) < desired_samples:
            audio = np.concatenate(
                [audio, np.zeros((desired_samples - len(audio), audio.shape[1]), np.float32)])
    return np.ascontiguousarray(audio, np.float32), np.int32(rate)


def _host_bytes(value):
    value = value.item() if hasattr(value, "item") else value
    return value.encode("latin-1") if isinstance(value, str) else bytes(value)


def decode_wav(contents, desired_channels=-1, desired_samples=-1, name=None):
    """(audio, sample_rate) of 16-bit PCM WAV bytes: audio float32 [samples, channels], each
    sample divided by 32768. `desired_channels` keeps the first channels (or repeats the last
    one); `desired_samples` cuts or pads with zeros; -1 keeps the file's.

    >>> from tensorflux.io.audio import decode_wav, encode_wav
    >>> clip, rate = decode_wav(encode_wav([[0.5], [-0.25]], 8000))
    >>> clip.numpy().tolist(), int(rate)
    ([[0.5], [-0.25]], 8000)
    """
    from tensorflux.control import numpy_function
    from tensorflux.ops.array import reshape, shape, stack
    from tensorflux.tensor import _TensorLike, convert_to_tensor

    desired_channels, desired_samples = int(desired_channels), int(desired_samples)
    tensor = contents if isinstance(contents, _TensorLike) else convert_to_tensor(contents)
    if tensor.dtype is not dtypes.string or tensor.shape.rank not in (0, None):
        raise _fail("decode_wav", f"`contents` must be a scalar string, received "
                                  f"{tensor.dtype.name} with shape {tuple(tensor.shape)}")
    if tensor._value is not None:
        audio, rate = _decode(_host_bytes(tensor.numpy()), desired_channels, desired_samples)
        return DecodeWav(convert_to_tensor(audio), convert_to_tensor(rate))
    audio, rate = numpy_function(
        lambda value: list(_decode(_host_bytes(value), desired_channels, desired_samples)),
        [tensor], Tout=[dtypes.float32, dtypes.int32])
    dims = shape(audio)
    audio = reshape(audio, stack([desired_samples if desired_samples >= 0 else dims[0],
                                  desired_channels if desired_channels > 0 else dims[1]]))
    return DecodeWav(audio, reshape(rate, []))


def wav_bytes(audio, sample_rate):
    """A [frames, channels] float clip as the bytes of a 16-bit PCM WAV file (also what
    tf.summary.audio writes)."""
    # float64 keeps x * 32768 + 0.5 exact for every float32 sample.
    clip = np.asarray(audio, np.float32).astype(np.float64)
    samples = np.clip(np.trunc(clip * 32768.0 + np.copysign(0.5, clip)), -32768,
                      32767).astype("<i2")
    data = samples.tobytes()
    channels = clip.shape[1]
    header = b"".join([
        b"RIFF", struct.pack("<I", 36 + len(data)), b"WAVE",
        b"fmt ", struct.pack("<IHHIIHH", 16, 1, channels, sample_rate,
                             sample_rate * channels * 2, channels * 2, 16),
        b"data", struct.pack("<I", len(data))])
    return header + data


def encode_wav(audio, sample_rate, name=None):
    """A [frames, channels] float32 clip as 16-bit PCM WAV bytes (a scalar string): each
    sample scaled by 32768, rounded half away from zero and clipped to the int16 range."""
    from tensorflux.control import numpy_function
    from tensorflux.ops.array import reshape
    from tensorflux.tensor import _TensorLike, convert_to_tensor

    tensor = audio if isinstance(audio, _TensorLike) else convert_to_tensor(audio,
                                                                           dtypes.float32)
    if tensor.dtype is not dtypes.float32:
        raise _fail("encode_wav", f"`audio` must be a float32 tensor, received "
                                  f"{tensor.dtype.name}")
    if tensor.shape.rank not in (2, None):
        raise _fail("encode_wav", f"`audio` must be 2-dimensional [frames, channels], "
                                  f"received shape {tuple(tensor.shape)}")
    rate = sample_rate if isinstance(sample_rate, _TensorLike) else convert_to_tensor(
        sample_rate, dtypes.int32)
    if tensor._value is not None and rate._value is not None:
        return convert_to_tensor(np.array(wav_bytes(tensor.numpy(), int(rate.numpy())),
                                          dtype=object))
    data = numpy_function(lambda clip, hz: np.array(wav_bytes(clip, int(hz)), dtype=object),
                          [tensor, rate], Tout=dtypes.string)
    return reshape(data, [])
