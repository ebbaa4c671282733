"""A repair that fails with an unexpected error is retried, shown, and never freezes a symbol."""

from __future__ import annotations

from prometheus_client import generate_latest

from fakebinance.server import FakeBinance
from tests.streamer.conftest import (
    assert_exact,
    closed_rows,
    gap_rows,
    market_minutes,
    running,
    streamer_config,
    wait_until,
)

BUSY = ("BTCUSDT", "ETHUSDT", "PEPEUSDT")


def break_repairs(streamer, times: int | None) -> list[int]:
    """Make the next `times` gap fetches (None: all) raise an error nobody foresaw."""
    calls: list[int] = []
    real = streamer._fetch_gap

    async def fetch(gap):
        calls.append(1)
        if times is None or len(calls) <= times:
            raise KeyError("an answer field nobody expected")
        return await real(gap)

    streamer._fetch_gap = fetch
    return calls


async def test_unexpected_error_is_retried_and_the_gap_heals(
    fake: FakeBinance, database_url: str
) -> None:
    """The first repair attempt raises; the retry heals; /metrics and /healthz say so."""
    config = streamer_config(fake, database_url, symbols=BUSY)
    async with running(config, fake) as streamer:
        await market_minutes(fake, 1.2)
        calls = break_repairs(streamer, times=1)
        fake.refuse_connections(0.6)
        assert fake.drop_connections() == 1
        await market_minutes(fake, 2.5)
        await wait_until(lambda: streamer.aggregator.pending_gaps() == 0, 10, "repairs")
        assert len(calls) >= 2
        page = generate_latest(streamer.metrics.registry).decode()
        _ok, health = streamer.health()
    assert 'streamer_repair_errors_total{error="KeyError"}' in page
    assert health["gaps"]["repair_errors"] >= 1
    assert "KeyError" in health["gaps"]["last_repair_error"]
    assert_exact(fake, database_url, BUSY, min_rows=3)
    assert all(r["healed_at"] is not None for r in gap_rows(database_url))


async def test_a_repair_that_never_succeeds_leaves_the_gap_recorded_and_minutes_closing(
    fake: FakeBinance, database_url: str
) -> None:
    """Every attempt raises: past the deadline the gap is recorded unhealed, the symbol moves on."""
    config = streamer_config(fake, database_url, symbols=BUSY, repair_deadline=1.0)
    async with running(config, fake) as streamer:
        await market_minutes(fake, 1.2)
        break_repairs(streamer, times=None)
        fake.refuse_connections(0.6)
        assert fake.drop_connections() == 1
        await wait_until(lambda: streamer.metrics.gaps_unhealed >= 1, 15, "the repair to give up")
        before = {s: len(closed_rows(database_url, s)) for s in BUSY}
        await market_minutes(fake, 2.5)
    unhealed = [r for r in gap_rows(database_url) if r["healed_at"] is None]
    assert unhealed, "the gap stays recorded for heal-gaps"
    for symbol in BUSY:
        assert len(closed_rows(database_url, symbol)) >= before[symbol] + 2, symbol
