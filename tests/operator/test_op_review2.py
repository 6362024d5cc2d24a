"""A second review of what the operator sees: the dashboard's file, and text from a log, a
live chat, a plugin or a host's file names on the terminal and in ``--json``.

Each test names what an operator saw before the fix.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

from foundups_training.cli import main
from foundups_training.metrics import MetricsStore
from foundups_training.records import Answer, Query
from foundups_training.report import REPORT_NAME, render_report, write_report

#: What a hostile chat message or log line would send a terminal: set the window's title,
#: clear the screen, ring the bell, move back to the start of the line, and CSI as one C1
#: character (which some terminals act on as ``ESC [``).
HOSTILE = "\x1b]0;owned\x07\x1b[2J\rfake\x9b31m"
#: The characters of ``HOSTILE`` that a terminal acts on.
ACTED_ON = ("\x1b", "\x07", "\r", "\x9b")


def _assert_inert(text: str) -> None:
    for char in ACTED_ON:
        assert char not in text, f"{char!r} reached the terminal: {text!r}"


def _strict_json(text: str) -> Any:
    """``json.loads`` that refuses what is no JSON (``NaN``, ``Infinity``), as other
    languages' parsers and ``jq`` do."""

    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


# -- the dashboard's file ----------------------------------------------------------------------


def test_the_report_never_writes_through_a_link_at_its_temporary_name(tmp_path: Path) -> None:
    """``report --out /shared/dash``: a link planted at ``/shared/dash/index.html.tmp`` made
    the report overwrite the file it pointed at (the operator's ``~/.bashrc``, say) with the
    page, then move the link into place as ``index.html``."""
    out = tmp_path / "dash"
    out.mkdir()
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me", encoding="utf-8")
    (out / "index.html.tmp").symlink_to(victim)
    with MetricsStore(tmp_path / "metrics.sqlite3") as store:
        path = write_report(store, out)
    assert victim.read_text(encoding="utf-8") == "keep me"
    assert path == out / REPORT_NAME
    assert not path.is_symlink() and "<!DOCTYPE html>" in path.read_text(encoding="utf-8")
    # nothing of the report's is left beside the page (the planted link is no report's)
    leftovers = {p.name for p in out.iterdir()} - {REPORT_NAME, "index.html.tmp"}
    assert not leftovers, leftovers


def test_the_report_is_readable_by_whoever_could_read_it_before(tmp_path: Path) -> None:
    """The page keeps the mode a plain file gets under the umask (a web server or another
    account serving the folder must still read it): a private temporary file must not make
    it 0600."""
    old = os.umask(0o022)
    try:
        with MetricsStore(tmp_path / "metrics.sqlite3") as store:
            path = write_report(store, tmp_path / "dash")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_data_dir_whose_name_is_not_utf8_still_gets_its_report(tmp_path: Path) -> None:
    """``foundups-training --data-dir $'caf\\xe9' report`` failed with ``UnicodeEncodeError:
    'utf-8' codec can't encode character '\\udce9'``: the page names the metrics file, and
    that name held the byte that is not UTF-8."""
    data = Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9"))
    data.mkdir()
    with MetricsStore(data / "metrics.sqlite3") as store:
        store.record_answer("q", Answer("a", "memory", latency_ms=3.0))
    with MetricsStore(data / "metrics.sqlite3", read_only=True) as store:
        path = write_report(store, tmp_path / "dash")
    html = path.read_text(encoding="utf-8")
    assert "caf\\xe9" in html  # the byte shown, as Python shows it


# -- untrusted text on the terminal ------------------------------------------------------------


class _StubTrainer:
    """What ``status`` uses of a Trainer, without Chroma."""

    status_dict: ClassVar[dict[str, Any]] = {}

    def __init__(self, settings: Any, **_: Any) -> None:
        self.settings = settings

    def status(self) -> dict[str, Any]:
        return dict(self.status_dict)

    def __enter__(self) -> _StubTrainer:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _status(data_dir: str) -> dict[str, Any]:
    return {
        "data_dir": data_dir,
        "store": f"{data_dir}/chroma",
        "patterns_total": 2,
        "by_kind": {f"chat{HOSTILE}": 2},
        "by_source": {},
        "verified": 0,
        "lines_processed": 500,
        "lines_total": 2400,
        "log": f"012{HOSTILE}.txt",
        "last_training": None,
        "last_failure": {
            "when": "2026-01-01T00:00:00+00:00",
            "kind": "live",
            "error": f"cannot store the message {HOSTILE}",
        },
    }


def test_status_shows_control_characters_instead_of_sending_them(
    settings: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failed live run's error quoting a chat message, a kind or a log name holding
    ``ESC ]0;…BEL`` retitled the operator's terminal window and ``ESC [2J`` cleared it."""
    settings.data_dir.mkdir(parents=True)
    monkeypatch.setattr("foundups_training.engine.Trainer", _StubTrainer)
    _StubTrainer.status_dict = _status(str(settings.data_dir))
    assert main(["status", "--data-dir", str(settings.data_dir)]) == 0
    out = capsys.readouterr().out
    _assert_inert(out)
    assert "cannot store the message \\x1b]0;owned\\x07\\x1b[2J\\x0dfake\\x9b31m" in out
    assert out.count("\n") >= 6  # the lines themselves are kept


def test_status_json_keeps_the_text_exactly(
    settings: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--json`` is for machines: the same error, decoded, is the error recorded; and its
    C1 control, which ``json.dumps(ensure_ascii=False)`` leaves raw, is written escaped."""
    settings.data_dir.mkdir(parents=True)
    monkeypatch.setattr("foundups_training.engine.Trainer", _StubTrainer)
    _StubTrainer.status_dict = _status(str(settings.data_dir))
    assert main(["status", "--json", "--data-dir", str(settings.data_dir)]) == 0
    out = capsys.readouterr().out
    _assert_inert(out)
    assert _strict_json(out)["last_failure"]["error"] == f"cannot store the message {HOSTILE}"


class _Manager:
    """A plugin manager whose one plugin answers ``on_query`` with ``answer``."""

    answer: ClassVar[Answer]

    def call_safely(self, hook_name: str, **kwargs: Any) -> Any:
        assert hook_name == "on_query" and isinstance(kwargs["query"], Query)
        return self.answer


@pytest.fixture
def plugin_answers(monkeypatch: pytest.MonkeyPatch) -> type[_Manager]:
    monkeypatch.setattr("foundups_training.plugins.get_plugin_manager", _Manager)
    return _Manager


def test_ask_shows_an_answer_quoting_a_log_line_without_its_escapes(
    settings: Any, plugin_answers: type[_Manager], capsys: pytest.CaptureFixture[str]
) -> None:
    """A pattern mined from a log line with colour codes, or a model's answer, was printed
    raw: the answer could clear the screen and write its own ``-- memory, confidence 0.99``."""
    plugin_answers.answer = Answer(
        f"see {HOSTILE}", "memory", confidence=0.5, error=f"late {HOSTILE}"
    )
    assert main(["ask", "--data-dir", str(settings.data_dir), "where?"]) == 0
    out = capsys.readouterr().out
    _assert_inert(out)
    assert "see \\x1b]0;owned" in out and "late \\x1b" in out


def test_ask_json_with_a_confidence_that_is_no_number_is_still_json(
    settings: Any, plugin_answers: type[_Manager], capsys: pytest.CaptureFixture[str]
) -> None:
    """A plugin answering with a NaN confidence and an infinite latency made ``ask --json``
    print ``"confidence": NaN``, which no JSON parser but Python's reads."""
    plugin_answers.answer = Answer(
        "an answer", "plugin", confidence=float("nan"), latency_ms=float("inf")
    )
    assert main(["ask", "--json", "--data-dir", str(settings.data_dir), "where?"]) == 0
    data = _strict_json(capsys.readouterr().out)
    assert data["answer"] == "an answer"
    assert data["confidence"] is None and data["latency_ms"] is None


def test_a_failure_naming_a_hostile_file_shows_its_escapes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An error naming a host's file (``index`` of a tree whose name holds ``ESC [2J``)
    sent the escape to the terminal on stderr; with ``--json`` the error is still JSON."""
    root = tmp_path / f"host{HOSTILE}"
    assert main(["index", str(root)]) == 2
    err = capsys.readouterr().err
    _assert_inert(err)
    assert "host root not found" in err and "\\x1b[2J" in err
    assert main(["index", "--json", str(root)]) == 2
    out, err = capsys.readouterr()
    _assert_inert(out + err)
    assert str(root) in _strict_json(out)["error"]


def test_json_on_a_surrogateescape_console_is_utf8(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under ``PYTHONUTF8=1`` (or the C locale) standard output writes a byte that was not
    UTF-8 back as that byte: ``status --json`` on ``--data-dir $'caf\\xe9'`` wrote JSON that
    was not UTF-8, which a script reading it as JSON cannot decode."""
    data = Path(os.fsdecode(os.fsencode(settings.data_dir) + b"caf\xe9"))
    data.mkdir(parents=True)
    monkeypatch.setattr("foundups_training.engine.Trainer", _StubTrainer)
    _StubTrainer.status_dict = _status(str(data))
    raw = io.BytesIO()
    monkeypatch.setattr(
        sys, "stdout", io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape")
    )
    assert main(["status", "--json", "--data-dir", str(data)]) == 0
    sys.stdout.flush()
    decoded = _strict_json(raw.getvalue().decode("utf-8"))
    assert decoded["data_dir"] == str(data)  # the escaped byte reads back as it was


def test_a_warning_quoting_hostile_text_shows_its_escapes(tmp_path: Path) -> None:
    """The verbs' log lines (warnings on stderr) quote paths, plugins' errors and log lines
    as they are: one holding ``ESC [2J`` cleared the operator's screen."""
    script = (
        "import logging, sys\n"
        "from foundups_training import plugins\n"
        "from foundups_training.cli import main\n"
        "def names():\n"
        "    logging.getLogger('foundups_training.plugins').warning('plugin %s broke', "
        f"{HOSTILE!r})\n"
        "    return []\n"
        "plugins.plugin_names = names\n"
        "sys.exit(main(['plugins']))\n"
    )
    env = {**os.environ, "FOUNDUPS_TRAINING_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, env=env, timeout=120, check=False
    )
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 0, err
    assert "plugin \\x1b]0;owned" in err
    _assert_inert(err)


def test_the_latency_plot_stays_readable_with_a_plugin_naming_many_tiers(
    tmp_path: Path,
) -> None:
    """A plugin's answers name their own tier (any text): one naming a tier per model file
    or per question drew one group of bars per name: 300 names made a chart of 600 bars no
    one can read, and a page that grows with every name. The main tiers are kept, then the
    most answered of the others, and the chart says how many it leaves out."""
    from foundups_training.report import MAX_TIERS

    with MetricsStore(tmp_path / "m.sqlite3") as store:
        for i in range(300):
            store.record_answer("q", Answer("a", f"plugin-{i:03d}", latency_ms=5.0))
        for _ in range(3):
            store.record_answer("q", Answer("a", "plugin-busy", latency_ms=7.0))
        store.record_answer("q", Answer("a", "gemma", latency_ms=300.0))
        store.record_answer("q", Answer("a", "memory", latency_ms=4.0))
        html = render_report(store)
    start = html.index('id="plot-latency"')
    latency = html[start : html.index("</figure>", start)]
    assert latency.count('class="bar"') <= 2 * MAX_TIERS
    assert "memory p50" in latency and "gemma p50" in latency and "plugin-busy p50" in latency
    assert f"{301 - (MAX_TIERS - 2)} more tiers not shown" in latency
