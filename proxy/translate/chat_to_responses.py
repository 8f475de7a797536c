"""`/v1/chat/completions` over the Responses API (OpenAI, xAI: the codex family is served nowhere else).

Chat fields the Responses API has no place for are dropped with a note (`stop`, `seed`, penalties,
`logit_bias`, logprobs) rather than refused, since they tune an answer without changing what is asked;
`n` > 1 is refused (one answer per request). `metadata`, `user`, `service_tier`, `prompt_cache_key`,
`safety_identifier` and a client's `store` choice carry over. Reasoning comes back as
`reasoning_content` deltas; a chat client cannot hand reasoning items back, so none are asked for.
"""

from __future__ import annotations

from typing import Any

from ..wire.errors import Untranslatable
from ..wire.models import ModelCaps, caps_for
from ..wire.providers import Api
from . import TranslatedRequest, register
from .chat_stream import ChatEmitter
from .chat_to_messages import ChatState, chat_sampling, parse_chat
from .pipe import Pipe, complete_body
from .responses_stream import ResponsesDecoder
from .responses_upstream import responses_request
from .tools import chat_choice, chat_tools

_CARRIED = ("metadata", "user", "service_tier", "prompt_cache_key", "safety_identifier")
_DROPPED = ("seed", "frequency_penalty", "presence_penalty", "logit_bias", "logprobs", "top_logprobs",
            "prediction", "web_search_options")


class ChatToResponses:
    client = Api.CHAT
    upstream = Api.RESPONSES

    def request(self, body: dict[str, Any], upstream_model: str, caps: ModelCaps | None = None) -> TranslatedRequest:
        if isinstance(body.get("n"), int) and body["n"] > 1:
            raise Untranslatable("`n` > 1 cannot be translated to the Responses API", "invalid_request")
        notes: list[str] = []
        fns = chat_tools(body.get("tools"), notes)
        parallel = body.get("parallel_tool_calls")
        conv = parse_chat(body, notes)
        stream = body.get("stream") is True
        out = responses_request(upstream_model, conv, fns, chat_choice(body.get("tool_choice")),
                                parallel if isinstance(parallel, bool) else None, stream, chat_sampling(body),
                                caps or caps_for(upstream_model), notes, keep_reasoning=False)
        for k in _CARRIED:
            if body.get(k) is not None:
                out[k] = body[k]
        if isinstance(body.get("store"), bool):
            out["store"] = body["store"]
        dropped = [k for k in _DROPPED if body.get(k) not in (None, False)]
        if dropped:
            notes.append(f"dropped {', '.join(dropped)}: the Responses API has no such field")
        so = body.get("stream_options")
        include = stream and isinstance(so, dict) and so.get("include_usage") is True
        return TranslatedRequest(out, ChatState(upstream_model, include), notes)

    def response(self, body: dict[str, Any], state: ChatState) -> dict[str, Any]:
        em = ChatEmitter(state.model, False)
        return complete_body(ResponsesDecoder(em), em, body)

    def stream(self, state: ChatState) -> Pipe:
        em = ChatEmitter(state.model, state.include_usage)
        return Pipe(ResponsesDecoder(em), em)


register(ChatToResponses())
