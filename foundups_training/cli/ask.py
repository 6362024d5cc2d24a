"""``foundups-training ask "QUERY"``: a routed answer, through the ``on_query`` hook.

The question goes through the plugin manager exactly as a host DAE's would, so whichever
plugin answers ``on_query`` (by default this distribution's training plugin: Trainer.ask →
Router) answers here too.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from foundups_training.cli import CliError, emit
from foundups_training.config import Settings
from foundups_training.records import Answer, Query


def answer_dict(answer: Answer) -> dict[str, Any]:
    """The JSON shape of an answer (stable keys for scripts)."""
    return {
        "answer": answer.text,
        "tier": answer.tier,
        "model": answer.model,
        "confidence": answer.confidence,
        "escalated": answer.escalated,
        "escalation_reason": answer.escalation_reason,
        "latency_ms": answer.latency_ms,
        "patterns": list(answer.patterns),
        "error": answer.error,
    }


def _text(answer: Answer) -> str:
    lines = [answer.text or "(no answer)"]
    how = f"{answer.tier}" + (
        f" ({answer.model})" if answer.model and answer.model != answer.tier else ""
    )
    meta = f"-- {how}, confidence {answer.confidence:.2f}, {answer.latency_ms:.0f} ms"
    if answer.escalated:
        meta += f", escalated: {answer.escalation_reason}"
    lines.append(meta)
    if answer.patterns:
        lines.append(f"-- patterns: {', '.join(answer.patterns[:5])}")
    if answer.error:
        lines.append(f"-- problem: {answer.error}")
    return "\n".join(lines)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Ask one question; exit 0 with an answer, 1 when nothing could answer."""
    from foundups_training.plugins import get_plugin_manager

    # The training plugin builds its Trainer from the environment: hand it this
    # invocation's --data-dir / --config the same way.
    os.environ["FOUNDUPS_TRAINING_HOME"] = str(settings.data_dir)
    if settings.config_file is not None:
        os.environ["FOUNDUPS_TRAINING_CONFIG"] = str(settings.config_file)
    query = Query(text=args.query, tier=args.tier, n_patterns=args.patterns, asked_by="cli")
    answer = get_plugin_manager().call_safely("on_query", query=query)
    if answer is None:
        raise CliError("no plugin answered (is the training plugin disabled?)", code=1)
    emit(args, answer_dict(answer), _text(answer))
    return 0 if answer.text else 1
