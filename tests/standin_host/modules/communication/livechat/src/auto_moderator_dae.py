"""Stand-in of the host's AutoModeratorDAE: watch one stream's chat, then go idle.

The real module imports Google API clients; this one reads a scripted chat feed instead
(:class:`ScriptedYouTube`), so tests can play a whole stream.
"""

from typing import Any, Dict, List, Optional

from modules.communication.livechat.src.livechat_core import LiveChatCore


class ScriptedYouTube:
    """A YouTube service stand-in that hands out scripted batches of chat items."""

    def __init__(
        self,
        batches: List[List[Dict[str, Any]]],
        stream_title: str = "Move2Japan live",
        bot_channel_id: str = "UC-bot",
    ):
        self.batches = list(batches)
        self.stream_title = stream_title
        self.bot_channel_id = bot_channel_id

    def poll(self) -> List[Dict[str, Any]]:
        return self.batches.pop(0) if self.batches else []


class AutoModeratorDAE:
    """Monitors a stream's chat, then runs idle automation when the stream ends."""

    def __init__(self, enable_ai_monitoring: bool = False):
        self.enable_ai_monitoring = enable_ai_monitoring
        self.service: Optional[ScriptedYouTube] = None
        self.livechat: Optional[LiveChatCore] = None
        self.last_idle_result: Optional[Dict[str, Any]] = None

    def connect(self) -> bool:
        return self.service is not None

    def find_livestream(self) -> Optional[Dict[str, Optional[str]]]:
        if self.service is None:
            return None
        return {"video_id": "vid-1", "live_chat_id": "chat-1", "channel_name": "Move2Japan"}

    async def monitor_chat(self):
        stream = self.find_livestream()
        if not stream:
            return
        self.livechat = LiveChatCore(
            self.service,
            stream["video_id"],
            stream["live_chat_id"],
            channel_name=stream["channel_name"],
        )
        await self.livechat.start_listening()

    async def run(self):
        """Watch the stream until it ends, then hand the machine to idle automation."""
        self.connect()
        await self.monitor_chat()
        from modules.infrastructure.idle_automation.src.idle_automation_dae import (
            run_idle_automation,
        )

        self.last_idle_result = await run_idle_automation()
        return self.last_idle_result
