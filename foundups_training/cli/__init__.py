"""The ``foundups-training`` command line: a thin layer over the library.

The parser is defined here, once, with no heavy imports, so ``--help`` stays fast. Each verb's
work lives in ``foundups_training/cli/<verb>.py`` as ``run(args, settings) -> int`` and is
imported only when that verb runs.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import math
import os
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from foundups_training import __version__
from foundups_training.logs import warn_failure
from foundups_training.text import EXIT_OUTPUT_CLOSED, drop_stdout, printable, readable_stdout

#: verb -> module under foundups_training.cli implementing it
VERBS: dict[str, str] = {
    "index": "index",
    "mine": "mine",
    "ask": "ask",
    "eval": "evaluate",
    "status": "status",
    "clear": "clear",
    "menu": "menu",
    "run-host": "run_host",
    "report": "report",
    "demo": "demo",
    "plugins": "plugins",
}


#: Verbs whose telemetry never creates the data directory, and is left out where it cannot
#: be written (another account's data directory, a backup): those that only read it, and
#: ``clear``, which has nothing to delete where there is no data directory (it says so, and
#: a mistyped ``--data-dir`` must not be left behind as a new folder).
NO_NEW_DATA_DIR_VERBS = frozenset({"status", "clear"})

#: verb -> telemetry command (Holo Command Interface names); verbs not listed report their own
TELEMETRY_COMMANDS: dict[str, str] = {
    "index": "training.index",
    "mine": "training.batch",
    "ask": "training.route",
    "eval": "training.eval",
    "status": "training.status",
    "clear": "training.clear",
    "plugins": "training.plugins",
}


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2 (or ``code``)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        default=argparse.SUPPRESS,
        help="data directory (Chroma store, checkpoint, metrics); env FOUNDUPS_TRAINING_HOME",
    )
    common.add_argument(
        "--config", dest="config_file", default=argparse.SUPPRESS, help="TOML config file"
    )
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON, no progress"
    )
    common.add_argument(
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars"
    )
    common.add_argument(
        "-v", "--verbose", action="count", default=argparse.SUPPRESS, help="more log output"
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    """The whole CLI grammar (cheap: no heavy imports)."""
    common = _common()
    parser = argparse.ArgumentParser(
        prog="foundups-training",
        description="Teach Foundups-Agent's local models (Gemma, Qwen) from its own log, "
        "live decisions and code.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")

    p = sub.add_parser("index", parents=[common], help="index the host's source tree")
    p.add_argument("host_root", metavar="HOST_ROOT", help="root of a Foundups-Agent checkout")
    p.add_argument(
        "--keep-stale",
        action="store_true",
        help="keep code patterns an earlier index stored that this tree no longer yields",
    )

    p = sub.add_parser("mine", parents=[common], help="mine an operational log into patterns")
    p.add_argument("log", metavar="LOG", help="the log file (e.g. 012.txt)")
    p.add_argument("--host-root", default=None, help="verify modules against this host tree")
    p.add_argument("--max-lines", type=int, default=None, help="stop after N lines")
    p.add_argument("--max-seconds", type=float, default=None, help="stop after S seconds")
    p.add_argument(
        "--remine",
        action="store_true",
        help="forget the patterns mined from a log (code and live chat ones stay) and mine "
        "LOG again from its first line",
    )

    p = sub.add_parser("ask", parents=[common], help="ask a question (routed Gemma/Qwen)")
    p.add_argument("query", metavar="QUERY")
    p.add_argument("--tier", choices=["auto", "memory", "gemma", "qwen"], default="auto")
    p.add_argument(
        "-n",
        "--patterns",
        type=int,
        default=None,
        metavar="N",
        help="list at most N of the patterns behind the answer (default: 5, all with --json)",
    )

    p = sub.add_parser("eval", parents=[common], help="evaluate answers on a QA JSONL file")
    p.add_argument("qa", metavar="QA.jsonl")
    p.add_argument("--out", default=None, help="write the per-item results (JSONL) here")
    p.add_argument(
        "--tiers",
        default="routed,memory,gemma,qwen",
        help="comma-separated tiers to evaluate (routed,memory,gemma,qwen)",
    )
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N items")
    p.add_argument("--calibrate", action="store_true", help="fit and save the calibration")

    sub.add_parser("status", parents=[common], help="what has been learned so far")

    p = sub.add_parser("clear", parents=[common], help="delete all patterns and the checkpoint")
    p.add_argument("--yes", action="store_true", help="confirm")

    sub.add_parser("menu", parents=[common], help="the interactive training menu")

    p = sub.add_parser(
        "run-host", parents=[common], help="run the host's main.py with the plugin attached"
    )
    p.add_argument("main_py", metavar="MAIN_PY")
    p.add_argument("host_args", nargs=argparse.REMAINDER, metavar="ARGS")

    p = sub.add_parser("report", parents=[common], help="write the HTML metrics dashboard")
    p.add_argument("--out", default="foundups-training-report", help="output directory")

    p = sub.add_parser("demo", parents=[common], help="index, mine and ask on shipped samples")
    p.add_argument("--no-models", action="store_true", help="memory tier only")

    sub.add_parser("plugins", parents=[common], help="list the registered plugins")
    return parser


def _settings_from(args: argparse.Namespace) -> Any:
    from foundups_training.config import load_settings

    return load_settings(
        {
            "data_dir": getattr(args, "data_dir", None),
            "config_file": getattr(args, "config_file", None),
        }
    )


def hand_to_plugins(settings: Any) -> None:
    """Hand this invocation's ``--data-dir`` / ``--config`` to the plugins.

    The plugins read their settings from the environment when the plugin manager is built:
    the training plugin its Trainer, and the manager its ``plugins_allow`` /
    ``plugins_deny``. A verb that builds the manager calls this first; without it, a config
    file named by ``--config`` (or found in ``--data-dir``) had no say in which plugins load.
    """
    os.environ["FOUNDUPS_TRAINING_HOME"] = str(settings.data_dir)
    if settings.config_file is not None:
        os.environ["FOUNDUPS_TRAINING_CONFIG"] = str(settings.config_file)


#: What ``json.dumps(ensure_ascii=False)`` leaves raw in a string that must not go out raw:
#: DEL and the C1 controls (for the terminal), lone surrogates (no UTF-8 encodes them: a
#: console in UTF-8 mode wrote the byte one stood for, and the JSON was no longer UTF-8).
_JSON_RAW = re.compile("[\x7f-\x9f\ud800-\udfff]")


def _finite(value: Any) -> Any:
    """``value`` with each float that is no number (NaN, infinite) made None: JSON has no
    such numbers, and ``json.dumps`` writes ``NaN``, which no other parser reads."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def to_json(data: Any, indent: int | None = None) -> str:
    """``data`` as JSON that every parser reads and a terminal only shows: numbers that are
    no number become ``null``; DEL, the C1 controls and lone surrogates are written as
    ``\\uXXXX`` escapes (they occur only inside strings, so the JSON decodes to the same
    text). Other characters stay as they are, not escaped, so a path stays readable."""
    text = json.dumps(_finite(data), indent=indent, default=str, ensure_ascii=False)
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class _PrintableFormatter(logging.Formatter):
    """Log lines as :func:`printable` shows them: a warning quotes a path, a plugin's error
    or a log line as it is, and the terminal must only show it."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


def emit(args: argparse.Namespace, data: Any, text: str | None = None) -> None:
    """Print ``data`` as JSON with ``--json``, else ``text`` (or a readable dump of data).

    The small fields of ``data`` also become the payload of the verb's ``completed``
    telemetry event (and so a training run in the metrics store).
    """
    result = getattr(args, "telemetry_result", None)
    if isinstance(result, dict) and isinstance(data, dict):
        for key, value in data.items():
            if len(json.dumps(value, default=str)) <= 2048:
                result[key] = value
    args.emitted = True
    try:
        if getattr(args, "json", False):
            print(to_json(data, indent=2))
        elif text is not None:
            print(printable(text))
        else:
            for key, value in data.items() if isinstance(data, dict) else [("result", data)]:
                print(printable(f"{key}: {value}"))
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader stopped reading (``status | head -1``): the verb's work is done and is
        # no failure; :func:`main` exits with the status a shell expects of a cut pipe.
        drop_stdout()
        args.output_closed = True


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.verb:
        parser.print_help()
        return 2
    verbose = getattr(args, "verbose", 0) or 0
    handler = logging.StreamHandler()
    handler.setFormatter(_PrintableFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(
        level=logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING,
        handlers=[handler],
    )
    from foundups_training.config import ConfigError

    readable_stdout()  # a console that is not UTF-8 must not stop a verb over one "é"
    settings: Any = None
    try:
        settings = _settings_from(args)
        if settings.data_dir.exists() and not settings.data_dir.is_dir():
            raise CliError(f"the data directory {settings.data_dir} is a file, not a directory")
        module = importlib.import_module(f"foundups_training.cli.{VERBS[args.verb]}")
        command = TELEMETRY_COMMANDS.get(args.verb)
        if command is None:
            return _closed_output(args, int(module.run(args, settings) or 0))
        with _observed(settings, read_only=args.verb in NO_NEW_DATA_DIR_VERBS):
            from foundups_training import telemetry

            with telemetry.command(command) as result:
                args.telemetry_result = result
                code = int(module.run(args, settings) or 0)
                result["exit_code"] = code
            return _closed_output(args, code)
    except BrokenPipeError:  # printed outside emit() (a progress line, the menu)
        drop_stdout()
        return EXIT_OUTPUT_CLOSED
    except CliError as exc:
        return _failed(args, f"foundups-training {args.verb}: {exc}", exc.code)
    except ConfigError as exc:
        return _failed(args, f"foundups-training: configuration error: {exc}", 2)
    except KeyboardInterrupt:
        return _failed(args, "interrupted", 130)
    except Exception as exc:
        if verbose > 1:
            raise
        why = write_limits(getattr(settings, "data_dir", None))
        return _failed(args, f"foundups-training {args.verb}: {type(exc).__name__}: {exc}{why}", 1)


def _failed(args: argparse.Namespace, message: str, code: int) -> int:
    """Say why a verb failed (one line on stderr) and return ``code``. With ``--json``, when
    the verb wrote no result, the same is written to stdout as ``{"error": …, "exit_code":
    …}``: a script reading the verb's JSON gets JSON, not an empty output it cannot parse
    (a verb that failed after writing its result, ``eval`` whose per-item file could not be
    written, keeps that result as its only JSON)."""
    print(printable(message), file=sys.stderr)
    if getattr(args, "json", False) and not getattr(args, "emitted", False):
        with contextlib.suppress(OSError, ValueError):
            print(to_json({"error": message, "exit_code": code}))
    return code


def _closed_output(args: argparse.Namespace, code: int) -> int:
    """``code``, or :data:`EXIT_OUTPUT_CLOSED` (141, as a shell reports a command its
    pipe's reader cut short) when a verb that succeeded could not print all of its result."""
    return EXIT_OUTPUT_CLOSED if code == 0 and getattr(args, "output_closed", False) else code


#: Less free space than this on the data directory's disk is worth naming in an error.
LOW_DISK_BYTES = 64 * 1024 * 1024


def write_limits(data_dir: Any) -> str:
    """What may have stopped a write, to add to an error that does not say (Chroma's own
    "Error in compaction: Failed to apply logs to the metadata segment" names no cause):
    a nearly full disk under ``data_dir``, or a limit on the size of files this process
    may write (``ulimit -f``). Empty when neither applies or neither can be read."""
    import shutil

    said = []
    if data_dir is not None:
        with contextlib.suppress(OSError, ValueError):
            free = shutil.disk_usage(data_dir).free
            if free < LOW_DISK_BYTES:
                said.append(f"the disk of {data_dir} has {free // 1024} KiB free")
    with contextlib.suppress(ImportError, OSError, ValueError):
        import resource  # not on Windows

        soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
        if soft != resource.RLIM_INFINITY:
            said.append(f"this process may not write files over {soft} bytes (ulimit -f)")
    return f" ({'; '.join(said)})" if said else ""


def can_write(directory: Path) -> bool:
    """Whether this process may create files in ``directory`` (an existing folder)."""
    return directory.is_dir() and os.access(directory, os.W_OK | os.X_OK)


@contextlib.contextmanager
def _observed(settings: Any, *, read_only: bool = False) -> Iterator[None]:
    """Record the verb's signals in the metrics store and its telemetry as JSONL.

    Observability must never stop a verb: a metrics store that cannot be opened (read-only
    data directory, say) is logged and the verb runs without it. A ``read_only`` verb
    (status, report) records only into a data directory that exists and that it may write:
    it never creates one (a mistyped ``--data-dir`` stays a mistake, not a new folder), and
    reading another account's data directory is no reason for a warning.
    """
    store = None
    if read_only and not can_write(settings.data_dir):
        yield
        return
    try:
        from foundups_training import telemetry
        from foundups_training.metrics import MetricsStore, attach_observers

        settings.ensure_data_dir()
        store = MetricsStore(settings.metrics_path)
        attach_observers(store)
        telemetry.attach_writer(settings.telemetry_dir)
    except Exception as exc:  # noqa: BLE001 - observability never stops a verb
        logging.getLogger(__name__).warning("metrics/telemetry unavailable: %s", exc)
    try:
        yield
    finally:
        if store is not None:
            try:
                store.close()  # flushes and detaches the observer
            except Exception as exc:  # noqa: BLE001 - the verb's result is already out
                warn_failure(logging.getLogger(__name__), "closing the metrics store failed", exc)
        try:
            from foundups_training import telemetry

            telemetry.detach_writer(settings.telemetry_dir)
        except Exception as exc:  # noqa: BLE001 - the verb's result is already out
            warn_failure(logging.getLogger(__name__), "detaching telemetry failed", exc)


def readable(text: str) -> str:
    """``text`` with what cannot be encoded as UTF-8 made readable.

    Bytes that are not UTF-8 on the command line or a piped stdin (a paste from a latin-1
    file) reach Python as lone surrogates, which the tokenizer, the JSON files and SQLite
    all refuse. The original bytes are recovered and decoded again, each invalid one
    becoming U+FFFD, so the rest of the text is still asked.
    """
    from foundups_training.text import from_surrogates

    return from_surrogates(text, "replace")
