"""The CLI spine: fast help, honest stubs, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from foundups_training.cli import build_parser, main


def test_help_imports_nothing_heavy() -> None:
    """--help stays fast because it loads no heavy module (timed by benchmarks/bench_cli.py)."""
    code = (
        "import sys\n"
        "from foundups_training.cli import main\n"
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try: main(['--help'])\n"
        "    except SystemExit: pass\n"
        "heavy = ('chromadb', 'llama_cpp', 'onnxruntime', 'numpy', 'pluggy')\n"
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_module_entry_point_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "foundups_training", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert "run-host" in out.stdout and "eval" in out.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["index", "x"],
        ["mine", "x.log"],
        ["ask", "q"],
        ["eval", "qa.jsonl"],
        ["status"],
        ["clear"],
        ["menu"],
        ["run-host", "main.py"],
    ],
)
def test_every_verb_parses(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert args.verb == argv[0]


def test_json_flag_before_or_after_verb() -> None:
    p = build_parser()
    assert p.parse_args(["--json", "status"]).json
    assert p.parse_args(["status", "--json"]).json


def test_clear_refuses_without_yes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["clear"]) == 2
    assert "--yes" in capsys.readouterr().err


def test_no_verb_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "VERB" in capsys.readouterr().out


def test_plugins_verb_lists_training(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", "--json"]) == 0
    assert "training" in json.loads(capsys.readouterr().out)["plugins"]


def test_an_error_that_names_no_cause_gets_the_write_limits(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import resource
    import shutil
    from collections import namedtuple

    from foundups_training import cli

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(resource, "getrlimit", lambda _: (resource.RLIM_INFINITY,) * 2)
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage(10**12, 0, 10**12))
    assert cli.write_limits(tmp_path) == ""
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage(10**12, 0, 8192))
    assert cli.write_limits(tmp_path) == f" (the disk of {tmp_path} has 8 KiB free)"
    monkeypatch.setattr(resource, "getrlimit", lambda _: (4096, resource.RLIM_INFINITY))
    said = cli.write_limits(None)
    assert said == " (this process may not write files over 4096 bytes (ulimit -f))"


def _status(**extra: object) -> dict:
    status: dict = {
        "data_dir": "/d", "store": "/d/chroma", "patterns_total": 0, "by_kind": {},
        "by_source": {}, "verified": 0, "lines_processed": 0, "last_training": None,
    }  # fmt: skip
    status.update(extra)
    return status


def test_status_text_never_shows_a_store_it_could_not_count_as_empty() -> None:
    from foundups_training.cli.status import _text

    error = "StoreNotCopied: the store /d/chroma cannot be written by this process and is too big"
    text = _text(_status(memory_error=error, patterns_unknown=error))
    assert f"patterns       : unknown ({error})" in text.splitlines()
    assert "patterns       : 0" not in text
    assert error not in text.replace(f"unknown ({error})", ""), "said twice"
    locked = _text(
        _status(
            memory_error="StoreLocked: held",
            store_locked_by="process 42",
            patterns_unknown="the store is locked by process 42",
        )
    )
    assert "patterns       : unknown (the store is locked by process 42)" in locked
    assert "problem        : StoreLocked: held" in locked  # the details still follow
    assert "patterns       : 0 (0 verified)" in _text(_status())  # an empty store is 0
    copied = _text(_status(patterns_total=3, verified=1, store_read_from_copy=True))
    assert "store          : /d/chroma (not writable here: read from a temporary copy)" in copied
    assert "patterns       : 3 (1 verified)" in copied
