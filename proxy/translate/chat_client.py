"""The Chat Completions client side of a translation, the same over every upstream (chat→messages,
chat→responses): the client's request read into a `ClientRequest` and the state its answer needs, and
the upstream's answer written back as Chat (`ChatEmitter`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..wire.errors import Untranslatable
from ..wire.models import ModelCaps, caps_for
from ..wire.providers import Api
from .chat_stream import ChatEmitter
from .client_request import ClientRequest, Sampling
from .common import safe_name
from .conversation import Conv
from .pipe import ClientSide
from .tools import chat_choice, chat_tools

_API_NAMES = {Api.MESSAGES: "Anthropic", Api.RESPONSES: "Responses"}  # for the `n` > 1 refusal


@dataclass(slots=True)
class ChatState:
    model: str
    include_usage: bool = False


def _parts(content: Any, notes: list[str]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    out: list[dict[str, Any]] = []
    for p in content if isinstance(content, list) else []:
        if not isinstance(p, dict):
            continue
        t = p.get("type")
        if t == "text" and p.get("text"):
            out.append({"type": "text", "text": p["text"]})
        elif t == "image_url":
            url = p.get("image_url")
            url = url.get("url") if isinstance(url, dict) else url
            if url:
                out.append({"type": "image", "url": url})
        elif t == "refusal" and p.get("refusal"):
            out.append({"type": "text", "text": p["refusal"]})
        elif t != "text":
            notes.append(f"dropped a `{t}` content part (the upstream cannot take it)")
    return out


def parse_chat(body: dict[str, Any], notes: list[str]) -> Conv:
    conv = Conv()
    for m in body.get("messages") or []:
        if not isinstance(m, dict):
            continue
        role = m.get("role")
        c = m.get("content")
        if role in ("system", "developer"):
            conv.add_system("\n\n".join(p["text"] for p in _parts(c, notes) if p["type"] == "text"))
        elif role == "user":
            for p in _parts(c, notes):
                conv.add("user", p)
        elif role == "assistant":
            for p in _parts(c, notes):
                conv.add("assistant", p)
            if isinstance(m.get("refusal"), str) and m["refusal"]:
                conv.add("assistant", {"type": "text", "text": m["refusal"]})
            for tc in m.get("tool_calls") or []:
                if not isinstance(tc, dict):
                    continue
                fn = tc.get("function") or {}
                conv.add("assistant", {"type": "call", "id": str(tc.get("id") or ""),
                                       "name": safe_name(str(fn.get("name") or "")),
                                       "args": fn.get("arguments") or "{}"})
        elif role == "tool":
            content = c if isinstance(c, str) else _parts(c, notes)
            conv.add("user", {"type": "result", "id": str(m.get("tool_call_id") or ""), "content": content,
                              "error": False})
        else:
            notes.append(f"dropped a `{role}` message (legacy function calling is not translated)")
    return conv.finalize()


def chat_sampling(body: dict[str, Any]) -> Sampling:
    mt = body.get("max_completion_tokens") or body.get("max_tokens")
    stop = body.get("stop")
    rf = body.get("response_format")
    fmt = None
    if isinstance(rf, dict) and rf.get("type") == "json_schema" and isinstance(rf.get("json_schema"), dict):
        js = rf["json_schema"]
        fmt = {"kind": "json_schema", "name": js.get("name"), "schema": js.get("schema") or {},
               "strict": js.get("strict")}
    elif isinstance(rf, dict) and rf.get("type") == "json_object":
        fmt = {"kind": "json_object"}
    effort = body.get("reasoning_effort")
    return Sampling(max_tokens=mt if isinstance(mt, int) and mt > 0 else None, temperature=body.get("temperature"),
                    top_p=body.get("top_p"), stop=[stop] if isinstance(stop, str) else stop or None,
                    effort=effort if isinstance(effort, str) else None, fmt=fmt)


class ChatClientSide(ClientSide):
    """Base of the chat→X translators: they add `request()`, which renders `read()`'s result."""

    client = Api.CHAT

    def read(self, body: dict[str, Any], upstream_model: str,
             caps: ModelCaps | None) -> tuple[ClientRequest, ChatState]:
        """The client's request in neutral form, and the state for its answer. Raises Untranslatable for
        `n` > 1 (one answer per request upstream)."""
        if isinstance(body.get("n"), int) and body["n"] > 1:
            raise Untranslatable(f"`n` > 1 cannot be translated to the {_API_NAMES[self.upstream]} API",
                                 "invalid_request")
        notes: list[str] = []
        fns = chat_tools(body.get("tools"), notes)
        parallel = body.get("parallel_tool_calls")
        conv = parse_chat(body, notes)
        stream = body.get("stream") is True
        req = ClientRequest(conv, fns, chat_choice(body.get("tool_choice")),
                            parallel if isinstance(parallel, bool) else None, stream, chat_sampling(body),
                            caps or caps_for(upstream_model), notes)
        so = body.get("stream_options")
        include = stream and isinstance(so, dict) and so.get("include_usage") is True
        return req, ChatState(upstream_model, include)

    def emitter(self, state: ChatState, streaming: bool) -> ChatEmitter:
        return ChatEmitter(state.model, streaming and state.include_usage)
