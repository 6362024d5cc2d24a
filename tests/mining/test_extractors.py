"""The five pattern kinds, each with context, decision and (when the log shows one) outcome."""

from __future__ import annotations

import pytest

from foundups_training.mining import Verifier, extract_patterns
from foundups_training.mining.extractors import finding_template
from foundups_training.mining.templates import mask
from foundups_training.samples import sample_host, sample_log

CALM = [f"2025-10-20 16:00:{i:02d},000 - root - INFO - tick" for i in range(25)]


def _kinds(patterns):  # type: ignore[no-untyped-def]
    out: dict[str, list] = {}
    for p in patterns:
        out.setdefault(p.kind, []).append(p)
    return out


def test_real_lines_give_every_kind(real_lines: str) -> None:
    by = _kinds(extract_patterns(real_lines.splitlines() + CALM))
    (prio,) = by["priority"]
    assert prio.decision.startswith("check Move2Japan [JAPAN] first")
    assert "Move2Japan [JAPAN]=1.00" in prio.context and "UnDaoDu [MINDFUL]=5.38" in prio.context
    assert "No stream found on Move2Japan" in prio.outcome
    assert prio.module == "modules/communication/livechat"
    (stream,) = by["stream"]
    assert "No stream found on Move2Japan" in stream.outcome
    errors = {p.module: p for p in by["error_fix"]}
    db = errors["modules/infrastructure/database"]
    assert db.decision == "tried: Retrying transaction with INSERT OR REPLACE"
    assert "[OK] Transaction committed" in db.outcome
    assert "UNIQUE constraint failed" in db.context
    assert "" in errors  # the daemon's fatal error (no module, no outcome shown)
    (wsp,) = by["wsp_compliance"]
    assert "WSP Compliance" in wsp.decision
    locs = {p.decision for p in by["module_location"]}
    assert "modules/platform_integration/youtube_auth/" in locs


def test_second_qwen_score_format_and_round_without_decision() -> None:
    lines = [
        "2025-10-20 15:00:00,000 - modules.communication.livechat.src.stream_discovery_service"
        " - INFO - [QWEN-SCORE] UnDaoDu [MINDFUL]: Priority score 2.10",
        "2025-10-20 15:00:00,100 - modules.communication.livechat.src.stream_discovery_service"
        " - INFO - [QWEN-SCORE] Move2Japan [JAPAN]: Priority score 4.75",
        "2025-10-20 15:00:01,000 - modules.platform_integration.stream_resolver.src."
        "stream_resolver - INFO - [OK] Live stream found on UnDaoDu [MINDFUL]: video_id=ab12cd34",
        *CALM,
    ]
    (prio,) = _kinds(extract_patterns(lines))["priority"]
    assert prio.decision.startswith("check UnDaoDu [MINDFUL] first")
    assert "Move2Japan [JAPAN]=4.75" in prio.context
    assert "Live stream found on UnDaoDu" in prio.outcome


def test_error_with_retry_then_give_up() -> None:
    logger = "modules.communication.livechat.src.livechat_core"
    lines = [
        f"2025-10-20 15:00:00,000 - {logger} - ERROR - Failed to poll chat messages: HttpError 503",
        f"2025-10-20 15:00:01,000 - {logger} - WARNING - Reconnecting in 2s (attempt 1/3)",
        f"2025-10-20 15:00:02,000 - {logger} - ERROR - Max retries reached; giving up on live chat",
        *CALM,
    ]
    first = next(p for p in extract_patterns(lines) if p.kind == "error_fix")
    assert first.decision == "tried: Reconnecting in 2s (attempt 1/3)"
    assert "giving up" in first.outcome


def test_error_handled_by_skipping_its_input() -> None:
    """The line that deals with the error is its outcome, not a later success of the module."""
    logger = "modules.communication.livechat.src.message_processor"
    core = "modules.communication.livechat.src.livechat_core"
    lines = [
        f"2025-10-20 15:00:14,693 - {logger} - ERROR - Unhandled exception while processing"
        " message j7FAc9QeWJK",
        "Traceback (most recent call last):",
        '  File "O:\\Foundups-Agent\\modules\\communication\\livechat\\src\\'
        'message_processor.py", line 412, in process_message',
        '    author = message["authorDetails"]["displayName"]',
        "TypeError: 'NoneType' object is not subscriptable",
        f"2025-10-20 15:00:17,976 - {logger} - INFO - Skipping malformed message j7FAc9QeWJK"
        " (bot's own message has no authorDetails)",
        f"2025-10-20 15:00:20,000 - {core} - INFO - Connected to live chat Cg0KCVqAu for UnDaoDu",
        *CALM,
    ]
    err = next(p for p in extract_patterns(lines) if p.kind == "error_fix")
    assert "Skipping malformed message" in err.outcome and "bot's own message" in err.outcome
    # the situation says where it crashed, then what was raised
    assert err.context.startswith(
        "Error: ERROR message_processor: Unhandled exception while processing message"
        " j7FAc9QeWJK | message_processor.py line 412, in process_message: author ="
        ' message["authorDetails"]["displayName"] | TypeError: '
    ), err.context


def test_outcome_window_is_bounded() -> None:
    logger = "modules.infrastructure.database.src.db_manager"
    lines = [f"2025-10-20 15:00:00,000 - {logger} - ERROR - Database transaction failed: x"]
    lines += CALM  # 25 unrelated lines: the outcome is out of reach
    lines.append(f"2025-10-20 15:01:00,000 - {logger} - INFO - [OK] Transaction committed")
    lines += CALM
    err = next(p for p in extract_patterns(lines) if p.kind == "error_fix")
    assert err.outcome == ""


def test_repeats_consolidate_and_distinct_outcomes_stay_distinct() -> None:
    logger = "modules.infrastructure.database.src.db_manager"
    ok = [
        f"2025-10-20 15:00:0{i},000 - {logger} - ERROR - Database transaction failed: row {i}"
        for i in range(3)
    ]
    lines = []
    for i, line in enumerate(ok):
        lines += [line, f"2025-10-20 15:00:0{i},500 - {logger} - INFO - [OK] Transaction committed"]
    lines += [
        f"2025-10-21 09:00:00,000 - {logger} - ERROR - Database transaction failed: row 9",
        f"2025-10-21 09:00:01,000 - {logger} - ERROR - All retries exhausted for the transaction",
    ]
    lines += CALM
    errs = [p for p in extract_patterns(lines) if p.kind == "error_fix"]
    by_outcome = {mask(p.outcome.split(": ", 1)[-1]): p for p in errs if p.seen > 0}
    committed = [p for p in errs if "committed" in p.outcome]
    assert len(committed) == 1 and committed[0].seen == 3
    assert committed[0].first_seen == "2025-10-20T15:00:00"
    assert committed[0].last_seen == "2025-10-20T15:00:02"
    assert any("exhausted" in p.outcome for p in errs)
    assert len(by_outcome) >= 2


def test_sample_log_consolidates_and_verifies() -> None:
    lines = sample_log().read_text(encoding="utf-8").splitlines()
    patterns = extract_patterns(lines, Verifier(sample_host()))
    by = _kinds(patterns)
    assert set(by) >= {"module_location", "priority", "wsp_compliance", "stream", "error_fix"}
    assert len(patterns) <= len(lines) / 10
    with_module = [p for p in patterns if p.module]
    verified = [p for p in with_module if p.verified]
    assert len(verified) >= 0.7 * len(with_module)
    for p in verified:
        file, symbol, span = p.code_ref.split(":")
        assert file.startswith("modules/") and file.endswith(".py") and symbol and span
    # every kind has at least one pattern whose outcome the log showed
    for kind in ("priority", "stream", "error_fix", "wsp_compliance"):
        assert any(p.outcome for p in by[kind]), kind


@pytest.mark.parametrize(
    ("message", "template"),
    [
        # a WSP rule's number names the rule: the answer to "which rule?" is the number
        (
            "[WSP-GUARDIAN] WSP 22 violation: ModLog.md not updated for change in modules/a/b/",
            "[WSP-GUARDIAN] WSP 22 violation: ModLog.md not updated for change in <PATH>/",
        ),
        ("WSP-49 compliant after 3 moves", "WSP-49 compliant after <NUM> moves"),
        ("wsp_3 checked 12 files", "wsp_3 checked <NUM> files"),
        # a retry policy's short waits and attempt counts are settings: kept
        ("Reconnecting in 2s (attempt 1/3)", "Reconnecting in 2s (attempt 1/3)"),
        (
            "Restarting DAE after fatal error (backoff 10s)",
            "Restarting DAE after fatal error (backoff 10s)",
        ),
        # measurements vary from line to line: masked
        ("Rate limit approaching: 87 requests", "Rate limit approaching: <NUM> requests"),
        ("timed out KenjiFan for 300s, took 1234ms", "timed out KenjiFan for <NUM>, took <NUM>"),
        ("page 12/345 read", "page <NUM>/<NUM> read"),
        ("Rotating to credential set 2", "Rotating to credential set <NUM>"),
    ],
)
def test_names_and_settings_are_kept_measurements_masked(message: str, template: str) -> None:
    assert mask(message) == template


_AUTH = "modules.platform_integration.youtube_auth.src.youtube_auth"


def _rotation(t: str, spent: int, to: int) -> list[str]:
    return [
        f"2025-10-20 {t}:00,000 - {_AUTH} - ERROR - [U+274C] Quota exceeded for credential "
        f"set {spent} (HttpError 403 quotaExceeded)",
        f"2025-10-20 {t}:02,000 - {_AUTH} - INFO - [U+1F504] Rotating to credential set {to}",
        f"2025-10-20 {t}:04,000 - {_AUTH} - INFO - [OK] Authenticated with credential set {to}",
    ]


def test_a_masked_pattern_keeps_its_concrete_instances() -> None:
    """One pattern counts every rotation; its instances say which set followed which."""
    lines = [
        *_rotation("15:00", 1, 2),
        *_rotation("15:10", 2, 3),
        *_rotation("15:20", 1, 2),  # the same instance again: kept once
        *_rotation("15:30", 3, 1),
        *CALM,
    ]
    (err,) = [p for p in extract_patterns(lines) if p.kind == "error_fix"]
    assert err.seen == 4 and err.decision == "tried: Rotating to credential set <NUM>"
    assert [v[:2] for v in err.variants] == [
        ("Quota exceeded for credential set 1 (HttpError 403 quotaExceeded)",
         "tried: Rotating to credential set 2"),
        ("Quota exceeded for credential set 2 (HttpError 403 quotaExceeded)",
         "tried: Rotating to credential set 3"),
        ("Quota exceeded for credential set 3 (HttpError 403 quotaExceeded)",
         "tried: Rotating to credential set 1"),
    ]  # fmt: skip
    assert "Authenticated with credential set 2" in err.variants[0][2]  # its own outcome


def test_only_masked_patterns_keep_instances_and_at_most_eight() -> None:
    from foundups_training.records import MAX_VARIANTS

    logger = "modules.infrastructure.database.src.db_manager"
    lines = [
        f"2025-10-20 15:00:{i:02d},000 - {logger} - WARNING - Slow query took {100 + i} ms"
        for i in range(20)
    ] + [f"2025-10-20 15:01:{i:02d},000 - {logger} - WARNING - Pool exhausted" for i in range(3)]
    by = {p.decision: p for p in extract_patterns(lines + CALM) if p.kind == "log_template"}
    slow = by["warning: Slow query took <NUM> ms"]
    assert slow.seen == 20 and len(slow.variants) == MAX_VARIANTS
    assert slow.variants[0][1] == "warning: Slow query took 100 ms"
    assert by["warning: Pool exhausted"].variants == ()


def test_routine_lines_become_counted_templates_with_instances() -> None:
    mod = "modules.communication.livechat.src.auto_moderator_dae"
    lines = [
        f"2025-10-20 15:0{i}:00,000 - {mod} - INFO - [U+1F504] AutoModeratorDAE heartbeat:"
        f" {i + 2} streams monitored"
        for i in range(5)
    ] + [
        f"2025-10-20 15:06:0{i},000 - modules.infrastructure.idle_automation.src."
        f"idle_automation_dae - DEBUG - [IDLE] Phase 2: git push skipped (no changes)"
        for i in range(3)
    ]
    by = {p.decision: p for p in extract_patterns(lines + CALM) if p.kind == "log_template"}
    beat = by["logs: AutoModeratorDAE heartbeat: <NUM> streams monitored"]
    assert beat.seen == 5 and beat.module == "modules/communication/livechat"
    assert beat.context.startswith(f"Routine INFO line from {mod}: ")
    # the concrete lines are kept, so "how many streams?" has a number
    assert beat.variants[0][1] == "logs: AutoModeratorDAE heartbeat: 2 streams monitored"
    push = by["logs: [IDLE] Phase <NUM>: git push skipped (no changes)"]
    assert push.seen == 3 and push.context.startswith("Routine DEBUG line from ")
    # every occurrence counted once: a line seen three times is one instance seen 3 times
    assert beat.tally == (1, 1, 1, 1, 1) and push.tally == (3,)


def test_a_tally_counts_each_instance_until_one_is_left_out() -> None:
    from foundups_training.records import MAX_VARIANTS

    cli = "modules.infrastructure.cli.src.main_menu"
    picks = [12, 1, 12, 12, 11, 1, 12]
    lines = [
        f"2025-10-20 15:0{i}:00,000 - {cli} - INFO - Menu option {n} selected"
        for i, n in enumerate(picks)
    ]
    menu = next(p for p in extract_patterns(lines + CALM) if p.kind == "log_template")
    assert [v[1] for v in menu.variants] == [
        "logs: Menu option 12 selected",
        "logs: Menu option 1 selected",
        "logs: Menu option 11 selected",
    ]
    assert menu.tally == (4, 2, 1) and sum(menu.tally) == menu.seen
    more = [
        f"2025-10-20 16:{i:02d}:00,000 - {cli} - INFO - Menu option {20 + i} selected"
        for i in range(MAX_VARIANTS)
    ]
    menu = next(p for p in extract_patterns(lines + more + CALM) if p.kind == "log_template")
    assert len(menu.variants) == MAX_VARIANTS and menu.tally == ()


@pytest.mark.parametrize(
    "message",
    [
        # echoes of what viewers wrote: untrusted, and one template per message
        "[U+1F4AC] Processing message from @SakuraRin: first time here, love it",
        "Banter response generated for @TokyoDrift (theme: maga)",
        # lines that episodes learn with their situation
        "[BOT][AI] [QWEN-SCORE] Move2Japan [JAPAN]: 1.00",
        "Checking UnDaoDu [MINDFUL] for live stream",
        "[ERROR] No stream found on UnDaoDu [MINDFUL]",
        "Rotating to credential set 2",
        "[OK] Authenticated with credential set 2",
        "Reconnecting in 2s (attempt 1/3)",
        "All credential sets exhausted; giving up",
        "[OK] Moved test_x.py; modules/a/b is WSP 49 compliant",
        "Moving test_x.py to modules/a/b/tests/",
    ],
)
def test_no_routine_template_for_chat_echoes_or_episode_lines(message: str) -> None:
    line = f"2025-10-20 15:00:00,000 - modules.communication.livechat.src.x - INFO - {message}"
    got = [p for p in extract_patterns([line, *CALM]) if p.kind == "log_template"]
    assert got == []


def test_a_warning_that_anchors_an_episode_is_left_to_it() -> None:
    mod = "modules.ai_intelligence.code_analyzer.src.code_analyzer"
    finding = (
        f"2025-10-20 15:16:16,853 - {mod} - WARNING - [WSP-GUARDIAN] WSP 22 violation:"
        " ModLog.md not updated for change in modules/communication/livechat/"
    )
    step = f"2025-10-20 15:16:17,000 - {mod} - WARNING - Reconnecting in 2s (attempt 1/3)"
    by = _kinds(extract_patterns([finding, step, *CALM]))
    # the finding is learned once, with what followed it; a warning that is only a step
    # keeps its template ("what does the warning say?")
    assert len(by["wsp_compliance"]) == 1
    assert [p.decision for p in by["log_template"]] == ["warning: Reconnecting in 2s (attempt 1/3)"]


def test_routine_templates_only_for_module_loggers() -> None:
    lines = ["2025-10-20 15:00:00,000 - root - INFO - Main loop tick 3", *CALM]
    assert [p for p in extract_patterns(lines) if p.kind == "log_template"] == []


def test_wsp_correction_that_says_where_is_the_outcome() -> None:
    mod = "modules.ai_intelligence.code_analyzer.src.code_analyzer"
    lines = [
        f"2025-10-20 15:16:16,853 - {mod} - WARNING - [WSP-GUARDIAN] WSP 49 violation: test"
        " file test_token_refresh.py found in module root modules/platform_integration/"
        "youtube_auth/ (tests belong in tests/)",
        f"2025-10-20 15:16:19,084 - {mod} - INFO - Moving test_token_refresh.py to"
        " modules/platform_integration/youtube_auth/tests/",
        f"2025-10-20 15:16:21,621 - {mod} - INFO - [OK] Moved test_token_refresh.py;"
        " modules/platform_integration/youtube_auth is WSP 49 compliant",
        *CALM,
    ]
    (wsp,) = _kinds(extract_patterns(lines))["wsp_compliance"]
    # where it went, and what the analyzer then reported
    moving, done = wsp.outcome.split("; ", 1)
    assert moving.endswith("Moving test_token_refresh.py to modules/platform_integration/"
                           "youtube_auth/tests/")  # fmt: skip
    assert done.endswith("youtube_auth is WSP 49 compliant")
    assert wsp.context.splitlines()[1].startswith("Then: INFO code_analyzer: Moving ")
    # a correction whose result was never logged still says where the file went
    (alone,) = _kinds(extract_patterns(lines[:2] + CALM))["wsp_compliance"]
    assert alone.outcome.endswith("youtube_auth/tests/") and alone.id != wsp.id


def test_another_modules_line_is_an_outcome_only_when_it_names_the_module() -> None:
    analyzer = "modules.ai_intelligence.code_analyzer.src.code_analyzer"
    finding = (
        f"2025-10-20 15:17:12,079 - {analyzer} - WARNING - [WSP-GUARDIAN] WSP 22 violation:"
        " ModLog.md not updated for change in modules/infrastructure/idle_automation/"
    )
    # "code" (code_analyzer's first word) is too common a word to name the analyzer
    unrelated = (
        "2025-10-20 15:17:49,000 - modules.infrastructure.shared_utilities."
        "local_model_selection - INFO - [OK] Loaded code model qwen-coder-1.5b (fallback)"
    )
    (wsp,) = _kinds(extract_patterns([finding, unrelated, *CALM]))["wsp_compliance"]
    assert wsp.outcome == ""
    # a distinctive first word does: the orchestrator's line about LinkedIn ends the
    # LinkedIn agent's error
    agent = "modules.platform_integration.linkedin_agent.src.linkedin_agent"
    orchestrator = "modules.platform_integration.social_media_orchestrator.src.x"
    lines = [
        f"2025-10-20 15:02:01,922 - {agent} - ERROR - Connection failed to LinkedIn API:"
        " read timeout after 10s",
        f"2025-10-20 15:02:09,115 - {orchestrator} - ERROR - Circuit breaker OPEN for"
        " linkedin; aborting posts for this session",
        *CALM,
    ]
    (err,) = [
        p
        for p in _kinds(extract_patterns(lines))["error_fix"]
        if "API" in p.context.split("\n", 1)[0]
    ]
    assert err.outcome.endswith(
        "Circuit breaker OPEN for linkedin; aborting posts for this session"
    )


def test_a_wsp_finding_is_learned_per_module() -> None:
    analyzer = "modules.ai_intelligence.code_analyzer.src.code_analyzer"

    def finding(t: str, module: str) -> str:
        return (
            f"2025-10-20 15:{t},000 - {analyzer} - WARNING - [WSP-GUARDIAN] WSP 22 violation:"
            f" ModLog.md not updated for change in {module}/"
        )

    lines = [
        finding("17:12", "modules/infrastructure/idle_automation"),
        *CALM,
        finding("24:41", "modules/platform_integration/stream_resolver"),
        *CALM,
        finding("43:18", "modules/platform_integration/stream_resolver"),
        *CALM,
    ]
    wsp = _kinds(extract_patterns(lines))["wsp_compliance"]
    by_decision = {p.decision: p.seen for p in wsp}
    # the module a finding is about stays in its decision (a question names it); the
    # timestamps and counts elsewhere in a finding are masked as in any template
    assert by_decision == {
        "[WSP-GUARDIAN] WSP 22 violation: ModLog.md not updated for change in"
        " modules/infrastructure/idle_automation/": 1,
        "[WSP-GUARDIAN] WSP 22 violation: ModLog.md not updated for change in"
        " modules/platform_integration/stream_resolver/": 2,
    }


@pytest.mark.parametrize(
    ("message", "template"),
    [
        (  # a Windows checkout: the module stays, the machine's folder goes
            r"[WSP-GUARDIAN] WSP 49 violation: test file test_x.py found in module root"
            r" O:\Foundups-Agent\modules\communication\livechat\ (tests belong in tests/)",
            "[WSP-GUARDIAN] WSP 49 violation: test file test_x.py found in module root"
            " modules/communication/livechat/ (tests belong in tests/)",
        ),
        (
            "[WSP-GUARDIAN] WSP 22 violation: 2 changes in /home/u/src/modules/infrastructure/"
            "idle_automation/ and modules/ai_intelligence/code_analyzer",
            "[WSP-GUARDIAN] WSP 22 violation: <NUM> changes in modules/infrastructure/"
            "idle_automation/ and modules/ai_intelligence/code_analyzer",
        ),
        ("[WSP-GUARDIAN] WSP 22 check 3 passed", "[WSP-GUARDIAN] WSP 22 check <NUM> passed"),
    ],
)
def test_finding_template_keeps_the_module_and_nothing_else(message: str, template: str) -> None:
    assert finding_template(message) == template
