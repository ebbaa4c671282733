"""REST endpoints of the fake: formats, errors, market-clock cut-off and the weight limiter."""

from __future__ import annotations

import asyncio
import time

import pytest

from fakebinance.clock import MarketClock, to_us
from fakebinance.config import utc
from fakebinance.server import FakeBinance

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]


async def get(session, fake, path, **params):
    async with session.get(f"{fake.url}{path}", params={k: str(v) for k, v in params.items()}) as r:
        return r.status, r.headers, await r.json(content_type=None)


async def test_ping_time_and_weight_headers(fake, session, now):
    """ping/time answer like Binance and every response carries the used weight."""
    status, headers, body = await get(session, fake, "/api/v3/ping")
    assert (status, body) == (200, {})
    assert headers["x-mbx-used-weight-1m"] == headers["x-mbx-used-weight"] == "1"
    status, headers, body = await get(session, fake, "/api/v3/time")
    assert body == {"serverTime": to_us(now) // 1000}
    assert headers["x-mbx-used-weight-1m"] == "2"


async def test_exchange_info(session, config):
    """exchangeInfo lists rate limits as configured and symbols with status and filters."""
    clock = MarketClock(start=utc(2025, 3, 11, 10, 2), speed=0)
    async with FakeBinance(config, clock=clock, weight_limit=1200, weight_window=2) as fake:
        status, headers, info = await get(session, fake, "/api/v3/exchangeInfo")
        assert status == 200
        assert headers["x-mbx-used-weight-1m"] == "20"
        assert info["timezone"] == "UTC"
        assert info["serverTime"] == to_us(clock.now()) // 1000
        weight = [r for r in info["rateLimits"] if r["rateLimitType"] == "REQUEST_WEIGHT"]
        assert weight == [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "SECOND",
                "intervalNum": 2,
                "limit": 1200,
            }
        ]
        assert {r["rateLimitType"] for r in info["rateLimits"]} >= {"ORDERS", "RAW_REQUESTS"}
        by_name = {s["symbol"]: s for s in info["symbols"]}
        assert "NEWUSDT" not in by_name  # listed later than this clock
        assert by_name["HALTUSDT"]["status"] == "BREAK"  # inside its halt now
        btc = by_name["BTCUSDT"]
        assert (btc["status"], btc["baseAsset"], btc["quoteAsset"]) == ("TRADING", "BTC", "USDT")
        filters = {f["filterType"]: f for f in btc["filters"]}
        assert filters["PRICE_FILTER"]["tickSize"] == "0.01000000"
        assert filters["LOT_SIZE"]["stepSize"] == "0.00001000"
        _, _, one = await get(session, fake, "/api/v3/exchangeInfo", symbol="PEPEUSDT")
        assert [s["symbol"] for s in one["symbols"]] == ["PEPEUSDT"]
        _, _, two = await get(
            session, fake, "/api/v3/exchangeInfo", symbols='["BTCUSDT","ETHUSDT"]'
        )
        assert [s["symbol"] for s in two["symbols"]] == ["BTCUSDT", "ETHUSDT"]


async def test_historical_trades_match_market(fake, session):
    """historicalTrades by fromId returns the market's trades in Binance's JSON."""
    start = to_us(utc(2025, 3, 11, 3))
    want = fake.market.trades("ETHUSDT", start, start + 3_600_000_000)[:700]
    assert len(want) == 700
    status, _, got = await get(
        session, fake, "/api/v3/historicalTrades", symbol="ETHUSDT", fromId=want[0].id, limit=700
    )
    assert status == 200
    assert got == [
        {
            "id": t.id,
            "price": f"{t.price:.8f}",
            "qty": f"{t.qty:.8f}",
            "quoteQty": f"{t.quote_qty:.8f}",
            "time": t.time_us // 1000,
            "isBuyerMaker": t.is_buyer_maker,
            "isBestMatch": True,
        }
        for t in want
    ]
    assert got[0]["price"].count(".") == 1
    assert len(got[0]["price"].split(".")[1]) == 8


async def test_recent_trades_end_at_market_clock(fake, session, now):
    """trades / historicalTrades without fromId give the latest trades up to the clock."""
    _, _, recent = await get(session, fake, "/api/v3/trades", symbol="BTCUSDT", limit=50)
    _, _, hist = await get(session, fake, "/api/v3/historicalTrades", symbol="BTCUSDT", limit=50)
    assert recent == hist
    assert len(recent) == 50
    last = fake.market.last_trade_before("BTCUSDT", to_us(now) + 1)
    assert recent[-1]["id"] == last.id
    assert recent[-1]["time"] <= to_us(now) // 1000
    _, _, future = await get(
        session, fake, "/api/v3/historicalTrades", symbol="BTCUSDT", fromId=last.id + 1
    )
    assert future == []


async def test_agg_trades_by_id_and_by_time_agree(fake, session):
    """aggTrades by fromId and by a time window describe the same aggregates."""
    start = to_us(utc(2025, 3, 11, 4, 30)) // 1000
    _, _, by_time = await get(
        session,
        fake,
        "/api/v3/aggTrades",
        symbol="BTCUSDT",
        startTime=start,
        endTime=start + 600_000,
    )
    assert by_time
    assert all(start <= a["T"] <= start + 600_000 for a in by_time)
    _, _, by_id = await get(
        session,
        fake,
        "/api/v3/aggTrades",
        symbol="BTCUSDT",
        fromId=by_time[0]["a"],
        limit=len(by_time),
    )
    assert by_id == by_time
    assert set(by_time[0]) == {"a", "p", "q", "f", "l", "T", "m", "M"}
    _, _, latest = await get(session, fake, "/api/v3/aggTrades", symbol="BTCUSDT", limit=3)
    assert len(latest) == 3
    assert latest[-1]["T"] <= fake.clock.now_ms()


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        ("/api/v3/klines", {"symbol": "NOPEUSDT", "interval": "1m"}, -1121),
        ("/api/v3/klines", {"interval": "1m"}, -1102),
        ("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "7m"}, -1120),
        ("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1m", "limit": "ten"}, -1100),
        ("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1m", "bogus": "1"}, -1104),
        ("/api/v3/aggTrades", {"symbol": "BTCUSDT", "startTime": "0", "endTime": "7200000"}, -1127),
        ("/api/v3/historicalTrades", {"symbol": "BTCUSDT", "fromId": "x"}, -1100),
        ("/api/v3/exchangeInfo", {"symbol": "NOPEUSDT"}, -1121),
    ],
)
async def test_binance_style_errors(fake, session, path, params, code):
    """Bad requests get HTTP 400 and Binance's {"code","msg"} body."""
    status, headers, body = await get(session, fake, path, **params)
    assert status == 400
    assert body["code"] == code
    assert body["msg"]
    assert "x-mbx-used-weight-1m" in headers


async def test_limit_is_capped_at_1000(fake, session):
    """limit above 1000 returns 1000 rows."""
    _, _, rows = await get(
        session, fake, "/api/v3/klines", symbol="BTCUSDT", interval="1m", limit=5000
    )
    assert len(rows) == 1000


async def test_429_then_418_ban(config, frozen_clock, session):
    """Past the weight limit: 429 + Retry-After; carrying on: 418 ban; counters record both."""
    async with FakeBinance(
        config, clock=frozen_clock, weight_limit=10, weight_window=2, ban_base=1
    ) as fake:
        # Start at the beginning of a fresh window so the burst fits in it.
        await asyncio.sleep(2 - time.monotonic() % 2 + 0.01)
        statuses = []
        for _ in range(5):
            status, headers, body = await get(
                session, fake, "/api/v3/klines", symbol="BTCUSDT", interval="1m", limit=1
            )
            statuses.append(status)
        assert statuses == [200, 200, 200, 200, 200]
        assert headers["x-mbx-used-weight-1m"] == "10"
        status, headers, body = await get(session, fake, "/api/v3/ping")
        assert status == 429
        assert body["code"] == -1003
        assert "request weight per minute is 10" in body["msg"]
        assert 1 <= int(headers["Retry-After"]) <= 2
        status, headers, body = await get(session, fake, "/api/v3/ping")
        assert status == 418
        assert int(headers["Retry-After"]) >= 1
        status, _, _ = await get(session, fake, "/api/v3/ping")
        assert status == 418
        _, _, stats = await get(session, fake, "/fake/stats")
        assert stats["http_429"] == 1
        assert stats["http_418"] == 2
        assert stats["weight_total"] >= 11
