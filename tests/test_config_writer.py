"""proxy.config_writer: aliases written back to config.yaml, everything else byte-for-byte intact."""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

import pytest

from proxy.config import load_config
from proxy.config_writer import write_aliases

from .config_corpus import LEGACY_CONFIG

CONFIG = LEGACY_CONFIG  # comments, both key-variable forms, and all three alias forms
ENV = {"OPENAI_API_KEY": "sk-real-secret-1", "ANTHROPIC_API_KEY": "sk-ant-real-secret-2"}


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    p = tmp_path / "config.yaml"
    p.write_text(CONFIG)
    return p


def changed_lines(before: str, after: str) -> list[str]:
    return [ln for ln in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]


def test_long_form_target_changes_and_everything_else_is_kept(cfg: Path) -> None:
    changed = write_aliases(cfg, {"arch.codex.default": "claude-sonnet-4-5"})
    assert changed == ["arch.codex.default"]
    after = cfg.read_text()
    diff = changed_lines(CONFIG, after)
    assert diff == ["-    target: gpt-5.3-codex   # keep in sync with the team",
                    "+    target: claude-sonnet-4-5 # keep in sync with the team"]
    comments = re.findall(r"#.*", CONFIG)
    assert len(comments) == 5 and all(comment in after for comment in comments)
    assert load_config(cfg, ENV).aliases[0].target == "claude-sonnet-4-5"


def test_short_form_and_flow_form_keep_their_shape(cfg: Path) -> None:
    changed = write_aliases(cfg, {"arch.claude": "llama3.1", "arch.local": "gpt-5.3-codex"})
    assert sorted(changed) == ["arch.claude", "arch.local"]
    diff = changed_lines(CONFIG, cfg.read_text())
    assert '+  arch.claude: "llama3.1"' in diff  # quoting style kept
    assert "+  arch.local: {target: gpt-5.3-codex, fallbacks: [gpt-5.3-codex]}" in diff
    assert len(diff) == 4
    aliases = {a.name: (a.target, a.fallbacks) for a in load_config(cfg, ENV).aliases}
    assert aliases["arch.local"] == ("gpt-5.3-codex", ("gpt-5.3-codex",))


def test_secrets_are_never_expanded_and_order_is_kept(cfg: Path) -> None:
    write_aliases(cfg, {"arch.codex.default": "llama3.1"})
    after = cfg.read_text()
    assert "$OPENAI_API_KEY" in after and "${ANTHROPIC_API_KEY}" in after
    assert "sk-real-secret" not in after
    keys = [ln.split(":")[0] for ln in after.splitlines() if ln and not ln[0].isspace() and not ln.startswith("#")]
    assert keys == ["version", "listeners", "model_providers", "routing", "model_aliases"]


def test_unchanged_aliases_do_not_rewrite_the_file(cfg: Path) -> None:
    before = cfg.stat().st_mtime_ns
    os.utime(cfg, ns=(before - 10_000_000_000, before - 10_000_000_000))
    stamp = cfg.stat().st_mtime_ns
    assert write_aliases(cfg, {"arch.codex.default": "gpt-5.3-codex", "arch.claude": "claude-sonnet-4-5"}) == []
    assert cfg.stat().st_mtime_ns == stamp
    assert cfg.read_text() == CONFIG


def test_new_alias_is_appended_and_missing_section_is_created(tmp_path: Path) -> None:
    p = tmp_path / "config.yaml"
    p.write_text("version: v0.4.0\nmodel_providers:\n  - model: openai/gpt-5.3-codex\n    access_key: $K  # key\n")
    os.chmod(p, 0o640)
    assert write_aliases(p, {"arch.new": "gpt-5.3-codex"}) == ["arch.new"]
    after = p.read_text()
    assert after.startswith("version: v0.4.0\nmodel_providers:\n  - model: openai/gpt-5.3-codex\n"
                            "    access_key: $K  # key\n")
    assert "model_aliases:\n  arch.new:\n    target: gpt-5.3-codex\n" in after
    assert oct(p.stat().st_mode & 0o777) == "0o640"  # permissions survive the atomic replace
    assert load_config(p, {"K": "x"}).aliases[0].name == "arch.new"


def test_aliases_not_mentioned_are_left_alone(cfg: Path) -> None:
    write_aliases(cfg, {"arch.local": "claude-sonnet-4-5"})
    after = cfg.read_text()
    assert "    target: gpt-5.3-codex   # keep in sync with the team" in after
    assert 'arch.claude: "claude-sonnet-4-5"' in after


def test_bad_top_level_is_rejected_and_file_untouched(tmp_path: Path) -> None:
    p = tmp_path / "config.yaml"
    p.write_text("- just\n- a list\n")
    with pytest.raises(ValueError):
        write_aliases(p, {"a": "b"})
    assert p.read_text() == "- just\n- a list\n"
    assert [f.name for f in tmp_path.iterdir()] == ["config.yaml"]  # no temp file left behind
