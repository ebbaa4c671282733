"""SIGKILL and a restart minutes later: every minute in between is repaired or recorded.

`python -m streamer` runs in a subprocess against the fake exchange (20 market seconds per wall
second), is killed with SIGKILL (nothing flushed, nothing said), and a new one starts three
market minutes later. The new one seeds each symbol at REST's latest trade; the minutes between
the newest closed one the killed run wrote and that seed must not become an unrecorded hole.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import psycopg
import pytest

from fakebinance.server import FakeBinance
from include.platform.times import MINUTE_MS
from streamer import gaps as gaps_module
from streamer import subscriptions as subscriptions_module
from streamer.fetch import GapFetch
from streamer.gap import Gap
from streamer.parser import parse_frame
from streamer.recovery import Recovery
from streamer.rest import RestClient
from tests.support import streamer as support

SYMBOLS = ("BTCUSDT", "ETHUSDT", "PEPEUSDT", "QUIETUSDT")
BUSY = ("BTCUSDT", "ETHUSDT", "PEPEUSDT")


async def start_streamer(
    fake: FakeBinance, database_url: str, log: Path
) -> asyncio.subprocess.Process:
    """`python -m streamer` on the fake for SYMBOLS."""
    return await support.start_streamer(fake, database_url, log, SYMBOLS=",".join(SYMBOLS))


def to_ms(value: object) -> int:
    return int(value.timestamp()) * 1000  # type: ignore[attr-defined]


def newest_row_ms(database_url: str, symbol: str) -> int:
    """The newest minute of the symbol's live candles, closed or not (0 without one)."""
    with psycopg.connect(database_url) as conn:
        [newest] = conn.execute(
            "select max(open_time) from market.candles_1m_live where symbol = %s", (symbol,)
        ).fetchone()
    return 0 if newest is None else to_ms(newest)


@pytest.mark.slow
async def test_minutes_a_sigkill_cost_are_repaired_or_recorded(
    fake: FakeBinance, database_url: str, tmp_path: Path
) -> None:
    """After SIGKILL and a restart three market minutes later, every minute Binance has a kline
    for is a closed, exact candle or inside a recorded gap; with REST up they are repaired."""
    log = tmp_path / "streamer.log"
    first = await start_streamer(fake, database_url, log)
    await support.until_killed(
        first,
        lambda: all(len(support.closed_rows(database_url, s)) >= 2 for s in BUSY),
        60,
        "the first run to close two minutes",
    )
    before = {s: support.newest_closed_ms(database_url, s) for s in SYMBOLS}
    await support.market_minutes(fake, 3)
    asked_before = dict(fake.stats()["requests_by_path"])
    second = await start_streamer(fake, database_url, log)
    restarted = support.market_minute(fake)
    # The restart's first minute and the next closed: the missed ones were dealt with first.
    await support.until_stopped(
        second,
        log,
        support.closed_after(database_url, BUSY, restarted),
        60,
        "minutes to close after the restart",
    )
    asked = {
        path: n - asked_before.get(path, 0)
        for path, n in fake.stats()["requests_by_path"].items()
        if n > asked_before.get(path, 0)
    }
    for symbol in BUSY:
        # The kill did cost minutes: neither run closed the ones before the restart.
        newest = before[symbol]
        assert newest is not None
        assert newest + 2 * MINUTE_MS < restarted
    # Closed minutes equal Binance's klines; a minute Binance has and no closed row holds is
    # inside a recorded gap.
    support.assert_exact(fake, database_url, SYMBOLS, min_rows=1, contiguous=False)
    gaps = support.gap_rows(database_url)
    for symbol in SYMBOLS:
        rows = support.closed_rows(database_url, symbol)
        if not rows:
            continue
        first_ms, last_ms = to_ms(rows[0]["open_time"]), to_ms(rows[-1]["open_time"])
        official = {k.open_time for k in fake.market.klines(symbol, "1m", first_ms, last_ms, 1000)}
        closed = {to_ms(r["open_time"]) for r in rows}
        spans = [
            (to_ms(g["gap_start"]), to_ms(g["gap_end"])) for g in gaps if g["symbol"] == symbol
        ]
        for minute in sorted(official - closed):
            assert any(a <= minute < b for a, b in spans), (
                f"{symbol} {minute}: missed across the restart, in no recorded gap"
            )
    # REST was up: the busy symbols' missed minutes were fetched and closed, and the span is
    # recorded as a restart gap, healed by the streamer.
    support.assert_exact(fake, database_url, BUSY, min_rows=3, contiguous=True)
    # Closed at Binance, they came from its klines (one request per symbol for 3 minutes); the
    # start's own minute came from aggregates by time (4 weight), never trade by trade
    # (historicalTrades, 25 weight a page).
    print("asked after the restart:", asked)
    assert asked.get("/api/v3/klines", 0) >= len(BUSY), asked
    assert asked.get("/api/v3/historicalTrades", 0) == 0, asked
    # The restart's first minute is a startup gap, not a loss the stream made.
    assert not [g for g in gaps if g["reason"] == "sequence"], gaps
    for symbol in BUSY:
        [restart] = [g for g in gaps if g["symbol"] == symbol and g["reason"] == "restart"]
        assert to_ms(restart["gap_start"]) == before[symbol] + MINUTE_MS
        assert restart["healed_by"] == "streamer:rest"
    # Each row says how it was made: the minutes the kill cost were copied from the klines,
    # those either run closed from the stream (before the kill, after the restart's gap) were
    # built from trades.
    for symbol in BUSY:
        made = {
            to_ms(r["open_time"]): r["from_klines"]
            for r in support.closed_rows(database_url, symbol)
        }
        missed = range(before[symbol] + MINUTE_MS, restarted, MINUTE_MS)
        assert [m for m in missed if not made[m]] == [], f"{symbol}: missed minutes from trades"
        [restart] = [g for g in gaps if g["symbol"] == symbol and g["reason"] == "restart"]
        streamed = [m for m in made if m <= before[symbol] or m >= to_ms(restart["gap_end"])]
        assert len(streamed) >= 3, f"{symbol}: {len(streamed)} minutes closed from the stream"
        from_klines = [m for m in streamed if made[m]]
        assert from_klines == [], f"{symbol}: streamed minutes from klines {from_klines}, {restart}"
    with psycopg.connect(database_url) as conn:
        unhealed = conn.execute(
            "select count(*) from market.ingest_gaps where healed_at is null"
        ).fetchone()[0]
    assert unhealed == 0


@pytest.mark.slow
async def test_a_symbol_trading_again_records_its_halt_for_heal_gaps(
    fake: FakeBinance, database_url: str
) -> None:
    """ALL mode: a symbol leaves TRADING, is dropped, trades again and is subscribed again. The
    minutes in between are recorded for heal-gaps, never filled as idle ones: a halt has no
    klines, so that would invent candles. Those of them Binance has a kline for the streamer
    closes itself, from the klines, without waiting for heal-gaps: the minute the halt cut
    short as soon as it is over (the symbol dropped), the first ones trading again before the
    stream's first trade when it is subscribed again."""
    cfg = support.streamer_config(fake, database_url, symbols=None, symbols_refresh_interval=1.0)
    async with support.running(cfg, fake) as streamer:
        await support.wait_until(
            lambda: len(support.closed_rows(database_url, "ETHUSDT")) >= 2, 30, "two closed minutes"
        )
        fake.set_status("ETHUSDT", "BREAK")
        # It trades to the end of this minute (the fake halts from the next one).
        cut = support.market_minute(fake)
        await support.wait_until(lambda: "ETHUSDT" not in streamer.shard_of, 10, "ETHUSDT dropped")
        # A frame still in flight when the UNSUBSCRIBE went out (seen under CI's load).
        late = fake.market.last_trade_before("ETHUSDT", fake.clock.now_us())
        assert late is not None
        streamer.on_trade(
            parse_frame(
                f'{{"e":"trade","E":{late.time_ms},"s":"ETHUSDT","t":{late.id},"p":"{late.price}",'
                f'"q":"{late.qty}","T":{late.time_ms},"m":false,"M":true}}'
            ),
            time.monotonic(),
        )
        await support.wait_until(
            lambda: (support.newest_closed_ms(database_url, "ETHUSDT") or 0) >= cut,
            30,
            "the minute the halt cut short closed from its kline",
        )
        before = support.newest_closed_ms(database_url, "ETHUSDT")
        assert before == cut, "nothing after the minute the halt cut short"
        await support.market_minutes(fake, 3)
        fake.set_status("ETHUSDT", "TRADING")
        back = support.market_minute(fake) + MINUTE_MS
        await support.wait_until(
            lambda: (support.newest_closed_ms(database_url, "ETHUSDT") or 0) > back,
            30,
            "minutes closed after ETHUSDT trades again",
        )
        await support.wait_until(
            lambda: span_with_klines_unclosed(fake, database_url) == set(),
            30,
            "the span's minutes with a kline closed by the streamer",
        )
    assert before is not None
    # Closed minutes all have a kline: none was invented for the halt.
    support.assert_exact(fake, database_url, ["ETHUSDT"], min_rows=3, contiguous=False)
    rows = support.closed_rows(database_url, "ETHUSDT")
    first_ms, last_ms = to_ms(rows[0]["open_time"]), to_ms(rows[-1]["open_time"])
    official = {k.open_time for k in fake.market.klines("ETHUSDT", "1m", first_ms, last_ms, 1000)}
    assert len(official) < (last_ms - first_ms) // MINUTE_MS + 1, "the halt should have no klines"
    [restart] = [g for g in support.gap_rows(database_url) if g["reason"] == "restart"]
    assert restart["symbol"] == "ETHUSDT"
    assert to_ms(restart["gap_start"]) == before + MINUTE_MS
    assert restart["healed_at"] is None
    assert "the rest may be a halt, left to heal-gaps" in restart["detail"], restart["detail"]
    restart_start, restart_end = to_ms(restart["gap_start"]), to_ms(restart["gap_end"])
    in_span = {m for m in official if restart_start <= m < restart_end}
    assert in_span <= {to_ms(r["open_time"]) for r in rows}
    spans = [(to_ms(g["gap_start"]), to_ms(g["gap_end"])) for g in support.gap_rows(database_url)]
    closed = {to_ms(r["open_time"]) for r in rows}
    for minute in sorted(official - closed):
        assert any(a <= minute < b for a, b in spans), f"ETHUSDT {minute}: in no recorded gap"


def span_with_klines_unclosed(fake: FakeBinance, database_url: str) -> set[int] | None:
    """The minutes of the restart gap that have a kline at Binance and are not closed yet
    (None before the gap is recorded)."""
    gaps = [g for g in support.gap_rows(database_url) if g["reason"] == "restart"]
    if not gaps:
        return None
    start, end = to_ms(gaps[0]["gap_start"]), to_ms(gaps[0]["gap_end"])
    official = {k.open_time for k in fake.market.klines("ETHUSDT", "1m", start, end - 1, 1000)}
    return official - {to_ms(r["open_time"]) for r in support.closed_rows(database_url, "ETHUSDT")}


async def first_run_then_pause(fake: FakeBinance, database_url: str) -> dict[str, int]:
    """A run that closes two minutes of every busy symbol, stopped; three market minutes pass.
    Returns each busy symbol's newest closed minute."""
    async with support.running(support.streamer_config(fake, database_url), fake):
        await support.wait_until(
            lambda: all(len(support.closed_rows(database_url, s)) >= 2 for s in BUSY),
            60,
            "the first run to close two minutes",
        )
    before = {s: support.newest_closed_ms(database_url, s) for s in BUSY}
    await support.market_minutes(fake, 3)
    return before  # type: ignore[return-value]


def restart_gaps(database_url: str) -> dict[str, dict]:
    return {g["symbol"]: g for g in support.gap_rows(database_url) if g["reason"] == "restart"}


@pytest.mark.slow
async def test_a_restart_without_startup_repair_records_what_it_missed(
    fake: FakeBinance, database_url: str
) -> None:
    """STREAMER_STARTUP_REPAIR=false fetches nothing at start, but the minutes between the
    newest closed one and the start (the start's own minute, not seeded, included) are
    recorded for heal-gaps, never left an unrecorded hole."""
    before = await first_run_then_pause(fake, database_url)
    restarted = support.market_minute(fake)
    cfg = support.streamer_config(fake, database_url, startup_repair=False)
    async with support.running(cfg, fake):
        await support.wait_until(
            lambda: set(BUSY) <= set(restart_gaps(database_url)), 20, "the restart's gaps"
        )
    gaps = restart_gaps(database_url)
    for symbol in BUSY:
        gap = gaps[symbol]
        assert to_ms(gap["gap_start"]) == before[symbol] + MINUTE_MS
        assert to_ms(gap["gap_end"]) >= restarted + MINUTE_MS
        assert gap["healed_at"] is None


@pytest.mark.slow
async def test_a_failed_read_at_start_is_retried_and_what_it_missed_recorded(
    fake: FakeBinance, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read of the newest closed minutes fails at start (the database away for a moment):
    it is tried again in the background, and the minutes missed before the start are then
    recorded for heal-gaps."""
    before = await first_run_then_pause(fake, database_url)
    restarted = support.market_minute(fake)
    read = Recovery._read_newest
    failures: list[int] = []

    async def fails_first(self: Recovery, symbols: list[str]) -> list[tuple]:
        if not failures:
            failures.append(1)
            raise psycopg.OperationalError("connection refused (the database restarts)")
        return await read(self, symbols)

    monkeypatch.setattr(Recovery, "_read_newest", fails_first)
    async with support.running(support.streamer_config(fake, database_url), fake):
        await support.wait_until(
            lambda: set(BUSY) <= set(restart_gaps(database_url)), 30, "the late read's gaps"
        )
    assert failures == [1]
    gaps = restart_gaps(database_url)
    for symbol in BUSY:
        assert to_ms(gaps[symbol]["gap_start"]) == before[symbol] + MINUTE_MS
        assert to_ms(gaps[symbol]["gap_end"]) >= restarted


@pytest.mark.slow
async def test_a_restart_seconds_after_a_minute_closed_leaves_that_minute_exact(
    fake: FakeBinance, database_url: str
) -> None:
    """The first run closed the minute before the running one and stopped; the next starts
    within Binance's 5 s for a kline to be final. It starts after the newest closed minute,
    never back at it: an idle candle of that minute must not overwrite the exact one (seen in
    make demo's SIGKILL check, restarted by the supervisor within two seconds)."""
    async with support.running(support.streamer_config(fake, database_url), fake):
        await support.wait_until(
            lambda: all(len(support.closed_rows(database_url, s)) >= 2 for s in BUSY),
            60,
            "the first run to close two minutes",
        )
        # Slow the market just before a minute begins: the restart can then fall in its first
        # seconds (at 20x, five market seconds are a quarter of a wall second).
        now = fake.clock.now_ms()
        running_minute = now - now % MINUTE_MS + MINUTE_MS
        if running_minute - now < 3_000:
            running_minute += MINUTE_MS
        await asyncio.sleep((running_minute - 3_000 - now) / 1000 / support.SPEED)
        fake.clock.set(fake.clock.now_us(), speed=0.5)
        previous = running_minute - MINUTE_MS
        await support.wait_until(
            lambda: all(support.newest_closed_ms(database_url, s) == previous for s in BUSY),
            20,
            "the minute before the running one to close",
        )
    assert fake.clock.now_ms() < running_minute + 3_000, "the first run stopped too late"
    restarted_at = fake.clock.now_ms()
    async with support.running(support.streamer_config(fake, database_url), fake) as streamer:
        # A klines start waits for the last minute's kline to be final: 5 s after the minute
        # began (10 s at half speed).
        await support.wait_until(
            lambda: all(
                streamer.aggregator.books.get(s) is not None
                and streamer.aggregator.books[s].high_seq is not None
                for s in BUSY
            ),
            20,
            "every busy symbol to start",
        )
        started_at = fake.clock.now_ms()
        from_klines = [s for s in BUSY if streamer.aggregator.books[s].seed_seq is not None]
        fake.clock.set(fake.clock.now_us(), speed=support.SPEED)
        await support.wait_until(
            lambda: all(
                (support.newest_closed_ms(database_url, s) or 0) > running_minute for s in BUSY
            ),
            30,
            "two minutes to close after the restart",
        )
    print(
        "restarted at", restarted_at - running_minute, "ms, started from klines:", from_klines,
        "at", started_at - running_minute, "ms",
    )  # fmt: skip
    assert restarted_at < running_minute + 5_000
    assert from_klines, "no symbol took the klines start this test is about"
    support.assert_exact(fake, database_url, BUSY, min_rows=4, contiguous=True)


@pytest.mark.slow
async def test_a_klines_start_whose_answer_does_not_parse_falls_back_whole(
    fake: FakeBinance, database_url: str, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    """One field of one row in the restart's klines answer does not parse: nothing of that
    answer is written, the symbol starts from REST's latest trade instead (one warning), and
    the minutes it missed are still fetched and closed exact, none left an unrecorded hole."""
    before = await first_run_then_pause(fake, database_url)
    real = RestClient.klines_1m
    spoiled: list[int] = []

    async def one_bad_field(self: RestClient, symbol: str, start_ms: int, end_ms: int) -> list:
        rows = await real(self, symbol, start_ms, end_ms)
        if symbol == "BTCUSDT" and not spoiled and len(rows) >= 2:
            spoiled.append(int(rows[1][0]))
            rows = [rows[0], [*rows[1][:5], "1e", *rows[1][6:]], *rows[2:]]
        return rows

    real_seed = Recovery.seed_from_klines

    async def then_trade_again(self: Recovery, symbol: str, *args) -> bool:
        try:
            return await real_seed(self, symbol, *args)
        finally:
            if symbol == "BTCUSDT":
                fake.clock.set(fake.clock.now_us(), speed=support.SPEED)

    monkeypatch.setattr(RestClient, "klines_1m", one_bad_field)
    monkeypatch.setattr(Recovery, "seed_from_klines", then_trade_again)
    restarted = support.market_minute(fake)
    # The market stands still until BTCUSDT's klines seed has run, so its start is the klines
    # one: a symbol the stream started first takes no seed, and the bad answer would then go
    # to the missed minutes' own fetch (seen under CI's load with a 1.5 s stall instead).
    fake.clock.set(fake.clock.now_us(), speed=0)
    with caplog.at_level(logging.WARNING, logger="streamer.recovery"):
        async with support.running(support.streamer_config(fake, database_url), fake) as streamer:
            await support.wait_until(lambda: bool(spoiled), 20, "the answer with a bad field")
            await support.wait_until(
                support.closed_after(database_url, BUSY, restarted),
                30,
                "minutes to close after the restart",
            )
            btc = streamer.aggregator.books["BTCUSDT"]
            assert btc.seed_seq is None, "BTCUSDT started from the answer that did not parse"
    warnings = [r.getMessage() for r in caplog.records if "klines seed of" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].startswith("klines seed of BTCUSDT failed, seeding from the latest trade")
    assert "volume" in warnings[0]
    support.assert_exact(fake, database_url, BUSY, min_rows=3, contiguous=True)
    assert support.newest_closed_ms(database_url, "BTCUSDT") > before["BTCUSDT"] + 2 * MINUTE_MS


async def restart_mid_minute(fake: FakeBinance, database_url: str) -> int:
    """The first run, stopped; the restart comes 10-40 s into a minute, whose open time is
    returned: each busy symbol traded in it before its stream began. The market runs at its
    own pace until ``full_speed``, so the start falls in that minute."""
    await first_run_then_pause(fake, database_url)
    await support.wait_until(
        lambda: 10_000 <= fake.clock.now_ms() % MINUTE_MS <= 40_000, 10, "the middle of a minute"
    )
    fake.clock.set(fake.clock.now_us(), speed=1)
    return support.market_minute(fake)


async def full_speed(fake: FakeBinance, books: dict, restarted: int) -> None:
    """Once every busy symbol has started (in the restart's minute), the test's pace again."""
    await support.wait_until(
        lambda: all(s in books and books[s].high_seq is not None for s in BUSY),
        10,
        "every busy symbol to start",
    )
    assert fake.clock.now_ms() < restarted + MINUTE_MS, "started after the minute ended"
    fake.clock.set(fake.clock.now_us(), speed=support.SPEED)


def assert_own_minute_is_binances(fake: FakeBinance, database_url: str, restarted: int) -> None:
    """The restart's own minute and those after it are exact and closed, the own one's first
    and last trade ids Binance's."""
    support.assert_exact(fake, database_url, BUSY, min_rows=4, contiguous=True)
    for symbol in BUSY:
        [row] = [
            r
            for r in support.closed_rows(database_url, symbol)
            if to_ms(r["open_time"]) == restarted
        ]
        trades = fake.market.trades(symbol, restarted * 1000, (restarted + MINUTE_MS) * 1000)
        assert (row["first_trade_id"], row["last_trade_id"]) == (trades[0].id, trades[-1].id)


@pytest.mark.slow
async def test_a_restart_starts_its_own_minute_from_that_minutes_kline(
    fake: FakeBinance, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A symbol the database knows starts from one klines request, asked once its stream is
    subscribed, that takes in the restart's own minute as it stands (Binance answers the
    unfinished kline): the minute begins as that kline, the stream's trades after the ones it
    counted fold in, and the minute closes from the stream when it ends. No startup gap, no
    trades fetched (at ALL ~2,000 startup gaps took a window of weight and closed the minute
    5 s after its end at the earliest); the live candle is whole from the start."""
    fetched: list[str] = []
    real_trades = GapFetch.trades

    async def trades(self: GapFetch, gap: Gap) -> list:
        fetched.append(gap.describe())
        return await real_trades(self, gap)

    monkeypatch.setattr(GapFetch, "trades", trades)
    restarted = await restart_mid_minute(fake, database_url)
    fetched.clear()
    asked_before = dict(fake.stats()["requests_by_path"])
    async with support.running(support.streamer_config(fake, database_url), fake) as streamer:
        books = streamer.aggregator.books
        await full_speed(fake, books, restarted)
        assert all(books[s].seed_seq is not None for s in BUSY), "not started from klines"
        # Whole before the minute ends: the kline's trades and the stream's since.
        own = {s: getattr(books[s].candles.get(restarted), "count", 0) for s in BUSY}
        await support.wait_until(
            support.closed_after(database_url, BUSY, restarted),
            30,
            "minutes to close after the restart",
        )
        from_klines = streamer.metrics.startup_klines
    asked = {
        path: n - asked_before.get(path, 0)
        for path, n in fake.stats()["requests_by_path"].items()
        if n > asked_before.get(path, 0)
    }
    print("asked after the restart:", asked, "own minutes' trades at the start:", own)
    # Each busy symbol's minute began before its stream; a quiet second of BTCUSDT's may leave
    # its kline empty at the start, which then asks for nothing either.
    assert any(own.values()), f"own minutes' trades at the start: {own}"
    assert fetched == [], f"trades fetched: {fetched}"
    assert from_klines == 0, "a startup gap was closed from its final kline"
    # One klines request per symbol (the seed's, which held the own minute too), no trades
    # (QUIETUSDT's are its probes).
    assert len(BUSY) <= asked.get("/api/v3/klines", 0) <= len(SYMBOLS), asked
    assert asked.get("/api/v3/historicalTrades", 0) == 0, asked
    assert not [g for g in support.gap_rows(database_url) if g["healed_at"] is None]
    assert_own_minute_is_binances(fake, database_url, restarted)


@pytest.mark.slow
async def test_a_klines_start_that_rest_keeps_waiting_lets_the_stream_start_the_symbol(
    fake: FakeBinance, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trades held for a klines start wait HELD_AT_MOST_S at most: with REST slow (or
    down, retried for minutes), the stream starts the symbol and its live candles are written
    meanwhile; the minutes it missed are repaired as any stream start's, and exact."""
    monkeypatch.setattr(subscriptions_module, "HELD_AT_MOST_S", 1.0)
    answer = asyncio.Event()
    real = RestClient.klines_1m

    async def slow_for_btc(self: RestClient, symbol: str, start_ms: int, end_ms: int) -> list:
        if symbol == "BTCUSDT" and not answer.is_set():
            await answer.wait()
        return await real(self, symbol, start_ms, end_ms)

    monkeypatch.setattr(RestClient, "klines_1m", slow_for_btc)
    before = await first_run_then_pause(fake, database_url)
    restarted = support.market_minute(fake)
    async with support.running(support.streamer_config(fake, database_url), fake) as streamer:
        btc = streamer.aggregator.books
        await support.wait_until(
            lambda: "BTCUSDT" in btc and btc["BTCUSDT"].high_seq is not None,
            5,
            "the stream to start BTCUSDT while its klines wait",
        )
        assert not answer.is_set()
        assert btc["BTCUSDT"].seed_seq is None, "started from klines that never came"
        started = btc["BTCUSDT"].next_close
        assert started is not None
        await support.wait_until(
            lambda: newest_row_ms(database_url, "BTCUSDT") >= started,
            5,
            "BTCUSDT's live candle written while its klines wait",
        )
        answer.set()
        await support.wait_until(
            support.closed_after(database_url, BUSY, restarted),
            30,
            "minutes to close after the restart",
        )
    support.assert_exact(fake, database_url, BUSY, min_rows=3, contiguous=True)
    assert support.newest_closed_ms(database_url, "BTCUSDT") > before["BTCUSDT"] + 2 * MINUTE_MS


@pytest.mark.slow
async def test_a_start_with_many_startup_gaps_closes_their_minutes_from_klines(
    fake: FakeBinance, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At ALL a start has ~2,000 startup gaps at once when its own minute's kline cannot stand
    for the trades before its streams began (a symbol the database does not know starts from
    REST's latest trade; a kline whose count does not meet the stream's ids): each waits for
    its minute's kline to be final and closes the minute from it (2 weight a symbol, not 4 a
    page of aggTrades, which took the next window's weight). The start's own minute is exact
    and closed, its first and last trade ids Binance's, and the minutes after it close from the
    stream as before."""
    monkeypatch.setattr(gaps_module, "STARTUP_KLINES_MIN", 1)
    monkeypatch.setattr(Recovery, "_prefix", lambda self, symbol, kline, last_id: None)
    by_trades: list[str] = []
    real_trades = GapFetch.trades

    async def trades(self: GapFetch, gap: Gap) -> list:
        if gap.reason == "startup":
            by_trades.append(gap.symbol)
        return await real_trades(self, gap)

    monkeypatch.setattr(GapFetch, "trades", trades)
    # Started 10-40 s into a minute, each busy symbol's startup gap lies in that one minute
    # (within 5 s of its start the klines end a minute earlier and the gap spans two: a
    # quiet symbol's case, fetched as trades).
    restarted = await restart_mid_minute(fake, database_url)
    by_trades.clear()
    async with support.running(support.streamer_config(fake, database_url), fake) as streamer:
        await full_speed(fake, streamer.aggregator.books, restarted)
        await support.wait_until(
            support.closed_after(database_url, BUSY, restarted),
            30,
            "minutes to close after the restart",
        )
        from_klines = streamer.metrics.startup_klines
    assert from_klines >= 1, "no start's own minute was closed from klines"
    assert by_trades == [], "startup gaps fetched as trades"
    assert_own_minute_is_binances(fake, database_url, restarted)
