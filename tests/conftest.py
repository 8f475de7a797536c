"""Shared fixtures: a fake upstream on loopback and a real proxy in front of it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from proxy.config import Config, parse_config
from proxy.server import ProxyServer
from proxy.state import ProxyOptions, ProxyState

from .config_corpus import proxy_config_yaml
from .fakes import FakeUpstream

FAKE_KEYS = {
    "OPENAI_API_KEY": "sk-test-OPENAI-secret-0001",
    "ANTHROPIC_API_KEY": "sk-ant-test-ANTHROPIC-secret-0002",
    "XAI_API_KEY": "xai-test-XAI-secret-0003",
}


def make_config(upstream_url: str, extra: str = "", env: dict[str, str] | None = None) -> Config:
    return parse_config(
        proxy_config_yaml(upstream_url, extra), "test-config.yaml", env if env is not None else FAKE_KEYS
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist, the tests that start real processes (e2e, or marked slow) first, in the order
    pytest-randomly shuffled them (a stable sort, after its shuffle): a 5-20 s test handed out last would
    keep one worker busy while the other idles; first, the many short tests even the workers out at the
    end. The workers' collection order is the schedule; a serial run (`-n0`) keeps file order."""
    if not hasattr(config, "workerinput"):
        return
    items.sort(key=lambda item: item.get_closest_marker("e2e") is None and item.get_closest_marker("slow") is None)


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    fake = await FakeUpstream().start()
    yield fake
    await fake.stop()


ProxyFactory = Callable[..., Awaitable[ProxyServer]]


SECRETS = (*FAKE_KEYS.values(), "sk-test-A", "xai-test-B", "sk-ant-test-C", "sk-secret-client")


def leaked_secrets(event: object) -> list[str]:
    """Every secret that appears anywhere a user could see this event: the record (bodies, headers,
    errors, notes), the headless line and the JSONL row."""
    from plano_tui.headless import format_record
    from proxy.events import RequestFailed, RequestFinished, ServiceNotice
    from proxy.jsonlog import record_dict

    if isinstance(event, ServiceNotice):  # the core's warnings, as every dashboard shows them
        return [s for s in SECRETS if s in event.message]
    if not isinstance(event, RequestFinished | RequestFailed):
        return []
    r = event.record
    blobs = [repr(r), format_record(r), repr(record_dict(r)), repr(r.request_headers)]
    for b in (r.request_body, r.upstream_body, r.response_body):
        if b:
            blobs.append(b.decode("utf-8", "replace"))
    text = "\n".join(blobs)
    return [s for s in SECRETS if s in text]


@pytest.fixture
async def make_proxy() -> AsyncIterator[ProxyFactory]:
    """Start real proxies on 127.0.0.1:0. Every proxy is watched for leaked provider keys: the
    suite's traffic uses recognisable fake keys and any event exposing one fails the test."""
    servers: list[ProxyServer] = []
    leaks: list[str] = []

    async def factory(
        config: Config, options: ProxyOptions | None = None, state: ProxyState | None = None
    ) -> ProxyServer:
        st = state or ProxyState(config, options=options)
        st.bus.subscribe(lambda e: leaks.extend(leaked_secrets(e)))
        server = ProxyServer(st, host="127.0.0.1", port=0)
        await server.start()
        servers.append(server)
        return server

    yield factory
    for s in servers:
        await s.stop(drain_s=0)
    assert not leaks, f"provider keys leaked into records/logs: {sorted(set(leaks))}"


@pytest.fixture
async def proxy(upstream: FakeUpstream, make_proxy: ProxyFactory) -> ProxyServer:
    return await make_proxy(make_config(upstream.url))


SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURES = SHARED / "fixtures"


@pytest.fixture
async def oai(proxy: ProxyServer) -> AsyncIterator[object]:
    """The official OpenAI SDK pointed at the proxy (closed after the test)."""
    import openai

    async with openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key="client-key", max_retries=0) as client:
        yield client


@pytest.fixture
async def ant(proxy: ProxyServer) -> AsyncIterator[object]:
    """The official Anthropic SDK pointed at the proxy (closed after the test)."""
    import anthropic

    async with anthropic.AsyncAnthropic(base_url=proxy.url, api_key="client-key", max_retries=0) as client:
        yield client


async def eventually(predicate: Callable[[], object], timeout: float = 30.0) -> None:
    """Wait until `predicate()` is truthy (records are published just after the client sees the end).

    The predicate is the signal; `timeout` only turns a hang into a failure, so it is generous enough
    for a loaded 2-core machine running the suite in parallel and never part of what a test asserts."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
