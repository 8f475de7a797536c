"""Routing settings read from the config's `routing:` and `overrides:` sections.

    routing_preferences: [...]      # v0.4 top-level, or v0.3 inline per provider (migrated by proxy.config)
    overrides:
      llm_routing_model: plano/hf.co/katanemo/Arch-Router-1.5B.gguf:Q4_K_M  # router model (Plano's key;
                                    #   legacy `overrides.router_model` / `routing.model` accepted). Served by
                                    #   the provider whose model matches; "Plano-Orchestrator" or an
                                    #   unserved `plano/…` model means Plano's hosted endpoint.
      orchestrator_model_context_length: 8192   # router prompt budget, tokens ≈ UTF-8 bytes ÷ 4 (Plano's)
    routing:
      backend: auto            # ours: auto | llm | local | off. auto = llm when a router model (or
                               #   routing.llm_provider) is configured, else the offline local backend
      router_timeout_ms: 3000  # ours: a slower router fails open to the requested model ("500ms"/"2s" ok)
      route_on_user_only: …    # Plano's key. Unset: turn pinning on for Responses and Messages clients,
                               #   per-request routing for Chat clients; false: Plano's per-request
                               #   behaviour everywhere; true: pinning everywhere
      session_ttl_seconds: 600 # Plano's key: decision cache TTL (sliding)
      session_max_entries: 10000  # Plano's key: decision cache size (LRU)
      local_min_score: 0.3     # ours: offline backend confidence below which it answers "no route"
      llm_provider: NAME       # Plano's legacy key: send router calls to this provider
    prompt_caching:            # Plano's section (proxy.sessions): enabled turns on session affinity
      enabled: false           #   (implicit session keys) unless session_affinity: false;
      session_affinity: true   #   session_ttl_seconds overrides routing.session_ttl_seconds for pins

Bad values never stop the proxy: they fall back to the default and are listed in `warnings`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config import Config
from .prompt import DEFAULT_CONTEXT_TOKENS

BACKENDS = ("auto", "llm", "local", "off")
DEFAULT_TIMEOUT_MS = 3000.0
DEFAULT_TTL_S = 600.0
DEFAULT_MAX_ENTRIES = 10_000
DEFAULT_LOCAL_MIN_SCORE = 0.3
PLANO_ROUTER_MODEL = "Plano-Orchestrator"


@dataclass(frozen=True)
class RoutingSettings:
    backend: str = "local"  # resolved: llm | local | off
    router_model: str | None = None  # as configured (may carry a provider/ prefix)
    router_provider: str | None = None  # legacy routing.llm_provider: send router calls to this provider
    timeout_s: float = DEFAULT_TIMEOUT_MS / 1000
    route_on_user_only: bool | None = None  # None = on for Responses and Messages clients, off for Chat
    session_ttl_s: float = DEFAULT_TTL_S
    session_max_entries: int = DEFAULT_MAX_ENTRIES
    context_tokens: int = DEFAULT_CONTEXT_TOKENS
    local_min_score: float = DEFAULT_LOCAL_MIN_SCORE
    caching: bool = False  # prompt_caching.enabled
    session_affinity: bool = False  # implicit session keys from prompt caching (on when caching is)
    inject_cache_control: bool = False
    min_prefix_tokens: int = 1024
    warnings: tuple[str, ...] = field(default=(), compare=False)


def _duration_ms(raw: Any) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return float(raw)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*", str(raw))
    if not m:
        return None
    return float(m.group(1)) * (1000 if m.group(2) == "s" else 1)


def _number(section: Mapping[str, Any], key: str, default: float, warnings: list[str], *, lo: float = 0) -> float:
    raw = section.get(key)
    if raw is None:
        return default
    if isinstance(raw, int | float) and not isinstance(raw, bool) and raw > lo:
        return float(raw)
    warnings.append(f"routing: {key}={raw!r} is not a number > {lo:g}; using {default:g}")
    return default


def _flag(section: Mapping[str, Any], key: str, default: bool, warnings: list[str], name: str) -> bool:
    raw = section.get(key)
    if raw is None:
        return default
    if isinstance(raw, bool):
        return raw
    warnings.append(f"{name}.{key}={raw!r} is not true/false; using {str(default).lower()}")
    return default


def load(config: Config) -> RoutingSettings:
    r: Mapping[str, Any] = config.routing or {}
    o: Mapping[str, Any] = config.overrides or {}
    warnings: list[str] = []
    model = o.get("llm_routing_model") or o.get("router_model") or r.get("model")
    if model is not None and not isinstance(model, str):
        warnings.append(f"overrides.llm_routing_model={model!r} is not a string; ignored")
        model = None
    provider = r.get("llm_provider") if isinstance(r.get("llm_provider"), str) else None
    backend = str(r.get("backend", "auto")).lower()
    if backend not in BACKENDS:
        warnings.append(f"routing.backend={backend!r} is not one of {', '.join(BACKENDS)}; using auto")
        backend = "auto"
    if backend == "auto":
        backend = "llm" if model or provider else "local"
    timeout_ms = DEFAULT_TIMEOUT_MS
    if r.get("router_timeout_ms") is not None:
        parsed = _duration_ms(r["router_timeout_ms"])
        if parsed is None or parsed <= 0:
            warnings.append(f"routing.router_timeout_ms={r['router_timeout_ms']!r} is not a duration; using 3000")
        else:
            timeout_ms = parsed
    on_user = r.get("route_on_user_only")
    if on_user is not None and not isinstance(on_user, bool):
        warnings.append(f"routing.route_on_user_only={on_user!r} is not true/false; using the default")
        on_user = None
    ctx = o.get("orchestrator_model_context_length", DEFAULT_CONTEXT_TOKENS)
    if not isinstance(ctx, int) or isinstance(ctx, bool) or ctx <= 0:
        warnings.append(f"overrides.orchestrator_model_context_length={ctx!r} is not a positive integer; using 8192")
        ctx = DEFAULT_CONTEXT_TOKENS
    pc = pc_ if isinstance(pc_ := config.raw.get("prompt_caching"), dict) else {}
    caching = _flag(pc, "enabled", False, warnings, "prompt_caching")
    ttl = _number(r, "session_ttl_seconds", DEFAULT_TTL_S, warnings)
    if caching and pc.get("session_ttl_seconds") is not None:
        ttl = _number(pc, "session_ttl_seconds", ttl, warnings)
    min_prefix = pc.get("min_prefix_tokens", 1024)
    if not isinstance(min_prefix, int) or isinstance(min_prefix, bool) or min_prefix < 1:
        warnings.append(f"prompt_caching.min_prefix_tokens={min_prefix!r} is not a positive integer; using 1024")
        min_prefix = 1024
    return RoutingSettings(
        backend=backend,
        router_model=model,
        router_provider=provider,
        timeout_s=timeout_ms / 1000,
        route_on_user_only=on_user,
        session_ttl_s=ttl,
        session_max_entries=int(_number(r, "session_max_entries", DEFAULT_MAX_ENTRIES, warnings, lo=0)),
        context_tokens=ctx,
        local_min_score=_number(r, "local_min_score", DEFAULT_LOCAL_MIN_SCORE, warnings, lo=-1),
        caching=caching,
        session_affinity=caching and _flag(pc, "session_affinity", True, warnings, "prompt_caching"),
        inject_cache_control=caching and _flag(pc, "inject_cache_control", True, warnings, "prompt_caching"),
        min_prefix_tokens=min_prefix,
        warnings=tuple(warnings),
    )
