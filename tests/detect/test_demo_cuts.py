"""The demo's cut table: scheduled vs suggested vs true start per talk of a simulated day."""

from __future__ import annotations

from rich.console import Console

from streamer.service.cutdemo import cut_rows, print_cut_table
from tests.detect.conftest import RADIUS_S, Rendered


def test_the_table_sets_suggestions_beside_the_truth(slate_day: Rendered) -> None:
    rows = cut_rows(slate_day.day, slate_day.directory, RADIUS_S)
    assert [r.session for r in rows] == [t.id for t in slate_day.day.talks]
    for row in rows:
        assert abs(row.error_s) <= 2.0, row  # a clear break (slate) before every talk
    console = Console(record=True, width=140)
    print_cut_table(rows, console)
    text = console.export_text()
    for row in rows:
        assert row.session in text and row.suggested in text and row.true in text
