"""The offline router: lexical similarity between the latest user message and route descriptions.

No network, no model, no GPU; a decision costs well under a millisecond. Text is tokenised (camelCase
and snake_case split), lightly stemmed and expanded with a small lexicon of coding intents (create /
change, explain, project layout, code nouns) so "add a retry decorator" meets "generating new code
snippets" although they share no word. Each route description is a document; a built-in "none"
document of chit-chat and off-topic words competes with them. The score is a TF-IDF-style weighted
overlap (query term frequency saturated as in BM25, terms shared by several routes discounted by
their document frequency). Confidence = best route's score minus the best competitor's (next route or
"none"); below `routing.local_min_score` the answer is "no route", as it is for a message with no
software term at all ("What time is it in Tokyo?"). A wh-question adds a little "explain" weight
whatever its verb. A message too short to decide ("yes, do it") borrows the previous user message at
a discount.

Accuracy is measured, not assumed: bench/routing_eval.py on bench/data/routing_prompts.jsonl.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from ..config import RoutingPreference
from .backend import Verdict, clip
from .conversation import Conversation

_K1 = 1.2  # BM25-style saturation of repeated query terms
_RAW_WEIGHT = 0.5  # a literal (stemmed) word overlap counts half as much as an intent concept
_CARRY = 0.7  # weight of the previous user message when the latest one says nothing
_HEAD, _TAIL = 4000, 2000  # characters of a long message that are scored (pasted logs stay cheap)
NONE = "(none)"

_STOP_WORDS = """
a an the and or but if then than to of in on for with at by from as is are was were be been being am
this that these those it its i me my mine we our us you your he she they them their can could would
should will shall may might must do does did doing done please just so some any all there here into
about also not no let lets get got want need like via per etc very really too only still again one
which who whom whose when while after before over under up down out off more most other such own same
s t d ll m re ve
"""
_STOP = frozenset(_STOP_WORDS.split())

# (concept, weight, words). A word may sit in several groups. Surface forms; stemmed at import.
_GROUPS: tuple[tuple[str, float, str], ...] = (
    (
        "#create",
        1.0,
        "write writing written create generate generation implement implementation add build "
        "make scaffold boilerplate draft produce stub template prototype bootstrap setup "
        "initialize init rewrite convert port translate skeleton sketch compose author",
    ),
    ("#create", 0.5, "new"),  # "I'm new to this codebase" is not a request for code
    (
        "#create",
        0.8,
        "fix refactor rename modify change update edit patch optimize improve migrate upgrade "
        "replace remove delete extract split rework tweak adjust extend wire hook integrate "
        "parallelize memoize cache vectorize debounce throttle validate sanitize",
    ),
    (
        "#explain",
        1.0,
        "explain explanation understand understanding describe clarify meaning mean means "
        "purpose overview summarize summarise summary walk tell teach why how what difference "
        "compare learn happen happens trace confused intuition reason responsible role "
        "behaviour behavior works",
    ),
    ("#explain", 0.5, "where work does"),
    (
        "#project",
        1.0,
        "repo repository codebase project structure architecture layout organized organised "
        "organization readme readmes docs documentation "
        "dependency dependencies entrypoint entry overall tree navigate where locate defined "
        "lives live conventions onboarding monorepo subproject high-level big picture",
    ),
    (
        "#project",
        0.5,
        "file files folder folders directory directories module modules package packages find config "
        "configuration build ci",
    ),
    (
        "#code",
        1.0,
        "code function functions method class snippet snippets library libraries api script "
        "module variable loop regex query endpoint decorator parser handler component test tests "
        "unittest pytest interface struct enum closure callback async coroutine generic lambda "
        "algorithm recursion",
    ),
    (
        "#chat",
        1.0,
        "hi hello hey thanks thank ok okay cool great bye morning evening weather joke poem "
        "haiku story song recipe lyrics essay movie sport birthday limerick riddle trivia",
    ),
)
# Software vocabulary that is not an intent: it only tells a coding request from small talk (a route
# needs at least one software term; "What time is it in Tokyo?" is a question, not a code question).
_DOMAIN_WORDS = """
error errors exception traceback stack crash bug bugs warning log logs output flag flags option options
argument arguments parameter parameters env variable variables commit branch deploy deployment database db
sql table schema server client request response token thread threads lock locks cache memory queue worker
job task service endpoint route routes middleware profiler benchmark compile compiler runtime type types
import package dependency container docker kubernetes migration model models field fields json yaml html css
event events message messages bus publish subscribe socket http api url file files
"""
_DOMAIN = frozenset(_DOMAIN_WORDS.split())
_GATE = ("#code", "#project", "#create", "#domain")
# The "nothing fits" document: chit-chat and off-topic asks compete with the routes and win over them.
_NONE_DOC = "#chat"

_SUFFIXES = (
    ("ational", "ate"),
    ("ization", "ize"),
    ("ations", "ate"),
    ("ation", "ate"),
    ("ings", ""),
    ("ing", ""),
    ("ies", "y"),
    ("ied", "y"),
    ("ers", ""),
    ("er", ""),
    ("ed", ""),
    ("es", ""),
    ("s", ""),
    ("ly", ""),
)
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_WORD = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)?")


def stem(word: str) -> str:
    """A light suffix stripper: enough that generate/generating/generation meet, nothing more."""
    if len(word) <= 3:
        return word
    for suffix, repl in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + repl
            break
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word


def _build_lexicon() -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """Exact surface forms, and stems as a fallback (kept apart so "news" cannot turn "new" into chat)."""
    exact: dict[str, dict[str, float]] = {}
    stems: dict[str, dict[str, float]] = {}
    for concept, weight, group in _GROUPS:
        for w in group.split():
            for table, key in ((exact, w), (stems, stem(w))):
                slot = table.setdefault(key, {})
                slot[concept] = max(slot.get(concept, 0.0), weight)
    return exact, stems


_EXACT, _STEMS = _build_lexicon()


def words(text: str) -> list[str]:
    if len(text) > _HEAD + _TAIL:
        text = text[:_HEAD] + " " + text[-_TAIL:]
    return _WORD.findall(_CAMEL.sub(r"\1 \2", text).replace("_", " ").lower())


_QUESTION_WORDS = frozenset(("what", "why", "how", "where", "which", "who", "when", "is", "are", "does", "do"))


def features(text: str) -> dict[str, float]:
    """Term → summed weight: intent concepts from the lexicon, plus the stemmed word itself."""
    out: dict[str, float] = {}
    tokens = words(text)
    if tokens and tokens[0] in _QUESTION_WORDS and text.rstrip().endswith("?"):
        out["#explain"] = 0.5  # a question is asked to learn something, whatever verb it contains
    for w in tokens:
        concepts = _EXACT.get(w) or _STEMS.get(stem(w))
        if concepts:
            for c, wt in concepts.items():
                out[c] = out.get(c, 0.0) + wt
        if w in _DOMAIN:
            out["#domain"] = out.get("#domain", 0.0) + 1.0
        if w in _STOP or len(w) < 2:
            continue
        s = stem(w)
        out[s] = out.get(s, 0.0) + _RAW_WEIGHT
    return out


@dataclass(frozen=True, slots=True)
class Index:
    """Route documents as term → presence weight, and each term's document frequency among routes."""

    names: tuple[str, ...]
    docs: tuple[dict[str, float], ...]
    df: dict[str, int]

    @classmethod
    def build(cls, prefs: Sequence[RoutingPreference]) -> Index:
        docs: list[dict[str, float]] = []
        for p in prefs:
            feats = features(f"{p.name}. {p.description}")
            docs.append({t: min(1.0, w) for t, w in feats.items() if t != "#domain"})
        df: dict[str, int] = {}
        for d in docs:
            for t in d:
                df[t] = df.get(t, 0) + 1
        return cls(tuple(p.name for p in prefs), tuple(docs), df)

    def scores(self, query: dict[str, float]) -> tuple[list[tuple[str, float]], float]:
        sat = {t: w * (_K1 + 1) / (w + _K1) for t, w in query.items()}
        ranked = []
        for name, doc in zip(self.names, self.docs, strict=True):
            s = sum(q * doc[t] / self.df[t] for t, q in sat.items() if t in doc)
            ranked.append((name, s))
        ranked.sort(key=lambda x: -x[1])
        none_score = sat.get(_NONE_DOC, 0.0)
        return ranked, none_score


class LocalBackend:
    name = "local"

    def __init__(self, min_score: float) -> None:
        self.min_score = min_score
        self._indexes: OrderedDict[tuple[RoutingPreference, ...], Index] = OrderedDict()

    def describe(self) -> str:
        return f"local (lexical, min score {self.min_score:g})"

    def index(self, prefs: Sequence[RoutingPreference]) -> Index:
        key = tuple(prefs)
        idx = self._indexes.get(key)
        if idx is None:
            idx = self._indexes[key] = Index.build(key)
            if len(self._indexes) > 32:  # per-request preferences could otherwise grow this forever
                self._indexes.popitem(last=False)
        else:
            self._indexes.move_to_end(key)
        return idx

    def classify(self, prefs: Sequence[RoutingPreference], text: str, previous: str = "") -> tuple[str | None, str]:
        """(route or None, a short trace of the scores for RouteInfo.raw)."""
        idx = self.index(prefs)
        query = features(text)
        ranked, none_score = idx.scores(query)
        weak = not any(t in query for t in _GATE) or not ranked or ranked[0][1] < self.min_score
        if previous and none_score == 0 and weak:
            for t, w in features(previous).items():  # "yes, go ahead": the earlier ask carries the intent
                query[t] = query.get(t, 0.0) + _CARRY * w
            ranked, none_score = idx.scores(query)
        if not ranked:
            return None, "no routes"
        best, top = ranked[0]
        rival = max(ranked[1][1] if len(ranked) > 1 else 0.0, none_score)
        confidence = top - rival
        on_topic = any(t in query for t in _GATE)
        trace = " ".join(f"{n}={s:.2f}" for n, s in ranked[:4]) + f" {NONE}={none_score:.2f} conf={confidence:.2f}"
        if not on_topic:
            trace += " (no software terms)"
        return (best if on_topic and confidence >= self.min_score and top > 0 else None), trace

    async def decide(self, prefs: Sequence[RoutingPreference], conversation: Conversation, request_id: str) -> Verdict:
        users = [t.text for t in conversation.turns if t.role == "user" and t.text]
        if not users:
            return Verdict((), "no user text")
        route, trace = self.classify(prefs, users[-1], users[-2] if len(users) > 1 else "")
        return Verdict((route,) if route else (), clip(trace))
