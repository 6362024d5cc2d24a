"""The routing rules, as data: which questions need reasoning, which are lookups.

The seed's rule: "why", "how should I", "what's the intent" and other reasoning questions
go to Qwen; lookups and classification go to Gemma; Gemma below 0.7 calibrated confidence
escalates to Qwen. Everything here can be changed from the TOML config
(``[foundups_training.routing]``), so an operator tunes routing without editing code.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from foundups_training.config import ConfigError

#: Question shapes that ask for reasoning, not a lookup (matched case-insensitively).
REASONING_PATTERNS: tuple[str, ...] = (
    # "why" opening a sentence: "The DAE restarted twice. Why not keep the old token?"
    r"(^\s*|[.!?]\s+)why\b",
    # "why" and an auxiliary anywhere ("…, but why does it do that?"), negated too, with a
    # straight or a typographic apostrophe ("why didn't", "why didn’t")
    r"\bwhy ((do|does|did|is|are|was|were|would|should|could|has|have|had)(n['’]t)?|can|"
    r"can['’]t|won['’]t)\b",
    r"\bhow (should|would|could|do|can) (i|we)\b",
    r"\bhow should\b",  # "how should a new module get authorised …": advice, not a lookup
    r"\bwhat(['’]s| is| was) the (intent|intention|purpose|reason|rationale|idea)\b",
    r"\bwhat (would|will) happen\b",
    r"\bwhat happens if\b",  # a hypothetical; "what happened" stays a log question
    r"\b(reasoning|rationale|thinking|idea) behind\b",
    # how a part makes a choice: its design, not one logged event
    r"\bhow (does|do) .{1,60}?\b(choose|decide|determine|pick|select)s?\b",
    r"^\s*(can|could|may) (i|we)\b",  # "Can I fix it by editing …?": advice
    r"\b(explain|justify|compare|trade-?offs?|pros and cons)\b",
    r"\bshould (i|we)\b",
    r"\bwhat do you (think|recommend|suggest)\b",
    r"\bwhat (went|was going|had gone|has gone) wrong\b",
    r"\bwhat caused\b",
    # "what made the daemon crash": a cause, as "what caused" asks; not "what made the
    # dashboard" (a thing that was built) nor "what made it into the release"
    r"\bwhat made (the|a|an|our|its|this|that|my|it|them) ([\w/-]+ ){0,2}?(crash|fail|stop|"
    r"hang|die|restart|break|exit|quit|freeze|stall|go down|time out|drop|lose|reconnect|"
    r"disconnect|skip|retry|give up|back off)",
)

#: Irregular past tenses of what happens to a running program ("What broke the server?"),
#: for ``MODULE_PATTERNS``: each is only ever a past tense there, never a present tense or an
#: adjective before "the" ("broken", "frozen" describe a program and are not here; "built-in",
#: "held-out" are one word with their hyphen). "freed" is here because the pattern's "-ed"
#: rule skips "-eed" words, present tenses ("feed", "need", "speed"). "held", "found", "built"
#: were left out as adjectives too, until "What held the daemon's lock?" and "What built the
#: dashboard at noon?" were read as module questions. Left out: "made" ("What made the
#: dashboard?" asks which part makes it, ``test_rules_table.py``).
IRREGULAR_PAST: str = (
    "ate|bent|bit|blew|bought|bound|broke|brought|built|caught|chose|dealt|drew|drove|dug|"
    "fought|flung|forgot|found|freed|froze|gave|got|grew|held|hid|hung|kept|laid|left|lent|"
    "lit|lost|overran|overrode|overtook|overwrote|paid|ran|rang|rebuilt|reran|rewrote|sank|"
    "sent|shook|shot|shrank|slid|sold|sought|spent|spun|stole|struck|stuck|stung|swept|swung|"
    "taught|threw|told|took|tore|undid|withdrew|woke|won|wrote"
)

#: Past tenses that are also present tenses after a plural ("Which jobs shut the service
#: down?", "Which jobs set the service up?", "Which jobs read the config?"):
#: ``MODULE_PATTERNS`` takes them as past tenses only right after "what", their singular
#: subject ("What shut down the daemon?", "What read the server's config at noon?").
PAST_AFTER_WHAT: str = "beat|burst|cast|cut|hit|hurt|let|put|quit|read|set|shut|split|spread|upset"

#: Words between such a past tense and "the", "our" …: "What took down the server?", "What
#: tore through the server's memory?", "What crashed in the daemon at noon?".
PAST_PARTICLES: str = "down|up|out|off|over|through|into|onto|in|on|across|past|around|away|back"

#: Question shapes that ask where something lives in the host's tree.
MODULE_PATTERNS: tuple[str, ...] = (
    r"\b(which|what) (module|package|component|dae|code|file|folder)s?\b",
    # "which part of the code …", or a part that does something: "Which part builds the
    # report?", "Which parts handle the retries?" (a present tense, then "the", "a" …; not
    # "which part says the …", what a logged line holds, nor "which parts of the report …")
    r"\b(which|what) ((part|piece|bit)s? of the (code|codebase|system|tree|project|host|repo)\b|"
    r"(part|piece)( (?=[a-z]+s )|s )(?!(is|was|has|does|are|were|do|did|have|had|will|would|"
    r"can|could|should|may|might|must|of|in|on|at|from|with|to|for|about|as|across|after|"
    r"before|between|during|into|like|near|over|under|besides|towards|says?|shows?|lists?|"
    r"mentions?|contains?|means?|seems?|looks?)\b)[a-z]+ (the|a|an|our|its|this|that|my|every|"
    r"each|all)\b)",
    # "which educational web app", "which MCP server", "what daemon": a thing in the tree,
    # named by what kind of program it is, after at most three other words, none of them a
    # verb that makes it a question about what happened ("what did the daemon do"), nor a
    # past tense that a determiner follows, with or without "down", "up" …: "What crashed
    # the daemon?", "What took down the server?" ask what was done to it, while "Which
    # automated tool …" (the past participle right before the program) describes one ("need
    # the" is no past tense). "shut", "set" … are ones right after "what" (PAST_AFTER_WHAT).
    r"\b(which|what) ((?!(did|does|do|is|was|were|are|has|had|will|would|can|could|should|"
    r"happen(s|ed)?)\b)(?!([a-z]+(?<!e)ed|"
    + IRREGULAR_PAST
    + r"|(?<=\bwhat )("
    + PAST_AFTER_WHAT
    + r"))"
    r"( (" + PAST_PARTICLES + r"))? (the|a|an|our|its|this|that|my) )[\w/-]+ ){0,3}?"
    r"(app|application|tool|service|server|daemon|daes?|script|engine|dashboard|library|"
    r"plugin|integration|orchestrator)s?\b",
    r"\bwhere (is|are|does|do|did|can|could|would|should|will|might|to|in the code)\b",
    r"\bwhere['’]s\b",
    # "the module that …", "code for …"; not "the error code for a quota failure"
    r"\b(module|(?<!error )(?<!status )(?<!exit )code) (that|which|for|responsible|handles|"
    r"in charge)\b",
    r"\bwho (handles|owns|is responsible|decides|manages|schedules|stores|detects|"
    r"watches|runs|sends|posts|writes|builds|creates|checks)\b",
    r"\bwhich is the (only |one )?(module|package|component|dae)\b",
)


#: Question shapes that look like module questions but ask about something the log recorded:
#: where a file was moved, where a logged line says something is. They are lookups among the
#: log's patterns ("Which folder did the code analyzer move test_token_refresh.py into?" is
#: answered by the WSP correction that moved it, not by the code analyzer's own path).
EVENT_PATTERNS: tuple[str, ...] = (
    r"\b(where|which [\w-]+) did\b.{0,120}?\b(end(ed)? up|move[ds]?|go|went|put|land(ed)?|"
    r"placed?|relocated?)\b",
    r"\bwhere (does|did) the (warning|error|log|line|message|entry|finding)\b.{0,60}?\bsay\b",
    # "Which file path did the model selector say …", "Which module … did the guardian
    # flag?": what a logged line named, not where something lives
    r"\b(which|what) (module|package|component|dae|code|file|folder|directory|path|app|tool|"
    r"service|server|daemon|script|engine)s?\b( [\w-]+){0,5}? did\b",
    # "which file is ranked first among the results": what a logged search listed
    r"\b(which|what) (file|module|path)s? (is|was|were|are) (ranked|listed|returned|shown)\b",
    # "Which rule number did it cite?": what a logged line named
    r"\bwhich [\w-]+( [\w-]+)? did (it|they|the [\w-]+) (cite|name|flag|report|say)\b",
)


#: Question shapes that may ask for a module or for something the log recorded: "What grants
#: an AI agent permission to edit files …?" is answered by a module, "What shows up in the
#: log right after every moderator timeout?" by a logged line. Such a lookup is a module
#: question when a module pattern is nearer the question than anything the log taught
#: (``Router._either``).
EITHER_PATTERNS: tuple[str, ...] = (
    # "What <verb>s …": the question's subject is the thing sought
    # (not a plural noun that a question's verb follows: "What errors did the bot hit?")
    r"^\s*what (?!(is|was|has|does|happens|seems|goes|comes|kinds|types|sorts)\b)[a-z]+s\b"
    r"(?! (did|do|does|were|are|was|is|have|has|had)\b)",
)


#: Words of a question about what viewers wrote and what the moderators and the bot did about
#: it: such a lookup also searches the patterns learned live from chat (``chat_response``,
#: ``moderation``). Any other lookup searches only what the log and the host taught: at
#: 100K patterns, 94K of them learned from chat, the chat patterns were the nearest
#: neighbours of 38 of the 40 sample log questions and crowded every right answer out
#: (docs/models.md, "Fifth session: live chat patterns and log lookups").
LIVE_CHAT_PATTERNS: tuple[str, ...] = (
    # about people in the chat, not the chat machinery: "a chat message crashed the
    # processor" and "the ping timed out" are questions about the system
    r"\b(viewers?|chatters?|commenters?|trolls?|spam(mers?)?|banter)\b",
    r"\bmoderat(or|ors|ion|ed|e|ing)\b",
    r"\b(banned|bans?|banning|unban(ned|ning|s)?)\b",
    r"\b(wrote|said|typed|posted|asked) (in|to) (the )?(live ?)?chat\b",
    r"\b(someone|somebody|a user|a viewer|they|he|she) (wrote|said|typed|posted)\b",
)


#: Lead-ins of a module question that say what kind of answer is wanted, not what it is
#: about ("Which module …", "Where is the code that …"). A module question is searched for
#: without its lead-in: the words left describe what the module does, which is what the
#: patterns describe (measured on the real host's dev questions: right module first 32 → 34
#: of 41, together with the summary weight below 32 → 37).
MODULE_LEADS: tuple[str, ...] = (
    r"^\s*(which|what) (module|package|component|(part|piece|bit) of the "
    r"(code|codebase|system|tree|project|host|repo)|part|piece|code|dae)"
    r"( (is|does|handles|should|would|can|lets|do))?\s+",
    r"^\s*where (is|are|does|do) (the )?(code|module|logic)? ?(that|which|for)?\s*",
)


#: Question shapes that may ask what the log showed or how the code behaves: "The circuit
#: breaker opened. What happens to the posts?" is answered by the log, "What happens when
#: the git pusher runs against a repository whose main branch only takes pull requests?" by
#: the design the module's README describes. Such a lookup is a reasoning question when a
#: README or INTERFACE passage is nearer the question than anything the log taught
#: (``Router._open_or_lookup``).
BEHAVIOUR_PATTERNS: tuple[str, ...] = (
    r"\bwhat happens\b",
    r"\bwhat does .{1,80}? do (with|when|if|after|about)\b",
)


#: Lead-ins that name what a question does *not* ask about ("Besides test files in the wrong
#: folder, what other problem …"). A lookup is searched for without them: their words would
#: steer the search to the very thing excluded.
EXCLUSION_LEADS: tuple[str, ...] = (
    r"^\s*(besides|apart from|aside from|other than|except for)\b[^,?]{1,120},\s*",
)


@dataclass(frozen=True)
class RoutingRules:
    """Everything the router decides with; defaults are the seed's rules."""

    threshold: float = 0.7
    fast_path_similarity: float = 0.9
    #: how close to the best neighbour another must be to count in the agreement check
    fast_path_band: float = 0.05
    #: neighbours recalled per question, and options offered to a model
    recall_n: int = 16
    max_options: int = 4
    #: options Gemma is shown (the best ones); every option it is not shown stays for Qwen.
    #: Each one costs Gemma ~20 prompt tokens, ~25 ms on two cores.
    gemma_max_options: int = 3
    #: temperature of the retrieval prior softmax(similarity / T) over the options
    retrieval_temperature: float = 0.05
    #: exponent of the model's probabilities in the product with the retrieval prior
    model_weight: float = 1.0
    #: characters of each pattern shown to Gemma / Qwen as evidence
    gemma_evidence_chars: int = 40
    qwen_evidence_chars: int = 160
    #: characters of each record Qwen reads for an open (reasoning) answer: a passage of a
    #: module's README holds its facts in up to 400
    qwen_open_evidence_chars: int = 400
    #: tokens Qwen may generate for an open (reasoning) answer
    qwen_max_tokens: int = 64
    #: a module's score for a module question: (1 - w) × its best-matching pattern's
    #: similarity + w × its summary pattern's similarity (0 = the best pattern alone)
    summary_weight: float = 0.5
    #: then ``(1 - v) × that + v × the best of its README/INTERFACE passages`` among the
    #: ``doc_recall_n`` passages nearest the question (0 = passages not counted)
    doc_weight: float = 0.5
    doc_recall_n: int = 64
    #: priority patterns searched for the recorded round whose scores a question gives
    #: (``routing.priority.recorded_round``; 0 = only those recalled for the question)
    round_recall_n: int = 64
    #: seconds a model tier may take to load and answer one question; past that the
    #: router answers without it (escalation, then the memory tier) and says so. A hung
    #: backend cannot hold a host DAE's thread (0 = no bound). Well above the slowest
    #: measured answer (Qwen 1.5B under full load: p95 164 s, docs/models.md).
    model_timeout_s: float = 300.0
    #: characters of the longest question answered; a longer one is refused with an error
    #: saying so. Each recalled pattern reads the whole question (its numbers and words):
    #: a 1 MB question held the interpreter lock, which every host thread needs, 5–12 s.
    #: 0 = no limit (as ``model_timeout_s``).
    max_question_chars: int = 20_000
    reasoning_patterns: tuple[str, ...] = REASONING_PATTERNS
    module_patterns: tuple[str, ...] = MODULE_PATTERNS
    event_patterns: tuple[str, ...] = EVENT_PATTERNS
    either_patterns: tuple[str, ...] = EITHER_PATTERNS
    behaviour_patterns: tuple[str, ...] = BEHAVIOUR_PATTERNS
    module_leads: tuple[str, ...] = MODULE_LEADS
    exclusion_leads: tuple[str, ...] = EXCLUSION_LEADS
    live_chat_patterns: tuple[str, ...] = LIVE_CHAT_PATTERNS

    def __post_init__(self) -> None:
        # Rules built in code are held to what the TOML table is held to (``updated``): a
        # NaN threshold escalated every answer as "gemma confidence 0.95 < nan", -1 none,
        # and a pattern that does not compile failed here with a bare re.error.
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(f.default, tuple):
                checked = _patterns(f.name, value)
            else:
                checked = _number(f.name, f.default, value)
            object.__setattr__(self, f.name, checked)
        object.__setattr__(self, "_reasoning", _compile(self.reasoning_patterns))
        object.__setattr__(self, "_module", _compile(self.module_patterns))
        object.__setattr__(self, "_event", _compile(self.event_patterns))
        object.__setattr__(self, "_either", _compile(self.either_patterns))
        object.__setattr__(self, "_behaviour", _compile(self.behaviour_patterns))
        object.__setattr__(self, "_leads", _compile(self.module_leads))
        object.__setattr__(self, "_exclusions", _compile(self.exclusion_leads))
        object.__setattr__(self, "_live", _compile(self.live_chat_patterns))

    def intent(self, text: str) -> str:
        """ "reasoning", "module_location" or "lookup" for a question's text."""
        if any(p.search(text) for p in self._reasoning):  # type: ignore[attr-defined]
            return "reasoning"
        if any(p.search(text) for p in self._event):  # type: ignore[attr-defined]
            return "lookup"
        if any(p.search(text) for p in self._module):  # type: ignore[attr-defined]
            return "module_location"
        return "lookup"

    def module_or_log(self, text: str) -> bool:
        """Whether a lookup may as well ask for a module (see ``EITHER_PATTERNS``)."""
        return any(p.search(text) for p in self._either)  # type: ignore[attr-defined]

    def log_or_design(self, text: str) -> bool:
        """Whether a lookup may as well ask how the code behaves (see
        ``BEHAVIOUR_PATTERNS``)."""
        return any(p.search(text) for p in self._behaviour)  # type: ignore[attr-defined]

    def about_live_chat(self, text: str) -> bool:
        """Whether a lookup asks about what happened in a live chat (viewers' messages,
        moderation), so that the patterns learned live are searched as well."""
        return any(p.search(text) for p in self._live)  # type: ignore[attr-defined]

    def module_search_text(self, text: str) -> str:
        """A module question without its lead-in ("Which module writes …" → "writes …");
        the question itself when nothing would be left."""
        return _without(text, self._leads)  # type: ignore[attr-defined]

    def lookup_search_text(self, text: str) -> str:
        """A lookup without the lead-in that names what it does not ask about ("Besides
        test files in the wrong folder, what other problem …" → "what other problem …");
        the question itself when nothing would be left."""
        return _without(text, self._exclusions)  # type: ignore[attr-defined]

    @classmethod
    def from_settings(cls, settings: Any) -> RoutingRules:
        """Defaults, then the settings' threshold and fast-path similarity, then the TOML
        ``routing`` table (``settings.extra["routing"]``)."""
        rules = cls(
            threshold=float(getattr(settings, "threshold", cls.threshold)),
            fast_path_similarity=float(
                getattr(settings, "fast_path_similarity", cls.fast_path_similarity)
            ),
        )
        extra = getattr(settings, "extra", {}) or {}
        table = extra.get("routing") if isinstance(extra, Mapping) else None
        return rules.updated(table) if isinstance(table, Mapping) else rules

    def updated(self, table: Mapping[str, Any]) -> RoutingRules:
        """A copy with the keys of ``table`` applied.

        Raises :class:`ConfigError` naming the key for an unknown key, a value of the wrong
        type or an invalid regular expression: ``load_settings`` checks the TOML file's
        ``routing`` table with this, so a mistake there stops a command with one line instead
        of failing every answer later. A string where a list of patterns belongs is refused,
        not read as a list of one-character patterns.
        """
        known = {f.name for f in fields(self)}
        changes: dict[str, Any] = {}
        for key, value in table.items():
            if key not in known:
                close = difflib.get_close_matches(key, sorted(known), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(f"unknown routing setting {key!r}{hint}")
            changes[key] = _routing_value(key, getattr(self, key), value)
        return replace(self, **changes)


def _routing_value(key: str, current: Any, value: Any) -> Any:
    """``value`` checked and converted to the type of the setting's default ``current``."""

    def refuse(why: str) -> ConfigError:
        return ConfigError(f"routing setting {key!r}: cannot use {value!r} ({why})")

    if isinstance(current, tuple):
        return _patterns(key, value)
    return _number(key, current, value)


#: Settings that are probabilities: a number from 0 to 1, as the top-level ``threshold`` is
#: (the routing table's took 2, which escalated every answer). ``fast_path_similarity`` above
#: 1 stays allowed: it is how the fast path is turned off.
UNIT_SETTINGS = frozenset({"threshold"})
#: Counts that 0 does not turn off but empties: ``max_options = 0`` left every lookup
#: without options, answered "" with the reason "no patterns recalled" (they were).
POSITIVE_SETTINGS = frozenset({"max_options"})


def _patterns(key: str, value: Any) -> tuple[str, ...]:
    """``value`` as a tuple of regular expressions that compile; :class:`ConfigError`
    naming ``key`` otherwise."""

    def refuse(why: str) -> ConfigError:
        return ConfigError(f"routing setting {key!r}: cannot use {value!r} ({why})")

    if isinstance(value, str):
        raise refuse(f"a list of regular expressions is expected: {key} = [{value!r}]")
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise refuse("a list of regular expressions (strings) is expected")
    for pattern in value:
        try:
            re.compile(pattern, re.IGNORECASE)
        except (re.error, RecursionError, OverflowError) as exc:
            raise ConfigError(
                f"routing setting {key!r}: {pattern!r} is not a valid regular expression ({exc})"
            ) from None
    return tuple(value)


def _number(key: str, current: Any, value: Any) -> Any:
    """``value`` as a number of the type of the default ``current``: finite, at least 0
    (at most 1 for :data:`UNIT_SETTINGS`, at least 1 for :data:`POSITIVE_SETTINGS`);
    :class:`ConfigError` naming ``key`` otherwise."""

    def refuse(why: str) -> ConfigError:
        return ConfigError(f"routing setting {key!r}: cannot use {value!r} ({why})")

    # Every other routing setting is a count, a weight, a temperature or a similarity: a
    # number, never below 0. A string holding one is read, as it is at the top level.
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise refuse("a number is expected")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise refuse("a number is expected") from None
    if not math.isfinite(number) or number < 0:
        # inf passed "at least 0" before: a model_weight of inf made every model's score NaN
        raise refuse("a finite number of at least 0 is expected")
    if key in UNIT_SETTINGS and number > 1:
        raise refuse("a number from 0 to 1 is expected")
    if key in POSITIVE_SETTINGS and number < 1:
        raise refuse("a number of at least 1 is expected")
    if isinstance(current, int):
        if not number.is_integer():
            raise refuse("a whole number is expected")
        return int(number)
    return number


def _without(text: str, leads: tuple[re.Pattern[str], ...]) -> str:
    """``text`` with the first match of each lead-in removed; ``text`` when nothing is left."""
    stripped = text
    for lead in leads:
        stripped = lead.sub("", stripped, count=1)
    return stripped.strip() or text


def _compile(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, re.IGNORECASE) for p in patterns)
