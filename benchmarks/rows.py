"""Saving and printing a benchmark's rows: ``results/<name>-<time>.json`` and a table."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def save_rows(name: str, rows: list[dict[str, Any]]) -> Path:
    """Write ``rows`` (with the time) to ``results/<name>-<time>.json``, print them as a
    table and say where they went; returns the file."""
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "rows": rows}, indent=2))
    keys = list(rows[0]) if rows else []
    print(" | ".join(keys))
    for row in rows:
        print(" | ".join(str(row[k]) for k in keys))
    print(f"\nresults: {out}")
    return out
