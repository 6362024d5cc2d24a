"""Telemetry in the shape of the host's Holo Command Interface draft: JSONL events.

Every verb (``training.batch``, ``training.index``, ``training.status``, ``training.recall``,
``training.route``, ``training.metrics``, ``training.clear``, ``training.report``,
``training.demo``, ``training.menu`` …) sends the blinker ``telemetry`` signal through
:func:`foundups_training.signals.emit_telemetry`; a :class:`TelemetryWriter` subscribed to that
signal appends one JSON object per line to ``<data dir>/telemetry/telemetry-YYYYMMDD.jsonl``::

    {"timestamp": "2026-11-26T19:06:19.123+00:00", "daemon": "foundups_training",
     "command": "training.batch", "event": "completed", "payload": {...}}

``event`` is ``started`` / ``completed`` / ``failed`` for a verb wrapped in :func:`command`, or
any word for a one-off event. The miner reads these files too, so the models learn the chain
of commands as well as the log. One file per UTC day keeps files small and lets an operator
delete old days by hand.

Use from a verb::

    with telemetry.command("training.recall", {"query": q}) as result:
        hits = trainer.memory.recall(q, 5)
        result["hits"] = len(hits)
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from foundups_training import signals
from foundups_training.logs import warn_failure

log = logging.getLogger(__name__)

#: The ``daemon`` field of every event this package writes.
DAEMON = "foundups_training"
#: File name pattern inside the telemetry directory (one file per UTC day).
FILE_GLOB = "telemetry-*.jsonl"
#: The longest line an event is written as (bytes, newline included): the longer strings of
#: a bigger payload are cut (see :func:`encode_event`). The command miner reads lines of up
#: to 64 KiB and took a longer one for a line still being written, so it mined nothing more
#: of that day file.
MAX_EVENT_BYTES = 16 * 1024
#: How long each string of a payload is cut to, in turn, until the event fits.
_CUT_CHARS = (2000, 200, 20)
#: The longest string redacted whole (see :func:`_redacted`): longer than any event line,
#: so a longer string is always cut, and well beyond the longest cut.
_REDACT_CHARS = MAX_EVENT_BYTES + 512
#: How far past a cut a string is redacted (a secret across the cut loses its characters).
_REDACT_MARGIN = 512
#: The most characters of one payload redacted in all (a safety net: what the forms an
#: event may hold take is far less, unless redaction shrinks thousands of strings).
_REDACT_BUDGET = 4 * _REDACT_CHARS
#: A string (a key or a value) this short is redacted without drawing on the budget: the
#: budget bounds the work that long strings make, and a short one costs little, while the
#: bytes counted for the forms already bound how many are redacted (each item counts at
#: least its ``[REDACTED]``). So field names ("n_patterns_kept") and short values written
#: after long ones keep their text, and a short secret among them is still redacted.
_FREE_CHARS = 64

#: How deep a payload's containers (dicts, lists, tuples) may nest, the payload itself being
#: level 1; a container deeper is written as :data:`_DEEP_CUT`. The writer runs in the
#: sender's thread, at whatever depth the host's own calls have reached, and its walks and
#: json take one or two frames a level against Python's 1,000: a payload 500 levels deep
#: (fewer from deep in the host's stack) lost its whole event to a ``RecursionError``. 100
#: levels take about 210 frames, which leaves the host the rest, and are far more than any
#: verb sends (three).
MAX_DEPTH = 100
#: What a container nested deeper than :data:`MAX_DEPTH` is written as.
_DEEP_CUT = f"<cut: nested deeper than {MAX_DEPTH}>"

#: The verbs this package emits (others may add their own ``training.*`` names).
COMMANDS: tuple[str, ...] = (
    "training.batch",
    "training.index",
    "training.idle",
    "training.live",
    "training.status",
    "training.recall",
    "training.route",
    "training.eval",
    "training.metrics",
    "training.clear",
    "training.report",
    "training.demo",
    "training.menu",
)


def now_iso() -> str:
    """The current time as ISO 8601 UTC with milliseconds (what ``timestamp`` holds)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def make_event(
    command: str,
    event: str,
    payload: dict[str, Any] | None = None,
    *,
    daemon: str = DAEMON,
    timestamp: str | None = None,
) -> dict[str, Any]:
    """One telemetry event as a dict with exactly the five fields of the host's draft."""
    return {
        "timestamp": timestamp or now_iso(),
        "daemon": daemon,
        "command": command,
        "event": event,
        "payload": dict(payload or {}),
    }


def _redacted(value: Any) -> Any:
    """``value`` with the secrets of every string in it redacted, as the miner redacts a log
    line: an operator pastes log lines, keys included, into the questions it records.

    Only what an event can hold is redacted: redacting all of a huge payload let it stall
    the sender's thread (1 MB of ``key=`` took 20 s, and 2,000 strings of 1,000 took 17 s).
    :func:`encode_event` writes the whole payload when it fits, or else the first of its
    forms cut by :func:`_cut` that fits. While walking, the least number of bytes each form
    takes so far is counted; a part that only forms already over :data:`MAX_EVENT_BYTES`
    hold is never written, and becomes spaces that encode to as many bytes, so the event's
    ``cut`` still tells how long the line was.

    A string is redacted in its first :data:`_REDACT_CHARS` characters while the whole
    payload may still fit, else in its first ``limit + _REDACT_MARGIN`` (``limit``: the
    longest cut that may still hold it); the rest becomes spaces in the same way. Past
    :data:`_REDACT_BUDGET` characters in all, a string is written as ``[REDACTED]``.

    A dict's keys are redacted the same way, within the same caps and budget (a caller puts
    a header or a ``key=value`` pair in a key as easily as in a value); see :func:`_key_text`
    and :class:`_KeyNames`; a string of at most :data:`_FREE_CHARS` characters, key or value,
    leaves the budget alone. The items of a dict that no event holds become one item of as many
    bytes, keyed ``""``. A value json would write through ``str`` (a path, a date, a host's
    object) is that text, redacted as a string is; see :func:`_writable`. A container nested
    deeper than :data:`MAX_DEPTH`, or met again inside itself, is cut as :func:`_bounded` cuts
    it; so is a part no event holds, which is only sized, where json cannot size it."""
    from foundups_training.mining.redact import REDACTED, redact

    try:  # most payloads are small: all of one is redacted, without counting
        small = len(json.dumps(value, ensure_ascii=False, default=_text_of)) <= MAX_EVENT_BYTES
    except (TypeError, ValueError, RecursionError):  # a key json refuses, an int too long
        small = False
    if small:  # 16 KiB of json at most: checked for depth (_redacted_whole recurses) quickly
        return _redacted_whole(_bounded(value), redact)

    # The least bytes each form takes so far: [whole, cut to _CUT_CHARS[0], …]. A part is
    # held by the forms 0 … top (a list's later items are in the longer cuts only).
    sizes = [0] * (len(_CUT_CHARS) + 1)
    budget = [_REDACT_BUDGET]

    def count(top: int, fixed: int, text: int = 0) -> None:
        """Add a part to the forms that hold it: ``fixed`` bytes of brackets, quotes and
        separators, and ``text`` characters of a string, which a cut form cuts."""
        sizes[0] += fixed + text
        for k in range(1, top + 1):
            sizes[k] += fixed + min(text, _CUT_CHARS[k - 1])

    def holder(top: int) -> int | None:
        """The first form that holds a part at ``top`` and may still fit, if any."""
        return next((k for k in range(top + 1) if sizes[k] <= MAX_EVENT_BYTES), None)

    def text(item: str, first: int) -> str:
        """``item`` redacted as far as form ``first`` (and the budget) may write it."""
        if len(item) <= _FREE_CHARS:
            return redact(item)
        keep = _REDACT_CHARS if first == 0 else _CUT_CHARS[first - 1] + _REDACT_MARGIN
        head = item[:keep]
        if len(head) > budget[0]:
            return REDACTED + _blank(item)
        budget[0] -= len(head)
        return redact(head) + (_blank(item[keep:]) if len(item) > keep else "")

    inside: set[int] = set()  # the containers that hold the one walked now (see _bounded)

    def walk(item: Any, top: int, depth: int) -> Any:
        item = _writable(item)  # an object's text is redacted and cut as any string is
        if isinstance(item, _CONTAINERS) and id(item) in inside:
            item = _cycle_cut(item)  # json refuses it, and the walk would follow it for ever
        elif isinstance(item, _CONTAINERS) and depth > MAX_DEPTH:
            item = _DEEP_CUT
        first = holder(top)
        if first is None:
            return _blank(item)  # every form that holds it is too long to be written
        if isinstance(item, str):
            out = text(item, first)
            count(top, 2, len(out))
            return out
        if isinstance(item, dict):
            count(top, 2)
            inside.add(id(item))  # until it returns
            result = {}
            names = _KeyNames()
            for i, (key, val) in enumerate(item.items()):  # _cut keeps every item of a dict
                first = holder(top)
                if first is None:  # no event holds the rest: one item of as many bytes
                    rest = _blank(dict(itertools.islice(item.items(), i, None)))
                    result[names.add("")] = rest[6:]  # less the item's '"": ""'
                    break
                name = text(_key_text(key), first)
                count(top, 2 * (i > 0) + 4, len(name))
                result[names.add(name)] = walk(val, top, depth + 1)
            inside.discard(id(item))
            return result
        if isinstance(item, list | tuple):
            count(top, 2)
            inside.add(id(item))
            items: list[Any] = []
            for i, val in enumerate(item):
                while top > 0 and i >= _CUT_CHARS[top - 1]:
                    top -= 1  # _cut keeps only a list's first items
                if top == 0 and sizes[0] > MAX_EVENT_BYTES:
                    rest = _blank(list(item[i:]))  # never written: one string, in one go
                    items.append(rest[2:])  # as many bytes as ", " and the items without []
                    break
                count(top, 2 * (i > 0))
                items.append(walk(val, top, depth + 1))
            inside.discard(id(item))
            return items
        count(top, 1)
        return item

    return walk(value, len(_CUT_CHARS), 1)


def _bounded(value: Any) -> Any:
    """``value`` with each container nested deeper than :data:`MAX_DEPTH` written as
    :data:`_DEEP_CUT`, and each container met again inside itself (a dict that holds itself)
    as ``<cut: holds itself (dict)>``; the rest is kept. ``value`` itself, not a copy, when
    it has neither.

    The walk uses a stack of its own, not Python's: a payload 1,000 levels deep (or one that
    holds itself, which json refused and the writer's walk then followed for ever) lost its
    whole event to a ``RecursionError``. A part met twice but not inside itself is kept
    twice, as json writes it."""
    if not isinstance(value, _CONTAINERS) or not _bounds_cut(value, None):
        return value
    top: dict[Any, Any] | list[Any] = {} if isinstance(value, dict) else []
    _bounds_cut(value, top)
    return top


#: The containers a payload's walks go into; anything else is written as a value.
_CONTAINERS = (dict, list, tuple)
#: How many items make a container long enough to be looked at whole (see :func:`_bounds_cut`).
_LONG = 64


def _bounds_cut(value: dict[Any, Any] | list[Any] | tuple[Any, ...], out: Any) -> bool:
    """Walk ``value`` depth first with a stack: whether any part of it is cut (see
    :func:`_bounded`), returning at the first such part when ``out`` is ``None``; else
    ``out`` (an empty dict or list) is filled with the copy, cuts made.

    A container of :data:`_LONG` items or more that holds no container (a list of a million
    numbers) has nothing to cut below it: it is passed over, or kept as it is, without a
    step per item. (Telling so costs more than the steps in a short one.)"""
    if not _holds_containers(value):
        return False
    stack: list[tuple[Iterator[tuple[Any, Any]], Any]] = [(_items(value), out)]
    path = [id(value)]  # the containers that hold the one walked now (and it)
    inside = set(path)  # the same, to look up
    cut = False
    while stack:
        items, into = stack[-1]
        for key, item in items:
            mark = None
            if not isinstance(item, _CONTAINERS):
                pass  # a value: kept
            elif id(item) in inside:
                mark = _cycle_cut(item)
            elif len(path) >= MAX_DEPTH:
                mark = _DEEP_CUT
            elif len(item) < _LONG or _holds_containers(item):  # else kept as it is
                child: dict[Any, Any] | list[Any] = {} if isinstance(item, dict) else []
                stack.append((_items(item), None if into is None else _put(into, key, child)))
                path.append(id(item))
                inside.add(id(item))
                break
            if mark is not None:
                cut = True
                if into is None:
                    return True
            if into is not None:
                _put(into, key, item if mark is None else mark)
        else:
            stack.pop()
            inside.discard(path.pop())
    return cut


def _cycle_cut(item: Any) -> str:
    """What a container met again inside itself is written as."""
    return f"<cut: holds itself ({type(item).__name__})>"


def _holds_containers(value: dict[Any, Any] | list[Any] | tuple[Any, ...]) -> bool:
    """Whether a container holds another (its values' types gathered at C speed)."""
    values = value.values() if isinstance(value, dict) else value
    return any(issubclass(kind, _CONTAINERS) for kind in set(map(type, values)))


def _items(value: dict[Any, Any] | list[Any] | tuple[Any, ...]) -> Iterator[tuple[Any, Any]]:
    """A container's items as ``(key, value)``; a list's keys are its indexes."""
    return iter(value.items()) if isinstance(value, dict) else enumerate(value)


def _put(into: dict[Any, Any] | list[Any], key: Any, item: Any) -> Any:
    """Add ``item`` to the copy ``into`` (under ``key`` in a dict); ``item``."""
    if isinstance(into, dict):
        into[key] = item
    else:
        into.append(item)
    return item


def _redacted_whole(value: Any, redact: Callable[[str], str]) -> Any:
    """``value`` with every string in it redacted (a payload that fits in an event)."""
    value = _writable(value)
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        names = _KeyNames()
        return {
            names.add(redact(_key_text(k))): _redacted_whole(v, redact) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redacted_whole(v, redact) for v in value]
    return value


def _key_text(key: Any) -> str:
    """A dict key as the text ``json.dumps`` writes for it: ``1`` → ``"1"``, ``None`` →
    ``"null"``, ``False`` → ``"false"``. A key json refuses (a tuple) would make the whole
    event fail to encode and be lost: it becomes its text (:func:`_text_of`), as a value of
    any type does, and is redacted like any other key; so does an int too long to write."""
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool | int | float):
        key = _writable(key)
        return key if isinstance(key, str) else json.dumps(key)
    return _text_of(key)


def _text_of(value: Any) -> str:
    """``str(value)``, which json writes for a value it does not know (its ``default``), but
    never raising: one odd object must not lose the event it is in. An int too long for
    ``str`` (Python stops at 4,300 digits) is written as its number of digits (see
    :func:`_digits_text`), and an object whose ``str()`` raises as ``<unprintable Type>``,
    as :func:`_failure` writes such an exception's message."""
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - a host's object whose __str__ raises anything
        if isinstance(value, int) and _too_long(value):
            return _digits_text(value)
        return f"<unprintable {type(value).__name__}>"


def _too_long(number: int) -> bool:
    """Whether ``number`` has more digits than Python writes (``sys.get_int_max_str_digits``:
    4,300 unless set otherwise); json raises on it as ``str`` does."""
    try:
        int.__repr__(number)  # what json writes for an int
    except ValueError:
        return True
    return False


def _digits_text(number: int) -> str:
    """``<int of 5,001 digits>`` (or ``<negative int of …>``): an int too long to write.

    The count comes from the logarithm, which costs next to nothing whatever the size,
    where converting to decimal takes long for a huge number. Only when the logarithm is too close
    to a whole number to tell (the number is next to a power of ten) is the number compared
    with that power of ten.
    """
    size = abs(number)
    log = math.log10(size)
    nearest = round(log)
    if abs(log - nearest) < 1e-9 * max(log, 1.0):
        digits = nearest + 1 if size >= 10**nearest else nearest
    else:
        digits = math.floor(log) + 1
    sign = "negative " if number < 0 else ""
    return f"<{sign}int of {digits:,} digits>"


def _writable(item: Any) -> Any:
    """``item`` if json writes it itself (a string, a dict, a list, a tuple, ``None``, a bool,
    a float, an int), else its text (:func:`_text_of`): a string the writer redacts and cuts
    as any other, where json would write it unredacted through ``str``, uncut, or raise. An
    int too long for ``str`` becomes its text too: json would raise on it."""
    if item is None or isinstance(item, str | dict | list | tuple | bool | float):
        return item
    if isinstance(item, int):
        return _digits_text(item) if _too_long(item) else item
    return _text_of(item)


def _json(value: Any) -> str:
    """``value`` as ``json.dumps`` writes it, never raising on what a payload holds.

    A key json refuses (a tuple, a host's object) or an int too long for ``str`` made it
    raise, and the event was lost: then the keys and values are first made what the writer
    writes for them (:func:`_key_text`, :func:`_writable`), without redacting (the writer has
    redacted the payload before it is encoded).
    """
    try:
        return json.dumps(value, ensure_ascii=False, default=_text_of)
    except (TypeError, ValueError, RecursionError):  # ValueError: also a part inside itself
        return json.dumps(_redacted_whole(_bounded(value), _unchanged), ensure_ascii=False)


def _unchanged(text: str) -> str:
    """No redaction (see :func:`_json`)."""
    return text


class _KeyNames:
    """Distinct key names for one dict, given in order.

    Two keys can become one text once redacted (``password=a`` and ``password=b``), cut
    (two long keys alike in their first characters) or written as json writes them (``1``
    and ``"1"``); a dict would keep only the last value. Rather than lose one silently, the
    later key gets the first free suffix ``" (2)"``, ``" (3)"`` … A key redaction changed
    holds ``[REDACTED]``, so an ordinary key is written unchanged unless a key before it is
    the same text in another type (``1`` before ``"1"``).
    """

    def __init__(self) -> None:
        self._used: set[str] = set()
        #: The next suffix to try for each text (each suffix is tried once: linear).
        self._next: dict[str, int] = {}

    def add(self, name: str) -> str:
        """``name``, or ``name`` with the first free suffix when an earlier key has it."""
        unique = name
        while unique in self._used:
            n = self._next.get(name, 2)
            self._next[name] = n + 1
            unique = f"{name} ({n})"
        self._used.add(unique)
        return unique


def _blank(value: Any) -> Any:
    """A part of a payload that no event holds: spaces as many as the bytes it encodes to
    (a string or a container becomes one string), so that ``cut`` still tells the size."""
    if not isinstance(value, str | dict | list | tuple):
        return value
    data = _json(value)  # never raises (a tuple key, an int too long): the event still goes
    return " " * max(len(data.encode("utf-8", "backslashreplace")) - 2, 0)


def _cut(value: Any, limit: int) -> Any:
    """``value`` with every string in it longer than ``limit`` characters cut to ``limit``
    (with an ellipsis), lists to their first ``limit`` items; keys as the writer writes them
    (:func:`_key_text`), and a value json would write through ``str`` as its text, cut."""
    value = _writable(value)
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "…"
    if isinstance(value, dict):
        names = _KeyNames()  # two long keys alike in their first characters stay two
        return {names.add(_key_text(k)[:limit]): _cut(v, limit) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_cut(v, limit) for v in value[:limit]]
    return value


def _encode(record: dict[str, Any]) -> bytes:
    return (_json(record) + "\n").encode("utf-8", "backslashreplace")


def encode_event(record: dict[str, Any]) -> bytes:
    """One event as its JSONL line, at most :data:`MAX_EVENT_BYTES` long.

    A bigger payload (a question pasted with a whole log, an error quoting a file) has its
    strings cut, shorter each time, until the line fits, and says so in ``payload["cut"]``
    (how many bytes the whole line had); a payload that still does not fit (thousands of
    keys) keeps only that. So ``cut`` in a cut event is always the size: a payload's own
    ``cut`` is kept under the first free name, ``cut (2)``, ``cut (3)`` … (as :class:`_KeyNames`
    keeps two keys that became one text), rather than overwritten. A payload that fits is
    written as it is, its own ``cut`` included. A part nested deeper than :data:`MAX_DEPTH`,
    or inside itself, is cut as the writer cuts it (:func:`_bounded`).
    """
    payload = record.get("payload")
    bounded = _bounded(payload)  # the cuts and json below recurse
    if bounded is not payload:
        record = {**record, "payload": bounded}
    data = _encode(record)
    if len(data) <= MAX_EVENT_BYTES:
        return data
    size = len(data)
    payload = record.get("payload")
    for limit in _CUT_CHARS:
        cut = {**record, "payload": _with_size(_cut(dict(payload or {}), limit), size)}
        data = _encode(cut)
        if len(data) <= MAX_EVENT_BYTES:
            return data
    return _encode({**_cut(record, _CUT_CHARS[0]), "payload": {"cut": size}})


def _with_size(payload: dict[str, Any], size: int) -> dict[str, Any]:
    """A cut ``payload`` with ``cut``: the size of the whole line; the payload's own ``cut``,
    if any, renamed in its place to the first name the payload does not hold."""
    if "cut" not in payload:
        return {**payload, "cut": size}
    names = _KeyNames()
    for key in payload:  # already distinct: each keeps its name
        names.add(key)
    own = names.add("cut")
    return {**{own if key == "cut" else key: val for key, val in payload.items()}, "cut": size}


class TelemetryWriter:
    """Appends telemetry events to a day file; thread-safe, never raises into the sender."""

    def __init__(self, directory: Path | str, daemon: str = DAEMON) -> None:
        self.directory = Path(directory)
        self.daemon = daemon
        self._lock = threading.Lock()
        self.written = 0
        self.errors = 0

    def path_for(self, when: datetime | None = None) -> Path:
        """The file an event at ``when`` (default now) goes to."""
        when = when or datetime.now(UTC)
        return self.directory / f"telemetry-{when:%Y%m%d}.jsonl"

    def write(self, command: str, event: str, payload: dict[str, Any] | None = None) -> None:
        """Append one event (a single short write with O_APPEND: safe across processes).

        Never raises: a payload that cannot be encoded (text holding lone surrogates, such as
        a question typed in a non-UTF-8 terminal) is written with those characters escaped,
        and anything else that goes wrong is counted and logged once.
        """
        try:
            record = make_event(command, event, _redacted(payload), daemon=self.daemon)
            data = encode_event(record)
            with self._lock:
                self.directory.mkdir(parents=True, exist_ok=True)
                with self.path_for().open("a+b") as fh:
                    # A crash mid-write leaves a line without its newline: start a fresh line
                    # so that only the cut event is lost, not this one too.
                    if fh.seek(0, 2) > 0:
                        fh.seek(-1, 2)
                        if fh.read(1) != b"\n":
                            data = b"\n" + data
                    fh.write(data)
                self.written += 1
        except Exception as exc:  # noqa: BLE001 - telemetry never stops the sender
            # A full disk or a read-only data dir must not stop training: count and log once,
            # one line (the traceback only when debugging).
            self.errors += 1
            if self.errors == 1:
                try:
                    warn_failure(log, f"cannot write telemetry to {self.directory}", exc)
                except Exception:  # noqa: BLE001 - nowhere left to say it (stderr closed)
                    pass

    def receive(
        self,
        sender: object,
        *,
        command: str = "",
        event: str = "",
        payload: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        """The blinker receiver for :data:`foundups_training.signals.telemetry`."""
        del sender
        if command and event:
            self.write(command, event, payload)


_writers: dict[Path, TelemetryWriter] = {}
#: How many attachments each writer has: it stops with the last :func:`detach_writer`.
_attached: dict[Path, int] = {}
_writers_lock = threading.Lock()


def _after_fork_in_child() -> None:
    """Give a forked child (``multiprocessing`` with ``fork``, ``os.fork``) fresh locks.

    A lock another thread of the parent held at the moment of the fork (one writing an
    event, or attaching a writer) would stay held for ever in the child, where that thread
    does not exist: the child's next event, ``attach_writer`` or ``detach_writer`` would
    hang, and with it the verb or the host's call that sent it. The writers themselves stay
    subscribed: they hold no thread, queue or open file (each event opens its day file and
    appends one line), so the child's events are written beside the parent's.
    """
    global _writers_lock
    _writers_lock = threading.Lock()
    for writer in list(_writers.values()):
        writer._lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # not on Windows, where nothing forks
    os.register_at_fork(after_in_child=_after_fork_in_child)


def attach_writer(directory: Path | str) -> TelemetryWriter:
    """Subscribe a writer for ``directory`` to the telemetry signal: one per folder in the
    process, however often it is attached (each event is written once).

    Each call is one attachment, undone by one :func:`detach_writer`: a CLI verb and the
    training plugin's Trainer in the same process both attach the data directory's folder,
    and the verb's detach must not stop what the Trainer records.
    """
    key = Path(directory).expanduser().resolve()
    with _writers_lock:
        writer = _writers.get(key)
        if writer is None:
            writer = TelemetryWriter(key)
            # weak=False: a bound method would otherwise be collected and telemetry stop.
            signals.telemetry.connect(writer.receive, weak=False)
            _writers[key] = writer
        _attached[key] = _attached.get(key, 0) + 1
        return writer


def detach_writer(directory: Path | str) -> None:
    """Undo one :func:`attach_writer` for ``directory``; the writer stops with the last
    (no error if it was not attached)."""
    key = Path(directory).expanduser().resolve()
    with _writers_lock:
        left = _attached.get(key, 0) - 1
        if left > 0:
            _attached[key] = left
            return
        _attached.pop(key, None)
        writer = _writers.pop(key, None)
        if writer is not None:
            signals.telemetry.disconnect(writer.receive)


def emit(command: str, event: str, payload: dict[str, Any] | None = None) -> None:
    """Send one telemetry event through the signal (never raises)."""
    signals.emit_telemetry(command, event, payload)


@contextmanager
def command(name: str, payload: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Wrap one verb: ``started`` now, then ``completed`` (or ``failed``) with its duration.

    Yields a dict: whatever the verb puts in it is added to the ``completed`` payload.
    """
    base = dict(payload or {})
    emit(name, "started", base)
    result: dict[str, Any] = {}
    start = time.perf_counter()
    try:
        yield result
    except BaseException as exc:
        emit(
            name,
            "failed",
            {
                **base,
                **result,
                "duration_ms": round((time.perf_counter() - start) * 1000, 1),
                "error": _failure(exc),
            },
        )
        raise
    emit(
        name,
        "completed",
        {**base, **result, "duration_ms": round((time.perf_counter() - start) * 1000, 1)},
    )


def _failure(exc: BaseException) -> str:
    """How a verb ended early, for an operator: ``Type: message``, the type alone when there
    is no message, and what a Ctrl-C (or the host stopping the thread with one) means."""
    if isinstance(exc, KeyboardInterrupt):
        return "stopped (Ctrl-C): what it had done before is kept"
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a host's exception whose __str__ raises
        text = "<unprintable>"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def telemetry_files(directory: Path | str) -> list[Path]:
    """The telemetry day files in ``directory``, oldest first."""
    folder = Path(directory)
    return sorted(folder.glob(FILE_GLOB)) if folder.is_dir() else []


def read_events(directory: Path | str) -> Iterator[dict[str, Any]]:
    """Every well-formed event in ``directory``, oldest first (bad lines are skipped)."""
    for path in telemetry_files(directory):
        with path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    record = json.loads(line)
                except ValueError:  # a line cut by a crash mid-write
                    continue
                if isinstance(record, dict) and {"command", "event"} <= record.keys():
                    yield record
