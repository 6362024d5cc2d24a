"""``status``: what has been learned so far, gathered from every part that exists."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from foundups_training.engine import Trainer

log = logging.getLogger(__name__)


def _checkpoint_summary(trainer: Trainer) -> dict[str, Any]:
    path = trainer.settings.checkpoint_path
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {"checkpoint_error": f"unreadable checkpoint {path}: {exc}"}
    return data if isinstance(data, dict) else {}


def collect_status(trainer: Trainer) -> dict[str, Any]:
    """Patterns by kind/source, lines processed, last training; never raises."""
    settings = trainer.settings
    status: dict[str, Any] = {
        "data_dir": str(settings.data_dir),
        "store": settings.chroma_url or str(settings.chroma_dir),
        "patterns_total": 0,
        "by_kind": {},
        "by_source": {},
        "verified": 0,
        "lines_processed": 0,
        "last_training": None,
    }
    try:
        stats = trainer.memory.stats()
        status["patterns_total"] = stats.get("total", 0)
        status["by_kind"] = stats.get("by_kind", {})
        status["by_source"] = stats.get("by_source", {})
        status["verified"] = stats.get("verified", 0)
    except Exception as exc:  # noqa: BLE001 - status reports problems, it does not fail
        status["memory_error"] = f"{type(exc).__name__}: {exc}"
    checkpoint = _checkpoint_summary(trainer)
    if "checkpoint_error" in checkpoint:
        status["checkpoint_error"] = checkpoint["checkpoint_error"]
    status["lines_processed"] = int(checkpoint.get("lines_processed", 0) or 0)
    status["last_training"] = checkpoint.get("updated_at")
    status["log"] = checkpoint.get("path", str(settings.log_path))
    return status
