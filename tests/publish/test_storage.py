"""The Storage contract, run against every backend (local directory and S3 over HTTP)."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import httpx
import pytest
from awscrt import checksums

from streamer.errors import NotFound, StorageError
from streamer.publish.checksum import Checksum
from streamer.publish.local import LocalStorage
from streamer.publish.memory import MemoryStorage
from streamer.publish.s3 import S3Storage
from streamer.publish.storage import Storage

from .conftest import MB, MotoS3, make_s3, resolves


def _file(tmp_path: Path, size: int, name: str = "blob.bin") -> tuple[Path, str]:
    path = tmp_path / name
    data = os.urandom(size)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def test_round_trip(storage: Storage, tmp_path: Path) -> None:
    path, sha = _file(tmp_path, 300_000)
    info = storage.put_file(
        "ev/s1.mp4", path, content_type="video/mp4", cache_control="public, max-age=60", sha256=sha
    )
    assert info.size == 300_000
    head = storage.head("ev/s1.mp4")
    assert head is not None and head.size == 300_000 and head.sha256 == sha
    assert storage.get_bytes("ev/s1.mp4") == path.read_bytes()
    body = '{"title": "세종"}'.encode()
    storage.put_bytes("ev/index.json", body, content_type="application/json", cache_control="x")
    assert storage.get_bytes("ev/index.json").decode() == '{"title": "세종"}'
    assert storage.list("ev/") == ["ev/index.json", "ev/s1.mp4"]
    assert storage.list("ev/s") == ["ev/s1.mp4"]
    assert storage.list("other/") == []
    assert resolves(storage, storage.url("ev/s1.mp4"))
    storage.delete("ev/s1.mp4")
    assert storage.head("ev/s1.mp4") is None
    assert not resolves(storage, storage.url("ev/s1.mp4"))
    storage.delete("ev/s1.mp4")  # deleting twice is fine
    with pytest.raises(NotFound):
        storage.get_bytes("ev/s1.mp4")


def test_overwrite_replaces_whole_object(storage: Storage, tmp_path: Path) -> None:
    a, sha_a = _file(tmp_path, 1000, "a")
    b, sha_b = _file(tmp_path, 2000, "b")
    storage.put_file("k/x.mp4", a, content_type="video/mp4", cache_control="c", sha256=sha_a)
    storage.put_file("k/x.mp4", b, content_type="video/mp4", cache_control="c", sha256=sha_b)
    assert storage.get_bytes("k/x.mp4") == b.read_bytes()
    head = storage.head("k/x.mp4")
    assert head is not None and head.sha256 == sha_b


@pytest.mark.parametrize(
    "key", ["../x", "/etc/passwd", "a/../../x", "a//b", "a/./b", ".hidden", ""]
)
def test_traversal_refused(storage: Storage, tmp_path: Path, key: str) -> None:
    with pytest.raises(StorageError):
        storage.put_bytes(key, b"x", content_type="text/plain", cache_control="c")
    with pytest.raises(StorageError):
        storage.head(key)
    with pytest.raises(StorageError):
        storage.url(key)


def test_wrong_sha_refused(storage: Storage, tmp_path: Path) -> None:
    path, _ = _file(tmp_path, 5000)
    with pytest.raises(StorageError):
        storage.put_file(
            "k/bad.mp4", path, content_type="video/mp4", cache_control="c", sha256="0" * 64
        )
    # a refused upload leaves nothing that the index could point at
    assert storage.head("k/bad.mp4") is None or isinstance(storage, S3Storage)


def test_local_symlink_escape_refused(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "root")
    (tmp_path / "root").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "root" / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(StorageError):
        store.path_for("link/x.mp4")


def test_local_atomic_leaves_no_temp_files(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "root")
    path, sha = _file(tmp_path, 10_000)
    with pytest.raises(StorageError):
        store.put_file("e/a.mp4", path, content_type="video/mp4", cache_control="c", sha256="1")
    store.put_file("e/b.mp4", path, content_type="video/mp4", cache_control="c", sha256=sha)
    names = sorted(p.name for p in (tmp_path / "root" / "e").iterdir())
    assert names == ["b.mp4"]
    assert oct((tmp_path / "root" / "e" / "b.mp4").stat().st_mode & 0o777) == "0o644"


def test_memory_backend_counts_puts(tmp_path: Path) -> None:
    store = MemoryStorage()
    store.put_bytes("a/b.json", b"{}", content_type="application/json", cache_control="c")
    assert store.puts == 1 and store.list() == ["a/b.json"]


def _composite_crc32c(data: bytes, part: int) -> str:
    """S3's composite CRC32C, computed here without our code: of the parts' CRC32Cs joined."""
    crcs = [checksums.crc32c(data[i : i + part]) for i in range(0, len(data), part)]
    joined = b"".join(c.to_bytes(4, "big") for c in crcs)
    return f"{base64.b64encode(checksums.crc32c(joined).to_bytes(4, 'big')).decode()}-{len(crcs)}"


@pytest.mark.parametrize("algorithm", list(Checksum))
def test_s3_multipart_headers_and_checksum(
    moto_s3: MotoS3, bucket: str, tmp_path: Path, algorithm: Checksum
) -> None:
    store = make_s3(moto_s3, bucket, checksum=algorithm)
    path, sha = _file(tmp_path, 12 * MB)
    seen: list[int] = []
    store.put_file(
        "ev/big.mp4",
        path,
        content_type="video/mp4",
        cache_control="public, max-age=86400",
        sha256=sha,
        progress=seen.append,
    )
    raw = moto_s3.client().head_object(Bucket=bucket, Key="vods/ev/big.mp4", ChecksumMode="ENABLED")
    assert raw["ETag"].strip('"').endswith("-3")  # 12 MB in 5 MB parts: really multipart
    assert raw["ContentType"] == "video/mp4"
    assert raw["CacheControl"] == "public, max-age=86400"
    assert raw["Metadata"] == {"sha256": sha}
    if algorithm is Checksum.CRC32C:  # the default: composite, a CRC of the parts' CRCs
        # (S3 appends "-3" in HEAD too; moto's HEAD leaves it off, its GET does not)
        assert raw["ChecksumCRC32C"] == _composite_crc32c(path.read_bytes(), 5 * MB)[:-2]
        client = moto_s3.client()
        got = client.get_object(Bucket=bucket, Key="vods/ev/big.mp4", ChecksumMode="ENABLED")
        assert got["ChecksumCRC32C"] == _composite_crc32c(path.read_bytes(), 5 * MB)
        assert got["ChecksumType"] == "COMPOSITE"
    else:  # full object: the CRC of the whole file (not of the parts' checksums)
        assert raw.get("ChecksumType") == "FULL_OBJECT"
        crc = checksums.crc64nvme(path.read_bytes()).to_bytes(8, "big")
        assert raw["ChecksumCRC64NVME"] == base64.b64encode(crc).decode()
    assert "ChecksumSHA256" not in raw
    assert seen and seen[-1] == 12 * MB
    # the key is relative to the prefix everywhere we hand it out
    assert store.list() == ["ev/big.mp4"]
    assert store.url("ev/big.mp4") == f"{moto_s3.endpoint}/{bucket}/vods/ev/big.mp4"
    got = httpx.get(store.url("ev/big.mp4"), timeout=30)
    assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == sha


def test_s3_parts_carry_crc32c_not_sha256(moto_s3: MotoS3, bucket: str, tmp_path: Path) -> None:
    """Each part goes up with S3's CRC32C (computed by botocore), none with a SHA256: the
    file's sha256 is the one taken at split time, not computed again per part."""
    store = make_s3(moto_s3, bucket)
    sent: list[dict[str, str]] = []
    store.client.meta.events.register(
        "before-send.s3.UploadPart",
        lambda request, **_: sent.append({k.lower(): _text(v) for k, v in request.headers.items()}),
    )
    path, sha = _file(tmp_path, 11 * MB)
    store.put_file("ev/p.mp4", path, content_type="video/mp4", cache_control="c", sha256=sha)
    assert len(sent) == 3
    for headers in sent:
        assert "x-amz-checksum-crc32c" in headers
        assert not any(k.startswith("x-amz-checksum-sha") for k in headers)
        # the signed checksum header covers the body: no second SHA256 of it for SigV4
        assert headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
        assert "x-amz-checksum-crc32c" in headers["authorization"]


@pytest.mark.parametrize("sign", [False, True], ids=["unsigned", "signed"])
def test_s3_payload_signing_is_an_opt_in(
    moto_s3: MotoS3, bucket: str, tmp_path: Path, sign: bool
) -> None:
    """``sign_payload=True`` signs every body (plain HTTP on an untrusted network)."""
    store = make_s3(moto_s3, bucket, sign_payload=sign)
    sent: list[str] = []
    store.client.meta.events.register(
        "before-send.s3.*",
        lambda request, **_: sent.append(_text(request.headers.get("x-amz-content-sha256"))),
    )
    path, sha = _file(tmp_path, 6 * MB)
    store.put_file("ev/s.mp4", path, content_type="video/mp4", cache_control="c", sha256=sha)
    store.put_bytes("ev/s.json", b"{}", content_type="application/json", cache_control="c")
    assert store.get_bytes("ev/s.json") == b"{}"
    with_body = [h for h in sent if h != hashlib.sha256(b"").hexdigest()]
    assert with_body  # parts, complete, the JSON
    assert all((h == "UNSIGNED-PAYLOAD") != sign for h in with_body)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _part_checksums(path: Path, part: int) -> list[str]:
    data = path.read_bytes()
    runs = [data[i : i + part] for i in range(0, len(data), part)]
    return [Checksum.CRC32C.b64(checksums.crc32c(run)) for run in runs]


@pytest.mark.parametrize(
    ("size", "verify_read"),
    [(1000, False), (12 * MB, False), (12 * MB, True)],
    ids=["single", "multipart", "multipart-reread"],
)
def test_s3_verification_catches_a_tampered_object(
    moto_s3: MotoS3, bucket: str, tmp_path: Path, size: int, verify_read: bool
) -> None:
    """Stored bytes that differ from the file fail verification, though size and metadata match."""
    store = make_s3(moto_s3, bucket, verify_read=verify_read)
    path, sha = _file(tmp_path, size)
    store.put_file("ev/x.mp4", path, content_type="video/mp4", cache_control="c", sha256=sha)
    parts = _part_checksums(path, 5 * MB)  # what botocore sent with the parts
    store._verify("ev/x.mp4", path, store.head("ev/x.mp4"), size, sha, parts)  # sound as is
    # someone else overwrites the object: same size, same metadata, other bytes
    other, _ = _file(tmp_path, size, "other")
    moto_s3.client().upload_file(
        str(other), bucket, "vods/ev/x.mp4",
        ExtraArgs={"Metadata": {"sha256": sha}, "ChecksumAlgorithm": "CRC32C"},
        Config=store.transfer,
    )  # fmt: skip
    with pytest.raises(StorageError, match="checksum"):
        store._verify("ev/x.mp4", path, store.head("ev/x.mp4"), size, sha, parts)


def test_s3_file_changing_during_upload_is_refused(
    moto_s3: MotoS3, bucket: str, tmp_path: Path
) -> None:
    store = make_s3(moto_s3, bucket)
    path, sha = _file(tmp_path, 12 * MB)
    touched: list[int] = []

    def rewrite(done: int) -> None:
        if done > 6 * MB and not touched:
            touched.append(done)
            with open(path, "r+b") as f:  # same size, other bytes at the end
                f.seek(-4, os.SEEK_END)
                f.write(b"XXXX")

    with pytest.raises(StorageError, match="changed"):
        store.put_file(
            "e/x.mp4", path, content_type="video/mp4", cache_control="c", sha256=sha,
            progress=rewrite,
        )  # fmt: skip
    assert touched


def test_s3_multipart_wrong_sha_refused(moto_s3: MotoS3, bucket: str, tmp_path: Path) -> None:
    """With verify_read, a multipart upload is also checked against the caller's sha256."""
    store = make_s3(moto_s3, bucket, verify_read=True)
    path, _ = _file(tmp_path, 11 * MB)
    with pytest.raises(StorageError, match="changed"):
        store.put_file(
            "e/x.mp4", path, content_type="video/mp4", cache_control="c", sha256="0" * 64
        )


def test_s3_presigned_and_cdn_urls(moto_s3: MotoS3, bucket: str, tmp_path: Path) -> None:
    path, sha = _file(tmp_path, 2000)
    presigned = make_s3(moto_s3, bucket, presign=True, presign_expires_s=600)
    presigned.put_file("e/v.mp4", path, content_type="video/mp4", cache_control="c", sha256=sha)
    url = presigned.url("e/v.mp4")
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=600" in url
    assert httpx.get(url, timeout=5).content == path.read_bytes()
    cdn = make_s3(moto_s3, bucket, public_base_url="https://cdn.example.org/vods/")
    assert cdn.url("e/v.mp4") == "https://cdn.example.org/vods/e/v.mp4"


def test_s3_no_prefix_and_errors(moto_s3: MotoS3, bucket: str) -> None:
    store = make_s3(moto_s3, bucket, prefix="")
    store.put_bytes("a.json", b"1", content_type="application/json", cache_control="c")
    assert store.list() == ["a.json"]
    missing = make_s3(moto_s3, "no-such-bucket-here", prefix="")
    with pytest.raises(StorageError):
        missing.put_bytes("a.json", b"1", content_type="application/json", cache_control="c")
