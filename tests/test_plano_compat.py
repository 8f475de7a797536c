"""One config file, both tools: Plano 0.4.39's own validator (tests/plano_validator.py) is the judge.

- config.yaml, the standard test configs and the documented examples pass Plano's validator as written;
- every config in tests/ that we accept either passes Plano or carries a warning naming what Plano rejects;
- our extensions live in the sidecar `<stem>.tui.yaml`, merged over the config, errors naming its lines;
- the old inline form still loads, with a warning, and Plano really does refuse it;
- Plano keys we do not implement are named in warnings.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from proxy.config import ConfigError, load_config, parse_config
from proxy.config_ext import PLANO
from proxy.reload import ConfigReloader
from proxy.state import ProxyState

from . import plano_validator
from .config_corpus import (
    PLANO_CONFIG,
    REPO,
    built_configs,
    configs_in_tests,
    doc_configs,
    files_building_configs,
    shared_configs,
)
from .conftest import FAKE_KEYS, proxy_config_yaml
from .e2e.harness import write_config

needs_plano = pytest.mark.skipif(not plano_validator.available(), reason=plano_validator.MISSING)
pytestmark = pytest.mark.slow  # most tests here run Plano's validator in a child: scheduled first (tests/conftest.py)

SIDECAR = textwrap.dedent(
    """\
    # config.tui.yaml: planoai-tui's extensions, same key paths as config.yaml
    model_aliases:
      arch.codex.default:
        fallbacks: [claude-sonnet-4-5, llama3.1]
    model_providers:
      - name: local
        fallbacks: [gpt-5.3-codex]
    routing:
      backend: local
      router_timeout_ms: 1500
    overrides:
      cooldown_failures: 5
    """
)


def _plano_refusals(warnings: tuple[str, ...]) -> list[str]:
    return [w for w in warnings if PLANO in w]


def _inline(after: str, line: str, text: str = PLANO_CONFIG) -> str:
    """`text` with `line` (an extension written inline) added after the first line starting with `after`."""
    lines = text.splitlines(keepends=True)
    at = next(i for i, ln in enumerate(lines) if ln.startswith(after)) + 1
    return "".join([*lines[:at], line, *lines[at:]])


@pytest.fixture
def pair(tmp_path: Path) -> Path:
    (tmp_path / "config.yaml").write_text(PLANO_CONFIG)
    (tmp_path / "config.tui.yaml").write_text(SIDECAR)
    return tmp_path / "config.yaml"


# ------------------------------------------------------------------ the sidecar, without Plano


def test_sidecar_merges_over_the_config(pair: Path) -> None:
    c = load_config(pair, FAKE_KEYS)
    assert _plano_refusals(c.warnings) == []
    assert c.aliases[0].fallbacks == ("claude-sonnet-4-5", "llama3.1")
    assert c.provider_named("local").fallbacks == ("gpt-5.3-codex",)
    assert c.routing["backend"] == "local" and c.routing["route_on_user_only"] is True
    assert c.overrides["cooldown_failures"] == 5
    from proxy.routing.settings import load

    s = load(c)
    assert (s.backend, s.timeout_s, s.route_on_user_only) == ("local", 1.5, True)


@pytest.mark.parametrize(
    ("sidecar", "line", "key", "words"),
    [
        ("model_aliases:\n  arch.codex.default:\n    fallbacks: [nope]\n", 3, "fallbacks", "not a configured model"),
        ("model_providers:\n  - name: local\n    fallbacks: [nope]\n", 3, "fallbacks", "not a configured model"),
        ("routing:\n  backend: local\n  route_on_user_only: false\n", 3, "route_on_user_only", "Plano's own keys"),
        ("model_aliases:\n  ghost:\n    fallbacks: [llama3.1]\n", 2, "ghost", "not defined in the config"),
        ("model_providers:\n  - model: openai/x\n    fallbacks: [llama3.1]\n", 2, "model_providers[0]", "no provider"),
        ("prompt_caching:\n  enabled: true\n", 1, "prompt_caching", "Plano's own keys"),
        ("model_aliases: [\n", 2, "", "invalid YAML"),
    ],
)
def test_sidecar_errors_name_the_sidecar_file_and_line(
    pair: Path, sidecar: str, line: int, key: str, words: str
) -> None:
    (pair.parent / "config.tui.yaml").write_text(sidecar)
    with pytest.raises(ConfigError) as info:
        load_config(pair, FAKE_KEYS)
    err = info.value
    assert err.path == str(pair.parent / "config.tui.yaml")
    assert err.line == line, str(err)
    assert key in err.key and words in str(err), str(err)


def test_inline_extensions_still_load_with_a_warning_naming_the_sidecar(tmp_path: Path) -> None:
    inline = _inline("  route_on_user_only:", "  backend: local\n",
                     _inline("    target: gpt-5.3-codex", "    fallbacks: [llama3.1]\n"))
    (tmp_path / "config.yaml").write_text(inline)
    c = load_config(tmp_path / "config.yaml", FAKE_KEYS)
    assert c.aliases[0].fallbacks == ("llama3.1",) and c.routing["backend"] == "local"
    warned = _plano_refusals(c.warnings)
    assert len(warned) == 2, warned
    lines = inline.splitlines()
    fallbacks, backend = lines.index("    fallbacks: [llama3.1]") + 1, lines.index("  backend: local") + 1
    assert warned[0].startswith(f"{tmp_path / 'config.yaml'}:{fallbacks}: model_aliases.arch.codex.default.fallbacks")
    assert warned[1].startswith(f"{tmp_path / 'config.yaml'}:{backend}: routing.backend")
    assert all("config.tui.yaml" in w and "rejects" in w for w in warned)


def test_unimplemented_plano_keys_are_named() -> None:
    base = proxy_config_yaml("http://127.0.0.1:9")
    base = base.replace("    port: 12000\n", "    port: 12000\n    address: 0.0.0.0\n    max_retries: 2\n")
    text = base + textwrap.dedent(
        """\
        routing:
          session_cache: {type: redis, url: "redis://127.0.0.1:6379", tenant_header: x-tenant}
        overrides:
          disable_signals: true
          upstream_tls_ca_path: /etc/ssl/certs/ca-certificates.crt
        tracing:
          random_sampling: 10
        """
    )
    c = parse_config(text, "c.yaml", FAKE_KEYS)
    named = "\n".join(c.warnings)
    for key in (
        "overrides.disable_signals",
        "overrides.upstream_tls_ca_path",
        "listeners[0].address",
        "listeners[0].max_retries",
    ):
        assert f"{key} is a Plano key this proxy does not implement" in named, key
    # Implemented since issue #18 (Redis-shared sessions, OTLP traces): not claimed missing.
    for key in ("routing.session_cache", "tracing.random_sampling"):
        assert key not in named, key


def test_reload_watches_the_sidecar(pair: Path) -> None:
    state = ProxyState(load_config(pair, FAKE_KEYS))
    reloader = ConfigReloader(state, pair, watch=False)
    (pair.parent / "config.tui.yaml").write_text("model_aliases:\n  arch.codex.default:\n    fallbacks: [llama3.1]\n")
    ok, _ = reloader.reload_now()
    assert ok and state.config.aliases[0].fallbacks == ("llama3.1",)
    (pair.parent / "config.tui.yaml").write_text("routing:\n  route_on_user_only: false\n")
    ok, msg = reloader.reload_now()
    assert not ok and "config.tui.yaml:2" in msg and state.config.aliases[0].fallbacks == ("llama3.1",)


# ------------------------------------------------------------------ Plano's validator as the peer


@needs_plano
def test_shipped_and_standard_configs_pass_planos_validator(pair: Path, tmp_path: Path) -> None:
    e2e_dir = tmp_path / "e2e"
    e2e_dir.mkdir()
    e2e = write_config(e2e_dir, "http://127.0.0.1:9", "gpt-5.3-codex", codex_fallbacks=["llama3.1"])
    assert (e2e_dir / "config.tui.yaml").is_file()
    files = {
        "config.yaml": REPO / "config.yaml",
        "config + sidecar (Plano reads the config only)": pair,
        "e2e harness config with fallbacks": e2e,
    }
    verdicts = plano_validator.validate(files.values())
    assert {name: verdicts[str(path.resolve())] for name, path in files.items()} == dict.fromkeys(files)
    standard = plano_validator.validate_text({"conftest": proxy_config_yaml("http://127.0.0.1:9")})
    assert standard == {"conftest": None}
    for path in files.values():  # and we read each without a word about Plano
        assert _plano_refusals(load_config(path, FAKE_KEYS).warnings) == []


@needs_plano
def test_inline_extensions_are_what_plano_refuses(tmp_path: Path) -> None:
    inline = {
        "alias fallbacks": _inline("    target: gpt-5.3-codex", "    fallbacks: [llama3.1]\n"),
        "provider fallbacks": _inline("    default: true", "    fallbacks: [llama3.1]\n"),
        "provider upstream_api": _inline("    default: true", "    upstream_api: chat\n"),
        "routing.backend": _inline("  route_on_user_only:", "  backend: local\n"),
        "routing.router_timeout_ms": _inline("  route_on_user_only:", "  router_timeout_ms: 500\n"),
        "routing.local_min_score": _inline("  route_on_user_only:", "  local_min_score: 0.5\n"),
    }
    verdicts = plano_validator.validate_text(inline)
    for name, text in inline.items():
        assert "Additional properties are not allowed" in (verdicts[name] or ""), name
        warned = _plano_refusals(parse_config(text, "config.yaml", FAKE_KEYS).warnings)
        assert warned and "move it to" in warned[0], name


@needs_plano
def test_every_config_in_tests_we_accept_plano_accepts_or_we_say_why_not() -> None:
    """The corpus: each YAML config literal in tests/ (and each fragment over the standard test config).
    A config we accept without a word about Plano must pass Plano's validator; one Plano refuses must
    have drawn a warning naming Plano."""
    entries = configs_in_tests()
    assert len(entries) >= 30  # the extractor still finds the tests' configs
    listed = {e.name.partition(":")[0] for e in shared_configs() + built_configs()}
    assert files_building_configs() <= listed  # and each config built with plano_config is listed
    verdicts = plano_validator.validate_text({e.name: e.text for e in entries})
    silent_but_refused, checked, passed = [], 0, 0
    for e in entries:
        try:
            c = parse_config(e.text, "c.yaml", FAKE_KEYS)
        except ConfigError:
            continue  # we refuse it too
        checked += 1
        if verdicts[e.name] is None:
            passed += 1
        elif not _plano_refusals(c.warnings):
            silent_but_refused.append(f"{e.name}: {verdicts[e.name]}")
    assert silent_but_refused == []
    assert checked >= 20 and passed >= 8, (checked, passed)


@needs_plano
def test_documented_configs_pass_planos_validator() -> None:
    """The README's config examples pass Plano as written, and its sidecar examples load over the config
    they follow."""
    entries = doc_configs(REPO / "README.md")
    plano = [e for e in entries if e.sidecar is None]
    assert plano and any(e.sidecar for e in entries)
    verdicts = plano_validator.validate_text({e.name: e.text for e in plano})
    assert verdicts == dict.fromkeys(verdicts)
    for e in entries:
        side = (e.sidecar, "config.tui.yaml") if e.sidecar else None
        c = parse_config(e.text, "config.yaml", FAKE_KEYS, sidecar=side)
        assert _plano_refusals(c.warnings) == [], e.name
