"""`/v1/responses` (Codex) over the native Anthropic Messages API (not Anthropic's chat-compat endpoint).

Anthropic thinking comes back as reasoning items whose `encrypted_content` holds the signed thinking
block; Codex replays it verbatim and the next request restores it, so extended thinking survives tool
loops losslessly (docs/codex-wire.md §3).
"""

from __future__ import annotations

from typing import Any

from ..wire.models import ModelCaps
from ..wire.providers import Api
from . import TranslatedRequest, register
from .messages_request import anthropic_request
from .messages_stream import MessagesDecoder
from .responses_client import ResponsesClientSide


class ResponsesToMessages(ResponsesClientSide):
    def __init__(self) -> None:
        super().__init__(Api.MESSAGES, MessagesDecoder)

    def request(self, body: dict[str, Any], upstream_model: str, caps: ModelCaps | None = None) -> TranslatedRequest:
        req, state = self.read(body, upstream_model, caps)
        return TranslatedRequest(anthropic_request(upstream_model, req), state, req.notes)


register(ResponsesToMessages())
