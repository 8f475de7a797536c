"""`RemoteLink`: the front-end boundary (proxy.frontend) for a dashboard attached to a proxy running in
another process (`planoai up`, or another terminal's `planoai tui`), over its admin endpoints.

It reads `GET /admin/events` (proxy/admin_stream.py) in a task of its own: the `hello` frame sets the
config view, alias targets and statistics; event lines go to the subscribers (the dashboard's
bridge); `stats` frames replace the snapshot. When the proxy is not there yet, goes away, or
restarts, it says so (`connection`, `connected`) and keeps trying every `retry_s`; a new `hello`
replaces the config view, which the dashboard redraws. Commands are the admin API's requests.

Closing it only closes its own connection: the proxy, its requests and other viewers go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import orjson

from proxy import event_codec as codec
from proxy.events import Event, RequestRecord, ServiceNotice
from proxy.frontend import AliasView, CommandError, ConfigView, ProviderView, SessionRow, StatsSnapshot, TurnView

EMPTY_STATS = StatsSnapshot(0.0, 0, 0, 0, 0, {}, {}, None)
READ_BUFSIZE = 4 * 1024 * 1024  # one NDJSON line holds one record: far under this


class RemoteLink:
    def __init__(self, url: str, *, token: str | None = None, retry_s: float = 0.5,
                 read_timeout_s: float = 15.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.retry_s = retry_s
        self.read_timeout_s = read_timeout_s  # the proxy pings every 5 s: silence this long means it is gone
        port = int(self.url.rsplit(":", 1)[-1]) if self.url.rsplit(":", 1)[-1].isdigit() else 0
        self._config = ConfigView(None, port, (), (), None)
        self._aliases: dict[str, str] = {}
        self._choices: list[str] = []
        self._providers_of: dict[str, str] = {}
        self._snapshot = EMPTY_STATS
        self._stats_version = 0
        self._in_flight = 0
        self._reload_error: str | None = None
        self._degraded: tuple[ServiceNotice, ...] = ()
        self._proxy_dropped = 0
        self.skipped = 0  # events the proxy skipped for this viewer (it fell behind), this connection
        self._skipped_before = 0  # … and on earlier connections
        self._started_at = time.time()
        self._can_reload = self._can_save = False
        self._callbacks: list[tuple[Callable[[Event], None], tuple[type, ...]]] = []
        self._detail_query: dict[str, str] = {}
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self.connected = False
        self.hellos = 0  # connections made so far (a restart of the proxy makes a new one)
        self.proxy_pid: int | None = None
        self.last_error: str | None = None
        self._sessions: tuple[int, list[SessionRow]] = (0, [])
        self._sessions_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifetime
    async def start(self) -> RemoteLink:
        self._session = aiohttp.ClientSession(read_bufsize=READ_BUFSIZE, trust_env=False)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="remote-link")
        return self

    async def close(self) -> None:
        for task in (self._task, self._sessions_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._session is not None:
            await self._session.close()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def _run(self) -> None:
        assert self._session is not None
        timeout = aiohttp.ClientTimeout(total=None, connect=5, sock_read=self.read_timeout_s)
        while True:
            try:
                async with self._session.get(f"{self.url}/admin/events", params=self._detail_query,
                                             headers=self._headers(), timeout=timeout) as resp:
                    if resp.status != 200:
                        self.last_error = await self._error_text(resp)
                    else:
                        async for line in resp.content:
                            if line.strip():
                                self._on_frame(orjson.loads(line))
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                self.last_error = str(exc) or type(exc).__name__
            if self.connected:
                self._skipped_before += self.skipped
                self.skipped = 0
            self.connected = False
            await asyncio.sleep(self.retry_s)  # the proxy is not there (yet, or any more): try again

    @staticmethod
    async def _error_text(resp: aiohttp.ClientResponse) -> str:
        with contextlib.suppress(Exception):
            data = await resp.json()
            return str((data.get("error") or {}).get("message") or data["message"])
        return f"HTTP {resp.status}"

    # ------------------------------------------------------------------ frames in
    def _on_frame(self, f: dict[str, Any]) -> None:
        kind = f.get("t")
        if kind == "stats":
            self._on_stats(f)
        elif kind == "config":
            self._on_config(f)
        elif kind == "hello":
            self._on_config(f)
            self._started_at = float(f["started_at"])
            self.proxy_pid = f.get("pid")
            self._on_stats(f["stats"])
            self.connected = True
            self.last_error = None
            self.hellos += 1
        elif kind == "skipped":
            self.skipped = int(f["n"])
        elif kind == "bye":
            self.connected = False
        elif kind == "events":  # a tick's events, in order
            for e in f["events"]:
                self._on_event(e)
        else:  # one event per line (proxies before the `events` frame)
            self._on_event(f)

    def _on_event(self, f: dict[str, Any]) -> None:
        event = codec.event_from_json(f)
        if event is None:
            return
        if f.get("t") == "alias":
            self._aliases[f["alias"]] = f["new"]
        for cb, types in self._callbacks:
            if isinstance(event, types):
                cb(event)

    def _on_config(self, f: dict[str, Any]) -> None:
        self._config = codec.config_from_json(f["config"])  # a new object: the dashboard redraws it
        self._aliases = dict(f["aliases"])
        self._choices = list(f["choices"])
        self._providers_of = dict(f["providers_of"])
        self._can_reload, self._can_save = bool(f["can_reload"]), bool(f["can_save"])

    def _on_stats(self, f: dict[str, Any]) -> None:
        self._snapshot = codec.stats_from_json(f["snapshot"])
        self._stats_version += 1
        self._in_flight = int(f["in_flight"])
        self._reload_error = f.get("reload_error")
        # The proxy's own list (a restarted proxy's is its own): never accumulated here.
        notices = (codec.event_from_json(d) for d in f.get("degraded") or ())
        self._degraded = tuple(n for n in notices if isinstance(n, ServiceNotice))
        self._proxy_dropped = int(f.get("dropped", 0))

    # ------------------------------------------------------------------ FrontEndLink
    @property
    def config(self) -> ConfigView:
        return self._config

    @property
    def started_at(self) -> float:
        return self._started_at

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def dropped(self) -> int:
        return self._proxy_dropped + self._skipped_before + self.skipped

    @property
    def reload_error(self) -> str | None:
        return self._reload_error

    @property
    def degraded(self) -> tuple[ServiceNotice, ...]:
        return self._degraded

    @property
    def stats_version(self) -> int:
        return self._stats_version

    @property
    def can_reload(self) -> bool:
        return self._can_reload

    @property
    def can_save(self) -> bool:
        return self._can_save

    @property
    def connection(self) -> str | None:
        return "attached to" if self.connected else "waiting for"

    def subscribe(self, callback: Callable[[Event], None], types: tuple[type, ...]) -> Callable[[], None]:
        entry = (callback, types)
        self._callbacks.append(entry)
        return lambda: self._callbacks.remove(entry) if entry in self._callbacks else None

    def snapshot(self) -> StatsSnapshot:
        return self._snapshot

    def aliases(self) -> list[AliasView]:
        return [AliasView(n, t) for n, t in self._aliases.items()]

    def model_choices(self) -> list[str]:
        return list(self._choices)

    def find_provider(self, model: str) -> ProviderView | None:
        name = self._providers_of.get(model)
        if name is not None:
            return self._config.provider_named(name)
        # A typed name the proxy did not list: only a `provider/*` wildcard of that prefix can serve it
        # (the proxy validates the retarget itself).
        prefix = model.split("/", 1)[0] if "/" in model else None
        return next((p for p in self._config.providers if p.wildcard and p.model.split("/", 1)[0] == prefix), None)

    def want_details(self, rate: float, burst: float) -> None:
        self._detail_query = {"detail_rate": str(rate), "detail_burst": str(burst)}

    async def details(self, record: RequestRecord) -> RequestRecord:
        if record.request_body is not None or record.response_body is not None:
            return record
        with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError, ValueError):
            data = await self._call("GET", f"/admin/requests/{record.request_id}")
            return codec.record_from_json(data)
        return record

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        assert self._session is not None
        async with self._session.request(method, self.url + path, json=body, headers=self._headers(),
                                         timeout=aiohttp.ClientTimeout(total=10)) as resp:
            if resp.status >= 400:
                raise CommandError(await self._error_text(resp))
            return await resp.json()

    async def _command(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            return await self._call(method, path, body)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise CommandError(f"the proxy at {self.url} did not answer: {exc or type(exc).__name__}") from None

    async def retarget(self, alias: str, target: str) -> str | None:
        data = await self._command("PUT", "/admin/aliases", {"alias": alias, "target": target, "source": "dashboard"})
        self._aliases[alias] = target  # the AliasChanged line follows on the stream
        old = data.get("old_target")
        return old if isinstance(old, str) else None

    async def reload(self) -> tuple[bool, str]:
        try:
            data = await self._command("POST", "/admin/reload")
        except CommandError as exc:
            return False, str(exc)
        return bool(data.get("ok")), str(data.get("message", ""))

    async def save_aliases(self) -> list[str]:
        data = await self._command("POST", "/admin/aliases/save")
        return list(data.get("changed", []))

    # Sessions live in the proxy's process: the sessions screen polls `GET /admin/sessions` (once a second,
    # only while it is open), so sessions() answers the last rows and asks for fresh ones in the background.
    def sessions(self) -> tuple[int, list[SessionRow]]:
        if self._session is not None and (self._sessions_task is None or self._sessions_task.done()):
            self._sessions_task = asyncio.get_running_loop().create_task(self._fetch_sessions())
        return self._sessions

    async def _fetch_sessions(self) -> None:
        with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError, ValueError, CommandError, KeyError):
            data = await self._call("GET", "/admin/sessions")
            rows = [codec.session_row_from_json(r) for r in data["rows"]]
            if rows != self._sessions[1]:
                self._sessions = (self._sessions[0] + 1, rows)

    async def session_turns(self, session_id: str) -> list[TurnView]:
        with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError, ValueError, CommandError, KeyError):
            data = await self._call("GET", f"/admin/sessions/{quote(session_id, safe='')}")
            return [codec.turn_from_json(t) for t in data["turns"]]
        return []

    def switch_preview(self, alias: str) -> Callable[[str], str] | None:
        return None  # over the network: the picker asks switch_previews() once it is open

    async def switch_previews(self, alias: str, targets: list[str]) -> dict[str, str]:
        query = urlencode([("alias", alias), *(("target", t) for t in targets)])
        with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError, ValueError, CommandError, KeyError):
            data = await self._call("GET", f"/admin/sessions/preview?{query}")
            return {str(k): str(v) for k, v in data["previews"].items()}
        return {}
