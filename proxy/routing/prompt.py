"""Plano-Orchestrator / Arch-Router prompt format (docs/plano-compat.md §3.3): build the prompt, parse the answer.

Byte-compatible with Plano's orchestrator v1 so a server hosting its router model sees the prompt it
was trained on: routes as spaced JSON lines in `<routes>`, the conversation as 4-space-indented JSON
in `<conversation>`, the last 16 text messages within a UTF-8-bytes÷4 token budget, an overflowing
user message trimmed in the middle (60 % head, `…`, 40 % tail). The doubled braces in the answer
format are what Plano sends, literally.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from ..config import RoutingPreference
from .conversation import Turn

MAX_ROUTING_TURNS = 16
DEFAULT_CONTEXT_TOKENS = 8192
TRIM_MARKER = "…"
_DIVISOR = 4

_HEAD = (
    "\nYou are a helpful assistant that selects the most suitable routes based on user intent.\n"
    "You are provided with a list of available routes enclosed within <routes></routes> XML tags:\n"
    "<routes>\n"
)
_MIDDLE = (
    "\n</routes>\n\n"
    "You are also given the conversation context enclosed within <conversation></conversation> XML tags:\n"
    "<conversation>\n"
)
_TAIL = (
    "\n</conversation>\n\n"
    "## Instructions\n"
    "1. Analyze the latest user intent from the conversation.\n"
    "2. Compare it against the available routes to find which routes can help fulfill the request.\n"
    "3. Respond only with the exact route names from <routes>.\n"
    "4. If no routes can help or the intent is already fulfilled, return an empty list.\n\n"
    "## Response Format\n"
    "Return your answer strictly in JSON as follows:\n"
    '{{"route": ["route_name_1", "route_name_2", "..."]}}\n'
    "If no routes are needed, return an empty list for `route`.\n"
)
TEMPLATE = _HEAD + "{routes}" + _MIDDLE + "{conversation}" + _TAIL
# Plano counts the template (placeholders included, routes excluded) against the budget.
_TEMPLATE_TOKENS = len(TEMPLATE.encode()) // _DIVISOR
_NO_PARAMS = {"type": "object", "properties": {}, "required": []}


def routes_block(prefs: Sequence[RoutingPreference]) -> str:
    # json.dumps' default separators are Plano's "Python-style" spacing (": ", ", ").
    return "\n".join(
        json.dumps({"name": p.name, "description": p.description, "parameters": _NO_PARAMS}, ensure_ascii=False)
        for p in prefs
    )


def trim_middle(text: str, max_bytes: int) -> str:
    """At most `max_bytes` UTF-8 bytes: ~60 % head, `…`, ~40 % tail, cut on character boundaries."""
    raw = text.encode()
    if len(raw) <= max_bytes:
        return text
    marker = len(TRIM_MARKER.encode())
    if max_bytes <= marker:
        return raw[:max_bytes].decode(errors="ignore")
    available = max_bytes - marker
    head = raw[: available * 3 // 5].decode(errors="ignore")
    end_start = len(raw) - (available - len(head.encode()))
    while end_start < len(raw) and raw[end_start] & 0xC0 == 0x80:  # not inside a character
        end_start += 1
    return head + TRIM_MARKER + raw[end_start:].decode()


def select_messages(messages: Sequence[Turn], max_tokens: int = DEFAULT_CONTEXT_TOKENS) -> list[dict[str, str]]:
    """Plano's selection: last 16, newest first within the budget, trim an overflowing user message."""
    recent = list(messages[-MAX_ROUTING_TURNS:])
    used = _TEMPLATE_TOKENS
    picked: list[dict[str, str]] = []
    for m in reversed(recent):
        cost = len(m.text.encode()) // _DIVISOR
        if used + cost > max_tokens:
            remaining = max(0, max_tokens - used)
            if m.role == "user" and remaining > 0:
                picked.append({"role": "user", "content": trim_middle(m.text, remaining * _DIVISOR)})
            break
        used += cost
        picked.append({"role": m.role, "content": m.text})
    if not picked and recent:
        picked.append({"role": recent[-1].role, "content": recent[-1].text})
    picked.reverse()
    return picked


def build_prompt(
    prefs: Sequence[RoutingPreference], messages: Sequence[Turn], max_tokens: int = DEFAULT_CONTEXT_TOKENS
) -> str:
    conversation = json.dumps(select_messages(messages, max_tokens), indent=4, ensure_ascii=False)
    # Concatenate rather than str.replace: a description containing "{conversation}" stays literal.
    return _HEAD + routes_block(prefs) + _MIDDLE + conversation + _TAIL


def request_body(model: str, prompt: str) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": prompt}], "temperature": 0.01, "stream": False}


_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def parse_answer(content: str) -> list[str]:
    """Route names from a router answer, best first. Raises ValueError when nothing parses.

    Lenient like Plano (single → double quotes, literal `\\n` removed) and then some: the first `{…}`
    inside prose or a code fence is accepted, and a bare string `{"route": "name"}` (Arch-Router-1.5B's
    own format) counts as one route.
    """
    text = content.strip()
    if not text:
        return []
    obj: Any = None
    candidates = (text, text.replace("'", '"').replace("\\n", ""))
    for cand in candidates:
        for attempt in (cand, m.group(0) if (m := _OBJECT.search(cand)) else None):
            if attempt is None:
                continue
            try:
                obj = json.loads(attempt)
            except ValueError:
                continue
            if isinstance(obj, dict):
                break
        if isinstance(obj, dict):
            break
    if not isinstance(obj, dict):
        raise ValueError("router answer is not a JSON object")
    route = obj.get("route", obj.get("routes"))
    if route is None:
        return []
    if isinstance(route, str):
        return [route] if route else []
    if isinstance(route, list):
        return [r for r in route if isinstance(r, str) and r]
    raise ValueError(f"router answer has a `route` of type {type(route).__name__}")
