"""``foundups-training eval QA.jsonl``: accuracy, escalation, calibration and latency per tier."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from foundups_training.cli import CliError, emit
from foundups_training.config import Settings

if TYPE_CHECKING:
    from foundups_training.evaluation import EvalReport
    from foundups_training.models.calibration import Calibration


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Evaluate the QA file on the chosen tiers; ``--calibrate`` fits and saves calibration."""
    from foundups_training.engine import Trainer
    from foundups_training.evaluation import QAFileError, evaluate, format_report, load_qa

    try:
        items = load_qa(args.qa)
    except QAFileError as exc:
        raise CliError(str(exc)) from None
    if args.limit is not None:
        if args.limit < 1:
            raise CliError("--limit must be at least 1")
        items = items[: args.limit]
    tiers = [t.strip() for t in str(args.tiers).split(",") if t.strip()]
    unknown = [t for t in tiers if t not in ("routed", "memory", "gemma", "qwen")]
    if unknown or not tiers:
        raise CliError(f"--tiers: unknown tier(s) {', '.join(unknown) or '(none)'}")
    out = Path(args.out).expanduser() if args.out else None
    if out is not None:
        # An evaluation takes seconds a question: find out now, not after it, that the
        # per-item file cannot be written.
        problem = _unwritable(out) or _same_file(out, Path(args.qa))
        if problem:
            raise CliError(f"--out {out}: {problem}")

    from foundups_training.progress import progress_for

    with Trainer(settings, read_only=True) as trainer:
        router = trainer.router
        with progress_for(args, "evaluating") as bar:
            report = evaluate(router, items, tiers, progress=bar)
        if args.calibrate:
            report.calibration = calibrate(report, router.calibration, settings.calibration_path)
        try:  # the dashboard plots every evaluation run; a metrics failure loses no result
            trainer.metrics.record_eval_report(report, Path(args.qa).name)
        except Exception as exc:  # noqa: BLE001
            print(f"note: evaluation not recorded in the metrics store: {exc}", file=sys.stderr)
    # The report first: a failure to write the per-item file must not lose it.
    emit(args, report.to_json(), format_report(report))
    if out is not None:
        try:
            report.write_items(out)
        except OSError as exc:
            raise CliError(
                f"--out {out}: cannot write the per-item results ({exc.strerror or exc}); "
                "the report above is complete",
                code=1,
            ) from None
    return 0


def calibrate(report: EvalReport, calibration: Calibration, path: Path) -> dict[str, Any]:
    """Fit ``calibration`` on the report and save it at ``path`` when a curve was fitted;
    the summary for the report.

    Only a fitted curve is worth a file: the summary also holds entries that are no curve
    (``skipped (too few samples)``), and saving on those wrote the curves in use, the
    shipped ones, into the data directory, where they then hid every later shipped fit.
    """
    from foundups_training.evaluation import fit_calibration

    summary = fit_calibration(report, calibration)
    if not any(isinstance(v, dict) and "method" in v for v in summary.values()):
        return {**summary, "note": "nothing fitted: run the forced tiers on more questions"}
    calibration.save(path)
    return summary


def _same_file(out: Path, qa: Path) -> str:
    """Why ``out`` must not be written: it is the question file, which writing the per-item
    results over would destroy (empty when it is not)."""
    try:
        same = out.exists() and out.samefile(qa)
    except OSError:
        return ""
    return "is the question file itself; name another file" if same else ""


def _unwritable(out: Path) -> str:
    """Why ``out`` cannot be written as a file, or "" when it looks writable.

    Nothing is created: the folders ``write_items`` would make are judged by the nearest
    one that exists.
    """
    if out.is_dir():
        return "is a directory; name a file in it, e.g. " + str(out / "items.jsonl")
    if out.exists():
        return "" if os.access(out, os.W_OK) else "the file cannot be written (permission)"
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is a file, not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot create files in {parent} (permission)"
    return ""
