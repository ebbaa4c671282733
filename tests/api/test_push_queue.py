"""The push worker's turns: every live candle, and a slice of old ones sized to the turn's cost."""

from __future__ import annotations

from api.push.queue import BACKLOG_SLICE, MIN_SLICE, TURN_BUDGET_S, Pending, next_slice

NOW = 1_800_000_000_000 - 1_800_000_000_000 % 60_000


def test_a_slow_turn_halves_the_old_slice_and_a_quick_one_doubles_it_within_bounds() -> None:
    slow, quick = TURN_BUDGET_S * 1.5, TURN_BUDGET_S / 4
    assert next_slice(BACKLOG_SLICE, 256, slow) == BACKLOG_SLICE // 2
    assert next_slice(MIN_SLICE, 8, slow) == MIN_SLICE
    assert next_slice(MIN_SLICE, 8, quick) == 2 * MIN_SLICE
    assert next_slice(BACKLOG_SLICE, 256, quick) == BACKLOG_SLICE
    assert next_slice(64, 64, TURN_BUDGET_S * 0.75) == 64
    # A turn of live candles only says nothing of what an old one costs.
    assert next_slice(32, 0, slow) == 32


def test_a_turn_takes_every_live_candle_and_only_its_slice_of_old_ones() -> None:
    pending = Pending()
    for i in range(100):
        pending.add(("BTCUSDT", "1h", i * 3_600_000), i * 3_600_000, NOW)
    pending.add(("BTCUSDT", "1m", NOW), NOW, NOW)
    live, old = pending.take(16)
    assert list(live) == [("BTCUSDT", "1m", NOW)]
    assert list(old) == [("BTCUSDT", "1h", i * 3_600_000) for i in range(16)]
    assert len(pending) == 84
