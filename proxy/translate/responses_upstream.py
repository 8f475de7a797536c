"""Writing a Responses upstream request (chat→responses, messages→responses) for OpenAI and xAI.

OpenAI serves every model on Responses — its codex family on nothing else — so Chat and Messages
clients reach those providers through here. The request is stateless like Codex's own (`store: false`,
the whole history each time). What the target accepts comes from proxy.wire.models: a reasoning effort is
clamped to the model's levels, a summary is asked for when the model writes them, encrypted reasoning
is asked for only when the model reasons and the client can hand it back (a Messages client, as a
thinking block's signature), temperature/top_p are left out for models that refuse them, and the output
limit is capped at what the model allows.
"""

from __future__ import annotations

from typing import Any

from ..wire.models import ENCRYPTED_REASONING, fit_effort
from .chat_request import sampling_fields
from .client_request import ClientRequest
from .conversation import render_responses
from .tools import Choice, FnTool

MIN_OUTPUT_TOKENS = 16  # OpenAI refuses a smaller max_output_tokens


def to_responses_tools(fns: list[FnTool]) -> list[dict[str, Any]]:
    return [{"type": "function", "name": f.name, "description": f.description, "parameters": f.parameters,
             "strict": False} for f in fns]


def to_responses_choice(c: Choice) -> Any:
    if isinstance(c, tuple):
        return {"type": "function", "name": c[1]}
    return c


def responses_request(model: str, req: ClientRequest, keep_reasoning: bool) -> dict[str, Any]:
    """`keep_reasoning`: the client can return reasoning items next turn (as thinking blocks)."""
    s, caps, notes, choice = req.sampling, req.caps, req.notes, req.choice
    instructions, items = render_responses(req.conv)
    out: dict[str, Any] = {"model": model}
    if instructions:
        out["instructions"] = instructions
    out["input"] = items
    if req.fns:
        out["tools"] = to_responses_tools(req.fns)
        if choice is not None and choice != "auto":
            out["tool_choice"] = to_responses_choice(choice)
        if req.parallel is False:
            out["parallel_tool_calls"] = False
    if req.stream:
        out["stream"] = True
    out["store"] = False
    if s.max_tokens:
        limit = max(s.max_tokens, MIN_OUTPUT_TOKENS)
        if caps.max_output and limit > caps.max_output:
            notes.append(f"max output tokens {limit} → {caps.max_output}: the most {model} accepts")
            limit = caps.max_output
        out["max_output_tokens"] = limit
    reasoning: dict[str, Any] = {}
    if s.effort:
        effort = fit_effort(s.effort, caps, model, notes)
        if effort:
            reasoning["effort"] = effort
    if caps.reasoning and caps.summaries:
        reasoning["summary"] = "auto"  # the summary is what the client sees of the reasoning
    if reasoning:
        out["reasoning"] = reasoning
    if keep_reasoning and caps.reasoning:
        out["include"] = [ENCRYPTED_REASONING]
    sampling_fields(out, s, caps, model, notes)
    if s.stop:
        notes.append("stop sequences dropped: the Responses API has none")
    f = s.fmt
    if f and f["kind"] == "json_schema":
        fmt: dict[str, Any] = {"type": "json_schema", "name": f.get("name") or "output", "schema": f["schema"]}
        if f.get("strict") is not None:
            fmt["strict"] = bool(f["strict"])
        out["text"] = {"format": fmt}
    elif f and f["kind"] == "json_object":
        out["text"] = {"format": {"type": "json_object"}}
    return out
