"""Secret shapes that survived redaction before (a flag and its value as two words, XML
elements, ``:=`` / ``=>``, full-width and zero-width characters, well-known token prefixes),
and what looks like them but must keep its meaning."""

from __future__ import annotations

import pytest

from foundups_training.mining.redact import REDACTED, redact

# (id, line, what must not survive): each one survived redaction before.
SECRETS = [
    ("flag and value", "deploy --password hunter2hunter2 --user bob", "hunter2hunter2"),
    ("flag with prefix", "psql --db-password S3cret! -h localhost", "S3cret!"),
    ("api-key flag", "cli --api-key Abcd1234efgh5678 run", "Abcd1234efgh5678"),
    ("client-secret flag", "auth --client-secret plainwords", "plainwords"),
    ("quoted flag value", 'login --passphrase "correct horse battery" ok', "horse battery"),
    ("xml password", "<password>hunter2</password>", "hunter2"),
    ("xml password words", "<Password>my secret phrase</Password>", "secret phrase"),
    ("xml apiKey", "<apiKey>Abcd1234efgh5678</apiKey>", "Abcd1234efgh5678"),
    ("xml token", "<token>opaque0123456789abcdef</token>", "opaque0123456789abcdef"),
    ("walrus", 'password := "hunter2hunter2"', "hunter2hunter2"),
    ("walrus bare", "DB_PASSWORD := hunter2hunter2", "hunter2hunter2"),
    ("php hash", "'api_key' => 'abcd1234efgh'", "abcd1234efgh"),
    ("ruby hash", '{:password=>"hunter2hunter2", :user=>"bob"}', "hunter2hunter2"),
    ("arrow, no space", "password=>hunter2hunter2", "hunter2hunter2"),  # removed before too
    ("full-width colon", "password：hunter2hunter2", "hunter2hunter2"),
    ("full-width equals", "api_key＝abcd1234efgh", "abcd1234efgh"),
    ("full-width then ideographic space", "password：\u3000hunter2hunter2", "hunter2hunter2"),
    ("zero-width space in key", "pass\u200bword=hunter2hunter2", "hunter2hunter2"),
    ("zero-width joiner in key", "pass\u200dwd=hunter2hunter2", "hunter2hunter2"),
    ("word joiner in key", "api\u2060_key: plainwords", "plainwords"),
    ("bom in key", '{"client_sec\ufeffret": "plain words"}', "plain words"),
    ("bom before key", "\ufeffpassword=hunter2hunter2", "hunter2hunter2"),  # as before
    ("zero-width between words", "user\u200bapi_key=plainwords", "plainwords"),  # as before
    ("zero-width before key", "x \u200b\u200bpassword: plainwords", "plainwords"),  # as before
    ("zero-width in a shape", "key AIza\u200bSyD3mO7kEyNoTrEaL1234567890abcdefgh", "SyD3mO7k"),
    ("hugging face", "login hf_AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh ok", "AbCdEfGhIjKlMnOp"),
    ("gitlab", "clone with glpat-AbCd3fGh1jKlMn0pQrSt", "AbCd3fGh1jKlMn0pQrSt"),
    (
        "gitlab routable",
        "token glpat-AbCd3fGh1jKlMn0pQrStUvWxYz0123456789a.01.171abcdef ok",
        "171abcdef",
    ),
    ("stripe secret", "stripe sk_live_51HxAbCdEfGhIjKlMnOpQrStUv", "51HxAbCdEfGh"),
    ("stripe restricted", "stripe rk_live_51HxAbCdEfGhIjKlMnOpQrStUv", "51HxAbCdEfGh"),
    ("npm", "//registry.npmjs.org/:x npm_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "AbCdEfGhIj"),
]


@pytest.mark.parametrize(("text", "secret"), [s[1:] for s in SECRETS], ids=[s[0] for s in SECRETS])
def test_shapes_that_survived_are_redacted(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out and REDACTED in out, out
    assert redact(out) == out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("run --password hunter2 --user bob", f"run --password {REDACTED} --user bob"),
        ("<password>hunter2</password> ok", f"<password>{REDACTED}</password> ok"),
        ("'api_key' => 'abc123', 'user' => 'bob'", f"'api_key' => '{REDACTED}', 'user' => 'bob'"),
        ("password：hunter2 user：bob", f"password：{REDACTED} user：bob"),
        ("npm token npm_" + "a1" * 18 + ", done", f"npm token {REDACTED}, done"),
    ],
)
def test_only_the_value_goes(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        # a flag's next word that is no value: a usage line, prose, another flag, a boolean
        "usage: tool [-h] [--password PASSWORD] [--api-key API_KEY]",
        "use --password to be prompted, or --api-key or an env var",
        "the --secret flag is deprecated",
        "git log --no-password now",
        "docker login --password-stdin --username bob",
        "run --password $DB_PASS --token expired",
        "run --auth chrome-profile --channel-key foundups",
        "set -p hunter2",  # a short flag: -p is a port as often as a password
        # elements: a property list's <key>, an element left open, placeholders, prose
        "    <key>StandardOutPath</key>",
        "<token>expired</token> <password></password> <secret>${SECRET}</secret>",
        "<password>hunter2 was cut here",
        "curl -H 'Authorization: Bearer <token>' https://api.example.com",
        "curl -H 'Authorization: Bearer {token}' https://api.example.com",
        # an arrow function is no hash: its body stays
        "items.map(token => token.trim()); check(password => password.length > 8)",
        "if password == stored_password:",
        # identifiers that share a token's prefix, and prefixes too short to be one
        "hf_hub_download(repo_id=x, filename=y) and hf_transfer enabled",
        "npm_config_cache=/tmp/npm npm_lifecycle_event=build",
        "sk_live_key is read from the vault; glpat-short; my_hf_AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh",
        # full-width colon after a word that names no secret; zero-width elsewhere
        "status：ok token_count：1532",
        "channel\u200bname=UC123 and pass\u200bword_policy=strict, family 👨\u200d👩\u200d👧",
    ],
)
def test_look_alikes_are_kept(text: str) -> None:
    assert redact(text) == text


HOSTILE = [
    "--password " * 6000,
    "--password-" * 6000,
    "--" + "a" * 65000 + "key x",
    "<password>" * 6500,
    "<password>" + "a" * 65000,
    "<token>abc</tok" * 4400,
    "password :=" * 6000,
    "'api_key' =>" * 5500,
    "password：" * 7000,
    "pass\u200bword" * 7000 + "=x",
    "hf_" * 21000,
    "glpat-" * 11000,
    ("glpat-" + "a" * 19 + ".") * 2500,
    "sk_live_" * 8000,
    "npm_" * 16000 + "a" * 40,
]


@pytest.mark.timeout(120)  # a safety net: each line takes milliseconds (about 0.5 s before)
@pytest.mark.parametrize("text", HOSTILE, ids=[repr(h[:14]) for h in HOSTILE])
def test_hostile_lines_of_each_new_trigger_are_redacted_whole(text: str) -> None:
    out = redact(text)
    assert redact(out) == out


def test_a_repeated_key_line_keeps_what_is_no_secret_and_loses_what_is() -> None:
    """``key=`` repeated: every key's value is looked at (each holds the next keys), and the
    line keeps its text; a secret key at its end still loses its value."""
    text = "key=" * 20000 + "&password=hunter2hunter2"
    assert redact(text) == "key=" * 20000 + f"&password={REDACTED}"
