"""What a backfill, a heal and a reconciliation did: the jobs' results, and their forms as a
task's XCom (``summary``), side by side."""

from __future__ import annotations

from dataclasses import dataclass, field

from include.platform.times import to_datetime


@dataclass
class BackfillResult:
    """Per symbol: rows fetched and rows written; plus the client's request statistics.

    ``fetched`` and ``changed`` count the trade klines; a futures backfill's other series
    (mark, index, premium, funding) count in ``series``, per series and symbol."""

    fetched: dict[str, int] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    weight: int = 0
    throttled_429: int = 0
    market: str = "spot"
    series: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)

    @property
    def total_changed(self) -> int:
        return sum(self.changed.values())

    def summary(self) -> dict[str, object]:
        """As JSON (a task's XCom)."""
        summary: dict[str, object] = {
            "fetched": dict(self.fetched),
            "changed": dict(self.changed),
            "requests": self.requests,
            "weight": self.weight,
            "throttled_429": self.throttled_429,
        }
        if self.market != "spot":
            summary["market"] = self.market
            summary["series"] = {
                name: {symbol: list(counts) for symbol, counts in by_symbol.items()}
                for name, by_symbol in self.series.items()
            }
        return summary


@dataclass
class HealResult:
    """What one heal run did, per symbol and in total."""

    filled: dict[str, int] = field(default_factory=dict)
    unfillable: dict[str, int] = field(default_factory=dict)
    spans: dict[str, int] = field(default_factory=dict)

    @property
    def total_filled(self) -> int:
        return sum(self.filled.values())

    def add(self, other: HealResult, prefix: str = "") -> None:
        """Take another run's counts in, its symbols named with ``prefix`` ("usdm ")."""
        for name in ("filled", "unfillable", "spans"):
            getattr(self, name).update({prefix + s: n for s, n in getattr(other, name).items()})

    def summary(self) -> dict[str, object]:
        """As JSON (a task's XCom)."""
        return {
            "filled": dict(self.filled),
            "spans": dict(self.spans),
            "unfillable": dict(self.unfillable),
        }


@dataclass(frozen=True)
class Mismatch:
    """One field of one minute that differs; field is MISSING or EXTRA for a whole minute."""

    symbol: str
    open_ms: int
    field: str
    ours: str | None
    official: str | None

    def describe(self) -> str:
        """symbol minute field: ours != official, for a listing."""
        when = to_datetime(self.open_ms).strftime("%Y-%m-%dT%H:%M")
        return f"{self.symbol} {when} {self.field}: ours {self.ours} != official {self.official}"


@dataclass
class ReconcileResult:
    """Per symbol: official minutes compared, mismatches found, minutes repaired or not."""

    compared: dict[str, int] = field(default_factory=dict)
    mismatches: list[Mismatch] = field(default_factory=list)
    repaired: dict[str, int] = field(default_factory=dict)
    unrepaired: dict[str, int] = field(default_factory=dict)
    # Per symbol: the window's minutes before its history (its first minute held), not
    # compared: loading history is the backfill's job, not a difference to list and repair.
    before_history: dict[str, int] = field(default_factory=dict)
    rebuilt: bool = False
    market: str = "spot"

    @property
    def clean(self) -> bool:
        """Whether nothing is left different from the official klines."""
        return not any(self.unrepaired.values())

    def summary(self) -> dict[str, object]:
        """As JSON (a task's XCom); a futures market's names it."""
        summary: dict[str, object] = {
            "compared": dict(self.compared),
            "repaired": dict(self.repaired),
            "unrepaired": dict(self.unrepaired),
            "before_history": dict(self.before_history),
            "differences": [m.describe() for m in self.mismatches],
        }
        if self.market != "spot":
            summary["market"] = self.market
        return summary
