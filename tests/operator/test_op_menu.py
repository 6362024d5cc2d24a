"""The menu, driven in-process through text streams (the pty test drives the real CLI)."""

from __future__ import annotations

import io

from foundups_training import telemetry
from foundups_training.menu import OPTIONS, format_answer, format_progress, run_menu
from foundups_training.records import Answer


def drive(trainer, *lines: str) -> tuple[int, str]:
    out = io.StringIO()
    code = run_menu(trainer, stdin=io.StringIO("".join(f"{x}\n" for x in lines)), stdout=out)
    return code, out.getvalue()


def test_header_shows_the_seeds_options_and_stats(fake_trainer) -> None:
    code, out = drive(fake_trainer, "0")
    assert code == 0
    assert "QWEN/GEMMA TRAINING SYSTEM" in out
    assert "Patterns stored : 2" in out
    for key, label in OPTIONS:
        assert f"{key}. {label}" in out


def test_end_of_input_means_back(fake_trainer) -> None:
    code, out = drive(fake_trainer)  # nothing at all
    assert code == 0
    assert out.rstrip().endswith("Select option:")


def test_bad_input_is_answered_and_asked_again(fake_trainer) -> None:
    code, out = drive(fake_trainer, "42", "hello", "", "0")
    assert code == 0
    assert out.count("Unknown option") == 2
    assert out.count("QWEN/GEMMA TRAINING SYSTEM") == 2  # Enter redraws the full menu


def test_batch_training_mines_and_records_a_run(fake_trainer, tmp_path) -> None:
    log = tmp_path / "012.txt"
    log.write_text("2025-10-20 15:07:04,541 - root - INFO - hello\n", encoding="utf-8")
    code, out = drive(fake_trainer, "1", f'"{log}"', "5", "0")  # pasted with quotes
    assert code == 0
    assert "[BATCH-TRAINING] Processed 100 lines, stored 1 patterns" in out
    assert "Training runs  : batch 1" in out  # the metrics view saw the run
    runs = fake_trainer.metrics.training_runs()
    assert runs[0].kind == "batch" and runs[0].lines_processed == 100
    assert runs[0].source == str(log)
    assert fake_trainer.metrics.snapshots()[-1].total == 3


def test_batch_training_offers_to_replace_an_older_versions_patterns(
    fake_trainer, tmp_path, monkeypatch
) -> None:
    """The log's patterns were made by an older miner and some lines are gone (rotated):
    mining keeps them and says so; the menu shows the warning and asks before replacing."""
    log = tmp_path / "012.txt"
    log.write_text("2025-10-20 15:07:04,541 - root - INFO - hello\n", encoding="utf-8")
    asked: list[bool] = []
    mine = fake_trainer.mine

    def older(log_path, *, remine=False, **kw):  # type: ignore[no-untyped-def]
        asked.append(remine)
        report = mine(log_path, **kw)
        report.older_patterns_kept = not remine
        report.warnings = [] if remine else ["made by miner version 0 … run mine --remine"]
        return report

    monkeypatch.setattr(fake_trainer, "mine", older)
    _, out = drive(fake_trainer, "1", str(log), "no", "0")
    assert asked == [False] and "Warning: made by miner version 0" in out
    assert "Type 'yes' to confirm" in out and "again from its first line" in out
    asked.clear()
    _, out = drive(fake_trainer, "1", str(log), "yes", "0")
    assert asked == [False, True]
    assert f"[BATCH-TRAINING] Mining {log} again from its first line" in out


def test_batch_training_refuses_a_missing_log(fake_trainer, tmp_path) -> None:
    _, out = drive(fake_trainer, "1", str(tmp_path / "nope.txt"), "0")
    assert "No such log file" in out


def test_view_progress(fake_trainer) -> None:
    _, out = drive(fake_trainer, "2", "0")
    assert "Lines processed: 0" in out
    assert "module_location" in out and "stream" in out
    assert "Last training  : never" in out


def test_recall_shows_patterns_and_similarities(fake_trainer) -> None:
    _, out = drive(fake_trainer, "3", "which module handles youtube auth", "0")
    assert "1. similarity 0.900  module_location" in out
    assert "modules/platform_integration/youtube_auth/" in out


def test_routing_shows_tier_confidence_latency_and_records_the_answer(fake_trainer) -> None:
    _, out = drive(fake_trainer, "4", "which module handles youtube auth", "0")
    assert "Tier       : gemma (gemma-3-270m)" in out
    assert "Confidence : 0.82" in out
    assert "Latency    : 123 ms" in out
    assert "Escalated  : no" in out
    assert fake_trainer.asked[0].asked_by == "menu"
    fake_trainer.metrics.observer.flush()
    assert fake_trainer.metrics.answers()[0].tier == "gemma"


def test_an_option_that_fails_does_not_end_the_menu(fake_trainer) -> None:
    fake_trainer.fail_ask = True
    code, out = drive(fake_trainer, "4", "boom", "2", "0")
    assert code == 0
    assert "Error: RuntimeError: router exploded" in out
    assert "Lines processed" in out  # the next option still ran


def test_clear_asks_for_confirmation(fake_trainer) -> None:
    _, out = drive(fake_trainer, "6", "no", "0")
    assert "Cancelled: nothing was deleted." in out
    assert fake_trainer.memory.count() == 2
    _, out = drive(fake_trainer, "6", "yes", "0")
    assert "Cleared 2 patterns" in out
    assert fake_trainer.memory.count() == 0


def test_clear_at_end_of_input_deletes_nothing(fake_trainer) -> None:
    code, _ = drive(fake_trainer, "6")
    assert code == 0
    assert fake_trainer.memory.count() == 2


def test_every_option_emits_telemetry(fake_trainer, settings) -> None:
    drive(fake_trainer, "2", "3", "q", "5", "6", "yes", "0")
    fake_trainer.metrics.observer.flush()
    events = list(telemetry.read_events(settings.telemetry_dir))
    commands = {(e["command"], e["event"]) for e in events}
    for command in ("training.status", "training.recall", "training.metrics", "training.clear"):
        assert (command, "completed") in commands
    assert ("training.menu", "started") in commands


def test_formatters() -> None:
    lines = format_progress(
        {"lines_processed": 50, "lines_total": 200, "by_kind": {"a": 1}, "log": "x"}
    )
    assert "Lines processed: 50 of 200 (25.0%)" in lines
    assert not any(line.startswith("Log patterns") for line in lines)
    older = format_progress({"lines_processed": 5, "log_miner": 0, "miner": 1})
    assert any("made by an older version (miner 0" in line for line in older)
    unknown = format_progress({"patterns_total": 0, "patterns_unknown": "StoreNotCopied: big"})
    assert "Patterns       : unknown (StoreNotCopied: big)" in unknown  # never "0"
    answer = Answer("why", "qwen", confidence=0.4, escalated=True, escalation_reason="why-question")
    assert "Escalated  : yes - why-question" in format_answer(answer)


def test_gemma_accuracy_is_the_last_evaluation_that_ran_gemma(fake_trainer) -> None:
    """A later run without the Gemma tier (the demo's, ``eval --tiers memory``) showed "-"
    in the header although Gemma had been measured."""
    metrics = fake_trainer.metrics
    _, out = drive(fake_trainer, "0")
    assert "Gemma accuracy  : -" in out
    metrics.record_eval("dev.jsonl", [{"tier": "gemma", "n": 10, "accuracy": 0.9}])
    metrics.record_eval("demo", [{"tier": "memory", "n": 8, "accuracy": 1.0}])
    _, out = drive(fake_trainer, "0")
    assert "Gemma accuracy  : 90.0%" in out
    metrics.record_eval("held-out", [{"tier": "gemma", "n": 4, "accuracy": 0.75}])
    _, out = drive(fake_trainer, "0")
    assert "Gemma accuracy  : 75.0%" in out


def test_text_from_outside_is_shown_not_obeyed_by_the_terminal(fake_trainer, monkeypatch) -> None:
    """An answer (or a pattern, an error) may quote chat or log text holding terminal
    escapes: the menu printed them raw, so a chat message could clear the operator's screen
    or retitle the window."""
    hostile = "modules/x/\x1b[2J\x1b]0;owned\x07\r\x9b"
    monkeypatch.setattr(
        fake_trainer, "ask", lambda query: Answer(text=hostile, tier="gemma", confidence=0.8)
    )
    _, out = drive(fake_trainer, "4", "which module?", "0")
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out and "\x9b" not in out
    assert "modules/x/\\x1b[2J\\x1b]0;owned\\x07\\x0d\\x9b" in out
