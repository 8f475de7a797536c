"""The routing budget, `routing.routing_budget`, exactly as Plano computes it (docs/plano-sessions.md §3;
brightstaff handlers/llm/session_router.rs, router/orchestrator.rs).

The router still decides every turn. Only when a *warm* session (proxy.sessions) is offered a model
other than its anchor does the gate weigh the switch:

- switch cost = (fresh × candidate input rate + warm × candidate cached rate − context × anchor cached
  rate) / 1M, where warm = the context the candidate still holds cached from an earlier visit this
  session (Plano's warm credit) and fresh = context − warm. Output tokens are excluded.
- baseline: each warm turn adds context × the session's never-switch (default) model's cached rate.
- allowed when switch spend + cost ≤ max_switch_spend_pct % × baseline (`within_cap`, spend grows);
  a cost ≤ 0 is `free` and never reduces the spend; missing rates fail open (`no_pricing`); otherwise
  `over_cap`: the anchor is retained. The same anchor is `same_anchor`; a cold session is never gated.
- `x-plano-max-switch-spend-pct: <0-100>` overrides the cap for one request.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .cost import DEFAULT_CACHE_READ_DISCOUNT, MILLION, PriceBook
from .sessions import Binding, header

OVERRIDE_HEADER = "x-plano-max-switch-spend-pct"


class BudgetError(ValueError):
    """A routing_budget that cannot work (start-up refuses it): `key` names the offending key."""

    def __init__(self, key: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.key, self.message, self.hint = key, message, hint


def switch_cost_usd(
    context_tokens: int,
    candidate_warm_tokens: int,
    anchor_read_rate: float,
    candidate_uncached_rate: float,
    candidate_cached_rate: float,
) -> float:
    """Plano's switch_cost_in_usd: what re-reading the context on the candidate costs beyond staying."""
    warm = min(candidate_warm_tokens, context_tokens)
    fresh = context_tokens - warm
    candidate = (fresh * candidate_uncached_rate + warm * candidate_cached_rate) / MILLION
    return candidate - context_tokens * anchor_read_rate / MILLION


@dataclass
class Budget:
    """Implements proxy.sessions.Gate against a price book."""

    max_switch_spend_pct: float
    prices: PriceBook | None = None
    replenish_on_rebind: bool = True
    cache_read_discount: float = DEFAULT_CACHE_READ_DISCOUNT
    record_counterfactual: bool = False
    counterfactual: str | None = None  # the route a retained switch would have taken (last one)

    def for_request(self, headers: Any) -> Budget:
        """A copy with the per-request cap override applied (invalid values are ignored, as in Plano)."""
        raw = header(headers, OVERRIDE_HEADER)
        if raw is None:
            return dataclasses.replace(self, counterfactual=None)
        try:
            pct = float(raw)
        except ValueError:
            return dataclasses.replace(self, counterfactual=None)
        if not 0 <= pct <= 100:
            return dataclasses.replace(self, counterfactual=None)
        return dataclasses.replace(self, max_switch_spend_pct=pct, counterfactual=None)

    def _cached_rate(self, model: str) -> float | None:
        r = self.prices.rates(model) if self.prices is not None else None
        return r.cached_rate(self.cache_read_discount) if r is not None else None

    def accrue(self, b: Binding, context_tokens: int) -> None:
        rate = self._cached_rate(b.default_model or b.anchor_model)
        if rate is not None:  # missing pricing: no growth this turn
            b.baseline_usd += context_tokens / MILLION * rate

    def evaluate(self, b: Binding, candidate: str, context_tokens: int, now: float) -> tuple[str, str, bool]:
        anchor = self.prices.rates(b.anchor_model) if self.prices is not None else None
        cand = self.prices.rates(candidate) if self.prices is not None else None
        b.last_switch_cost = None
        if anchor is None or cand is None:
            return "allowed", "no_pricing", True
        warm = b.last_switch_warm_tokens = b.warm_tokens_on(candidate, now, context_tokens)
        cost = switch_cost_usd(
            context_tokens,
            warm,
            anchor.cached_rate(self.cache_read_discount),
            cand.input,
            cand.cached_rate(self.cache_read_discount),
        )
        b.last_switch_cost = cost
        if cost <= 0:
            return "allowed", "free", True
        if b.switch_spend_usd + cost <= self.max_switch_spend_pct / 100 * b.baseline_usd:
            b.switch_spend_usd += cost
            return "allowed", "within_cap", True
        if self.record_counterfactual:
            self.counterfactual = candidate
        return "retained", "over_cap", False

    def preview(self, b: Binding, candidate: str, now: float) -> tuple[float | None, str]:
        """What switching this session to `candidate` would cost now, and the verdict, without changing it
        (the dashboard's alias-retarget preview)."""
        if not b.warm(now):
            return 0.0, "cold: no penalty"
        if candidate == b.anchor_model:
            return 0.0, "same_anchor"
        probe = dataclasses.replace(b, history=list(b.history))
        decision, reason, _ = self.evaluate(probe, candidate, b.cached_tokens, now)
        return probe.last_switch_cost, f"{decision} ({reason})"


def from_config(
    raw: Mapping[str, Any] | None, metrics_sources: Any, prices: PriceBook | None = None
) -> Budget | None:
    """`routing.routing_budget` → a Budget (None when absent); raises BudgetError when it cannot work."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise BudgetError(
            "routing.routing_budget", "must be a mapping", "e.g. `routing_budget: {max_switch_spend_pct: 20}`"
        )
    pct = raw.get("max_switch_spend_pct")
    if pct is None:
        raise BudgetError(
            "routing.routing_budget",
            "max_switch_spend_pct is required: the budget has no built-in cap",
            "e.g. `max_switch_spend_pct: 20` (switching may cost at most 20% above never switching)",
        )
    if isinstance(pct, bool) or not isinstance(pct, int | float) or not 0 <= pct <= 100:
        raise BudgetError("routing.routing_budget.max_switch_spend_pct", f"{pct!r} is not a number from 0 to 100")
    discount = raw.get("cache_read_discount", DEFAULT_CACHE_READ_DISCOUNT)
    if isinstance(discount, bool) or not isinstance(discount, int | float) or not 0 <= discount <= 1:
        raise BudgetError("routing.routing_budget.cache_read_discount", f"{discount!r} is not a number from 0 to 1")
    has_feed = any(isinstance(s, dict) and s.get("type") == "cost" for s in metrics_sources or ())
    if not has_feed and importlib.util.find_spec("genai_prices") is None:
        raise BudgetError(
            "routing.routing_budget",
            "the routing budget needs prices: no model_metrics_sources cost source is configured and the "
            "built-in table (the genai-prices package) is not installed",
            "add `model_metrics_sources: [{type: cost, provider: models.dev}]` or install genai-prices",
        )
    return Budget(
        float(pct),
        prices,
        replenish_on_rebind=bool(raw.get("replenish_on_rebind", True)),
        cache_read_discount=float(discount),
        record_counterfactual=bool(raw.get("record_counterfactual", False)),
    )
