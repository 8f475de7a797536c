"""Task-aware routing (issue #5): pick the model per coding task from Plano's `routing_preferences`.

`install(state, session_getter)` is called by proxy.server: it puts a `TaskRouter` on `state.router`
(the handler awaits `route()` after alias resolution) and keeps it current across config reloads.
Backends: `llm` (a Plano-Orchestrator / Arch-Router model over Chat Completions) and `local` (offline
lexical matching); turn pinning and the decision cache live in `pinning`, the `/routing/v1/*` decision
endpoints in `api`. Nothing here imports Textual.
"""

from __future__ import annotations

from collections.abc import Callable

import aiohttp

from ..state import ProxyState
from .router import Decision, TaskRouter

__all__ = ["Decision", "TaskRouter", "install"]


def install(state: ProxyState, session_getter: Callable[[], aiohttp.ClientSession]) -> TaskRouter:
    router = state.router
    if isinstance(router, TaskRouter):  # installed before (a second server on the same state)
        router.use_session(session_getter)
        router.apply(state.config)
        return router
    router = TaskRouter(
        state.config, session_getter, stats=state.stats, sessions=state.sessions, prices=state.prices
    )
    state.router = router
    state.on_config.append(router.apply)
    return router
