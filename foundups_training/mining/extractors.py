"""Episode extractors: the five pattern kinds the seed names, read from parsed records.

An *episode* starts at an anchor record (a ``[QWEN-SCORE]`` round, a stream check, a WSP
finding, an error), takes the ~10 records before it as context, then watches the records
after it for what happened (up to ~20). It is *done* when its outcome is found or its window
has passed. Everything an episode produces is a pure function of the records around its
anchor, so where a run starts or stops never changes the patterns (the miner re-reads the
records an unfinished episode needs instead of emitting it early).

Line-level patterns need no window: ``module_location`` per logger (support = lines seen)
and ``log_template`` per distinct warning and per distinct routine (INFO or DEBUG) line of a
module's logger: what the system keeps saying ("AutoModeratorDAE heartbeat: <NUM> streams
monitored"), counted, not copied.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from foundups_training.mining.consolidate import Consolidator
from foundups_training.mining.host_index import Verifier
from foundups_training.mining.parser import LogRecord
from foundups_training.mining.templates import item_ids, mask
from foundups_training.records import BEFORE_MARK, Pattern, Variant, pattern_id

#: Records of context kept before an anchor (the seed's "window=10").
CONTEXT_RECORDS = 10
#: Records watched after an anchor (or after a priority round) for the outcome.
OUTCOME_RECORDS = 20
#: Hard bound on an episode's life in records (keeps the miner's re-read window bounded).
MAX_EPISODE_RECORDS = 80
#: Longest context text stored.
#: Longest context stored. The memory embeds context then decision, and the embedder reads
#: 256 word pieces: a longer context would push the decision (and speed) out of the vector.
MAX_CONTEXT = 1000
_LINE_IN_CONTEXT = 110

#: A score as the host writes it (``{score:.2f}``): a number, or what Python writes for a
#: float that is none (``nan``, ``inf``, ``-inf``), or a value that is no number at all
#: (``None``, ``N/A``, ``null``). A channel scored so is still one of the round's.
_SCORE_VALUE = r"(-?\d+(?:\.\d+)?|(?i:[-+]?(?:nan|inf(?:inity)?)|none|null|n/a))"
_SCORE_FMT1 = re.compile(r"^(?:\[U\+[0-9A-F]{4,6}\]\s*)*(.+?)\s*:\s*" + _SCORE_VALUE + r"\s*$")
_SCORE_FMT2 = re.compile(
    r"^(?:\[U\+[0-9A-F]{4,6}\]\s*)*(.+?)\s*:\s*Priority score\s*" + _SCORE_VALUE, re.I
)
_EMOJI_TOKEN = re.compile(r"\[U\+[0-9A-F]{4,6}\]\s*")
# The marker expressions below are searched on the lower-cased message, case-sensitively
# and without a leading \b: both make CPython's engine fall back to trying every position,
# which cost 20-60 us a line. Word starts are checked afterwards by :func:`_find`.
_PRIORITY_RESULT = re.compile(
    r"no (?:active |live )?stream|not live|found|is live|live stream|stream ended|skipp|"
    r"switch|connected|monitoring|quota|selected"
)
_STREAM_CHECK = re.compile(
    r"broadcastcontent|checking .{0,60}(?:for live|live status|stream)|searching for (?:a )?live|"
    r"is_live|livebroadcastcontent|scrap\w* .{0,40}live|no-quota|verif\w* (?:live|stream)"
)
_STREAM_RESULT = re.compile(
    r"no (?:active |live )?stream|stream (?:found|confirmed|detected|ended|is live|not live|"
    r"verified)|found live|live stream (?:found|detected|confirmed)|not live|is not live|"
    r"false positive|upcoming|no live|chat (?:connected|id)|livechatid"
)
_WSP_ANCHOR = re.compile(r"\bWSP[ _\-]?\d+|WSP[ \-]Compliance|WSP-GUARDIAN|\bWSP\b.{0,80}violat")
_WSP_FIX = re.compile(
    r"moving|relocating|renaming|moved|fixed|relocated|resolved|compliant|corrected|created|"
    r"updated|now in|passed|complete|restored|renamed|\[ok\]"
)
#: A correction under way ("Moving x.py to …/tests/"): it says where to, and its result
#: ("[OK] Moved x.py; … is WSP 49 compliant") follows.
_WSP_UNDER_WAY = re.compile(r"moving|relocating|renaming")
_RETRY = re.compile(
    r"retry|retrying|re-?attempt|attempt|fall ?back|falling back|backoff|back-off|reconnect|"
    r"rotat|switching to|trying|refresh|restart|recover|reload"
)
_SUCCESS = re.compile(
    r"\[ok\]|\[success\]|success|succeeded|recovered|resolved|reconnected|connected|"
    r"authenticated|restored|fixed|completed|working again|back online"
)
#: The error was dealt with by leaving its input alone ("Skipping malformed message …").
_HANDLED = re.compile(r"skipping|skipped|ignoring|ignored|discarding|discarded|dropping|dropped")
_GIVE_UP = re.compile(
    r"giving up|gave up|max retries|maximum retries|retries exhausted|all .{0,40} failed|"
    r"circuit breaker (?:open|tripped)|aborting|shutting down|exhausted"
)


def _find(pattern: re.Pattern[str], low: str) -> bool:
    """``pattern`` found in ``low`` at the start of a word ("connected", not "disconnected")."""
    m = pattern.search(low)
    while m is not None:
        i = m.start()
        if i == 0 or not low[i - 1].isalpha():
            return True
        m = pattern.search(low, i + 1)
    return False


_PID_CACHE: dict[tuple[str, str, str, str], str] = {}


def cached_pattern_id(kind: str, key: str, decision: str, module: str) -> str:
    """:func:`pattern_id`, memoised (bounded): the same episode recurs thousands of times."""
    k = (kind, key, decision, module)
    pid = _PID_CACHE.get(k)
    if pid is None:
        if len(_PID_CACHE) >= 16384:
            _PID_CACHE.clear()
        pid = _PID_CACHE[k] = pattern_id(kind, key, decision, module)
    return pid


def plain(message: str) -> str:
    """A message as logged, without its emoji tokens."""
    return _EMOJI_TOKEN.sub("", message) if "[U+" in message else message


#: Levels of the lines a module logs routinely; each distinct template is one pattern.
ROUTINE_LEVELS = frozenset({"INFO", "DEBUG"})


def warning_decision(text: str) -> str:
    """What a warning pattern decides: the warning's text (its template, or one instance)."""
    return f"warning: {text[:200]}"


def routine_decision(text: str) -> str:
    """What a routine line's pattern says: the line's text (its template, or one instance)."""
    return f"logs: {text[:200]}"


def template_decision(level: str, text: str) -> str:
    """A ``log_template`` pattern's decision for a line of ``level``."""
    return warning_decision(text) if level == "WARNING" else routine_decision(text)


_HANDLE = re.compile(r"(?<![\w.])@\w")


def has_template(record: LogRecord) -> bool:
    """Whether ``record`` may get a ``log_template`` pattern: a warning, or an INFO or DEBUG
    line of a module's logger (the root logger's and the launcher's lines say nothing about a
    module) that names no chat user (``@name``: it echoes what a viewer wrote, one template
    per message, and untrusted text that the live path learns as such).
    :func:`template_learned` then decides. Cheap: the miner asks it for every line."""
    level = record.level
    if level == "WARNING":
        return True
    if level not in ROUTINE_LEVELS or not record.logger.startswith("modules."):
        return False
    message = record.message
    return "@" not in message or _HANDLE.search(message) is None


def _is_stream_check(record: LogRecord) -> bool:
    """A stream check: the anchor of a ``stream`` episode."""
    low = record.low
    return (
        ("live" in low or "stream" in low or "broadcast" in low or "quota" in low)
        and _STREAM_CHECK.search(low) is not None
        and not _find(_STREAM_RESULT, low)  # "False positive: broadcastContent=..." is a result
    )


def _is_wsp_finding(record: LogRecord) -> bool:
    """A WSP finding: the anchor of a ``wsp_compliance`` episode. An "[OK] … WSP 49
    compliant" line is the outcome of a finding, not a new one."""
    message = record.message
    return "WSP" in message and "OK" not in record.tags and _WSP_ANCHOR.search(message) is not None


def anchors_episode(record: LogRecord) -> bool:
    """Whether ``record`` anchors a priority, stream or WSP episode (errors aside)."""
    return parse_score(record) is not None or _is_stream_check(record) or _is_wsp_finding(record)


def template_learned(record: LogRecord) -> bool:
    """Whether a line that :func:`has_template` gets its ``log_template`` pattern.

    Not when an episode learns the line with its situation: a line that anchors one (a
    score, a stream check, a WSP finding) and, for INFO and DEBUG lines, one that can be
    its step (a retry, a success, a giving up, a stream's result, a correction under way).
    A template of it alone would compete with the episode's answer and say less ("Rotating
    to credential set 2" without the quota error before it; a WSP finding without the
    correction that followed). A warning that is a step keeps its template: "what does the
    warning say?" is asked about warnings.
    """
    if anchors_episode(record):
        return False
    if record.level == "WARNING":
        return True
    low = record.low
    return not any(
        _find(marker, low)
        for marker in (_STREAM_RESULT, _RETRY, _SUCCESS, _GIVE_UP, _WSP_UNDER_WAY)
    )


def compact(record: LogRecord, limit: int = _LINE_IN_CONTEXT, masked: bool = False) -> str:
    """A record as one short line for a context: level, emitter and message; no time and no
    emoji tokens (they cost word pieces and carry no meaning for recall); ``masked`` gives
    the message's template instead of its text."""
    who = record.logger.rsplit(".", 1)[-1] if record.logger else ""
    if masked:
        body = mask(record.message)
    else:
        body = plain(record.message)
    # where a traceback ended answers "which line / which field?"; then what was raised
    site = record.crash_site
    if site:
        body = f"{body} | {site}"
    exc = record.exception
    if exc and exc not in body:
        body = f"{body} | {exc}"
    prefix = " ".join(p for p in (record.level, who) if p)
    text = f"{prefix}: {body}" if prefix else body
    return text if len(text) <= limit else text[: limit - 1] + "…"


def build_context(head: str, before: Sequence[LogRecord]) -> str:
    """The stored context: the situation first (it is what gets embedded), then the lines
    that led to it, oldest first."""
    lines = [head]
    if before:
        lines.append(BEFORE_MARK.lstrip("\n"))
        lines += [compact(r) for r in before]
    text = "\n".join(lines)
    return text if len(text) <= MAX_CONTEXT else text[: MAX_CONTEXT - 1] + "…"


def parse_score(record: LogRecord) -> tuple[str, float] | None:
    """``(channel, score)`` of a ``[QWEN-SCORE]`` line in either emitter format."""
    if "QWEN-SCORE" not in record.tags and "[QWEN-SCORE]" not in record.message:
        return None
    body = record.message.split("[QWEN-SCORE]", 1)[-1].strip()
    m = _SCORE_FMT2.match(body) or _SCORE_FMT1.match(body)
    if not m:
        return None
    channel = _EMOJI_TOKEN.sub("", m.group(1)).strip()
    try:
        return channel, float(m.group(2))
    except ValueError:  # "None", "N/A": no number, as a nan says
        return channel, math.nan


def is_decision(record: LogRecord) -> bool:
    """A ``[QWEN-DECISION]`` line."""
    return "QWEN-DECISION" in record.tags or "[QWEN-DECISION]" in record.message


def _related(anchor: LogRecord, record: LogRecord) -> bool:
    """Whether ``record`` can answer ``anchor``: the same module, a line that names the
    anchor's module, or -- for a daemon/CLI line without a module -- a line of the same kind."""
    if not anchor.module:
        return not record.module and record.fmt == anchor.fmt
    if record.module == anchor.module:
        return True
    low = record.low
    return any(_names_word(low, name) for name in _names_of(anchor.module))


def _names_word(low: str, name: str) -> bool:
    """``name`` in ``low`` as a word of its own: "livechat" in ".../livechat is" or
    "livechat_core", not in "activelivechatid" (a field of the stream resolver's line)."""
    i = low.find(name)
    while i >= 0:
        end = i + len(name)
        if (i == 0 or not low[i - 1].isalnum()) and (end == len(low) or not low[end].isalnum()):
            return True
        i = low.find(name, i + 1)
    return False


#: A module's first word names it in other modules' lines only when it is this long:
#: ``linkedin`` (of linkedin_agent) does, ``code`` (of code_analyzer) does not -- "Loaded
#: code model" is not the code analyzer's correction.
_NAME_MIN_CHARS = 5


@functools.lru_cache(maxsize=1024)
def _names_of(module: str) -> tuple[str, ...]:
    """How other modules' lines name ``module``: its folder name with ``_`` or a space, and
    its first word when that is distinctive enough (see ``_NAME_MIN_CHARS``)."""
    short = module.rsplit("/", 1)[-1].lower()
    first = short.split("_", 1)[0]
    names = {short, short.replace("_", " ")}
    if len(first) >= _NAME_MIN_CHARS:
        names.add(first)
    return tuple(sorted(names))


#: A kept instance's situation, decision and outcome are cut to this many characters.
VARIANT_CHARS = 300


@dataclass(slots=True)
class Episode:
    """Base of the four windowed extractors; subclasses implement ``feed`` and ``emit``."""

    anchor: LogRecord
    before: tuple[LogRecord, ...]
    age: int = 0
    done: bool = False
    outcome: LogRecord | None = None

    kind = "episode"

    def step(self, record: LogRecord) -> None:
        """See one more record after the anchor."""
        if self.done:
            return
        self.age += 1
        self.feed(record)
        if not self.done and self.age >= MAX_EPISODE_RECORDS:
            self.done = True

    def feed(self, record: LogRecord) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def emit(self, verifier: Verifier | None, sink: Consolidator) -> None:  # pragma: no cover
        """Give the finished episode's pattern(s) to ``sink``."""
        raise NotImplementedError

    def _make(
        self,
        verifier: Verifier | None,
        head: str,
        decision: str,
        key: str,
        hint: str,
        sink: Consolidator,
        concrete: str = "",
        situation: str = "",
    ) -> None:
        """Give this episode's pattern to ``sink``. An id already seen in this run is only
        counted: its context is not built (consolidation keeps the first one) -- most
        episodes repeat, and building contexts was the miner's hottest path.

        This occurrence is kept as one of the pattern's instances (``Pattern.variants``):
        its ``situation`` (default: the anchor line; a priority round gives all of its
        scores), ``concrete`` (the decision as logged; default: ``decision``) and the
        outcome as logged. A masked decision needs them to say what it decided
        ("credential set 3"); any decision needs them to say what followed the occurrence
        a question names ("the HttpError 500 one", "the round scored 3.58 / 3.65")."""
        anchor = self.anchor
        module = anchor.module or _module_in_text(anchor.message)
        outcome = "; ".join(r.text for r in self.outcomes())
        pid = cached_pattern_id(self.kind, key, decision, module)
        variant: Variant | None = None
        if sink.takes_variants(pid):
            variant = (
                plain(situation or anchor.message)[:VARIANT_CHARS],
                plain(concrete or decision)[:VARIANT_CHARS],
                outcome[:VARIANT_CHARS],
            )
        if sink.observe(pid, anchor.timestamp, outcome, variant):
            return
        verified, code_ref = False, ""
        if verifier is not None and (anchor.module or "modules" in anchor.message):
            v = verifier.verify(anchor.logger, anchor.message, hint)
            verified, code_ref = v.verified, v.code_ref
        sink.add(
            Pattern(
                id=pid,
                kind=self.kind,
                context=build_context(head, self.before),
                decision=decision,
                outcome=outcome,
                module=module,
                timestamp=anchor.timestamp,
                source="log",
                verified=verified,
                code_ref=code_ref,
                first_seen=anchor.timestamp,
                last_seen=anchor.timestamp,
                variants=(variant,) if variant is not None else (),
                tally=(1,) if variant is not None else (),
            )
        )

    def outcomes(self) -> tuple[LogRecord, ...]:
        """The records that say what happened (none, or the outcome)."""
        return (self.outcome,) if self.outcome is not None else ()

    def _then(self) -> str:
        """The outcome as a line of the context's head: the embedder reads only the first
        256 word pieces, so what happened next must come before the older lines."""
        seen = self.outcomes()
        return f"\nThen: {'; '.join(compact(r, 200) for r in seen)}" if seen else ""

    @property
    def outcome_key(self) -> str:
        """The outcome's template: distinct outcomes of one situation stay distinct patterns."""
        return "; ".join(mask(r.message) for r in self.outcomes())


_MODULE_IN_TEXT = re.compile(r"\bmodules[\\/.](\w+)[\\/.](\w+)")


#: A module path with the checkout it lives in, if any (``O:\Foundups-Agent\modules\x\y``):
#: the checkout differs from machine to machine, the module does not.
_ROOTED_MODULE = re.compile(
    r"(?:(?:\b[A-Za-z]:)?(?:[\\/][\w.\-]+)*[\\/]|\b)modules[\\/]\w+[\\/]\w+"
    r"(?:[\\/](?=[\s)\]'\",;]|$))?"  # a final separator, as in "…/livechat/ (tests …"
)


def finding_template(message: str) -> str:
    """A WSP finding's template: masked like any line, except the module it is about. A
    finding in the stream resolver and the same finding in live chat are different
    situations, each with its own correction; one pattern per rule and module keeps each
    recallable by the module a question names (one masked pattern is embedded with the
    first module it was seen in)."""
    found = [m.group(0) for m in _ROOTED_MODULE.finditer(message)]
    if not found:
        return mask(message)
    marks = [f"MODULEMARK{chr(65 + i % 26)}" for i in range(len(found))]
    text = message
    for path, mark in zip(found, marks, strict=True):
        text = text.replace(path, mark, 1)
    template = mask(text)
    for path, mark in zip(found, marks, strict=True):
        module = _MODULE_IN_TEXT.search(path)  # always found: the match ends with one
        shown = (module.group(0) if module else path).replace("\\", "/")
        shown += "/" if path[-1] in "\\/" else ""
        template = template.replace(mark, shown, 1)
    return template


def _module_in_text(text: str) -> str:
    m = _MODULE_IN_TEXT.search(text)
    return f"modules/{m.group(1)}/{m.group(2)}" if m else ""


#: The host's ordering rule for a scoring round (stream_resolver checks the lowest score
#: first); every priority pattern states it, and the router applies it to scores a question
#: gives (routing/priority.py).
PRIORITY_RULE = "lower score = checked first"


def host_order(scores: Sequence[tuple[str, float]]) -> list[tuple[str, float]]:
    """A round's channels in the order the host checked them.

    Both emitters log a round in that order: the host sorts by score alone, a stable sort,
    so of two channels with the same score the one it listed first is logged and checked
    first (not the one whose name sorts first). A ``nan`` score compares as neither lower
    nor higher, so the host's sort leaves it, and the numbers around it, where they happen
    to be: the log is the only record of that order, and it is kept. A round logged out of
    the rule's order without a ``nan`` (not the host's emitters) is sorted by score, lowest
    first, ties as logged."""
    numbers = [s for _, s in scores if not math.isnan(s)]
    if len(numbers) < len(scores) or all(a <= b for a, b in itertools.pairwise(numbers)):
        return list(scores)
    return sorted(scores, key=lambda cs: cs[1])


@dataclass(slots=True)
class PriorityEpisode(Episode):
    """A ``[QWEN-SCORE]`` round: the scores, the decision, and what was checked next."""

    scores: list[tuple[str, float]] = field(default_factory=list)
    decision: LogRecord | None = None
    phase: str = "scores"
    quiet: int = 0  # records since the last score/decision in the "scores" phase
    after: int = 0  # records watched in the "outcome" phase
    #: the channels of this round in the unbroken run of its logger's score lines that
    #: ends at the last record, and that run's length (lines before the anchor included):
    #: what :func:`detect` sees of the round in its history (see :func:`_starts_round`)
    run: list[str] = field(default_factory=list)
    run_len: int = 1

    kind = "priority"

    def feed(self, record: LogRecord) -> None:
        if self.phase == "scores":
            same = record.logger == self.anchor.logger
            score = parse_score(record) if same else None
            if score is not None:
                if score[0] in self.run and self.run_len < CONTEXT_RECORDS:
                    # a channel scored again: the next round started (detect() starts it)
                    self.done = True
                    return
                self.scores.append(score)
                self.run.append(score[0])
                self.run_len += 1
                self.quiet = 0
                return
            self.run.clear()
            self.run_len = 0
            if same and is_decision(record):
                self.decision = record
                self.phase = "outcome"
                return
            self.quiet += 1
            if self.quiet >= 3:
                self.phase = "outcome"  # the round ended without a decision line
        else:
            self.after += 1
            if self.after > OUTCOME_RECORDS:
                self.done = True
                return
            if parse_score(record) is not None:
                self.done = True  # the next round started: nothing came of this one
                return
        low = record.low
        if _STREAM_CHECK.search(low):
            return  # "Checking X for live stream" is the next step, not the result
        if _find(_PRIORITY_RESULT, low) and self._names_pick(low):
            self.outcome = record
            self.done = True

    def _names_pick(self, low: str) -> bool:
        """Whether a result line (``low``, lower-cased) is about the channel this round
        picked: the one the host checks first (:func:`host_order`).

        A round's outcome is what came of its pick. Results of other channels are logged
        after a round too (the host goes on down the order, other checks run meanwhile),
        and a result that names no channel ("No active stream found") may be any check's,
        so neither says whether the pick was right."""
        if not self.scores:
            return False
        return any(_names_channel(low, n) for n in _channel_names(host_order(self.scores)[0][0]))

    def emit(self, verifier: Verifier | None, sink: Consolidator) -> None:
        ranked = host_order(self.scores)
        order = " -> ".join(c for c, _ in ranked)
        listing = ", ".join(f"{c}={s:.2f}" for c, s in ranked)
        emitter = self.anchor.logger.rsplit(".", 1)[-1] or "qwen"
        first = ranked[0][0] if ranked else "?"
        decision = f"check {first} first ({PRIORITY_RULE}); order: {order}"
        unscored = [c for c, s in ranked if math.isnan(s)]
        if unscored:
            # ". " ends the order for the router (routing/priority.py reads "order: …")
            decision += (
                f". Scored nan (not a number): {', '.join(unscored)}; the order is the one"
                " the host logged"
            )
        if self.decision is not None:
            decision += f". {mask(self.decision.message.split('[QWEN-DECISION]', 1)[-1])}"
        head = (
            f"Priority scoring round by {emitter}: {listing}. Which channel is checked first? "
            f"{PRIORITY_RULE.capitalize()}.{self._then()}"
        )
        key = f"round:{sorted(c for c, _ in self.scores)}|{self.outcome_key}"
        # one round is named by its scores, all of them (the anchor line has the first)
        self._make(verifier, head, decision, key, self.anchor.message, sink, situation=listing)


@functools.lru_cache(maxsize=256)
def _channel_names(channel: str) -> tuple[str, ...]:
    """How result lines name a scored ``channel``, lower-cased: by its name without its tag
    ("Move2Japan [JAPAN]" -> "move2japan"), which is its id where the host scored it by id,
    and by any id the scored label carries."""
    name = channel.split(" [", 1)[0].strip().lower()
    ids = {i.lower() for i in item_ids(channel)}
    return tuple(sorted(n for n in {name, *ids} if n))


def _names_channel(low: str, name: str) -> bool:
    """``name`` in ``low`` as a name of its own: "foundups" in "on foundups [loyalty]", not
    in "on foundups1934 [test]" (another channel) or "foundups-clips"."""
    i = low.find(name)
    while i >= 0:
        end = i + len(name)
        if (i == 0 or not _in_name(low[i - 1])) and (end == len(low) or not _in_name(low[end])):
            return True
        i = low.find(name, i + 1)
    return False


def _in_name(char: str) -> bool:
    """Whether ``char`` can be part of a channel's name (as :data:`_CHANNEL` reads one)."""
    return char.isalnum() or char in "_-"


#: A channel as the host names it in a line: its display name and tag ("Move2Japan
#: [JAPAN]", "FoundUps1934 [TEST]"); the name is what identifies it.
_CHANNEL = re.compile(r"(?<![\w\-])([A-Za-z][\w\-]*) \[[A-Z][A-Z0-9_]*\]")


def _channels_in(message: str) -> frozenset[str]:
    """The channels ``message`` names, by their names in lower case."""
    if " [" not in message:
        return frozenset()
    return frozenset(m.group(1).lower() for m in _CHANNEL.finditer(message))


@dataclass(slots=True)
class StreamEpisode(Episode):
    """A stream check (metadata such as broadcastContent) and the confirmed result."""

    kind = "stream"

    def feed(self, record: LogRecord) -> None:
        if self.age > OUTCOME_RECORDS:
            self.done = True
        elif _find(_STREAM_RESULT, record.low) and not self._about_another(record):
            self.outcome = record
            self.done = True

    def _about_another(self, record: LogRecord) -> bool:
        """Whether the result ``record`` is about another channel or video than the check.

        Channels are checked one after another, so the result logged next may be another
        channel's ("Live stream found on UnDaoDu" after "Checking Move2Japan"). A result
        that names one of the check's channels is its own ("No stream on Move2Japan,
        checking UnDaoDu"); one that names only other channels is not. Where either names
        no channel, their ids are compared as an error's are (only ids of one length, the
        same kind of id: a video's 11 characters), so "Stream confirmed live:
        activeLiveChatId=…" still answers the check of a video before it."""
        mine, theirs = _channels_in(self.anchor.message), _channels_in(record.message)
        if mine and theirs:
            return not mine & theirs
        ids = item_ids(self.anchor.message)
        other = item_ids(record.message) if ids else frozenset()
        if not ids or not other or ids & other:
            return False
        return bool({len(i) for i in ids} & {len(i) for i in other})

    def emit(self, verifier: Verifier | None, sink: Consolidator) -> None:
        template = mask(self.anchor.message)
        decision = f"stream check: {template}"
        head = f"Stream detection: {compact(self.anchor, 300)}{self._then()}"
        key = f"{template}|{self.outcome_key}"
        concrete = f"stream check: {self.anchor.message}"
        self._make(verifier, head, decision, key, template, sink, concrete)


@dataclass(slots=True)
class WspEpisode(Episode):
    """A WSP finding (violation, compliance check) and the correction that followed."""

    kind = "wsp_compliance"
    #: the correction under way, when one was logged before its result
    under_way: LogRecord | None = None

    def feed(self, record: LogRecord) -> None:
        if self.age > OUTCOME_RECORDS:
            self.done = True
        elif _related(self.anchor, record) and _find(_WSP_FIX, record.low):
            if self.under_way is None and _find(_WSP_UNDER_WAY, record.low):
                self.under_way = record  # where the file goes; its result comes next
            else:
                self.outcome = record
                self.done = True

    def outcomes(self) -> tuple[LogRecord, ...]:
        """The correction (where to) and its result, each when logged."""
        return tuple(r for r in (self.under_way, self.outcome) if r is not None)

    def emit(self, verifier: Verifier | None, sink: Consolidator) -> None:
        template = finding_template(self.anchor.message)
        decision = template
        head = f"WSP compliance: {compact(self.anchor, 300)}{self._then()}"
        key = f"{template}|{self.outcome_key}"
        self._make(verifier, head, decision, key, template, sink, self.anchor.message)


#: The decision of an error after which nothing was tried: what happened next (its outcome)
#: is the answer, so the router tells such patterns apart by their outcomes.
NOTHING_TRIED = "no retry logged"


@dataclass(slots=True)
class ErrorEpisode(Episode):
    """An error, what was tried after it, and how it ended (recovered, gave up, repeated)."""

    tried: list[str] = field(default_factory=list)
    tried_as_logged: list[str] = field(default_factory=list)
    repeated: LogRecord | None = None
    _anchor_template: str = ""
    _anchor_ids: frozenset[str] | None = None

    kind = "error_fix"

    @property
    def error_template(self) -> str:
        """The masked error: the exception line of a traceback, else the message."""
        exc = self.anchor.exception
        return mask(f"{self.anchor.message} | {exc}" if exc else self.anchor.message)

    def feed(self, record: LogRecord) -> None:
        if self.age > OUTCOME_RECORDS:
            if self.repeated is not None and self.tried:
                self.outcome = self.repeated
            self.done = True
            return
        if not _related(self.anchor, record) or self._about_something_else(record):
            return
        message, low = record.message, record.low
        if _find(_GIVE_UP, low) or (
            not record.is_error and (_find(_SUCCESS, low) or _find(_HANDLED, low))
        ):
            self.outcome = record
            self.done = True
            return
        if record.is_error:
            if self.repeated is None:
                if not self._anchor_template:
                    self._anchor_template = mask(self.anchor.message)
                if mask(record.message) == self._anchor_template:
                    self.repeated = record
            return
        if len(self.tried) < 4 and _find(_RETRY, low):
            template = mask(message)
            if template not in self.tried:
                self.tried.append(template)
                self.tried_as_logged.append(message)

    def _about_something_else(self, record: LogRecord) -> bool:
        """Whether ``record``, though related, is about something other than this error.

        Another module's WSP line ("[OK] Moved test_x.py; modules/communication/livechat is
        WSP 49 compliant") names the module but is paperwork about its code, not what became
        of a runtime error (unless the error was about WSP). And a line naming another item
        than the error's own (message 6PkZqpUy1oV failed, "Skipping malformed message
        H4y8wjZCl2J") answers another error of that kind: when two fail in a row, each
        "Skipping …" line belongs to the error of the message it names. Ids are compared
        only when both lines name one of the same length (the same kind of id: an
        11-character message id, a 26-character chat id), so "Reconnected to live chat
        <chat id>" still answers an error that names a user or no id at all."""
        anchor = self.anchor
        if (
            record.module != anchor.module
            and "WSP" in record.message
            and _WSP_ANCHOR.search(record.message) is not None
            and _WSP_ANCHOR.search(anchor.message) is None
        ):
            return True
        if self._anchor_ids is None:
            self._anchor_ids = item_ids(anchor.message)
        ids = self._anchor_ids
        if not ids:
            return False
        theirs = item_ids(record.message)
        if not theirs or ids & theirs:
            return False
        return bool({len(i) for i in ids} & {len(i) for i in theirs})

    def emit(self, verifier: Verifier | None, sink: Consolidator) -> None:
        error = self.error_template
        decision = ("tried: " + "; ".join(self.tried)) if self.tried else NOTHING_TRIED
        head = f"Error: {compact(self.anchor, 400)}\n{decision.capitalize()}{self._then()}"
        key = f"{error}|{self.outcome_key}"
        concrete = ("tried: " + "; ".join(self.tried_as_logged)) if self.tried else ""
        self._make(verifier, head, decision, key, error, sink, concrete)


def _window(before: Sequence[LogRecord]) -> tuple[LogRecord, ...]:
    return tuple(before)[-CONTEXT_RECORDS:]


def _starts_round(logger: str, channel: str, before: Sequence[LogRecord]) -> int:
    """Whether a score of ``channel`` right after another score line of ``logger`` starts
    the next round: it does when the current round scored ``channel`` already (two rounds
    logged back to back; one round scores each channel once). Returns the length of the
    unbroken run of score lines before it when it does, else 0.

    The run is read from ``before`` (the last :data:`CONTEXT_RECORDS` records); rounds are
    split where a channel repeats, from the run's first line. A run that fills ``before``
    may have begun earlier, so where its rounds split is not known: it stays one round, and
    :meth:`PriorityEpisode.feed` applies the same limit."""
    run: list[str] = []
    for r in reversed(before):
        if r.logger != logger:
            break
        s = parse_score(r)
        if s is None:
            break
        run.append(s[0])
    if len(run) >= CONTEXT_RECORDS:
        return 0
    current: set[str] = set()
    for c in reversed(run):  # oldest first
        if c in current:
            current = {c}
        else:
            current.add(c)
    return len(run) if channel in current else 0


def detect(
    record: LogRecord, previous: LogRecord | None, before: Sequence[LogRecord]
) -> Episode | None:
    """The episode ``record`` anchors, if any (at most one per record)."""
    score = parse_score(record)
    if score is not None:
        prev_same_round = (
            previous is not None
            and previous.logger == record.logger
            and parse_score(previous) is not None
        )
        run_len = 0
        if prev_same_round:
            run_len = _starts_round(record.logger, score[0], before)
            if not run_len:
                return None
        ep = PriorityEpisode(anchor=record, before=_window(before), run_len=run_len + 1)
        ep.scores.append(score)
        ep.run.append(score[0])
        return ep
    if _is_stream_check(record):
        return StreamEpisode(anchor=record, before=_window(before))
    if _is_wsp_finding(record):
        return WspEpisode(anchor=record, before=_window(before))
    if record.is_error:
        return ErrorEpisode(anchor=record, before=_window(before))
    return None


def line_patterns(record: LogRecord, verifier: Verifier | None) -> list[Pattern]:
    """Patterns of one record that need no window: its module, and a warning's template."""
    out: list[Pattern] = []
    module = record.module
    if module:
        verified, code_ref = False, ""
        if verifier is not None:
            v = verifier.verify(record.logger)
            # the logger's own file, not the emitting function: one pattern per logger
            verified, code_ref = (
                v.verified,
                (f"{v.file}:{v.file.rsplit('/', 1)[-1][:-3]}:1" if v.verified else ""),
            )
        words = record.logger.rsplit(".", 1)[-1].replace("_", " ")
        context = (
            f"Which module handles {words}? Logger {record.logger} writes from {module}/"
            f" ({record.logger.replace('.', '/')}.py)."
        )
        out.append(
            Pattern.make(
                "module_location",
                context,
                f"{module}/",
                key=f"logger:{record.logger}",
                module=module,
                timestamp=record.timestamp,
                source="log",
                verified=verified,
                code_ref=code_ref,
            )
        )
    if has_template(record) and template_learned(record):
        template = mask(record.message)
        verified, code_ref = False, ""
        if verifier is not None and module:
            v = verifier.verify(record.logger, record.message, template)
            verified, code_ref = v.verified, v.code_ref
        what = "Warning" if record.level == "WARNING" else f"Routine {record.level} line"
        out.append(
            Pattern.make(
                "log_template",
                f"{what} from {record.logger or 'the log'}: {record.message[:400]}",
                # what the line says (its template), so an answer built from it is one
                template_decision(record.level, template),
                key=template,
                module=module,
                timestamp=record.timestamp,
                source="log",
                verified=verified,
                code_ref=code_ref,
            )
        )
    return out
