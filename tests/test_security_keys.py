"""Secrets in mapping keys: the telemetry writer redacted every string value of a payload
but no dict key, so ``{"headers": {"Bearer sk-live-…": 1}}`` or ``{"password=hunter2": True}``
wrote the secret to the telemetry file on disk. Each case here got through before its fix.

Keys are redacted as values are, within the same caps (a payload too big for one event has
only what an event can hold redacted, and keys count toward the same budget); two keys that
redact to the same text both keep their value, the later one under ``"<text> (2)"``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from telemetry_events import write_one_event

from foundups_training import telemetry
from foundups_training.mining.redact import REDACTED

BEARER = "Bearer sk-live-4eC39HqLyjWDarjtT1zdp7dc"
HF = "hf_aBcDeFgHiJkLmNoPqRsTuVwXyZ01234567"
PASSWORD = "password=hunter2"
KEY = "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW"

# (key holding a secret, what it is written as, what must not be on disk)
SECRET_KEYS = [
    (BEARER, f"Bearer {REDACTED}", "4eC39HqLyjWDarjtT1zdp7dc"),
    (HF, REDACTED, HF),
    (PASSWORD, f"password={REDACTED}", "hunter2"),
]
IDS = ["bearer", "hugging face", "password pair"]


# -- payloads that fit in one event -------------------------------------------------------


@pytest.mark.parametrize(("key", "written", "secret"), SECRET_KEYS, ids=IDS)
def test_a_secret_in_a_top_level_key_is_not_written(
    tmp_path: Path, key: str, written: str, secret: str
) -> None:
    data, event = write_one_event(tmp_path, {key: "x", "tier": "memory"})
    assert secret.encode() not in data
    assert event["payload"] == {written: "x", "tier": "memory"}


@pytest.mark.parametrize(("key", "written", "secret"), SECRET_KEYS, ids=IDS)
def test_a_secret_in_a_key_of_a_dict_in_a_list_in_a_dict_is_not_written(
    tmp_path: Path, key: str, written: str, secret: str
) -> None:
    data, event = write_one_event(tmp_path, {"requests": [{"headers": {key: 1}}, {"ok": True}]})
    assert secret.encode() not in data
    assert event["payload"] == {"requests": [{"headers": {written: 1}}, {"ok": True}]}


def test_ordinary_keys_are_written_unchanged(tmp_path: Path) -> None:
    payload = {"command": "training.route", "latency_ms": 12.5, "n_patterns": 3}
    _, event = write_one_event(
        tmp_path, {**payload, "nested": [{"api_key": None, "token_count": 7}]}
    )
    assert event["payload"] == {**payload, "nested": [{"api_key": None, "token_count": 7}]}


def test_keys_that_redact_to_the_same_text_keep_every_value(tmp_path: Path) -> None:
    """The later key gets the first free ``" (n)"`` suffix, never one a key already has."""
    payload = {
        "password=hunter2": 1,
        f"password={REDACTED} (2)": 2,  # already holds the first suffix
        "password=swordfish": 3,
        "password=letmein": 4,
    }
    data, event = write_one_event(tmp_path, payload)
    assert b"hunter2" not in data and b"swordfish" not in data and b"letmein" not in data
    assert event["payload"] == {
        f"password={REDACTED}": 1,
        f"password={REDACTED} (2)": 2,
        f"password={REDACTED} (3)": 3,
        f"password={REDACTED} (4)": 4,
    }


def test_non_string_keys_are_written_as_json_writes_them(tmp_path: Path) -> None:
    """``json.dumps`` turns ``1``, ``None``, ``2.5`` and ``False`` keys into ``"1"``,
    ``"null"``, ``"2.5"`` and ``"false"``; an int key and its string no longer overwrite
    each other when read back."""
    _, event = write_one_event(tmp_path, {1: "a", "1": "b", None: "c", 2.5: "d", False: "e"})
    assert event["payload"] == {"1": "a", "1 (2)": "b", "null": "c", "2.5": "d", "false": "e"}


def test_a_key_json_cannot_write_is_written_as_its_text_redacted(tmp_path: Path) -> None:
    """A tuple key made ``json.dumps`` raise, so the whole event was lost; it is written as
    ``str(key)``, as a value of any type is (``default=str``), redacted."""
    data, event = write_one_event(tmp_path, {(PASSWORD, 1): "x", "tier": "memory"})
    assert b"hunter2" not in data
    assert event["payload"] == {f"('password={REDACTED}', 1)": "x", "tier": "memory"}


# -- payloads too big for one event --------------------------------------------------------


@pytest.mark.parametrize(("key", "written", "secret"), SECRET_KEYS, ids=IDS)
def test_a_secret_in_a_key_of_a_big_payload_is_not_written(
    tmp_path: Path, key: str, written: str, secret: str
) -> None:
    payload = {key: 1, "big": "x" * 40_000, "rows": [{"headers": {key: 2, 3: "n"}}]}
    data, event = write_one_event(tmp_path, payload)
    assert secret.encode() not in data
    assert event["payload"][written] == 1
    assert event["payload"]["rows"] == [{"headers": {written: 2, "3": "n"}}]
    assert event["payload"]["big"] == "x" * 2000 + "…"


def test_keys_that_a_cut_makes_equal_keep_every_value(tmp_path: Path) -> None:
    """A cut form cuts keys to 2,000 characters: two long keys that differ only later
    became one, and one value was lost."""
    payload = {"a" * 2100 + "1": 1, "a" * 2100 + "2": 2, "big": "x" * 40_000}
    _, event = write_one_event(tmp_path, payload)
    assert event["payload"]["a" * 2000] == 1
    assert event["payload"]["a" * 2000 + " (2)"] == 2


def test_thousands_of_secret_keys_are_redacted_only_until_no_event_can_hold_them(
    tmp_path: Path, redacted_lengths: list[int]
) -> None:
    rows = {f"password=hunter{i}": i for i in range(100_000)}
    data, event = write_one_event(tmp_path, {"rows": rows})
    assert len(redacted_lengths) < 5_000  # a dict item takes at least 7 bytes of 16 KiB
    assert b"hunter" not in data and set(event["payload"]) == {"cut"}


def test_a_huge_key_is_redacted_only_as_far_as_an_event_can_hold(
    tmp_path: Path, redacted_lengths: list[int]
) -> None:
    """1 MB of ``key=`` took about 20 s to redact as a value, before the caps: as a key too."""
    huge = f"key={KEY} " + "key=" * 250_000 + f" tail password=hunter2hunter2 {KEY}"
    data, event = write_one_event(tmp_path, {huge: 1, "tier": "memory"})
    assert max(redacted_lengths) <= telemetry.MAX_EVENT_BYTES + 512 < len(huge)
    assert KEY.encode() not in data and b"hunter2" not in data
    assert event["payload"]["tier"] == "memory" and event["payload"]["cut"] > len(huge)


def test_keys_that_redaction_shrinks_stop_at_the_budget(
    tmp_path: Path, redacted_lengths: list[int]
) -> None:
    """A private key as a key becomes ten characters: the overall budget bounds the work,
    counted over keys and values together; what is past it is written as ``[REDACTED]``."""
    pem = "-----BEGIN PRIVATE KEY-----" + "A" * 16_000
    data, _ = write_one_event(tmp_path, {"keys": {f"{pem}{i:03d}": i for i in range(100)}})
    assert sum(redacted_lengths) <= 4 * (telemetry.MAX_EVENT_BYTES + 512)
    assert b"AAAAAAAAAA" not in data and b"PRIVATE KEY" not in data


def test_a_key_json_cannot_write_in_a_part_no_event_holds_keeps_the_event(
    tmp_path: Path,
) -> None:
    """Sizing a part no event holds encoded it with ``json.dumps``, which raised on a tuple
    key: the event was lost."""
    payload = {"rows": {f"k{i}": "v" for i in range(5000)}, "odd": {(PASSWORD, 1): "x"}}
    data, event = write_one_event(tmp_path, payload)
    assert b"hunter2" not in data and set(event["payload"]) == {"cut"}


def test_ordinary_keys_after_a_spent_budget_keep_their_names(tmp_path: Path) -> None:
    """Values that use up the redaction budget left every later key of more than ten
    characters written as ``[REDACTED]`` and spaces: a payload's field names were lost."""
    token = ("Bearer " + "A1b2" * 4300)[:16_896]
    payload: dict[str, Any] = {f"v{i}": token for i in range(4)}
    payload |= {"duration_ms": 12.5, "question_text": "which module?", "n_patterns_kept": 3}
    data, event = write_one_event(tmp_path, payload)
    assert b"A1b2A1b2" not in data
    kept = {k: v for k, v in event["payload"].items() if not k.startswith("v")}
    assert kept == {"duration_ms": 12.5, "question_text": "which module?", "n_patterns_kept": 3}


def test_a_short_secret_key_after_a_spent_budget_is_still_redacted(tmp_path: Path) -> None:
    token = ("Bearer " + "A1b2" * 4300)[:16_896]
    payload: dict[str, Any] = {f"v{i}": token for i in range(4)}
    payload[HF] = 1
    data, event = write_one_event(tmp_path, payload)
    assert HF.encode() not in data and event["payload"][REDACTED] == 1
