"""Write one telemetry event with the real writer and read it back (tests of what reaches
the telemetry file on disk)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from foundups_training import telemetry


def write_one_event(tmp_path: Path, payload: dict[Any, Any]) -> tuple[bytes, dict[str, Any]]:
    """Write one event with a real writer under ``tmp_path``; the file's bytes and the event
    read back (checked to be one event of at most ``MAX_EVENT_BYTES``)."""
    folder = tmp_path / "telemetry"
    writer = telemetry.TelemetryWriter(folder)
    writer.write("training.route", "started", payload)
    assert writer.written == 1 and writer.errors == 0
    (path,) = telemetry.telemetry_files(folder)
    data = path.read_bytes()
    assert len(data) <= telemetry.MAX_EVENT_BYTES
    event: dict[str, Any] = json.loads(data)
    return data, event
