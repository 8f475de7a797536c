"""The dashboard App: lays out the panes, turns core events into rows, and runs the user's actions.

Data flow (docs/dashboard-design.md §2.3): the core publishes events → `EventBridge` buffers the ones shown → the app's
tick (4×/s) takes a batch when the requests pane is due (bridge.py) → `ingest()` appends rows and
notices. Statistics are *pulled* on the same tick: the snapshot is read only when `stats_version`
moved. Everything the dashboard draws changes in the tick, so there is at most one frame per tick.
Nothing here is on the proxy's hot path, and the App never owns the server: it gets a `FrontEndLink`
(proxy.frontend: events in, a statistics snapshot, commands out), a URL to display and a clock (frozen
in tests). It knows nothing else of the proxy, so the same App can watch a proxy in another process.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

import orjson
from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Input, OptionList

from proxy.events import (
    TERMINAL,
    AliasChanged,
    ConfigReloaded,
    Event,
    ProviderCooling,
    RequestRecord,
    ServiceNotice,
)
from proxy.frontend import CommandError, ConfigView, FrontEndLink, StatsSnapshot

from . import forensics, strip_cycles
from . import format as fmt
from .bridge import EventBridge, log_pause
from .query import QueryError, parse
from .screens.alias_picker import AliasPicker
from .screens.detail import DetailScreen
from .screens.sessions import SessionsScreen
from .store import DETAIL_RATE, KEEP_BODIES, RequestRow, RequestStore
from .themes import DARK, LIGHT, THEMES
from .widgets.aliases import AliasList
from .widgets.empty_state import EmptyState
from .widgets.providers import ProvidersTable
from .widgets.request_log import RequestLog
from .widgets.status import ErrorBanner, StatusBar, Totals


def _tune_gc_for_ui() -> None:
    """After the first frame: freeze what start-up built (CSS, widgets, caches) out of every future
    collection — full collections scanning it had stalled frames by 50–100 ms. The young generation
    keeps the CLI's threshold of 10,000: 20,000 and 50,000 made fewer but longer pauses (up to 26 ms and
    95 ms at 200 req/s) for the same throughput (bench/RESULTS.md)."""
    gc.freeze()


MAIN_ONLY = frozenset({"retarget", "save_aliases", "reload", "last_error", "clear", "toggle_theme", "filter",
                       "export", "sessions", "open_session"})
FILTER_HINT = "filter: model:codex status:4xx slow>2s fallback session:019a route:code marked -text  (esc clears)"


class DashboardApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "planoai"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False),
        Binding("t", "retarget", "Retarget alias"),
        Binding("ctrl+s", "save_aliases", "Save aliases"),
        Binding("r", "reload", "Reload config"),
        Binding("e", "last_error", "Last error"),
        Binding("c", "clear", "Clear log"),
        Binding("slash", "filter", "Filter"),
        Binding("x", "export", "Export", show=False),
        Binding("d", "toggle_theme", "Light/dark"),
        Binding("s", "sessions", "Sessions"),  # the footer's sessions/requests switch (screens/sessions.py)
        Binding("S", "open_session", "Request's session", show=False),  # its turns (screens/turns.py)
    ]

    def __init__(
        self,
        link: FrontEndLink,
        *,
        url: str,
        config_path: str,
        capacity: int = 1000,
        demo: bool = False,
        clock: Callable[[], float] = time.time,
        tick_s: float = 0.25,
        cursor_blink: bool = True,
        freeze_gc: bool = False,
    ) -> None:
        super().__init__()
        strip_cycles.install()  # repainted lines are freed at once instead of by the cyclic GC
        self.link = link
        self.url = url
        self.config_path = config_path
        self.demo = demo
        self.clock = clock
        self.tick_s = tick_s
        self.cursor_blink = cursor_blink
        self.freeze_gc = freeze_gc
        self.store = RequestStore(capacity)
        self.bridge = EventBridge(link)
        # Headers and bodies only for what the detail view can still open (proxy.details, store.py).
        link.want_details(rate=DETAIL_RATE, burst=KEEP_BODIES)
        self._log_due = 0.0  # monotonic time when the requests pane takes its next batch
        self._status_due = 0.0  # … and when the header shows the uptime and totals again
        self.cooling: dict[str, float] = {}
        self.last_error: RequestRecord | None = None
        self.last_error_at = 0.0
        self._snap: StatsSnapshot | None = None
        self._stats_version = -1
        self._stats_at = 0.0
        self._in_flight = 0
        self._providers_dirty = True
        self._config_shown: ConfigView | None = link.config
        self._file_aliases = {a.name: a.target for a in link.config.aliases}  # what the file says
        for theme in THEMES:
            self.register_theme(theme)
        self.theme = DARK.name

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        # Panes are kept as attributes: the tick touches them 4×/s; a DOM query each time would be waste.
        self.status_bar = StatusBar(url=self.url, config_path=self.config_path, demo=self.demo, id="status")
        self.banner = ErrorBanner(id="banner")
        self.providers = ProvidersTable(id="providers")
        self.aliases_list = AliasList(id="aliases")
        self.empty_state = EmptyState(url=self.url, id="empty")
        self.request_log = RequestLog(self.store, id="requests")
        self.filter_line = Input(placeholder=FILTER_HINT, id="filter")
        yield self.status_bar
        yield self.banner
        with Horizontal(id="top"):
            yield self.providers
            yield self.aliases_list
        yield self.empty_state
        yield self.filter_line
        yield self.request_log
        yield Footer()

    def on_mount(self) -> None:
        self.providers.border_title = "Providers"
        self.aliases_list.border_title = "Aliases"
        self.request_log.border_title = "Requests"
        self._show_config()
        self._sync_empty()
        self.tick()
        self.set_interval(self.tick_s, self.tick)
        self.request_log.focus()
        if self.freeze_gc:
            self.call_after_refresh(_tune_gc_for_ui)

    def on_unmount(self) -> None:
        self.bridge.close()

    # ------------------------------------------------------------------ events in
    def ingest(self, events: Iterable[Event], stripped: frozenset[str] = frozenset()) -> None:
        """Apply a batch of core events to the store and panes (one repaint per batch). `stripped`: the
        requests whose bodies the bridge already dropped (shown as "not kept" in the detail view)."""
        now = self.clock()
        added = 0
        config_changed = aliases_changed = False
        store = self.store
        # Under a flood a batch can hold more requests than the store keeps: the oldest of them would be
        # trimmed as soon as they were added, so they only count (and may still be the last error).
        if not isinstance(events, list):
            events = list(events)
        over = sum(isinstance(ev, TERMINAL) for ev in events) - store.capacity
        for ev in events:
            if isinstance(ev, TERMINAL):
                if over > 0:
                    over -= 1
                    store.requests_seen += 1
                else:
                    store.add_record(ev.record, bodies_dropped=bool(stripped) and ev.record.request_id in stripped)
                    added += 1
                if not ev.record.ok:
                    self.last_error = ev.record
                    self.last_error_at = ev.record.started_at + ev.record.latency_ms / 1000
            elif isinstance(ev, AliasChanged):
                store.add_notice(now, "alias", f"⇄ alias {ev.alias}: {ev.old_target or '(new)'} → {ev.new_target}"
                                               f"   ({ev.source}; next request uses it)")
                added += 1
                aliases_changed = True
            elif isinstance(ev, ConfigReloaded):
                if ev.ok:
                    what = ", ".join(ev.changes) or "no changes"
                    store.add_notice(now, "reload", f"↻ config reloaded: {what}")
                    self._config_shown = None  # the next _show_config takes the new view
                else:
                    first = (ev.error or "").splitlines()[0] if ev.error else "unknown error"
                    store.add_notice(now, "reload-failed", f"⚠ config reload failed, previous config kept: {first}")
                added += 1
                config_changed = True
            elif isinstance(ev, ProviderCooling):
                self.cooling[ev.provider] = ev.until
                store.add_notice(now, "cooling", f"❄ provider {ev.provider} cooling for "
                                                 f"{fmt.duration(ev.until - now)}: {ev.reason}")
                added += 1
                self._providers_dirty = True
            elif isinstance(ev, ServiceNotice):  # Redis, the OTLP collector, a cost feed… (proxy.notices)
                if ev.level == "info":  # a service is back
                    store.add_notice(ev.at, "service-ok", f"✓ {ev.message}")
                else:
                    store.add_notice(ev.at, "service", f"⚠ {ev.message}")
                added += 1
        with self.batch_update():
            if added:
                self.request_log.rows_added(added)
                self._sync_empty()
            if config_changed:
                self._show_config()
            elif aliases_changed:
                self._show_aliases()
            # Statistics that moved go into the same frame as the rows, and so do the totals, so the header
            # always counts the rows shown. New rows skip the per-tick throttle: a batch arrives at most
            # once per `log_pause`, and a throttled read here left the header up to a second behind.
            self._refresh_stats(now, force=added > 0)
            self._show_status(now)
            self._show_banner(now)

    # ------------------------------------------------------------------ periodic refresh
    def tick(self) -> None:
        """The `tick_s` timer: new rows (when the requests pane is due), statistics (when they moved),
        the header (with new rows, else once a second), the banner (when it changes) — all in one frame."""
        now = self.clock()
        if self.link.config is not self._config_shown:  # reloaded, or (attached) a proxy (re)connected
            self._show_config()
        bridge = self.bridge
        mono = time.monotonic()
        if bridge.pending and (bridge.urgent or mono >= self._log_due):
            batch = bridge.take()
            self._log_due = mono + log_pause(len(batch.events)) - self.tick_s / 2
            self.ingest(batch.events, batch.stripped)
        self._refresh_stats(now)
        if mono >= self._status_due:
            self._show_status(now)
        self._show_banner(now)

    def _show_status(self, now: float) -> None:
        """The header: with new rows, else once a second (its uptime). Every repaint of a line is a frame
        through Textual's compositor, and under load the totals would change on every tick."""
        self._status_due = time.monotonic() + 1.0
        link = self.link
        self.status_bar.show(uptime_s=now - link.started_at, totals=Totals.of(self._snap),
                             in_flight=self._in_flight, dropped=self.dropped,
                             connection=link.connection, connected=link.connected)

    def _refresh_stats(self, now: float, force: bool = False) -> None:
        """Read the statistics snapshot at most once per tick (or now, with `force`), and only when
        `stats_version` moved."""
        due = time.monotonic()  # not self.clock: that one is frozen in tests
        if not force and due - self._stats_at < self.tick_s * 0.8:
            return
        link = self.link
        version = link.stats_version
        cooling = any(until > now for until in self.cooling.values())
        if version == self._stats_version and not self._providers_dirty and not cooling:
            return
        self._stats_at = due
        self._stats_version = version
        self._providers_dirty = cooling  # keep counting a cool-down down while it lasts
        self._snap = link.snapshot()
        self._in_flight = link.in_flight
        self.providers.show(link.config, self._snap, self.cooling, now)
        self._show_aliases()  # their cost so far (redrawn only when a shown figure changed)

    @property
    def dropped(self) -> int:
        return self.link.dropped + self.bridge.dropped

    def _show_banner(self, now: float) -> None:
        self.banner.show(last=self.last_error, last_at=self.last_error_at, now=now, degraded=self.link.degraded,
                         reload_error=self.link.reload_error)

    def _show_aliases(self) -> None:
        costs = {k: g.cost_usd for k, g in self._snap.aliases.items()} if self._snap is not None else None
        self.aliases_list.show(self.link.aliases(), self._file_aliases, costs)

    def _show_config(self) -> None:
        if self.link.config is not self._config_shown:  # a new view: the file's aliases may have changed
            self._config_shown = self.link.config
            self._file_aliases = {a.name: a.target for a in self._config_shown.aliases}
            if self.link.connection is not None and self._config_shown.path:  # attached: the proxy's own file
                self.status_bar.config_path = self._config_shown.path
        self._show_aliases()
        self._providers_dirty = True
        self.empty_state.show(self.link.config, [a.name for a in self.link.aliases()])

    def _sync_empty(self) -> None:
        empty, log = self.empty_state, self.request_log
        empty.display = self.store.requests_seen == 0
        log.display = len(self.store) > 0 or not empty.display
        empty.set_class(log.display, "-with-log")

    # ------------------------------------------------------------------ actions
    async def on_request_log_selected(self, message: RequestLog.Selected) -> None:
        row = message.row
        record = row.record if row.bodies_dropped else await self.link.details(row.record)
        self.push_screen(DetailScreen(record, bodies_dropped=row.bodies_dropped))

    def on_option_list_option_selected(self, message: OptionList.OptionSelected) -> None:
        if message.option_list.id == "aliases" and message.option.id:
            self.retarget(message.option.id)

    def action_retarget(self) -> None:
        alias = self.aliases_list.alias
        if alias is None:
            self.notify("No aliases configured: add model_aliases to config.yaml.", severity="warning")
            return
        self.retarget(alias)

    def retarget(self, alias: str) -> None:
        link = self.link
        current = next((a.target for a in link.aliases() if a.name == alias), None)
        picker = AliasPicker(alias, current or "", link.model_choices(), link.find_provider,
                             cursor_blink=self.cursor_blink, preview=link.switch_preview(alias))

        async def chosen(target: str | None) -> None:
            if target is None or target == current:
                return
            try:
                await link.retarget(alias, target)
            except CommandError as exc:
                self.notify(str(exc), title="Retarget failed", severity="error")
                return
            self.notify(f"{alias} → {target}. Not saved yet: ctrl+s writes it to the config file.",
                        title="Alias retargeted")

        self.push_screen(picker, chosen)
        if picker.preview is None:  # not known in process: ask (an attached dashboard asks the proxy)
            choices = link.model_choices()

            async def previews() -> None:
                found = await link.switch_previews(alias, choices)
                if picker.is_attached:
                    picker.set_previews(found)

            self.run_worker(previews(), exclusive=False)

    def action_sessions(self) -> None:
        self.push_screen(SessionsScreen(self.link.sessions, self.link.session_turns))

    def action_open_session(self) -> None:
        """The highlighted request's session, opened on its turns."""
        row = self.request_log.current
        sid = row.record.session_id if isinstance(row, RequestRow) else None
        found = next((r for r in self.link.sessions()[1] if r.session_id == sid), None) if sid else None
        if found is None:
            self.notify("the highlighted request belongs to no live session", severity="warning")
            return
        from .screens.turns import TurnsScreen

        link = self.link
        self.push_screen(TurnsScreen(found, lambda: link.session_turns(found.session_id)))

    async def action_save_aliases(self) -> None:
        link = self.link
        path = link.config.path
        if self.demo or not link.can_save or path is None:
            self.notify("Demo mode has no config file to write.", severity="warning")
            return
        targets = {a.name: a.target for a in link.aliases()}
        try:
            changed = await link.save_aliases()
        except CommandError as exc:
            self.notify(str(exc), title="Could not save aliases", severity="error")
            return
        self._file_aliases = targets
        self._show_aliases()
        if changed:
            self.notify(f"Wrote {', '.join(changed)} to {Path(path).name}.", title="Aliases saved")
        else:
            self.notify(f"{Path(path).name} already has these targets.", title="Aliases saved")

    async def action_reload(self) -> None:
        if not self.link.can_reload:
            self.notify("Started without a config file: nothing to reload.", severity="warning")
            return
        try:
            ok, message = await self.link.reload()
        except CommandError as exc:
            ok, message = False, str(exc)
        self.notify(message, title="Config reloaded" if ok else "Reload failed",
                    severity="information" if ok else "error", timeout=8 if ok else 12)
        self._show_banner(self.clock())

    async def action_last_error(self) -> None:
        if self.last_error is None:
            self.notify("No failed request so far.")
            return
        self.push_screen(DetailScreen(await self.link.details(self.last_error)))

    def action_clear(self) -> None:
        self.store.clear()
        self.last_error = None
        with self.batch_update():
            self.request_log.reset()
            self._sync_empty()
            self._show_banner(self.clock())

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT.name if self.theme == DARK.name else DARK.name

    def watch_theme(self, theme: str) -> None:
        # Cell styles in the providers table are baked into Rich Text: rebuild them in the new colours.
        if self.screen_stack and self.providers.is_mounted:
            self.providers.restyle()
            self._providers_dirty = True

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The dashboard's keys belong to the main screen: a detail or picker screen shows its own footer.
        return not (action in MAIN_ONLY and len(self.screen_stack) > 1)

    def action_follow(self) -> None:
        self.request_log.action_follow()

    def action_export(self, record: RequestRecord | None = None) -> None:
        """`x`: the highlighted request (or the one a detail view shows) as a replayable exchange file in
        the working directory; `planoai replay FILE` routes it again against any config."""
        if record is None:
            row = self.request_log.current
            if not isinstance(row, RequestRow):
                self.notify("Highlight a request to export.", severity="warning")
                return
            record = row.record
        path = Path.cwd() / f"planoai-exchange-{record.request_id}.json"
        try:
            path.write_bytes(orjson.dumps(forensics.exchange(record), option=orjson.OPT_INDENT_2))
        except OSError as exc:
            self.notify(f"{path}: {exc}", title="Export failed", severity="error")
            return
        kept = "" if record.request_body is not None else " (its bodies were not kept: headers and timings only)"
        self.notify(f"{path}{kept}\nplanoai replay {path.name} --config other.yaml: where would it go?",
                    title="Exchange exported", timeout=10)

    # ------------------------------------------------------------------ the filter line
    def action_filter(self) -> None:
        self.filter_line.display = True
        self.filter_line.focus()

    def on_input_changed(self, message: Input.Changed) -> None:
        if message.input is not self.filter_line:
            return
        try:
            query = parse(message.value)
        except QueryError as exc:
            self.filter_line.border_subtitle = str(exc)
            self.filter_line.add_class("-invalid")
            return  # keep showing the last good filter while the user types
        self.filter_line.border_subtitle = ""
        self.filter_line.remove_class("-invalid")
        current = self.request_log.filter_query
        if (query.text if query else "") != (current.text if current else ""):
            self.request_log.set_filter(query if query else None)

    def on_input_submitted(self, message: Input.Submitted) -> None:
        if message.input is self.filter_line:
            self.filter_line.display = bool(self.filter_line.value)
            self.request_log.focus()

    def on_key(self, event: events.Key) -> None:
        if event.key == "escape" and self.filter_line.has_focus:  # esc: drop the filter, back to the log
            event.stop()
            self.filter_line.value = ""
            self.filter_line.display = False
            self.request_log.set_filter(None)
            self.request_log.focus()

    # ------------------------------------------------------------------ command palette
    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Retarget alias…", "Point the highlighted alias at another model (t)",
                            self.action_retarget)
        for a in self.link.aliases():
            yield SystemCommand(f"Retarget {a.name}", f"Now → {a.target}",
                                lambda name=a.name: self.retarget(name))
        yield SystemCommand("Save aliases", "Write the current alias targets to the config file (ctrl+s)",
                            self.action_save_aliases)
        yield SystemCommand("Reload config", "Re-read the config file now (r)", self.action_reload)
        yield SystemCommand("Clear request log", "Forget the rows shown in the requests pane (c)", self.action_clear)
        yield SystemCommand("Toggle light/dark theme", "Switch between plano-dark and plano-light (d)",
                            self.action_toggle_theme)
        yield SystemCommand("Show last error", "Open the most recent failed request (e)", self.action_last_error)
        yield SystemCommand("Follow newest requests", "Jump to the top of the requests pane (home)",
                            self.action_follow)
        yield SystemCommand("Filter requests", "model: alias: provider: status:4xx route: session: slow>2s "
                            "fallback marked, or free text (/)", self.action_filter)
        yield SystemCommand("Export request", "Write the highlighted exchange to a replayable JSON file (x)",
                            self.action_export)
        yield SystemCommand("Sessions", "Live sessions: turns, tool loops, context window, cache (s)",
                            self.action_sessions)
        yield SystemCommand("Session of this request", "The highlighted request's session, turn by turn (S)",
                            self.action_open_session)
        yield SystemCommand("Mark request", "Mark or unmark the highlighted request; filter with `marked` (m)",
                            self.request_log.action_mark)
