"""Helpers for the translator tests: upstream stream builders (with the §9 server quirks), drivers, and
strict validators of the three client grammars (Responses events, Anthropic events, chat chunks)."""

from __future__ import annotations

import itertools
from typing import Any

import orjson

from proxy.wire.sse import SseEvent, SseParser

_ids = itertools.count(1)

# A segment of model output: ("text", s) | ("think", s) | ("tool", name, args_json)
Segment = tuple


def sse(data: Any, event: str | None = None) -> bytes:
    payload = data if isinstance(data, bytes) else orjson.dumps(data)
    return (b"event: " + event.encode() + b"\n" if event else b"") + b"data: " + payload + b"\n\n"


def pieces(s: str, n: int) -> list[str]:
    n = max(1, n)
    return [s[i:i + n] for i in range(0, len(s), n)] or [""]


# ----------------------------------------------------------------------------- upstream builders


def chat_stream(segments: list[Segment], *, model: str = "m", split: int = 5, finish: str | None = None,
                usage: dict | None = None, quirk: str = "", reasoning_field: str = "reasoning_content",
                done: bool = True) -> list[bytes]:
    """A chat completion stream. quirk: "" (OpenAI), "gemini" (no index, whole calls, finish "stop"),
    "ollama" (whole call in one chunk), "vllm" (usage chunk with choices null), "reuse" (index 0 reused)."""
    cid = f"chatcmpl-{next(_ids)}"

    def chunk(delta: dict, fr: str | None = None) -> bytes:
        return sse({"id": cid, "object": "chat.completion.chunk", "created": 1, "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": fr}]})

    out = [chunk({"role": "assistant", "content": ""})]
    n_tools = 0
    for seg in segments:
        if seg[0] == "text":
            out += [chunk({"content": p}) for p in pieces(seg[1], split)]
        elif seg[0] == "think":
            out += [chunk({reasoning_field: p}) for p in pieces(seg[1], split)]
        else:
            _, name, args = seg[:3]
            call_id = seg[3] if len(seg) > 3 else f"call_{next(_ids)}"
            i = n_tools
            n_tools += 1
            if quirk == "gemini":
                out.append(chunk({"tool_calls": [{"id": call_id, "type": "function",
                                                  "function": {"name": name, "arguments": args}}]}))
            elif quirk == "ollama":
                out.append(chunk({"tool_calls": [{"index": i, "id": call_id, "type": "function",
                                                  "function": {"name": name, "arguments": args}}]}))
            else:
                idx = 0 if quirk == "reuse" else i
                out.append(chunk({"tool_calls": [{"index": idx, "id": call_id, "type": "function",
                                                  "function": {"name": name, "arguments": ""}}]}))
                out += [chunk({"tool_calls": [{"index": idx, "function": {"arguments": p}}]})
                        for p in pieces(args, split) if p]
    fr = finish or ("stop" if quirk == "gemini" or not n_tools else "tool_calls")
    out.append(chunk({}, fr))
    if usage is not None:
        out.append(sse({"id": cid, "object": "chat.completion.chunk", "created": 1, "model": model,
                        "choices": None if quirk == "vllm" else [], "usage": usage}))
    if done:
        out.append(b"data: [DONE]\n\n")
    return out


def anthropic_stream(segments: list[Segment], *, model: str = "claude", split: int = 5, stop: str | None = None,
                     usage: dict | None = None, stop_event: bool = True) -> list[bytes]:
    """An Anthropic Messages stream; ("think", s) blocks get a signature, ("redacted", data) too."""
    mid = f"msg_{next(_ids)}"
    u = usage or {"input_tokens": 9, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 5,
                  "output_tokens": 1}
    out = [sse({"type": "message_start", "message": {"id": mid, "type": "message", "role": "assistant",
                                                     "model": model, "content": [], "stop_reason": None,
                                                     "stop_sequence": None, "usage": u}}, "message_start"),
           sse({"type": "ping"}, "ping")]
    has_tool = False
    for i, seg in enumerate(segments):
        def delta(d: dict, i: int = i) -> bytes:
            return sse({"type": "content_block_delta", "index": i, "delta": d}, "content_block_delta")

        kind = seg[0]
        if kind == "text":
            out.append(sse({"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}},
                           "content_block_start"))
            out += [delta({"type": "text_delta", "text": p}) for p in pieces(seg[1], split)]
        elif kind == "think":
            out.append(sse({"type": "content_block_start", "index": i,
                            "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
                           "content_block_start"))
            out += [delta({"type": "thinking_delta", "thinking": p}) for p in pieces(seg[1], split)]
            out.append(delta({"type": "signature_delta", "signature": f"sig-{i}-" + "A" * 20}))
        elif kind == "redacted":
            out.append(sse({"type": "content_block_start", "index": i,
                            "content_block": {"type": "redacted_thinking", "data": seg[1]}}, "content_block_start"))
        else:
            has_tool = True
            _, name, args = seg[:3]
            call_id = seg[3] if len(seg) > 3 else f"toolu_{next(_ids)}"
            out.append(sse({"type": "content_block_start", "index": i,
                            "content_block": {"type": "tool_use", "id": call_id, "name": name, "input": {}}},
                           "content_block_start"))
            out += [delta({"type": "input_json_delta", "partial_json": p}) for p in pieces(args, split) if p]
        out.append(sse({"type": "content_block_stop", "index": i}, "content_block_stop"))
    out.append(sse({"type": "message_delta", "delta": {"stop_reason": stop or ("tool_use" if has_tool else "end_turn"),
                                                       "stop_sequence": None}, "usage": {"output_tokens": 42}},
                   "message_delta"))
    if stop_event:
        out.append(sse({"type": "message_stop"}, "message_stop"))
    return out


RESPONSES_USAGE = {"input_tokens": 120, "input_tokens_details": {"cached_tokens": 80}, "output_tokens": 30,
                   "output_tokens_details": {"reasoning_tokens": 12}, "total_tokens": 150}


def responses_stream(segments: list[Segment], *, model: str = "gpt-5.3-codex", split: int = 5,
                     status: str = "completed", reason: str = "max_output_tokens", error: dict | None = None,
                     usage: dict | None = None, deltas: bool = True, terminal: bool = True) -> list[bytes]:
    """A Responses upstream stream as OpenAI sends it. ("think", s) is a reasoning item whose summary
    parts are `s` split at blank lines, with encrypted_content `enc:<n>`; ("text", s) a message;
    ("tool", name, args[, call_id]) a function call. `deltas=False`: items only in their `.done` events.
    `status`: completed | incomplete (with `reason`) | failed (with `error`)."""
    rid = f"resp_{next(_ids)}"
    base = {"id": rid, "object": "response", "created_at": 1, "model": model, "status": "in_progress", "output": [],
            "parallel_tool_calls": True, "tool_choice": "auto", "tools": []}
    ev: list[dict] = [{"type": "response.created", "response": base},
                      {"type": "response.in_progress", "response": base}]
    done_items: list[dict] = []
    for idx, seg in enumerate(segments):
        kind = seg[0]
        loc = {"output_index": idx}
        if kind == "think":
            iid = f"rs_{next(_ids)}"
            parts = seg[1].split("\n\n")
            item = {"id": iid, "type": "reasoning", "summary": [{"type": "summary_text", "text": p} for p in parts],
                    "encrypted_content": f"enc:{iid}"}
            ev.append({"type": "response.output_item.added", **loc, "item": {"id": iid, "type": "reasoning",
                                                                              "summary": []}})
            if deltas:
                for j, part in enumerate(parts):
                    ev.append({"type": "response.reasoning_summary_part.added", **loc, "item_id": iid,
                               "summary_index": j, "part": {"type": "summary_text", "text": ""}})
                    ev += [{"type": "response.reasoning_summary_text.delta", **loc, "item_id": iid,
                            "summary_index": j, "delta": p} for p in pieces(part, split)]
                    ev.append({"type": "response.reasoning_summary_text.done", **loc, "item_id": iid,
                               "summary_index": j, "text": part})
        elif kind == "text":
            iid = f"msg_{next(_ids)}"
            part = {"type": "output_text", "text": seg[1], "annotations": []}
            item = {"id": iid, "type": "message", "role": "assistant", "status": "completed", "content": [part]}
            ev.append({"type": "response.output_item.added", **loc, "item": {**item, "status": "in_progress",
                                                                              "content": []}})
            ev.append({"type": "response.content_part.added", **loc, "item_id": iid, "content_index": 0,
                       "part": {**part, "text": ""}})
            if deltas:
                ev += [{"type": "response.output_text.delta", **loc, "item_id": iid, "content_index": 0, "delta": p}
                       for p in pieces(seg[1], split)]
            ev.append({"type": "response.output_text.done", **loc, "item_id": iid, "content_index": 0,
                       "text": seg[1]})
        else:
            _, name, args = seg[:3]
            iid = f"fc_{next(_ids)}"
            call_id = seg[3] if len(seg) > 3 else f"call_{next(_ids)}"
            item = {"id": iid, "type": "function_call", "status": "completed", "call_id": call_id, "name": name,
                    "arguments": args}
            ev.append({"type": "response.output_item.added", **loc, "item": {**item, "status": "in_progress",
                                                                              "arguments": ""}})
            if deltas:
                ev += [{"type": "response.function_call_arguments.delta", **loc, "item_id": iid, "delta": p}
                       for p in pieces(args, split) if p]
            ev.append({"type": "response.function_call_arguments.done", **loc, "item_id": iid, "arguments": args})
        ev.append({"type": "response.output_item.done", **loc, "item": item})
        done_items.append(item)
    final = {**base, "status": status, "output": done_items, "usage": usage or RESPONSES_USAGE}
    if status == "incomplete":
        final["incomplete_details"] = {"reason": reason}
    if status == "failed":
        final["error"] = error or {"code": "server_error", "message": "The server had an error"}
    if terminal:
        ev.append({"type": f"response.{status}", "response": final})
    return [sse({**e, "sequence_number": i}, e["type"]) for i, e in enumerate(ev)]


def rechunk(frames: list[bytes], sizes: list[int]) -> list[bytes]:
    """The concatenated stream split at arbitrary byte positions (cycling through `sizes`)."""
    blob = b"".join(frames)
    out, i = [], 0
    for n in itertools.cycle(sizes or [len(blob) or 1]):
        if i >= len(blob):
            break
        out.append(blob[i:i + max(1, n)])
        i += max(1, n)
    return out


def run(translator: Any, chunks: list[bytes], finish: bool = True) -> bytes:
    """Feed network chunks through SseParser + the translator, as the handler does."""
    p = SseParser()
    out = [translator.feed(ev) for c in chunks for ev in p.feed(c)]
    if finish:
        out += [translator.feed(ev) for ev in p.close()]
        out.append(translator.finish())
    return b"".join(out)


def events(blob: bytes) -> list[SseEvent]:
    p = SseParser()
    return p.feed(blob) + p.close()


# ----------------------------------------------------------------------------- validators


def check_responses(blob: bytes) -> list[dict]:
    """Validate a Responses event stream strictly; return the parsed events."""
    evs = events(blob)
    objs = [orjson.loads(e.data) for e in evs]
    assert objs, "empty stream"
    for e, o in zip(evs, objs, strict=True):
        assert e.event == o["type"], (e.event, o["type"])
    assert objs[0]["type"] == "response.created", objs[0]["type"]
    assert [o["sequence_number"] for o in objs] == list(range(len(objs))), "sequence numbers"
    terminal = {"response.completed", "response.incomplete", "response.failed"}
    terms = [i for i, o in enumerate(objs) if o["type"] in terminal or o["type"] == "error"]
    assert terms == [len(objs) - 1], f"exactly one terminal event, last: {terms}"
    rid = objs[0]["response"]["id"]
    added: dict[int, dict] = {}
    done: dict[int, dict] = {}
    text: dict[int, str] = {}
    args: dict[int, str] = {}
    summ: dict[int, str] = {}
    custom: dict[int, str] = {}
    parts: set[int] = set()
    for o in objs:
        t = o["type"]
        if "response" in o:
            assert o["response"]["id"] == rid
        if t == "response.output_item.added":
            i = o["output_index"]
            assert i == len(added), f"output_index {i} not next ({len(added)})"
            added[i] = o["item"]
            continue
        if "output_index" in o and t != "response.output_item.added":
            i = o["output_index"]
            assert i in added, f"{t} before its item was added"
            assert i not in done, f"{t} after the item was done"
            if "item_id" in o:
                assert o["item_id"] == added[i]["id"], t
        if t == "response.content_part.added":
            assert added[o["output_index"]]["type"] == "message"
            parts.add(o["output_index"])
        elif t == "response.output_text.delta":
            assert o["output_index"] in parts, "text delta without content_part.added"
            text[o["output_index"]] = text.get(o["output_index"], "") + o["delta"]
        elif t == "response.output_text.done":
            assert o["text"] == text.get(o["output_index"], "")
        elif t == "response.function_call_arguments.delta":
            assert added[o["output_index"]]["type"] == "function_call"
            args[o["output_index"]] = args.get(o["output_index"], "") + o["delta"]
        elif t == "response.function_call_arguments.done":
            assert o["arguments"] == (args.get(o["output_index"]) or "{}")
        elif t == "response.custom_tool_call_input.delta":
            assert added[o["output_index"]]["type"] == "custom_tool_call"
            custom[o["output_index"]] = custom.get(o["output_index"], "") + o["delta"]
        elif t == "response.custom_tool_call_input.done":
            assert o["input"] == custom.get(o["output_index"], "")
        elif t == "response.reasoning_summary_text.delta":
            assert added[o["output_index"]]["type"] == "reasoning"
            summ[o["output_index"]] = summ.get(o["output_index"], "") + o["delta"]
        elif t == "response.output_item.done":
            i = o["output_index"]
            item = o["item"]
            assert item["id"] == added[i]["id"] and item["type"] == added[i]["type"]
            if item["type"] == "message":
                assert item["content"][0]["text"] == text.get(i, "")
            elif item["type"] == "function_call":
                assert item["arguments"] == (args.get(i) or "{}")
                assert item["call_id"] == added[i]["call_id"] and item["name"] == added[i]["name"]
            elif item["type"] == "custom_tool_call":
                assert item["input"] == custom.get(i, "")
            elif item["type"] == "reasoning":
                got = "".join(s["text"] for s in item["summary"])
                assert got == summ.get(i, "")
            done[i] = item
    last = objs[-1]
    if last["type"] in ("response.completed", "response.incomplete"):
        assert set(done) == set(added), "every added item must be done before completion"
        assert last["response"]["output"] == [done[i] for i in sorted(done)]
        assert last["response"]["usage"] is not None
    elif last["type"] == "response.failed":
        assert last["response"]["error"]["code"] and last["response"]["error"]["message"]
    return objs


def check_anthropic(blob: bytes) -> list[tuple[str, dict]]:
    evs = events(blob)
    out = [(e.event, orjson.loads(e.data)) for e in evs]
    assert out, "empty stream"
    for name, o in out:
        assert name is not None and name == o["type"], (name, o.get("type"))
    terms = [i for i, (n, _) in enumerate(out) if n in ("message_stop", "error")]
    assert terms == [len(out) - 1], f"exactly one terminal event, last: {terms}"
    if out[-1][0] == "error":
        assert out[-1][1]["error"]["type"] and out[-1][1]["error"]["message"]
        if len(out) == 1:
            return out
    assert out[0][0] == "message_start"
    open_idx: int | None = None
    next_idx = 0
    kinds: dict[int, str] = {}
    saw_delta = False
    for name, o in out[1:]:
        if name == "content_block_start":
            assert open_idx is None, "a block started while another is open"
            assert o["index"] == next_idx
            kinds[next_idx] = o["content_block"]["type"]
            if kinds[next_idx] == "tool_use":
                assert o["content_block"]["input"] == {}
            open_idx = next_idx
            next_idx += 1
        elif name == "content_block_delta":
            assert o["index"] == open_idx, "delta for a block that is not open"
            want = {"text": ("text_delta",), "tool_use": ("input_json_delta",),
                    "thinking": ("thinking_delta", "signature_delta")}[kinds[open_idx]]
            assert o["delta"]["type"] in want
        elif name == "content_block_stop":
            assert o["index"] == open_idx
            open_idx = None
        elif name == "message_delta":
            assert open_idx is None, "message_delta with a block open"
            assert o["delta"]["stop_reason"]
            saw_delta = True
    if out[-1][0] == "message_stop":
        assert saw_delta and open_idx is None
    return out


def check_chat(blob: bytes) -> list[dict]:
    evs = events(blob)
    assert evs and all(e.event is None for e in evs)
    datas = [e.data for e in evs]
    if datas[-1] != b"[DONE]":
        last = orjson.loads(datas[-1])
        assert "error" in last and last["error"]["message"], "a stream must end in [DONE] or an error chunk"
        objs = [orjson.loads(d) for d in datas[:-1]]
    else:
        assert b"[DONE]" not in datas[:-1]
        objs = [orjson.loads(d) for d in datas[:-1]]
    ids = {o["id"] for o in objs}
    assert len(ids) <= 1
    finishes = 0
    seen_tool: set[int] = set()
    for k, o in enumerate(objs):
        assert o["object"] == "chat.completion.chunk"
        if not o["choices"]:
            assert "usage" in o and finishes == 1
            continue
        ch = o["choices"][0]
        if k == 0:
            assert ch["delta"].get("role") == "assistant"
        for tc in ch["delta"].get("tool_calls") or []:
            assert isinstance(tc["index"], int)
            if tc["index"] not in seen_tool:
                assert tc["id"] and tc["function"]["name"] is not None
                seen_tool.add(tc["index"])
        if ch["finish_reason"]:
            finishes += 1
    if datas[-1] == b"[DONE]":
        assert finishes == 1
    return objs


# ----------------------------------------------------------------------------- reconstruction


def merge(segments: list[Segment]) -> list[Segment]:
    """Adjacent text (or think) segments become one: how a chat upstream's output reads back."""
    out: list[Segment] = []
    for s in segments:
        if out and s[0] in ("text", "think") and out[-1][0] == s[0]:
            out[-1] = (s[0], out[-1][1] + s[1])
        else:
            out.append(s)
    return [s for s in out if s[0] == "tool" or s[1]]


def responses_output(objs: list[dict]) -> list[Segment]:
    segs: list[Segment] = []
    for item in objs[-1]["response"]["output"]:
        if item["type"] == "message":
            segs.append(("text", item["content"][0]["text"]))
        elif item["type"] == "reasoning":
            text = "".join(s["text"] for s in item["summary"])
            if text:
                segs.append(("think", text))
        elif item["type"] == "function_call":
            segs.append(("tool", item["name"], item["arguments"]))
        elif item["type"] == "custom_tool_call":
            segs.append(("tool", item["name"], item["input"]))
    return segs
