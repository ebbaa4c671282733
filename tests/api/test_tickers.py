"""Binance's tickers from our candles: ticker/24hr, the rolling ticker and avgPrice, exact to the
minutes the tables hold, in Binance's shapes, errors and weights, and read by ccxt unchanged."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import ccxt.async_support as ccxt_async
import httpx
import pytest

from api.config import ApiConfig, load_config
from api.market_reads import TICKER_WINDOW
from include.platform.times import MINUTE_MS
from tests.support.api import LIVE_COLUMNS, running_api, write_live

D = Decimal
Q8 = D("0.00000001")


def minute_of(ms: int) -> int:
    return ms - ms % MINUTE_MS


def at(ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def fmt(value: Decimal, places: Decimal = Q8) -> str:
    return str(value.quantize(places, rounding=ROUND_HALF_UP))


class Market:
    """BTCUSDT's minutes of the last 25 hours as the test writes them: official klines up to two
    minutes ago (every seventh idle, at the previous close, as Binance has them), the live
    candles of the last three minutes (the official kline wins where both exist)."""

    def __init__(self, now_ms: int) -> None:
        self.current = minute_of(now_ms)
        self.official: dict[int, tuple] = {}
        self.live: dict[int, tuple] = {}
        self.last_ids: dict[int, int] = {}
        close = D("93500.10000000")
        for i in range(1500, 1, -1):
            t = self.current - i * MINUTE_MS
            if i % 7 == 0 or i == 1440:
                # An idle minute: no trade, the previous close, no volume (the window's first
                # minute is one, so counting idle minutes would move openPrice).
                self.official[t] = (close, close, close, close, D(0), D(0), 0)
                continue
            o = D("93500.12345678") + D(i * 37 % 101) / 2
            c = o + D(i % 7 - 3) / 100
            v = D("0.00012345") * (i % 13 + 1)
            self.official[t] = (
                o,
                o + D("1.25"),
                o - D("0.75"),
                c,
                v,
                (v * o).quantize(Q8),
                i % 50 + 1,
            )
            close = c
        trade_id = 7_000_000
        for i in (2, 1, 0):
            t = self.current - i * MINUTE_MS
            o = D("93600.5") + i
            v = D("0.01") * (i + 1)
            n = 3 + i
            trade_id += n
            self.live[t] = (o, o + 2, o - 1, o + D("0.5"), v, (v * o).quantize(Q8), n)
            self.last_ids[t] = trade_id

    def write(self, conn) -> None:
        with conn.cursor() as cur:
            cur.executemany(
                "insert into market.klines_1m (symbol, open_time, open, high, low, close, volume, "
                "quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume, source) "
                "values ('BTCUSDT', %s, %s, %s, %s, %s, %s, %s, %s, 0, 0, 'rest')",
                [(at(t), *row) for t, row in self.official.items()],
            )
            # ETHUSDT traded three days ago only: in no window.
            cur.execute(
                "insert into market.klines_1m (symbol, open_time, open, high, low, close, volume, "
                "quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume, source) "
                "values ('ETHUSDT', %s, 3000, 3001, 2999, 3000.5, 1, 3000, 4, 0, 0, 'rest')",
                (at(self.current - 3 * 1440 * MINUTE_MS),),
            )
        for t, (o, h, lo, c, v, q, n) in self.live.items():
            write_live(conn, "BTCUSDT", at(t), (o, h, lo, c, v, q, n, 0, 0), t < self.current)
            conn.execute(
                "update market.candles_1m_live set last_trade_id = %s, first_trade_id = %s "
                "where symbol = 'BTCUSDT' and open_time = %s",
                (self.last_ids[t], self.last_ids[t] - n + 1, at(t)),
            )

    def minutes(self) -> dict[int, tuple]:
        """Each minute's candle as the API must read it: official first, else live."""
        return {**self.live, **self.official}

    def expected(self, start_ms: int) -> dict:
        """Binance's statistics of the traded minutes from start_ms on, computed here."""
        rows = sorted((t, r) for t, r in self.minutes().items() if t >= start_ms and r[6] > 0)
        before = [r for t, r in sorted(self.minutes().items()) if t < start_ms]
        o, last = rows[0][1][0], rows[-1][1][3]
        volume = sum(r[4] for _, r in rows)
        quote = sum(r[5] for _, r in rows)
        count = sum(r[6] for _, r in rows)
        last_id = self.last_ids[self.current]
        return {
            "priceChange": fmt(last - o),
            "priceChangePercent": fmt((last - o) * 100 / o, D("0.001")),
            "weightedAvgPrice": fmt(quote / volume),
            "prevClosePrice": fmt(before[-1][3]),
            "openPrice": fmt(o),
            "highPrice": fmt(max(r[1] for _, r in rows)),
            "lowPrice": fmt(min(r[2] for _, r in rows)),
            "lastPrice": fmt(last),
            "volume": fmt(volume),
            "quoteVolume": fmt(quote),
            "firstId": last_id - count + 1,
            "lastId": last_id,
            "count": count,
        }


@pytest.fixture
def market(conn) -> Market:
    """The minutes written, away from a minute's end (the window must not move meanwhile)."""
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)
    m = Market(int(time.time() * 1000))
    m.write(conn)
    return m


async def test_ticker_24hr_is_exact_to_the_minutes_in_binance_shapes(api, market) -> None:
    """FULL and MINI 24hr statistics equal those computed here from the rows: only traded
    minutes count (an idle first minute does not move openPrice), the official kline wins over
    the live candle, ids follow from the newest live minute's last id and the count; the window
    opens on the minute 24 h before the request; a symbol with no trade in it keeps its price."""
    async with httpx.AsyncClient(base_url=api.http) as client:
        full = await client.get("/api/v3/ticker/24hr", params={"symbol": "BTCUSDT"})
        mini = await client.get("/api/v3/ticker/24hr", params={"symbol": "BTCUSDT", "type": "MINI"})
        every = await client.get("/api/v3/ticker/24hr")
        some = await client.get("/api/v3/ticker/24hr", params={"symbols": '["ETHUSDT","BTCUSDT"]'})
    assert full.status_code == 200, full.text
    body = full.json()
    assert full.headers["x-mbx-used-weight-1m"] == "2"
    assert body["openTime"] == minute_of(body["closeTime"] - 1440 * MINUTE_MS)
    assert abs(body["closeTime"] - time.time() * 1000) < 5_000
    want = market.expected(body["openTime"])
    assert {k: body[k] for k in want} == want
    assert body["openTime"] == market.current - 1440 * MINUTE_MS  # the idle minute opens it
    assert (body["bidPrice"], body["askPrice"]) == (body["lastPrice"], body["lastPrice"])
    assert (body["bidQty"], body["askQty"], body["lastQty"]) == ("0.00000000",) * 3
    assert list(body) == [
        "symbol", "priceChange", "priceChangePercent", "weightedAvgPrice", "prevClosePrice",
        "lastPrice", "lastQty", "bidPrice", "bidQty", "askPrice", "askQty", "openPrice",
        "highPrice", "lowPrice", "volume", "quoteVolume", "openTime", "closeTime", "firstId",
        "lastId", "count",
    ]  # fmt: skip
    small = mini.json()
    assert list(small) == [
        "symbol", "openPrice", "highPrice", "lowPrice", "lastPrice", "volume", "quoteVolume",
        "openTime", "closeTime", "firstId", "lastId", "count",
    ]  # fmt: skip
    assert {k: small[k] for k in small if k in want} == {k: want[k] for k in small if k in want}

    assert every.headers["x-mbx-used-weight-1m"] == "84"  # 2 + 2 + 80
    assert [t["symbol"] for t in every.json()] == ["BTCUSDT", "ETHUSDT"]
    eth = some.json()[1]
    assert eth["symbol"] == "ETHUSDT"
    assert (eth["lastPrice"], eth["openPrice"], eth["highPrice"]) == ("3000.50000000",) * 3
    assert (eth["volume"], eth["count"], eth["firstId"], eth["lastId"]) == ("0.00000000", 0, -1, -1)


async def test_rolling_ticker_and_avg_price(api, market) -> None:
    """/api/v3/ticker takes windowSize 1m..59m, 1h..23h, 1d..7d (its window opens on the
    minute, as Binance's), costs 4 per symbol; avgPrice is the last five minutes' quote volume
    over volume; bad parameters get Binance's codes."""
    async with httpx.AsyncClient(base_url=api.http) as client:
        hour = await client.get(
            "/api/v3/ticker", params={"symbols": '["BTCUSDT","ETHUSDT"]', "windowSize": "1h"}
        )
        avg = await client.get("/api/v3/avgPrice", params={"symbol": "BTCUSDT"})
        errors = {
            name: (await client.get("/api/v3/ticker", params=params)).json()["code"]
            for name, params in {
                "no symbol": {},
                "60m": {"symbol": "BTCUSDT", "windowSize": "60m"},
                "8d": {"symbol": "BTCUSDT", "windowSize": "8d"},
                "1d2h": {"symbol": "BTCUSDT", "windowSize": "1d2h"},
                "both": {"symbol": "BTCUSDT", "symbols": '["BTCUSDT"]'},
                "unknown": {"symbol": "NOPEUSDT"},
                "type": {"symbol": "BTCUSDT", "type": "HUGE"},
                "101": {"symbols": str([f"S{i}USDT" for i in range(101)]).replace("'", '"')},
            }.items()
        }
    assert hour.headers["x-mbx-used-weight-1m"] == "8"
    btc = hour.json()[0]
    assert btc["openTime"] == minute_of(btc["closeTime"] - 60 * MINUTE_MS)
    assert {k: btc[k] for k in market.expected(btc["openTime"]) if k in btc} == {
        k: v for k, v in market.expected(btc["openTime"]).items() if k != "prevClosePrice"
    }
    assert "prevClosePrice" not in btc
    assert "bidPrice" not in btc
    assert avg.headers["x-mbx-used-weight-1m"] == "10"
    body = avg.json()
    five = market.expected(minute_of(body["closeTime"] - 5 * MINUTE_MS))
    assert body == {"mins": 5, "price": five["weightedAvgPrice"], "closeTime": body["closeTime"]}
    assert errors == {
        "no symbol": -1102,
        "60m": -1100,
        "8d": -1100,
        "1d2h": -1100,
        "both": -1128,
        "unknown": -1121,
        "type": -1100,
        "101": -1101,
    }


async def test_ccxt_reads_tickers_unchanged(api, market, conn) -> None:
    """ccxt's fetch_ticker and fetch_tickers (what freqtrade reads prices from) parse our
    24hr tickers with only the base URL changed."""
    conn.execute(
        "insert into market.symbols (symbol, status, base_asset, quote_asset) values "
        "('BTCUSDT', 'TRADING', 'BTC', 'USDT'), ('ETHUSDT', 'TRADING', 'ETH', 'USDT')"
    )
    exchange = ccxt_async.binance({"options": {"fetchMarkets": {"types": ["spot"]}}})
    exchange.urls["api"]["public"] = api.http + "/api/v3"
    try:
        ticker = await exchange.fetch_ticker("BTC/USDT")
        tickers = await exchange.fetch_tickers()
    finally:
        await exchange.close()
    want = market.expected(ticker["timestamp"] - ticker["timestamp"] % MINUTE_MS - 1440 * MINUTE_MS)
    assert ticker["last"] == float(want["lastPrice"])
    assert ticker["open"] == float(want["openPrice"])
    assert ticker["baseVolume"] == float(want["volume"])
    assert (ticker["bid"], ticker["ask"]) == (ticker["last"], ticker["last"])
    assert sorted(tickers) == ["BTC/USDT", "ETH/USDT"]
    assert tickers["ETH/USDT"]["last"] == 3000.5


# The rows of each market table a statement's plan read (every scan of their partitions).
def rows_read(plan: dict, tables: tuple[str, ...]) -> float:
    own = plan.get("Relation Name", "")
    read = plan["Actual Rows"] * plan["Actual Loops"] if own.startswith(tables) else 0.0
    return read + sum(rows_read(child, tables) for child in plan.get("Plans", ()))


def test_one_symbols_ticker_reads_only_its_own_minutes(conn) -> None:
    """The 24-hour statistics of one symbol read that symbol's minutes, whichever join the
    planner picks: the live side of the join with the klines was unbounded, so a hash join read
    every symbol's live month to hash it (the bench's ticker/24hr went from 14.6 to 6.2 ms p50
    when bounded)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    day = "generate_series(1, 1440) as m"
    conn.execute(
        f"insert into market.candles_1m_live ({LIVE_COLUMNS}) "
        "select format('OTHER%%sUSDT', s), %(now)s - make_interval(mins => m), 1, 2, 0.5, 1.5,"
        f" 1, 1.5, 3, 0.5, 0.75, true from generate_series(1, 40) as s, {day}"
        " union all select 'XRPUSDT', %(now)s - make_interval(mins => m), 1, 2, 0.5, 1.5, 1,"
        f" 1.5, 3, 0.5, 0.75, true from {day}",
        {"now": now},
    )
    conn.execute(
        "insert into market.klines_1m (symbol, open_time, open, high, low, close, volume,"
        " quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume, source)"
        " select 'XRPUSDT', %(now)s - make_interval(mins => m), 1, 2, 0.5, 1.5, 1, 1.5, 3, 0.5,"
        f" 0.75, 'rest' from {day} where m > 60",
        {"now": now},
    )
    conn.execute("analyze market.candles_1m_live")
    conn.execute("analyze market.klines_1m")
    until = now + timedelta(days=1)
    params = {"symbols": ["XRPUSDT"], "start": now - timedelta(days=1), "until": until}
    # The live table's days made ahead (empty) are left out when the statement is planned.
    conn.execute(
        "select market.ensure_month_partitions('market.candles_1m_live', %s, %s)",
        (until, until + timedelta(days=10)),
    )
    ahead = [
        r[0]
        for r in conn.execute(
            "select partition::text from market.month_partitions('market.candles_1m_live') "
            "where month_start >= %s",
            (until,),
        )
    ]
    assert len(ahead) >= 10
    # XRPUSDT's own (it sorts after the others, so a merge join cannot stop early): 1,440 live
    # minutes and 1,380 klines, each read by a few parts of the statement (the klines with
    # their live rows, the live minutes without a kline); the 40 other symbols hold 57,600.
    own = 1440 + 1380
    for nested_loops in ("on", "off"):
        conn.execute(f"set enable_nestloop = {nested_loops}")
        (plan,) = conn.execute("explain (analyze, format json) " + TICKER_WINDOW, params).fetchone()
        read = rows_read(plan[0]["Plan"], ("candles_1m_live", "klines_1m"))
        assert own <= read <= 3 * own, (nested_loops, read)
        planned = json.dumps(plan)
        assert not [name for name in ahead if name.split(".")[1] in planned], nested_loops


async def test_usdm_tickers_are_its_own_minutes_in_futures_shapes(database_url, market, conn):
    """/fapi/v1/ticker/24hr and ticker/price answer from market_usdm's minutes (the same rows
    moved there: spot's then has none), in fapi's shapes (no previous close, no book; a price
    with its time) and weights (1 for a symbol, 40 / 2 for all); ccxt's binanceusdm reads them."""
    for table in ("klines_1m", "candles_1m_live"):
        conn.execute(f"insert into market_usdm.{table} select * from market.{table}")
        conn.execute(f"delete from market.{table}")
    config = ApiConfig(database_url=load_config().database_url, port=0, markets=("spot", "usdm"))
    async with (
        running_api(config) as api,
        httpx.AsyncClient(base_url=api.http) as client,
    ):
        one = await client.get("/fapi/v1/ticker/24hr", params={"symbol": "BTCUSDT"})
        every = await client.get("/fapi/v1/ticker/24hr")
        price = await client.get("/fapi/v1/ticker/price", params={"symbol": "BTCUSDT"})
        prices = await client.get("/fapi/v1/ticker/price")
        spot = await client.get("/api/v3/ticker/price")
        exchange = ccxt_async.binanceusdm({"enableRateLimit": False})
        for name in ("fapiPublic", "fapiPublicV2", "fapiPublicV3"):
            exchange.urls["api"][name] = exchange.urls["api"][name].replace(
                "https://fapi.binance.com", api.http
            )
        try:
            ticker = await exchange.fetch_ticker("BTC/USDT:USDT")
        finally:
            await exchange.close()
    assert one.status_code == 200, one.text
    body = one.json()
    want = market.expected(body["openTime"])
    del want["prevClosePrice"]
    assert {k: body[k] for k in want} == want
    assert list(body) == [
        "symbol", "priceChange", "priceChangePercent", "weightedAvgPrice", "lastPrice", "lastQty",
        "openPrice", "highPrice", "lowPrice", "volume", "quoteVolume", "openTime", "closeTime",
        "firstId", "lastId", "count",
    ]  # fmt: skip
    assert one.headers["x-mbx-used-weight-1m"] == "1"
    assert int(every.headers["x-mbx-used-weight-1m"]) == 1 + 40
    assert [t["symbol"] for t in every.json()] == ["BTCUSDT", "ETHUSDT"]
    assert price.json()["price"] == want["lastPrice"]
    assert abs(price.json()["time"] - time.time() * 1000) < 5_000
    assert int(prices.headers["x-mbx-used-weight-1m"]) == 1 + 40 + 1 + 2
    assert spot.json() == [], "spot's ticker read the futures' minutes"
    assert ticker["last"] == float(want["lastPrice"])
    assert ticker["baseVolume"] == float(want["volume"])
