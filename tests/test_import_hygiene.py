"""The proxy core, the headless front end and the non-dashboard commands never import Textual; `proxy` is our
package; the dashboard reaches the proxy only through its boundary."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "module",
    [
        "proxy",
        "proxy.server",
        "proxy.handler",
        "proxy.translate",
        "proxy.routing",
        "plano_tui.headless",
        "plano_tui.cli",
        # Commands that borrow a pure module of the dashboard package (format, forensics): borrowing it
        # must not load Textual.
        "plano_tui.observe",
        "plano_tui.replay",
    ],
)
def test_core_does_not_import_textual(module: str) -> None:
    code = (
        f"import importlib, sys; importlib.import_module({module!r}); "
        "bad = [m for m in sys.modules if m == 'textual' or m.startswith('textual.')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_proxy_is_our_package() -> None:
    import proxy

    assert Path(proxy.__file__).resolve().parent == REPO / "proxy"
    assert (REPO / "proxy" / "server.py").exists()


def _contract(contract_id: str) -> dict:
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    return next(c for c in contracts if c.get("id") == contract_id)


# The dashboard and its boundary, as pyproject.toml's import-linter contract names them: this test and
# `lint-imports` (.ci/run) check one rule.
_BOUNDARY_CONTRACT = _contract("dashboard-boundary")
DASHBOARD = [m.replace(".", "/") + ("" if (REPO / m.replace(".", "/")).is_dir() else ".py")
             for m in _BOUNDARY_CONTRACT["source_modules"]]
# The front-end boundary (proxy/frontend.py) and the record types: all the dashboard may know of the proxy.
BOUNDARY = {rule.split("->")[1].strip() for rule in _BOUNDARY_CONTRACT["ignore_imports"]}


def proxy_imports(path: Path) -> set[str]:
    """Every `proxy…` module a file imports, at the top or inside a function."""
    import ast

    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "proxy"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "proxy":
            names = {f"{node.module}.{a.name}" for a in node.names} if node.module == "proxy" else {node.module}
            found |= {n for n in names if n is not None}
    return found


def test_the_dashboard_knows_the_proxy_only_through_the_front_end_boundary() -> None:
    files = [p for entry in DASHBOARD for p in ((REPO / entry).rglob("*.py") if (REPO / entry).is_dir()
                                                  else [REPO / entry])]
    assert len(files) > 10
    crossing = {str(f.relative_to(REPO)): sorted(proxy_imports(f) - BOUNDARY) for f in files}
    assert {f: mods for f, mods in crossing.items() if mods} == {}
    # … and the boundary itself reaches no further into the core than the record and statistics types.
    import ast

    tree = ast.parse((REPO / "proxy" / "frontend.py").read_text())
    relative = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 1}
    assert relative == {"events", "stats"}


def test_the_dashboard_contract_names_the_boundary() -> None:
    assert {"proxy.frontend", "proxy.events"} == BOUNDARY
    assert all((REPO / entry).exists() for entry in DASHBOARD)


def test_import_linter_contracts_hold() -> None:
    """pyproject.toml's layer contracts (translators → wire only, proxy ↛ plano_tui, the dashboard boundary)."""
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        lint = Path(shutil.which("lint-imports") or "lint-imports")
    proc = subprocess.run([str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_prometheus_client_loads_at_the_first_scrape_not_at_start_up() -> None:
    """Metrics are on by default, but prometheus-client (~85 ms of import) is needed only to render a
    scrape: a proxy with metrics installed and requests folded has not imported it."""
    code = (
        "import sys\n"
        "from proxy.config import parse_config\n"
        "from proxy.server import ProxyServer\n"
        "from proxy.state import ProxyState\n"
        "from proxy.telemetry import install\n"
        "cfg = parse_config('version: v0.4.0\\nmodel_providers:\\n  - model: openai/gpt-5.3-codex\\n"
        "    access_key: k\\n    default: true\\n', 'c.yaml', {})\n"
        "tel = install(ProxyServer(ProxyState(cfg), host='127.0.0.1', port=0))\n"
        "tel.metrics.fold()\n"
        "before = any(m.startswith('prometheus_client') for m in sys.modules)\n"
        "text = tel.metrics.render()\n"
        "print(before, b'brightstaff_build_info' in text)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == ["False", "True"], proc.stdout + proc.stderr
