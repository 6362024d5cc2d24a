"""Helpers for the reliability tests: real CLI processes, store snapshots, test logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from foundups_training.config import Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
SAMPLE_LOG = REPO / "foundups_training" / "samples" / "012_sample.txt"
KILLPOINT = Path(__file__).resolve().parent / "killpoint.py"

#: What "the same pattern" means when two stores are compared: everything but the embedding.
Snapshot = dict[str, tuple[Any, ...]]


def sample_lines(n: int, start: int = 0) -> list[str]:
    """``n`` real-format lines of the shipped sample log (from line ``start``)."""
    lines = SAMPLE_LOG.read_text(encoding="utf-8").splitlines(keepends=True)
    return lines[start : start + n]


def write_log(path: Path, n: int, start: int = 0) -> Path:
    """A log of ``n`` sample lines at ``path``."""
    path.write_text("".join(sample_lines(n, start)), encoding="utf-8")
    return path


def settings_for(data_dir: Path) -> Settings:
    """Settings for a data directory, with no environment influence."""
    return load_settings({"data_dir": data_dir}, env={})


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child CLI process: no user settings leak in, no colour.

    The session's models folder is kept, so children never assemble into the user's cache."""
    env = {
        k: v
        for k, v in os.environ.items()
        if (not k.startswith("FOUNDUPS_TRAINING_") or k == "FOUNDUPS_TRAINING_MODELS_DIR")
        and k != "PYTEST_CURRENT_TEST"
    }
    env.update(PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


def cli_cmd(*args: str | Path) -> list[str]:
    """``python -m foundups_training ARGS`` with this interpreter (the installed package)."""
    return [sys.executable, "-m", "foundups_training", *map(str, args)]


def run_cli(*args: str | Path, timeout: float = 300, **popen: Any) -> subprocess.CompletedProcess:
    """Run the CLI to completion in its own process; stdout/stderr captured as text."""
    return subprocess.run(
        cli_cmd(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=popen.pop("env", child_env()),
        cwd=REPO,
        **popen,
    )


def mine_json(log: Path, data_dir: Path, *extra: str) -> dict[str, Any]:
    """``mine LOG --data-dir D --json``: the report, asserting a clean exit."""
    done = run_cli("mine", log, "--data-dir", data_dir, "--json", *extra)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def snapshot(data_dir: Path) -> Snapshot:
    """Every pattern mined from the log, read through the memory API (read-only).

    Command patterns (source "telemetry") are left out on purpose: a killed and resumed run
    really did run more commands than an uninterrupted one, and they say so.
    """
    from foundups_training.memory import open_memory

    with open_memory(settings_for(data_dir), read_only=True) as memory:
        return snapshot_of(memory, {"source": "log"})


def snapshot_of(memory: Any, where: dict[str, Any] | None = None) -> Snapshot:
    """Every stored pattern of an open memory (optionally filtered)."""
    return {
        p.id: (
            p.kind,
            p.seen,
            p.outcome,
            p.first_seen,
            p.last_seen,
            p.verified,
            p.decision,
            p.context,
            p.module,
        )
        for p in memory.all_patterns(where)
    }


def checkpoint(data_dir: Path) -> dict[str, Any]:
    """The checkpoint file as JSON ({} when there is none)."""
    path = data_dir / "checkpoint.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


#: Kinds left out of comparisons: ``command`` patterns are mined from the plugin's own
#: telemetry (one per finished run), so a log mined in N runs has more of them by design.
RUN_KINDS = frozenset({"command"})


def diff(a: Snapshot, b: Snapshot) -> list[str]:
    """Readable differences between two snapshots (empty when equal), run kinds left out."""
    a = {pid: v for pid, v in a.items() if v[0] not in RUN_KINDS}
    b = {pid: v for pid, v in b.items() if v[0] not in RUN_KINDS}
    out = [f"only in first: {pid} {a[pid][:2]}" for pid in sorted(set(a) - set(b))]
    out += [f"only in second: {pid} {b[pid][:2]}" for pid in sorted(set(b) - set(a))]
    out += [
        f"{pid}: {a[pid][:6]} != {b[pid][:6]}"
        for pid in sorted(set(a) & set(b))
        if a[pid] != b[pid]
    ]
    return out
