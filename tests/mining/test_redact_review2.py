"""Redaction review: secrets of a YouTube/LinkedIn/X bot's log that reached storage (an
OAuth 1.0a or Digest ``Authorization`` header's parameters, X's consumer key, a browser
cookie dumped as an object, a key set by subscript in a traceback's source line, names
written as one word such as ``PGPASSWORD``, an OpenSSH key's body, an RTMP stream key, a
bare Google authorization code), a Set-Cookie's attributes that were lost, and a
``cookie:`` line whose cost grew with the square of its length."""

from __future__ import annotations

import pytest
from linear_cost import assert_linear_cost

from foundups_training.mining.redact import REDACTED, redact

# (id, line, what must not survive): each one survived redaction before.
SECRETS = [
    (
        "oauth1 header, bare",
        'Authorization: OAuth oauth_consumer_key="xvz1evFS4wEEPTGEFPHBog", '
        'oauth_nonce="kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg", '
        'oauth_signature="tnnArxj06cWHq44gCs1OSKk%2FjY%3D", oauth_version="1.0"',
        "xvz1evFS4wEEPTGEFPHBog",
    ),
    (
        "digest header, bare",
        'authorization: Digest username="bob", realm="api", nonce="dcd98b7102dd2f0e8b11", '
        'uri="/x", response="6629fae49393a05397450978507c4ef1"',
        "6629fae49393a05397450978507c4ef1",
    ),
    ("x consumer key, env", "X_CONSUMER_KEY=xvz1evFS4wEEPTGEFPHBog", "xvz1evFS4wEEPTGEFPHBog"),
    (
        "x consumer key, call",
        "tweepy.OAuth1UserHandler(consumer_key='plainwords', consumer_secret='x')",
        "plainwords",
    ),
    ("subscript, double quotes", 'config["api_key"] = "abc123"', "abc123"),
    ("subscript, environ", "os.environ['DB_PASSWORD']='hunter2'", "hunter2"),
    ("subscript, no spaces", 'creds["token"]="opaque0123AbCd4567"', "opaque0123AbCd4567"),
    ("one-word env name", "PGPASSWORD=hunter2 psql -h db", "hunter2"),
    ("one-word lower", "dbpassword: hunter2", "hunter2"),
    ("one-word api key", "MYAPIKEY=plainwords", "plainwords"),
    ("ngrok authtoken", "authtoken: 2NabcDEF123ghiJKL456mno", "2NabcDEF123ghiJKL456mno"),
    ("csrftoken", "csrftoken=abcDEF123ghiJKL456", "abcDEF123ghiJKL456"),
    (
        "playwright cookie",
        "{'name': 'li_at', 'value': 'AQEDARabc123DEF456ghi789', 'domain': '.linkedin.com'}",
        "AQEDARabc123DEF456ghi789",
    ),
    (
        "selenium cookie",
        "{'domain': '.x.com', 'expiry': 1761000000, 'httpOnly': True, 'name': 'auth_token', "
        "'path': '/', 'secure': True, 'value': '0123456789abcdef0123456789abcdef01234567'}",
        "0123456789abcdef0123456789abcdef01234567",
    ),
    (
        "cookie json",
        '[{"name": "SAPISID", "value": "abcDEF123/ghiJKL456", "domain": ".youtube.com"}]',
        "abcDEF123/ghiJKL456",
    ),
    (
        "openssh key body",
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAABlwAAAAdzc2gtcn",
        "AAAABG5vbmUAAAAEbm9uZQ",
    ),
    (
        "youtube stream key",
        "ffmpeg -f flv rtmp://a.rtmp.youtube.com/live2/x7k2-9mfp-3a1c-u8ds-4bzw",
        "x7k2-9mfp-3a1c-u8ds-4bzw",
    ),
    (
        "facebook stream key",
        "push rtmps://live-api-s.facebook.com:443/rtmp/FB-1234567890-0-AbCdEfGhIjKl ok",
        "AbCdEfGhIjKl",
    ),
    (
        "google auth code",
        "Received authorization code 4/0AVMBsJi3xYzAbCdEfGhIjKlMnOpQrStUvWxYz01 for set 1",
        "AVMBsJi3xYz",
    ),
    (
        "google auth code, encoded",
        "callback=x%3Fc%3D4%2F0AVMBsJi3xYzAbCdEfGhIjKlMnOpQrStUvWxYz01",
        "AVMBsJi3xYz",
    ),
]


@pytest.mark.parametrize(("text", "secret"), [s[1:] for s in SECRETS], ids=[s[0] for s in SECRETS])
def test_secrets_that_survived_are_redacted(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out and REDACTED in out
    assert redact(out) == out


# (line, what it becomes): the secret only; what says what happened stays.
EXACT = [
    (
        "Set-Cookie: SID=abc123; Expires=Wed, 21 Oct 2025 07:28:00 GMT; Domain=.youtube.com; "
        "Path=/; Secure; HttpOnly; SameSite=None",
        f"Set-Cookie: SID={REDACTED}; Expires=Wed, 21 Oct 2025 07:28:00 GMT; "
        "Domain=.youtube.com; Path=/; Secure; HttpOnly; SameSite=None",
    ),
    (
        'POST /2/tweets Authorization: OAuth oauth_consumer_key="abc", oauth_token="x" 401',
        f"POST /2/tweets Authorization: OAuth {REDACTED} 401",
    ),
    ('os.environ["DB_PASSWORD"] = "hunter2"', f'os.environ["DB_PASSWORD"] = "{REDACTED}"'),
    (
        "{'name': 'li_at', 'value': 'AQEDARabc123DEF456ghi789', 'domain': '.linkedin.com'}",
        f"{{'name': 'li_at', 'value': '{REDACTED}', 'domain': '.linkedin.com'}}",
    ),
    (
        "stream to rtmp://a.rtmp.youtube.com/live2/x7k2-9mfp-3a1c-u8ds-4bzw now",
        f"stream to rtmp://a.rtmp.youtube.com/live2/{REDACTED} now",
    ),
]


@pytest.mark.parametrize(("text", "expected"), EXACT)
def test_only_the_secret_is_replaced(text: str, expected: str) -> None:
    assert redact(text) == expected


KEPT = [
    # a cookie object's ordinary values, and a value that is no cookie's
    "{'name': 'lang', 'value': 'en-US', 'domain': '.linkedin.com', 'path': '/'}",
    "{'name': 'theme', 'value': 'dark'}",
    "{'metric': 'quota', 'value': 'abcDEF123ghiJKL456'}",
    # code that tests or reads a subscript, and placeholders set by one
    'if cfg["password"]: return True',
    'ok = cfg["password"] == "x"',
    'creds["token"] = None',
    'stats["token_count"] = 1532',
    'cfg["api_key"] = os.getenv("YOUTUBE_API_KEY")',
    # words that only end like a secret's name
    "maxtokens=4096",
    "detokenize=true",
    "topsecret: no",
    # an ingest server with no key, a YouTube path, a fraction
    "ingest server rtmp://a.rtmp.youtube.com/live2",
    "ffmpeg -f flv rtmp://a.rtmp.youtube.com/live2/{STREAM_KEY}",
    'test_rtmp = "rtmp://a.rtmp.youtube.com/live2/TEST_KEY"',
    "Error opening output file rtmp://a.rtmp.youtube.com/live2/...",
    # googleapiclient's name for the API key, whose value has the AIza shape when it is one
    'client = build("youtube", "v3", developerKey=fallback_key)',
    "https://www.youtube.com/watch?v=Ez13NRpZvy4&t=42s",
    "processed 4/0 items",
    # the host's own lines
    "2025-10-20 15:01:43,476 - modules.platform_integration.youtube_auth.src.youtube_auth - "
    "INFO - Authenticated with credential set 1",
]


@pytest.mark.parametrize("text", KEPT)
def test_look_alikes_are_kept(text: str) -> None:
    assert redact(text) == text


HOSTILE = [
    # a cookie value's name was looked for to the end of its run, once per key
    "cookie:",
    "://cookie",
    "cookie:?",
    "Set-Cookie:x",
    # each new rule's trigger, repeated
    "rtmp://a/b/",
    "4/0A",
    "4%2F0A",
    "b3BlbnNzaC1rZXktdjE",
    "'domain': 'value': '",
    'Authorization: OAuth a="',
    "authorization: digest a=b, ",
    '["password"] = ',
    "PGPASSWORD",
    "authtoken:",
]


@pytest.mark.timeout(300)  # a safety net: quadratic, the 64 KB cookie lines took 7-14 s each
@pytest.mark.parametrize("unit", HOSTILE)
def test_a_repeated_trigger_costs_what_its_length_does(unit: str) -> None:
    """Ten lines of 6.4 KB against one of 64 KB: the same work when the cost is linear, ten
    times more for the long line when it grows with the square. A ratio, not a time: CPU
    time on a loaded machine varies, the ratio of two measures taken together much less."""
    assert_linear_cost(redact, unit)
