"""Payloads that made the telemetry writer lose an event, or change what it said.

The writer must never lose an event nor raise into the sender. Before these fixes:

- a payload with its own key ``"cut"`` that was too big for one event had that value
  overwritten by the size the writer adds under ``"cut"``;
- a key or a value whose ``str()`` raises lost the whole event (``json.dumps`` writes a value
  it does not know through ``str``, and a key was turned into ``str(key)``);
- an int of more than 4,300 digits (what Python lets ``str`` and ``json`` write) lost the
  whole event, as a value or as a key.

Each is checked in a payload that fits in one event, in one too big for it (whose strings
are cut), and in a part of a payload that no event holds (written only as its size).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from telemetry_events import write_one_event

from foundups_training import telemetry
from foundups_training.mining.redact import redact

#: More digits than ``str`` writes (Python 3.11 stops at 4,300 by default).
HUGE = 10**5000
HUGE_TEXT = "<int of 5,001 digits>"
BIG = "x" * 40_000  # a string that makes the payload too big for one event


class Unprintable:
    """An object whose ``str()`` raises, as some hosts' objects do."""

    def __init__(self, error: type[Exception] = RuntimeError) -> None:
        self.error = error

    def __str__(self) -> str:
        raise self.error("no text")


ERRORS = [RuntimeError, TypeError, ValueError]
UNPRINTABLE = "<unprintable Unprintable>"


def _thousands_of_keys() -> dict[str, str]:
    """A part no event holds: the event keeps only the size."""
    return {f"k{i}": "v" for i in range(5000)}


# -- a payload's own "cut" ------------------------------------------------------------------


def test_a_payload_s_own_cut_is_kept_when_the_event_is_cut(tmp_path: Path) -> None:
    _, event = write_one_event(tmp_path, {"cut": "3 files", "big": BIG})
    payload = event["payload"]
    assert payload["cut (2)"] == "3 files"
    assert payload["cut"] > len(BIG)  # still the size of the whole line
    assert payload["big"] == "x" * 2000 + "…"


def test_a_payload_s_own_cut_takes_the_first_free_name(tmp_path: Path) -> None:
    _, event = write_one_event(tmp_path, {"cut": 1, "cut (2)": 2, "big": BIG})
    payload = event["payload"]
    assert (payload["cut (3)"], payload["cut (2)"]) == (1, 2)
    assert payload["cut"] > len(BIG)


def test_a_payload_s_own_cut_is_kept_in_the_shortest_cut_too(tmp_path: Path) -> None:
    """Strings cut to 20 characters: the form the writer tries last before the size alone."""
    payload = {"cut": "mine", "rows": ["y" * 300] * 150}
    _, event = write_one_event(tmp_path, payload)
    assert event["payload"]["rows"] == ["y" * 20 + "…"] * 20
    assert event["payload"]["cut (2)"] == "mine" and event["payload"]["cut"] > 45_000


def test_a_payload_that_keeps_only_its_size_has_the_size_under_cut(tmp_path: Path) -> None:
    """The last fallback drops every key of the payload, its own ``cut`` with them: ``cut``
    is the size of the line, never the payload's value."""
    _, event = write_one_event(tmp_path, {"cut": "mine", "rows": _thousands_of_keys()})
    assert set(event["payload"]) == {"cut"}
    assert event["payload"]["cut"] > telemetry.MAX_EVENT_BYTES


def test_a_payload_that_fits_keeps_its_own_cut_unchanged(tmp_path: Path) -> None:
    _, event = write_one_event(tmp_path, {"cut": 3, "tier": "memory"})
    assert event["payload"] == {"cut": 3, "tier": "memory"}


# -- keys and values whose str() raises -------------------------------------------------------


@pytest.mark.parametrize("error", ERRORS)
def test_an_unprintable_key_is_written_by_its_type(tmp_path: Path, error: type[Exception]) -> None:
    _, event = write_one_event(tmp_path, {Unprintable(error): 1, "tier": "memory"})
    assert event["payload"] == {UNPRINTABLE: 1, "tier": "memory"}


@pytest.mark.parametrize("error", ERRORS)
def test_an_unprintable_value_is_written_by_its_type(
    tmp_path: Path, error: type[Exception]
) -> None:
    _, event = write_one_event(tmp_path, {"host": Unprintable(error), "tier": "memory"})
    assert event["payload"] == {"host": UNPRINTABLE, "tier": "memory"}


def test_two_unprintable_keys_keep_both_values(tmp_path: Path) -> None:
    _, event = write_one_event(tmp_path, {Unprintable(): 1, Unprintable(): 2})
    assert event["payload"] == {UNPRINTABLE: 1, f"{UNPRINTABLE} (2)": 2}


@pytest.mark.parametrize("error", ERRORS)
def test_unprintable_keys_and_values_in_a_big_payload_are_written(
    tmp_path: Path, error: type[Exception]
) -> None:
    payload = {Unprintable(error): 1, "rows": [{"v": Unprintable(error)}], "big": BIG}
    _, event = write_one_event(tmp_path, payload)
    assert event["payload"][UNPRINTABLE] == 1
    assert event["payload"]["rows"] == [{"v": UNPRINTABLE}]
    assert event["payload"]["cut"] > len(BIG)


@pytest.mark.parametrize("error", ERRORS)
def test_unprintable_values_in_a_part_no_event_holds_keep_the_event(
    tmp_path: Path, error: type[Exception]
) -> None:
    """Sized with ``json.dumps(default=str)``: an error from ``str`` other than a
    ``TypeError`` (which was caught) lost the event."""
    payload = {"rows": _thousands_of_keys(), "odd": {"k": Unprintable(error)}}
    _, event = write_one_event(tmp_path, payload)
    assert set(event["payload"]) == {"cut"}


def test_the_text_of_a_value_json_writes_through_str_is_redacted(tmp_path: Path) -> None:
    """A value json does not know is written as its ``str()``: that text is redacted as any
    string of the payload is (it was written as it was)."""
    data, event = write_one_event(tmp_path, {"file": PurePosixPath("/srv/password=hunter2")})
    assert b"hunter2" not in data
    assert event["payload"] == {"file": redact("/srv/password=hunter2")}


# -- ints too long for str() ------------------------------------------------------------------


def test_a_huge_int_value_is_written_as_its_number_of_digits(tmp_path: Path) -> None:
    _, event = write_one_event(tmp_path, {"n": HUGE, "m": -HUGE, "small": 12, "tier": "memory"})
    assert event["payload"] == {
        "n": HUGE_TEXT,
        "m": "<negative int of 5,001 digits>",
        "small": 12,
        "tier": "memory",
    }


def test_a_huge_int_key_is_written_as_its_number_of_digits(tmp_path: Path) -> None:
    _, event = write_one_event(tmp_path, {HUGE: 1, HUGE + 1: 2, 7: 3})
    assert event["payload"] == {HUGE_TEXT: 1, f"{HUGE_TEXT} (2)": 2, "7": 3}


def test_huge_ints_in_a_big_payload_are_written(tmp_path: Path) -> None:
    _, event = write_one_event(tmp_path, {HUGE: [HUGE], "big": BIG})
    assert event["payload"][HUGE_TEXT] == [HUGE_TEXT]
    assert event["payload"]["cut"] > len(BIG)


def test_huge_ints_in_a_part_no_event_holds_keep_the_event(tmp_path: Path) -> None:
    _, event = write_one_event(tmp_path, {"rows": _thousands_of_keys(), "odd": {HUGE: HUGE}})
    assert set(event["payload"]) == {"cut"}


@pytest.mark.parametrize(
    ("digits", "text"),
    [(1, None), (4300, None), (4301, "<int of 4,301 digits>"), (20_000, "<int of 20,000 digits>")],
)
def test_the_number_of_digits_is_exact(tmp_path: Path, digits: int, text: str | None) -> None:
    """Around each power of ten, where a count from the number's bits is one off."""
    for i, n in enumerate((10 ** (digits - 1), 10**digits - 1)):
        _, event = write_one_event(tmp_path / str(i), {"n": n})
        assert event["payload"] == {"n": n if text is None else text}


# -- the encoding itself ----------------------------------------------------------------------


@pytest.mark.parametrize("big", [False, True])
def test_an_event_of_any_payload_encodes_without_raising(big: bool) -> None:
    """``encode_event`` (its cuts and its json) given what was never made safe."""
    payload: dict[Any, Any] = {Unprintable(): Unprintable(), None: HUGE, (1, 2): [HUGE]}
    if big:
        payload["big"] = BIG
    line = telemetry.encode_event(telemetry.make_event("training.route", "started", payload))
    assert len(line) <= telemetry.MAX_EVENT_BYTES and line.endswith(b"\n")
    assert UNPRINTABLE.encode() in line and HUGE_TEXT.encode() in line


def test_a_payload_that_fits_is_redacted_whole_whatever_it_holds() -> None:
    """A payload json can size goes to ``_redacted_whole``; its keys and values too."""
    payload = {Unprintable(): [HUGE, Unprintable()], HUGE: PurePosixPath("password=hunter2")}
    assert telemetry._redacted_whole(payload, redact) == {
        UNPRINTABLE: [HUGE_TEXT, UNPRINTABLE],
        HUGE_TEXT: redact("password=hunter2"),
    }
