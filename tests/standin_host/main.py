"""Stand-in of the host's main.py: module-level imports of the training entry points, then
a thin router to the CLI module (as the host does since its WSP 62 refactoring)."""

import os
import sys

from modules.ai_intelligence.training_system.scripts.launch import run_training_system
from modules.ai_intelligence.training_system.scripts.training_commands import (
    execute_training_command,
)

PATTERN_MEMORY_AVAILABLE = False
PatternMemory = None


def monitor_youtube():
    """Run the YouTube DAE on a scripted stream (STANDIN_CHAT: 'user:text;user:text')."""
    import asyncio

    from modules.communication.livechat.src.auto_moderator_dae import (
        AutoModeratorDAE,
        ScriptedYouTube,
    )

    items = []
    for i, part in enumerate(filter(None, os.getenv("STANDIN_CHAT", "").split(";"))):
        author, _, text = part.partition(":")
        items.append(
            {
                "id": f"m{i}",
                "snippet": {"messageId": f"m{i}", "displayMessage": text},
                "authorDetails": {"displayName": author, "channelId": f"UC-{author}"},
            }
        )
    dae = AutoModeratorDAE()
    dae.service = ScriptedYouTube([items])
    result = asyncio.run(dae.run())
    print(f"[YT] stream ended; idle: {result}")


def check_instance_status():
    print(f"[STATUS] cwd={os.getcwd()} argv={sys.argv[1:]}")


def main():
    """Main entry point - thin router to CLI module."""
    from modules.infrastructure.cli.src.main_menu import run_main_menu

    run_main_menu(
        monitor_youtube=monitor_youtube,
        check_instance_status=check_instance_status,
        run_training_system=run_training_system,
        execute_training_command=execute_training_command,
        PATTERN_MEMORY_AVAILABLE=PATTERN_MEMORY_AVAILABLE,
        PatternMemory=PatternMemory,
    )


if __name__ == "__main__":
    main()
