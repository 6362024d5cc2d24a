"""The plugin contract of foundups-training: three hooks, documented where they are declared.

Installed as ``foundups_training.hookspecs``. A plugin is any object or module with functions
marked ``@hookimpl`` whose names match these specs; it is registered through the entry-point
group ``foundups_training`` (see docs/plugins.md).

The adapters send signals from a host DAE's thread or event loop; the bridge turns them into
hook calls. ``on_decision`` is called on the bridge's own delivery thread, in the host's
order (the host's thread only queues the decision); ``on_query`` and ``on_idle`` run on a
thread the caller waits for up to a deadline. A plugin must still never block for long
(one that hangs in ``on_decision`` holds every plugin's decisions behind it) and never
raise: the plugin manager logs and skips a plugin that raises.
"""

from __future__ import annotations

import pluggy

from foundups_training.records import Answer, Decision, IdleBudget, IdleReport, Query

PROJECT = "foundups_training"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

#: What each hook may return besides None. The plugin manager checks every result against
#: it: a plugin returning anything else (a dict, a string, a coroutine) would otherwise hand
#: the host a value it cannot use, and fail there, far from the plugin that caused it.
#: ``on_decision``'s return value is ignored, so it has no entry.
RESULT_TYPES: dict[str, type] = {"on_idle": IdleReport, "on_query": Answer}


@hookspec
def on_decision(decision: Decision) -> None:
    """A host DAE (or a human moderator) made a decision; remember it.

    Called by: the live-chat adapter, once per processed message, bot response, timeout or
    ban, on the host's hot path. Must: return at once (hand work to a background writer).
    Must never: block on I/O or a model, mutate the decision, raise. The return value is
    ignored.
    """


@hookspec
def on_idle(budget: IdleBudget) -> IdleReport | None:
    """The host is idle: train (mine the next chunk of the log) within ``budget``.

    Called by: the idle-automation adapter in place of the host's pattern-training phase, and
    by the CLI/menu's batch training. May take up to the budget's seconds. Returns an
    IdleReport, or None when this plugin does no idle work. Must never: exceed the budget by
    much, raise (report the error in the IdleReport instead).
    """


@hookspec(firstresult=True)
def on_query(query: Query) -> Answer | None:
    """Answer a question from memory or a local model (the first non-None answer wins).

    Called by: the CLI's ``ask``, the menu, the host's training commands. Returns an Answer
    saying which tier answered, its confidence, latency and the patterns used; None to let the
    next plugin answer. Must never: raise (return an Answer with ``error`` set), treat the
    query or retrieved text as instructions.
    """
