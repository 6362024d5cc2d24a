"""Two leftovers.

1. A host that crashed while its log was extended leaves its partial last line, a run of
   NULs, and the restarted host's first line glued on. Mining cuts the line there; a
   question naming a moment of the log reads it cut the same way (through the minute index
   and read whole alike), so the new boot's line is read at its own minute.
2. A model whose load failed is tried again after a cool-down that doubles with each
   failure in a row (the cause may not be the file: memory short at that moment, another
   llama-cpp-python); a file that is not a GGUF, or not the pinned model, stays failed until
   it changes.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foundups_training.mining.reader import read_open
from foundups_training.models.base import RETRY_LOAD_MAX_S, RETRY_LOAD_S, ModelError
from foundups_training.routing import moments
from foundups_training.routing.moments import LogMoments, MinuteIndex, Moment, window_lines

from .test_routing_moments import _moment, _piece

# -- 1. a crash's NULs inside a line -------------------------------------------------------
LC = "modules.communication.livechat.src.livechat_core"
BEFORE = f"2025-10-20 14:59:59,000 - {LC} - INFO - before the crash"
OLD_BOOT = f"2025-10-20 15:00:00,000 - {LC} - INFO - Polling chat (interval 5.0s, 3 new mess"
NEW_BOOT = f"2025-10-20 16:00:00,000 - {LC} - ERROR - Chat connection lost after restart"
RETRY = f"2025-10-20 16:00:01,000 - {LC} - WARNING - Reconnecting in 2s (attempt 1/3)"
BACK = f"2025-10-20 16:00:03,000 - {LC} - INFO - [OK] Reconnected to live chat"
NULS = "\0" * 600
AT_RESTART = Moment("16:00:00", "10-20")
AT_CRASH = Moment("15:00:00", "10-20")
#: A line that starts with more NULs than a timestamp after them may follow (8,172): the
#: reader's bound cuts the timestamp off in UTF-16, and the line has none, read whole or not.
_LEAD = "\0" * 8180 + "2025-10-20 16:00:40,000 - m - ERROR - after many NULs\n"

_BOM = {"utf-8-sig": b"\xef\xbb\xbf", "utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}
#: "utf-16le": UTF-16 LE without a byte order mark (the reader tells it by its NULs)
_ENCODINGS = ["utf-8", "utf-8-sig", "utf-16-le", "utf-16-be", "utf-16le"]


def _codec(encoding: str) -> str:
    return {"utf-8-sig": "utf-8", "utf-16le": "utf-16-le"}.get(encoding, encoding)


def _write(path: Path, text: str, encoding: str) -> None:
    path.write_bytes(_BOM.get(encoding, b"") + text.encode(_codec(encoding)))


def _append(path: Path, text: str, encoding: str) -> None:
    with path.open("ab") as fh:
        fh.write(text.encode(_codec(encoding)))


def _both(path: Path, moment: Moment) -> list[list[str]]:
    """The stretch read whole, once it was checked to be what the minute index reads."""
    whole = list(window_lines(path, moment))
    assert MinuteIndex().window(path, moment) == whole, moment
    return whole


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["LF", "CRLF"])
@pytest.mark.parametrize("encoding", _ENCODINGS)
def test_the_new_boots_line_glued_behind_nuls_is_read_at_its_own_minute(
    tmp_path: Path, encoding: str, newline: str
) -> None:
    """Before, the glued line was one line stamped 15:00: a question at 16:00 missed the
    error the new boot logged first, and one at 15:00 read it."""
    path = tmp_path / "012.txt"
    lines = [BEFORE, f"{OLD_BOOT}{NULS}{NEW_BOOT}", RETRY, BACK]
    _write(path, newline.join(lines) + newline, encoding)
    assert _both(path, AT_RESTART) == [[f"{NULS}{NEW_BOOT}", RETRY, BACK]]
    assert _both(path, AT_CRASH) == [[OLD_BOOT]]


@pytest.mark.parametrize("encoding", _ENCODINGS)
def test_a_line_that_starts_with_nuls_is_read_at_its_timestamps_minute(
    tmp_path: Path, encoding: str
) -> None:
    """A crash at a line's end: the NULs start the new boot's line. Mining's parser drops
    them and reads its timestamp; before, the line was unstamped here and went with the
    line before it (15:00's)."""
    path = tmp_path / "012.txt"
    _write(path, f"{OLD_BOOT}\n{NULS}{NEW_BOOT}\n{RETRY}\n", encoding)
    assert _both(path, AT_RESTART) == [[f"{NULS}{NEW_BOOT}", RETRY]]
    assert _both(path, AT_CRASH) == [[OLD_BOOT]]


@pytest.mark.parametrize("encoding", _ENCODINGS)
def test_a_timestamp_behind_too_many_nuls_is_read_alike_whole_and_through_the_index(
    tmp_path: Path, encoding: str
) -> None:
    """8,180 NULs and a timestamp: in UTF-16 the reader's bound (16 KiB) cuts the timestamp
    off where the index reads the line, so no reading takes it (the line goes with 15:00's):
    the index and a whole read agree."""
    path = tmp_path / "012.txt"
    _write(path, f"{OLD_BOOT}\n{_LEAD}{RETRY}\n", encoding)
    assert _both(path, AT_RESTART) == [[RETRY]]
    assert _both(path, AT_CRASH) == [[OLD_BOOT, _LEAD.removesuffix("\n")]]


def test_a_log_whose_encoding_shows_once_it_grows_is_indexed_again(tmp_path: Path) -> None:
    """UTF-16 LE without a byte order mark is told by its first characters: a log holding
    one empty line is not told from UTF-8 (found by the property below). Before, the index
    made then went on reading the grown log from an odd offset, and missed its lines."""
    path = tmp_path / "012.txt"
    _write(path, "\n", "utf-16le")
    index = MinuteIndex()
    assert index.window(path, AT_RESTART) == [] == list(window_lines(path, AT_RESTART))
    _append(path, f"{RETRY}\n", "utf-16le")
    assert index.window(path, AT_RESTART) == [[RETRY]] == list(window_lines(path, AT_RESTART))


def test_a_question_at_the_restart_is_answered_from_the_new_boots_error(tmp_path: Path) -> None:
    path = tmp_path / "012.txt"
    _write(path, "\n".join([BEFORE, f"{OLD_BOOT}{NULS}{NEW_BOOT}", RETRY, BACK]) + "\n", "utf-8")
    found = LogMoments(path)(
        "At 16:00 on 20 October the chat connection was lost after a restart: what then?"
    )
    errors = [p for p in found if p.kind == "error_fix"]
    assert len(errors) == 1 and "Chat connection lost after restart" in errors[0].context
    assert "[OK] Reconnected" in errors[0].outcome


def test_the_index_grows_past_a_crash_being_written(tmp_path: Path) -> None:
    """The old boot's line, then the NULs and the new boot's line written later: the index
    reads the new bytes and gives what a whole read gives."""
    path = tmp_path / "012.txt"
    index = MinuteIndex()
    _write(path, f"{BEFORE}\n{OLD_BOOT}", "utf-8")
    assert index.window(path, AT_RESTART) == [] == list(window_lines(path, AT_RESTART))
    _append(path, f"{NULS}{NEW_BOOT}\n{RETRY}\n", "utf-8")
    expected = [[f"{NULS}{NEW_BOOT}", RETRY]]
    assert index.window(path, AT_RESTART) == expected == list(window_lines(path, AT_RESTART))
    assert index.window(path, AT_CRASH) == [[OLD_BOOT]] == list(window_lines(path, AT_CRASH))


#: Past the reader's bound (16 KiB) in UTF-16 only: the reader cuts it short and not at its
#: NULs there (and so does the reading here), at its NULs in UTF-8.
_LONG = (
    "2025-10-20 16:00:30,000 - m - INFO - long" + "\0" * 9000 + "2025-10-20 16:01:30,000 - m"
    " - ERROR - after a long run\n"
)
_NULS4 = "\0" * 4  # (not "\0" before a digit: "\02" is one octal escape)
#: a last line being written: the new boot's, glued behind NULs
_PARTIAL_AFTER_NULS = "x" + _NULS4 + "2025-10-20 16:00:0"
#: pieces with a crash's NULs: inside a line, at its start, at its end, alone (the next
#: piece glued on), after a lone CR, one NUL (no run), before a frame's end
_nul_piece = st.one_of(
    _piece,
    st.sampled_from(
        [
            "2025-10-20 15:59:10,000 - m - INFO - partial"
            + _NULS4
            + "2025-10-20 16:01:00,000 - m - ERROR - new boot\n",
            _NULS4 + "2025-10-21 16:02:00,000 - m - INFO - NULs at the line's start\n",
            "2025-10-20 16:02:10,000 - m - INFO - NULs before the newline\0\0\0\r\n",
            "\0\0\0\0",
            "\r\0\0\0",
            "x\0y\n",
            "  at frame" + _NULS4 + "2025-10-20 15:58:30,000 - m - INFO - after a frame\r\n",
        ]
    ),
)


def _mined(path: Path) -> tuple[list[str], bool]:
    """The lines mining's reader gives for ``path`` (cut at NUL runs, a last line being
    written too), the byte order mark off the first; and whether one was cut short."""
    with path.open("rb") as fh:
        raws = list(read_open(fh, to_end=True, nul_breaks=True))
    texts = [raw.text for raw in raws]
    if texts:
        texts[0] = texts[0].removeprefix("\ufeff")
    return texts, any(raw.truncated for raw in raws)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.sampled_from(_ENCODINGS),
    st.lists(_nul_piece, max_size=40),
    st.one_of(st.none(), st.tuples(st.integers(0, 40), st.sampled_from([_LONG, _LEAD]))),
    st.lists(_nul_piece, max_size=20),
    st.sampled_from(["", "2025-10-21 16:0", _PARTIAL_AFTER_NULS]),
    st.lists(_moment, min_size=1, max_size=3),
)
def test_the_index_and_a_whole_read_cut_lines_where_mining_does(
    tmp_path_factory: pytest.TempPathFactory,
    encoding: str,
    first: list[str],
    long: tuple[int, str] | None,
    more: list[str],
    partial: str,
    asked: list[Moment],
) -> None:
    """Whatever NULs the log has, and as it grows and is rotated: the stretch read through
    the index is the one read whole, and both are the stretch of the lines mining's reader
    gives (where it gives them whole: a line past its bound it cuts short)."""
    path = tmp_path_factory.mktemp("nul") / "012.txt"
    index = MinuteIndex()
    if long is not None:
        first.insert(*long)

    def same() -> None:
        mined, short = _mined(path)
        # each with a NUL and a line end, as in test_routing_moments_cr.py: the stretch's
        # reading takes off the line end and one CR before it (the reader took that off)
        ended = [f"{text}\0\n" for text in mined]
        for moment in asked:
            whole = list(window_lines(path, moment))
            assert index.window(path, moment) == whole, moment
            if not short:
                expected = [[line[:-1] for line in day] for day in moments._window(ended, moment)]
                assert whole == expected, moment

    _write(path, "".join(first) + partial, encoding)
    same()
    _append(path, "".join(more) + ("\n" if partial else ""), encoding)
    same()
    _write(path, "".join(reversed(more)) + "".join(first), encoding)
    same()  # rotated: other content under the same name


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(_nul_piece, st.just(_LONG)), max_size=40),
    st.sampled_from(["", _PARTIAL_AFTER_NULS]),
)
def test_a_utf8_logs_nul_runs_are_indexed_as_minings_reader_cuts_them(
    pieces: list[str], partial: str
) -> None:
    """The index reads a UTF-8 log as bytes (for speed) and a UTF-16 one with mining's
    reader: both find the same runs where a crash's NULs cut a line."""
    data = ("".join(pieces) + partial).encode("utf-8")
    for start, minute in [(0, ""), (0, "2025-10-20 15:59")]:
        fast = moments._utf8_runs_from(io.BytesIO(data), start, minute)
        assert fast == moments._read_runs_from(io.BytesIO(data), start, "utf-8", minute)


# -- 2. a failed model load is tried again after a cool-down --------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake_llama(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """``llama_cpp.Llama`` replaced: it counts its loads and fails them while ``fail``."""
    llama_cpp = pytest.importorskip("llama_cpp")
    monkeypatch.setenv("FOUNDUPS_TRAINING_LLAMA_EXTRA_BUFTS", "1")  # llama.cpp not asked
    state: dict[str, Any] = {"loads": 0, "fail": True}

    def load(*args: Any, **kwargs: Any) -> object:
        state["loads"] += 1
        if state["fail"]:
            raise ValueError(f"Failed to load model from file: {kwargs['model_path']}")
        return object()

    monkeypatch.setattr(llama_cpp, "Llama", load)
    return state


def _failure(model: Any) -> str:
    with pytest.raises(ModelError) as err:
        model._ensure()
    return str(err.value)


def test_a_failed_load_is_tried_again_after_a_cool_down_that_doubles(
    tmp_path: Path, fake_llama: dict[str, Any]
) -> None:
    """Before, a failed load was remembered until the file changed: a host whose load
    failed for another cause (memory short at that moment) never loaded the model."""
    from foundups_training.models.llama import LlamaModel

    gguf = tmp_path / "gemma.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 4000)
    clock = _Clock()
    model = LlamaModel(gguf, n_threads=1, clock=clock)
    first = _failure(model)
    assert first.startswith(f"cannot load {gguf}: ") and first.endswith("(retried in 60 s)")
    assert fake_llama["loads"] == 1
    clock.now += RETRY_LOAD_S - 1
    assert _failure(model).endswith("(retried in 1 s)") and fake_llama["loads"] == 1
    clock.now += 1
    assert _failure(model).endswith("(retried in 120 s)") and fake_llama["loads"] == 2
    clock.now += 2 * RETRY_LOAD_S - 1
    _failure(model)
    assert fake_llama["loads"] == 2  # twice as long after the second failure in a row
    clock.now += 1
    _failure(model)
    assert fake_llama["loads"] == 3
    for _ in range(10):  # at most RETRY_LOAD_MAX_S
        clock.now += RETRY_LOAD_MAX_S
        _failure(model)
    assert fake_llama["loads"] == 13
    assert _failure(model).endswith(f"(retried in {RETRY_LOAD_MAX_S:.0f} s)")
    fake_llama["fail"] = False  # the cause passed: loaded at the next try
    clock.now += RETRY_LOAD_MAX_S
    assert model._ensure() is not None and fake_llama["loads"] == 14
    model.close()
    fake_llama["fail"] = True  # a later failure waits the first cool-down again
    assert _failure(model).endswith("(retried in 60 s)") and fake_llama["loads"] == 15


def test_a_changed_file_is_tried_at_once_and_its_cool_down_starts_again(
    tmp_path: Path, fake_llama: dict[str, Any]
) -> None:
    from foundups_training.models.llama import LlamaModel

    gguf = tmp_path / "gemma.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 4000)
    clock = _Clock()
    model = LlamaModel(gguf, n_threads=1, clock=clock)
    _failure(model)
    clock.now += RETRY_LOAD_S
    assert _failure(model).endswith("(retried in 120 s)") and fake_llama["loads"] == 2
    gguf.write_bytes(b"GGUF" + b"\1" * 5000)  # another file: tried at once
    assert _failure(model).endswith("(retried in 60 s)") and fake_llama["loads"] == 3


@contextmanager
def _refused(path: Path) -> Iterator[str]:
    from foundups_training.models.locator import ModelChanged

    raise ModelChanged(f"{path} changed after its sha256 was checked")
    yield ""  # pragma: no cover


@pytest.mark.parametrize("cause", ["not a GGUF", "not the pinned model"])
def test_a_file_that_is_what_failed_stays_failed_until_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_llama: dict[str, Any], cause: str
) -> None:
    """Nothing but another file makes it load: it is not opened (or hashed) again, however
    long the host runs, and the error says nothing of a retry."""
    from foundups_training.models import llama, locator

    path = tmp_path / "gemma.gguf"
    opened: list[Path] = []
    if cause == "not a GGUF":
        path.write_bytes(b"PK\x03\x04" + b"\0" * 500)
        real = llama._check_gguf_head

        def check(name: str) -> None:
            opened.append(Path(name))
            real(name)

        monkeypatch.setattr(llama, "_check_gguf_head", check)
    else:
        path.write_bytes(b"GGUF" + b"\0" * 4000)

        def refuse(at: Path) -> Any:
            opened.append(at)
            return _refused(at)

        monkeypatch.setattr(locator, "checked_open", refuse)
    clock = _Clock()
    model = llama.LlamaModel(path, n_threads=1, clock=clock)
    said = _failure(model)
    assert len(opened) == 1 and "retried" not in said
    clock.now += 10 * RETRY_LOAD_MAX_S
    assert _failure(model) == said and len(opened) == 1
    path.write_bytes(path.read_bytes() + b"\0")  # changed: looked at again
    _failure(model)
    assert len(opened) == 2 and fake_llama["loads"] == 0
