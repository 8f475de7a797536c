"""One config file for Plano and planoai-tui: the sidecar for our extensions, and Plano-compatibility notes.

Plano 0.4.39 validates `config.yaml` against a schema with `additionalProperties: false` almost
everywhere, so our own keys (alias/provider `fallbacks`, `routing.backend`, …) make Plano refuse the
file. They live in a sidecar beside it, `<stem>.tui.yaml` (`config.yaml` → `config.tui.yaml`), written
with the same key paths and merged over the config:

    model_aliases:
      arch.codex.default:
        fallbacks: [claude-sonnet-4-6]
    model_providers:            # matched to config.yaml's entries by `name`, else `model`
      - model: openai/gpt-5.3-codex
        fallbacks: [llama3.1]
      - model: ollama/llama3.1
        quirks: {large_max_tokens_dropped: false}   # proxy.wire.quirks; all are on by default
    routing: {backend: local, router_timeout_ms: 3000, local_min_score: 0.3}
    overrides: {cooldown_failures: 3}

Only extension keys may appear there (a Plano key in the sidecar would make the two tools disagree), and
errors name the sidecar's file and line. The old inline form still loads, with a warning saying Plano
rejects it. Plano keys this proxy does not implement are listed by name in warnings, never dropped
silently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SIDECAR_SUFFIX = ".tui.yaml"
PLANO = "Plano 0.4.39"

# Our keys, by section (same paths inline or in the sidecar).
EXT_ROUTING = frozenset({"backend", "router_timeout_ms", "local_min_score"})
EXT_OVERRIDES = frozenset(
    {
        "cooldown_failures",
        "cooldown_seconds",
        "cooldown_max_seconds",
        "upstream_idle_timeout",
        "heartbeat_interval",
        "max_request_body_mb",
        "router_model",
    }
)
EXT_ALIAS = frozenset({"fallbacks"})
EXT_PROVIDER = frozenset({"fallbacks", "quirks", "upstream_api"})
# Fields of Plano's *rendered* config (its generator adds them); its schema refuses them in a user file.
RENDERED_PROVIDER = frozenset({"internal", "cluster_name", "port", "endpoint", "protocol"})

# Plano's schema: the keys it allows where it forbids others (plano_config_schema.yaml, 0.4.39).
PLANO_ROUTING = frozenset(
    {
        "llm_provider",
        "model",
        "session_ttl_seconds",
        "session_max_entries",
        "session_cache",
        "routing_budget",
        "route_on_user_only",
    }
)
PLANO_ALIAS = frozenset({"target"})
PLANO_PROMPT_CACHING = frozenset(
    {"enabled", "session_affinity", "inject_cache_control", "min_prefix_tokens", "session_ttl_seconds"}
)
PLANO_BUDGET = frozenset(
    {"max_switch_spend_pct", "replenish_on_rebind", "cache_read_discount", "record_counterfactual"}
)
PLANO_SESSION_CACHE = frozenset({"type", "url", "tenant_header"})
PLANO_LISTENER = frozenset(
    {"name", "port", "address", "timeout", "router", "max_retries", "type", "agents", "input_filters", "output_filters"}
)
PLANO_TRACING = frozenset(
    {"random_sampling", "trace_arch_internal", "opentracing_grpc_endpoint", "span_attributes", "exporters"}
)
PLANO_METRICS = {
    "cost": frozenset({"type", "provider", "url", "refresh_interval", "model_aliases"}),
    "latency": frozenset({"type", "provider", "url", "query", "refresh_interval"}),
}

# Plano keys we read but do not act on, with what happens instead. Each one found is named in a warning.
UNIMPLEMENTED: dict[tuple[str, ...], str] = {
    ("overrides", "prompt_target_intent_matching_threshold"): "prompt targets are a Plano feature this proxy ignores",
    ("overrides", "optimize_context_window"): "requests are forwarded as sent",
    ("overrides", "use_agent_orchestrator"): "agent orchestration is a Plano feature this proxy ignores",
    ("overrides", "agent_orchestration_model"): "agent orchestration is a Plano feature this proxy ignores",
    ("overrides", "disable_signals"): "this proxy runs no signal analysis",
    ("overrides", "upstream_tls_ca_path"): "the system trust store (or SSL_CERT_FILE) is used",
    # Implemented since issue #18, so not listed: tracing.random_sampling / opentracing_grpc_endpoint /
    # span_attributes (proxy.tracing), routing.session_cache type redis / url / tenant_header (proxy.shared_state).
    ("tracing", "trace_arch_internal"): "no spans of Plano's internal services are exported",
    ("tracing", "exporters"): "no traces are exported",
    ("listener", "address"): "the proxy binds 127.0.0.1 unless --host/--allow-remote say otherwise",
    ("listener", "router"): "the routing backend comes from overrides.llm_routing_model",
    ("listener", "max_retries"): "failover uses fallbacks from the sidecar instead",
    ("listener", "agents"): "agents are a Plano feature this proxy ignores",
    ("listener", "input_filters"): "filters are a Plano feature this proxy ignores",
    ("listener", "output_filters"): "filters are a Plano feature this proxy ignores",
}


def sidecar_path(config_path: Path) -> Path:
    return config_path.with_name(config_path.stem + SIDECAR_SUFFIX)


@dataclass
class Origin:
    """Where a merged value came from, so an error about it names that file and line."""

    source: str
    line: int | None


@dataclass
class Sidecar:
    source: str
    data: dict[str, Any]
    line: Callable[..., int | None]
    origins: dict[tuple[str | int, ...], Origin] = field(default_factory=dict)


class SidecarError(Exception):
    def __init__(self, source: str, line: int | None, key: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.source, self.line, self.key, self.message, self.hint = source, line, key, message, hint


def _dotted(path: tuple[str | int, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(path))


def check_sidecar(side: Sidecar) -> None:
    """Refuse anything but extension keys; raises SidecarError at the offending line."""
    data = side.data

    def bad(path: tuple[str | int, ...], why: str, hint: str = "") -> SidecarError:
        return SidecarError(side.source, side.line(*path), _dotted(path), why, hint)

    plano_hint = "Plano's own keys belong in the config itself, so both tools read the same value"
    if not isinstance(data, dict):
        raise bad((), "the top level must be a mapping")
    for key, value in data.items():
        if key == "model_aliases":
            if not isinstance(value, dict):
                raise bad((key,), "must be a mapping of alias: {fallbacks: [...]}")
            for alias, spec in value.items():
                if not isinstance(spec, dict):
                    raise bad((key, alias), "must be a mapping such as {fallbacks: [...]}")
                for k in spec:
                    if k not in EXT_ALIAS:
                        raise bad((key, alias, k), f"'{k}' is not a planoai-tui extension", plano_hint)
        elif key in ("model_providers", "llm_providers"):
            if not isinstance(value, list):
                raise bad((key,), "must be a list of {model or name, fallbacks, quirks, upstream_api}")
            for i, item in enumerate(value):
                if not isinstance(item, dict) or not (item.get("name") or item.get("model")):
                    raise bad((key, i), "each entry needs `model:` or `name:` to match a provider in the config")
                for k in item:
                    if k not in EXT_PROVIDER | {"name", "model"}:
                        raise bad((key, i, k), f"'{k}' is not a planoai-tui extension", plano_hint)
        elif key in ("routing", "overrides"):
            allowed = EXT_ROUTING if key == "routing" else EXT_OVERRIDES
            if not isinstance(value, dict):
                raise bad((key,), "must be a mapping")
            for k in value:
                if k not in allowed:
                    raise bad((key, k), f"'{k}' is not a planoai-tui extension", plano_hint)
        else:
            raise bad((key,), f"'{key}' is not a planoai-tui extension section", plano_hint)


def merge_sidecar(data: dict[str, Any], side: Sidecar) -> dict[str, Any]:
    """The config with the sidecar's extension keys merged over it; fills `side.origins`."""
    check_sidecar(side)
    out = dict(data)
    s = side.data
    if "model_aliases" in s:
        aliases = dict(out.get("model_aliases") or {})
        for name, spec in s["model_aliases"].items():
            if name not in aliases:
                raise SidecarError(
                    side.source,
                    side.line("model_aliases", name),
                    f"model_aliases.{name}",
                    f"alias '{name}' is not defined in the config",
                    "define the alias (its target) in the config; the sidecar only adds fallbacks",
                )
            base = aliases[name] if isinstance(aliases[name], dict) else {"target": aliases[name]}
            aliases[name] = {**base, **spec}
            side.origins[("model_aliases", name, "fallbacks")] = Origin(
                side.source, side.line("model_aliases", name, "fallbacks")
            )
        out["model_aliases"] = aliases
    for pkey in ("model_providers", "llm_providers"):
        if pkey not in s:
            continue
        target = "model_providers" if "model_providers" in out else "llm_providers" if "llm_providers" in out else pkey
        providers = [dict(p) if isinstance(p, dict) else p for p in (out.get(target) or [])]
        for j, entry in enumerate(s[pkey]):
            want = entry.get("name") or entry.get("model")
            idx = next(
                (
                    i
                    for i, p in enumerate(providers)
                    if isinstance(p, dict) and want in (p.get("name"), p.get("model"))
                ),
                None,
            )
            if idx is None:
                raise SidecarError(
                    side.source,
                    side.line(pkey, j),
                    f"{pkey}[{j}]",
                    f"no provider in the config has name or model '{want}'",
                    "match a provider by its `name:` or its `model:` exactly",
                )
            ext = {k: v for k, v in entry.items() if k not in ("name", "model")}
            providers[idx].update(ext)
            for k, v in ext.items():  # errors about these name the sidecar's lines, down to a quirk's name
                side.origins[(target, idx, k)] = Origin(side.source, side.line(pkey, j, k))
                for sub in v if isinstance(v, dict) else ():
                    side.origins[(target, idx, k, sub)] = Origin(side.source, side.line(pkey, j, k, sub))
        out[target] = providers
    for sect in ("routing", "overrides"):
        if sect in s:
            base = base_ if isinstance(base_ := out.get(sect), dict) else {}
            out[sect] = {**base, **s[sect]}
            for k in s[sect]:
                side.origins[(sect, k)] = Origin(side.source, side.line(sect, k))
    return out


def compat_warnings(data: Mapping[str, Any], where: Callable[..., str], sidecar_name: str) -> list[str]:
    """What Plano 0.4.39's validator would refuse in this (inline) config, and the Plano keys we do not
    implement. `where(*path)` renders `file:line`."""
    out: list[str] = []

    def rejects(path: tuple[str | int, ...], extension: bool) -> None:
        key = _dotted(path)
        if extension:
            out.append(
                f"{where(*path)}: {key} is a planoai-tui extension that {PLANO} rejects "
                f"('Additional properties are not allowed'); move it to {sidecar_name} under the same key path"
            )
        else:
            out.append(f"{where(*path)}: {key}: {PLANO} rejects this key; it is ignored here too")

    def unimplemented(path: tuple[str | int, ...], why: str) -> None:
        out.append(f"{where(*path)}: {_dotted(path)} is a Plano key this proxy does not implement: {why}")

    for req in ("version", "listeners"):
        if req not in data:
            out.append(f"{where()}: '{req}' is missing; {PLANO} requires it and refuses the file")
    for key, value in data.items():
        if value is None:  # `model_metrics_sources:` with nothing under it
            out.append(f"{where(key)}: '{key}' is empty; {PLANO} rejects a null section (remove the key)")
    pkey = "model_providers" if "model_providers" in data else "llm_providers"
    for i, p in enumerate(data.get(pkey) or []):
        if isinstance(p, dict):
            for k in p:
                if k in EXT_PROVIDER:
                    rejects((pkey, i, k), True)
                elif k in RENDERED_PROVIDER:
                    out.append(
                        f"{where(pkey, i, k)}: {pkey}[{i}].{k} belongs to Plano's rendered config; "
                        f"{PLANO} rejects it in a config file"
                    )
    aliases = data.get("model_aliases")
    if isinstance(aliases, dict):
        for name, spec in aliases.items():
            if not isinstance(spec, dict):
                out.append(f"{where('model_aliases', name)}: model_aliases.{name}: {PLANO} requires {{target: …}}")
                continue
            for k in spec:
                if k not in PLANO_ALIAS:
                    rejects(("model_aliases", name, k), k in EXT_ALIAS)
    _section(data, "routing", PLANO_ROUTING, EXT_ROUTING, rejects)
    routing = routing_ if isinstance(routing_ := data.get("routing"), dict) else {}
    _section(routing, "session_cache", PLANO_SESSION_CACHE, frozenset(), rejects, prefix=("routing",))
    _section(routing, "routing_budget", PLANO_BUDGET, frozenset(), rejects, prefix=("routing",))
    _section(data, "prompt_caching", PLANO_PROMPT_CACHING, frozenset(), rejects)
    _section(data, "tracing", PLANO_TRACING, frozenset(), rejects)
    for i, src in enumerate(data.get("model_metrics_sources") or []):
        if isinstance(src, dict) and src.get("type") in PLANO_METRICS:
            for k in src:
                if k not in PLANO_METRICS[src["type"]]:
                    rejects(("model_metrics_sources", i, k), False)
    listeners = data.get("listeners")
    if isinstance(listeners, list):
        for i, item in enumerate(listeners):
            if isinstance(item, dict):
                for k in item:
                    if k not in PLANO_LISTENER:
                        rejects(("listeners", i, k), False)
                    elif ("listener", k) in UNIMPLEMENTED and item.get("type", "model") == "model":
                        unimplemented(("listeners", i, k), UNIMPLEMENTED[("listener", k)])
    for path, why in UNIMPLEMENTED.items():
        if path[0] == "listener":
            continue
        node: Any = data
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            unimplemented(path, why)
    return out


def _section(
    data: Mapping[str, Any],
    name: str,
    allowed: frozenset[str],
    ours: frozenset[str],
    rejects: Callable[[tuple[str | int, ...], bool], None],
    prefix: tuple[str, ...] = (),
) -> None:
    sect = data.get(name)
    if isinstance(sect, dict):
        for k in sect:
            if k not in allowed:
                rejects((*prefix, name, k), k in ours)
