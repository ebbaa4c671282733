"""Gap healing against the fake exchange: holes and recorded gaps filled, halts never invented."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg

from fakebinance.clock import MarketClock
from fakebinance.server import FakeBinance
from include.history import klines_store
from include.history.backfill import backfill_rest
from include.history.heal import HALT_REASON, heal_gaps
from include.platform.times import MINUTE_MS, parse_utc, to_ms
from tests.include.history_support import (
    HALT,
    NOW,
    market_config,
    official,
    snapshot,
    stored,
)
from tests.support.gaps import punch_hole

START = parse_utc("2025-03-11T08:00")
END = parse_utc("2025-03-11T14:00")


def heal(fake, symbols: list[str]):
    # lag 0 and a bounded horizon keep the run to the test's window.
    return heal_gaps(symbols, rest_url=fake.url, lag_minutes=0)


def test_holes_are_filled_and_recorded(fake, conn: psycopg.Connection) -> None:
    """Minutes deleted from the middle of the series come back equal to the official klines."""
    backfill_rest(["ETHUSDT"], START, END, rest_url=fake.url)
    conn.execute(
        "delete from market.klines_1m where symbol = 'ETHUSDT' and open_time >= %s "
        "and open_time < %s",
        (START + timedelta(hours=1), START + timedelta(hours=2)),
    )
    result = heal(fake, ["ETHUSDT"])
    # The hole plus everything from END up to now: ETHUSDT trades, so that is missing too.
    tail = int((NOW.replace(second=0) - END).total_seconds() // 60)
    assert result.filled["ETHUSDT"] == 60 + tail
    start_ms, end_ms = to_ms(START), to_ms(NOW.replace(second=0))
    assert stored(conn, "ETHUSDT", start_ms, end_ms) == official(
        fake.market, "ETHUSDT", start_ms, end_ms
    )
    gaps = conn.execute(
        "select gap_start, healed_by from market.ingest_gaps order by gap_start"
    ).fetchall()
    assert gaps[0] == (START + timedelta(hours=1), "heal-gaps")


def test_recorded_gap_is_marked_healed(fake, conn: psycopg.Connection) -> None:
    """A gap the streamer recorded is fetched and gets healed_at and healed_by."""
    backfill_rest(["BTCUSDT"], START, NOW.replace(second=0), rest_url=fake.url)
    punch_hole(conn, START + timedelta(minutes=30), 3, "trade_id_jump", "streamer")
    assert heal(fake, ["BTCUSDT"]).filled["BTCUSDT"] == 3
    row = conn.execute(
        "select reason, healed_by, healed_at is not null from market.ingest_gaps"
    ).fetchone()
    assert row == ("trade_id_jump", "heal-gaps", True)


def test_halt_is_recorded_not_invented_and_not_refetched(fake, conn: psycopg.Connection) -> None:
    """Halted minutes stay empty, are recorded as having no kline, and a rerun does nothing."""
    backfill_rest(["HALTUSDT"], START, NOW.replace(second=0), rest_url=fake.url)
    halt_start = HALT[0].replace(second=0)
    assert (
        conn.execute(
            "select count(*) from market.klines_1m where open_time >= %s and open_time < %s",
            (halt_start, HALT[1]),
        ).fetchone()[0]
        == 0
    )
    before = snapshot(conn)
    result = heal(fake, ["HALTUSDT"])
    assert result.filled["HALTUSDT"] == 0
    assert result.unfillable["HALTUSDT"] == 5
    assert snapshot(conn) == before
    row = conn.execute("select gap_start, gap_end, reason from market.ingest_gaps").fetchone()
    assert row == (halt_start, HALT[1], HALT_REASON)
    again = heal(fake, ["HALTUSDT"])
    assert again.spans["HALTUSDT"] == 0


def test_a_delisted_symbols_last_live_minutes_become_official(conn: psycopg.Connection) -> None:
    """PEPEUSDT leaves TRADING while the streamer holds its newest minutes (the last one still
    open, the idle ones after it never closed): heal-gaps replaces them with REST's klines up to
    the last one Binance has, records no halt after it, and does not ask again."""
    delisted_at = NOW - timedelta(minutes=30)
    clock = MarketClock(delisted_at, speed=0)
    fake = FakeBinance.run_in_thread(market_config(), clock=clock)
    try:
        fake.set_status("PEPEUSDT", "BREAK")
        clock.set(NOW)
        last_ms = to_ms(delisted_at.replace(second=0))  # its last kline's minute
        first_ms = last_ms - 10 * MINUTE_MS
        klines = official(fake.market, "PEPEUSDT", first_ms, last_ms + 30 * MINUTE_MS)
        assert klines[-1][0] == last_ms, "the fake's last PEPEUSDT kline moved"
        # The streamer closed the first seven minutes; the eighth is open and short of trades.
        live = [(*k, True) for k in klines[:7]]
        partial = klines[7]
        live.append((*partial[:7], partial[7] - 1, *partial[8:], False))
        with conn.cursor() as cur:
            cur.executemany(
                "insert into market.candles_1m_live (symbol, open_time, open, high, low, close, "
                "volume, quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume, "
                "is_closed) values ('PEPEUSDT', to_timestamp(%s / 1000.0), %s, %s, %s, %s, %s, "
                "%s, %s, %s, %s, %s)",
                live,
            )
        result = heal_gaps(None, rest_url=fake.url, lag_minutes=0)
        assert result.filled["PEPEUSDT"] == 4  # the open minute and the three never closed
        assert stored(conn, "PEPEUSDT", first_ms, NOW.timestamp() * 1000) == klines[7:]
        assert klines[7:] == official(fake.market, "PEPEUSDT", first_ms + 7 * MINUTE_MS, 10**14)
        halts = conn.execute(
            "select count(*) from market.ingest_gaps where reason = %s", (HALT_REASON,)
        ).fetchone()[0]
        assert halts == 0, "the minutes after a delisting are no halt"
        before = snapshot(conn), conn.execute("select * from market.ingest_gaps").fetchall()
        again = heal_gaps(["PEPEUSDT"], rest_url=fake.url, lag_minutes=0)
        assert again.spans["PEPEUSDT"] == 0, "a settled delisting is healed again"
        assert (
            snapshot(conn),
            conn.execute("select * from market.ingest_gaps").fetchall(),
        ) == before
    finally:
        fake.stop()


def test_a_run_looks_only_after_what_the_last_one_checked(fake, conn: psycopg.Connection) -> None:
    """A run costs what happened since the last: a minute removed behind heal-gaps' back, before
    its watermark, is not looked for again (the quality check reports it); --full finds it."""
    backfill_rest(["ETHUSDT"], START, END, rest_url=fake.url)
    heal(fake, ["ETHUSDT"])
    removed = START + timedelta(minutes=90)
    conn.execute(
        "delete from market.klines_1m where symbol = 'ETHUSDT' and open_time = %s", (removed,)
    )
    assert heal(fake, ["ETHUSDT"]).filled["ETHUSDT"] == 0
    full = heal_gaps(["ETHUSDT"], rest_url=fake.url, lag_minutes=0, full=True)
    assert full.filled["ETHUSDT"] == 1
    start_ms, end_ms = to_ms(START), to_ms(NOW.replace(second=0))
    assert stored(conn, "ETHUSDT", start_ms, end_ms) == official(
        fake.market, "ETHUSDT", start_ms, end_ms
    )


def test_loading_older_minutes_makes_heal_look_behind_them(fake, conn: psycopg.Connection) -> None:
    """After a heal, a backfill of an earlier stretch leaves a hole between it and the series:
    the load moves the watermark back, and the next run fills the hole."""
    backfill_rest(["BTCUSDT"], START, END, rest_url=fake.url)
    heal(fake, ["BTCUSDT"])
    earlier = START - timedelta(hours=3)
    backfill_rest(["BTCUSDT"], earlier, earlier + timedelta(hours=1), rest_url=fake.url)
    assert heal(fake, ["BTCUSDT"]).filled["BTCUSDT"] == 120
    start_ms, end_ms = to_ms(earlier), to_ms(NOW.replace(second=0))
    assert stored(conn, "BTCUSDT", start_ms, end_ms) == official(
        fake.market, "BTCUSDT", start_ms, end_ms
    )


def test_a_listings_first_minutes_before_its_first_live_candle_are_fetched(
    fake, conn: psycopg.Connection
) -> None:
    """A symbol the streamer began late (a listing whose first trades came before its stream was
    subscribed) has no hole between candles to show them: heal-gaps fetches the official
    minutes before its first live candle, once, and invents none."""
    first_live = to_ms(NOW.replace(second=0)) - 30 * MINUTE_MS
    live = official(fake.market, "ETHUSDT", first_live, first_live + 20 * MINUTE_MS)
    with conn.cursor() as cur:
        cur.executemany(
            "insert into market.candles_1m_live (symbol, open_time, open, high, low, close, "
            "volume, quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume, "
            "is_closed) values ('ETHUSDT', to_timestamp(%s / 1000.0), %s, %s, %s, %s, %s, "
            "%s, %s, %s, %s, true)",
            live,
        )
    heal(fake, ["ETHUSDT"])
    before = first_live - 1000 * MINUTE_MS
    assert stored(conn, "ETHUSDT", before, first_live) == official(
        fake.market, "ETHUSDT", before, first_live
    )
    again = heal(fake, ["ETHUSDT"])
    assert again.spans["ETHUSDT"] == 0, "the minutes before the first candle are fetched again"


def test_a_watermark_moved_back_while_heal_runs_stays_moved_back(
    fake, conn: psycopg.Connection, database_url: str
) -> None:
    """heal-gaps scans after its watermark and then advances it; a loader that loads older
    minutes meanwhile moves it back (holes may lie behind them). The loader's move wins: the
    next run looks at those minutes (before, heal overwrote it with its own horizon)."""
    backfill_rest(["ETHUSDT"], START + timedelta(hours=2), END, rest_url=fake.url)
    conn.execute(
        "insert into market.heal_watermarks (symbol, checked_until) values ('ETHUSDT', %s)",
        (END,),
    )
    done: dict[str, object] = {}

    def run_heal() -> None:
        try:
            done["result"] = heal(fake, ["ETHUSDT"])
        except Exception as exc:  # reported by the assertion below
            done["error"] = exc

    with psycopg.connect(database_url) as loader:
        loader.execute("select 1 from market.heal_watermarks where symbol = 'ETHUSDT' for update")
        healer = threading.Thread(target=run_heal)
        healer.start()
        deadline = time.monotonic() + 60
        while not conn.execute(
            "select exists (select from pg_stat_activity where datname = current_database() "
            "and wait_event_type = 'Lock' and query like '%heal_watermarks%')"
        ).fetchone()[0]:
            assert healer.is_alive(), done
            assert time.monotonic() < deadline, "heal-gaps never reached its watermark"
            time.sleep(0.05)
        # The loader's move, as an import of older minutes makes it, committed while heal-gaps
        # is about to advance the watermark past it.
        klines_store.reopen_heal(loader, "ETHUSDT", START)
        loader.commit()
    healer.join(60)
    assert "result" in done, done
    assert conn.execute(
        "select checked_until from market.heal_watermarks where symbol = 'ETHUSDT'"
    ).fetchone() == (START,)


def test_one_empty_answer_is_not_a_halt(fake, conn: psycopg.Connection) -> None:
    """A hole whose first klines answer comes back empty is asked for again and filled: a
    minute is recorded as a halt only when two answers lack it."""
    backfill_rest(["ETHUSDT"], START, NOW.replace(second=0), rest_url=fake.url)
    hole = (START + timedelta(hours=1), START + timedelta(hours=1, minutes=30))
    conn.execute(
        "delete from market.klines_1m where symbol = 'ETHUSDT' and open_time >= %s "
        "and open_time < %s",
        hole,
    )
    fake.empty_klines(1)
    result = heal(fake, ["ETHUSDT"])
    assert result.filled["ETHUSDT"] == 30
    halts = conn.execute(
        "select count(*) from market.ingest_gaps where symbol = 'ETHUSDT' and reason = %s",
        (HALT_REASON,),
    ).fetchone()
    assert halts == (0,)


def test_heal_reads_the_first_day_a_dump_only_history_lacks(fake, conn) -> None:
    """History loaded from dumps alone (no REST backfill) has no first day of trading, so no
    3d candles: the next heal reads it (the symbol's first 1d kline at Binance)."""
    heal(fake, ["BTCUSDT"])
    conn.execute("update market.symbols set first_day = null where symbol = 'BTCUSDT'")
    heal(fake, ["BTCUSDT"])
    (day,) = conn.execute(
        "select first_day from market.symbols where symbol = 'BTCUSDT'"
    ).fetchone()
    first = fake.market.klines("BTCUSDT", "1d", start_ms=0, limit=1)[0].open_time
    assert to_ms(datetime.combine(day, datetime.min.time(), UTC)) == first


def unexplained_minutes(conn: psycopg.Connection, symbol: str, start, end) -> list[datetime]:
    """Minutes of [start, end) that continuity would call missing: neither held nor inside an
    open gap or a halt (check_continuity_minutes.sql's exemption)."""
    rows = conn.execute(
        "select minute from generate_series(%(a)s::timestamptz, %(b)s::timestamptz "
        "- interval '1 minute', interval '1 minute') as minute "
        "where not exists (select from market.klines_1m k where k.symbol = %(s)s "
        "and k.open_time = minute) "
        "and not exists (select from market.candles_1m_live l where l.symbol = %(s)s "
        "and l.is_closed and l.open_time = minute) "
        "and not exists (select from market.ingest_gaps g where g.symbol = %(s)s "
        "and (g.healed_at is null or g.reason = 'halt') "
        "and minute >= g.gap_start and minute < g.gap_end)",
        {"s": symbol, "a": start, "b": end},
    ).fetchall()
    return [r[0] for r in rows]


def test_a_gap_cut_at_the_horizon_stays_open_past_it(fake, conn: psycopg.Connection) -> None:
    """The streamer lost minutes and recorded the gap; it resumes at a minute inside heal's
    horizon (the last lag minutes), its candles after it not closed yet. heal-gaps fetches the
    gap up to the horizon only, and marks only that part healed: the rest stays an open gap
    (continuity exempts it) and the next run, its horizon past it, fills it. (On the old code
    the whole row was marked healed: the minutes past the horizon were neither held nor
    exempt, and no later run fetched them, the row claiming them settled.)"""
    now = NOW.replace(second=0)
    gap = (now - timedelta(minutes=8), now - timedelta(minutes=2))
    backfill_rest(["BTCUSDT"], START, gap[0], rest_url=fake.url)
    conn.execute(
        "insert into market.ingest_gaps (symbol, gap_start, gap_end, reason, detected_by) "
        "values ('BTCUSDT', %s, %s, 'trade_id_jump', 'streamer')",
        gap,
    )
    horizon = now - timedelta(minutes=5)
    assert heal_gaps(["BTCUSDT"], rest_url=fake.url, lag_minutes=5).filled["BTCUSDT"] == 3
    rows = conn.execute(
        "select gap_start, gap_end, reason, detected_by, healed_at is not null "
        "from market.ingest_gaps where symbol = 'BTCUSDT' order by gap_start"
    ).fetchall()
    assert rows == [
        (gap[0], horizon, "trade_id_jump", "streamer", True),
        (horizon, gap[1], "trade_id_jump", "streamer", False),
    ]
    assert unexplained_minutes(conn, "BTCUSDT", START, horizon) == []
    assert unexplained_minutes(conn, "BTCUSDT", horizon, gap[1]) == []

    # The streamer closes its minutes from the gap's end on; the next run fills the rest.
    resumed = official(fake.market, "BTCUSDT", to_ms(gap[1]), to_ms(now))
    with conn.cursor() as cur:
        cur.executemany(
            "insert into market.candles_1m_live (symbol, open_time, open, high, low, close, "
            "volume, quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume, "
            "is_closed) values ('BTCUSDT', to_timestamp(%s / 1000.0), %s, %s, %s, %s, %s, "
            "%s, %s, %s, %s, true)",
            resumed,
        )
    assert heal(fake, ["BTCUSDT"]).filled["BTCUSDT"] == 3
    assert unexplained_minutes(conn, "BTCUSDT", START, now) == []
    start_ms, end_ms = to_ms(START), to_ms(gap[1])
    assert stored(conn, "BTCUSDT", start_ms, end_ms) == official(
        fake.market, "BTCUSDT", start_ms, end_ms
    )
    assert conn.execute(
        "select count(*) from market.ingest_gaps where healed_at is null"
    ).fetchone() == (0,)
