"""The README's first lines are the commands CI runs: a newcomer's set-up is what is tested."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def first_block() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block is not None
    return [line.split("  #", 1)[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_readme_setup_lines_are_what_ci_runs() -> None:
    start, tests = first_block()
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    install, _, run = start.partition(" && ")
    assert install == "bash scripts/install.sh" and run == ".venv/bin/planoai tui"
    install, _, test_cmd = tests.partition(" && ")
    assert install == "bash scripts/install.sh"
    assert any(line.startswith("bash scripts/install.sh") for line in ci)
    assert test_cmd in ci  # the README's test command, verbatim, is CI's last step
    assert ci[-1] == test_cmd

