"""Plugin loading through the entry-point group, allow/deny lists, failure isolation."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from foundups_training import bridge, plugins
from foundups_training.records import Decision, IdleBudget, Query

REPO = Path(__file__).resolve().parent.parent

RAISING = textwrap.dedent(
    """
    from foundups_training.hookspecs import hookimpl

    calls = []

    @hookimpl
    def on_decision(decision):
        calls.append(decision.id)
        raise RuntimeError("plugin bug")

    @hookimpl(tryfirst=True)
    def on_query(query):
        raise ValueError("cannot answer")
    """
)


def _dist(site: Path, name: str, entry_points: str) -> None:
    info = site / f"{name}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[foundups_training]\n{entry_points}\n")


@pytest.fixture
def third_party(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Installs (on sys.path) a real distribution with the documented example plugin, a
    raising plugin and one whose module does not exist."""
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(REPO / "docs" / "examples" / "shout_plugin.py", site)
    (site / "raising_plugin.py").write_text(RAISING)
    _dist(site, "shout_plugin", "shout = shout_plugin")
    _dist(site, "raising_plugin", "raising = raising_plugin")
    _dist(site, "missing_plugin", "missing = no_such_module_anywhere")
    monkeypatch.syspath_prepend(str(site))
    for mod in ("shout_plugin", "raising_plugin"):
        monkeypatch.delitem(__import__("sys").modules, mod, raising=False)
    plugins.reset_plugin_manager()
    yield site
    bridge.disconnect()
    plugins.reset_plugin_manager()


def test_training_plugin_is_registered_through_the_entry_point(third_party: Path) -> None:
    names = plugins.plugin_names()
    assert "training" in names
    assert "shout" in names


def test_third_party_plugin_is_called(third_party: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOUNDUPS_TRAINING_PLUGINS", "shout")
    plugins.reset_plugin_manager()
    pm = plugins.get_plugin_manager()
    assert plugins.plugin_names() == ["shout"]
    answer = pm.call_safely("on_query", query=Query("shout: hello"))
    assert answer.text == "HELLO"
    pm.call_safely("on_decision", decision=Decision(id="m-1", source="live_chat", action="x"))
    import shout_plugin

    assert shout_plugin.decisions_seen[-1] == "m-1"


def test_deny_list_skips(third_party: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOUNDUPS_TRAINING_DISABLE", "shout,training")
    plugins.reset_plugin_manager()
    assert "shout" not in plugins.plugin_names()
    assert "training" not in plugins.plugin_names()


def test_plugin_that_fails_to_import_is_skipped_and_reported(third_party: Path) -> None:
    plugins.get_plugin_manager()
    assert [n for n, _ in plugins.load_errors] == ["missing"]
    assert "ModuleNotFoundError" in plugins.load_errors[0][1]


def test_plugin_that_raises_never_reaches_the_caller(
    third_party: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOUNDUPS_TRAINING_PLUGINS", "shout,raising")
    plugins.reset_plugin_manager()
    pm = plugins.get_plugin_manager()
    decision = Decision(id="m-2", source="live_chat", action="respond")
    assert pm.call_safely("on_decision", decision=decision) == []
    import raising_plugin
    import shout_plugin

    assert raising_plugin.calls == ["m-2"]  # it was called ...
    assert "m-2" in shout_plugin.decisions_seen  # ... and the other plugin still ran
    assert "raising" not in plugins.plugin_names()  # and it is disabled afterwards
    assert pm.failures[0][:2] == ("raising", "on_decision")


def test_raising_first_result_falls_through(
    third_party: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOUNDUPS_TRAINING_PLUGINS", "shout,raising")
    plugins.reset_plugin_manager()
    pm = plugins.get_plugin_manager()
    answer = pm.call_safely("on_query", query=Query("shout: still here"))
    assert answer is not None and answer.text == "STILL HERE"


def test_bridge_turns_signals_into_hooks(
    third_party: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from foundups_training import signals

    monkeypatch.setenv("FOUNDUPS_TRAINING_PLUGINS", "shout,raising")
    plugins.reset_plugin_manager()
    bridge.connect()
    bridge.connect()  # idempotent
    assert len(list(signals.decision_made.receivers)) == 1
    given = []
    signals.answer_given.connect(lambda sender, **kw: given.append(kw["answer"]), weak=False)
    signals.decision_made.send("test", decision=Decision(id="m-3", source="live_chat", action="a"))
    answer = bridge.ask(Query("shout: via signal"))
    assert answer is not None and answer.text == "VIA SIGNAL"
    assert given and given[-1].text == "VIA SIGNAL"
    assert bridge.idle(IdleBudget(max_lines=1)) is None  # shout does no idle work
    import shout_plugin

    assert bridge.drain(30)  # decisions reach on_decision on the bridge's delivery thread
    assert "m-3" in shout_plugin.decisions_seen
    for receiver in list(signals.answer_given.receivers.values()):
        signals.answer_given.disconnect(receiver)
