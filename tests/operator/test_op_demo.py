"""The demo (the main job) on the shipped samples, memory tier only (models: tested elsewhere)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from foundups_training.cli import main
from foundups_training.cli.demo import is_right, pick_questions

HAVE_SAMPLES = importlib.util.find_spec("foundups_training.samples") is not None
HERE = Path(__file__).resolve().parent


def _demo(data_dir: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FOUNDUPS_TRAINING_HOME": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "foundups_training", "demo", "--no-models", *flags],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_SAMPLES, reason="the shipped samples are not in this tree yet")
def test_demo_without_models_runs_the_main_job(tmp_path: Path) -> None:
    run = _demo(tmp_path / "home")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    demo_dir = tmp_path / "home" / "demo"
    assert f"data directory: {demo_dir}" in out  # says where it works
    for step in ("[1/4] Indexing", "[2/4] Mining", "[3/4] Answering", "[4/4] Metrics"):
        assert step in out
    assert "-> memory" in out  # --no-models: every answer from the memory tier
    assert "Dashboard:" in out and (demo_dir / "report" / "index.html").is_file()
    assert "\r" not in out  # not a terminal: no progress bar in captured output
    # The real memory (the data dir itself) is untouched: the demo lives in its own folder.
    assert not (tmp_path / "home" / "chroma").exists()

    # The demo's own folder got the run's metrics and telemetry.
    events = (demo_dir / "telemetry").glob("telemetry-*.jsonl")
    commands = {json.loads(line)["command"] for f in events for line in f.read_text().splitlines()}
    assert {"training.demo", "training.index", "training.batch", "training.route"} <= commands


def test_question_picking_covers_every_kind() -> None:
    items = [{"kind": k, "query": f"{k}{i}"} for k in ("a", "b", "c") for i in range(5)]
    picked = pick_questions(items)
    assert [p["kind"] for p in picked[:3]] == ["a", "b", "c"]
    assert len(picked) == 6


def test_answer_check_reads_dots_and_backslashes_as_slashes() -> None:
    assert is_right(
        "It lives in modules\\platform_integration\\youtube_auth.",
        ["modules/platform_integration/youtube_auth"],
    )
    assert is_right("nothing", ["modules/x"]) is False
    assert is_right("anything", []) is None


def test_demo_in_process_on_stand_in_samples(tmp_path, monkeypatch, capsys) -> None:
    """The demo's flow on this suite's own host tree and log (independent of the samples)."""
    import foundups_training.cli.demo as demo

    host = HERE.parent / "standin_host"
    monkeypatch.setattr(demo, "_samples", lambda: (host, HERE / "data" / "012_sample.txt"))
    monkeypatch.setattr(
        demo,
        "demo_questions",
        lambda: (
            [
                {
                    "id": "m1",
                    "kind": "module_location",
                    "query": "Which module handles YouTube authentication?",
                    "expected": ["modules/platform_integration/youtube_auth"],
                }
            ],
            "test questions",
        ),
    )
    assert main(["--data-dir", str(tmp_path), "demo", "--no-models", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["data_dir"] == str(tmp_path / "demo")
    assert data["mine"]["lines_processed"] == 9
    (answer,) = data["answers"]
    assert answer["tier"] == "memory" and answer["latency_ms"] >= 0
    assert data["metrics"]["answers"]["answers"] == 1
    assert data["eval_run"] and data["metrics"]["last_eval"]["dataset"] == "demo: test questions"
    assert Path(data["report"]).is_file()

    # A second run starts afresh (the demo clears its own folder) and still works.
    assert main(["--data-dir", str(tmp_path), "demo", "--no-models", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["mine"]["lines_processed"] == 9
    assert again["metrics"]["training_runs"]["batch"] == 2  # the history is kept


def test_demo_questions_never_use_a_held_out_split() -> None:
    from foundups_training.cli.demo import demo_questions

    items, source = demo_questions()
    assert items and "heldout" not in source
