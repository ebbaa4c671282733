"""data.binance.vision's futures dumps of the fake's perpetuals, USDⓈ-M's under `futures/um/`
and COIN-M's under `futures/cm/`: trade, mark, index and premium klines, trades and aggTrades
daily and monthly, funding monthly only.

As Binance writes them today (docs/BINANCE.md, "Futures"): a header row, times in ms (futures
never moved to µs), lower-case booleans, values at the contract's precision, monthly interval
folders and files named `1mo`, daily files only for intervals up to 1d.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from fakebinance.dumps import DumpRef, match_dump_path, period_bounds_us, zip_atomically
from fakebinance.futures.contracts import quote_decimals, units_at
from fakebinance.futures.prices import PriceSeries
from fakebinance.futures.rest import FUTURES_INTERVALS, price_kline_row, trade_kline_row
from fakebinance.market import Market
from fakebinance.market.units import fmt8

PRICE_KINDS = {
    "markPriceKlines": "markPrice",
    "indexPriceKlines": "indexPrice",
    "premiumIndexKlines": "premiumIndex",
}
KLINE_KINDS = ("klines", *PRICE_KINDS)
KINDS = (*KLINE_KINDS, "trades", "aggTrades", "fundingRate")
KLINE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
    "taker_buy_quote_volume,ignore"
)
HEADERS = {
    **dict.fromkeys(KLINE_KINDS, KLINE_HEADER),
    "trades": "id,price,qty,quote_qty,time,is_buyer_maker",
    # COIN-M's trades: the base asset's quantity for the quote's.
    "coin_trades": "id,price,qty,base_qty,time,is_buyer_maker",
    "aggTrades": "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,"
    "is_buyer_maker",
    "fundingRate": "calc_time,funding_interval_hours,last_funding_rate",
}
DAILY_INTERVALS = FUTURES_INTERVALS[: FUTURES_INTERVALS.index("1d") + 1]
_PATH_RE = re.compile(
    r"^futures/(?P<venue>um|cm)/(?P<freq>daily|monthly)/(?P<kind>" + "|".join(KINDS) + r")/"
    r"(?P<symbol>[A-Z0-9_]+)/(?:(?P<interval>[0-9]+[mhdw]|1mo)/)?"
    r"(?P<name>(?P=symbol)-(?P<tag>[0-9]+[mhdw]|1mo|trades|aggTrades|fundingRate)-"
    r"(?P<period>\d{4}-\d{2}(?:-\d{2})?)\.zip)(?P<checksum>\.CHECKSUM)?$"
)


@dataclass(frozen=True)
class FuturesDump(DumpRef):
    """One futures dump file, as named by its URL."""

    # "um" (USDⓈ-M) or "cm" (COIN-M).
    venue: str = "um"

    @property
    def root(self) -> str:
        """The venue's folder under ``data/``."""
        return f"futures/{self.venue}"

    @property
    def tag(self) -> str:
        """The interval as file names spell it (`1mo` for a month), or the kind."""
        if self.kind not in KLINE_KINDS:
            return self.kind
        return "1mo" if self.interval == "1M" else self.interval


def parse_futures_path(path: str) -> FuturesDump | None:
    """URL path under ``data/`` -> FuturesDump, or None when it names no file Binance has."""
    found = match_dump_path(_PATH_RE, path, KLINE_KINDS)
    if found is None:
        return None
    m, start = found
    kind, daily = m["kind"], m["freq"] == "daily"
    interval = "1M" if m["tag"] == "1mo" else m["tag"]
    if kind in KLINE_KINDS:
        if interval not in FUTURES_INTERVALS or (daily and interval not in DAILY_INTERVALS):
            return None
    elif kind == "fundingRate" and daily:
        return None
    return FuturesDump(kind, m["symbol"], start, daily, interval, bool(m["checksum"]), m["venue"])


def _rows(market: Market, prices: PriceSeries, ref: FuturesDump) -> list[list]:
    a_us, b_us = period_bounds_us(ref.period_start, ref.daily)
    a_ms, b_ms = a_us // 1000, b_us // 1000
    spec = market.spec(ref.symbol)
    price, qty = spec.price_decimals, spec.qty_decimals
    now_ms = market.clock.now_ms()
    if ref.kind == "klines":
        rows = market.klines(ref.symbol, ref.interval, a_ms, b_ms - 1, limit=10**7)
        return [trade_kline_row(k, spec) for k in rows]
    if ref.kind in PRICE_KINDS:
        rows = prices.klines(
            ref.symbol, PRICE_KINDS[ref.kind], ref.interval, a_ms, b_ms - 1, 10**7, now_ms
        )
        return [price_kline_row(*row) for row in rows]
    if ref.kind == "fundingRate":
        return [[at, 8, fmt8(rate)] for at, rate, _ in prices.funding(ref.symbol, a_ms, b_ms - 1)]
    if ref.kind == "trades":
        t = market.trade_arrays(ref.symbol, a_us, b_us, keep=False)
        quote = quote_decimals(spec)
        return [
            [i, units_at(p, price), units_at(q, qty), units_at(qq, quote), us // 1000, _bool(m)]
            for i, p, q, qq, us, m in zip(*(c.tolist() for c in t), strict=True)
        ]
    a = market.agg_arrays(ref.symbol, a_us, b_us, keep=False)
    return [
        [i, units_at(p, price), units_at(q, qty), f, last, us // 1000, _bool(m)]
        for i, p, q, f, last, us, m in zip(*(c.tolist() for c in a), strict=True)
    ]


def _bool(value: bool) -> str:
    return "true" if value else "false"


def build_futures_zip(market: Market, prices: PriceSeries, ref: FuturesDump, out_dir: Path) -> Path:
    """The dump's zip (header row first) and its CHECKSUM."""

    def write(member: io.BufferedIOBase) -> int:
        rows = _rows(market, prices, ref)
        text = io.StringIO()
        coin = ref.kind == "trades" and ref.venue == "cm"
        text.write(HEADERS["coin_trades" if coin else ref.kind] + "\n")
        csv.writer(text, lineterminator="\n").writerows(rows)
        member.write(text.getvalue().encode())
        return len(rows)

    return zip_atomically(out_dir, ref.base_name, write)
