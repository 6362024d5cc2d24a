"""Review of session 22's changes: inputs its own tests did not try."""

from __future__ import annotations

import pytest
from linear_cost import assert_linear_cost

from foundups_training.mining.redact import REDACTED, redact

# A command logged as a list inside a string that was escaped once more: a JSON log line
# whose message holds json.dumps(args), or the repr of a string holding a list's repr.
# The shell form in such a line lost its password already; the list form kept it.
ESCAPED_LISTS = [
    (r'{"cmd": "[\"redis-cli\", \"-a\", \"hunter2\"]"}', "hunter2"),
    (r'{"cmd": "[\"sshpass\", \"-p\", \"hunter2\", \"ssh\", \"-p\", \"2222\"]"}', "hunter2"),
    (r'{"cmd": "[\"curl\", \"-u\", \"bob:hunter2\", \"http://x\"]"}', "hunter2"),
    (r'{"cmd": "[\"mysql\", \"-phunter2\", \"db\"]"}', "hunter2"),
    (r"{'cmd': '[\'redis-cli\', \'-a\', \'hunter2\']'}", "hunter2"),
    (r'"[\"redis-cli\", \"-h\", \"h\", \"--pass\", \"hun\\\\ter2\"]"', "hun\\\\ter2"),
    # a Windows folder, as a list's repr writes it (its .exe was already allowed)
    (r"['C:\\redis\\redis-cli.exe', '-a', 'hunter2']", "hunter2"),
    (r'{"cmd": "[\"C:\\\\redis\\\\redis-cli.exe\", \"-a\", \"hunter2\"]"}', "hunter2"),
]


@pytest.mark.parametrize(("text", "secret"), ESCAPED_LISTS)
def test_a_list_in_an_escaped_string_loses_its_password(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out
    assert REDACTED in out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            r'"[\"sshpass\", \"-p\", \"hunter2\", \"ssh\", \"-p\", \"2222\"]"',
            r'"[\"sshpass\", \"-p\", \"[REDACTED]\", \"ssh\", \"-p\", \"2222\"]"',
        ),
        (
            r'"[\"redis-cli\", \"-a\", \"hunter2\", \"-p\", \"6379\"]"',
            r'"[\"redis-cli\", \"-a\", \"[REDACTED]\", \"-p\", \"6379\"]"',
        ),
        # a usage's name for it and a variable stay, as in the plain list form
        (
            r'"[\"redis-cli\", \"-a\", \"PASSWORD\"]"',
            r'"[\"redis-cli\", \"-a\", \"PASSWORD\"]"',
        ),
    ],
)
def test_only_the_escaped_lists_password_is_replaced(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.timeout(300)  # a safety net only: each 64 KB line takes milliseconds
@pytest.mark.parametrize(
    "unit",
    [
        r"[\"redis-cli\", \"-a\", \"",
        r"[\'sshpass\', \'-p\', \'x\\",
        r"(\"curl\", \"-u\", \"a\\\\",
        r"['C:\\a\\b\\",
        r"[\"C:\\\\a\\\\",
    ],
)
def test_an_escaped_list_costs_what_its_length_does(unit: str) -> None:
    """Ten lines of 6.4 KB against one of 64 KB (a ratio of CPU times, not a time)."""
    assert_linear_cost(redact, unit)
