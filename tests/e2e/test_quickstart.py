"""The seed's quick start, word for word, after installing the project as `pipx install .` would: the
installed `planoai` script, a demo folder with a config.yaml, the API keys exported, `planoai up`, then
`planoai cli-agent codex`: once exactly as written, Codex's interactive UI in a terminal answering a
prompt; once with Codex's non-interactive `exec` after `--`, to check the whole run (what the upstream
got, the background process's installation) and the commands that replace `pretty_model_resolution.sh`
and stop it: `logs`, `status`, `down`.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import shlex
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.config_corpus import CLAUDE, CODEX, plano_config, provider_at
from tests.fakes import Script, responses_events
from tests.planoai_cmd import Terminal, kill_leftover, recorded_pid

from .harness import AgentRun, E2EUpstream, free_port
from .test_codex import CODEX_EXEC
from .tool_install import install_tool

pytestmark = pytest.mark.e2e

DEMO = "demos/llm_routing/codex_router"


@pytest.fixture(scope="session")
def planoai_tool(tmp_path_factory: pytest.TempPathFactory, worker_id: str, testrun_uid: str) -> Path:
    """One install per run, not per xdist worker: building the wheel and the venv costs ~8 CPU-s. Workers
    share the parent of their temporary folders, and the folder is named by the run's id (never an earlier
    run's tool); the first builds under a lock and the others use the finished, never-modified tool."""
    try:
        if worker_id == "master":
            return install_tool(tmp_path_factory.mktemp("pipx"))
        root = tmp_path_factory.getbasetemp().parent / f"pipx-{testrun_uid}"
        with root.with_suffix(".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            if not (root / "bin").is_dir():  # install_tool creates bin/ last
                shutil.rmtree(root, ignore_errors=True)  # what a failed attempt left
                install_tool(root)
        return root / "bin"
    except LookupError as exc:
        pytest.skip(str(exc))


def demo_config(upstream_url: str, port: int) -> str:
    """The demo's shape (keys from the environment, `arch.codex.default`), its providers on the fake."""
    return plano_config(provider_at(upstream_url, CODEX, default=True), provider_at(upstream_url, CLAUDE),
                        aliases={"arch.codex.default": "gpt-5.3-codex"}, port=port)


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    state = tmp_path / "state"
    try:
        yield state
    finally:
        kill_leftover(state)


def process_argv(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


async def sh(script: str, cwd: Path, env: dict[str, str], timeout: float = 120) -> AgentRun:
    proc = await asyncio.create_subprocess_exec(
        "bash", "-c", script, cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, 9)
            await proc.wait()
    return AgentRun(proc.returncode or 0, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


def user_shell(tmp_path: Path, planoai_tool: Path, codex_bin: str, state_dir: Path,
               upstream_url: str) -> tuple[Path, int, dict[str, str]]:
    """The demo folder and a user's shell environment: the installed `planoai` and `codex` (npm install -g)
    on PATH, nothing of this checkout; a private HOME, CODEX_HOME and planoai state directory."""
    demo = tmp_path / DEMO
    demo.mkdir(parents=True)
    port = free_port()
    (demo / "config.yaml").write_text(demo_config(upstream_url, port))
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "codex_home").mkdir()
    dev_bin = str(Path(sys.executable).parent)
    path = [str(planoai_tool), str(Path(codex_bin).parent)]
    path += [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != dev_bin]
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "OPENAI_API_KEY", "ANTHROPIC_API_KEY")
           and not k.startswith("PLANOAI_")}
    env |= {"PATH": os.pathsep.join(path), "HOME": str(home), "CODEX_HOME": str(tmp_path / "codex_home"),
            "PLANOAI_STATE_DIR": str(state_dir)}
    return demo, port, env


async def test_quick_start_with_codex_exec(planoai_tool: Path, e2e_upstream: E2EUpstream, tmp_path: Path,
                                          state_dir: Path, codex_bin: str) -> None:
    demo, port, env = user_shell(tmp_path, planoai_tool, codex_bin, state_dir, e2e_upstream.url)
    ws = tmp_path / "ws"
    ws.mkdir()
    e2e_upstream.script("/responses", Script(frames=responses_events("gpt-5.3-codex", "QUICKSTART-ANSWER")))

    exec_args = shlex.join([*CODEX_EXEC, "-C", str(ws), "say hi"])
    run = await sh(f"""set -e
        # 1) Enter this demo directory
        cd {DEMO}
        # 2) Set API keys
        export OPENAI_API_KEY="your-openai-key-here"
        export ANTHROPIC_API_KEY="your-anthropic-key-here"
        # 3) Start Plano
        planoai up
        # 4) Launch Codex through Plano
        planoai cli-agent codex -- {exec_args}
        """, tmp_path, env)
    assert run.returncode == 0, run.describe()
    assert f"planoai: proxy up on http://127.0.0.1:{port}/v1" in run.stdout, run.describe()
    assert run.agent_messages() == ["QUICKSTART-ANSWER"], run.describe()
    assert "-m arch.codex.default" in run.stderr  # the seed's promise: the alias exists, so Codex uses it
    [captured] = [c for c in e2e_upstream.requests if c.path.endswith("/responses")]
    assert captured.json["model"] == "gpt-5.3-codex"
    assert captured.headers["Authorization"] == "Bearer your-openai-key-here"  # the key exported in step 2

    pid = recorded_pid(state_dir)
    assert pid is not None
    installed = await sh("python_of=$(head -1 \"$(readlink -f \"$(command -v planoai)\")\"); echo ${python_of#'#!'}",
                         demo, env)
    assert str(planoai_tool.parent) in installed.stdout  # the pipx-style venv, not this checkout's
    assert process_argv(pid)[0].startswith(str(planoai_tool.parent))  # the background proxy runs it too

    access = state_dir / "logs" / "access.log"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while "MODEL_RESOLUTION" not in access.read_text():  # written within 50 ms of the request's end
        assert loop.time() < deadline
        await asyncio.sleep(0.02)
    watch = await sh("planoai logs", demo, env)  # in place of `sh pretty_model_resolution.sh`
    assert "MODEL_RESOLUTION: req_model='arch.codex.default' -> resolved_model='gpt-5.3-codex'" in watch.stdout
    status = await sh("planoai status --plain", demo, env)
    assert status.returncode == 0 and "req=1" in status.stdout and "arch.codex.default=gpt-5.3-codex" in status.stdout
    down = await sh("planoai down", demo, env)
    assert down.returncode == 0 and f"(pid {pid})" in down.stderr, down.describe()
    gone = await sh("planoai status", demo, env)
    assert gone.returncode == 1


QUICK_START = f"""
    # 1) Enter this demo directory
    cd {DEMO}
    # 2) Set API keys
    export OPENAI_API_KEY="your-openai-key-here"
    export ANTHROPIC_API_KEY="your-anthropic-key-here"
    # 3) Start Plano
    planoai up
    # 4) Launch Codex through Plano
    planoai cli-agent codex
"""


async def test_quick_start_interactive_codex(planoai_tool: Path, e2e_upstream: E2EUpstream, tmp_path: Path,
                                             state_dir: Path, codex_bin: str) -> None:
    """The same four steps, the last one exactly as written: Codex's own interactive UI, in a terminal."""
    demo, port, env = user_shell(tmp_path, planoai_tool, codex_bin, state_dir, e2e_upstream.url)
    # Interactive Codex sends a second request beside the turn (a thread title: "… Do not answer the
    # request. User prompt: say hi"), racing it to the upstream: every /responses answer carries the text.
    e2e_upstream.script("/responses", *(Script(frames=responses_events("gpt-5.3-codex", "INTERACTIVE-ANSWER"))
                                        for _ in range(4)))
    term = await Terminal(tmp_path, env, ["bash", "-c", "set -e" + QUICK_START]).start()
    try:
        await term.wait_for(f"proxy up on http://127.0.0.1:{port}/v1".encode(), 60)
        await term.wait_for(b"Ask Codex to do anything", 60)  # Codex's prompt, with the proxy's model
        assert b"arch.codex.default" in term.text()
        term.press(b"say hi")
        await term.wait_for(b"say hi", 20)  # echoed in the composer: now Enter submits it
        term.press(b"\r")
        await term.wait_for(b"INTERACTIVE-ANSWER", 60)
    finally:
        await term.close()
    first = next(c for c in e2e_upstream.requests if c.path.endswith("/responses"))
    assert first.json["model"] == "gpt-5.3-codex"
    assert first.headers["Authorization"] == "Bearer your-openai-key-here"
    down = await sh("planoai down", demo, env)
    assert down.returncode == 0 and "stopped the proxy" in down.stderr, down.describe()
