"""The NT hash, MD4(UTF-16LE(password)): what strongSwan's EAP-MSCHAPv2 accepts instead of the password.

Python's hashlib has MD4 only when OpenSSL's legacy provider is loaded, and cryptography has none, so
this small RFC 1320 implementation keeps the plaintext off disk on every system.
"""

from __future__ import annotations

import struct

_MASK = 0xFFFFFFFF


def _rol(x: int, n: int) -> int:
    return ((x << n) | (x >> (32 - n))) & _MASK


def md4(data: bytes) -> bytes:
    message = bytearray(data)
    bit_len = (8 * len(data)) & 0xFFFFFFFFFFFFFFFF
    message.append(0x80)
    message += b"\0" * ((56 - len(message) % 64) % 64)
    message += struct.pack("<Q", bit_len)
    a, b, c, d = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476
    for offset in range(0, len(message), 64):
        x = struct.unpack("<16I", message[offset:offset + 64])
        aa, bb, cc, dd = a, b, c, d

        def f(x_: int, y: int, z: int) -> int:
            return (x_ & y) | (~x_ & z)

        def g(x_: int, y: int, z: int) -> int:
            return (x_ & y) | (x_ & z) | (y & z)

        def h(x_: int, y: int, z: int) -> int:
            return x_ ^ y ^ z

        for i in range(16):
            k, s = i, (3, 7, 11, 19)[i % 4]
            a, b, c, d = d, _rol((a + f(b, c, d) + x[k]) & _MASK, s), b, c
        for i in range(16):
            k, s = (i % 4) * 4 + i // 4, (3, 5, 9, 13)[i % 4]
            a, b, c, d = d, _rol((a + g(b, c, d) + x[k] + 0x5A827999) & _MASK, s), b, c
        for i in range(16):
            k = (0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15)[i]
            s = (3, 9, 11, 15)[i % 4]
            a, b, c, d = d, _rol((a + h(b, c, d) + x[k] + 0x6ED9EBA1) & _MASK, s), b, c
        a, b, c, d = (a + aa) & _MASK, (b + bb) & _MASK, (c + cc) & _MASK, (d + dd) & _MASK
    return struct.pack("<4I", a, b, c, d)


def nt_hash(password: str | bytes) -> bytes:
    if isinstance(password, bytes):
        password = password.decode("utf-8")
    return md4(password.encode("utf-16-le"))
