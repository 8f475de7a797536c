"""Two proxy replicas behind a real haproxy, sharing session pins, sessions with their routing-budget
totals, and provider cooldowns through a real redis-server (both started here on free loopback ports):
one Codex session keeps its turn's model whichever replica serves each request; a budget spent on one
replica holds on the other; a cooldown one replica decides holds on the other; Redis down or stalled
fails no request (each replica on memory, with a warning), and sharing resumes when it is back."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson
import pytest
import redis.asyncio as aioredis

from proxy.config import parse_config
from proxy.cost import Rates
from proxy.events import RequestFailed, RequestFinished, RequestRecord, ServiceNotice
from proxy.server import ProxyServer
from proxy.shared_state import SharedState
from proxy.shared_state import install as install_shared
from proxy.state import ProxyState

from .config_corpus import routed_config
from .conftest import FAKE_KEYS, proxy_config_yaml
from .fakes import FakeUpstream, Script
from .test_prometheus_dashboard import free_port
from .test_routing_proxy import FakeRouter, codex_run, route_of

REDIS = shutil.which("redis-server")
HAPROXY = shutil.which("haproxy")
pytestmark = [
    pytest.mark.skipif(REDIS is None or HAPROXY is None,
                       reason="redis-server and haproxy not installed (run .ci/install_services.sh)"),
    pytest.mark.slow,  # redis-server, haproxy and proxies as processes: scheduled first (tests/conftest.py)
]


async def poll(check: Callable[[], Awaitable[bool] | bool], deadline_s: float = 60.0) -> None:
    """Until `check()` holds; the deadline only turns a hang into a failure."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while True:
        ok = check()
        if not isinstance(ok, bool):
            ok = await ok
        if ok:
            return
        assert loop.time() < end, "condition not met in time"
        await asyncio.sleep(0.05)


async def port_open(port: int) -> bool:
    try:
        _, w = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    w.close()
    return True


class RedisServer:
    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.tmp = tmp
        self.proc: subprocess.Popen[bytes] | None = None

    def _spawn(self) -> subprocess.Popen[bytes]:
        # DEBUG from loopback only: the test stalls the server with DEBUG SLEEP.
        return subprocess.Popen(
            [str(REDIS), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.tmp), "--enable-debug-command", "local"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    async def start(self) -> None:
        self.proc = self._spawn()
        await poll(lambda: port_open(self.port))

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


class HaProxy:
    def __init__(self, backends: list[int], tmp: Path) -> None:
        self.port = free_port()
        cfg = tmp / "haproxy.cfg"
        servers = "\n".join(f"    server r{i} 127.0.0.1:{p}" for i, p in enumerate(backends))
        cfg.write_text(
            textwrap.dedent(
                f"""\
                global
                    maxconn 256
                defaults
                    mode http
                    timeout connect 5s
                    timeout client 60s
                    timeout server 60s
                frontend llm
                    bind 127.0.0.1:{self.port}
                    default_backend replicas
                backend replicas
                    balance roundrobin
                """
            )
            + servers
            + "\n"
        )
        self.proc = subprocess.Popen([str(HAPROXY), "-f", str(cfg), "-db"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)  # fmt: skip

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def replica_config(upstream: str, router: str, redis_port: int, routing_extra: str = "") -> str:
    """The routed config, every model on the fake upstream, the router model deciding, sessions in Redis."""
    return routed_config(upstream, "openai/gpt-flaky", f"{upstream}/v1", router=router) + textwrap.dedent(
        f"""\
        routing:
          router_timeout_ms: 5000
          session_cache: {{type: redis, url: "redis://127.0.0.1:{redis_port}", tenant_header: x-tenant}}
        """
    ) + routing_extra


@dataclass
class Replica:
    server: ProxyServer
    shared: SharedState
    records: list[RequestRecord] = field(default_factory=list)
    notices: list[ServiceNotice] = field(default_factory=list)  # the core's warnings as front ends get them


@dataclass
class Cluster:
    replicas: list[Replica]
    lb: HaProxy
    redis: RedisServer
    router: FakeRouter
    upstream: FakeUpstream

    def owner(self, request_id: str) -> int:
        return next(i for i, r in enumerate(self.replicas) if any(x.request_id == request_id for x in r.records))


@pytest.fixture
async def cluster(upstream: FakeUpstream, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Cluster]:
    redis = RedisServer(tmp_path)
    await redis.start()
    router = await FakeRouter().start()
    router.default = '{"route": []}'
    text = replica_config(upstream.url, router.url, redis.port, getattr(request, "param", ""))
    replicas = []
    for _ in range(2):
        state = ProxyState(parse_config(text, "replica.yaml", FAKE_KEYS))
        server = ProxyServer(state, host="127.0.0.1", port=0)
        shared = install_shared(state)
        assert shared is not None
        await server.start()
        await shared.start()
        rep = Replica(server, shared)
        state.bus.subscribe(lambda e, rep=rep: rep.records.append(e.record), (RequestFinished, RequestFailed))
        state.bus.subscribe(rep.notices.append, (ServiceNotice,))
        replicas.append(rep)
    await poll(lambda: all(r.shared.up for r in replicas))
    lb = HaProxy([r.server.port for r in replicas], tmp_path)
    await poll(lambda: port_open(lb.port))
    try:
        yield Cluster(replicas, lb, redis, router, upstream)
    finally:
        lb.stop()
        for r in replicas:
            await r.shared.stop()
            await r.server.stop(drain_s=0)
        await router.stop()
        redis.stop()


async def post(url: str, body: dict, headers: dict[str, str]) -> tuple[int, str | None]:
    """One request on its own connection (so haproxy balances each one); (status, x-request-id)."""
    async with aiohttp.ClientSession() as s, s.post(url, data=orjson.dumps(body), headers=headers) as r:
        await r.read()
        return r.status, r.headers.get("x-request-id")


async def codex_turn(c: Cluster, run: str) -> tuple[list[str], list[int]]:
    """The run's first user turn and its tool-result continuation through the balancer: the upstream
    models that served them and the replica that served each."""
    models, owners = [], []
    for r in codex_run(run)[:2]:
        status, rid = await post(c.lb.url + "/v1/responses", r["body"], r["headers"])
        assert status == 200 and rid is not None
        models.append(c.upstream.last("/v1/responses").json["model"])
        await poll(lambda rid=rid: any(x.request_id == rid for rep in c.replicas for x in rep.records))
        owners.append(c.owner(rid))
    return models, owners


async def test_one_codex_session_across_replicas_keeps_its_pin_and_shares_cooldowns(cluster: Cluster) -> None:
    c = cluster
    c.router.answer(route_of("project understanding"))  # any later question would get "no route"
    models, owners = await codex_turn(c, "resume")
    assert owners[0] != owners[1], "haproxy sent both requests to one replica"
    # The continuation, on the other replica, replayed the turn's decision from Redis.
    assert models == ["gpt-5-mini", "gpt-5-mini"] and len(c.router.requests) == 1
    pinned = c.replicas[owners[1]].records[-1]
    assert pinned.route is not None and pinned.route.backend == "pinned"

    # A provider rate-limits one replica for 60 s: the other replica skips it too.
    # (openai/… providers serve Chat clients through Responses.)
    c.upstream.script("/responses", Script(status=429, headers={"retry-after": "60"}))
    chat = {"model": "arch.flaky", "messages": [{"role": "user", "content": "hello"}]}
    status, rid = await post(c.lb.url + "/v1/chat/completions", chat, {})
    assert status == 200
    await poll(lambda: any(x.request_id == rid for rep in c.replicas for x in rep.records))
    first = c.owner(rid)
    other = c.replicas[1 - first].server
    await poll(lambda: other.state.health.cooling_until("openai/gpt-flaky") is not None)
    status, _ = await post(other.url + "/v1/chat/completions", chat, {})
    assert status == 200
    flaky_calls = [q for q in c.upstream.requests if q.path.endswith("/responses") and b"gpt-flaky" in q.raw]
    assert len(flaky_calls) == 1  # only the first replica ever asked it

    # Keys have Plano's shape, scoped by tenant (`-`: no x-tenant header on these requests).
    async with aioredis.from_url(f"redis://127.0.0.1:{c.redis.port}") as r:
        keys = [k.decode() async for k in r.scan_iter(match="plano:affinity:*")]
    assert keys and all(k.startswith("plano:affinity:-:") for k in keys)


async def test_redis_down_or_stalled_fails_nothing_and_sharing_resumes(cluster: Cluster, caplog) -> None:
    c = cluster
    caplog.set_level(logging.WARNING, logger="proxy.shared_state")
    c.redis.stop()
    c.router.answer(route_of("project understanding"))
    models, owners = await codex_turn(c, "exec_ww")  # every request answered, on memory alone
    await poll(lambda: not any(r.shared.up for r in c.replicas))
    assert "per replica until it is back" in caplog.text
    # ...and the dashboard's request log gets it as a row (proxy.notices), in process or attached.
    down = f"Redis at redis://127.0.0.1:{c.redis.port} unavailable"
    await poll(lambda: all(any(down in n.message and n.level == "warning" and n.subject == "redis" for n in r.notices)
                           for r in c.replicas))
    # Each replica on its own: the continuation on the other replica could not see the pin.
    assert owners[0] != owners[1] and models[0] == "gpt-5-mini"

    await c.redis.start()  # same port, empty
    await poll(lambda: all(r.shared.up for r in c.replicas))
    assert "is back" in caplog.text
    await poll(lambda: all(any("is back" in n.message and n.level == "info" and n.subject == "redis" for n in r.notices)
                           for r in c.replicas))
    c.router.answer(route_of("project understanding"))
    models, owners = await codex_turn(c, "par")
    assert owners[0] != owners[1] and models == ["gpt-5-mini", "gpt-5-mini"]

    # A stalled Redis (DEBUG SLEEP holds it for 3 s): requests go on without it.
    async with aioredis.from_url(f"redis://127.0.0.1:{c.redis.port}") as r:
        stall = asyncio.create_task(r.execute_command("DEBUG", "SLEEP", "3"))
        await asyncio.sleep(0)  # let the command go out first
        c.router.answer(route_of("project understanding"))
        _, owners = await codex_turn(c, "ns")
        await stall
    await poll(lambda: all(r.shared.up for r in c.replicas))


BUDGET = "  routing_budget:\n    max_switch_spend_pct: 10\n"


@pytest.mark.parametrize("cluster", [BUDGET], indirect=True)
async def test_a_routing_budget_spent_on_one_replica_holds_on_the_other(cluster: Cluster) -> None:
    """Turn 1 (one replica) routes the session to gpt-5-mini; turn 2 lands on the other replica, where the
    router wants gpt-5.3-codex: that replica reads the warm session and its budget totals from Redis, so
    the gate retains the anchor, exactly as one proxy would (tests/test_budget.py)."""
    c = cluster
    for rep in c.replicas:
        rep.server.state.prices.feed = {
            "openai/gpt-5-mini": Rates(0.25, 2.0, 0.025), "openai/gpt-5.3-codex": Rates(1.75, 14.0, 0.175)
        }  # fmt: skip
    c.router.answer(route_of("project understanding"))
    c.router.answer(route_of("code generation"))
    h = {"X-Model-Affinity": "team-sess"}
    history: list[dict] = [{"role": "system", "content": "You are a coding agent. " * 400}]
    owners, rids = [], []

    async def stored() -> dict:
        async with aioredis.from_url(f"redis://127.0.0.1:{c.redis.port}") as r:
            raw = await r.get("plano:session:-:a:team-sess")
        return orjson.loads(raw)["b"] if raw else {}  # {"shift": the writer's clock offset, "b": the binding}

    async def settled_in_redis(n: int) -> bool:
        d = await stored()
        return d.get("requests") == n and d.get("session_cost_usd", 0) > 0

    for text in ("explain the repo", "now write the parser"):
        history.append({"role": "user", "content": text})
        status, rid = await post(c.lb.url + "/v1/chat/completions", {"model": "arch.codex.default",
                                                                     "messages": history}, h)  # fmt: skip
        assert status == 200 and rid is not None
        await poll(lambda rid=rid: any(x.request_id == rid for rep in c.replicas for x in rep.records))
        owners.append(c.owner(rid))
        rids.append(rid)
        history.append({"role": "assistant", "content": "ok"})
        # The replica writes the settled turn to Redis just after answering: the next turn (an agent's takes
        # a tool run at least) reads it from there. Without this wait a CI run once sent turn 2 first.
        await poll(lambda n=len(rids): settled_in_redis(n))
    assert owners[0] != owners[1], "haproxy sent both turns to one replica"
    assert [q.json["model"] for q in c.upstream.requests if q.path.endswith("/responses")][-2:] == [
        "gpt-5-mini", "gpt-5-mini"
    ]  # fmt: skip
    second = next(x for x in c.replicas[owners[1]].records if x.request_id == rids[1])
    assert second.route is not None
    assert (second.route.decision, second.route.decision_reason, second.route.pinned) == ("retained", "over_cap", True)
    b = c.replicas[owners[1]].server.state.sessions.by_session("team-sess")
    assert b is not None and b.requests == 2 and b.baseline_usd > 0 and b.anchor_model == "openai/gpt-5-mini"
    # Redis holds the session as the last replica left it, the cost of both turns settled into it.
    costs = [x.cost.total_usd for rep in c.replicas for x in rep.records if x.request_id in rids and x.cost]
    assert len(costs) == 2

    async def settled() -> bool:
        d = await stored()
        return d.get("requests") == 2 and abs(d.get("session_cost_usd", 0) - sum(costs)) < 1e-12

    await poll(settled)


async def test_a_redis_password_never_reaches_a_warning_or_the_dashboard(upstream: FakeUpstream, tmp_path: Path,
                                                                          caplog) -> None:
    """A URL with credentials the server refuses (this redis-server has no password): the replica runs on
    memory and says so, with the URL's user and password replaced by `***`."""
    caplog.set_level(logging.WARNING, logger="proxy.shared_state")
    redis = RedisServer(tmp_path)
    await redis.start()
    secret = "r3dis-pa55"
    config = proxy_config_yaml(upstream.url) + textwrap.dedent(f"""\
        routing:
          session_cache: {{type: redis, url: "redis://team:{secret}@127.0.0.1:{redis.port}/0"}}
        """)  # fmt: skip
    state = ProxyState(parse_config(config, "replica.yaml", FAKE_KEYS))
    notices: list[ServiceNotice] = []
    state.bus.subscribe(notices.append, (ServiceNotice,))
    server = ProxyServer(state, host="127.0.0.1", port=0)
    shared = install_shared(state)
    assert shared is not None
    await server.start()
    await shared.start()
    try:
        await poll(lambda: any("unavailable" in n.message for n in notices))
        shown = next(n.message for n in notices if "unavailable" in n.message)
        assert f"Redis at redis://***@127.0.0.1:{redis.port}/0 unavailable" in shown
        assert secret not in shown and "team" not in shown and secret not in caplog.text
        async with aiohttp.ClientSession() as s:  # on memory alone, requests are answered
            body = {"model": "gpt-5.3-codex", "input": "hi"}
            async with s.post(server.url + "/v1/responses", json=body, headers={"session-id": "s1"}) as r:
                assert r.status == 200
    finally:
        await shared.stop()
        await server.stop(drain_s=0)
        redis.stop()
