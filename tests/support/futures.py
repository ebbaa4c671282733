"""The read API's futures answers (/fapi, /dapi) compared with the fake exchange's: its klines
over HTTP, and ccxt's binanceusdm and binancecoinm pointed at each in turn."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

import httpx

from include.platform.intervals import INTERVAL_MS
from include.platform.times import to_ms

# Each futures exchange's Binance host and the ccxt URL names that go to it.
FUTURES_URLS = {
    "binanceusdm": ("https://fapi.binance.com", ("fapiPublic", "fapiPublicV2", "fapiPublicV3")),
    "binancecoinm": ("https://dapi.binance.com", ("dapiPublic", "dapiData")),
}


def pointed(exchange, base: str):
    """``exchange`` (a ccxt binanceusdm or binancecoinm) with its REST URLs pointed at ``base``."""
    host, names = FUTURES_URLS[exchange.id]
    for name in names:
        exchange.urls["api"][name] = exchange.urls["api"][name].replace(host, base)
    return exchange


@contextlib.asynccontextmanager
async def pointed_pair(exchange_class, ours: str, theirs: str) -> AsyncIterator[tuple]:
    """Two ``exchange_class`` exchanges, pointed at ``ours`` and ``theirs``, closed at the end."""
    pair = tuple(pointed(exchange_class({"enableRateLimit": False}), b) for b in (ours, theirs))
    try:
        yield pair
    finally:
        for exchange in pair:
            await exchange.close()


def kline_params(symbol: str, interval: str, start: datetime, end: datetime) -> dict:
    """The klines query of ``symbol``'s whole window from ``start`` to ``end``, 1,500 at most."""
    return {
        "symbol": symbol,
        "interval": interval,
        "startTime": to_ms(start),
        "endTime": to_ms(end) - 1,
        "limit": 1500,
    }


async def assert_klines_as_fakes(
    http: httpx.AsyncClient,
    ours: str,
    theirs: str,
    symbol: str,
    window: tuple[datetime, datetime],
    intervals: Sequence[str],
) -> dict[str, list]:
    """Assert our klines URL answers each interval's window as the fake's does, field for
    field; the fake's answers by interval."""
    start, end = window
    answers = {}
    for interval in intervals:
        params = kline_params(symbol, interval, start, end)
        got = (await http.get(ours, params=params)).json()
        want = (await http.get(theirs, params=params)).json()
        span = (to_ms(end) - to_ms(start)) // INTERVAL_MS[interval]
        assert len(want) == min(1500, span)
        # As Binance prints them: prices at the tick, quantities at the step.
        assert got == want, interval
        answers[interval] = want
    return answers


async def assert_ccxt_reads_as_fakes(ours, theirs, symbol: str, start: datetime, end: datetime):
    """Assert ccxt reads the same trade, mark and index candles and funding history of
    ``symbol`` through ``ours`` as through ``theirs``, as far as ``end`` was loaded."""
    since = to_ms(start) + 3_600_000
    for price in (None, "mark", "index"):
        params = {"price": price} if price else {}
        for timeframe in ("1m", "1h"):
            got = await ours.fetch_ohlcv(symbol, timeframe, since, 300, params)
            want = await theirs.fetch_ohlcv(symbol, timeframe, since, 300, params)
            # What was loaded: the fake trades on to its clock, two days later.
            want = [c for c in want if c[0] < to_ms(end)]
            assert len(want) >= 30, (price, timeframe)
            assert got == want, (price, timeframe)
    got = await ours.fetch_funding_rate_history(symbol, to_ms(start))
    want = await theirs.fetch_funding_rate_history(symbol, to_ms(start))
    strip = [(f["timestamp"], f["fundingRate"]) for f in want if f["timestamp"] < to_ms(end)]
    assert len(strip) == 6
    assert [(f["timestamp"], f["fundingRate"]) for f in got] == strip
