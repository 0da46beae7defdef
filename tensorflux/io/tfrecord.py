"""TFRecord files (tf.io.TFRecordWriter, TFRecordOptions) and the record reader behind
tf.data.TFRecordDataset, with the CRC-32C checksums that guard every record.

A record on disk is: its length (uint64, little-endian), the masked CRC-32C of those 8 bytes
(uint32), the data, the masked CRC-32C of the data. A whole file may be GZIP- or
ZLIB-compressed; the writer's compressed bytes equal TensorFlow's (zlib with TF's defaults).

The reader checks every checksum before it hands a record out: a damaged length is never
trusted to size a read, and any mismatch, cut or undecodable stream raises DataLossError
naming the file and the record's offset (in the uncompressed stream). TensorFlow stops
silently at a header cut short by the end of a file; tensorflux reports it as DataLossError.

CRC-32C runs in NumPy: records are cut into 64-byte rows, every row's CRC advances 4 bytes
per step through two 64K-entry tables, and the rows of one record are combined by shifting
each by its distance from the record's end (a linear map of the 32-bit state).

>>> import os, tempfile
>>> import tensorflux as tf
>>> path = os.path.join(tempfile.mkdtemp(), "a.tfrecord")
>>> with tf.io.TFRecordWriter(path) as writer:
...     writer.write(b"first")
...     writer.write(b"second")
>>> [r.decode() for r in tf.data.TFRecordDataset(path).as_numpy_iterator()]
['first', 'second']
>>> hex(crc32c(b"123456789"))  # the CRC-32C check value
'0xe3069283'
"""

import os
import zlib

import numpy as np

from tensorflux import errors
from tensorflux.summary.crc32c import _MASK_DELTA, _TABLE  # (event files' CRC, shared)

__all__ = ["TFRecordOptions", "TFRecordWriter", "compression_name", "crc32c", "crc32c_many",
           "frames", "mask", "masked_crc32c", "read_fixed_length_records", "read_records"]

_ROW = 64  # bytes per row of the vectorized CRC
_SHORT = 256  # records up to this size are summed in plain Python when alone
_COMPRESSIONS = ("", "GZIP", "ZLIB")
_READ_CHUNK = 1 << 20  # bytes read (and decompressed) at a time
# The writer frames records in batches (checksums computed together) once it holds this many
# bytes or records.
_WRITE_BATCH = (1 << 20, 4096)




def _crc_python(data, crc=0xFFFFFFFF):
    """The CRC register after `data`, one table step per byte (short inputs)."""
    table = _TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def crc32c(data):
    """The CRC-32C (Castagnoli) of `data`, as an unsigned int.

    >>> crc32c(b"")
    0
    """
    data = bytes(data)
    if len(data) <= _SHORT:
        return _crc_python(data) ^ 0xFFFFFFFF
    return int(crc32c_many([data])[0])


def mask(crc):
    """TensorFlow's masked form of a CRC (rotated right by 15, plus a constant), which keeps
    a CRC of data that itself holds CRCs from being a fixed point."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def masked_crc32c(data):
    """mask(crc32c(data)), the checksum stored in TFRecord files."""
    return mask(crc32c(data))


# ------------------------------------------------------------------ vectorized CRC-32C

class _Tables:
    """Lookup tables built on first use: the 4-byte step (two 64K tables) and, per shift
    distance, the linear map `state -> state after n zero bytes` (four 256-entry tables)."""

    step_low = step_high = None
    shifts = {}


def _advance_zero_bytes(values, count):
    """Each 32-bit state in `values` (uint32 array) after `count` zero bytes."""
    table = np.asarray(_TABLE, dtype=np.uint32)
    for _ in range(count):
        values = (values >> np.uint32(8)) ^ table[values & np.uint32(0xFF)]
    return values


def _step_tables():
    if _Tables.step_low is None:
        low = np.arange(1 << 16, dtype=np.uint32)
        _Tables.step_low = _advance_zero_bytes(low, 4)
        _Tables.step_high = _advance_zero_bytes(low << np.uint32(16), 4)
    return _Tables.step_low, _Tables.step_high


def _apply(images, state):
    """A GF(2)-linear map of 32-bit ints given by the images of the 32 unit vectors."""
    result = 0
    bit = 0
    while state:
        if state & 1:
            result ^= images[bit]
        state >>= 1
        bit += 1
    return result


def _shift_tables(count):
    """Four byte tables of the map `state -> state after count zero bytes`."""
    tables = _Tables.shifts.get(count)
    if tables is not None:
        return tables
    # The images of the unit vectors after one zero byte, raised to `count` by squaring.
    one = [_crc_python(b"\0", 1 << bit) for bit in range(32)]
    power = [1 << bit for bit in range(32)]
    base, remaining = one, count
    while remaining:
        if remaining & 1:
            power = [_apply(base, image) for image in power]
        base = [_apply(base, image) for image in base]
        remaining >>= 1
    tables = np.zeros((4, 256), dtype=np.uint32)
    for byte in range(4):
        for bit in range(8):
            size = 1 << bit
            tables[byte, size:2 * size] = tables[byte, :size] ^ np.uint32(power[8 * byte + bit])
    _Tables.shifts[count] = tables
    return tables


def _shift(values, tables):
    return (tables[0][values & np.uint32(0xFF)] ^ tables[1][(values >> np.uint32(8)) & 0xFF]
            ^ tables[2][(values >> np.uint32(16)) & 0xFF] ^ tables[3][values >> np.uint32(24)])


def crc32c_many(chunks):
    """The CRC-32C of each bytes object of `chunks`, as a uint32 array, in one pass.

    Each chunk is left-padded with zeros to a whole number of rows (leading zeros do not
    change a CRC whose register starts at zero), and the initial all-ones register is folded
    into the chunk's first four bytes instead, so that every row starts from zero.
    """
    sizes = np.fromiter((len(c) for c in chunks), dtype=np.int64, count=len(chunks))
    result = np.zeros(len(chunks), dtype=np.uint32)
    short = np.flatnonzero(sizes < 4)
    for index in short:
        result[index] = _crc_python(chunks[index]) ^ 0xFFFFFFFF
    if len(short) == len(chunks):
        return result
    rows = np.maximum(-(-sizes // _ROW), 1)
    padding = rows * _ROW - sizes
    buffer = bytearray(b"".join(b"\0" * int(pad) + bytes(chunk)
                                for pad, chunk in zip(padding.tolist(), chunks)))
    flat = np.frombuffer(buffer, dtype=np.uint8)
    first_row = np.concatenate([[0], np.cumsum(rows)[:-1]])
    starts = first_row * _ROW + padding
    long = sizes >= 4
    for offset in range(4):
        flat[starts[long] + offset] ^= 0xFF
    low, high = _step_tables()
    words = flat.view("<u4").reshape(-1, _ROW // 4)
    state = np.zeros(words.shape[0], dtype=np.uint32)
    for column in range(words.shape[1]):
        state ^= words[:, column]
        state = low[state & np.uint32(0xFFFF)] ^ high[state >> np.uint32(16)]
    # Row r of a chunk with k rows is followed by k - 1 - r rows: shift it by that many.
    distance = np.repeat(first_row + rows, rows) - np.arange(state.shape[0]) - 1
    bit = 0
    while distance.any():
        moved = np.flatnonzero(distance & 1)
        if moved.size:
            state[moved] = _shift(state[moved], _shift_tables(_ROW << bit))
        distance >>= 1
        bit += 1
    combined = np.bitwise_xor.reduceat(state, first_row) ^ np.uint32(0xFFFFFFFF)
    result[long] = combined[long]
    return result


def _masked(crcs):
    """mask() of a uint32 array."""
    rotated = (crcs >> np.uint32(15)) | (crcs << np.uint32(17))
    return rotated + np.uint32(_MASK_DELTA)


# ------------------------------------------------------------------ options and writer

def compression_name(op, compression_type):
    """'' | 'GZIP' | 'ZLIB' from a compression type string, TFRecordOptions or None."""
    if isinstance(compression_type, TFRecordOptions):
        compression_type = compression_type.compression_type
    if hasattr(compression_type, "numpy"):
        compression_type = compression_type.numpy()
    if hasattr(compression_type, "item"):
        compression_type = compression_type.item()
    if isinstance(compression_type, bytes):
        compression_type = compression_type.decode("ascii", "replace")
    name = (compression_type or "").upper()
    if name not in _COMPRESSIONS:
        raise errors.InvalidArgumentError(
            f"{op}: compression_type must be '', 'GZIP' or 'ZLIB', received "
            f"{compression_type!r}", op)
    return name


class TFRecordOptions:
    """How a TFRecord file is compressed: compression_type '' (none), 'GZIP' or 'ZLIB', and
    zlib's settings (None means TensorFlow's defaults: level -1, window bits 15, memory
    level 9, strategy 0; GZIP adds 16 to the window bits for the gzip wrapper).
    `flush_mode` is the zlib flush that `TFRecordWriter.flush()` applies (zlib.Z_SYNC_FLUSH
    makes everything written so far decodable); the buffer sizes are accepted for TF's
    signature and not needed here."""

    def __init__(self, compression_type=None, flush_mode=None, input_buffer_size=None,
                 output_buffer_size=None, window_bits=None, compression_level=None,
                 compression_method=None, mem_level=None, compression_strategy=None):
        self.compression_type = compression_name("TFRecordOptions", compression_type)
        self.flush_mode = flush_mode
        self.input_buffer_size = input_buffer_size
        self.output_buffer_size = output_buffer_size
        self.window_bits = window_bits
        self.compression_level = compression_level
        self.compression_method = compression_method
        self.mem_level = mem_level
        self.compression_strategy = compression_strategy

    @classmethod
    def get_compression_type_string(cls, options):
        """The compression type string of `options` (TFRecordOptions, a string or None)."""
        return compression_name("TFRecordOptions", options)

    def _compressor(self):
        if not self.compression_type:
            return None
        bits = 15 if self.window_bits is None else int(self.window_bits)
        return zlib.compressobj(
            -1 if self.compression_level is None else int(self.compression_level),
            zlib.DEFLATED if self.compression_method is None else int(self.compression_method),
            bits + 16 if self.compression_type == "GZIP" else bits,
            9 if self.mem_level is None else int(self.mem_level),
            0 if self.compression_strategy is None else int(self.compression_strategy))


def _record_bytes(record):
    """A record given as bytes, str (UTF-8) or a scalar string tensor / NumPy value."""
    if isinstance(record, (bytes, bytearray, memoryview)):
        return bytes(record)
    if isinstance(record, str):
        return record.encode("utf-8")
    value = record.numpy() if hasattr(record, "numpy") else record
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, (bytes, str)):
        return _record_bytes(value)
    raise TypeError(f"TFRecordWriter.write: a record must be bytes or a str, received "
                    f"{type(record).__name__}")


def frames(records):
    """The bytes of a list of records as a TFRecord file stores them, one after another."""
    headers = [len(record).to_bytes(8, "little") for record in records]
    sums = _masked(crc32c_many(headers + records)).tolist()
    count = len(records)
    return b"".join(part for index in range(count) for part in (
        headers[index], sums[index].to_bytes(4, "little"), records[index],
        sums[count + index].to_bytes(4, "little")))


class TFRecordWriter:
    """Writes records to a TFRecord file (tf.io.TFRecordWriter), optionally compressed.

    `options` is a TFRecordOptions or a compression type string. Records are framed in
    batches (their checksums computed together) and written in place, not atomically:
    `flush()` hands everything written so far to the file, so other readers may follow it.
    Use the writer as a context manager or call `close()`, which finishes a compressed stream.
    """

    def __init__(self, path, options=None):
        if not isinstance(options, TFRecordOptions):
            options = TFRecordOptions(compression_type=options)
        self._options = options
        self._path = os.fsdecode(path)
        self._compressor = options._compressor()
        self._pending = []
        self._pending_bytes = 0
        try:
            self._file = open(self._path, "wb")  # noqa: SIM115 - closed by close()
        except FileNotFoundError:
            raise errors.NotFoundError(f"{self._path}; No such file or directory",
                                       "TFRecordWriter") from None

    def _check_open(self):
        if self._file is None:
            raise errors.FailedPreconditionError(
                f"TFRecordWriter: {self._path} is already closed", "TFRecordWriter")

    def _drain(self):
        if not self._pending:
            return
        data = frames(self._pending)
        self._pending = []
        self._pending_bytes = 0
        if self._compressor is not None:
            data = self._compressor.compress(data)
        self._file.write(data)

    def write(self, record):
        """Appends one record (bytes, or a str written as UTF-8)."""
        self._check_open()
        record = _record_bytes(record)
        self._pending.append(record)
        self._pending_bytes += len(record)
        if self._pending_bytes >= _WRITE_BATCH[0] or len(self._pending) >= _WRITE_BATCH[1]:
            self._drain()

    def flush(self):
        """Hands what was written to the operating system (see TFRecordOptions.flush_mode)."""
        self._check_open()
        self._drain()
        if self._compressor is not None and self._options.flush_mode:
            self._file.write(self._compressor.flush(int(self._options.flush_mode)))
        self._file.flush()

    def close(self):
        """Finishes the compressed stream, if any, and closes the file (again: no-op)."""
        if self._file is None:
            return
        try:
            self._drain()
            if self._compressor is not None:
                self._file.write(self._compressor.flush(zlib.Z_FINISH))
        finally:
            self._file.close()
            self._file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __del__(self):
        if getattr(self, "_file", None) is not None:
            self.close()


# ------------------------------------------------------------------ reading

def _open(op, path):
    try:
        return open(path, "rb")  # noqa: SIM115 - closed by the caller's `with`
    except (FileNotFoundError, NotADirectoryError):
        raise errors.NotFoundError(f"{path}; No such file or directory", op) from None
    except IsADirectoryError:
        raise errors.FailedPreconditionError(f"{path} is a directory, not a file", op) from None


def _chunks(op, path, compression, chunk_size):
    """The file's bytes, decompressed, as a stream of chunks of at most ~chunk_size."""
    with _open(op, path) as handle:
        if not compression:
            while True:
                chunk = handle.read(chunk_size)
                if not chunk:
                    return
                yield chunk
        wbits = 31 if compression == "GZIP" else 15
        decompressor = zlib.decompressobj(wbits)
        fed = False
        while True:
            data = handle.read(chunk_size)
            if not data:
                if fed and not decompressor.eof:
                    raise errors.DataLossError(
                        f"{path}: the {compression} stream ends early (the file is cut "
                        "short)", op)
                return
            fed = True
            while data:
                try:
                    out = decompressor.decompress(data, chunk_size)
                except zlib.error as error:
                    raise errors.DataLossError(
                        f"{path}: cannot decompress the {compression} stream ({error})",
                        op) from None
                if out:
                    yield out
                data = decompressor.unconsumed_tail
                if decompressor.eof and decompressor.unused_data:
                    # Another stream follows (concatenated gzip members are one file).
                    data = decompressor.unused_data + data
                    decompressor = zlib.decompressobj(wbits)


def _chunk_size(buffer_size):
    if buffer_size is None:
        return _READ_CHUNK
    size = int(buffer_size.numpy() if hasattr(buffer_size, "numpy") else buffer_size)
    if size < 0:
        raise errors.InvalidArgumentError(f"buffer_size must be >= 0, received {size}")
    return max(size, 1 << 16)


def _where(path, compression, offset):
    place = "of the uncompressed stream of" if compression else "of"
    return f"at offset {offset} {place} {path}"


def _damaged(path, compression, offset, what):
    return errors.DataLossError(
        f"corrupted record {_where(path, compression, offset)}: the {what} checksum does "
        "not match (a damaged file, or not a TFRecord file)", "TFRecordDataset")


def _header_ok(pending, start):
    header = bytes(pending[start:start + 8])
    stored = int.from_bytes(pending[start + 8:start + 12], "little")
    return mask(_crc_python(header) ^ 0xFFFFFFFF) == stored


def _verified(pending, starts, path, compression, base):
    """The records that begin at `starts` of `pending`, checked; the records before the
    first damaged one are returned along with that damage's error (or None)."""
    lengths = [int.from_bytes(pending[s:s + 8], "little") for s in starts]
    headers = [bytes(pending[s:s + 8]) for s in starts]
    records = [bytes(pending[s + 12:s + 12 + n]) for s, n in zip(starts, lengths)]
    stored_headers = np.array([int.from_bytes(pending[s + 8:s + 12], "little")
                               for s in starts], dtype=np.uint32)
    stored_data = np.array([int.from_bytes(pending[s + 12 + n:s + 16 + n], "little")
                            for s, n in zip(starts, lengths)], dtype=np.uint32)
    sums = _masked(crc32c_many(headers + records))
    bad_header = sums[:len(starts)] != stored_headers
    bad_data = sums[len(starts):] != stored_data
    bad = np.flatnonzero(bad_header | bad_data)
    if not bad.size:
        return records, None
    first = int(bad[0])
    what = "length" if bad_header[first] else "data"
    return records[:first], _damaged(path, compression, base + starts[first], what)


def read_records(path, compression_type=None, buffer_size=None, op="TFRecordDataset"):
    """Yields the records of one TFRecord file as bytes, every checksum verified."""
    compression = compression_name(op, compression_type)
    pending = bytearray()
    base = 0  # offset of pending[0] in the (uncompressed) stream
    for chunk in _chunks(op, path, compression, _chunk_size(buffer_size)):
        pending += chunk
        starts = []
        pos = 0
        broken = None
        while len(pending) - pos >= 12:
            end = pos + 16 + int.from_bytes(pending[pos:pos + 8], "little")
            if end > len(pending):
                # The record continues in the next chunk: trust its length only once checked.
                if not _header_ok(pending, pos):
                    broken = pos
                break
            starts.append(pos)
            pos = end
        if starts:
            records, error = _verified(pending, starts, path, compression, base)
            yield from records
            if error is not None:
                raise error
        if broken is not None:
            raise _damaged(path, compression, base + broken, "length")
        del pending[:pos]
        base += pos
    if pending:
        if len(pending) >= 12 and not _header_ok(pending, 0):
            raise _damaged(path, compression, base, "length")
        raise errors.DataLossError(
            f"truncated record {_where(path, compression, base)}: the file ends after "
            f"{len(pending)} of the record's bytes", op)


def read_fixed_length_records(path, record_bytes, header_bytes=0, footer_bytes=0,
                              compression_type=None, buffer_size=None,
                              op="FixedLengthRecordDataset"):
    """Yields the fixed-size records of one file, between its header and footer; a body
    that is not a whole number of records is an InvalidArgumentError, as in TensorFlow."""
    compression = compression_name(op, compression_type)

    def body_error(body):
        return errors.InvalidArgumentError(
            f"Excluding the header ({header_bytes} bytes) and footer ({footer_bytes} bytes), "
            f"input file \"{path}\" has body length {body} bytes, which is not an exact "
            f"multiple of the record length ({record_bytes} bytes).", op)

    if not compression:
        with _open(op, path) as handle:
            body = os.fstat(handle.fileno()).st_size - header_bytes - footer_bytes
        if body % record_bytes or body < 0:
            raise body_error(body)
    pending = bytearray()
    total = 0
    skip = header_bytes
    for chunk in _chunks(op, path, compression, _chunk_size(buffer_size)):
        total += len(chunk)
        if skip:
            dropped = min(skip, len(chunk))
            chunk = chunk[dropped:]
            skip -= dropped
        pending += chunk
        count = max(len(pending) - footer_bytes, 0) // record_bytes
        for index in range(count):
            yield bytes(pending[index * record_bytes:(index + 1) * record_bytes])
        del pending[:count * record_bytes]
    if len(pending) != footer_bytes:
        raise body_error(total - header_bytes - footer_bytes)
