"""Secrets are removed from log text before anything leaves the miner.

The operational log is written by code that talks to Google, OpenAI-style APIs, GitHub,
Slack/Discord and databases; now and then a key, an OAuth token, a password or a whole
service-account JSON ends up in a line. Every line is passed through :func:`redact` right
after parsing, so no template, context, outcome or stored pattern ever holds one.

Two kinds of rule:

* **Shapes** that are secrets wherever they stand (``AIza…``, ``ya29.…``, ``ghp_…``,
  ``hf_…``, ``glpat-…``, ``sk_live_…``, ``npm_…``, ``AKIA…``, ``4/0A…`` authorization codes,
  PEM private-key blocks and OpenSSH key bodies, webhook URLs, an RTMP URL's stream key,
  ``Bearer …``, ``scheme://user:pw@``).
* **key = value** pairs, found by a linear scan for ``key=``, ``key:`` (also ``:=``, ``=>``,
  full-width ``：``/``＝``), quoted JSON / repr keys (``"accessToken": "…"``,
  ``\\"password\\": \\"…\\"``), ``<password>…</password>`` elements, a property list's
  ``<key>password</key><string>…</string>``, and ``--password …`` flags, also as a list's
  items (``['mysql', '--password', '…']``), and a quoted key assigned to by subscript
  (``os.environ["DB_PASSWORD"] = …``); a line with zero-width characters is looked at
  again without them. An ``OAuth``/``Digest`` Authorization header loses all its parameters,
  and in a browser cookie object (``{'name': …, 'value': …, 'domain': …}``) ``value`` is a
  weak key. The key's *last word* decides (a name written as one word by how it ends:
  ``PGPASSWORD``, ``csrftoken``):
  ``password``/``secret``/``passphrase``/``private_key``/``api_key`` are *strong* (any
  value but a placeholder such as ``None`` or ``set3`` is removed, spaces and ``;,&`` inside
  a quoted value included); ``token``/``key``/``credentials``/``signature`` are *weak* (the
  value goes only when it looks generated: letters and digits interleaved, mixed case, long
  hex). So ``token_count: 1532``, ``password_policy: strict``, ``token: expired`` and the
  host's own module ``youtube_auth: …`` keep their meaning, while ``accessToken=opaque01…``
  does not survive. An unquoted value that is code naming where the secret comes from (a
  call, a subscript, an attribute of a lower-case name: ``password = os.getenv("DB")``,
  ``api_key=self.key``) is kept.
* **Code and commands** that hold a secret without a ``key=``: the quoted fallback of code
  reading a secret by name (``os.getenv("DB_PASSWORD", "…")``, ``cfg.get('api_key', '…')``,
  ``process.env.API_KEY || '…'``), curl's ``-u user:password``, a MySQL client's
  ``-p<password>``, sshpass's ``-p`` (its own options only: ``ssh -p 2222`` after it is a
  port) and redis-cli's ``-a``/``--pass`` (a Windows ``….exe`` too), written as a shell
  command (a word of bare and quoted pieces is one password: ``''pw``, ``x"pw 2"``) or logged
  as a list (``['curl', '-u', 'bob:…']``, of bytes too; an item that is code, such as
  ``os.environ["H"]`` or ``f'-u{user}'``, is read past). A session cookie's own name is a key
  (``{'li_at': …}``, ``SID=…``), but a page token's (``nextPageToken``) is none, and
  ``PWD=/home/bob`` is the shell's working directory.

Every pattern is linear (bounded keys, no nested unbounded repeats): this runs on every log
line, and a hostile 64 KB line must not stall the miner.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import string
from collections.abc import Callable

#: What a removed secret is replaced with (kept short: it ends up in embeddings).
REDACTED = "[REDACTED]"

_PEM_BEGIN = r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
_PEM_END = r"-----END[A-Z0-9 ]{0,40}-----"


def _basic(m: re.Match[str]) -> str:
    """``Basic <base64>`` is a secret when it decodes to ``user:password`` (the header's
    definition); "Basic connectivity" and other prose stay."""
    try:
        decoded = base64.b64decode(m.group(2) + "==", validate=False)
    except (binascii.Error, ValueError):
        return m.group(0)
    if b":" in decoded and decoded.isascii() and decoded.decode("ascii").isprintable():
        return f"{m.group(1)} {REDACTED}"
    return m.group(0)  # a word that happens to be base64 decodes to bytes, not to text


#: An upper-case name standing for a value ("STREAM_KEY"), or a Windows variable ("%KEY%").
_NAME_PLACEHOLDER = re.compile(r"[A-Z][A-Z0-9_]{0,63}|%\w{1,64}%")


def _stream_key_placeholder(key: str) -> bool:
    """Whether an RTMP URL's last part names its stream key instead of holding it."""
    return _placeholder(key) or _NAME_PLACEHOLDER.fullmatch(key) is not None


_Replacement = str | Callable[[re.Match[str]], str]
#: A Discord bot token's middle: ".<6-7>.<27+>" (its first part has no literal to look for).
_DISCORD_HINT = re.compile(r"\.[\w\-]{6,7}\.[\w\-]{27}")
#: A Telegram bot token's ":AA" after a digit (searched in the lower-cased text).
_TELEGRAM_HINT = re.compile(r":aa(?<=[0-9]:aa)[\w\-]{30}")  # literal first: fast

# Each rule: (triggers, compiled pattern, replacement). A rule runs only when one of its
# lower-case triggers is in the lower-cased line (substring tests cost next to nothing, a
# regex pass does not; a pattern trigger is searched). Order matters: specific shapes first,
# so a Google key inside ``key=...`` is reported as what it is.
_RULES: tuple[tuple[tuple[str, ...] | re.Pattern[str], re.Pattern[str], _Replacement], ...] = (
    # PEM private keys, whole (a service-account JSON holds one with literal "\n"s; a block
    # cut by the end of the text is removed to the end). The header goes too: what follows
    # it is the key. Unrolled loop: linear however many dashes follow.
    (
        ("private key",),
        re.compile(_PEM_BEGIN + r"[^-]*(?:-(?!----END)[^-]*)*(?:" + _PEM_END + ")?"),
        REDACTED,
    ),
    # A DER structure in base64 ("MII…"): the first body line of a key logged without its
    # header (the parser removes the others while a block is open).
    (("mii",), re.compile(r"\bMII[A-Za-z0-9+/]{30,}={0,2}"), REDACTED),
    # The same for an OpenSSH key, whose body always opens with the base64 of its format's
    # name ("openssh-key-v1").
    (
        ("b3blbnnzac1rzxktdje",),
        re.compile(r"(?<![A-Za-z0-9+/])b3BlbnNzaC1rZXktdjE[A-Za-z0-9+/]*={0,2}"),
        REDACTED,
    ),
    # Google API keys: "AIza" + 35 url-safe characters.
    (("aiza",), re.compile(r"AIza[0-9A-Za-z_\-]{30,}"), REDACTED),
    # Google OAuth access tokens.
    (("ya29.",), re.compile(r"ya29\.[0-9A-Za-z_\-.~+/]{8,}"), REDACTED),
    # Google OAuth refresh tokens ("1//0g...", "1%2F%2F0g..." percent-encoded).
    (("1//0", "1%2f%2f0"), re.compile(r"\b1(?://|%2[Ff]%2[Ff])0[0-9A-Za-z_\-]{20,}"), REDACTED),
    # Google OAuth authorization codes ("4/0A…", also percent-encoded): exchanged for a
    # refresh token by whoever holds one, and pasted or logged outside a "?code=" as well.
    (
        ("4/0a", "4%2f0a"),
        re.compile(r"(?:(?<![\w/%])|(?<=%[0-9A-Fa-f]{2}))4(?:/|%2[Ff])0A[0-9A-Za-z_\-]{30,}"),
        REDACTED,
    ),
    # OpenAI-style / Anthropic-style secret keys.
    (("sk-",), re.compile(r"\bsk-(?:[A-Za-z0-9]+-)?[A-Za-z0-9_\-]{16,}"), REDACTED),
    # Google OAuth client secrets ("GOCSPX-"), wherever they appear (client_secret.json dumps).
    (("gocspx",), re.compile(r"\bGOCSPX-[0-9A-Za-z_\-]{16,}"), REDACTED),
    # JSON Web Tokens (id tokens, service-account assertions): three base64url segments.
    # A segment may hold "-eyJ", and each start scans its run to the end: only an "eyJ" in
    # the first 64 characters of a run starts a token ("-eyJ" x 16,000 took 20 s: quadratic).
    (
        ("eyj",),
        re.compile(
            r"\beyJ(?<![0-9A-Za-z_\-]{67})"
            r"[0-9A-Za-z_\-]{8,}\.[0-9A-Za-z_\-]{8,}\.[0-9A-Za-z_\-]{8,}"
        ),
        REDACTED,
    ),
    # GitHub (classic and fine-grained "github_pat_") and Slack tokens.
    (
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "xox", "xapp-"),
        re.compile(
            r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"
            r"|xox[abeprs]-[A-Za-z0-9\-]{10,}|xapp-\d-[A-Za-z0-9\-]{10,})"
        ),
        REDACTED,
    ),
    # Hugging Face ("hf_" + 34), GitLab ("glpat-" + 20, or a longer routable token with
    # dots), Stripe live secret and restricted ("sk_live_", "rk_live_" + 24 or more) and npm
    # ("npm_" + 36) tokens. Each needs a run no word or identifier has ("hf_model_name" has
    # underscores). A prefix counts only at the start of a run of token characters, so each
    # run is scanned once ("glpat-" repeated would otherwise be quadratic).
    (
        ("hf_", "glpat-", "k_live_", "npm_"),
        re.compile(
            r"(?<![A-Za-z0-9_\-])(?:hf_[A-Za-z0-9]{34,}|[sr]k_live_[A-Za-z0-9]{24,}"
            r"|npm_[A-Za-z0-9]{36,}|glpat-[A-Za-z0-9_\-]{20,}(?:\.[A-Za-z0-9_\-]+)*)"
        ),
        REDACTED,
    ),
    # AWS access key ids (long-lived AKIA, session ASIA).
    (("akia", "asia"), re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), REDACTED),
    # Discord bot tokens: base64 user id, timestamp, HMAC.
    (
        _DISCORD_HINT,
        re.compile(r"\b[MNO][A-Za-z0-9_\-]{23,27}\.[A-Za-z0-9_\-]{6,7}\.[A-Za-z0-9_\-]{27,40}\b"),
        REDACTED,
    ),
    # Telegram bot tokens: the bot's id, ":", ~35 characters starting "AA" (also inside the
    # Bot API's URLs: ".../bot<token>/sendMessage").
    (
        _TELEGRAM_HINT,
        re.compile(r"(?<![0-9])[0-9]{6,12}:AA[0-9A-Za-z_\-]{30,40}(?![0-9A-Za-z_\-])"),
        REDACTED,
    ),
    # Webhook URLs carry their secret in the path (Slack, Discord): the host part stays.
    (
        ("hooks.slack", "/webhooks/"),
        re.compile(
            r"(hooks\.slack\.com/(?:services|workflows|triggers)/)[A-Za-z0-9_/\-]+"
            r"|(discord(?:app)?\.com/api(?:/v\d+)?/webhooks/\d+/)[A-Za-z0-9_\-]+"
        ),
        lambda m: (m.group(1) or m.group(2)) + REDACTED,
    ),
    # A stream key is the last part of an RTMP ingest URL ("rtmp://a.rtmp.youtube.com/live2/
    # <key>"): the server and application stay, a URL with no part after them is kept, and
    # so is a placeholder in a command's documentation ("{STREAM_KEY}", "TEST_KEY", "...").
    (
        ("rtmp",),
        re.compile(r"(?i)\b(rtmps?://[^\s/'\"<>]+/[^\s/'\"<>]+/)([^\s'\"<>]+)"),
        lambda m: m.group(0) if _stream_key_placeholder(m.group(2)) else m.group(1) + REDACTED,
    ),
    # "Bearer <token>" wherever it appears (headers echoed into logs); not "bearer key: …",
    # whose value the key=value scan removes (possessive: no shorter match before the ":").
    (
        ("bearer",),
        re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9_\-.~+/=]{8,}+(?![\w\-'\"]*\s*:)"),
        r"\1 " + REDACTED,
    ),
    # "Basic <base64 of user:password>" wherever it appears.
    (("basic",), re.compile(r"\b([Bb]asic)\s+([A-Za-z0-9+/]{8,}={0,2})(?![\w+/=])"), _basic),
    # Passwords in URLs: scheme://user:password@host, and scheme://:password@host (Redis).
    # A scheme starts at most 32 characters into a run of scheme characters: each start
    # scans the run: "a." x 32,000 before a "://" took two minutes (quadratic).
    (
        ("://",),
        re.compile(
            r"(?i)\b(?=[a-z])(?<![a-z0-9+.\-]{32})([a-z][a-z0-9+.\-]*://[^\s:/@]*):[^\s@/]+@"
        ),
        r"\1:" + REDACTED + "@",
    ),
)

# -- key = value --------------------------------------------------------------------------

#: A key, bare or quoted (``"k"``, ``'k'``, ``\"k\"``), then ``=``, ``:``, ``:=``, ``=>`` (PHP
#: and Ruby hashes; a value after ``=>`` and a space must be quoted, so that an arrow function
#: keeps its body) or a full-width ``：``/``＝``. Bounded, and anchored at a word start, so each
#: character is scanned once. A key never spans a dot: a dotted name is looked at from its last
#: part ("self.config.api_key" from "api_key"). A command-line flag's dashes come before the
#: key ("--password=…", "-client_secret=…"); a long flag may also be followed by its value as
#: the next word ("--password hunter2", used for strong keys only), or, quoted, by a comma and
#: its quoted value as the next item of a list ("['--password', 'hunter2']", the same). In a
#: percent-encoded query (a URL inside a URL's parameter) ``%3D`` is the ``=`` and a key
#: starts after any ``%XX`` ("%3Faccess_token%3D…"). An XML/HTML element's name is a key
#: too ("<password>…</password>": its text, up to the closing tag, is the value). A quoted key
#: assigned to by subscript is one ("os.environ['DB_PASSWORD'] = …", a traceback's source
#: line), with ``=`` only: "cfg['password']: …" and "== …" are code that reads it.
_KEY = re.compile(
    r"(?:(?P<esc>\\?)(?P<q>[\"'])|(?P<tag><)"
    r"|(?<![\w\-])(?:(?P<fq>\\?[\"'])?(?P<flag>--)|-?)"
    r"|(?<=%[0-9A-Fa-f]{2}))"
    r"(?P<key>[A-Za-z_][\w\-]{0,79})"
    r"(?(tag)>|(?(q)(?P=esc)(?P=q)|\\?[\"']?)"
    r"(?:[ \t]*(?:(?P<arrow>=>)|:=|[=:\uff1a\uff1d](?![=:])|(?P<pct>%3[Dd]))[ \t\u3000]*"
    r"|(?(q)(?P<sub>\][ \t]*=(?![=>])[ \t]*)|(?!))"
    r"|(?(flag)(?P<word>[ \t]+)(?=[^\s\-,])|(?!))"
    r"|(?(fq)(?<=[\"'])(?P<item>[ \t]*,[ \t]*)(?=\\?[\"'](?!-))|(?!))))"
)
#: An element's text, when the closing tag follows (checked for the same name).
_VALUE_TAG = re.compile(r"[^<]{1,256}(?=</)")
#: A property list's ``<key>`` names a field ("Password", "api_key"); its value is the
#: ``<string>`` element right after it on the same line.
_PLIST_NAME = re.compile(r"[A-Za-z_][\w\-]{0,79}")
_PLIST_STRING = re.compile(r"[ \t]*<string>([^<]{1,256})</string>")
#: Quoted values run to their closing quote whatever they hold (spaces, ``;,&``, escapes),
#: or to the end of a line that was cut.
_VALUE_DQ = re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*)')
_VALUE_SQ = re.compile(r"'([^'\\]*(?:\\.[^'\\]*)*)")
_VALUE_ESCAPED = re.compile(r'\\(["\'])([^\\]*(?:\\(?!\1)[^\\]*)*)')
#: A bare value runs to a space, a quote or ``&`` (a URL's next parameter), 256 at most: a
#: kept value is scanned again for the keys inside it, so its length must be bounded. The
#: run it stops at is found once for all the keys inside it (see _redact_pairs).
_VALUE_BARE = re.compile(r"[^\s'\"&]{1,256}")
_BARE_RUN = re.compile(r"[^\s'\"&]*")
#: The same after ``%3D``: also ended by an encoded ``&``, space or quote.
_VALUE_PCT = re.compile(r"(?:[^\s'\"&%]|%(?!2[0267])[0-9A-Fa-f]{2}){1,256}")
#: The further words of an unquoted passphrase after a strong key and a colon ("password:
#: correct horse battery staple"): up to 8 words, each ended by a space, closing
#: punctuation or the end; never another key ("user=bob"), the host's " - " separator, or
#: a bracketed aside.
_MORE_WORDS = re.compile(
    r"(?:[ \t]+(?![^\s=:\uff1a\uff1d]{1,40}[=:\uff1a\uff1d])(?!-(?:\s|$))"
    r"[^\s'\"&,;|()\[\]{}<>=:\uff1a\uff1d]{1,64}"
    r"(?=[\s,;|)\]}>]|$)){1,8}"
)
#: What follows a long flag as a word without being its value: a usage line's upper-case
#: name ("[--password PASSWORD]") or prose ("use --password to be prompted").
_FLAG_PROSE = re.compile(
    r"[A-Z][A-Z_]{0,39}|(?i:to|or|and|is|are|was|the|a|an|as|in|on|of|for|with|from|if|when|"
    r"then|must|should|can|will|not|only|also|be|flag|option|argument|parameter|instead)"
)
#: A bare value that is code naming where a secret comes from, not a secret: a call or a
#: subscript of a (dotted) name ("os.getenv(" where the run stops at a string literal's
#: quote, "get_token(user)", "getpass.getpass()", "config[", "keys[0]"; a call's argument is
#: a name, so "hunter(2)" stays a secret), or an attribute of a lower-case name that is
#: either an object code keeps its settings in ("self.key", "args.password") or a field
#: named as a secret's key or a constant ("provider.api_key", "settings.API_KEY"), closing
#: punctuation after it. Any other dotted word stays a secret: "password=correct.horse".
_EXPRESSION = re.compile(
    r"(?:(?:[A-Za-z_]\w{0,63}\.){0,8}[A-Za-z_]\w{0,63}"
    r"(?P<open>\((?:[A-Za-z_][\w.]{0,63}[),]|\))?|\[(?:[\w.]{1,64}[\],]|\])?)"
    r"|(?:self|cls|os|settings|config|conf|cfg|args|opts|options|env|environ|secrets|creds"
    r"|credentials|params|kwargs|request|app|ctx|context)(?:\.[A-Za-z_]\w{0,63}){1,8}"
    r"|[a-z_][a-z0-9_]{0,63}(?:\.[A-Za-z_]\w{0,63}){0,7}"
    r"\.(?:\w{0,40}(?i:key|token|secret|pass|pwd|cred|auth)\w{0,40}|[A-Z][A-Z0-9_]{1,63}))"
    r"[.,;:)\]}>\\]{0,8}"
)
#: A called or subscripted name written as words (``this.getSessionId``,
#: ``auth.getAccessToken``): camelCase humps are words, not a token's switches.
_CALLED_NAME = re.compile(r"(?:[a-z_][a-z_]*(?:[A-Z][a-z]+)*\.){0,8}[a-z_][a-z_]*(?:[A-Z][a-z]+)*")
#: Cut from the end of a bare value: punctuation that closes the surrounding text
#: ("(token: expired)", "{'token': None}", "password=x, user=y").
_BARE_TRAILER = ".,;:)]}>\\"
_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_AUTH_SCHEME = re.compile(
    r"(?i:basic|bearer|digest|token|negotiate|ntlm|hmac|apikey|key|oauth|mac|sso-key|"
    r"aws4-hmac-sha256)[ \t]+(?=\S)"
)
#: The parameters an OAuth 1.0a or Digest scheme's credential is made of (``oauth_consumer_key=
#: "…", oauth_signature="…"``, ``username="…", response="…"``): all of them are the value,
#: not only the first one up to its quote. Bounded, possessive names: linear.
_AUTH_PARAM = r'[A-Za-z_][\w\-]{0,79}+[ \t]*=[ \t]*(?:"[^"\n]{0,1024}+"?|[^\s,"]{1,1024}+)'
_AUTH_PARAMS = re.compile(_AUTH_PARAM + r"(?:[ \t]*,[ \t]*" + _AUTH_PARAM + ")*")
_PARAM_SCHEMES = frozenset({"oauth", "digest"})
_HEX = re.compile(r"[0-9a-fA-F]{16,}")
#: ASCII lower case, upper case and digits as "a", "A" and "0" (see _looks_generated).
_CLASSES = str.maketrans(
    string.ascii_lowercase + string.ascii_uppercase + string.digits, "a" * 26 + "A" * 26 + "0" * 10
)
_LONG_RUN = "a" * 32
_SPACE = re.compile(r"\s")
#: ``name=value`` pairs separated by ``;`` (a Cookie / Set-Cookie header's value).
#: A name is bounded and possessive: it was looked for to the end of its run once per key,
#: so a line of "cookie:" repeated cost the square of its length (64 KB took 7 s).
_COOKIE_PAIRS = re.compile(r"[^\s;=]{1,256}+=[^;]*(?:;[ \t]*[^\s;=]{1,256}+=[^;]*)*")
_COOKIE_PAIR = re.compile(r"(^|;[ \t]*)([^\s;=]+)=([^;]*)")
#: A Set-Cookie's attributes: where and how long a cookie applies, not what it holds.
_COOKIE_ATTRIBUTES = frozenset(
    {"path", "domain", "expires", "max-age", "samesite", "priority", "version", "comment"}
)

#: Last words of a key whose value is removed unless it is a placeholder.
_STRONG = frozenset({"password", "passwd", "pwd", "passphrase", "secret", "secrets", "apikey"})
#: How a one-word name ("PGPASSWORD") that ends in a strong key's word ends.
_STRONG_ENDINGS = ("password", "passwd", "passphrase", "secret", "secrets", "apikey")
#: ``<word>_key`` pairs that name a credential ("api_key", "AWS_SECRET_ACCESS_KEY").
_KEY_QUALIFIERS = frozenset(
    {"api", "access", "private", "secret", "client", "signing", "encryption", "master", "ssh",
     "stream", "account", "auth", "app", "license", "subscription", "service", "consumer"}
)  # fmt: skip
#: Last words of a key whose value is removed when it looks generated (see _looks_generated).
_WEAK = frozenset({"token", "tokens", "credential", "credentials", "creds", "signature", "sig"})
#: Session cookies that a dict or a bare pair names as themselves (``{'li_at': …}``,
#: ``cookies={'SID': …}``, ``;jsessionid=…``): whoever holds one is logged in. Names that can
#: mean nothing else are strong (LinkedIn's ``JSESSIONID`` is ``ajax:<digits>``, which looks
#: like no token); Google's ``__Secure-``/``__Host-`` ``…SID…`` cookies are too.
_SESSION_COOKIES = frozenset({"li_at", "jsessionid", "phpsessid", "apisid", "sapisid"})
#: Names that are a session cookie's or something else's (an Oracle or Windows ``SID``): weak,
#: their value goes only when it looks generated, as a session's does (Google's ``SID``,
#: ``HSID``…, YouTube's ``LOGIN_INFO``, Django's and Instagram's ``sessionid``, Express's
#: ``connect.sid``, whose key is ``sid``). ``session_id`` and ``session`` name a host's own
#: (chat, stream) sessions, not a login: they are not here.
_SESSION_IDS = frozenset({"sid", "login_info", "sessionid", "sessid"})
#: Google's other session cookies, upper case as Google sets them (a Wi-Fi ``ssid`` is none).
_GOOGLE_SIDS = frozenset({"HSID", "SSID", "LSID", "OSID", "SIDCC"})
#: ``<word>_token`` pairs that name a page of results, not a credential (the YouTube Data
#: API's ``nextPageToken``/``pageToken``, X's ``next_token``, AWS's ``NextToken``). Written
#: in upper case it names a setting, and a setting holds a credential (``FB_PAGE_TOKEN``, a
#: Facebook Page's access token), not a position in a list.
_PAGE_WORDS = frozenset({"page", "next", "prev", "previous", "continuation"})
#: Trailing words that describe the secret's encoding, not another field: look one further.
_VALUE_WORDS = frozenset({"value", "val", "str", "string", "raw", "b64", "base64", "hex", "enc"})
#: Values that say something about a secret without being one (lower-cased).
_PLACEHOLDERS = frozenset(
    {"none", "null", "nil", "true", "false", "yes", "no", "on", "off", "empty", "missing",
     "expired", "invalid", "revoked", "unset", "notset", "not_set", "required", "optional",
     "present", "absent", "n/a", "na", "unknown", "undefined", "default", "redacted",
     "hidden", "masked", "valid", "ok", "set", "loaded", "disabled", "enabled", "pending",
     "refreshed", "[redacted]"}
)  # fmt: skip
_LONGEST_PLACEHOLDER = max(map(len, _PLACEHOLDERS))
_PLACEHOLDER_SHAPES = re.compile(
    r"set[_\-]?\d{1,3}|\*+|x{3,}|\.{3}|<[^<>]*>|\{[^{}]*\}|\$\{?\w+\}?|%\(\w+\)s|\d{1,3}",
    re.IGNORECASE,
)
_SMALL_HEX = re.compile(r"0[xX][0-9a-fA-F]{1,16}")  # an error code (0x8007000E), not a key
#: An absolute path (POSIX, home-relative or Windows), spaces allowed (see _working_dir).
_WORKING_DIR = re.compile(r"(?:~|[A-Za-z]:)?[/\\][\w.\-+@~ /\\]{0,4096}")
_PATH_PARTS = re.compile(r"[/\\ ]")
_FILE_SUFFIX = re.compile(r"\.(?:json|txt|py|log|ya?ml|toml|ini|cfg|conf|env|pem|key|db|csv)$")


@functools.lru_cache(maxsize=4096)  # a log has few distinct keys; a hostile line repeats one
def _key_kind(key: str, before: str) -> str:
    """How secret ``key``'s value is: "strong", "weak", "auth" (an Authorization header),
    "cookie", or "" (not a secret's key). Only the last word counts, so ``token_count``,
    ``password_policy`` and the module name ``youtube_auth`` are no secrets' keys."""
    name = key.lower()
    if name in _SESSION_COOKIES or (name.startswith(("__secure-", "__host-")) and "sid" in name):
        return "strong"
    if name in _SESSION_IDS or key in _GOOGLE_SIDS:
        return "weak"
    words = [w.lower() for w in _WORDS.findall(key)]
    if not words:
        return ""
    while len(words) > 1 and words[-1] in _VALUE_WORDS:
        words.pop()
    last, prev = words[-1], (words[-2] if len(words) > 1 else "")
    if last in _STRONG or (last in ("pass", "pw") and prev):
        return "strong"
    if last == "key":
        if prev in _KEY_QUALIFIERS:
            return "strong"
        return "weak" if not prev else ""  # "key=" alone: Google's URL parameter
    if last in _WEAK:
        paging = last == "token" and prev in _PAGE_WORDS and not key.isupper()
        return "" if paging else "weak"
    if last in ("authorization", "authentication") and (len(words) == 1 or prev == "proxy"):
        return "auth"
    if last in ("cookie", "cookies"):
        return "cookie"
    if last == "auth":  # "auth" alone (a token field) or basic/http/proxy auth; never "x_auth"
        return "weak" if not prev else ("strong" if prev in ("basic", "http", "proxy") else "")
    if last == "code":  # an OAuth code: "?code=" in a callback URL, or "auth_code="
        if prev in ("auth", "oauth", "authorization") or before in ("?", "&"):
            return "weak"
    # A name written as one word, upper or lower case, has no word for the rules above to
    # see: "PGPASSWORD", "dbpassword", "MYAPIKEY", "csrftoken", ngrok's "authtoken".
    if last.endswith(_STRONG_ENDINGS):
        return "strong"
    if last.endswith("token"):
        paging = last.endswith("pagetoken") and not key.isupper()  # "nextpagetoken"
        return "" if paging else "weak"
    return ""


def _placeholder(value: str) -> bool:
    """A value that tells what state a secret is in ("None", "expired", "set3", "<key>",
    "***", "42"): keeping it loses nothing and keeps the line useful."""
    v = value.strip()
    return (
        not v
        or v == REDACTED
        or (len(v) <= _LONGEST_PLACEHOLDER and v.lower() in _PLACEHOLDERS)
        or _PLACEHOLDER_SHAPES.fullmatch(v) is not None
    )


def _path(value: str) -> bool:
    """A file's path ("credentials/client_secret_set1.json"): where a secret is, not one."""
    return ("/" in value or "\\" in value) and _FILE_SUFFIX.search(value) is not None


def _expression(value: str, after: str) -> bool:
    """Whether the bare ``value`` (followed by the character ``after``) is code that names
    where a secret comes from (see :data:`_EXPRESSION`). A value that looks generated stays
    a secret ("abc123.def456"), and so does one that ends in an open bracket not followed by a
    string literal ("hunter(" before a space)."""
    m = _EXPRESSION.fullmatch(value)
    if m is None:
        return False
    bracket = m.group("open")
    if _looks_generated(value) and (
        bracket is None or not _CALLED_NAME.fullmatch(value[: m.start("open")])
    ):
        return False
    return bracket is None or len(bracket) > 1 or after in ("'", '"')


def _looks_generated(value: str) -> bool:
    """Whether a value looks machine-generated (a token), not a word, name, number or path.

    Counts switches between letters and digits and from lower to upper case: words
    ("Authenticated", "stream_status") have none, a name with a number ("UC123", "set3") one,
    a token many. Long hex and long unbroken runs count too.

    A kept value is looked at again for each key inside it ("key=key=…": up to 64 times per
    character), so only its first 128 characters are classified, with string methods: a
    regex pass per test made 1 MB of "key=" take 23 s."""
    if len(value) < 8 or value.isdigit() or "://" in value:
        return False
    # Each ASCII letter or digit as its class: switches are pairs of classes, and a run of
    # 32 letters and digits is 32 classes in a row.
    classes = value[:128].translate(_CLASSES)
    head = classes[:64]  # a token shows what it is in its first 64
    # lower to upper case, letter to digit, digit to letter
    switches = (
        head.count("aA") + head.count("a0") + head.count("A0") + head.count("0a") + head.count("0A")
    )
    generated = (
        switches >= 2
        or _HEX.fullmatch(value) is not None
        or _LONG_RUN in classes.replace("A", "a").replace("0", "a")
    )
    # Spaces last: a bare value has none, and most values are not generated.
    return generated and _SPACE.search(value) is None and _SMALL_HEX.fullmatch(value) is None


def _working_dir(key: str, value: str) -> bool:
    """Whether ``value`` of the key ``key`` is the shell's working directory (``PWD=/home/bob``,
    an environment dump; ``pwd: C:\\Users\\bob``), not a password: the key is ``pwd`` alone
    and the value an absolute path none of whose parts looks generated (``/x9Kq2mZ7`` stays a
    secret)."""
    if key.lower() != "pwd" or _WORKING_DIR.fullmatch(value) is None:
        return False
    return not any(_looks_generated(part) for part in _PATH_PARTS.split(value))


def _redact_value(kind: str, value: str) -> str | None:
    """The value to write instead of ``value`` (a key of ``kind``), or None to keep it."""
    if REDACTED in value and value.replace(REDACTED, "").replace("\\n", "").strip() == "":
        return None  # already removed (a PEM block inside a JSON string leaves its "\n")
    if kind == "cookie":
        if _COOKIE_PAIR.search(value) is None:  # "cookie: consent banner": a word
            return None if _placeholder(value) or not _looks_generated(value) else REDACTED
        out = _COOKIE_PAIR.sub(
            lambda m: (
                f"{m.group(1)}{m.group(2)}={REDACTED}"
                if m.group(3).strip()
                and m.group(3).strip() != REDACTED
                and m.group(2).lower() not in _COOKIE_ATTRIBUTES
                else m.group(0)
            ),
            value,
        )
        return None if out == value else out
    if kind == "auth":
        scheme = _AUTH_SCHEME.match(value)
        if scheme is not None:
            rest = value[scheme.end() :]
            if rest.startswith(REDACTED) or _placeholder(rest):
                return None
            return value[: scheme.end()] + REDACTED
        kind = "weak"
    if _placeholder(value) or _path(value):
        return None
    if kind == "strong":
        return REDACTED
    return REDACTED if _looks_generated(value.strip()) else None


def _redact_pairs(text: str, cookie_object: bool = False) -> str:
    """``text`` with the values of secret-named keys replaced (see the module docstring).
    In a ``cookie_object`` line a quoted ``value`` key is a weak one (see _COOKIE_OBJECT)."""
    out: list[str] = []
    done = 0  # text[:done] is already in out
    run_end = 0  # where the run of bare-value characters that the last bare value began ends
    for m in _KEY.finditer(text):
        if m.start() < done:
            continue  # a key inside a value that was just removed
        before = text[m.start() - 1] if m.start() else ""
        kind = _key_kind(m.group("key"), before)
        if not kind and cookie_object and m.group("q") and m.group("key").lower() == "value":
            kind = "weak"  # {'name': 'li_at', 'value': '…', 'domain': …}
        if not kind:
            continue
        flag_value = m.group("word") is not None or m.group("item") is not None
        if flag_value and (kind != "strong" or m.group("key")[:3].lower() in ("no-", "no_")):
            continue  # "--token expired", "--no-password now": no value follows
        pos = m.end()
        if m.group("arrow") is not None and text[pos : pos + 1] not in ("'", '"', "\\"):
            # Not a quoted string after "=>": "x => x.y" is an arrow function's body; "k=>v"
            # is read as "k=" with the value ">v", as it was before "=>" was a separator.
            if not m.group(0).endswith(">"):
                continue
            pos -= 1
        if text.startswith(REDACTED, pos):
            continue
        if m.group("tag") is not None:  # <password>…</password>
            v = _VALUE_TAG.match(text, pos)
            if v is None or not text.startswith(m.group("key") + ">", v.end() + 2):
                continue
            start, end = v.span()
            if m.group("key").lower() == "key":
                # A property list: <key>RunAtLoad</key> names a field, and a secret's name
                # makes the <string> right after its "</key>" the value.
                name = v.group(0)
                kind = _key_kind(name, "") if _PLIST_NAME.fullmatch(name) else ""
                plist = _PLIST_STRING.match(text, end + len("</key>")) if kind else None
                if plist is None:
                    continue
                start, end = plist.span(1)
            new = _redact_value(kind, text[start:end])
            if new is not None:
                out.append(text[done:start])
                out.append(new)
                done = end
            continue
        if text[pos : pos + 1] in ("b", "u", "r") and text[pos + 1 : pos + 2] in ("'", '"'):
            pos += 1  # a Python bytes/str literal: b'…'
        ch = text[pos : pos + 1]
        if ch == "\\" and text[pos + 1 : pos + 2] in ("'", '"'):
            v = _VALUE_ESCAPED.match(text, pos)
            if v is None:  # pragma: no cover - the pattern matches any escaped quote
                continue
            start, end = v.start(2), v.end(2)
            if m.group("item") is not None and _FLAG_PROSE.fullmatch(v.group(2)):
                continue
        elif ch in ("'", '"'):
            v = (_VALUE_DQ if ch == '"' else _VALUE_SQ).match(text, pos)
            if v is None:  # pragma: no cover - the pattern matches any quote
                continue
            start, end = v.start(1), v.end(1)
            if m.group("item") is not None and _FLAG_PROSE.fullmatch(v.group(1)):
                continue  # ["--password", "PASSWORD"]: a usage list's name for the value
        elif ch in ("{", "[", "(") or not ch:
            continue  # a nested structure: its own keys are looked at in turn
        elif kind == "cookie" and (pairs := _COOKIE_PAIRS.match(text, pos)) is not None:
            start, end = pos, pos + len(pairs.group(0).rstrip())  # every pair
        else:
            if m.group("pct"):
                v = _VALUE_PCT.match(text, pos)
                raw = v.group(0) if v is not None else ""
            else:
                # As _VALUE_BARE.match(text, pos), but the run is scanned once for all the
                # keys inside it ("key=key=…"): keys come in order, so a key before run_end is
                # inside the run found last.
                if pos >= run_end:
                    run = _BARE_RUN.match(text, pos)  # always matches: it may be empty
                    run_end = run.end() if run is not None else pos
                raw = text[pos : min(run_end, pos + 256)]
            if not raw or _placeholder(raw) or _placeholder(raw.rstrip(",;.")):
                continue  # "<hidden>," is looked at before its ">" is cut
            if not m.group("pct") and _expression(raw, text[pos + len(raw) : pos + len(raw) + 1]):
                continue  # "password = os.getenv(...)": code, not the secret
            if m.group("word") is not None and _FLAG_PROSE.fullmatch(raw.rstrip(_BARE_TRAILER)):
                continue  # "[--password PASSWORD]", "use --password to be prompted"
            start = pos
            end = start + len(raw.rstrip(_BARE_TRAILER))
            if (
                kind == "strong"
                and end == start + len(raw)
                and m.group(0).rstrip().endswith((":", "\uff1a"))
            ):
                # "password: …" as prose writes it (a "password=" value has no spaces
                # unquoted), not closed by punctuation: a passphrase may go on, word by word
                more = _MORE_WORDS.match(text, end)
                if more is not None:
                    end = more.start() + len(more.group(0).rstrip(_BARE_TRAILER))
            if kind == "auth":  # "Authorization: Basic <b64>": the scheme and what follows
                scheme = _AUTH_SCHEME.match(text, pos)
                cred = _VALUE_BARE.match(text, scheme.end()) if scheme else None
                params = (
                    _AUTH_PARAMS.match(text, scheme.end())
                    if scheme is not None and scheme.group(0).strip().lower() in _PARAM_SCHEMES
                    else None
                )
                if params is not None:
                    end = params.end()
                elif scheme is not None and cred is not None:
                    if text.startswith(REDACTED, cred.start()) or _placeholder(cred.group(0)):
                        continue  # "Bearer <token>'": looked at before its ">" is cut
                    end = cred.start() + len(cred.group(0).rstrip(_BARE_TRAILER))
        if kind == "strong" and _working_dir(m.group("key"), text[start:end]):
            continue  # "PWD=/home/bob/app": the shell's working directory
        new = _redact_value(kind, text[start:end])
        if new is None:
            continue
        out.append(text[done:start])
        out.append(new)
        done = end
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


# -- a secret's fallback in code, and command lines ------------------------------------------

#: Code that reads a secret with a fallback: ``os.getenv("DB_PASSWORD", "hunter2")``,
#: ``settings.get('api_key', default='…')``, ``os.environ.get('X') or '…'``, JavaScript's
#: ``process.env.DB_PASSWORD || '…'``: the fallback is the secret when nothing is set. The
#: name's quotes may be escaped (code inside a JSON string). Anchored at a literal, the name
#: bounded: linear. Only a quoted fallback is looked at (``default_password`` is code).
_FALLBACK = re.compile(
    r"(?:\bgetenv|\.get|\.setdefault)[ \t]*\([ \t]*"
    r"(?P<q>\\?[\"'])(?P<name>[A-Za-z_][\w\-]{0,79})(?P=q)"
    r"(?:[ \t]*,[ \t]*(?:default[ \t]*=[ \t]*)?|[ \t]*\)[ \t]*(?:or|\|\||\?\?)[ \t]*)"
    r"|\bprocess\.env\.(?P<js>[A-Za-z_]\w{0,79})[ \t]*(?:\|\||\?\?)[ \t]*"
)
#: A command whose flags carry a password: curl's ``-u``/``--user`` (and ``-U``/
#: ``--proxy-user``) take ``user:password``, the MySQL clients' ``-p`` takes the password
#: attached (``-pSecret``; ``-p`` alone prompts). A flag counts only in its command: from the
#: command's name to a ``|``, ``&&``, ``;`` or the end of the line, quoted text whole (a
#: header's ``"a; b"``), so ``docker run -u 1000:1000`` and ``mkdir -p x`` after it are no
#: such flags. The name is a command's: a word of its own, or in a ``bin/`` folder (not a data
#: folder: ``find /var/lib/mysql -print``), arguments after it. A Windows program's name may
#: end in ``.exe`` in any case (``C:\redis\redis-cli.exe``, ``redis-cli.Exe``,
#: ``"C:\Program Files\…\curl.exe"``: its path's closing quote). Each alternative of the
#: body starts with its own character: one pass, linear.
_COMMAND_BODY = r"(?=[ \t])(?:[^|&;\n'\"]|&(?!&)|'[^'\n]*'|\"[^\"\n]*\")*"
_COMMAND_START = r"(?:(?<![\w\-./:])|(?<=bin/))"
_EXE = r"(?:\.(?i:exe)[\"']?)?"
_CURL = re.compile(_COMMAND_START + r"curl" + _EXE + _COMMAND_BODY)
_CURL_USER = re.compile(r"(?<![\w\-])(?:--user|--proxy-user)(?:[ \t]+|=)|(?<![\w\-])-[uU][ \t]*")
_MYSQL_NAMES = r"(?:mysql|mariadb)(?:-?(?:dump|admin|import|check|show|pump))?"
_MYSQL = re.compile(_COMMAND_START + _MYSQL_NAMES + _EXE + _COMMAND_BODY)
_MYSQL_PASSWORD = re.compile(r"(?<![\w\-])-p(?=[^\s\-])")
_PORTS = re.compile(r"\d{1,5}(?::\d{1,5}){1,2}")


def _quoted_or_bare(text: str, pos: int) -> tuple[int, int] | None:
    """The span of the value at ``pos``: inside its quotes (plain or escaped, to the end of a
    cut line), or a bare word; None when there is none."""
    ch = text[pos : pos + 1]
    if ch == "\\" and text[pos + 1 : pos + 2] in ("'", '"'):
        v = _VALUE_ESCAPED.match(text, pos)
        return None if v is None else v.span(2)
    if ch in ("'", '"'):
        v = (_VALUE_DQ if ch == '"' else _VALUE_SQ).match(text, pos)
        return None if v is None else v.span(1)
    v = _VALUE_BARE.match(text, pos)
    if v is None:
        return None
    end = v.start() + len(v.group(0).rstrip(_BARE_TRAILER))
    if text.endswith(REDACTED[:-1], v.start(), end):
        end += 1  # "[REDACTED]" is whole: its "]" is no closing punctuation
    return v.start(), end


#: The rest of a shell word after its first piece: bare characters and quoted pieces, which the
#: shell joins into one word (``''pw``, ``'it''s'``, ``x"pw 2"``: the password is all of it).
#: It ends where the shell ends a word (a space, ``&``, ``|``, ``;``, ``<``, ``>``, ``(``,
#: ``)``), and at a quote that closes the string holding the command instead of opening a
#: piece: one followed by a space or by what follows a string in JSON or code
#: (``{"cmd": "redis-cli -a pw", "x": 1}``, ``run('… -a pw', shell=True)``, an operator or a
#: method: ``"… -a pw"+" ping"``, ``"… -a pw".strip()``, which stay). Each alternative
#: starts with its own character: linear.
_STRING_CLOSED = r"(?![\s,:;)\]}+.%*=!<>&|\[])"
_SHELL_PIECES = re.compile(
    r"(?:[^\s'\"&|;<>()]|'" + _STRING_CLOSED + r"[^'\n]*'|\"" + _STRING_CLOSED + r"[^\"\n]*\")+"
)


def _shell_value(text: str, pos: int, end: int) -> tuple[int, int, str, bool] | None:
    """The value of a command's flag at ``pos`` (a shell word, read up to ``end`` at most): the
    span to replace, the value, and whether it is several pieces joined. One piece is its text
    inside its quotes, closing punctuation left out (``-a hunter2.``), as
    :func:`_quoted_or_bare` reads it; several are replaced whole, quotes included, and judged
    without their quotes. None when there is no value."""
    span = _quoted_or_bare(text, pos)
    if span is None:
        return None
    start, stop = span[0], min(span[1], end)
    piece_end = stop
    if start > pos:  # quoted: the piece ends after its closing quote (escaped or plain)
        quote = text[pos:start]
        if not text.startswith(quote, stop):
            return start, stop, text[start:stop], False  # a line cut inside the quotes
        piece_end = stop + len(quote)
    more = _SHELL_PIECES.match(text, piece_end, end)
    if more is None or not more.group(0).strip(_BARE_TRAILER):
        return start, stop, text[start:stop], False
    joined = text[start:stop] + more.group(0).replace("'", "").replace('"', "")
    return pos, more.end(), joined, True


def _requoted(new: str, joined: bool) -> str:
    """What replaces a value: a value of several pieces loses its quotes with it, so one with a
    space in what is kept is quoted again (``'bob smith':pw`` becomes ``'bob smith:…'``)."""
    return f"'{new}'" if joined and any(ch.isspace() for ch in new) else new


def _redact_fallbacks(text: str) -> str:
    """``text`` with the quoted fallback of code that reads a secret by name removed (see
    :data:`_FALLBACK`); the name's kind decides, as a key's does."""
    out: list[str] = []
    done = 0
    for m in _FALLBACK.finditer(text):
        if m.start() < done:
            continue  # inside a value just removed
        kind = _key_kind(m.group("name") or m.group("js"), "")
        if not kind or text[m.end() : m.end() + 1] not in ("'", '"', "\\"):
            continue  # no secret's name, or a fallback that is code
        span = _quoted_or_bare(text, m.end())
        if span is None:  # pragma: no cover - a quote always starts a value
            continue
        new = _redact_value(kind, text[span[0] : span[1]])
        if new is not None:
            out.append(text[done : span[0]])
            out.append(new)
            done = span[1]
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


def _user_password(value: str) -> str | None:
    """A curl ``user:password`` with the password removed, and the user too when it looks
    generated (an API key as the user: ``-u sk_test_…:``); None to keep it."""
    user, colon, password = value.partition(":")
    if _looks_generated(user) and not _placeholder(user):
        user = REDACTED
    if colon and not _placeholder(password):
        password = REDACTED
    new = user + colon + password
    return None if new == value else new


def _secret(value: str) -> str | None:
    """A password given to a command's flag, removed unless it is a placeholder."""
    return None if _placeholder(value) else REDACTED


def _attached_password(value: str) -> str | None:
    """A MySQL client's attached ``-p<password>``; ``-p3306:3306`` is docker's port mapping."""
    return None if _placeholder(value) or _PORTS.fullmatch(value) else REDACTED


#: What a command's words give away: (index of the word, where the value starts in it, how
#: the value is judged). A value that is a whole word is judged only as a literal and not as
#: prose ("use redis-cli -a to authenticate").
_Value = tuple[int, int, Callable[[str], str | None]]
_CURL_USER_FLAGS = frozenset({"-u", "-U", "--user", "--proxy-user"})


def _curl_values(words: list[str]) -> list[_Value]:
    """curl's ``-u``/``--user``/``-U``/``--proxy-user`` ``user:password``, as the next word or
    attached (``-ubob:pw``, ``--user=bob:pw``)."""
    found: list[_Value] = []
    for i, word in enumerate(words):
        if word in _CURL_USER_FLAGS:
            found.append((i + 1, 0, _user_password))
        elif word.startswith(("--user=", "--proxy-user=")):
            found.append((i, word.index("=") + 1, _user_password))
        elif word[:2] in ("-u", "-U") and len(word) > 2:
            found.append((i, 2, _user_password))
    return found


def _mysql_values(words: list[str]) -> list[_Value]:
    """A MySQL client's attached ``-p<password>`` (``-p`` alone prompts: the next word is the
    database); ``--password …`` is a key the key=value scan removes."""
    return [
        (i, 2, _attached_password)
        for i, word in enumerate(words)
        if word.startswith("-p") and len(word) > 2 and word[2] != "-"
    ]


def _sshpass_values(words: list[str]) -> list[_Value]:
    """sshpass's ``-p`` password, attached or as the next word. Its own options come before the
    command it runs, so the scan stops at the first other word: in ``sshpass -p pw ssh -p 2222
    h`` the second ``-p`` is ssh's port. ``-f``/``-d``/``-P`` take a file, a descriptor and a
    prompt; short options may be clustered (``-vp pw``)."""
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--" or word == "-" or not word.startswith("-"):
            break
        if not word.startswith("--"):  # sshpass has no long options but --help
            for j in range(1, len(word)):
                if word[j] not in "fdpP":
                    continue
                if j + 1 < len(word):
                    if word[j] == "p":
                        return [(i, j + 1, _secret)]
                else:
                    i += 1  # the option's argument is the next word
                    if word[j] == "p":
                        return [(i, 0, _secret)] if i < len(words) else []
                break
        i += 1
    return []


def _redis_cli_values(words: list[str]) -> list[_Value]:
    """redis-cli's ``-a``/``--pass`` password, the next word (``-p`` is its port, ``-u`` a URL
    whose password the URL rule removes)."""
    return [(i + 1, 0, _secret) for i, word in enumerate(words) if word in ("-a", "--pass")]


_CommandValues = Callable[[list[str]], list[_Value]]
#: The commands whose words are looked at one by one (shell and list forms), and those only in
#: the list form (the shell form has its own patterns above: _CURL, _MYSQL).
_WORD_COMMANDS: tuple[tuple[str, _CommandValues], ...] = (
    ("sshpass", _sshpass_values),
    ("redis-cli", _redis_cli_values),
)
_LIST_ONLY_COMMANDS: tuple[tuple[str, _CommandValues], ...] = (
    ("curl", _curl_values),
    (_MYSQL_NAMES, _mysql_values),
)
#: A shell word: bare characters and quoted pieces, to the next space (each alternative starts
#: with its own character: linear).
_SHELL_WORD = re.compile(r"(?:[^\s'\"]|'[^'\n]*'|\"[^\"\n]*\")+")
_SHELL_COMMANDS = tuple(
    (re.compile(_COMMAND_START + name + _EXE + "(?P<body>" + _COMMAND_BODY + ")"), values)
    for name, values in _WORD_COMMANDS
)
#: A string literal's prefix: a list of bytes (``[b'redis-cli', b'-a', b'pw']``), raw strings.
_STRING_PREFIX = r"(?:[bBrRuU]|[bB][rR]|[rR][bB])?"
#: A command logged as a Python/JSON list or tuple (``['curl', '-u', 'bob:pw', …]``,
#: ``subprocess.run(["redis-cli", "-a", …])``): a quoted item that is the command's name (its
#: folder allowed, a Windows one too) after ``[``, ``(`` or ``,``; its arguments are the items
#: after it. Its quotes may be escaped (``"[\\"redis-cli\\", …]"``: a JSON log's message
#: holding ``json.dumps(args)``), as the shell form's may.
_LIST_COMMANDS = tuple(
    (
        re.compile(
            r"(?<=[\[(,])[ \t]*"
            + _STRING_PREFIX
            + r"(?P<q>\\?['\"])(?:[^'\"\s]*[/\\])?(?:"
            + name
            + r")(?:\.(?i:exe))?(?P=q)"
        ),
        values,
    )
    for name, values in _WORD_COMMANDS + _LIST_ONLY_COMMANDS
)
#: A string item of a list: its text in a group (bytes too), or one in escaped quotes
#: (``\\"pw\\"``: a backslash and the character after it are its text unless that is
#: the quote).
_LIST_STRING_ITEM = (
    _STRING_PREFIX + r"(?:'(?P<sq>[^'\\\n]*(?:\\.[^'\\\n]*)*)'"
    r"|\"(?P<dq>[^\"\\\n]*(?:\\.[^\"\\\n]*)*)\")"
    r"|\\'(?P<esq>(?:[^\\\n]|\\[^'\n])*)\\'|\\\"(?P<edq>(?:[^\\\n]|\\[^\"\n])*)\\\""
)
#: A list's next item: a string (:data:`_LIST_STRING_ITEM`), or else an expression (group
#: ``expr``, empty: read by :func:`_expression_end`).
_LIST_ITEM = re.compile(r"[ \t]*,[ \t]*(?:" + _LIST_STRING_ITEM + r"|(?P<expr>(?=[^\s,)\]}])))")
#: A string that continues a string item (``'-p' + 'pw'``, ``'-p' 'pw'``: one string).
_LIST_STRING_MORE = re.compile(r"[ \t]*(?:\+[ \t]*)?(?:" + _LIST_STRING_ITEM + ")")
#: What ends a list's item: its ``,`` or the list's closing bracket.
_ITEM_END = re.compile(r"[ \t]*(?:[,)\]}]|$)", re.MULTILINE)
#: A string inside an expression, plain or in escaped quotes.
_EXPRESSION_STRING = re.compile(
    r"'[^'\\\n]*(?:\\.[^'\\\n]*)*'|\"[^\"\\\n]*(?:\\.[^\"\\\n]*)*\""
    r"|\\'(?:[^\\\n]|\\[^'\n])*\\'|\\\"(?:[^\\\n]|\\[^\"\n])*\\\""
)
_CLOSING = {"(": ")", "[": "]", "{": "}"}
#: A list's item that is code, not a literal (``os.environ["H"]``, ``get_pw()``,
#: ``f'-u{user}'``, ``port + 1``, ``':' + port``) is read to its ``,``, its brackets (any
#: depth) and strings whole, so the items after it are still read (a password after
#: ``cfg['url']``). It holds no literal of its own. At most this many characters; one that
#: does not end within them ends the list's scan.
_LONGEST_EXPRESSION = 256
#: The groups of :data:`_LIST_ITEM` that hold a string's text.
_LIST_STRINGS = ("sq", "dq", "esq", "edq")


def _expression_end(text: str, pos: int, end: int) -> int | None:
    """Where the code item at ``pos`` ends: after its last whole part before its ``,``, the
    list's closing bracket or ``end`` (its brackets closed by their own, its strings whole;
    a quote or backslash that opens no string, or a line's end, ends it too). None when
    not even its first part is whole. One pass, no regular expression that grows with the
    brackets' depth."""
    end = min(end, len(text))
    stack: list[str] = []
    i = whole = pos
    while i < end:
        c = text[i]
        string = _EXPRESSION_STRING.match(text, i, end) if c in "'\"\\" else None
        if string is not None:
            i = string.end()
        elif c in "'\"\\\n":
            break
        elif c in _CLOSING:
            stack.append(_CLOSING[c])
            i += 1
            continue
        elif c in ")]}":
            if not stack or stack[-1] != c:
                break
            stack.pop()
            i += 1
        elif c == "," and not stack:
            break
        else:
            i += 1
        if not stack:
            whole = i
    return whole if whole > pos else None


#: Ends the text of a string item that code follows (``'-p' + pw``, ``'pw'.strip()``): the
#: item is its strings and then something unknown, so ``'-p' + pw`` is not the bare flag
#: ``-p`` (whose password would be the next item).
_CODE_TAIL = "\x00"


def _list_item(text: str, item: re.Match[str]) -> tuple[list[tuple[int, int]], bool, int]:
    """A string item's parts (the spans of its strings' texts: more than one when it is
    joined, ``'-p' + 'pw'``), whether code follows them (read over: ``'-p' + pw``,
    ``'pw'.strip()``), and where the item ends; -1 when it ends nowhere the scan can go on
    from."""
    group = next(g for g in _LIST_STRINGS if item.group(g) is not None)
    parts = [item.span(group)]
    pos = item.end()
    while (more := _LIST_STRING_MORE.match(text, pos)) is not None:
        parts.append(more.span(next(g for g in _LIST_STRINGS if more.group(g) is not None)))
        pos = more.end()
    if _ITEM_END.match(text, pos):
        return parts, False, pos
    stop = _expression_end(text, pos, pos + _LONGEST_EXPRESSION)
    return parts, True, -1 if stop is None else stop


def _joined_replacement(
    parts: list[tuple[int, int]], offset: int, new: str
) -> list[tuple[int, int, str]]:
    """Spans that put ``new`` in place of the joined text of ``parts`` from ``offset`` on:
    the part where that begins keeps what comes before it, the later parts are emptied."""
    spans: list[tuple[int, int, str]] = []
    seen = 0
    for start, stop in parts:
        if seen + (stop - start) > offset:
            spans.append((start + max(0, offset - seen), stop, "" if spans else new))
        seen += stop - start
    return spans


def _shell_spans(text: str) -> list[tuple[int, int, str]]:
    """The passwords of sshpass and redis-cli written as a shell command, as spans to replace."""
    spans: list[tuple[int, int, str]] = []
    for command, values in _SHELL_COMMANDS:
        for c in command.finditer(text):
            found = list(_SHELL_WORD.finditer(text, c.start("body"), c.end("body")))
            for index, offset, judge in values([w.group(0) for w in found]):
                if index >= len(found):
                    continue
                word = found[index]
                read = _shell_value(text, word.start() + offset, word.end())
                if read is None:
                    continue
                start, stop, value, joined = read
                if offset == 0 and _FLAG_PROSE.fullmatch(value):
                    continue  # "use redis-cli -a to authenticate", "[-a PASSWORD]"
                new = judge(value)
                if new is not None:
                    spans.append((start, stop, _requoted(new, joined)))
    return spans


def _list_spans(text: str) -> list[tuple[int, int, str]]:
    """The passwords of a command logged as a list (see :data:`_LIST_COMMANDS`), as spans to
    replace: an item's text, or its part after an attached flag (``'-phunter2'``)."""
    spans: list[tuple[int, int, str]] = []
    for command, values in _LIST_COMMANDS:
        listed = 0  # the items up to here were read as this command's: "['curl', 'curl', …"
        for c in command.finditer(text):
            if c.start() < listed:
                continue
            items: list[list[tuple[int, int]] | None] = []  # None: code, not a literal
            words: list[str] = []  # their texts ("" for code)
            pos = c.end()
            while (item := _LIST_ITEM.match(text, pos)) is not None:
                if item.group("expr") is not None:  # code: skipped whole, or the scan ends
                    stop = _expression_end(text, item.end(), item.end() + _LONGEST_EXPRESSION)
                    if stop is None:
                        break
                    items.append(None)
                    words.append("")
                    pos = stop
                    continue
                parts, code, stop = _list_item(text, item)
                items.append(parts)
                words.append("".join(text[a:b] for a, b in parts) + (_CODE_TAIL if code else ""))
                pos = stop if stop >= 0 else item.end()
                if stop < 0:
                    break
            listed = pos
            for index, offset, judge in values(words):
                read = items[index] if index < len(items) else None
                if read is None:
                    continue
                value = words[index][offset:].removesuffix(_CODE_TAIL)
                if offset == 0 and _FLAG_PROSE.fullmatch(value):
                    continue  # ['redis-cli', '-a', 'PASSWORD']: a usage's name for it
                new = judge(value)
                if new is not None:
                    spans.extend(_joined_replacement(read, offset, new))
    return spans


def _redact_commands(text: str) -> str:
    """``text`` with the passwords of curl's ``-u user:password``, a MySQL client's
    ``-p<password>``, sshpass's ``-p`` and redis-cli's ``-a``/``--pass`` removed, written as a
    shell command or logged as a list (see :data:`_CURL`, :data:`_MYSQL`,
    :data:`_SHELL_COMMANDS`, :data:`_LIST_COMMANDS`)."""
    spans = _shell_spans(text) + _list_spans(text)
    for command, flag, attached in ((_CURL, _CURL_USER, False), (_MYSQL, _MYSQL_PASSWORD, True)):
        for c in command.finditer(text):
            reach = 0  # the end of the last value of several pieces: a flag inside it is its text
            for f in flag.finditer(text, c.start(), c.end()):
                if f.start() < reach:
                    continue
                read = _shell_value(text, f.end(), len(text))
                if read is None:
                    continue
                start, stop, value, joined = read
                if joined:
                    reach = stop
                new = _attached_password(value) if attached else _user_password(value)
                if new is not None:
                    spans.append((start, stop, _requoted(new, joined)))
    if not spans:
        return text
    out: list[str] = []
    done = 0
    for start, end, new in sorted(spans):
        if start < done:
            continue  # inside a value just removed
        out.append(text[done:start])
        out.append(new)
        done = end
    out.append(text[done:])
    return "".join(out)


#: Zero-width characters, which a pasted key may hold unseen (see :func:`redact`).
_ZERO_WIDTH_CHAR = re.compile("[\u200b-\u200d\u2060\ufeff]")
_NO_ZERO_WIDTH = dict.fromkeys((0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF))
#: Any shape rule's trigger (one search; only lines that hit look at each rule's triggers).
_SHAPE_HINT = re.compile(
    r"aiza|ya29\.|1//0|1%2f%2f0|sk-|gh[pousr]_|github_pat_|xox|xapp-|bearer|basic|://|eyj|"
    r"gocspx|akia|asia|mii|private key|hooks\.slack|/webhooks/"
)
#: A key=value pair may be in the line: a keyword, at most 40 more key characters, ``=``/``:``
#: (or ``%3D``, or a full-width one) or an element's ``>``.
_PAIR_HINT = re.compile(
    r"(?:pass|pw|secret|token|key|auth|cred|cookie|sig|code)[\w.\-]{0,40}"
    r"(?:['\"\\]{0,2}\]?[ \t]*(?:[=:\uff1a\uff1d]|%3d)|>)"
)
#: The same for a session cookie's name (see _SESSION_COOKIES), searched only in lines that
#: hold one of its words: an alternative of _PAIR_HINT made every line's search 2x slower.
_SESSION_HINT = re.compile(
    r"(?:sid(?:cc|ts)?|sessionid|li_at|login_info)['\"\\]{0,2}\]?[ \t]*(?:[=:\uff1a\uff1d]|%3d)"
)
#: A browser's cookie as an object (Selenium's and Playwright's ``get_cookies()``, a cookie
#: file's JSON): its ``"domain"`` key. Its ``"value"`` is the cookie's, a session's secret
#: when it looks generated (LinkedIn's ``li_at``, X's ``auth_token``).
_COOKIE_OBJECT = re.compile(r"[\"']domain[\"'][ \t]*:")
#: A long flag ending in a strong key's word, then a space ("--db-password hunter2").
#: Searched only in lines with a "--"; the literal comes first, and the possessive name is
#: scanned once.
_FLAG_HINT = re.compile(
    r"--(?<![\w\-]--)[a-z_][\w\-]{0,79}+"
    r"(?:(?<=pass)|(?<=pw)|(?<=pwd)|(?<=passwd)|(?<=word)|(?<=phrase)|(?<=secret)|(?<=secrets)"
    r"|(?<=key)|(?<=auth))(?:[ \t]|\\?[\"'][ \t]*,)"
)


def redact(text: str) -> str:
    """``text`` with every secret the rules recognise replaced by ``[REDACTED]``.

    A zero-width character (U+200B-U+200D, U+2060, U+FEFF) may hide a secret from the rules
    ("pass\\u200bword=…", a key pasted from a web page): a line that holds one is looked at
    again without them, and loses them only when that finds more. The first pass keeps them
    as separators ("user\\u200bapi_key=…" is an api_key)."""
    out = _redact(text)
    if not out.isascii() and _ZERO_WIDTH_CHAR.search(out) is not None:
        bare = out.translate(_NO_ZERO_WIDTH)
        again = _redact(bare)
        if again != bare:
            return again
    return out


def _redact(text: str) -> str:
    """One pass of every rule over ``text``."""
    # Searched on the lower-cased text, case-sensitively: an IGNORECASE alternation is ten
    # times slower in CPython's engine. Most lines hit no hint: three searches, no rule.
    low = text.lower()
    if (
        _SHAPE_HINT.search(low) is not None
        or _DISCORD_HINT.search(low) is not None
        or _TELEGRAM_HINT.search(low) is not None
        # token prefixes: substring tests cost less than more alternatives
        or "hf_" in low
        or "npm_" in low
        or "k_live_" in low
        or "glpat-" in low
        or "rtmp" in low
        or "4/0a" in low
        or "4%2f0a" in low
        or "b3blbnnzac1rzxktdje" in low
    ):
        for triggers, pattern, replacement in _RULES:
            if isinstance(triggers, tuple):
                if not any(t in low for t in triggers):
                    continue
            elif triggers.search(low) is None:
                continue
            text = pattern.sub(replacement, text)
    if (
        "curl" in low
        or "mysql" in low
        or "mariadb" in low
        or "sshpass" in low
        or "redis-cli" in low
    ):
        text = _redact_commands(text)
    if "get" in low or "default" in low or "process.env" in low:  # getenv, .get, .setdefault
        text = _redact_fallbacks(text)
    cookie_object = "value" in low and "domain" in low and _COOKIE_OBJECT.search(low) is not None
    if (
        not cookie_object
        and _PAIR_HINT.search(low) is None
        and (
            (
                "sid" not in low
                and "sessionid" not in low
                and "li_at" not in low
                and "login_info" not in low
            )
            or _SESSION_HINT.search(low) is None
        )
        and ("--" not in low or _FLAG_HINT.search(low) is None)
    ):
        return text
    return _redact_pairs(text, cookie_object)


def contains_secret(text: str) -> bool:
    """True when :func:`redact` would change ``text`` (used by tests and audits)."""
    return redact(text) != text


_PEM_OPEN = re.compile(_PEM_BEGIN)
_PEM_CLOSE = re.compile(_PEM_END)
#: A line inside a PEM block: base64 body, an encrypted key's headers, or the END line.
_PEM_LINE = re.compile(
    r"\s*(?:[A-Za-z0-9+/=]{0,128}|(?:Proc-Type|DEK-Info|Comment):.*|" + _PEM_END + r".*)\s*"
)


def opens_key_block(text: str) -> bool:
    """True when ``text`` starts a PEM private key and does not end it: the lines that
    follow are the key's body (the parser removes them, see :func:`in_key_block`)."""
    if "PRIVATE KEY" not in text:
        return False
    opened = -1
    for m in _PEM_OPEN.finditer(text):
        opened = m.end()
    return opened >= 0 and _PEM_CLOSE.search(text, opened) is None


def in_key_block(text: str) -> bool:
    """Whether ``text`` can be a line of an open PEM block (base64, headers, the END)."""
    return _PEM_LINE.fullmatch(text) is not None


def closes_key_block(text: str) -> bool:
    """Whether ``text`` is the END line of a PEM block."""
    return "-----END" in text and _PEM_CLOSE.search(text) is not None
