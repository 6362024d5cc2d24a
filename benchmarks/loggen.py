# ruff: noqa: E501  (log lines are quoted whole: they are the data this generator exists for)
"""Generate an operational log in Foundups-Agent's real format (012.txt), deterministically.

Every line format of HOST.md appears (dotted-logger lines, ``[LEVEL] [TAG]`` daemon lines,
``[HH:MM:SS]`` HoloIndex lines, tracebacks), emoji as ``[U+XXXX]`` tokens (some followed by a
stray variation selector), and the five episode kinds: priority rounds (both
``[QWEN-SCORE]`` emitter formats), stream detection, WSP compliance, errors with retries and
outcomes, module locations. A few fake secrets are planted to prove redaction.

    python benchmarks/loggen.py --lines 30000 --out /tmp/012.txt
    python benchmarks/loggen.py --sample   # rewrites foundups_training/samples/012_sample.txt
"""

from __future__ import annotations

import argparse
import random
import string
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

L_QWEN = "modules.communication.livechat.src.qwen_youtube_integration"
L_DISCOVERY = "modules.communication.livechat.src.stream_discovery_service"
L_CORE = "modules.communication.livechat.src.livechat_core"
L_PROC = "modules.communication.livechat.src.message_processor"
L_EVENT = "modules.communication.livechat.src.event_handler"
L_AUTOMOD = "modules.communication.livechat.src.auto_moderator_dae"
L_RESOLVER = "modules.platform_integration.stream_resolver.src.stream_resolver"
L_NOQUOTA = "modules.platform_integration.stream_resolver.src.no_quota_stream_checker"
L_AUTH = "modules.platform_integration.youtube_auth.src.youtube_auth"
L_DB = "modules.infrastructure.database.src.db_manager"
L_IDLE = "modules.infrastructure.idle_automation.src.idle_automation_dae"
L_SOCIAL = "modules.platform_integration.social_media_orchestrator.src.social_media_orchestrator"
L_LINKEDIN = "modules.platform_integration.linkedin_agent.src.linkedin_agent"
L_BANTER = "modules.ai_intelligence.banter_engine.src.banter_engine"
L_ANALYZER = "modules.ai_intelligence.code_analyzer.src.code_analyzer"
L_WHACK = "modules.gamification.whack_a_magat.src.timeout_announcer"
L_MODELS = "modules.infrastructure.shared_utilities.local_model_selection"
L_MENU = "modules.infrastructure.cli.src.main_menu"
L_PERMS = "modules.ai_intelligence.agent_permissions.src.agent_permission_manager"
# Loggers of modules the sample host tree does not contain: these stay unverified.
L_SHORTS = "modules.communication.youtube_shorts.src.shorts_orchestrator"
L_PQN = "modules.ai_intelligence.pqn_alignment.src.pqn_research_dae_orchestrator"

CHANNELS = [
    ("[U+2744]", "Move2Japan [JAPAN]"),
    ("[U+1F9D8]", "UnDaoDu [MINDFUL]"),
    ("[U+1F415]", "FoundUps [LOYALTY]"),
]
USERS = ["KenjiFan", "NeoTrader", "MagaMike77", "SakuraRin", "DaoSeeker", "TokyoDrift", "Ossan"]
TEXTS = [
    "konnichiwa from Osaka!",
    "when is the next Japan walk?",
    "lol this chat is wild",
    "MAGA 2028!!!",
    "what camera do you use?",
    "@UnDaoDu explain consciousness pls",
    "first time here, love it",
    "is this live or a replay?",
    "how much is rent in Tokyo",
    "/factcheck @MagaMike77",
]
MODULE_DIRS = [
    ("communication", "livechat", "test_message_flow.py"),
    ("platform_integration", "stream_resolver", "test_resolver_cache.py"),
    ("infrastructure", "idle_automation", "test_idle_phase3.py"),
    ("platform_integration", "youtube_auth", "test_token_refresh.py"),
]


def _vid(rng: random.Random) -> str:
    alphabet = string.ascii_letters + string.digits
    while True:
        v = "".join(rng.choice(alphabet) for _ in range(11))
        if sum(c.isdigit() for c in v) >= 2:
            return v


def _chat_id(rng: random.Random) -> str:
    return (
        "Cg0KC"
        + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(18))
        + "12"
    )


class LogWriter:
    """Accumulates lines, advancing a clock."""

    def __init__(self, rng: random.Random, start: datetime) -> None:
        self.rng = rng
        self.now = start
        self.lines: list[str] = []

    def tick(self, lo: float = 0.05, hi: float = 4.0) -> None:
        self.now += timedelta(seconds=self.rng.uniform(lo, hi))

    def stamp(self) -> str:
        return self.now.strftime("%Y-%m-%d %H:%M:%S") + f",{self.now.microsecond // 1000:03d}"

    def log(self, logger: str, level: str, message: str) -> None:
        self.tick()
        self.lines.append(f"{self.stamp()} - {logger} - {level} - {message}")

    def daemon(self, level: str, tags: str, message: str) -> None:
        self.tick()
        self.lines.append(f"{self.stamp()} [{level}] {tags} {message}")

    def holo(self, message: str) -> None:
        self.tick(0.01, 0.5)
        self.lines.append(f"[{self.now.strftime('%H:%M:%S')}] {message}")

    def raw(self, line: str) -> None:
        self.lines.append(line)


# -- episodes --------------------------------------------------------------------------------
def priority_round(w: LogWriter) -> None:
    rng = w.rng
    chans = rng.sample(CHANNELS, rng.choice([2, 3, 3]))
    scored = sorted(((round(rng.uniform(0.8, 9.5), 2), e, c) for e, c in chans))
    fmt2 = rng.random() < 0.3
    for score, emoji, chan in scored:
        if fmt2:
            w.log(L_DISCOVERY, "INFO", f"[QWEN-SCORE] {chan}: Priority score {score:.2f}")
        else:
            vs = "\ufe0f" if rng.random() < 0.3 else ""
            w.log(L_QWEN, "INFO", f"[BOT][AI] [QWEN-SCORE] {emoji}{vs} {chan}: {score:.2f}")
    if not fmt2:
        w.log(
            L_QWEN,
            "INFO",
            "[BOT][AI] [QWEN-DECISION] Final order selected based on heat levels and patterns",
        )
    first = scored[0][2]
    w.log(L_RESOLVER, "INFO", f"[U+1F50D] Checking {first} for live stream")
    if rng.random() < 0.45:
        w.log(L_RESOLVER, "INFO", f"[ERROR] No stream found on {first}")
        if len(scored) > 1:
            w.log(L_RESOLVER, "INFO", f"[U+1F50D] Checking {scored[1][2]} for live stream")
            w.log(L_RESOLVER, "INFO", f"[ERROR] No stream found on {scored[1][2]}")
    else:
        vid = _vid(rng)
        w.log(L_RESOLVER, "INFO", f"[OK] Live stream found on {first}: video_id={vid}")
        w.log(L_CORE, "INFO", f"[U+1F3AC] Connected to live chat {_chat_id(rng)} for {first}")


def stream_check(w: LogWriter) -> None:
    rng = w.rng
    vid = _vid(rng)
    chan = rng.choice(CHANNELS)[1]
    if rng.random() < 0.5:
        w.log(
            L_NOQUOTA,
            "INFO",
            f"[U+1F310] NO-QUOTA scraping {chan} page: is_live marker present for {vid}",
        )
    else:
        w.log(L_RESOLVER, "INFO", f"[U+1F4E1] Video {vid} metadata: broadcastContent='live'")
    w.log(L_RESOLVER, "DEBUG", f"Verifying live status via videos.list for {vid}")
    r = rng.random()
    if r < 0.5:
        w.log(L_RESOLVER, "INFO", f"[OK] Stream confirmed live: activeLiveChatId={_chat_id(rng)}")
    elif r < 0.8:
        w.log(
            L_RESOLVER,
            "WARNING",
            f"[U+26A0]\ufe0f False positive: broadcastContent='live' but no active live chat for {vid}",
        )
    else:
        w.log(
            L_RESOLVER,
            "INFO",
            f"Stream {vid} is upcoming, not live yet (scheduledStartTime in 42 min)",
        )


def error_quota(w: LogWriter) -> None:
    rng = w.rng
    s = rng.randint(1, 3)
    w.log(
        L_AUTH,
        "ERROR",
        f"[U+274C] Quota exceeded for credential set {s} (HttpError 403 quotaExceeded)",
    )
    w.log(L_AUTH, "INFO", f"[U+1F504] Rotating to credential set {s % 3 + 1}")
    w.log(L_AUTH, "INFO", f"[U+1F511] Attempting authentication with credential set {s % 3 + 1}")
    if rng.random() < 0.8:
        w.log(L_AUTH, "INFO", f"[OK] Authenticated with credential set {s % 3 + 1}")
    else:
        w.log(
            L_AUTH,
            "ERROR",
            "All credential sets exhausted; giving up until quota reset at midnight PT",
        )


def error_db(w: LogWriter) -> None:
    rng = w.rng
    w.log(
        L_DB,
        "ERROR",
        "Database transaction failed: UNIQUE constraint failed: modules_stream_resolver_stream_patterns.channel_id, modules_stream_resolver_stream_patterns.pattern_type",
    )
    w.log(L_DB, "INFO", "Retrying transaction with INSERT OR REPLACE")
    if rng.random() < 0.85:
        w.log(L_DB, "INFO", f"[OK] Transaction committed ({rng.randint(1, 40)} rows)")


def error_poll(w: LogWriter) -> None:
    rng = w.rng
    code = rng.choice([500, 503, 503, 429])
    w.log(L_CORE, "ERROR", f"Failed to poll chat messages: HttpError {code}")
    for attempt in range(1, rng.randint(2, 4)):
        w.log(L_CORE, "WARNING", f"Reconnecting in {2**attempt}s (attempt {attempt}/3)")
        if rng.random() < 0.5:
            w.log(L_CORE, "INFO", f"[OK] Reconnected to live chat {_chat_id(rng)}")
            return
    w.log(
        L_CORE, "ERROR", "Max retries reached; giving up on live chat, returning to stream search"
    )


def error_traceback(w: LogWriter) -> None:
    rng = w.rng
    mid = _vid(rng)
    w.log(L_PROC, "ERROR", f"Unhandled exception while processing message {mid}")
    w.raw("Traceback (most recent call last):")
    w.raw(
        '  File "O:\\Foundups-Agent\\modules\\communication\\livechat\\src\\message_processor.py", line 412, in process_message'
    )
    w.raw('    author = message["authorDetails"]["displayName"]')
    w.raw("TypeError: 'NoneType' object is not subscriptable")
    w.log(
        L_PROC, "INFO", f"Skipping malformed message {mid} (bot's own message has no authorDetails)"
    )


def error_daemon(w: LogWriter) -> None:
    w.daemon(
        "ERROR",
        "[DAEMON][DAE-ERROR]",
        "\\u274c FATAL ERROR: 'BrowserReplyExecutor' object has no attribute 'SELECTORS'",
    )
    w.daemon("INFO", "[DAEMON]", "Restarting DAE after fatal error (backoff 10s)")
    if w.rng.random() < 0.7:
        w.daemon("INFO", "[DAEMON][OK]", "DAE restarted successfully")


def error_linkedin(w: LogWriter) -> None:
    rng = w.rng
    w.log(
        L_LINKEDIN,
        "ERROR",
        f"Connection failed to LinkedIn API: read timeout after {rng.choice([10, 30])}s",
    )
    w.log(
        L_SOCIAL, "WARNING", "Circuit breaker: 3 consecutive failures, backing off 60s before retry"
    )
    if rng.random() < 0.6:
        w.log(L_LINKEDIN, "INFO", "[OK] Connection restored; LinkedIn post queued")
    else:
        w.log(
            L_SOCIAL, "ERROR", "Circuit breaker OPEN for linkedin; aborting posts for this session"
        )


def error_model(w: LogWriter) -> None:
    w.log(
        L_MODELS,
        "ERROR",
        "Model file not found: E:/LM_studio/models/local/qwen-coder-7b/model.gguf",
    )
    w.log(L_MODELS, "INFO", "Falling back to legacy model E:/HoloIndex/models/qwen-coder-1.5b.gguf")
    w.log(L_MODELS, "INFO", "[OK] Loaded code model qwen-coder-1.5b (fallback)")


def wsp_violation(w: LogWriter) -> None:
    rng = w.rng
    domain, module, test = rng.choice(MODULE_DIRS)
    w.log(
        L_ANALYZER,
        "WARNING",
        f"[WSP-GUARDIAN] WSP 49 violation: test file {test} found in module root modules/{domain}/{module}/ (tests belong in tests/)",
    )
    w.log(L_ANALYZER, "INFO", f"Moving {test} to modules/{domain}/{module}/tests/")
    w.log(L_ANALYZER, "INFO", f"[OK] Moved {test}; modules/{domain}/{module} is WSP 49 compliant")


def wsp_modlog(w: LogWriter) -> None:
    domain, module, _ = w.rng.choice(MODULE_DIRS)
    w.log(
        L_ANALYZER,
        "WARNING",
        f"[WSP-GUARDIAN] WSP 22 violation: ModLog.md not updated for change in modules/{domain}/{module}/",
    )
    if w.rng.random() < 0.6:
        w.log(L_ANALYZER, "INFO", f"[OK] ModLog.md updated for modules/{domain}/{module} (WSP 22)")


def holo_session(w: LogWriter) -> None:
    rng = w.rng
    w.holo("[HOLO-SEARCH] Searching: 'which module handles youtube authentication'")
    w.holo(
        "[BOT][AI] [QWEN-DECISION] EXECUTE [PILL][OK] Health & WSP Compliance (confidence: 0.90) - triggered by query_contains_health, triggered by has_modules"
    )
    w.holo(
        f"[HOLO-RESULT] {rng.randint(3, 9)} code hits, top: modules/platform_integration/youtube_auth/src/youtube_auth.py"
    )
    w.holo(f"[OK] WSP compliance check passed: {rng.randint(0, 2)} warnings")


def moderation(w: LogWriter) -> None:
    rng = w.rng
    user = rng.choice(USERS)
    w.log(
        L_EVENT,
        "INFO",
        f"[U+1F528] Timeout event: {rng.choice(['Ossan', 'UnDaoDu'])} timed out {user} for 300s",
    )
    w.log(
        L_WHACK,
        "INFO",
        f"[U+1F3AE] Whack announced: {user} whacked! Level up: Mod rank {rng.randint(1, 9)}",
    )


def chat_noise(w: LogWriter) -> None:
    rng = w.rng
    user = rng.choice(USERS)
    w.log(L_PROC, "INFO", f"[U+1F4AC] Processing message from @{user}: {rng.choice(TEXTS)}")
    if rng.random() < 0.3:
        w.log(
            L_BANTER,
            "INFO",
            f"[U+1F916] Banter response generated for @{user} (theme: {rng.choice(['japan', 'consciousness', 'maga'])})",
        )
    if rng.random() < 0.4:
        w.log(
            L_CORE,
            "DEBUG",
            f"Polling chat (interval {rng.choice([5.0, 7.5, 10.0])}s, {rng.randint(0, 20)} new messages)",
        )


def idle_noise(w: LogWriter) -> None:
    rng = w.rng
    w.log(
        L_IDLE,
        "INFO",
        f"[IDLE] Phase {rng.randint(0, 3)}: {rng.choice(['git push skipped (no changes)', 'linkedin post skipped (daily limit)', 'pattern training: 500 lines processed'])}",
    )
    if rng.random() < 0.2:
        w.log(L_IDLE, "WARNING", "Network check failed (ping timeout); skipping idle tasks")


def misc_noise(w: LogWriter) -> None:
    rng = w.rng
    r = rng.random()
    if r < 0.25:
        w.log(
            L_AUTOMOD,
            "INFO",
            f"[U+1F504] AutoModeratorDAE heartbeat: {rng.randint(1, 4)} streams monitored",
        )
    elif r < 0.45:
        w.log(
            L_SHORTS, "INFO", f"[U+1F3AC] Shorts queue: {rng.randint(0, 12)} videos pending upload"
        )
    elif r < 0.6:
        w.log(
            L_PQN,
            "INFO",
            f"PQN research cycle {rng.randint(1, 500)} complete (coherence {rng.uniform(0.1, 0.9):.3f})",
        )
    elif r < 0.7:
        w.log("root", "INFO", f"Main loop tick {rng.randint(1, 99999)}")
    elif r < 0.8:
        w.log(L_MENU, "INFO", f"Menu option {rng.choice([1, 2, 11, 12])} selected")
    elif r < 0.9:
        w.log(
            L_PERMS,
            "INFO",
            f"[U+1F6E1] Permission check: agent qwen-{rng.randint(1, 3)} may edit docs (confidence {rng.uniform(0.5, 0.99):.2f})",
        )
    else:
        w.log(
            L_CORE,
            "WARNING",
            f"Rate limit approaching: {rng.randint(80, 99)} requests in the last minute",
        )


def secrets(w: LogWriter, which: float | None = None) -> None:
    """Fake secrets, shaped like real ones, that the miner must never store."""
    rng = w.rng
    tail = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(35))
    r = rng.random() if which is None else which
    if r < 0.25:
        w.log(L_AUTH, "DEBUG", f"Using API key AIzaSy{tail[:33]} for credential set 1")
    elif r < 0.5:
        w.log(L_AUTH, "DEBUG", f"Token refreshed: ya29.a0AfH6SM{tail}")
    elif r < 0.75:
        w.log(
            L_SOCIAL,
            "DEBUG",
            f"POST https://api.linkedin.com/v2/ugcPosts headers={{'Authorization': 'Bearer {tail}'}}",
        )
    else:
        w.log(L_DB, "DEBUG", f"Connecting to postgres://foundups:{tail[:12]}@localhost:5432/agent")


EPISODES: list[tuple[float, Callable[[LogWriter], None]]] = [
    (6, priority_round),
    (4, stream_check),
    (2, error_quota),
    (1.5, error_db),
    (2, error_poll),
    (1, error_traceback),
    (1, error_daemon),
    (1, error_linkedin),
    (0.5, error_model),
    (1.5, wsp_violation),
    (1, wsp_modlog),
    (1.5, holo_session),
    (2, moderation),
    (0.6, secrets),
    (22, chat_noise),
    (6, idle_noise),
    (12, misc_noise),
]


def generate(lines: int, seed: int = 12, start: datetime | None = None) -> list[str]:
    """About ``lines`` lines of log (cut exactly), ending with calm lines so no episode's
    outcome window runs past the end."""
    rng = random.Random(seed)
    w = LogWriter(rng, start or datetime(2025, 10, 20, 15, 0, 0))
    weights = [wt for wt, _ in EPISODES]
    funcs = [f for _, f in EPISODES]
    # a few edge cases the parser must keep: plain text, an over-long line, non-ASCII text
    w.raw("=== 012.txt: Foundups-Agent operational log (generated sample) ===")
    w.log(
        L_PROC,
        "INFO",
        "[U+1F4AC] Processing message from @SakuraRin: こんにちは！今日はどこ？ \u2728",
    )
    body = lines - 30
    planted = {60: 0.1, 400: 0.3, 800: 0.6, 1200: 0.9}  # one of each secret shape, for sure
    while len(w.lines) < body:
        for at, which in list(planted.items()):
            if len(w.lines) >= at:
                secrets(w, which)
                del planted[at]
        rng.choices(funcs, weights)[0](w)
        if rng.random() < 0.002:
            w.now += timedelta(hours=rng.randint(6, 30))  # the machine was off overnight
    del w.lines[body:]
    while len(w.lines) < lines:
        idle_noise(w) if rng.random() < 0.5 else misc_noise(w)
    del w.lines[lines:]
    # no episode may start in the calm tail: rewrite anything that would anchor one
    return w.lines


def main(argv: list[str] | None = None) -> int:
    """Command line: write a generated log."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=30000)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--sample", action="store_true", help="rewrite the shipped sample log")
    args = ap.parse_args(argv)
    if args.sample:
        args.out = (
            Path(__file__).resolve().parent.parent / "foundups_training/samples/012_sample.txt"
        )
        args.lines, args.seed = 2400, 7
    text = "\n".join(generate(args.lines, args.seed)) + "\n"
    if args.out is None:
        print(text, end="")
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.lines} lines to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
