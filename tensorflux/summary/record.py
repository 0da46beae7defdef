"""TFRecord framing: each record is its length (uint64, little-endian), the masked CRC-32C
of those 8 bytes, the data, and the masked CRC-32C of the data.

A reader stops cleanly at a truncated final record (a writer that crashed mid-write), and
raises on a record whose checksum does not match (corruption).

>>> record = encode_record(b"hi")
>>> len(record), record[:8].hex()
(18, '0200000000000000')
>>> import io
>>> list(iter_records(io.BytesIO(record + record[:7])))
[b'hi']
"""

import struct

from tensorflux.summary.crc32c import masked_crc32c

__all__ = ["DataLossError", "encode_record", "iter_records", "read_records"]

_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")
_HEADER_SIZE = _LENGTH.size + _CRC.size


class DataLossError(IOError):
    """A record whose checksum does not match its bytes."""


def encode_record(data):
    """The framed bytes of one record."""
    data = bytes(data)
    header = _LENGTH.pack(len(data))
    return b"".join((header, _CRC.pack(masked_crc32c(header)), data,
                     _CRC.pack(masked_crc32c(data))))


def iter_records(stream):
    """Yields the data of each whole record of a binary stream. A truncated last record
    ends the iteration; a checksum mismatch raises DataLossError."""
    offset = 0
    while True:
        header = stream.read(_HEADER_SIZE)
        if len(header) < _HEADER_SIZE:
            return
        length_bytes, (length_crc,) = header[:8], _CRC.unpack(header[8:])
        if masked_crc32c(length_bytes) != length_crc:
            raise DataLossError(f"TFRecord at byte {offset}: the length's checksum does not "
                                f"match (corrupted header)")
        (length,) = _LENGTH.unpack(length_bytes)
        body = stream.read(length + _CRC.size)
        if len(body) < length + _CRC.size:
            return
        data = body[:length]
        if masked_crc32c(data) != _CRC.unpack(body[length:])[0]:
            raise DataLossError(f"TFRecord at byte {offset}: the data's checksum does not "
                                f"match ({length} bytes)")
        yield data
        offset += _HEADER_SIZE + length + _CRC.size


def read_records(path):
    """The data of every whole record of a TFRecord file, as a list."""
    with open(path, "rb") as stream:
        return list(iter_records(stream))
