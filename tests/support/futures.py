"""The read API's futures answers (/fapi, /dapi) compared with the fake exchange's: its klines
over HTTP, and ccxt's binanceusdm and binancecoinm pointed at each in turn."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx

from include.history.backfill import backfill_rest
from include.platform.intervals import INTERVAL_MS
from include.platform.times import parse_utc, to_ms
from include.timeframes import build_timeframes
from tests.support.api import RunningApi, futures_api_config, running_api

# The two days the comparisons load, and every kline interval Binance's futures serve.
START = parse_utc("2025-03-09")
END = parse_utc("2025-03-11")
INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d")

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


@contextlib.asynccontextmanager
async def serving(
    fake_url: str, database_url: str, market: str, symbol: str
) -> AsyncIterator[tuple[RunningApi, httpx.AsyncClient]]:
    """The API serving ``market``'s ``symbol``, backfilled from the fake over START to END and
    its timeframes built, and an HTTP client for it and the fake."""
    backfill_rest([symbol], START, END, rest_url=fake_url, market_name=market)
    build_timeframes(database_url, market=market)
    async with running_api(futures_api_config(market, symbol)) as api, httpx.AsyncClient() as http:
        yield api, http


def kline_params(symbol: str, interval: str) -> dict:
    """The klines query of ``symbol``'s whole window from START to END, 1,500 at most."""
    return {
        "symbol": symbol,
        "interval": interval,
        "startTime": to_ms(START),
        "endTime": to_ms(END) - 1,
        "limit": 1500,
    }


async def assert_klines_as_fakes(
    http: httpx.AsyncClient, ours: str, theirs: str, path: str, symbol: str
) -> dict[str, list]:
    """Assert ``path`` at our base answers each interval's window as at the fake's, field for
    field; the fake's answers by interval."""
    answers = {}
    for interval in INTERVALS:
        params = kline_params(symbol, interval)
        got = (await http.get(ours + path, params=params)).json()
        want = (await http.get(theirs + path, params=params)).json()
        span = (to_ms(END) - to_ms(START)) // INTERVAL_MS[interval]
        assert len(want) == min(1500, span)
        # As Binance prints them: prices at the tick, quantities at the step.
        assert got == want, interval
        answers[interval] = want
    return answers


async def assert_ccxt_reads_as_fakes(ours, theirs, symbol: str) -> None:
    """Assert ccxt reads the same trade, mark and index candles and funding history of
    ``symbol`` through ``ours`` as through ``theirs``, as far as END was loaded."""
    since = to_ms(START) + 3_600_000
    for price in (None, "mark", "index"):
        params = {"price": price} if price else {}
        for timeframe in ("1m", "1h"):
            got = await ours.fetch_ohlcv(symbol, timeframe, since, 300, params)
            want = await theirs.fetch_ohlcv(symbol, timeframe, since, 300, params)
            # What was loaded: the fake trades on to its clock, two days later.
            want = [c for c in want if c[0] < to_ms(END)]
            assert len(want) >= 30, (price, timeframe)
            assert got == want, (price, timeframe)
    got = await ours.fetch_funding_rate_history(symbol, to_ms(START))
    want = await theirs.fetch_funding_rate_history(symbol, to_ms(START))
    strip = [(f["timestamp"], f["fundingRate"]) for f in want if f["timestamp"] < to_ms(END)]
    assert len(strip) == 6
    assert [(f["timestamp"], f["fundingRate"]) for f in got] == strip
