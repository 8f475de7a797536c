"""Writing a Chat Completions upstream request (responses→chat, messages→chat).

Only fields every OpenAI-compatible server accepts are sent, and only when they differ from the
default (`tool_choice: "auto"` and `parallel_tool_calls: true` are left out): Mistral rejects unknown
fields outright, others reject `parallel_tool_calls` without tools.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..wire.models import ModelCaps, fit_effort, fit_sampling
from .conversation import Conv, render_chat
from .tools import Choice, FnTool, to_chat_choice, to_chat_tools


@dataclass(slots=True)
class Sampling:
    """The generation settings all three APIs share, read from whichever client API."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    effort: str | None = None  # minimal | low | medium | high | xhigh
    fmt: dict[str, Any] | None = None  # {"kind": "json_schema"|"json_object", "name", "schema", "strict"}


def fmt_from_responses(text: Any) -> dict[str, Any] | None:
    f = text.get("format") if isinstance(text, dict) else None
    if not isinstance(f, dict):
        return None
    if f.get("type") == "json_schema" and isinstance(f.get("schema"), dict):
        return {"kind": "json_schema", "name": f.get("name") or "output", "schema": f["schema"],
                "strict": f.get("strict")}
    if f.get("type") == "json_object":
        return {"kind": "json_object"}
    return None


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


def chat_request(model: str, conv: Conv, fns: list[FnTool], choice: Choice, parallel: bool | None, stream: bool,
                 s: Sampling, caps: ModelCaps, notes: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"model": model, "messages": render_chat(conv)}
    if fns:
        out["tools"] = to_chat_tools(fns)
        if choice is not None and choice != "auto":
            out["tool_choice"] = to_chat_choice(choice)
        if parallel is False:
            out["parallel_tool_calls"] = False
    if stream:
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
