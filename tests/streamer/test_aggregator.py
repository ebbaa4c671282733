"""The aggregator: exact candles from trades in any order, gaps, idle minutes and closing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from fakebinance.clock import MarketClock, to_us
from fakebinance.config import MarketConfig, default_symbols, quiet_symbol
from fakebinance.market import Market
from include.platform.times import CANDLE_FIELDS
from streamer.aggregator import MINUTE_MS, Aggregator, Candle
from streamer.parser import Trade, to_scaled
from streamer.recovery import Recovery

T0 = 1_740_000_000_000 - 1_740_000_000_000 % MINUTE_MS


def trade(seq: int, price: str, qty: str, t: int, maker: bool = False, sym: str = "X") -> Trade:
    return Trade(sym, seq, seq, seq, to_scaled(price), to_scaled(qty), t, maker)


def row(c: Candle) -> dict:
    names = ("symbol", "open_time", *CANDLE_FIELDS, "is_closed", "first_trade_id", "last_trade_id")
    out = dict(zip(names, c.row(), strict=True))
    for k in (name for name in CANDLE_FIELDS if name != "trade_count"):
        out[k] = Decimal(out[k])
    return out


def test_candle_fields_exact() -> None:
    """OHLC follow trade ids, volumes are exact sums and taker sums skip buyer-maker trades."""
    agg = Aggregator(startup_repair=False)
    agg.apply(trade(1, "0.00001234", "1000000", T0 + 1), 0)
    agg.apply(trade(2, "0.00001240", "3", T0 + 2, maker=True), 0)
    agg.apply(trade(3, "0.00001200", "7", T0 + 3), 0)
    c = agg.books["X"].candles[T0]
    r = row(c)
    assert (r["open"], r["high"], r["low"], r["close"]) == (
        Decimal("0.00001234"),
        Decimal("0.0000124"),
        Decimal("0.000012"),
        Decimal("0.000012"),
    )
    assert r["volume"] == Decimal("1000010")
    assert r["quote_volume"] == Decimal("12.34") + Decimal("0.0000372") + Decimal("0.000084")
    assert r["taker_buy_volume"] == Decimal("1000007")
    assert r["taker_buy_quote_volume"] == Decimal("12.34") + Decimal("0.000084")
    assert r["trade_count"] == 3
    assert (r["first_trade_id"], r["last_trade_id"]) == (1, 3)


def test_out_of_order_repair_keeps_open_and_close() -> None:
    """Trades folded in late (a repair) still leave open = lowest id, close = highest id."""
    agg = Aggregator(startup_repair=False)
    agg.apply(trade(1, "10", "1", T0 + 1), 0)
    gap = agg.apply(trade(4, "13", "1", T0 + 40), 0)
    assert gap is not None
    assert (gap.lo_seq, gap.hi_seq) == (2, 3)
    agg.apply(trade(5, "9", "1", T0 + MINUTE_MS + 1), 0)
    assert not agg.books["X"].candles[T0].closed, "a pending gap blocks closing"
    agg.apply_repair(gap, [trade(3, "20", "1", T0 + 30), trade(2, "5", "1", T0 + 20)], 0)
    c = agg.books["X"].candles[T0]
    assert c.closed
    assert c.count == 4
    assert (c.open, c.high, c.low, c.close) == tuple(to_scaled(p) for p in ("10", "20", "5", "13"))


def test_duplicates_are_ignored() -> None:
    """A trade id seen before (reconnect overlap, rotation) changes nothing."""
    agg = Aggregator(startup_repair=False)
    agg.apply(trade(1, "10", "1", T0 + 1), 0)
    agg.apply(trade(2, "11", "1", T0 + 2), 0)
    agg.apply(trade(2, "11", "1", T0 + 2), 0)
    agg.apply(trade(1, "10", "1", T0 + 1), 0)
    assert agg.books["X"].candles[T0].count == 2
    assert agg.stats.duplicates == 2


def test_idle_minutes_repeat_previous_close() -> None:
    """A trading minute without trades gets open=high=low=close=previous close, zero volumes."""
    agg = Aggregator(startup_repair=False)
    agg.apply(trade(1, "10", "1", T0 + 1), 0)
    agg.apply(trade(2, "12", "1", T0 + 5), 0)
    agg.apply(trade(3, "11", "1", T0 + 3 * MINUTE_MS + 7), 0)
    book = agg.books["X"]
    for m in (1, 2):
        c = book.candles[T0 + m * MINUTE_MS]
        assert c.closed
        assert c.count == 0
        assert c.volume == 0
        assert c.quote == 0
        assert c.open == c.high == c.low == c.close == to_scaled("12")
    assert not book.candles[T0 + 3 * MINUTE_MS].closed


def test_first_minute_without_startup_repair_never_closes() -> None:
    """A minute the streamer joined halfway is written but never claimed closed."""
    agg = Aggregator(startup_repair=False)
    agg.apply(trade(10, "10", "1", T0 + 30_000), 0)
    agg.apply(trade(11, "10", "1", T0 + MINUTE_MS + 1), 0)
    assert agg.books["X"].candles[T0].row()[11] is False


def test_failed_repair_taints_minutes() -> None:
    """When REST cannot fill a gap, its minutes are written but not marked closed."""
    agg = Aggregator(startup_repair=False)
    agg.apply(trade(1, "10", "1", T0 + 1), 0)
    agg.apply(trade(2, "10", "1", T0 + MINUTE_MS + 1), 0)
    gap = agg.apply(trade(9, "10", "1", T0 + 2 * MINUTE_MS + 1), 0)
    agg.apply(trade(10, "10", "1", T0 + 3 * MINUTE_MS + 1), 0)
    agg.fail_repair(gap, 0)
    book = agg.books["X"]
    assert book.candles[T0 + MINUTE_MS].row()[11] is False
    assert book.candles[T0 + 2 * MINUTE_MS].row()[11] is False
    assert book.candles[T0 + 3 * MINUTE_MS].row()[11] is False  # still open: no later trade
    agg.apply(trade(11, "10", "1", T0 + 4 * MINUTE_MS + 1), 0)
    assert book.candles[T0 + 3 * MINUTE_MS].row()[11] is True


def test_seed_in_current_minute_asks_for_its_start() -> None:
    """Starting mid-minute, the minute's earlier trades become a startup gap to fetch."""
    agg = Aggregator()
    gap = agg.seed("X", trade(50, "10", "0", T0 + 20_000), T0 + 30_000)
    assert gap is not None
    assert gap.reason == "startup"
    assert gap.hi_seq == 50
    assert agg.seed("X", trade(60, "10", "0", T0 + 20_000), T0 + 30_000) is None
    assert agg.seed("Y", trade(5, "10", "0", T0 - 5, sym="Y"), T0 + 30_000) is None
    assert agg.books["Y"].next_close == T0


def test_resume_widens_the_first_gap_back_to_the_database() -> None:
    """A restart: the minutes after the newest closed one join the first minute's gap, and the
    idle ones among them repeat that minute's close, not the seed's price."""
    agg = Aggregator()
    start = agg.apply(trade(50, "11", "1", T0 + 3 * MINUTE_MS + 5), 0)
    gap = agg.resume("X", start, T0, to_scaled("9"), 40)
    assert gap is start
    assert gap is not None
    assert (gap.reason, gap.gap_start, gap.first_missing_trade_id) == ("restart", T0, 40)
    # REST had two trades in the span, none in its first minute: that one is idle at 9.
    repair = [trade(40, "10", "1", T0 + MINUTE_MS + 5), trade(41, "12", "1", T0 + 2 * MINUTE_MS)]
    agg.apply_repair(gap, repair, 0)
    book = agg.books["X"]
    assert book.candles[T0].count == 0
    assert book.candles[T0].close == to_scaled("9")
    assert book.candles[T0 + MINUTE_MS].close == to_scaled("10")
    assert book.candles[T0 + 2 * MINUTE_MS].close == to_scaled("12")
    assert all(book.candles[T0 + m * MINUTE_MS].closed for m in range(3))


def test_resume_after_a_quiet_seed_repeats_the_database_close() -> None:
    """Nothing traded since the newest closed minute: no gap; idle minutes repeat its close."""
    agg = Aggregator()
    assert agg.seed("X", trade(7, "3", "0", T0 - 5), T0 + 2 * MINUTE_MS + 1) is None
    assert agg.resume("X", None, T0, to_scaled("3"), 8) is None
    agg.prove("X", T0 + 2 * MINUTE_MS, 0)
    book = agg.books["X"]
    assert [book.candles[T0 + m * MINUTE_MS].close for m in (0, 1)] == [to_scaled("3")] * 2
    assert book.candles[T0 + MINUTE_MS].closed


def kline(minute: int, o: str, h: str, lo: str, c: str, v: str, n: int, taker: str) -> list:
    """A /api/v3/klines row (quote volumes: volume times close, enough for the fields' sake)."""
    quote = str(Decimal(v) * Decimal(c))
    taker_quote = str(Decimal(taker) * Decimal(c))
    return [minute, o, h, lo, c, v, minute + MINUTE_MS - 1, quote, n, taker, taker_quote, "0"]


def test_a_startup_gap_closed_from_its_klines_takes_each_minute_whole() -> None:
    """A start at ALL closes its startup gaps from the minutes' klines: each minute's candle
    becomes its kline, the stream's trades of it already counted there. A stream trade of it
    that comes after is not folded in twice; the first trade id is counted back from the
    kline's trade count, the last one is the stream's; the minute closes once it is over."""
    agg = Aggregator()
    gap = agg.apply(trade(100, "10", "1", T0 + 30_000), 0)
    assert gap is not None
    assert gap.reason == "startup"
    agg.apply(trade(101, "11", "2", T0 + 40_000), 0)
    official = Aggregator.official("X", [kline(T0, "9", "12", "8", "11", "13", 7, "4")])
    agg.apply_klines(gap, official, 0)
    agg.apply(trade(102, "11", "5", T0 + 59_000), 0)  # already in the kline
    book = agg.books["X"]
    assert not book.pending
    c = book.candles[T0]
    got = row(c)
    assert (got["open"], got["high"], got["low"], got["close"]) == tuple(
        Decimal(x) for x in ("9", "12", "8", "11")
    )
    assert (got["volume"], got["trade_count"], got["taker_buy_volume"]) == (Decimal(13), 7, 4)
    assert (got["first_trade_id"], got["last_trade_id"]) == (96, 102)
    agg.apply(trade(103, "12", "1", T0 + MINUTE_MS + 1), 0)
    assert row(book.candles[T0])["is_closed"] is True
    assert row(book.candles[T0 + MINUTE_MS])["volume"] == Decimal(1)


def test_a_seeded_minute_without_a_stream_trade_closes_as_its_kline() -> None:
    """Seeded from REST's latest trade mid-minute, no stream trade in that minute yet: its
    kline is its candle (the seed trade is in it), not an idle one repeating a close."""
    agg = Aggregator()
    gap = agg.seed("X", trade(50, "10", "1", T0 + 20_000), T0 + 30_000)
    assert gap is not None
    official = Aggregator.official("X", [kline(T0, "9", "10", "9", "10", "3", 50, "1")])
    agg.apply_klines(gap, official, 0)
    agg.apply(trade(51, "12", "1", T0 + MINUTE_MS + 1), 0)
    book = agg.books["X"]
    first, second = row(book.candles[T0]), row(book.candles[T0 + MINUTE_MS])
    assert (first["is_closed"], first["volume"], first["trade_count"]) == (True, Decimal(3), 50)
    assert (first["open"], first["close"]) == (Decimal(9), Decimal(10))
    assert (second["is_closed"], second["close"]) == (False, Decimal(12))


def test_a_start_from_its_minutes_kline_as_it_stands_folds_only_later_trades_in() -> None:
    """A klines start: the stream's trades wait (hold) until the symbol starts at its minute
    from the minute's unfinished kline (its 3 trades, ids 101-103 after the 100 before the
    minute); released, those the kline counted are duplicates, the rest fold in with no
    startup gap, and the minute closes from the stream: the candle is every trade's, once."""
    agg = Aggregator()
    agg.hold("X")
    held = [trade(103, "12", "2", T0 + 20_000), trade(104, "13", "1", T0 + 25_000, maker=True)]
    assert all(agg.apply(t, 0) is None for t in held)
    book = agg.books["X"]
    assert book.high_seq is None, "a held trade started the symbol"
    [prefix] = Aggregator.official("X", [kline(T0, "11", "12", "10", "12", "6", 3, "6")])
    agg.start_at("X", T0, 100, to_scaled("9"), 0, prefix)
    assert [agg.apply(t, 0) for t in agg.release("X")] == [None, None]
    assert agg.apply(trade(105, "8", "1", T0 + 50_000), 0) is None
    assert agg.release("X") == [], "released twice"
    agg.apply(trade(106, "9", "1", T0 + MINUTE_MS + 1), 0)
    got = row(book.candles[T0])
    assert got["is_closed"] is True
    assert (got["open"], got["high"], got["low"], got["close"]) == tuple(
        Decimal(x) for x in ("11", "13", "8", "8")
    )
    assert (got["volume"], got["trade_count"], got["taker_buy_volume"]) == (Decimal(8), 5, 7)
    assert (got["first_trade_id"], got["last_trade_id"]) == (101, 105)
    assert agg.stats.duplicates == 1
    assert not book.pending


def test_a_kline_whose_count_does_not_meet_the_held_ids_is_not_taken(caplog) -> None:
    """The start's own kline counts 3 trades after id 100, but the held trade 103 has another
    price than its close: the count does not meet the ids, so the symbol starts without it
    (its minute repaired as before), with a warning; with the price right it is taken."""
    agg = Aggregator()
    agg.hold("X")
    agg.apply(trade(103, "12.5", "2", T0 + 20_000), 0)
    recovery = Recovery.__new__(Recovery)
    recovery.aggregator = agg
    [own] = Aggregator.official("X", [kline(T0, "11", "12", "10", "12", "6", 3, "6")])
    assert recovery._prefix("X", own, 100) is None
    assert "ends at trade 103 at 12.00000000, the stream's at 12.50000000" in caplog.text
    agg.books["X"].held = [trade(103, "12", "2", T0 + 20_000)]
    assert recovery._prefix("X", own, 100) is own


@pytest.mark.parametrize("stream", ["trade", "aggTrade"])
def test_fake_market_day_equals_official_klines(stream: str) -> None:
    """Two hours of the fake market's trades, in either stream, rebuild the official klines."""
    clock = MarketClock(start=datetime(2025, 2, 1, tzinfo=UTC), speed=0)
    specs = (*default_symbols(), quiet_symbol())
    market = Market(MarketConfig(11, specs), clock)
    start_ms = to_us(datetime(2025, 1, 31, 22, tzinfo=UTC)) // 1000
    end_ms = start_ms + 120 * MINUTE_MS
    agg = Aggregator(startup_repair=False)
    for spec in specs:
        s = spec.symbol
        if stream == "trade":
            records = [
                Trade(
                    s,
                    t.id,
                    t.id,
                    t.id,
                    to_scaled(f"{t.price:.8f}"),
                    to_scaled(f"{t.qty:.8f}"),
                    t.time_ms,
                    t.is_buyer_maker,
                )
                for t in market.trades(s, start_ms * 1000, end_ms * 1000)
            ]
        else:
            records = [
                Trade(
                    s,
                    a.agg_id,
                    a.first_id,
                    a.last_id,
                    to_scaled(f"{a.price:.8f}"),
                    to_scaled(f"{a.qty:.8f}"),
                    a.time_ms,
                    a.is_buyer_maker,
                )
                for a in market.agg_trades(s, start_ms * 1000, end_ms * 1000)
            ]
        for r in records:
            agg.apply(r, 0)
        agg.prove(s, end_ms, 0)
        closed = {m: row(c) for m, c in agg.books[s].candles.items() if c.closed}
        for k in market.klines(s, "1m", start_ms, end_ms - 1, 1000):
            if k.open_time not in closed:
                # Only minutes before the first trade seen may be missing (no previous close).
                assert k.open_time < records[0].time_ms - records[0].time_ms % MINUTE_MS + MINUTE_MS
                continue
            r = closed[k.open_time]
            got = tuple(r[name] for name in CANDLE_FIELDS)
            want = tuple(getattr(k, name) for name in CANDLE_FIELDS)
            assert got == want, f"{s} {k.open_time}"


def _seconds(agg: Aggregator) -> dict[int, dict]:
    """The 1s rows the writer would take, by open second (ms)."""
    out = {}
    for c in list(agg.seconds.dirty.values()):
        r = row(c)
        out[c.open_time] = {**r, "is_closed": c.closed and not c.tainted}
    return out


def test_second_candles_close_exact_fill_idle_seconds_and_skip_other_symbols() -> None:
    """SECOND_CANDLE_SYMBOLS: each second of a named symbol is its trades' candle, closed once
    a later trade proves it over; a second without a trade repeats the close with zero volume;
    the seconds of a minute an unrepaired gap touched are written, never closed; a symbol not
    named gets none."""
    agg = Aggregator(startup_repair=False, second_symbols=frozenset({"X"}))
    m1 = T0 + MINUTE_MS
    agg.apply(trade(1, "9", "1", T0 + 500), 0)  # its minute is tainted (no startup repair)
    agg.apply(trade(2, "10", "1", m1 + 100), 0)
    agg.apply(trade(3, "12", "2", m1 + 150, maker=True), 0)
    agg.apply(trade(4, "11", "3", m1 + 2_300), 0)
    agg.apply(trade(5, "13", "1", m1 + 3_000), 0)
    agg.apply(trade(1, "5", "1", m1 + 100, sym="Y"), 0)
    got = _seconds(agg)
    assert got[T0]["is_closed"] is False  # written from the trade, but its minute is tainted
    assert got[m1] == {
        **got[m1],
        "open": Decimal(10),
        "high": Decimal(12),
        "low": Decimal(10),
        "close": Decimal(12),
        "volume": Decimal(3),
        "quote_volume": Decimal(34),
        "trade_count": 2,
        "taker_buy_volume": Decimal(1),
        "taker_buy_quote_volume": Decimal(10),
        "is_closed": True,
    }
    idle = got[m1 + 1_000]
    assert (idle["open"], idle["close"], idle["volume"], idle["trade_count"]) == (
        Decimal(12),
        Decimal(12),
        Decimal(0),
        0,
    )
    assert idle["is_closed"] is True
    assert got[m1 + 2_000]["close"] == Decimal(11)
    assert got[m1 + 2_000]["is_closed"] is True
    # The second of trade 5 has not ended: open; nothing of the tainted minute's other seconds.
    assert got[m1 + 3_000]["is_closed"] is False
    assert not any(T0 < s < m1 for s in got)
    assert {c.symbol for c in agg.seconds.dirty.values()} == {"X"}
    # The seconds are the minute's: the sums over them equal the minute's candle.
    minute = agg.books["X"].candles[m1]
    assert sum(Decimal(r["volume"]) for s, r in got.items() if s >= m1) == Decimal(7)
    assert minute.count == 4


def test_an_idle_minute_waits_for_a_status_read_after_it() -> None:
    """REST proves no trade came after the last one, not that the market was open: a minute
    after a symbol's last trade becomes idle only once an exchangeInfo read sent after its end
    still shows the symbol TRADING. One the read shows halted (BREAK) is never filled. (On the
    old code the proof alone closed it idle, a candle Binance has no kline for, when exchangeInfo
    reads failed while the symbol halted.)"""
    agg = Aggregator(startup_repair=False)
    agg.status_read_ms = T0 + 30_000
    agg.apply(trade(1, "10", "1", T0 + 1), 0)
    agg.prove("X", T0 + 3 * MINUTE_MS, 0)
    book = agg.books["X"]
    assert book.candles[T0].closed
    assert T0 + MINUTE_MS not in book.candles, "idle before any read showed it trading"
    agg.status_read_ms = T0 + 2 * MINUTE_MS + 500  # a read shows it TRADING
    agg.close_ready(book, 0)
    assert book.candles[T0 + MINUTE_MS].closed
    assert book.candles[T0 + MINUTE_MS].close == to_scaled("10")
    assert T0 + 2 * MINUTE_MS not in book.candles

    halted = Aggregator(startup_repair=False)
    halted.status_read_ms = T0
    halted.apply(trade(1, "10", "1", T0 + 1, sym="Y"), 0)
    halted.prove("Y", T0 + 3 * MINUTE_MS, 0)
    halted.books["Y"].trading = False  # the read after the minute shows BREAK
    halted.status_read_ms = T0 + 3 * MINUTE_MS
    halted.close_ready(halted.books["Y"], 0)
    assert [m for m, c in halted.books["Y"].candles.items() if c.closed] == [T0]
