"""The live view shows the newest candle of each symbol, exactly as stored."""

from __future__ import annotations

import psycopg

from include.platform.live import format_rows, latest_candles, view

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


def test_many_symbols_show_one_summary_line(conn: psycopg.Connection) -> None:
    """Above 20 symbols (ALL) the view is one line: symbols live, minutes late to close, the
    newest closed minute; not a line per symbol."""
    for i in range(25):
        conn.execute(
            INSERT.replace("%s, %s, %s, %s, %s, %s, %s, 0", "%s, date_trunc('minute', now()) - "
                           "%s * interval '1 minute', %s, %s, %s, %s, %s, 0"),
            (f"SYM{i:04d}USDT", 1, 1, 1, 1, 1, 1, 1, True),
        )  # fmt: skip
    late = "date_trunc('minute', now()) - interval '5 minutes'"
    conn.execute(
        INSERT.replace("%s, %s, %s,", f"%s, {late}, %s,", 1),
        ("SYM0000USDT", 1, 1, 1, 1, 1, 1, False),
    )
    newest = conn.execute(
        "select to_char(date_trunc('minute', now() at time zone 'UTC') - interval '1 minute', "
        "'YYYY-MM-DD HH24:MI')"
    ).fetchone()[0]
    text = view(conn)
    assert text.splitlines() == [
        f"25 of 25 symbols live (a candle in the last 10 min), 1 open minutes older than 2 min, "
        f"newest closed minute {newest} UTC, last write {text.rsplit('write ', 1)[1]}"
    ]
    assert "SYM0001USDT" in view(conn, summarize=False)


def test_few_symbols_keep_the_table(conn: psycopg.Connection) -> None:
    """The default three symbols still get their line each."""
    conn.execute(INSERT, ("BTCUSDT", "2025-01-01T00:00Z", 1, 2, 1, 2, 3, 4, True))
    assert view(conn).splitlines()[1].startswith("BTCUSDT")
