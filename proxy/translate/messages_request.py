"""Writing an Anthropic Messages upstream request (responses→messages, chat→messages).

Anthropic specifics: `max_tokens` is required; the reasoning effort becomes a `thinking` budget below
it; with thinking on, `temperature`/`top_p` must stay unset and a forced tool choice is refused, and the
assistant turn that made pending tool calls must start with a signed thinking block — when the history
cannot provide one (it came from another provider), thinking is left off for that request, as it is for
a model that cannot think (Claude 3.5, per proxy.wire.models).
"""

from __future__ import annotations

from typing import Any

from .client_request import ClientRequest
from .conversation import ends_in_tool_loop_without_thinking, render_anthropic
from .tools import to_anthropic_choice, to_anthropic_tools

_BUDGETS = {"low": 2048, "medium": 8192, "high": 16384, "xhigh": 31999}
MIN_BUDGET = 1024


def effort_for_budget(budget: int) -> str:
    """The reasoning effort a thinking budget stands for (the inverse of `_BUDGETS`)."""
    return next((e for e, b in _BUDGETS.items() if budget <= b), "xhigh")


def default_max_tokens(model: str) -> int:
    m = model.lower()
    if "claude-3-opus" in m or "claude-3-haiku" in m or "claude-3-sonnet" in m:
        return 4096
    if "claude-3-5" in m:
        return 8192
    return 32000  # every Claude 4.x model allows at least this much output


def anthropic_request(model: str, req: ClientRequest) -> dict[str, Any]:
    s, conv, choice, notes = req.sampling, req.conv, req.choice, req.notes
    max_tokens = s.max_tokens or default_max_tokens(model)
    effort = s.effort
    if effort in _BUDGETS and req.caps.efforts == ():
        notes.append(f"thinking off for this request: {model} does not think (asked effort '{effort}')")
        effort = None
    budget = _BUDGETS.get(effort or "")
    if budget and (isinstance(choice, tuple) or choice == "required"):
        notes.append("thinking off for this request: Anthropic refuses it with a forced tool choice")
        budget = None
    if budget:
        budget = min(budget, max_tokens - 1024)
        if budget < MIN_BUDGET:
            budget = None
    system, messages = render_anthropic(conv, keep_thinking=bool(budget))
    if budget and ends_in_tool_loop_without_thinking(messages):
        notes.append("thinking off for this request: the pending tool calls were made without a thinking block")
        budget = None
        system, messages = render_anthropic(conv, keep_thinking=False)
    out: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "messages": messages}
    if system:
        out["system"] = system
    if req.fns:
        out["tools"] = to_anthropic_tools(req.fns)
        tc = to_anthropic_choice(choice, req.parallel)
        if tc is not None:
            out["tool_choice"] = tc
    if req.stream:
        out["stream"] = True
    if budget:
        out["thinking"] = {"type": "enabled", "budget_tokens": budget}
    else:
        if s.temperature is not None:
            out["temperature"] = min(max(float(s.temperature), 0.0), 1.0)  # Anthropic's range is 0..1
        if s.top_p is not None and s.temperature is None:  # newer models refuse both at once
            out["top_p"] = s.top_p
    if s.stop:
        out["stop_sequences"] = s.stop
    f = s.fmt
    if f and f["kind"] == "json_schema":
        out["output_config"] = {"format": {"type": "json_schema", "schema": f["schema"]}}
    elif f and f["kind"] == "json_object":
        # No JSON mode on Anthropic: ask for it in words rather than drop the constraint silently.
        out.setdefault("system", []).append({"type": "text", "text": "Respond with a single valid JSON object only."})
    return out
