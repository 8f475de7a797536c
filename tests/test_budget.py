"""The routing budget (proxy.budget): golden numbers from Plano's own unit tests (router/orchestrator.rs
switch-cost math, handlers/llm/session_router.rs route() budget behaviour), start-up errors, the
per-request override, and the gate through the real proxy and the decision API."""

from __future__ import annotations

import orjson
import pytest

from proxy.budget import Budget, switch_cost_usd
from proxy.config import ConfigError, parse_config
from proxy.cost import BuiltinPrices, PriceBook, Rates
from proxy.metrics import Metrics
from proxy.sessions import Binding, SessionRef, SessionStore, bind

from .test_routing_proxy import FakeRouter, config, post, records, route_of, router_model, settled

__all__ = ["router_model"]


# ------------------------------------------------------------------ orchestrator.rs: switch-cost math


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((100_000, 0, 1.5, 1.0, 0.1), -0.05),  # opus → haiku: cheaper even after re-reading
        ((100_000, 0, 1.5, 2.0, 0.5), 0.05),  # opus → gpt-4.1
        ((150_000, 0, 0.3, 5.0, 0.5), 0.705),  # large context amplifies
        ((100_000, 90_000, 0.3, 2.0, 0.5), 0.035),  # warm return: only the 10k fresh tokens pay full rate
        ((100_000, 0, 0.3, 2.0, 0.5), 0.17),  # the same switch, cold
    ],
)
def test_switch_cost_matches_planos_unit_tests(args: tuple, expected: float) -> None:
    assert switch_cost_usd(*args) == pytest.approx(expected, abs=1e-9)


def test_switch_cost_scales_linearly_and_tiny_contexts_are_negligible() -> None:
    ratio = switch_cost_usd(1_000_000, 0, 0.3, 0.8, 0.1) / switch_cost_usd(10_000, 0, 0.3, 0.8, 0.1)
    assert ratio == pytest.approx(100)
    assert switch_cost_usd(2_000, 0, 0.3, 5.0, 0.5) < 0.01


# ------------------------------------------------------------------ session_router.rs: route() with a budget


class Clock:
    def __init__(self) -> None:
        self.t = 10_000.0

    def __call__(self) -> float:
        return self.t


def prices() -> PriceBook:
    book = PriceBook([], BuiltinPrices())  # the built-in table is never loaded here: only these rates
    book.feed = {
        "anthropic/expensive": Rates(3.0, 15.0, 0.3),
        "openai/pricey": Rates(5.0, 15.0, 0.5),
        "google/cheap": Rates(0.1, 0.4, 0.01),
    }
    return book


LANE = "anthropic/claude-sonnet-4-5"
REF = SessionRef("s1", "s1", 1, "affinity")


def seeded(baseline: float, spend: float, idle_s: float, anchor: str = "anthropic/expensive",
           default: str = "anthropic/expensive") -> tuple[SessionStore, Clock]:
    clock = Clock()
    store = SessionStore(ttl_s=3600, clock=clock)
    store.put("s1", Binding("s1", anchor, default, LANE, None, 1, clock.t - idle_s, cached_tokens=100_000,
                            baseline_usd=baseline, switch_spend_usd=spend))
    return store, clock


def budget(pct: float = 25.0, **kw) -> Budget:
    return Budget(pct, prices(), **kw)


def test_paid_switch_within_cap_accrues_spend() -> None:
    store, _ = seeded(2.0, 0.0, 30)  # baseline $2.00 + $0.03 this turn; 25% → ceiling $0.5075 ≥ $0.47
    d = bind(store, REF, "openai/pricey", None, LANE, 0, budget())
    b = store.get("s1")
    assert (d.model, d.warm, d.switched, d.decision, d.reason) == ("openai/pricey", True, True, "allowed", "within_cap")
    assert b.switches == 1 and b.switch_spend_usd == pytest.approx(0.47) and b.baseline_usd == pytest.approx(2.03)


def test_paid_switch_over_cap_retains_anchor() -> None:
    store, _ = seeded(1.0, 0.0, 30)  # ceiling ~$0.2575 < $0.47
    d = bind(store, REF, "openai/pricey", "r", LANE, 0, budget())
    b = store.get("s1")
    assert (d.model, d.warm, d.switched, d.decision, d.reason) == (
        "anthropic/expensive", True, False, "retained", "over_cap")
    assert b.switches == 0 and b.switch_spend_usd == 0.0 and b.anchor_model == "anthropic/expensive"


def test_cheaper_switch_is_free_and_never_reduces_spend() -> None:
    store, _ = seeded(1.0, 0.10, 30)
    d = bind(store, REF, "google/cheap", None, LANE, 0, budget())
    assert (d.model, d.reason) == ("google/cheap", "free") and store.get("s1").switch_spend_usd == pytest.approx(0.10)
    assert store.get("s1").switches == 1


def test_cold_session_resets_and_follows_router() -> None:
    store, _ = seeded(5.0, 3.0, 600)  # 10 minutes idle: past the 5-minute window
    d = bind(store, REF, "openai/pricey", None, LANE, 0, budget())
    b = store.get("s1")
    assert (d.model, d.warm, d.reason) == ("openai/pricey", False, None)
    assert (b.switches, b.baseline_usd, b.switch_spend_usd) == (0, 0.0, 0.0)


def test_without_replenish_a_rebind_carries_the_totals() -> None:
    store, _ = seeded(5.0, 3.0, 600)
    bind(store, REF, "openai/pricey", None, LANE, 0, budget(replenish_on_rebind=False))
    b = store.get("s1")
    assert (b.baseline_usd, b.switch_spend_usd, b.default_model) == (5.0, 3.0, "anthropic/expensive")


def test_baseline_priced_on_default_not_anchor() -> None:
    store, _ = seeded(0.0, 0.0, 0, anchor="google/cheap", default="anthropic/expensive")
    bind(store, REF, "google/cheap", None, LANE, 0, budget())
    assert store.get("s1").baseline_usd == pytest.approx(0.03)  # 0.1M × 0.3, not × 0.01


def test_missing_rates_fail_open_and_same_anchor_is_free() -> None:
    store, _ = seeded(1.0, 0.0, 30)
    d = bind(store, REF, "openai/unpriced", None, LANE, 0, budget())
    assert (d.model, d.decision, d.reason) == ("openai/unpriced", "allowed", "no_pricing")
    d = bind(store, REF, "openai/unpriced", None, LANE, 0, budget())
    assert (d.decision, d.reason, d.switched) == ("allowed", "same_anchor", False)


def test_warm_credit_on_returning_to_a_model() -> None:
    """A → B → A: the return to A re-reads only what A no longer holds (Plano's route history)."""
    clock = Clock()
    store = SessionStore(ttl_s=3600, clock=clock)
    gate = budget(100.0)
    bind(store, REF, "anthropic/expensive", None, LANE, 100_000, gate)  # cold: binds A, 100k context
    store.get("s1").baseline_usd = 100.0  # a long session: any switch fits the cap
    clock.t += 10
    bind(store, REF, "openai/pricey", None, LANE, 0, gate)  # A → B, within the cap
    b = store.get("s1")
    assert (b.anchor_model, b.reason) == ("openai/pricey", "within_cap")
    assert b.last_switch_cost == pytest.approx(0.47)  # cold candidate: 0.1M × (5.0 − 0.3)
    clock.t += 10
    assert b.warm_tokens_on("anthropic/expensive", clock.t, 100_000) == 100_000
    bind(store, REF, "anthropic/expensive", None, LANE, 0, gate)  # B → A, A still warm on all 100k
    # 100k warm on A × 0.3 − 100k on B × 0.5 (cached) = −$0.02: free, where a cold A would cost +$0.25
    assert (store.get("s1").reason, store.get("s1").last_switch_cost) == ("free", pytest.approx(-0.02))


def test_per_request_override_header() -> None:
    store, _ = seeded(100.0, 0.0, 30)  # a huge baseline: 25% would allow the $0.47 switch
    d = bind(store, REF, "openai/pricey", None, LANE, 0, budget().for_request({"x-plano-max-switch-spend-pct": "0"}))
    assert (d.decision, d.reason) == ("retained", "over_cap")
    for bad in ("abc", "101", "-1"):  # invalid values are ignored: the configured cap applies
        assert budget().for_request({"X-Plano-Max-Switch-Spend-Pct": bad}).max_switch_spend_pct == 25.0


def test_counterfactual_is_recorded_when_asked() -> None:
    store, _ = seeded(1.0, 0.0, 30)
    gate = budget(record_counterfactual=True)
    bind(store, REF, "openai/pricey", None, LANE, 0, gate)
    assert gate.counterfactual == "openai/pricey"


# ------------------------------------------------------------------ start-up


BASE = """\
version: v0.4.0
listeners: [{type: model, name: m, port: 12000}]
model_providers:
  - model: openai/gpt-5.3-codex
    access_key: k
"""


def test_budget_without_a_cap_or_a_price_source_fails_start_up(monkeypatch) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(BASE + "routing:\n  routing_budget:\n    replenish_on_rebind: true\n", "c.yaml", {})
    assert info.value.line == 7 and "max_switch_spend_pct is required" in str(info.value)
    with pytest.raises(ConfigError, match="from 0 to 100"):
        parse_config(BASE + "routing:\n  routing_budget: {max_switch_spend_pct: 150}\n", "c.yaml", {})
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "genai_prices" else real(n, *a))
    with pytest.raises(ConfigError, match="needs prices"):
        parse_config(BASE + "routing:\n  routing_budget: {max_switch_spend_pct: 20}\n", "c.yaml", {})
    ok = BASE + "routing:\n  routing_budget: {max_switch_spend_pct: 20}\nmodel_metrics_sources:\n"
    ok += "  - {type: cost, provider: models.dev, url: prices.json}\n"
    assert parse_config(ok, "c.yaml", {}).routing["routing_budget"]["max_switch_spend_pct"] == 20


# ------------------------------------------------------------------ through the proxy


BUDGET = "  routing_budget:\n    max_switch_spend_pct: 10\n    record_counterfactual: true\n"


async def test_the_gate_keeps_a_warm_session_on_its_anchor(upstream, router_model: FakeRouter, make_proxy) -> None:
    """Turn 1 routes to gpt-5-mini; turn 2 the router wants gpt-5.3-codex, but re-reading the context at
    its uncached rate costs more than 10% of the never-switch baseline: the anchor serves it."""
    proxy = await make_proxy(config(upstream.url, router_model.url, routing=BUDGET))
    metrics = Metrics(proxy.state)
    proxy.state.bus.subscribe(metrics, Metrics.TYPES)
    proxy.state.router.span_details = True  # as proxy.telemetry sets it with tracing on
    book = proxy.state.prices
    book.feed = {"openai/gpt-5-mini": Rates(0.25, 2.0, 0.025), "openai/gpt-5.3-codex": Rates(1.75, 14.0, 0.175)}
    recs = records(proxy)
    router_model.answer(route_of("project understanding"))
    router_model.answer(route_of("code generation"))
    h = {"X-Model-Affinity": "sess-9"}
    history = [{"role": "system", "content": "You are a coding agent. " * 400}]
    for text in ("explain the repo", "now write the parser"):
        history.append({"role": "user", "content": text})
        status, _ = await post(proxy, "/v1/chat/completions", {"model": "arch.codex.default", "messages": history}, h)
        assert status == 200
        history.append({"role": "assistant", "content": "ok"})
    first, second = await settled(recs, 2)
    assert upstream.requests[-1].json["model"] == "gpt-5-mini"  # retained
    assert (second.route.decision, second.route.decision_reason, second.route.pinned) == ("retained", "over_cap", True)
    assert "kept the warm anchor openai/gpt-5-mini" in second.route.reason
    b = proxy.state.sessions.by_session("sess-9")
    assert b.anchor_model == "openai/gpt-5-mini" and b.baseline_usd > 0 and b.switch_spend_usd == 0
    assert b.session_cost_usd > 0 and b.cached_tokens == second.usage.input_tokens  # settled from usage
    # brightstaff's session-router span attributes, for the routing span
    span = dict(second.route.span_attrs)
    assert span["plano.switch.counterfactual_route"] == "openai/gpt-5.3-codex (code generation)"
    assert span["plano.switch.overhead_ceiling_in_usd"] == pytest.approx(0.10 * span["plano.session.baseline_in_usd"])
    assert span["plano.switch.cost_in_usd"] > span["plano.switch.overhead_ceiling_in_usd"] > 0
    assert span["plano.switch.candidate_warm_tokens"] == 0 and span["plano.session.switches"] == 0
    assert span["plano.session.switch_spend_in_usd"] == 0 and span["plano.session.overhead_pct"] == 0
    assert span["plano.session.total_cost_in_usd"] == pytest.approx(first.cost.total_usd)  # turn 1, settled
    assert span["plano.cache.idle_ms"] >= 0
    # brightstaff's session families: one warm decision (retained, over_cap), two bindings refreshed
    text = metrics.render().decode()
    assert 'brightstaff_session_switch_decisions_total{decision="retained",reason="over_cap"} 1.0' in text, text
    assert 'brightstaff_session_binding_events_total{event="refresh"} 2.0' in text
    # The decision endpoint, same session, same veto: the anchor fronts the ranked list.
    router_model.answer(route_of("code generation"))
    history.append({"role": "user", "content": "and the tests"})
    status, raw = await post(proxy, "/routing/v1/chat/completions", {"model": "arch.codex.default",
                                                                     "messages": history}, h)
    d = orjson.loads(raw)
    assert d["models"][0] == "openai/gpt-5-mini" and d["pinned"] is True and d["switched"] is False
