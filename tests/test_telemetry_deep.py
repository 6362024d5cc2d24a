"""Deep, self-referencing and very wide telemetry payloads.

Before the fix, a payload nested about 1,000 levels deep lost its whole event: the writer's
walks (redacting, cutting) and json recurse a frame or two a level, and the ``RecursionError``
was caught and logged as ``cannot write telemetry``. So did a payload that contains itself
(json's "circular reference" sent it down the walk, which never ended). Now a container
nested deeper than ``telemetry.MAX_DEPTH`` is written as ``<cut: nested deeper than 100>``
and one that comes back round as ``<cut: holds itself (dict)>``: the rest of the event is
kept. Very wide payloads, tuples, sets and host objects are checked to be written as before.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from telemetry_events import write_one_event

from foundups_training import telemetry

DEEP = "<cut: nested deeper than 100>"
BIG = "x" * 40_000  # a string that makes the payload too big for one event


def _nested(levels: int, leaf: Any = "leaf") -> dict[str, Any]:
    """``{"a": {"a": … leaf}}``: ``levels`` dicts, the outermost included."""
    value: Any = leaf
    for _ in range(levels):
        value = {"a": value}
    return value


def _nested_lists(levels: int) -> list[Any]:
    value: Any = "leaf"
    for _ in range(levels):
        value = [value]
    return value


def _depth_and_bottom(value: Any) -> tuple[int, Any]:
    """How many containers are nested along the first item of each, and what is below."""
    depth = 0
    while isinstance(value, dict | list):
        depth += 1
        value = value["a"] if isinstance(value, dict) else value[0]
    return depth, value


# -- deep payloads ----------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [150, 600, 1_500, 50_000])
def test_a_deep_payload_is_written_cut_at_the_limit(tmp_path: Path, levels: int) -> None:
    """The payload is level 1, so its value ``d`` keeps 99 levels and then the marker."""
    _, event = write_one_event(tmp_path, {"d": _nested(levels), "tier": "memory"})
    payload = event["payload"]
    assert payload["tier"] == "memory"
    assert _depth_and_bottom(payload["d"]) == (telemetry.MAX_DEPTH - 1, DEEP)


def test_deep_lists_are_cut_as_deep_dicts_are(tmp_path: Path) -> None:
    _, event = write_one_event(tmp_path, {"d": _nested_lists(5_000), "n": 3})
    assert event["payload"]["n"] == 3
    assert _depth_and_bottom(event["payload"]["d"]) == (telemetry.MAX_DEPTH - 1, DEEP)


def test_deep_tuples_are_cut_and_written_as_lists(tmp_path: Path) -> None:
    value: Any = "leaf"
    for _ in range(3_000):
        value = (value, 1)
    _, event = write_one_event(tmp_path, {"t": value})
    assert _depth_and_bottom(event["payload"]["t"]) == (telemetry.MAX_DEPTH - 1, DEEP)


def test_a_payload_as_deep_as_the_limit_is_written_whole(tmp_path: Path) -> None:
    payload = {"d": _nested(telemetry.MAX_DEPTH - 1)}
    _, event = write_one_event(tmp_path, payload)
    assert event["payload"] == payload


def test_a_deep_payload_too_big_for_one_event_is_cut_both_ways(tmp_path: Path) -> None:
    _, event = write_one_event(tmp_path, {"d": _nested(2_000), "big": BIG})
    payload = event["payload"]
    assert _depth_and_bottom(payload["d"]) == (telemetry.MAX_DEPTH - 1, DEEP)
    assert payload["big"] == "x" * 2000 + "…" and payload["cut"] > len(BIG)


def test_a_deep_part_no_event_holds_keeps_the_event(tmp_path: Path) -> None:
    rows = {f"k{i}": "v" for i in range(5000)}
    _, event = write_one_event(tmp_path, {"rows": rows, "d": _nested(3_000)})
    assert set(event["payload"]) == {"cut"}


def test_a_secret_below_the_limit_is_still_redacted(tmp_path: Path) -> None:
    payload = {"d": _nested(2_000, "password=hunter2"), "e": _nested(50, "password=hunter3")}
    data, _ = write_one_event(tmp_path, payload)
    assert b"hunter2" not in data and b"hunter3" not in data


def test_a_deep_payload_sent_from_deep_in_the_host_s_stack_is_written(tmp_path: Path) -> None:
    """The writer runs in the sender's thread: a host already hundreds of frames deep still
    gets its event (the limit leaves it most of Python's 1,000 frames)."""
    folder = tmp_path / "telemetry"
    writer = telemetry.TelemetryWriter(folder)
    limit = sys.getrecursionlimit()
    margin = 450  # frames left to the writer below the recursion limit

    def send(frames: int) -> None:
        if frames > 0:
            send(frames - 1)
            return
        writer.write("training.route", "started", {"d": _nested(5_000)})

    def host() -> None:
        # a fresh thread: the stack starts nearly empty, as a host's worker thread does
        send(limit - margin)

    thread = threading.Thread(target=host)
    thread.start()
    thread.join()
    assert (writer.written, writer.errors) == (1, 0)


# -- payloads that contain themselves ---------------------------------------------------------


def test_a_dict_that_contains_itself_is_written_with_the_cycle_cut(tmp_path: Path) -> None:
    inner: dict[str, Any] = {"k": 1}
    inner["self"] = inner
    _, event = write_one_event(tmp_path, {"d": inner, "tier": "memory"})
    assert event["payload"] == {
        "d": {"k": 1, "self": "<cut: holds itself (dict)>"},
        "tier": "memory",
    }


def test_a_payload_that_contains_itself_is_written(tmp_path: Path) -> None:
    payload: dict[str, Any] = {"n": 1}
    payload["me"] = payload
    _, event = write_one_event(tmp_path, payload)
    assert event["payload"] == {"n": 1, "me": "<cut: holds itself (dict)>"}


def test_a_cycle_through_lists_and_dicts_is_cut_where_it_comes_back(tmp_path: Path) -> None:
    a: list[Any] = [1]
    b: dict[str, Any] = {"a": a}
    a.append(b)
    _, event = write_one_event(tmp_path, {"a": a, "big": BIG})
    assert event["payload"]["a"] == [1, {"a": "<cut: holds itself (list)>"}]
    assert event["payload"]["cut"] > len(BIG)


def test_the_same_part_twice_is_no_cycle(tmp_path: Path) -> None:
    """A part referred to twice, not inside itself, is written twice as json writes it."""
    shared = {"x": [1, 2]}
    payload = {"a": shared, "b": [shared, shared]}
    _, event = write_one_event(tmp_path, payload)
    assert event["payload"] == payload


# -- encode_event given what the writer never made safe -------------------------------------


def test_encode_event_cuts_a_deep_or_self_containing_payload() -> None:
    loop: list[Any] = []
    loop.append(loop)
    payload = {"d": _nested(3_000), "loop": loop}
    line = telemetry.encode_event(telemetry.make_event("training.route", "started", payload))
    assert DEEP.encode() in line and b"<cut: holds itself (list)>" in line


# -- wide payloads and other types (written as before: no fix needed) -------------------------


def test_a_million_item_list_is_written_cut(tmp_path: Path) -> None:
    """No size cap before the walk: it is linear (what no event holds is sized by json in
    one go), and the event keeps the first items and the line's size."""
    _, event = write_one_event(tmp_path, {"l": list(range(1_000_000))})
    payload = event["payload"]
    assert payload["l"][:3] == [0, 1, 2] and payload["cut"] > 6_000_000


def test_tuples_sets_and_host_objects_are_written_as_before(tmp_path: Path) -> None:
    class Host:
        def __init__(self) -> None:
            self.token = "password=hunter2"

        def __str__(self) -> str:
            return f"Host(password=hunter2, {self.token})"

    payload = {"t": (1, "a"), "s": {3}, "f": frozenset(), "o": Host()}
    data, event = write_one_event(tmp_path, payload)
    assert b"hunter2" not in data
    assert event["payload"]["t"] == [1, "a"]
    assert event["payload"]["s"] == "{3}" and event["payload"]["f"] == "frozenset()"
    assert event["payload"]["o"].startswith("Host(")


def test_a_cycle_in_a_part_no_event_holds_keeps_the_event(tmp_path: Path) -> None:
    """A part no event holds is only sized (by json, which refuses a part inside itself)."""
    loop: dict[str, Any] = {}
    loop["again"] = [loop]
    rows = {f"k{i}": "v" for i in range(5000)}
    _, event = write_one_event(tmp_path, {"rows": rows, "loop": loop, "deep": _nested(3_000)})
    assert set(event["payload"]) == {"cut"}


def test_a_cycle_in_the_tail_of_a_long_list_keeps_the_event(tmp_path: Path) -> None:
    """A long list's items past what any event holds are sized in one go, cycles included."""
    rows: list[Any] = ["y" * 300] * 3_000
    rows.append(rows)
    rows.append(_nested(3_000))
    _, event = write_one_event(tmp_path, {"rows": rows})
    assert event["payload"]["rows"][:2] == ["y" * 20 + "…"] * 2


def test_a_deep_tuple_as_a_key_is_written_as_its_type(tmp_path: Path) -> None:
    key: Any = ()
    for _ in range(100_000):
        key = (key,)
    _, event = write_one_event(tmp_path, {key: 1, "tier": "memory"})
    assert event["payload"] == {"<unprintable tuple>": 1, "tier": "memory"}


def test_a_payload_with_nothing_to_cut_is_not_copied() -> None:
    """Ordinary and wide payloads go on as they were: the depth check hands back the payload
    itself (a million numbers are passed over whole)."""
    shared = [1, 2]
    for payload in (
        {"query": "q", "hits": [{"id": "a", "score": 0.5}], "t": (1, shared, shared)},
        {"l": list(range(1_000_000))},
        _nested(telemetry.MAX_DEPTH),
    ):
        assert telemetry._bounded(payload) is payload
