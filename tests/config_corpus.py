"""Every config this repository ships, tests or documents, as text: config.yaml, the YAML string literals
of tests/ (whole configs, and the fragments tests append to the standard test config), and the ```yaml
blocks of README.md (fragments merged over config.yaml, as the README presents them).

A block whose first line is a comment naming a `*.tui.yaml` file is a sidecar (proxy.config_ext): it is
returned separately, paired with the config it extends, because Plano never reads it.

The configs several tests share live here too (`proxy_config_yaml`, `PLANO_CONFIG`, `LEGACY_CONFIG`,
`routed_config`), with the blocks the tests build theirs from (`plano_config`, `provider`, `provider_at`,
`standard_providers`): each is written once, and the corpus holds it rendered the way the tests render it.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from proxy.config import KNOWN_SECTIONS

REPO = Path(__file__).resolve().parents[1]
_FENCE = re.compile(r"```yaml\n(.*?)```", re.S)
_SIDECAR_COMMENT = re.compile(r"^#\s*(\S+\.tui\.yaml)\b")
_URL = "http://127.0.0.1:9"


# ----------------------------------------------------------------------------- building blocks

# The three providers most tests talk to, one per wire API: Responses, Messages, Chat.
CODEX, CLAUDE, LLAMA = "openai/gpt-5.3-codex", "anthropic/claude-sonnet-4-5", "ollama/llama3.1"
# How the configs name each prefix's key: the variable, as tests/conftest.py's FAKE_KEYS supplies it.
KEY_VARS = {"openai": "$OPENAI_API_KEY", "anthropic": "$ANTHROPIC_API_KEY", "xai": "$XAI_API_KEY"}


def provider(model: str, *, name: str | None = None, interface: str | None = None, key: str | None = None,
             base_url: str | None = None, default: bool = False) -> str:
    """One `model_providers` entry, its keys in the order the tests' configs have always written them."""
    fields = [("name", name), ("model", model), ("provider_interface", interface), ("access_key", key),
              ("base_url", base_url), ("default", "true" if default else None)]
    lines = [f"{k}: {v}" for k, v in fields if v is not None]
    return "  - " + "\n    ".join(lines) + "\n"


def provider_at(url: str, model: str, *, default: bool = False, keys: Mapping[str, str] = KEY_VARS) -> str:
    """`model` served by a loopback fake at `url` (tests/fakes.py serves all three APIs): Ollama at the root
    and keyless, any other prefix under /v1 with its key from `keys`."""
    prefix = model.partition("/")[0]
    if prefix == "ollama":
        return provider(model, base_url=url)
    return provider(model, key=keys[prefix], base_url=f"{url}/v1", default=default)


def standard_providers(url: str, *, openai_url: str | None = None, keys: Mapping[str, str] = KEY_VARS) -> str:
    """CODEX (the default), CLAUDE and LLAMA, all on the fake at `url` (CODEX on `openai_url` when given)."""
    return (provider_at(openai_url or url, CODEX, default=True, keys=keys)
            + provider_at(url, CLAUDE, keys=keys) + provider_at(url, LLAMA))


def plano_config(*providers: str, aliases: Mapping[str, str] | None = None, extra: str = "",
                 port: int | None = 12000) -> str:
    """A v0.4.0 config: Plano's model listener on `port` (no `listeners` at all when None), `providers`
    (entries as `provider` writes them), `aliases` (name → target) and `extra`, YAML appended as is."""
    text = "version: v0.4.0\n"
    if port is not None:
        text += f"listeners:\n  - type: model\n    name: model_listener\n    port: {port}\n"
    text += "model_providers:\n" + "".join(providers)
    if aliases:
        text += "model_aliases:\n" + "".join(f"  {a}:\n    target: {t}\n" for a, t in aliases.items())
    return text + extra


# ----------------------------------------------------------------------------- configs the tests share

STANDARD_ALIASES = {"arch.codex.default": "gpt-5.3-codex", "arch.claude": "claude-sonnet-4-5",
                    "arch.local": "llama3.1"}


def proxy_config_yaml(upstream_url: str, extra: str = "") -> str:
    """The standard test config: the standard providers on the fake upstream (each at its own API), an xAI
    provider whose key is never set, an alias to each standard provider; `extra` is YAML appended."""
    return plano_config(
        standard_providers(upstream_url),
        provider("xai/grok-4-1-fast-non-reasoning", key="$MISSING_XAI_KEY_FOR_TESTS"),
        aliases=STANDARD_ALIASES,
        extra=extra,
    )


# config.yaml as people keep it, and as Plano accepts it: comments, both forms of a key variable, a named
# local provider (the sidecar and config-writer tests).
PLANO_CONFIG = """\
# Plano config for Codex  (top comment)
version: v0.4.0   # trailing comment

listeners:
  - type: model
    name: model_listener
    port: 12000

model_providers:
  # OpenAI first
  - model: openai/gpt-5.3-codex
    access_key: $OPENAI_API_KEY
    default: true
  - model: anthropic/claude-sonnet-4-5
    access_key: ${ANTHROPIC_API_KEY}
  - name: local
    model: ollama/llama3.1
    base_url: http://127.0.0.1:11434

routing:
  route_on_user_only: true

model_aliases:
  # the model Codex asks for
  arch.codex.default:
    target: gpt-5.3-codex   # keep in sync with the team
"""
# PLANO_CONFIG with the alias forms we still read but Plano 0.4.39 refuses (each drawing a warning that
# names Plano): a bare target, and `fallbacks` inline instead of in the sidecar.
LEGACY_CONFIG = PLANO_CONFIG + """\
  arch.claude: "claude-sonnet-4-5"
  arch.local: {target: llama3.1, fallbacks: [gpt-5.3-codex]}
"""


def routed_config(upstream: str, flaky: str, flaky_url: str, router: str | None = None) -> str:
    """Plano's codex_router routes between two OpenAI models on `upstream` (code generation:
    gpt-5.3-codex, project understanding: gpt-5-mini), Claude beside them, and `arch.flaky`, whose target
    `flaky` (a provider/model at `flaky_url`, keyed by its prefix's variable) fails over to gpt-5-mini.
    With `router` (its URL), the Arch-Router model picks the routes; without, the local backend does.
    The telemetry and shared-state tests."""
    prefix, _, flaky_id = flaky.partition("/")
    providers = [
        provider_at(upstream, CODEX, default=True),
        provider_at(upstream, "openai/gpt-5-mini"),
        provider_at(upstream, CLAUDE),
        provider(flaky, key=f"${prefix.upper()}_API_KEY", base_url=flaky_url),
    ]
    if router:
        providers.append(provider("plano/Arch-Router-1.5B", base_url=router))
    text = plano_config(*providers, port=None)
    text += textwrap.dedent(
        f"""\
        model_aliases:
          arch.codex.default:
            target: gpt-5.3-codex
          arch.flaky:
            target: {flaky_id}
            fallbacks: [gpt-5-mini]
        routing_preferences:
          - name: code generation
            description: generating new code snippets, functions, or boilerplate based on user prompts
            models: [openai/gpt-5.3-codex]
          - name: project understanding
            description: understand repository structure, codebase, and code files, readmes, and documentation
            models: [openai/gpt-5-mini]
        """
    )
    if router:
        text += "overrides:\n  llm_routing_model: plano/Arch-Router-1.5B\n"
    return text


# ----------------------------------------------------------------------------- the corpus


@dataclass(frozen=True)
class Entry:
    name: str  # file:line
    text: str  # a whole config
    sidecar: str | None = None


def _placeholder(expr: ast.expr) -> str:
    src = ast.unparse(expr).lower()
    return _URL if "url" in src else "9" if "port" in src else "x"


def _literal(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts: list[str] = []
        for v in node.values:
            if isinstance(v, ast.Constant):
                parts.append(str(v.value))
            elif isinstance(v, ast.FormattedValue):
                after_url_key = bool(parts) and parts[-1].rstrip().endswith(("base_url:", "url:"))
                parts.append(_URL if after_url_key else _placeholder(v.value))
        return "".join(parts)
    return None


def _mapping(text: str) -> dict | None:
    try:
        data = yaml.safe_load(textwrap.dedent(text))
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


def _base_test_config() -> str:
    return proxy_config_yaml(_URL)


def _with_fragment(base: str, fragment: str) -> str:
    data = yaml.safe_load(base)
    data.update(yaml.safe_load(textwrap.dedent(fragment)))
    return yaml.safe_dump(data, sort_keys=False)


def shared_configs() -> list[Entry]:
    """The shared configs above, as the tests render them (upstreams on loopback)."""
    here = "tests/config_corpus.py"
    return [
        Entry(f"{here}: PLANO_CONFIG", PLANO_CONFIG),
        Entry(f"{here}: LEGACY_CONFIG", LEGACY_CONFIG),
        Entry(f"{here}: routed_config", routed_config(_URL, "xai/grok-down", f"{_URL}/v1")),
        Entry(f"{here}: routed_config with a router",
              routed_config(_URL, "openai/gpt-flaky", f"{_URL}/v1", router=_URL)),
        Entry(f"{here}: proxy_config_yaml", proxy_config_yaml(_URL)),
    ]


def built_configs() -> list[Entry]:
    """The configs other test files build with `plano_config` (the extractor sees only literals), rendered
    on loopback. Imported here, late: those modules import this one."""
    from .e2e.harness import e2e_config
    from .e2e.test_quickstart import demo_config
    from .test_config import QUIRKS_CONFIG
    from .test_provider_quirks import two_upstream_config
    from .test_reliability import two_provider_yaml
    from .test_routing_proxy import config_yaml

    return [
        Entry("tests/e2e/harness.py: e2e_config", e2e_config(_URL, "gpt-5.3-codex")),
        Entry("tests/e2e/harness.py: e2e_config without Claude aliases",
              e2e_config(_URL, "gpt-5.3-codex", openai_url=_URL, claude_aliases=False)),
        Entry("tests/e2e/test_quickstart.py: demo_config", demo_config(_URL, 12000)),
        Entry("tests/test_config.py: QUIRKS_CONFIG", QUIRKS_CONFIG),
        Entry("tests/test_provider_quirks.py: two_upstream_config", two_upstream_config(_URL, _URL)),
        Entry("tests/test_reliability.py: two_provider_yaml", two_provider_yaml(_URL, _URL)),
        Entry("tests/test_routing_proxy.py: config_yaml", config_yaml(_URL, None)),
        Entry("tests/test_routing_proxy.py: config_yaml with a router", config_yaml(_URL, _URL)),
    ]


def files_building_configs() -> set[str]:
    """The test files that call `plano_config`, each of which `built_configs` must cover."""
    out = set()
    for path in (REPO / "tests").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "plano_config"
               for n in ast.walk(tree)):
            out.add(str(path.relative_to(REPO)))
    return out


def configs_in_tests() -> list[Entry]:
    """The shared and built configs, then each YAML literal of the other test files (this one's are
    templates)."""
    base = _base_test_config()
    out = shared_configs() + built_configs()
    seen = {e.text for e in out}
    for path in sorted((REPO / "tests").rglob("*.py")):
        if path == Path(__file__).resolve():
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parts = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
        for node in ast.walk(tree):
            text = None if id(node) in parts else _literal(node)
            if text is None or ":" not in text or "\n" not in text.strip():
                continue
            data = _mapping(text)
            if not data or not set(data) <= KNOWN_SECTIONS or text in seen:
                continue
            seen.add(text)
            name = f"{path.relative_to(REPO)}:{node.lineno}"
            if "model_providers" in data or "llm_providers" in data:
                out.append(Entry(name, textwrap.dedent(text)))
            else:
                out.append(Entry(name + " (over the standard test config)", _with_fragment(base, text)))
    return out


def doc_configs(doc: Path) -> list[Entry]:
    """A doc's YAML blocks: whole configs, fragments (merged over config.yaml) and sidecars (paired with
    the nearest config block before them, else config.yaml)."""
    base = (REPO / "config.yaml").read_text(encoding="utf-8")
    out: list[Entry] = []
    last = base
    text = doc.read_text(encoding="utf-8")
    for m in _FENCE.finditer(text):
        block = m.group(1)
        line = text[: m.start()].count("\n") + 2
        name = f"{doc.name}:{line}"
        if _SIDECAR_COMMENT.match(block):
            out.append(Entry(name + " (sidecar)", last, sidecar=block))
            continue
        data = _mapping(block)
        if not data or not set(data) <= KNOWN_SECTIONS:
            continue
        last = block if ("model_providers" in data or "llm_providers" in data) else _with_fragment(base, block)
        out.append(Entry(name, last))
    return out
