"""``ask`` (the ``on_query`` hook) answers while another process holds the store for writing.

The normal setup: the host runs with the plugin, so its process holds the embedded store's
one-writer lock, and ``foundups-training ask`` is run from a shell. Real processes, a real
embedded Chroma store, the real console entry point.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from foundups_training.config import load_settings
from foundups_training.engine import Trainer
from foundups_training.plugin import TrainingPlugin, _observe
from foundups_training.records import Pattern, Query

REPO = Path(__file__).resolve().parent.parent
QUESTION = "which module handles youtube auth"

HOLDER = """
import sys, time
from foundups_training.config import load_settings
from foundups_training.memory import open_memory
m = open_memory(load_settings({"data_dir": sys.argv[1]}, env={}))
m.upsert([])
print("holding", flush=True)
time.sleep(600)
"""


def _env(data: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("FOUNDUPS_TRAINING_") or k == "FOUNDUPS_TRAINING_MODELS_DIR"
    }
    env.pop("PYTEST_CURRENT_TEST", None)
    env.update(PYTHONUNBUFFERED="1", FOUNDUPS_TRAINING_HOME=str(data))
    return env


@pytest.fixture
def held_store(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A store with one pattern, held for writing by another (real) process."""
    data = tmp_path / "data"
    with Trainer(load_settings({"data_dir": data}, env={})) as trainer:
        trainer.memory.upsert(
            [
                Pattern(
                    id="auth-1",
                    kind="module_location",
                    context="youtube auth: OAuth token refresh for the YouTube API",
                    decision="modules/platform_integration/youtube_auth/",
                    module="modules/platform_integration/youtube_auth/",
                )
            ]
        )
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data)],
        stdout=subprocess.PIPE,
        text=True,
        env=_env(data),
        cwd=REPO,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        yield data, holder.pid
    finally:
        holder.kill()
        holder.wait()


def test_on_query_answers_read_only_while_another_process_writes(
    held_store: tuple[Path, int],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    data, pid = held_store
    monkeypatch.setenv("FOUNDUPS_TRAINING_HOME", str(data))
    plugin = TrainingPlugin()
    try:
        with caplog.at_level(logging.INFO):
            answer = plugin.on_query(Query(QUESTION, tier="memory", asked_by="cli"))
        assert answer is not None
        assert not answer.error, answer.error
        assert "auth-1" in answer.patterns and answer.text
        assert any(f"process {pid}" in r.getMessage() for r in caplog.records)
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
        # The plugin's own Trainer stays writable (it can take the store once it is free).
        assert not plugin.trainer.read_only
    finally:
        plugin.close()


def test_cli_ask_answers_while_another_process_writes(held_store: tuple[Path, int]) -> None:
    data, _ = held_store
    cli = [sys.executable, "-m", "foundups_training", "-q", "--data-dir", str(data), "ask"]
    out = subprocess.run(
        [*cli, "--tier", "memory", "--json", QUESTION],
        capture_output=True,
        text=True,
        env=_env(data),
        cwd=REPO,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert not answer["error"] and "auth-1" in answer["patterns"]
    assert "Traceback" not in out.stderr and "StoreLocked" not in out.stderr


def test_metrics_failure_is_one_line_with_the_traceback_only_at_debug(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "metrics.sqlite3").write_bytes(b"not a database " * 64)
    trainer = Trainer(load_settings({"data_dir": data}, env={}))
    with caplog.at_level(logging.WARNING, logger="foundups_training.plugin"):
        _observe(trainer)
    [record] = caplog.records
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert record.getMessage().startswith("metrics observers could not be attached: ")
    assert "not a usable metrics database" in record.getMessage()
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="foundups_training.plugin"):
        _observe(trainer)
    assert [r.exc_info is not None for r in caplog.records] == [True]
    trainer.close()
