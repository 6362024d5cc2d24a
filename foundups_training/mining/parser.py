"""Parse the host's log lines into records; join tracebacks; never raise.

Formats (see HOST.md):

* ``YYYY-MM-DD HH:MM:SS,mmm - <dotted logger> - <LEVEL> - <message>`` (most lines)
* ``YYYY-MM-DD HH:MM:SS,mmm [LEVEL] [TAG] message`` (daemon lines)
* ``[HH:MM:SS] message`` (HoloIndex CLI lines; the date is carried from earlier lines)
* anything else: kept as a plain-text record.

Lines that continue a record (indented lines, ``Traceback (most recent call last):``, the
exception line that ends a traceback) are joined to it. A traceback is not ended by one
timestamped line of another logger (another thread's, written between two of its lines)
when its frames or its exception line come right after that line: the traceback keeps them,
and the other line is a record of its own that comes just after it
(:attr:`LogRecord.followers`). A line wrapped where a secret ran (a long line cut by a
terminal or an editor: its rest, with no timestamp, on the next line) is joined back to its
line when the two redacted joined lose more than redacted apart (see
:meth:`LineParser._unwrapped`). Emoji written as ``[U+1F511]``,
``\\u274c`` or the raw character are normalised to ``[U+XXXX]`` (ASCII: the host prints these
on a Windows console) and stray variation selectors are dropped. Messages are redacted here,
so nothing after the parser ever sees a secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from foundups_training.mining.reader import RawLine, text_pieces
from foundups_training.mining.redact import (
    REDACTED,
    closes_key_block,
    in_key_block,
    opens_key_block,
    redact,
)

#: A time zone after the time (``Z``, ``+02:00``, ``+0200``, `` +0000``, `` UTC``): a host run
#: with ``logging.Formatter`` set to ISO-8601 or ``%z`` writes one. The time is kept as
#: logged (local); without this the line lost its logger, level and module.
_TZ = r"(?:Z|[ ]?[+-]\d\d:?\d\d|[ ](?:UTC|GMT))?"
_STAMP = r"(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(?:[,.]\d+)?" + _TZ
#: The message part is optional: ``log.error("")`` with trailing blanks stripped (an editor,
#: a copy) leaves ``… - ERROR`` alone, which is still an error of that logger.
#: The level as written: upper-case (any word, as before), or a level in another case
#: (``- info -``, ``[warning]``: a formatter with ``%(levelname)s`` lower-cased), which
#: :func:`_level` upper-cases; another word in lower or mixed case is not a level.
_DOTTED = re.compile(_STAMP + r" - (\S+) - ([A-Za-z]+)(?: - ?(.*)| ?-?\s*$)")
_TAGGED = re.compile(_STAMP + r" \[([A-Za-z]+)\] ?(.*)")
_DATED = re.compile(_STAMP + r"(?: -)? ?(.*)")
#: HoloIndex lines, with or without milliseconds (``[08:08:22]``, ``[08:08:22.123]``).
_HOLO = re.compile(r"\[(\d\d:\d\d:\d\d)(?:[.,]\d{1,6})?\] ?(.*)")
_TAG_RUN = re.compile(r"(?:\s*\[(?![Uu]\+)[A-Za-z][\w\-+. ]{0,40}\])+")
_TAG_NAME = re.compile(r"\[([^\]]+)\]")
_EXCEPTION = re.compile(
    r"[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Failure|Fault)\b(?::|$)"
)
#: The exception line of any class, as Python writes it after a traceback's frames: a name
#: qualified by its module (``requests.exceptions.ReadTimeout: …``, ``pywintypes.error: …``,
#: ``check.<locals>.Quota``) or a builtin :data:`_EXCEPTION` does not know by its suffix
#: (``StopIteration``). Only taken right after the frames (:func:`_awaits_exception`):
#: elsewhere ``config.yaml: not found`` is plain text.
_QUALIFIED = re.compile(
    r"[A-Za-z_]\w*(?:\.[A-Za-z_<][\w<>]*)+(?::(?: .*)?)?$|Stop(?:Async)?Iteration\b(?::|$)"
)
#: A traceback frame: ``  File "…/message_processor.py", line 412, in process_message``.
_FRAME = re.compile(r'\s*File "([^"]+)", line (\d+), in (\S+)')
#: The bars an exception group (``asyncio.TaskGroup``, Python 3.11+) puts before each line of
#: its tracebacks (``  | ``, nested ``    | | ``): without them the lines read as any
#: traceback's.
_GROUP_BARS = re.compile(r"\s*(?:\| ?)+")
#: The first line of an exception group's traceback (joined as an indented line).
_GROUP_START = "+ Exception Group Traceback (most recent call last)"
_U_TOKEN = re.compile(r"\[[Uu]\+([0-9A-Fa-f]{4,6})\]")
_U_LOWER = re.compile(r"\[U\+[0-9A-F]*[a-f]")
_U_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")
# Symbols and pictographs written raw: turned into tokens like the host's own sanitiser does.
_EMOJI_CHAR = re.compile(
    "[\u2190-\u21ff\u2300-\u23ff\u2460-\u27bf\u2900-\u297f\u2b00-\u2bff\U0001f000-\U0001faff]"
)
_SELECTORS = ("\ufe0f", "\ufe0e", "[U+FE0F]", "[U+FE0E]")

LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL", "FATAL"})
#: Continuation lines joined to one record, at most (a runaway dump must not grow forever).
MAX_CONTINUATION = 200
#: Longest message kept, in characters.
MAX_MESSAGE = 4000
#: Most characters redacted as one text: a message with a margin longer than any key (a PEM
#: block aside), and the lines of a wrapped secret joined (see LineParser._unwrapped).
_REDACT_SPAN = MAX_MESSAGE + 512
#: A word as prose writes it ("Retrying", "it's", "OK,"): no token's rest, wrapped, before
#: more words ("XyZ123", "BBB\",", "rdIsLong" and a run of 25 letters are).
_PROSE_WORD = re.compile(r"(?:[A-Z]?[a-z]{1,24}(?:'[a-z]{1,2})?|[A-Z]{1,24})[.,:;!?]*")
_WORD = re.compile(r"\S+")
#: Words a log writes alone on a line ("Done", "OK", "Finished", "Traceback"): right after a
#: line that ends in a redacted secret, such a word is a line of the log's own, not the
#: secret's rest (see :func:`_own_line`). A closed list: any word of letters could be a
#: password's last letters ("Passw0" + "rd"), and one of these few tells next to nothing.
_STATUS_WORDS = frozenset(
    """aborted begin canceled cancelled complete completed done end error exiting fail failed
    failure false finished interrupted killed none null ok okay pass passed ready retrying
    shutdown skipped started starting stopped stopping succeeded success successful
    terminated traceback true yes""".split()
)
#: A separator: one punctuation character written three times or more ("-----", "=====",
#: "~~~", "_____"). Base64 pads with two "=" at most; a token's rest of one symbol repeated
#: is rare and tells next to nothing.
_SEPARATOR = re.compile(r"([^\w\s])\1{2,}|_{3,}")
#: The fewest characters of a wrapped line that is wrapped again: a line is cut at the same
#: width each time, and no terminal or editor wraps at fewer columns. Each line joined costs
#: a redaction of the text joined so far: a run of short lines must not each cost one.
_WRAP_WIDTH = 20


@dataclass(slots=True)
class LogRecord:
    """One logical log entry: a header line plus any continuation (traceback) lines."""

    start: int  # byte offset of the first line
    end: int  # byte offset just past the last line
    fmt: str  # "dotted" | "tagged" | "holo" | "dated" | "plain"
    timestamp: str  # ISO-8601 ("2025-10-20T15:07:04") or "" when unknown
    logger: str
    level: str
    tags: tuple[str, ...]
    message: str
    date_in: str = ""  # the date in effect before this record (for resuming)
    low: str = ""  # the message lower-cased (marker searches run on it)
    module: str = ""  # modules/<domain>/<module> when the logger names one
    extra: list[str] | None = None  # continuation lines (None: none, the common case)
    lines: int = 1
    truncated: int = 0
    traceback: bool = False
    #: records that come right after this one although a traceback's lines went on after
    #: them (another thread's lines, logged between two of its lines): their spans lie
    #: inside this one's. Whoever takes records takes these next (None: none, the rule).
    followers: list[LogRecord] | None = None

    @property
    def is_error(self) -> bool:
        """An ERROR/CRITICAL line, an ``[ERROR]``-tagged line without a level, or a traceback."""
        if self.level in ("ERROR", "CRITICAL", "FATAL"):
            return True
        if self.traceback:
            return True
        return not self.level and ("ERROR" in self.tags or "DAE-ERROR" in self.tags)

    @property
    def exception(self) -> str:
        """The exception line of a joined traceback ("KeyError: 'x'"), or "": the last one
        (of a chain, the one raised last; of an exception group, its last sub-exception)."""
        if not self.traceback:
            return ""
        lines = _unbarred([self.message, *(self.extra or ())])  # a headless one's header
        for i in range(len(lines) - 1, 0, -1):
            if _is_exception_line(lines, i):
                return lines[i].strip()
        return ""

    @property
    def crash_site(self) -> str:
        """Where a joined traceback ended: its innermost frame's file name, line and
        function, and the code line it shows ("message_processor.py line 412, in
        process_message: author = message['authorDetails']…"), or ""."""
        if not self.traceback or not self.extra:
            return ""
        lines = _unbarred(self.extra)
        for i in range(len(lines) - 1, -1, -1):
            frame = _FRAME.match(lines[i])
            if frame is None:
                continue
            name = re.split(r"[\\/]", frame.group(1))[-1]
            site = f"{name} line {frame.group(2)}, in {frame.group(3)}"
            # a frame's code line is indented; the line after a frame that shows none is
            # the next frame or the exception line
            after = lines[i + 1] if i + 1 < len(lines) else ""
            code = after.strip() if after[:1] in (" ", "\t") else ""
            if not code or _FRAME.match(code) or _EXCEPTION.match(code):
                return site
            return f"{site}: {code}"
        return ""

    @property
    def text(self) -> str:
        """The record as one line of readable text (used in contexts)."""
        head = self.timestamp[11:19] if len(self.timestamp) >= 19 else ""
        who = self.logger.rsplit(".", 1)[-1] if self.logger else ""
        parts = [p for p in (head, self.level, who) if p]
        body = self.message
        exc = self.exception
        if exc and exc not in body:
            body = f"{body} | {exc}"
        return f"{' '.join(parts)}: {body}" if parts else body


def _unbarred(lines: list[str] | tuple[str, ...]) -> list[str]:
    """A traceback's lines without an exception group's bars: its sub-tracebacks then read
    as tracebacks of their own."""
    if not any(line.lstrip().startswith("|") for line in lines):
        return list(lines)
    return [
        _GROUP_BARS.sub("", line, count=1) if line.lstrip().startswith("|") else line
        for line in lines
    ]


def _is_exception_line(lines: list[str], i: int) -> bool:
    """Whether ``lines[i]`` of a traceback is an exception line: a known class name
    (:data:`_EXCEPTION`), or any qualified one right after frames (:func:`_awaits_exception`)."""
    line = lines[i].rstrip()  # an indented line is a frame's code, never the exception
    if _EXCEPTION.match(line):
        return True
    return bool(_QUALIFIED.match(line)) and _awaits_exception(lines[:i])


def _awaits_exception(lines: list[str]) -> bool:
    """Whether a traceback whose lines so far are ``lines`` is inside its frames: after
    ``Traceback (most recent call last):``, indented lines only, one or more. Python writes
    the exception line next, whatever the exception's class is named. Lines of an
    exception group still behind their bars (``|``, ``+---``) are not frames: the group is
    joined by its indentation, and its end is no place for an exception line."""
    indented = 0
    for line in reversed(lines):
        body = line.lstrip()
        if body.startswith(("Traceback (most recent call last)", _GROUP_START)):
            return indented > 0
        if line[:1] not in (" ", "\t") or body[:1] in ("|", "+"):
            return False  # not indented (another line, an exception's), or a group's bar
        indented += 1
        if indented > MAX_CONTINUATION:
            return False
    return False


_MODULE_MEMO: dict[str, str] = {}


def module_of_logger(logger: str) -> str:
    """``modules.a.b.src.c`` -> ``modules/a/b``; "" for loggers outside ``modules``."""
    hit = _MODULE_MEMO.get(logger)
    if hit is not None:
        return hit
    module = ""
    if logger.startswith("modules."):
        parts = logger.split(".")
        if len(parts) >= 3 and parts[1] and parts[2]:
            module = f"modules/{parts[1]}/{parts[2]}"
    if len(_MODULE_MEMO) < 65536:  # bounded: logger names are few, but input is untrusted
        _MODULE_MEMO[logger] = module
    return module


def normalise_message(text: str) -> str:
    """Canonical ``[U+XXXX]`` emoji tokens, no variation selectors, secrets redacted."""
    # Redacted before it is cut (with a margin longer than any key, a PEM block aside): a
    # secret across the cut would keep its first characters.
    text = redact(_canonical(text)[:_REDACT_SPAN])
    return text[:MAX_MESSAGE] if len(text) > MAX_MESSAGE else text


def _canonical(text: str) -> str:
    """Canonical ``[U+XXXX]`` emoji tokens, no variation selectors (not redacted yet)."""
    if "\\u" in text or "\\U" in text:
        text = _U_ESCAPE.sub(_escape_to_token, text)
    if "[u+" in text or ("[U+" in text and _U_LOWER.search(text)):
        text = _U_TOKEN.sub(lambda m: f"[U+{m.group(1).upper()}]", text)
    if not text.isascii():
        for sel in _SELECTORS[:2]:
            text = text.replace(sel, "")
        text = _EMOJI_CHAR.sub(lambda m: f"[U+{ord(m.group(0)):04X}]", text)
    if "[U+FE0" in text:
        for sel in _SELECTORS[2:]:
            text = text.replace(sel, "")
    return text


def _escape_to_token(m: re.Match[str]) -> str:
    code = int(m.group(1) or m.group(2), 16)
    if code in (0xFE0F, 0xFE0E):
        return ""
    if code < 0x80:
        return chr(code)
    return f"[U+{code:04X}]"


def tags_of(message: str) -> tuple[str, ...]:
    """The leading ``[TAG]`` names of a message (upper-cased; emoji tokens are not tags)."""
    if not message.startswith("["):
        return ()
    m = _TAG_RUN.match(message)
    return tuple(t.upper() for t in _TAG_NAME.findall(m.group(0))) if m else ()


def split_tags(message: str) -> tuple[tuple[str, ...], str]:
    """Leading ``[TAG]`` groups of a message, and the rest (emoji tokens are not tags)."""
    if not message.startswith("["):
        return (), message
    m = _TAG_RUN.match(message)
    if m is None:
        return (), message
    tags = tuple(t.upper() for t in _TAG_NAME.findall(m.group(0)))
    return tags, message[m.end() :].lstrip()


class LineParser:
    """Turns raw lines into :class:`LogRecord` s; one record is held until the next starts.

    ``feed`` returns the previous record once a new one begins; ``flush`` returns the last.
    Never raises on any input.
    """

    def __init__(self, date: str = "") -> None:
        self.date = date  # the last date seen ("[HH:MM:SS]" lines carry none)
        self._current: LogRecord | None = None
        # A PEM private key was opened and not closed: its body lines follow, one per line,
        # and none of them is a secret by its shape alone (see _key_line).
        self._key_open = False
        # A timestamped line of another logger after an open traceback's line: whether the
        # traceback goes on after it is told by the next line (see _interleaved).
        self._aside: LogRecord | None = None
        # The last line ended in a redacted secret: the next line may be its rest, wrapped
        # (see _unwrapped). Its text before redaction, that text redacted, and the line as
        # the record holds it.
        self._wrap: tuple[str, str, str] | None = None

    def feed(self, raw: RawLine) -> LogRecord | None:
        """Take one line; return the record it completed, if any (and its
        :attr:`~LogRecord.followers`, which come right after it)."""
        try:
            return self._feed(raw)
        except Exception:  # noqa: BLE001 - a parser bug must not stop mining: keep the text
            done = self._set_aside_follows()
            self._current = self._plain(raw, raw.text[:MAX_MESSAGE])
            return done
        finally:
            if raw.truncated or raw.text[-1:].isspace():
                self._wrap = None  # the secret ended before the line did: nothing wrapped

    def flush(self) -> LogRecord | None:
        """The record still held (call at the end of the input)."""
        done = self._set_aside_follows()
        self._current = None
        return done

    def _set_aside_follows(self) -> LogRecord | None:
        """The current record, the line set aside after it (if any) its follower."""
        done, aside, self._aside = self._current, self._aside, None
        if aside is not None:
            if done is None:
                return aside
            done.followers = [*(done.followers or ()), aside]
        return done

    @property
    def pending_start(self) -> int | None:
        """Byte offset where the held (unfinished) record starts."""
        return None if self._current is None else self._current.start

    # -- internals ----------------------------------------------------------------------
    def _feed(self, raw: RawLine) -> LogRecord | None:
        text = raw.text
        if raw.truncated:
            # The reader cut this line at its byte limit: the word it cut may be the first
            # part of a secret, which no redaction rule would know by its shape any more.
            text = text.rsplit(" ", 1)[0] if " " in text else ""
        if text[:1] == "\0":
            # A power loss on NTFS leaves a run of NULs where the last block was; the host's
            # next line is written right after it, and is a whole line once they are gone.
            text = text.lstrip("\0")
        if self._aside is not None:
            return self._after_aside(raw, text)
        cur = self._current
        wrap, self._wrap = self._wrap, None  # the line before's note: this line's alone
        if self._key_open:
            if in_key_block(text):
                return self._key_line(raw, text)
            self._key_open = False  # the block was cut: this line is the log again
        if "PRIVATE KEY" in text:
            self._key_open = opens_key_block(text)
        # fast path: most lines start with a digit and are never continuations
        if (
            cur is not None
            and (not text or text[0] in " \tTD" or cur.traceback)
            and (self._continues(cur, text))
        ):
            if cur.extra is None:
                cur.extra = []
            cur.extra.append(self._clean(text.rstrip()))
            cur.end = raw.end
            cur.lines += 1
            cur.truncated += raw.truncated
            if text.lstrip().startswith(("Traceback (most recent call last)", _GROUP_START)):
                cur.traceback = True
            return None
        record = self._parse_header(raw, text)
        if record.fmt == "plain" and wrap is not None and cur is not None:
            joined = self._unwrapped(cur, wrap, text)
            if joined is not None:
                return self._join_wrap(raw, cur, *joined)
        if cur is not None and cur.traceback and self._interleaved(cur, record):
            self._aside = record  # the next line tells whether the traceback goes on
            return None
        self._current = record
        return cur

    def _interleaved(self, cur: LogRecord, record: LogRecord) -> bool:
        """Whether ``record`` may be another thread's line inside the traceback ``cur``: a
        timestamped line of another logger after a line of a traceback that has not ended
        (no exception line yet). The next line decides (:meth:`_after_aside`)."""
        if not cur.traceback or not cur.extra:
            return False
        return (
            record.fmt != "plain"
            and record.logger != cur.logger
            and not record.traceback
            and not self._key_open
            and cur.lines <= MAX_CONTINUATION
            and not _EXCEPTION.match(cur.extra[-1])
            and not self._exception_next(cur, cur.extra[-1], before=1)
        )

    def _after_aside(self, raw: RawLine, text: str) -> LogRecord | None:
        """The line after a line set aside inside a traceback: a frame, the code line of the
        frame before the aside, or the exception line goes on with the traceback (the aside
        line follows it); anything else ends the traceback before the aside line, which
        then takes this line as any record takes the next."""
        cur, aside = self._current, self._aside
        if cur is None or aside is None or not cur.extra:  # not reached: set aside after one
            return self._set_aside_follows()
        goes_on = (
            "PRIVATE KEY" not in text
            and (  # a key block is the normal path's
                _FRAME.match(text) is not None
                or (text[:1] in (" ", "\t") and _FRAME.match(cur.extra[-1]) is not None)
                or _EXCEPTION.match(text) is not None
                or self._exception_next(cur, text)
            )
        )
        if goes_on:
            self._aside = None
            cur.followers = [*(cur.followers or ()), aside]
            cur.extra.append(self._clean(text.rstrip()))
            cur.end = raw.end
            cur.lines += 1
            cur.truncated += raw.truncated
            return None
        # the traceback ended before the aside line, which is now the record held
        self._aside, self._current = None, aside
        try:
            done = self._feed(raw)
        except Exception:  # noqa: BLE001 - as in feed, and the traceback is still returned
            done, self._current = self._current, self._plain(raw, raw.text[:MAX_MESSAGE])
        if done is None:
            return cur
        cur.followers = [*(cur.followers or ()), done]  # the aside line, complete too
        return cur

    def _key_line(self, raw: RawLine, text: str) -> LogRecord | None:
        """A body line of an open PEM private key: joined to the record that opened it as one
        ``[REDACTED]`` line (a block of any length), never parsed or kept."""
        if closes_key_block(text):
            self._key_open = False
        cur = self._current
        if cur is None or cur.lines > MAX_CONTINUATION:
            done, self._current = cur, self._plain(raw, REDACTED)
            return done
        if cur.extra is None:
            cur.extra = []
        if not cur.extra or not cur.extra[-1].endswith(REDACTED):
            cur.extra.append(REDACTED)
        cur.end = raw.end
        cur.lines += 1
        cur.truncated += raw.truncated
        return None

    def _clean(self, text: str) -> str:
        """:func:`normalise_message`, noting the line: the next one may be its rest, wrapped
        (see :meth:`_unwrapped`)."""
        canon = _canonical(text)
        out = redact(canon[:_REDACT_SPAN])
        wraps = len(canon) <= _REDACT_SPAN and len(out) <= MAX_MESSAGE
        self._wrap = (canon, out, out) if wraps else None
        return out[:MAX_MESSAGE]

    def _unwrapped(
        self, cur: LogRecord, wrap: tuple[str, str, str], text: str
    ) -> tuple[str, tuple[str, str] | None] | None:
        """The last line of ``cur`` with ``text`` joined to it when ``text`` is its rest,
        wrapped, and a secret runs across the wrap (a terminal or an editor cut a long line:
        the rest stands alone, with no timestamp); None when it is a line of its own.

        Each half alone may be no secret by its shape. So the line before and the first word
        of this one are redacted joined: a wrap when that removes more than the two redacted
        apart. The line then reads as if it had not been cut: a token's rest goes, and what
        follows a quoted value's rest (``",``) stays. Looked at: a plain line (no record's
        header, no indented or traceback line), unless it has spaces and its first word reads
        as prose ("Retrying in 5 s": a value's rest has none, a wrap's first word is a token's),
        or it is a status word or a separator after a line that ends in a secret ("Done",
        "-----": :func:`_own_line`).
        Bounded: the text joined stops at :data:`_REDACT_SPAN` characters; past that, a
        wrap's first word after a secret goes unseen. Returns the line, and the text joined
        and its redaction when a line may follow it as its rest too."""
        canon, out, last = wrap
        if (cur.extra[-1] if cur.extra else cur.message) != last or text[:1] in ("", " ", "\t"):
            return None
        if "PRIVATE KEY" in text or self._key_open:
            return None  # a key block's own rule
        word = _WORD.match(text)
        head = word.group(0) if word is not None else text
        tail = text[len(head) :].rstrip()
        if tail and _PROSE_WORD.fullmatch(head):
            return None
        if out.endswith(REDACTED) and _own_line(head):
            return None  # "Done", "-----": the log's own line after the secret (_own_line)
        c_head = _canonical(head)
        chained = len(text) >= _WRAP_WIDTH  # a full line: the next may be wrapped too
        if len(canon) + len(c_head) > _REDACT_SPAN:
            if not out.endswith(REDACTED):
                return None  # the rest of what? Too long to tell: a line of its own
            # a secret ran to the wrap: its rest, unseen, goes whole
            if tail:
                return (last + normalise_message(tail))[:MAX_MESSAGE], None
            return last, (canon, out) if chained else None
        joined = redact(canon + c_head)
        if _shown(joined) >= _shown(out) + _shown(redact(c_head)):
            return None  # joined, they lose nothing more: each line is its own
        canon += c_head
        whole = not tail or len(canon) + len(c_tail := _canonical(tail)) <= _REDACT_SPAN
        if tail and whole:
            canon += c_tail
            joined = redact(canon)
        if joined.startswith(out):
            line, rest = last + joined[len(out) :], whole
        elif last == out:  # a rule took the line before too (a shape whole only joined)
            line, rest = joined, whole
        else:  # the line before is another record's: the wrapped word goes whole
            line, rest = last, False
        if tail and not rest:
            line += normalise_message(tail)  # the rest of the line, redacted alone
        chained = chained and whole and len(joined) <= MAX_MESSAGE
        return line[:MAX_MESSAGE], (canon, joined) if chained else None

    def _join_wrap(
        self, raw: RawLine, cur: LogRecord, line: str, wrap: tuple[str, str] | None
    ) -> LogRecord | None:
        """Make ``line`` the last line of ``cur``: a wrapped line joined to the one before it
        (see :meth:`_unwrapped`). Past :data:`MAX_CONTINUATION` lines it starts a record of
        its own: ``[REDACTED]`` and what the line adds."""
        done = None
        last = cur.extra[-1] if cur.extra else cur.message
        if cur.lines > MAX_CONTINUATION:
            added = line[len(last) :] if line.startswith(last) else ""
            done, cur = cur, self._plain(raw, REDACTED + added)
            self._current = cur
            line = cur.message
        else:
            if cur.extra:
                cur.extra[-1] = line
            else:
                cur.message, cur.low = line, line.lower()
            cur.end = raw.end
            cur.lines += 1
            cur.truncated += raw.truncated
        self._wrap = None if wrap is None else (*wrap, line)
        return done

    def _continues(self, cur: LogRecord, text: str) -> bool:
        if cur.lines > MAX_CONTINUATION:
            return False
        if not text:
            return cur.traceback
        first = text[0]
        if first in " \t":
            return True
        if text.startswith("Traceback (most recent call last)"):
            return True
        if cur.traceback:
            return bool(
                _EXCEPTION.match(text)
                or text.startswith(("During handling of the above", "The above exception"))
                or self._exception_next(cur, text)
            )
        return False

    @staticmethod
    def _exception_next(cur: LogRecord, text: str, before: int = 0) -> bool:
        """Whether ``text`` is the exception line of the traceback ``cur``, whatever its
        class is named: a qualified name right after the frames (Python writes nothing
        else there). ``before``: how many of ``cur``'s last lines come after ``text``'s
        place (1: ``text`` is its last line)."""
        if not _QUALIFIED.match(text):
            return False
        lines = [cur.message, *(cur.extra or ())]
        return _awaits_exception(lines[: len(lines) - before])

    def _parse_header(self, raw: RawLine, text: str) -> LogRecord:
        if text[:1] in ("\ufeff", "\0"):
            text = text.lstrip("\ufeff\0")  # a BOM, NULs left by a power loss, or both
        first = text[:1]
        if first.isdigit():
            m = _DOTTED.match(text)
            if m:
                date, time_, logger, level, msg = m.groups()
                if level.isupper() or (level := _level(level)):
                    return self._make(raw, "dotted", date, time_, logger, level, msg or "")
            m = _TAGGED.match(text)
            if m:
                date, time_, level, msg = m.groups()
                if level.isupper() or (level := _level(level)):
                    return self._make(raw, "tagged", date, time_, "", level, msg)
            m = _DATED.match(text)
            if m:
                date, time_, msg = m.groups()
                word = msg.split(" ", 1)[0].strip(":[]")
                level = word if word in LEVELS else ""
                return self._make(raw, "dated", date, time_, "", level, msg)
        elif first == "[":
            m = _HOLO.match(text)
            if m:
                time_, msg = m.groups()
                return self._make(raw, "holo", "", time_, "holo_index", "", msg)
        return self._plain(raw, text)

    def _make(
        self, raw: RawLine, fmt: str, date: str, time_: str, logger: str, level: str, msg: str
    ) -> LogRecord:
        date_in = self.date
        if date:
            self.date = date
        else:
            date = self.date
        tags = tags_of(msg)
        if fmt == "holo" and not level:
            level = "ERROR" if "ERROR" in tags else "WARNING" if "WARNING" in tags else "INFO"
        if level == "WARN":
            level = "WARNING"
        message = self._clean(msg.rstrip())
        return LogRecord(
            start=raw.start,
            end=raw.end,
            fmt=fmt,
            timestamp=f"{date}T{time_}" if date else "",
            logger=logger,
            level=level,
            tags=tags,
            message=message,
            date_in=date_in,
            low=message.lower(),
            module=module_of_logger(logger),
            truncated=int(raw.truncated),
            traceback=message.startswith("Traceback (most recent call last)"),
        )

    def _plain(self, raw: RawLine, text: str) -> LogRecord:
        message = self._clean(text.rstrip())
        return LogRecord(
            start=raw.start,
            end=raw.end,
            fmt="plain",
            timestamp="",
            logger="",
            level="",
            tags=(),
            message=message,
            date_in=self.date,
            low=message.lower(),
            truncated=int(raw.truncated),
            traceback=message.startswith("Traceback (most recent call last)"),
        )


def _own_line(word: str) -> bool:
    """Whether ``word``, the first word of a line right after a line that ends in a redacted
    secret, starts a line of the log's own, not the secret's rest: a status word as prose
    writes it (:data:`_STATUS_WORDS`: ``Done``, ``OK``, ``DONE.``, not ``dOnE``) or a
    separator (:data:`_SEPARATOR`). Such lines were merged into the secret and lost.

    The trade-off: a secret whose rest, cut by the wrap, is exactly such a word keeps that
    word in the log. Only the rest: the caller asks only when the line before already ends
    in ``[REDACTED]`` (a value wrapped right after its key, ``password=`` then ``Done``,
    would be whole on the next line, and goes). What is kept then is one of a few dozen
    words or one symbol repeated, next to nothing of a secret; a token's rest of any other
    letters (``rd``, ``XyZ1``), ``==`` padding or a mix of symbols (``-_-``) still goes.
    The line's width tells nothing here: true wraps are cut at any width (a fixed column
    after a long header, a JSON line, a rest wrapped again)."""
    if _SEPARATOR.fullmatch(word):
        return True
    return bool(_PROSE_WORD.fullmatch(word)) and word.rstrip(".,:;!?").lower() in _STATUS_WORDS


def _shown(text: str) -> int:
    """How many characters of ``text`` are not ``[REDACTED]``."""
    return len(text) - text.count(REDACTED) * len(REDACTED)


def _level(word: str) -> str:
    """The level of a dotted or tagged line: an upper-case word as it is, a level written in
    another case upper-cased (``info`` -> ``INFO``), else "" (not a level: not that format)."""
    if word.isupper():
        return word
    upper = word.upper()
    return upper if upper in LEVELS else ""


def parse_text(text: str) -> list[LogRecord]:
    """Parse a whole string (tests, small inputs): every line, tracebacks joined. A final
    newline ends the last line; it does not start an empty one."""
    parser = LineParser()
    out: list[LogRecord] = []
    pos = 0
    lines = text.split("\n")
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    for whole in lines:
        pieces = text_pieces(whole)  # a crash's NULs end a line, as in mining
        for n, line in enumerate(pieces, 1):
            data = line.encode("utf-8", "surrogatepass")
            raw = RawLine(pos, pos + len(data) + (n == len(pieces)), line)
            pos = raw.end
            done = parser.feed(raw)
            if done is not None:
                out += with_followers(done)
    last = parser.flush()
    if last is not None:
        out += with_followers(last)
    return out


def with_followers(record: LogRecord) -> list[LogRecord]:
    """``record`` and the records that come right after it (:attr:`LogRecord.followers`)."""
    return [record, *record.followers] if record.followers else [record]
