"""Review of the command-password rules (``test_redact_cli_forms.py``): forms that still kept a
password or part of one. A list logged with an expression among its items (``os.environ["H"]``,
``f'-u{user}'``) ended its scan there; a shell word made of bare and quoted pieces (``''pw``,
``x"pw 2"``) lost only its first piece; a list of bytes (``[b'redis-cli', …]``) was not seen;
and the shell form of a Windows ``.exe`` was not seen either."""

from __future__ import annotations

import pytest
from linear_cost import assert_linear_and_stable

from foundups_training.mining.redact import REDACTED, redact

# (id, line, what must not survive): each one survived redaction, whole or in part, before.
LEAKS = [
    # 1. an expression item before the password
    (
        "list redis-cli after subscript",
        '["redis-cli", "-h", os.environ["H"], "-a", "pw9x"]',
        "pw9x",
    ),
    ("list mysql after an f-string", "['mysql', f'-u{user}', '-phunter2']", "hunter2"),
    ("list curl after a subscript", """["curl", "-s", cfg['url'], "-u", "bob:pw9x"]""", "pw9x"),
    ("list curl after a call", "['curl', get_url(host, 443), '-u', 'bob:pw9x']", "pw9x"),
    ("list redis-cli after nested", "('redis-cli', h(a[0], {'k': (1, 2)}), '-a', 'pw9x')", "pw9x"),
    ("list redis-cli after arithmetic", "['redis-cli', '-p', str(port + 1), '-a', 'pw9x']", "pw9x"),
    # 2. a shell word of several pieces is one password
    ("redis-cli -a empty quotes first", "redis-cli -a ''pw9x", "pw9x"),
    ("sshpass -p two quoted pieces", "sshpass -p 'it''s2' ssh h", "s2"),
    ("redis-cli -a bare then quoted", 'redis-cli -a x"pw 2"', "pw 2"),
    ("sshpass -p attached quoted then bare", 'sshpass -p"pw"x9 ssh h', "x9"),
    ("redis-cli --pass bare quoted bare", "redis-cli --pass a'b c'd ping", "b c"),
    ("mysql -p empty quotes first", "mysql -u root -p''hunter2 db", "hunter2"),
    ("mysql -p quoted then bare", "mysql -p'hun'ter2 db", "ter2"),
    ("curl -u empty quotes in password", "curl -u bob:''pw9x https://x", "pw9x"),
    ("curl -u quoted user", "curl -u 'bob':pw9x https://x", "pw9x"),
    ("curl -u quoted password piece", 'curl -u bob:"p w"x9 https://x', "x9"),
    # 3. bytes items
    ("bytes list redis-cli", "[b'redis-cli', b'-a', b'pw9x']", "pw9x"),
    ("bytes tuple sshpass", '(b"sshpass", b"-p", b"pw9x", b"ssh", b"h")', "pw9x"),
    ("bytes list mysql", "[b'mysql', b'-phunter2']", "hunter2"),
    ("bytes password only", "['curl', '-u', b'bob:pw9x']", "pw9x"),
    # 4. the shell form of a Windows .exe
    ("redis-cli.exe in a folder", r"C:\redis\redis-cli.exe -a pw9x", "pw9x"),
    ("curl.exe -u", "curl.exe -u bob:pw9x https://x", "pw9x"),
    ("sshpass.exe", "sshpass.exe -p pw9x ssh h", "pw9x"),
    ("REDIS-CLI.EXE", r"C:\Redis\redis-cli.EXE -a pw9x", "pw9x"),
    ("mysql.exe -p", r"C:\mysql\bin\mysql.exe -uroot -phunter2 db", "hunter2"),
    ("quoted .exe path", r'"C:\Program Files\Redis\redis-cli.exe" -a pw9x ping', "pw9x"),
    # Windows names are case-blind: Explorer's "Redis-cli.Exe" runs as well
    ("redis-cli.Exe", r"C:\Redis\redis-cli.Exe -a pw9x", "pw9x"),
    ("curl.eXe -u", "curl.eXe -u bob:pw9x https://x", "pw9x"),
    ("list item mysql.Exe", r"['C:\\mysql\\mysql.Exe', '-phunter2']", "hunter2"),
]


@pytest.mark.parametrize(("text", "secret"), [s[1:] for s in LEAKS], ids=[s[0] for s in LEAKS])
def test_the_whole_password_is_redacted(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out and REDACTED in out, out
    assert redact(out) == out


# (line, what it becomes): the password goes, the rest of the line stays.
EXACT = [
    (
        '["redis-cli", "-h", os.environ["H"], "-a", "pw"]',
        f'["redis-cli", "-h", os.environ["H"], "-a", "{REDACTED}"]',
    ),
    ("['mysql', f'-u{user}', '-phunter2']", f"['mysql', f'-u{{user}}', '-p{REDACTED}']"),
    # a word of several pieces goes whole, its quotes with it
    ("redis-cli -a ''pw ping", f"redis-cli -a {REDACTED} ping"),
    ("sshpass -p 'it''s2' ssh h", f"sshpass -p {REDACTED} ssh h"),
    ('redis-cli -a x"pw 2"', f"redis-cli -a {REDACTED}"),
    ('sshpass -p"pw"x ssh -p 22 h', f"sshpass -p{REDACTED} ssh -p 22 h"),
    ("curl -u 'bob':pw https://x", f"curl -u bob:{REDACTED} https://x"),
    ("curl -u 'bob smith':pw https://x", f"curl -u 'bob smith:{REDACTED}' https://x"),
    ("mysql -p''hunter2 db", f"mysql -p{REDACTED} db"),
    # one piece keeps its quotes, and closing punctuation stays outside
    ("sshpass -p 'hunter2' ssh h", f"sshpass -p '{REDACTED}' ssh h"),
    ("use redis-cli -a hunter2.", f"use redis-cli -a {REDACTED}."),
    # a command inside a JSON or Python string: the string's closing quote is no piece
    ('{"cmd": "redis-cli -a hunter2", "x": 1}', f'{{"cmd": "redis-cli -a {REDACTED}", "x": 1}}'),
    (
        "subprocess.run('redis-cli -a pw', shell=True, input='x')",
        f"subprocess.run('redis-cli -a {REDACTED}', shell=True, input='x')",
    ),
    (
        '["sshpass -p pw ssh h", "mysql -phunter2 db"]',
        f'["sshpass -p {REDACTED} ssh h", "mysql -p{REDACTED} db"]',
    ),
    (
        r'{"cmd": "curl -u bob:pw https://x", "y": "z"}',
        f'{{"cmd": "curl -u bob:{REDACTED} https://x", "y": "z"}}',
    ),
    (r'{"cmd": "sshpass -p \"pw 2\" ssh h"}', rf'{{"cmd": "sshpass -p \"{REDACTED}\" ssh h"}}'),
    ("[b'redis-cli', b'-a', b'pw']", f"[b'redis-cli', b'-a', b'{REDACTED}']"),
    (r"C:\redis\redis-cli.exe -a pw -p 6379", rf"C:\redis\redis-cli.exe -a {REDACTED} -p 6379"),
    ("curl.exe -u bob:pw https://x", f"curl.exe -u bob:{REDACTED} https://x"),
]


@pytest.mark.parametrize(("text", "expected"), EXACT)
def test_only_the_password_is_replaced(text: str, expected: str) -> None:
    assert redact(text) == expected


# Look-alikes: each must come out as it went in.
KEPT = [
    # an expression where the password would be, or no password at all
    "['sshpass', '-p', get_pw(), 'ssh', '-p', '2222', 'h']",
    '["redis-cli", "-h", os.environ["H"], "-p", "6379"]',
    "['redis-cli', '-a', os.environ['REDIS_PASSWORD'], 'ping']",
    "['mysql', f'-u{user}', f'-p{password}', 'db']",
    "['mysql', f'-u{user}', '-p', 'mydb']",
    "['curl', cfg['url'], '-u', f'{user}:{pw}']",
    "['ssh', get_host(), '-p', '2222']",
    "['options', x(1), '-p', 'x', '-a', 'y']",
    "[b'redis-cli', b'-a', b'PASSWORD']",
    "[b'redis-cli', b'-h', b'h', b'-p', b'6379']",
    "(b'ssh', b'-p', b'2222', b'host')",
    # shell words with quotes that hold no password
    'sshpass -p "$SSHPASS" ssh -p 2222 h',
    'redis-cli -a "$REDIS_PASSWORD" ping',
    "redis-cli -h 'cache' -p '6379' ping",
    '{"cmd": "redis-cli -h h -p 6379", "note": "x"}',
    '{"cmd": "redis-cli -a $REDIS_PASSWORD", "x": "y"}',
    "['redis-cli -a PASSWORD', 'ping']",
    "use redis-cli -a 'PASSWORD'.",
    # .exe look-alikes
    r"C:\redis\redis-cli.exe -h h -p 6379",
    "curl.exe -u bob https://x",
    "curl.exe -u $USER:$PASS https://x",
    r"C:\mysql\bin\mysql.exe -P 3306 -u root -p mydb",
    "curl.example -u bob:x",
]


@pytest.mark.parametrize("text", KEPT)
def test_look_alikes_are_kept(text: str) -> None:
    assert redact(text) == text


# Each new path, repeated (and with what would make an item, a word or a piece run long).
HOSTILE = [
    "['curl', f(",
    "['curl', os.environ[",
    "['curl', x(",
    "['curl', ((((",
    "('redis-cli', a(b[c{d('",
    "['sshpass', x, ",
    '["redis-cli", "-a", g(h), ',
    "[b'redis-cli', b'",
    "redis-cli -a ''",
    "redis-cli -a 'x'\"",
    'sshpass -p"x"',
    "redis-cli -a x'",
    "curl -u a'-ub'",
    "curl -u b:''",
    "mysql -p'-p'",
    "mysql -p''",
    "curl.exe -u '",
    "C:\\redis-cli.exe -a ",
]


@pytest.mark.timeout(300)  # a safety net only: each 64 KB line takes milliseconds
@pytest.mark.parametrize("unit", HOSTILE)
def test_a_repeated_trigger_costs_what_its_length_does(unit: str) -> None:
    assert_linear_and_stable(redact, unit)  # CPU-time ratios, not a time (linear_cost.py)
