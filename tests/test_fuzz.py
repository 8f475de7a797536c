"""Fuzz: malformed requests never get a 500 and always leave a log row; broken upstream streams
always end with a terminal event or an error for the client, never a hang."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy.events import RequestFailed, RequestFinished, RequestRecord
from proxy.wire.sse import SseParser
from proxy.wire.usage import Usage

from .conftest import FAKE_KEYS, eventually, leaked_secrets, make_config
from .fakes import FakeUpstream, Script, chat_events, messages_events, responses_events

PATHS = ["/v1/responses", "/v1/chat/completions", "/v1/messages"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
bodies = st.one_of(
    st.binary(max_size=300),  # garbage, invalid UTF-8
    json_values.map(lambda v: json.dumps(v).encode()),  # valid JSON of the wrong shape
    st.fixed_dictionaries(
        {},
        optional={
            "model": st.one_of(st.text(max_size=20), st.integers(), st.none(), st.just("arch.codex.default")),
            "stream": st.one_of(st.booleans(), st.text(max_size=3)),
            "input": json_values,
            "messages": json_values,
            "max_tokens": json_values,
            "tools": json_values,
        },
    ).map(lambda v: json.dumps(v).encode()),
)


def test_leak_guard_catches_a_key() -> None:
    rec = RequestRecord(
        "id",
        0.0,
        "responses",
        "/v1/responses",
        "m",
        False,
        500,
        1.0,
        error=f"boom {FAKE_KEYS['OPENAI_API_KEY']}",
        usage=Usage(),
    )
    assert leaked_secrets(RequestFailed(rec)) == [FAKE_KEYS["OPENAI_API_KEY"]]


async def test_random_bodies_get_4xx_or_2xx_never_5xx(upstream: FakeUpstream, make_proxy) -> None:
    proxy = await make_proxy(make_config(upstream.url))
    records: list = []
    proxy.state.bus.subscribe(lambda e: records.append(e) if isinstance(e, RequestFinished | RequestFailed) else None)
    sent = 0
    async with aiohttp.ClientSession() as s:

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        @given(path=st.sampled_from(PATHS), body=bodies)
        def check(path: str, body: bytes) -> None:
            nonlocal sent
            status, data = asyncio.run_coroutine_threadsafe(send(s, proxy.url + path, body), loop).result(10)
            sent += 1
            assert status < 500, (status, body, data)
            if status >= 400:
                parsed = orjson.loads(data)
                if path == "/v1/messages":
                    assert parsed["type"] == "error" and parsed["error"]["message"]
                else:
                    assert parsed["error"]["message"]

        loop = asyncio.get_running_loop()
        await asyncio.to_thread(check)
    await eventually(lambda: len(records) == sent)
    async with aiohttp.ClientSession() as s, s.get(proxy.url + "/healthz") as r:
        assert r.status == 200  # still serving


async def send(s: aiohttp.ClientSession, url: str, body: bytes) -> tuple[int, bytes]:
    async with s.post(url, data=body, headers={"Content-Type": "application/json"}) as r:
        return r.status, await r.read()


def mutate(frames: list[bytes], data: st.DataObject) -> list[bytes]:
    """Random damage: garbage lines, invalid JSON in data:, a cut (possibly mid-UTF-8)."""
    out = list(frames)
    for _ in range(data.draw(st.integers(0, 3))):
        pos = data.draw(st.integers(0, len(out)))
        out.insert(
            pos,
            data.draw(
                st.sampled_from(
                    [
                        b"garbage line\n\n",
                        b"data: {not json\n\n",
                        b"data: \xff\xfe\n\n",
                        b": comment\n\n",
                        b"event: weird\ndata: {}\n\n",
                    ]
                )
            ),
        )
    if data.draw(st.booleans()):
        blob = b"".join(out)
        cut = data.draw(st.integers(0, len(blob)))
        out = [blob[:cut]]
    return out


async def test_broken_upstream_streams_always_end_cleanly(upstream: FakeUpstream, make_proxy) -> None:
    proxy = await make_proxy(make_config(upstream.url))
    loop = asyncio.get_running_loop()
    cases = [
        ("/v1/responses", "arch.codex.default", "/responses", responses_events, b"response."),
        ("/v1/chat/completions", "arch.local", "/chat/completions", chat_events, b"data:"),
        ("/v1/messages", "arch.claude", "/messages", messages_events, b"event:"),
    ]

    # Built once: the fakes number their ids from a counter, and a stream whose length changed between
    # examples would make Hypothesis's replay draw differently (FlakyStrategyDefinition).
    streams = {c[0]: c[3]("m", text="héllo ✓ wörld") for c in cases}

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=st.sampled_from(cases), chunk=st.integers(1, 64), data=st.data())
    def check(case, chunk: int, data: st.DataObject) -> None:
        path, model, suffix, _, _ = case
        frames = mutate(streams[path], data)
        upstream.script(suffix, Script(frames=frames, chunk_size=chunk))
        body = {
            "model": model,
            "stream": True,
            "input": "x",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "x"}],
        }
        status, out = asyncio.run_coroutine_threadsafe(send(s, proxy.url + path, orjson.dumps(body)), loop).result(10)
        assert status == 200
        parser = SseParser()
        events = [e for e in [*parser.feed(out), *parser.close()] if e.data]
        assert events, out
        # Whatever garbage the upstream sent is relayed, but the client always sees a terminal event.
        if path == "/v1/responses":
            kinds = {(e.json() or {}).get("type") for e in events if e.data.startswith(b"{")}
            assert kinds & {"response.completed", "response.failed", "response.incomplete", "error"}, out
        elif path == "/v1/messages":
            assert {e.event for e in events} & {"message_stop", "error"}, out
        else:
            assert any(e.data == b"[DONE]" or b'"error"' in e.data for e in events), out

    async with aiohttp.ClientSession() as s:
        await asyncio.to_thread(check)


async def test_stalled_upstream_before_headers_is_bounded(upstream: FakeUpstream, make_proxy) -> None:
    from proxy.state import ProxyOptions

    proxy = await make_proxy(make_config(upstream.url), ProxyOptions(idle_timeout_s=0.5, heartbeat_s=0))
    upstream.script("/responses", Script(frames=[responses_events("m")[0]], stall=3))
    async with aiohttp.ClientSession() as s:
        status, out = await asyncio.wait_for(
            send(s, proxy.url + "/v1/responses", orjson.dumps({"model": "arch.codex.default", "stream": True})), 5
        )
    assert status == 200 and b"response.failed" in out
