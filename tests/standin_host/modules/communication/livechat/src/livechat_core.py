"""Stand-in of the host's LiveChatCore: poll a chat, process each message, send answers."""

from typing import Any, Dict, List, Optional

from modules.communication.livechat.src.message_processor import MessageProcessor


class LiveChatCore:
    """One stream's chat session."""

    def __init__(
        self,
        youtube_service,
        video_id: str,
        live_chat_id: Optional[str] = None,
        channel_name: str = None,
        channel_id: str = None,
        message_router=None,
    ):
        self.youtube_service = youtube_service
        self.video_id = video_id
        self.live_chat_id = live_chat_id
        self.channel_name = channel_name
        self.is_running = False
        self.sent: List[str] = []
        self.processed_message_ids = set()
        self.message_processor = MessageProcessor(
            youtube_service,
            channel_name=channel_name,
            channel_id=channel_id,
            bot_channel_id=getattr(youtube_service, "bot_channel_id", None),
            stream_title=getattr(youtube_service, "stream_title", None),
        )

    async def initialize(self) -> bool:
        return True

    async def send_chat_message(
        self, message_text: str, skip_delay: bool = False, response_type: str = "general"
    ) -> bool:
        self.sent.append(message_text)
        return True

    async def poll_messages(self) -> tuple:
        batch = self.youtube_service.poll() if self.youtube_service else []
        return batch, 0.0

    async def process_message(self, message: Dict[str, Any]) -> None:
        """Process a single chat message."""
        if message.get("type") in ("ban_event", "timeout_event"):
            await self.process_ban_event(message)
            return
        message_id = message.get("id", "")
        if message_id in self.processed_message_ids:
            return
        self.processed_message_ids.add(message_id)
        processed = self.message_processor.process_message(message)
        if not processed or processed.get("skip"):
            return
        response = await self.message_processor.generate_response(processed)
        for text in response if isinstance(response, list) else [response]:
            if text:
                await self.send_chat_message(text)

    async def process_ban_event(self, ban_event: Dict[str, Any]) -> None:
        result = self.message_processor.process_message(ban_event)
        if result and not result.get("skip") and result.get("announcement"):
            await self.send_chat_message(result["announcement"])

    async def run_polling_loop(self) -> None:
        while self.is_running:
            messages, _interval = await self.poll_messages()
            if not messages:
                break
            for message in messages:
                await self.process_message(message)

    async def start_listening(self) -> None:
        """Start listening to chat messages."""
        if self.is_running:
            return
        if not await self.initialize():
            return
        self.is_running = True
        try:
            await self.run_polling_loop()
        finally:
            self.stop_listening()

    def stop_listening(self) -> None:
        """Stop listening to chat messages."""
        self.is_running = False
