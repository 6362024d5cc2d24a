"""The CLI spine: fast help, honest stubs, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from foundups_training.cli import build_parser, main


def test_help_is_fast_and_imports_nothing_heavy() -> None:
    code = (
        "import sys, time; t=time.perf_counter();"
        "from foundups_training.cli import main;"
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try: main(['--help'])\n"
        "    except SystemExit: pass\n"
        "heavy=[m for m in ('chromadb','llama_cpp','onnxruntime','numpy') if m in sys.modules]\n"
        "print(time.perf_counter()-t, heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    elapsed, heavy = out.stdout.split(" ", 1)
    assert heavy.strip() == "[]"
    assert float(elapsed) < 0.5


def test_module_entry_point_runs() -> None:
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "foundups_training", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert "run-host" in out.stdout and "eval" in out.stdout
    assert time.perf_counter() - start < 5


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
