"""A second review of the host integration glue (settings, the training plugin, activation,
``run-host``): each test is a bug found for real, and fails without its fix.

Real settings, a real plugin manager over real distributions on ``sys.path``, the real
launcher running a small main.py in-process; the one test that builds a live learner opens
a real embedded store in the test's own data directory.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from foundups_training import launcher, plugin, plugins
from foundups_training.config import ConfigError, Settings, load_settings
from foundups_training.engine import Trainer
from foundups_training.memory import StoreLocked
from foundups_training.records import Decision, Query

ON_WINDOWS = os.name == "nt"


# -- a Trainer that cannot be built -----------------------------------------------------------


def test_a_learner_that_keeps_failing_to_build_is_said_once_and_still_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A broken config file in a host that chats all day: the live learner is built again
    every minute (the setting may be fixed meanwhile), and every failed build logged the
    same warning again, 1,440 lines a day saying the same thing; it is said once, and the
    build that succeeds once the file is fixed says live learning is on."""
    config = tmp_path / "config.toml"
    config.write_text("threshold = [unclosed\n")
    monkeypatch.setenv("FOUNDUPS_TRAINING_CONFIG", str(config))
    monkeypatch.setattr(plugin, "RETRY_BUILD_S", 0.0)  # every decision may try again
    training = plugin.TrainingPlugin()
    try:
        with caplog.at_level(logging.INFO, logger="foundups_training.plugin"):
            for i in range(4):
                training.on_decision(Decision(id=f"d{i}", source="live_chat", action="ignore"))
                assert not training.wait_ready(120)
            assert training._early_dropped == 4  # each decision was queued for a new build
            warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
            assert len(warnings) == 1, [r.getMessage() for r in warnings]
            assert warnings[0].getMessage().startswith("live learning is off for this process")

            config.write_text("threshold = 0.5\n")
            training.on_decision(Decision(id="fixed", source="live_chat", action="ignore"))
            assert training.wait_ready(120)
        assert any("live learning is on" in r.getMessage() for r in caplog.records)
        assert training.live.flush(60)
        assert training.live.stats()["submitted"] == 1
    finally:
        training.close()


# -- FOUNDUPS_TRAINING_OFF and run-host -------------------------------------------------------


@pytest.fixture
def noisy_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An installed third-party plugin that leaves a file behind when it is imported."""
    site = tmp_path / "site"
    site.mkdir()
    marker = tmp_path / "imported"
    (site / "review2_noisy.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('yes')\n"
    )
    info = site / "review2_noisy-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: review2_noisy\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[foundups_training]\nnoisy = review2_noisy\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "review2_noisy", raising=False)
    plugins.reset_plugin_manager()
    yield marker
    plugins.reset_plugin_manager()


def test_run_host_with_the_plugin_off_loads_no_plugin(
    noisy_plugin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``FOUNDUPS_TRAINING_OFF=1`` is "do not attach to the host at all", yet when the
    host's main.py returned, run-host's flush built the plugin manager to look for a live
    learner: every installed plugin was imported (its code run) in the host's process."""
    host = tmp_path / "host"
    host.mkdir()
    (host / "main.py").write_text("print('the host ran')\n")
    monkeypatch.setenv("FOUNDUPS_TRAINING_OFF", "1")
    assert launcher.run_host(host / "main.py") == 0
    assert not noisy_plugin.exists()
    assert plugins._manager is None


# -- paths from another system, paths in quotes -----------------------------------------------


@pytest.mark.skipif(ON_WINDOWS, reason="a drive letter is a path there")
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HOME", "O:\\Foundups-Agent\\training"),
        ("LOG", "O:/Foundups-Agent/012.txt"),
        ("HOST_ROOT", "\\\\nas\\share\\Foundups-Agent"),
    ],
)
def test_a_windows_path_on_another_system_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """``O:\\Foundups-Agent\\training`` (the docs' own example paths, a config file copied
    from the Windows machine) is a relative path anywhere else: the data directory became
    a folder literally named ``O:\\Foundups-Agent\\training`` wherever the host was started,
    and the log a file that never exists (``Lines processed: 0``), without a word."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        load_settings(env={f"FOUNDUPS_TRAINING_{variable}": value})
    message = str(err.value)
    assert "a Windows path" in message and message.endswith(f"from FOUNDUPS_TRAINING_{variable}")
    assert list(tmp_path.iterdir()) == []  # nothing was created where the host runs


@pytest.mark.skipif(ON_WINDOWS, reason="a drive letter is a path there")
def test_a_windows_path_in_the_config_file_is_a_configuration_error(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[foundups_training]\nlog_path = "O:/Foundups-Agent/012.txt"\n')
    with pytest.raises(ConfigError) as err:
        load_settings({"data_dir": tmp_path, "config_file": str(config)}, env={})
    assert str(err.value).startswith(f"config file {config}: setting 'log_path'")
    assert "a Windows path" in str(err.value)


@pytest.mark.skipif(ON_WINDOWS, reason="a drive letter is a path there")
def test_run_host_leaves_a_windows_path_for_the_settings_to_refuse(tmp_path: Path) -> None:
    """run-host made ``O:\\data`` "absolute" as ``<here>/O:\\data``, a path the settings
    then took without a word."""
    env = {"FOUNDUPS_TRAINING_HOME": "O:\\data"}
    assert launcher.absolute_operator_paths(env, str(tmp_path)) == {}
    assert env == {"FOUNDUPS_TRAINING_HOME": "O:\\data"}


@pytest.mark.parametrize("quote", ['"', "'"])
def test_quotes_around_a_path_in_the_environment_are_not_part_of_it(
    tmp_path: Path, quote: str
) -> None:
    """``set FOUNDUPS_TRAINING_HOME="C:\\Foundups data"`` in cmd, or ``KEY="value"`` in a
    Docker ``--env-file``, keep the quotes in the value: the data directory was a folder
    whose name began with a quote, made in the working directory."""
    config = tmp_path / "elsewhere.toml"
    config.write_text("threshold = 0.4\n")
    env = {
        "FOUNDUPS_TRAINING_HOME": f"{quote}{tmp_path / 'data'}{quote}",
        "FOUNDUPS_TRAINING_LOG": f" {quote}{tmp_path / 'logs' / '012.txt'}{quote} ",
        "FOUNDUPS_TRAINING_CONFIG": f"{quote}{config}{quote}",
    }
    settings = load_settings(env=env)
    assert settings.data_dir == tmp_path / "data"
    assert settings.log_path == tmp_path / "logs" / "012.txt"
    assert (settings.config_file, settings.threshold) == (config, 0.4)


def test_run_host_makes_a_quoted_relative_path_absolute_without_its_quotes(
    tmp_path: Path,
) -> None:
    """run-host joined ``"data"`` to the working directory quotes and all, so the settings
    could no longer see them as quotes."""
    env = {"FOUNDUPS_TRAINING_HOME": '"data"'}
    launcher.absolute_operator_paths(env, str(tmp_path))
    assert env["FOUNDUPS_TRAINING_HOME"] == str(tmp_path / "data")
    assert load_settings(env=env).data_dir == tmp_path / "data"


# -- a question in flight while the host closes the plugin ------------------------------------


def test_a_question_racing_close_leaves_no_read_only_trainer_behind(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A question found the store held by another process while the host closed the plugin
    on another thread: the read-only Trainer made for it after close() had closed the last
    one was never closed (its store copy and handles left to the process's end)."""
    import foundups_training.memory as memory

    training = plugin.TrainingPlugin(Trainer(settings))

    def held_elsewhere(*args: object, **kwargs: object) -> object:
        if not training._closed:
            training.close()  # the host's shutdown, between the lock and the reader
        raise StoreLocked(settings.chroma_dir, {"pid": 4242})

    monkeypatch.setattr(memory, "open_memory", held_elsewhere)
    answer = training.on_query(Query("which module handles stream detection?"))
    assert answer is not None and "closed" in (answer.error or "")
    assert training._reader is None


def test_an_idle_cycle_that_finds_another_miner_says_it_skipped(tmp_path: Path) -> None:
    """An idle cycle while a ``mine`` holds the checkpoint reads nothing: its report to the
    host says why (``skipped_reason``) rather than a bare 0 lines."""
    from foundups_training.config import with_overrides
    from foundups_training.memory.lock import WriterLock
    from foundups_training.mining.miner import run_lock_path
    from foundups_training.records import IdleBudget

    log_file = tmp_path / "012.txt"
    log_file.write_text("2025-10-20 15:00:00 INFO livechat: hello\n", encoding="utf-8")
    settings = with_overrides(
        load_settings({"data_dir": tmp_path / "data"}, env={}), log_path=log_file
    )
    settings.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
    held = WriterLock(run_lock_path(settings.checkpoint_path)).acquire()
    trainer = Trainer(settings)
    try:
        report = trainer.idle(IdleBudget(max_lines=100, max_seconds=0.0))
    finally:
        held.release()
        trainer.close()
    assert report.success and report.lines_processed == 0
    assert "is mining with the checkpoint" in report.skipped_reason
    assert report.as_host_result()["skipped_reason"] == report.skipped_reason
