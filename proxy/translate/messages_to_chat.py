"""`/v1/messages` (Claude Code) over a Chat Completions upstream (chat-only providers, and OpenAI or xAI
when configured with `upstream_api: chat`).

`thinking`, `output_config.effort` and `context_management` are Anthropic-only and not forwarded
— a `reasoning_effort` would make Ollama refuse non-thinking models and Mistral refuse the request —
while `output_config.format` becomes `response_format`. Claude Code's `max_tokens` (32000/64000) is
a client default, not a user limit, and exceeds what DeepSeek or Groq accept, so only a small,
deliberate value (≤ 8192, e.g. title generation) is forwarded.
"""

from __future__ import annotations

from typing import Any

from ..wire.models import ModelCaps
from ..wire.providers import Api
from . import TranslatedRequest, register
from .chat_request import chat_request
from .chat_stream import ChatDecoder
from .messages_client import MessagesClientSide

MAX_FORWARDED_MAX_TOKENS = 8192


class MessagesToChat(MessagesClientSide):
    def __init__(self) -> None:
        super().__init__(Api.CHAT, ChatDecoder)

    def request(self, body: dict[str, Any], upstream_model: str, caps: ModelCaps | None = None) -> TranslatedRequest:
        req, state = self.read(body, upstream_model, caps)
        s = req.sampling
        if s.max_tokens is not None and s.max_tokens > MAX_FORWARDED_MAX_TOKENS:
            s.max_tokens = None
        s.effort = None
        return TranslatedRequest(chat_request(upstream_model, req), state, req.notes)


register(MessagesToChat())
