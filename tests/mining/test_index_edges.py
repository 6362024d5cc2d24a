"""Host-index edges: names that are not UTF-8 in the host tree (skipped, and now counted and
shown), and a host root whose own path is not UTF-8 (its metrics row was lost)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from foundups_training.cli import main
from foundups_training.config import Settings
from foundups_training.metrics import MetricsStore
from foundups_training.metrics.records import TrainingRun
from foundups_training.mining import host_index
from foundups_training.mining.host_index import collect_host_patterns
from foundups_training.samples import sample_host


def _latin1(folder: Path, name: bytes) -> Path:
    """``folder/name`` for a name in bytes that are not UTF-8 (latin-1's ``é`` is 0xE9), as
    Python names it (a lone surrogate per such byte); skips where the file system refuses
    such names (macOS's APFS, Windows)."""
    return Path(os.fsdecode(os.path.join(os.fsencode(folder), name)))


def _host_copy(tmp_path: Path, name: bytes = b"host") -> Path:
    root = _latin1(tmp_path, name)
    try:
        shutil.copytree(sample_host(), root)
    except (OSError, UnicodeError):
        pytest.skip("this file system refuses names that are not UTF-8")
    return root


def _add_undecodable_names(root: Path) -> list[str]:
    """Files and folders the index would read were their names text; their names as the
    report shows them (each byte that is not UTF-8 as ``\\xNN``)."""
    livechat = root / "modules" / "communication" / "livechat"
    (_latin1(livechat / "src", b"caf\xe9.py")).write_text('"""A cafe."""\n', encoding="utf-8")
    (_latin1(livechat / "src", b"caf\xe9.txt")).write_text("not Python\n", encoding="utf-8")
    _latin1(root / "modules" / "communication", b"m\xf6dule").mkdir()
    _latin1(root / "modules", b"d\xf6main").mkdir()
    _latin1(livechat, b"s\xfcb").mkdir()
    (_latin1(root / "WSP_framework" / "src", b"WSP_99_\xe9.md")).write_text("# WSP 99\n")
    return [
        "modules/communication/m\\xf6dule",
        "modules/d\\xf6main",
        "modules/communication/livechat/s\\xfcb",
        "modules/communication/livechat/src/caf\\xe9.py",
        "WSP_framework/src/WSP_99_\\xe9.md",
    ]


def test_names_that_are_not_utf8_are_counted_and_shown(tmp_path: Path) -> None:
    """They were skipped without a word: the operator saw fewer modules and files than the
    tree has and could not tell why."""
    clean, _ = collect_host_patterns(sample_host())
    root = _host_copy(tmp_path)
    shown = _add_undecodable_names(root)
    patterns, report = collect_host_patterns(root)
    # a folder, a module, a sub-folder, a Python file, a WSP document; not the .txt file,
    # which the index would not read whatever its name
    assert report.undecodable == 5
    assert sorted(report.undecodable_names) == sorted(shown)
    assert report.as_dict()["undecodable"] == 5
    json.dumps(report.as_dict(), ensure_ascii=False).encode("utf-8")  # storable as it is
    # what the index yields is unchanged
    assert sorted(p.id for p in patterns) == sorted(p.id for p in clean)
    assert report.modules == 16 and report.files == 53


def test_the_report_lists_the_first_undecodable_names_and_counts_all(tmp_path: Path) -> None:
    root = _host_copy(tmp_path)
    src = root / "modules" / "communication" / "livechat" / "src"
    shown = host_index.UNDECODABLE_SHOWN
    for n in range(shown + 3):
        _latin1(src, f"x{n}\xe9.py".encode("latin-1")).write_text("X = 1\n")
    _, report = collect_host_patterns(root)
    assert report.undecodable == shown + 3 and len(report.undecodable_names) == shown


def test_index_says_how_many_names_it_skipped(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _host_copy(tmp_path)
    _add_undecodable_names(root)
    argv = ["--data-dir", str(settings.data_dir), "index", str(root)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("names skipped"))
    assert "not UTF-8" in line and ": 5 (" in line and "caf\\xe9.py" in line
    assert main(["--json", *argv]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["undecodable"] == 5 and "modules/d\\xf6main" in report["undecodable_names"]


def test_a_clean_tree_says_nothing_of_undecodable_names(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--data-dir", str(settings.data_dir), "index", str(sample_host())]) == 0
    assert "names skipped" not in capsys.readouterr().out


# -- a host root whose path is not UTF-8 -----------------------------------------------------
def test_a_host_root_not_in_utf8_keeps_its_metrics_row(settings: Settings, tmp_path: Path) -> None:
    """The run's source (the host root) held a lone surrogate, SQLite refused the row, and
    the metrics lost the run (a warning only): it is stored, the byte shown as ``\\xe9``."""
    root = _host_copy(tmp_path, b"caf\xe9-host")
    assert main(["-q", "--data-dir", str(settings.data_dir), "index", str(root)]) == 0
    with MetricsStore(settings.metrics_path, read_only=True) as store:
        run = store.last_training()
    assert run is not None and run.kind == "index" and run.success
    assert run.source == str(tmp_path / "caf\\xe9-host")
    assert run.patterns_stored > 0


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("/srv/caf\udce9/host", "/srv/caf\\xe9/host"),  # a byte that is not UTF-8
        ("half an emoji \ud83d", "half an emoji \\ud83d"),  # a surrogate of another origin
        ("/srv/café/host", "/srv/café/host"),  # text: as it is
    ],
)
def test_a_training_row_with_lone_surrogates_is_kept(
    tmp_path: Path, text: str, stored: str
) -> None:
    with MetricsStore(tmp_path / "metrics.sqlite3") as store:
        store.record_training(
            TrainingRun(ts=time.time(), kind="index", source=text, error=f"failed: {text}")
        )
        (run,) = store.training_runs()
    assert run.source == stored and run.error == f"failed: {stored}"
