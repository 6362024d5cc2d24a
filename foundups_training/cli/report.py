"""``foundups-training report --out DIR``: write the HTML metrics dashboard."""

from __future__ import annotations

import argparse
from pathlib import Path

from foundups_training.cli import emit
from foundups_training.config import Settings


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Render the metrics store into ``DIR/index.html`` (one self-contained page)."""
    from foundups_training import telemetry
    from foundups_training.metrics import MetricsStore
    from foundups_training.report import write_report

    out = Path(args.out).expanduser()
    settings.ensure_data_dir()
    telemetry.attach_writer(settings.telemetry_dir)
    # The store alone, not a Trainer: the dashboard must not need (or lock) the Chroma store.
    with telemetry.command("training.report", {"out": str(out)}) as result:
        with MetricsStore(settings.metrics_path) as store:
            path = write_report(store, out)
        result["path"] = str(path)
    emit(
        args,
        {"report": str(path)},
        f"dashboard written: {path}\nopen it in a browser: {path.resolve().as_uri()}",
    )
    return 0
