"""What the dashboard shows about live sessions (plano_tui/dashboard/screens/sessions.py renders it): one
row per binding, and what retargeting an alias would cost the warm sessions on it, before it is confirmed.

Pure functions over the session store, the price book and the budget, so they are tested without a UI.
"""

from __future__ import annotations

from dataclasses import dataclass

from .budget import Budget
from .cost import PriceBook
from .frontend import SessionRow
from .sessions import SessionStore, cache_window_s
from .turns import SessionLog, trace_fields


def rows(store: SessionStore, budget: Budget | None, log: SessionLog | None = None) -> list[SessionRow]:
    """One row per live session: the turn log's (every request with a session key) joined with the
    routing binding of the same id, where one exists; bindings the log never saw (the decision API's)
    follow with what the binding knows."""
    now = store.clock()
    bindings = {b.session_id: b for b in store.live()}
    out = []
    if log is not None:
        lnow = log.clock()
        for t in log.live():
            f = trace_fields(t, lnow, log.windows.window(t.provider, t.upstream_model)
                             if log.windows is not None and t.upstream_model else None)
            b = bindings.pop(t.session_id, None)
            if b is not None:
                cap = budget.max_switch_spend_pct / 100 * b.baseline_usd if budget is not None else None
                f.update(spend_usd=b.switch_spend_usd, cap_usd=cap, baseline_usd=b.baseline_usd,
                         decision=b.decision, reason=b.reason, switches=b.switches)
            else:
                f.update(spend_usd=0.0, cap_usd=None, baseline_usd=0.0, decision=None, reason=None, switches=0)
            out.append(SessionRow(**f))
    for b in bindings.values():
        cap = budget.max_switch_spend_pct / 100 * b.baseline_usd if budget is not None else None
        out.append(
            SessionRow(
                b.session_id, b.anchor_model, b.warm(now), b.idle_s(now), cache_window_s(b.anchor_model),
                b.cached_tokens, b.switch_spend_usd, cap, b.baseline_usd, b.decision, b.reason, b.switches,
                b.requests, b.session_cost_usd, b.alias,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class RetargetPreview:
    sessions: int  # warm sessions on the alias whose anchor would change
    cost_usd: float | None  # what their switches would cost together (None: no prices)
    retained: int  # how many the routing budget would keep on their anchor (over its cap)

    def describe(self) -> str:
        if not self.sessions:
            return ""
        cost = "cost unknown (no prices)" if self.cost_usd is None else f"switching costs ≈ ${self.cost_usd:.4f}"
        kept = f", {self.retained} kept on their anchor by the routing budget" if self.retained else ""
        return f"{self.sessions} warm session{'s' if self.sessions != 1 else ''}: {cost}{kept}"


def retarget_preview(
    store: SessionStore, alias: str, target: str, prices: PriceBook, budget: Budget | None
) -> RetargetPreview:
    """Warm sessions on `alias` and what moving them to `target` (canonical "provider/model") costs:
    the switch cost Plano's gate would compute for each; with no budget, priced with no cap."""
    now = store.clock()
    gate = budget if budget is not None else Budget(100.0, prices)
    n, total, retained, priced = 0, 0.0, 0, True
    for b in store.live():
        if b.alias != alias or not b.warm(now) or b.anchor_model == target:
            continue
        n += 1
        cost, verdict = gate.preview(b, target, now)
        if cost is None:
            priced = False
        else:
            total += cost
        if budget is not None and verdict.startswith("retained"):
            retained += 1
    return RetargetPreview(n, total if priced else None, retained)
