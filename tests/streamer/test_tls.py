"""Binance serves its streams and REST over TLS (wss://, https://): the streamer reads them there
as it does in the clear, trusting the system's certificate store (SSL_CERT_FILE here)."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fakebinance.clock import MarketClock
from fakebinance.server import FakeBinance
from include.platform.binance_rest.client import tls_context
from tests.support.streamer import (
    SPEED,
    START,
    assert_exact,
    closed_rows,
    market_config,
    running,
    streamer_config,
    wait_until,
)
from tests.support.tls import self_signed


@pytest.fixture
def trust(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], None]]:
    """Make a certificate the system store (SSL_CERT_FILE) for the clients made from now on.
    The REST clients share one TLS context per process, made once: it is made again here, and
    again after the test, so no other test of this process keeps this store."""

    def use(cert: Path) -> None:
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        tls_context.cache_clear()

    yield use
    tls_context.cache_clear()


def tls_fake(cert: Path, key: Path) -> FakeBinance:
    """The tests' fast fake exchange, serving https:// and wss:// with this certificate."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    clock = MarketClock(start=START, speed=SPEED)
    return FakeBinance(market_config(), clock=clock, tick_interval=0.02, ssl_context=server)


@pytest.mark.slow
async def test_streams_exact_candles_over_tls(
    database_url: str, tmp_path: Path, trust: Callable[[Path], None]
) -> None:
    cert, key = self_signed(tmp_path)
    trust(cert)
    async with tls_fake(cert, key) as fake:
        assert fake.url.startswith("https://")
        config = streamer_config(fake, database_url, symbols=("BTCUSDT", "ETHUSDT"))
        async with running(config, fake) as streamer:
            await wait_until(
                lambda: all(len(closed_rows(database_url, s)) >= 2 for s in config.symbols),
                30,
                "two closed minutes of each symbol over wss://",
            )
            assert streamer.metrics.gaps_found == 0
        assert_exact(fake, database_url, config.symbols)


async def test_an_untrusted_certificate_is_refused(
    database_url: str, tmp_path: Path, trust: Callable[[Path], None]
) -> None:
    """Nothing is read from a server whose certificate the store does not vouch for."""
    cert, key = self_signed(tmp_path)
    (tmp_path / "other").mkdir()
    other, _ = self_signed(tmp_path / "other")
    trust(other)
    async with tls_fake(cert, key) as fake:
        config = streamer_config(fake, database_url, symbols=("BTCUSDT",))
        async with running(config, fake) as streamer:
            await wait_until(
                lambda: streamer.shards[0].reconnects >= 2,
                20,
                "the connection refused again and again",
            )
            assert closed_rows(database_url, "BTCUSDT") == []
