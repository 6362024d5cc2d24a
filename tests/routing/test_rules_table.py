"""What each entry of the routing tables (``routing/rules.py``) is for, one entry at a time.

Each entry gets the questions a person would ask that it must catch, and near misses it must
leave alone: the word inside another word ("whyte", "reviewer"), the same word in another
sense or tense ("what happened" is a log question, "what would happen" is not), questions
in the same shape that ask something else. Wording is taken from the evaluation sets where
they have a question for the entry. Every question is checked twice: against the entry
alone (does this entry fire?) and through the public classification with the default rules
(what the router makes of it), in mixed case and without its final punctuation as well.

A question is *decisive* for an entry when removing the entry changes what the default rules
make of it; every entry has one, so no entry is dead weight that a test would not miss.
Gaps found while writing these are in ``test_rules_table_gaps.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import pytest

from foundups_training.records import Query
from foundups_training.routing import Router, RoutingRules
from foundups_training.routing.router import CODE_KINDS, LIVE_KINDS

from .scripted import ListMemory, ScriptedModel

#: what a table's entries decide, read through the public methods of ``RoutingRules``
Outcome = str | bool

INTENT_TABLES = ("reasoning_patterns", "event_patterns", "module_patterns")


def classify(rules: RoutingRules, table: str, text: str) -> Outcome:
    """What ``rules`` make of ``text`` by the method that reads ``table``."""
    reads: dict[str, Callable[[str], Outcome]] = {
        "reasoning_patterns": rules.intent,
        "event_patterns": rules.intent,
        "module_patterns": rules.intent,
        "either_patterns": rules.module_or_log,
        "behaviour_patterns": rules.log_or_design,
        "live_chat_patterns": rules.about_live_chat,
        "module_leads": rules.module_search_text,
        "exclusion_leads": rules.lookup_search_text,
    }
    return reads[table](text)


def fires(table: str, pattern: str, text: str) -> bool:
    """Whether ``pattern`` alone, as the only entry of ``table``, matches ``text``; read
    through the public methods, with the other tables set so that the answer shows."""
    if table == "reasoning_patterns":
        return RoutingRules(reasoning_patterns=(pattern,)).intent(text) == "reasoning"
    if table == "event_patterns":
        # an event question is a lookup even where a module pattern (here: all text) matches
        only = RoutingRules(reasoning_patterns=(), event_patterns=(pattern,), module_patterns=("",))
        return only.intent(text) == "lookup"
    if table == "module_patterns":
        only = RoutingRules(reasoning_patterns=(), event_patterns=(), module_patterns=(pattern,))
        return only.intent(text) == "module_location"
    only = RoutingRules().updated({table: (pattern,)})
    outcome = classify(only, table, text)
    return outcome if isinstance(outcome, bool) else outcome != text.strip()


def without(table: str, index: int) -> RoutingRules:
    """The default rules less one entry of one table."""
    rules = RoutingRules()
    entries: tuple[str, ...] = getattr(rules, table)
    return rules.updated({table: entries[:index] + entries[index + 1 :]})


@dataclass(frozen=True)
class Entry:
    """One table entry's questions: (question, what the default rules make of it)."""

    table: str
    index: int
    hits: tuple[tuple[str, Outcome], ...]
    misses: tuple[tuple[str, Outcome], ...]


R, M, L = "reasoning", "module_location", "lookup"

ENTRIES = (
    # -- reasoning: answered by Qwen from the design, not looked up ----------------------------
    Entry("reasoning_patterns", 0,  # a question that opens with "why"
        hits=(
            ("Why does the whack-a-magat game give fewer points for timing out the same person "
             "again?", R),
            ("Why not keep the old token when the quota runs out?", R),
            ("The DAE restarted twice at noon. Why not keep the old token?", R),
        ),
        misses=(
            ("Whyte's channel went live at noon. Which chat did the bot join?", L),
            ("Which module logs why an upload failed?", M),
        )),
    Entry("reasoning_patterns", 1,  # "why" + auxiliary anywhere: after a sentence of context
        hits=(
            ("Starting the YouTube DAE used to close the Chrome window I keep open for YouTube "
             "Studio. Why doesn't that happen any more?", R),
            ("The DAE restarted twice at noon. Why did it do that?", R),
            ("The bot skipped the idle tasks when the ping timed out, but why does it do that?", R),
            ("The DAE crashed at noon. Why didn't the watchdog restart it?", R),
            ("The DAE crashed at noon. Why didn’t the watchdog restart it?", R),
        ),
        misses=(
            ("Which module records why a post was skipped?", M),
            ("Which module logs why Docker builds fail?", M),  # "do" inside "Docker"
        )),
    Entry("reasoning_patterns", 2,  # "how should/would/could/do/can I/we": advice
        hits=(
            ("How do I get the video indexer to redo all of its indexing on the next cycle?", R),
            ("If I route OpenClaw's conversations through the IronClaw sidecar, how would we "
             "keep everything off the cloud LLM providers?", R),
        ),
        misses=(
            ("How do identity tokens get refreshed at noon?", L),  # "i" inside "identity"
            ("How can it get its editing rights back?", L),
        )),
    Entry("reasoning_patterns", 3,  # "how should" with any subject
        hits=(("How should a new module get authorised to call the YouTube API?", R),),
        misses=(
            ("Which module decides how the bot should answer a quiz command?", M),
            ("Which module restarts a DAE that somehow shouldn't be down?", M),
        )),
    Entry("reasoning_patterns", 4,  # "what's the intent/purpose/reason …"
        hits=(
            ("What is the purpose of the idle automation module?", R),
            ("What's the idea of running the git pusher on a timer?", R),
            ("What’s the intent of the idle automation module?", R),
        ),
        misses=(
            ("What is the idea_bank module for?", M),  # a name, not "the idea"
            ("What was the intentionally skipped step in the WSP check?", L),
        )),
    Entry("reasoning_patterns", 5,  # "what would/will happen": a hypothetical
        hits=(("What would happen if the YouTube DAE restarted in the middle of a stream?", R),),
        misses=(("What happened when the YouTube DAE restarted in the middle of a stream?", L),)),
    Entry("reasoning_patterns", 6,  # "what happens if": a hypothetical
        hits=(
            ("What happens if I ask the 'follow WSP' orchestrator to run a task while the "
             "zen-state compliance check is failing and strict mode is on?", R),
        ),
        misses=(
            ("What happens in the log after every moderator timeout?", L),
            ("What happens when the retries run out?", L),  # the nearer pool decides
        )),
    Entry("reasoning_patterns", 7,  # "the reasoning/rationale/thinking/idea behind"
        hits=(("What's the reasoning behind Liberty Alert working without any cloud backend?", R),),
        misses=(("Where is the code for rethinking behind-schedule posts?", M),)),
    Entry("reasoning_patterns", 8,  # how a part makes a choice: its design
        hits=(
            ("How does browser_actions choose whether a given platform action runs on the "
             "Selenium driver or on UI-TARS?", R),
            ("How does the bot pick a channel to check first?", R),
        ),
        misses=(
            ("How did the bot choose which channel to join at 15:27?", L),  # one logged event
            ("How does the channel selection show up in the log?", L),
        )),
    Entry("reasoning_patterns", 9,  # "Can I …?" at the start: advice
        hits=(
            ("Can I fix the GotJUNK app by editing its code directly in the Cloud Run "
             "console?", R),
            ("May we restart the stream resolver while a broadcast is on?", R),
        ),
        misses=(
            ("Can it restart itself after a crash?", L),
            ("Can Instagram posts go out at noon?", L),
            ("Which module can I use to post to X?", M),
        )),
    Entry("reasoning_patterns", 10,  # explain, justify, compare, trade-offs
        hits=(
            ("Explain how the circuit breaker protects the other platforms when LinkedIn "
             "fails.", R),
            ("What are the trade-offs of running Qwen on the CPU?", R),
            ("pros and cons of polling the chat faster", R),
        ),
        misses=(
            ("What explanation did the guardian log for the violation?", L),
            ("Which DAE compares the live WSP framework copy with the backup?", M),
        )),
    Entry("reasoning_patterns", 11,  # "should I/we" anywhere
        hits=(
            ("Should I build a new LinkedIn or YouTube integration inside the FoundUps platform "
             "infrastructure package under modules/foundups/src?", R),
            ("Which domain should I put a new YouTube authentication helper into?", R),
        ),
        misses=(
            ("Which domain should a new YouTube authentication helper go into?", L),
            ("Which module should include the retry logic?", M),  # "i" inside "include"
        )),
    Entry("reasoning_patterns", 12,  # asks for an opinion
        hits=(("What do you recommend for keeping the bot under the YouTube quota?", R),),
        misses=(("What do your logs say about the quota at noon?", L),)),
    Entry("reasoning_patterns", 13,  # what went wrong: a diagnosis
        hits=(
            ("What was going wrong that made someone write a bulk script to clean up the UTF-8 "
             "console-wrapping block?", R),
            ("What went wrong with the LinkedIn post at 15:20?", R),
        ),
        misses=(("What went out to LinkedIn at 15:20?", L),)),
    Entry("reasoning_patterns", 14,  # what caused: a diagnosis
        hits=(("What caused the DAE to restart at noon?", R),),
        misses=(("What is the cause listed in the quota error?", L),)),
    Entry("reasoning_patterns", 15,  # what made X <fail>: a cause, as "what caused"
        hits=(
            ("What made the daemon crash?", R),
            ("What made the bot stop responding at noon?", R),
            ("What made our chat poller give up?", R),
        ),
        misses=(
            ("What made the dashboard?", M),
            ("Which module made the dashboard?", M),
            ("What made it into the log at noon?", L),
        )),
    # -- event: shaped like a module question, answered by what the log recorded --------------
    Entry("event_patterns", 0,  # where something went
        hits=(
            ("Where did the resolver-cache test file end up after the guardian reported it "
             "under WSP 49?", L),
            ("When credential set 2 hit its YouTube quota, which set did the auth module move "
             "on to?", L),
        ),
        misses=(
            ("Where did the bot post the announcement?", M),
            ("Where did the bot read its input from?", M),  # "put" inside "input"
            ("Where did the Google auth token come from?", M),  # "go" inside "Google"
        )),
    Entry("event_patterns", 1,  # where a logged line says something is
        hits=(
            ("In the guardian's warnings about misplaced test files, where does the warning say "
             "the file was found?", L),
        ),
        misses=(("Where does the warning get raised?", M),)),
    Entry("event_patterns", 2,  # which module/file a logged line named
        hits=(
            ("Which module in the infrastructure domain did the guardian flag?", L),
            ("When the local code model could not be loaded, which file path did the model "
             "selector say it could not find?", L),
            ("Which service did the watchdog restart after the crash?", L),
        ),
        misses=(("Which module does the guardian flag most?", M),)),
    Entry("event_patterns", 3,  # what a logged search listed
        hits=(
            ("When the Health & WSP Compliance check runs with a HoloIndex search, which file is "
             "ranked first among the results?", L),
        ),
        misses=(("Which file is responsible for ranking the search results?", M),)),
    Entry("event_patterns", 4,  # what a logged line named
        hits=(
            ("Around 15:17 on 20 October the guardian raised a complaint about the idle "
             "automation module that had nothing to do with a stray test. Which rule number did "
             "it cite?", L),
        ),
        misses=(("Which rule number does the guardian cite for stray tests?", L),)),
    # -- module: where something lives in the host's tree --------------------------------------
    Entry("module_patterns", 0,  # which module/package/component/DAE/code/file/folder
        hits=(
            ("Which module writes a recap of a call that just ended?", M),
            ("What component opens the connection to the agent's database server?", M),
            ("Which modules handle YouTube sign-in and credential rotation?", M),
            ("Which module handles a crashed daemon?", M),  # "crashed" describes the daemon
            # a past tense after "which module" leaves it a module question (see [2]: "sent")
            ("Which module sent the alert?", M),
        ),
        misses=(
            ("What codebase size did the indexer report?", L),
            ("What filesystem is the pattern store kept on?", L),
        )),
    Entry("module_patterns", 1,  # which part/piece/bit of the code/system
        hits=(
            ("What part of the code reads the chat during a broadcast and decides what the bot "
             "answers?", M),
        ),
        misses=(
            ("What part of the message was missing?", L),
            ("What part of the codec settings did the uploader log?", L),
        )),
    Entry("module_patterns", 2,  # which <kind of program>: app, server, daemon, tool …
        hits=(
            ("Which educational web app teaches how to locate a sound source from differences "
             "in arrival time?", M),
            ("What daemon keeps the heartbeat file fresh?", M),
            # a past participle right before the program describes it: still a module question
            ("Which automated tool posts the stream summary?", M),
            ("Which tool restarts the service?", M),
            ("Which jobs feed the dashboard?", M),  # "feed the": no past tense
            # an irregular participle before the program, or a present tense, describes it too
            ("Which broken tool posts the stream summary?", M),
            ("Which hung service still holds the lock file?", M),
            ("What jobs keep the daemon alive?", M),
            # "shut" after a plural is a present tense: which jobs do that, every night
            ("Which jobs shut the service down every night?", M),
            # so are "set", "put", "cut", "hit", "let": what those jobs do, not what was done
            ("Which jobs set the service up?", M),
            ("Which tools put the server in maintenance?", M),
            ("Which scripts cut the daemon's logs?", M),
            ("Which jobs put the server in maintenance?", M),  # "jobs" names no program
            ("Which jobs cut the daemon's logs?", M),
            ("Which jobs hit the server every minute?", M),
            ("Which jobs let the dashboard show the quota?", M),
            ("What jobs set the service up?", M),  # after "what jobs", not right after "what"
            # "lost" inside a word, or describing the program: no past tense before "the"
            ("Which lost-and-found tool keeps the stray files?", M),
        ),
        misses=(
            ("What did the daemon do after the crash?", L),
            ("What happened to the daemon after the crash?", L),
            ("Which toolbar shows the quota?", L),
            ("What is the dashboard showing at noon?", L),
            # a past tense, then "the"/"our"/…: what was done to the program, a logged event
            ("What crashed the daemon at noon?", L),
            ("What restarted the service?", L),
            ("What stopped our service at noon?", L),
            ("What has crashed the daemon?", L),
            ("What killed the bot yesterday?", L),
            ("What knocked out our server at noon?", L),  # a particle between verb and "our"
            # an irregular past tense, alone or with "down", "up" …, then "the"/"our"/…
            ("What broke the server at noon?", L),
            ("What froze the dashboard at noon?", L),
            ("What hung the daemon yesterday?", L),
            ("What took down the server?", L),
            ("What brought the service down at noon?", L),
            ("What blew up our server last night?", L),
            ("What woke the daemon at three in the morning?", L),
            ("What stole the daemon's lock?", L),
            ("What threw the server into a restart loop?", L),
            ("What overwrote the dashboard's settings?", L),
            ("What ate the server's memory overnight?", L),
            ("What spun up the service at noon?", L),
            ("What kept the daemon alive after the crash?", L),
            ("What left the server running overnight?", L),
            ("What ran the cleanup script at noon?", L),
            ("What wrote the service's lock file?", L),
            # "what" is the subject, so "shut" is its past tense ("what shuts" is present)
            ("What shut down the daemon at noon?", L),
            # more irregular past tenses, one question each
            ("What sent the server offline?", L),
            ("What got the daemon killed?", L),
            ("What caught the script?", L),
            ("What drove the service down?", L),
            ("What tore down the service?", L),
            ("What lost the daemon?", L),
            ("What sank the server?", L),
            ("What shook the service?", L),
            ("What struck the daemon?", L),
            ("What shot down the server?", L),
            # "freed" is listed: the "-ed" rule skips "-eed" words ("feed", "need", "speed")
            ("What freed the server?", L),
            # like "shut": past tenses right after "what", present after a plural ("jobs")
            ("What hit the server at noon?", L),
            ("What cut the server off at noon?", L),
            ("What put the server in maintenance?", L),
            ("What set the server to read-only?", L),
            ("What let the server run out of memory?", L),
        )),
    Entry("module_patterns", 3,  # "where is/are/does/can …"
        hits=(
            ("Where is the SQLite catalog that lists each indexed YouTube video with its "
             "channel, title, duration and topics?", M),
            ("Where would I look to find out whether one of our channels is broadcasting right "
             "now?", M),
            ("Where is the restarted service's code?", M),
        ),
        misses=(
            ("Where was the stray test file found?", L),
            ("Whereas the auth module retries, what does the resolver do then?", L),
            ("Nowhere is the quota reset logged; what does the daemon print instead?", L),
            ("Where issues pile up, what does the guardian log?", L),
        )),
    Entry("module_patterns", 4,  # "where's"
        hits=(("Where's the YouTube auth?", M), ("Where’s the YouTube auth?", M)),
        misses=(("Where'd the stray test file go?", L),)),
    Entry("module_patterns", 5,  # "the module/code that …"
        hits=(
            ("I need the module responsible for posting to LinkedIn.", M),
            ("Once a broadcast is over, the chat daemon hands off to another module for the "
             "off-air chores. Which module is that?", M),
        ),
        misses=(
            ("What did the daemon report about the modules that failed?", L),
            ("Which line says the bot failed to decode that message?", L),
            ("What is the error code for a quota failure?", L),
        )),
    Entry("module_patterns", 6,  # "who handles/owns/decides …": a part of the system
        hits=(
            ("Who decides which GGUF model file serves the code role, and falls back to the old "
             "HoloIndex files?", M),
        ),
        misses=(
            ("Who was timed out most during the last stream?", L),
            ("Who posted the first message in chat?", L),
            ("Who stopped the daemon?", L),  # what happened, not who does it
        )),
    Entry("module_patterns", 7,  # "which is the (only) module …"
        hits=(("Which is the only module filed under the foundups domain?", M),),
        misses=(("Which is the only channel the bot never checked?", L),)),
    # -- "What <verb>s …": a module or a logged line, the nearer pool decides -----------------
    Entry("either_patterns", 0,
        hits=(
            ("What grants an AI agent permission to edit files once it has proven itself?", True),
            ("What shows up in the log right after every moderator timeout?", True),
        ),
        misses=(
            ("What kinds of errors did the bot hit?", False),
            ("What is the recovery?", False),
            ("Whatever grants access, which line logs it?", False),
            ("So what keeps the bot's chat answers fresh?", False),  # not the question's opening
            ("What crashed the daemon at noon?", False),  # what happened, not who does it
            ("What errors did the bot hit after the crash?", False),  # a plural noun, then a verb
        )),
    # -- a lookup that may ask how the code behaves --------------------------------------------
    Entry("behaviour_patterns", 0,
        hits=(
            ("Every credential set hit its quota. What happens until the quota resets?", True),
            ("The social media orchestrator opened its circuit breaker for LinkedIn. What "
             "happens to the posts?", True),
        ),
        misses=(("What happened after the first channel was checked?", False),)),
    Entry("behaviour_patterns", 1,
        hits=(
            ("What does OpenClaw do with a request to change source code when it can't get an "
             "answer from the permission manager?", True),
        ),
        misses=(
            ("What does the warning say?", False),
            ("What did the bot do after the crash?", False),
        )),
    # -- a lookup about people in the chat also searches what was learned live ----------------
    Entry("live_chat_patterns", 0,
        hits=(
            ("Viewers keep asking the bot to check somebody's claims. Which command do they "
             "use?", True),
            ("How many trolls did the bot time out during the last stream?", True),
        ),
        misses=(
            ("What did the code reviewer flag in the livechat module?", False),
            ("Which module tracks viewership numbers?", False),
        )),
    Entry("live_chat_patterns", 1,
        hits=(
            ("The moderator daemon periodically logs that it is still alive. What does that "
             "status line count?", True),
        ),
        misses=(("Why did the CPU run moderately hot at noon?", False),)),
    Entry("live_chat_patterns", 2,
        hits=(
            ("How many people were banned during the last stream?", True),
            ("When did the bot start banning the new accounts?", True),
        ),
        misses=(("Which bandwidth limit did the uploader hit?", False),)),
    Entry("live_chat_patterns", 3,
        hits=(
            ("What did the bot reply after Move2Japan posted in chat about the next stream?",
             True),
            ("What did the bot answer when UnDaoDu asked in the livechat for the schedule?",
             True),
        ),
        misses=(
            ("What did the orchestrator post to LinkedIn after the stream?", False),
            ("What was posted to the chatbot's log at noon?", False),
        )),
    Entry("live_chat_patterns", 4,
        hits=(("Somebody wrote a link during the stream. What did the bot do about it?", True),),
        misses=(
            ("What did the bot post after it wrote the summary?", False),
            ("What did the bot do after the cache said the token was stale?", False),
        )),
    # -- lead-ins a module question is searched without ----------------------------------------
    Entry("module_leads", 0,
        hits=(
            ("Which module writes a recap of a call that just ended?",
             "writes a recap of a call that just ended?"),
            ("What part of the system compiles reference documentation into a compact form?",
             "compiles reference documentation into a compact form?"),
            ("Which code is responsible for the OAuth refresh?",
             "responsible for the OAuth refresh?"),
        ),
        misses=(
            ("Tell me which module writes the recap.", "Tell me which module writes the recap."),
            ("What codebase indexes the videos?", "What codebase indexes the videos?"),
        )),
    Entry("module_leads", 1,
        hits=(
            ("Where is the code that talks to the OpenAI API?", "talks to the OpenAI API?"),
            ("Where is the MCP server that gives Qwen and Gemma tools?",
             "MCP server that gives Qwen and Gemma tools?"),
        ),
        misses=(
            ("Where was the stray test file found?", "Where was the stray test file found?"),
            ("Whereas the auth module retries, where does it log?",
             "Whereas the auth module retries, where does it log?"),
        )),
    # -- lead-ins that name what a lookup does not ask about -----------------------------------
    Entry("exclusion_leads", 0,
        hits=(
            ("Apart from chat traffic, the root logger keeps printing one recurring line with a "
             "counter. What does it say?",
             "the root logger keeps printing one recurring line with a counter. What does it say?"),
            ("Except for the quota errors, what failed at noon?", "what failed at noon?"),
        ),
        misses=(
            ("What failed besides the upload, and when?",
             "What failed besides the upload, and when?"),
            ("Otherwise, what failed?", "Otherwise, what failed?"),
        )),
)  # fmt: skip

TABLES = (*INTENT_TABLES, "either_patterns", "behaviour_patterns", "live_chat_patterns",
          "module_leads", "exclusion_leads")  # fmt: skip


def _cases(kind: str) -> list[tuple[str, int, str, Outcome]]:
    return [
        (e.table, e.index, text, outcome)
        for e in ENTRIES
        for text, outcome in (e.hits if kind == "hit" else e.misses)
    ]


def _id(case: tuple[str, int, str, Outcome]) -> str:
    return f"{case[0]}[{case[1]}]:{case[2][:40]}"


HITS = _cases("hit")
MISSES = _cases("miss")


@pytest.mark.parametrize("table", TABLES)
def test_every_entry_of_every_table_has_its_questions(table: str) -> None:
    """A rule added to a table (or one removed) must come with (or take away) its questions
    here; so must a table added to ``RoutingRules``."""
    covered = sorted(e.index for e in ENTRIES if e.table == table)
    assert covered == list(range(len(getattr(RoutingRules(), table))))
    assert all(e.hits and e.misses for e in ENTRIES if e.table == table)
    tables = {f.name for f in fields(RoutingRules) if isinstance(f.default, tuple)}
    assert tables == set(TABLES)


@pytest.mark.parametrize("case", HITS, ids=[_id(c) for c in HITS])
def test_a_question_the_entry_is_for(case: tuple[str, int, str, Outcome]) -> None:
    table, index, text, outcome = case
    pattern = getattr(RoutingRules(), table)[index]
    assert fires(table, pattern, text)
    assert classify(RoutingRules(), table, text) == outcome


@pytest.mark.parametrize("case", MISSES, ids=[_id(c) for c in MISSES])
def test_a_near_miss_the_entry_leaves_alone(case: tuple[str, int, str, Outcome]) -> None:
    table, index, text, outcome = case
    pattern = getattr(RoutingRules(), table)[index]
    assert not fires(table, pattern, text)
    assert classify(RoutingRules(), table, text) == outcome


@pytest.mark.parametrize("entry", ENTRIES, ids=[f"{e.table}[{e.index}]" for e in ENTRIES])
def test_every_entry_decides_one_of_its_questions(entry: Entry) -> None:
    """Without the entry, at least one of its questions is classified otherwise: no entry is
    covered by the others for every question it is here for."""
    rest = without(entry.table, entry.index)
    assert any(classify(rest, entry.table, text) != outcome for text, outcome in entry.hits)


VARIANTS: dict[str, Callable[[str], str]] = {
    "upper": str.upper,
    "lower": str.lower,
    "swapcase": str.swapcase,
    "no final mark": lambda text: text.rstrip("?.!"),
    "two marks": lambda text: text.rstrip("?.!") + "?!",
    "padded": lambda text: f"  {text}\t",
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_case_and_punctuation_do_not_change_an_outcome(variant: str) -> None:
    """The tables are matched case-insensitively and never on the final question mark: a
    question typed in capitals, or with no question mark or two, is routed the same."""
    change = VARIANTS[variant]
    rules = RoutingRules()
    for table, index, text, outcome in HITS + MISSES:
        pattern = getattr(rules, table)[index]
        changed = change(text)
        assert fires(table, pattern, changed) is fires(table, pattern, text), (variant, text)
        expected = outcome
        if isinstance(outcome, str) and table in ("module_leads", "exclusion_leads"):
            # a search text is the question less its lead-in: it changes as the question does
            expected = change(outcome).strip()
        assert classify(rules, table, changed) == expected, (variant, text)


def _router(memory: ListMemory) -> Router:
    return Router(memory, ScriptedModel("gemma-test"), ScriptedModel("qwen-test"))


INTENT_CASES = [c for c in HITS + MISSES if c[0] in INTENT_TABLES]


@pytest.mark.parametrize("case", INTENT_CASES, ids=[_id(c) for c in INTENT_CASES])
def test_the_router_searches_the_pool_the_intent_names(
    case: tuple[str, int, str, Outcome],
) -> None:
    """The router answers with the intent the rules give (no pattern to say otherwise) and
    searches the pool that intent names: module questions the module paths, reasoning
    everything but what chat taught, lookups what the log taught."""
    _, _, text, intent = case
    memory = ListMemory([])
    _, detail = _router(memory).answer_detailed(Query(text, tier="memory"))
    assert detail.intent == intent
    first = memory.calls[0]["where"]
    if intent == M:
        assert first == {"kind": "module_location"}
    elif intent == R:
        assert first == {"kind": {"$nin": [*LIVE_KINDS]}}
    else:
        assert first == {"kind": {"$nin": [*CODE_KINDS, *LIVE_KINDS]}}


LIVE_CASES = [c for c in HITS + MISSES if c[0] == "live_chat_patterns"]


@pytest.mark.parametrize("case", LIVE_CASES, ids=[_id(c) for c in LIVE_CASES])
def test_a_lookup_about_the_chat_also_searches_what_chat_taught(
    case: tuple[str, int, str, Outcome],
) -> None:
    _, _, text, about_chat = case
    memory = ListMemory([])
    _, detail = _router(memory).answer_detailed(Query(text, tier="memory"))
    pools = [call["where"] for call in memory.calls]
    searched_live = all({"kind": kind} in pools for kind in LIVE_KINDS)
    if detail.intent == M:
        assert not searched_live  # a module question reads only the module paths
    else:
        assert searched_live is about_chat


LEAD_CASES = [c for c in HITS + MISSES if c[0] in ("module_leads", "exclusion_leads")]


@pytest.mark.parametrize("case", LEAD_CASES, ids=[_id(c) for c in LEAD_CASES])
def test_the_router_searches_without_the_lead_in(case: tuple[str, int, str, Outcome]) -> None:
    table, _, text, search = case
    rules = RoutingRules()
    memory = ListMemory([])
    _router(memory).answer_detailed(Query(text, tier="memory"))
    # a module lead-in is dropped only from a module question, an exclusion from a lookup
    wanted = M if table == "module_leads" else L
    if rules.intent(text) == wanted:
        assert memory.calls[0]["query"] == search
    else:
        assert memory.calls[0]["query"] == text
