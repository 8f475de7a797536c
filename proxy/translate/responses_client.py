"""The Responses client side of a translation (Codex), the same over every upstream (responses→chat,
responses→messages): the client's request (docs/codex-wire.md §3) read into a `ClientRequest` and the
state its answer needs (tool kinds, echoed fields), and the upstream's answer written back as Responses
events (`ResponsesEmitter`).

`developer`/`system` messages are hoisted into the system prompt wherever they appear (Codex adds one
mid-history on resume; Anthropic has no such role and strict chat templates reject a late system
message). Reasoning items are kept only when they carry our own blob (see common.pack_blob): what is
in it goes back to the upstream that produced it; anything else is dropped, never sent to a chat API.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..wire.models import ModelCaps, caps_for
from ..wire.providers import Api
from .client_request import ClientRequest, Sampling
from .common import unpack_blob
from .conversation import Conv
from .pipe import ClientSide
from .responses_stream import ResponsesEmitter, RespState
from .tools import Choice, FnTool, ToolMap, responses_choice, responses_tools

_TEXT_PARTS = frozenset({"input_text", "output_text", "text", "summary_text", "reasoning_text"})


def _parts(content: Any, notes: list[str]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    out: list[dict[str, Any]] = []
    for p in content if isinstance(content, list) else []:
        if not isinstance(p, dict):
            continue
        t = p.get("type")
        if t in _TEXT_PARTS:
            if p.get("text"):
                out.append({"type": "text", "text": p["text"]})
        elif t == "refusal":
            out.append({"type": "text", "text": str(p.get("refusal") or "")})
        elif t == "input_image":
            url = p.get("image_url")
            if isinstance(url, dict):
                url = url.get("url")
            if url:
                out.append({"type": "image", "url": url})
            else:
                notes.append("dropped an input_image given by file_id (the upstream cannot read OpenAI files)")
        else:
            notes.append(f"dropped a `{t}` content part (the upstream cannot take it)")
    return out


def _system_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n\n".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)) \
        if isinstance(content, list) else ""


def parse_responses(body: dict[str, Any], tmap: ToolMap, notes: list[str]) -> Conv:
    conv = Conv()
    instructions = body.get("instructions")
    if isinstance(instructions, str):
        conv.add_system(instructions)
    items = body.get("input")
    if isinstance(items, str):
        items = [{"type": "message", "role": "user", "content": items}]
    elif isinstance(items, dict):
        items = [items]
    dropped: dict[str, int] = {}
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        t = item.get("type") or ("message" if "role" in item else None)
        if t == "message":
            role = item.get("role")
            if role in ("system", "developer"):
                conv.add_system(_system_text(item.get("content")))
                continue
            side = "assistant" if role == "assistant" else "user"
            for p in _parts(item.get("content"), notes):
                conv.add(side, p)
        elif t == "function_call":
            name = tmap.upstream_name(str(item.get("name") or ""), item.get("namespace"))
            conv.add("assistant", {"type": "call", "id": str(item.get("call_id") or item.get("id") or ""),
                                   "name": name, "args": item.get("arguments") or "{}"})
        elif t == "custom_tool_call":
            name = tmap.upstream_name(str(item.get("name") or ""))
            args = orjson.dumps({"input": item.get("input") or ""}).decode()
            conv.add("assistant", {"type": "call", "id": str(item.get("call_id") or item.get("id") or ""),
                                   "name": name, "args": args})
        elif t in ("function_call_output", "custom_tool_call_output"):
            out = item.get("output")
            content: Any = out if isinstance(out, str) else _parts(out, notes)
            conv.add("user", {"type": "result", "id": str(item.get("call_id") or ""), "content": content,
                              "error": False})
        elif t == "reasoning":
            _reasoning(conv, item)
        elif t == "item_reference":
            continue
        else:
            dropped[str(t)] = dropped.get(str(t), 0) + 1
    for t, n in dropped.items():
        notes.append(f"dropped {n} input item(s) of type `{t}`")
    return conv.finalize()


def _reasoning(conv: Conv, item: dict[str, Any]) -> None:
    blob = unpack_blob(item.get("encrypted_content"))
    if blob is None:
        return  # another server's reasoning (e.g. OpenAI's encrypted blob): useless upstream here
    kind = blob.get("k")
    if kind == "a":
        if blob.get("r"):
            conv.add("assistant", {"type": "think", "redacted": blob["r"]})
        else:
            conv.add("assistant", {"type": "think", "text": blob.get("t") or "", "sig": blob.get("s")})
    elif kind == "c":
        conv.add("assistant", {"type": "think", "text": blob.get("t") or "", "field": blob.get("f")})
    elif kind == "x" and isinstance(blob.get("calls"), dict):
        conv.extras.update(blob["calls"])


def request_tools(body: dict[str, Any], notes: list[str]) -> tuple[list[FnTool], ToolMap, Choice, bool | None]:
    fns, tmap = responses_tools(body.get("tools"), notes)
    choice = responses_choice(body.get("tool_choice"), tmap)
    parallel = body.get("parallel_tool_calls")
    return fns, tmap, choice, parallel if isinstance(parallel, bool) else None


def effort_of(body: dict[str, Any]) -> str | None:
    r = body.get("reasoning")
    effort = r.get("effort") if isinstance(r, dict) else None
    return effort if isinstance(effort, str) else None


def echo_fields(body: dict[str, Any]) -> dict[str, Any]:
    """Request fields a Responses object repeats back, as OpenAI does (not `tools`/`instructions`: large,
    and no client reads them back)."""
    out: dict[str, Any] = {}
    for k in ("parallel_tool_calls", "tool_choice", "temperature", "top_p", "max_output_tokens", "reasoning",
              "store", "text", "metadata", "prompt_cache_key"):
        if k in body and body[k] is not None:
            out[k] = body[k]
    return out


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


def responses_sampling(body: dict[str, Any]) -> Sampling:
    mot = body.get("max_output_tokens")
    return Sampling(max_tokens=mot if isinstance(mot, int) and mot > 0 else None,
                    temperature=body.get("temperature"), top_p=body.get("top_p"),
                    effort=effort_of(body), fmt=fmt_from_responses(body.get("text")))


class ResponsesClientSide(ClientSide):
    """Base of the responses→X translators: they add `request()`, which renders `read()`'s result."""

    client = Api.RESPONSES

    def read(self, body: dict[str, Any], upstream_model: str,
             caps: ModelCaps | None) -> tuple[ClientRequest, RespState]:
        """The client's request in neutral form, and the state for its answer."""
        notes: list[str] = []
        fns, tmap, choice, parallel = request_tools(body, notes)
        conv = parse_responses(body, tmap, notes)
        req = ClientRequest(conv, fns, choice, parallel, body.get("stream") is True, responses_sampling(body),
                            caps or caps_for(upstream_model), notes)
        return req, RespState(tmap, upstream_model, echo_fields(body))

    def emitter(self, state: RespState, streaming: bool) -> ResponsesEmitter:
        return ResponsesEmitter(state)
