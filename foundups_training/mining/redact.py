"""Secrets are removed from log text before anything leaves the miner.

The operational log is written by code that talks to Google, OpenAI-style APIs and
databases; now and then a key, an OAuth token or a password ends up in a line. Every line is
passed through :func:`redact` right after parsing, so no template, context, outcome or
stored pattern ever holds one.
"""

from __future__ import annotations

import re

#: What a removed secret is replaced with (kept short: it ends up in embeddings).
REDACTED = "[REDACTED]"

# Each rule: (compiled pattern, replacement). Order matters: specific shapes first, so a
# Google key inside ``key=...`` is reported as what it is.
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # Google API keys: "AIza" + 35 url-safe characters.
    (re.compile(r"AIza[0-9A-Za-z_\-]{30,}"), REDACTED),
    # Google OAuth access tokens.
    (re.compile(r"ya29\.[0-9A-Za-z_\-.~+/]{8,}"), REDACTED),
    # Google OAuth refresh tokens ("1//0g...").
    (re.compile(r"\b1//0[0-9A-Za-z_\-]{20,}"), REDACTED),
    # OpenAI-style / Anthropic-style secret keys.
    (re.compile(r"\bsk-(?:[A-Za-z0-9]+-)?[A-Za-z0-9_\-]{16,}"), REDACTED),
    # Google OAuth client secrets ("GOCSPX-"), wherever they appear (client_secret.json dumps).
    (re.compile(r"\bGOCSPX-[0-9A-Za-z_\-]{16,}"), REDACTED),
    # JSON Web Tokens (id tokens, service-account assertions): three base64url segments.
    (re.compile(r"\beyJ[0-9A-Za-z_\-]{8,}\.[0-9A-Za-z_\-]{8,}\.[0-9A-Za-z_\-]{8,}"), REDACTED),
    # GitHub and Slack tokens.
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|xox[abprs]-[A-Za-z0-9\-]{10,})"), REDACTED),
    # "Bearer <token>" wherever it appears (headers echoed into logs).
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9_\-.~+/=]{8,}"), r"\1 " + REDACTED),
    # Passwords in URLs: scheme://user:password@host.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s:/@]+):[^\s@/]+@"), r"\1:" + REDACTED + "@"),
    # key=value / key: value secrets (quoted or bare values).
    (
        re.compile(
            r"(?i)\b((?:[a-z0-9_\-]*_)?(?:password|passwd|pwd|secret|token|api[_\-]?key|apikey|"
            r"access[_\-]?key|client[_\-]?secret|private[_\-]?key|auth)"
            r"(?:_[a-z0-9_]*)?)(['\"]?\s*[=:]\s*)(['\"]?)(?!\[REDACTED\])[^\s'\",;&]{4,}\3"
        ),
        r"\1\2\3" + REDACTED + r"\3",
    ),
)

# One cheap pre-filter search: most lines hold none of these words, and skipping the rules
# for them keeps parse+extract above 50k lines/s.
_HINT = re.compile(
    # searched on the lower-cased text, case-sensitively: an IGNORECASE alternation is ten
    # times slower in CPython's engine
    r"aiza|ya29\.|1//0|sk-|gh[pousr]_|xox|bearer|://|passw|pwd|secret|token|api[_\-]?key|eyj|"
    r"access[_\-]?key|private[_\-]?key|auth\w*['\"]?\s*[=:]|gocspx"
)


def redact(text: str) -> str:
    """``text`` with every secret the rules recognise replaced by ``[REDACTED]``."""
    if _HINT.search(text.lower()) is None:
        return text
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def contains_secret(text: str) -> bool:
    """True when :func:`redact` would change ``text`` (used by tests and audits)."""
    return redact(text) != text
