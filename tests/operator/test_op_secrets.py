"""A question that quotes a log line, secrets included: the telemetry and the metrics history
keep the question, never the secrets (the miner redacts the log; these record what is asked)."""

from __future__ import annotations

from pathlib import Path

from foundups_training import telemetry
from foundups_training.metrics.store import MetricsStore
from foundups_training.records import Answer, Query

KEY = "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0T"
QUESTION = (
    f"why did stream_resolver log 'GET https://www.googleapis.com/youtube/v3/search?key={KEY}' "
    f"with Bearer {JWT}?"
)


def _bytes_under(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_telemetry_keeps_the_question_not_its_secrets(tmp_path: Path) -> None:
    folder = tmp_path / "telemetry"
    writer = telemetry.attach_writer(folder)
    try:
        with telemetry.command("training.route", {"query": QUESTION, "nested": [{"q": QUESTION}]}):
            pass
    finally:
        telemetry.detach_writer(folder)
    written = _bytes_under(folder)
    assert writer.written >= 2 and b"stream_resolver" in written
    assert KEY.encode() not in written and JWT.encode()[:40] not in written
    assert b"[REDACTED]" in written


def test_the_answers_history_keeps_the_question_not_its_secrets(tmp_path: Path) -> None:
    store = MetricsStore(tmp_path / "metrics.sqlite3")
    try:
        answer = Answer(text="", tier="none", error=f"memory: recall failed for key={KEY}")
        store.record_answer(Query(QUESTION), answer)
        (row,) = store.answers()
    finally:
        store.close()
    assert "stream_resolver" in row.query
    for text in (row.query, row.error):
        assert KEY not in text and JWT[:40] not in text
    written = (tmp_path / "metrics.sqlite3").read_bytes()
    assert KEY.encode() not in written
