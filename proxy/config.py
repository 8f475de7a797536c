"""Plano `config.yaml` → a validated, immutable `Config`.

Accepts Plano configs unchanged (versions v0.1…v0.4.0, `listeners` list or legacy dict,
`model_providers`/`llm_providers`, `provider/*` wildcards, `$VAR` keys, v0.3 inline and v0.4 top-level
`routing_preferences`), plus our extensions (`fallbacks`, alias `fallbacks`, …), which belong in the
sidecar `<stem>.tui.yaml` so Plano accepts the config too (proxy.config_ext). Errors name the file,
line and key and say how to fix them. A missing API key never stops start-up: the provider is marked
`key_status="missing"` and requests to it get a clear error.

Called by the CLI at start-up and by hot reload; the result is shared read-only by the whole core.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from .budget import BudgetError
from .budget import from_config as budget_from_config
from .config_ext import PLANO, Sidecar, SidecarError, compat_warnings, merge_sidecar, sidecar_path
from .wire.providers import INTERFACES, Api, ProviderKind, canonical_prefix, kind_for
from .wire.quirks import QUIRKS, switch_problem

SUPPORTED_VERSIONS = ("v0.1", "v0.1.0", "0.1-beta", "0.2.0", "v0.2.0", "v0.3.0", "v0.4.0")
# Top-level keys Plano knows that have no meaning for this proxy: warn, don't fail.
IGNORED_SECTIONS = frozenset(
    {
        "agents",
        "filters",
        "endpoints",
        "prompt_targets",
        "prompt_guards",
        "system_prompt",
        "ratelimits",
        "mode",
        "error_target",
        "state_storage",
    }
)
KNOWN_SECTIONS = IGNORED_SECTIONS | {
    "prompt_caching",
    "model_metrics_sources",
    "version",
    "listeners",
    "model_providers",
    "llm_providers",
    "model_aliases",
    "routing_preferences",
    "routing",
    "overrides",
    "tracing",
}
PROVIDER_FIELDS = frozenset(
    {
        "model",
        "name",
        "access_key",
        "default",
        "base_url",
        "provider_interface",
        "passthrough_auth",
        "http_host",
        "headers",
        "routing_preferences",
        "fallbacks",
        "upstream_api",
        "quirks",
        "internal",
        "cluster_name",
        "port",
        "endpoint",
        "protocol",
    }
)
DEFAULT_PORT = 12000
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


class ConfigError(Exception):
    """A config problem located at `path:line` under `key`, with a hint on how to fix it."""

    def __init__(self, path: str, line: int | None, key: str, message: str, hint: str = "") -> None:
        self.path, self.line, self.key, self.message, self.hint = path, line, key, message, hint
        where = f"{path}:{line}" if line else path
        text = f"{where}: {key}: {message}" if key else f"{where}: {message}"
        super().__init__(f"{text}\n  hint: {hint}" if hint else text)


@dataclass(frozen=True, slots=True)
class Listener:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    timeout_s: float = 300.0


@dataclass(frozen=True)
class Provider:
    """One `model_providers[]` entry, resolved against the built-in table."""

    name: str
    model: str  # as written: "openai/gpt-4o" or "openai/*"
    prefix: str  # canonical prefix ("openai")
    model_id: str  # "gpt-4o", or "*" for a wildcard
    apis: frozenset[Api]
    base_url: str  # scheme://host[:port]
    path_prefix: str
    key_env: str | None = None  # the variable the key comes from, for hints
    access_key: str | None = field(default=None, repr=False)  # the secret itself; never logged
    key_status: str = "ok"  # ok | missing | none | passthrough
    default: bool = False
    passthrough_auth: bool = False
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    http_host: str | None = None
    fallbacks: tuple[str, ...] = ()
    internal: bool = False
    line: int | None = None
    # The upstream API tried first for every client: `upstream_api` when set, else Responses on OpenAI
    # and xAI (they serve every model there), else None (the client's own API when spoken).
    preferred_api: Api | None = None
    quirks_off: frozenset[str] = frozenset()  # provider quirks the sidecar turned off (proxy.wire.quirks)

    @property
    def wildcard(self) -> bool:
        return self.model_id == "*"

    @property
    def display_url(self) -> str:
        return self.base_url + self.path_prefix


@dataclass(frozen=True, slots=True)
class Alias:
    name: str
    target: str
    fallbacks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RoutingPreference:
    name: str
    description: str
    models: tuple[str, ...]
    selection_policy: str = "none"


@dataclass(frozen=True)
class Config:
    path: Path | None
    version: str
    listener: Listener
    providers: tuple[Provider, ...]
    aliases: tuple[Alias, ...]
    routing_preferences: tuple[RoutingPreference, ...]
    routing: Mapping[str, Any]
    overrides: Mapping[str, Any]
    tracing: Mapping[str, Any]
    warnings: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def default_provider(self) -> Provider | None:
        return next((p for p in self.providers if p.default), None)

    @property
    def missing_keys(self) -> list[tuple[Provider, str]]:
        return [(p, p.key_env or "?") for p in self.providers if p.key_status == "missing"]

    def provider_named(self, name: str) -> Provider | None:
        return next((p for p in self.providers if p.name == name), None)


# Here rather than in resolve.py: the config validates alias targets and fallbacks with it, and resolve
# builds on the config, so the lookup lives at the lower of the two.
def find_provider(model: str, providers: Sequence[Provider]) -> Provider | None:
    """Plano's lookup order: name or bare id, then full `provider/id`, then the bare part, then a wildcard."""
    if not model:
        return None
    for p in providers:
        if p.name == model or (not p.wildcard and (p.model_id == model or p.model == model)):
            return p
    if "/" in model:
        prefix, rest = model.split("/", 1)
        for p in providers:
            if not p.wildcard and p.model_id == rest:
                return p
        cp = canonical_prefix(prefix)
        for p in providers:
            if p.wildcard and p.prefix == cp:
                return p
    else:
        wild = [p for p in providers if p.wildcard]
        if len(wild) == 1:  # a bare id matches a wildcard only when that is unambiguous
            return wild[0]
    return None


# --------------------------------------------------------------------------- loading


class _Located:
    """Finds the source line of a key path in the composed YAML node tree (errors only)."""

    def __init__(self, node: yaml.Node | None) -> None:
        self.node = node

    def line(self, *path: str | int) -> int | None:
        node = self.node
        best = node.start_mark.line + 1 if node is not None else None
        for part in path:
            if isinstance(node, yaml.MappingNode):
                nxt = None
                for k, v in node.value:
                    if k.value == part:
                        best = k.start_mark.line + 1
                        nxt = v
                        break
                node = nxt
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
                best = node.start_mark.line + 1
            else:
                break
            if node is None:
                break
        return best


def discover_config(explicit: str | None, cwd: Path | None = None) -> Path | None:
    """Plano's discovery: an explicit path, else ./config.yaml, else ./plano_config.yaml."""
    if explicit:
        return Path(explicit)
    base = cwd or Path.cwd()
    for name in ("config.yaml", "plano_config.yaml"):
        if (base / name).is_file():
            return base / name
    return None


def read_dotenv(path: Path) -> dict[str, str]:
    """Minimal `.env` reader: KEY=VALUE lines, optional `export`, quotes, # comments."""
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return values
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key.strip()] = value
    return values


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read, validate and resolve a config file. Raises `ConfigError`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            str(p), None, "", "file not found", "pass a path, or run from a folder with config.yaml"
        ) from None
    except OSError as exc:
        raise ConfigError(str(p), None, "", f"cannot read: {exc.strerror}") from None
    env = dict(read_dotenv(p.parent / ".env"))
    env.update(environ if environ is not None else os.environ)  # the process environment wins
    side = sidecar_path(p)
    sidecar = None
    if side.is_file():
        try:
            sidecar = (side.read_text(encoding="utf-8"), str(side))
        except OSError as exc:
            raise ConfigError(str(side), None, "", f"cannot read: {exc.strerror}") from None
    return parse_config(text, str(p), env, path=p, sidecar=sidecar)


def _parse_yaml(text: str, source: str) -> tuple[Any, yaml.Node | None]:
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context_mark", None)
        if context is not None and mark is not None and context.line != mark.line:
            problem += f" (the construct began on line {context.line + 1})"
        raise ConfigError(source, line, "", f"invalid YAML: {problem}", "check indentation and quoting") from None
    return data, node


def parse_config(
    text: str,
    source: str,
    env: Mapping[str, str],
    path: Path | None = None,
    sidecar: tuple[str, str] | None = None,
) -> Config:
    """`sidecar`: (text, source) of the extensions file merged over the config (proxy.config_ext)."""
    data, node = _parse_yaml(text, source)
    side = None
    if sidecar is not None:
        side_data, side_node = _parse_yaml(sidecar[0], sidecar[1])
        side = Sidecar(sidecar[1], side_data if side_data is not None else {}, _Located(side_node).line)
    return _Builder(source, _Located(node), env, path).build(data, side)


def expand_vars(value: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """Expand `$VAR`/`${VAR}`; returns the text and the names that were not set."""
    missing: list[str] = []

    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name in env and env[name] != "":
            return env[name]
        missing.append(name)
        return ""

    return _VAR.sub(sub, value), missing


class _Builder:
    def __init__(self, source: str, loc: _Located, env: Mapping[str, str], path: Path | None) -> None:
        self.source, self.loc, self.env, self.path = source, loc, env, path
        self.warnings: list[str] = []
        self.side: Sidecar | None = None

    def fail(self, path: tuple[str | int, ...], message: str, hint: str = "") -> ConfigError:
        key = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(path))
        origin = self.side.origins.get(path) if self.side is not None else None
        if origin is not None:  # the value came from the sidecar: point there
            return ConfigError(origin.source, origin.line, key, message, hint)
        return ConfigError(self.source, self.loc.line(*path), key, message, hint)

    def build(self, data: Any, side: Sidecar | None = None) -> Config:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise self.fail((), "the top level must be a mapping", "start with `version: v0.4.0`")
        name = sidecar_path(self.path).name if self.path else "the sidecar (<config stem>.tui.yaml)"
        self.warnings += compat_warnings(data, lambda *p: f"{self.source}:{self.loc.line(*p)}", name)
        if side is not None:
            self.side = side
            try:
                data = merge_sidecar(data, side)
            except SidecarError as exc:
                raise ConfigError(exc.source, exc.line, exc.key, exc.message, exc.hint) from None
        version = str(data.get("version", "v0.4.0"))
        if version not in SUPPORTED_VERSIONS:
            raise self.fail(
                ("version",), f"unsupported version {version!r}", f"use one of {', '.join(SUPPORTED_VERSIONS)}"
            )
        for key in data:
            if key in IGNORED_SECTIONS:
                self.warnings.append(f"{self.source}: section '{key}' is a Plano feature this proxy ignores")
            elif key not in KNOWN_SECTIONS:
                self.warnings.append(
                    f"{self.source}:{self.loc.line(key)}: unknown top-level key '{key}' ignored ({PLANO} rejects it)"
                )
        if "model_providers" in data and "llm_providers" in data:
            raise self.fail(
                ("llm_providers",), "both model_providers and llm_providers are set", "keep only model_providers"
            )
        pkey = self.pkey = "model_providers" if "model_providers" in data else "llm_providers"
        raw_providers = data.get(pkey) or []
        if not isinstance(raw_providers, list):
            raise self.fail((pkey,), "must be a list of providers", "write each provider as `- model: openai/gpt-4o`")
        providers = [self.provider(pkey, i, item) for i, item in enumerate(raw_providers)]
        self.check_providers(pkey, providers)
        aliases = self.aliases(data.get("model_aliases"), providers)
        prefs = self.routing_preferences(data, pkey, raw_providers, providers)
        for sect in ("routing", "overrides", "tracing"):
            if data.get(sect) is not None and not isinstance(data[sect], dict):
                raise self.fail((sect,), "must be a mapping")
        try:  # the routing budget refuses to start without a cap or a price source (as Plano does)
            budget_from_config((data.get("routing") or {}).get("routing_budget"), data.get("model_metrics_sources"))
        except BudgetError as exc:
            raise self.fail(tuple(exc.key.split(".")), exc.message, exc.hint) from None
        self.check_fallbacks(providers, aliases)
        return Config(
            path=self.path,
            version=version,
            listener=self.listener(data.get("listeners")),
            providers=tuple(providers),
            aliases=tuple(aliases),
            routing_preferences=tuple(prefs),
            routing=dict(data.get("routing") or {}),
            overrides=dict(data.get("overrides") or {}),
            tracing=dict(data.get("tracing") or {}),
            warnings=tuple(self.warnings),
            raw=data,
        )

    # -- listeners
    def listener(self, raw: Any) -> Listener:
        entry: dict[str, Any] | None = None
        where: tuple[str | int, ...] = ("listeners",)
        if isinstance(raw, list):
            models = [(i, x) for i, x in enumerate(raw) if isinstance(x, dict) and x.get("type", "model") == "model"]
            if len(models) > 1:
                raise self.fail(("listeners", models[1][0]), "only one `type: model` listener is allowed")
            if models:
                where = ("listeners", models[0][0])
                entry = models[0][1]
        elif isinstance(raw, dict):  # legacy {ingress_traffic, egress_traffic}
            entry = raw.get("egress_traffic") if isinstance(raw.get("egress_traffic"), dict) else None
            where = ("listeners", "egress_traffic")
        elif raw is not None:
            raise self.fail(("listeners",), "must be a list (or Plano's legacy mapping)")
        if not entry:
            return Listener()
        port = entry.get("port", DEFAULT_PORT)
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise self.fail((*where, "port"), f"port must be an integer 0-65535, got {port!r}")
        timeout = seconds(entry.get("timeout"), 300.0)
        # Plano binds 0.0.0.0; we bind loopback unless the CLI says otherwise (security default).
        return Listener(host="127.0.0.1", port=port, timeout_s=timeout)

    # -- providers
    def provider(self, pkey: str, i: int, item: Any) -> Provider:
        at = (pkey, i)
        if not isinstance(item, dict):
            raise self.fail(at, "each provider must be a mapping", "e.g. `- model: openai/gpt-4o`")
        for k in item:
            if k not in PROVIDER_FIELDS:
                self.warnings.append(
                    f"{self.source}:{self.loc.line(*at, k)}: {pkey}[{i}]: unknown field '{k}' ignored "
                    f"({PLANO} rejects it)"
                )
        model = item.get("model")
        if not isinstance(model, str) or not model:
            raise self.fail(at, "`model` is required", "e.g. `model: openai/gpt-4o`")
        if "/" not in model:
            raise self.fail(
                (*at, "model"),
                f"{model!r} must be written as <provider>/<model_id>",
                f"e.g. `model: openai/{model}`",
            )
        raw_prefix, model_id = model.split("/", 1)
        prefix = canonical_prefix(raw_prefix)
        kind = kind_for(raw_prefix)
        iface = item.get("provider_interface")
        base_url_raw = item.get("base_url")
        if iface is not None:
            if kind is not None:
                raise self.fail(
                    (*at, "provider_interface"),
                    f"'{raw_prefix}' is a built-in provider; provider_interface is only for custom prefixes",
                    "remove provider_interface",
                )
            if iface not in INTERFACES:
                raise self.fail(
                    (*at, "provider_interface"),
                    f"unknown interface {iface!r}",
                    f"use one of {', '.join(sorted(INTERFACES))}",
                )
            kind = ProviderKind(None, "/v1", INTERFACES[iface], None, needs_key=False)
        if kind is None:
            raise self.fail(
                (*at, "model"),
                f"unknown provider prefix '{raw_prefix}'",
                "add `base_url:` and `provider_interface: openai` (or another interface) for a custom server",
            )
        base, path_prefix = self.base_url(at, base_url_raw, kind, prefix)
        if not kind.apis:
            self.warnings.append(
                f"{self.source}:{self.loc.line(*at)}: provider '{model}' uses an API this proxy "
                "cannot speak (Bedrock Converse)"
            )
        name = item.get("name") or model
        if not isinstance(name, str):
            raise self.fail((*at, "name"), "must be a string")
        default = bool(item.get("default", False))
        if model_id == "*" and default:
            raise self.fail(
                (*at, "default"), "a wildcard provider cannot be the default", "mark a specific model as default"
            )
        if model_id == "*" and item.get("routing_preferences"):
            raise self.fail((*at, "routing_preferences"), "a wildcard provider cannot carry routing preferences")
        passthrough = bool(item.get("passthrough_auth", False))
        key_ref = item.get("access_key")
        key, key_env, status = None, kind.key_env, "ok"
        if key_ref is not None:
            if not isinstance(key_ref, str):
                raise self.fail((*at, "access_key"), "must be a string such as $OPENAI_API_KEY")
            names = [m.group(1) or m.group(2) for m in _VAR.finditer(key_ref)]
            key_env = names[0] if names else None
            value, missing = expand_vars(key_ref, self.env)
            if missing:
                status = "missing"
            else:
                key = value
            if passthrough:
                self.warnings.append(
                    f"{self.source}: provider '{name}' sets both access_key and passthrough_auth; the client's key wins"
                )
        if passthrough:
            status = "passthrough"
        elif key_ref is None:
            if kind.key_env and self.env.get(kind.key_env) and not base_url_raw:
                key = self.env[kind.key_env]  # the conventional variable, when the config names none
            else:
                status = "none" if not kind.needs_key or base_url_raw else "missing"
        headers_raw = item.get("headers") or {}
        if not isinstance(headers_raw, dict):
            raise self.fail((*at, "headers"), "must be a mapping of header: value")
        headers = {str(k): expand_vars(str(v), self.env)[0] for k, v in headers_raw.items()}
        fallbacks = self.str_list((*at, "fallbacks"), item.get("fallbacks"))
        preferred = self.upstream_api(at, item.get("upstream_api"), kind)
        quirks_off = self.quirks_off((*at, "quirks"), item.get("quirks"), prefix, kind.apis)
        return Provider(
            name=name,
            model=model,
            prefix=prefix,
            model_id=model_id,
            apis=kind.apis,
            base_url=base,
            path_prefix=path_prefix,
            key_env=key_env,
            access_key=key,
            key_status=status,
            default=default,
            passthrough_auth=passthrough,
            headers=headers,
            http_host=item.get("http_host"),
            fallbacks=tuple(fallbacks),
            internal=bool(item.get("internal", False)),
            line=self.loc.line(*at),
            preferred_api=preferred,
            quirks_off=quirks_off,
        )

    def upstream_api(self, at: tuple[str | int, ...], raw: Any, kind: ProviderKind) -> Api | None:
        """Our extension `upstream_api: responses|chat|messages`: the API this provider is reached
        through whatever the client speaks (e.g. `chat` for an OpenAI-compatible server without Responses)."""
        spoken = sorted(a.value for a in kind.apis)
        if raw is None:
            return Api.RESPONSES if kind.responses_first else None
        if raw not in spoken:
            raise self.fail((*at, "upstream_api"), f"{raw!r} is not an API this provider speaks",
                            f"use one of {', '.join(spoken)}, or remove it")
        return Api(raw)

    def quirks_off(self, at: tuple[str | int, ...], raw: Any, prefix: str, apis: frozenset[Api]) -> frozenset[str]:
        """Our extension `quirks: {<quirk>: false}`: the provider quirks (proxy.wire.quirks) not to apply to
        this provider's requests. `true` is the default, accepted for clarity."""
        if raw is None:
            return frozenset()
        if not isinstance(raw, dict):
            raise self.fail(at, "must be a mapping of quirk: false", f"e.g. `quirks: {{{QUIRKS[0].name}: false}}`")
        off: set[str] = set()
        for name, on in raw.items():
            problem = switch_problem(str(name), prefix, apis)
            if problem is not None:
                raise self.fail((*at, name), *problem)
            if not isinstance(on, bool):
                raise self.fail((*at, name), f"must be true or false, got {on!r}",
                                "false turns the quirk off for this provider")
            if not on:
                off.add(str(name))
        return frozenset(off)

    def base_url(self, at: tuple[str | int, ...], raw: Any, kind: ProviderKind, prefix: str) -> tuple[str, str]:
        if raw is None:
            if kind.base_url is None:
                raise self.fail(at, f"provider '{prefix}' needs a base_url", "e.g. `base_url: http://localhost:11434`")
            return kind.base_url, kind.path_prefix
        if not isinstance(raw, str):
            raise self.fail((*at, "base_url"), "must be a URL string")
        url, _ = expand_vars(raw, self.env)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise self.fail(
                (*at, "base_url"), f"{raw!r} is not an http(s) URL", "e.g. `base_url: http://localhost:11434`"
            )
        path = parts.path.rstrip("/")
        # Plano's rule: a path in base_url replaces the provider's default path prefix.
        return f"{parts.scheme}://{parts.netloc}", path if path else kind.path_prefix

    def check_providers(self, pkey: str, providers: list[Provider]) -> None:
        names: dict[str, int] = {}
        defaults = [i for i, p in enumerate(providers) if p.default]
        if len(defaults) > 1:
            raise self.fail(
                (pkey, defaults[1], "default"),
                "at most one provider may be `default: true`",
                f"{providers[defaults[0]].name} is already the default",
            )
        for i, p in enumerate(providers):
            if p.name in names:
                raise self.fail(
                    (pkey, i, "name"),
                    f"duplicate provider name '{p.name}'",
                    f"already used at {pkey}[{names[p.name]}]; give one a distinct `name:`",
                )
            names[p.name] = i

    def str_list(self, at: tuple[str | int, ...], raw: Any) -> list[str]:
        if raw is None:
            return []
        if isinstance(raw, str):
            return [raw]
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            raise self.fail(at, "must be a list of model names")
        return list(raw)

    # -- aliases
    def aliases(self, raw: Any, providers: list[Provider]) -> list[Alias]:
        if raw is None:
            return []
        if not isinstance(raw, dict):
            raise self.fail(("model_aliases",), "must be a mapping of alias: {target: model}")
        out = []
        for name, spec in raw.items():
            at = ("model_aliases", name)
            target: Any = spec
            fallbacks: list[str] = []
            if isinstance(spec, dict):
                target = spec.get("target")
                fallbacks = self.str_list((*at, "fallbacks"), spec.get("fallbacks"))
            if not isinstance(target, str) or not target:
                raise self.fail(at, "needs a `target:` model", "e.g. `arch.codex.default: {target: gpt-5.3-codex}`")
            if not model_known(target, providers):
                raise self.fail(
                    (*at, "target") if isinstance(spec, dict) else at,
                    f"alias '{name}' targets '{target}', which no provider serves",
                    f"use one of: {', '.join(p.model for p in providers) or '(no providers configured)'}",
                )
            out.append(Alias(str(name), target, tuple(fallbacks)))
        return out

    def check_fallbacks(self, providers: list[Provider], aliases: list[Alias]) -> None:
        for a in aliases:
            for fb in a.fallbacks:
                if not model_known(fb, providers):
                    raise self.fail(
                        ("model_aliases", a.name, "fallbacks"), f"fallback '{fb}' is not a configured model"
                    )
        for i, p in enumerate(providers):
            for fb in p.fallbacks:
                if not model_known(fb, providers):
                    raise self.fail(
                        (self.pkey, i, "fallbacks"), f"provider '{p.name}' fallback '{fb}' is not a configured model"
                    )

    # -- routing preferences (parsed and validated; routing itself lives in proxy.routing)
    def routing_preferences(
        self, data: dict[str, Any], pkey: str, raw_providers: list[Any], providers: list[Provider]
    ) -> list[RoutingPreference]:
        prefs: dict[str, RoutingPreference] = {}
        top = data.get("routing_preferences")
        if top is not None:
            if not isinstance(top, list):
                raise self.fail(("routing_preferences",), "must be a list of {name, description, models}")
            for i, item in enumerate(top):
                at = ("routing_preferences", i)
                if not isinstance(item, dict) or not item.get("name") or not item.get("description"):
                    raise self.fail(at, "each preference needs `name` and `description`")
                models = self.str_list((*at, "models"), item.get("models"))
                if not models:
                    raise self.fail((*at, "models"), "needs at least one model")
                for m in models:
                    if not model_known(m, providers):
                        raise self.fail((*at, "models"), f"model '{m}' is not a configured provider")
                policy = item.get("selection_policy") or {}
                prefer = policy.get("prefer", "none") if isinstance(policy, dict) else str(policy)
                if prefer not in ("cheapest", "fastest", "none"):
                    raise self.fail(
                        (*at, "selection_policy", "prefer"),
                        f"unknown selection policy {prefer!r}",
                        "use cheapest, fastest or none",
                    )
                if item["name"] in prefs:
                    raise self.fail((*at, "name"), f"duplicate routing preference '{item['name']}'")
                prefs[item["name"]] = RoutingPreference(
                    str(item["name"]), str(item["description"]), tuple(models), prefer
                )
        # v0.3 inline preferences: merge same-name routes across providers in declaration order;
        # the first description wins (Plano's migrate_inline_routing_preferences).
        for i, item in enumerate(raw_providers):
            inline = item.get("routing_preferences") if isinstance(item, dict) else None
            if not inline:
                continue
            if not isinstance(inline, list):
                raise self.fail((pkey, i, "routing_preferences"), "must be a list of {name, description}")
            model = providers[i].model
            for j, r in enumerate(inline):
                if not isinstance(r, dict) or not r.get("name"):
                    raise self.fail(
                        (pkey, i, "routing_preferences", j), "each preference needs `name` and `description`"
                    )
                name, desc = str(r["name"]), str(r.get("description", ""))
                if name in prefs:
                    old = prefs[name]
                    if desc and old.description != desc:
                        self.warnings.append(f"routing preference '{name}': keeping the first description")
                    if model not in old.models:
                        prefs[name] = RoutingPreference(
                            name, old.description, (*old.models, model), old.selection_policy
                        )
                else:
                    prefs[name] = RoutingPreference(name, desc, (model,))
        return list(prefs.values())


def model_known(model: str, providers: Sequence[Provider]) -> bool:
    return find_provider(model, providers) is not None


def seconds(raw: Any, default: float) -> float:
    """A duration from config: a number of seconds, or text like `300s`, `500ms`, `5m`."""
    if raw is None:
        return default
    if isinstance(raw, int | float):
        return float(raw)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*", str(raw))
    if not m:
        return default
    value = float(m.group(1))
    return value / 1000 if m.group(2) == "ms" else value * 60 if m.group(2) == "m" else value
