"""The fake's /api/v3/ticker/24hr: every field from the trades of the window, as the clock moves.

The oracle is the fake's own trade list over [openTime, now]: a different road from the
per-minute statistics the ticker keeps, so a wrong minute, a wrong window edge or a stale kept
window shows as a wrong field.
"""

from __future__ import annotations

import pytest

from fakebinance.market import MINUTE_US, fmt8

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]


async def get(session, fake, path, **params):
    async with session.get(f"{fake.url}{path}", params={k: str(v) for k, v in params.items()}) as r:
        return r.status, r.headers, await r.json(content_type=None)


def expected(market, symbol: str) -> dict:
    """The 24hr fields that follow from the trades alone."""
    now_us = market.clock.now_us()
    open_min = now_us // MINUTE_US - 1440
    t = market.trade_arrays(symbol, open_min * MINUTE_US, now_us + 1)
    if not len(t.ids):
        return {"count": 0, "firstId": -1, "lastId": -1, "volume": fmt8(0)}
    return {
        "openTime": open_min * 60_000,
        "closeTime": now_us // 1000,
        "count": len(t.ids),
        "firstId": int(t.ids[0]),
        "lastId": int(t.ids[-1]),
        "openPrice": fmt8(int(t.price[0])),
        "highPrice": fmt8(int(t.price.max())),
        "lowPrice": fmt8(int(t.price.min())),
        "lastPrice": fmt8(int(t.price[-1])),
        "lastQty": fmt8(int(t.qty[-1])),
        "volume": fmt8(int(t.qty.sum())),
        "quoteVolume": fmt8(int(t.quote.sum())),
    }


async def test_ticker_24hr_equals_the_trades_of_the_window_as_the_clock_moves(
    fake, session, frozen_clock
):
    """Every symbol at once (weight 80), then again 37 minutes and 20 seconds later (the kept
    windows move on): each field equals what the window's own trades give."""
    for step in (0, 37 * 60 + 20):
        frozen_clock.advance(step)
        status, headers, rows = await get(session, fake, "/api/v3/ticker/24hr")
        assert status == 200
        listed = [s.symbol for s in fake.market.specs() if fake.market.is_listed(s.symbol)]
        assert [r["symbol"] for r in rows] == listed
        for row in rows:
            want = expected(fake.market, row["symbol"])
            assert {k: row[k] for k in want} == want, row["symbol"]
            if row["count"]:
                assert row["prevClosePrice"] != fmt8(0)
                assert row["bidPrice"] == row["askPrice"] == row["lastPrice"]
    used = int(headers["x-mbx-used-weight-1m"])
    assert used >= 80


async def test_ticker_24hr_one_symbol_mini_and_errors(fake, session):
    """One symbol is an object of weight 2; MINI has Binance's fields in its order; a symbol not
    listed is -1121 and a type not FULL or MINI -1100."""
    status, headers, one = await get(session, fake, "/api/v3/ticker/24hr", symbol="BTCUSDT")
    assert (status, one["symbol"]) == (200, "BTCUSDT")
    assert headers["x-mbx-used-weight-1m"] == "2"
    _, _, mini = await get(
        session, fake, "/api/v3/ticker/24hr", symbols='["BTCUSDT","QUIETUSDT"]', type="MINI"
    )
    assert [list(r) for r in mini] == [
        [
            "symbol", "openPrice", "highPrice", "lowPrice", "lastPrice", "volume",
            "quoteVolume", "openTime", "closeTime", "firstId", "lastId", "count",
        ]
    ] * 2  # fmt: skip
    assert mini[0]["lastId"] == one["lastId"]
    status, _, err = await get(session, fake, "/api/v3/ticker/24hr", symbol="NOPEUSDT")
    assert (status, err["code"]) == (400, -1121)
    status, _, err = await get(session, fake, "/api/v3/ticker/24hr", type="BIG")
    assert (status, err["code"]) == (400, -1100)


async def test_a_symbol_without_a_trade_all_day_has_binances_minus_one_ids(
    fake, session, frozen_clock
):
    """Halted for a whole day: no trade in the window, ids -1, count 0, prices the last one."""
    fake.market.set_status("QUIETUSDT", "BREAK")
    frozen_clock.advance(25 * 3600)
    _, _, row = await get(session, fake, "/api/v3/ticker/24hr", symbol="QUIETUSDT")
    last = fake.market.last_trade_before("QUIETUSDT", frozen_clock.now_us())
    assert (row["firstId"], row["lastId"], row["count"]) == (-1, -1, 0)
    assert row["lastPrice"] == row["openPrice"] == fmt8(int(last.price.scaleb(8)))
    assert row["volume"] == fmt8(0)
