"""proxy.catalog: Codex's model catalog (ModelInfo entries) for aliases and configured models.

The real Codex decoder validates generated catalogs in tests/e2e/test_codex_catalog.py; these tests
pin the contents without the binary.
"""

from __future__ import annotations

import json
import textwrap

import aiohttp
import pytest

from proxy import catalog
from proxy.catalog import build_catalog, catalog_etag, codex_catalog, load_data
from proxy.config import parse_config
from proxy.server import ProxyServer
from proxy.state import ProxyState
from proxy.wire.models import caps_for

from .conftest import make_config

# Fields Codex 0.169 refuses to decode an entry without (docs/codex-wire.md §2).
REQUIRED = ("slug", "display_name", "supported_reasoning_levels", "shell_type", "visibility", "supported_in_api",
            "priority", "support_verbosity", "truncation_policy", "experimental_supported_tools", "base_instructions")


def _state() -> ProxyState:
    return ProxyState(make_config("http://127.0.0.1:9"))


def test_data_file_is_codex_derived() -> None:
    data = load_data()
    assert data["template_slug"] in data["bundled"]
    tpl = data["template"]
    assert tpl["apply_patch_tool_type"] == "freeform"
    assert tpl["base_instructions"].startswith("You are Codex")
    assert set(data["reasoning_descriptions"]) >= {"low", "medium", "high"}


def test_every_alias_and_model_has_an_entry() -> None:
    st = _state()
    doc = codex_catalog(st)
    slugs = [m["slug"] for m in doc["models"]]
    assert slugs[:3] == ["arch.codex.default", "arch.claude", "arch.local"]  # aliases first
    for slug in ("openai/gpt-5.3-codex", "gpt-5.3-codex", "anthropic/claude-sonnet-4-5", "claude-sonnet-4-5",
                 "ollama/llama3.1", "llama3.1", "xai/grok-4-1-fast-non-reasoning"):
        assert slug in slugs
    assert len(slugs) == len(set(slugs))
    for m in doc["models"]:
        assert all(k in m for k in REQUIRED), m["slug"]
        assert m["apply_patch_tool_type"] == "freeform"
        assert m["shell_type"] in ("default", "local", "shell_command", "unified_exec", "disabled")
        assert m["visibility"] in ("list", "hide", "none")
        levels = [lv["effort"] for lv in m["supported_reasoning_levels"]]
        assert (m["default_reasoning_level"] in levels) if levels else m["default_reasoning_level"] is None
    assert set(st.catalog_served) == set(slugs)
    assert st.catalog_served["arch.claude"].startswith(load_data()["template_slug"] + " template; context 200000")


def test_alias_entry_follows_its_target() -> None:
    by_slug = {m["slug"]: m for m in codex_catalog(_state())["models"]}
    codex, claude, local = by_slug["arch.codex.default"], by_slug["arch.claude"], by_slug["arch.local"]
    assert codex["context_window"] == 272_000 and codex["default_reasoning_level"] == "medium"
    assert codex["support_verbosity"] is True and codex["default_reasoning_summary"] == "auto"
    assert claude["context_window"] == 200_000 and claude["support_verbosity"] is False
    assert local["supported_reasoning_levels"] == [] and local["input_modalities"] == ["text"]
    assert local["default_reasoning_summary"] == "none"
    assert "ollama/llama3.1" in local["description"]
    assert all(m["supports_search_tool"] is False for m in by_slug.values())  # `tool_search` is OpenAI-only


def test_retargeting_an_alias_changes_its_entry_and_the_etag() -> None:
    st = _state()
    before = catalog_etag(st)
    st.set_alias("arch.codex.default", "claude-sonnet-4-5")
    entry = next(m for m in codex_catalog(st)["models"] if m["slug"] == "arch.codex.default")
    assert entry["context_window"] == 200_000
    assert catalog_etag(st) != before


@pytest.mark.parametrize(("model", "ctx", "levels"), [
    ("claude-opus-4-5", 200_000, ("low", "medium", "high")),
    ("claude-3-5-haiku-latest", 200_000, ()),
    ("gpt-4.1-2025-04-14", 1_047_576, ()),
    ("gpt-4o-mini", 128_000, ()),
    ("o3", 200_000, ("low", "medium", "high")),
    ("grok-4-1-fast-non-reasoning", 2_000_000, ()),
    ("gemini-2.5-pro", 1_048_576, ("low", "medium", "high")),
    ("llama3.1", 128_000, ()),
    ("something-new", 128_000, ()),
])
def test_family_profiles(model: str, ctx: int, levels: tuple[str, ...]) -> None:
    p = caps_for(model)
    assert (p.context_window, p.levels) == (ctx, levels)


def test_bundled_slug_keeps_codex_numbers() -> None:
    data = load_data()
    slug = data["template_slug"]
    cfg = parse_config(textwrap.dedent(f"""\
        version: v0.4.0
        model_providers:
          - model: openai/{slug}
            access_key: k
          - model: ollama/{slug}-local
            base_url: http://127.0.0.1:11434
        """), "c.yaml", {})
    entries, _ = build_catalog(cfg, cfg.aliases)
    entry = next(e for e in entries if e["slug"] == slug)
    facts = data["bundled"][slug]
    assert entry["context_window"] == facts["context_window"]
    assert [lv["effort"] for lv in entry["supported_reasoning_levels"]] == facts["reasoning_levels"]
    assert entry["display_name"] == facts["display_name"]
    assert entry["supports_search_tool"] == facts.get("supports_search_tool", False)  # OpenAI, Responses-native


def test_wildcard_openai_serves_codex_own_models() -> None:
    cfg = parse_config("version: v0.4.0\nmodel_providers:\n  - model: openai/*\n    access_key: k\n", "c.yaml", {})
    entries, _ = build_catalog(cfg, cfg.aliases)
    assert [e["slug"] for e in entries] == list(load_data()["bundled"])


def test_catalog_stays_under_codex_size_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    st = _state()
    one = len(json.dumps(codex_catalog(st)["models"][0]).encode())
    monkeypatch.setattr(catalog, "MAX_BYTES", one * 2 + 100)
    entries, notes = build_catalog(st.config, st.aliases.items())
    assert [e["slug"] for e in entries] == ["arch.codex.default", "arch.claude"]
    assert notes["arch.local"].startswith("not served")


async def test_served_on_the_codex_catalog_request() -> None:
    st = _state()
    async with ProxyServer(st, port=0) as server, aiohttp.ClientSession() as s:
        async with s.get(f"{server.url}/v1/models", params={"client_version": "0.169.0"}) as r:
            assert r.status == 200
            doc = await r.json()
        async with s.get(f"{server.url}/v1/models") as r:
            sdk = await r.json()
    assert "models" in doc and doc["models"][0]["slug"] == "arch.codex.default"
    assert sdk["object"] == "list"  # SDK clients keep the OpenAI shape
    assert "arch.codex.default" in st.catalog_served


async def test_models_etag_changes_with_an_alias_retarget(proxy) -> None:
    """Codex refetches its catalog when `x-models-etag` on a /responses answer changes."""
    import aiohttp

    async with aiohttp.ClientSession() as s:
        async with s.get(proxy.url + "/v1/models?client_version=0.169.0") as r:
            etag = r.headers["ETag"]
        async with s.post(proxy.url + "/v1/responses", json={"model": "arch.codex.default", "input": "x"}) as r:
            assert r.headers["x-models-etag"] == etag
        proxy.state.set_alias("arch.codex.default", "llama3.1")
        async with s.post(proxy.url + "/v1/responses", json={"model": "gpt-5.3-codex", "input": "x"}) as r:
            assert r.headers["x-models-etag"] != etag
        async with s.get(proxy.url + "/v1/models?client_version=0.169.0") as r:
            assert r.headers["ETag"] == proxy.state.models_etag


async def test_record_names_the_codex_metadata_served(proxy) -> None:
    import aiohttp

    from proxy.events import RequestFinished

    from .conftest import eventually

    recs: list = []
    proxy.state.bus.subscribe(lambda e: recs.append(e.record) if isinstance(e, RequestFinished) else None)
    async with aiohttp.ClientSession() as s:
        async with s.get(proxy.url + "/v1/models?client_version=0.169.0") as r:
            assert r.status == 200
        async with s.post(proxy.url + "/v1/responses", json={"model": "arch.codex.default", "input": "x"}) as r:
            assert r.status == 200
    await eventually(lambda: recs)
    assert recs[-1].metadata and "codex_model_metadata" in recs[-1].metadata
