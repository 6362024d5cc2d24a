"""The shipped evaluation sets: they parse, their ids and questions never repeat across the
files (a held-out question must not also be a development or calibration question), and
every module a sample question expects exists in the sample host tree or writes to the
sample log."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from foundups_training.evaluation.qa import load_qa
from foundups_training.samples import sample_host, sample_log

EVALSETS = Path(__file__).resolve().parents[2] / "foundups_training" / "evalsets"
FILES = sorted(EVALSETS.glob("*.jsonl"))
#: sample_qa.jsonl is the first sample set, split later into dev and held-out: its
#: questions are expected to repeat in those two files.
SPLIT_FROM = "sample_qa.jsonl"


def test_every_set_parses_without_bad_lines() -> None:
    assert len(FILES) >= 7
    for path in FILES:
        lines = path.read_text().splitlines()
        items = load_qa(path)
        assert len(items) == len(lines), path.name
        assert all(item.id and item.expected for item in items), path.name


def test_no_question_is_in_two_sets() -> None:
    seen: dict[str, str] = {}
    asked: dict[str, str] = {}
    for path in FILES:
        if path.name == SPLIT_FROM:
            continue
        for item in load_qa(path):
            assert item.id not in seen, f"{item.id} in {seen.get(item.id)} and {path.name}"
            seen[item.id] = path.name
            text = " ".join(item.query.lower().split())
            assert text not in asked, f"{item.id}: asked in {asked.get(text)} too"
            asked[text] = path.name


def _sample_modules() -> set[str]:
    tree = {
        f"modules/{d.parent.name}/{d.name}"
        for d in (sample_host() / "modules").glob("*/*")
        if d.is_dir()
    }
    loggers = re.findall(r" - modules\.(\w+)\.(\w+)\.", sample_log().read_text())
    return tree | {f"modules/{a}/{b}" for a, b in loggers}


@pytest.mark.parametrize("path", [p for p in FILES if p.name.startswith("sample_")], ids=str)
def test_sample_module_questions_expect_a_known_module(path: Path) -> None:
    known = _sample_modules()
    for item in load_qa(path):
        if item.kind == "module_location":
            assert set(item.expected) <= known, item.id
