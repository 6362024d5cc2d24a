"""A command logged as a list whose items are code: a string joined to more strings is one
password (``'-p' + 'pw'``, ``'-p' 'pw'``), and an item that is code is read over at any
depth of brackets (before, four brackets deep ended the list's scan, and ``'-p' + pw`` or
``':' + port`` ended it too, so a password after them was kept)."""

from __future__ import annotations

import pytest
from linear_cost import assert_linear_and_stable

from foundups_training.mining.redact import REDACTED, redact

# (line, what it becomes)
EXACT = [
    # joined strings are one item: the password is the part after the flag
    (
        "run(['mysql', '-u', 'root', '-p' + 'hunter2', 'db'])",
        f"run(['mysql', '-u', 'root', '-p' + '{REDACTED}', 'db'])",
    ),
    (
        "run(['mysql', '-u', 'root', '-p' 'hun' 'ter2', 'db'])",
        f"run(['mysql', '-u', 'root', '-p' '{REDACTED}' '', 'db'])",
    ),
    ("['sshpass', '-p' + 'pw9x', 'ssh']", f"['sshpass', '-p' + '{REDACTED}', 'ssh']"),
    ("['sshpass', '-p', 'pw' + '9x', 'ssh']", f"['sshpass', '-p', '{REDACTED}' + '', 'ssh']"),
    ("['mysql', '-ph' + 'unter2']", f"['mysql', '-p{REDACTED}' + '']"),
    ('["redis-cli", "-a", "pw" + "9x"]', f'["redis-cli", "-a", "{REDACTED}" + ""]'),
    # code after a string is read over: the items after it are still read
    (
        "run(['redis-cli', '-h', ':' + port, '-a', 'pw9x'])",
        f"run(['redis-cli', '-h', ':' + port, '-a', '{REDACTED}'])",
    ),
    (
        "run(['mysql', '-p' + pw, '-u', 'root', '-phunter2'])",
        f"run(['mysql', '-p' + pw, '-u', 'root', '-p{REDACTED}'])",
    ),
    (
        "run(['redis-cli', '-a', 'pw9x'.strip(), 'ping'])",
        f"run(['redis-cli', '-a', '{REDACTED}'.strip(), 'ping'])",
    ),
    # code at any depth of brackets
    (
        "run(['redis-cli', f(g(h(i(1)))), '-a', 'pw9x'])",
        f"run(['redis-cli', f(g(h(i(1)))), '-a', '{REDACTED}'])",
    ),
    (
        "run(['redis-cli', a[b[c[d[e[f[0]]]]]], '-a', 'pw9x'])",
        f"run(['redis-cli', a[b[c[d[e[f[0]]]]]], '-a', '{REDACTED}'])",
    ),
    (
        "run(('redis-cli', {'a': [({'b': (1, ')')},)]}, '-a', 'pw9x'))",
        f"run(('redis-cli', {{'a': [({{'b': (1, ')')}},)]}}, '-a', '{REDACTED}'))",
    ),
]


@pytest.mark.parametrize(("text", "expected"), EXACT)
def test_the_password_among_code_items_is_replaced(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact(expected) == expected


# Look-alikes: each must come out as it went in.
KEPT = [
    "run(['mysql', '-u', 'root', '-p' + pw, 'db'])",  # the password is a name, not a literal
    "['sshpass', '-p' + get_pw(), 'ssh']",
    "['redis-cli', '-h', ':' + port, '-p', '6379']",
    "['mysql', '-p' + '', 'db']",
    "['redis-cli', f(g(h(i(1)))), '-p', '6379']",
    # a bracket that never closes, or closes with another: the scan ends there
    "['redis-cli', f(g(h(i(1, '-a', 'x']",
    "['redis-cli', f(g]), '-a', 'x']",
]


@pytest.mark.parametrize("text", KEPT)
def test_code_without_a_literal_password_is_kept(text: str) -> None:
    assert redact(text) == text


HOSTILE = [
    "['redis-cli', f(",
    "['redis-cli', 'a' + ",
    "['redis-cli', 'a' 'b' ",
    "['redis-cli', x[(",
    "['mysql', '-p' + 'x', ",
]


@pytest.mark.timeout(300)  # a safety net only: each 64 KB line takes milliseconds
@pytest.mark.parametrize("unit", HOSTILE)
def test_a_repeated_trigger_costs_what_its_length_does(unit: str) -> None:
    assert_linear_and_stable(redact, unit)  # CPU-time ratios, not a time (linear_cost.py)
