"""Property tests: random valid upstream streams (text / tool-call / thinking segments, server quirks,
random network splits through SseParser, random cuts) translate into a grammatically valid client
stream that carries exactly the same content."""

from __future__ import annotations

import json

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy.translate import get_translation
from proxy.wire.providers import Api

from .translate_helpers import (
    anthropic_stream,
    chat_stream,
    check_anthropic,
    check_chat,
    check_responses,
    merge,
    rechunk,
    responses_output,
    run,
)

R2C = get_translation(Api.RESPONSES, Api.CHAT)
R2M = get_translation(Api.RESPONSES, Api.MESSAGES)
C2M = get_translation(Api.CHAT, Api.MESSAGES)
M2C = get_translation(Api.MESSAGES, Api.CHAT)
TOOLS = [{"type": "function", "name": "f", "parameters": {}},
         {"type": "namespace", "name": "ns", "tools": [{"type": "function", "name": "g", "parameters": {}}]}]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=24)
json_value = st.one_of(st.integers(-(2**53), 2**53), text, st.booleans())  # orjson parses larger ints as floats
json_args = st.dictionaries(st.text(max_size=6), json_value, max_size=3).map(
    lambda d: json.dumps(d, ensure_ascii=False))
segment = st.one_of(st.tuples(st.just("text"), text), st.tuples(st.just("think"), text),
                    st.tuples(st.just("tool"), st.sampled_from(["f", "g"]), json_args))
segments = st.lists(segment, max_size=6)
splits = st.lists(st.integers(1, 80), min_size=1, max_size=5)
usage = st.one_of(st.none(), st.builds(lambda p, c, k: {"prompt_tokens": p + k, "completion_tokens": c,
                                                        "prompt_tokens_details": {"cached_tokens": k}},
                                       st.integers(0, 10**6), st.integers(0, 10**5), st.integers(0, 10**5)))


def _responses(t_cls, model_body: dict):
    return t_cls.stream(t_cls.request({"model": "x", "input": "q", "tools": TOOLS, "stream": True, **model_body},
                                      "m").state)


def _anthropic_blocks(out: list[tuple[str, dict]]) -> list[tuple]:
    blocks: list[list] = []
    for name, o in out:
        if name == "content_block_start":
            b = o["content_block"]
            blocks.append([b["type"], b.get("name"), ""])
        elif name == "content_block_delta":
            d = o["delta"]
            blocks[o["index"]][2] += d.get("text") or d.get("thinking") or d.get("partial_json") or ""
    kinds = {"text": "text", "thinking": "think", "tool_use": "tool"}
    return [("tool", b[1], b[2]) if b[0] == "tool_use" else (kinds[b[0]], b[2]) for b in blocks]


@SETTINGS
@given(segs=segments, quirk=st.sampled_from(["", "gemini", "ollama", "vllm", "reuse"]), split=st.integers(1, 9),
       sizes=splits, u=usage, fld=st.sampled_from(["reasoning_content", "reasoning"]), done=st.booleans())
def test_chat_upstream_to_responses_and_messages(segs, quirk, split, sizes, u, fld, done) -> None:
    frames = rechunk(chat_stream(segs, split=split, quirk=quirk, usage=u, reasoning_field=fld, done=done), sizes)
    t = _responses(R2C, {})
    objs = check_responses(run(t, frames))
    assert objs[-1]["type"] == "response.completed"
    want = merge(segs)
    assert responses_output(objs) == want
    if u:
        assert objs[-1]["response"]["usage"]["input_tokens"] == u["prompt_tokens"]
        assert t.usage.cached_tokens == u["prompt_tokens_details"]["cached_tokens"]
    m = M2C.stream(M2C.request({"model": "x", "max_tokens": 5, "stream": True,
                                "messages": [{"role": "user", "content": "q"}]}, "m").state)
    out = check_anthropic(run(m, frames))
    assert out[-1][0] == "message_stop" and _anthropic_blocks(out) == want


@SETTINGS
@given(segs=segments, split=st.integers(1, 9), sizes=splits, stop_event=st.booleans())
def test_anthropic_upstream_to_responses_and_chat(segs, split, sizes, stop_event) -> None:
    frames = rechunk(anthropic_stream(segs, split=split, stop_event=stop_event), sizes)
    objs = check_responses(run(_responses(R2M, {}), frames))
    assert objs[-1]["type"] == "response.completed"
    assert responses_output(objs) == segs  # Anthropic blocks stay separate items
    t = C2M.stream(C2M.request({"model": "x", "messages": [{"role": "user", "content": "q"}], "stream": True,
                                "stream_options": {"include_usage": True}}, "c").state)
    chunks = check_chat(run(t, frames))
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("content") or "" for d in deltas) == "".join(s[1] for s in segs if s[0] == "text")
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == "".join(s[1] for s in segs if s[0] == "think")
    calls: dict[int, list[str]] = {}
    for d in deltas:
        for tc in d.get("tool_calls") or []:
            calls.setdefault(tc["index"], [tc["function"].get("name"), ""])
            calls[tc["index"]][1] += tc["function"].get("arguments") or ""
    assert [("tool", n, a) for n, a in calls.values()] == [s for s in segs if s[0] == "tool"]
    assert chunks[-1]["usage"]["completion_tokens"] == 42


@SETTINGS
@given(segs=segments.filter(lambda s: len(s) > 0), split=st.integers(1, 5), data=st.data())
def test_cut_streams_end_in_exactly_one_failure(segs, split, data) -> None:
    frames = chat_stream(segs, split=split)
    finish_at = len(frames) - 2  # the finish chunk
    cut = data.draw(st.integers(0, finish_at - 1))
    objs = check_responses(run(_responses(R2C, {}), frames[:cut]))
    assert objs[-1]["type"] == "response.failed"
    assert not [o for o in objs if o["type"] == "response.output_item.done"]  # issue #8
    m = M2C.stream(M2C.request({"model": "x", "max_tokens": 5, "messages": [{"role": "user", "content": "q"}]},
                               "m").state)
    assert check_anthropic(run(m, frames[:cut]))[-1][0] == "error"
    aframes = anthropic_stream(segs, split=split)
    acut = data.draw(st.integers(0, len(aframes) - 3))  # before message_delta
    objs = check_responses(run(_responses(R2M, {}), aframes[:acut]))
    assert objs[-1]["type"] == "response.failed"
    t = C2M.stream(C2M.request({"model": "x", "messages": [{"role": "user", "content": "q"}]}, "c").state)
    blob = run(t, aframes[:acut])
    check_chat(blob)
    assert b"[DONE]" not in blob and t.error


@SETTINGS
@given(segs=segments)
def test_bodies_match_streams(segs) -> None:
    st_r = R2C.request({"model": "x", "input": "q", "tools": TOOLS}, "m").state
    msg: dict = {"role": "assistant", "content": "".join(s[1] for s in segs if s[0] == "text") or None,
                 "reasoning_content": "".join(s[1] for s in segs if s[0] == "think") or None,
                 "tool_calls": [{"id": f"c{i}", "type": "function", "function": {"name": s[1], "arguments": s[2]}}
                                for i, s in enumerate(x for x in segs if x[0] == "tool")]}
    body = orjson.loads(orjson.dumps({"id": "c", "choices": [{"index": 0, "message": msg, "finish_reason": "stop"}]}))
    r = R2C.response(body, st_r)
    got = [(s[0], s[1]) if s[0] != "tool" else s for s in responses_output([{"response": r}])]
    want = ([("think", msg["reasoning_content"])] if msg["reasoning_content"] else []) + (
        [("text", msg["content"])] if msg["content"] else []) + [s for s in segs if s[0] == "tool"]
    assert got == want
    ab = {"id": "m", "type": "message", "stop_reason": "end_turn", "usage": {"input_tokens": 1, "output_tokens": 1},
          "content": [{"type": "text", "text": s[1]} if s[0] == "text" else
                      {"type": "thinking", "thinking": s[1], "signature": "S"} if s[0] == "think" else
                      {"type": "tool_use", "id": "t", "name": s[1], "input": json.loads(s[2])} for s in segs]}
    r = R2M.response(ab, R2M.request({"model": "x", "input": "q", "tools": TOOLS}, "c").state)
    got = responses_output([{"response": r}])
    assert [(g[0], g[1], json.loads(g[2])) if g[0] == "tool" else g for g in got] == [
        (s[0], s[1], json.loads(s[2])) if s[0] == "tool" else s for s in segs]
