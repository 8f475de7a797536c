"""Accuracy and latency of the task-aware routing backends on a labelled set of coding-agent prompts.

    .venv/bin/python bench/routing_eval.py                   # print the report
    .venv/bin/python bench/routing_eval.py --write bench/results_routing.md
    .venv/bin/python bench/routing_eval.py --sweep           # local_min_score sweep on the dev split

Data: bench/data/routing_prompts.jsonl, one prompt per line with its intent (generation /
understanding / none), a dev/test split and optional earlier user messages (`history`). Each prompt is
routed under both seed configs, Plano's Codex demo ("code generation" / "project understanding") and
its Claude Code demo ("code generation" / "code understanding"), through the real `TaskRouter.decide`
(conversation parsing, session keys, backend, timeout), with turn pinning off so every decision is
fresh.

Backends:
- local: the offline lexical router (proxy/routing/local.py).
- llm: the router-LLM backend against a loopback fake router model that answers from the labels. Its
  accuracy is 100 % by construction; it is here to exercise the protocol (the prompt is parsed back on
  the fake side) and to show the proxy-side overhead of an LLM router call on loopback. A real
  Arch-Router / Plano-Orchestrator adds its own inference time (typically tens to hundreds of ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import pct

from proxy.config import Config, parse_config
from proxy.resolve import AliasTable, Resolver
from proxy.routing.router import TaskRouter
from proxy.wire.providers import Api

DATA = ROOT / "bench" / "data" / "routing_prompts.jsonl"
GEN = "generating new code snippets, functions, or boilerplate based on user prompts or requirements"
# Seed configs (docs/plano-compat.md §3.6, §5.4). The Codex demo's "project understanding" wording is ours: the
# reference names the route but not its description.
SEEDS: dict[str, dict[str, str]] = {
    "codex": {
        "code generation": GEN,
        "project understanding": "understand repository structure, codebase, and code files, readmes, "
        "and other documentation",
    },
    "claude": {
        "code generation": GEN,
        "code understanding": "understand and explain existing code snippets, functions, or libraries",
    },
}
INTENT_ROUTE = {
    "codex": {"generation": "code generation", "understanding": "project understanding", "none": None},
    "claude": {"generation": "code generation", "understanding": "code understanding", "none": None},
}


def seed_yaml(seed: str, routing: dict[str, Any], extra: str = "") -> str:
    """A Plano v0.3 config shaped like the seed demo: inline routes, migrated by proxy.config."""
    (n1, d1), (n2, d2) = SEEDS[seed].items()
    lines = [
        "version: v0.3.0",
        "model_providers:",
        "  - model: openai/gpt-5.3-codex",
        "    access_key: sk-bench",
        "    default: true",
        "    routing_preferences:",
        f"      - name: {n1}",
        f"        description: {d1}",
        "  - model: openai/gpt-5-2025-08-07",
        "    access_key: sk-bench",
        "    routing_preferences:",
        f"      - name: {n2}",
        f"        description: {d2}",
    ]
    return "\n".join(lines) + "\n" + extra + "routing: " + json.dumps(routing) + "\n"


def load_rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]


def body_for(row: dict[str, Any]) -> dict[str, Any]:
    msgs: list[dict[str, str]] = []
    for h in row.get("history", []):
        msgs += [{"role": "user", "content": h}, {"role": "assistant", "content": "Sure, here is my plan."}]
    msgs.append({"role": "user", "content": row["prompt"]})
    return {"model": "gpt-5.3-codex", "messages": msgs}


async def run_backend(config: Config, rows: list[dict[str, Any]], seed: str, session: Any) -> list[dict[str, Any]]:
    router = TaskRouter(config, lambda: session)
    resolver = Resolver(config, AliasTable(config.aliases))
    out = []
    for row in rows:
        res = resolver.resolve("gpt-5.3-codex")
        t0 = time.perf_counter()
        d = await router.decide(Api.CHAT, body_for(row), {}, res, resolver)
        ms = (time.perf_counter() - t0) * 1000
        expected = INTENT_ROUTE[seed][row["intent"]]
        err = d.info.reason if d.info and d.info.reason and "no route matched" not in d.info.reason else None
        out.append({**row, "seed": seed, "expected": expected, "got": d.route, "ms": ms, "error": err})
    return out


# ------------------------------------------------------------------ the loopback fake router model


class FakeRouter:
    """Answers Plano-format router prompts from the labels: {"route": [<labelled route>]}."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.intent = {r["prompt"]: r["intent"] for r in rows}
        self.calls = 0
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        prompt = (await request.json())["messages"][0]["content"]
        routes = [
            json.loads(line)["name"] for line in prompt.split("<routes>\n", 1)[1].split("\n</routes>")[0].splitlines()
        ]
        convo = json.loads(prompt.split("<conversation>\n", 1)[1].split("\n</conversation>")[0])
        last = next(m["content"] for m in reversed(convo) if m["role"] == "user")
        intent = self.intent.get(last, "none")
        seed = "codex" if "project understanding" in routes else "claude"
        route = INTENT_ROUTE[seed][intent]
        answer = json.dumps({"route": [route] if route else []})
        return web.json_response({"choices": [{"index": 0, "message": {"role": "assistant", "content": answer}}]})

    async def __aenter__(self) -> FakeRouter:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.runner:
            await self.runner.cleanup()


# ------------------------------------------------------------------ reporting




def accuracy(results: list[dict[str, Any]]) -> str:
    if not results:
        return "–"
    ok = sum(r["got"] == r["expected"] for r in results)
    return f"{ok / len(results):.1%} ({ok}/{len(results)})"


def report(by_backend: dict[str, list[dict[str, Any]]], rows: list[dict[str, Any]], min_score: float) -> str:
    lines = []
    counts = Counter(r["intent"] for r in rows)
    splits = Counter(r["split"] for r in rows)
    lines.append(
        f"Labelled set: {len(rows)} prompts ({counts['generation']} generation, {counts['understanding']} "
        f"understanding, {counts['none']} none; {splits['dev']} dev / {splits['test']} test), each routed under "
        f"both seed configs = {len(rows) * 2} decisions per backend. Machine: {platform.machine()}, "
        f"Python {platform.python_version()}. local_min_score = {min_score:g}."
    )
    lines.append("")
    lines.append(
        "| backend | accuracy (all) | dev split | test split | Codex seed | Claude seed | p50 ms | p95 ms | max ms |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for name, res in by_backend.items():
        ms = [r["ms"] for r in res]
        lines.append(
            f"| {name} | {accuracy(res)} | {accuracy([r for r in res if r['split'] == 'dev'])} | "
            f"{accuracy([r for r in res if r['split'] == 'test'])} | "
            f"{accuracy([r for r in res if r['seed'] == 'codex'])} | "
            f"{accuracy([r for r in res if r['seed'] == 'claude'])} | "
            f"{pct(ms, 50):.3f} | {pct(ms, 95):.3f} | {max(ms):.3f} |"
        )
    never = [{"got": None, "expected": r["expected"]} for r in by_backend["local"]]
    lines.append(f"| baseline: never route | {accuracy(never)} | | | | | | | |")
    local = by_backend["local"]
    lines.append("")
    lines.append("Local backend, per intent (recall), all seeds:")
    lines.append("")
    lines.append("| intent | recall | routed elsewhere | wrongly left unrouted |")
    lines.append("|---|---|---|---|")
    for intent in ("generation", "understanding", "none"):
        rs = [r for r in local if r["intent"] == intent]
        wrong_route = sum(r["got"] is not None and r["got"] != r["expected"] for r in rs)
        unrouted = sum(r["got"] is None and r["expected"] is not None for r in rs)
        lines.append(f"| {intent} | {accuracy(rs)} | {wrong_route} | {unrouted} |")
    misses = [r for r in local if r["got"] != r["expected"]]
    if misses:
        lines.append("")
        lines.append("Local backend misses:")
        lines.append("")
        for r in misses:
            lines.append(
                f"- `{r['id']}` ({r['seed']}, {r['split']}): expected {r['expected'] or 'none'}, "
                f"got {r['got'] or 'none'}: {r['prompt'][:90]}"
            )
    errors = [r for b in by_backend.values() for r in b if r["error"]]
    if errors:
        lines.append("")
        lines.append(f"Decisions that failed open: {len(errors)} (first: {errors[0]['error']})")
    return "\n".join(lines)


async def evaluate(rows: list[dict[str, Any]], min_score: float | None, with_llm: bool = True) -> dict[str, list]:
    routing: dict[str, Any] = {"backend": "local", "route_on_user_only": False}
    if min_score is not None:
        routing["local_min_score"] = min_score
    by_backend: dict[str, list[dict[str, Any]]] = {"local": []}
    async with aiohttp.ClientSession() as session:
        for seed in SEEDS:
            cfg = parse_config(seed_yaml(seed, routing), f"{seed}.yaml", {})
            by_backend["local"] += await run_backend(cfg, rows, seed, session)
        if not with_llm:
            return by_backend
        by_backend["llm (loopback fake)"] = []
        async with FakeRouter(rows) as fake:
            extra = f"  - model: ollama/arch-router\n    base_url: {fake.url}\n"
            extra += "overrides: {llm_routing_model: ollama/arch-router}\n"
            for seed in SEEDS:
                cfg = parse_config(seed_yaml(seed, {**routing, "backend": "llm"}, extra), f"{seed}-llm.yaml", {})
                by_backend["llm (loopback fake)"] += await run_backend(cfg, rows, seed, session)
            assert fake.calls == len(rows) * len(SEEDS), "every llm decision must reach the fake router"
    return by_backend


async def overhead(n: int = 300) -> list[str]:
    """Per-request cost of routing on real Codex 0.169.0 traffic (exec run: user turn, then tool output)."""
    fixture = ROOT.parent / "shared" / "fixtures" / "codex-0.169.0-tool-loops.json"
    if not fixture.exists():
        return ["(Codex fixture not found: overhead not measured)"]
    reqs = [r for r in json.loads(fixture.read_text())["runs"]["exec_ww"]["requests"] if r["method"] == "POST"]
    size = len(json.dumps(reqs[1]["body"]))
    cfg = parse_config(seed_yaml("codex", {"backend": "local"}), "codex.yaml", {})
    bare = parse_config(seed_yaml("codex", {"backend": "local"}).replace("routing_preferences", "x_unused"), "b", {})
    rows = []
    for label, config, req, fresh in (
        ("no preferences configured (hot path)", bare, reqs[0], False),
        ("user turn, local backend", cfg, reqs[0], True),
        ("tool-output continuation, replayed from the turn cache", cfg, reqs[1], False),
    ):
        router = TaskRouter(config)
        resolver = Resolver(config, AliasTable(config.aliases))
        res = resolver.resolve("gpt-5.3-codex")
        await router.route(Api.RESPONSES, reqs[0]["body"], reqs[0]["headers"], res, resolver, None)  # warm turn
        times = []
        for _ in range(n):
            if fresh:
                router.cache.clear()
            t0 = time.perf_counter()
            await router.route(Api.RESPONSES, req["body"], req["headers"], res, resolver, None)
            times.append((time.perf_counter() - t0) * 1000)
        rows.append(f"| {label} | {pct(times, 50):.3f} | {pct(times, 95):.3f} |")
    return [
        f"Per-request routing cost on a real Codex request ({size // 1024} KB body, {len(reqs[1]['body']['input'])} "
        f"input items), {n} runs each:",
        "",
        "| path | p50 ms | p95 ms |",
        "|---|---|---|",
        *rows,
    ]


async def sweep(rows: list[dict[str, Any]]) -> None:
    dev = [r for r in rows if r["split"] == "dev"]
    for s in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0, 1.2):
        res = (await evaluate(dev, s, with_llm=False))["local"]
        print(f"local_min_score={s:<4} dev accuracy {accuracy(res)}")


HEADER = """\
## Task-aware routing: accuracy and latency (issue #5)

Reproduce: `.venv/bin/python bench/routing_eval.py --write bench/results_routing.md` (about 2 s, no
network, no GPU). `--sweep` prints the dev-split sweep used to pick `routing.local_min_score`.

Each prompt from `bench/data/routing_prompts.jsonl` goes through the real `TaskRouter.decide`
(conversation parsing, session keys, backend, timeout) under both seed configs: Plano's Codex demo
(`code generation` / `project understanding`) and its Claude Code demo (`code generation` /
`code understanding`). Turn pinning is off here, so every decision is made fresh. A decision is correct
when the router names the labelled route, or names no route for a `none` prompt (the request then keeps
its requested model).

"""
NOTES = """\
How to read this honestly:

- **The labels are ours.** One engineer wrote and labelled the prompts (realistic coding-agent asks,
  some deliberately off-topic or ambiguous). They are not Plano's router outputs and have had no second
  annotator. "Fix/refactor/rename" asks are labelled `code generation`, because they produce code and the
  seed configs have no better route.
- **Dev vs test.** The local backend's lexicon and its `local_min_score` (0.3) were tuned while looking
  at the dev split only; the test split (including the three multi-turn follow-ups) was scored once
  afterwards and not tuned on. The test-split number is the one to quote; the dev number is optimistic.
- **What the local backend is.** TF-IDF-style weighted word overlap with light stemming and a small
  coding-intent lexicon, plus a built-in "none" document for chit-chat and a software-vocabulary gate.
  It misses paraphrases outside its lexicon ("code up a script", "help me understand the locking
  strategy"), context-only follow-ups ("and what about refresh tokens?"), and confuses agent chores
  ("commit", "install the dependencies") and non-code writing ("draft an email") with routes. A
  "no route" miss is harmless (the request keeps its requested model); a wrong route sends the request
  to that route's model.
- **The llm row measures plumbing, not a model.** The fake router on loopback answers from the labels,
  so its 100 % only shows the Plano prompt/answer protocol round-trips intact. Its latency is the
  proxy-side cost (prompt build, JSON, one loopback HTTP call); a real Arch-Router-1.5B / Plano-Orchestrator
  adds its inference time on top, and `routing.router_timeout_ms` (default 3000) bounds it. No real
  router model was run for this report (none is available offline on this machine).
- Latencies are single-process wall-clock on a shared 2-core machine with other work running; treat
  them as orders of magnitude.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", type=Path, help="write the markdown report to this file")
    ap.add_argument("--sweep", action="store_true", help="sweep local_min_score on the dev split")
    ap.add_argument("--min-score", type=float, default=None, help="override routing.local_min_score")
    args = ap.parse_args()
    rows = load_rows()
    if args.sweep:
        asyncio.run(sweep(rows))
        return
    by_backend = asyncio.run(evaluate(rows, args.min_score))
    from proxy.routing.settings import DEFAULT_LOCAL_MIN_SCORE

    text = report(by_backend, rows, args.min_score if args.min_score is not None else DEFAULT_LOCAL_MIN_SCORE)
    text += "\n\n" + "\n".join(asyncio.run(overhead()))
    print(text)
    if args.write:
        args.write.write_text(HEADER + text + "\n\n" + NOTES, encoding="utf-8")


if __name__ == "__main__":
    main()
