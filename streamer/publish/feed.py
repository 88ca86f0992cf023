"""A podcast-style RSS 2.0 feed per event: one item per VOD, the MP4 as its enclosure."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from email.utils import format_datetime
from typing import Any

from streamer.timeutil import parse_iso

ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
ATOM = "http://www.w3.org/2005/Atom"
ET.register_namespace("itunes", ITUNES)
ET.register_namespace("atom", ATOM)


# What XML 1.0 cannot carry: C0 controls but tab/LF/CR, surrogates, U+FFFE and U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids (a title may hold any of them)."""
    return _NOT_XML.sub("", text)


def _text(title: Any, lang: str | None = None) -> str:
    """A title dict in ``lang``, else English, else any; a plain string as is."""
    if isinstance(title, dict):
        if lang and title.get(lang):
            return clean(str(title[lang]))
        return clean(str(title.get("en") or next(iter(title.values()), "")))
    return "" if title is None else clean(str(title))


def _duration(seconds: float) -> str:
    total = round(seconds)
    return f"{total // 3600:d}:{total % 3600 // 60:02d}:{total % 60:02d}"


def build_feed(index: dict[str, Any], index_url: str) -> bytes:
    """RSS for an event index (``{"event": ..., "items": [...]}``), newest item first.

    Deterministic for a given index (no build time), so an unchanged feed is not re-uploaded."""
    event = index.get("event") or {}
    items = index.get("items") or []
    rss = ET.Element("rss", {"version": "2.0"})
    channel = ET.SubElement(rss, "channel")
    ET.SubElement(channel, "title").text = _text(event.get("title")) or str(event.get("id", ""))
    ET.SubElement(channel, "link").text = clean(str(event.get("url") or index_url))
    ET.SubElement(channel, "description").text = html.escape(
        _text(event.get("description")) or " / ".join(_titles(event.get("title"))) or "VODs",
        quote=False,
    )
    ET.SubElement(
        channel,
        f"{{{ATOM}}}link",
        {"href": index_url, "rel": "related", "type": "application/json"},
    )
    ET.SubElement(channel, f"{{{ITUNES}}}author").text = _text(event.get("title"))
    ordered = sorted(items, key=lambda i: parse_iso(str(i["start"])), reverse=True)
    if ordered:
        ET.SubElement(channel, "lastBuildDate").text = _rfc822(
            max(str(i.get("updated_at") or i["start"]) for i in ordered)
        )
    for item in ordered:
        if not item.get("media_url"):
            continue
        node = ET.SubElement(channel, "item")
        ET.SubElement(node, "title").text = _text(item.get("title"), item.get("language"))
        others = [t for t in _titles(item.get("title")) if t != _text(item.get("title"))]
        speakers = ", ".join(s.get("name", "") for s in item.get("speakers") or [])
        parts = [p for p in (speakers, item.get("track"), *others) if p]
        # RSS readers render a description as HTML: escape it as HTML, then ElementTree
        # escapes it as XML, so "<b>" in a title shows as text, never as markup
        description = " · ".join(clean(str(p)) for p in parts) or _text(item.get("title"))
        ET.SubElement(node, "description").text = html.escape(description, quote=False)
        ET.SubElement(node, "guid", {"isPermaLink": "false"}).text = clean(
            f"{item['id']}#v{item.get('version', 0)}"
        )
        ET.SubElement(node, "pubDate").text = _rfc822(str(item["start"]))
        ET.SubElement(
            node,
            "enclosure",
            {
                "url": clean(str(item["media_url"])),
                "length": str(int(item.get("size_bytes") or 0)),
                "type": "video/mp4",
            },
        )
        ET.SubElement(node, f"{{{ITUNES}}}duration").text = _duration(
            float(item.get("duration_s") or 0)
        )
        if item.get("thumbnail_url"):
            ET.SubElement(node, f"{{{ITUNES}}}image", {"href": clean(str(item["thumbnail_url"]))})
    ET.indent(rss)
    data: bytes = ET.tostring(rss, encoding="utf-8", xml_declaration=True)
    return data


def _titles(title: Any) -> list[str]:
    if isinstance(title, dict):
        return [clean(str(v)) for v in title.values() if v]
    return [clean(str(title))] if title else []


def _rfc822(value: str) -> str:
    return format_datetime(parse_iso(value))
