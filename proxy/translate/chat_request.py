"""Writing a Chat Completions upstream request (responses→chat, messages→chat).

Only fields every OpenAI-compatible server accepts are sent: tool settings only with tools (servers
refuse `parallel_tool_calls` without them), and, unless the provider's config turns the quirk off, only
when they differ from the default (`default_tool_fields_omitted`, proxy.wire.quirks: `tool_choice:
"auto"` and `parallel_tool_calls: true` are left out, since Mistral rejects fields it does not know).
"""

from __future__ import annotations

from typing import Any

from ..wire.models import ModelCaps, fit_effort, fit_sampling
from ..wire.quirks import DEFAULT_TOOL_FIELDS_OMITTED
from .client_request import ClientRequest, Sampling
from .conversation import render_chat
from .tools import to_chat_choice, to_chat_tools


def _uses_max_completion_tokens(model: str) -> bool:
    # OpenAI's reasoning models refuse `max_tokens`; most other servers know only `max_tokens`.
    m = model.rsplit("/", 1)[-1].lower()
    return m.startswith(("o1", "o3", "o4", "gpt-5"))


_EFFORTS = {"minimal": "minimal", "low": "low", "medium": "medium", "high": "high", "xhigh": "high"}


def sampling_fields(out: dict[str, Any], s: Sampling, caps: ModelCaps, model: str, notes: list[str]) -> None:
    """temperature / top_p, unless the model is known to refuse them (OpenAI's reasoning models)."""
    if s.temperature is not None:
        out["temperature"] = s.temperature
    if s.top_p is not None:
        out["top_p"] = s.top_p
    fit_sampling(out, caps, model, notes)


def chat_request(model: str, req: ClientRequest) -> dict[str, Any]:
    s, caps, notes, choice = req.sampling, req.caps, req.notes, req.choice
    out: dict[str, Any] = {"model": model, "messages": render_chat(req.conv)}
    if req.fns:
        out["tools"] = to_chat_tools(req.fns)
        omit_defaults = DEFAULT_TOOL_FIELDS_OMITTED in caps.quirks
        if choice is not None and (choice != "auto" or not omit_defaults):
            out["tool_choice"] = to_chat_choice(choice)
        if req.parallel is False or (req.parallel and not omit_defaults):
            out["parallel_tool_calls"] = req.parallel
    if req.stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}  # else many servers send no usage at all (§9)
    if s.max_tokens:
        out["max_completion_tokens" if _uses_max_completion_tokens(model) else "max_tokens"] = s.max_tokens
    sampling_fields(out, s, caps, model, notes)
    if s.stop:
        out["stop"] = s.stop
    if s.effort:
        # Unknown models get the effort most chat servers know; a known model gets one it accepts.
        effort = _EFFORTS.get(s.effort) if caps.efforts is None else fit_effort(s.effort, caps, model, notes)
        if effort:
            out["reasoning_effort"] = effort
    f = s.fmt
    if f and f["kind"] == "json_schema":
        js: dict[str, Any] = {"name": f.get("name") or "output", "schema": f["schema"]}
        if f.get("strict") is not None:
            js["strict"] = bool(f["strict"])
        out["response_format"] = {"type": "json_schema", "json_schema": js}
    elif f and f["kind"] == "json_object":
        out["response_format"] = {"type": "json_object"}
    return out
