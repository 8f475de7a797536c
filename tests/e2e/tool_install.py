"""`pipx install .` without the network: the project built as a wheel and installed, not editable, into a
venv of its own, with its `planoai` script linked into a bin folder (pipx's ~/.local/bin).

pipx and uv would fetch the dependencies from an index; a test may contact nothing but 127.0.0.1, so
the tool venv borrows the dependencies already installed in the test venv (a `.pth` line, which adds
that site-packages folder to sys.path without running its own .pth files, so the editable checkout
stays out of sight) and the wheel is built from a local package index only (pip's config is ignored).
`PLANOAI_TEST_PIP_INDEX` names that index; the default is the machine's mirror at /opt/pypi/simple.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def local_index() -> str | None:
    explicit = os.environ.get("PLANOAI_TEST_PIP_INDEX")
    if explicit:
        return explicit
    mirror = Path("/opt/pypi/simple")
    return mirror.as_uri() if (mirror / "hatchling").is_dir() else None


def _pip_env() -> dict[str, str]:
    # No config file, no user index: only what the command line names.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    return env | {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def build_wheel(out: Path, python: Path) -> Path:
    """`python`: an interpreter with pip (the test venv comes from `uv sync`, which installs no pip)."""
    index = local_index()
    if index is None:
        raise LookupError("no local package index to build the wheel from (set PLANOAI_TEST_PIP_INDEX)")
    subprocess.run([str(python), "-m", "pip", "wheel", "-q", "--no-deps", "--index-url", index, "-w", str(out),
                    str(REPO)], check=True, env=_pip_env(), capture_output=True, timeout=300)
    [wheel] = out.glob("planoai_tui-*.whl")
    return wheel


def install_tool(root: Path) -> Path:
    """Install the project like `pipx install .` under `root`; returns the bin folder holding `planoai`."""
    venv = root / "venvs" / "planoai-tui"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
    py = venv / "bin" / "python"
    wheel = build_wheel(root / "dist", py)
    tool_site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                    check=True, capture_output=True, text=True).stdout.strip())
    (tool_site / "_test_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True,
                   env=_pip_env(), capture_output=True, timeout=300)
    bin_dir = root / "bin"
    bin_dir.mkdir()
    (bin_dir / "planoai").symlink_to(venv / "bin" / "planoai")
    return bin_dir
