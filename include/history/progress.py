"""Progress of a long history load as periodic lines: symbols done, klines fetched, ETA."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence

logger = logging.getLogger(__name__)

# A line every this many seconds: at ALL (2,000 symbols, minutes of loading) the user sees it
# move; the default three symbols finish before the first one.
PROGRESS_EVERY = 10.0


class Progress:
    """Counts pages as they are written and says every ``every`` seconds how far the load is.

    ``start`` gets the planned pages' symbols (one entry per page); ``written`` each written
    run of pages. The ETA extrapolates the pages' rate so far, which the weight budget keeps
    steady.
    """

    def __init__(self, echo: Callable[[str], None] = logger.info, every: float = PROGRESS_EVERY):
        self.echo = echo
        self.every = every
        self.began = time.monotonic()
        self.pages_left: Counter[str] = Counter()
        self.pages = self.pages_done = self.klines = 0
        self.said = self.began

    def start(self, page_symbols: Sequence[str]) -> None:
        """The load's plan: one symbol per page to fetch."""
        self.pages_left = Counter(page_symbols)
        self.symbols = len(self.pages_left)
        self.pages = len(page_symbols)
        self.pages_done = self.klines = 0

    def written(self, symbol: str, pages: int, klines: int) -> None:
        """``pages`` pages of ``symbol`` holding ``klines`` klines were written."""
        self.pages_left[symbol] -= pages
        self.pages_done += pages
        self.klines += klines
        now = time.monotonic()
        if now - self.said >= self.every:
            self.said = now
            self.echo(self.line(now))

    def symbols_done(self) -> int:
        """Symbols whose every planned page is written."""
        return sum(1 for left in self.pages_left.values() if left <= 0)

    def elapsed(self) -> float:
        """Seconds since the load began."""
        return time.monotonic() - self.began

    def line(self, now: float) -> str:
        """``loading history: 812 of 2000 symbols, 2,310,000 klines (3204 of 5760 pages), about
        6 min left``."""
        elapsed = now - self.began
        left = self.pages - self.pages_done
        eta = elapsed * left / self.pages_done if self.pages_done else float("nan")
        return (
            f"loading history: {self.symbols_done()} of {self.symbols} symbols, "
            f"{self.klines:,} klines ({self.pages_done} of {self.pages} pages) in "
            f"{elapsed:.0f} s, about {eta / 60:.0f} min left"
        )
