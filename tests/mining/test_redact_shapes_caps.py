"""A huge string is redacted only as far as it can be kept: the telemetry writer and the
answers history used to redact every character of a payload string and of an answer's
error, so 1 MB of ``key=`` stalled the host's thread for about 20 seconds."""

from __future__ import annotations

import json
from pathlib import Path

from foundups_training import telemetry
from foundups_training.metrics.store import MetricsStore
from foundups_training.records import Answer, Query

KEY = "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW"
#: A secret first, then 1 MB that is slow to redact, then a secret nothing keeps.
HUGE = f"key={KEY} " + "key=" * 250_000 + f" tail password=hunter2hunter2 {KEY}"


def test_telemetry_redacts_only_what_an_event_can_hold(
    tmp_path: Path, redacted_lengths: list[int]
) -> None:
    folder = tmp_path / "telemetry"
    writer = telemetry.TelemetryWriter(folder)
    writer.write("training.route", "started", {"query": HUGE, "tier": "memory"})
    assert writer.written == 1 and writer.errors == 0
    assert max(redacted_lengths) <= telemetry.MAX_EVENT_BYTES + 512 < len(HUGE)
    (path,) = telemetry.telemetry_files(folder)
    data = path.read_bytes()
    assert len(data) <= telemetry.MAX_EVENT_BYTES
    assert KEY.encode() not in data and b"hunter2" not in data and b"[REDACTED]" in data
    # the event still says how long its line was, as if every character had been written
    event = json.loads(data)
    assert event["payload"]["tier"] == "memory" and event["payload"]["cut"] > len(HUGE)


def test_the_answers_history_redacts_only_the_start_of_an_error(
    tmp_path: Path, redacted_lengths: list[int]
) -> None:
    store = MetricsStore(tmp_path / "metrics.sqlite3")
    try:
        store.record_answer(Query("why?"), Answer(text="", tier="none", error=HUGE))
        (row,) = store.answers()
    finally:
        store.close()
    assert max(redacted_lengths) < 10_000
    assert row.error.startswith("key=[REDACTED] key=key=") and len(row.error) <= 300
    written = (tmp_path / "metrics.sqlite3").read_bytes()
    assert KEY.encode() not in written and b"hunter2" not in written
