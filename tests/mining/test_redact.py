"""Secrets never leave the miner; what only looks like one keeps its meaning."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foundups_training.mining import extract_patterns
from foundups_training.mining.redact import REDACTED, contains_secret, redact
from foundups_training.samples import sample_log

SECRETS = [
    ("key AIzaSyD3mO7kEyNoTrEaL1234567890abcdefgh end", "AIzaSy"),
    ("token ya29.a0AfH6SMBxNotARealToken_123-abc end", "ya29."),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig end", "eyJhbGci"),
    ("openai sk-proj-abcdefghijklmnopqrstuv123 end", "sk-proj"),
    ("db postgres://agent:hunter2secret@localhost:5432/x end", "hunter2"),
    ("password=Sup3rS3cret! end", "Sup3rS3cret"),
    ("client_secret: 'GOCSPX-abcdefghijkl' end", "GOCSPX"),
]

# Every shape the host can log, as (id, line, what must not survive). Each was seen to
# survive redaction before (review of the mining package, bug 1), but the first block.
SHAPES = [
    ("google key", "Calling API with key AIzaSyD3adBeefC0ffee1234567890abcdefgh", "AIzaSyD3adBeef"),
    ("oauth access", "token refreshed: ya29.a0AfH6SMBx3Yq-abcdefghijklmn", "a0AfH6SMBx3Yq"),
    ("refresh token", "refresh with 1//0gLq7Xk9abcdefghijklmnopqrstuv", "gLq7Xk9abcdef"),
    ("gocspx", "client GOCSPX-AbCdEfGhIjKlMnOpQrStUv", "AbCdEfGhIjKl"),
    ("bearer", "Authorization: Bearer abcdEFGH12345678ijkl", "abcdEFGH12345678ijkl"),
    (
        "url password",
        "connecting to https://admin:S3cretPassw0rd@db.example.com/x",
        "S3cretPassw0rd",
    ),
    (
        "aws secret env",
        "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "wJalrXUtnFEMI",
    ),
    ("json api_key", 'config {"api_key": "abcd1234efgh5678"}', "abcd1234efgh5678"),
    ("ghp", "push with ghp_16C7e42F292c6912E7710c838347Ae178B4a", "16C7e42F292c"),
    ("slack xoxb", "slack xoxb-123456789012-123456789012-abcdefghijklmnop", "abcdefghijklmnop"),
    ("x-goog-api-key", "x-goog-api-key: opaque0123456789abcdef", "opaque0123456789abcdef"),
    (
        "pwd in traceback",
        "    conn = connect(host='db', password='hunter2hunter2')",
        "hunter2hunter2",
    ),
    # -- surviving before the fix
    ("basic auth header", "Authorization: Basic dXNlcjpodW50ZXIyaHVudGVyMg==", "dXNlcjpodW50ZXIy"),
    (
        "basic auth in dict",
        "headers={'Authorization': 'Basic dXNlcjpwYXNzd29yZA=='}",
        "dXNlcjpwYXNz",
    ),
    ("basic auth bare", "retrying with Basic dXNlcjpodW50ZXIyaHVudGVyMg== now", "dXNlcjpodW50ZXIy"),
    ("authorization token", "Authorization: token 9f8e7d6c5b4a39281706", "9f8e7d6c5b4a39281706"),
    ("redis url no user", "Redis at redis://:S3cretPassw0rd@localhost:6379/0", "S3cretPassw0rd"),
    ("password with spaces", 'login password="correct horse battery staple" ok', "horse battery"),
    ("unquoted passphrase", "login passphrase: correct horse battery staple", "battery staple"),
    ("password with ;", 'db password="p4ss;w0rd!x" ok', "w0rd!x"),
    ("password with ,", "password=hunter2,extra ok", "extra"),
    ("password with &", '{"password": "abc&defgh"}', "defgh"),
    ("password cut off", 'login password="correct horse batt', "horse batt"),
    ("escaped json", 'body={\\"password\\": \\"hunter2hunter2\\"}', "hunter2hunter2"),
    ("escaped json token", '{\\"accessToken\\":\\"opaque0123456789abcdef\\"}', "opaque0123"),
    ("aws key id", "using AKIAIOSFODNN7EXAMPLE for s3", "AKIAIOSFODNN7EXAMPLE"),
    ("aws session key id", "using ASIAIOSFODNN7EXAMPLE for s3", "ASIAIOSFODNN7EXAMPLE"),
    (
        "github_pat",
        "push with github_pat_11ABCDEFG0abcdefghijkl_mnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTU",
        "11ABCDEFG0abcdefghijkl",
    ),
    (
        "slack webhook",
        "posting to https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
        "XXXXXXXXXXXXXXXXXXXXXXXX",
    ),
    (
        "discord webhook",
        "webhook https://discord.com/api/webhooks/1234567890/abcDEFghiJKLmnoPQRstuVWXyz0123456789",
        "abcDEFghiJKLmnoPQRstuVWXyz0123456789",
    ),
    (
        "discord bot token",
        "discord login MTA0NjY1NjQ4MzI0NjQ4OTYwMA.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789AB",
        "abcdefghijklmnopqrstuvwxyz0123456789AB",
    ),
    ("camel accessToken", '{"accessToken": "opaque0123456789abcdef"}', "opaque0123456789abcdef"),
    ("camel refreshToken", "refreshToken=opaque0123456789abcdef", "opaque0123456789abcdef"),
    ("camel authToken", "authToken: opaque0123456789abcdef", "opaque0123456789abcdef"),
    ("camel apiKey", "apiKey=Abcdefgh1234 ok", "Abcdefgh1234"),
    ("camel clientSecret", "{'clientSecret': 'plain words too'}", "plain words"),
    ("dotted key", "self.config.api_key = 'abc123'", "abc123"),
    ("passphrase", "passphrase=opaque0123456789abcdef", "opaque0123456789abcdef"),
    ("credentials", "credentials=opaque0123456789abcdef", "opaque0123456789abcdef"),
    ("db_pass", "DB_PASS=simple ok", "simple"),
    ("cookie", "Cookie: SID=opaque0123456789abcdef; HSID=zzzzzzzzzzzzzz", "zzzzzzzzzzzzzz"),
    ("set-cookie", "Set-Cookie: __Secure-1PSID=g.a000abcdef; Path=/; Secure", "g.a000abcdef"),
    ("bytes literal", "{'token': b'gAAAAABk1a2b3c4d5e6f'}", "gAAAAABk1a2b3c4d5e6f"),
    ("pem header line", "-----BEGIN RSA PRIVATE KEY-----", "BEGIN RSA PRIVATE KEY"),
    ("pem first body line", "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi7", "MIIEpAIBAAKCAQEA3Tz2"),
    (
        "service-account private_key",
        '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgk'
        'qhkiG9w0BAQEFAASC\\nq83kPRIVKEYBODY\\n-----END PRIVATE KEY-----\\n", "client_email": "x"}',
        "PRIVKEYBODY",
    ),
    ("pem cut off", "key: -----BEGIN EC PRIVATE KEY-----\\nq83kPRIVKEYBODY", "PRIVKEYBODY"),
    (
        "key= in URL",
        "GET https://www.googleapis.com/youtube/v3/search?part=id&key=abcd1234efgh5678",
        "abcd1234efgh5678",
    ),
    (
        "signature in URL",
        "GET https://storage.googleapis.com/b/o?X-Goog-Signature=abcdef0123456789abcdef",
        "abcdef0123456789abcdef",
    ),
    (
        "oauth code in callback",
        "callback http://localhost:8080/?state=xyz&code=4/0AX4XfWh-abcdefghijklmnopqrstuvwxyz",
        "abcdefghijklmnopqrstuvwxyz",
    ),
    ("generic token", "loaded token: tkn_7f3a9c2e8b1d4f60", "7f3a9c2e8b1d4f60"),
    ("long hex token", "session token=deadbeefdeadbeefdeadbeef", "deadbeefdeadbeef"),
    ("pin", "password: 1234", "1234"),
    # -- surviving before the security review (tests/test_security_review.py)
    ("cli flag", "running mysql --password=Sup3rS3cret app", "Sup3rS3cret"),
    (
        "telegram bot token",
        "POST https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/getMe",
        "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
    ),
    ("slack app token", "socket xapp-1-A0123456789-1234567890123-abcdef0123456789", "abcdef012345"),
    (
        "percent-encoded query",
        "next=https%3A%2F%2Fx.example%2Fcb%3Faccess_token%3Dabcd1234Efgh5678%26state%3Dxyz",
        "abcd1234Efgh5678",
    ),
    ("percent-encoded refresh token", "1%2F%2F0gLq7Xk9abcdefghijklmnopqrstuv", "gLq7Xk9abc"),
]

# Text that names a secret without holding one: it must come out exactly as it went in.
KEEP = [
    (
        "expired in parentheses",
        "[YT-AUTH] Token refresh failed (token: expired), rotating to set 2",
    ),
    ("host module youtube_auth", "youtube_auth: Authenticated channel UC-LSSlOZwpGIRIYihaz8zCw"),
    (
        "host format, emoji token",
        "15:07:32 INFO youtube_auth: [U+1F511] Attempting authentication with credential set 1",
    ),
    ("host format, mixed value", "15:07:33 INFO youtube_auth: Token1Ab refreshed for set1"),
    ("auth word", "OAuth status auth: authenticated with credential set 1"),
    ("token_file", "Loaded token_file: credentials/oauth_token_set1.json"),
    ("secret file path", "Loading client_secret: credentials/client_secret_set1.json"),
    ("token_count", "LLM stats token_count: 1532, latency 812ms"),
    ("max_tokens", "generate max_tokens=512 temperature=0.7"),
    ("secret_scan", "secret_scan: 0 findings in modules/infrastructure/wre_core"),
    ("password_policy", "password_policy: strict"),
    ("api_key missing", "api_key: missing (set YOUTUBE_API_KEY)"),
    ("api_key set3", "Quota for api_key=set3 exhausted"),
    ("token None in a dict", "Refresh failed: credentials {'token': None, 'expiry': None}"),
    ("api_key None", "YouTube client built (api_key=None, credentials=set1)"),
    ("json null and false", '{"token": null, "refresh_token": false, "api_key": ""}'),
    ("token word", "token: refreshed"),
    ("small number", "password: 3 attempts left"),
    ("masked", "password: ******** (from env)"),
    ("placeholder", "password: <hidden>, token: {token}, api_key=${YT_API_KEY}"),
    ("cache key", "Cache key: stream_status_UC123"),
    ("private_key_id", "private_key_id: 1a2b3c"),
    ("error code", "status code: 0x8007000E"),
    ("exit code", "process exit code=1"),
    ("authorization required", "Authorization: required"),
    ("basic prose", "Basic connectivity check passed"),
    ("cookie prose", "cookie: consent banner dismissed"),
    ("comparison", "if token == None: refresh"),
    ("credential set", "credentials: set 2 of 3"),
    ("logger name", "modules.platform_integration.youtube_auth.src.youtube_auth - INFO - ok"),
    ("cli flags", "pytest --token-count=5 --password-policy=strict --no-password"),
]


def test_each_secret_shape_is_redacted() -> None:
    for text, secret in SECRETS:
        out = redact(text)
        assert secret not in out, out
        assert REDACTED in out and out.endswith("end")


@pytest.mark.parametrize(("text", "secret"), [s[1:] for s in SHAPES], ids=[s[0] for s in SHAPES])
def test_every_shape_the_host_logs_is_redacted(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out and REDACTED in out, out
    assert redact(out) == out  # idempotent: a second pass finds nothing left


@pytest.mark.parametrize("text", [k[1] for k in KEEP], ids=[k[0] for k in KEEP])
def test_what_only_names_a_secret_is_kept(text: str) -> None:
    assert redact(text) == text and not contains_secret(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(token: expired), next", "(token: expired), next"),
        ("(token: opaque0123456789abcdef), next", f"(token: {REDACTED}), next"),
        ("{'password': 'a b', 'user': 'bob'}", f"{{'password': '{REDACTED}', 'user': 'bob'}}"),
        ("password=hunter2, user=bob", f"password={REDACTED}, user=bob"),
        # an unquoted passphrase after a colon: every word, up to another key, a " - " or
        # punctuation (after "=", a value ends at a space, as in a shell or a query)
        ("password: correct horse staple user=bob", f"password: {REDACTED} user=bob"),
        ("db password: hunter 2 - connecting", f"db password: {REDACTED} - connecting"),
        ("passphrase: my own words, retrying", f"passphrase: {REDACTED}, retrying"),
        ("password: hunter2 (from env)", f"password: {REDACTED} (from env)"),
        ("Password: letmein. Retrying", f"Password: {REDACTED}. Retrying"),
        ("?key=abcd1234efgh5678&part=id", f"?key={REDACTED}&part=id"),
        ("Authorization: Basic dXNlcjpwYXNz ok", f"Authorization: Basic {REDACTED} ok"),
        ("Cookie: SID=abc; HSID=def", f"Cookie: SID={REDACTED}; HSID={REDACTED}"),
    ],
)
def test_only_the_value_goes(text: str, expected: str) -> None:
    """Redaction keeps the key, the quotes and the punctuation around the value."""
    assert redact(text) == expected


def test_ordinary_text_is_untouched() -> None:
    for text in ("Attempting authentication with credential set 1", "Quota 9500 of 10000"):
        assert redact(text) == text and not contains_secret(text)


@settings(max_examples=150, deadline=None)
@given(
    st.text(max_size=80), st.sampled_from(SECRETS + [s[1:] for s in SHAPES]), st.text(max_size=80)
)
def test_secret_inside_any_text_is_gone_and_redaction_is_idempotent(
    before: str, secret: tuple[str, str], after: str
) -> None:
    text = f"{before} {secret[0]} {after}"
    once = redact(text)
    assert secret[1] not in once
    assert redact(once) == once


def test_planted_secrets_in_the_sample_never_reach_a_pattern() -> None:
    text = sample_log().read_text(encoding="utf-8")
    assert "AIzaSy" in text and "ya29." in text and "Bearer " in text  # they are planted
    for p in extract_patterns(text.splitlines()):
        blob = " ".join((p.context, p.decision, p.outcome, p.code_ref))
        for marker in ("AIzaSy", "ya29.", "postgres://foundups:"):
            assert marker not in blob.replace("postgres://foundups:[REDACTED]", ""), p
