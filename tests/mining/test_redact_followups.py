"""Redaction follow-ups: a command line logged as a list (``['mysql', '--password', 'x']``)
and a property list's ``<key>password</key><string>…</string>`` kept their secret; code that
names where a secret comes from (``password = os.getenv("DB")``) lost its text; and the
telemetry writer redacted every item of a huge list or dict, so one payload could stall the
host's thread."""

from __future__ import annotations

from pathlib import Path

import pytest
from telemetry_events import write_one_event

from foundups_training import telemetry
from foundups_training.mining.redact import REDACTED, redact

KEY = "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW"

# (id, line, what must not survive): each one survived redaction before.
SECRETS = [
    ("python list", "['mysql', '--password', 'hunter2']", "hunter2"),
    ("json array", '["--api-key", "abc123XYZdef456"]', "abc123XYZdef456"),
    ("space before comma", "('--client-secret' , 'plain words')", "plain words"),
    ("mixed quotes", """['--db-password', "S3cret!"]""", "S3cret!"),
    ("escaped json array", r'"argv": "[\"--password\", \"hunter2\"]"', "hunter2"),
    ("plist", "<key>password</key><string>hunter2</string>", "hunter2"),
    ("plist, space between", "<key>API_KEY</key>\t<string>abc</string>", "abc"),
    ("plist in a dict", "<dict><key>ClientSecret</key><string>s e c</string></dict>", "s e c"),
    ("plist weak key, generated", "<key>token</key><string>opaque0123AbCd</string>", "0123AbCd"),
]


@pytest.mark.parametrize(("text", "secret"), [s[1:] for s in SECRETS], ids=[s[0] for s in SECRETS])
def test_list_flags_and_plist_values_are_redacted(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out and REDACTED in out
    assert redact(out) == out


# (line, what it becomes): the value only, the list or element around it stays.
EXACT = [
    ("['mysql', '--password', 'hunter2']", f"['mysql', '--password', '{REDACTED}']"),
    (
        "<key>password</key><string>hunter2</string>",
        f"<key>password</key><string>{REDACTED}</string>",
    ),
]


@pytest.mark.parametrize(("text", "expected"), EXACT)
def test_only_the_value_is_replaced(text: str, expected: str) -> None:
    assert redact(text) == expected


KEPT = [
    # the placeholders and prose a flag's word keeps, in a list too
    "['--password', None]",
    '["--password", "PASSWORD"]',
    '["--password", "--verbose"]',
    '["--password", "***"]',
    '["--password", ""]',
    '["--no-password", "now"]',
    '["--token", "abc123XYZdef456"]',  # weak keys only with "=" or ":", as for "--token x"
    "['--password', 'to']",
    "['--user', 'bob']",
    # a property list's other fields
    "<key>RunAtLoad</key><true/>",
    "<key>Label</key><string>com.foundups.agent</string>",
    "<key>password_policy</key><string>strict</string>",
    "<key>password</key><string>***</string>",
    "<key>token</key><string>expired</string>",
    "<key>password</key>",
    # code naming where a secret comes from
    'password = os.getenv("DB")',
    "token = get_token(user)",
    "api_key=self.key",
    'secret = config["secret"]',
    'password = os.environ["DB_PASSWORD"]',
    "password=getpass.getpass()",
    "api_key = settings.GOOGLE_API_KEY",
    "client_secret=args.client_secret,",
    "stream_key = data.get('streamKey', '')",
    "api_key = self._api_keys[0]",
    "api_key: Optional[str] = None,",
    "self.client = Anthropic(api_key=self.api_key)",
    "'x-api-key': provider.api_key,",
]


@pytest.mark.parametrize("text", KEPT)
def test_look_alikes_are_kept(text: str) -> None:
    assert redact(text) == text


STILL_SECRET = [
    ("password=hunter2", "hunter2"),
    ('password = "hunter2"', "hunter2"),
    (f"api_key={KEY}", KEY),
    ("password=Summer.Time", "Summer.Time"),  # an upper-case name: no attribute of code
    ("secret=abc123.def456", "abc123.def456"),  # looks generated
    ("password=hunter( then", "hunter("),  # an open bracket with no string literal after
    ("password=hunter(2", "hunter(2"),
    ("password=hunter(2)", "hunter(2)"),  # a call's argument is a name
    ("api_key=x9Kq2mZ7.pL4", "x9Kq2mZ7"),
    ('password="os.getenv(x)"', "os.getenv"),  # quoted: a string, not code
]


@pytest.mark.parametrize(("text", "secret"), STILL_SECRET)
def test_values_that_only_resemble_code_are_still_redacted(text: str, secret: str) -> None:
    assert secret not in redact(text)


HOSTILE = [
    "'--password', 'x', " * 3400,
    "'--password', " * 4600,
    '\\"--password\\", \\"x\\", ' * 2700,
    "['--password', '" + "a" * 65000,
    "--password'" + " " * 65000 + ",",
    'password=os.getenv("' * 3200,
    "password=" + "a." * 32000,
    "password=a( " * 5400,
    "<key>password</key>" * 3400,
    "<key>password</key><string>" * 2400,
    "<key>password</key>" + " " * 65000 + "<string>x</string>",
    ("<key>" + "a" * 79 + "password</key>") * 650,
]


@pytest.mark.timeout(120)  # a safety net: each line takes well under 0.1 s
@pytest.mark.parametrize("text", HOSTILE, ids=[repr(h[:16]) for h in HOSTILE])
def test_hostile_lines_of_each_new_trigger_are_redacted_whole(text: str) -> None:
    out = redact(text)
    assert redact(out) == out


# -- telemetry ----------------------------------------------------------------------------


def test_telemetry_redacts_only_the_items_an_event_can_hold(
    tmp_path: Path, redacted_lengths: list[int]
) -> None:
    """2,000 strings of 1,000 characters: every one was redacted (17 s of CPU for
    ``key=``), though the event holds 20 of them, cut to 20 characters."""
    items = [f"password=hunter{i} " + "key=" * 250 for i in range(2000)]
    data, event = write_one_event(tmp_path, {"items": items, "query": f"why? api_key={KEY}"})
    assert sum(redacted_lengths) < 100_000 < sum(map(len, items))
    assert b"hunter" not in data and KEY.encode() not in data
    payload = event["payload"]
    assert payload["items"][0].startswith(f"password={REDACTED}")
    assert payload["query"].startswith("why? api_key=")
    # the event still says how long its line was
    assert payload["cut"] > sum(map(len, items))


def test_a_long_list_that_fits_whole_is_redacted_whole(tmp_path: Path) -> None:
    """More items than a cut keeps, but short enough to be written whole: the last one is
    written, so it is redacted too."""
    items = ["a"] * 2500 + ["password=hunter2"]
    _, event = write_one_event(tmp_path, {"items": items})
    assert "cut" not in event["payload"]
    assert event["payload"]["items"] == ["a"] * 2500 + [f"password={REDACTED}"]


def test_a_field_after_a_huge_one_is_redacted_in_the_cut_that_holds_it(tmp_path: Path) -> None:
    payload = {
        "big": ["x" * 3000] * 3000,
        "nested": {"rows": [{"k": "v"}] * 5000},
        "query": "password=hunter2",
    }
    data, event = write_one_event(tmp_path, payload)
    assert b"hunter2" not in data
    assert event["payload"]["query"] == f"password={REDACTED}"
    assert len(event["payload"]["big"]) == 20


def test_thousands_of_dict_items_are_redacted_only_until_no_event_can_hold_them(
    tmp_path: Path, redacted_lengths: list[int]
) -> None:
    rows = {f"k{i}": f"password=hunter{i}" for i in range(100_000)}
    data, event = write_one_event(tmp_path, {"rows": rows})
    assert len(redacted_lengths) < 5_000  # a dict item takes at least 7 bytes of 16 KiB
    assert b"hunter" not in data and set(event["payload"]) == {"cut"}


def test_strings_that_redaction_shrinks_stop_at_a_budget(
    tmp_path: Path, redacted_lengths: list[int]
) -> None:
    """A private key becomes ten characters: thousands of them fill no event, so only the
    overall budget bounds the work; what is past it is written as ``[REDACTED]``."""
    pem = "-----BEGIN PRIVATE KEY-----" + "A" * 16_000
    data, _ = write_one_event(tmp_path, {"keys": [pem] * 3000})
    assert sum(redacted_lengths) <= 4 * (telemetry.MAX_EVENT_BYTES + 512)
    assert b"AAAAAAAAAA" not in data and b"PRIVATE KEY" not in data


@pytest.mark.parametrize(
    "line",
    ["password=correct.horse", "db_password: summer.breeze", "secret=hunter.two"],
)
def test_a_dotted_password_is_no_attribute_access(line: str) -> None:
    """Only an attribute of an object code keeps settings in (``self.key``) reads as code: a
    password made of dotted words is still removed."""
    assert "[REDACTED]" in redact(line)
