"""The Anthropic Messages client side of a translation (Claude Code), the same over every upstream
(messages→chat, messages→responses): the client's request read into a `ClientRequest` and the model its
answer reports, and the upstream's answer written back as Messages (`MessagesEmitter`).

Claude Code specifics (docs/codex-wire.md §8): `role: "system"` messages inside `messages[]` are hoisted
into the system prompt; the `x-anthropic-billing-header` system block means nothing elsewhere and is
left out. The thinking request becomes a reasoning effort: `output_config.effort`, else the `thinking`
budget (the inverse of the Anthropic writer's budgets); adaptive thinking leaves the model's default.
`output_config.format` becomes a response format; `context_management` is Anthropic-only. What a
target does with these is the target's business (messages_to_chat forwards less).
"""

from __future__ import annotations

from typing import Any

import orjson

from ..wire.models import ModelCaps, caps_for
from ..wire.providers import Api
from .client_request import ClientRequest, Sampling
from .common import safe_name, unpack_signature
from .conversation import Conv
from .messages_request import effort_for_budget
from .messages_stream import CHAT_SIG_PREFIX, MessagesEmitter, reported_model
from .pipe import ClientSide
from .tools import anthropic_choice, anthropic_tools

_BILLING = "x-anthropic-billing-header:"
_ANTHROPIC_EFFORTS = {"max": "xhigh"}  # output_config.effort values that differ from Responses'


def _source_url(src: Any) -> str | None:
    if not isinstance(src, dict):
        return None
    if src.get("type") == "base64" and src.get("data"):
        return f"data:{src.get('media_type') or 'image/png'};base64,{src['data']}"
    if src.get("type") == "url" and src.get("url"):
        return str(src["url"])
    return None


def _content_parts(content: Any, notes: list[str]) -> list[dict[str, Any]]:
    """Text/image parts of a tool_result's content."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    out: list[dict[str, Any]] = []
    for b in content if isinstance(content, list) else []:
        if isinstance(b, dict) and b.get("type") == "text":
            out.append({"type": "text", "text": str(b.get("text") or "")})
        elif isinstance(b, dict) and b.get("type") == "image" and _source_url(b.get("source")):
            out.append({"type": "image", "url": _source_url(b.get("source"))})
        elif isinstance(b, dict):
            notes.append(f"dropped a `{b.get('type')}` block in a tool result")
    return out


def _block(conv: Conv, side: str, b: dict[str, Any], notes: list[str]) -> None:
    t = b.get("type")
    if t == "text":
        if b.get("text"):
            conv.add(side, {"type": "text", "text": b["text"]})
    elif t == "image":
        url = _source_url(b.get("source"))
        if url:
            conv.add(side, {"type": "image", "url": url})
    elif t == "tool_use":
        conv.add(side, {"type": "call", "id": str(b.get("id") or ""), "name": safe_name(str(b.get("name") or "")),
                        "args": orjson.dumps(b.get("input") or {}).decode()})
    elif t == "tool_result":
        c = b.get("content")
        content: Any = c if isinstance(c, str) else _content_parts(c, notes)
        conv.add("user", {"type": "result", "id": str(b.get("tool_use_id") or ""), "content": content,
                          "error": bool(b.get("is_error"))})
    elif t == "thinking":
        sig = str(b.get("signature") or "")
        # Unsigned (or our marker): it came from a chat upstream and may be echoed back to one. Our blob: a
        # Responses reasoning item, restored for a Responses upstream. A real Anthropic signature means
        # Claude produced it; that is no use to another provider.
        if not sig or sig.startswith(CHAT_SIG_PREFIX):
            fld = sig[len(CHAT_SIG_PREFIX):] if sig else "reasoning_content"
            conv.add(side, {"type": "think", "text": str(b.get("thinking") or ""), "field": fld})
        else:
            _reasoning_item(conv, side, sig, str(b.get("thinking") or ""))
    elif t == "redacted_thinking":
        _reasoning_item(conv, side, b.get("data"), "")
    elif t == "document":
        src = b.get("source") or {}
        if isinstance(src, dict) and src.get("type") == "text" and src.get("data"):
            title = f"[document: {b['title']}]\n" if b.get("title") else ""
            conv.add(side, {"type": "text", "text": title + str(src["data"])})
        else:
            notes.append("dropped a document block (only text documents can be sent to this provider)")
    elif t not in ("server_tool_use", "web_search_tool_result", "web_fetch_tool_result"):
        notes.append(f"dropped a `{t}` block")


def _reasoning_item(conv: Conv, side: str, signature: Any, text: str) -> None:
    blob = unpack_signature(signature)
    if blob is not None and blob.get("k") == "o" and blob.get("e"):
        conv.add(side, {"type": "think", "text": text, "enc": blob["e"], "rid": blob.get("id")})


def _system_text(system: Any) -> list[str]:
    if isinstance(system, str):
        return [system]
    out: list[str] = []
    for b in system if isinstance(system, list) else []:
        if isinstance(b, dict) and isinstance(b.get("text"), str) and not b["text"].startswith(_BILLING):
            out.append(b["text"])
    return out


def parse_messages(body: dict[str, Any], notes: list[str]) -> Conv:
    conv = Conv()
    for s in _system_text(body.get("system")):
        conv.add_system(s)
    for m in body.get("messages") or []:
        if not isinstance(m, dict):
            continue
        role, content = m.get("role"), m.get("content")
        if role == "system":
            for s in _system_text(content):
                conv.add_system(s)
            continue
        side = "assistant" if role == "assistant" else "user"
        if isinstance(content, str):
            if content:
                conv.add(side, {"type": "text", "text": content})
            continue
        for b in content if isinstance(content, list) else []:
            if isinstance(b, dict):
                _block(conv, side, b, notes)
    return conv.finalize()


def messages_effort(body: dict[str, Any]) -> str | None:
    oc = body.get("output_config")
    effort = oc.get("effort") if isinstance(oc, dict) else None
    if isinstance(effort, str):
        return _ANTHROPIC_EFFORTS.get(effort, effort)
    th = body.get("thinking")
    if isinstance(th, dict) and th.get("type") == "enabled" and isinstance(th.get("budget_tokens"), int):
        return effort_for_budget(th["budget_tokens"])
    return None


def messages_sampling(body: dict[str, Any]) -> Sampling:
    mt = body.get("max_tokens")
    oc = body.get("output_config")
    f = oc.get("format") if isinstance(oc, dict) else None
    fmt = {"kind": "json_schema", "name": "output", "schema": f["schema"], "strict": None} \
        if isinstance(f, dict) and f.get("type") == "json_schema" and isinstance(f.get("schema"), dict) else None
    stop = body.get("stop_sequences")
    return Sampling(max_tokens=mt if isinstance(mt, int) and mt > 0 else None,
                    temperature=body.get("temperature"), top_p=body.get("top_p"),
                    stop=stop if isinstance(stop, list) and stop else None, effort=messages_effort(body), fmt=fmt)


class MessagesClientSide(ClientSide):
    """Base of the messages→X translators: they add `request()`, which renders `read()`'s result."""

    client = Api.MESSAGES

    def read(self, body: dict[str, Any], upstream_model: str, caps: ModelCaps | None) -> tuple[ClientRequest, str]:
        """The client's request in neutral form, and the model name its answer reports."""
        notes: list[str] = []
        fns = anthropic_tools(body.get("tools"), notes)
        choice, parallel = anthropic_choice(body.get("tool_choice"))
        conv = parse_messages(body, notes)
        req = ClientRequest(conv, fns, choice, parallel, body.get("stream") is True, messages_sampling(body),
                            caps or caps_for(upstream_model), notes)
        return req, reported_model(body, upstream_model)

    def emitter(self, state: str, streaming: bool) -> MessagesEmitter:
        return MessagesEmitter(state)
