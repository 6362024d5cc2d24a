"""A review of the evaluation harness and the calibration: each test failed before its fix.

QA files: a line that ``json`` refuses with something other than JSONDecodeError, bytes
that are not UTF-8 on one line, ids and kinds. The "right" rule: module paths inside longer
words or with letters outside ASCII, case folding. Measures: confidences outside [0, 1] or
NaN, a tier asked twice. Calibration: NaN scores, tied scores in the isotonic fit, saved
files that overflow or nest too deep, ``eval --calibrate`` with nothing fitted, ``--out``
naming the question file.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest

from foundups_training.evaluation import QAFileError, evaluate, fit_calibration, is_right, load_qa
from foundups_training.evaluation.harness import EvalReport, ItemResult, brier, ece
from foundups_training.models.calibration import (
    Calibration,
    CalibrationError,
    CurveMap,
    fit_isotonic,
)
from foundups_training.routing import Router

from .scripted import ListMemory, ScriptedModel, module_pattern

GOOD = {"id": "a", "query": "Which module reads the chat?", "expected": ["x"], "kind": "lookup"}


def _line(**changes: object) -> str:
    return json.dumps({**GOOD, **changes})


# --- QA files ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        '{"id": ' + "1" * 5000 + ', "query": "q", "expected": ["x"]}',  # int() digit limit
        "[" * 100_000 + "]" * 100_000,  # RecursionError in the decoder
    ],
    ids=["huge integer", "deep nesting"],
)
def test_a_line_json_refuses_otherwise_is_a_bad_line_with_its_number(
    tmp_path: Path, bad: str
) -> None:
    """Before: a bare ValueError / RecursionError, with no line number, out of load_qa."""
    qa = tmp_path / "qa.jsonl"
    qa.write_text(_line() + "\n" + bad + "\n")
    with pytest.raises(QAFileError, match=r"1 bad line\(s\):\n  line 2: not JSON"):
        load_qa(qa)


def test_a_line_that_is_not_utf8_is_reported_with_its_number(tmp_path: Path) -> None:
    """Before: the whole file refused as "not UTF-8 text", without saying where."""
    qa = tmp_path / "qa.jsonl"
    qa.write_bytes(
        b"\xef\xbb\xbf"
        + _line().encode()
        + b"\r\n"
        + b'{"id": "b", "query": "caf\xe9", "expected": ["x"]}\r\n'
        + b"{oops\n"
    )
    with pytest.raises(QAFileError) as err:
        load_qa(qa)
    msg = str(err.value)
    assert "2 bad line(s)" in msg
    assert "line 2: not UTF-8 text" in msg and "line 3: not JSON" in msg
    assert msg.index("line 2:") < msg.index("line 3:")


def test_a_utf16_file_is_named_as_such(tmp_path: Path) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_bytes((_line() + "\n").encode("utf-16"))
    with pytest.raises(QAFileError, match="UTF-16 text, not UTF-8"):
        load_qa(qa)


def test_a_refused_line_claims_no_id(tmp_path: Path) -> None:
    """Before: line 1, refused for its kind, had already taken the id, so line 2 (the only
    question "a") was reported as its duplicate."""
    qa = tmp_path / "qa.jsonl"
    qa.write_text(_line(kind=5) + "\n" + _line() + "\n")
    with pytest.raises(QAFileError) as err:
        load_qa(qa)
    assert "1 bad line(s)" in str(err.value) and "duplicate" not in str(err.value)


def test_ids_zero_is_an_id_and_a_list_is_not(tmp_path: Path) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text(_line(id=0) + "\n" + _line(id="") + "\n")
    assert [item.id for item in load_qa(qa)] == ["0", "line-2"]
    qa.write_text(_line(id=["a"]) + "\n")
    with pytest.raises(QAFileError, match="line 1: 'id' must be a string or an integer"):
        load_qa(qa)


def test_a_kind_written_by_hand_gets_its_rule(tmp_path: Path) -> None:
    """Before: "Module_Location " was not "module_location", so listing two modules with
    the expected one second counted as right."""
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        _line(kind="Module_Location ", expected=["modules/communication/livechat"]) + "\n"
    )
    (item,) = load_qa(qa)
    assert item.kind == "module_location"
    answer = "modules/communication/chat_rules, modules/communication/livechat"
    assert not is_right(answer, item.expected, item.kind)


# --- the "right" rule -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected", "kind", "right"),
    [
        # the tail of a longer word names no module
        (
            "submodules/communication/livechat",
            ["modules/communication/livechat"],
            "module_location",
            False,
        ),
        ("see git submodules/a/b then modules/c/d", ["modules/c/d"], "module_location", True),
        # a Windows path, a dotted import, a trailing slash: still the module
        (
            "C:\\Agent\\modules\\communication\\livechat\\",
            ["modules/communication/livechat"],
            "module_location",
            True,
        ),
        (
            "modules.communication.livechat.src",
            ["modules/communication/livechat/"],
            "module_location",
            True,
        ),
        # a letter outside ASCII does not cut the name short
        (
            "modules/communication/livéchat",
            ["modules/communication/livèchat"],
            "module_location",
            False,
        ),
        (
            "modules/communication/livéchat",
            ["modules/communication/livéchat"],
            "module_location",
            True,
        ),
        # case-insensitive is case folding
        ("STRASSE closed", ["straße"], "error_fix", True),
        # regex characters in an expected string are plain text
        ("use (a+b)* here", ["(a+b)*"], "error_fix", True),
        ("use ab here", ["(a+b)*"], "error_fix", False),
    ],
)
def test_the_right_rule(answer: str, expected: list[str], kind: str, right: bool) -> None:
    assert is_right(answer, expected, kind) is right


# --- measures ---------------------------------------------------------------------------


def test_confidences_outside_zero_one_or_nan_are_measured_as_probabilities() -> None:
    """Before: such a confidence fell in no ECE bin (ECE 0 for a confident wrong answer)
    and gave a Brier score above 1."""
    assert ece([1.2], [False]) == pytest.approx(1.0)
    assert ece([-0.5], [True]) == pytest.approx(1.0)
    assert ece([math.nan], [True]) == pytest.approx(1.0)
    assert ece([math.inf, 0.0], [True, False]) == pytest.approx(0.0)
    assert brier([1.5], [False]) == pytest.approx(1.0)
    assert brier([math.nan], [False]) == pytest.approx(0.0)
    # the ordinary edges are unchanged
    assert ece([1.0, 1.0], [True, True]) == 0.0 and brier([0.0], [True]) == 1.0


def _router() -> Router:
    memory = ListMemory(
        [
            (module_pattern("modules/communication/livechat", "live chat"), 0.6),
            (module_pattern("modules/infrastructure/database", "sqlite"), 0.5),
        ]
    )
    return Router(memory, ScriptedModel("gemma-test"), ScriptedModel("qwen-test"))


def test_a_tier_named_twice_is_asked_once(tmp_path: Path) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text(_line() + "\n" + _line(id="b") + "\n")
    report = evaluate(_router(), load_qa(qa), ("memory", "memory"))
    assert report.tiers["memory"].n == 2 and len(report.results) == 2


def _result(raw: float, right: bool, coverage: float = 0.5) -> ItemResult:
    return ItemResult(
        id="x",
        tier="memory",
        kind="lookup",
        query="q",
        expected=("x",),
        answer="x",
        right=right,
        confidence=raw,
        raw=raw,
        scorer="memory",
        answered_by="memory",
        model="memory",
        escalated=False,
        escalation_reason="",
        latency_ms=1.0,
        patterns=(),
        error="",
        coverage=coverage,
    )


def test_a_nan_score_is_left_out_of_the_fit() -> None:
    """Before: one NaN raw score made the fitted curve NaN, refused with ValueError after
    the whole evaluation had run."""
    results = [_result(0.2 + 0.07 * i, i % 3 != 0) for i in range(10)]
    results.append(_result(math.nan, True))
    results.append(_result(0.5, True, coverage=math.nan))
    cal = Calibration()
    summary = fit_calibration(EvalReport(items=12, tiers={}, results=results), cal)
    assert summary["memory"]["n"] == 10
    assert math.isfinite(cal("memory", 0.5, coverage=0.5))


# --- calibration curves and files -------------------------------------------------------


def test_a_nan_score_maps_to_the_lowest_probability_not_nan() -> None:
    """Before: platt and identity gave NaN (no threshold catches it) and isotonic its
    highest probability."""
    iso = CurveMap(method="isotonic", xs=(0.1, 0.9), ys=(0.2, 0.8))
    assert iso(math.nan) == pytest.approx(0.2)
    assert CurveMap()(math.nan) == 0.0
    platt = CurveMap(method="platt", a=2.0, b=0.5, c=1.0)
    assert platt(math.nan, math.nan) == pytest.approx(platt(0.0, 0.0))
    assert platt(0.6, math.nan) == pytest.approx(platt(0.6, 0.0))


def test_isotonic_pools_tied_scores() -> None:
    """Before: one right and one wrong answer at 0.2 left two steps at x = 0.2, and 0.2
    mapped to the wrong answer's 0.25 instead of their shared 0.5."""
    curve = fit_isotonic([0.2, 0.2, 0.9], [True, False, True])
    assert curve(0.2) == pytest.approx(0.5)
    assert len(set(curve.xs)) == len(curve.xs)
    many = fit_isotonic([0.5] * 6 + [0.9] * 2, [True, False, True, False, False, True, True, True])
    assert many(0.5) == pytest.approx((3 + 0.5) / (6 + 1))


@pytest.mark.parametrize(
    "text",
    [
        '{"version": 1, "tiers": {"gemma": {"method": "platt", "a": 1, "b": 0, "n": 1e999}}}',
        '{"version": 1, "tiers": ' + "[" * 100_000 + "]" * 100_000 + "}",
    ],
    ids=["n overflows", "deep nesting"],
)
def test_a_saved_file_that_breaks_the_reader_gives_the_shipped_curves(
    tmp_path: Path, text: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: OverflowError / RecursionError out of the reader, so no router started."""
    path = tmp_path / "calibration.json"
    path.write_text(text)
    with pytest.raises(CalibrationError):
        Calibration.read(path)
    with caplog.at_level(logging.WARNING, logger="foundups_training.models.calibration"):
        loaded = Calibration.load_or_shipped(path)
    assert loaded("gemma", 0.9) == pytest.approx(Calibration.shipped()("gemma", 0.9))
    assert "cannot be used" in caplog.text


# --- the eval verb ----------------------------------------------------------------------


def test_calibrate_with_nothing_fitted_saves_no_file(tmp_path: Path) -> None:
    """Before: the summary held "skipped (too few samples)", which counted as a fit, so the
    shipped curves were written into the data directory (hiding later shipped fits)."""
    from foundups_training.cli.evaluate import calibrate

    path = tmp_path / "calibration.json"
    few = EvalReport(items=3, tiers={}, results=[_result(0.5, True)] * 3)
    summary = calibrate(few, Calibration(tiers=dict(Calibration.shipped().tiers)), path)
    assert not path.exists()
    assert "note" in summary and summary["skipped (too few samples)"] == ["memory"]
    enough = EvalReport(items=10, tiers={}, results=[_result(0.1 * i, i > 4) for i in range(10)])
    summary = calibrate(enough, Calibration(), path)
    assert path.exists() and "memory" in summary and "note" not in summary


def test_out_naming_the_question_file_is_refused_before_evaluating(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from foundups_training.cli import main

    qa = tmp_path / "qa.jsonl"
    qa.write_text(_line() + "\n")
    before = qa.read_text()
    data, out = str(tmp_path / "d"), str(tmp_path / "." / "qa.jsonl")
    code = main(["eval", str(qa), "--tiers", "memory", "--data-dir", data, "--out", out])
    assert code == 2
    assert "is the question file itself" in capsys.readouterr().err
    assert qa.read_text() == before
