"""Existing Binance clients (ccxt, python-binance) read `python -m api` by their base URL alone."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Iterator
from decimal import Decimal

import httpx
import psycopg
import pytest

from include.platform import pgserver
from tests.support.cli import start_api, wait_healthy
from tests.support.klines import varying_minutes
from tests.support.paths import PROJECT_ROOT

README = PROJECT_ROOT / "docs" / "api.md"
MARKER = "<!-- client-snippet: tests/api/test_clients.py runs this block -->"
README_BASE = 'BASE = "http://127.0.0.1:8000"'

# 30 hours of BTCUSDT minutes whose values change every minute, so a wrong first, last, max,
# min or sum shows; 8-decimal prices and quantities, as Binance's.
FILL = varying_minutes(30 * 60)
# The same hours rolled up from the table, independently of the API's query.
HOURS = """
select (extract(epoch from date_trunc('hour', open_time)) * 1000)::bigint,
    (array_agg(open order by open_time))[1], max(high), min(low),
    (array_agg(close order by open_time desc))[1], sum(volume), sum(quote_volume),
    sum(trade_count)::bigint, sum(taker_buy_volume), sum(taker_buy_quote_volume)
from market.klines_1m where symbol = 'BTCUSDT'
group by 1 order by 1 desc limit 24
"""


def readme_snippet() -> str:
    """The python block the README marks as run by this test."""
    text = README.read_text()
    assert MARKER in text, "docs/api.md lost the client snippet marker"
    block = re.search(r"```python\n(.*?)```", text[text.index(MARKER) :], re.S)
    assert block is not None
    return block.group(1)


@contextlib.contextmanager
def api_process(database_url: str, symbols: str = "BTCUSDT") -> Iterator[str]:
    """`python -m api` on free ports over the database, with SYMBOLS the symbols these tests
    hold (the API lists every configured one), until the block ends."""
    port, grpc_port = pgserver.free_port(), pgserver.free_port()
    env = {
        **os.environ,
        "SYMBOLS": symbols,
        "DATABASE_URL": database_url,
        "API_DATABASE_URL": database_url,
        "API_PORT": str(port),
        "API_GRPC_PORT": str(grpc_port),
        "ENV_FILE": os.devnull,
    }
    proc = start_api(env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"

    def alive() -> None:
        """Fail with the API's errors if it has exited."""
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""

    try:
        wait_healthy(f"{base}/healthz", 60, "python -m api did not become healthy", 0.1, alive)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any request the clients make past the base URL fails instead of reaching Binance."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")


def test_readme_client_snippet_reads_the_database_rows(database_url, conn, offline) -> None:
    """The README's ccxt and python-binance code, only BASE changed, gets the database's candles."""
    conn.execute(FILL)
    conn.execute(
        "insert into market.symbols (symbol, status, base_asset, quote_asset) "
        "values ('BTCUSDT', 'TRADING', 'BTC', 'USDT')"
    )
    expected = [list(r) for r in reversed(conn.execute(HOURS).fetchall())]
    assert len(expected) == 24
    snippet = readme_snippet()
    assert README_BASE in snippet
    with api_process(database_url) as base:
        namespace: dict = {}
        exec(
            compile(snippet.replace(README_BASE, f'BASE = "{base}"'), "docs/api.md", "exec"),
            namespace,
        )

    exact = [
        [r[0], *(Decimal(r[i]) for i in (1, 2, 3, 4, 5, 7)), r[8], Decimal(r[9]), Decimal(r[10])]
        for r in namespace["raw"]
    ]
    want = [[t, o, h, lo, c, v, q, n, tv, tq] for t, o, h, lo, c, v, q, n, tv, tq in expected]
    assert exact == want
    assert namespace["klines"] == namespace["raw"]
    assert all(
        isinstance(v, str) and re.fullmatch(r"\d+\.\d{8}", v) for v in namespace["raw"][0][1:6]
    )
    assert [r[6] for r in namespace["raw"]] == [r[0] + 3_599_999 for r in namespace["raw"]]

    ohlcv = namespace["ohlcv"]
    assert [r[0] for r in ohlcv] == [r[0] for r in expected]
    for got, (_, o, h, lo, c, v, *_rest) in zip(ohlcv, expected, strict=True):
        for value, want_value in zip(got[1:], (o, h, lo, c, v), strict=True):
            assert value == pytest.approx(float(want_value), rel=1e-9)

    market = namespace["exchange"].markets["BTC/USDT"]
    assert (market["id"], market["base"], market["quote"], market["active"]) == (
        "BTCUSDT",
        "BTC",
        "USDT",
        True,
    )


def test_exchange_info_claims_only_what_binance_said(database_url, conn) -> None:
    """exchangeInfo gives market.symbols' status and assets, no invented filters or order types."""
    conn.execute(FILL)
    with psycopg.connect(database_url, autocommit=True) as other:
        other.execute(
            "insert into market.symbols (symbol, status, base_asset, quote_asset) "
            "values ('BTCUSDT', 'BREAK', 'BTC', 'USDT'), ('1000SATSFDUSD', 'TRADING', "
            "'1000SATS', 'FDUSD')"
        )
    with api_process(database_url) as base:
        info = httpx.get(f"{base}/api/v3/exchangeInfo", timeout=10).json()
    by_symbol = {s["symbol"]: s for s in info["symbols"]}
    assert sorted(by_symbol) == ["1000SATSFDUSD", "BTCUSDT"]
    btc = by_symbol["BTCUSDT"]
    assert (btc["status"], btc["baseAsset"], btc["quoteAsset"]) == ("BREAK", "BTC", "USDT")
    assert (btc["filters"], btc["orderTypes"], btc["permissionSets"]) == ([], [], [])
    assert btc["isSpotTradingAllowed"] is False
    assert by_symbol["1000SATSFDUSD"]["baseAsset"] == "1000SATS"
