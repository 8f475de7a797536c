"""Config compatibility: Plano configs load unchanged; each validation error names file, line, key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from proxy.config import ConfigError, discover_config, load_config, parse_config
from proxy.wire.providers import Api

from . import plano_validator
from .config_corpus import CLAUDE, CODEX, LLAMA, plano_config, provider
from .conftest import SHARED

REPO = Path(__file__).resolve().parents[1]


def cfg(text: str, env: dict[str, str] | None = None):
    return parse_config(textwrap.dedent(text), "c.yaml", env or {})


def error_of(text: str, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        cfg(text, env)
    return info.value


def test_bundled_seed_config_loads_without_keys() -> None:
    c = load_config(REPO / "config.yaml", environ={})
    names = [p.name for p in c.providers]
    assert names == ["openai/gpt-5.3-codex", "xai/grok-4-1-fast-non-reasoning", "ollama/llama3.1"]
    assert c.default_provider and c.default_provider.model_id == "gpt-5.3-codex"
    assert [(a.name, a.target) for a in c.aliases] == [("arch.codex.default", "gpt-5.3-codex")]
    assert {p.name: p.key_status for p in c.providers} == {
        "openai/gpt-5.3-codex": "missing",
        "xai/grok-4-1-fast-non-reasoning": "missing",
        "ollama/llama3.1": "none",
    }
    assert [r.name for r in c.routing_preferences] == ["code generation", "project understanding"]
    assert c.listener.port == 12000 and c.listener.host == "127.0.0.1"


def test_keys_from_env_and_dotenv_merge(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        "version: v0.4.0\nmodel_providers:\n  - model: openai/gpt-4o\n    access_key: $OPENAI_API_KEY\n"
        "  - model: anthropic/claude-x\n    access_key: ${ANTHROPIC_API_KEY}\n"
    )
    (tmp_path / ".env").write_text("# keys\nexport OPENAI_API_KEY='from-dotenv'\nANTHROPIC_API_KEY=dot\n")
    c = load_config(tmp_path / "config.yaml", environ={"ANTHROPIC_API_KEY": "from-env"})
    keys = {p.name: p.access_key for p in c.providers}
    assert keys == {"openai/gpt-4o": "from-dotenv", "anthropic/claude-x": "from-env"}  # env wins over .env
    assert all(p.key_status == "ok" for p in c.providers)
    assert "from-dotenv" not in repr(c.providers[0])  # secrets stay out of reprs


def test_provider_table_urls_and_base_url_path_rule() -> None:
    c = cfg(
        """
        model_providers:
          - model: groq/llama-3.3-70b
            access_key: k
          - model: gemini/gemini-2.5-pro
            access_key: k
          - model: zhipu/glm-4
            access_key: k
          - model: ollama/qwen3
            base_url: http://localhost:11434
          - model: openrouter/anthropic/claude-sonnet-4
            access_key: k
            base_url: https://openrouter.ai/api/v1
          - model: vllm/my-model
            base_url: http://127.0.0.1:8000/v1
            provider_interface: openai
          - model: azure_openai/gpt-4o
            base_url: https://x.openai.azure.com
            access_key: k
        """
    )
    from proxy.upstream import upstream_url

    by = {p.model: p for p in c.providers}
    assert upstream_url(by["groq/llama-3.3-70b"], Api.CHAT, "m") == "https://api.groq.com/openai/v1/chat/completions"
    assert upstream_url(by["gemini/gemini-2.5-pro"], Api.CHAT, "m").endswith("/v1beta/openai/chat/completions")
    assert upstream_url(by["zhipu/glm-4"], Api.CHAT, "m") == "https://open.bigmodel.cn/api/paas/v4/chat/completions"
    assert upstream_url(by["ollama/qwen3"], Api.CHAT, "m") == "http://localhost:11434/v1/chat/completions"
    assert by["openrouter/anthropic/claude-sonnet-4"].model_id == "anthropic/claude-sonnet-4"
    assert upstream_url(by["vllm/my-model"], Api.CHAT, "m") == "http://127.0.0.1:8000/v1/chat/completions"
    assert "deployments/gpt-4o/chat/completions?api-version=" in upstream_url(
        by["azure_openai/gpt-4o"], Api.CHAT, "gpt-4o"
    )


@pytest.mark.parametrize("version", ["v0.1", "v0.1.0", "0.1-beta", "0.2.0", "v0.3.0", "v0.4.0"])
def test_every_version_and_legacy_forms(version: str) -> None:
    c = cfg(
        f"""
        version: {version}
        listeners:
          ingress_traffic: {{address: 0.0.0.0, port: 10000}}
          egress_traffic: {{address: 0.0.0.0, port: 12345, message_format: openai, timeout: 30s}}
        llm_providers:
          - name: gpt
            model: openai/gpt-4o
            access_key: $OPENAI_API_KEY
            default: true
          - model: anthropic/*
            access_key: $ANTHROPIC_API_KEY
        prompt_targets:
          - name: x
        """,
        {"OPENAI_API_KEY": "a"},
    )
    assert c.listener.port == 12345 and c.listener.timeout_s == 30
    assert c.providers[0].name == "gpt" and c.providers[1].wildcard
    assert c.providers[1].key_status == "missing" and c.providers[1].key_env == "ANTHROPIC_API_KEY"
    assert any("prompt_targets" in w for w in c.warnings)


def test_listener_list_form_and_inline_routing_migration() -> None:
    c = cfg(
        """
        version: v0.3.0
        listeners:
          - type: prompt
            name: p
            port: 10000
          - type: model
            name: m
            port: 12001
        model_providers:
          - model: openai/gpt-5
            access_key: k
            routing_preferences:
              - name: code generation
                description: first description wins
          - model: openai/gpt-4.1
            access_key: k
            routing_preferences:
              - name: code generation
                description: ignored second description
              - name: code understanding
                description: explain code
        routing:
          route_on_user_only: true
        overrides:
          llm_routing_model: plano/Arch-Router
        """
    )
    assert c.listener.port == 12001
    prefs = {p.name: p for p in c.routing_preferences}
    assert prefs["code generation"].models == ("openai/gpt-5", "openai/gpt-4.1")
    assert prefs["code generation"].description == "first description wins"
    assert prefs["code understanding"].models == ("openai/gpt-4.1",)
    assert c.routing["route_on_user_only"] is True and c.overrides["llm_routing_model"] == "plano/Arch-Router"


def test_v04_top_level_preferences() -> None:
    c = cfg(
        """
        version: v0.4.0
        model_providers:
          - model: openai/gpt-5
            access_key: k
          - model: anthropic/claude-sonnet-4-5
            access_key: k
        routing_preferences:
          - name: code generation
            description: write code
            models: [openai/gpt-5, claude-sonnet-4-5]
            selection_policy: {prefer: none}
        """
    )
    assert c.routing_preferences[0].models == ("openai/gpt-5", "claude-sonnet-4-5")


@pytest.mark.parametrize(
    ("text", "line", "key", "needle"),
    [
        ("model_providers:\n  - model: gpt-4o\n", 2, "model_providers[0].model", "<provider>/<model_id>"),
        ("version: v9\n", 1, "version", "unsupported version"),
        ("model_providers:\n  - model: ollama/llama3\n", 2, "model_providers[0]", "needs a base_url"),
        ("model_providers:\n  - model: foo/bar\n", 2, "model_providers[0].model", "unknown provider prefix"),
        (
            "model_providers:\n  - model: openai/a\n    access_key: k\n    default: true\n"
            "  - model: openai/b\n    access_key: k\n    default: true\n",
            7,
            "model_providers[1].default",
            "at most one",
        ),
        ("model_providers:\n  - model: openai/*\n    default: true\n", 3, "model_providers[0].default", "wildcard"),
        (
            "model_providers:\n  - model: openai/a\n    access_key: k\nmodel_aliases:\n  fast:\n    target: nope\n",
            6,
            "model_aliases.fast.target",
            "which no provider serves",
        ),
        (
            "model_providers:\n  - model: openai/a\n    provider_interface: openai\n",
            3,
            "model_providers[0].provider_interface",
            "built-in provider",
        ),
        ("model_providers: []\nllm_providers: []\n", 2, "llm_providers", "both"),
        (
            "model_providers:\n  - model: openai/a\n    base_url: localhost:1\n",
            3,
            "model_providers[0].base_url",
            "not an http",
        ),
        ("listeners:\n  - type: model\n    port: 99999\n", 3, "listeners[0].port", "0-65535"),
        (
            "model_providers:\n  - model: openai/a\n    name: x\n  - model: openai/b\n    name: x\n",
            5,
            "model_providers[1].name",
            "duplicate provider name",
        ),
        ("model_providers:\n  - model: [unclosed\n", 3, "", "began on line 2"),
    ],
)
def test_validation_errors_name_file_line_and_key(text: str, line: int, key: str, needle: str) -> None:
    err = error_of(text)
    assert err.path == "c.yaml" and err.line == line and err.key == key
    assert needle in str(err)
    assert str(err).startswith(f"c.yaml:{line}:")


def test_fix_hints_are_given() -> None:
    err = error_of("model_providers:\n  - model: gpt-4o\n")
    assert "hint: e.g. `model: openai/gpt-4o`" in str(err)


def test_discovery_order(tmp_path: Path) -> None:
    assert discover_config(None, tmp_path) is None
    (tmp_path / "plano_config.yaml").write_text("version: v0.4.0\n")
    assert discover_config(None, tmp_path) == tmp_path / "plano_config.yaml"
    (tmp_path / "config.yaml").write_text("version: v0.4.0\n")
    assert discover_config(None, tmp_path) == tmp_path / "config.yaml"
    assert discover_config("x.yaml", tmp_path) == Path("x.yaml")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")


def test_headers_and_passthrough_auth() -> None:
    c = cfg(
        """
        model_providers:
          - model: openai/gpt-4o
            passthrough_auth: true
            headers: {X-Team: "$TEAM"}
        """,
        {"TEAM": "core"},
    )
    p = c.providers[0]
    assert p.key_status == "passthrough" and dict(p.headers) == {"X-Team": "core"}


@pytest.mark.skipif(not (SHARED / "reference").exists(), reason="shared/ reference not beside the repo")
def test_shared_reference_exists() -> None:
    assert (SHARED / "reference" / "plano.md").exists()


def test_timeouts_and_heartbeat_from_overrides() -> None:
    from proxy.state import ProxyOptions

    c = cfg(
        """
        overrides:
          upstream_connect_timeout: 2s
          upstream_idle_timeout: 90
          heartbeat_interval: 500ms
          max_request_body_mb: 8
        """
    )
    o = ProxyOptions.from_config(c, drain_s=1.0)
    assert (o.connect_timeout_s, o.idle_timeout_s, o.heartbeat_s, o.max_body_bytes, o.drain_s) == (
        2.0, 90.0, 0.5, 8 * 1024 * 1024, 1.0)
    d = ProxyOptions.from_config(cfg("version: v0.4.0\n"))
    assert (d.connect_timeout_s, d.idle_timeout_s, d.heartbeat_s) == (5.0, 300.0, 10.0)


# ----------------------------------------------------------------------------- provider quirks (sidecar)

# One provider per wire API, two of them named. The tests below point into it by index (model_providers[1])
# and by line (config.yaml:13), so its order and fields are part of what they assert.
QUIRKS_CONFIG = plano_config(
    provider(CODEX, key="$OPENAI_API_KEY", default=True),
    provider(LLAMA, name="local", base_url="http://127.0.0.1:11434"),
    provider(CLAUDE, name="claude", key="$ANTHROPIC_API_KEY"),
)


def quirks_pair(tmp_path: Path, sidecar: str) -> Path:
    (tmp_path / "config.yaml").write_text(QUIRKS_CONFIG)
    (tmp_path / "config.tui.yaml").write_text(textwrap.dedent(sidecar))
    return tmp_path / "config.yaml"


def test_sidecar_quirk_switches_load(tmp_path: Path) -> None:
    path = quirks_pair(
        tmp_path,
        """\
        # config.tui.yaml
        model_providers:
          - name: local
            quirks:
              ollama_reasoning_dropped: false
              thinking_not_forwarded: true      # the default, said out loud
          - model: openai/gpt-5.3-codex
            quirks: {default_tool_fields_omitted: false, large_max_tokens_dropped: false}
        """,
    )
    c = load_config(path, {"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k"})
    off = {p.name: p.quirks_off for p in c.providers}
    assert off == {
        "local": {"ollama_reasoning_dropped"},
        "openai/gpt-5.3-codex": {"default_tool_fields_omitted", "large_max_tokens_dropped"},
        "claude": frozenset(),
    }
    assert not [w for w in c.warnings if "Plano" in w]  # nothing Plano would refuse: it never reads the sidecar


@pytest.mark.parametrize(
    ("sidecar", "line", "key", "needle"),
    [
        (
            "model_providers:\n  - name: local\n    quirks:\n      ollama_reasoning_dropped: false\n"
            "      no_such: false\n",
            5,
            "model_providers[1].quirks.no_such",
            "unknown quirk 'no_such'",
        ),
        (
            "model_providers:\n  - model: openai/gpt-5.3-codex\n    quirks: {ollama_reasoning_dropped: false}\n",
            3,
            "model_providers[0].quirks.ollama_reasoning_dropped",
            "applies only to ollama providers, not 'openai'",
        ),
        (
            "model_providers:\n  - name: claude\n    quirks:\n      thinking_not_forwarded: false\n",
            4,
            "model_providers[2].quirks.thinking_not_forwarded",
            "adapts requests to the chat API, which this provider does not speak",
        ),
        (
            "model_providers:\n  - name: local\n    quirks:\n      ollama_reasoning_dropped: off please\n",
            4,
            "model_providers[1].quirks.ollama_reasoning_dropped",
            "must be true or false",
        ),
        (
            "model_providers:\n  - name: local\n    quirks: [ollama_reasoning_dropped]\n",
            3,
            "model_providers[1].quirks",
            "must be a mapping of quirk: false",
        ),
    ],
)
def test_sidecar_quirk_errors_name_the_sidecar_file_line_and_key(
    tmp_path: Path, sidecar: str, line: int, key: str, needle: str
) -> None:
    path = quirks_pair(tmp_path, sidecar)
    with pytest.raises(ConfigError) as info:
        load_config(path, {"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k"})
    err = info.value
    assert (err.path, err.line, err.key) == (str(tmp_path / "config.tui.yaml"), line, key), str(err)
    assert needle in str(err)
    assert str(err).startswith(f"{tmp_path / 'config.tui.yaml'}:{line}: {key}: ")


def test_unknown_quirk_hint_lists_the_known_ones(tmp_path: Path) -> None:
    path = quirks_pair(tmp_path, "model_providers:\n  - name: local\n    quirks: {think_less: false}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, {"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k"})
    assert "hint: known quirks: ollama_reasoning_dropped, thinking_not_forwarded" in str(info.value)


def test_sidecar_upstream_api_loads_and_a_bad_one_names_the_sidecar_line(tmp_path: Path) -> None:
    """`upstream_api` is ours (Plano refuses it in config.yaml): it belongs in the sidecar like `quirks`."""
    path = quirks_pair(tmp_path, "model_providers:\n  - model: openai/gpt-5.3-codex\n    upstream_api: chat\n")
    c = load_config(path, {"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k"})
    assert c.provider_named("openai/gpt-5.3-codex").preferred_api is Api.CHAT
    assert not [w for w in c.warnings if "Plano" in w], c.warnings
    quirks_pair(tmp_path, "model_providers:\n  - model: openai/gpt-5.3-codex\n    upstream_api: telnet\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, {"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k"})
    assert "config.tui.yaml:3" in str(err.value) and "upstream_api" in str(err.value), str(err.value)


def test_inline_quirks_load_with_a_warning_naming_the_sidecar() -> None:
    inline = QUIRKS_CONFIG.replace(
        "    base_url: http://127.0.0.1:11434\n",
        "    base_url: http://127.0.0.1:11434\n    quirks: {ollama_reasoning_dropped: false}\n",
    )
    c = parse_config(inline, "config.yaml", {"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k"})
    assert c.provider_named("local").quirks_off == {"ollama_reasoning_dropped"}
    warned = [w for w in c.warnings if "Plano" in w]
    assert len(warned) == 1 and warned[0].startswith("config.yaml:13: model_providers[1].quirks"), warned
    assert "move it to the sidecar" in warned[0]


@pytest.mark.slow
@pytest.mark.skipif(not plano_validator.available(), reason=plano_validator.MISSING)
def test_plano_accepts_the_config_with_quirks_in_the_sidecar_and_refuses_them_inline(tmp_path: Path) -> None:
    path = quirks_pair(tmp_path, "model_providers:\n  - name: local\n    quirks: {ollama_reasoning_dropped: false}\n")
    inline = tmp_path / "inline" / "config.yaml"
    inline.parent.mkdir()
    inline.write_text(QUIRKS_CONFIG.replace(
        "    base_url: http://127.0.0.1:11434\n",
        "    base_url: http://127.0.0.1:11434\n    quirks: {ollama_reasoning_dropped: false}\n",
    ))
    verdicts = plano_validator.validate([path, inline])
    assert verdicts[str(path.resolve())] is None
    assert "Additional properties are not allowed" in (verdicts[str(inline.resolve())] or "")
