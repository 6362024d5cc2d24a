"""Redaction of passwords given to commands: ``sshpass -p``, ``redis-cli -a``/``--pass``, and
a command logged as a Python/JSON list (``['curl', '-u', 'admin:hunter2', …]``), whose
password survived before (the ``curl -u`` and ``mysql -p`` rules saw only the shell form).
A port (``ssh -p 2222``, ``redis-cli -p 6379``) and the flags of other commands stay."""

from __future__ import annotations

import pytest
from linear_cost import assert_linear_and_stable

from foundups_training.mining.redact import REDACTED, redact

# (id, line, what must not survive): each one survived redaction before.
SECRETS = [
    # 1. sshpass -p, as the next word or attached
    ("sshpass -p quoted", "sshpass -p 'hunter2' ssh user@host", "hunter2"),
    ("sshpass -p attached", "sshpass -pHunter2 ssh user@host", "Hunter2"),
    ("sshpass -p bare", "sshpass -p hunter2 scp f.txt host:/tmp", "hunter2"),
    ("sshpass -p double quoted", 'sshpass -p "correct horse" ssh h', "correct horse"),
    ("sshpass -p after -v", "sshpass -v -p hunter2 ssh h", "hunter2"),
    ("sshpass -vp clustered", "sshpass -vphunter2 ssh h", "hunter2"),
    ("sshpass in bin", "/usr/bin/sshpass -p hunter2 rsync -a x h:/y", "hunter2"),
    ("sshpass -p then ssh -p", "sshpass -p hunter2 ssh -p 2222 h", "hunter2"),
    # 2. redis-cli -a / --pass (and -u's URL, already removed by the URL rule)
    ("redis-cli -a", "redis-cli -a s3cr3tpass -h cache", "s3cr3tpass"),
    ("redis-cli --pass", "redis-cli --pass s3cr3t -h cache", "s3cr3t"),
    ("redis-cli -a quoted", "redis-cli -h cache -p 6380 -a 'p w' ping", "p w"),
    ("redis-cli -u url", "redis-cli -u redis://:pw1234@host", "pw1234"),
    ("redis-cli -u url with user", "redis-cli -u redis://default:pw1234@host:6379", "pw1234"),
    ("redis-cli after docker exec", "docker exec -it cache redis-cli -a hunter2 ping", "hunter2"),
    # 3. a command logged as a list
    ("list curl -u", "Running ['curl', '-u', 'admin:hunter2', 'https://x']", "hunter2"),
    ("list curl --user=", "['curl', '--user=admin:hunter2', 'https://x']", "hunter2"),
    ("list curl -u attached", '["curl", "-uadmin:hunter2", "https://x"]', "hunter2"),
    ("list curl --proxy-user", "['curl', '--proxy-user', 'bob:hunter2', 'https://x']", "hunter2"),
    ("list mysql -p", '["mysql", "-uroot", "-phunter2"]', "hunter2"),
    ("list mysqldump -p", "['/usr/bin/mysqldump', '-u', 'root', '-phunter2', 'db']", "hunter2"),
    ("list sshpass -p", "['sshpass', '-p', 'pw', 'ssh', 'h']", "'pw'"),
    ("list sshpass -p attached", "['sshpass', '-phunter2', 'ssh', 'h']", "hunter2"),
    ("list redis-cli -a", "['redis-cli', '-a', 'pw']", "'pw'"),
    ("list redis-cli --pass", "('redis-cli', '--pass', 'hunter2', 'ping')", "hunter2"),
    ("list redis-cli -u url", "['redis-cli', '-u', 'redis://:pw1234@host']", "pw1234"),
    ("list after sudo", "['sudo', 'sshpass', '-p', 'hunter2', 'ssh', 'h']", "hunter2"),
    ("list mixed quotes", """['curl', '-u', "bob:it's", 'https://x']""", "it's"),
    ("list in a call", "subprocess.run(['redis-cli', '-a', 'hunter2'], check=True)", "hunter2"),
]


@pytest.mark.parametrize(("text", "secret"), [s[1:] for s in SECRETS], ids=[s[0] for s in SECRETS])
def test_command_passwords_are_redacted(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out and REDACTED in out, out
    assert redact(out) == out


# (line, what it becomes): only the secret is replaced; the command's other words stay.
EXACT = [
    ("sshpass -p 'hunter2' ssh user@host", f"sshpass -p '{REDACTED}' ssh user@host"),
    ("sshpass -pHunter2 ssh user@host", f"sshpass -p{REDACTED} ssh user@host"),
    ("sshpass -p hunter2 ssh -p 2222 h", f"sshpass -p {REDACTED} ssh -p 2222 h"),
    ("sshpass -f ~/.pw ssh -p 2222 h", "sshpass -f ~/.pw ssh -p 2222 h"),
    ("redis-cli -a s3cr3tpass -h cache", f"redis-cli -a {REDACTED} -h cache"),
    ("redis-cli --pass s3cr3t -h cache", f"redis-cli --pass {REDACTED} -h cache"),
    ("redis-cli -h h -p 6379 -a pw ping", f"redis-cli -h h -p 6379 -a {REDACTED} ping"),
    (
        "Running ['curl', '-u', 'admin:hunter2', 'https://x']",
        f"Running ['curl', '-u', 'admin:{REDACTED}', 'https://x']",
    ),
    ('["mysql", "-uroot", "-phunter2"]', f'["mysql", "-uroot", "-p{REDACTED}"]'),
    ("['sshpass', '-p', 'pw', 'ssh', 'h']", f"['sshpass', '-p', '{REDACTED}', 'ssh', 'h']"),
    (
        "['sshpass', '-p', 'pw', 'ssh', '-p', '2222', 'h']",
        f"['sshpass', '-p', '{REDACTED}', 'ssh', '-p', '2222', 'h']",
    ),
    ("['redis-cli', '-a', 'pw']", f"['redis-cli', '-a', '{REDACTED}']"),
    (
        "['redis-cli', '-h', 'h', '-p', '6379', '--pass', 'pw']",
        f"['redis-cli', '-h', 'h', '-p', '6379', '--pass', '{REDACTED}']",
    ),
]


@pytest.mark.parametrize(("text", "expected"), EXACT)
def test_only_the_password_is_replaced(text: str, expected: str) -> None:
    assert redact(text) == expected


# The generic password flags, already removed in both forms: pinned here with the new rules.
GENERIC_FLAGS = [
    ("mysql --password hunter2 db", f"mysql --password {REDACTED} db"),
    ("mysql --password=hunter2 db", f"mysql --password={REDACTED} db"),
    ("tool --passwd hunter2", f"tool --passwd {REDACTED}"),
    ("tool --passwd=hunter2", f"tool --passwd={REDACTED}"),
    ("['mysql', '--password', 'hunter2']", f"['mysql', '--password', '{REDACTED}']"),
    ("['mysql', '--password=hunter2']", f"['mysql', '--password={REDACTED}']"),
    ('["tool", "--passwd", "hunter2"]', f'["tool", "--passwd", "{REDACTED}"]'),
    ("['tool', '--passwd=hunter2']", f"['tool', '--passwd={REDACTED}']"),
]


@pytest.mark.parametrize(("text", "expected"), GENERIC_FLAGS)
def test_generic_password_flags_in_shell_and_list_forms(text: str, expected: str) -> None:
    assert redact(text) == expected


# Look-alikes: each must come out as it went in.
KEPT = [
    # ports and other commands' -p / -P / -a
    "ssh -p 2222 host",
    "scp -P 22 f.txt host:/tmp",
    "redis-cli -h host -p 6379",
    "redis-cli -h host -p 6379 ping",
    "mysql -P 3306 -h db",
    "grep -p pattern file",
    "tar -a -cf x.tgz dir",
    "ls -a /tmp",
    "['ssh', '-p', '2222', 'host']",
    "['redis-cli', '-h', 'host', '-p', '6379']",
    "['mysql', '-P', '3306', '-p', 'mydb']",  # "-p" alone prompts: "mydb" is the database
    "['grep', '-p', 'pattern']",
    "['ls', '-a', 'x']",
    # sshpass: the command's own -p after it, a password file or the environment
    "sshpass -e ssh -p 2222 host",
    "sshpass -f /run/pw ssh -p 2222 host",
    "['sshpass', '-e', 'ssh', '-p', '2222', 'host']",
    "['sshpass', '-f', '/run/pw', 'ssh', '-p', '22', 'h']",
    # a password named, not given
    'sshpass -p "$SSHPASS" ssh h',
    "sshpass -p ${SSH_PW} ssh h",
    "redis-cli -a $REDIS_PASSWORD ping",
    "redis-cli --askpass -h cache",
    "['redis-cli', '-a', password]",  # a variable, not a literal
    "sshpass -p",
    "['sshpass', '-p']",
    # curl without a colon, and a list that is no command
    "['curl', '-u', 'bob', 'https://x']",
    "['curl', '-u', '$USER:$PASS', 'https://x']",
    "['docker', 'run', '-u', '1000:1000', 'image']",
    "['mkdir', '-p', '/tmp/x']",
    "['options', '-p', 'x', '-a', 'y']",
    "['curl-config', '-u', 'a:b']",
    # prose
    "install sshpass and redis-cli first",
    "use redis-cli -a to authenticate",
]


@pytest.mark.parametrize("text", KEPT)
def test_look_alikes_are_kept(text: str) -> None:
    assert redact(text) == text


# Each new trigger, repeated (and with what would make its value or list run long).
HOSTILE = [
    "sshpass -p ",
    "sshpass -",
    "sshpass -v",
    "redis-cli -a ",
    "redis-cli --pass '",
    "['curl', ",
    "['curl', '-u', '",
    "['sshpass', '-p', ",
    "'redis-cli', '-a', ",
    "[('mysql', '-p",
    "['/a/b/c",
]


@pytest.mark.timeout(300)  # a safety net only: each 64 KB line takes milliseconds
@pytest.mark.parametrize("unit", HOSTILE)
def test_a_repeated_trigger_costs_what_its_length_does(unit: str) -> None:
    assert_linear_and_stable(redact, unit)  # CPU-time ratios, not a time (linear_cost.py)
