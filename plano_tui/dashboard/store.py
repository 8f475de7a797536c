"""The dashboard's request history: a bounded, newest-first list of rows (no Textual here).

Every finished request becomes a `RequestRow`; alias changes, config reloads and cooling providers
become `NoticeRow`s in the same list so they show up where they happened in time. Capacity is enforced
by `deque(maxlen=…)` — O(1) per row, no O(n) trimming. Request and response bodies are the heavy part
of a record (Codex bodies are 40–70 KB), so only the most recent `keep_bodies` rows keep them.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from proxy.events import RequestRecord, without_bodies

from .query import Query

KEEP_BODIES = 50
# Successful requests per second that keep headers and bodies once a burst of KEEP_BODIES is spent
# (proxy.details): every request at an agent's pace; under a flood, still as many as the newest
# KEEP_BODIES rows can hold between two repaints of the requests pane (at most 2 s apart, bridge.py).
DETAIL_RATE = 25.0
_seq = itertools.count(1)


@dataclass(slots=True, eq=False)
class RequestRow:
    record: RequestRecord
    seq: int = 0
    bodies_dropped: bool = False


@dataclass(slots=True, eq=False)
class NoticeRow:
    at: float  # epoch seconds
    kind: str  # alias | reload | reload-failed | cooling | service (a warning) | service-ok (it is back)
    text: str
    seq: int = 0

    @property
    def is_error(self) -> bool:
        return self.kind in ("reload-failed", "service")


Row = RequestRow | NoticeRow


def has_bodies(r: RequestRecord) -> bool:
    return r.request_body is not None or r.upstream_body is not None or r.response_body is not None


class RequestStore:
    def __init__(self, capacity: int = 1000, keep_bodies: int = KEEP_BODIES) -> None:
        self.capacity = max(1, capacity)
        self.keep_bodies = keep_bodies
        self._rows: deque[Row] = deque(maxlen=self.capacity)  # newest first (index 0)
        self._bodied: deque[RequestRow] = deque()
        self.requests_seen = 0  # ever, including rows trimmed or cleared
        self.version = 0  # bumps on every change; widgets use it to skip redraws

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index: int) -> Row:
        return self._rows[index]

    def __iter__(self) -> Iterator[Row]:
        return iter(self._rows)

    def add_record(self, record: RequestRecord, bodies_dropped: bool = False) -> RequestRow:
        row = RequestRow(record, next(_seq), bodies_dropped)
        self._rows.appendleft(row)  # the deque drops the oldest row on the right: O(1)
        self.requests_seen += 1
        self.version += 1
        if has_bodies(record):
            self._bodied.append(row)
            while len(self._bodied) > self.keep_bodies:
                old = self._bodied.popleft()
                old.record = without_bodies(old.record)
                old.bodies_dropped = True
        return row

    def add_notice(self, at: float, kind: str, text: str) -> NoticeRow:
        row = NoticeRow(at, kind, text, next(_seq))
        self._rows.appendleft(row)
        self.version += 1
        return row

    def clear(self) -> None:
        self._rows.clear()
        self._bodied.clear()
        self.version += 1



class FilteredRows:
    """The rows of a `RequestStore` that a filter `Query` matches, newest first, kept in step with it.

    Built once when the filter changes (a scan of at most `capacity` rows), then extended by the rows
    each batch prepends; rows the store trimmed fall off the end. Reads are list indexing, as cheap as
    the store's own, so the requests pane renders a filtered log exactly like the full one."""

    def __init__(self, store: RequestStore, query: Query, marks: set[int]) -> None:
        self.store = store
        self.query = query
        self.marks = marks
        self._rows: list[Row] = [row for row in store if self._match(row)]

    def _match(self, row: Row) -> bool:
        if isinstance(row, NoticeRow):
            return self.query.matches_notice(row.text)
        return self.query.matches(row.record, row.seq in self.marks)

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index: int) -> Row:
        return self._rows[index]

    def __iter__(self) -> Iterator[Row]:
        return iter(self._rows)

    def take_new(self, n: int) -> int:
        """The store just prepended `n` rows: keep the matching ones; returns how many were kept."""
        new = [row for row in itertools.islice(self.store, min(n, len(self.store))) if self._match(row)]
        if new:
            self._rows[:0] = new
        if self._rows and len(self.store):
            oldest = self.store[len(self.store) - 1].seq  # rows below this were trimmed by the store
            while self._rows and self._rows[-1].seq < oldest:
                self._rows.pop()
        elif not len(self.store):
            self._rows.clear()
        return len(new)
