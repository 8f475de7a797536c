"""The README's failure table, row by row, for each client API (status, error shape, code)."""

from __future__ import annotations

import aiohttp
import orjson
import pytest

from proxy.state import ProxyOptions

from .conftest import make_config
from .fakes import FakeUpstream, Script, chat_events, messages_events, responses_events

APIS = {
    "responses": ("/v1/responses", {"input": "x"}),
    "chat": ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]}),
    "messages": ("/v1/messages", {"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}),
}
# Same-API model per client, so upstream behaviour is relayed without translation.
NATIVE = {
    "responses": ("arch.codex.default", "/responses", responses_events),
    "chat": ("arch.local", "/chat/completions", chat_events),
    "messages": ("arch.claude", "/messages", messages_events),
}


async def call(url: str, api: str, body: dict | bytes) -> tuple[int, dict, dict]:
    path, base = APIS[api]
    data = body if isinstance(body, bytes) else orjson.dumps({**base, **body})
    async with (
        aiohttp.ClientSession() as s,
        s.post(url + path, data=data, headers={"Content-Type": "application/json"}) as r,
    ):
        return r.status, orjson.loads(await r.read()), {k.lower(): v for k, v in r.headers.items()}


def shape(api: str, body: dict) -> tuple[str, str]:
    """(type, code-or-type) of an error body, checking it is the client API's own format."""
    if api == "messages":
        assert body["type"] == "error" and set(body["error"]) >= {"type", "message"}
        return body["error"]["type"], body["error"]["type"]
    assert set(body["error"]) >= {"message", "type", "code"}
    return body["error"]["type"], body["error"]["code"]


@pytest.fixture
async def proxy_small(upstream: FakeUpstream, make_proxy):
    return await make_proxy(make_config(upstream.url), ProxyOptions(max_body_bytes=50_000))


@pytest.mark.parametrize("api", list(APIS))
async def test_unknown_model(proxy_small, api: str) -> None:
    status, body, _ = await call(proxy_small.url, api, {"model": "no-such-model"})
    assert status == (404 if api == "messages" else 400)
    assert shape(api, body)[1] == ("not_found_error" if api == "messages" else "model_not_found")
    assert "Model 'no-such-model' not found in configured providers" in str(body)


@pytest.mark.parametrize("api", list(APIS))
async def test_missing_key(proxy_small, api: str) -> None:
    status, body, _ = await call(proxy_small.url, api, {"model": "grok-4-1-fast-non-reasoning"})
    assert status == 400
    assert shape(api, body)[1] == ("invalid_request_error" if api == "messages" else "missing_api_key")
    assert "export MISSING_XAI_KEY_FOR_TESTS=" in str(body)


@pytest.mark.parametrize("api", list(APIS))
async def test_malformed_json(proxy_small, api: str) -> None:
    status, body, _ = await call(proxy_small.url, api, b'{"model": ')
    assert status == 400
    assert shape(api, body)[1] == ("invalid_request_error" if api == "messages" else "invalid_json")


@pytest.mark.parametrize("api", list(APIS))
async def test_body_too_large(proxy_small, api: str) -> None:
    status, body, _ = await call(proxy_small.url, api, {"model": NATIVE[api][0], "pad": "x" * 60_000})
    assert status == 413
    assert shape(api, body)[1] == "request_too_large"


@pytest.mark.parametrize("api", list(APIS))
async def test_upstream_deterministic_4xx_keeps_status_and_shape(proxy_small, upstream: FakeUpstream, api: str) -> None:
    model, suffix, _ = NATIVE[api]
    err = (
        {"type": "error", "error": {"type": "invalid_request_error", "message": "bad tool schema"}}
        if api == "messages"
        else {"error": {"message": "bad tool schema", "type": "invalid_request_error", "code": "invalid_value"}}
    )
    upstream.script(suffix, Script(status=422, json=err))
    n = len(upstream.requests)
    status, body, _ = await call(proxy_small.url, api, {"model": model})
    assert status == 422 and "bad tool schema" in str(body)
    shape(api, body)
    assert len(upstream.requests) == n + 1  # exactly one upstream request: no retry loop


@pytest.mark.parametrize("api", list(APIS))
async def test_upstream_429_keeps_retry_after(proxy_small, upstream: FakeUpstream, api: str) -> None:
    model, suffix, _ = NATIVE[api]
    upstream.script(
        suffix,
        Script(
            status=429,
            headers={"retry-after": "3"},
            json={"error": {"message": "rate limited", "type": "rate_limit_error", "code": "rate_limit_exceeded"}},
        ),
    )
    status, _body, headers = await call(proxy_small.url, api, {"model": model})
    assert status == 429 and headers["retry-after"] == "3"


@pytest.mark.parametrize("api", list(APIS))
async def test_unreachable_upstream_is_502_naming_the_provider(make_proxy, api: str) -> None:
    proxy = await make_proxy(make_config("http://127.0.0.1:9"))
    status, body, _ = await call(proxy.url, api, {"model": NATIVE[api][0]})
    assert status == 502
    assert shape(api, body)[1] == ("api_error" if api == "messages" else "upstream_unavailable")
    assert "unreachable" in str(body)


@pytest.mark.parametrize("api", list(APIS))
async def test_failure_after_stream_started_is_reported_in_stream(
    proxy_small, upstream: FakeUpstream, api: str
) -> None:
    model, suffix, make = NATIVE[api]
    upstream.script(suffix, Script(frames=make("m", text="partial answer"), cut_after=4))
    path, base = APIS[api]
    async with (
        aiohttp.ClientSession() as s,
        s.post(proxy_small.url + path, json={**base, "model": model, "stream": True}) as r,
    ):
        assert r.status == 200
        data = await r.read()
    if api == "responses":
        assert b"event: response.failed" in data and b'"code":"stream_' in data
    elif api == "messages":
        assert b"event: error" in data
    else:
        assert b'data: {"error":' in data
