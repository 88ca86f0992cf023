"""Rules across a schedule's items: unique ids, known broadcasts, windows and overlaps."""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamer.schedule.values import span, suggest, utc

if TYPE_CHECKING:
    from streamer.schedule.check import Checker, Item


def _at(line: int) -> str:
    return f", line {line}" if line > 0 else ""


def cross_check(checker: Checker, broadcasts: list[Item], sessions: list[Item]) -> None:
    by_id: dict[str, Item] = {}
    for bc in broadcasts:
        if bc.model.id in by_id:
            first = by_id[bc.model.id].line("id")
            checker.error(
                bc.line("id"), f"duplicate broadcast id {bc.model.id!r} (first at line {first})"
            )
        else:
            by_id[bc.model.id] = bc
    seen: dict[str, Item] = {}
    for s in sessions:
        if s.model.id in seen:
            first = seen[s.model.id].line("id")
            checker.error(
                s.line("id"), f"duplicate session id {s.model.id!r} (first at line {first})"
            )
        else:
            seen[s.model.id] = s
    for sid, bid, line in checker.refs:
        if bid not in by_id and bid not in checker.broken_broadcasts:
            hint = suggest(bid, by_id)
            checker.error(line, f"session {sid!r} names unknown broadcast {bid!r}{hint}")
    per_broadcast: dict[str, list[Item]] = {}
    for s in sessions:
        b = by_id.get(s.model.broadcast)
        if b is None:
            continue
        per_broadcast.setdefault(b.model.id, []).append(s)
        within(checker, s, b)
    for bid, items in per_broadcast.items():
        overlaps(checker, bid, items)


def within(checker: Checker, s: Item, b: Item) -> None:
    ss, bs = s.model, b.model
    s0, s1, b0, b1 = utc(ss.start), utc(ss.end), utc(bs.start), utc(bs.end)
    if b0 <= s0 and s1 <= b1:
        return
    what = f"session {ss.id!r} ({span(ss.start, ss.end)})"
    window = f"broadcast {bs.id!r} ({span(bs.start, bs.end)}{_at(b.line('id'))})"
    if s1 <= b0 or s0 >= b1:
        checker.error(s.line("start"), f"{what} is wholly outside the window of {window}")
    else:
        checker.warn(s.line("start"), f"{what} is partly outside the window of {window}")


def overlaps(checker: Checker, bid: str, items: list[Item]) -> None:
    ordered = sorted(items, key=lambda i: (utc(i.model.start), i.at))
    latest: Item | None = None  # the session ending last so far
    for item in ordered:
        if latest is not None and utc(item.model.start) < utc(latest.model.end):
            a, b = latest.model, item.model
            checker.error(
                item.line("start"),
                f"session {b.id!r} ({span(b.start, b.end)}) overlaps session {a.id!r}"
                f" ({span(a.start, a.end)}{_at(latest.line('id'))}) in broadcast {bid!r}",
            )
        if latest is None or utc(item.model.end) > utc(latest.model.end):
            latest = item
