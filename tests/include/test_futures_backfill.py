"""A USDⓈ-M futures backfill against the fake exchange's /fapi/v1 and a real PostgreSQL: the
contract's own klines, mark/index/premium klines and funding land in market_usdm exactly as
Binance serves them, through the futures' own weight pool, as history_loader, and spot's tables
stay untouched."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from typer.testing import CliRunner

from fakebinance.server import ThreadedFakeBinance
from include.cli import app
from include.history.backfill import backfill_rest
from include.platform.markets import FUTURES_KLINES_PAGE, USDM
from include.platform.times import parse_utc, to_ms
from tests.support import futures_history as history
from tests.support.db import record_writers

# The fake's clock stands at 2025-03-12 12:00:30: this range holds the 08:00 funding and is
# longer than one futures page (499 minutes).
START = parse_utc("2025-03-12T02:00")
END = parse_utc("2025-03-12T10:30")
MINUTES = 510
PRICE_TABLES = {
    "mark": ("markPriceKlines", "mark_price_klines_1m", "symbol"),
    "index": ("indexPriceKlines", "index_price_klines_1m", "pair"),
    "premium": ("premiumIndexKlines", "premium_index_klines_1m", "symbol"),
}


def served(fake: ThreadedFakeBinance, endpoint: str, **params: object) -> list:
    """Every row the fake's /fapi/v1 endpoint serves for [START, END), in 499-minute pages."""
    url = f"{fake.url}/fapi/v1/{endpoint}"
    return history.served_pages(url, params, to_ms(START), to_ms(END), 499)


def test_a_usdm_backfill_holds_the_contracts_series_exactly(
    usdm_fake: ThreadedFakeBinance, conn: psycopg.Connection
) -> None:
    """`--market usdm --series all` loads BTCUSDT's perpetual into market_usdm: trade klines equal
    /fapi/v1/klines field for field (not spot's BTCUSDT, whose table gets nothing), mark, index
    and premium klines equal theirs, each funding equals /fapi/v1/fundingRate; its requests
    weigh as futures' (limit 499: 2 a page) in the binance_futures budget, none in spot's, and
    every row is history_loader's."""
    writers = {t: record_writers(conn, f"market_usdm.{t}") for t in ("klines_1m", "funding_rates")}
    result = backfill_rest(
        ["BTCUSDT"], START, END, rest_url=usdm_fake.url, market_name="usdm", series=["all"]
    )
    assert result.fetched == {"BTCUSDT": MINUTES}
    official = served(usdm_fake, "klines", symbol="BTCUSDT")
    assert len(official) == MINUTES
    stored = history.held(conn, "market_usdm.klines_1m", history.TRADE_COLUMNS, "BTCUSDT")
    assert stored == history.trade_rows(official)
    spot = conn.execute(
        "select count(*) from market.klines_1m where open_time >= %s and open_time < %s",
        (START, END),
    ).fetchone()[0]
    assert spot == 0, "a futures backfill wrote spot's table"

    for name, (endpoint, table, key) in PRICE_TABLES.items():
        want = history.price_rows(served(usdm_fake, endpoint, **{key: "BTCUSDT"}))
        got = history.held(conn, f"market_usdm.{table}", history.PRICE_COLUMNS, "BTCUSDT")
        assert len(want) == MINUTES, name
        assert got == want, name
        assert result.series[name]["BTCUSDT"] == (MINUTES, MINUTES)

    fundings = history.served_fundings(
        f"{usdm_fake.url}/fapi/v1/fundingRate", "BTCUSDT", to_ms(START), to_ms(END) - 1
    )
    assert [f["fundingTime"] for f in fundings] == [to_ms(parse_utc("2025-03-12T08:00"))]
    assert history.held_fundings(conn, "market_usdm", "BTCUSDT") == history.funding_rows(fundings)
    assert result.series["funding"]["BTCUSDT"] == (1, 1)

    # Two pages per series of 510 minutes, four series, at 2 each (limit 499); exchangeInfo 1;
    # the first day 1; one fundingRate request (1, in its own pool of requests).
    assert result.requests == 4 * 2 + 3
    assert result.weight == 4 * 2 * 2 + 1 + 1 + 1
    assert result.throttled_429 == 0
    budgets = {r[0] for r in conn.execute("select distinct budget from market.rest_weight_windows")}
    assert {"binance_futures", "binance_futures_funding"} <= budgets
    assert "binance_rest" not in budgets
    assert {t: w() for t, w in writers.items()} == {
        "klines_1m": {"history_loader"},
        "funding_rates": {"history_loader"},
    }

    # A rerun finds every minute held: no kline page, nothing changed.
    history.assert_rerun_changes_nothing("BTCUSDT", (START, END), usdm_fake.url, "usdm")


def test_the_cli_backfills_a_futures_market_and_refuses_what_it_lacks(
    usdm_fake: ThreadedFakeBinance, conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`backfill-rest --market usdm` takes USDM_SYMBOLS and BINANCE_USDM_REST_URL; a contract the
    market does not list, or a futures-only series asked of spot, is one line and exit 1."""
    monkeypatch.setenv("BINANCE_USDM_REST_URL", usdm_fake.url)
    monkeypatch.setenv("USDM_SYMBOLS", "ETHUSDT")
    runner = CliRunner()
    end = START + timedelta(minutes=FUTURES_KLINES_PAGE + 1)
    args = ["backfill-rest", "--start", START.isoformat(), "--end", end.isoformat()]
    done = runner.invoke(app, [*args, "--market", "usdm", "--series", "klines,mark"])
    assert done.exit_code == 0, done.output
    assert "ETHUSDT: 500 klines fetched, 500 new or changed" in done.output
    assert "ETHUSDT: 500 mark rows fetched, 500 new or changed" in done.output
    counts = conn.execute(
        "select (select count(*) from market_usdm.klines_1m where symbol = 'ETHUSDT'), "
        "(select count(*) from market_usdm.mark_price_klines_1m where symbol = 'ETHUSDT'), "
        "(select count(*) from market_usdm.index_price_klines_1m where symbol = 'ETHUSDT')"
    ).fetchone()
    assert counts == (500, 500, 0)
    assert USDM.weight("/fapi/v1/klines", {"limit": FUTURES_KLINES_PAGE}) == 2

    refused = runner.invoke(app, [*args, "--market", "usdm", "--symbol", "PEPEUSDT"])
    assert refused.exit_code == 1
    assert "unknown symbol PEPEUSDT" in refused.output
    spot_mark = runner.invoke(app, [*args, "--series", "mark"])
    assert spot_mark.exit_code == 1
    assert "futures markets only" in spot_mark.output


def test_heal_gaps_fills_a_futures_hole_in_its_own_schema(
    usdm_fake: ThreadedFakeBinance, conn: psycopg.Connection
) -> None:
    """heal-gaps of USDⓈ-M: minutes deleted from market_usdm.klines_1m come back from
    /fapi/v1 equal to what they were, the healed span is recorded in market_usdm.ingest_gaps
    and nothing in spot's."""
    start, end = parse_utc("2025-03-12T06:00"), parse_utc("2025-03-12T09:00")
    before, done, after = history.healed_hole(
        conn, "market_usdm", "ETHUSDT", (start, end), usdm_fake.url, "usdm"
    )
    assert done.filled["ETHUSDT"] >= 12
    values = [r[:11] for r in after if start <= r[1] < end]
    assert values == [r[:11] for r in before]
    gaps = conn.execute(
        "select gap_start, gap_end, healed_by from market_usdm.ingest_gaps "
        "where symbol = 'ETHUSDT' and gap_start <= %s and gap_end >= %s",
        (start + timedelta(minutes=30), start + timedelta(minutes=42)),
    ).fetchall()
    assert gaps
    assert all(g[2] == "heal-gaps" for g in gaps)
    assert conn.execute("select count(*) from market.ingest_gaps").fetchone() == (0,)
