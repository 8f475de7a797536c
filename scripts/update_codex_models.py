"""Regenerate proxy/data/codex_models.json from the installed Codex CLI's bundled model catalog.

    .venv/bin/python scripts/update_codex_models.py [--codex PATH]

Runs `codex debug models --bundled` (Codex's own catalog, the one it uses when talking to OpenAI) and
keeps only what `proxy.catalog` needs to describe aliases and routed models to Codex:

- one *template* entry — the bundled model whose request shape is the classic Responses request
  (`use_responses_lite: false`, no `tool_mode`): its system prompt (`base_instructions`, Codex's own
  text) and tool settings (`apply_patch_tool_type: freeform`, `shell_type`, truncation policy);
- per bundled slug, the facts that differ between models (context window, reasoning levels,
  modalities, verbosity), so a config that names a bundled model gets its real numbers.

Entries built on the code-mode models (`tool_mode: code_mode_only`, `use_responses_lite`) would make
Codex send `additional_tools` input items and no `tools` at all, which no other provider understands.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "proxy" / "data" / "codex_models.json"
PREFERRED_TEMPLATE = "gpt-5.5"
TEMPLATE_FIELDS = (
    "shell_type",
    "include_skills_usage_instructions",
    "include_plugin_usage_instructions",
    "include_apps_usage_instructions",
    "default_verbosity",
    "apply_patch_tool_type",
    "truncation_policy",
    "effective_context_window_percent",
    "experimental_supported_tools",
    "base_instructions",
)
BUNDLED_FIELDS = (
    "display_name",
    "visibility",
    "context_window",
    "default_reasoning_level",
    "input_modalities",
    "support_verbosity",
    "supports_search_tool",
)


def find_codex(explicit: str | None) -> str:
    for cand in (explicit, os.environ.get("PLANOAI_CODEX_BIN"), str(ROOT / ".tools/node_modules/.bin/codex"),
                 shutil.which("codex")):
        if cand and Path(cand).exists():
            return cand
    sys.exit("codex not found: run .ci/install_clients.sh or pass --codex PATH")


def bundled_catalog(codex: str) -> tuple[str, list[dict[str, Any]]]:
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "CODEX_HOME": home}
        version = subprocess.run([codex, "--version"], env=env, capture_output=True, text=True, check=True)
        out = subprocess.run([codex, "debug", "models", "--bundled"], env=env, capture_output=True, text=True,
                             check=True)
    return version.stdout.split()[-1], json.loads(out.stdout)["models"]


def is_classic(m: dict[str, Any]) -> bool:
    return not m.get("use_responses_lite") and not m.get("tool_mode") and m.get("apply_patch_tool_type") == "freeform"


def extract(version: str, models: list[dict[str, Any]]) -> dict[str, Any]:
    classic = [m for m in models if is_classic(m)]
    if not classic:
        sys.exit("no bundled model with the classic Responses request shape; proxy/catalog.py needs a review")
    template = next((m for m in classic if m["slug"] == PREFERRED_TEMPLATE), classic[0])
    descriptions: dict[str, str] = {}
    for m in models:
        for level in m.get("supported_reasoning_levels") or []:
            descriptions.setdefault(level["effort"], level["description"])
    bundled = {}
    for m in models:
        facts = {k: m[k] for k in BUNDLED_FIELDS if k in m}
        facts["reasoning_levels"] = [lv["effort"] for lv in m.get("supported_reasoning_levels") or []]
        bundled[m["slug"]] = facts
    return {
        "_about": (
            f"Extracted by scripts/update_codex_models.py from `codex debug models --bundled` of @openai/codex "
            f"{version}. template.base_instructions is Codex's own system prompt for {template['slug']}, "
            "produced by the installed client; served back to Codex unchanged."
        ),
        "codex_version": version,
        "template_slug": template["slug"],
        "template": {k: template[k] for k in TEMPLATE_FIELDS if k in template},
        "reasoning_descriptions": descriptions,
        "bundled": bundled,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--codex", help="path to the codex binary")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    version, models = bundled_catalog(find_codex(args.codex))
    data = extract(version, models)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: template {data['template_slug']}, {len(data['bundled'])} bundled slugs, codex {version}")


if __name__ == "__main__":
    main()
