"""The interactive training menu (the seed's "Qwen/Gemma Training System" submenu).

``foundups-training menu`` runs it, and so does the host's menu option through the adapters
(``run_menu(trainer)``). Options::

    1. Start batch training (mine the log, live progress bar)
    2. View training progress (lines processed of total, patterns by kind, last training)
    3. Test pattern recall (query -> patterns and similarities)
    4. Test Qwen/Gemma routing (query -> tier, confidence, answer, escalation)
    5. View training metrics
    6. Clear pattern memory (asks for confirmation)
    0. Back

It reads lines, not keys, so it works the same on a terminal, through a pipe and in tests;
end of input means "back", a bad choice is answered and asked again, and an error inside an
option is printed and the menu goes on — it never takes the host's menu down with it.

The operations themselves (:func:`batch_train`, :func:`index_tree`, :func:`routed_answer`)
are plain functions shared with the demo: each emits its ``training.*`` telemetry and feeds
the metrics observers, whoever calls it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from foundups_training import signals, telemetry
from foundups_training.cli import readable
from foundups_training.logs import warn_failure
from foundups_training.progress import Progress
from foundups_training.records import Answer, Query
from foundups_training.status import older_miners, text_time
from foundups_training.text import printable

if TYPE_CHECKING:
    from foundups_training.engine import Trainer

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]

OPTIONS: tuple[tuple[str, str], ...] = (
    ("1", "Start batch training (mine the log)"),
    ("2", "View training progress"),
    ("3", "Test pattern recall"),
    ("4", "Test Qwen/Gemma routing"),
    ("5", "View training metrics"),
    ("6", "Clear pattern memory (reset)"),
    ("0", "Back"),
)
_BACK = {"0", "b", "back", "q", "quit", "exit"}
_RULE = "-" * 60
_COMPACT = "Options: 1 train | 2 progress | 3 recall | 4 routing | 5 metrics | 6 clear | 0 back"


# -- operations shared by the menu, the demo and the CLI verbs ---------------------------------
def _as_dict(report: Any) -> dict[str, Any]:
    as_dict = getattr(report, "as_dict", None)
    if callable(as_dict):
        return dict(as_dict())
    return {k: v for k, v in vars(report).items() if not k.startswith("_")}


def batch_train(
    trainer: Trainer,
    log_path: Path | str,
    *,
    host_root: Path | str | None = None,
    max_lines: int | None = None,
    max_seconds: float | None = None,
    progress: ProgressFn | None = None,
    remine: bool = False,
) -> Any:
    """Mine ``log_path`` from its checkpoint as a ``training.batch`` command; return the report.
    ``remine``: replace the patterns mined from a log by what ``log_path`` holds now."""
    with telemetry.command("training.batch", {"source": str(log_path)}) as result:
        report = trainer.mine(
            log_path,
            host_root=host_root,
            max_lines=max_lines,
            max_seconds=max_seconds,
            progress=progress,
            remine=remine,
        )
        result.update(_as_dict(report))
        result.update(trainer.memory_totals())
    return report


def index_tree(
    trainer: Trainer, host_root: Path | str, *, progress: ProgressFn | None = None
) -> Any:
    """Index a host source tree, as a ``training.index`` command; returns the report."""
    with telemetry.command("training.index", {"source": str(host_root)}) as result:
        report = trainer.index(host_root, progress=progress)
        result.update(_as_dict(report))
        result.update(trainer.memory_totals())
    return report


def routed_answer(trainer: Trainer, query: Query) -> Answer:
    """Answer through the router as ``training.route``, and tell the observers (metrics)."""
    with telemetry.command("training.route", {"query": query.text, "tier": query.tier}) as result:
        answer = trainer.ask(query)
        result.update(
            answer_tier=answer.tier,
            model=answer.model,
            confidence=round(answer.confidence, 4),
            latency_ms=round(answer.latency_ms, 1),
            escalated=answer.escalated,
            escalation_reason=answer.escalation_reason,
            error=answer.error,
        )
    try:
        signals.answer_given.send(query.asked_by or "menu", query=query, answer=answer)
    except Exception as exc:  # noqa: BLE001 - an observer never costs the caller its answer
        warn_failure(log, "answer_given receiver failed", exc)
    return answer


def default_host_root(trainer: Trainer) -> Path | None:
    """The configured host tree, when it looks like a Foundups-Agent checkout."""
    return configured_host_root(trainer.settings)


def configured_host_root(settings: Any) -> Path | None:
    """``host_root`` of the settings (``FOUNDUPS_TRAINING_HOST_ROOT``, the TOML file, else
    the working directory) when it holds ``modules/``, as a Foundups-Agent checkout does;
    else None. The menu and ``mine`` verify module names against it."""
    root = Path(settings.host_root).expanduser()
    return root if (root / "modules").is_dir() else None


# -- formatting --------------------------------------------------------------------------------
def _when(value: Any) -> str:
    """An epoch (the metrics') or an ISO string (the status's) in the one text format."""
    return text_time(value)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _failed(run: dict[str, Any], limit: int = 160) -> str:
    """A failed training run in one line: when, what, and why (cut to ``limit``)."""
    error = str(run.get("error") or "no reason recorded")
    if len(error) > limit:
        error = error[: limit - 1] + "\N{HORIZONTAL ELLIPSIS}"
    return f"{_when(run.get('ts'))} - {run.get('kind', '?')} FAILED: {error}"


def log_position(checkpoint_path: Path) -> dict[str, Any]:
    """What :func:`Trainer.status` does not say of the log the checkpoint names, as the next
    run will judge it (:func:`~foundups_training.mining.checkpoint.resume_point`):
    ``log_replaced`` (why) when the file is no longer the one mined (rotated, truncated,
    replaced), else ``earlier_lines``, the lines of the checkpoint's count that came from
    logs rotated away before it. Empty when there is no checkpoint or no log to compare."""
    from foundups_training.mining.checkpoint import load_checkpoint, resume_point

    checkpoint, _ = load_checkpoint(checkpoint_path)
    if checkpoint is None or not checkpoint.path:
        return {}
    try:
        point = resume_point(Path(checkpoint.path), checkpoint)
    except OSError:  # no log there: status says "log not found"
        return {}
    if point.warning:
        return {"log_replaced": point.warning}
    return {"earlier_lines": point.earlier_lines or 0}


def _log_lines(status: dict[str, Any]) -> tuple[int, int | None, bool]:
    """``(lines mined of the log itself, its lines now, whether it changed under them)``.

    The checkpoint's count includes the lines of logs rotated away before this one
    (``earlier_lines``), which this file never held. A file that now holds fewer lines (or
    bytes, or other first lines) than were mined of it is not the file that was mined: a
    percentage over 100 would mean nothing, so the callers say what happened instead.
    """
    done = int(status.get("lines_processed") or 0)
    done = max(0, done - int(status.get("earlier_lines") or 0))
    total = status.get("lines_total")
    changed = total is not None and (bool(status.get("log_replaced")) or done > total)
    return done, total, changed


#: What the header and option 2 say of a log that is no longer the file that was mined.
LOG_CHANGED = (
    "rotated or truncated since the last run (now {total:,} lines): the next run starts it again"
)


def format_progress(status: dict[str, Any]) -> list[str]:
    """The "view progress" lines for a :func:`Trainer.status` dict (with
    :func:`log_position`'s keys, when the menu has them)."""
    done, total, changed = _log_lines(status)
    if changed:
        of = f", but the log was {LOG_CHANGED.format(total=total)}"
    elif total:
        of = f" of {total:,} ({done / total * 100:.1f}%)"
    elif total is None and status.get("log_found") is False:
        of = " (log not found)"  # as the header and `status` say
    else:
        of = ""
    earlier = int(status.get("earlier_lines") or 0)
    if earlier and not changed:
        of += f", and {earlier:,} of logs rotated away before it"
    unknown = status.get("patterns_unknown")
    lines = [
        f"Log            : {status.get('log', '?')}",
        f"Lines processed: {done:,}{of}",
        f"Patterns       : unknown ({unknown})"
        if unknown
        else f"Patterns       : {status.get('patterns_total', 0):,} "
        f"({status.get('verified', 0):,} verified)",
    ]
    by_kind = status.get("by_kind") or {}
    for kind, n in sorted(by_kind.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  {kind:<18} {n:,}")
    lines.append(f"Last training  : {_when(status.get('last_training'))}")
    failure = status.get("last_failure")
    if failure:
        lines.append(f"Last attempt   : {_failed(failure)}")
    decisions = status.get("decisions")  # in the host's process only (its bridge's queues)
    if decisions:
        lines.append(
            f"Decisions      : {decisions['delivered']:,} delivered to the plugins, "
            f"{decisions['waiting']:,} waiting, {decisions['dropped']:,} dropped"
        )
    for what, miner, made_by, current in older_miners(status):
        lines.append(
            f"{what.capitalize() + ' patterns':<15}: made by an older version ({miner} "
            f"{made_by}; this one's is {current}): option 1 mines them again, or says how"
        )
    for key in ("data_dir_error", "memory_error", "checkpoint_error", "metrics_error"):
        if status.get(key):
            lines.append(f"Problem        : {status[key]}")
    return lines


def format_answer(answer: Answer) -> list[str]:
    """Tier, confidence, latency, escalation and the answer text, one per line."""
    lines = [
        f"Tier       : {answer.tier}" + (f" ({answer.model})" if answer.model else ""),
        f"Confidence : {answer.confidence:.2f}",
        f"Latency    : {answer.latency_ms:,.0f} ms",
        "Escalated  : "
        + (f"yes - {answer.escalation_reason or 'to Qwen'}" if answer.escalated else "no"),
        f"Answer     : {answer.text.strip() or '(none)'}",
    ]
    if answer.error:
        lines.append(f"Error      : {answer.error}")
    return lines


def format_metrics(summary: dict[str, Any]) -> list[str]:
    """The metrics view for :meth:`MetricsStore.summary`."""
    lines = []
    runs = summary.get("training_runs") or {}
    failed = summary.get("failed_runs") or {}
    lines.append(
        "Training runs  : "
        + (", ".join(f"{k} {v}" for k, v in sorted(runs.items())) if runs else "none yet")
        + (
            f" (failed, not counted: {', '.join(f'{k} {v}' for k, v in sorted(failed.items()))})"
            if failed
            else ""
        )
    )
    lines.append(f"Lines processed: {summary.get('lines_processed', 0):,} (all runs)")
    last = summary.get("last_training")
    if last:
        lines.append(
            f"Last training  : {_when(last['ts'])} - {last['kind']}, "
            f"{last['lines_processed']:,} lines, {last['patterns_stored']:,} patterns stored"
        )
    else:
        lines.append("Last training  : never")
    failure = summary.get("last_failure")
    if failure:
        lines.append(f"Last attempt   : {_failed(failure)}")
    answers = summary.get("answers") or {}
    by_tier = answers.get("by_tier") or {}
    total = answers.get("answers", 0)
    # Qwen answers both escalations from Gemma and questions routed to it directly ("why…").
    qwen = (by_tier.get("qwen") or {}).get("answers", 0)
    lines.append(
        f"Answers        : {total:,}; by Qwen {qwen:,}"
        f" ({_pct(qwen / total if total else None)}), escalated from Gemma "
        f"{answers.get('escalated', 0):,} ({_pct(answers.get('escalation_rate'))})"
    )
    if by_tier:
        lines.append(f"  {'tier':<8} {'answers':>8} {'confidence':>10} {'p50 ms':>9} {'p95 ms':>9}")
        for tier, row in by_tier.items():
            p50 = "-" if row["p50_ms"] is None else f"{row['p50_ms']:,.0f}"
            p95 = "-" if row["p95_ms"] is None else f"{row['p95_ms']:,.0f}"
            lines.append(
                f"  {tier:<8} {row['answers']:>8,} {row['mean_confidence']:>10.2f} "
                f"{p50:>9} {p95:>9}"
            )
    ev = summary.get("last_eval")
    if ev:
        lines.append(f"Last evaluation: #{ev['id']} on {ev['dataset']} ({_when(ev['ts'])})")
        for t in ev["tiers"]:
            ece = "-" if t.get("ece") is None else f"{t['ece']:.3f}"
            lines.append(
                f"  {t['tier']:<8} accuracy {_pct(t['accuracy'])}, escalation "
                f"{_pct(t['escalation_rate'])}, ECE {ece}"
            )
    else:
        lines.append("Last evaluation: none (run `foundups-training eval QA.jsonl`)")
    return lines


# -- the menu ----------------------------------------------------------------------------------
#: Undecodable lines in a row after which :meth:`_Console.ask` takes the input as ended.
_UNREADABLE_LINES = 3
#: At most this much of an unknown choice is echoed back (a paste can be megabytes).
_ECHO_CHARS = 40


def _escape_undecodable(stream: TextIO) -> None:
    """Have a strict text ``stream`` pass on bytes that are not UTF-8 as lone surrogates,
    which :func:`readable` turns into U+FFFD, instead of raising.

    Python's stdin is strict under a UTF-8 locale such as en_US.UTF-8 (only C.UTF-8 and
    POSIX get ``surrogateescape``), and a strict ``readline`` raises UnicodeDecodeError for
    the whole chunk it decoded, good lines included: one latin-1 paste ended the menu. A
    stream can only be changed before its first read (not after a host's menu read its
    choice from it); :meth:`_Console.ask` then catches the error for the line.
    """
    reconfigure = getattr(stream, "reconfigure", None)
    if not callable(reconfigure) or getattr(stream, "errors", None) != "strict":
        return
    try:
        reconfigure(errors="surrogateescape")
    except Exception as exc:  # noqa: BLE001 - a stream that cannot change is read as it is
        log.debug("stdin keeps strict decoding: %s", exc)


class _Console:
    """Line-based I/O on any pair of text streams."""

    def __init__(self, stdin: TextIO, stdout: TextIO) -> None:
        self.stdin = stdin
        self.stdout = stdout
        _escape_undecodable(stdin)

    def say(self, *lines: str) -> None:
        for line in lines:
            # a pattern, an answer or an error may quote chat or log text: shown, not obeyed
            self.stdout.write(printable(line) + "\n")
        self.stdout.flush()

    def ask(self, prompt: str) -> str | None:
        """One line of input without its newline; None at end of input.

        A strict stream's undecodable input is lost with whatever it read along with it: the
        prompt is asked again, and after :data:`_UNREADABLE_LINES` such lines in a row the
        input counts as ended (nothing left that can be read)."""
        for _ in range(_UNREADABLE_LINES):
            self.stdout.write(prompt)
            self.stdout.flush()
            try:
                line = self.stdin.readline()
                break
            except UnicodeDecodeError:  # a strict stream _escape_undecodable could not change
                self.say("", "That input was not UTF-8 text and could not be read: type it again.")
        else:
            line = ""
        if not line:
            self.stdout.write("\n")
            return None
        # Bytes that are not UTF-8 (a paste from a latin-1 file) are replaced, not passed on
        # as lone surrogates that the tokenizer and the telemetry file refuse.
        return readable(line.rstrip("\r\n").strip())


class TrainingMenu:
    """The menu's state: one trainer, one console."""

    def __init__(self, trainer: Trainer, console: _Console) -> None:
        self.trainer = trainer
        self.io = console

    def _settle_metrics(self) -> None:
        """Let queued metrics rows land, so a view right after a run includes that run."""
        observer = getattr(self.trainer.metrics, "observer", None)
        if observer is not None:
            observer.flush(timeout=2.0)

    # header -----------------------------------------------------------------------------
    def _status(self) -> dict[str, Any]:
        """The trainer's status with :func:`log_position`'s view of the log."""
        status = self.trainer.status()
        try:
            position = log_position(self.trainer.settings.checkpoint_path)
        except Exception as exc:  # noqa: BLE001 - the status alone is still worth showing
            log.debug("log position unavailable: %s", exc)
            position = {}
        for key, value in position.items():
            status.setdefault(key, value)
        return status

    def header(self) -> None:
        # Settling opens the metrics store: one that cannot be opened (a newer schema, a
        # corrupt file) costs the header its metrics lines, not the patterns and progress.
        metrics_problem = ""
        try:
            self._settle_metrics()
        except Exception as exc:  # noqa: BLE001 - said below, once
            metrics_problem = f"{type(exc).__name__}: {exc}"
        status = self._status()
        done, total, changed = _log_lines(status)
        gemma_acc: float | None = None
        escalations: int | None = None  # "-" when unknown: never a made-up 0
        if not metrics_problem:
            try:
                summary = self.trainer.metrics.summary()
                escalations = summary["answers"]["escalated"]
                gemma = summary.get("last_gemma_eval")  # the last run may have left it out
                if gemma:
                    gemma_acc = gemma["accuracy"]
            except Exception as exc:  # noqa: BLE001 - a header must not stop the menu
                metrics_problem = f"{type(exc).__name__}: {exc}"
        if total is None:
            # a log there but not counted (too big, unreadable) is no "log not found"
            missing = (
                "log not found" if not status.get("log_found") else "the log could not be counted"
            )
            progress = f"{done:,} lines ({missing}: {status.get('log', '?')})"
        elif changed:
            progress = f"log {LOG_CHANGED.format(total=total)}"
        elif total:
            progress = f"{done:,}/{total:,} lines ({done / total * 100:.1f}%)"
        else:
            progress = f"{done:,} lines (the log is empty)"
        if status.get("store_locked_by"):  # not "0": the store holds patterns we cannot see
            patterns = f"unknown - the store is locked by {status['store_locked_by']}"
        elif status.get("memory_error"):
            patterns = "unknown - the store cannot be read (option 2 says why)"
        else:
            patterns = f"{status.get('patterns_total', 0):,}"
        failure = status.get("last_failure")
        self.io.say(
            "",
            "=" * 60,
            "[BOT] QWEN/GEMMA TRAINING SYSTEM  (foundups-training)",
            "=" * 60,
            f"Patterns stored : {patterns}",
            f"Log progress    : {progress}",
            f"Last training   : {_when(status.get('last_training'))}",
            *([f"Last attempt    : {_failed(failure, 60)}"] if failure else []),
            f"Gemma accuracy  : {_pct(gemma_acc)}",
            f"Qwen escalations: {'-' if escalations is None else f'{escalations:,}'}",
            *([f"Metrics         : unavailable - {metrics_problem}"] if metrics_problem else []),
            _RULE,
        )
        for key, label in OPTIONS:
            self.io.say(f"{key}. {label}")
        self.io.say(_RULE)

    # options ----------------------------------------------------------------------------
    def batch_training(self) -> None:
        default = self.trainer.settings.log_path
        answer = self.io.ask(f"Log file to mine [{default}]: ")
        if answer is None:
            return
        # Windows' "Copy as path" wraps the path in quotes: accept it as pasted.
        answer = answer.strip().strip('"').strip("'")
        path = Path(answer).expanduser() if answer else default
        if not path.is_file():
            self.io.say(f"No such log file: {path}")
            return
        self.io.say(f"[BATCH-TRAINING] Mining {path} (resumes from the checkpoint; Ctrl-C stops)")
        data = self._mine(path, remine=False)
        if not data or not data.get("older_patterns_kept"):
            return
        answer = self.io.ask(
            f"Mine {path} again from its first line, replacing the log's patterns that an "
            "older version made (patterns from the code and from live chat stay)? "
            "Type 'yes' to confirm: "
        )
        if (answer or "").lower() == "yes":
            self.io.say(f"[BATCH-TRAINING] Mining {path} again from its first line")
            self._mine(path, remine=True)

    def _mine(self, path: Path, *, remine: bool) -> dict[str, Any] | None:
        """One batch run with a progress bar, then its report; None when stopped."""
        # The miner reports (bytes done, file size): shown as sizes, not as lines.
        bar = Progress("mining", stream=self.io.stdout, unit="bytes")
        try:
            report = batch_train(
                self.trainer,
                path,
                host_root=default_host_root(self.trainer),
                progress=bar,
                remine=remine,
            )
        except KeyboardInterrupt:
            from foundups_training.mining.miner import FLUSH_SECONDS

            bar.close()
            self.io.say(
                "[BATCH-TRAINING] Stopped; what was read up to the last checkpoint (at most "
                f"{FLUSH_SECONDS:.0f} s ago) is kept, and the next run resumes there."
            )
            return None
        bar.close()
        data = _as_dict(report)
        self.io.say(
            f"[BATCH-TRAINING] Processed {data.get('lines_processed', 0):,} lines, stored "
            f"{data.get('patterns_stored', 0):,} patterns (memory now holds "
            f"{data.get('patterns_total', 0):,}, {data.get('verified', 0):,} verified) in "
            f"{float(data.get('duration_s', 0.0)):.1f} s"
        )
        for warning in data.get("warnings") or ():
            self.io.say(f"[BATCH-TRAINING] Warning: {warning}")
        return data

    def view_progress(self) -> None:
        with telemetry.command("training.status") as result:
            status = self._status()
            result.update(
                patterns_total=status.get("patterns_total"),
                lines_processed=status.get("lines_processed"),
            )
        self.io.say(*format_progress(status))

    def test_recall(self) -> None:
        query = self.io.ask("Query (what would you ask?): ")
        if not query:
            return
        with telemetry.command("training.recall", {"query": query}) as result:
            hits = self.trainer.memory.recall(query, 5)
            result["hits"] = len(hits)
            result["top_similarity"] = round(hits[0].similarity, 4) if hits else None
        if not hits:
            self.io.say("No patterns recalled (is the memory empty? try option 1).")
            return
        for i, hit in enumerate(hits, 1):
            p = hit.pattern
            where = f" [{p.module}]" if p.module else ""
            self.io.say(
                f"{i}. similarity {hit.similarity:.3f}  {p.kind}{where}",
                f"   context : {p.context[:160]}",
                f"   decision: {p.decision[:160]}",
            )
            if p.outcome:
                self.io.say(f"   outcome : {p.outcome[:160]}")

    def test_routing(self) -> None:
        query = self.io.ask("Query to route: ")
        if not query:
            return
        self.io.say("Thinking...")
        answer = routed_answer(self.trainer, Query(text=query, asked_by="menu"))
        self.io.say(*format_answer(answer))

    def view_metrics(self) -> None:
        self._settle_metrics()
        with telemetry.command("training.metrics") as result:
            summary = self.trainer.metrics.summary()
            result["answers"] = summary["answers"]["answers"]
        self.io.say(*format_metrics(summary))
        self.io.say("Dashboard: foundups-training report --out DIR (plots as one HTML page)")

    def clear_memory(self) -> None:
        count = self.trainer.memory.count()
        answer = self.io.ask(
            f"Delete all {count:,} patterns and the mining checkpoint? Type 'yes' to confirm: "
        )
        if (answer or "").lower() != "yes":
            self.io.say("Cancelled: nothing was deleted.")
            return
        with telemetry.command("training.clear", {"patterns": count}):
            self.trainer.clear()
        self.io.say(f"Cleared {count:,} patterns and the checkpoint (metrics history kept).")

    # loop -------------------------------------------------------------------------------
    def run(self) -> int:
        actions: dict[str, Callable[[], None]] = {
            "1": self.batch_training,
            "2": self.view_progress,
            "3": self.test_recall,
            "4": self.test_routing,
            "5": self.view_metrics,
            "6": self.clear_memory,
        }
        telemetry.emit("training.menu", "started")
        # The full header (stats + options) first and after anything that changes the stats;
        # otherwise one compact line, so an option's output stays on screen.
        full = True
        try:
            while True:
                if full:
                    self._show_header()
                else:
                    self.io.say("", _COMPACT)
                choice = self.io.ask("Select option: ")
                if choice is None or choice.lower() in _BACK:
                    return 0
                if choice == "":
                    full = True
                    continue
                action = actions.get(choice)
                if action is None:
                    shown = choice
                    if len(shown) > _ECHO_CHARS:
                        shown = shown[:_ECHO_CHARS] + "\N{HORIZONTAL ELLIPSIS}"
                    self.io.say(f"Unknown option {shown!r}: choose 0-6 (Enter shows the menu).")
                    full = False
                    continue
                full = choice in {"1", "6"}
                try:
                    action()
                except KeyboardInterrupt:
                    self.io.say("", "Interrupted.")
                except Exception as exc:  # one failing option keeps the menu
                    log.debug("menu option %s failed", choice, exc_info=True)
                    self.io.say(f"Error: {type(exc).__name__}: {exc}")
        except KeyboardInterrupt:
            self.io.say("")
            return 130
        finally:
            telemetry.emit("training.menu", "completed")

    def _show_header(self) -> None:
        try:
            self.header()
        except Exception as exc:  # noqa: BLE001 - show the options even when stats fail
            self.io.say(f"(status unavailable: {type(exc).__name__}: {exc})")
            for key, label in OPTIONS:
                self.io.say(f"{key}. {label}")


def run_menu(trainer: Trainer, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Run the interactive menu on ``trainer`` until "back" or end of input; returns 0.

    ``stdin``/``stdout`` default to the process's; the host's menu adapter and the tests pass
    their own streams. Returns 130 if interrupted at the prompt.
    """
    try:
        from foundups_training.metrics import attach_observers

        # Idempotent: the menu's answers and runs reach the metrics and telemetry files.
        attach_observers(trainer)
    except Exception as exc:  # noqa: BLE001 - the menu still works without metrics
        warn_failure(log, "metrics observers unavailable", exc)
    console = _Console(stdin or sys.stdin, stdout or sys.stdout)
    return TrainingMenu(trainer, console).run()
