"""A senior review of the plugin contract: what a broken third-party plugin, a mistaken setting
or a forking host could do to the host, each found for real and fixed.

Real pluggy, real distributions on ``sys.path`` (dist-info folders, as pip leaves them), real
forks: nothing here loads a model or opens a store.
"""

from __future__ import annotations

import logging
import os
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from foundups_training.hookspecs import hookimpl

from foundups_training import plugins
from foundups_training.config import ConfigError, load_settings
from foundups_training.plugin import TrainingPlugin
from foundups_training.plugins import IsolatingPluginManager
from foundups_training.records import Answer, Decision, IdleBudget, IdleReport, Query

DECISION = Decision(id="m-1", source="live_chat", action="respond")

HEALTHY = textwrap.dedent(
    """
    from foundups_training.hookspecs import hookimpl
    from foundups_training.records import Answer

    seen = []

    @hookimpl
    def on_decision(decision):
        seen.append(decision.id)

    @hookimpl
    def on_query(query):
        return Answer(text="healthy", tier="plugin")
    """
)


def _dist(site: Path, name: str, entry_points: str) -> None:
    info = site / f"{name}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(entry_points)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path holding a healthy third-party plugin; tests add broken ones."""
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "review_healthy.py").write_text(HEALTHY)
    _dist(folder, "review_healthy", "[foundups_training]\nhealthy = review_healthy\n")
    monkeypatch.syspath_prepend(str(folder))
    for module in [m for m in sys.modules if m.startswith("review_")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setenv("FOUNDUPS_TRAINING_PLUGINS", "healthy,exits,nothing,other")
    plugins.reset_plugin_manager()
    yield folder
    plugins.reset_plugin_manager()


# -- loading ---------------------------------------------------------------------------------


def test_a_malformed_entry_points_file_elsewhere_costs_only_its_own_distribution(
    site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """importlib's entry_points() raised for any installed package's malformed
    entry_points.txt (here a line without ``=``), so no plugin at all was loaded and the
    bridge was never connected."""
    _dist(site, "review_garbled", "[console_scripts]\nthis line has no equals sign\n")
    with caplog.at_level(logging.ERROR, logger="foundups_training.plugins"):
        names = plugins.plugin_names()
    assert names == ["healthy"]
    assert [name for name, _ in plugins.load_errors] == ["review_garbled"]
    assert len([r for r in caplog.records if "review_garbled" in r.getMessage()]) == 1
    adapters, _ = plugins.group_entry_points("foundups_training.adapters")
    assert {"livechat", "idle", "menu"} <= {ep.name for ep in adapters}


def test_a_plugin_that_exits_on_import_is_skipped_not_the_host(site: Path) -> None:
    """A module that calls sys.exit() at import (a missing dependency, say) ended the host at
    ``import foundups_training.auto``: SystemExit is not an Exception."""
    (site / "review_exits.py").write_text("import sys\nsys.exit('needs numpy 3')\n")
    _dist(site, "review_exits", "[foundups_training]\nexits = review_exits\n")
    assert plugins.plugin_names() == ["healthy"]
    assert plugins.load_errors == [("exits", "SystemExit: needs numpy 3")]


def test_an_entry_point_naming_none_is_reported(site: Path) -> None:
    """pluggy ignores ``register(None)``: the plugin was counted as registered, listed
    neither as registered nor as failed."""
    (site / "review_nothing.py").write_text("plugin = None\n")
    _dist(site, "review_nothing", "[foundups_training]\nnothing = review_nothing:plugin\n")
    pm = plugins.get_plugin_manager()
    assert plugins.plugin_names() == ["healthy"]
    error = "TypeError: the entry point names None, not a plugin"
    assert plugins.load_errors == [("nothing", error)]
    assert plugins.load_entry_points(pm, allow={"nothing"}, deny=set()) == []


def test_the_config_files_deny_list_is_honoured(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``plugins_deny`` was accepted in config.toml and then ignored: the plugin manager read
    the environment alone."""
    monkeypatch.delenv("FOUNDUPS_TRAINING_PLUGINS")
    home = Path(os.environ["FOUNDUPS_TRAINING_HOME"])
    (home / "config.toml").write_text('plugins_deny = ["healthy", "training"]\n')
    assert plugins.plugin_names() == []
    monkeypatch.setenv("FOUNDUPS_TRAINING_PLUGINS", "healthy")  # the environment's allow-list
    plugins.reset_plugin_manager()
    assert plugins.plugin_names() == []  # ... and the file's deny-list still applies


def test_a_misspelled_hook_is_named_once(caplog: pytest.LogCaptureFixture) -> None:
    class Typo:
        @hookimpl
        def on_decison(self, decision: Decision) -> None:  # never called
            raise AssertionError

    with caplog.at_level(logging.WARNING, logger="foundups_training.plugins"):
        IsolatingPluginManager().register(Typo(), name="typo")
    [record] = caplog.records
    assert "plugin typo: on_decison is not a hook" in record.getMessage()


# -- calling ---------------------------------------------------------------------------------


class Healthy:
    def __init__(self) -> None:
        self.decisions: list[str] = []

    @hookimpl
    def on_decision(self, decision: Decision) -> None:
        self.decisions.append(decision.id)

    @hookimpl
    def on_idle(self, budget: IdleBudget) -> IdleReport | None:
        return IdleReport(lines_processed=1)

    @hookimpl
    def on_query(self, query: Query) -> Answer | None:
        return Answer(text="healthy", tier="memory")


def test_a_hook_that_calls_sys_exit_is_dropped_and_never_reaches_the_host(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Exits:
        @hookimpl
        def on_decision(self, decision: Decision) -> None:
            sys.exit(3)

    pm, healthy = IsolatingPluginManager(), Healthy()
    pm.register(healthy, name="healthy")
    pm.register(Exits(), name="exits")
    with caplog.at_level(logging.ERROR, logger="foundups_training.plugins"):
        assert pm.call_safely("on_decision", decision=DECISION) == []
    assert healthy.decisions == ["m-1"]
    assert pm.failures == [("exits", "on_decision", "SystemExit: 3")]
    assert len(caplog.records) == 1


def test_results_of_the_wrong_type_never_reach_the_host(caplog: pytest.LogCaptureFixture) -> None:
    """A string from ``on_query`` was the host's answer (``answer.text`` then raised in the
    menu), a dict from ``on_idle`` the idle adapter's report, and an ``async def`` hook's
    coroutine was never awaited."""

    class Wrong:
        @hookimpl(tryfirst=True)
        def on_query(self, query: Query) -> Any:
            return "a string, not an Answer"

        @hookimpl(tryfirst=True)
        def on_idle(self, budget: IdleBudget) -> Any:
            return {"lines": 3}

    class Async:
        @hookimpl
        async def on_decision(self, decision: Decision) -> None:
            raise AssertionError("never awaited, never run")

    pm, healthy = IsolatingPluginManager(), Healthy()
    pm.register(healthy, name="healthy")
    pm.register(Wrong(), name="wrong")
    pm.register(Async(), name="async")
    with caplog.at_level(logging.WARNING, logger="foundups_training.plugins"):
        answer = pm.call_safely("on_query", query=Query("which module?"))
        assert isinstance(answer, Answer) and answer.text == "healthy"
        assert pm.call_safely("on_decision", decision=DECISION) == []
    assert healthy.decisions == ["m-1"]
    assert [f[:2] for f in pm.failures] == [("wrong", "on_query"), ("async", "on_decision")]
    assert pm.failures[0][2] == "returned str, not Answer or None"
    assert [r.getMessage() for r in caplog.records] == [
        "plugin wrong broke the hook's contract in on_query: returned str, not Answer or None;"
        " it is disabled for the rest of this process",
        "plugin async broke the hook's contract in on_decision: returned a coroutine: async "
        "hook implementations are not supported; it is disabled for the rest of this process",
    ]
    # dropped: the dict of on_idle never reaches the host either
    assert [type(r) for r in pm.call_safely("on_idle", budget=IdleBudget())] == [IdleReport]

    pm2 = IsolatingPluginManager()
    pm2.register(Wrong(), name="wrong")
    assert pm2.call_safely("on_idle", budget=IdleBudget()) == []
    assert pm2.failures == [("wrong", "on_idle", "returned dict, not IdleReport or None")]


# -- fork ------------------------------------------------------------------------------------


def _in_child(check: Any) -> int:
    """Fork; the child runs ``check`` (True: exit 0) within 20 s, else exits 1; the parent
    gets the exit status. A check that hangs is a failure, not a hung test run."""
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            done: list[bool] = []
            worker = threading.Thread(target=lambda: done.append(bool(check())), daemon=True)
            worker.start()
            worker.join(20)
            code = 0 if done == [True] else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_neither_hangs_nor_inherits_the_parents_learner(settings: Any) -> None:
    """The host forks (multiprocessing) while one of its threads is inside the plugin: the
    child's first decision waited forever for a lock held by a thread that does not exist
    there, and a learner inherited from the parent took decisions no thread would write."""
    from foundups_training.engine import Trainer

    trainer = Trainer(settings)
    plugin = TrainingPlugin(trainer)
    pm = plugins.use_only(plugin)
    try:

        class Inherited:
            def submit(self, decision: Decision) -> None:
                raise AssertionError("the parent's learner, in the child")

        inside, leave = threading.Event(), threading.Event()

        def host_thread() -> None:
            with plugin._early_lock, plugins._lock, pm._drop_lock:
                inside.set()
                leave.wait(30)

        holder = threading.Thread(target=host_thread, daemon=True)
        holder.start()
        assert inside.wait(30)

        def child() -> bool:
            fresh = plugin._live is None and plugin._trainer is None
            # no warm-up in the child (it would open the store): a recent failure says so
            plugin._warm_error, plugin._warm_failed_at = "test", float("inf")
            plugins.get_plugin_manager().call_safely("on_decision", decision=DECISION)
            return fresh and plugin._settings is settings

        plugin._live = Inherited()  # type: ignore[assignment]
        try:
            assert _in_child(child) == 0
        finally:
            plugin._live = None
            leave.set()
            holder.join(30)
        assert plugin._trainer is trainer  # the parent keeps what it built
    finally:
        plugins.reset_plugin_manager()
        trainer.close()


# -- settings ---------------------------------------------------------------------------------


def _load(tmp_path: Path, toml: str | bytes, **env: str) -> Any:
    path = tmp_path / "config.toml"
    if isinstance(toml, bytes):
        path.write_bytes(toml)
    else:
        path.write_text(toml, encoding="utf-8")
    return load_settings({"data_dir": tmp_path, "config_file": str(path)}, env=env)


def test_a_config_file_that_is_not_utf8_is_a_configuration_error(tmp_path: Path) -> None:
    """A file saved as latin-1 (a comment with an accent) raised UnicodeDecodeError, a
    traceback, from every command and from the plugin's first build."""
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, "# caf\xe9\nthreshold = 0.5\n".encode("latin-1"))
    assert str(err.value).startswith(f"config file {tmp_path / 'config.toml'}: not UTF-8")


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ("idle_max_lines = -5\n", ["'idle_max_lines'", "must be from 0"]),
        ("idle_max_seconds = -1\n", ["'idle_max_seconds'", "must be from 0"]),
        ("idle_max_seconds = inf\n", ["'idle_max_seconds'", "not a finite number"]),
        ("idle_minutes = -inf\n", ["'idle_minutes'", "not a finite number"]),
        ("idle_max_cpu = 500\n", ["'idle_max_cpu'", "must be from 0 to 100"]),
        ("n_threads = -3\n", ["'n_threads'", "must be from 0 to 1024"]),
        ("n_threads = 99999999999999999999\n", ["'n_threads'", "must be from 0 to 1024"]),
        ("idle_max_lines = 1e300\n", ["'idle_max_lines'", "must be from 0"]),
        ("fast_path_similarity = -0.5\n", ["'fast_path_similarity'", "at least 0"]),
        ('log_path = ""\n', ["'log_path'", "cannot be empty"]),
        ('host_root = "a\\u0000b"\n', ["'host_root'", "NUL"]),
    ],
)
def test_numbers_out_of_range_and_empty_paths_are_refused(
    tmp_path: Path, toml: str, words: list[str]
) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, toml)
    assert str(err.value).startswith(f"config file {tmp_path / 'config.toml'}: setting ")
    for word in words:
        assert word in str(err.value)


def test_an_environment_variables_error_names_the_variable(tmp_path: Path) -> None:
    for var, value in (("THRESHOLD", "high"), ("THRESHOLD", "2"), ("IDLE_MAX_LINES", "-1")):
        with pytest.raises(ConfigError) as err:
            load_settings({"data_dir": tmp_path}, env={f"FOUNDUPS_TRAINING_{var}": value})
        assert str(err.value).startswith("setting ")
        assert str(err.value).endswith(f", from FOUNDUPS_TRAINING_{var}")


def test_the_adapters_meanings_of_zero_stay_valid(tmp_path: Path) -> None:
    """0 lines / seconds: no limit; 0 minutes: no wait; 100 %: no CPU gate (adapters/idle)."""
    settings = _load(
        tmp_path, "idle_max_lines = 0\nidle_max_seconds = 0\nidle_minutes = 0\nidle_max_cpu = 100\n"
    )
    assert (settings.idle_max_lines, settings.idle_max_seconds) == (0, 0.0)
    assert (settings.idle_minutes, settings.idle_max_cpu) == (0.0, 100.0)


def test_environment_variables_in_paths_are_expanded(tmp_path: Path) -> None:
    """``log_path = "$LOGS/012.txt"`` in the file (no shell expands it) was a relative path
    starting with a folder literally named ``$LOGS``."""
    os.environ["FOUNDUPS_REVIEW_LOGS"] = str(tmp_path / "logs")
    try:
        settings = _load(tmp_path, 'log_path = "$FOUNDUPS_REVIEW_LOGS/012.txt"\n')
    finally:
        del os.environ["FOUNDUPS_REVIEW_LOGS"]
    assert settings.log_path == tmp_path / "logs" / "012.txt"


def test_a_data_directory_that_is_a_file_is_one_clear_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The plugin in the host with FOUNDUPS_TRAINING_HOME naming a file: every idle cycle and
    question failed with a bare ``FileExistsError``, and the live learner logged a traceback
    from its journal."""
    home = tmp_path / "home"
    home.write_text("not a folder")
    monkeypatch.setenv("FOUNDUPS_TRAINING_HOME", str(home))
    plugin = TrainingPlugin()
    try:
        with caplog.at_level(logging.WARNING):
            report = plugin.on_idle(IdleBudget(max_lines=1, max_seconds=5))
            answer = plugin.on_query(Query("which module?"))
            plugin.on_decision(DECISION)
            assert not plugin.wait_ready(60)
        assert report is not None and answer is not None
        for error in (report.error, answer.error):
            assert f"the data directory {home} is a file, not a directory" in error
        assert plugin._trainer is None  # nothing was opened
        assert not [r for r in caplog.records if r.exc_info]
    finally:
        plugin.close()
