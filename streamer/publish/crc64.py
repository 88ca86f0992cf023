"""CRC64NVME, S3's full-object checksum: of a file, and of two runs joined (the parts' CRCs).

The CRC itself comes from the CRT (awscrt, the library botocore computes it with); combining
two CRCs without the bytes is the GF(2) arithmetic zlib uses for ``crc32_combine``: shift the
first CRC by the second run's length in zero bits (x^(8n) mod P), then add the second.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from functools import cache
from pathlib import Path

from awscrt import checksums

POLY = 0x9A6C9329AC4BC9B5  # CRC-64/NVME's 0xAD93D23594C93659, bit-reflected
TOP = 1 << 63  # x^0 in the reflected representation
CHUNK = 4 * 1024 * 1024


def _multiply(a: int, b: int) -> int:
    """a * b modulo P (reflected polynomials)."""
    m, product = TOP, 0
    while True:
        if a & m:
            product ^= b
            if not a & (m - 1):
                return product
        m >>= 1
        b = (b >> 1) ^ POLY if b & 1 else b >> 1


@cache
def _x_2k(k: int) -> int:
    """x^(2^k) modulo P."""
    return TOP >> 1 if k == 0 else _multiply(_x_2k(k - 1), _x_2k(k - 1))


def crc64nvme_combine(crc_a: int, crc_b: int, length_b: int) -> int:
    """The CRC of A followed by B, from A's CRC, B's CRC and B's length in bytes."""
    shift, k, n = TOP, 3, length_b  # x^(8n) = product of x^(2^k) over the bits of n, from k=3
    while n:
        if n & 1:
            shift = _multiply(_x_2k(k), shift)
        n >>= 1
        k += 1
    return _multiply(shift, crc_a) ^ crc_b


def crc64nvme_b64(crc: int) -> str:
    """As S3 spells it: the 8 big-endian bytes in base64."""
    return base64.b64encode(crc.to_bytes(8, "big")).decode()


def crc64nvme_file(path: Path, also: Callable[[bytes], object] | None = None) -> int:
    """The CRC64NVME of a file; ``also`` sees every chunk too (one read for two digests)."""
    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            crc = checksums.crc64nvme(chunk, crc)
            if also is not None:
                also(chunk)
    return crc
