"""COIN-M history against the fake exchange's /dapi/v1 and data/futures/cm/ and a real
PostgreSQL: BTCUSD_PERP's klines (volumes in contracts, column 8 the base asset's volume), its
mark, index (asked for by pair, BTCUSD) and premium klines and its funding land in market_coinm
exactly as Binance serves them, from REST and from the dumps alike, in the futures' one weight
pool; spot's and USDⓈ-M's tables get nothing, and a hole heals from /dapi/v1."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import httpx
import psycopg
import pytest
from typer.testing import CliRunner

from fakebinance.server import ThreadedFakeBinance
from include.cli import app
from include.history.backfill import backfill_rest
from include.history.dumps import DumpError, import_file
from include.platform.times import MINUTE_MS, parse_utc, to_ms
from tests.support import futures_history as history

# The fake's clock stands at 2025-03-12 12:00:30: the range holds the 08:00 funding and is
# longer than one futures page (499 minutes).
START = parse_utc("2025-03-12T02:00")
END = parse_utc("2025-03-12T10:30")
MINUTES = 510
DAY = parse_utc("2025-03-10")
PRICE_TABLES = {
    "mark": ("markPriceKlines", "mark_price_klines_1m", {"symbol": "BTCUSD_PERP"}),
    "index": ("indexPriceKlines", "index_price_klines_1m", {"pair": "BTCUSD"}),
    "premium": ("premiumIndexKlines", "premium_index_klines_1m", {"symbol": "BTCUSD_PERP"}),
}


def served(fake: ThreadedFakeBinance, endpoint: str, start_ms: int, end_ms: int, **params) -> list:
    """Every 1m row /dapi/v1 serves for [start, end), asked as a client pages COIN-M: both
    times, a window no longer than the limit (dapi answers a window's newest rows)."""
    url = f"{fake.url}/dapi/v1/{endpoint}"
    return history.served_pages(url, params, start_ms, end_ms, 480)


def test_a_coinm_backfill_holds_the_contracts_series_exactly(
    coinm_fake: ThreadedFakeBinance, conn: psycopg.Connection
) -> None:
    """`--market coinm --series all`: BTCUSD_PERP's klines equal /dapi/v1/klines field for
    field (contracts in volume, the base asset's volume in quote_volume), mark, index and
    premium klines equal theirs, funding equals /dapi/v1/fundingRate; every request in the
    binance_futures pool USDⓈ-M draws from, none in spot's; a rerun changes nothing."""
    result = backfill_rest(
        ["BTCUSD_PERP"], START, END, rest_url=coinm_fake.url, market_name="coinm", series=["all"]
    )
    assert result.fetched == {"BTCUSD_PERP": MINUTES}
    official = served(coinm_fake, "klines", to_ms(START), to_ms(END), symbol="BTCUSD_PERP")
    assert len(official) == MINUTES
    # Contracts are whole; the base volume carries 8 decimals.
    assert all("." not in k[5] and len(k[7].split(".")[1]) == 8 for k in official)
    stored = history.held(conn, "market_coinm.klines_1m", history.TRADE_COLUMNS, "BTCUSD_PERP")
    assert stored == history.trade_rows(official)
    for name, (endpoint, table, key) in PRICE_TABLES.items():
        want = history.price_rows(served(coinm_fake, endpoint, to_ms(START), to_ms(END), **key))
        got = history.held(conn, f"market_coinm.{table}", history.PRICE_COLUMNS, "BTCUSD_PERP")
        assert len(want) == MINUTES, name
        assert got == want, name
    fundings = history.served_fundings(
        f"{coinm_fake.url}/dapi/v1/fundingRate", "BTCUSD_PERP", to_ms(START), to_ms(END)
    )
    assert [f["fundingTime"] for f in fundings] == [to_ms(parse_utc("2025-03-12T08:00"))]
    rows = history.held_fundings(conn, "market_coinm", "BTCUSD_PERP")
    assert rows == history.funding_rows(fundings)
    for other in ("market.klines_1m", "market_usdm.klines_1m"):
        assert conn.execute(f"select count(*) from {other}").fetchone() == (0,), other
    budgets = {r[0] for r in conn.execute("select distinct budget from market.rest_weight_windows")}
    assert "binance_futures" in budgets
    assert "binance_rest" not in budgets
    stats = httpx.get(f"{coinm_fake.url}/fake/stats").json()["requests_by_path"]
    assert stats.get("/dapi/v1/klines", 0) >= 2
    assert not any(path.startswith("/fapi/") for path in stats)

    history.assert_rerun_changes_nothing("BTCUSD_PERP", (START, END), coinm_fake.url, "coinm")


def test_a_days_coinm_dumps_equal_rest(
    coinm_fake: ThreadedFakeBinance, conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """import-dumps --market coinm: a day of data/futures/cm/ klines, mark, index and premium
    klines equals what /dapi/v1 serves for the day, and the day's contracts and base volume
    equal the 1d kline's (both sum the trades' own)."""
    monkeypatch.setenv("BINANCE_DATA_URL", coinm_fake.url)
    monkeypatch.setenv("BINANCE_COINM_REST_URL", coinm_fake.url)
    monkeypatch.setenv("COINM_SYMBOLS", "BTCUSD_PERP")
    args = ["import-dumps", "--start", "2025-03-10", "--end", "2025-03-11", "--market", "coinm"]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    day_ms = to_ms(DAY)
    want = served(coinm_fake, "klines", day_ms, day_ms + 1440 * MINUTE_MS, symbol="BTCUSD_PERP")
    got = conn.execute(
        f"select {history.TRADE_COLUMNS} from market_coinm.klines_1m where symbol = 'BTCUSD_PERP' "
        "and open_time >= %s and open_time < %s order by open_time",
        (DAY, DAY + timedelta(days=1)),
    ).fetchall()
    assert len(want) == 1440
    assert got == history.trade_rows(want)
    for name, (endpoint, table, key) in PRICE_TABLES.items():
        rows = conn.execute(
            f"select (extract(epoch from open_time) * 1000)::bigint, open, high, low, close, "
            f"sample_count from market_coinm.{table} where symbol = 'BTCUSD_PERP' "
            "and open_time >= %s and open_time < %s order by open_time",
            (DAY, DAY + timedelta(days=1)),
        ).fetchall()
        day = served(coinm_fake, endpoint, day_ms, day_ms + 1440 * MINUTE_MS, **key)
        assert rows == history.price_rows(day), name
    with httpx.Client(base_url=coinm_fake.url) as http:
        [daily] = http.get(
            "/dapi/v1/klines",
            params={
                "symbol": "BTCUSD_PERP",
                "interval": "1d",
                "startTime": day_ms,
                "endTime": day_ms + 1440 * MINUTE_MS - 1,
            },
        ).json()
    totals = conn.execute(
        "select sum(volume), sum(quote_volume), sum(trade_count) from market_coinm.klines_1m "
        "where symbol = 'BTCUSD_PERP' and open_time >= %s and open_time < %s",
        (DAY, DAY + timedelta(days=1)),
    ).fetchone()
    assert totals == (Decimal(daily[5]), Decimal(daily[7]), daily[8])


def test_heal_gaps_fills_a_coinm_hole_from_dapi(
    coinm_fake: ThreadedFakeBinance, conn: psycopg.Connection
) -> None:
    """Minutes deleted from market_coinm.klines_1m come back from /dapi/v1 as they were, the
    span recorded in market_coinm.ingest_gaps."""
    start, end = parse_utc("2025-03-12T06:00"), parse_utc("2025-03-12T09:00")
    before, done, after = history.healed_hole(
        conn, "market_coinm", "ETHUSD_PERP", (start, end), coinm_fake.url, "coinm"
    )
    assert len(before) == 180
    assert done.filled["ETHUSD_PERP"] >= 12
    assert [r[:11] for r in after if start <= r[1] < end] == [r[:11] for r in before]
    gaps = conn.execute(
        "select healed_by from market_coinm.ingest_gaps where symbol = 'ETHUSD_PERP'"
    ).fetchall()
    assert gaps
    assert {g[0] for g in gaps} == {"heal-gaps"}


def test_a_days_cm_trades_dump_builds_the_klines_and_its_aggtrades_are_refused(
    coinm_fake: ThreadedFakeBinance, conn: psycopg.Connection
) -> None:
    """data/futures/cm trades (id, price, qty, base_qty, ...): the day's minutes equal
    /dapi/v1/klines field for field, the base volume the sum of the fills' base_qty; its
    aggTrades dump, which cannot tell those, is refused in one line and nothing is written."""
    base = f"{coinm_fake.url}/data/futures/cm/daily"
    done = import_file(
        f"{base}/trades/ETHUSD_PERP/ETHUSD_PERP-trades-2025-03-10.zip", rest_url=coinm_fake.url
    )
    assert (done.kind, done.symbol, done.candles) == ("trades", "ETHUSD_PERP", 1440)
    day_ms = to_ms(DAY)
    want = served(coinm_fake, "klines", day_ms, day_ms + 1440 * MINUTE_MS, symbol="ETHUSD_PERP")
    got = conn.execute(
        f"select {history.TRADE_COLUMNS} from market_coinm.klines_1m where symbol = 'ETHUSD_PERP' "
        "order by open_time"
    ).fetchall()
    assert got == history.trade_rows(want)
    conn.execute("delete from market_coinm.klines_1m")
    with pytest.raises(DumpError, match="aggTrades dumps do not carry the base quantities"):
        import_file(
            f"{base}/aggTrades/ETHUSD_PERP/ETHUSD_PERP-aggTrades-2025-03-10.zip",
            rest_url=coinm_fake.url,
        )
    assert conn.execute("select count(*) from market_coinm.klines_1m").fetchone() == (0,)
