"""freqtrade, unchanged but for its exchange URLs, downloads our candles and backtests on them.

freqtrade lives in .venv-freqtrade (scripts/setup-freqtrade.sh, pinned by
requirements-freqtrade.txt): its pins conflict with Airflow's in .venv. It runs here as a user
runs it, a `freqtrade` command, with docs/api.md's `exchange` block: its `ccxt_config` points
ccxt's Binance URLs at the API."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import polars as pl
import pytest

from tests.support.api import RunningApi, write_live
from tests.support.klines import varying_minutes
from tests.support.paths import PROJECT_ROOT

FREQTRADE = PROJECT_ROOT / ".venv-freqtrade" / "bin" / "freqtrade"
README = PROJECT_ROOT / "docs" / "api.md"
MARKER = "<!-- freqtrade-config: tests/api/test_freqtrade.py uses this block -->"
README_HTTP, README_WS = "http://127.0.0.1:8000", "ws://127.0.0.1:8000"

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def freqtrade_installed() -> None:
    """scripts/setup-freqtrade.sh (run by make setup-tests, which stops if it cannot) builds
    .venv-freqtrade everywhere: its absence is a broken set-up, never a skip."""
    if not FREQTRADE.exists():
        pytest.fail(
            f"{FREQTRADE} is missing: make setup-tests builds it (scripts/setup-freqtrade.sh)",
            pytrace=False,
        )


START = datetime(2025, 1, 1, tzinfo=UTC)
DAYS = 3
FIVE_MINUTES_MS = 300_000
# Three days of BTCUSDT minutes from START whose values change every minute, so a wrong first,
# last, max, min or sum in a 5m candle shows; 8-decimal prices and quantities, as Binance's.
FILL = varying_minutes(DAYS * 1440)


def strategy(name: str, doc: str, methods: str) -> str:
    """A freqtrade strategy module: class ``name`` on 5m candles, its ROI and stop-loss out of
    reach, with ``methods``."""
    head = f'''
from pandas import DataFrame

from freqtrade.strategy import IStrategy


class {name}(IStrategy):
    """{doc}"""

    INTERFACE_VERSION = 3
    timeframe = "5m"
    minimal_roi = {{"0": 100}}
    stoploss = -0.99
'''
    return head + methods


STRATEGY = strategy(
    "EveryHour",
    "Enters on the first 5m candle of each hour, leaves on the third: a few trades a day.",
    """
    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["minute"] = dataframe["date"].dt.minute
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[dataframe["minute"] == 0, "enter_long"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[dataframe["minute"] == 10, "exit_long"] = 1
        return dataframe
""",
)
DRY_STRATEGY = strategy(
    "InAndOut",
    "Enters at once, leaves on the next loop: one dry trade, priced by the tickers.",
    """
    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["enter_long"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        return dataframe

    def custom_exit(self, pair, trade, current_time, current_rate, current_profit, **kwargs):
        return "done"
""",
)


def readme_exchange(api: RunningApi) -> dict:
    """docs/api.md's freqtrade `exchange` block, its URLs pointed at ``api``."""
    text = README.read_text()
    assert MARKER in text, "docs/api.md lost the freqtrade config marker"
    block = re.search(r"```json\n(.*?)```", text[text.index(MARKER) :], re.S)
    assert block is not None
    raw = block.group(1).replace(README_HTTP, api.http).replace(README_WS, api.ws)
    assert api.http in raw
    assert api.ws in raw
    return json.loads("{" + raw + "}")["exchange"]


def config(api: RunningApi, tmp_path: Path) -> dict:
    """A user's freqtrade config for Binance spot, its exchange block as docs/api.md shows it."""
    return {
        "trading_mode": "spot",
        "stake_currency": "USDT",
        "stake_amount": 100,
        "dry_run": True,
        "dry_run_wallet": 1000,
        "max_open_trades": 1,
        "timeframe": "5m",
        "user_data_dir": str(tmp_path / "user_data"),
        "dataformat_ohlcv": "feather",
        "entry_pricing": {"price_side": "same"},
        "exit_pricing": {"price_side": "same"},
        "pairlists": [{"method": "StaticPairList"}],
        "exchange": readme_exchange(api),
    }


async def start(tmp_path: Path, *args: str) -> asyncio.subprocess.Process:
    """`freqtrade ARGS` with the config, started. Requests past the API fail (a dead proxy)."""
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},  # not the project's modules
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1",
        # freqtrade logs through rich, which wraps lines at the terminal's width (80 columns
        # without one, as in CI): one log record stays on one line.
        "COLUMNS": "1000",
    }
    return await asyncio.create_subprocess_exec(
        str(FREQTRADE),
        *args,
        "--config",
        str(tmp_path / "config.json"),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def freqtrade(tmp_path: Path, *args: str) -> str:
    """Run `freqtrade ARGS` to its end; its output, which must end with exit status 0."""
    proc = await start(tmp_path, *args)
    out, _ = await asyncio.wait_for(proc.communicate(), 90)
    text = out.decode()
    assert proc.returncode == 0, text
    return text


async def freqtrade_until(
    tmp_path: Path, done: Callable[[], bool], *args: str, within: float = 60
) -> str:
    """Run `freqtrade ARGS` until ``done()`` (polled) or ``within`` seconds, then stop it with
    SIGINT as a user's Ctrl-C; its output."""
    proc = await start(tmp_path, *args)
    output = asyncio.ensure_future(proc.communicate())
    try:
        for _ in range(int(within / 0.2)):
            if output.done() or done():
                break
            await asyncio.sleep(0.2)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        out, _ = await asyncio.wait_for(output, 30)
    return out.decode()


def closed_trades(db_path: Path) -> list[tuple]:
    """(pair, open rate, close rate, exit reason) of the closed trades in freqtrade's database."""
    if not db_path.exists():
        return []
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        try:
            return db.execute(
                "select pair, open_rate, close_rate, exit_reason from trades where not is_open"
            ).fetchall()
        except sqlite3.OperationalError:  # no table yet, or a write in progress
            return []


async def served_5m(base: str, start_ms: int, end_ms: int) -> list[list]:
    """Every 5m kline /api/v3/klines serves from start_ms to end_ms, page by page."""
    rows: list[list] = []
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        since = start_ms
        while since < end_ms:
            page = (
                await client.get(
                    "/api/v3/klines",
                    params={
                        "symbol": "BTCUSDT",
                        "interval": "5m",
                        "startTime": since,
                        "endTime": end_ms - 1,
                        "limit": 1000,
                    },
                )
            ).json()
            if not page:
                break
            rows += page
            since = page[-1][0] + FIVE_MINUTES_MS
    return rows


async def test_download_data_and_backtesting(api, conn, tmp_path) -> None:
    """download-data gets exactly the 5m klines the API serves; backtesting runs over them."""
    conn.execute(FILL)
    conn.execute(
        "insert into market.symbols (symbol, status, base_asset, quote_asset) "
        "values ('BTCUSDT', 'TRADING', 'BTC', 'USDT')"
    )
    (tmp_path / "user_data" / "strategies").mkdir(parents=True)
    (tmp_path / "config.json").write_text(json.dumps(config(api, tmp_path)))
    start_ms = int(START.timestamp() * 1000)
    end_ms = start_ms + DAYS * 86_400_000
    timerange = f"{START:%Y%m%d}-{datetime.fromtimestamp(end_ms / 1000, UTC):%Y%m%d}"

    log = await freqtrade(tmp_path, "download-data", "--timerange", timerange, "-t", "5m")

    served = await served_5m(api.http, start_ms, end_ms)
    assert len(served) == DAYS * 288
    files = list((tmp_path / "user_data" / "data").rglob("BTC_USDT-5m.feather"))
    assert len(files) == 1, log
    got = pl.read_ipc(files[0])
    assert got.columns == ["date", "open", "high", "low", "close", "volume"]
    # freqtrade drops the newest candle of every download (Binance's `ohlcv_partial_candle`: it
    # may still be open), whatever the timerange.
    served = served[:-1]
    dates = [int(d.timestamp() * 1000) for d in got["date"]]
    assert dates == [k[0] for k in served]
    for row, kline in zip(got.iter_rows(), served, strict=True):
        assert list(row[1:]) == [float(v) for v in kline[1:6]]

    (tmp_path / "user_data" / "strategies" / "every_hour.py").write_text(STRATEGY)
    report = await freqtrade(
        tmp_path,
        "backtesting",
        "--strategy",
        "EveryHour",
        "--timerange",
        timerange,
        "--export",
        "none",
    )
    # The range the data covers (its last candle 23:50, as downloaded) and one trade an hour.
    assert "Backtested 2025-01-01 00:00:00 -> 2025-01-03 23:50:00" in report, report
    assert re.search(r"│ BTC/USDT │ +72 │", report), report


async def test_trade_dry_run(api, conn, tmp_path) -> None:
    """`freqtrade trade --dry-run` on the current market: it loads exchangeInfo, reads the last
    hours' 5m candles (/api/v3/klines, rolled up from the minutes and the live one), prices
    its orders from /api/v3/ticker/24hr, and makes one trade in and out at the last price. Its
    ccxt.pro kline watch is pointed at our /ws too. Beyond the URLs, the config's
    `_ft_has_params` tells freqtrade the exchange has no order book (we keep none;
    /api/v3/depth answers -1020): else every dry order fails on fetching it."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    rows = []
    for i in range(600, 0, -1):
        o = Decimal("93500.12345678") + Decimal(i * 37 % 101) / 2
        rows.append((now - timedelta(minutes=i), o, o + 1, o - 1, o + Decimal("0.5")))
    with conn.cursor() as cur:
        cur.executemany(
            "insert into market.klines_1m (symbol, open_time, open, high, low, close, volume, "
            "quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume, source) "
            "values ('BTCUSDT', %s, %s, %s, %s, %s, 1, 1, 1, 0, 0, 'rest')",
            rows,
        )
    last = "93601.25000000"
    live = (
        "93600.50000000",
        "93602.00000000",
        "93599.00000000",
        last,
        "0.03",
        "2808.0375",
        3,
        0,
        0,
    )
    write_live(conn, "BTCUSDT", now, live, False)
    conn.execute(
        "insert into market.symbols (symbol, status, base_asset, quote_asset) "
        "values ('BTCUSDT', 'TRADING', 'BTC', 'USDT')"
    )
    (tmp_path / "user_data" / "strategies").mkdir(parents=True)
    (tmp_path / "user_data" / "strategies" / "in_and_out.py").write_text(DRY_STRATEGY)
    settings = config(api, tmp_path) | {
        "db_url": f"sqlite:///{tmp_path / 'dryrun.sqlite'}",
        "initial_state": "running",
        "internals": {"process_throttle_secs": 1},
    }
    (tmp_path / "config.json").write_text(json.dumps(settings))
    db_path = tmp_path / "dryrun.sqlite"
    log = await freqtrade_until(
        tmp_path,
        lambda: bool(closed_trades(db_path)),
        "trade",
        "--dry-run",
        "--strategy",
        "InAndOut",
    )

    assert closed_trades(db_path) == [("BTC/USDT", float(last), float(last), "done")], log
    assert "LIMIT_SELL has been fulfilled" in log, log
    # What freqtrade logged while it traded on our API, up to the test's Ctrl-C: its clean-up
    # after the interrupt can fail on its own sqlite session when the signal lands mid-commit
    # (seen under CI's load), which says nothing of the API.
    running = log.split("worker found ... calling exit")[0]
    assert not re.search(r" - (ERROR|CRITICAL) - |Outdated history", running), log


FUTURES_MARKER = "<!-- freqtrade-futures-config: tests/api/test_freqtrade.py uses this block -->"
FUTURES_START = datetime(2025, 3, 1, tzinfo=UTC)


def readme_futures(api: RunningApi) -> dict:
    """docs/api.md's freqtrade futures block (trading mode, margin, exchange), its URLs
    pointed at ``api``."""
    text = README.read_text()
    assert FUTURES_MARKER in text, "docs/api.md lost the freqtrade futures config marker"
    block = re.search(r"```json\n(.*?)```", text[text.index(FUTURES_MARKER) :], re.S)
    assert block is not None
    raw = block.group(1).replace(README_HTTP, api.http).replace(README_WS, api.ws)
    return json.loads("{" + raw + "}")


async def test_futures_download_data_and_backtesting(database_url, tmp_path) -> None:
    """freqtrade `trading_mode: futures` on the BTCUSDT perpetual, docs/api.md's futures block
    its only change: download-data stores the 5m candles, the 1h mark candles and the funding
    rates /fapi/v1 serves (loaded from the fake exchange's USDⓈ-M into market_usdm), and
    backtesting shorts over them, funding fees charged."""
    from include.history.backfill import backfill_rest
    from include.timeframes import build_timeframes
    from tests.include.history_support import running_usdm_fake
    from tests.support.api import futures_api_config, running_api

    start_ms = int(FUTURES_START.timestamp() * 1000)
    end_ms = start_ms + DAYS * 86_400_000
    with running_usdm_fake() as fake:
        backfill_rest(
            ["BTCUSDT"],
            FUTURES_START,
            FUTURES_START + timedelta(days=DAYS),
            rest_url=fake.url,
            market_name="usdm",
            series=["all"],
        )
    build_timeframes(database_url, market="usdm")
    async with running_api(futures_api_config("usdm", "BTCUSDT")) as api:
        user = {
            **{k: v for k, v in config(api, tmp_path).items() if k != "exchange"},
            **readme_futures(api),
        }
        (tmp_path / "user_data" / "strategies").mkdir(parents=True)
        (tmp_path / "config.json").write_text(json.dumps(user))
        end = datetime.fromtimestamp(end_ms / 1000, UTC)
        timerange = f"{FUTURES_START:%Y%m%d}-{end:%Y%m%d}"
        log = await freqtrade(tmp_path, "download-data", "--timerange", timerange, "-t", "5m")
        async with httpx.AsyncClient(base_url=api.http, timeout=10) as http:
            window = {"symbol": "BTCUSDT", "startTime": start_ms, "endTime": end_ms - 1}
            five = (
                await http.get(
                    "/fapi/v1/klines", params={**window, "interval": "5m", "limit": 1500}
                )
            ).json()
            mark = (
                await http.get(
                    "/fapi/v1/markPriceKlines", params={**window, "interval": "1h", "limit": 1500}
                )
            ).json()
            funding = (await http.get("/fapi/v1/fundingRate", params=window)).json()
        data = tmp_path / "user_data" / "data"
        files = {"5m": "5m-futures", "mark": "1h-mark", "funding": "1h-funding_rate"}
        stored = {
            kind: pl.read_ipc(next(data.rglob(f"BTC_USDT_USDT-{name}.feather")))
            for kind, name in files.items()
        }
        assert len(five) == DAYS * 288, log
        # freqtrade drops the newest candle of a download (it may still be open on Binance).
        got = stored["5m"]
        assert [int(d.timestamp() * 1000) for d in got["date"]] == [k[0] for k in five[:-1]]
        for row, kline in zip(got.iter_rows(), five[:-1], strict=True):
            assert list(row[1:6]) == [float(v) for v in kline[1:6]]
        assert [int(d.timestamp() * 1000) for d in stored["mark"]["date"]] == [
            k[0] for k in mark[:-1]
        ]
        assert list(stored["mark"]["close"]) == [float(k[4]) for k in mark[:-1]]
        assert len(funding) == DAYS * 3
        rates = stored["funding"]
        assert [int(d.timestamp() * 1000) for d in rates["date"]] == [
            f["fundingTime"] for f in funding
        ]
        assert list(rates["funding_rate"]) == [float(f["fundingRate"]) for f in funding]

        shorts = (
            STRATEGY.replace("(IStrategy):", "(IStrategy):\n    can_short = True")
            .replace('"enter_long"', '"enter_short"')
            .replace('"exit_long"', '"exit_short"')
        )
        (tmp_path / "user_data" / "strategies" / "every_hour.py").write_text(shorts)
        report = await freqtrade(
            tmp_path, "backtesting", "--strategy", "EveryHour", "--timerange", timerange,
            "--export", "none",
        )  # fmt: skip
    assert "Backtested 2025-03-01 00:00:00 -> 2025-03-03 23:50:00" in report, report
    assert re.search(r"│ BTC/USDT:USDT │ +72 │", report), report
