"""`/v1/messages` (Claude Code) over a Chat Completions upstream (chat-only providers, and OpenAI or xAI
when configured with `upstream_api: chat`).

`context_management` is Anthropic-only; `output_config.format` becomes `response_format`. Two provider
quirks (proxy.wire.quirks), on unless the provider's config turns them off: the thinking request is not
sent as `reasoning_effort` (`thinking_not_forwarded`: Ollama refuses it for models that cannot think,
Mistral refuses the request), and Claude Code's `max_tokens` (32000/64000, a client default rather than a
user limit, more than DeepSeek or Groq accept) is forwarded only when small and deliberate, ≤ 8192, e.g.
for title generation (`large_max_tokens_dropped`).
"""

from __future__ import annotations

from typing import Any

from ..wire.models import ModelCaps
from ..wire.providers import Api
from ..wire.quirks import LARGE_MAX_TOKENS_DROPPED, THINKING_NOT_FORWARDED
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
        s, quirks = req.sampling, req.caps.quirks
        if LARGE_MAX_TOKENS_DROPPED in quirks and s.max_tokens is not None and s.max_tokens > MAX_FORWARDED_MAX_TOKENS:
            s.max_tokens = None
        if THINKING_NOT_FORWARDED in quirks:
            s.effort = None
        return TranslatedRequest(chat_request(upstream_model, req), state, req.notes)


register(MessagesToChat())
