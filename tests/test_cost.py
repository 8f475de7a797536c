"""Cost (proxy.cost): Plano's request-cost formula, the models.dev and DigitalOcean feeds from a file or a
loopback URL (with refresh), the built-in genai-prices table when no source answers, cost on the record,
the headless line, --log-json and /admin/stats, and `prefer: cheapest` / `fastest` ranking."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai
import pytest
from aiohttp import web

from plano_tui.headless import format_record
from proxy.config import load_config, parse_config
from proxy.cost import BuiltinPrices, PriceBook, Rates, parse_digitalocean, parse_models_dev, request_cost
from proxy.jsonlog import record_dict
from proxy.wire.usage import from_anthropic, from_openai

from .conftest import FAKE_KEYS, eventually, proxy_config_yaml
from .test_routing_proxy import records, settled

MODELS_DEV = {
    "openai": {"models": {"gpt-5.3-codex": {"cost": {"input": 2.0, "output": 14.0, "cache_read": 0.2}}}},
    "anthropic": {"models": {"claude-sonnet-4-5": {"cost": {"input": 3.0, "output": 15.0, "cache_read": 0.3}},
                             "claude-x-snapshot": {"cost": {"input": 9.0, "output": 9.0}}}},
    "ollama": {"models": {"no-cost": {}}},
}
DIGITALOCEAN = {"data": [
    {"model_id": "openai-gpt-5.3-codex", "pricing": {"input_price_per_million": 0.000001,
                                                    "output_price_per_million": 0.000008}},
    {"model_id": "anthropic-claude-sonnet-4.5", "pricing": {"input_price_per_million": 3.0,
                                                           "output_price_per_million": 15.0,
                                                           "cache_read_input_price_per_million": 0.3}},
    {"model_id": "no-pricing"},
]}


# ------------------------------------------------------------------ Plano's formula (its unit tests' numbers)


def test_request_cost_openai_convention_subtracts_cached_from_prompt() -> None:
    rates = Rates(3.0, 15.0, 0.30)
    c = request_cost(from_openai({"prompt_tokens": 1000, "prompt_tokens_details": {"cached_tokens": 400},
                                  "completion_tokens": 200}), rates)
    assert c.input_usd + c.cached_usd == pytest.approx(1920 / 1e6, abs=1e-12)
    assert c.output_usd == pytest.approx(200 * 15 / 1e6, abs=1e-12)
    assert (c.input_usd, c.cached_usd) == pytest.approx((1800 / 1e6, 120 / 1e6))


def test_request_cost_anthropic_convention_prices_uncached_and_creation() -> None:
    rates = Rates(3.0, 15.0, None)  # no cached rate in the feed: input × cache_read_discount (0.1)
    usage = from_anthropic({"input_tokens": 100, "cache_read_input_tokens": 30, "cache_creation_input_tokens": 20,
                            "output_tokens": 50})
    c = request_cost(usage, rates)
    assert c.input_usd + c.cached_usd == pytest.approx(369 / 1e6, abs=1e-12)


def test_feeds_parse_with_model_aliases() -> None:
    md = parse_models_dev(MODELS_DEV, {"anthropic/claude-x-snapshot": "anthropic/claude-x"})
    assert md["openai/gpt-5.3-codex"] == Rates(2.0, 14.0, 0.2, "models.dev")
    assert md["gpt-5.3-codex"] == md["openai/gpt-5.3-codex"]  # the bare id too, as Plano keys it
    assert md["anthropic/claude-x"].input == 9.0 and "ollama/no-cost" not in md
    do = parse_digitalocean(DIGITALOCEAN, {"openai-gpt-5.3-codex": "openai/gpt-5.3-codex",
                                           "anthropic-claude-sonnet-4.5": "anthropic/claude-sonnet-4-5"})
    assert do["openai/gpt-5.3-codex"].input == pytest.approx(1.0)  # per token → per million
    assert do["openai/gpt-5.3-codex"].output == pytest.approx(8.0)
    assert do["anthropic/claude-sonnet-4-5"] == Rates(3.0, 15.0, 0.3, "digitalocean")
    assert "no-pricing" not in do


def test_builtin_table_answers_offline_and_degrades_clearly_without_the_package(monkeypatch) -> None:
    b = BuiltinPrices()
    assert b.rates("openai/gpt-4o") is None  # not loaded yet: never loaded on the request path
    b.load(("anthropic/claude-sonnet-4-5",))
    r = b.rates("anthropic/claude-sonnet-4-5")
    assert r is not None and r.input > 0 and r.output > r.input and r.source == "genai-prices"
    assert b.rates("xai/grok-4-1-fast-non-reasoning") is not None  # our prefix → its provider id (x-ai)
    assert b.rates("ollama/llama3.1") is None  # a local model has no price
    assert "genai_prices" not in sys.modules  # read in a child process: the proxy never imports it
    # A Python without the package (the interpreter this venv was made from) answers "not installed".
    monkeypatch.setattr("proxy.cost.sys.executable", str(Path(sys.base_prefix) / "bin" / "python3"))
    missing = BuiltinPrices()
    missing.load()
    assert missing.rates("openai/gpt-4o") is None and "genai-prices package is not installed" in (missing.error or "")
    assert not PriceBook([], missing).has_cost_source


# ------------------------------------------------------------------ through the real proxy


class PriceServer:
    """A loopback price feed (and Prometheus query API): counts its fetches so tests wait on events."""

    def __init__(self, payload: Any) -> None:
        self.payload = payload
        self.hits = 0
        self.queries: list[str] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def _feed(self, request: web.Request) -> web.Response:
        self.hits += 1
        return web.json_response(self.payload)

    async def _prom(self, request: web.Request) -> web.Response:
        self.queries.append(request.query.get("query", ""))
        return web.json_response(self.payload)

    async def start(self) -> PriceServer:
        app = web.Application()
        app.router.add_get("/catalog", self._feed)
        app.router.add_get("/api/v1/query", self._prom)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        return self

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()


@pytest.fixture
async def feed():
    servers: list[PriceServer] = []

    async def start(payload: Any) -> PriceServer:
        s = await PriceServer(payload).start()
        servers.append(s)
        return s

    yield start
    for s in servers:
        await s.stop()


def with_sources(upstream_url: str, sources: str) -> str:
    return proxy_config_yaml(upstream_url) + sources


async def test_cost_from_a_local_models_dev_file_on_every_surface(upstream, make_proxy, tmp_path: Path) -> None:
    (tmp_path / "prices.json").write_text(json.dumps(MODELS_DEV))
    (tmp_path / "config.yaml").write_text(with_sources(
        upstream.url, "model_metrics_sources:\n  - type: cost\n    provider: models.dev\n    url: prices.json\n"))
    cfg = load_config(tmp_path / "config.yaml", FAKE_KEYS)
    proxy = await make_proxy(cfg)
    await proxy.state.prices.loaded.wait()
    recs = records(proxy)
    async with openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key="k", max_retries=0) as client:
        async with client.responses.stream(model="arch.codex.default", input="hi") as stream:
            async for _ in stream:
                pass
    async with anthropic.AsyncAnthropic(base_url=proxy.url, api_key="k", max_retries=0) as client:
        await client.messages.create(model="arch.claude", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    codex, claude = await settled(recs, 2)
    # The fake's Responses usage: 12 input (4 cached), 7 output, priced 2.0 / 0.2 / 14.0 per million
    assert codex.cost is not None
    assert (codex.cost.input_usd, codex.cost.cached_usd, codex.cost.output_usd) == pytest.approx(
        (8 * 2.0 / 1e6, 4 * 0.2 / 1e6, 7 * 14.0 / 1e6))
    # Anthropic: 9 uncached + 5 cache reads, 6 output at 3.0 / 0.3 / 15.0
    assert claude.cost is not None and claude.cost.total_usd == pytest.approx((9 * 3 + 5 * 0.3 + 6 * 15) / 1e6)
    line = format_record(codex)
    assert f"cost_usd={codex.cost.total_usd:.6f}" in line and "cost_cached=0.000001" in line
    row = record_dict(claude)
    assert row["cost_usd"] == pytest.approx(claude.cost.total_usd) and row["cost_cached_usd"] == pytest.approx(1.5e-6)
    async with aiohttp.ClientSession() as s, s.get(proxy.url + "/admin/stats") as r:
        stats = await r.json()
    total = codex.cost.total_usd + claude.cost.total_usd
    assert stats["cost"]["cost_usd"] == pytest.approx(total)
    assert stats["providers"]["openai/gpt-5.3-codex"]["cost_usd"] == pytest.approx(codex.cost.total_usd)
    assert stats["alias_costs"]["arch.claude"]["cost_usd"] == pytest.approx(claude.cost.total_usd)
    assert stats["prices"]["errors"] == {}


async def test_digitalocean_url_refreshes_in_the_background(upstream, make_proxy, feed) -> None:
    server = await feed(DIGITALOCEAN)
    cfg = parse_config(with_sources(upstream.url, f"""\
model_metrics_sources:
  - type: cost
    provider: digitalocean
    url: {server.url}/catalog
    refresh_interval: 1
    model_aliases:
      openai-gpt-5.3-codex: openai/gpt-5.3-codex
"""), "c.yaml", FAKE_KEYS)
    proxy = await make_proxy(cfg)
    await proxy.state.prices.loaded.wait()
    assert proxy.state.prices.rates("openai/gpt-5.3-codex").input == pytest.approx(1.0)
    server.payload = {"data": [{"model_id": "openai-gpt-5.3-codex",
                                "pricing": {"input_price_per_million": 4.0, "output_price_per_million": 8.0}}]}
    await eventually(lambda: server.hits >= 2, timeout=5)
    await eventually(lambda: proxy.state.prices.rates("openai/gpt-5.3-codex").input == 4.0)


async def test_unreachable_source_never_fails_a_request_and_the_builtin_table_prices(upstream, make_proxy) -> None:
    cfg = parse_config(with_sources(upstream.url, """\
model_metrics_sources:
  - type: cost
    provider: models.dev
    url: http://127.0.0.1:9/api.json
"""), "c.yaml", FAKE_KEYS)
    proxy = await make_proxy(cfg)
    recs = records(proxy)
    async with openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key="k", max_retries=0) as client:
        await client.responses.create(model="arch.codex.default", input="hi")  # may run before any price loads
    await proxy.state.prices.loaded.wait()
    await eventually(lambda: proxy.state.prices.builtin.ready)
    async with openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key="k", max_retries=0) as client:
        await client.responses.create(model="arch.codex.default", input="hi")
    first, second = await settled(recs, 2)
    assert first.status == second.status == 200
    assert second.cost is not None and second.cost.total_usd > 0  # genai-prices' own gpt-5.3-codex rates
    assert "127.0.0.1:9" in next(iter(proxy.state.prices.errors))


GEN = "generating new code"
PREFS = """\
routing_preferences:
  - name: code generation
    description: generating new code
    models: [ollama/llama3.1, anthropic/claude-sonnet-4-5, openai/gpt-5.3-codex]
    selection_policy: {prefer: PREFER}
"""


async def test_prefer_cheapest_ranks_by_price_and_fastest_by_the_latency_source(upstream, make_proxy, feed) -> None:
    from proxy.routing.preferences import ranked_models

    prom = await feed({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"model_name": "anthropic/claude-sonnet-4-5"}, "value": [1, "0.4"]},
        {"metric": {"model_name": "gpt-5.3-codex"}, "value": [1, "1.9"]},
    ]}})
    prices = await feed(MODELS_DEV)
    sources = f"""\
model_metrics_sources:
  - type: cost
    provider: models.dev
    url: {prices.url}/catalog
  - type: latency
    provider: prometheus
    url: {prom.url}
    query: histogram_quantile(0.5, rate(llm_latency_bucket[5m]))
"""
    for prefer, expected in (
        # blended input + output: 16 (codex) < 18 (sonnet); ollama has no price, so it goes last
        ("cheapest", ["openai/gpt-5.3-codex", "anthropic/claude-sonnet-4-5", "ollama/llama3.1"]),
        ("fastest", ["anthropic/claude-sonnet-4-5", "openai/gpt-5.3-codex", "ollama/llama3.1"]),
    ):
        text = with_sources(upstream.url, sources + PREFS.replace("PREFER", prefer))
        proxy = await make_proxy(parse_config(text, "c.yaml", FAKE_KEYS))
        await proxy.state.prices.loaded.wait()
        (pref,) = proxy.state.config.routing_preferences
        assert ranked_models(pref, proxy.state.stats, proxy.state.resolver, proxy.state.prices) == expected
    assert prom.queries and prom.queries[0].startswith("histogram_quantile")
