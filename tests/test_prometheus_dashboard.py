"""A real Prometheus (Debian package, installed by .ci/install_services.sh) scrapes a proxy under mixed
traffic with the scrape job Plano's config/grafana/prometheus_scrape.yaml names (`brightstaff`); then
every query of Plano's Grafana dashboard returns data, except the panel query that reads Envoy's own
counters (this proxy has no Envoy)."""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import socket
import subprocess
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from proxy.cost_hook import Cost
from proxy.server import ProxyServer
from proxy.state import ProxyState
from proxy.telemetry import install

from .fakes import FakeUpstream
from .telemetry_traffic import drive, telemetry_config

PROMETHEUS = shutil.which("prometheus")
QUERIES = json.loads((Path(__file__).parent / "data" / "brightstaff_dashboard_queries.json").read_text())["queries"]
pytestmark = [
    pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed (run .ci/install_services.sh)"),
    pytest.mark.slow,  # a real Prometheus server: scheduled first (tests/conftest.py)
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    def __init__(self, target: str, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = tmp / "prometheus.yml"
        cfg.write_text(
            textwrap.dedent(
                f"""\
                global:
                  scrape_interval: 1s
                  scrape_timeout: 1s
                scrape_configs:
                  - job_name: brightstaff
                    metrics_path: /metrics
                    static_configs:
                      - targets: ["{target}"]
                        labels: {{service: plano}}
                """
            )
        )
        self.proc = subprocess.Popen(
            [
                str(PROMETHEUS),
                f"--config.file={cfg}",
                f"--storage.tsdb.path={tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(tmp / "prometheus.log").open("wb"),
        )

    async def query(self, s: aiohttp.ClientSession, expr: str) -> list[dict]:
        async with s.get(self.url + "/api/v1/query", params={"query": expr}) as r:
            body = await r.json()
        assert body["status"] == "success", body
        return body["data"]["result"]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def poll(check, deadline_s: float = 90.0) -> None:
    """Until `check()` is true; the deadline only turns a hang into a failure."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while not await check():
        assert loop.time() < end, "condition not met in time"
        await asyncio.sleep(0.2)


@pytest.fixture
async def scraped(upstream: FakeUpstream, tmp_path: Path) -> AsyncIterator[tuple[ProxyServer, Prometheus]]:
    state = ProxyState(telemetry_config(upstream.url))
    server = ProxyServer(state, host="127.0.0.1", port=0)
    price = lambda p, m, u: Cost(u.input_tokens * 1e-6, u.output_tokens * 4e-6)  # noqa: E731
    tel = install(server, metrics_host="127.0.0.1", metrics_port=0, pricer=price)
    await server.start()
    await tel.start()
    prom = Prometheus(f"127.0.0.1:{tel.listener.port}", tmp_path)
    try:
        yield server, prom
    finally:
        prom.stop()
        await tel.stop()
        await server.stop(drain_s=0)


def has_data(result: list[dict]) -> bool:
    return any(not math.isnan(float(r["value"][1])) for r in result)


@pytest.mark.timeout(240)
async def test_every_dashboard_query_returns_data(scraped, upstream) -> None:
    server, prom = scraped
    async with aiohttp.ClientSession() as s:

        async def scraped_count(n: int) -> bool:
            try:
                res = await prom.query(s, 'sum(brightstaff_http_requests_total{job="brightstaff"})')
            except aiohttp.ClientError:
                return False  # Prometheus still starting
            return bool(res) and float(res[0]["value"][1]) >= n

        # Two rounds, each scraped before the next, so every rate() has an increase to measure.
        await drive(server, upstream)
        await poll(lambda: scraped_count(9))  # 7 LLM calls, /v1/models, one decision
        await drive(server, upstream)
        await poll(lambda: scraped_count(18))

        pending = {q["expr"]: q["panel"] for q in QUERIES if "envoy_" not in q["expr"]}
        assert len(pending) == len(QUERIES) - 1  # only Envoy's own counter is left out

        async def all_answered() -> bool:
            for expr in list(pending):
                if has_data(await prom.query(s, expr)):
                    del pending[expr]
            return not pending

        try:
            await poll(all_answered)
        except AssertionError:
            raise AssertionError(f"dashboard queries without data: {pending}") from None
        # The dashboard's process panel selects the job by Plano's name.
        assert await prom.query(s, 'up{job="brightstaff", service="plano"} == 1')
