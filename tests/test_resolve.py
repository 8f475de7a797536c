"""Model resolution is remembered per model name, and forgotten the moment an alias changes."""

from __future__ import annotations

import pytest

from proxy.resolve import AliasTable, ModelNotFound, Resolver

from .conftest import make_config


def test_resolutions_are_remembered_until_an_alias_changes() -> None:
    cfg = make_config("http://127.0.0.1:9")
    aliases = AliasTable(cfg.aliases)
    resolver = Resolver(cfg, aliases)
    first = resolver.resolve("arch.codex.default")
    assert (first.upstream_model, first.alias_target, first.via) == ("gpt-5.3-codex", "gpt-5.3-codex", "alias")
    assert resolver.resolve("arch.codex.default") is first  # the same object: nothing recomputed
    assert resolver.resolve(None).via == "default" and resolver.resolve("").provider is cfg.default_provider

    aliases.set("arch.codex.default", "claude-sonnet-4-5")  # the next request sees the new target
    moved = resolver.resolve("arch.codex.default")
    assert (moved.provider.name, moved.upstream_model) == ("anthropic/claude-sonnet-4-5", "claude-sonnet-4-5")

    aliases.replace_all([])  # a reload that drops every alias
    with pytest.raises(ModelNotFound):
        resolver.resolve("arch.codex.default")
    assert resolver.resolve("gpt-5.3-codex").via == "explicit"


def test_unknown_models_are_never_remembered() -> None:
    cfg = make_config("http://127.0.0.1:9")
    resolver = Resolver(cfg, AliasTable(cfg.aliases))
    for i in range(1000):
        with pytest.raises(ModelNotFound):
            resolver.resolve(f"invented-{i}")
    assert len(resolver._cache) == 0
    for name in ("gpt-5.3-codex", "llama3.1", "arch.local") * 5:
        resolver.resolve(name)
    assert sorted(resolver._cache) == ["arch.local", "gpt-5.3-codex", "llama3.1"]
