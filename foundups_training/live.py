"""Live learning: decisions seen during a stream become patterns, off the host's hot path.

:class:`LiveLearner` is what the training plugin's ``on_decision`` hands each Decision to.
``submit`` only puts it on a bounded queue (never blocks, never raises); one daemon thread
turns decisions into patterns and writes them in small batches:

- a chat message → a ``chat_response`` pattern whose id comes from the message id; context:
  stream, author and role, the last few messages of the stream, the text (sanitised,
  truncated, secrets redacted); decision: the bot's action, confidence (when it is a
  number in 0..1) and reasoning;
- the bot's answer to that message → the same pattern's outcome ("executed: responded: …");
- a human moderator's timeout or ban → a verified ``moderation`` pattern;
- a later event about the same author → the outcome of that author's earlier patterns
  (a timeout after messages; a return to chat after a timeout).

Outcomes of patterns still waiting in the same batch are filled before the write; those
already stored are updated in the same ``memory.upsert`` call, as outcome-only observations
(``seen=0``: the memory's merge replaces the outcome and adds no support). One round trip per
batch, where one ``update_outcome`` per pattern cost a Chroma get + update each (measured:
about 50 ms apiece on a loaded machine, which backed the live path up by minutes).

Nothing is lost silently. Patterns the store refuses are appended to the memory's journal on
disk before they are counted as journaled (replayed when the store next opens for writing);
:meth:`LiveLearner.close` -- run at the host's exit -- stores what it can in its time and
journals the rest; a decision that cannot become a pattern (a malformed field from some
adapter) is skipped alone, counted as ``invalid`` and logged.
"""

from __future__ import annotations

import decimal
import logging
import numbers
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from foundups_training.logs import describe, shown, warn_failure
from foundups_training.records import Decision, Pattern
from foundups_training.text import encodable

if TYPE_CHECKING:
    from foundups_training.engine import Trainer

log = logging.getLogger(__name__)

#: Decisions waiting for the writer thread before ``submit`` starts counting drops.
QUEUE_SIZE = 10_000
#: Decisions written per batch (one embedding call, one Chroma round trip).
BATCH = 256
#: How often the writer thread looks for new decisions (the most a decision waits to start).
POLL_S = 0.05
#: Messages of a stream kept as "recent history" in each new pattern's context.
HISTORY = 3
#: Characters kept of a chat message (and of each history line).
MAX_TEXT = 300
#: Characters of any text scanned at all (sanitising and redaction cost grows with length).
MAX_SCAN = 4_096
#: Authors / patterns remembered for outcome linking (least recently used are forgotten).
MAX_TRACKED = 5_000
#: The host module live patterns come from (slash form, like the miner's module paths).
MODULE = "modules/communication/livechat/"

#: What absorbing a decision does to the learner's state, once everything that can fail on
#: the decision's fields is built (:meth:`LiveLearner._absorb`): (pending, updates) -> None.
_Commit = Callable[[dict[str, Pattern], dict[str, str]], None]

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_WS = re.compile(r"\s+")
_ID_SAFE = re.compile(r"[^A-Za-z0-9_.:\-]")


def _load_redactor() -> Callable[[str], str]:
    try:
        from foundups_training.mining.redact import redact

        return redact
    except Exception:  # noqa: BLE001 - mining not installed: keep a minimal safety net
        rules = (
            re.compile(r"AIza[0-9A-Za-z_\-]{30,}"),
            re.compile(r"ya29\.[0-9A-Za-z_\-.~+/]{8,}"),
            re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"),
            re.compile(r"(?i)bearer\s+[A-Za-z0-9_\-.~+/=]{8,}"),
        )

        def fallback(text: str) -> str:
            for rule in rules:
                text = rule.sub("[REDACTED]", text)
            return text

        return fallback


def _head(text: str) -> str:
    """At most :data:`MAX_SCAN` characters of ``text``, cut where a word ends.

    The regexes below (and the redactor's) hold the GIL for as long as they scan: on a 10 MB
    chat message that is seconds during which the host's threads cannot run. Only the head
    can reach a stored pattern, so only the head is scanned. The word the cut would split is
    dropped whole: half a secret no longer matches the redactor's rules, and would be kept.
    """
    if len(text) <= MAX_SCAN:
        return text
    head = text[:MAX_SCAN]
    space = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"), head.rfind("\r"))
    return (head[:space] if space > 0 else "") + " …"


def _as_text(value: Any) -> str:
    """``value`` as text: a byte string decoded as UTF-8 (each invalid byte becomes U+FFFD),
    anything else as ``str`` makes it.

    A host may hand on bytes as it read them (a socket, a file): ``str`` made them
    ``"b'caf\\xc3\\xa9'"``, stored as the message. Only a head is decoded: each character is
    at most 4 bytes, so these are still more characters than :func:`_head` keeps, and it
    cuts them as it cuts any long text.
    """
    if isinstance(value, bytes | bytearray):
        return bytes(value[: 4 * (MAX_SCAN + 1)]).decode("utf-8", "replace")
    return str(value)


def clean(text: Any, limit: int = MAX_TEXT) -> str:
    """Chat text made safe to store: no control characters, one line, truncated, redacted.

    Chat is untrusted input: it is stored as data and quoted, never as instructions. A lone
    surrogate becomes U+FFFD: no UTF-8 file or store can hold it as it is. Whatever its
    length, only a bounded head is scanned (:func:`_head`). Bytes are decoded as UTF-8
    (:func:`_as_text`).
    """
    value = _WS.sub(" ", _CONTROL.sub(" ", encodable(_head(_as_text(text or ""))))).strip()
    value = _REDACT(value)
    if len(value) > limit:
        value = value[: limit - 1].rstrip() + "…"
    return value


_REDACT = _load_redactor()


def _field(decision: Any, name: str) -> Any:
    """``decision.name`` for a log line, or ``"?"``: an object that is not a Decision may raise
    anything from an attribute read, and reporting it must not fail the rest of its batch."""
    try:
        return getattr(decision, name)
    except Exception:  # noqa: BLE001 - a malformed decision: say what can be said
        return "?"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds")


def _pid(prefix: str, raw: str) -> str:
    # Cut before sanitising: the regex maps one character to one, so the id is the same,
    # and a huge id is not scanned whole (a 10 MB one held the GIL for seconds).
    return f"{prefix}-{_ID_SAFE.sub('_', raw[:120])}"


def _as_key(value: Any) -> str:
    """A stream or author id as the string the learner keys its state by.

    ``Decision`` declares them strings but validates nothing: a number is kept as its text,
    and a value that cannot be a string fails its own decision here, before it becomes the
    learner's "last stream" (a list there made every later decision without a stream of its
    own fail too).
    """
    if type(value) is str:
        return value
    return "" if value is None else _as_text(value)


def _normalised(decision: Decision) -> Decision:
    """``decision`` with its stream and subject as plain strings (the same object if they are)."""
    stream, subject = decision.stream, decision.subject
    if type(stream) is str and type(subject) is str:
        return decision
    return replace(decision, stream=_as_key(stream), subject=_as_key(subject))


def _check(decision: Decision) -> None:
    """Raise if a pattern cannot be built from the decision's fields.

    Run before a decision changes anything, so a malformed one (a timestamp in
    milliseconds, an id that is not a string, a confidence that is not a number: ``Decision``
    validates nothing, and any adapter may send one) is skipped whole, not half-absorbed.
    """
    _iso(decision.timestamp)
    _pid("chat", decision.id)
    _decision_text(decision)
    if not isinstance(decision.context, Mapping):
        raise TypeError(f"context is a {type(decision.context).__name__}, not a mapping")


def _confidence(value: Any) -> float | None:
    """The confidence to store: a number in 0..1, or None (none given, or not a confidence).

    A value outside 0..1 or not finite (NaN from a model's division by zero, 1e300) says
    nothing an operator can read: stored, it was "(confidence nan)" or a number some 300
    digits long, in text that is embedded and recalled. It is left out (the caller says so
    once). A value that is not a number at all is a malformed field: TypeError, and the
    decision is skipped like any malformed one.
    """
    if value is None:
        return None
    if not isinstance(value, numbers.Real | decimal.Decimal):
        raise TypeError(f"confidence is a {type(value).__name__}, not a number")
    try:
        number = float(value)
    except (OverflowError, ValueError):  # an int too long for a float, a signalling NaN
        return None
    return number if 0.0 <= number <= 1.0 else None


def _decision_text(decision: Decision) -> str:
    if not isinstance(decision.action, str):
        raise TypeError(f"action is a {type(decision.action).__name__}, not a string")
    # The host's action name, sanitised like any chat field: an adapter may pass on what it got.
    parts = [clean(decision.action, 80)]
    confidence = _confidence(decision.confidence)
    if confidence is not None:
        parts.append(f"(confidence {confidence:.2f})")
    if decision.reasoning:
        parts.append(f"— {clean(decision.reasoning, 200)}")
    return " ".join(parts)


def _moderation_text(decision: Decision) -> str:
    ctx = decision.context
    if decision.action == "ban" or ctx.get("is_permanent"):
        what = "ban (permanent)"
    else:
        # The host's value, whatever it is: sanitised like any chat field before storage.
        raw = ctx.get("duration_seconds")
        seconds = "" if raw is None else clean(_as_text(raw), 20)  # 0 is "0", not ""
        what = f"timeout {seconds}s" if seconds else "timeout"
    moderator = clean(ctx.get("moderator", ""), 60)
    return f"{what} by {moderator}" if moderator else what


class _LRU(OrderedDict[str, Any]):
    """An OrderedDict that forgets its oldest entries past ``MAX_TRACKED``."""

    def remember(self, key: str, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > MAX_TRACKED:
            self.popitem(last=False)


class LiveLearner:
    """Turns live Decisions into patterns in the trainer's memory, in the background.

    ``submit`` appends to a deque and returns: it never signals the writer thread, because
    waking a thread from the host's call hands it the GIL in the middle of that call (measured:
    +16 ms p99 on an async host method). The writer wakes on its own every ``POLL_S`` instead;
    a decision waits at most that long before its write starts.
    """

    def __init__(self, trainer: Trainer, *, queue_size: int = QUEUE_SIZE) -> None:
        self.trainer = trainer
        self.queue_size = queue_size
        self._pending: deque[Decision] = deque()  # append/popleft are atomic under the GIL
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._wake = threading.Event()  # set by flush/close, never by submit
        self._done = threading.Condition()
        self._count_lock = threading.Lock()
        # Held while decisions become patterns: close() may have to do that on its own thread
        # when the writer thread is stuck in a write.
        self._state_lock = threading.Lock()
        self._closed = False
        self._stopping = False
        self._start_failed = False  # said once: the writer thread could not start
        self._journal_only = False  # closing: what is left goes to the journal, not the store
        self._counts = {
            "submitted": 0,
            "processed": 0,
            "patterns_written": 0,
            "outcomes_updated": 0,
            "dropped": 0,
            "invalid": 0,
            "failed": 0,
            "journaled": 0,
        }
        self.last_error = ""
        self.last_write_ms = 0.0
        # Writer-thread state (touched under _state_lock only).
        self._known: _LRU = _LRU()  # pattern id -> the pattern as last written
        self._by_author: _LRU = _LRU()  # author id -> deque of recent pattern ids
        self._history: _LRU = _LRU()  # stream -> deque of (author, text)
        self._last_stream = ""
        self._told_confidence = False  # a confidence left out of a pattern was said

    # -- the hot path -----------------------------------------------------------------------
    def submit(self, decision: Decision) -> None:
        """Queue a decision for the writer thread; never blocks, never raises."""
        if self._thread is None and not self._closed:
            self._start()
        with self._count_lock:  # several host threads may submit at once
            if not self._closed and len(self._pending) < self.queue_size:
                self._pending.append(decision)
                self._counts["submitted"] += 1
                return
            self._counts["dropped"] += 1
            dropped = self._counts["dropped"]
        # Counted and logged, never silent; the host's stream matters more than one pattern.
        if dropped in (1, 10, 100) or dropped % 1000 == 0:
            log.warning("live learner: %d decisions dropped (queue full or closed)", dropped)

    # -- control ------------------------------------------------------------------------------
    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every decision submitted before this call is written; False on timeout.

        Decisions submitted meanwhile are not waited for: on a busy stream some arrive during
        every write, and waiting for none to be left ran out the whole timeout (at the host's
        exit, where it is shared) and reported a failure for decisions the store had taken.
        The writer takes decisions in order, so the count processed says when those before
        the call are done.
        """
        deadline = time.monotonic() + timeout
        with self._count_lock:
            target = self._counts["submitted"]
        self._wake.set()
        with self._done:
            while self._counts["processed"] < target:
                left = deadline - time.monotonic()
                if left <= 0 or self._thread is None or not self._thread.is_alive():
                    return self._counts["processed"] >= target
                self._wake.set()
                self._done.wait(min(left, 0.05))
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Store what is queued for up to ``timeout``, journal the rest, stop (idempotent).

        This runs at the host's exit, where the writer thread (a daemon) dies with the
        process: nothing may be left only in memory. Decisions not stored within ``timeout``
        become patterns appended to the journal on disk (replayed when the store next opens
        for writing). Only a batch still inside a store write after a second ``timeout`` can
        be lost if the process then exits; that count is logged as an error.
        """
        if self._closed:
            return
        stored = self.flush(timeout)
        with self._count_lock:
            self._closed = True  # later submits are dropped, and counted
        journaled_before = self._counts["journaled"]
        self._journal_only = True
        self._stopping = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread.is_alive():
            thread.join(timeout)  # journaling the rest is quick; a write in flight may not be
        # The thread never ran, or is stuck in a write: journal what it did not take, here.
        while batch := self._take():
            self._process(batch)
        with self._done:
            left = self._counts["submitted"] - self._counts["processed"]
        journaled = self._counts["journaled"] - journaled_before
        if not stored:
            log.warning(
                "live learner: the store did not take every decision within %.1f s; "
                "%d patterns journaled to %s (stored when the store next opens for writing)",
                timeout,
                journaled,
                self._journal_dir(),
            )
        elif journaled:  # decisions that came while it closed (the stream went on)
            log.warning(
                "live learner: %d patterns of decisions sent while it closed journaled to %s "
                "(stored when the store next opens for writing)",
                journaled,
                self._journal_dir(),
            )
        if left:
            log.error(
                "live learner closed with %d decisions still inside a store write: "
                "they are lost if the process exits now",
                left,
            )

    def stats(self) -> dict[str, Any]:
        """Counters of the live path (submitted, written, outcome updates, drops, errors)."""
        return {
            **self._counts,
            "queue_depth": len(self._pending),
            "running": bool(self._thread and self._thread.is_alive()),
            "last_write_ms": round(self.last_write_ms, 2),
            "last_error": self.last_error,
        }

    # -- the writer thread ----------------------------------------------------------------------
    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                thread = threading.Thread(
                    target=self._run, name="foundups-training-live", daemon=True
                )
                try:
                    thread.start()
                except RuntimeError as exc:
                    # No thread can start (the interpreter is ending, the process is out of
                    # threads): the decision is still queued, the next submit tries again,
                    # and close() stores or journals the queue itself. Raising here lost the
                    # decision, and the training plugin's early ones with it.
                    if not self._start_failed:
                        self._start_failed = True
                        warn_failure(log, "live learner: the writer thread cannot start", exc)
                    return
                self._thread = thread

    def _take(self) -> list[Decision]:
        # close() and the writer thread may both take (close, when the thread is stuck in a
        # write that then ends): the last decision can go between a check that the queue is
        # not empty and the pop, so the pop alone decides. An IndexError here used to end the
        # writer thread, or leave close(), with the decisions already taken lost.
        batch: list[Decision] = []
        while len(batch) < BATCH:
            try:
                batch.append(self._pending.popleft())
            except IndexError:
                break
        return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                if self._stopping:
                    return
                self._wake.wait(POLL_S)
                self._wake.clear()
                continue
            self._process(batch)

    def _process(self, batch: list[Decision]) -> None:
        try:
            self.write(batch)
        except Exception as exc:  # noqa: BLE001 - the writer thread must survive anything
            self._add("failed", len(batch))
            self.last_error = describe(exc)
            warn_failure(log, f"live learner failed to write {len(batch)} decisions", exc,
                         logging.ERROR)  # fmt: skip
        with self._done:
            self._counts["processed"] += len(batch)
            self._done.notify_all()

    def _add(self, counter: str, n: int) -> None:
        # The writer thread and close() may both count (close, when the thread is stuck).
        with self._count_lock:
            self._counts[counter] += n

    def write(self, decisions: Iterable[Decision]) -> None:
        """Turn decisions into patterns and outcomes, and store them (writer thread)."""
        with self._state_lock:
            pending: dict[str, Pattern] = {}
            updates: dict[str, str] = {}
            for decision in decisions:
                try:
                    decision = _normalised(decision)
                    _check(decision)
                    self._absorb(decision, pending, updates)
                except Exception as exc:  # noqa: BLE001 - skip this one, keep the batch
                    self._invalid(decision, exc)
            # Outcome-only observations of stored patterns: merged, never counted as seen again.
            outcome_only = [
                replace(
                    self._known[pid],
                    outcome=outcome,
                    seen=0,
                    first_seen="",
                    last_seen="",
                    timestamp="",
                )
                for pid, outcome in updates.items()
                if pid in self._known
            ]
        patterns = list(pending.values()) + outcome_only
        if not patterns:
            return
        if self._journal_only:
            self._spill(None, patterns)
            return
        started = time.perf_counter()
        memory = None
        try:
            memory = self.trainer.memory  # opening it can fail too (locked, unreachable)
            memory.upsert(patterns)
            self._add("patterns_written", len(pending))
            self._add("outcomes_updated", len(outcome_only))
        except Exception as exc:  # noqa: BLE001 - fall back to the durable journal
            error = describe(exc)
            if error != self.last_error:  # once per distinct error: a down store fails often
                log.warning("live learner: the store refused %d patterns (%s); journaling them",
                            len(patterns), error)  # fmt: skip
            self.last_error = error
            # A write that failed part-way (PartialWrite) names what it stored: journaled
            # again, those would count their observation twice when replayed.
            stored = getattr(exc, "stored", None) or frozenset()
            self._add("patterns_written", sum(1 for pid in pending if pid in stored))
            self._spill(memory, [p for p in patterns if p.id not in stored])
        self.last_write_ms = (time.perf_counter() - started) * 1000

    def _invalid(self, decision: Decision, exc: Exception) -> None:
        """Count and log a decision no pattern can be built from (the rest of its batch goes on)."""
        self._add("invalid", 1)
        n = self._counts["invalid"]
        self.last_error = describe(exc)
        if n <= 10 or n % 1000 == 0:  # each of the first ones, then a count now and then
            log.warning(
                "live learner: decision %s from %s skipped, no pattern can be built from it "
                "(%s); %d skipped so far",
                shown(_field(decision, "id")),
                shown(_field(decision, "source")),
                self.last_error,
                n,
                exc_info=n == 1,
            )

    def _outcome_of(self, pid: str) -> str:
        known = self._known.get(pid)
        return known.outcome if known is not None else ""

    def _journal_dir(self) -> Any:
        return self.trainer.settings.journal_dir

    def _spill(self, memory: Any, patterns: Sequence[Pattern]) -> None:
        """Append patterns the store did not take to the journal on disk, on this thread.

        Counted as journaled only once they are in the file: a queue in memory would die
        with the process. The memory's background writer is started (when the memory is
        open and the learner not closing) so that it replays the journal as soon as the
        store takes writes again.
        """
        try:
            from foundups_training.memory.writer import append_journal

            journaled = append_journal(self._journal_dir(), patterns)  # logs what it lost
        except Exception as exc:  # noqa: BLE001 - counted and logged below
            journaled = 0
            warn_failure(log, "live learner: could not reach the journal", exc, logging.ERROR)
        self._add("journaled", journaled)
        if journaled < len(patterns):
            self._add("failed", len(patterns) - journaled)
            log.error(
                "live learner: %d patterns lost: neither the store nor its journal took them",
                len(patterns) - journaled,
            )
        if memory is not None and journaled and not self._journal_only:
            try:
                memory.writer()
            except Exception as exc:  # noqa: BLE001 - the journal is replayed on the next open
                warn_failure(log, "live learner: the journal's replay could not start", exc)

    # -- decision -> pattern ------------------------------------------------------------------
    # Each decision is absorbed in two steps. First everything is built from its fields, any
    # of which may fail (a host object that cannot be printed, a value of the wrong type);
    # that step only reads the learner's state. Then the state changes, in steps that cannot
    # fail on a field. A decision skipped as invalid so leaves no trace: adding the outcome to
    # an author's earlier patterns first, then failing on the author's name, had written
    # "later: returned and wrote ..." for a message that was never stored.
    def _absorb(
        self, decision: Decision, pending: dict[str, Pattern], updates: dict[str, str]
    ) -> None:
        stage = _as_key(decision.context.get("stage", ""))
        if stage == "response":
            commit = self._response(decision)
        elif stage == "moderation" or decision.action in ("timeout", "ban"):
            commit = self._moderation(decision)
        else:
            commit = self._message(decision)
        if decision.stream:
            self._last_stream = decision.stream
        commit(pending, updates)

    def _set_outcome(
        self, pid: str, outcome: str, pending: dict[str, Pattern], updates: dict[str, str]
    ) -> None:
        if pid in pending:
            pending[pid] = pending[pid].with_outcome(outcome)
            self._known.remember(pid, pending[pid])
            return
        known = self._known.get(pid)
        if known is not None:
            updates[pid] = outcome
            self._known.remember(pid, known.with_outcome(outcome))

    def _append_outcome(
        self, pid: str, addition: str, pending: dict[str, Pattern], updates: dict[str, str]
    ) -> None:
        current = self._outcome_of(pid)
        if addition in current:
            return
        self._set_outcome(pid, f"{current}; {addition}" if current else addition, pending, updates)

    def _context(self, decision: Decision, stream: str) -> str:
        # The message first and the history short: the embedding should be about this message.
        ctx = decision.context
        author = clean(ctx.get("author", ""), 80) or "unknown"
        role = clean(ctx.get("role", ""), 40)
        recent = self._history.get(stream) or ()
        lines = [f'message: "{clean(ctx.get("text", ""))}"']
        lines.append(f"author: {author}" + (f" ({role})" if role else ""))
        lines.append(f"stream: {clean(stream, 120) or 'unknown'}")
        if recent:
            lines.append("recent: " + " | ".join(f"{a}: {t}" for a, t in recent))
        return "\n".join(lines)

    def _remember_author(self, author_id: str, pid: str) -> None:
        if not author_id:
            return
        ids = self._by_author.get(author_id)
        if ids is None:
            ids = deque(maxlen=4)
        ids.append(pid)
        self._by_author.remember(author_id, ids)

    def _remember_line(self, stream: str, line: tuple[str, str]) -> None:
        history = self._history.get(stream)
        if history is None:
            history = deque(maxlen=HISTORY)
        history.append(line)
        self._history.remember(stream, history)

    def _confidence_left_out(self, decision: Decision) -> None:
        """Say once that a confidence was left out of a pattern (:func:`_confidence`): a model
        that returns NaN returns it for every message, and one line says what happens."""
        if self._told_confidence:
            return
        self._told_confidence = True
        log.warning(
            "live learner: decision %s has confidence %s, not a number in 0..1: it is left "
            "out of the pattern (said once; any such confidence is left out)",
            shown(decision.id),
            shown(decision.confidence),
        )

    def _message(self, decision: Decision) -> _Commit:
        """A chat message: its pattern, and for each earlier moderation of its author the
        outcome "later: returned and wrote ..."."""
        ctx = decision.context
        stream = decision.stream or self._last_stream
        author_id = decision.subject or _as_key(ctx.get("author_id", ""))
        # A message after a moderation: the moderated author came back.
        moderations = [p for p in self._by_author.get(author_id, ()) if p.startswith("mode-")]
        returned = ""
        if moderations:
            returned = f'later: returned and wrote "{clean(ctx.get("text", ""), 120)}"'
        pid = _pid("chat", decision.id)
        when = _iso(decision.timestamp)
        pattern = Pattern(
            id=pid,
            kind="chat_response",
            context=self._context(decision, stream),
            decision=_decision_text(decision),
            outcome=self._outcome_of(pid),
            module=MODULE,
            timestamp=when,
            source="live_chat",
            first_seen=when,
            last_seen=when,
        )
        line = (clean(ctx.get("author", ""), 40) or "unknown", clean(ctx.get("text", ""), 80))
        left_out = decision.confidence is not None and _confidence(decision.confidence) is None

        def commit(pending: dict[str, Pattern], updates: dict[str, str]) -> None:
            for earlier in moderations:
                self._append_outcome(earlier, returned, pending, updates)
            pending[pid] = pattern
            self._known.remember(pid, pattern)
            self._remember_author(author_id, pid)
            self._remember_line(stream, line)
            if left_out:
                self._confidence_left_out(decision)

        return commit

    def _response(self, decision: Decision) -> _Commit:
        """The bot's answer: the outcome of its message's pattern (kept "later: ..." parts)."""
        pid = _pid("chat", decision.id)
        text = clean(decision.context.get("response", "") or decision.outcome, 240)
        outcome = f'executed: responded "{text}"' if text else "executed: no response"
        # The message itself was not observed (instrumented mid-stream): learn it now.
        message = None if pid in self._known else self._message(decision)

        def commit(pending: dict[str, Pattern], updates: dict[str, str]) -> None:
            if message is not None:
                message(pending, updates)
            current = self._outcome_of(pid)
            later = [p for p in current.split("; ") if p.startswith("later:")] if current else []
            self._set_outcome(pid, "; ".join([outcome, *later]), pending, updates)

        return commit

    def _moderation(self, decision: Decision) -> _Commit:
        """A human moderator's timeout or ban: a verified pattern, and the outcome of the
        author's earlier patterns."""
        ctx = decision.context
        stream = decision.stream or self._last_stream
        author_id = decision.subject or _as_key(ctx.get("author_id", ""))
        what = _moderation_text(decision)
        author = clean(ctx.get("author", ""), 80) or "unknown"
        recent_by_author = [
            t for a, t in (self._history.get(stream) or ()) if a == clean(author, 40)
        ]
        lines = [
            f"stream: {clean(stream, 120) or 'unknown'}",
            f"author: {author}",
            f'deleted message: "{clean(ctx.get("text", ""))}"',
        ]
        if recent_by_author:
            lines.append("recent by author: " + " | ".join(recent_by_author[-3:]))
        pid = _pid("mode", decision.id)
        outcome = "executed"
        announcement = clean(ctx.get("announcement", ""), 160)
        if announcement:
            outcome += f": announced {announcement}"
        when = _iso(decision.timestamp)
        pattern = Pattern(
            id=pid,
            kind="moderation",
            context="\n".join(lines),
            decision=f"{what} — human moderator",
            outcome=outcome,
            module=MODULE,
            timestamp=when,
            source="live_chat",
            verified=True,  # a human's decision: ground truth
            first_seen=when,
            last_seen=when,
        )
        earlier = tuple(self._by_author.get(author_id, ()))

        def commit(pending: dict[str, Pattern], updates: dict[str, str]) -> None:
            # This timeout/ban is what happened after the author's earlier messages and
            # sanctions.
            for before in earlier:
                self._append_outcome(before, f"later: {what}", pending, updates)
            pending[pid] = pattern
            self._known.remember(pid, pattern)
            self._remember_author(author_id, pid)

        return commit
