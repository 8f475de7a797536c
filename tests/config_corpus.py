"""Every config this repository ships, tests or documents, as text: config.yaml, the YAML string literals
of tests/ (whole configs, and the fragments tests append to the standard test config), and the ```yaml
blocks of README.md (fragments merged over config.yaml, as the README presents them).

A block whose first line is a comment naming a `*.tui.yaml` file is a sidecar (proxy.config_ext): it is
returned separately, paired with the config it extends, because Plano never reads it.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import yaml

from proxy.config import KNOWN_SECTIONS

REPO = Path(__file__).resolve().parents[1]
_FENCE = re.compile(r"```yaml\n(.*?)```", re.S)
_SIDECAR_COMMENT = re.compile(r"^#\s*(\S+\.tui\.yaml)\b")
_URL = "http://127.0.0.1:9"


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
    from .conftest import proxy_config_yaml

    return proxy_config_yaml(_URL)


def _with_fragment(base: str, fragment: str) -> str:
    data = yaml.safe_load(base)
    data.update(yaml.safe_load(textwrap.dedent(fragment)))
    return yaml.safe_dump(data, sort_keys=False)


def configs_in_tests() -> list[Entry]:
    base = _base_test_config()
    out: list[Entry] = []
    seen: set[str] = set()
    for path in sorted((REPO / "tests").rglob("*.py")):
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
