"""What is the least a session can cost? Issue #14 asks sessions on ≤ 3 % against off; this measures what
each part of the session path costs by cutting the router short in copies of the tree, and what a pure
computation of known cost reads as in the same harness (its calibration).

Each variant is a copy of this tree with `TaskRouter.route`'s session branch replaced, saturated side by
side (CPU 1) with the unmodified tree with sessions off, both with Codex's `session-id` on every small
request and a priced model (bench_telemetry's `--issue14` configs, the same method and both orders):

- `nothing`: the branch returns at once (what sessions on costs when no session work runs: the A/A);
- `ref`: the session's reference only (prefix facts, session headers, the prefix hash);
- `ref + lookup`: and one dict lookup of its binding;
- `ref + touch + info`: and the least a warm turn can do: its binding's last use, and the `RouteInfo`
  every routed record carries downstream (metrics, the turn log);
- `ref + bind`: the real binding, no `RouteInfo`;
- `full`: the tree as it is;
- `calibration`: no session work, a 40-iteration dict loop instead (time it with `timeit` to read µs).

    .venv/bin/python bench/session_floor.py            # ~5 minutes
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from bench_proxy import SMALL
from bench_telemetry import ISSUE14, PRICES, PY, ROOT, compare
from common import free_port, pin, scratch_dir

ANCHOR = '            if not hasattr(self.sessions, "prefetch"):'
CUTS = {
    "nothing": "return resolution, None",
    "ref": "self._session_ref(client_api, body, headers)\n{i}return resolution, None",
    "ref + lookup": "self.sessions._data.get(self._session_ref(client_api, body, headers).key)\n"
                    "{i}return resolution, None",
    "ref + touch + info": "ref = self._session_ref(client_api, body, headers)\n"
                          "{i}b = self.sessions._data.get(ref.key)\n"
                          "{i}if b is None:\n"
                          "{i}    return self._session_only(ref, client_api, body, headers, resolution, resolver)\n"
                          "{i}b.last_used = self.sessions.clock()\n"
                          "{i}return resolution, self._session_info(ref.session_id, True, False, 'allowed', "
                          "'same_anchor')",
    "ref + bind": "ref = self._session_ref(client_api, body, headers)\n"
                  "{i}self._session_only(ref, client_api, body, headers, resolution, resolver)\n"
                  "{i}return resolution, None",
    "full": None,
    "calibration": "_burn()\n{i}return resolution, None",
}
BURN = '''

_BURN = {i: i for i in range(64)}


def _burn() -> int:
    t = 0
    for i in range(40):
        t += _BURN[i]
    return t
'''


def variant(into: Path, cut: str | None) -> Path:
    """A copy of the tree's sources with the session branch cut to `cut` (None: unchanged)."""
    for d in ("proxy", "plano_tui"):
        shutil.copytree(ROOT / d, into / d, ignore=shutil.ignore_patterns("__pycache__"))
    if cut is not None:
        path = into / "proxy" / "routing" / "router.py"
        src = path.read_text()
        if ANCHOR not in src:
            sys.exit(f"{path.relative_to(into)} no longer has the session branch this bench cuts: update ANCHOR")
        indent = " " * 16
        src = src.replace(ANCHOR, f"            if True:\n{indent}{cut.format(i=indent)}\n{ANCHOR}", 1)
        path.write_text(src + (BURN if "_burn" in cut else ""))
    subprocess.run([PY, "-m", "compileall", "-q", str(into)], check=True)
    return into


def main() -> None:
    if not shutil.which("wrk"):
        sys.exit("needs wrk (apt-get install wrk)")
    tmp = scratch_dir()
    up_port = free_port()
    upstream = subprocess.Popen([*pin(0), PY, str(ROOT / "bench" / "upstream_server.py"), str(up_port)])
    try:
        prices = tmp / "prices.json"
        prices.write_text(json.dumps(PRICES))
        off, on = tmp / "off.yaml", tmp / "on.yaml"
        off.write_text(ISSUE14.format(port=up_port)
                       + f"model_metrics_sources:\n  - {{type: cost, provider: models.dev, url: {prices}}}\n")
        on.write_text(off.read_text() + "prompt_caching:\n  enabled: true\n")
        headers = {"session-id": "bench-session-1"}
        print("sessions on (variant) / sessions off (this tree), small requests with session-id, both orders")
        for i, (name, cut) in enumerate(CUTS.items()):
            src = ROOT if cut is None else variant(tmp / f"v{i}", cut)
            ratio, fwd, back, _ = compare((ROOT, off, ()), (src, on, ()), SMALL, 5, 3, ("off", name), headers)
            print(f"  {name:20s} {ratio:.3f}   ({', '.join(f'{x:.3f}' for x in fwd)} | "
                  f"{', '.join(f'{x:.3f}' for x in back)})", flush=True)
    finally:
        upstream.terminate()


if __name__ == "__main__":
    main()
