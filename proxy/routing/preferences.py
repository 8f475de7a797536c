"""Routing preferences: the config's (already migrated by proxy.config) and a request's own.

A request may carry `routing_preferences` (Plano's per-request override, docs/routing-api.md): the
v0.4 shape `[{name, description, models, selection_policy?}]`, or the older per-model shape
`[{model, routing_preferences: [{name, description}]}]`. It replaces the config's preferences for that
request only; `[]` turns routing off for it. Models may be provider names, `provider/model` strings,
bare ids or aliases.
"""

from __future__ import annotations

from typing import Any

from ..config import RoutingPreference
from ..cost import PriceBook, priced_model
from ..resolve import ModelNotFound, Resolver
from ..stats import Stats

POLICIES = frozenset({"none", "cheapest", "fastest"})


class PreferenceError(ValueError):
    """An invalid per-request `routing_preferences` (the client gets a 400 naming the problem)."""


def _policy(raw: Any, where: str) -> str:
    prefer = raw.get("prefer", "none") if isinstance(raw, dict) else (raw or "none")
    if prefer not in POLICIES:
        raise PreferenceError(f"{where}.selection_policy.prefer must be one of {', '.join(sorted(POLICIES))}")
    return str(prefer)


def _check_model(model: Any, resolver: Resolver, where: str) -> str:
    if not isinstance(model, str) or not model:
        raise PreferenceError(f"{where} must be a model name")
    try:
        resolver.resolve(model)
    except ModelNotFound:
        raise PreferenceError(f"{where}: '{model}' is not a configured model or alias") from None
    return model


def parse_inline(raw: Any, resolver: Resolver) -> tuple[RoutingPreference, ...]:
    """Validate a request's `routing_preferences`; raises `PreferenceError`."""
    if not isinstance(raw, list):
        raise PreferenceError("routing_preferences must be a list of {name, description, models}")
    merged: dict[str, RoutingPreference] = {}
    for i, item in enumerate(raw):
        where = f"routing_preferences[{i}]"
        if not isinstance(item, dict):
            raise PreferenceError(f"{where} must be an object")
        if "model" in item and isinstance(item.get("routing_preferences"), list):  # older per-model shape
            model = _check_model(item["model"], resolver, f"{where}.model")
            for j, r in enumerate(item["routing_preferences"]):
                name, desc = _name_desc(r, f"{where}.routing_preferences[{j}]")
                old = merged.get(name)
                if old is None:
                    merged[name] = RoutingPreference(name, desc, (model,))
                elif model not in old.models:
                    merged[name] = RoutingPreference(name, old.description, (*old.models, model), old.selection_policy)
            continue
        name, desc = _name_desc(item, where)
        models = item.get("models")
        if isinstance(models, str):
            models = [models]
        if not isinstance(models, list) or not models:
            raise PreferenceError(f"{where}.models must list at least one model")
        checked = tuple(_check_model(m, resolver, f"{where}.models[{k}]") for k, m in enumerate(models))
        if name in merged:
            raise PreferenceError(f"{where}: duplicate route name '{name}'")
        merged[name] = RoutingPreference(name, desc, checked, _policy(item.get("selection_policy"), where))
    return tuple(merged.values())


def _name_desc(item: Any, where: str) -> tuple[str, str]:
    if not isinstance(item, dict):
        raise PreferenceError(f"{where} must be an object")
    name, desc = item.get("name"), item.get("description")
    if not isinstance(name, str) or not name.strip():
        raise PreferenceError(f"{where}.name is required")
    if not isinstance(desc, str) or not desc.strip():
        raise PreferenceError(f"{where}.description is required")
    return name, desc


def ranked_models(
    pref: RoutingPreference, stats: Stats | None, resolver: Resolver, prices: PriceBook | None = None
) -> list[str]:
    """The route's models, best first (Plano: only the first is used; the rest are fallbacks).

    `cheapest` ranks by the price book's input + output rate (Plano's blended cost; proxy.cost), `fastest`
    by the `type: latency` source when one is configured and has data, else by this proxy's own observed
    p50 latency per provider. A model without data goes last; declared order is kept among equals, and
    `none` keeps it entirely.
    """
    models = list(pref.models)
    if len(models) < 2 or pref.selection_policy not in ("cheapest", "fastest"):
        return models

    def canonical(model: str) -> str | None:
        try:
            return priced_model(resolver.resolve(model))
        except ModelNotFound:
            return None

    if pref.selection_policy == "cheapest":
        if prices is None:
            return models

        def blended(model: str) -> float:
            name = canonical(model)
            r = prices.rates(name) if name else None
            return r.blended if r is not None else float("inf")

        return sorted(models, key=blended)
    if prices is not None and prices.latency:
        measured = prices.latency

        def reported(model: str) -> float:
            name = canonical(model) or model
            v = measured.get(name, measured.get(name.split("/", 1)[-1]))
            return v if v is not None else float("inf")

        return sorted(models, key=reported)
    if stats is None:
        return models
    providers = stats.snapshot().providers

    def latency(model: str) -> float:
        try:
            name = resolver.resolve(model).provider.name
        except ModelNotFound:
            return float("inf")
        snap = providers.get(name)
        return snap.latency_p50 if snap is not None and snap.latency_p50 is not None else float("inf")

    return sorted(models, key=latency)
