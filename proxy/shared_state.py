"""Session pins, sessions (with their routing-budget totals) and provider cooldowns shared by replicas
through Redis (`routing.session_cache.type: redis`).

    routing:
      session_cache: {type: redis, url: "redis://127.0.0.1:6379", tenant_header: x-tenant}

Pins: the router's in-memory decision cache stays the source every lookup reads; before the pin
lookups of a request the router asks `prefetch` to copy that request's keys it does not hold from Redis
into it (one MGET), and every `put` is also written to Redis in the background (`SET … PX ttl`,
pipelined). Keys are Plano's shape, `plano:affinity:{tenant}:{key}`, the tenant being the
`tenant_header` value (`-` without one).
Sessions (proxy.sessions: anchor, warmth, context size, the routing budget's baseline and switch spend,
session cost): every binding a replica stores or settles is written through as `plano:session:{tenant}:
{key}`; before a request binds its session, the replica reads that key back and adopts it when it is
newer than its own copy (more requests, or the same count used later), so a budget spent on one replica
holds on the other. Without a routing budget nothing on the request path depends on another replica's
latest copy (the model is the router's or the requested one), so a session already in memory is not read
again. Concurrent requests share one MGET per loop iteration.
Cooldowns: each `ProviderCooling` this replica decides is written as `plano:cooldown:{provider}`
(expiring with it); a background loop reads them every half second and adopts the others' cooldowns.

Redis down or slow never fails a request: a command that errors or takes longer than `TIMEOUT_S` marks
Redis down, logs one warning and the replica runs on memory alone (pins and cooldowns per replica);
the background loop pings, and when Redis answers again it logs that and sharing resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import asdict
from typing import Any

import orjson

from .events import ProviderCooling
from .redaction import without_credentials
from .routing.pinning import DecisionCache, Pinned
from .routing.router import TaskRouter
from .sessions import Binding, SessionStore, Visit
from .state import ProxyState

log = logging.getLogger(__name__)
TIMEOUT_S = 0.25  # longest a request waits on Redis before going on without it
POLL_S = 0.5  # cooldown sync and health check period
SHARED_REASON = "shared: "  # prefix of cooldowns adopted from another replica (not written back)
_tenant: ContextVar[str] = ContextVar("session_tenant", default="-")


def settings_of(routing: Mapping[str, Any]) -> tuple[str, str | None] | None:
    """(url, tenant_header) when `routing.session_cache` asks for Redis, else None (memory)."""
    sc = routing.get("session_cache")
    if not isinstance(sc, Mapping) or str(sc.get("type", "memory")).lower() != "redis" or not sc.get("url"):
        return None
    th = sc.get("tenant_header")
    return str(sc["url"]), str(th).lower() if th else None


class SharedDecisionCache(DecisionCache):
    """The router's decision cache, read through from and written through to Redis."""

    def __init__(self, base: DecisionCache, shared: SharedState) -> None:
        super().__init__(base.ttl_s, base.max_entries)
        self._data.update(base._data)
        self.shared = shared
        self._written: dict[str, float] = {}  # key → when this replica last wrote it to Redis

    async def prefetch(self, keys: tuple[str | None, ...], headers: Any) -> None:
        await self.shared.prefetch(self, keys, headers)

    def put(self, key: str | None, value: Pinned, now: float | None = None) -> None:
        old = self._data.get(key) if key is not None else None
        super().put(key, value, now)
        if key is None:
            return
        # A turn replayed request after request stores the same pin each time: Redis is told again only
        # when it changed, or a quarter of its TTL on (so the key outlives use on any replica).
        t = time.monotonic()
        last = self._written.get(key)
        if old is not None and old[1] == value and last is not None and t - last < self.ttl_s / 4:
            return
        if len(self._written) > self.max_entries:
            self._written.clear()
        self._written[key] = t
        self.shared.write_pin(key, value, self.ttl_s)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def adopt(self, key: str, value: Pinned) -> None:
        super().put(key, value)


class SharedSessionStore(SessionStore):
    """The session store, written through to Redis and read back before a request binds its session."""

    def __init__(self, base: SessionStore, shared: SharedState) -> None:
        super().__init__(base.ttl_s, base.max_entries, base.clock)
        self._data.update(base._data)
        self._keys.update(base._keys)
        self.shared = shared

    async def prefetch(self, key: str, headers: Any, fresh: bool = True) -> None:
        """`fresh`: read Redis even when this replica holds the session (a routing budget's totals must be
        the latest); otherwise only a session this replica has not seen is read, as pins are."""
        if not fresh and key in self._data:
            _tenant.set(self.shared._tenant_of(headers))
            return
        await self.shared.prefetch_session(self, key, headers)

    def put(self, key: str, binding: Binding) -> None:
        super().put(key, binding)
        self.shared.write_session(self, key, binding)

    def settle(self, session_id: str, prompt_tokens: int, cost_usd: float | None) -> None:
        super().settle(session_id, prompt_tokens, cost_usd)
        key = self._keys.get(session_id)
        b = self._data.get(key) if key is not None else None
        if b is not None:
            self.shared.write_session(self, key, b)  # type: ignore[arg-type]

    def settle_later(self, record: Any) -> None:
        super().settle_later(record)
        self.apply_settled()  # now: the write-through is this request's, under its tenant

    def touch(self, key: str, b: Binding) -> None:
        self.put(key, b)  # written through like any change

    def adopt(self, key: str, binding: Binding) -> None:
        SessionStore.put(self, key, binding)

    # A binding's times are this process's monotonic clock; the payload carries this process's offset to
    # the wall clock, and a reader converts them to its own. orjson encodes the dataclasses natively
    # (dataclasses.asdict cost ~30 µs per binding).
    def encode(self, b: Binding) -> bytes:
        return orjson.dumps({"shift": time.time() - self.clock(), "b": b})

    def decode(self, raw: bytes) -> Binding:
        payload = orjson.loads(raw)
        d, delta = payload["b"], float(payload["shift"]) - (time.time() - self.clock())
        d["last_used"] = float(d["last_used"]) + delta
        d["history"] = [Visit(str(v["model"]), float(v["last_used"]) + delta, int(v["cached_tokens"]))
                        for v in d.get("history") or ()]  # fmt: skip
        return Binding(**d)


class SharedState:
    def __init__(self, state: ProxyState, url: str, tenant_header: str | None) -> None:
        self.state = state
        self.url = url
        self.shown_url = without_credentials(url)  # what warnings say: a password in the URL stays out
        self.tenant_header = tenant_header
        # Imported here, not at the top: the redis package (with the OpenTelemetry SDK it pulls in) is
        # most of a second of start-up, paid only by configs that name a Redis session cache.
        import redis.asyncio as aioredis

        self.redis = aioredis.from_url(url, socket_timeout=1.0, socket_connect_timeout=TIMEOUT_S)
        self.up = False  # until the first answer
        self.warned = False
        self._tasks: set[asyncio.Task[Any]] = set()
        # Writes of this loop iteration by key (the last one wins); a value is bytes, or a callable that
        # encodes it at flush time (a session bound and settled by many requests is encoded once).
        self._writes: dict[str, tuple[bytes | Callable[[], bytes], int]] = {}
        self._reads: list[tuple[str, asyncio.Future[Any]]] = []  # session keys wanted this loop iteration
        self._loop_task: asyncio.Task[None] | None = None
        self._unsubscribe = state.bus.subscribe(self._on_cooling, (ProviderCooling,))

    # ------------------------------------------------------------------ health
    def _down(self, exc: BaseException | str) -> None:
        if self.up or not self.warned:
            log.warning(
                "session cache: Redis at %s unavailable (%s); pins and cooldowns are per replica until it is back",
                self.shown_url, exc if isinstance(exc, str) else type(exc).__name__, extra={"down": "redis"},
            )  # fmt: skip
            self.warned = True
        self.up = False

    def _back(self) -> None:
        if not self.up:
            if self.warned:
                log.warning("session cache: Redis at %s is back; sharing pins and cooldowns again", self.shown_url,
                            extra={"back": "redis"})
            self.up = True

    async def _call(self, coro: Any) -> Any:
        async with asyncio.timeout(TIMEOUT_S):
            return await coro

    # ------------------------------------------------------------------ pins
    def _key(self, key: str, tenant: str | None = None) -> str:
        return f"plano:affinity:{tenant or _tenant.get()}:{key}"

    async def prefetch(self, cache: SharedDecisionCache, keys: tuple[str | None, ...], headers: Any) -> None:
        tenant = self._tenant_of(headers)
        _tenant.set(tenant)  # this request's task: its puts use the same tenant
        # Only what this replica has not seen: a pin already in memory is the same decision (pins are
        # written once per turn), so a session that keeps landing here never waits on Redis.
        wanted = [k for k in keys if k is not None and k not in cache]
        if not wanted or not self.up:
            return
        try:
            values = await self._call(self.redis.mget([self._key(k, tenant) for k in wanted]))
        except Exception as exc:  # down, slow, or a broken answer: memory alone
            self._down(exc)
            return
        for k, raw in zip(wanted, values, strict=False):
            if raw is None or k in cache:
                continue
            try:
                cache.adopt(k, Pinned(**orjson.loads(raw)))
            except (orjson.JSONDecodeError, TypeError):
                continue

    def write_pin(self, key: str, value: Pinned, ttl_s: float) -> None:
        """Queued, and sent with every other pin written in this loop iteration as one pipeline: a
        decision stores up to three keys, and concurrent requests share the round trip."""
        if not self.up:
            return
        self._queue(self._key(key), orjson.dumps(asdict(value)), max(1, int(ttl_s * 1000)))

    def _queue(self, name: str, data: bytes | Callable[[], bytes], px: int) -> None:
        if not self._writes:
            asyncio.get_running_loop().call_soon(self._flush)
        self._writes[name] = (data, px)

    def _flush(self) -> None:
        writes, self._writes = self._writes, {}
        if not writes:
            return
        pipe = self.redis.pipeline(transaction=False)
        for name, (data, px) in writes.items():
            pipe.set(name, data if isinstance(data, bytes) else data(), px=px)
        self._spawn(pipe.execute())

    def _spawn(self, coro: Any) -> None:
        if len(self._tasks) > 1000:  # Redis slower than traffic: drop the write, memory still has it
            coro.close()
            return

        async def run() -> None:
            try:
                await self._call(coro)
            except Exception as exc:
                self._down(exc)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ sessions
    def _tenant_of(self, headers: Any) -> str:
        return (headers.get(self.tenant_header) if self.tenant_header and headers is not None else None) or "-"

    async def prefetch_session(self, store: SharedSessionStore, key: str, headers: Any) -> None:
        tenant = self._tenant_of(headers)
        _tenant.set(tenant)  # this request's task: its writes (bind, settle) use the same tenant
        if not self.up:
            return
        try:
            raw = await self._call(self._read(f"plano:session:{tenant}:{key}"))
        except Exception as exc:  # down, slow, or a broken answer: memory alone
            self._down(exc)
            return
        if raw is None:
            return
        try:
            remote = store.decode(raw)
        except (orjson.JSONDecodeError, TypeError, KeyError, ValueError):
            return
        local = store._data.get(key)
        if local is None or (remote.requests, remote.last_used) > (local.requests, local.last_used + 1e-6):
            store.adopt(key, remote)

    def _read(self, name: str) -> asyncio.Future[Any]:
        """One GET, sent with every other session read of this loop iteration as one MGET (redis-py
        costs ~100 µs of Python per command; at saturation dozens of requests share one)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._reads.append((name, fut))
        if len(self._reads) == 1:
            loop.call_soon(self._flush_reads)
        return fut

    def _flush_reads(self) -> None:
        reads, self._reads = self._reads, []
        if not reads:
            return

        async def run() -> None:
            try:
                async with asyncio.timeout(TIMEOUT_S):
                    values = await self.redis.mget([n for n, _ in reads])
            except Exception as exc:
                for _, f in reads:
                    if not f.done():
                        f.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
                return
            for (_, f), v in zip(reads, values, strict=False):
                if not f.done():
                    f.set_result(v)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def write_session(self, store: SharedSessionStore, key: str, b: Binding) -> None:
        if not self.up:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # a synchronous caller (a unit test, the dashboard's preview): memory only
            return
        self._queue(
            f"plano:session:{_tenant.get()}:{key}", lambda: store.encode(b), max(1, int(store.ttl_s * 1000))
        )

    # ------------------------------------------------------------------ cooldowns
    def _on_cooling(self, e: ProviderCooling) -> None:
        if e.reason.startswith(SHARED_REASON) or not self.up:
            return
        ms = int((e.until - time.time()) * 1000)
        if ms > 0:
            payload = orjson.dumps({"until": e.until, "reason": e.reason})
            with contextlib.suppress(RuntimeError):  # no running loop (a synchronous caller): skip sharing
                self._spawn(self.redis.set(f"plano:cooldown:{e.provider}", payload, px=ms))

    async def _sync_cooldowns(self) -> None:
        names = [n async for n in self.redis.scan_iter(match="plano:cooldown:*", count=100)]
        if not names:
            return
        values = await self.redis.mget(names)
        health = self.state.health
        for name, raw in zip(names, values, strict=False):
            if raw is None:
                continue
            provider = (name.decode() if isinstance(name, bytes) else name).removeprefix("plano:cooldown:")
            d = orjson.loads(raw)
            until, reason = float(d["until"]), str(d.get("reason", ""))
            if until > (health.cooling_until(provider) or 0) + 0.001:
                health.adopt(provider, until, SHARED_REASON + reason)

    async def _loop(self) -> None:
        while True:
            try:
                async with asyncio.timeout(TIMEOUT_S * 4):
                    await self.redis.ping()
                    self._back()
                    await self._sync_cooldowns()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._down(exc)
            await asyncio.sleep(POLL_S)

    # ------------------------------------------------------------------ lifetime
    async def start(self) -> None:
        self._loop_task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        self._unsubscribe()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        for t in list(self._tasks):
            t.cancel()
        with contextlib.suppress(Exception):
            await self.redis.aclose()


def install(state: ProxyState) -> SharedState | None:
    """Share pins, sessions and cooldowns through Redis when the config asks; call after the router is
    installed."""
    cfg = settings_of(state.config.routing)
    if cfg is None:
        return None
    shared = SharedState(state, *cfg)
    state.shared_state = shared  # read by metrics (planoai_shared_state_up)
    router = state.router
    if isinstance(router, TaskRouter) and not isinstance(router.cache, SharedDecisionCache):
        router.cache = SharedDecisionCache(router.cache, shared)
    if not isinstance(state.sessions, SharedSessionStore):
        # One store for the proxy path, /routing/v1/* and the dashboard: replaced everywhere it is held.
        store = SharedSessionStore(state.sessions, shared)
        if isinstance(router, TaskRouter) and router.sessions is state.sessions:
            router.sessions = store
        state.sessions = store
    return shared
