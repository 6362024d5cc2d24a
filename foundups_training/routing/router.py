"""The Router: memory fast path, Gemma for lookups, Qwen for reasoning and escalations.

Flow of one question (``query.tier`` may force a tier instead):

1. rules prior: a reasoning question ("why", "how should I", "what's the intent") goes to
   Qwen's open answer with the recalled patterns as numbered records;
2. recall: the memory's nearest patterns become the candidate answers (distinct modules for
   "which module" questions, distinct decisions otherwise). A module question is searched
   for without its lead-in ("Which module …"), and each module's score also counts how
   well its summary pattern and the best of its README passages match. A question that
   gives channels' priority scores is answered without a model by the recorded round with
   those scores, else by the mined rule applied to them (:mod:`.priority`);
3. fast path: when the best neighbour is very similar and the close neighbours agree, the
   memory answers without a model;
4. Gemma picks among the candidates with one forward pass (the next token's probability of
   each option letter); its confidence is that probability combined with the retrieval
   prior, then calibrated together with the pick's word coverage (the share of the
   question's content words its patterns contain, :mod:`~foundups_training.routing.coverage`);
5. below the threshold (0.7) Gemma escalates to Qwen, which picks the same way.

Every answer says which tier answered, its confidence, whether and why it escalated, its
latency and the patterns used. A missing or broken model never raises: the error goes into
the answer and the memory tier answers instead.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from foundups_training.logs import warn_failure
from foundups_training.mining.extractors import NOTHING_TRIED
from foundups_training.mining.redact import REDACTED, redact
from foundups_training.mining.templates import mask
from foundups_training.models.base import Backend, ModelError, retry_wait
from foundups_training.models.calibration import Calibration
from foundups_training.models.prompts import (
    LABEL_CHARS,
    LETTERS,
    Evidence,
    Option,
    gemma_choice,
    quote,
    qwen_choice,
    qwen_open,
)
from foundups_training.records import (
    MASKED,
    PATTERN_KINDS,
    Answer,
    Near,
    Pattern,
    Query,
    Recalled,
    module_summary_id,
    normalise,
    situation_of,
)
from foundups_training.routing.coverage import coverage, pattern_words, text_words
from foundups_training.routing.instances import (
    asks_most_often,
    concrete_text,
    option_most_often,
    outcome_of,
)
from foundups_training.routing.moments import LogMoments, mined_log, named_moment, nearest
from foundups_training.routing.priority import (
    RuleAnswer,
    apply_priority_rule,
    gives_scores,
    recorded_round,
)
from foundups_training.routing.rules import RoutingRules

if TYPE_CHECKING:
    from foundups_training.config import Settings

log = logging.getLogger(__name__)

_T = TypeVar("_T")

TIERS = ("memory", "gemma", "qwen")
#: What a query's ``kind`` may name: a reasoning question, or the pattern kind that answers.
KINDS = ("reasoning", *PATTERN_KINDS)

#: How often :meth:`LazyBackend.close` looks whether the load it waits for ran past its
#: deadline (then it stops waiting).
_CLOSE_POLL_S = 0.05

#: Recalled patterns shown to Qwen as numbered records for an open (reasoning) answer.
OPEN_EVIDENCE = 4

#: How much a full word coverage of the question adds to an option's similarity when the
#: options are ranked (:func:`_by_coverage`).
COVERAGE_WEIGHT = 0.1

#: Pattern kinds written by the host code index, never the answer to a log lookup.
CODE_KINDS = ("module_location", "module_doc")
#: Pattern kinds learned live from chat: a lookup searches them only when it asks about chat
#: (``RoutingRules.about_live_chat``) or names one of them as its kind.
LIVE_KINDS = ("chat_response", "moderation")


class Memory(Protocol):
    """What the router needs from the pattern memory."""

    def recall(
        self, query: str, n: int = 5, where: Any = None, min_similarity: float = 0.0
    ) -> list[Recalled]: ...

    # Optional: ``similarity(query, ids) -> {id: cosine}``, used to weigh module summaries;
    # ``pattern_similarity(query, patterns) -> [cosine]`` for patterns not stored (a moment
    # of the log, :mod:`.moments`); ``neighbours(query, n, kind) -> [Near]`` with
    # ``patterns(ids) -> {id: Pattern}``: a kind's nearest without their text, and the few
    # read (the modules' passages, :meth:`Router._doc_scores`).


@dataclass(frozen=True)
class Candidate:
    """One distinct answer among the recalled patterns."""

    key: str
    text: str
    evidence: str
    similarity: float
    pattern_ids: tuple[str, ...]
    support: int = 1
    #: the words its patterns say (situation, decision, outcome, module): see ``coverage``
    words: frozenset[str] = frozenset()


@dataclass
class Scored:
    """A tier's pick: the candidate, raw and calibrated confidence, and what it cost."""

    candidate: Candidate | None
    text: str
    raw: float
    confidence: float
    model: str
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    scorer: str = ""  # the calibration curve that turned ``raw`` into ``confidence``
    coverage: float = 0.0  # share of the question's content words the candidate's patterns say
    #: the options the tier chose among: the answer names their patterns (Gemma's 3, not
    #: the 4th it never saw)
    shown: tuple[Candidate, ...] = ()


@dataclass(frozen=True)
class Detail:
    """What the evaluation harness needs beyond the Answer: the raw (uncalibrated) score."""

    intent: str = ""
    scorer: str = ""
    raw: float = 0.0
    coverage: float = 0.0
    candidates: int = 0


class LazyBackend:
    """Builds a backend on first use; remembers a failure for
    :func:`~foundups_training.models.base.retry_wait` seconds (60, twice as long after each
    further failure in a row, at most an hour), so that it is not retried on every call, yet
    a fixed cause (the GGUF installed, or put where the error says it was looked for) is
    seen without restarting the host."""

    def __init__(
        self,
        tier: str,
        factory: Callable[[], Backend],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tier = tier
        self._factory = factory
        self._backend: Backend | None = None
        self._error: str = ""
        self._failed_at = 0.0  # ``clock()`` when the last build failed
        self._failures = 0  # failed builds in a row
        self._clock = clock
        #: set by ``close(final=True)``: nothing is built again (a question after the host's
        #: shutdown loaded the model anew, and nobody was left to close it)
        self._closed = False
        self._lock = threading.Lock()
        #: calls that ran past their deadline and have not returned yet (see :meth:`call`);
        #: a lock of its own, since ``_lock`` is held for a whole (perhaps hung) load
        self._overdue = 0
        self._overdue_lock = threading.Lock()
        #: calls in flight per backend (by ``id``), and the backends :meth:`close` left to
        #: the last of them to close; a lock of its own, for the reason above
        self._users: dict[int, int] = {}
        self._doomed: dict[int, Backend] = {}
        self._users_lock = threading.Lock()

    def get(self) -> Backend:
        """The backend, or :class:`ModelError` with the reason it is unavailable.

        Its use is not counted: :meth:`close` may close it under the caller (``call`` counts
        its own)."""
        return self._take(use=False)

    def _take(self, *, use: bool) -> Backend:
        """:meth:`get`; with ``use``, the backend counts as in use until :meth:`_done`.

        A backend built while ``close(final=True)`` waited for this load is closed at once
        and refused: the question then called it, and the in-process model loaded its
        weights anew after close, for nobody to close."""
        with self._lock:
            if self._closed:
                raise ModelError(f"{self.tier} is closed")
            # Under the lock: of the callers that come after the cool-down, the first tries
            # again; those that waited for it get its outcome (a new failure: at once).
            if self._backend is None and self._error and self._left() <= 0:
                self._error = ""
            fresh = self._backend is None and not self._error
            if fresh:
                try:
                    self._backend = self._factory()
                except Exception as exc:  # noqa: BLE001 - becomes the answer's error
                    self._error = str(exc) or repr(exc)
                    self._failed_at = self._clock()
                    self._failures += 1
            if self._backend is None:
                left = max(1, math.ceil(self._left()))
                raise ModelError(f"{self._error} (retried in {left} s)")
            if fresh and self._closed:
                # Nobody else has it yet; close() waits for this lock (or gave up on a load
                # past its deadline), so it is closed before close() returns.
                built, self._backend = self._backend, None
                _close_quietly(self.tier, built)
                raise ModelError(f"{self.tier} is closed")
            if use:
                with self._users_lock:
                    key = id(self._backend)
                    self._users[key] = self._users.get(key, 0) + 1
            return self._backend

    def _done(self, backend: Backend) -> None:
        """A call counted by :meth:`_take` ended: the last one closes the backend if
        :meth:`close` left it to them."""
        key = id(backend)
        with self._users_lock:
            left = self._users.get(key, 1) - 1
            if left > 0:
                self._users[key] = left
                return
            self._users.pop(key, None)
            doomed = self._doomed.pop(key, None)
        if doomed is not None:
            _close_quietly(self.tier, doomed)

    def _use(self, work: Callable[[Backend], _T]) -> tuple[Backend, _T]:
        """``work(backend)``, counted as a call in flight."""
        backend = self._take(use=True)
        try:
            return backend, work(backend)
        finally:
            self._done(backend)

    def _left(self) -> float:
        """Seconds until a failed build is tried again."""
        return retry_wait(self._failures) - (self._clock() - self._failed_at)

    def call(self, work: Callable[[Backend], _T], timeout: float) -> tuple[Backend, _T]:
        """``work(backend)`` (loading the backend first if need be) and the backend, within
        ``timeout`` seconds (0: no bound); :class:`ModelError` saying so past it.

        The work runs on a daemon thread the caller stops waiting for at the deadline: a
        hung model (a stuck server, llama.cpp spinning) cannot hold a host DAE's thread,
        and cannot keep the process from exiting. While such a call has not returned, the
        tier fails at once instead of starting another that would queue behind it (an
        in-process model serves one call at a time): one stuck thread, not one per
        question."""
        if timeout <= 0:
            return self._use(work)
        with self._overdue_lock:
            if self._overdue:
                raise ModelError(
                    f"{self.tier} is still busy with a call that took over {timeout:g} s "
                    "(model_timeout_s)"
                )
        done = threading.Event()
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                box["value"] = self._use(work)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                box["error"] = exc
            finally:
                with self._overdue_lock:
                    done.set()
                    if box.get("late"):
                        self._overdue -= 1

        threading.Thread(target=run, name=f"foundups-{self.tier}", daemon=True).start()
        if not done.wait(timeout):
            with self._overdue_lock:
                if not done.is_set():
                    box["late"] = True
                    self._overdue += 1
                    raise ModelError(f"no answer within {timeout:g} s (model_timeout_s)")
        if "error" in box:
            raise box["error"]
        result: tuple[Backend, _T] = box["value"]
        return result

    @property
    def name(self) -> str:
        """The model's name once built ('' before)."""
        return getattr(self._backend, "name", "") if self._backend else ""

    def close(self, *, final: bool = False) -> None:
        """Close the backend if it was built; with ``final`` (the router's :meth:`Router.close`,
        the host's shutdown), for good: :meth:`get` then says the tier is closed and builds
        nothing, even for a question that was already being answered.

        A call in flight on the backend (see :meth:`call`) is not waited for: the last one
        to end closes it. Closing it under them freed the model under a call, or (the
        in-process model, whose close waits for its lock) waited for the call, for ever
        when it hung. A load in progress within its deadline is waited for, and what it
        built is closed; one past its deadline is not (a host's shutdown must not hang
        with it): with ``final``, it closes what it builds when it ends."""
        if final:
            self._closed = True
        while not self._lock.acquire(timeout=_CLOSE_POLL_S):
            if self._overdue:
                log.warning(
                    "%s not closed: a load that ran past model_timeout_s is still running",
                    self.tier,
                )
                return
        try:
            backend, self._backend = self._backend, None
            if backend is not None:
                with self._users_lock:
                    if self._users.get(id(backend)):
                        self._doomed[id(backend)] = backend
                        log.debug("%s is closed when its calls in flight end", self.tier)
                        backend = None
        finally:
            self._lock.release()
        if backend is not None:
            backend.close()


def _close_quietly(tier: str, backend: Backend) -> None:
    """Close ``backend`` on a question's thread: a failure is logged, never raised into the
    question (its answer is not the close's)."""
    try:
        backend.close()
    except Exception:
        log.debug("closing the %s backend failed", tier, exc_info=True)


def _softmax(values: Sequence[float]) -> list[float]:
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    total = sum(exps)
    return [e / total for e in exps]


class Router:
    """Answers queries from memory, Gemma or Qwen by the configured rules."""

    def __init__(
        self,
        memory: Memory,
        gemma: Backend | LazyBackend | None,
        qwen: Backend | LazyBackend | None,
        *,
        rules: RoutingRules | None = None,
        calibration: Calibration | None = None,
        moments: Callable[[str], Sequence[Pattern]] | None = None,
    ) -> None:
        self.memory = memory
        #: the patterns of the log at the moment a question names (:mod:`.moments`)
        self.moments = moments
        self._backends: dict[str, LazyBackend | None] = {
            "gemma": _lazy("gemma", gemma),
            "qwen": _lazy("qwen", qwen),
        }
        self.rules = rules or RoutingRules()
        self.calibration = calibration or Calibration()
        self._local = threading.local()
        #: set by :meth:`close`: a later question is refused, and loads nothing
        self._closed = False

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_settings(cls, settings: Settings, memory: Memory) -> Router:
        """The router the settings describe; models are located and loaded on first use."""
        from foundups_training.routing.backends import backend_factory

        return cls(
            memory,
            LazyBackend("gemma", backend_factory("gemma", settings)),
            LazyBackend("qwen", backend_factory("qwen", settings)),
            rules=RoutingRules.from_settings(settings),
            calibration=Calibration.load_or_shipped(settings.calibration_path),
            moments=LogMoments(lambda: mined_log(settings)),
        )

    def close(self) -> None:
        """Release the models this router loaded. A question after it is refused (an
        error in the answer): it used to load the models again, which nobody then closed."""
        self._closed = True
        for lazy in self._backends.values():
            if lazy is not None:
                try:
                    lazy.close(final=True)
                except Exception:
                    log.debug("closing a backend failed", exc_info=True)

    # -- answering --------------------------------------------------------------------------
    def answer(self, query: Query, *, started: float | None = None) -> Answer:
        """Answer ``query``; never raises (errors are carried in the answer).

        ``started``: the ``time.perf_counter()`` reading when the caller began waiting
        (see :meth:`answer_detailed`)."""
        return self.answer_detailed(query, started=started)[0]

    def answer_detailed(
        self, query: Query, *, started: float | None = None
    ) -> tuple[Answer, Detail]:
        """The answer and its raw score (for calibration and evaluation).

        The latency counts from ``started`` (a ``time.perf_counter()`` reading) when the
        caller gives one: a host's first question opens the store and builds this router
        before it is called, and that wait is part of what the host waited for. A reading
        that is not a number, or is later than now, is ignored."""
        start = _since(started, time.perf_counter())
        self._local.detail = Detail()
        self._local.candidates = ()
        try:
            answer = self._answer(query)
        except Exception as exc:  # noqa: BLE001 - the router's promise: an Answer, always
            # one line (the answer carries the error too); the traceback only with -vv
            warn_failure(log, "routing failed", exc)
            answer = Answer(text="", tier="none", error=f"{type(exc).__name__}: {exc}")
        elapsed = round((time.perf_counter() - start) * 1000, 2)
        return replace(answer, latency_ms=elapsed), self._local.detail

    def _answer(self, query: Query) -> Answer:
        if self._closed:
            return Answer(
                text="", tier="none", error="the router is closed: it loads and answers nothing"
            )
        malformed = _malformed(query)
        if malformed:
            return Answer(text="", tier="none", error=malformed)
        if len(query.labels) > len(LETTERS):
            # Each label is an option letter; the 7th was dropped without a word, and a
            # label no model is shown can never be the answer.
            return Answer(
                text="",
                tier="none",
                error=f"too many labels: {len(query.labels)} (at most {len(LETTERS)}, "
                f"one per option letter {LETTERS[0]}-{LETTERS[-1]})",
            )
        unusable = _label_error(query.labels)
        if unusable:
            return Answer(text="", tier="none", error=unusable)
        text = _encodable(query.text).strip()
        if _BLANK.fullmatch(text):
            return Answer(text="", tier="none", error="empty question")
        if 0 < self.rules.max_question_chars < len(text):
            return Answer(
                text="",
                tier="none",
                error=f"question too long: {len(text):,} characters (at most "
                f"{self.rules.max_question_chars:,}: max_question_chars)",
            )
        # A key pasted into a question (or chat text asked as one) is no help to a model, and
        # with a model server the prompt leaves this machine: the question is redacted as
        # everything stored is. Ordinary questions are unchanged.
        text = redact(text)
        if not query.labels and _only_secrets(text):
            # Left with "[REDACTED]", it asks nothing, yet was answered with whatever pattern
            # came nearest. With labels the text is a chat message to sort, and one that is
            # only a pasted key is still one (a moderator deletes it).
            return Answer(
                text="",
                tier="none",
                error="nothing to ask: the question is only a secret (redacted, never sent on)",
            )
        tier = (query.tier or "auto").lower()
        if tier not in ("auto", *TIERS):
            return Answer(text="", tier="none", error=f"unknown tier {query.tier!r}")
        # Read as a tier is (any case); one that names nothing was answered as a plain
        # lookup, as if the host had named no kind.
        kind = query.kind.lower()
        if kind and kind not in KINDS:
            return Answer(
                text="",
                tier="none",
                error=f"unknown kind {query.kind!r} (one of: {', '.join(KINDS)})",
            )
        if kind in ("reasoning", "module_location"):
            intent = kind
        elif kind:
            intent = "lookup"  # any other pattern kind is a lookup among its patterns
        else:
            intent = self.rules.intent(text)
        self._local.question = text
        if intent == "module_location":
            search = self.rules.module_search_text(text)
        else:
            search = self.rules.lookup_search_text(text)
        recalled, recall_error = self._recall(search, intent, query.n_patterns, kind)
        if intent == "lookup" and not kind and self.rules.module_or_log(text):
            intent, search, recalled = self._either(text, query.n_patterns, recalled)
        if intent == "lookup" and not kind and self.rules.log_or_design(text):
            if self._design(search, recalled):
                intent = "reasoning"
                recalled, recall_error = self._recall(search, intent, query.n_patterns)
        labelled = bool(query.labels)
        if labelled and intent == "reasoning":
            # The labels are the host's closed set: a chat message that reads like a "why"
            # ("why is the stream down??") got Qwen's prose, none of the labels.
            intent = "lookup"
        self._local.detail = Detail(intent=intent)
        if intent == "lookup" and not kind and not query.labels:
            recalled = self._with_moment(text, recalled)
        candidates = self._candidates(query, intent, recalled, search)
        rule = (
            recorded_round(text, self._rounds(text, recalled))
            or apply_priority_rule(text, recalled)
            if intent == "lookup" and not query.labels
            else None
        )
        if rule is not None:
            derived = _rule_candidate(rule)
            candidates = [derived, *(c for c in candidates if c.key != derived.key)]
        self._local.candidates = tuple(candidates)
        self._local.detail = replace(self._local.detail, candidates=len(candidates))

        if tier == "memory":
            return self._finish(self._memory(candidates), "memory", recalled, error=recall_error)
        if tier in ("gemma", "qwen"):
            return self._model_tier(
                tier, text, intent, candidates, recalled, recall_error, labelled=labelled
            )

        # auto
        if intent == "reasoning":
            return self._model_tier(
                "qwen",
                text,
                intent,
                candidates,
                recalled,
                recall_error,
                route_reason="reasoning question",
            )
        if rule is not None:
            # The mined rule applied to the question's own numbers: no model can do better
            # by picking one of the recorded rounds, which answer other numbers. Or the
            # recorded round those numbers are: it alone says what followed.
            return self._finish(
                self._memory(candidates[:1]), "memory", recalled, error=recall_error
            )
        if self._fast_path(candidates, recalled):
            return self._finish(self._memory(candidates), "memory", recalled, error=recall_error)
        if not candidates:
            # Nothing to pick from: only an open answer can help.
            return self._model_tier(
                "qwen",
                text,
                "reasoning",
                candidates,
                recalled,
                recall_error,
                escalated=True,
                escalation_reason="no patterns recalled",
            )
        gemma = self._choose("gemma", text, candidates, labelled=labelled)
        if gemma.error:
            qwen = self._choose("qwen", text, candidates)
            if qwen.error:
                # Nothing escalated: the memory answers (``escalated`` says Qwen answered).
                mem = self._memory(candidates)
                return self._finish(
                    mem,
                    "memory",
                    recalled,
                    escalation_reason="models unavailable",
                    error=_joined(f"gemma: {gemma.error}", f"qwen: {qwen.error}", recall_error),
                )
            return self._finish(
                qwen,
                "qwen",
                recalled,
                escalated=True,
                escalation_reason="gemma unavailable",
                error=_joined(f"gemma: {gemma.error}", recall_error),
            )
        # The confidence the answer will show is the one held to the threshold: a 0.69996
        # shown as 0.7 must not read "gemma confidence 0.69 < 0.70", and a caller's own
        # calibration's NaN or infinity (shown as 0) must not fail the answer while its
        # reason is written, nor pass the threshold.
        confidence = _probability(gemma.confidence)
        if confidence >= self.rules.threshold:
            return self._finish(gemma, "gemma", recalled, error=recall_error)
        # Rounded down, so that 0.699 never reads "0.70 < 0.70".
        shown = math.floor(confidence * 100) / 100
        reason = f"gemma confidence {shown:.2f} < {_threshold_text(self.rules.threshold)}"
        qwen = self._choose("qwen", text, candidates)
        if qwen.error:
            # Escalation failed: Gemma's pick stands, and the answer says why.
            return self._finish(
                gemma,
                "gemma",
                recalled,
                escalated=False,
                escalation_reason=reason + " (qwen unavailable)",
                error=_joined(f"qwen: {qwen.error}", recall_error),
            )
        return self._finish(
            qwen, "qwen", recalled, escalated=True, escalation_reason=reason, error=recall_error
        )

    # -- parts --------------------------------------------------------------------------------
    def _recall(self, text: str, intent: str, n: int, kind: str = "") -> tuple[list[Recalled], str]:
        n = max(n, self.rules.recall_n)
        # "Which module" questions are answered by module_location patterns; other lookups
        # by what the log taught (thousands of code patterns and the passages of the
        # modules' documents would crowd those out), and by what chat taught only when they
        # ask about chat: tens of thousands of chat messages crowd out the few hundred log
        # patterns otherwise. Each pool is its own filtered search, so that a small pool is
        # searched exactly, not through a graph made of the large one (measured: an HNSW
        # search among 94K chat patterns did not reach the nearest log pattern at all).
        # A reasoning question reads every kind but the chat ones (unless it asks about chat).
        pools: list[dict[str, Any]] = []
        about_chat = self.rules.about_live_chat(text)
        if kind in PATTERN_KINDS and intent == "lookup":
            pools = [{"kind": kind}]  # the caller named the kind of pattern that answers
        elif intent == "module_location":
            pools = [{"kind": "module_location"}]
        else:
            skip = [*CODE_KINDS, *LIVE_KINDS] if intent == "lookup" else [*LIVE_KINDS]
            pools = [{"kind": {"$nin": skip}}]
            if about_chat:
                # one search per kind: the few moderation patterns must not hide behind
                # the thousands of chat messages in an approximate graph search either
                pools.extend({"kind": k} for k in LIVE_KINDS)
        try:
            found: list[Recalled] = []
            for where in pools:
                found.extend(_measured(self.memory.recall(text, n=n, where=where)))
            if found:
                found.sort(key=lambda r: -r.similarity)
                return found[:n], ""
            # Nothing in the question's own pools (a store of code patterns only, say): the
            # nearest of the rest, but never chat messages for a question not about chat (a
            # store that has learned only from chat would answer "which module …" with one).
            rest = None if about_chat else {"kind": {"$nin": [*LIVE_KINDS]}}
            return _measured(self.memory.recall(text, n=n, where=rest)), ""
        except Exception as exc:  # noqa: BLE001 - a broken memory still gets an answer
            log.warning("recall failed: %s", exc)
            return [], f"memory: {type(exc).__name__}: {exc}"

    def _either(
        self, text: str, n: int, recalled: list[Recalled]
    ) -> tuple[str, str, list[Recalled]]:
        """``(intent, search text, recalled)`` for a lookup that may ask for a module
        (``RoutingRules.module_or_log``): a module question when a module pattern is nearer
        the question than the nearest of ``recalled`` (what the log taught)."""
        search = self.rules.module_search_text(text)
        modules, error = self._recall(search, "module_location", n)
        best_log = max((r.similarity for r in recalled), default=0.0)
        if not error and modules and modules[0].similarity > best_log:
            return "module_location", search, modules
        return "lookup", text, recalled

    def _design(self, search: str, recalled: list[Recalled]) -> bool:
        """Whether a lookup that may ask how the code behaves (``RoutingRules.log_or_design``)
        does: a passage of a module's README or INTERFACE is nearer it than the nearest of
        ``recalled`` (what the log taught)."""
        try:
            passages = self._passages(search, 1)
        except Exception as exc:  # noqa: BLE001 - the lookup still answers
            log.warning("module_doc recall failed: %s", exc)
            return False
        best_log = max((r.similarity for r in recalled), default=0.0)
        return bool(passages) and passages[0].similarity > best_log

    def _passages(self, search: str, n: int) -> list[Near]:
        """The ``n`` passages of modules' READMEs and INTERFACEs nearest ``search``, read
        without their text where the memory can (``neighbours``)."""
        neighbours = getattr(self.memory, "neighbours", None)
        if neighbours is not None and getattr(self.memory, "patterns", None) is not None:
            return list(neighbours(search, n, "module_doc"))
        return [Near.of(r) for r in self.memory.recall(search, n=n, where={"kind": "module_doc"})]

    def _with_moment(self, text: str, recalled: list[Recalled]) -> list[Recalled]:
        """The patterns of the log at the moment the question names, nearest first, in
        place of ``recalled`` (the store's patterns are other moments: the retry it keeps
        wrote 30 rows, the one at 15:34 wrote 40). ``recalled`` itself when the question
        names no moment, the log says nothing then, or the moment's patterns cannot be
        scored."""
        score = getattr(self.memory, "pattern_similarity", None)
        moment = named_moment(text)
        if self.moments is None or score is None or moment is None:
            return recalled
        try:
            found = [p for p in self.moments(text) if p.kind not in CODE_KINDS]
            found = nearest(found, moment, option_key)
            # Embedding costs ~6 ms a pattern on two cores, and a stretch has dozens. A
            # pattern the store holds is first scored by its stored vector (another
            # occurrence of the same situation and decision: nearly the same text); the
            # best few, and those the store lacks, are then embedded as they read now.
            stored = getattr(self.memory, "similarity", None)
            sims = stored(text, [p.id for p in found]) if stored and found else {}
            best = sorted((p for p in found if p.id in sims), key=lambda p: -sims[p.id])
            fresh = [p for p in found if p.id not in sims] + best[: self.rules.max_options]
            if fresh:
                sims.update(zip((p.id for p in fresh), score(text, fresh), strict=True))
        except Exception as exc:  # noqa: BLE001 - the store's recall still answers
            log.warning("reading the log's moment failed: %s", exc)
            return recalled
        if not found:
            return recalled
        ranked = sorted(((p, sims[p.id]) for p in found), key=lambda ps: -ps[1])
        return [Recalled(p, float(s)) for p, s in ranked[: max(len(recalled), self.rules.recall_n)]]

    def _rounds(self, text: str, recalled: list[Recalled]) -> list[Recalled]:
        """The priority patterns to look for the round a question's scores name in: more
        than one question's recall holds (each keeps its first few rounds), searched only
        when the question gives two channels' scores."""
        n = self.rules.round_recall_n
        if n <= 0 or not gives_scores(text, recalled):
            return recalled
        try:
            return list(self.memory.recall(text, n=n, where={"kind": "priority"}))
        except Exception as exc:  # noqa: BLE001 - the recalled patterns still serve
            log.warning("recall of priority rounds failed: %s", exc)
            return recalled

    def _candidates(
        self, query: Query, intent: str, recalled: Sequence[Recalled], search: str = ""
    ) -> list[Candidate]:
        """Distinct answers among the recalled patterns, best similarity first.

        For a module question a module's similarity also counts its summary pattern (see
        :meth:`_summary_scores`): the question says what a module is for, and a class of
        another module that shares its words should not outrank the module whose summary
        says it.
        """
        if query.labels:
            return [
                Candidate(
                    key=normalise(lab),
                    text=lab,
                    evidence="",
                    similarity=0.0,
                    pattern_ids=(),
                    words=text_words(lab),
                )
                for lab in query.labels[: len(LETTERS)]
            ]
        groups: dict[str, list[Recalled]] = {}
        for rec in recalled:
            pat = rec.pattern
            if intent == "module_location" and pat.module:
                key = pat.module.strip("/").lower()
            else:
                key = option_key(pat)
            if key:
                groups.setdefault(key, []).append(rec)
        out = []
        #: per option: its kind, how often its patterns were seen, and whether it counted
        #: alternatives of its own (see :func:`_most_often_first`)
        counted: dict[str, tuple[str, int, bool]] = {}
        for key, recs in groups.items():
            best = max(recs, key=lambda r: r.similarity)
            pat = best.pattern
            if intent == "module_location" and pat.module:
                text = pat.module.strip("/")
            else:
                # the instance the question names ("credential set 2"), else the template
                ranked = sorted(recs, key=lambda r: -r.similarity)
                outcome = outcome_of(query.text, [r.pattern for r in ranked])
                found = concrete_text(query.text, [r.pattern for r in ranked])
                text = (
                    found.text
                    if found
                    else pat.decision + (f" (then: {outcome})" if outcome else "")
                )
                if pat.decision == NOTHING_TRIED and not pat.outcome:
                    text = f"{NOTHING_TRIED} after: {_error_line(pat)}"
                elif pat.kind == "error_fix":
                    # What was tried answers "what did it do"; the error it was tried after
                    # answers "which error / what was missing". The error comes last: a
                    # model's menu shows only an option's start.
                    error = found.situation if found and found.situation else _error_line(pat)
                    text = f"{text}; after: {error}"
                own = bool(MASKED.search(pat.decision)) and (
                    option_most_often([r.pattern for r in ranked]) is not None
                )
                counted[key] = (pat.kind, sum(r.pattern.seen for r in recs), own)
            out.append(
                Candidate(
                    key=key,
                    text=text,
                    evidence=pat.context,
                    similarity=best.similarity,
                    pattern_ids=tuple(r.pattern.id for r in recs),
                    support=len(recs),
                    words=pattern_words(r.pattern for r in recs),
                )
            )
        if intent == "module_location" and search:
            out = self._doc_scores(search, self._summary_scores(search, out))
        # A summary's, a passage's or a moment's similarity that is not a number leaves its
        # option out, as :func:`_measured` leaves out such a recalled pattern.
        out = [c for c in out if math.isfinite(c.similarity)]
        out = _by_coverage(query.text, intent, out)
        out = out[: self.rules.max_options]
        if counted and asks_most_often(query.text):
            out = _most_often_first(out, counted, self.rules.fast_path_band)
        return out

    def _summary_scores(self, search: str, candidates: list[Candidate]) -> list[Candidate]:
        """Each module candidate's similarity mixed with its summary pattern's:
        ``(1 - w) × best + w × summary`` (``w`` = ``rules.summary_weight``). A module without
        a summary, or a memory that cannot tell (no ``similarity`` method, an error), keeps
        its best pattern's similarity."""
        w = self.rules.summary_weight
        similarity = getattr(self.memory, "similarity", None)
        if w <= 0 or similarity is None or not candidates:
            return candidates
        ids = {c.key: module_summary_id(c.text) for c in candidates}
        try:
            found = similarity(search, list(ids.values()))
        except Exception as exc:  # noqa: BLE001 - the unmixed ranking still answers
            log.warning("summary similarity failed: %s", exc)
            return candidates
        return [
            c if ids[c.key] not in found else _mixed(c, found[ids[c.key]], w) for c in candidates
        ]

    def _doc_scores(self, search: str, candidates: list[Candidate]) -> list[Candidate]:
        """Each module candidate's score mixed with its best-matching passage of its own
        README or INTERFACE (``module_doc``) among the nearest ones: ``(1 - v) × score + v ×
        passage`` (``v`` = ``rules.doc_weight``). A module none of whose passages is near
        keeps its score; modules that only their passages bring are added (:meth:`_doc_only`)."""
        v = self.rules.doc_weight
        if v <= 0 or not candidates:
            return candidates
        try:
            passages = self._passages(search, self.rules.doc_recall_n)
        except Exception as exc:  # noqa: BLE001 - the unmixed ranking still answers
            log.warning("module_doc recall failed: %s", exc)
            return candidates
        best: dict[str, Near] = {}
        for near in passages:
            key = near.module.strip("/").lower()
            if near.kind == "module_doc" and key:
                if key not in best or near.similarity > best[key].similarity:
                    best[key] = near
        mixed = [
            c if c.key not in best else _mixed(c, best[c.key].similarity, v) for c in candidates
        ]
        return mixed + self._doc_only(search, candidates, best, v)

    def _doc_only(
        self,
        search: str,
        candidates: Sequence[Candidate],
        passages: dict[str, Near],
        v: float,
    ) -> list[Candidate]:
        """Modules that only their own documents bring: those of the first ``max_options``
        modules in the ranking of the passages none of whose code patterns was recalled
        ("the paywall that meters paid build compute" is said by agent_market's README, not
        by its classes). Each is
        scored like any other module, its summary pattern's similarity standing for its
        best pattern's (a lower bound: the summary is one of its patterns; the best one
        lies beyond the recall, and a wider search for it took a memory-tier answer from 12
        to 24 ms on the real tree, for one more right answer of its 111), mixed with the
        passage's. A module without a summary pattern is not indexed code: left out."""
        have = {c.key for c in candidates}
        extra = [k for k in list(passages)[: self.rules.max_options] if k not in have]
        similarity = getattr(self.memory, "similarity", None)
        if not extra or similarity is None:
            return []
        out = []
        try:
            ids = {k: module_summary_id(passages[k].module.strip("/")) for k in extra}
            found = similarity(search, list(ids.values()))
            extra = [k for k in extra if ids[k] in found]  # others: not the indexed tree's
            unread = [passages[k].id for k in extra if passages[k].pattern is None]
            read = self.memory.patterns(unread) if unread else {}  # type: ignore[attr-defined]
            for key in extra:
                near = passages[key]
                passage = near.pattern or read.get(near.id)
                if passage is None:
                    continue  # deleted since it was found
                out.append(
                    Candidate(
                        key=key,
                        text=passage.module.strip("/"),
                        evidence=passage.context,
                        similarity=(1 - v) * found[ids[key]] + v * near.similarity,
                        pattern_ids=(passage.id,),
                        words=pattern_words([passage]),
                    )
                )
        except Exception as exc:  # noqa: BLE001 - the recalled modules still answer
            log.warning("scoring modules found by their documents failed: %s", exc)
            return []
        return out

    def _prior(self, candidates: Sequence[Candidate]) -> list[float]:
        """Retrieval's own belief over the candidates: softmax(similarity / T)."""
        t = max(self.rules.retrieval_temperature, 1e-3)
        return _softmax([c.similarity / t for c in candidates])

    def _fast_path(self, candidates: Sequence[Candidate], recalled: Sequence[Recalled]) -> bool:
        """The best neighbour is very close and every close neighbour says the same."""
        if not candidates or not recalled:
            return False
        best = candidates[0]
        if best.similarity < self.rules.fast_path_similarity:
            return False
        band = best.similarity - self.rules.fast_path_band
        rivals = [c for c in candidates[1:] if c.similarity >= band]
        return not rivals

    def _memory(self, candidates: Sequence[Candidate]) -> Scored:
        if not candidates:
            return Scored(None, "", 0.0, 0.0, "memory", error="no patterns recalled")
        raw = self._prior(candidates)[0]
        confidence, cov = self._calibrated("memory", raw, candidates[0])
        return Scored(
            candidates[0],
            candidates[0].text,
            raw,
            confidence,
            "memory",
            scorer="memory",
            coverage=cov,
            shown=tuple(candidates),
        )

    def _calibrated(self, scorer: str, raw: float, chosen: Candidate) -> tuple[float, float]:
        """The calibrated confidence of a pick and the word coverage that went into it."""
        cov = coverage(getattr(self._local, "question", ""), chosen.words)
        intent = getattr(getattr(self._local, "detail", None), "intent", "")
        return self.calibration(scorer, raw, coverage=cov, intent=intent), cov

    def _choose(
        self, tier: str, text: str, candidates: Sequence[Candidate], *, labelled: bool = False
    ) -> Scored:
        """One forward pass of ``tier`` over lettered options, combined with the prior.

        ``labelled``: the options are the host's labels, all shown to Gemma too (at most one
        per letter: :meth:`_answer` refuses more). ``gemma_max_options`` trims what retrieval
        recalled, nearest first; of a closed set, the label left out could never be the
        answer."""
        lazy = self._backends.get(tier)
        if lazy is None:
            return Scored(None, "", 0.0, 0.0, "", error=f"no {tier} model configured")
        if not candidates:  # (a forced tier, nothing recalled): no model call for no options
            return Scored(None, "", 0.0, 0.0, lazy.name or tier, error="nothing to choose from")
        if tier == "gemma" and not labelled:
            candidates = candidates[: max(1, self.rules.gemma_max_options)]
        options = [Option(c.text, c.evidence) for c in candidates]
        labels = LETTERS[: len(options)]
        try:
            if tier == "gemma":
                prompt = gemma_choice(
                    text, options, describe=self.rules.gemma_evidence_chars, labels=labelled
                )
            else:
                prompt = qwen_choice(text, options, describe=self.rules.qwen_evidence_chars)
            backend, choice = lazy.call(
                lambda b: b.choose(prompt, labels), self.rules.model_timeout_s
            )
            probs = _label_probs(choice, len(labels))
        except Exception as exc:  # noqa: BLE001 - becomes the answer's error
            return Scored(None, "", 0.0, 0.0, lazy.name or tier, error=str(exc) or repr(exc))
        prior = self._prior(candidates) if any(c.similarity for c in candidates) else None
        w = self.rules.model_weight
        if prior is None:
            combined = list(probs)
        else:
            scores = [
                w * math.log(max(p, 1e-9)) + math.log(max(q, 1e-12))
                for p, q in zip(probs, prior, strict=True)
            ]
            combined = _softmax(scores)
        best = max(range(len(combined)), key=combined.__getitem__)
        raw = combined[best]
        if not math.isfinite(raw):  # a backend's broken numbers: the tier failed
            return Scored(None, "", 0.0, 0.0, backend.name, error=f"non-finite score {raw}")
        cand = candidates[best]
        confidence, cov = self._calibrated(tier, raw, cand)
        return Scored(
            cand,
            cand.text,
            raw,
            confidence,
            backend.name,
            extra={"model_probs": list(probs), "label_mass": getattr(choice, "label_mass", 0.0)},
            scorer=tier,
            coverage=cov,
            shown=tuple(candidates),
        )

    def _open(self, text: str, recalled: Sequence[Recalled]) -> Scored:
        """Qwen's generated answer to a reasoning question."""
        lazy = self._backends.get("qwen")
        if lazy is None:
            return Scored(None, "", 0.0, 0.0, "", error="no qwen model configured")
        evidence = [
            Evidence(r.pattern.context, r.pattern.decision or r.pattern.module, r.pattern.outcome)
            for r in open_evidence(recalled)
        ]
        try:
            prompt = qwen_open(text, evidence, limit=self.rules.qwen_open_evidence_chars)
            backend, done = lazy.call(
                lambda b: b.complete(prompt, max_tokens=self.rules.qwen_max_tokens),
                self.rules.model_timeout_s,
            )
            said, raw = _completion(done)
        except Exception as exc:  # noqa: BLE001 - becomes the answer's error
            return Scored(None, "", 0.0, 0.0, lazy.name or "qwen", error=str(exc) or repr(exc))
        if not said.strip() or not math.isfinite(raw):
            # Nothing said (or broken numbers): the memory tier answers instead.
            return Scored(None, "", 0.0, 0.0, backend.name, error="the model gave no answer")
        return Scored(
            None,
            said,
            raw,
            self.calibration("qwen_open", raw),
            backend.name,
            scorer="qwen_open",
        )

    def _model_tier(
        self,
        tier: str,
        text: str,
        intent: str,
        candidates: Sequence[Candidate],
        recalled: Sequence[Recalled],
        recall_error: str,
        *,
        escalated: bool = False,
        escalation_reason: str = "",
        route_reason: str = "",
        labelled: bool = False,
    ) -> Answer:
        """A forced (or rule-chosen) model tier, falling back to memory when it fails."""
        if tier == "qwen" and (intent == "reasoning" or not candidates):
            scored = self._open(text, recalled)
        else:
            scored = self._choose(tier, text, candidates, labelled=labelled)
        if scored.error:
            # The memory answers; an escalation to the tier did not happen (the reason says so).
            mem = self._memory(candidates)
            return self._finish(
                mem,
                "memory",
                recalled,
                escalation_reason=(
                    f"{escalation_reason} ({tier} unavailable)"
                    if escalated
                    else escalation_reason or route_reason
                ),
                error=_joined(f"{tier}: {scored.error}", recall_error),
            )
        return self._finish(
            scored,
            tier,
            recalled,
            escalated=escalated,
            escalation_reason=escalation_reason,
            error=recall_error,
        )

    def _finish(
        self,
        scored: Scored,
        tier: str,
        recalled: Sequence[Recalled],
        *,
        escalated: bool = False,
        escalation_reason: str = "",
        error: str = "",
    ) -> Answer:
        errors = "; ".join(e for e in (error, scored.error if tier == "memory" else "") if e)
        if scored.candidate is not None:
            # The patterns behind the chosen answer first, then those behind the other options
            # the tier was shown (not those of a 4th option Gemma never saw).
            chosen = list(scored.candidate.pattern_ids)
            patterns = chosen + [
                pid for c in scored.shown for pid in c.pattern_ids if pid not in set(chosen)
            ]
        else:
            # An open answer's patterns are the records it was shown.
            patterns = [r.pattern.id for r in open_evidence(recalled)]
        self._local.detail = replace(
            getattr(self._local, "detail", Detail()),
            scorer=scored.scorer,
            raw=float(scored.raw),
            coverage=float(scored.coverage),
        )
        answered = tier if (scored.text or tier != "memory") else ("memory" if recalled else "none")
        return Answer(
            text=scored.text,
            tier=answered,
            # nothing answered: no model to name (it read "memory" beside tier "none")
            model="" if answered == "none" else scored.model if tier != "memory" else "memory",
            confidence=_probability(scored.confidence),
            escalated=escalated,
            escalation_reason=escalation_reason,
            patterns=tuple(patterns),
            error=errors,
        )


def _threshold_text(threshold: float) -> str:
    """The threshold as an escalation reason writes it: two places, or as many as it has
    (0.705 written "0.70" read "gemma confidence 0.70 < 0.70")."""
    two = f"{threshold:.2f}"
    return two if float(two) == threshold else f"{threshold:g}"


def _since(started: Any, now: float) -> float:
    """When the caller began waiting: ``started`` if it is a ``time.perf_counter()``
    reading (a number, not after ``now``), else ``now``. A host's stray value must not
    fail the answer or report a latency of days."""
    if isinstance(started, bool) or not isinstance(started, int | float):
        return now
    try:
        value = float(started)
    except OverflowError:  # an int past a float's range: math.isfinite raised it too
        return now
    return value if math.isfinite(value) and value <= now else now


def _joined(*errors: str) -> str:
    """The errors of the tiers that failed, in the order they were tried."""
    return "; ".join(e for e in errors if e)


_SURROGATE = re.compile("[\ud800-\udfff]")

#: A question with nothing visible in it: ``str.strip`` keeps control characters, a zero-width
#: space or joiner, a word joiner and a byte order mark, and such a question was recalled for
#: and answered (a host reading questions from a file meets a lone BOM or NUL).
_BLANK = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u2060-\u2064\ufeff]*")


def _only_secrets(text: str) -> bool:
    """Whether redacted ``text`` is nothing but what redaction took out: no letter or digit
    is left beside its markers."""
    if REDACTED not in text:
        return False
    return not any(ch.isalnum() for ch in text.replace(REDACTED, ""))


def _encodable(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD. The CLI and the menu do this
    (``cli.readable``), but a host DAE calls the hook directly: such a question failed
    every model tier ("'utf-8' codec can't encode character '\\ud800'": llama.cpp's
    tokenizer and a server's JSON take UTF-8) and was answered by the memory alone."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def _malformed(query: Any) -> str:
    """Why ``query`` cannot be read as a :class:`Query`, or "". A host DAE may hand the
    ``on_query`` hook bytes, None or a number where text belongs; each used to fail deep in
    the router with a bare "AttributeError: 'NoneType' object has no attribute 'strip'"
    (and a logged "routing failed"), never saying which field was wrong."""
    if not isinstance(query, Query):
        return f"not a question: a Query is expected, not {type(query).__name__}"
    if not isinstance(query.text, str):
        return f"the question must be text (str), not {type(query.text).__name__}"
    if query.tier is not None and not isinstance(query.tier, str):
        return f"unknown tier {query.tier!r}"
    if not isinstance(query.kind, str):
        return f"the question's kind must be text (str), not {type(query.kind).__name__}"
    if isinstance(query.n_patterns, bool) or not isinstance(query.n_patterns, int):
        return f"n_patterns must be a whole number, not {query.n_patterns!r}"
    labels = query.labels
    if isinstance(labels, str) or not isinstance(labels, Sequence):
        # a string would be read as one label per character
        return f"labels must be a list of strings, not {type(labels).__name__}"
    if not all(isinstance(label, str) for label in labels):
        return "labels must be a list of strings"
    return ""


def _label_error(labels: Sequence[str]) -> str:
    """Why a host's labels cannot be told apart, or "". A blank label came back as the
    answer (text "", which a host cannot act on); two labels for one class ("Spam",
    " spam") took two letters and split the model's probability for it; labels that differ
    only past the :data:`LABEL_CHARS` a model is shown, or in invisible characters, were
    one line twice to it. Each is the host's mistake, refused as too many labels are."""
    seen: dict[str, int] = {}
    shown: dict[str, int] = {}
    for n, label in enumerate(labels, 1):
        quoted = quote(label, LABEL_CHARS)
        if _BLANK.fullmatch(label) or not quoted:
            return (
                f"blank label: label {n} ({label!r}) shows nothing (empty, only spaces or "
                "invisible characters)"
            )
        first = seen.setdefault(normalise(label), n)
        if first != n:
            return (
                f"duplicate labels: labels {first} and {n} ({labels[first - 1]!r}, {label!r}) "
                "are the same after case and spacing"
            )
        first = shown.setdefault(normalise(quoted), n)
        if first != n:
            return (
                f"labels {first} and {n} read the same to a model: it is shown at most "
                f"{LABEL_CHARS} characters of a label, without invisible characters"
            )
    return ""


def _measured(recalled: Sequence[Recalled]) -> list[Recalled]:
    """``recalled`` without the patterns whose similarity is not a finite number (a host's
    own memory, a cosine with a zero vector). Such a pattern passed the fast path's "below
    the bar" test (NaN compares false) and had the memory answer at once, or made the
    retrieval prior NaN, so that both models were reported broken ("non-finite score")."""
    return [r for r in recalled if math.isfinite(r.similarity)]


def open_evidence(recalled: Sequence[Recalled]) -> list[Recalled]:
    """The records Qwen reads for an open answer: the nearest ``OPEN_EVIDENCE`` recalled
    patterns, the code index's own records (``module_location``: a class, a file, a
    module's summary) after every other kind. A "why" is explained by prose — a README or
    INTERFACE passage, a WSP, what the log recorded — rarely by a class's one-line
    description (in similarity order such records held one of the 4 places or more for 18
    of the real host's 28 development reasoning questions)."""
    ranked = sorted(recalled, key=lambda r: r.pattern.kind == "module_location")
    return ranked[:OPEN_EVIDENCE]


def option_key(pattern: Pattern) -> str:
    """What makes two recalled patterns one option of a lookup: the decision."""
    key = normalise(pattern.decision or pattern.module)
    if pattern.decision == NOTHING_TRIED:
        # "nothing was tried" answers nothing by itself; what happened next does, or, when
        # nothing followed, which error it was. Unrelated errors must not merge into one
        # option that carries the best similarity and the words of them all and shows one.
        ending = pattern.outcome or _error_line(pattern)
        key = f"{key} | {normalise(mask(ending))}"
    return key


def _error_line(pattern: Pattern) -> str:
    """The error an error_fix pattern is about: its situation's first line, as logged."""
    line = situation_of(pattern.context).strip().split("\n", 1)[0]
    return line.removeprefix("Error: ")


def _most_often_first(
    candidates: list[Candidate], counted: dict[str, tuple[str, int, bool]], band: float
) -> list[Candidate]:
    """``candidates`` (nearest first) for a question about what happens *most often*: the
    close alternative seen most often first, when the nearest option holds no counted
    alternatives of its own.

    ``counted`` gives each option's kind, how often its recalled patterns were seen, and
    whether it counted its own instances (the menu line that says option 12 was picked 7 of
    13 times: those instances are the alternatives the question asks among, and the
    nearest option answers). Otherwise the alternatives are the options themselves: "which
    set of credentials runs dry most often?" recalled the error after which nothing was
    tried (7 times) just above the rotation after a quota error (25 times, whose instances
    name the set), and similarity alone cannot say which happens more often. Only options
    of the nearest one's kind, within ``band`` of its similarity (the band in which the
    fast path calls neighbours close), compete, so that a frequent routine line that
    answers another question does not win; one seen as often as the nearest decides
    nothing. The chosen option keeps its own similarity: its share of the retrieval prior,
    and so the memory's confidence, stays below the nearer option's."""
    if not candidates or candidates[0].key not in counted:
        return candidates
    kind, seen, own = counted[candidates[0].key]
    if own:
        return candidates
    floor = candidates[0].similarity - band
    close = [
        c
        for c in candidates[1:]
        if c.key in counted and counted[c.key][0] == kind and c.similarity >= floor
    ]
    # ``max`` keeps the first of equals: the nearer of two options seen as often
    top = max(close, key=lambda c: counted[c.key][1], default=None)
    if top is None or counted[top.key][1] <= seen:
        return candidates
    return [top, *(c for c in candidates if c is not top)]


def _by_coverage(question: str, intent: str, candidates: list[Candidate]) -> list[Candidate]:
    """``candidates`` ranked by their similarity, plus, for a module question,
    ``COVERAGE_WEIGHT`` × the word coverage of the question by what each module's recalled
    patterns say (its classes, files, summary and README passages): of two modules retrieval
    finds about as near, the one whose code names what the question names comes first
    ("a JSON state file under memory/" is said by idle_automation's code, not by
    youtube_shorts'). Routing rule 6's measure: an answer whose patterns never mention what
    the question names is usually wrong. Weighed lightly (0.1 for a full coverage, about two
    retrieval temperatures): it decides between near neighbours, never for a far one. Each
    option keeps its own similarity (the retrieval prior, the fast path and the memory's
    confidence read it), as the option seen most often does.

    Lookups keep the plain order: their options are of different kinds, and a routine line
    that repeats the question's nouns ("Using API key for credential set 1") would pass the
    error the question describes in other words ("runs dry": "All credential sets
    exhausted")."""
    if intent != "module_location":
        return sorted(candidates, key=lambda c: -c.similarity)
    return sorted(
        candidates, key=lambda c: -(c.similarity + COVERAGE_WEIGHT * coverage(question, c.words))
    )


def _rule_candidate(rule: RuleAnswer) -> Candidate:
    """The option a rule application or a named round adds, first, with its patterns."""
    return Candidate(
        key=normalise(rule.text),
        text=rule.text,
        evidence=rule.evidence,
        similarity=rule.similarity,
        pattern_ids=rule.pattern_ids,
        support=len(rule.pattern_ids),
        words=text_words(rule.text),
    )


def _mixed(candidate: Candidate, other: float, weight: float) -> Candidate:
    """``candidate`` with its similarity moved ``weight`` of the way toward ``other``."""
    return replace(candidate, similarity=(1 - weight) * candidate.similarity + weight * other)


def _lazy(tier: str, backend: Backend | LazyBackend | None) -> LazyBackend | None:
    if backend is None or isinstance(backend, LazyBackend):
        return backend
    return LazyBackend(tier, lambda: backend)


def _label_probs(choice: Any, n: int) -> tuple[float, ...]:
    """The ``n`` label probabilities of a backend's :class:`Choice`, checked: a backend of
    this process's or a server's that returns something else (no Choice, too few or too
    many numbers, something that is not a number, a probability outside 0–1) has failed,
    as one that raised has (:class:`ModelError`, so the router escalates or falls back).
    Before, a wrong count failed the whole answer ("zip() argument 2 is longer than
    argument 1", no tier answering). A NaN or an infinity is such a failure too: it was
    caught only through the product with the retrieval prior, so a closed label set (no
    prior) took the broken model's pick, and -inf (a log probability where a probability
    belongs) passed as a probability of 0."""
    try:
        probs = tuple(float(p) for p in choice.probs)
    except (AttributeError, TypeError, ValueError) as exc:
        raise ModelError(f"malformed choice from the model: {exc}") from None
    if len(probs) != n:
        raise ModelError(f"the model gave {len(probs)} probabilities for {n} options")
    if not all(math.isfinite(p) for p in probs):
        raise ModelError(f"non-finite probabilities from the model: {list(probs)}")
    if any(p < 0 or p > 1 + 1e-6 for p in probs):
        raise ModelError(f"probabilities outside 0-1 from the model: {list(probs)}")
    return probs


def _completion(done: Any) -> tuple[str, float]:
    """The text and mean token probability of a backend's :class:`Completion`, checked like
    :func:`_label_probs`: no Completion, text that is not a string or a mean probability
    outside 0–1 is the model's failure (:class:`ModelError`), not the whole answer's."""
    try:
        text, raw = done.text, float(done.mean_prob)
    except (AttributeError, TypeError, ValueError) as exc:
        raise ModelError(f"malformed completion from the model: {exc}") from None
    if not isinstance(text, str):
        raise ModelError(f"malformed completion from the model: text is {type(text).__name__}")
    if math.isfinite(raw) and not 0 <= raw <= 1 + 1e-6:
        raise ModelError(f"a mean token probability outside 0-1 from the model: {raw}")
    return text, raw


def _probability(value: float) -> float:
    """A confidence as the answer promises it: finite, in 0–1, to 4 places. A calibration
    of the caller's own (``Router(calibration=...)``) or a scorer's broken numbers must not
    hand the host a NaN (which no threshold catches) or a 1.3."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    if not math.isfinite(number):
        return 0.0
    return round(min(max(number, 0.0), 1.0), 4)
