"""What every router backend returns, and the protocol they share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ..config import RoutingPreference
from .conversation import Conversation

RAW_LIMIT = 500  # characters of a router answer kept for the request record


@dataclass(frozen=True, slots=True)
class Verdict:
    """A backend's answer: route names best first (unknown names included), or why it failed."""

    routes: tuple[str, ...] = ()
    raw: str | None = None
    error: str | None = None  # set → fail open to the requested model


class Backend(Protocol):
    name: str

    async def decide(
        self, prefs: Sequence[RoutingPreference], conversation: Conversation, request_id: str
    ) -> Verdict: ...

    def describe(self) -> str: ...


def clip(text: str | None, limit: int = RAW_LIMIT) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"
