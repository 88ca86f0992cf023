"""The status names a JavaScript runtime yt-dlp would refuse (issue 14: Node 20 was reported
as fine, while yt-dlp needs Node 22 for YouTube's challenges)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamer.youtube import ytdlp_environment


def _fake_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    node = bin_dir / "node"
    node.write_text(f"#!/bin/sh\necho v{version}\n", "utf-8")
    node.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))


def test_an_old_node_is_named_as_unsupported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_node(tmp_path, monkeypatch, "20.20.2")
    env = ytdlp_environment(("node",))
    assert env["js_runtime"] == "node" and env["js_runtime_version"] == "20.20.2"
    assert "node 20.20.2 is older than yt-dlp supports (22.0.0+)" in env["warning"]


def test_a_supported_node_gives_no_runtime_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_node(tmp_path, monkeypatch, "22.11.0")
    env = ytdlp_environment(("node",))
    assert env["js_runtime_version"] == "22.11.0"
    assert "older than" not in (env["warning"] or "")
