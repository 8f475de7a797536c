"""`/v1/messages` (Claude Code) over the Responses API: how Claude Code reaches OpenAI and xAI, whose
codex models answer nowhere else.

System blocks and Claude Code's `role: "system"` messages become `instructions` (the billing header
block is left out); tools, tool calls and results (parallel ones too), images and `tool_choice` map one
to one. Claude Code's `max_tokens` goes on as `max_output_tokens`, capped at what the model accepts.
The thinking request becomes a reasoning effort: `output_config.effort`, else the `thinking` budget
(the inverse of the Anthropic translators' budgets); adaptive thinking leaves the model's default.
Reasoning comes back as thinking blocks signed with the reasoning item's encrypted content, which
Claude Code hands back next turn (parse_messages restores the item). `stop_sequences` have no place in
the Responses API and are dropped with a note; `context_management` and cache breakpoints are
Anthropic-only.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..wire.models import ModelCaps, caps_for
from ..wire.providers import Api
from . import TranslatedRequest, register
from .messages_request import effort_for_budget
from .messages_stream import MessagesEmitter, reported_model
from .messages_to_chat import messages_sampling, parse_messages
from .pipe import Pipe, complete_body
from .responses_stream import ResponsesDecoder
from .responses_upstream import responses_request
from .tools import anthropic_choice, anthropic_tools

_ANTHROPIC_EFFORTS = {"max": "xhigh"}  # output_config.effort values that differ from Responses'


def messages_effort(body: dict[str, Any]) -> str | None:
    oc = body.get("output_config")
    effort = oc.get("effort") if isinstance(oc, dict) else None
    if isinstance(effort, str):
        return _ANTHROPIC_EFFORTS.get(effort, effort)
    th = body.get("thinking")
    if isinstance(th, dict) and th.get("type") == "enabled" and isinstance(th.get("budget_tokens"), int):
        return effort_for_budget(th["budget_tokens"])
    return None


class MessagesToResponses:
    client = Api.MESSAGES
    upstream = Api.RESPONSES

    def request(self, body: dict[str, Any], upstream_model: str, caps: ModelCaps | None = None) -> TranslatedRequest:
        notes: list[str] = []
        fns = anthropic_tools(body.get("tools"), notes)
        choice, parallel = anthropic_choice(body.get("tool_choice"))
        conv = parse_messages(body, notes)
        mt = body.get("max_tokens")
        sampling = replace(messages_sampling(body), max_tokens=mt if isinstance(mt, int) and mt > 0 else None,
                           effort=messages_effort(body))
        out = responses_request(upstream_model, conv, fns, choice, parallel, body.get("stream") is True, sampling,
                                caps or caps_for(upstream_model), notes, keep_reasoning=True)
        return TranslatedRequest(out, reported_model(body, upstream_model), notes)

    def response(self, body: dict[str, Any], state: str) -> dict[str, Any]:
        em = MessagesEmitter(state)
        return complete_body(ResponsesDecoder(em), em, body)

    def stream(self, state: str) -> Pipe:
        em = MessagesEmitter(state)
        return Pipe(ResponsesDecoder(em), em)


register(MessagesToResponses())
