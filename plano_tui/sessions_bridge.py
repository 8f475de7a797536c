"""The dashboard's view of proxy sessions (issue 14): rows for the sessions screen and the alias picker's
retarget preview, read from the proxy state without importing the routing package's internals."""

from __future__ import annotations

from collections.abc import Callable

from proxy.resolve import ModelNotFound
from proxy.session_view import SessionRow, retarget_preview, rows
from proxy.state import ProxyState


def _budget(state: ProxyState):  # type: ignore[no-untyped-def]
    return getattr(state.router, "budget", None)


def session_rows(state: ProxyState) -> tuple[int, list[SessionRow]]:
    return state.sessions.version, rows(state.sessions, _budget(state))


def session_preview(state: ProxyState, alias: str) -> Callable[[str], str] | None:
    """For the alias picker: a choice → "N warm sessions: switching costs ≈ $X" (empty when none)."""
    if not any(b.alias == alias for b in state.sessions.live()):
        return None

    def describe(model: str) -> str:
        try:
            from proxy.cost import priced_model

            target = priced_model(state.resolver.resolve(model))
        except ModelNotFound:
            return ""
        return retarget_preview(state.sessions, alias, target, state.prices, _budget(state)).describe()

    return describe
