"""A complete third-party plugin for foundups-training (see docs/plugins.md).

It counts live decisions and answers one kind of question itself. Register it in your own
distribution's pyproject.toml:

    [project.entry-points.foundups_training]
    shout = "shout_plugin"
"""

from __future__ import annotations

from foundups_training.hookspecs import hookimpl

from foundups_training.records import Answer, Decision, IdleBudget, IdleReport, Query

decisions_seen: list[str] = []


@hookimpl
def on_decision(decision: Decision) -> None:
    """Remember the id of every decision (cheap: never blocks the host)."""
    decisions_seen.append(decision.id)


@hookimpl
def on_idle(budget: IdleBudget) -> IdleReport | None:
    """This plugin does no idle work."""
    return None


@hookimpl(tryfirst=True)
def on_query(query: Query) -> Answer | None:
    """Answer questions that start with 'shout:'; leave the rest to the training plugin."""
    if not query.text.lower().startswith("shout:"):
        return None
    return Answer(text=query.text[6:].strip().upper(), tier="plugin", model="shout", confidence=1.0)
