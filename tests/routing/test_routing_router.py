"""Routing rules and escalation, with scripted models (the real ones: test_routing_models)."""

from __future__ import annotations

import math

import pytest

from foundups_training.models.calibration import Calibration, CurveMap
from foundups_training.records import Pattern, Query
from foundups_training.routing import Router, RoutingRules

from .scripted import ListMemory, ScriptedModel, module_passage, module_pattern

LIVECHAT = module_pattern("modules/communication/livechat", "reads and answers YouTube live chat")
LINKEDIN = module_pattern("modules/platform_integration/linkedin_agent", "posts to LinkedIn")
DATABASE = module_pattern("modules/infrastructure/database", "SQLite storage for every module")


def make_router(memory, gemma=None, qwen=None, **rules) -> Router:
    return Router(
        memory,
        gemma if gemma is not None else ScriptedModel("gemma-test", probs=[0.98, 0.01, 0.01]),
        qwen if qwen is not None else ScriptedModel("qwen-test", probs=[0.01, 0.98, 0.01]),
        rules=RoutingRules(**rules),
    )


@pytest.fixture
def memory() -> ListMemory:
    return ListMemory([(LIVECHAT, 0.62), (LINKEDIN, 0.48), (DATABASE, 0.40)])


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("Why does the bot check the lowest score first?", "reasoning"),
        ("How should I fix the UNIQUE constraint error?", "reasoning"),
        ("How should a new module get authorised to call the YouTube API?", "reasoning"),
        ("What's the intent of the QWEN-DECISION line?", "reasoning"),
        ("what is the purpose of idle automation", "reasoning"),
        ("What's the reasoning behind running without a cloud backend?", "reasoning"),
        ("How does the router choose between Selenium and UI-TARS?", "reasoning"),
        ("Can I edit the app's code in the Cloud Run console?", "reasoning"),
        ("What happens if an agent keeps failing?", "reasoning"),
        ("What went wrong with the upload?", "reasoning"),
        ("What was going wrong that made someone write the clean-up script?", "reasoning"),
        ("What caused the reconnect loop?", "reasoning"),
        ("The circuit breaker opened. What happens to the posts?", "lookup"),
        ("What happened after the first channel was checked?", "lookup"),
        ("How many channels were checked?", "lookup"),
        ("Which module handles live chat?", "module_location"),
        ("Where is the code that posts to LinkedIn?", "module_location"),
        ("Where would I look to find out whether a channel is live?", "module_location"),
        ("Which educational web app teaches sound localisation?", "module_location"),
        ("Which daemon watches for code changes and pushes them?", "module_location"),
        ("What MCP server hands environment variables to agents?", "module_location"),
        ("Who decides which GGUF file serves the code role?", "module_location"),
        ("What part of the system opens the Discord sessions?", "module_location"),
        ("Before a change runs, which piece of the codebase checks the module?", "module_location"),
        ("What part of the message was missing?", "lookup"),
        ("Who was timed out most during the last stream?", "lookup"),
        ("Live chat polling kept failing. What did the bot do then?", "lookup"),
        ("What did the daemon do after the crash?", "lookup"),
        ("Database transaction failed: UNIQUE constraint failed", "lookup"),
        ("priority score for Move2Japan", "lookup"),
        ("LinkedIn API calls keep timing out. What protects the rest of the system?", "lookup"),
        ("Which domain should a new YouTube authentication helper go into?", "lookup"),
        ("YouTube answered 403 quotaExceeded. What is the recovery?", "lookup"),
        # where something went, or what a logged line says: the log answers, not a path
        ("Which folder did the code analyzer move test_token_refresh.py into?", "lookup"),
        ("Where did the resolver-cache test file end up after the finding?", "lookup"),
        ("Where does the warning say the stray test file was found?", "lookup"),
        ("Where did the bot post the announcement?", "module_location"),
        # which module or file a logged line named: the log says, not the tree
        ("Which module did the guardian flag?", "lookup"),
        ("Which module in the infrastructure domain did the guardian flag?", "lookup"),
        ("Which file path did the model selector say it could not find?", "lookup"),
        ("Which module does the guardian flag most?", "module_location"),
        # "What <verb>s …": a lookup first; the nearest patterns decide (Router._either)
        ("What grants an agent permission to edit files?", "lookup"),
    ],
)
def test_intent_rules(text: str, intent: str) -> None:
    assert RoutingRules().intent(text) == intent


@pytest.mark.parametrize(
    ("text", "other_pool"),
    [
        # "What <verb>s …": the module patterns, when nearer (Router._either)
        ("What grants an agent permission to edit files?", "module"),
        ("What keeps the bot's chat answers from sounding the same?", "module"),
        ("What shows up in the log right after every timeout?", "module"),
        # what happens, what a part does: a README passage, when nearer (Router._design)
        ("What happens when the retries run out?", "design"),
        ("The circuit breaker opened. What happens to the posts?", "design"),
        ("What happens when the git pusher meets a protected branch?", "design"),
        ("What does OpenClaw do with a request when the permission manager is down?", "design"),
        # the log's pool alone
        ("What is the recovery?", ""),
        ("What kinds of errors did the bot hit?", ""),
        ("What does the warning say?", ""),
        ("What did the bot do after the crash?", ""),
        ("What happened after the first channel was checked?", ""),
        ("Which module grants permissions?", ""),  # a module question from the start
    ],
)
def test_lookups_that_may_belong_to_another_pool(text: str, other_pool: str) -> None:
    rules = RoutingRules()
    assert rules.module_or_log(text) is (other_pool == "module")
    assert rules.log_or_design(text) is (other_pool == "design")
    if other_pool:
        assert rules.intent(text) == "lookup"


def test_a_what_verbs_question_is_answered_by_the_nearer_pool() -> None:
    agent = module_pattern("modules/ai_intelligence/agent_permissions", "PermissionManager")
    check = Pattern.make(
        "log_template", "Permission check line", "logs: Permission check: agent qwen-1 may edit"
    )
    question = "What grants an AI agent permission to edit files once it has proven itself?"
    for module_sim, log_sim, intent in ((0.75, 0.69, "module_location"), (0.45, 0.46, "lookup")):
        router = make_router(ListMemory([(agent, module_sim), (check, log_sim)]))
        answer, detail = router.answer_detailed(Query(question, tier="memory"))
        assert detail.intent == intent
        expected = agent.module if intent == "module_location" else "Permission check"
        assert expected in answer.text
    # a question of another shape is never a module question by similarity alone
    router = make_router(ListMemory([(agent, 0.9), (check, 0.3)]))
    _, detail = router.answer_detailed(Query("What happened to the agent?", tier="memory"))
    assert detail.intent == "lookup"


@pytest.mark.parametrize(
    ("text", "search"),
    [
        ("Besides test files in the wrong folder, what other problem was flagged?",
         "what other problem was flagged?"),
        ("Apart from the quota-free page scrape, what else triggers the API check?",
         "what else triggers the API check?"),
        ("Other than that, what failed?", "what failed?"),
        ("What failed besides the upload, and when?", "What failed besides the upload, and when?"),
        ("Besides that?", "Besides that?"),  # no clause before a comma: nothing excluded
    ],
)  # fmt: skip
def test_a_lookup_is_searched_without_what_it_excludes(text: str, search: str) -> None:
    assert RoutingRules().lookup_search_text(text) == search
    memory = ListMemory([])
    make_router(memory).answer(Query(text, tier="memory"))
    assert memory.calls[0]["query"] == search


def test_rules_are_configurable_from_the_settings_table(settings) -> None:
    from dataclasses import replace

    s = replace(settings, threshold=0.5, extra={"routing": {"reasoning_patterns": [r"\bponder\b"]}})
    rules = RoutingRules.from_settings(s)
    assert rules.threshold == 0.5
    assert rules.intent("ponder the stream") == "reasoning"
    assert rules.intent("why is it so") == "lookup"
    with pytest.raises(ValueError, match="unknown routing setting"):
        RoutingRules().updated({"nope": 1})


def test_lookup_answered_by_gemma_when_confident(memory) -> None:
    router = make_router(memory)
    ans = router.answer(Query("Which module reads the live chat?"))
    assert ans.tier == "gemma" and ans.model == "gemma-test"
    assert ans.text == "modules/communication/livechat"
    assert not ans.escalated and ans.escalation_reason == ""
    assert ans.confidence >= 0.7
    assert ans.patterns[0] == LIVECHAT.id and set(ans.patterns) == {
        LIVECHAT.id,
        LINKEDIN.id,
        DATABASE.id,
    }
    assert ans.latency_ms > 0
    # module questions recall module_location patterns only
    assert memory.calls[0]["where"] == {"kind": "module_location"}


def test_low_gemma_confidence_escalates_to_qwen(memory) -> None:
    gemma = ScriptedModel("gemma-test", probs=[0.2, 0.5, 0.3])
    qwen = ScriptedModel("qwen-test", probs=[0.01, 0.98, 0.01])
    router = make_router(memory, gemma, qwen, retrieval_temperature=10.0)
    ans = router.answer(Query("Which module posts to LinkedIn?"))
    assert ans.tier == "qwen" and ans.escalated
    assert ans.escalation_reason.startswith("gemma confidence 0.")
    assert "< 0.70" in ans.escalation_reason
    assert ans.text == "modules/platform_integration/linkedin_agent"
    assert [c[0] for c in qwen.calls] == ["choose"]


def test_threshold_is_a_calibrated_probability(memory) -> None:
    # Raw 0.98 but the calibration says Gemma is right 40% of the time at that score.
    router = make_router(memory)
    router.calibration = Calibration({"gemma": CurveMap(method="platt", a=0.0, b=-0.4)})
    ans = router.answer(Query("Which module reads the live chat?"))
    assert ans.escalated and ans.tier == "qwen"


def test_escalation_reason_never_reads_as_equal_to_the_threshold(memory) -> None:
    router = make_router(memory)
    just_below = math.log(0.6996 / 0.3004)  # a constant curve: every Gemma answer is 0.6996
    router.calibration = Calibration({"gemma": CurveMap(method="platt", a=0.0, b=just_below)})
    ans = router.answer(Query("Which module reads the live chat?"))
    assert ans.escalated and ans.escalation_reason == "gemma confidence 0.69 < 0.70"


def test_reasoning_questions_go_to_qwen_open_answer(memory) -> None:
    qwen = ScriptedModel("qwen-test", text="Because lower scores are checked first.")
    router = make_router(memory, qwen=qwen)
    ans = router.answer(Query("Why does the bot check the lowest score first?"))
    assert ans.tier == "qwen" and not ans.escalated
    assert ans.text == "Because lower scores are checked first."
    assert qwen.calls[0][0] == "complete"
    messages = qwen.calls[0][1].messages
    assert messages[0]["role"] == "system"
    assert [m["role"] for m in messages[1:]] == ["user"]
    # The three recalled patterns are numbered records before the question, each quoted.
    records, question = messages[1]["content"].split("\n\nQuestion: ")
    assert records.startswith("Records:\n1. <data>") and records.count("<data>") == 3
    assert question == "<data>Why does the bot check the lowest score first?</data>"


def test_a_behaviour_question_nearer_a_readme_than_the_log_is_answered_openly() -> None:
    passage = module_passage(
        "modules/infrastructure/git_push_dae", "A protected branch gets an auto-PR instead."
    )
    breaker = Pattern.make(
        "error_fix", "Circuit breaker OPEN for linkedin", "aborting posts for this session"
    )
    question = "What happens when the git pusher meets a protected branch?"
    for doc_sim, log_sim, tier in ((0.6, 0.4, "qwen"), (0.3, 0.7, "gemma")):
        qwen = ScriptedModel("qwen-test", text="It opens a pull request (auto-PR).")
        router = make_router(ListMemory([(passage, doc_sim), (breaker, log_sim)]), qwen=qwen)
        answer, detail = router.answer_detailed(Query(question))
        assert answer.tier == tier, (doc_sim, log_sim)
        assert detail.intent == ("reasoning" if tier == "qwen" else "lookup")
        if tier == "qwen":  # an open answer, from the passage
            assert qwen.calls[0][0] == "complete" and answer.text.startswith("It opens")
            assert "auto-PR" in qwen.calls[0][1].messages[1]["content"]


def test_open_answers_read_prose_before_the_code_index() -> None:
    """A README passage or a log record explains a "why"; the code index's class and
    summary records are read only after them, whatever their similarity."""
    classes = [
        module_pattern("modules/infrastructure/cli", f"class Menu{i}: the menu") for i in range(4)
    ]
    passage = module_passage(
        "modules/infrastructure/cli", "cli README, Why: moved out of main.py per WSP 62 (file size)"
    )
    logged = Pattern.make("log_template", "Menu option 12 selected", "logs: menu option")
    memory = ListMemory([*((c, 0.8) for c in classes), (passage, 0.6), (logged, 0.5)])
    qwen = ScriptedModel("qwen-test", text="Because of WSP 62.")
    ans = make_router(memory, qwen=qwen).answer(Query("Why was the menu moved out of main.py?"))
    records = qwen.calls[0][1].messages[1]["content"].split("\n\nQuestion: ")[0]
    lines = records.splitlines()[1:]
    assert "WSP 62" in lines[0] and "Menu option 12" in lines[1]
    assert sum("class Menu" in line for line in lines) == 2  # then the nearest classes
    assert ans.patterns == (passage.id, logged.id, classes[0].id, classes[1].id)


def test_fast_path_answers_from_memory_without_a_model() -> None:
    memory = ListMemory([(LIVECHAT, 0.97), (LINKEDIN, 0.50)])
    gemma = ScriptedModel("gemma-test")
    router = make_router(memory, gemma)
    ans = router.answer(Query("Which module reads the live chat?"))
    assert ans.tier == "memory" and ans.model == "memory"
    assert ans.text == "modules/communication/livechat"
    assert gemma.calls == []


def test_fast_path_needs_the_close_neighbours_to_agree() -> None:
    memory = ListMemory([(LIVECHAT, 0.97), (LINKEDIN, 0.95)])
    gemma = ScriptedModel("gemma-test", probs=[0.98, 0.01])
    ans = make_router(memory, gemma).answer(Query("Which module reads the live chat?"))
    assert ans.tier == "gemma" and gemma.calls


def test_forced_tiers(memory) -> None:
    router = make_router(memory)
    assert router.answer(Query("Which module reads chat?", tier="memory")).tier == "memory"
    assert router.answer(Query("Which module reads chat?", tier="gemma")).tier == "gemma"
    q = router.answer(Query("Which module reads chat?", tier="qwen"))
    assert q.tier == "qwen" and q.text == "modules/platform_integration/linkedin_agent"
    # a forced Gemma never escalates, whatever its confidence
    low = make_router(
        memory, ScriptedModel("g", probs=[0.34, 0.33, 0.33]), retrieval_temperature=10
    )
    ans = low.answer(Query("Which module reads chat?", tier="gemma"))
    assert ans.tier == "gemma" and not ans.escalated and ans.confidence < 0.7


def test_missing_model_falls_back_to_memory_with_a_clear_error(memory) -> None:
    from foundups_training.routing.router import LazyBackend

    def broken():
        raise FileNotFoundError("no gemma model found. Looked at: ...")

    router = Router(
        memory,
        LazyBackend("gemma", broken),
        ScriptedModel("qwen-test", fail="qwen server down"),
    )
    ans = router.answer(Query("Which module reads the live chat?"))
    assert ans.tier == "memory" and ans.text == "modules/communication/livechat"
    assert "no gemma model found" in ans.error and "qwen server down" in ans.error
    forced = router.answer(Query("Why is this?", tier="qwen"))
    assert forced.tier == "memory" and "qwen: qwen server down" in forced.error


def test_broken_numbers_or_an_empty_answer_count_as_a_failed_tier(memory) -> None:
    """A backend's NaN letter probabilities, or an open answer with no text, are failures
    the router handles (escalation, then memory), never a NaN confidence or a blank."""
    nan = ScriptedModel("gemma-test", probs=[math.nan, 0.5, 0.5])
    router = make_router(memory, nan, ScriptedModel("qwen-test", probs=[0.9, 0.05, 0.05]))
    ans = router.answer(Query("Which module reads the live chat?"))
    assert ans.tier == "qwen" and ans.escalated and ans.escalation_reason == "gemma unavailable"
    assert math.isfinite(ans.confidence) and "non-finite" in ans.error
    silent = make_router(memory, qwen=ScriptedModel("qwen-test", text="  "))
    ans = silent.answer(Query("Why does the bot check the lowest score first?"))
    assert ans.tier == "memory" and "qwen: the model gave no answer" in ans.error
    assert ans.text


def test_escalation_failure_keeps_gemmas_answer(memory) -> None:
    gemma = ScriptedModel("gemma-test", probs=[0.4, 0.3, 0.3])
    router = make_router(memory, gemma, ScriptedModel("q", fail="boom"), retrieval_temperature=10)
    ans = router.answer(Query("Which module reads the live chat?"))
    assert ans.tier == "gemma" and not ans.escalated
    assert "qwen unavailable" in ans.escalation_reason and "boom" in ans.error


def test_broken_memory_never_raises() -> None:
    router = make_router(ListMemory([], fail=True), qwen=ScriptedModel("q", text="I cannot tell."))
    ans = router.answer(Query("Which module reads the live chat?"))
    assert "store is down" in ans.error
    assert ans.tier == "qwen" and ans.escalated and ans.escalation_reason == "no patterns recalled"


def test_empty_and_unknown_tier() -> None:
    router = make_router(ListMemory([]))
    assert router.answer(Query("  ")).error == "empty question"
    assert "unknown tier" in router.answer(Query("x", tier="gpt")).error


def test_closed_label_set_is_scored_by_the_model() -> None:
    gemma = ScriptedModel("gemma-test", probs=[0.05, 0.9, 0.05])
    router = make_router(ListMemory([]), gemma)
    ans = router.answer(Query("is this troll?", labels=("ignore", "timeout", "ban")))
    assert ans.text == "timeout" and ans.tier == "gemma"


def test_gemma_prompt_keeps_a_stable_prefix(memory) -> None:
    gemma = ScriptedModel("gemma-test")
    router = make_router(memory, gemma)
    router.answer(Query("Which module reads the live chat?"))
    router.answer(Query("Where is the database?"))
    a, b = (c[1].text for c in gemma.calls)
    from foundups_training.models.prompts import GEMMA_INSTRUCTIONS

    assert a.startswith(GEMMA_INSTRUCTIONS) and b.startswith(GEMMA_INSTRUCTIONS)
    assert a.endswith("» =") and "«reads and answers YouTube live chat» = " in a


def test_concurrent_answers_are_independent(memory) -> None:
    from concurrent.futures import ThreadPoolExecutor

    router = make_router(memory)
    with ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(lambda i: router.answer_detailed(Query(f"Which module {i}?")), range(16))
        )
    assert all(a.tier == "gemma" and d.scorer == "gemma" for a, d in answers)


def test_close_closes_backends(memory) -> None:
    gemma, qwen = ScriptedModel("g"), ScriptedModel("q")
    router = make_router(memory, gemma, qwen)
    router.answer(Query("Which module reads the live chat?"))
    router.close()
    assert gemma.closed


def test_lookups_recall_what_the_log_taught_not_the_code_index() -> None:
    fix = Pattern.make("error_fix", "403 quotaExceeded", "Rotating to credential set 2")
    doc = Pattern.make(
        "module_doc", "youtube_auth README, Quota: rotates", "modules/x/youtube_auth/"
    )
    memory = ListMemory([(LIVECHAT, 0.9), (doc, 0.8), (fix, 0.6)])
    ans = make_router(memory, ScriptedModel("g", probs=[0.99])).answer(
        Query("YouTube answered 403 quotaExceeded: the recovery?")
    )
    assert memory.calls[0]["where"] == {
        "kind": {"$nin": ["module_location", "module_doc", "chat_response", "moderation"]}
    }
    assert ans.text == "Rotating to credential set 2; after: 403 quotaExceeded"
    assert ans.patterns == (fix.id,)


def _chat_and_log() -> tuple[ListMemory, Pattern, Pattern]:
    fix = Pattern.make("error_fix", "403 quotaExceeded", "Rotating to credential set 2")
    chat = Pattern.make(
        "chat_response", 'message: "youtube quota exceeded again lol"', "respond: banter",
        source="live_chat",
    )  # fmt: skip
    ban = Pattern.make(
        "moderation", 'deleted message: "MAGA 2024"', "timeout 60s — human moderator",
        source="live_chat",
    )  # fmt: skip
    return ListMemory([(chat, 0.9), (ban, 0.85), (fix, 0.6)]), fix, ban


def test_a_log_lookup_is_not_answered_from_chat_messages() -> None:
    # Chat messages share a log question's words (and at 100K patterns there are tens of
    # thousands of them): a question about the system reads what the log taught.
    memory, fix, _ = _chat_and_log()
    ans = make_router(memory, ScriptedModel("g", probs=[0.99])).answer(
        Query("YouTube answered 403 quotaExceeded. What is the recovery?")
    )
    assert [c["where"] for c in memory.calls][:1] == [
        {"kind": {"$nin": ["module_location", "module_doc", "chat_response", "moderation"]}}
    ]
    assert ans.text == "Rotating to credential set 2; after: 403 quotaExceeded"
    assert ans.patterns == (fix.id,)


@pytest.mark.parametrize(
    "text",
    ["Which module handles stream detection?", "YouTube answered 403. What is the recovery?"],
)
def test_a_store_that_learned_only_from_chat_does_not_answer_other_questions_with_it(
    text: str,
) -> None:
    """A host that streamed before anything was mined: its store holds only chat. A
    question about the system gets an open answer that says nothing was recalled, not a
    chat message as "the module" or "the recovery"."""
    memory, _, _ = _chat_and_log()
    memory.items = [(p, s) for p, s in memory.items if p.source == "live_chat"]
    ans = make_router(memory).answer(Query(text))
    assert ans.patterns == () and ans.model == "qwen-test"
    assert ans.escalation_reason == "no patterns recalled"
    chat = make_router(memory).answer(Query("What did the moderators do about MAGA 2024?"))
    assert chat.patterns  # a question about chat still reads them


def test_a_question_about_chat_also_reads_the_patterns_learned_live() -> None:
    memory, _, ban = _chat_and_log()
    router = make_router(memory, ScriptedModel("g", probs=[0.01, 0.98, 0.01]))
    ans = router.answer(Query("What did the moderators do when a viewer wrote MAGA 2024?"))
    wheres = [c["where"] for c in memory.calls]
    assert {"kind": "moderation"} in wheres and {"kind": "chat_response"} in wheres
    assert ans.text == "timeout 60s — human moderator" and ans.patterns[0] == ban.id


def test_a_query_that_names_its_kind_is_a_lookup_among_that_kind() -> None:
    memory, _, ban = _chat_and_log()
    ans = make_router(memory, ScriptedModel("g", probs=[0.99])).answer(
        Query("what happened to MAGA 2024", kind="moderation", tier="memory")
    )
    assert memory.calls[0]["where"] == {"kind": "moderation"}
    assert ans.patterns == (ban.id,)


def test_gemma_sees_the_best_options_and_qwen_all_of_them() -> None:
    mods = [module_pattern(f"modules/d/m{i}", f"module m{i} does thing {i}") for i in range(4)]
    memory = ListMemory([(p, 0.60 - 0.01 * i) for i, p in enumerate(mods)])
    gemma = ScriptedModel("gemma-test")  # uniform: too unsure, so it escalates
    qwen = ScriptedModel("qwen-test", probs=[0.01, 0.01, 0.01, 0.97])
    router = make_router(memory, gemma, qwen, gemma_max_options=3, retrieval_temperature=1.0)
    # the question's words are every option's: their similarity alone orders them
    ans = router.answer(Query("Which module does the thing?"))
    gemma_prompt, qwen_prompt = gemma.calls[0][1].text, qwen.calls[0][1].messages[-1]["content"]
    assert gemma_prompt.count("» = ") == 3 and "m3 does" not in gemma_prompt
    assert "D. modules/d/m3" in qwen_prompt
    assert ans.escalated and ans.tier == "qwen" and ans.text == "modules/d/m3"


class SummaryMemory(ListMemory):
    """ListMemory that also answers ``similarity`` for module summaries, from a fixed map."""

    def __init__(self, items, summaries, fail_similarity=False) -> None:  # type: ignore[no-untyped-def]
        super().__init__(items)
        self.summaries = summaries
        self.fail_similarity = fail_similarity
        self.similarity_calls: list[tuple[str, list[str]]] = []

    def similarity(self, query, ids):  # type: ignore[no-untyped-def]
        self.similarity_calls.append((query, list(ids)))
        if self.fail_similarity:
            raise RuntimeError("store is down")
        return {i: self.summaries[i] for i in ids if i in self.summaries}


DASHBOARD = "modules/infrastructure/dae_components"
DAEMON = "modules/infrastructure/dae_daemon"


def _daemon_memory(**kw) -> SummaryMemory:  # type: ignore[no-untyped-def]
    from foundups_training.records import module_summary_id

    # A class of another module shares the question's words; the asked-for module's summary
    # says what it is for.
    cls = module_pattern(DASHBOARD, "class DAEMonitorDashboard: real-time monitoring dashboard")
    summary = module_pattern(DAEMON, "dae_daemon: central monitor of every DAE's state")
    return SummaryMemory(
        [(cls, 0.72), (summary, 0.68)],
        {module_summary_id(DAEMON): 0.68, module_summary_id(DASHBOARD): 0.40},
        **kw,
    )


def test_module_summary_weighs_in_the_ranking() -> None:
    question = "Which module is the dashboard daemon that shows whether every DAE is running?"
    memory = _daemon_memory()
    router = make_router(memory, ScriptedModel("g", probs=[0.5, 0.5]), summary_weight=0.5)
    ans = router.answer(Query(question, tier="memory"))
    assert ans.text == DAEMON
    # searched for without the lead-in, and the summaries asked with the same text
    assert (
        memory.calls[0]["query"] == "the dashboard daemon that shows whether every DAE is running?"
    )
    assert memory.similarity_calls[0][0] == memory.calls[0]["query"]
    # weight 0: the best single pattern decides, as before
    unweighted = make_router(_daemon_memory(), summary_weight=0.0)
    assert unweighted.answer(Query(question, tier="memory")).text == DASHBOARD


def test_module_passages_weigh_in_the_ranking() -> None:
    """Two modules tie on their patterns; the one whose README passage says what the
    question asks wins. Passages never become options themselves."""
    a = module_pattern("modules/d/alpha", "alpha: handles things")
    b = module_pattern("modules/d/beta", "beta: handles things")
    passage = module_passage(
        "modules/d/beta", "beta README, Purpose: writes the recap after a call"
    )
    memory = ListMemory([(a, 0.60), (b, 0.59), (passage, 0.80)])
    question = Query("Which module writes the recap after a call?", tier="memory")
    assert make_router(memory, doc_weight=0.5).answer(question).text == "modules/d/beta"
    assert memory.calls[-1]["where"] == {"kind": "module_doc"}
    assert make_router(memory, doc_weight=0.0).answer(question).text == "modules/d/alpha"


def _doc_only_memory(**kw) -> SummaryMemory:  # type: ignore[no-untyped-def]
    from foundups_training.records import module_summary_id

    # Seventeen classes of one module fill the question's recall; the asked-for module's
    # own code patterns rank below them, its README passage says what the question asks.
    crowd = [(module_pattern("modules/d/alpha", f"class Alpha{i}: meters"), 0.5) for i in range(17)]
    beta = module_pattern("modules/d/beta", "beta: compute access")
    passage = module_passage("modules/d/beta", "beta README, Paywall: meters paid build compute")
    # a passage of a folder that is no indexed module (no summary pattern)
    stray = module_passage("modules/d/docs", "docs README: meters")
    return SummaryMemory(
        [*crowd, (beta, 0.3), (passage, 0.9), (stray, 0.95)],
        {module_summary_id("modules/d/beta"): 0.3},
        **kw,
    )


def test_a_module_its_passage_brings_is_an_option() -> None:
    """A module none of whose code patterns was recalled is still an option when its own
    README passage is among the nearest, scored like any other module."""
    question = Query("Where is the paywall that meters paid build compute?", tier="memory")
    router = make_router(_doc_only_memory(), doc_weight=0.5)
    ans = router.answer(question)
    # beta: its summary's 0.3 mixed half and half with its passage's 0.9 = 0.6 > alpha's 0.5
    assert ans.text == "modules/d/beta"
    options = [c.text for c in router._local.candidates]
    assert options == ["modules/d/beta", "modules/d/alpha"]  # never the stray folder
    assert make_router(_doc_only_memory(), doc_weight=0.0).answer(question).text == (
        "modules/d/alpha"
    )
    broken = make_router(_doc_only_memory(fail_similarity=True), doc_weight=0.5)
    ans = broken.answer(question)
    assert ans.text == "modules/d/alpha" and not ans.error


class NeighbourMemory(SummaryMemory):
    """SummaryMemory that also gives a kind's nearest without their text (``neighbours``)
    and reads the few wanted (``patterns``), as the real store does."""

    def __init__(self, *args, **kw) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kw)
        self.read: list[list[str]] = []

    def neighbours(self, query, n, kind):  # type: ignore[no-untyped-def]
        from foundups_training.records import Near

        hits = self.recall(query, n=n, where={"kind": kind})
        return [Near(r.pattern.id, r.pattern.kind, r.pattern.module, r.similarity) for r in hits]

    def patterns(self, ids):  # type: ignore[no-untyped-def]
        self.read.append(list(ids))
        return {p.id: p for p, _ in self.items if p.id in ids}


def test_passages_read_without_their_text_give_the_same_options() -> None:
    """With a memory that gives passages without their text, the ranking is the same, and
    only the passage of a module its passage alone brings is read."""
    question = Query("Where is the paywall that meters paid build compute?", tier="memory")
    plain = make_router(_doc_only_memory(), doc_weight=0.5)
    expected = plain.answer(question)
    items, summaries = plain.memory.items, plain.memory.summaries  # type: ignore[attr-defined]
    memory = NeighbourMemory(items, summaries)
    router = make_router(memory, doc_weight=0.5)
    ans = router.answer(question)
    assert (ans.text, ans.confidence, ans.patterns) == (
        expected.text,
        expected.confidence,
        expected.patterns,
    )
    assert router._local.candidates == plain._local.candidates
    beta_passage = next(p for p, _ in items if p.kind == "module_doc" and "beta" in p.module)
    assert memory.read == [[beta_passage.id]]  # not the stray folder's, nor any other
    # a passage deleted between the two reads: beta is left out, nothing fails
    memory.items = [(p, s) for p, s in items if p.id != beta_passage.id or p.kind != "module_doc"]
    memory.recall = lambda *a, **k: ListMemory(items).recall(*a, **k)  # type: ignore[method-assign]
    gone = make_router(memory, doc_weight=0.5).answer(question)
    assert gone.text == "modules/d/alpha" and not gone.error


def test_summary_weighting_failure_keeps_the_plain_ranking() -> None:
    memory = _daemon_memory(fail_similarity=True)
    # no option says the question's words: the patterns' own similarity orders them
    ans = make_router(memory).answer(Query("Which module handles it?", tier="memory"))
    assert ans.text == DASHBOARD and not ans.error


@pytest.mark.parametrize(
    ("text", "search"),
    [
        ("Which module writes a recap of a call?", "writes a recap of a call?"),
        ("Where is the code that posts to LinkedIn?", "posts to LinkedIn?"),
        ("What component is responsible for OAuth?", "responsible for OAuth?"),
        ("Where does the doc clean-up live?", "doc clean-up live?"),
        ("What part of the system opens the sessions?", "opens the sessions?"),
        ("Which module?", "Which module?"),  # a lead-in with nothing after it stays as asked
        (
            "Who decides which GGUF file serves the code role?",
            "Who decides which GGUF file serves the code role?",
        ),
    ],
)
def test_module_questions_are_searched_without_their_lead_in(text: str, search: str) -> None:
    assert RoutingRules().module_search_text(text) == search


@pytest.mark.parametrize(
    ("text", "about_chat"),
    [
        ("What did the moderators do when a troll wrote MAGA 2024?", True),
        ("Was anyone banned for spam yesterday?", True),
        ("What did the bot answer when a viewer asked about rent?", True),
        ("What did someone write before the timeout?", False),  # "write" is not "wrote"
        ("A chat message crashed the processor with a NoneType error. Was it retried?", False),
        ("Why were the idle tasks skipped when the ping timed out?", False),
        ("YouTube answered 403 quotaExceeded. What is the recovery?", False),
    ],
)
def test_questions_about_chat_are_told_from_questions_about_the_system(
    text: str, about_chat: bool
) -> None:
    assert RoutingRules().about_live_chat(text) is about_chat
