"""Word coverage as the calibration's second input, and per-intent curves."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from foundups_training.evaluation.harness import EvalReport, ItemResult, fit_calibration
from foundups_training.models.calibration import Calibration, CurveMap, fit_platt
from foundups_training.records import Pattern, Query
from foundups_training.routing.coverage import content_words, coverage, pattern_words

from .scripted import ListMemory, ScriptedModel
from .test_routing_router import make_router


def _log_pattern(situation: str, decision: str, before: str = "", outcome: str = "") -> Pattern:
    context = situation + (f"\nBefore:\n{before}" if before else "")
    return Pattern.make(kind="error_fix", context=context, decision=decision, outcome=outcome)


def test_content_words_leave_out_question_and_stop_words() -> None:
    words = content_words("Which module does the YouTube quotaExceeded recovery in main.py?")
    assert words == {"youtube", "quotaexceeded", "recovery", "main.py"}


def test_pattern_words_are_the_patterns_own_event_not_the_lines_before_it() -> None:
    pat = _log_pattern(
        "[ERROR] YouTube API 403 quotaExceeded",
        "Rotating to credential set 2",
        before="[INFO] LinkedIn post scheduled",
        outcome="Quota OK",
    )
    words = pattern_words(
        [
            pat,
            Pattern.make(
                kind="module_location",
                context="",
                decision="x",
                module="modules/communication/livechat",
            ),
        ]
    )
    assert {"youtube", "quotaexceeded", "rotating", "credential", "quota", "ok"} <= words
    assert "linkedin" not in words  # a line before the event is not the event
    assert {"modules/communication/livechat", "livechat", "communication"} <= words


def test_coverage_is_the_share_of_the_question_said() -> None:
    words = pattern_words([_log_pattern("YouTube API 403 quotaExceeded", "Rotating credential")])
    assert coverage("YouTube answered 403 quotaExceeded", words) == pytest.approx(3 / 4)
    assert coverage("LinkedIn timed out", words) == 0.0
    assert coverage("what is it?", words) == 0.0  # nothing to cover


def test_platt_with_coverage_learns_what_the_raw_score_cannot_tell() -> None:
    # The raw score is the same for right and wrong picks; only the coverage differs.
    raw = [0.9] * 40
    cov = [0.8] * 20 + [0.2] * 20
    right = [True] * 17 + [False] * 3 + [True] * 4 + [False] * 16
    curve = fit_platt(raw, right, cov)
    assert curve.c > 1
    assert curve(0.9, 0.8) > 0.7 > 0.4 > curve(0.9, 0.2)
    plain = fit_platt(raw, right)
    assert plain.c == 0.0 and plain(0.9, 0.8) == pytest.approx(plain(0.9, 0.2))
    again = CurveMap.from_json(json.loads(json.dumps(curve.to_json())))
    assert again(0.9, 0.5) == pytest.approx(curve(0.9, 0.5))


def test_a_curve_saved_without_coverage_reads_as_before(tmp_path: Path) -> None:
    path = tmp_path / "cal.json"
    path.write_text(
        json.dumps({"version": 1, "tiers": {"gemma": {"method": "platt", "a": 0.8, "b": -1.6}}})
    )
    cal = Calibration.load(path)
    assert cal.tiers["gemma"].c == 0.0
    assert cal("gemma", 0.95, coverage=1.0) == pytest.approx(cal("gemma", 0.95, coverage=0.0))


def test_a_per_intent_curve_wins_over_the_scorers_own() -> None:
    cal = Calibration(
        {
            "gemma": CurveMap(method="platt", a=0.0, b=2.0),
            "gemma.lookup": CurveMap(method="platt", a=0.0, b=-2.0),
        }
    )
    assert cal("gemma", 0.9, intent="lookup") < 0.2
    assert cal("gemma", 0.9, intent="module_location") > 0.8
    assert cal("gemma", 0.9) > 0.8


def _result(
    i: int, intent: str, raw: float, right: bool, cov: float, tier: str = "gemma"
) -> ItemResult:
    return ItemResult(
        id=f"q{i}",
        tier=tier,
        kind=intent,
        query="q",
        expected=("x",),
        answer="x",
        right=right,
        confidence=raw,
        raw=raw,
        scorer=tier,
        answered_by=tier,
        model=tier,
        escalated=False,
        escalation_reason="",
        latency_ms=1.0,
        patterns=(),
        error="",
        intent=intent,
        coverage=cov,
    )


def test_calibration_keeps_a_per_intent_curve_only_where_it_predicts_better() -> None:
    # Module questions at raw 0.9 are right 9 times in 10, log lookups at the same raw
    # score 3 times in 10: one pooled curve cannot say both.
    results = [_result(i, "module_location", 0.9, i % 10 != 0, 0.5) for i in range(20)]
    results += [_result(100 + i, "lookup", 0.9, i % 10 < 3, 0.5) for i in range(20)]
    cal = Calibration({"gemma.stale": CurveMap(method="platt", b=5.0)})
    summary = fit_calibration(EvalReport(items=40, tiers={}, results=results), cal)
    assert "gemma.stale" not in cal.tiers  # an earlier fit's curve does not linger
    assert {"gemma", "gemma.lookup", "gemma.module_location"} <= set(cal.tiers)
    assert cal("gemma", 0.9, 0.5, intent="module_location") > 0.75
    assert cal("gemma", 0.9, 0.5, intent="lookup") < 0.45
    own = summary["per_intent"]["gemma.lookup"]
    assert own["loo_loss_own_curve"] < own["loo_loss_pooled_curve"] and own["kept"] is True

    # The same two intents right at the same rate: the pooled curve predicts as well with
    # more data, so no per-intent curve is kept.
    same = [_result(i, "module_location", 0.9, i % 10 < 7, 0.5) for i in range(20)]
    same += [_result(100 + i, "lookup", 0.9, i % 10 < 7, 0.5) for i in range(20)]
    cal = Calibration()
    fit_calibration(EvalReport(items=40, tiers={}, results=same), cal)
    assert set(cal.tiers) == {"gemma"}

    # Right 8 and 5 times in 10: each intent's own curve predicts its questions a little
    # better (lower leave-one-out loss), but by less than one standard error of the 20
    # per-question differences -- what chance alone gives often. The pooled curve stays.
    near = [_result(i, "module_location", 0.9, i % 10 < 8, 0.5) for i in range(20)]
    near += [_result(100 + i, "lookup", 0.9, i % 10 < 5, 0.5) for i in range(20)]
    cal = Calibration()
    summary = fit_calibration(EvalReport(items=40, tiers={}, results=near), cal)
    for key in ("gemma.lookup", "gemma.module_location"):
        losses = summary["per_intent"][key]
        assert losses["loo_loss_own_curve"] < losses["loo_loss_pooled_curve"]
        assert losses["kept"] is False
    assert set(cal.tiers) == {"gemma"}


def test_the_router_reports_coverage_and_calibrates_with_it() -> None:
    quota = _log_pattern("[ERROR] YouTube API 403 quotaExceeded", "Rotating to credential set 2")
    breaker = _log_pattern("[WARN] LinkedIn API timeout", "Circuit breaker OPEN")
    memory = ListMemory([(quota, 0.7), (breaker, 0.5)])
    router = make_router(memory, gemma=ScriptedModel("gemma-test", probs=[0.98, 0.02]))
    # A curve that trusts a pick only when its pattern says what the question asks.
    router.calibration = Calibration({"gemma": CurveMap(method="platt", a=0.0, b=-3.0, c=6.0)})
    ans, detail = router.answer_detailed(Query("YouTube 403 quotaExceeded: what then?"))
    assert detail.coverage == 1.0
    assert ans.tier == "gemma" and ans.confidence == pytest.approx(
        1 / (1 + math.exp(-3.0)), abs=1e-3
    )
    ans, detail = router.answer_detailed(Query("Discord webhook failure: what then?"))
    assert detail.coverage == 0.0
    assert ans.escalated and ans.tier == "qwen"


def test_errors_after_which_nothing_was_tried_are_told_apart_by_what_followed() -> None:
    from foundups_training.mining.extractors import NOTHING_TRIED

    def error(situation: str, outcome: str) -> Pattern:
        return Pattern.make(
            kind="error_fix", context=situation, decision=NOTHING_TRIED, outcome=outcome
        )

    breaker = error(
        "Error: LinkedIn read timeout",
        "19:13:46 ERROR orchestrator: Circuit breaker OPEN for linkedin; aborting posts",
    )
    later = error(  # the same ending, another time: one option
        "Error: LinkedIn read timeout again",
        "21:02:11 ERROR orchestrator: Circuit breaker OPEN for linkedin; aborting posts",
    )
    crash = error("Error: NoneType in the chat processor", "19:20:01 INFO daemon: restarted")
    quiet = error("Error: ERROR net: ping failed after 3 tries\nBefore: x", "")
    silent = error("Error: ERROR db: disk full", "")
    memory = ListMemory([(crash, 0.8), (breaker, 0.7), (later, 0.65), (quiet, 0.6), (silent, 0.55)])
    router = make_router(memory, max_options=8)
    router.answer(Query("LinkedIn kept timing out: what happened to the posts?"))
    options = router._local.candidates
    assert len(options) == 4
    posts = [c for c in options if "aborting posts" in c.text]
    assert len(posts) == 1 and posts[0].pattern_ids == (breaker.id, later.id)
    # No ending logged: one option per error, which says which error it was (the words and
    # the similarity of one error never lend weight to another).
    texts = {c.text: c.pattern_ids for c in options}
    assert texts[f"{NOTHING_TRIED} after: ERROR net: ping failed after 3 tries"] == (quiet.id,)
    assert texts[f"{NOTHING_TRIED} after: ERROR db: disk full"] == (silent.id,)


def test_calibration_uses_coverage_only_where_it_predicts_better() -> None:
    # Gemma's picks: right when their patterns say what was asked, whatever the raw score.
    # Qwen's: coverage is noise there (right or wrong at every coverage alike).
    gemma = [_result(i, "lookup", 0.9, i % 2 == 0, 0.8 if i % 2 == 0 else 0.2) for i in range(30)]
    qwen = [
        _result(100 + i, "lookup", 0.6 + 0.3 * (i % 2), i % 2 == 1, (i // 2) % 3 / 2, tier="qwen")
        for i in range(30)
    ]
    cal = Calibration()
    summary = fit_calibration(EvalReport(items=60, tiers={}, results=gemma + qwen), cal)
    losses = summary["coverage"]
    assert losses["gemma"]["loo_loss_with_coverage"] < losses["gemma"]["loo_loss_raw_score"]
    assert losses["qwen"]["loo_loss_with_coverage"] >= losses["qwen"]["loo_loss_raw_score"]
    assert cal.tiers["gemma"].c > 1 and cal.tiers["qwen"].c == 0.0
    assert cal("gemma", 0.9, 0.8) > 0.7 > 0.3 > cal("gemma", 0.9, 0.2)
