"""A data directory's ``calibration.json`` that cannot be used: the shipped curves, one
warning naming the file, and never a failed answer.

Before, a file cut short gave identity maps without a word (so every confidence, and with
it every escalation, changed), and a hand-edited isotonic curve with more xs than ys made
every answer fail with ``IndexError``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from foundups_training.config import load_settings
from foundups_training.models.calibration import Calibration, CurveMap
from foundups_training.records import Query
from foundups_training.routing import Router

from .scripted import ListMemory, ScriptedModel, module_pattern

LOGGER = "foundups_training.models.calibration"
LIVECHAT = module_pattern("modules/communication/livechat", "reads and answers YouTube live chat")
LINKEDIN = module_pattern("modules/platform_integration/linkedin_agent", "posts to LinkedIn")
QUESTION = "Which module reads the live chat?"

BROKEN = {
    "cut short": '{"version":1,"tiers":',
    "not an object": "[1, 2, 3]",
    "no tiers": '{"version": 1}',
    "newer version": '{"version": 2, "tiers": {}}',
    "xs and ys differ": json.dumps(
        {
            "version": 1,
            "tiers": {"gemma": {"method": "isotonic", "xs": [0.1, 0.5, 0.9], "ys": [0.2]}},
        }
    ),
    "unknown method": json.dumps({"version": 1, "tiers": {"gemma": {"method": "spline"}}}),
    "not a number": json.dumps({"version": 1, "tiers": {"gemma": {"method": "platt", "a": "x"}}}),
    "a probability above 1": json.dumps(
        {"version": 1, "tiers": {"gemma": {"method": "isotonic", "xs": [0.1, 0.9], "ys": [0.2, 7]}}}
    ),
    "xs going down": json.dumps(
        {
            "version": 1,
            "tiers": {"gemma": {"method": "isotonic", "xs": [0.9, 0.1], "ys": [0.2, 0.3]}},
        }
    ),
}


@pytest.mark.parametrize("why", sorted(BROKEN))
def test_an_unusable_file_gives_the_shipped_curves_and_one_warning(
    tmp_path: Path, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "calibration.json"
    path.write_text(BROKEN[why])
    shipped = Calibration.shipped()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        first = Calibration.load_or_shipped(path)
        again = Calibration.load_or_shipped(path)  # each router built reads it again
    assert first.tiers == shipped.tiers and again.tiers == shipped.tiers
    assert first("gemma", 0.95) == pytest.approx(shipped("gemma", 0.95))
    assert first("gemma", 0.95) != pytest.approx(0.95)  # not the identity map
    warnings = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(warnings) == 1, warnings
    assert f"calibration file {path} cannot be used" in warnings[0]
    assert "using the curves shipped with the package instead" in warnings[0]
    assert Calibration.problem(path) in warnings[0]
    # the next `eval --calibrate` saves a good file in its place
    assert first.path == path


def test_the_warning_says_what_is_wrong_with_a_curve(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    path.write_text(BROKEN["xs and ys differ"])
    assert "curve 'gemma': 3 xs but 1 ys" in Calibration.problem(path)
    assert Calibration.problem(tmp_path / "none.json") == ""


def test_a_router_on_a_broken_file_still_answers_with_the_shipped_curves(
    tmp_path: Path,
) -> None:
    """The reviewer's hand-edited file: every answer failed with IndexError before."""
    settings = load_settings({"data_dir": tmp_path / "data"}, env={})
    settings.ensure_data_dir()
    settings.calibration_path.write_text(BROKEN["xs and ys differ"])
    memory = ListMemory([(LIVECHAT, 0.62), (LINKEDIN, 0.48)])
    calibration = Router.from_settings(settings, memory).calibration
    assert calibration.tiers == Calibration.shipped().tiers
    router = Router(
        memory,
        ScriptedModel("gemma-test", probs=[0.98, 0.02]),
        ScriptedModel("qwen-test", probs=[0.02, 0.98]),
        calibration=calibration,
    )
    answer = router.answer(Query(QUESTION, tier="gemma"))
    assert not answer.error, answer.error
    assert answer.tier == "gemma" and answer.text == "modules/communication/livechat"
    assert 0.0 < answer.confidence < 1.0


def test_a_saved_fit_replaces_the_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    path.write_text(BROKEN["cut short"])
    calibration = Calibration.load_or_shipped(path)
    calibration.fit({"gemma": [(0.9, True)] * 8 + [(0.6, False)] * 8})
    calibration.save()
    assert Calibration.problem(path) == ""
    again = Calibration.load_or_shipped(path)
    assert again("gemma", 0.9) == pytest.approx(calibration("gemma", 0.9))
    assert again("qwen_open", 0.7) == pytest.approx(Calibration.shipped()("qwen_open", 0.7))


@pytest.mark.parametrize(
    ("curve", "words"),
    [
        ({"method": "isotonic", "xs": [0.1, 0.5], "ys": [0.2]}, "2 xs but 1 ys"),
        ({"method": "spline"}, "unknown method 'spline'"),
        ({"method": "platt", "a": None}, "None is not a number"),
        ({"method": "isotonic", "xs": "0.1", "ys": "0.2"}, "lists of numbers"),
        ([0.1, 0.2], "a curve is a JSON object"),
    ],
)
def test_a_curve_that_cannot_map_a_score_is_refused_when_read(curve: object, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        CurveMap.from_json(curve)


def test_good_curves_still_read_and_map_as_before() -> None:
    iso = CurveMap.from_json({"method": "isotonic", "xs": [0.1, 0.5, 0.9], "ys": [0.2, 0.4, 0.8]})
    assert iso(0.7) == pytest.approx(0.6)
    platt = CurveMap.from_json({"method": "platt", "a": 2, "b": -1, "n": 40})
    assert platt(0.5) == pytest.approx(1 / (1 + 2.718281828459045))
    assert CurveMap.from_json({})(0.42) == pytest.approx(0.42)
