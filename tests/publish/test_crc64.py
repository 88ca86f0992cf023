"""CRC64NVME of joined runs from the runs' CRCs, checked against the CRT's CRC of the whole."""

from __future__ import annotations

import random

from awscrt import checksums
from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.publish.checksum import Checksum, file_part_crcs
from streamer.publish.crc64 import crc64nvme_combine


def test_known_value() -> None:
    # CRC-64/NVME's check value ("123456789")
    assert checksums.crc64nvme(b"123456789") == 0xAE8B14860A799888
    assert Checksum.CRC64NVME.b64(0xAE8B14860A799888) == "rosUhgp5mIg="


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=3000), min_size=1, max_size=6))
def test_combine_equals_crc_of_the_whole(runs: list[bytes]) -> None:
    crc = 0
    for run in runs:
        crc = crc64nvme_combine(crc, checksums.crc64nvme(run), len(run))
    assert crc == checksums.crc64nvme(b"".join(runs))


def test_combine_of_large_parts(tmp_path: object) -> None:
    rng = random.Random(5)
    parts = [rng.randbytes(5 * 1024 * 1024), rng.randbytes(5 * 1024 * 1024), rng.randbytes(777)]
    crc = 0
    for p in parts:
        crc = crc64nvme_combine(crc, checksums.crc64nvme(p), len(p))
    assert crc == checksums.crc64nvme(b"".join(parts))


def test_file_parts_combine_to_the_files_crc_in_one_read(tmp_path: object) -> None:
    import hashlib
    from pathlib import Path

    path = Path(str(tmp_path)) / "f.bin"
    data = random.Random(7).randbytes(9 * 1024 * 1024 + 3)
    path.write_bytes(data)
    sha = hashlib.sha256()
    part = 4 * 1024 * 1024
    crcs = file_part_crcs(path, Checksum.CRC64NVME, part, sha.update)
    assert len(crcs) == 3
    whole = Checksum.CRC64NVME.b64(checksums.crc64nvme(data))
    assert Checksum.CRC64NVME.stored(crcs, part, len(data), multipart=True) == whole
    assert sha.hexdigest() == hashlib.sha256(data).hexdigest()
