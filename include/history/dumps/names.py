"""Where dumps are and what they are: dump file names, data.binance.vision URLs, input folders."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from include.history.dumps.errors import DumpError
from include.platform.intervals import MONTH, bucket_end
from include.platform.markets import COINM, SPOT, USDM, Market
from include.platform.settings import get_settings
from include.platform.times import to_ms

KINDS = ("klines", "trades", "aggTrades")
# A futures market's 1-minute price klines: the dump folder of each, and its series
# (include/history/series.py). Their files are named as the trade klines' (BTCUSDT-1m-...):
# only the folder tells them apart.
PRICE_KINDS = {
    "markPriceKlines": "mark",
    "indexPriceKlines": "index",
    "premiumIndexKlines": "premium",
}
FUTURES_KINDS = ("klines", *PRICE_KINDS)
_MARKET_ROOT = re.compile(r"(?:^|/)(?:data/)?(spot|futures/um|futures/cm)/(?:daily|monthly)/")
NAME_RE = re.compile(
    r"^(?P<symbol>[A-Z0-9_]{2,40})-(?P<tag>1m|trades|aggTrades|[0-9]+[smhdwM])-"
    r"(?P<period>\d{4}-\d{2}(?:-\d{2})?)$"
)


@dataclass(frozen=True)
class DumpName:
    """What a dump's file name says: symbol, kind and the period it covers."""

    symbol: str
    kind: str
    period_start: date
    daily: bool

    @property
    def base_name(self) -> str:
        tag = "1m" if self.kind == "klines" else self.kind
        period = (
            self.period_start.isoformat() if self.daily else self.period_start.strftime("%Y-%m")
        )
        return f"{self.symbol}-{tag}-{period}"

    @property
    def start_ms(self) -> int:
        """The period's first minute in epoch ms."""
        return to_ms(datetime.combine(self.period_start, time(), UTC))

    @property
    def end_ms(self) -> int:
        """The start of the period after it (the next day, or the next month) in epoch ms."""
        return bucket_end("1d" if self.daily else MONTH, self.start_ms)


def parse_name(file_name: str) -> DumpName | None:
    """DumpName of 'BTCUSDT-trades-2025-01-01.zip' (or .csv); None for other names."""
    stem = re.sub(r"\.(zip|csv)$", "", Path(file_name).name)
    match = NAME_RE.match(stem)
    if not match:
        return None
    tag, period = match["tag"], match["period"]
    kind = "klines" if tag not in ("trades", "aggTrades") else tag
    if kind == "klines" and tag != "1m":
        raise DumpError(f"{file_name}: only 1m klines can be imported, not {tag}")
    daily = len(period) == 10
    start = date.fromisoformat(period if daily else period + "-01")
    return DumpName(match["symbol"], kind, start, daily)


def dump_url(
    base_url: str,
    kind: str,
    symbol: str,
    period: date,
    *,
    daily: bool = True,
    market: Market = SPOT,
) -> str:
    """The data.binance.vision URL of one dump zip of the market (spot's unless given)."""
    kinds = FUTURES_KINDS if market.is_futures else KINDS
    if kind not in kinds:
        raise DumpError(f"unknown {market.name} dump kind {kind!r}: use one of {', '.join(kinds)}")
    tag = "trades" if kind == "trades" else "aggTrades" if kind == "aggTrades" else "klines"
    name = DumpName(symbol.upper(), tag, period if daily else period.replace(day=1), daily)
    freq = "daily" if daily else "monthly"
    sub = "/1m" if tag == "klines" else ""
    root = f"{base_url.rstrip('/')}/{market.dump_root}"
    return f"{root}/{freq}/{kind}/{name.symbol}{sub}/{name.base_name}.zip"


def market_of(spec: str) -> Market | None:
    """The market a dump's URL or path names (data.binance.vision's tree: data/spot/...,
    data/futures/um/..., data/futures/cm/...); None for a path outside that tree."""
    match = _MARKET_ROOT.search(spec.replace("\\", "/"))
    if match is None:
        return None
    return {"spot": SPOT, "futures/um": USDM, "futures/cm": COINM}[match[1]]


def price_series_of(spec: str) -> str | None:
    """A futures price-kline dump's series (mark, index, premium) from its folder; None for
    any other dump."""
    parts = spec.replace("\\", "/").split("/")
    return next((PRICE_KINDS[p] for p in parts if p in PRICE_KINDS), None)


def dump_urls(
    symbols: Sequence[str],
    kinds: Sequence[str],
    start: date,
    end: date,
    *,
    base_url: str | None = None,
    monthly: bool = False,
    market: Market = SPOT,
) -> list[str]:
    """URLs of the daily (or monthly) dumps covering [start, end) for each symbol and kind (of
    the market)."""
    base = base_url or get_settings().binance_data_url
    periods: list[date] = []
    day = start if not monthly else start.replace(day=1)
    while day < end:
        periods.append(day)
        day = day + timedelta(days=1) if not monthly else (day + timedelta(days=32)).replace(day=1)
    return [
        dump_url(base, kind, symbol, period, daily=not monthly, market=market)
        for symbol in symbols
        for kind in kinds
        for period in periods
    ]


def _is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def expand_inputs(specs: Iterable[str]) -> list[str]:
    """URLs as given; directories replaced by the dump files inside them, sorted."""
    out: list[str] = []
    for spec in specs:
        path = Path(spec)
        if not _is_url(spec) and path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in (".zip", ".csv"))
            if not found:
                raise DumpError(f"{spec}: no .zip or .csv dump files in this folder")
            out += [str(p) for p in found]
        else:
            out.append(spec)
    return out
