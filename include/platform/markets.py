"""Binance's markets the platform runs (MARKETS): spot, USDⓈ-M and COIN-M futures.

One record per market holds everything that differs between them: where its REST and
WebSocket live and under which path, what its requests weigh and which IP pool they draw from,
how its klines page, and the schemas its rows go to (DESIGN.md "Futures markets"). Every part
takes the market's record instead of spelling a path, a weight or a schema of its own, so spot's
names stay exactly what they always were and a futures market is the same code with another
record.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

# Binance's futures weigh every kline kind by the limit sent (docs/BINANCE.md "Futures").
FUTURES_KLINE_BANDS = ((100, 1), (500, 2), (1001, 5))
FUTURES_KLINE_ABOVE = 10
# A futures klines page: the largest limit of the cheapest band per row ([100, 500) weighs 2,
# 250 rows a weight; 1,000 rows weigh 5, 1,500 weigh 10).
FUTURES_KLINES_PAGE = 499
# USDⓈ-M and COIN-M draw from one IP pool since 2026-06-30 (docs/BINANCE.md): one budget.
FUTURES_BUDGET = "binance_futures"
# fundingRate counts in a pool of its own: 500 requests per 5 minutes per IP.
FUNDING_BUDGET = "binance_futures_funding"
FUNDING_LIMIT = 500
FUNDING_WINDOW_S = 300.0
FUNDING_PAGE = 1000


# The tables every market has in its own raw schema (migration 0023), as spot names them in
# market: a statement written for spot reads and writes a futures market's through Market.sql.
RAW_TABLES = (
    "candles_1m_live",
    "klines_1m",
    "ingest_gaps",
    "symbols",
    "imported_files",
    "heal_watermarks",
    "timeframe_dirty_ranges",
    "reconciliations",
    "reconcile_mismatches",
    "mark_price_klines_1m",
    "index_price_klines_1m",
    "premium_index_klines_1m",
    "funding_rates",
    "rebuilt_runs",
)
# Only those tables: market's functions (market.ensure_month_partitions) and platform-wide
# tables (market.rest_weight_windows) serve every market from spot's schema.
_RAW_TABLE = re.compile(r"\bmarket\.(" + "|".join(RAW_TABLES) + r")\b")
# A composed statement's names as psycopg writes them: schema-qualified, quoted or not.
_RAW_NAME = re.compile(rb'(?<![\w"])("?)market\1\.("?)(' + "|".join(RAW_TABLES).encode() + rb")\2")
_TIMEFRAMES_NAME = re.compile(rb'(?<![\w"])("?)analytics\1\.')


def futures_kline_weight(limit: int) -> int:
    """A futures klines request's weight for the limit it sends."""
    for below, weight in FUTURES_KLINE_BANDS:
        if limit < below:
            return weight
    return FUTURES_KLINE_ABOVE


# DESIGN.md "Futures markets": which markets run, their symbols and their Binance URLs. Read by
# every part that runs a market (the streamer, the API, Airflow's tasks).
MARKET_VARIABLES = (
    "MARKETS",
    "USDM_SYMBOLS",
    "COINM_SYMBOLS",
    "BINANCE_USDM_REST_URL",
    "BINANCE_USDM_WS_URL",
    "BINANCE_COINM_REST_URL",
    "BINANCE_COINM_WS_URL",
)


# One record per market, compared by identity (hashable, as the statement caches key on it).
@dataclass(frozen=True, eq=False)
class Market:
    """One of Binance's markets, as the platform reaches, stores and serves it."""

    name: str
    # Where its rows live: DESIGN.md's raw and timeframes schemas.
    raw_schema: str
    timeframes_schema: str
    # Binance's REST path prefix (also the prefix the read API serves it under).
    rest_prefix: str
    # The shared weight budget its requests reserve in (market.rest_weight_windows.budget).
    budget: str
    # Klines per request the backfill asks for.
    klines_page: int
    # The settings fields holding its symbols and its base URLs.
    symbols_setting: str
    rest_url_setting: str
    ws_url_setting: str
    # Where its dumps sit under BINANCE_DATA_URL.
    dump_root: str
    # The WebSocket path prefix the read API serves its kline streams under.
    served_ws_prefix: str
    # Binance's IP weight a minute for the pool its requests draw from (REQUEST_WEIGHT of
    # exchangeInfo's rateLimits; a client adopts the answered one).
    weight_limit: int = 6000
    # The live streamer's WebSocket path by stream kind: fstream serves the trade stream on
    # /public and the aggTrade stream on /market since 2026-04-23 (docs/BINANCE.md "Futures").
    stream_paths: Mapping[str, str] = field(default_factory=dict)
    # The stream the streamer reads when STREAMER_STREAM is not this market's to choose:
    # futures' aggTrades, documented and holding the same market trades as REST's (the
    # undocumented @trade adds insurance-fund and ADL trades REST cannot repair).
    live_stream: str | None = None
    # Weight of a request by its path under the prefix ("klines", "exchangeInfo"), given its
    # parameters; a path not listed weighs 1.
    weights: Mapping[str, int] = field(default_factory=dict)
    kline_weight: Callable[[int], int] | None = None
    # COIN-M's inverse contracts: quantities count contracts of a face value in USD, and the
    # klines' "quote" columns hold the base asset's volume (docs/BINANCE.md "Futures").
    inverse: bool = False
    # Streams a WebSocket connection may carry (COIN-M's dstream: 200).
    max_streams: int = 1024

    @property
    def is_futures(self) -> bool:
        return self.name != "spot"

    def path(self, endpoint: str) -> str:
        """The REST path of an endpoint ("klines" -> "/fapi/v1/klines")."""
        return f"{self.rest_prefix}/{endpoint}"

    def weight(self, path: str, params: Mapping[str, Any] | None = None) -> int:
        """What Binance charges for a GET of ``path`` with these parameters."""
        endpoint = path.removeprefix(self.rest_prefix + "/")
        if self.kline_weight is not None and endpoint.endswith("lines"):
            return self.kline_weight(int((params or {}).get("limit") or 500))
        if self.is_futures and endpoint.startswith("ticker/") and (params or {}).get("symbol"):
            # A futures ticker of one symbol weighs 1 (of all: its listed weight).
            return 1
        return self.weights.get(endpoint, 1)

    def perpetual(self, pair: str) -> str:
        """A pair's perpetual contract: USDⓈ-M's is named as the pair (BTCUSDT), COIN-M's with
        _PERP (BTCUSD_PERP)."""
        return f"{pair}_PERP" if self.inverse else pair

    def stream_path(self, stream: str) -> str:
        """The combined-stream path the streamer connects to for this kind of stream."""
        return self.stream_paths.get(stream, "") + "/stream"

    def table(self, name: str) -> str:
        """A raw table of this market, schema-qualified ("market_usdm.klines_1m")."""
        return f"{self.raw_schema}.{name}"

    def sql(self, statement: str) -> str:
        """A statement written over spot's raw tables (``market.klines_1m``), over this
        market's (``market_usdm.klines_1m``); spot's exactly as written."""
        if self.raw_schema == "market":
            return statement
        return _RAW_TABLE.sub(rf"{self.raw_schema}.\1", statement)

    def served_text(self, statement: str) -> str:
        """``served_sql`` of a statement's text."""
        if self.raw_schema == "market":
            return statement
        return self.served_sql(statement.encode()).decode()

    def served_sql(self, statement: bytes) -> bytes:
        """A composed read statement over spot's tables and marts (``analytics.candles_5m``,
        ``"market"."klines_1m"``), over this market's; spot's exactly as written."""
        if self.raw_schema == "market":
            return statement
        raw, timeframes = self.raw_schema.encode(), self.timeframes_schema.encode()
        statement = _RAW_NAME.sub(rb"\1" + raw + rb"\1.\2\3\2", statement)
        return _TIMEFRAMES_NAME.sub(rb"\1" + timeframes + rb"\1.", statement)


# What futures' market-data requests weigh (the rest weigh 1): aggTrades and historicalTrades
# 20, trades 5, the 24-hour ticker of every symbol at once 40 (docs/BINANCE.md "Futures").
FUTURES_WEIGHTS = MappingProxyType(
    {"exchangeInfo": 1, "time": 1, "aggTrades": 20, "historicalTrades": 20, "trades": 5,
     "ticker/24hr": 40, "ticker/price": 2}
)  # fmt: skip

SPOT = Market(
    name="spot",
    raw_schema="market",
    timeframes_schema="analytics",
    rest_prefix="/api/v3",
    budget="binance_rest",
    klines_page=1000,
    symbols_setting="symbols",
    rest_url_setting="binance_rest_url",
    ws_url_setting="binance_ws_url",
    dump_root="data/spot",
    served_ws_prefix="/ws",
    weights=MappingProxyType(
        {
            "klines": 2,
            "exchangeInfo": 20,
            "time": 1,
            "aggTrades": 4,
            "historicalTrades": 25,
            # Without a symbol (every symbol at once), the only way the platform asks for it.
            "ticker/24hr": 80,
        }
    ),
)
USDM = Market(
    name="usdm",
    raw_schema="market_usdm",
    timeframes_schema="analytics_usdm",
    rest_prefix="/fapi/v1",
    budget=FUTURES_BUDGET,
    klines_page=FUTURES_KLINES_PAGE,
    symbols_setting="usdm_symbols",
    rest_url_setting="binance_usdm_rest_url",
    ws_url_setting="binance_usdm_ws_url",
    dump_root="data/futures/um",
    served_ws_prefix="/fws",
    weight_limit=2400,
    stream_paths=MappingProxyType({"trade": "/public", "aggTrade": "/market"}),
    live_stream="aggTrade",
    weights=FUTURES_WEIGHTS,
    kline_weight=futures_kline_weight,
)
COINM = Market(
    name="coinm",
    raw_schema="market_coinm",
    timeframes_schema="analytics_coinm",
    rest_prefix="/dapi/v1",
    budget=FUTURES_BUDGET,
    klines_page=FUTURES_KLINES_PAGE,
    symbols_setting="coinm_symbols",
    rest_url_setting="binance_coinm_rest_url",
    ws_url_setting="binance_coinm_ws_url",
    dump_root="data/futures/cm",
    served_ws_prefix="/dws",
    weight_limit=2400,
    live_stream="aggTrade",
    inverse=True,
    max_streams=200,
    weights=FUTURES_WEIGHTS,
    kline_weight=futures_kline_weight,
)
MARKETS: Mapping[str, Market] = MappingProxyType({m.name: m for m in (SPOT, USDM, COINM)})
FUTURES = (USDM, COINM)


def pair_of(symbol: str) -> str:
    """A contract's pair, as indexPriceKlines and continuousKlines name it: a perpetual
    USDⓈ-M contract's is its name (BTCUSDT), a COIN-M or dated one's the part before the
    underscore (BTCUSD_PERP -> BTCUSD, BTCUSDT_261225 -> BTCUSDT)."""
    return symbol.split("_")[0]


def market(name: str | Market) -> Market:
    """The market of that name (spot, usdm, coinm); a one-line error naming the choices."""
    if isinstance(name, Market):
        return name
    try:
        return MARKETS[name.strip().lower()]
    except KeyError:
        raise ValueError(f"market {name!r} is not one of {', '.join(MARKETS)}") from None
