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

from typing import Any

from ..wire.models import ModelCaps
from ..wire.providers import Api
from . import TranslatedRequest, register
from .messages_client import MessagesClientSide
from .responses_stream import ResponsesDecoder
from .responses_upstream import responses_request


class MessagesToResponses(MessagesClientSide):
    def __init__(self) -> None:
        super().__init__(Api.RESPONSES, ResponsesDecoder)

    def request(self, body: dict[str, Any], upstream_model: str, caps: ModelCaps | None = None) -> TranslatedRequest:
        req, state = self.read(body, upstream_model, caps)
        return TranslatedRequest(responses_request(upstream_model, req, keep_reasoning=True), state, req.notes)


register(MessagesToResponses())
