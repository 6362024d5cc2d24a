"""``foundups-training report --out DIR``: write the HTML metrics dashboard.

It only reads the metrics: it works on a data directory this process cannot write (another
account's, a backup); its own ``training.report`` telemetry is written only where it can be.
It never creates the data directory: a missing one is a typo, refused as ``status`` words it.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from foundups_training.cli import CliError, can_write, emit
from foundups_training.config import Settings
from foundups_training.status import no_data_dir


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Render the metrics store into ``DIR/index.html`` (one self-contained page)."""
    from foundups_training import telemetry
    from foundups_training.metrics import MetricsStore
    from foundups_training.report import write_report

    if not settings.data_dir.is_dir():  # main() has refused a file already
        # Not an empty "no data yet" page, exit 0: that reads as "nothing was learned".
        raise CliError(no_data_dir(settings.data_dir))
    out = Path(args.out).expanduser()
    if out.exists() and not out.is_dir():
        raise CliError(f"--out {out} is a file: the dashboard is a folder (index.html inside)")
    with _telemetry_where_writable(settings):
        # The store alone, not a Trainer: the dashboard must not need (or lock) the Chroma
        # store; read-only, so that reading creates, migrates or writes nothing.
        with telemetry.command("training.report", {"out": str(out)}) as result:
            with MetricsStore(settings.metrics_path, read_only=True) as store:
                path = write_report(store, out)
            result["path"] = str(path)
    text = f"dashboard written: {path}\nopen it in a browser: {path.resolve().as_uri()}"
    emit(args, {"report": str(path)}, text)
    return 0


@contextlib.contextmanager
def _telemetry_where_writable(settings: Settings) -> Iterator[Any]:
    """The telemetry writer on the data directory while the report is made, when this
    process may write there; else no telemetry, and no warning: reading is allowed."""
    from foundups_training import telemetry

    if not can_write(settings.data_dir):
        yield None
        return
    writer = telemetry.attach_writer(settings.telemetry_dir)
    try:
        yield writer
    finally:
        telemetry.detach_writer(settings.telemetry_dir)
