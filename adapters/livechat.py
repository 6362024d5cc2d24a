"""Live chat: the AutoModeratorDAE pipeline's decisions become ``decision_made`` signals.

Wrapped (host module ``modules.communication.livechat.src``):

- ``message_processor.MessageProcessor.process_message`` (sync): the bot's classification of
  each chat message (trigger, MAGA, troll, command, superchat… or ignore);
- ``message_processor.MessageProcessor.generate_response`` (async): what the bot answered;
- ``event_handler.EventHandler.handle_timeout_event`` / ``handle_ban_event``: the human
  moderators' timeouts and bans (ground truth for moderation patterns);
- ``livechat_core.LiveChatCore.start_listening`` (async): a stream is live while it runs.

Each wrapper calls the original first and returns its result untouched; building the Decision
(a few dict reads) and sending the signal happen in :meth:`Instrumentor.observe`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any

from foundups_training.adapters.activity import ACTIVITY
from foundups_training.adapters.base import Instrumentor, Target, awaitable

from foundups_training.records import Decision

PROCESSOR = "modules.communication.livechat.src.message_processor"
EVENTS = "modules.communication.livechat.src.event_handler"
CORE = "modules.communication.livechat.src.livechat_core"

SOURCE = "live_chat"

#: Flags of the processed message that mean "the bot should react", in priority order.
_FLAG_ACTIONS: tuple[tuple[str, str], ...] = (
    ("is_superchat", "superchat"),
    ("has_maga", "maga_response"),
    ("has_factcheck", "factcheck"),
    ("has_shorts_command", "shorts_command"),
    ("has_m2j_command", "m2j_command"),
    ("has_whack_command", "whack_command"),
    ("has_consciousness", "consciousness"),
    ("has_trigger", "trigger"),
    ("is_troll", "troll"),
)
#: Events the processor hands to the EventHandler: observed there, not twice.
_EVENT_TYPES = frozenset({"timeout_event", "ban_event"})


def _arg(args: tuple[Any, ...], kwargs: Mapping[str, Any], name: str) -> Any:
    return args[0] if args else kwargs.get(name)


def _as_list(value: Any) -> list[Any]:
    """A host field meant to be a list: a lone string or number is one item, not its
    characters or a TypeError that would lose the whole decision."""
    if not value:
        return []
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        return [value]
    return list(value)


def _stream_of(instance: Any, fallback: str = "") -> str:
    for attr in ("stream_title", "channel_name", "video_id", "channel_id"):
        value = getattr(instance, attr, None)
        if value:
            return str(value)
    return fallback


def classify(processed: Mapping[str, Any]) -> tuple[str, list[str]]:
    """The bot's decision on a processed message: (action, the flags that led to it)."""
    flags = [name for name, _ in _FLAG_ACTIONS if processed.get(name)]
    if processed.get("is_rate_limited"):
        return "rate_limited", [*flags, "is_rate_limited"]
    for name, action in _FLAG_ACTIONS:
        if processed.get(name):
            return action, flags
    return "ignore", flags


def _role(processed: Mapping[str, Any]) -> str:
    if processed.get("is_owner"):
        return "owner"
    if processed.get("is_moderator"):
        return "moderator"
    if processed.get("is_member"):
        return "member"
    return "user"


def _chat_message(processed: Any, stream: str) -> tuple[str, str, dict[str, Any]] | None:
    """What every Decision about one chat message shares: (message id, stream, the author
    and text of its context); None for skips and messages without an id."""
    if not isinstance(processed, Mapping) or processed.get("skip"):
        return None
    message_id = str(processed.get("message_id") or "")
    if not message_id:
        return None
    context = {
        "author": str(processed.get("author_name") or ""),
        "author_id": str(processed.get("author_id") or ""),
        "role": _role(processed),
        "text": str(processed.get("text") or ""),
    }
    return message_id, stream or str(processed.get("live_chat_id") or ""), context


def message_decision(processed: Mapping[str, Any], stream: str) -> Decision | None:
    """The Decision for a processed chat message (None for skips and the bot's own)."""
    found = _chat_message(processed, stream)
    if found is None or processed.get("error"):
        return None
    message_id, stream, context = found
    action, flags = classify(processed)
    signals = _as_list(processed.get("troll_signals"))
    reasoning = ", ".join(flags + [f"troll_signal:{s}" for s in signals]) or "no trigger"
    return Decision(
        id=message_id,
        source=SOURCE,
        action=action,
        subject=context["author_id"],
        stream=stream,
        reasoning=reasoning,
        context={
            "stage": "message",
            **context,
            "published_at": str(processed.get("published_at") or ""),
            "flags": tuple(flags),
        },
    )


def response_text(response: Any) -> str:
    """The host may answer with a string, a list of strings, or None."""
    if response is None:
        return ""
    if isinstance(response, list | tuple):
        return "\n".join(str(r) for r in response if r)
    return str(response)


def response_decision(processed: Mapping[str, Any], response: Any, stream: str) -> Decision | None:
    """The Decision for what the bot answered to a processed message."""
    found = _chat_message(processed, stream)
    if found is None:
        return None
    message_id, stream, context = found
    text = response_text(response)
    return Decision(
        id=message_id,
        source=SOURCE,
        action="respond" if text else "no_response",
        subject=context["author_id"],
        stream=stream,
        outcome=text,
        context={"stage": "response", **context, "response": text},
    )


def moderation_decision(
    kind: str, event: Mapping[str, Any], result: Any, stream: str
) -> Decision | None:
    """The Decision for a human moderator's timeout or ban (None for stale replays)."""
    if not isinstance(event, Mapping):
        return None
    if isinstance(result, Mapping) and str(result.get("reason", "")).startswith("old_buffered"):
        return None  # the host skipped a replay of an old event; it was seen when it was new
    target_id = str(event.get("target_channel_id") or event.get("target_id") or "")
    target = str(event.get("target_name") or "")
    published = str(event.get("published_at") or "")
    moderator = str(event.get("moderator_name") or "")
    event_id = str(event.get("id") or f"{kind}:{target_id or target}:{published}")
    announcement = result.get("announcement") if isinstance(result, Mapping) else None
    return Decision(
        id=event_id,
        source=SOURCE,
        action=kind,
        subject=target_id or target,
        stream=stream,
        confidence=1.0,  # a human moderator's call: ground truth
        reasoning=f"human moderator {moderator}".strip(),
        outcome="executed",
        context={
            "stage": "moderation",
            "author": target,
            "author_id": target_id,
            "moderator": moderator,
            "moderator_id": str(event.get("moderator_id") or ""),
            "duration_seconds": event.get("duration_seconds"),
            "is_permanent": bool(event.get("is_permanent", kind == "ban")),
            "text": str(event.get("deleted_text") or ""),
            "published_at": published,
            "is_live": event.get("is_live"),
            "announcement": str(announcement or ""),
        },
    )


class LiveChatInstrumentor(Instrumentor):
    """Turns the live-chat pipeline's decisions into ``decision_made`` signals."""

    name = "livechat"
    targets = (
        Target(PROCESSOR, "MessageProcessor.process_message", "_wrap_process_message"),
        Target(PROCESSOR, "MessageProcessor.generate_response", "_wrap_generate_response"),
        Target(EVENTS, "EventHandler.handle_timeout_event", "_wrap_timeout"),
        Target(EVENTS, "EventHandler.handle_ban_event", "_wrap_ban"),
        Target(CORE, "LiveChatCore.start_listening", "_wrap_start_listening"),
    )

    # -- sync: MessageProcessor.process_message --------------------------------------------------
    def _wrap_process_message(
        self, wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict
    ) -> Any:
        result = wrapped(*args, **kwargs)
        self.observe("process_message", self._after_message, instance, args, kwargs, result)
        return result

    def _after_message(self, instance: Any, args: tuple, kwargs: dict, result: Any) -> None:
        ACTIVITY.touch()
        message = _arg(args, kwargs, "message")
        if isinstance(message, Mapping) and message.get("type") in _EVENT_TYPES:
            return  # the EventHandler wrapper reports it
        if not isinstance(result, Mapping):
            return  # None: the bot's own message
        decision = message_decision(result, _stream_of(instance))
        if decision is not None:
            self.emit(decision)

    # -- async: MessageProcessor.generate_response ------------------------------------------------
    def _wrap_generate_response(
        self, wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict
    ) -> Any:
        # Call now (argument errors surface exactly as unwrapped); observe after the await.
        coro = wrapped(*args, **kwargs)
        processed = _arg(args, kwargs, "processed_message")
        if not awaitable(coro):
            # A plain value (the method became sync, or a stand-in returns one): wrapping it
            # in a coroutine would hand the host something else than the original returned.
            self.observe("generate_response", self._emit_response, instance, processed, coro)
            return coro
        return self._after_response(coro, instance, processed)

    async def _after_response(
        self, coro: Coroutine[Any, Any, Any], instance: Any, processed: Any
    ) -> Any:
        response = await coro
        self.observe("generate_response", self._emit_response, instance, processed, response)
        return response

    def _emit_response(self, instance: Any, processed: Any, response: Any) -> None:
        decision = response_decision(processed, response, _stream_of(instance))
        if decision is not None:
            self.emit(decision)

    # -- sync: EventHandler.handle_timeout_event / handle_ban_event ---------------------
    def _wrap_timeout(
        self, wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict
    ) -> Any:
        result = wrapped(*args, **kwargs)
        self.observe("handle_timeout_event", self._after_event, "timeout", args, kwargs, result)
        return result

    def _wrap_ban(
        self, wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict
    ) -> Any:
        result = wrapped(*args, **kwargs)
        self.observe("handle_ban_event", self._after_event, "ban", args, kwargs, result)
        return result

    def _after_event(self, kind: str, args: tuple, kwargs: dict, result: Any) -> None:
        ACTIVITY.touch()
        event = _arg(args, kwargs, "event")
        decision = moderation_decision(kind, event, result, "")
        if decision is not None:
            self.emit(decision)

    # -- async: LiveChatCore.start_listening ------------------------------------------------------
    def _wrap_start_listening(
        self, wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict
    ) -> Any:
        coro = wrapped(*args, **kwargs)
        if not awaitable(coro):
            return coro  # not a coroutine: nothing runs "while" it listens; returned as it is
        return self._listening(coro, instance)

    async def _listening(self, coro: Coroutine[Any, Any, Any], instance: Any) -> Any:
        self.observe("start_listening", ACTIVITY.stream_started, instance)
        try:
            return await coro
        finally:
            self.observe("stop_listening", ACTIVITY.stream_ended, instance)
