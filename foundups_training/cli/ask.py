"""``foundups-training ask "QUERY"``: a routed answer, through the ``on_query`` hook.

The question goes through the plugin manager exactly as a host DAE's would, so whichever
plugin answers ``on_query`` (by default this distribution's training plugin: Trainer.ask →
Router) answers here too, and the answer is sent to the ``answer_given`` observers (the
metrics count it) as the bridge sends a host's. A question with bytes that are not UTF-8 is
asked with those bytes replaced (see :func:`foundups_training.cli.readable`), and says so on
stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from foundups_training import signals
from foundups_training.cli import CliError, emit, hand_to_plugins, printable, readable
from foundups_training.config import Settings
from foundups_training.logs import warn_failure
from foundups_training.records import Answer, Query

log = logging.getLogger(__name__)

#: The sender of this verb's ``answer_given`` (the bridge's is "bridge", the menu's "menu").
SENDER = "cli"

#: Pattern ids the text answer lists when ``-n`` is not given (``--json`` lists them all).
DEFAULT_PATTERNS_SHOWN = 5


def answer_dict(answer: Answer, max_patterns: int | None = None) -> dict[str, Any]:
    """The JSON shape of an answer (stable keys for scripts); ``patterns`` lists the ids of
    the patterns behind it, chosen answer's first (at most ``max_patterns``)."""
    return {
        "answer": answer.text,
        "tier": answer.tier,
        "model": answer.model,
        "confidence": answer.confidence,
        "escalated": answer.escalated,
        "escalation_reason": answer.escalation_reason,
        "latency_ms": answer.latency_ms,
        "patterns": list(answer.patterns[:max_patterns]),
        "error": answer.error,
    }


def _text(answer: Answer, max_patterns: int = DEFAULT_PATTERNS_SHOWN) -> str:
    lines = [answer.text or "(no answer)"]
    how = f"{answer.tier}" + (
        f" ({answer.model})" if answer.model and answer.model != answer.tier else ""
    )
    meta = f"-- {how}, confidence {answer.confidence:.2f}, {answer.latency_ms:.0f} ms"
    if answer.escalated:
        meta += f", escalated: {answer.escalation_reason}"
    lines.append(meta)
    if answer.patterns:
        lines.append(f"-- patterns: {', '.join(answer.patterns[:max_patterns])}")
    if answer.error:
        lines.append(f"-- problem: {answer.error}")
    return "\n".join(lines)


def tell_observers(query: Query, answer: Answer) -> None:
    """Send ``answer_given`` for ``answer``; never raises.

    ``on_query`` itself tells no observer (the bridge and the menu send the signal for the
    host's and the menu's questions), so without this no ``ask`` reached the metrics. The
    verb's store and the training plugin's Trainer's both open this data directory's
    metrics file here, but a process has one observer per file
    (:func:`~foundups_training.metrics.attach_observers`), so a plain ``send`` records the
    answer once; closing the verb's store writes it before the process exits.
    """
    try:
        signals.answer_given.send(SENDER, query=query, answer=answer)
    except Exception as exc:  # noqa: BLE001 - an observer never costs the caller its answer
        warn_failure(log, "answer_given receiver failed", exc)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Ask one question; exit 0 with an answer, 1 when nothing could answer."""
    shown = args.patterns
    if shown is not None and shown < 1:
        raise CliError("-n/--patterns must be at least 1")
    text = readable(args.query)
    if text != args.query:
        print(
            "note: the question holds bytes that are not UTF-8; each was replaced by "
            f"\N{REPLACEMENT CHARACTER}: {printable(text)}",
            file=sys.stderr,
        )
    from foundups_training.plugins import get_plugin_manager

    hand_to_plugins(settings)
    query = Query(
        text=text, tier=args.tier, n_patterns=shown or DEFAULT_PATTERNS_SHOWN, asked_by="cli"
    )
    answer = get_plugin_manager().call_safely("on_query", query=query)
    if answer is None:
        raise CliError("no plugin answered (is the training plugin disabled?)", code=1)
    tell_observers(query, answer)
    emit(args, answer_dict(answer, shown), _text(answer, shown or DEFAULT_PATTERNS_SHOWN))
    return 0 if answer.text else 1
