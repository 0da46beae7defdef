"""CRC-32C (Castagnoli), the checksum of TFRecord framing, and its masked form.

Pure Python with a 256-entry table (slicing by one byte); the `crc32c` or `google_crc32c`
extension is used instead when one happens to be installed (neither is required).

>>> hex(crc32c(b"123456789"))
'0xe3069283'
>>> hex(masked_crc32c(b""))
'0xa282ead8'
"""

__all__ = ["crc32c", "masked_crc32c"]

_POLYNOMIAL = 0x82F63B78  # CRC-32C, bit-reversed (the Castagnoli polynomial 0x1EDC6F41)
_MASK_DELTA = 0xA282EAD8  # TFRecord's mask constant (tensorflow/core/lib/hash/crc32c.h)


def _make_table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLYNOMIAL if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _make_table()


def _crc32c_python(data, crc=0):
    table = _TABLE
    crc ^= 0xFFFFFFFF
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _fast_implementation():
    """A C implementation's `(data, crc) -> crc` function, or None."""
    try:
        import crc32c as extension
        return lambda data, crc=0: extension.crc32c(bytes(data), crc)
    except ImportError:
        pass
    try:
        import google_crc32c as extension
        return lambda data, crc=0: extension.extend(crc, bytes(data))
    except ImportError:
        return None


_FAST = _fast_implementation()


def crc32c(data, crc=0):
    """The CRC-32C of `data` (bytes-like), continuing from `crc` (0 to start)."""
    if _FAST is not None:
        return _FAST(data, crc)
    return _crc32c_python(memoryview(data).cast("B"), crc)


def masked_crc32c(data):
    """TFRecord's masked CRC: the CRC rotated right by 15 bits plus a constant (mod 2**32),
    so that a CRC of data that itself holds CRCs is not trivially related to them."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF
