"""Lifecycle and operator flows: a closed Trainer, run-host's relative paths, the demo's advice
when its store is held by another process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from foundups_training.cli import main
from foundups_training.config import Settings
from foundups_training.engine import Trainer
from foundups_training.launcher import run_host
from foundups_training.memory import StoreLocked, open_memory
from foundups_training.plugin import TrainingPlugin
from foundups_training.records import Decision, IdleBudget, Query

# -- 1: a closed Trainer opens nothing again ---------------------------------------------------


def _store_is_free(settings: Settings) -> bool:
    """Whether another writer can open the store now (nobody holds its one-writer lock)."""
    try:
        memory = open_memory(settings)
    except StoreLocked:
        return False
    memory.close()
    return True


def test_a_closed_trainer_fails_clearly_and_opens_nothing_again(
    settings: Settings, tmp_path: Path
) -> None:
    """After ``close()``, ``ask`` opened the store (and its writer lock) and the router again,
    lazily as on first use, and nobody closed them: the store stayed locked for every other
    process until this one ended."""
    from foundups_training.engine import TrainerClosed  # imported here: new with the fix

    trainer = Trainer(settings)
    trainer.memory.count()  # the store open for writing, its lock held
    trainer.close()
    assert trainer.closed

    answer = trainer.ask(Query(text="where is the chat code?", tier="memory"))
    assert answer.tier == "none" and "TrainerClosed" in answer.error
    idle = trainer.idle(IdleBudget(max_lines=10, max_seconds=5.0))
    assert not idle.success and "TrainerClosed" in idle.error
    assert trainer.mine_commands() is None  # never raises: logged, nothing mined
    assert trainer.memory_totals() == {}
    log = tmp_path / "012.txt"
    log.write_text("12:00:00 INFO x: one line\n", encoding="utf-8")
    calls = {
        "index": lambda: trainer.index(tmp_path),
        "mine": lambda: trainer.mine(log),
        "status": trainer.status,
        "clear": trainer.clear,
        "memory": lambda: trainer.memory,
        "router": lambda: trainer.router,
        "metrics": lambda: trainer.metrics,
    }
    for name, call in calls.items():
        with pytest.raises(TrainerClosed, match="closed"):
            call()
        assert not any(trainer.has_part(p) for p in ("memory", "router", "metrics")), name
    with pytest.raises(TrainerClosed), trainer:
        pass
    assert not settings.metrics_path.exists()  # nothing created after close either
    assert _store_is_free(settings)
    trainer.close()  # a second close stays harmless


def test_the_plugins_hooks_on_a_closed_trainer_answer_and_reopen_nothing(
    settings: Settings,
) -> None:
    """The training plugin keeps its Trainer after ``close()``: a query or an idle cycle the
    host sends later reached the closed Trainer, which opened the store again. The hooks
    still never raise into the host: they report the closed Trainer in their result."""
    trainer = Trainer(settings)
    plugin = TrainingPlugin(trainer)
    assert plugin.on_query(Query(text="where is the chat code?", tier="memory")) is not None
    assert trainer.has_part("memory")  # the store was open for writing
    plugin.close()

    answer = plugin.on_query(Query(text="where is the chat code?", tier="memory"))
    assert answer is not None and "closed" in answer.error
    report = plugin.on_idle(IdleBudget(max_lines=10, max_seconds=5.0))
    assert report is not None and not report.success and "closed" in report.error
    assert _store_is_free(settings)


def test_a_closed_plugin_builds_nothing_for_a_later_decision(settings: Settings) -> None:
    """A decision the host sends after closing the plugin built a new live learner (a thread
    nobody closed) on the closed Trainer; a plugin built without a Trainer built one, store
    lock and all. Now the hooks build nothing and still never raise."""
    plugin = TrainingPlugin(Trainer(settings))
    plugin.close()
    plugin.on_decision(Decision(id="late", source="live_chat", action="timeout"))
    assert plugin.warm() is None and plugin._live is None and plugin._warm_thread is None
    assert plugin.on_idle(IdleBudget(max_lines=10, max_seconds=5.0)) is not None

    fresh = TrainingPlugin()  # builds its Trainer from the environment on first use
    fresh.close()
    fresh.on_decision(Decision(id="late", source="live_chat", action="timeout"))
    answer = fresh.on_query(Query(text="where is the chat code?", tier="memory"))
    assert answer is not None and "closed" in answer.error
    report = fresh.on_idle(IdleBudget(max_lines=10, max_seconds=5.0))
    assert report is not None and not report.success and "closed" in report.error
    assert fresh._trainer is None and fresh._live is None
    assert _store_is_free(settings)


# -- 2: run-host reads relative paths where the operator typed them ------------------------------

_SEEN_BY_HOST = """\
import json, os, subprocess, sys
from foundups_training.config import load_settings

names = ("HOME", "CONFIG", "LOG", "HOST_ROOT", "MODELS_DIR", "GEMMA_MODEL", "QWEN_MODEL",
         "EMBED_CACHE")
settings = load_settings()  # what the plugin inside the host reads
child = subprocess.run(  # a process the host starts inherits the environment
    [sys.executable, "-c", "import os; print(os.environ['FOUNDUPS_TRAINING_MODELS_DIR'])"],
    capture_output=True, text=True, check=True,
)
seen = {{
    "env": {{n: os.environ.get("FOUNDUPS_TRAINING_" + n) for n in names}},
    "host_vars": os.environ.get("LOCAL_MODEL_TRIAGE_PATH"),
    "data_dir": str(settings.data_dir),
    "models_dir": str(settings.models_dir),
    "log_path": str(settings.log_path),
    "gemma_model": settings.gemma_model,
    "child_models_dir": child.stdout.strip(),
}}
with open({out!r}, "w", encoding="utf-8") as fh:
    json.dump(seen, fh)
"""


def _relative_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A host in ``<tmp>/host`` and an operator standing in ``<tmp>/op`` who gives every
    path setting relative to where they stand."""
    host = tmp_path / "host"
    host.mkdir()
    out = tmp_path / "seen.json"
    (host / "main.py").write_text(_SEEN_BY_HOST.format(out=str(out)), encoding="utf-8")
    operator = tmp_path / "op"
    (operator / "models").mkdir(parents=True)
    (operator / "conf.toml").write_text("", encoding="utf-8")
    monkeypatch.chdir(operator)
    monkeypatch.setenv("FOUNDUPS_TRAINING_OFF", "1")  # the adapters are not under test
    relative = {
        "HOME": "data",
        "CONFIG": "conf.toml",
        "LOG": "logs/012.txt",
        "HOST_ROOT": "../host",
        "MODELS_DIR": "models",
        "GEMMA_MODEL": "models/gemma.gguf",
        "QWEN_MODEL": "qwen-1.5b",  # a shipped model's name, not a path
        "EMBED_CACHE": "cache",  # read by the embedding, from the environment only
    }
    for name, value in relative.items():
        monkeypatch.setenv("FOUNDUPS_TRAINING_" + name, value)
    monkeypatch.setenv("LOCAL_MODEL_TRIAGE_PATH", "host/relative.gguf")  # the host's own
    return host / "main.py", out


def test_run_host_reads_relative_path_settings_where_the_operator_typed_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``FOUNDUPS_TRAINING_MODELS_DIR=models foundups-training run-host ../host/main.py``: the
    host runs in its own folder, so the plugin (and any process the host started) looked for
    ``models``, the Gemma file and the log there, not where the operator typed them."""
    main_py, out = _relative_host(tmp_path, monkeypatch)
    operator = tmp_path / "op"
    assert run_host(main_py) == 0
    seen = json.loads(out.read_text(encoding="utf-8"))
    assert seen["env"] == {
        "HOME": str(operator / "data"),
        "CONFIG": str(operator / "conf.toml"),
        "LOG": str(operator / "logs" / "012.txt"),
        "HOST_ROOT": str(tmp_path / "host"),
        "MODELS_DIR": str(operator / "models"),
        "GEMMA_MODEL": str(operator / "models" / "gemma.gguf"),
        "QWEN_MODEL": "qwen-1.5b",
        "EMBED_CACHE": str(operator / "cache"),
    }
    assert seen["data_dir"] == str(operator / "data")
    assert seen["models_dir"] == seen["child_models_dir"] == str(operator / "models")
    assert seen["log_path"] == str(operator / "logs" / "012.txt")
    assert seen["gemma_model"] == str(operator / "models" / "gemma.gguf")
    assert seen["host_vars"] == "host/relative.gguf"  # the host's variables stay the host's
    # Afterwards the operator's environment is as they gave it (their folder again).
    assert os.getcwd() == str(operator)
    assert os.environ["FOUNDUPS_TRAINING_MODELS_DIR"] == "models"
    assert os.environ["FOUNDUPS_TRAINING_HOST_ROOT"] == "../host"


def test_run_host_leaves_a_servers_model_name_and_absolute_paths_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a model server set, the model setting is the model's name on that server: made
    into a path it would name no model there. ``~`` and absolute paths are already where
    they point."""
    main_py, out = _relative_host(tmp_path, monkeypatch)
    monkeypatch.setenv("FOUNDUPS_TRAINING_GEMMA_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("FOUNDUPS_TRAINING_GEMMA_MODEL", "gemma3/270m")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FOUNDUPS_TRAINING_MODELS_DIR", "~/models")
    monkeypatch.setenv("FOUNDUPS_TRAINING_LOG", str(tmp_path / "abs.txt"))
    monkeypatch.setenv("FOUNDUPS_TRAINING_EMBED_CACHE", str(tmp_path / "embed"))
    assert run_host(main_py) == 0
    seen = json.loads(out.read_text(encoding="utf-8"))
    assert seen["env"]["EMBED_CACHE"] == str(tmp_path / "embed")
    assert seen["env"]["GEMMA_MODEL"] == "gemma3/270m"
    assert seen["env"]["MODELS_DIR"] == "~/models"
    assert seen["models_dir"] == str(tmp_path / "home" / "models")
    assert seen["env"]["LOG"] == str(tmp_path / "abs.txt")


def test_run_host_cli_passes_a_relative_model_dir_as_the_operator_meant_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same through the CLI, with ``--data-dir`` given relative as well."""
    main_py, out = _relative_host(tmp_path, monkeypatch)
    monkeypatch.delenv("FOUNDUPS_TRAINING_HOME")
    operator = tmp_path / "op"
    assert main(["--data-dir", "flagged", "run-host", str(main_py)]) == 0
    seen = json.loads(out.read_text(encoding="utf-8"))
    assert seen["data_dir"] == str(operator / "flagged")
    assert seen["models_dir"] == str(operator / "models")
    assert seen["gemma_model"] == str(operator / "models" / "gemma.gguf")


# -- 3: the demo's advice when its own store is held -------------------------------------------


def test_the_demos_locked_store_advice_fits_the_demo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo always uses the embedded store in its own folder, yet a held store told the
    operator to share it through a Chroma server. What holds it is another demo (or a
    command pointed at that folder): say so, with its pid. Other commands keep their
    advice."""
    home = tmp_path / "home"
    chroma = home / "demo" / "chroma"
    chroma.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
                import time
                from pathlib import Path
                from foundups_training.memory.lock import WriterLock
                lock = WriterLock(Path({str(chroma) + ".lock"!r})).acquire()
                print("held", flush=True)
                time.sleep(120)
            """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        assert main(["--data-dir", str(home), "demo", "--no-models"]) == 1
        err = capsys.readouterr().err
        assert f"process {holder.pid}" in err
        assert "another `foundups-training demo` is running" in err
        assert "Wait for it to finish" in err and str(home / "demo") in err
        assert "Chroma server" not in err and "CHROMA_URL" not in err

        log = tmp_path / "012.txt"
        log.write_text("12:00:00 INFO x: one line\n", encoding="utf-8")
        assert main(["--data-dir", str(home / "demo"), "mine", str(log)]) == 1
        other = capsys.readouterr().err
        assert f"process {holder.pid}" in other and "FOUNDUPS_TRAINING_CHROMA_URL" in other
        assert "another `foundups-training demo`" not in other
    finally:
        holder.send_signal(signal.SIGKILL if hasattr(signal, "SIGKILL") else signal.SIGTERM)
        holder.wait(timeout=30)
