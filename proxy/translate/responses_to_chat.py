"""`/v1/responses` (Codex) over a Chat Completions upstream (Ollama, Groq, Gemini, DeepSeek, …)."""

from __future__ import annotations

from typing import Any

from ..wire.models import ModelCaps
from ..wire.providers import Api
from . import TranslatedRequest, register
from .chat_request import chat_request
from .chat_stream import ChatDecoder
from .responses_client import ResponsesClientSide


class ResponsesToChat(ResponsesClientSide):
    def __init__(self) -> None:
        super().__init__(Api.CHAT, ChatDecoder)

    def request(self, body: dict[str, Any], upstream_model: str, caps: ModelCaps | None = None) -> TranslatedRequest:
        req, state = self.read(body, upstream_model, caps)
        return TranslatedRequest(chat_request(upstream_model, req), state, req.notes)


register(ResponsesToChat())
