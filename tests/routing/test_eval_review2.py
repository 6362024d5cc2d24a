"""A second review of the evaluation harness and the calibration: each test failed before
its fix, except the reference checks at the top, which pin the measures to sums by hand.

Isotonic curves: the fitter's shrinkage could make the curve go down, a saved curve that
goes down was read as usable, and scores outside 0-1 were fitted where the curve never
looks. Platt: a NaN coverage given to the fit ended in ValueError. Files: a calibration
file with a BOM was refused, the per-item file wrote ``NaN`` (not JSON), and a huge
duplicate id was quoted whole in the error.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest

from foundups_training.evaluation import QAFileError, load_qa
from foundups_training.evaluation.harness import (
    EvalReport,
    ItemResult,
    brier,
    ece,
    percentile,
    summarise,
)
from foundups_training.models.calibration import (
    Calibration,
    CalibrationError,
    CurveMap,
    fit_isotonic,
    fit_platt,
)

# --- the measures against sums by hand -----------------------------------------------------


def test_ece_and_brier_match_a_hand_computation() -> None:
    """Five items, one per bin except two sharing the last (1.0 is in it, 0.0 in the first,
    0.1 opens the second bin): ECE = sum over bins of |accuracy - confidence| * share."""
    confs = [0.0, 0.1, 0.95, 1.0, 0.45]
    rights = [False, True, True, False, True]
    # bins: [0, .1): 0.0 F -> |0 - 0| ; [.1, .2): 0.1 T -> |1 - .1| ; [.4, .5): 0.45 T ->
    # |1 - .45| ; [.9, 1]: 0.95 T and 1.0 F -> |0.5 - 0.975|
    by_hand = (0 + 0.9 + 0.55 + 2 * 0.475) / 5
    assert ece(confs, rights) == pytest.approx(by_hand)
    squares = [0.0, 0.81, 0.0025, 1.0, 0.3025]
    assert brier(confs, rights) == pytest.approx(sum(squares) / 5)


@pytest.mark.parametrize(
    ("values", "p50", "p95"),
    [([7.0], 7.0, 7.0), ([9.0, 3.0], 3.0, 9.0), ([float(i) for i in range(1, 21)], 10.0, 19.0)],
)
def test_nearest_rank_percentiles_on_few_items(values: list[float], p50: float, p95: float) -> None:
    assert percentile(values, 50) == p50 and percentile(values, 95) == p95


def test_an_empty_tier_has_no_lookup_accuracy_and_no_division() -> None:
    report = summarise("gemma", [])
    assert report.n == 0 and report.lookup_accuracy is None and report.ece == 0.0


# --- isotonic curves -----------------------------------------------------------------------


def _non_decreasing(curve: CurveMap) -> bool:
    grid = [i / 200 for i in range(201)]
    values = [curve(x) for x in grid]
    return all(b >= a - 1e-12 for a, b in itertools.pairwise(values))


@pytest.mark.parametrize(
    ("raw", "right"),
    [
        # nine of ten right at 0.1, one of one right at 0.9: PAV keeps the blocks apart
        # (0.9 < 1.0), and the shrinkage toward 0.5 made them 0.86 then 0.75
        ([0.1] * 10 + [0.9], [True] * 9 + [False] + [True]),
        # none right at 0.1 nor at 0.5: equal means stay apart, shrunk to 0.25 then 0.08
        ([0.1] + [0.5] * 5, [False] * 6),
    ],
    ids=["high then higher", "zero then zero"],
)
def test_the_isotonic_fit_never_goes_down(raw: list[float], right: list[bool]) -> None:
    """Before: a higher raw score could map to a lower probability (0.86 at 0.1, 0.75 at
    0.9), the one thing an isotonic curve must not do."""
    curve = fit_isotonic(raw, right)
    assert _non_decreasing(curve), curve
    assert all(b >= a for a, b in itertools.pairwise(curve.ys))


def test_the_isotonic_fit_never_goes_down_on_random_samples() -> None:
    import random

    rng = random.Random(7)
    for _ in range(300):
        n = rng.randint(1, 25)
        raw = [round(rng.random(), 1) for _ in range(n)]
        right = [rng.random() < x for x in raw]
        curve = fit_isotonic(raw, right)
        assert _non_decreasing(curve), (raw, right, curve)
        # the fit's own output reads back (the reader refuses curves that go down)
        assert CurveMap.from_json(curve.to_json()) == curve


def test_a_saved_isotonic_curve_that_goes_down_is_not_used(tmp_path: Path) -> None:
    """Before: read as usable, so a higher score got a lower confidence."""
    path = tmp_path / "calibration.json"
    curve = {"method": "isotonic", "xs": [0.1, 0.5, 0.9], "ys": [0.2, 0.8, 0.3]}
    path.write_text(json.dumps({"version": 1, "tiers": {"gemma": curve}}))
    with pytest.raises(CalibrationError, match="ys must not go down"):
        Calibration.read(path)
    loaded = Calibration.load_or_shipped(path)
    assert loaded.tiers == Calibration.shipped().tiers


def test_isotonic_scores_outside_zero_one_are_fitted_where_they_are_read() -> None:
    """The curve reads a score clipped to 0-1 (NaN as 0). Before, the fit kept -0.2 and 0.0
    apart, and -0.2 (a wrong answer) was then read as 0.0 and got the right one's 0.75."""
    curve = fit_isotonic([-0.2, 0.0, 1.0, 1.4], [False, True, False, True])
    assert curve(-0.2) == pytest.approx(0.5) and curve(0.0) == pytest.approx(0.5)
    assert curve(1.4) == pytest.approx(0.5)
    assert all(0.0 <= x <= 1.0 for x in curve.xs)
    nan = fit_isotonic([math.nan, 0.0, 0.8], [True, False, True])
    assert nan(math.nan) == pytest.approx(nan(0.0))


# --- Platt -----------------------------------------------------------------------------------


def test_a_platt_fit_reads_a_nan_coverage_as_the_curve_does() -> None:
    """Before: min/max passed the NaN through, the weights became NaN, and the curve was
    refused with ValueError (the curve itself reads a NaN coverage as 0)."""
    raw = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    right = [False, False, True, False, True, True, False, True]
    cov = [0.1, math.nan, 0.3, 0.2, 0.6, 0.5, 0.4, 0.9]
    curve = fit_platt(raw, right, cov)
    same = fit_platt(raw, right, [0.0 if math.isnan(c) else c for c in cov])
    assert curve == same
    fitted = Calibration().fit({"gemma": list(zip(raw, right, cov, strict=True))})
    assert math.isfinite(fitted["gemma"].c)


# --- files -----------------------------------------------------------------------------------


def test_a_calibration_file_with_a_bom_is_read(tmp_path: Path) -> None:
    """Before: refused as "not valid JSON" (Windows Notepad writes a BOM), so the shipped
    curves replaced a good hand-edited file."""
    path = tmp_path / "calibration.json"
    data = {"version": 1, "tiers": {"gemma": {"method": "platt", "a": 2.0, "b": -1.0}}}
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(data).encode())
    assert Calibration.problem(path) == ""
    assert Calibration.read(path).tiers["gemma"] == CurveMap(method="platt", a=2.0, b=-1.0)


def _strict(line: str) -> object:
    def refuse(name: str) -> object:
        raise ValueError(f"{name} is not JSON")

    return json.loads(line, parse_constant=refuse)


def test_the_per_item_file_is_json_even_with_a_nan_score(tmp_path: Path) -> None:
    """Before: ``"raw": NaN``, which jq, JavaScript and every strict parser refuse."""
    result = ItemResult(
        id="x",
        tier="memory",
        kind="lookup",
        query="q",
        expected=("x",),
        answer="x",
        right=True,
        confidence=0.0,
        raw=math.nan,
        scorer="memory",
        answered_by="memory",
        model="memory",
        escalated=False,
        escalation_reason="",
        latency_ms=math.inf,
        patterns=(),
        error="",
        coverage=math.nan,
    )
    path = EvalReport(items=1, tiers={}, results=[result]).write_items(tmp_path / "items.jsonl")
    (line,) = path.read_text().splitlines()
    row = _strict(line)
    assert isinstance(row, dict)
    assert row["raw"] is None and row["coverage"] is None and row["latency_ms"] is None
    assert row["confidence"] == 0.0 and row["id"] == "x"


def test_a_huge_duplicate_id_is_not_quoted_whole(tmp_path: Path) -> None:
    """Before: the error quoted the id whole (here a megabyte) in a one-line message."""
    big = "q" * 1_000_000
    line = json.dumps({"id": big, "query": "Which module?", "expected": ["x"]})
    qa = tmp_path / "qa.jsonl"
    qa.write_text(line + "\n" + line + "\n")
    with pytest.raises(QAFileError, match="line 2: duplicate id 'qqq") as err:
        load_qa(qa)
    assert len(str(err.value)) < 1000
