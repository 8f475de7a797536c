"""The proxy core and the headless front end never import Textual; `proxy` is our package."""

from __future__ import annotations

import subprocess
import sys
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
