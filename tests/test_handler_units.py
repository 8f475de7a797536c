"""Small pure pieces of the request pipeline."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from proxy.payload import with_model as _with_model


@pytest.mark.parametrize(
    "body",
    [
        {"model": "arch.codex.default", "input": "x" * 1000, "stream": True},
        {"input": [{"text": 'quoted "model" word'}], "model": "ünï-cødé"},
        {"metadata": {"model": "arch.codex.default"}, "model": "arch.codex.default"},  # nested twin
        {"model": "a", "tools": [{"parameters": {"properties": {"model": {"type": "string"}}}}]},
    ],
)
@pytest.mark.parametrize("dumps", [orjson.dumps, lambda b: json.dumps(b).encode()])
def test_only_the_top_level_model_changes(body: dict, dumps) -> None:
    raw = dumps(body)
    out = _with_model(raw, orjson.loads(raw), "gpt-5.3-codex", changed=False)
    assert orjson.loads(out) == {**body, "model": "gpt-5.3-codex"}


def test_splices_bytes_when_unambiguous() -> None:
    raw = b'{"model": "arch.codex.default", "input": "keep   spacing"}'
    out = _with_model(raw, orjson.loads(raw), "gpt-5.3-codex", changed=False)
    assert out == b'{"model": "gpt-5.3-codex", "input": "keep   spacing"}'


def test_env_proxy_for_remote_providers_only() -> None:
    from proxy.upstream import proxy_environment, proxy_for

    def env_proxy(url: str, environ: dict[str, str]) -> str | None:
        return proxy_for(url, proxy_environment(environ))

    env = {"HTTPS_PROXY": "http://corp:3128", "HTTP_PROXY": "http://corp:3128", "NO_PROXY": "internal.example,.corp"}
    assert env_proxy("https://api.openai.com/v1/responses", env) == "http://corp:3128"
    assert env_proxy("http://127.0.0.1:11434/v1/chat/completions", env) is None
    assert env_proxy("http://localhost:8000/v1/chat/completions", env) is None
    assert env_proxy("http://[::1]:8000/v1", env) is None
    assert env_proxy("https://internal.example/v1", env) is None
    assert env_proxy("https://llm.corp/v1", env) is None
    assert env_proxy("https://api.anthropic.com/v1/messages", {}) is None


async def test_a_real_request_s_record_has_exactly_the_record_fields(proxy: Any) -> None:
    """The handler builds its record as one unchecked dict (`record_from_fields`): a field it forgot or
    misspelled would only show up here."""
    from dataclasses import fields

    import aiohttp

    from proxy.events import TERMINAL, RequestRecord

    seen: list[RequestRecord] = []
    proxy.state.bus.subscribe(lambda ev: seen.append(ev.record), TERMINAL)  # type: ignore[union-attr]
    async with aiohttp.ClientSession() as s:
        for body in ({"model": "arch.codex.default", "input": "x", "stream": True}, {"model": "nope", "input": "x"}):
            async with s.post(proxy.url + "/v1/responses", json=body) as r:
                await r.read()
    assert len(seen) == 2
    for rec in seen:
        assert set(vars(rec)) == {f.name for f in fields(RequestRecord)}
        assert rec == RequestRecord(**vars(rec))  # what the dataclass constructor would have built


