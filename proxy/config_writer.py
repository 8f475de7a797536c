"""Write runtime alias targets back into `config.yaml` without disturbing anything else.

The dashboard's `ctrl+s` calls `write_aliases()`. A round-trip load/dump (ruamel.yaml) keeps comments,
key order, quoting and `$VAR` references as written — secrets are never expanded into the file, because
the values we write are model names only. Only the `target` of each changed alias is touched; an alias
written in short form (`alias: model`) stays in short form. The file is replaced atomically, so the
config watcher never sees a half-written file.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString
from ruamel.yaml.util import load_yaml_guess_indent

_TOP_KEY = re.compile(r"^[^\s#-][^:]*:\s*(#.*)?$")


def _mapping_indent(text: str) -> int:
    """Indent of keys nested under a top-level mapping key (2 for Plano's templates)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not _TOP_KEY.match(line):
            continue
        for nxt in lines[i + 1 :]:
            stripped = nxt.lstrip()
            if not stripped or stripped.startswith("#"):
                continue
            indent = len(nxt) - len(stripped)
            if indent > 0 and not stripped.startswith("-"):
                return indent
            break
    return 2


def _like(old: Any, value: str) -> Any:
    """`value` in the quoting style of the scalar it replaces."""
    if isinstance(old, DoubleQuotedScalarString):
        return DoubleQuotedScalarString(value)
    if isinstance(old, SingleQuotedScalarString):
        return SingleQuotedScalarString(value)
    return value


def _yaml_for(text: str) -> YAML:
    yaml = YAML()  # round-trip mode
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long lines
    try:
        _, seq_indent, seq_offset = load_yaml_guess_indent(text)
    except Exception:
        seq_indent, seq_offset = None, None
    yaml.indent(mapping=_mapping_indent(text), sequence=seq_indent or 4, offset=seq_offset or 2)
    return yaml


def write_aliases(path: str | Path, aliases: Mapping[str, str]) -> list[str]:
    """Set `model_aliases.<alias>.target` for each alias whose target differs from the file.

    Aliases in the file but not in `aliases` are left alone; new ones are appended. Returns the names
    that changed (empty: the file was not rewritten). Raises OSError or a ruamel error on bad input.
    """
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    yaml = _yaml_for(text)
    data = yaml.load(text)
    if data is None:
        data = CommentedMap()
    if not isinstance(data, dict):
        raise ValueError(f"{p}: the top level is not a mapping")
    section = data.get("model_aliases")
    if section is None:
        section = CommentedMap()
        data["model_aliases"] = section
    if not isinstance(section, dict):
        raise ValueError(f"{p}: model_aliases is not a mapping")
    changed: list[str] = []
    for name, target in aliases.items():
        spec = section.get(name)
        if isinstance(spec, dict):
            if spec.get("target") != target:
                spec["target"] = _like(spec.get("target"), target)
                changed.append(name)
        elif isinstance(spec, str):
            if spec != target:
                section[name] = _like(spec, target)
                changed.append(name)
        else:  # absent (or malformed): write the canonical long form
            entry = CommentedMap()
            entry["target"] = target
            section[name] = entry
            changed.append(name)
    if not changed:
        return []
    out = io.StringIO()
    yaml.dump(data, out)
    _atomic_write(p, out.getvalue())
    return changed


def _atomic_write(path: Path, text: str) -> None:
    mode = path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:  # the original stays intact; only the temp file goes
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
