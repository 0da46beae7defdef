"""The string hashes of tf.strings' hash buckets, in pure Python: FarmHash's Fingerprint64
(`to_hash_bucket_fast`, and keras.layers.Hashing), keyed SipHash-2-4 (`to_hash_bucket_strong`)
and TensorFlow's legacy Hash64 (`to_hash_bucket`, MurmurHash64A with TF's seed). All are
fixed, published functions, so a bin computed here equals the bin TensorFlow computes on any
platform.

>>> fingerprint64(b"")  # FarmHash's k2 constant: the fingerprint of no bytes
11160318154034397263
"""

__all__ = ["fingerprint64", "hash64", "siphash24"]

_MASK = (1 << 64) - 1
_K0 = 0xC3A5C85C97CB3127
_K1 = 0xB492B66FBE98F273
_K2 = 0x9AE16A3B2F90404F


def _fetch64(data, at):
    return int.from_bytes(data[at:at + 8], "little")


def _fetch32(data, at):
    return int.from_bytes(data[at:at + 4], "little")


def _rotate(value, shift):
    return ((value >> shift) | (value << (64 - shift))) & _MASK if shift else value


def _shift_mix(value):
    return value ^ (value >> 47)


def _hash_len16(u, v, mul):
    a = ((u ^ v) * mul) & _MASK
    a ^= a >> 47
    b = ((v ^ a) * mul) & _MASK
    b ^= b >> 47
    return (b * mul) & _MASK


def _hash_len0to16(s, length):
    if length >= 8:
        mul = _K2 + length * 2
        a = (_fetch64(s, 0) + _K2) & _MASK
        b = _fetch64(s, length - 8)
        c = (_rotate(b, 37) * mul + a) & _MASK
        d = ((_rotate(a, 25) + b) * mul) & _MASK
        return _hash_len16(c, d, mul)
    if length >= 4:
        mul = _K2 + length * 2
        a = _fetch32(s, 0)
        return _hash_len16((length + (a << 3)) & _MASK, _fetch32(s, length - 4), mul)
    if length > 0:
        y = s[0] + (s[length >> 1] << 8)
        z = length + (s[length - 1] << 2)
        return (_shift_mix(((y * _K2) ^ (z * _K0)) & _MASK) * _K2) & _MASK
    return _K2


def _hash_len17to32(s, length):
    mul = _K2 + length * 2
    a = (_fetch64(s, 0) * _K1) & _MASK
    b = _fetch64(s, 8)
    c = (_fetch64(s, length - 8) * mul) & _MASK
    d = (_fetch64(s, length - 16) * _K2) & _MASK
    return _hash_len16((_rotate((a + b) & _MASK, 43) + _rotate(c, 30) + d) & _MASK,
                       (a + _rotate((b + _K2) & _MASK, 18) + c) & _MASK, mul)


def _hash_len33to64(s, length):
    mul = _K2 + length * 2
    a = (_fetch64(s, 0) * _K2) & _MASK
    b = _fetch64(s, 8)
    c = (_fetch64(s, length - 8) * mul) & _MASK
    d = (_fetch64(s, length - 16) * _K2) & _MASK
    y = (_rotate((a + b) & _MASK, 43) + _rotate(c, 30) + d) & _MASK
    z = _hash_len16(y, (a + _rotate((b + _K2) & _MASK, 18) + c) & _MASK, mul)
    e = (_fetch64(s, 16) * mul) & _MASK
    f = _fetch64(s, 24)
    g = ((y + _fetch64(s, length - 32)) * mul) & _MASK
    h = ((z + _fetch64(s, length - 24)) * mul) & _MASK
    return _hash_len16((_rotate((e + f) & _MASK, 43) + _rotate(g, 30) + h) & _MASK,
                       (e + _rotate((f + a) & _MASK, 18) + g) & _MASK, mul)


def _weak_hash32(s, at, a, b):
    """FarmHash's WeakHashLen32WithSeeds over the 32 bytes at s[at:]."""
    w, x, y, z = (_fetch64(s, at + 8 * i) for i in range(4))
    a = (a + w) & _MASK
    b = _rotate((b + a + z) & _MASK, 21)
    c = a
    a = (a + x + y) & _MASK
    b = (b + _rotate(a, 44)) & _MASK
    return (a + z) & _MASK, (b + c) & _MASK


def fingerprint64(data):
    """FarmHash Fingerprint64 (farmhashna::Hash64) of `data` (bytes), an unsigned 64-bit int."""
    s = bytes(data)
    length = len(s)
    if length <= 16:
        return _hash_len0to16(s, length)
    if length <= 32:
        return _hash_len17to32(s, length)
    if length <= 64:
        return _hash_len33to64(s, length)
    seed = 81
    x = seed
    y = (seed * _K1 + 113) & _MASK
    z = (_shift_mix((y * _K2 + 113) & _MASK) * _K2) & _MASK
    v = (0, 0)
    w = (0, 0)
    x = (x * _K2 + _fetch64(s, 0)) & _MASK
    end = ((length - 1) // 64) * 64
    last64 = end + ((length - 1) & 63) - 63
    at = 0
    while True:
        x = (_rotate((x + y + v[0] + _fetch64(s, at + 8)) & _MASK, 37) * _K1) & _MASK
        y = (_rotate((y + v[1] + _fetch64(s, at + 48)) & _MASK, 42) * _K1) & _MASK
        x ^= w[1]
        y = (y + v[0] + _fetch64(s, at + 40)) & _MASK
        z = (_rotate((z + w[0]) & _MASK, 33) * _K1) & _MASK
        v = _weak_hash32(s, at, (v[1] * _K1) & _MASK, (x + w[0]) & _MASK)
        w = _weak_hash32(s, at + 32, (z + w[1]) & _MASK, (y + _fetch64(s, at + 16)) & _MASK)
        z, x = x, z
        at += 64
        if at == end:
            break
    mul = _K1 + ((z & 0xFF) << 1)
    at = last64
    w0 = (w[0] + ((length - 1) & 63)) & _MASK
    v0 = (v[0] + w0) & _MASK
    w0 = (w0 + v0) & _MASK
    v, w = (v0, v[1]), (w0, w[1])
    x = (_rotate((x + y + v[0] + _fetch64(s, at + 8)) & _MASK, 37) * mul) & _MASK
    y = (_rotate((y + v[1] + _fetch64(s, at + 48)) & _MASK, 42) * mul) & _MASK
    x ^= (w[1] * 9) & _MASK
    y = (y + v[0] * 9 + _fetch64(s, at + 40)) & _MASK
    z = (_rotate((z + w[0]) & _MASK, 33) * mul) & _MASK
    v = _weak_hash32(s, at, (v[1] * mul) & _MASK, (x + w[0]) & _MASK)
    w = _weak_hash32(s, at + 32, (z + w[1]) & _MASK, (y + _fetch64(s, at + 16)) & _MASK)
    z, x = x, z
    return _hash_len16(
        (_hash_len16(v[0], w[0], mul) + _shift_mix(y) * _K0 + z) & _MASK,
        (_hash_len16(v[1], w[1], mul) + x) & _MASK, mul)


def _rotl(value, shift):
    return ((value << shift) | (value >> (64 - shift))) & _MASK


def _sip_rounds(v, rounds):
    v0, v1, v2, v3 = v
    for _ in range(rounds):
        v0 = (v0 + v1) & _MASK
        v1 = _rotl(v1, 13) ^ v0
        v0 = _rotl(v0, 32)
        v2 = (v2 + v3) & _MASK
        v3 = _rotl(v3, 16) ^ v2
        v0 = (v0 + v3) & _MASK
        v3 = _rotl(v3, 21) ^ v0
        v2 = (v2 + v1) & _MASK
        v1 = _rotl(v1, 17) ^ v2
        v2 = _rotl(v2, 32)
    return [v0, v1, v2, v3]


def siphash24(key, data):
    """SipHash-2-4 of `data` (bytes) under the 128-bit `key` given as two unsigned 64-bit
    ints (k0, k1), as highwayhash's SipHash that TensorFlow's strong hash buckets use."""
    k0, k1 = (int(k) & _MASK for k in key)
    v = [0x736F6D6570736575 ^ k0, 0x646F72616E646F6D ^ k1,
         0x6C7967656E657261 ^ k0, 0x7465646279746573 ^ k1]
    s = bytes(data)
    full = len(s) - len(s) % 8
    for at in range(0, full, 8):
        m = _fetch64(s, at)
        v[3] ^= m
        v = _sip_rounds(v, 2)
        v[0] ^= m
    last = int.from_bytes(s[full:], "little") | ((len(s) & 0xFF) << 56)
    v[3] ^= last
    v = _sip_rounds(v, 2)
    v[0] ^= last
    v[2] ^= 0xFF
    v = _sip_rounds(v, 4)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


_MURMUR_MUL = 0xC6A4A7935BD1E995
_LEGACY_SEED = 0xDECAFCAFFE


def hash64(data, seed=_LEGACY_SEED):
    """TensorFlow's Hash64 (tensorflow/core/lib/hash/hash.cc): MurmurHash64A of `data`
    (bytes), seeded with 0xDECAFCAFFE by default; an unsigned 64-bit int."""
    s = bytes(data)
    length = len(s)
    h = (seed ^ (length * _MURMUR_MUL)) & _MASK
    full = length - length % 8
    for at in range(0, full, 8):
        k = (_fetch64(s, at) * _MURMUR_MUL) & _MASK
        k = ((k ^ (k >> 47)) * _MURMUR_MUL) & _MASK
        h = ((h ^ k) * _MURMUR_MUL) & _MASK
    if full < length:
        h = ((h ^ int.from_bytes(s[full:], "little")) * _MURMUR_MUL) & _MASK
    h = ((h ^ (h >> 47)) * _MURMUR_MUL) & _MASK
    return h ^ (h >> 47)
