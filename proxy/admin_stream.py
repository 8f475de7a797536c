"""The front-end boundary over HTTP, for dashboards in other processes (`planoai tui` attached to a
running proxy): `GET /admin/events` streams it, the other admin routes carry its commands.

The stream is NDJSON, one object per line: `hello` (the config view, alias targets, model choices,
a statistics frame), then every `tick_s` an `events` frame with the events the dashboard shows since
the last tick (one line for all of them: one encoder call per tick, not per request), a `stats` frame
when the statistics moved, a `skipped` count when the viewer fell behind, and `ping` when there was
nothing to say; `bye` when the proxy stops.

Bounded whatever the viewer does: the bus callback only appends the event (bodies stripped: they
are fetched one request at a time from `GET /admin/requests/{id}`) to that viewer's list, which holds
at most `capacity` events; past that it counts them as skipped and the viewer skips ahead. Encoding
and writing happen in the viewer's own task on the tick, never in the request path; a write that
has not drained within `stall_s` (a stalled viewer) ends that viewer's stream. Quitting a viewer
only ends its stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from . import event_codec as codec
from .counted_routes import RouteAdder
from .details import DetailBudget
from .events import NOTICES, TERMINAL, Event, RequestRecord, without_bodies
from .local_link import LocalLink
from .state import ProxyState

SHOWN = (*TERMINAL, *NOTICES)
KEEP_DETAILED = 50  # requests whose headers and bodies a viewer can still open (the dashboard keeps 50)


def _line(obj: Any) -> bytes:
    return orjson.dumps(obj, default=str) + b"\n"


def _events_lines(events: list[Event]) -> list[bytes]:
    shown = [ev for e in events if (ev := codec.event_to_json(e)) is not None]
    return [_line({"t": "events", "events": shown})] if shown else []


class Viewer:
    """One attached dashboard's pending events: appended by the bus callback, taken by its task."""

    __slots__ = ("capacity", "pending", "skipped")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.pending: list[Event] = []
        self.skipped = 0  # events it never got because it fell behind

    def __call__(self, event: Event) -> None:  # in the request path: O(1), never blocks
        if len(self.pending) >= self.capacity:
            self.skipped += 1
            return
        if isinstance(event, TERMINAL) and event.record.detailed:
            event = type(event)(without_bodies(event.record))
        self.pending.append(event)

    def take(self) -> list[Event]:
        batch, self.pending = self.pending, []
        return batch


class AdminStream:
    def __init__(self, state: ProxyState, *, tick_s: float = 0.25, capacity: int = 5000, stall_s: float = 10.0,
                 ping_s: float = 5.0) -> None:
        self.state = state
        self.link = LocalLink(state)
        self.tick_s = tick_s
        self.capacity = capacity
        self.stall_s = stall_s
        self.ping_s = ping_s
        self.active: set[Viewer] = set()
        self._skipped_done = 0  # by viewers that have left
        self._detailed: OrderedDict[str, RequestRecord] = OrderedDict()
        self._unsub_detailed: Callable[[], None] | None = None
        self._details_before: DetailBudget | None = None
        self._stats: tuple[tuple[Any, ...], bytes] | None = None  # (what it says, the line): shared by viewers

    @property
    def viewers(self) -> int:
        return len(self.active)

    @property
    def skipped(self) -> int:
        """Events viewers never got because they fell behind (for /admin/stats)."""
        return self._skipped_done + sum(v.skipped for v in self.active)

    def add_routes(self, router: RouteAdder, guard: Callable[[web.Request], web.Response | None]) -> None:
        """The routes, each behind `guard` (the server's loopback / admin-token check)."""

        def guarded(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Any:
            async def checked(request: web.Request) -> web.StreamResponse:
                denied = guard(request)
                return denied if denied is not None else await handler(request)

            return checked

        router.add_get("/admin/events", guarded(self.events))
        router.add_get("/admin/requests/{request_id}", guarded(self.request_details))
        router.add_post("/admin/aliases/save", guarded(self.save_aliases))
        # issue #17: the sessions screen of an attached dashboard (polled while it is open)
        router.add_get("/admin/sessions", guarded(self.sessions))
        router.add_get("/admin/sessions/preview", guarded(self.sessions_preview))
        router.add_get("/admin/sessions/{session_id}", guarded(self.session_turns))

    # ------------------------------------------------------------------ details kept while someone watches
    def _keep_detailed(self, event: Event) -> None:
        if isinstance(event, TERMINAL) and event.record.detailed:
            d = self._detailed
            d[event.record.request_id] = event.record
            if len(d) > KEEP_DETAILED:
                d.popitem(last=False)

    def _attach(self, viewer: Viewer, detail_rate: float | None, burst: float) -> None:
        self.active.add(viewer)
        if len(self.active) == 1:
            self._unsub_detailed = self.state.bus.subscribe(self._keep_detailed, TERMINAL)
            self._details_before = self.state.details
            if self.state.details is None and detail_rate is not None:  # headless keeps none: a viewer wants some
                self.state.details = DetailBudget(rate=detail_rate, burst=burst)

    def _detach(self, viewer: Viewer) -> None:
        self.active.discard(viewer)
        self._skipped_done += viewer.skipped
        if not self.active:
            if self._unsub_detailed is not None:
                self._unsub_detailed()
            self._detailed.clear()
            self.state.details = self._details_before

    # ------------------------------------------------------------------ frames
    def _stats_frame(self) -> dict[str, Any]:
        st = self.state
        return {"t": "stats", "version": st.stats.version, "snapshot": codec.stats_to_json(st.stats.snapshot()),
                "in_flight": st.in_flight, "reload_error": st.reload_error, "dropped": st.bus.dropped,
                "degraded": [codec.event_to_json(n) for n in st.degraded.values()]}

    def _stats_line(self, says: tuple[Any, ...]) -> bytes:
        """The stats frame for the state `says` describes, encoded once for every viewer."""
        if self._stats is None or self._stats[0] != says:
            self._stats = (says, _line(self._stats_frame()))
        return self._stats[1]

    def _config_frame(self) -> dict[str, Any]:
        """The config view and what goes with it; sent again after every reload."""
        link = self.link
        choices = link.model_choices()
        names = {*choices, *(a.target for a in link.aliases())}
        return {
            "t": "config", "config": codec.config_to_json(link.config),
            "aliases": {a.name: a.target for a in link.aliases()}, "choices": choices,
            "providers_of": {m: p.name for m in names if (p := link.find_provider(m)) is not None},
            "can_reload": link.can_reload, "can_save": link.can_save,
        }

    def _hello(self) -> dict[str, Any]:
        return {**self._config_frame(), "t": "hello", "pid": os.getpid(), "started_at": self.state.started_at,
                "stats": self._stats_frame()}

    # ------------------------------------------------------------------ routes
    async def events(self, request: web.Request) -> web.StreamResponse:
        rate = request.query.get("detail_rate")
        burst = float(request.query.get("detail_burst", KEEP_DETAILED))
        resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        viewer = Viewer(self.capacity)
        # Through the link, as an in-process dashboard subscribes: it also hands the viewer the warnings
        # raised before it came (proxy.notices), sent after the hello on the first tick.
        unsubscribe = self.link.subscribe(viewer, SHOWN)
        self._attach(viewer, float(rate) if rate else None, burst)
        try:
            await self._write(resp, [_line(self._hello())])
            await self._pump(resp, viewer)
        except (ConnectionError, TimeoutError, asyncio.CancelledError):
            pass  # the viewer went away or stalled: only its stream ends
        finally:
            unsubscribe()
            self._detach(viewer)
        return resp

    async def _write(self, resp: web.StreamResponse, lines: list[bytes]) -> None:
        await asyncio.wait_for(resp.write(b"".join(lines)), self.stall_s)

    async def _pump(self, resp: web.StreamResponse, viewer: Viewer) -> None:
        st = self.state
        shown = (st.stats.version, st.in_flight, st.reload_error, st.degraded_version)  # the last stats frame
        config = st.config  # … and the last config frame (a reload swaps the object)
        reported_skips = 0
        quiet_since = time.monotonic()
        while not st.draining:
            await asyncio.sleep(self.tick_s)
            lines = _events_lines(viewer.take())
            if viewer.skipped != reported_skips:
                reported_skips = viewer.skipped
                lines.append(_line({"t": "skipped", "n": reported_skips}))
            if st.config is not config:  # after the ConfigReloaded line it follows
                config = st.config
                lines.append(_line(self._config_frame()))
            now_shows = (st.stats.version, st.in_flight, st.reload_error, st.degraded_version)
            if now_shows != shown:
                shown = now_shows
                lines.append(self._stats_line((*now_shows, st.bus.dropped)))
            now = time.monotonic()
            if not lines and now - quiet_since < self.ping_s:
                continue
            quiet_since = now
            await self._write(resp, lines or [_line({"t": "ping"})])
        with contextlib.suppress(ConnectionError, TimeoutError):
            await self._write(resp, [*_events_lines(viewer.take()), _line({"t": "bye"})])

    async def request_details(self, request: web.Request) -> web.Response:
        record = self._detailed.get(request.match_info["request_id"])
        if record is None:
            return web.json_response({"error": {"message": "details not kept for that request"}}, status=404)
        return web.Response(body=_line(codec.record_to_json(record, bodies=True)), content_type="application/json")

    async def sessions(self, request: web.Request) -> web.Response:
        version, rows = self.link.sessions()
        return web.Response(body=_line({"version": version, "rows": rows}), content_type="application/json")

    async def session_turns(self, request: web.Request) -> web.Response:
        turns = await self.link.session_turns(request.match_info["session_id"])
        return web.Response(body=_line({"turns": turns}), content_type="application/json")

    async def sessions_preview(self, request: web.Request) -> web.Response:
        """`?alias=A&target=T[&target=U…]`: what retargeting A to each target would do to its live
        sessions (an attached alias picker asks for all its choices at once). `preview`: the first
        target's text; `previews`: every target that has something to say."""
        targets = request.query.getall("target", [])
        previews = await self.link.switch_previews(request.query.get("alias", ""), list(targets))
        first = previews.get(targets[0], "") if targets else ""
        return web.Response(body=_line({"preview": first, "previews": previews, "any": bool(previews)}),
                            content_type="application/json")

    async def save_aliases(self, request: web.Request) -> web.Response:
        from .frontend import CommandError

        try:
            changed = await self.link.save_aliases()
        except CommandError as exc:
            return web.json_response({"error": {"message": str(exc)}}, status=409)
        return web.json_response({"changed": changed})

