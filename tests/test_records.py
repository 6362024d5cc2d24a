from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from foundups_training.records import Decision, IdleReport, Pattern, pattern_id


def test_pattern_id_is_deterministic_and_normalised() -> None:
    a = Pattern.make("error_fix", "Database  transaction FAILED", "retry", module="m.db")
    b = Pattern.make("error_fix", "database transaction failed", "retry", module="M.DB")
    assert a.id == b.id
    assert a.id.startswith("erro-")


def test_contradicting_decisions_get_different_ids() -> None:
    assert pattern_id("priority", "k", "choose A") != pattern_id("priority", "k", "choose B")


def test_outcome_does_not_change_identity() -> None:
    p = Pattern.make("stream", "live?", "check status", key="stream-template")
    assert p.with_outcome("was live").id == p.id


@given(st.text(), st.text(), st.text())
def test_pattern_id_never_raises(kind: str, key: str, decision: str) -> None:
    assert len(pattern_id(kind or "x", key, decision)) > 10


def test_records_are_frozen() -> None:
    p = Pattern.make("stream", "c", "d")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.kind = "other"  # type: ignore[misc]
    d = Decision(id="m1", source="live_chat", action="respond", context={"a": 1})
    with pytest.raises(TypeError):
        d.context["a"] = 2  # type: ignore[index]


def test_idle_report_has_host_shape() -> None:
    r = IdleReport(lines_processed=10, patterns_stored=2, duration_s=1.23456, progress=0.5)
    assert r.as_host_result() == {
        "task": "pattern_training",
        "success": True,
        "patterns_stored": 2,
        "lines_processed": 10,
        "duration": 1.235,
        "progress": 0.5,
    }
    assert "error" in IdleReport(success=False, error="boom").as_host_result()
