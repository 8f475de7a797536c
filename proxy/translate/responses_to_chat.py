"""`/v1/responses` (Codex) over a Chat Completions upstream (Ollama, Groq, Gemini, DeepSeek, …)."""

from __future__ import annotations

from typing import Any

from ..wire.models import ModelCaps, caps_for
from ..wire.providers import Api
from . import TranslatedRequest, register
from .chat_request import Sampling, chat_request, fmt_from_responses
from .chat_stream import ChatDecoder
from .pipe import Pipe, complete_body
from .responses_request import echo_fields, effort_of, parse_responses, request_tools
from .responses_stream import ResponsesEmitter, RespState


def responses_sampling(body: dict[str, Any]) -> Sampling:
    mot = body.get("max_output_tokens")
    return Sampling(max_tokens=mot if isinstance(mot, int) and mot > 0 else None,
                    temperature=body.get("temperature"), top_p=body.get("top_p"),
                    effort=effort_of(body), fmt=fmt_from_responses(body.get("text")))


class ResponsesToChat:
    client = Api.RESPONSES
    upstream = Api.CHAT

    def request(self, body: dict[str, Any], upstream_model: str, caps: ModelCaps | None = None) -> TranslatedRequest:
        notes: list[str] = []
        fns, tmap, choice, parallel = request_tools(body, notes)
        conv = parse_responses(body, tmap, notes)
        out = chat_request(upstream_model, conv, fns, choice, parallel, body.get("stream") is True,
                           responses_sampling(body), caps or caps_for(upstream_model), notes)
        return TranslatedRequest(out, RespState(tmap, upstream_model, echo_fields(body)), notes)

    def response(self, body: dict[str, Any], state: RespState) -> dict[str, Any]:
        em = ResponsesEmitter(state)
        return complete_body(ChatDecoder(em), em, body)

    def stream(self, state: RespState) -> Pipe:
        em = ResponsesEmitter(state)
        return Pipe(ChatDecoder(em), em)


register(ResponsesToChat())
