"""The shape of the code: no import cycle between packages, and states that mypy checks.

A "package" is a first-level name under ``streamer/`` (``streamer.pipeline``, ``streamer.api``,
or a top-level module such as ``streamer.config``). Every import counts, including those inside
functions: a lazy import hides a cycle from the interpreter, not from the design.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "streamer"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> Iterator[str]:
    """Absolute names of the ``streamer`` modules that ``path`` imports."""
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    here = _module_name(path).split(".")
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here if is_pkg else here[:-1]
                base = base[: len(base) - (node.level - 1)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            yield name
            yield from (f"{name}.{a.name}" for a in node.names)


def _package(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] != "streamer" or len(parts) < 2:
        return None
    return parts[1]


def package_graph() -> dict[str, dict[str, list[str]]]:
    """``{package: {imported package: [importing module, ...]}}``."""
    graph: dict[str, dict[str, list[str]]] = {}
    for path in sorted(SRC.rglob("*.py")):
        src = _package(_module_name(path))
        if src is None:
            continue
        edges = graph.setdefault(src, {})
        for name in _imports(path):
            dst = _package(name)
            known = dst is not None and ((SRC / dst).is_dir() or (SRC / f"{dst}.py").is_file())
            if dst is not None and known and dst != src:
                edges.setdefault(dst, [])
                if _module_name(path) not in edges[dst]:
                    edges[dst].append(_module_name(path))
    return graph


def find_cycle(graph: dict[str, dict[str, list[str]]]) -> list[str] | None:
    """One cycle of packages, or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for nxt in sorted(graph.get(node, {})):
            found = visit(nxt, [*path, node])
            if found:
                return found
        done.add(node)
        return None

    for start in sorted(graph):
        found = visit(start, [])
        if found:
            return found
    return None


def test_no_import_cycle_between_packages() -> None:
    graph = package_graph()
    assert {"pipeline", "api", "service", "cli"} <= set(graph)
    cycle = find_cycle(graph)
    if cycle:
        steps = [f"{a} → {b} (in {', '.join(graph[a][b])})" for a, b in itertools.pairwise(cycle)]
        pytest.fail("import cycle between packages:\n" + "\n".join(steps))


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b": ["streamer.a.x"]}, "b": {"c": ["streamer.b.y"]}, "c": {"a": ["z"]}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b": []}, "b": {}}) is None


MISSPELT = """\
from streamer.pipeline.states import SessionState
from streamer.pipeline.store import Store


def move(store: Store) -> None:
    store.set_session_state("e", "s", SessionState.PUBLISHED)
    store.set_session_state("e", "s", "publised")
    store.set_session_state("e", "s", SessionState.PUBLISED)
"""


def test_mypy_catches_a_misspelt_state(tmp_path: Path) -> None:
    """States are enums in the store's signature: a misspelt literal or member is a type error
    (CI runs ``mypy --strict`` on streamer/, so such a line cannot land there)."""
    from mypy import api

    snippet = tmp_path / "misspelt.py"
    snippet.write_text(MISSPELT, "utf-8")
    out, err, status = api.run(
        [
            "--strict",
            "--follow-imports=silent",
            "--no-error-summary",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
            str(snippet),
        ]
    )
    assert status == 1, (out, err)
    lines = sorted({int(line.split(":")[1]) for line in out.splitlines() if ": error:" in line})
    assert lines == [7, 8], out
    assert "SessionState" in out and "PUBLISED" in out
