"""SECOND_CANDLE_SYMBOLS: 1s candles built by the running streamer from the fake's trades."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest
from psycopg.rows import dict_row

from include.platform.times import CANDLE_FIELDS
from tests.support.streamer import market_minutes, running, streamer_config, wait_until

SECOND_US = 1_000_000


def _rows(database_url: str, symbol: str) -> list[dict]:
    with psycopg.connect(database_url) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "select * from market.candles_1s_live where symbol = %s order by open_time", (symbol,)
        )
        return cur.fetchall()


def _expected(fake, symbol: str, first_us: int, end_us: int) -> dict[int, dict]:
    """Binance's 1s klines over [first_us, end_us) built from the exchange's own trades: each
    second's trades, or the previous close with zero volume for a second without one."""
    before = fake.market.trades(symbol, first_us - 3_600 * SECOND_US, first_us)
    close = before[-1].price if before else None
    by_second: dict[int, list] = {}
    for t in fake.market.trades(symbol, first_us, end_us):
        by_second.setdefault(t.time_us - t.time_us % SECOND_US, []).append(t)
    out = {}
    zero = Decimal(0)
    for second in range(first_us, end_us, SECOND_US):
        trades = by_second.get(second)
        if trades:
            takers = [t for t in trades if not t.is_buyer_maker]
            out[second] = {
                "open": trades[0].price,
                "high": max(t.price for t in trades),
                "low": min(t.price for t in trades),
                "close": trades[-1].price,
                "volume": sum((t.qty for t in trades), zero),
                "quote_volume": sum((t.price * t.qty for t in trades), zero),
                "trade_count": len(trades),
                "taker_buy_volume": sum((t.qty for t in takers), zero),
                "taker_buy_quote_volume": sum((t.price * t.qty for t in takers), zero),
            }
            close = trades[-1].price
        elif close is not None:
            out[second] = dict.fromkeys(("open", "high", "low", "close"), close) | {
                "volume": zero,
                "quote_volume": zero,
                "trade_count": 0,
                "taker_buy_volume": zero,
                "taker_buy_quote_volume": zero,
            }
    return out


@pytest.mark.slow
async def test_second_candles_equal_binances_for_the_named_symbols_only(fake, database_url):
    """BTCUSDT named in SECOND_CANDLE_SYMBOLS: its closed seconds run without a hole and each
    equals the 1s kline of the exchange's trades (idle seconds repeat the close); ETHUSDT, not
    named, gets none; seconds older than SECOND_CANDLE_RETENTION (by the newest second held)
    are deleted while the streamer runs."""
    config = streamer_config(
        fake, database_url, second_symbols=frozenset({"BTCUSDT"}), second_retention=90.0
    )
    async with running(config, fake) as streamer:
        streamer.writer.purge_interval = 0.5
        await market_minutes(fake, 2.5)
        await wait_until(
            lambda: streamer.aggregator.seconds.closed > 120, 20, "two minutes of closed seconds"
        )
    rows = _rows(database_url, "BTCUSDT")
    closed = [r for r in rows if r["is_closed"]]
    opens = [int(r["open_time"].timestamp() * SECOND_US) for r in closed]
    assert len(closed) > 60
    assert opens == list(range(opens[0], opens[-1] + SECOND_US, SECOND_US)), "a hole"
    expected = _expected(fake, "BTCUSDT", opens[0], opens[-1] + SECOND_US)
    idle = 0
    for open_us, row in zip(opens, closed, strict=True):
        want = expected[open_us]
        assert {f: row[f] for f in CANDLE_FIELDS if f in want} == want, row["open_time"]
        idle += want["trade_count"] == 0
    assert 0 < idle < len(closed), "both traded and idle seconds were checked"
    assert _rows(database_url, "ETHUSDT") == []
    # Purged every half a wall second (10 market seconds) to 90 s behind the newest second.
    span = (rows[-1]["open_time"] - rows[0]["open_time"]).total_seconds()
    assert span <= 90 + 30, f"{span} s of seconds held: retention not applied"
