"""The generated model catalog, validated by the real Codex decoder (`codex debug models`).

One bad entry makes Codex reject the whole catalog, and over HTTP it logs the error without the field
name (docs/codex-wire.md §2); `codex debug models -c model_catalog_json=PATH` prints the exact serde error.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from proxy.catalog import build_catalog, load_data
from proxy.config import parse_config

pytestmark = pytest.mark.e2e

# Every family rule, a bundled slug, a wildcard and a routed model.
WIDE_CONFIG = textwrap.dedent("""\
    version: v0.4.0
    model_providers:
      - model: openai/gpt-5.3-codex
        access_key: k
        default: true
      - model: openai/gpt-4.1-2025-04-14
        access_key: k
      - model: openai/gpt-5.5
        access_key: k
      - model: anthropic/claude-sonnet-4-5
        access_key: k
      - model: anthropic/claude-3-5-haiku-latest
        access_key: k
      - model: xai/grok-4-1-fast-non-reasoning
        access_key: k
      - model: gemini/gemini-2.5-pro
        access_key: k
      - model: deepseek/deepseek-chat
        access_key: k
      - model: mistral/devstral-medium
        access_key: k
      - model: groq/openai/gpt-oss-120b
        access_key: k
      - model: ollama/llama3.1
        base_url: http://127.0.0.1:11434
      - model: ollama/qwen3-coder:30b
        base_url: http://127.0.0.1:11434
      - model: local/some-unknown-model
        base_url: http://127.0.0.1:8000
        provider_interface: openai
      - model: openai/*
        access_key: k
    model_aliases:
      arch.codex.default: {target: gpt-5.3-codex}
      arch.claude: {target: claude-sonnet-4-5}
      arch.local: {target: llama3.1}
    routing_preferences:
      - name: code understanding
        description: explain code
        models: [anthropic/claude-sonnet-4-5, openai/gpt-4.1-2025-04-14]
    """)


def codex_decode(codex_bin: str, catalog: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog), encoding="utf-8")
    home = tmp_path / "codex_home"
    home.mkdir(exist_ok=True)
    return subprocess.run([codex_bin, "debug", "models", "-c", f"model_catalog_json={path}"],
                          env={**os.environ, "CODEX_HOME": str(home)}, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def decoded_models(proc: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    out = proc.stdout
    return {m["slug"]: m for m in json.loads(out[out.index("{"):])["models"]}


def test_generated_catalog_decodes(codex_bin: str, tmp_path: Path) -> None:
    config = parse_config(WIDE_CONFIG, "wide.yaml", {})
    entries, notes = build_catalog(config, config.aliases)
    proc = codex_decode(codex_bin, {"models": entries}, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    models = decoded_models(proc)
    assert list(models) == [e["slug"] for e in entries]  # nothing dropped or renamed by the decoder
    assert set(notes) == set(models)
    checked = ("arch.codex.default", "arch.claude", "arch.local", "gpt-5.5", "gpt-6-sol", "openai/gpt-4.1-2025-04-14")
    for slug in checked:
        assert models[slug]["apply_patch_tool_type"] == "freeform", slug
        assert models[slug]["base_instructions"] == load_data()["template"]["base_instructions"]
    assert models["arch.claude"]["context_window"] == 200_000
    assert [lv["effort"] for lv in models["arch.claude"]["supported_reasoning_levels"]] == ["low", "medium", "high"]
    assert models["arch.local"]["supported_reasoning_levels"] == []
    assert models["openai/gpt-4.1-2025-04-14"]["context_window"] == 1_047_576
    assert models["gpt-5.5"]["context_window"] == load_data()["bundled"]["gpt-5.5"]["context_window"]


def test_codex_rejects_a_bad_entry(codex_bin: str, tmp_path: Path) -> None:
    """The validator itself: `apply_patch_tool_type: "function"` fails the whole catalog."""
    config = parse_config(WIDE_CONFIG, "wide.yaml", {})
    entries, _ = build_catalog(config, config.aliases)
    entries[1] = {**entries[1], "apply_patch_tool_type": "function"}
    proc = codex_decode(codex_bin, {"models": entries}, tmp_path)
    assert proc.returncode != 0
    assert "apply_patch_tool_type" in proc.stderr or "function" in proc.stderr, proc.stderr[-2000:]
