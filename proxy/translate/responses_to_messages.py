"""`/v1/responses` (Codex) over the native Anthropic Messages API (not Anthropic's chat-compat endpoint).

Anthropic thinking comes back as reasoning items whose `encrypted_content` holds the signed thinking
block; Codex replays it verbatim and the next request restores it, so extended thinking survives tool
loops losslessly (docs/codex-wire.md §3).
"""

from __future__ import annotations

from typing import Any

from ..wire.models import ModelCaps, caps_for
from ..wire.providers import Api
from . import TranslatedRequest, register
from .messages_request import anthropic_request
from .messages_stream import MessagesDecoder
from .pipe import Pipe, complete_body
from .responses_request import echo_fields, parse_responses, request_tools
from .responses_stream import ResponsesEmitter, RespState
from .responses_to_chat import responses_sampling


class ResponsesToMessages:
    client = Api.RESPONSES
    upstream = Api.MESSAGES

    def request(self, body: dict[str, Any], upstream_model: str, caps: ModelCaps | None = None) -> TranslatedRequest:
        notes: list[str] = []
        fns, tmap, choice, parallel = request_tools(body, notes)
        conv = parse_responses(body, tmap, notes)
        out = anthropic_request(upstream_model, conv, fns, choice, parallel, body.get("stream") is True,
                                responses_sampling(body), caps or caps_for(upstream_model), notes)
        return TranslatedRequest(out, RespState(tmap, upstream_model, echo_fields(body)), notes)

    def response(self, body: dict[str, Any], state: RespState) -> dict[str, Any]:
        em = ResponsesEmitter(state)
        return complete_body(MessagesDecoder(em), em, body)

    def stream(self, state: RespState) -> Pipe:
        em = ResponsesEmitter(state)
        return Pipe(MessagesDecoder(em), em)


register(ResponsesToMessages())
