"""Plano 0.4.39's own config validator as a test peer (installed by .ci/install_plano.sh).

`planoai up` validates a config with `planoai.native_runner.native_validate_config` (schema, then its
config generator's checks) and only then starts downloading Envoy; we call that same function in
Plano's own environment (.tools/plano-venv, never ours: it ships a `planoai` script too), with HOME in a
temporary folder because it writes its rendered files under ~/.plano/run. Nothing touches the network.
One process validates a whole batch: importing Plano costs about half a second.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLANOAI = REPO / ".tools" / "plano-venv" / "bin" / "planoai"
PLANO_PYTHON = PLANOAI.parent / "python"
MISSING = f"Plano's CLI is not installed at {PLANOAI.relative_to(REPO)}: run `bash .ci/install_plano.sh`"

# Plano parses its 100 KB schema YAML (pure-Python PyYAML) twice per config it validates: about two thirds
# of a batch's CPU time. The script memoises `yaml.safe_load` by input text and hands out deep copies, so
# every call returns exactly what a fresh parse would; Plano's code and verdicts are untouched.
_SCRIPT = """
import contextlib, copy, functools, io, json, sys
from importlib.metadata import version
import yaml
_parse = functools.lru_cache(maxsize=None)(yaml.safe_load)
def _safe_load(stream):
    text = stream if isinstance(stream, str | bytes) else stream.read()
    return copy.deepcopy(_parse(text))
yaml.safe_load = _safe_load
from planoai.native_runner import native_validate_config
out = {"version": version("planoai"), "results": {}}
for path in json.load(sys.stdin):
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            native_validate_config(path)
        out["results"][path] = None
    except BaseException as exc:  # SystemExit included: report, keep going
        out["results"][path] = str(exc).strip() or type(exc).__name__
print(json.dumps(out))
"""


def available() -> bool:
    return PLANOAI.is_file() and PLANO_PYTHON.is_file()


def validate(paths: Iterable[Path | str]) -> dict[str, str | None]:
    """path → None (Plano accepts it) or Plano's error text."""
    files = [str(Path(p).resolve()) for p in paths]
    with tempfile.TemporaryDirectory(prefix="plano-home-") as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PLANO")}
        env["HOME"] = home
        proc = subprocess.run(
            [str(PLANO_PYTHON), "-c", _SCRIPT],
            input=json.dumps(files),
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"Plano's validator did not run: {proc.stderr.strip()[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["version"] == "0.4.39", f"expected planoai 0.4.39, found {out['version']}"
    return {str(Path(p)): err for p, err in out["results"].items()}


def validate_text(texts: dict[str, str]) -> dict[str, str | None]:
    """name → verdict, for configs held as text."""
    with tempfile.TemporaryDirectory(prefix="plano-configs-") as tmp:
        paths = {}
        for i, (name, text) in enumerate(texts.items()):
            p = Path(tmp) / f"c{i}.yaml"
            p.write_text(text, encoding="utf-8")
            paths[name] = str(p.resolve())
        verdicts = validate(paths.values())
        return {name: verdicts[p] for name, p in paths.items()}
