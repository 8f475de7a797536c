"""`/v1/chat/completions` over the Responses API (OpenAI, xAI: the codex family is served nowhere else).

Chat fields the Responses API has no place for are dropped with a note (`stop`, `seed`, penalties,
`logit_bias`, logprobs) rather than refused, since they tune an answer without changing what is asked;
`n` > 1 is refused (one answer per request). `metadata`, `user`, `service_tier`, `prompt_cache_key`,
`safety_identifier` and a client's `store` choice carry over. Reasoning comes back as
`reasoning_content` deltas; a chat client cannot hand reasoning items back, so none are asked for.
"""

from __future__ import annotations

from typing import Any

from ..wire.models import ModelCaps
from ..wire.providers import Api
from . import TranslatedRequest, register
from .chat_client import ChatClientSide
from .responses_stream import ResponsesDecoder
from .responses_upstream import responses_request

_CARRIED = ("metadata", "user", "service_tier", "prompt_cache_key", "safety_identifier")
_DROPPED = ("seed", "frequency_penalty", "presence_penalty", "logit_bias", "logprobs", "top_logprobs",
            "prediction", "web_search_options")


class ChatToResponses(ChatClientSide):
    def __init__(self) -> None:
        super().__init__(Api.RESPONSES, ResponsesDecoder)

    def request(self, body: dict[str, Any], upstream_model: str, caps: ModelCaps | None = None) -> TranslatedRequest:
        req, state = self.read(body, upstream_model, caps)
        out = responses_request(upstream_model, req, keep_reasoning=False)
        for k in _CARRIED:
            if body.get(k) is not None:
                out[k] = body[k]
        if isinstance(body.get("store"), bool):
            out["store"] = body["store"]
        dropped = [k for k in _DROPPED if body.get(k) not in (None, False)]
        if dropped:
            req.notes.append(f"dropped {', '.join(dropped)}: the Responses API has no such field")
        return TranslatedRequest(out, state, req.notes)


register(ChatToResponses())
