"""The offline router on the labelled coding-agent prompt set (bench/data/routing_prompts.jsonl).

The floors are below the measured numbers (bench/results_routing.md) so lexicon tweaks can move a
prompt or two without breaking CI, but a real regression cannot hide.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from proxy.config import RoutingPreference
from proxy.routing.local import LocalBackend, features, stem

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import routing_eval  # noqa: E402


@pytest.fixture(scope="module")
def results() -> dict[str, list[dict]]:
    import asyncio

    rows = routing_eval.load_rows()
    return asyncio.run(routing_eval.evaluate(rows, None, with_llm=True))


def acc(rs: list[dict]) -> float:
    return sum(r["got"] == r["expected"] for r in rs) / len(rs)


def test_labelled_set_is_big_enough_and_balanced() -> None:
    rows = routing_eval.load_rows()
    assert len(rows) >= 60
    intents = {r["intent"] for r in rows}
    assert intents == {"generation", "understanding", "none"}
    assert all(sum(r["intent"] == i for r in rows) >= 20 for i in intents)
    assert len({r["prompt"] for r in rows}) == len(rows)


def test_local_accuracy_floor(results: dict[str, list[dict]]) -> None:
    local = results["local"]
    overall, test_split = acc(local), acc([r for r in local if r["split"] == "test"])
    print(f"\nlocal router: {overall:.1%} overall, {test_split:.1%} on the held-out test split")
    assert overall >= 0.85, overall
    assert test_split >= 0.78, test_split
    assert acc([{"got": None, "expected": r["expected"]} for r in local]) < 0.3  # far above "never route"
    assert not any(r["error"] for r in local)


def test_llm_backend_speaks_the_protocol_end_to_end(results: dict[str, list[dict]]) -> None:
    llm = results["llm (loopback fake)"]
    assert acc(llm) == 1.0 and not any(r["error"] for r in llm)


def test_local_latency_is_submillisecond_scale(results: dict[str, list[dict]]) -> None:
    ms = sorted(r["ms"] for r in results["local"])
    assert ms[len(ms) // 2] < 5.0  # p50; measured ≈0.25 ms, generous for a loaded CI machine


def test_stemming_and_expansion() -> None:
    assert stem("generating") == stem("generate") == stem("generation")
    assert stem("explains") == stem("explaining") == "explain"
    f = features("Add a retry decorator to parseConfig")
    assert f["#create"] > 0 and f["#code"] > 0 and "pars" in f and "config" in f


def test_confidence_threshold_means_no_route() -> None:
    prefs = (
        RoutingPreference("code generation", "generating new code snippets, functions, or boilerplate", ("a",)),
        RoutingPreference("code understanding", "understand and explain existing code", ("b",)),
    )
    strict, lax = LocalBackend(5.0), LocalBackend(0.3)
    text = "write a function that parses dates"
    assert lax.classify(prefs, text)[0] == "code generation"
    route, trace = strict.classify(prefs, text)
    assert route is None and "conf=" in trace
    assert lax.classify(prefs, "thanks, that's all")[0] is None
    assert lax.classify(prefs, "What time is it in Tokyo?")[0] is None  # no software terms
    assert lax.classify(prefs, "yes, go ahead", previous="Add a cache to the user service")[0] == "code generation"
