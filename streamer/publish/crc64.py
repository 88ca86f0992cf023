"""CRC64NVME, S3's full-object checksum, of two runs joined, from the runs' CRCs (the parts').

The CRC itself comes from the CRT (awscrt, the library botocore computes it with); combining
two CRCs without the bytes is the GF(2) arithmetic zlib uses for ``crc32_combine``: shift the
first CRC by the second run's length in zero bits (x^(8n) mod P), then add the second.
"""

from __future__ import annotations

from functools import cache

POLY = 0x9A6C9329AC4BC9B5  # CRC-64/NVME's 0xAD93D23594C93659, bit-reflected
TOP = 1 << 63  # x^0 in the reflected representation


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
