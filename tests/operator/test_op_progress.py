"""The progress bar: live on a terminal, silent off it and with --json / --quiet."""

from __future__ import annotations

import argparse
import io

from foundups_training.progress import Progress, no_progress, progress_for, quiet_requested


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_silent_when_not_a_terminal() -> None:
    out = io.StringIO()
    with Progress("mining", stream=out) as bar:
        for i in range(1, 101):
            bar(i, 100)
    assert out.getvalue() == ""
    assert (bar.done, bar.total) == (100, 100)


def test_live_on_a_terminal_redraws_in_place_and_ends_the_line() -> None:
    out = _Tty()
    with Progress("mining", stream=out) as bar:
        bar(0, 200)
        bar(200, 200)  # completion always draws, however soon after the last redraw
    text = out.getvalue()
    assert text.startswith("\rmining [")
    assert "100.0% 200/200" in text
    assert text.endswith("\n")
    assert "\n" not in text.rstrip("\n")  # one line, redrawn with carriage returns


def test_redraws_are_throttled() -> None:
    out = _Tty()
    bar = Progress(stream=out)
    for i in range(1000):
        bar(i, 10_000)
    assert out.getvalue().count("\r") < 10


def test_unknown_total_shows_a_count_not_a_percentage() -> None:
    bar = Progress("reading", stream=io.StringIO(), enabled=True)
    bar(1234, 0)
    assert bar.render().startswith("reading 1,234 done")
    assert "%" not in bar.render()


def test_render_clamps_and_fills() -> None:
    bar = Progress(stream=io.StringIO(), enabled=True, width=10)
    bar.done, bar.total = 5, 10
    assert "[#####-----]" in bar.render()
    bar.done = 50
    assert "[##########] 100.0%" in bar.render()


def test_json_and_quiet_turn_it_off_even_on_a_terminal() -> None:
    for flags in ({"json": True}, {"quiet": True}):
        args = argparse.Namespace(**flags)
        assert quiet_requested(args)
        out = _Tty()
        bar = progress_for(args, "x", stream=out)
        bar(1, 1)
        bar.close()
        assert out.getvalue() == ""
    assert progress_for(argparse.Namespace(), "x", stream=_Tty()).enabled


def test_a_closed_stream_stops_drawing_without_raising() -> None:
    out = _Tty()
    bar = Progress(stream=out)
    out.close()
    bar(1, 2)
    bar(2, 2)
    bar.close()
    assert not bar.enabled


def test_no_progress_is_a_callable_that_does_nothing() -> None:
    assert no_progress(1, 2) is None


def test_a_count_of_bytes_is_shown_as_sizes() -> None:
    """Mining reports ``(bytes done, file size)``: ``943,589/14,401,774`` read as lines
    under a menu header that counts lines (review #13)."""
    bar = Progress("mining", stream=io.StringIO(), enabled=True, unit="bytes")
    bar(943_589, 14_401_774)
    assert "  6.6% 0.9/14.4 MB 0:" in bar.render()
    bar(512, 900)
    assert "512/900 B" in bar.render()
    bar(1_234_567, 0)
    assert bar.render().startswith("mining 1.2 MB done")
    files = Progress("indexing", stream=io.StringIO(), enabled=True, unit="files")
    files(3, 40)
    assert "3/40 files" in files.render()
    assert progress_for(None, "mining", stream=_Tty(), unit="bytes").unit == "bytes"
