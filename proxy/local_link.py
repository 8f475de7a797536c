"""`LocalLink`: the front-end boundary (proxy.frontend) served in process, over the running proxy's
`ProxyState`. The dashboard in `planoai tui` talks to the proxy only through this."""

from __future__ import annotations

from collections.abc import Callable

from .config import Config, Provider, find_provider
from .details import DetailBudget
from .events import Event, RequestRecord, ServiceNotice
from .frontend import AliasView, CommandError, ConfigView, ProviderView, SessionRow, TurnView
from .state import ProxyState
from .stats import StatsSnapshot


def provider_view(p: Provider) -> ProviderView:
    return ProviderView(p.name, p.model, p.model_id, p.key_status, p.key_env, p.display_url)


def config_view(config: Config) -> ConfigView:
    d = config.default_provider
    return ConfigView(
        str(config.path) if config.path else None,
        config.listener.port,
        tuple(provider_view(p) for p in config.providers),
        tuple(AliasView(a.name, a.target) for a in config.aliases),
        d.model_id if d else None,
    )


class LocalLink:
    def __init__(self, state: ProxyState, *, demo: bool = False) -> None:
        self.state = state
        self.demo = demo  # simulated providers: the config is not a file of the user's
        self._view_of: Config | None = None
        self._view: ConfigView | None = None

    @property
    def config(self) -> ConfigView:
        config = self.state.config  # swapped whole by a reload: rebuild the view only then
        if config is not self._view_of or self._view is None:
            self._view_of, self._view = config, config_view(config)
        return self._view

    @property
    def started_at(self) -> float:
        return self.state.started_at

    @property
    def in_flight(self) -> int:
        return self.state.in_flight

    @property
    def dropped(self) -> int:
        return self.state.bus.dropped

    @property
    def reload_error(self) -> str | None:
        return self.state.reload_error

    @property
    def degraded(self) -> tuple[ServiceNotice, ...]:
        return tuple(self.state.degraded.values())

    @property
    def stats_version(self) -> int:
        return self.state.stats.version

    @property
    def can_reload(self) -> bool:
        return self.state.reloader is not None

    @property
    def can_save(self) -> bool:
        return not self.demo and self.state.config.path is not None

    @property
    def connection(self) -> str | None:
        return None  # in process: nothing to connect

    @property
    def connected(self) -> bool:
        return True

    def subscribe(self, callback: Callable[[Event], None], types: tuple[type, ...]) -> Callable[[], None]:
        """Also hands a new subscriber the warnings raised before it came (a cost feed that failed while
        the dashboard was still starting is still down)."""
        unsubscribe = self.state.bus.subscribe(callback, types)
        if ServiceNotice in types:
            for n in list(self.state.notices):
                callback(n)
        return unsubscribe

    def snapshot(self) -> StatsSnapshot:
        return self.state.stats.snapshot()

    def aliases(self) -> list[AliasView]:
        return [AliasView(a.name, a.target) for a in self.state.aliases.items()]

    def model_choices(self) -> list[str]:
        return self.state.resolver.model_choices()

    def find_provider(self, model: str) -> ProviderView | None:
        p = find_provider(model, self.state.config.providers)
        return provider_view(p) if p is not None else None

    def want_details(self, rate: float, burst: float) -> None:
        self.state.details = DetailBudget(rate=rate, burst=burst)

    async def details(self, record: RequestRecord) -> RequestRecord:
        return record  # in process the record carries whatever was kept

    async def retarget(self, alias: str, target: str) -> str | None:
        try:
            return self.state.set_alias(alias, target, source="dashboard")
        except ValueError as exc:
            raise CommandError(str(exc)) from None

    async def reload(self) -> tuple[bool, str]:
        reloader = self.state.reloader
        if reloader is None:
            raise CommandError("started without a config file: nothing to reload")
        return reloader.reload_now()

    async def save_aliases(self) -> list[str]:
        path = self.state.config.path
        if not self.can_save or path is None:
            raise CommandError("no config file to write (demo mode)")
        from .config_writer import write_aliases  # lazy: ruamel.yaml loads only when someone saves

        try:
            return write_aliases(path, {a.name: a.target for a in self.state.aliases.items()})
        except Exception as exc:  # a read-only or malformed file must not take the front end down
            raise CommandError(f"{path}: {exc}") from None

    # Sessions (issue 14): rows for the sessions screen and the alias picker's switch-cost preview.
    def sessions(self) -> tuple[int, list[SessionRow]]:
        from .session_view import rows

        state = self.state
        version = state.sessions.version + state.turns.version  # either moving means a redraw
        budget = state.router.budget if state.router is not None else None
        return version, rows(state.sessions, budget, state.turns)

    async def session_turns(self, session_id: str) -> list[TurnView]:
        return self.state.turns.turns(session_id)

    async def switch_previews(self, alias: str, targets: list[str]) -> dict[str, str]:
        describe = self.switch_preview(alias)
        if describe is None:
            return {}
        return {t: text for t in targets if (text := describe(t))}

    def switch_preview(self, alias: str) -> Callable[[str], str] | None:
        state = self.state
        warm = any(b.alias == alias for b in state.sessions.live())
        traces = state.turns.on_alias(alias)  # proxy.turns: the sessions whose context a target must hold
        if not warm and not traces:
            return None
        from .cost import priced_model
        from .resolve import ModelNotFound
        from .session_view import retarget_preview

        def describe(model: str) -> str:
            try:
                res = state.resolver.resolve(model)
            except ModelNotFound:
                return ""
            parts = []
            if warm:
                budget = state.router.budget if state.router is not None else None
                cost = retarget_preview(state.sessions, alias, priced_model(res), state.prices, budget)
                parts.append(cost.describe())
            win = state.windows.window(res.provider, res.upstream_model)
            too_big = [t for t in traces if win is not None and t.input_tokens > win]
            if too_big:
                n = len(too_big)
                parts.append(f"⚠ {n} session{' would' if n == 1 else 's would'} not fit its {win:,}-token window "
                             "(kept off it)")
            return "; ".join(p for p in parts if p)

        return describe
