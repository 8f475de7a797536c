"""The one boundary between a front end (the dashboard) and the proxy: events in, a statistics
snapshot, a read-only view of the config, and commands out (retarget an alias, reload, save aliases).

`FrontEndLink` is the interface; `proxy.local_link.LocalLink` serves it in process, over the running
proxy's `ProxyState`. Everything a front end sees of the config is a `ConfigView` of plain frozen
values — no secrets, nothing that reaches back into the core — so the same view can be rebuilt from
JSON by a front end that is not in the proxy's process. The dashboard imports from `proxy` only this
module and the record types (`proxy.events`); tests/test_import_hygiene.py holds it to that.

Commands are coroutines: in process they finish at once, another implementation may have to ask
over the network. They raise `CommandError` with a message for the user.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .events import Event, RequestRecord, ServiceNotice
from .stats import GroupSnapshot, StatsSnapshot

__all__ = [
    "CAPTURE_BYTES",
    "AliasView",
    "CommandError",
    "ConfigView",
    "FrontEndLink",
    "GroupSnapshot",
    "ProviderView",
    "StatsSnapshot",
    "StepView",
    "TurnView",
]


# Response bytes the proxy keeps per request by default (ProxyOptions.capture_bytes): a detail view
# says a capture of this length may be cut short.
CAPTURE_BYTES = 64 * 1024


class CommandError(Exception):
    """A command the proxy refused or could not carry out; the message is for the user."""


@dataclass(frozen=True, slots=True)
class ProviderView:
    """What a front end shows of one provider (never its key, only whether it has one)."""

    name: str
    model: str  # as written: "openai/gpt-4o" or "openai/*"
    model_id: str
    key_status: str  # ok | missing | none | passthrough
    key_env: str | None
    display_url: str

    @property
    def wildcard(self) -> bool:
        return self.model_id == "*"


@dataclass(frozen=True, slots=True)
class AliasView:
    name: str
    target: str


@dataclass(frozen=True, slots=True)
class ConfigView:
    path: str | None  # None: no config file (demo)
    port: int  # the config's model listener
    providers: tuple[ProviderView, ...]  # in the config's order
    aliases: tuple[AliasView, ...]  # as the file has them (runtime targets: FrontEndLink.aliases())
    default_model: str | None  # the `default: true` provider's model id

    def provider_named(self, name: str) -> ProviderView | None:
        for p in self.providers:
            if p.name == name:
                return p
        return None

    @property
    def missing_keys(self) -> list[tuple[ProviderView, str]]:
        return [(p, p.key_env) for p in self.providers if p.key_status == "missing" and p.key_env]


AMBER = 0.8  # context ÷ window from which the sessions screen's meter warns


@dataclass(frozen=True, slots=True)
class StepView:  # filled by proxy.turns
    """One request of a turn's tool loop."""

    request_id: str
    started_at: float  # epoch seconds
    model: str  # provider/upstream model that answered (or the model asked for, on an early failure)
    status: int
    tools: tuple[str, ...]  # tool calls the answer carried
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    latency_ms: float
    switch: str | None = None  # why the model differs from the previous step's (this turn)
    note: str | None = None  # a skipped candidate, a failure


@dataclass(frozen=True, slots=True)
class TurnView:
    index: int  # 1-based within the session (as far as kept)
    turn_id: str | None
    started_at: float
    steps: tuple[StepView, ...]
    models: tuple[str, ...]
    switch: str | None  # the first mid-turn model change's reason, e.g. "fallback"

    @property
    def tools(self) -> int:
        return sum(len(s.tools) for s in self.steps)



# A live session as the sessions screen shows it (filled by proxy.session_view).
@dataclass(frozen=True, slots=True)
class SessionRow:
    session_id: str
    anchor: str
    warm: bool
    idle_s: float
    window_s: float
    context_tokens: int
    spend_usd: float
    cap_usd: float | None  # max_switch_spend_pct % of the baseline; None without a budget
    baseline_usd: float
    decision: str | None
    reason: str | None
    switches: int
    requests: int
    cost_usd: float
    alias: str | None
    # Turns and the context window (proxy.turns, issue #17); defaults for a routing-only binding.
    client: str = ""
    models: tuple[str, ...] = ()
    turns: int = 0
    context_window: int | None = None  # the target model's window (None: unknown)
    cache_ratio: float | None = None  # cached ÷ input tokens over the session
    note: str | None = None  # e.g. the last candidate skipped because the conversation did not fit

    @property
    def fill(self) -> float | None:
        """Context ÷ window (the meter), None when the window is unknown."""
        return self.context_tokens / self.context_window if self.context_window else None

    @property
    def amber(self) -> bool:
        return (self.fill or 0.0) >= AMBER


class FrontEndLink(Protocol):
    """What the dashboard may know of the proxy and ask of it."""

    @property
    def config(self) -> ConfigView: ...

    @property
    def started_at(self) -> float: ...  # epoch seconds, for the uptime

    @property
    def in_flight(self) -> int: ...

    @property
    def dropped(self) -> int: ...  # events the proxy could not deliver to this front end

    @property
    def reload_error(self) -> str | None: ...  # the last failed reload's error, until one succeeds

    @property
    def degraded(self) -> tuple[ServiceNotice, ...]: ...  # services out of order now (proxy.notices)

    @property
    def stats_version(self) -> int: ...  # moves whenever snapshot() would change

    @property
    def can_reload(self) -> bool: ...  # started from a config file

    @property
    def can_save(self) -> bool: ...  # has a config file to write aliases to

    @property
    def connection(self) -> str | None: ...  # None in process; else how the link stands ("attached to")

    @property
    def connected(self) -> bool: ...  # events are flowing (always, in process)

    def subscribe(self, callback: Callable[[Event], None], types: tuple[type, ...]) -> Callable[[], None]:
        """Deliver events of `types` to `callback` (cheap, non-blocking); returns the unsubscriber."""
        ...

    def snapshot(self) -> StatsSnapshot: ...

    def aliases(self) -> list[AliasView]: ...  # current targets, runtime changes included

    def model_choices(self) -> list[str]: ...  # what an alias can be pointed at

    def find_provider(self, model: str) -> ProviderView | None: ...  # who would serve `model`

    def want_details(self, rate: float, burst: float) -> None:
        """Keep headers and bodies for `rate` requests a second (after `burst`), plus every failure."""
        ...

    async def details(self, record: RequestRecord) -> RequestRecord:
        """`record` with its headers and bodies, where the proxy still has them (for the detail view)."""
        ...

    async def retarget(self, alias: str, target: str) -> str | None: ...  # the old target

    async def reload(self) -> tuple[bool, str]: ...  # (ok, message)

    async def save_aliases(self) -> list[str]: ...  # the aliases written to the file

    def sessions(self) -> tuple[int, list[SessionRow]]: ...  # (store version, live sessions)

    async def session_turns(self, session_id: str) -> list[TurnView]: ...  # its turns, oldest first

    def switch_preview(self, alias: str) -> Callable[[str], str] | None:
        """For the alias picker: a target → what moving `alias`'s warm sessions there would cost."""
        ...

    async def switch_previews(self, alias: str, targets: list[str]) -> dict[str, str]:
        """`switch_preview` for several targets at once, for a front end that must ask over the network
        (the attached dashboard); only targets with something to say are in the answer."""
        ...

