"""Reconciliation: analytics.candles_1m against the official klines, listed, repaired, rebuilt."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from include.cli import app
from include.history.backfill import backfill_rest
from include.platform.times import parse_utc, to_ms
from include.quality import Window, run_checks
from include.timeframes import build_timeframes
from tests.include.history_support import official

pytestmark = pytest.mark.slow

START = parse_utc("2025-03-11T09:30")
END = parse_utc("2025-03-11T10:30")
WRONG_VOLUME = parse_utc("2025-03-11T09:41")
LIVE_ONLY = parse_utc("2025-03-11T09:50")
IN_HALT = parse_utc("2025-03-11T10:02")  # HALTUSDT does not trade 10:00:30-10:05
SYMBOLS = ("ETHUSDT", "HALTUSDT")


def analytics(conn: psycopg.Connection, symbol: str) -> list[tuple]:
    """analytics.candles_1m of the window in the official tuple shape."""
    rows = conn.execute(
        "select (extract(epoch from open_time) * 1000)::bigint, open, high, low, close, volume, "
        "quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume "
        "from analytics.candles_1m where symbol = %s and open_time >= %s and open_time < %s "
        "order by open_time",
        (symbol, START, END),
    ).fetchall()
    return [tuple(r) for r in rows]


def damage(conn: psycopg.Connection) -> None:
    """Three ways a minute goes wrong where jobs meet: a bad load, a live-only minute, a halt
    filled by a trades dump."""
    conn.execute(
        "update market.klines_1m set volume = volume + 1, loaded_at = now() "
        "where symbol = 'ETHUSDT' and open_time = %s",
        (WRONG_VOLUME,),
    )
    conn.execute(
        "with gone as (delete from market.klines_1m where symbol = 'ETHUSDT' and open_time = %s "
        "returning *) insert into market.candles_1m_live (symbol, open_time, open, high, low, "
        "close, volume, quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume, "
        "is_closed) select symbol, open_time, open, high, low, close, volume, "
        "quote_volume, trade_count + 1, taker_buy_volume, taker_buy_quote_volume, true from gone",
        (LIVE_ONLY,),
    )
    conn.execute(
        "insert into market.klines_1m (symbol, open_time, open, high, low, close, volume, "
        "quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume, source) "
        "select symbol, %s, close, close, close, close, 0, 0, 0, 0, 0, 'dump_trades' "
        "from market.klines_1m where symbol = 'HALTUSDT' and open_time < %s "
        "order by open_time desc limit 1",
        (IN_HALT, IN_HALT),
    )


def test_reconcile_lists_repairs_and_rebuilds(
    fake, database_url: str, conn: psycopg.Connection, tmp_path: Path, monkeypatch
) -> None:
    """Every differing minute is named by symbol, minute and field, then made official."""
    monkeypatch.setenv("BINANCE_REST_URL", fake.url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    backfill_rest(list(SYMBOLS), START, END)
    build_timeframes(database_url, unit_tests=False)
    damage(conn)
    build_timeframes(database_url, unit_tests=False)
    window = ["--start", START.isoformat(), "--end", END.isoformat()]
    symbols = ["-s", "ETHUSDT", "-s", "HALTUSDT"]

    listed = CliRunner().invoke(app, ["reconcile", *window, *symbols, "--no-repair"])
    assert listed.exit_code == 1, listed.output
    assert "ETHUSDT 2025-03-11T09:41 volume:" in listed.output
    assert "ETHUSDT 2025-03-11T09:50 trade_count:" in listed.output
    assert "HALTUSDT 2025-03-11T10:02 extra:" in listed.output

    fixed = CliRunner().invoke(app, ["reconcile", *window, *symbols])
    assert fixed.exit_code == 0, fixed.output
    assert "timeframes rebuilt" in fixed.output
    a, b = to_ms(START), to_ms(END)
    for symbol in SYMBOLS:
        assert analytics(conn, symbol) == official(fake.market, symbol, a, b)

    # One empty answer (a partial answer happens) deletes nothing: every minute it lacked is
    # asked for again, and the second answer has them.
    fake.empty_klines(1)
    again = CliRunner().invoke(app, ["reconcile", *window, *symbols])
    assert again.exit_code == 0, again.output
    assert "0 repaired, 0 left different" in again.output
    runs = conn.execute(
        "select symbol, minutes_mismatched from market.reconciliations order by symbol"
    ).fetchall()
    assert runs == [("ETHUSDT", 0), ("HALTUSDT", 0)], "a rerun replaces the window's record"

    report = run_checks(
        database_url,
        Window(START, END),
        symbols=SYMBOLS,
        expect_live=False,
        gx_root=tmp_path / "gx",
    )
    [share] = [n for n in report.notes if n.name == "reconciled_share"]
    assert {(r["symbol"], r["share"]) for r in share.rows} == {
        ("ETHUSDT", 1),
        ("HALTUSDT", 1),
    }


def test_reconcile_compares_from_each_symbols_history_on(
    fake, database_url: str, conn: psycopg.Connection, tmp_path: Path, monkeypatch
) -> None:
    """The window's minutes before a symbol's first minute held are not differences: they are
    counted, not fetched, listed or loaded (the first weekly run after a two-day bootstrap
    loaded a week of 2,000 symbols and listed every minute as missing); a hole after it is."""
    monkeypatch.setenv("BINANCE_REST_URL", fake.url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    history = parse_utc("2025-03-11T10:00")
    backfill_rest(["ETHUSDT"], history, END)
    conn.execute(
        "delete from market.klines_1m where symbol = 'ETHUSDT' and open_time = %s",
        (parse_utc("2025-03-11T10:10"),),
    )
    build_timeframes(database_url, unit_tests=False)
    window = ["--start", START.isoformat(), "--end", END.isoformat()]
    done = CliRunner().invoke(app, ["reconcile", *window, "-s", "ETHUSDT", "-s", "HALTUSDT"])
    assert done.exit_code == 0, done.output
    assert (
        "ETHUSDT: 30 official minutes compared, 1 repaired, 0 left different; "
        "30 minutes before its history not compared" in done.output
    )
    assert "HALTUSDT: 0 official minutes compared" in done.output
    held = conn.execute(
        "select symbol, min(open_time), count(*) from market.klines_1m group by symbol"
    ).fetchall()
    assert held == [("ETHUSDT", history, 30)]
    listed = conn.execute(
        "select symbol, open_time, field from market.reconcile_mismatches"
    ).fetchall()
    assert listed == [("ETHUSDT", parse_utc("2025-03-11T10:10"), "missing")]
