"""Model resolution: what the client asked for → which provider and upstream model id serve it.

Plano's semantics as its demo README promises them (docs/plano-compat.md §3.1–3.2): exact alias lookup →
provider lookup (name, full `provider/id`, bare id, `provider/*` wildcard) → the `default: true` provider
when the request has *no* model → otherwise `ModelNotFound`. Task-aware routing (proxy.routing) runs after
this and may replace the provider. Aliases live in `AliasTable`, which the dashboard and the admin API
retarget while serving.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .config import Alias, Config, Provider, find_provider


class ModelNotFound(LookupError):
    def __init__(self, model: str) -> None:
        super().__init__(f"Model '{model}' not found in configured providers")
        self.model = model


@dataclass(frozen=True, slots=True)
class Resolution:
    """How one request's model was decided. `upstream_model` is the id sent to the provider."""

    client_model: str  # what the client sent ("" when absent)
    provider: Provider
    upstream_model: str
    alias: str | None = None  # alias name, when the client model was an alias
    alias_target: str | None = None
    via: str = "explicit"  # explicit | alias | default | wildcard | route
    route: str | None = None


def upstream_model_for(model: str, provider: Provider) -> str:
    """The model id sent upstream: the provider's own id, or for a wildcard what the client asked."""
    if not provider.wildcard:
        return provider.model_id
    prefix = provider.model.split("/", 1)[0]
    for p in (prefix + "/", provider.prefix + "/"):
        if model.startswith(p):
            return model[len(p) :]
    return model


class AliasTable:
    """Runtime alias → target map. Retargeting is synchronous and visible to the next request."""

    def __init__(self, aliases: Iterable[Alias]) -> None:
        self._aliases: dict[str, Alias] = {a.name: a for a in aliases}
        self.version = 0  # bumps on every change: resolvers drop what they cached

    def get(self, name: str) -> Alias | None:
        return self._aliases.get(name)

    def items(self) -> list[Alias]:
        return list(self._aliases.values())

    def set(self, name: str, target: str) -> str | None:
        old = self._aliases.get(name)
        self._aliases[name] = Alias(name, target, old.fallbacks if old else ())
        self.version += 1
        return old.target if old else None

    def replace_all(self, aliases: Iterable[Alias]) -> None:
        self._aliases = {a.name: a for a in aliases}
        self.version += 1


class Resolver:
    def __init__(self, config: Config, aliases: AliasTable) -> None:
        self.config = config
        self.aliases = aliases
        self._default = config.default_provider
        self._cache: dict[str, Resolution] = {}
        self._cache_version = aliases.version

    def resolve(self, model: str | None) -> Resolution:
        """The resolution of `model`: remembered per model name until an alias changes (a Resolver lives
        as long as its config), since nearly every request names one of a handful of models."""
        client_model = model or ""
        if self._cache_version != self.aliases.version:
            self._cache.clear()
            self._cache_version = self.aliases.version
        res = self._cache.get(client_model)
        if res is None:
            res = self._resolve(client_model)  # ModelNotFound is raised, never cached
            if len(self._cache) >= 256:  # bounded: clients inventing model names cannot grow it
                self._cache.clear()
            self._cache[client_model] = res
        return res

    def _resolve(self, client_model: str) -> Resolution:
        if not client_model:
            if self._default is None:
                raise ModelNotFound("")
            return Resolution("", self._default, self._default.model_id, via="default")
        alias = self.aliases.get(client_model)
        target = alias.target if alias else client_model
        provider = find_provider(target, self.config.providers)
        if provider is None:
            raise ModelNotFound(client_model if alias is None else f"{client_model}' -> '{target}")
        via = "alias" if alias else ("wildcard" if provider.wildcard else "explicit")
        return Resolution(
            client_model,
            provider,
            upstream_model_for(target, provider),
            alias=alias.name if alias else None,
            alias_target=alias.target if alias else None,
            via=via,
        )

    def model_choices(self) -> list[str]:
        """Every concrete model a user can point an alias at (for pickers and error hints)."""
        return [p.model for p in self.config.providers if not p.wildcard and not p.internal]
