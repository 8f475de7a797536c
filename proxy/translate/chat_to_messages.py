"""`/v1/chat/completions` over the native Anthropic Messages API."""

from __future__ import annotations

from typing import Any

from ..wire.models import ModelCaps
from ..wire.providers import Api
from . import TranslatedRequest, register
from .chat_client import ChatClientSide
from .messages_request import anthropic_request
from .messages_stream import MessagesDecoder


class ChatToMessages(ChatClientSide):
    def __init__(self) -> None:
        super().__init__(Api.MESSAGES, MessagesDecoder)

    def request(self, body: dict[str, Any], upstream_model: str, caps: ModelCaps | None = None) -> TranslatedRequest:
        req, state = self.read(body, upstream_model, caps)
        return TranslatedRequest(anthropic_request(upstream_model, req), state, req.notes)


register(ChatToMessages())
