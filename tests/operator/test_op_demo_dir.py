"""The demo's data directory keeps its embedded store when opened again with ``--data-dir``.

The demo ends with "Explore it: foundups-training --data-dir <data dir>/demo menu". With a
Chroma server configured (``FOUNDUPS_TRAINING_CHROMA_URL``), that command opened the
operator's real collection on the server, not the demo's store: the menu showed the wrong
memory, and its "clear" (option 6) would have emptied the real one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from foundups_training.cli import main
from foundups_training.config import DEMO_MARK, Settings, load_settings

HERE = Path(__file__).resolve().parent
STANDIN = HERE.parent / "standin_host"
SERVER = "http://127.0.0.1:9"


def test_a_folder_marked_as_the_demos_uses_its_embedded_store(tmp_path: Path) -> None:
    env = {"FOUNDUPS_TRAINING_CHROMA_URL": SERVER, "FOUNDUPS_TRAINING_CHROMA_TOKEN": "t"}
    assert load_settings({"data_dir": tmp_path}, env=env).chroma_url == SERVER
    (tmp_path / DEMO_MARK).write_text("demo\n", encoding="utf-8")
    marked = load_settings({"data_dir": tmp_path}, env=env)
    assert (marked.chroma_url, marked.chroma_token) == ("", "")
    # a folder merely named "demo" is not the demo's
    other = tmp_path / "elsewhere" / "demo"
    other.mkdir(parents=True)
    assert load_settings({"data_dir": other}, env=env).chroma_url == SERVER


def test_the_demos_hint_opens_the_demos_store_with_a_server_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import foundups_training.cli.demo as demo
    import foundups_training.memory as memory_pkg

    monkeypatch.setattr(demo, "_samples", lambda: (STANDIN, HERE / "data" / "012_sample.txt"))
    monkeypatch.setattr(demo, "demo_questions", lambda: ([], "no questions"))
    opened: list[str] = []
    real_open = memory_pkg.open_memory

    def recording_open(settings: Settings, read_only: bool = False) -> Any:
        opened.append(settings.chroma_url)
        if settings.chroma_url:
            raise AssertionError(f"opened the server {settings.chroma_url}")
        return real_open(settings, read_only=read_only)

    monkeypatch.setattr(memory_pkg, "open_memory", recording_open)
    monkeypatch.setenv("FOUNDUPS_TRAINING_CHROMA_URL", SERVER)
    assert main(["--data-dir", str(tmp_path), "demo", "--no-models", "--json"]) == 0
    mined = json.loads(capsys.readouterr().out)["mine"]["patterns_total"]
    assert mined > 0
    demo_dir = tmp_path / "demo"
    assert main(["--data-dir", str(demo_dir), "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["store"] == str(demo_dir / "chroma") and status["patterns_total"] >= mined
    assert main(["--data-dir", str(demo_dir), "clear", "--yes"]) == 0
    capsys.readouterr()
    assert opened and not any(opened)
