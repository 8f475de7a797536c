"""A neutral conversation between the request parsers and the three request renderers.

Parsers (Responses, Chat, Anthropic) fill a `Conv`; `render_chat`, `render_anthropic` and
`render_responses` write an upstream request from it. The shape is Anthropic-like because that is the
strictest target: system text is hoisted out, roles alternate (consecutive same-role messages merge),
tool results live in user messages and come first there. `finalize()` also repairs histories the
upstreams would reject with a 400: a call without a result gets a placeholder result, a result without
a call becomes text.

Parts are small dicts (cheap to build):
  text   {"type": "text", "text"}
  image  {"type": "image", "url"}                      (a data: URL or an http(s) URL)
  call   {"type": "call", "id", "name", "args", "extra"?}   (args: JSON text; extra: Gemini's)
  result {"type": "result", "id", "content", "error"}  (content: str or a list of text/image parts)
  think  {"type": "think", "text", "sig"?, "redacted"?, "field"?, "enc"?, "rid"?}
         (sig: Anthropic's signature; field: a chat server's reasoning field; enc/rid: a Responses
         reasoning item's encrypted_content and id — each goes back only to the kind of upstream that made it)
"""

from __future__ import annotations

from typing import Any

from .common import loads_obj, parse_data_url, safe_id

_NO_RESULT = "(no result was recorded for this tool call)"


class Msg:
    __slots__ = ("parts", "role")

    def __init__(self, role: str, parts: list[dict[str, Any]]) -> None:
        self.role = role
        self.parts = parts


class Conv:
    __slots__ = ("extras", "msgs", "system")

    def __init__(self) -> None:
        self.system: list[str] = []
        self.msgs: list[Msg] = []
        self.extras: dict[str, Any] = {}  # call id → provider extra (Gemini thought signature)

    def add(self, role: str, part: dict[str, Any]) -> None:
        msgs = self.msgs
        if msgs and msgs[-1].role == role:
            msgs[-1].parts.append(part)
        else:
            msgs.append(Msg(role, [part]))

    def add_system(self, text: str) -> None:
        if text:
            self.system.append(text)

    def finalize(self) -> Conv:
        msgs = [m for m in self.msgs if m.parts]
        prev_calls: set[str] = set()
        for i, m in enumerate(msgs):
            if m.role == "assistant":
                calls = [p["id"] for p in m.parts if p["type"] == "call"]
                if self.extras:
                    for p in m.parts:
                        if p["type"] == "call" and p["id"] in self.extras:
                            p["extra"] = self.extras[p["id"]]
                prev_calls = set(calls)
                nxt = msgs[i + 1] if i + 1 < len(msgs) else None
                if calls and nxt is not None:
                    have = {p["id"] for p in nxt.parts if p["type"] == "result"}
                    missing = [{"type": "result", "id": c, "content": _NO_RESULT, "error": True}
                               for c in calls if c not in have]
                    if missing:
                        nxt.parts[0:0] = missing
                continue
            results = [p for p in m.parts if p["type"] == "result"]
            if results:
                kept: list[dict[str, Any]] = []
                others: list[dict[str, Any]] = []
                for p in m.parts:
                    if p["type"] != "result":
                        others.append(p)
                    elif p["id"] in prev_calls:
                        kept.append(p)
                        prev_calls.discard(p["id"])  # a second result for the same call is orphaned
                    else:
                        others.append({"type": "text", "text": f"[output of tool call {p['id']}]\n"
                                                               f"{result_text(p['content'])}"})
                m.parts = kept + others  # results first: Anthropic and chat both require it
            prev_calls = set()
        self.msgs = msgs
        return self


def result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p["text"] for p in content if p.get("type") == "text")
    return "" if content is None else str(content)


def result_output(p: dict[str, Any]) -> str:
    """A tool result as the text an API without an error flag gets (chat, Responses)."""
    text = result_text(p["content"])
    if p.get("error") and text and not text.startswith(("Error", "error", "(")):
        text = "Error: " + text
    return text


def last_user_turn(msgs: list[Msg]) -> int:
    """Index of the last user message without tool results: where the current turn began. (A message with
    results continues the tool loop even when text rides along, as Claude Code's reminders do.)"""
    for i in range(len(msgs) - 1, -1, -1):
        m = msgs[i]
        if m.role == "user" and all(p["type"] != "result" for p in m.parts):
            return i
    return -1


# ----------------------------------------------------------------------------- → chat


def _chat_content(parts: list[dict[str, Any]]) -> Any:
    if all(p["type"] == "text" for p in parts):
        return "\n\n".join(p["text"] for p in parts)  # a plain string: what every server accepts
    out: list[dict[str, Any]] = []
    for p in parts:
        if p["type"] == "text":
            out.append({"type": "text", "text": p["text"]})
        elif p["type"] == "image":
            out.append({"type": "image_url", "image_url": {"url": p["url"]}})
    return out


def render_chat(conv: Conv) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if conv.system:
        out.append({"role": "system", "content": "\n\n".join(conv.system)})
    turn = last_user_turn(conv.msgs)
    for i, m in enumerate(conv.msgs):
        if m.role == "user":
            own: list[dict[str, Any]] = []
            images: list[dict[str, Any]] = []
            for p in m.parts:
                if p["type"] == "result":
                    c = p["content"]
                    out.append({"role": "tool", "tool_call_id": p["id"], "content": result_output(p)})
                    if isinstance(c, list):  # chat tool messages carry text only: images follow as user
                        images += [x for x in c if x["type"] == "image"]
                elif p["type"] in ("text", "image"):
                    own.append(p)
            if images:
                own = [{"type": "text", "text": "(images returned by the tool calls above)"}, *images, *own]
            if own:
                out.append({"role": "user", "content": _chat_content(own)})
            continue
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        reasoning: dict[str, list[str]] = {}
        for p in m.parts:
            t = p["type"]
            if t == "text":
                texts.append(p["text"])
            elif t == "call":
                tc: dict[str, Any] = {"id": p["id"], "type": "function",
                                      "function": {"name": p["name"], "arguments": p["args"]}}
                if p.get("extra") is not None:
                    tc["extra_content"] = p["extra"]
                calls.append(tc)
            elif t == "think" and p.get("field") and p.get("text"):
                reasoning.setdefault(p["field"], []).append(p["text"])
        if not texts and not calls:
            continue
        msg: dict[str, Any] = {"role": "assistant", "content": "\n\n".join(texts) if texts else None}
        if calls:
            msg["tool_calls"] = calls
        if i > turn:
            # DeepSeek (and vLLM-style servers) need the reasoning of the current tool loop echoed,
            # under the field they used; older turns are left out (§9).
            for fld, chunks in reasoning.items():
                msg[fld] = "".join(chunks)
        out.append(msg)
    return out


# ----------------------------------------------------------------------------- → Responses


def _responses_result(p: dict[str, Any]) -> Any:
    c = p["content"]
    if isinstance(c, list) and any(x["type"] == "image" for x in c):  # images stay in the tool output
        return [{"type": "input_text", "text": x["text"]} if x["type"] == "text"
                else {"type": "input_image", "image_url": x["url"]} for x in c if x["type"] in ("text", "image")]
    return result_output(p)


def render_responses(conv: Conv) -> tuple[str, list[dict[str, Any]]]:
    """(instructions, input items). Stateless, as Codex sends it (`store: false`): the whole history each
    time; reasoning items go back only when they came from a Responses upstream (encrypted content)."""
    items: list[dict[str, Any]] = []
    for m in conv.msgs:
        if m.role == "user":
            content: list[dict[str, Any]] = []
            for p in m.parts:
                t = p["type"]
                if t == "result":
                    items.append({"type": "function_call_output", "call_id": p["id"], "output": _responses_result(p)})
                elif t == "text":
                    content.append({"type": "input_text", "text": p["text"]})
                elif t == "image":
                    content.append({"type": "input_image", "image_url": p["url"]})
            if content:
                items.append({"type": "message", "role": "user", "content": content})
            continue
        texts: list[dict[str, Any]] = []
        for p in m.parts:
            t = p["type"]
            if t == "text":
                texts.append({"type": "output_text", "text": p["text"], "annotations": []})
                continue
            if t == "call":
                item = {"type": "function_call", "call_id": p["id"], "name": p["name"], "arguments": p["args"]}
            elif t == "think" and p.get("enc"):
                text = p.get("text")
                item = {"type": "reasoning", "summary": [{"type": "summary_text", "text": text}] if text else [],
                        "encrypted_content": p["enc"]}
                if p.get("rid"):
                    item["id"] = p["rid"]
            else:
                continue
            if texts:
                items.append({"type": "message", "role": "assistant", "content": texts})
                texts = []
            items.append(item)
        if texts:
            items.append({"type": "message", "role": "assistant", "content": texts})
    if not items:
        items.append({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "(continue)"}]})
    return "\n\n".join(conv.system), items


# ----------------------------------------------------------------------------- → Anthropic


def _image_block(url: str) -> dict[str, Any]:
    parsed = parse_data_url(url)
    if parsed:
        return {"type": "image", "source": {"type": "base64", "media_type": parsed[0], "data": parsed[1]}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _result_block(p: dict[str, Any]) -> dict[str, Any]:
    c = p["content"]
    if isinstance(c, list):
        blocks: list[dict[str, Any]] = []
        for x in c:
            if x["type"] == "text" and x["text"]:
                blocks.append({"type": "text", "text": x["text"]})
            elif x["type"] == "image":
                blocks.append(_image_block(x["url"]))
        content: Any = blocks or ""
    else:
        content = c if isinstance(c, str) else str(c)
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": safe_id(p["id"]), "content": content}
    if p.get("error"):
        block["is_error"] = True
    return block


def _tool_input(args: str) -> dict[str, Any]:
    obj = loads_obj(args)
    if isinstance(obj, dict):
        return obj
    return {"arguments": args} if args.strip() else {}  # a model that wrote non-JSON keeps its text


_CACHEABLE = frozenset({"text", "image", "tool_use", "tool_result", "document"})


def render_anthropic(conv: Conv, keep_thinking: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system blocks, messages). Cache breakpoints go on the system prompt and on the last block: the
    clients re-send the whole history each turn, so the prefix is cached turn after turn."""
    system: list[dict[str, Any]] = [{"type": "text", "text": s} for s in conv.system if s.strip()]
    if system:
        system[-1]["cache_control"] = {"type": "ephemeral"}
    messages: list[dict[str, Any]] = []
    for m in conv.msgs:
        blocks: list[dict[str, Any]] = []
        for p in m.parts:
            t = p["type"]
            if t == "text":
                if p["text"].strip():  # Anthropic rejects empty and whitespace-only text blocks
                    blocks.append({"type": "text", "text": p["text"]})
            elif t == "image":
                blocks.append(_image_block(p["url"]))
            elif t == "call":
                blocks.append({"type": "tool_use", "id": safe_id(p["id"]), "name": p["name"],
                               "input": _tool_input(p["args"])})
            elif t == "result":
                blocks.append(_result_block(p))
            elif t == "think" and keep_thinking:
                if p.get("redacted"):
                    blocks.append({"type": "redacted_thinking", "data": p["redacted"]})
                elif p.get("sig"):  # unsigned thinking is rejected; it came from another provider
                    blocks.append({"type": "thinking", "thinking": p.get("text") or "", "signature": p["sig"]})
        if not blocks:
            continue
        if messages and messages[-1]["role"] == m.role:  # an emptied message in between: merge again
            messages[-1]["content"].extend(blocks)
        else:
            messages.append({"role": m.role, "content": blocks})
    if not messages or messages[0]["role"] != "user":
        messages.insert(0, {"role": "user", "content": [{"type": "text", "text": "(continue)"}]})
    last = messages[-1]["content"][-1]
    if last.get("type") in _CACHEABLE:
        last["cache_control"] = {"type": "ephemeral"}
    return system, messages


def ends_in_tool_loop_without_thinking(messages: list[dict[str, Any]]) -> bool:
    """With thinking on, Anthropic requires the assistant turn that made the pending tool calls to start
    with a thinking block; a history from another provider cannot provide one."""
    if len(messages) < 2 or messages[-1]["role"] != "user":
        return False
    if not any(b.get("type") == "tool_result" for b in messages[-1]["content"]):
        return False
    prev = messages[-2]
    return prev["role"] == "assistant" and prev["content"][0].get("type") not in ("thinking", "redacted_thinking")
