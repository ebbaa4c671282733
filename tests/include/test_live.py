"""The live view shows the newest candle of each symbol, exactly as stored."""

from __future__ import annotations

import psycopg

from include.platform.live import format_rows, latest_candles

INSERT = """
insert into market.candles_1m_live (symbol, open_time, open, high, low, close, volume,
    quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume, is_closed)
values (%s, %s, %s, %s, %s, %s, %s, 0, %s, 0, 0, %s)
"""


def test_latest_candle_per_symbol(conn: psycopg.Connection) -> None:
    """Only each symbol's newest minute is shown, with its exact decimals and closed flag."""
    conn.execute(INSERT, ("BTCUSDT", "2025-01-01T00:00Z", 1, 2, 1, 2, 3, 4, True))
    conn.execute(
        INSERT,
        ("BTCUSDT", "2025-01-01T00:01Z", "93576.01", "93577", "93575", "93576.5", 1, 7, False),
    )
    conn.execute(
        INSERT,
        ("PEPEUSDT", "2025-01-01T00:00Z", "0.00001234", "0.00001240", "0.00001230", "0.00001235",
         "1000000", 9, True),
    )  # fmt: skip
    rows = latest_candles(conn)
    assert [(r[0], r[1].minute) for r in rows] == [("BTCUSDT", 1), ("PEPEUSDT", 0)]
    text = format_rows(rows)
    assert "93576.01" in text
    assert "0.00001234" in text
    btc_line = next(line for line in text.splitlines() if line.startswith("BTCUSDT"))
    assert btc_line.endswith("no")


def test_empty_table_says_so(conn: psycopg.Connection) -> None:
    """With no candles yet the view says so instead of printing an empty table."""
    assert "(no candles yet)" in format_rows(latest_candles(conn))
