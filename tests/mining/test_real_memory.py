"""Mining into the real PatternMemory (ChromaDB + the offline embedder), through the CLI too."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from foundups_training.cli import main
from foundups_training.config import load_settings
from foundups_training.memory import open_memory
from foundups_training.mining import mine_log
from foundups_training.samples import sample_host, sample_log

LINES = sample_log().read_text(encoding="utf-8").splitlines(keepends=True)[:500]


def _facts(p):  # type: ignore[no-untyped-def]
    """Everything about a pattern that one pass and chunked runs must agree on."""
    return (
        p.kind,
        p.decision,
        p.outcome,
        p.module,
        p.seen,
        p.first_seen,
        p.last_seen,
        p.verified,
        p.context,
    )


def _dump(memory, ids):  # type: ignore[no-untyped-def]
    return {pid: _facts(memory.get(pid)) for pid in ids}


@pytest.mark.slow
def test_chunked_mining_into_real_memory_equals_one_pass(tmp_path: Path, make_store) -> None:  # type: ignore[no-untyped-def]
    """Four runs of different sizes into ChromaDB give what one pass gives (the dict store
    implements the memory's merge contract; one pass into it is the reference)."""
    log = tmp_path / "012.txt"
    log.write_text("".join(LINES[:400]), encoding="utf-8")
    reference = make_store()
    mine_log(log, reference, checkpoint_path=tmp_path / "ref.json", host_root=sample_host())
    settings = load_settings({"data_dir": tmp_path / "data"}, env={})
    memory = open_memory(settings)
    try:
        for max_lines in (97, 150, 33, 500):
            r = mine_log(
                log,
                memory,
                checkpoint_path=settings.checkpoint_path,
                host_root=sample_host(),
                max_lines=max_lines,
            )
        assert r.progress == 1.0 and r.lines_total == 400
        assert r.patterns_total == memory.count() == reference.count()
        stored = _dump(memory, sorted(reference.items))
    finally:
        memory.close()
    ref = {pid: _facts(p) for pid, p in reference.items.items()}
    assert stored == ref


@pytest.mark.slow
def test_cli_index_then_mine_json(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    # a two-module host keeps the embedding work (and the test) short
    host = tmp_path / "host"
    for module in ("platform_integration/youtube_auth", "infrastructure/database"):
        shutil.copytree(sample_host() / "modules" / module, host / "modules" / module)
    log = tmp_path / "012.txt"
    log.write_text("".join(LINES[:300]), encoding="utf-8")
    data = ["--data-dir", str(tmp_path / "data")]
    assert main(["index", str(host), "--json", *data]) == 0
    indexed = json.loads(capsys.readouterr().out)
    assert indexed["modules"] == 2 and indexed["patterns_total"] == indexed["patterns_stored"] > 0
    assert (
        main(["mine", str(log), "--host-root", str(host), "--max-lines", "200", "--json", *data])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    for key in ("lines_processed", "patterns_stored", "patterns_total", "verified", "duration_s"):
        assert key in out
    assert out["lines_processed"] == 200
    # counted after the telemetry's command patterns (the index's own command) were added
    memory = open_memory(
        load_settings({"data_dir": str(tmp_path / "data")}, env={}), read_only=True
    )
    commands = len(memory.ids(where={"source": "telemetry"}))
    memory.close()
    assert commands > 0
    assert out["patterns_total"] == indexed["patterns_total"] + out["patterns_new"] + commands
    assert main(["mine", str(log), *data]) == 0
    assert "mined 100 lines" in capsys.readouterr().out
    # The host drops a module: indexing again removes its code patterns, keeps the mined ones.
    settings = load_settings({"data_dir": str(tmp_path / "data")}, env={})
    memory = open_memory(settings, read_only=True)
    before = memory.count()
    memory.close()
    shutil.rmtree(host / "modules/infrastructure/database")
    assert main(["index", str(host), "--json", *data]) == 0
    reindexed = json.loads(capsys.readouterr().out)
    assert reindexed["modules"] == 1 and reindexed["patterns_removed"] > 0
    assert reindexed["patterns_total"] == before - reindexed["patterns_removed"]
    memory = open_memory(settings, read_only=True)
    try:
        code = [p.module for p in memory.all_patterns(where={"source": "code"})]
        assert code and "modules/infrastructure/database" not in code
        assert any(p.source == "log" for p in memory.all_patterns())
        mined = {p.id: (p.seen, p.decision) for p in memory.all_patterns(where={"source": "log"})}
        code_ids = set(memory.ids(where={"source": "code"}))
    finally:
        memory.close()
    # Mined again from the start: the log's patterns are replaced, not counted twice; the
    # code index's stay. Chroma's own filter on `source` finds what to remove.
    assert main(["mine", str(log), "--remine", "--json", *data]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["patterns_removed"] == len(mined) and again["lines_processed"] == 300
    assert any("as asked" in w for w in again["warnings"])
    memory = open_memory(settings, read_only=True)
    try:
        assert {
            p.id: (p.seen, p.decision) for p in memory.all_patterns(where={"source": "log"})
        } == mined
        assert set(memory.ids(where={"source": "code"})) == code_ids
    finally:
        memory.close()
    assert main(["status", "--json", *data]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["log_miner"] == status["miner"] >= 1
    assert main(["mine", str(tmp_path / "missing.txt"), *data]) == 2
    assert "log file not found" in capsys.readouterr().err
    assert main(["index", str(tmp_path / "nohost"), *data]) == 2
