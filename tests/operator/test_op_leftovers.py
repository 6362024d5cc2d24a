"""What an earlier review left: one metrics file observed twice in a process, a ``mine``
stopped by Ctrl-C recorded as a run of nothing, and an ``index`` snapshot without kinds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from foundups_training import signals
from foundups_training.cli import main
from foundups_training.config import Settings
from foundups_training.memory import open_memory
from foundups_training.metrics import MetricsStore, attach_observers
from foundups_training.mining.checkpoint import load_checkpoint
from foundups_training.records import Answer, Query
from foundups_training.samples import sample_host

LOG = Path(__file__).with_name("data") / "012_sample.txt"


def _answers(path: Path) -> list[str]:
    """The questions recorded, oldest first."""
    with MetricsStore(path, read_only=True) as store:
        return [a.query for a in reversed(store.answers())]


def _memory_kinds(settings: Settings) -> dict[str, int]:
    with open_memory(settings, read_only=True) as memory:
        return dict(memory.stats()["by_kind"])


# -- 1: one observer per metrics file ------------------------------------------------------


def _ask(text: str) -> None:
    signals.answer_given.send("cli", query=Query(text), answer=Answer("livechat", "memory"))


def test_two_stores_of_one_file_record_a_signal_once(settings: Settings) -> None:
    """``ask`` opens the metrics file twice (the verb's store, the plugin's Trainer's): each
    got an observer, and a plain ``send`` recorded the answer twice."""
    settings.ensure_data_dir()
    before = len(signals.answer_given.receivers)
    verb, plugins = MetricsStore(settings.metrics_path), MetricsStore(settings.metrics_path)
    try:
        attach_observers(verb)
        attach_observers(plugins)
        _ask("which module handles live chat?")
        listening = len(signals.answer_given.receivers) - before
    finally:
        plugins.close()
        verb.close()
    assert _answers(settings.metrics_path) == ["which module handles live chat?"]
    assert listening == 1 and len(signals.answer_given.receivers) == before


def test_another_spelling_of_the_file_shares_its_observer(settings: Settings) -> None:
    """The same file through a relative path and through a link is still one file."""
    from foundups_training.metrics.observers import observer_for

    settings.ensure_data_dir()
    link = settings.data_dir.parent / "link"
    link.symlink_to(settings.data_dir, target_is_directory=True)
    here = Path.cwd()
    os.chdir(settings.data_dir.parent)
    try:
        first = MetricsStore(Path("data") / settings.metrics_path.name)
        second = MetricsStore(link / settings.metrics_path.name)
        try:
            assert attach_observers(first) is attach_observers(second)
            assert observer_for(settings.metrics_path) is first.observer
        finally:
            first.close()
            second.close()
    finally:
        os.chdir(here)
    assert observer_for(settings.metrics_path) is None


def test_the_shared_observer_outlives_the_store_that_made_it(settings: Settings) -> None:
    """Closing one user writes what is queued and leaves the other recording; the last
    one's close detaches the observer."""
    from foundups_training.metrics.observers import observer_for

    settings.ensure_data_dir()
    before = len(signals.answer_given.receivers)
    verb, plugins = MetricsStore(settings.metrics_path), MetricsStore(settings.metrics_path)
    observer = attach_observers(verb)  # made with the verb's store, writing through it
    attach_observers(plugins)
    _ask("first")
    verb.close()  # what the verb's exit does: its rows are in the file now
    assert _answers(settings.metrics_path) == ["first"]
    assert verb.observer is None and plugins.observer is observer
    assert observer.stores == (plugins,)
    _ask("second")  # written through the plugin's store
    assert observer.flush() and observer.failed == 0
    assert _answers(settings.metrics_path) == ["first", "second"]
    plugins.close()
    assert len(signals.answer_given.receivers) == before
    assert observer_for(settings.metrics_path) is None
    _ask("third")  # nobody records it
    assert _answers(settings.metrics_path) == ["first", "second"]
    again = MetricsStore(settings.metrics_path)
    try:
        assert attach_observers(again) is not observer  # a fresh one for the file
    finally:
        again.close()


# -- 2: a mine stopped by Ctrl-C -----------------------------------------------------------


class _CtrlCAfter:
    """A progress bar whose ``calls``-th update is the operator's Ctrl-C."""

    def __init__(self, calls: int) -> None:
        self.calls = calls

    def __enter__(self) -> _CtrlCAfter:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __call__(self, done: int, total: int) -> None:
        self.calls -= 1
        if self.calls <= 0:
            raise KeyboardInterrupt


def test_a_mine_stopped_by_ctrl_c_records_what_it_kept(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run was recorded with 0 lines and 0 patterns, although its checkpoint moved on
    and the patterns it stored stay ("what it had done before is kept")."""
    import foundups_training.mining.miner as miner
    import foundups_training.progress as progress

    monkeypatch.setattr(miner, "TICK", 1)  # a progress update after each line ...
    monkeypatch.setattr(miner, "FLUSH_SECONDS", -1.0)  # ... and a checkpoint after each
    monkeypatch.setattr(progress, "progress_for", lambda *a, **k: _CtrlCAfter(5))
    argv = ["-q", "--data-dir", str(settings.data_dir), "mine", str(LOG)]
    assert main(argv) == 130
    checkpoint, _ = load_checkpoint(settings.checkpoint_path)
    assert checkpoint is not None and 0 < checkpoint.lines_processed < len(
        LOG.read_text().splitlines()
    )
    with MetricsStore(settings.metrics_path, read_only=True) as store:
        (run,) = store.training_runs()
        snapshots = store.snapshots()
    assert not run.success and "Ctrl-C" in run.error
    assert run.lines_processed == checkpoint.lines_processed
    assert run.kind == "batch" and run.source == str(LOG)
    assert run.lines_total == checkpoint.lines_processed
    assert run.patterns_stored == checkpoint.extra["log_patterns"] > 0
    kinds = _memory_kinds(settings)
    assert run.patterns_total == sum(kinds.values())
    assert snapshots and snapshots[-1].by_kind == kinds


def test_a_second_mine_stopped_by_ctrl_c_counts_only_its_own_lines(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import foundups_training.mining.miner as miner
    import foundups_training.progress as progress

    argv = ["-q", "--data-dir", str(settings.data_dir), "mine", str(LOG)]
    assert main([*argv, "--max-lines", "2"]) == 0
    first, _ = load_checkpoint(settings.checkpoint_path)
    assert first is not None
    monkeypatch.setattr(miner, "TICK", 1)
    monkeypatch.setattr(miner, "FLUSH_SECONDS", -1.0)
    monkeypatch.setattr(progress, "progress_for", lambda *a, **k: _CtrlCAfter(4))
    assert main(argv) == 130
    after, _ = load_checkpoint(settings.checkpoint_path)
    assert after is not None and after.lines_processed > first.lines_processed
    with MetricsStore(settings.metrics_path, read_only=True) as store:
        stopped = store.training_runs()[0]  # the newest
    assert not stopped.success
    assert stopped.lines_processed == after.lines_processed - first.lines_processed
    assert stopped.lines_total == after.lines_processed


# -- 3: index's snapshot has the memory's kinds --------------------------------------------


def test_index_records_the_memorys_kinds(settings: Settings) -> None:
    """``mine`` gave its snapshot the memory's kinds; ``index``'s had none, so "patterns
    over time" drew an index as a total without a kind."""
    argv = ["-q", "--data-dir", str(settings.data_dir), "index", str(sample_host())]
    assert main(argv) == 0
    with MetricsStore(settings.metrics_path, read_only=True) as store:
        run = store.last_training()
        snapshot = store.snapshots()[-1]
    kinds = _memory_kinds(settings)
    assert kinds and snapshot.by_kind == kinds and snapshot.total == sum(kinds.values())
    assert run is not None and run.kind == "index" and run.patterns_total == snapshot.total


def test_a_telemetry_writer_attached_twice_outlives_one_detach(tmp_path: Path) -> None:
    """The CLI verb and the training plugin's Trainer both attach the data directory's
    telemetry folder in one process: the verb's detach must not stop the Trainer's."""
    from foundups_training import telemetry

    folder = tmp_path / "telemetry"
    telemetry.attach_writer(folder)  # the Trainer's
    telemetry.attach_writer(folder)  # the verb's
    signals.emit_telemetry("training.status", "completed")
    telemetry.detach_writer(folder)  # the verb ends
    signals.emit_telemetry("training.mine", "completed")
    assert [e["command"] for e in telemetry.read_events(folder)] == [
        "training.status",
        "training.mine",
    ]
    telemetry.detach_writer(folder)  # the Trainer closes
    signals.emit_telemetry("training.index", "completed")
    assert len(list(telemetry.read_events(folder))) == 2
