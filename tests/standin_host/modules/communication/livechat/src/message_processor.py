"""Stand-in of the host's MessageProcessor: classify chat messages, generate responses."""

import asyncio
from datetime import datetime, timezone
from typing import Any, Dict, Optional

from modules.communication.livechat.src.event_handler import EventHandler

TRIGGER = "✊✋🖐"
MAGA_WORDS = ("maga", "trump 2028")


class MessageProcessor:
    """Handles processing of chat messages and generating responses."""

    def __init__(
        self,
        youtube_service=None,
        memory_manager=None,
        chat_sender=None,
        persona_key: Optional[str] = None,
        channel_name: Optional[str] = None,
        channel_id: Optional[str] = None,
        bot_channel_id: Optional[str] = None,
        stream_title: Optional[str] = None,
    ):
        self.youtube_service = youtube_service
        self.memory_manager = memory_manager
        self.chat_sender = chat_sender
        self.persona_key = persona_key
        self.channel_name = channel_name
        self.channel_id = channel_id
        self.bot_channel_id = bot_channel_id
        self.stream_title = stream_title
        self.event_handler = EventHandler()
        self.trolls = set()

    def process_message(self, message: Dict[str, Any]) -> Dict[str, Any]:
        """Process a single chat message and extract relevant information."""
        if message.get("type") == "timeout_event":
            return self._handle_timeout_event(message)
        elif message.get("type") == "ban_event":
            return self._handle_ban_event(message)
        elif message.get("type") == "super_chat_event":
            return {"skip": True, "reason": "below_threshold"}
        if "snippet" in message and "authorDetails" in message:
            pass
        elif message.get("type") != "message":
            return {"skip": True}

        snippet = message.get("snippet", {})
        author_details = message.get("authorDetails") or {}
        if not author_details:
            return {"skip": True, "reason": "no_author_details"}
        message_id = snippet.get("messageId", "")
        text = snippet.get("displayMessage", "")
        author_name = author_details.get("displayName", "Unknown")
        author_id = author_details.get("channelId", "")
        published_at = snippet.get("publishedAt", "")
        if self.bot_channel_id and author_id == self.bot_channel_id:
            return None  # the bot's own message
        if published_at:
            then = datetime.fromisoformat(published_at.replace("Z", "+00:00"))
            if (datetime.now(timezone.utc) - then).total_seconds() > 300:
                return {"skip": True, "reason": "old_buffered_event"}
        lowered = text.lower()
        has_maga = any(w in lowered for w in MAGA_WORDS)
        is_mod = author_details.get("isChatModerator", False)
        is_owner = author_details.get("isChatOwner", False)
        is_troll = author_id in self.trolls
        return {
            "message_id": message_id,
            "text": text,
            "author_name": author_name,
            "author_id": author_id,
            "published_at": published_at,
            "has_trigger": TRIGGER in text,
            "is_rate_limited": False,
            "has_consciousness": TRIGGER in text,
            "has_factcheck": lowered.startswith("!factcheck"),
            "has_maga": has_maga,
            "maga_response": "Stay woke, not MAGA." if has_maga else None,
            "is_moderator": is_mod,
            "is_owner": is_owner,
            "is_member": author_details.get("isChatSponsor", False),
            "live_chat_id": snippet.get("liveChatId"),
            "raw_message": message,
            "is_superchat": bool(snippet.get("superChatDetails")),
            "is_troll": is_troll,
            "troll_signals": ["whacked"] if is_troll else [],
        }

    async def generate_response(self, processed_message: Dict[str, Any]) -> Optional[str]:
        """Answer triggers, MAGA content, superchats and @mentions; skip ordinary users."""
        await asyncio.sleep(0)
        text = processed_message.get("text", "")
        if processed_message.get("text") == "!explode":
            raise RuntimeError("response generator exploded")
        if processed_message.get("has_maga"):
            return processed_message.get("maga_response")
        if processed_message.get("has_trigger"):
            return f"@{processed_message.get('author_name')} consciousness level rising"
        if processed_message.get("is_superchat"):
            return [f"Thank you {processed_message.get('author_name')}!", "Super Chat received"]
        if "@" in text:
            return f"@{processed_message.get('author_name')} noted"
        return None

    def _handle_timeout_event(self, event: Dict[str, Any]) -> Dict[str, Any]:
        """Delegate timeout event handling to EventHandler."""
        self.trolls.add(event.get("target_channel_id", ""))
        return self.event_handler.handle_timeout_event(event)

    def _handle_ban_event(self, event: Dict[str, Any]) -> Dict[str, Any]:
        """Delegate ban event handling to EventHandler."""
        return self.event_handler.handle_ban_event(event)
