"""Small pure pieces of the request pipeline."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_splices_a_leading_model_key_despite_a_nested_twin() -> None:
    """Codex sends `model` first, and its tools' schemas have a `model` property: the first key is the
    top-level one, so the body is spliced (byte-faithful) without scanning all of it for a twin."""
    raw = b'{"model":"arch.codex.default","tools":[{"parameters":{"properties":{"model":{"type":"string"}}}}]}'
    out = _with_model(raw, orjson.loads(raw), "gpt-5.3-codex", changed=False)
    assert out == raw.replace(b'"arch.codex.default"', b'"gpt-5.3-codex"')


_JSON = st.recursive(st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
                     lambda kids: st.lists(kids, max_size=3)
                     | st.dictionaries(st.sampled_from(["model", "input", "x", "mödel"]), kids, max_size=3),
                     max_leaves=12)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.sampled_from(["input", "tools", "stream", "metadata", "x"]), _JSON, max_size=4),
       st.integers(0, 4), st.text(min_size=1, max_size=12),
       st.sampled_from([orjson.dumps, lambda b: json.dumps(b).encode(), lambda b: json.dumps(b, indent=2).encode(),
                        lambda b: json.dumps(b, ensure_ascii=False).encode("utf-8")]))
def test_with_model_changes_only_the_top_level_model(rest: dict, at: int, old: str, dumps) -> None:
    """Whatever the key order, nesting, spacing and escaping: the answer parses to the same body with the
    top-level model replaced (spliced or re-serialised)."""
    items = list(rest.items())
    body = dict([*items[:at], ("model", old), *items[at:]])
    raw = dumps(body)
    out = _with_model(raw, orjson.loads(raw), "gpt-5.3-codex", changed=False)
    assert orjson.loads(out) == {**body, "model": "gpt-5.3-codex"}


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


