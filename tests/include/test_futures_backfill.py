"""A USDⓈ-M futures backfill against the fake exchange's /fapi/v1 and a real PostgreSQL: the
contract's own klines, mark/index/premium klines and funding land in market_usdm exactly as
Binance serves them, through the futures' own weight pool, as history_loader, and spot's tables
stay untouched."""

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
from include.platform.markets import FUTURES_KLINES_PAGE, USDM
from include.platform.times import MINUTE_MS, parse_utc, to_ms
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
    rows: list = []
    with httpx.Client(base_url=fake.url) as http:
        for cursor in range(to_ms(START), to_ms(END), 499 * MINUTE_MS):
            stop = min(cursor + 499 * MINUTE_MS, to_ms(END)) - 1
            answer = http.get(
                f"/fapi/v1/{endpoint}",
                params={
                    **params,
                    "interval": "1m",
                    "startTime": cursor,
                    "endTime": stop,
                    "limit": 499,
                },
            )
            answer.raise_for_status()
            rows += answer.json()
    return rows


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
    stored = conn.execute(
        "select (extract(epoch from open_time) * 1000)::bigint, open, high, low, close, volume, "
        "quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume "
        "from market_usdm.klines_1m where symbol = 'BTCUSDT' order by open_time"
    ).fetchall()
    assert stored == [
        (
            int(k[0]),
            *(Decimal(v) for v in k[1:6]),
            Decimal(k[7]),
            int(k[8]),
            Decimal(k[9]),
            Decimal(k[10]),
        )
        for k in official
    ]
    spot = conn.execute(
        "select count(*) from market.klines_1m where open_time >= %s and open_time < %s",
        (START, END),
    ).fetchone()[0]
    assert spot == 0, "a futures backfill wrote spot's table"

    for name, (endpoint, table, key) in PRICE_TABLES.items():
        want = [
            (int(k[0]), *(Decimal(v) for v in k[1:5]), int(k[8]))
            for k in served(usdm_fake, endpoint, **{key: "BTCUSDT"})
        ]
        got = conn.execute(
            f"select (extract(epoch from open_time) * 1000)::bigint, open, high, low, close, "
            f"sample_count from market_usdm.{table} where symbol = 'BTCUSDT' order by open_time"
        ).fetchall()
        assert len(want) == MINUTES, name
        assert got == want, name
        assert result.series[name]["BTCUSDT"] == (MINUTES, MINUTES)

    with httpx.Client(base_url=usdm_fake.url) as http:
        fundings = http.get(
            "/fapi/v1/fundingRate",
            params={"symbol": "BTCUSDT", "startTime": to_ms(START), "endTime": to_ms(END) - 1},
        ).json()
    assert [f["fundingTime"] for f in fundings] == [to_ms(parse_utc("2025-03-12T08:00"))]
    rows = conn.execute(
        "select (extract(epoch from funding_time) * 1000)::bigint, funding_rate, mark_price "
        "from market_usdm.funding_rates where symbol = 'BTCUSDT'"
    ).fetchall()
    assert rows == [
        (f["fundingTime"], Decimal(f["fundingRate"]), Decimal(f["markPrice"])) for f in fundings
    ]
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
    again = backfill_rest(
        ["BTCUSDT"], START, END, rest_url=usdm_fake.url, market_name="usdm", series=["all"]
    )
    assert again.changed == {"BTCUSDT": 0}
    assert all(counts["BTCUSDT"][1] == 0 for counts in again.series.values())


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
    from include.history.heal import heal_gaps

    start, end = parse_utc("2025-03-12T06:00"), parse_utc("2025-03-12T09:00")
    backfill_rest(
        ["ETHUSDT"], start, end, rest_url=usdm_fake.url, market_name="usdm", series="klines"
    )
    before = conn.execute(
        "select * from market_usdm.klines_1m where symbol = 'ETHUSDT' order by open_time"
    ).fetchall()
    conn.execute(
        "delete from market_usdm.klines_1m where symbol = 'ETHUSDT' "
        "and open_time >= %s and open_time < %s",
        (start + timedelta(minutes=30), start + timedelta(minutes=42)),
    )
    done = heal_gaps(["ETHUSDT"], rest_url=usdm_fake.url, market="usdm", full=True)
    assert done.filled["ETHUSDT"] >= 12
    after = conn.execute(
        "select * from market_usdm.klines_1m where symbol = 'ETHUSDT' order by open_time"
    ).fetchall()
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
