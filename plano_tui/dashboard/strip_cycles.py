"""A workaround for Textual: `Strip.divide` caches its own result, and when a line needs no cut that
result is `[self]` — so the strip refers to itself and outlives its last use until the cyclic garbage
collector finds it. The compositor divides every line of every widget it draws, so every repainted line
became cyclic garbage carrying seven caches: at 200 req/s the dashboard's young collections found
1,500–2,200 such objects each and took up to 31 ms, the largest event-loop stalls it had
(bench/RESULTS.md).

`install()` wraps `divide` so that the uncut case returns `[self]` without caching it: the same result,
one list allocation, no cycle. Everything else goes to Textual's own method. Idempotent; checked by
tests/test_ui_store.py, which fails if a Textual upgrade changes what `divide` returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from textual.strip import Strip

_original = Strip.divide


def _divide(self: Strip, cuts: Iterable[int]) -> Sequence[Strip]:
    length = self.cell_length
    kept = [cut for cut in cuts if cut <= length]  # as Textual filters them
    if kept == [length]:  # one cut at the very end: the strip itself
        return [self]
    return _original(self, kept)


def install() -> None:
    Strip.divide = _divide  # type: ignore[method-assign]
