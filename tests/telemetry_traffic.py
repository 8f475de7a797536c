"""Test traffic for the telemetry tests: streams, plain calls, an upstream error, a fallback past an
unreachable provider, routing decisions (routed and not), session pin hits from captured Codex tool
loops, and a `/routing/v1` decision, all through real clients against a real proxy."""

from __future__ import annotations

import socket

import aiohttp
import openai
import orjson
import pytest

from proxy.config import Config, parse_config
from proxy.server import ProxyServer

from .config_corpus import routed_config
from .conftest import FAKE_KEYS
from .fakes import FakeUpstream, Script, responses_body
from .test_routing_proxy import codex_run

ROUTED_PROMPT = "Walk me through how this repository is structured"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def telemetry_config(upstream: str, extra: str = "") -> Config:
    """The routed config on the fake upstream, with `arch.flaky`'s target on a port nothing listens on."""
    text = routed_config(upstream, "xai/grok-down", f"http://127.0.0.1:{closed_port()}/v1")
    return parse_config(text + extra, "telemetry-test.yaml", FAKE_KEYS)


async def drive(proxy: ProxyServer, upstream: FakeUpstream, extra_headers: dict[str, str] | None = None) -> None:
    """One round of mixed traffic; every kind of outcome the dashboard has a panel for."""
    hdrs = extra_headers or {}
    async with openai.AsyncOpenAI(
        base_url=proxy.url + "/v1", api_key="client-key", max_retries=0, default_headers=hdrs
    ) as oai:
        # A Codex-style stream, routed by the local backend to the "project understanding" model.
        stream = await oai.responses.create(
            model="arch.codex.default", input=ROUTED_PROMPT, stream=True, extra_headers={"session_id": "sess-A"}
        )
        async for _ in stream:
            pass
        # A plain Chat Completions call the router leaves alone (no route: the default model); its usage
        # reports no cached tokens (a prompt-cache miss).
        no_cache = {"input_tokens": 12, "output_tokens": 3, "total_tokens": 15}
        upstream.script("/responses", Script(json={**responses_body("gpt-5.3-codex"), "usage": no_cache}))
        await oai.chat.completions.create(model="gpt-5.3-codex", messages=[{"role": "user", "content": "hello!"}])
        # A streamed chat through the alias whose first provider is down: connect error, then fallback.
        chat_stream = await oai.chat.completions.create(
            model="arch.flaky", messages=[{"role": "user", "content": "hello!"}], stream=True
        )
        async for _ in chat_stream:
            pass
        # The only provider answers 500: the client gets a 5xx.
        upstream.script("/responses", Script(status=500))  # OpenAI serves chat clients via Responses
        with pytest.raises(openai.InternalServerError):
            await oai.chat.completions.create(model="gpt-5.3-codex", messages=[{"role": "user", "content": "hi"}])
        await oai.models.list()
    async with aiohttp.ClientSession(headers=hdrs) as s:
        # A captured Codex turn with a tool-result continuation: the continuation hits the session pin.
        for r in codex_run("resume"):
            async with s.post(proxy.url + "/v1/responses", data=orjson.dumps(r["body"]), headers=r["headers"]) as resp:
                assert resp.status == 200
                await resp.read()
        # Plano's decision-only endpoint.
        body = {"model": "arch.codex.default", "input": ROUTED_PROMPT}
        async with s.post(proxy.url + "/routing/v1/responses", data=orjson.dumps(body)) as resp:
            assert resp.status == 200
            await resp.read()
