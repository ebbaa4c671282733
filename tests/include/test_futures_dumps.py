"""USDⓈ-M dumps from the fake's data/futures/um/ into market_usdm: a day's klines and its mark,
index and premium klines equal what /fapi/v1 serves for the day, kept apart from spot's and from
each other (their files share a name), a rerun skips them all; a day's trades or aggTrades
build the same klines."""

from __future__ import annotations

from decimal import Decimal

import httpx
import psycopg
import pytest
from typer.testing import CliRunner

from fakebinance.server import ThreadedFakeBinance
from include.cli import app
from include.history.dumps import import_file
from include.platform.markets import USDM
from include.platform.times import MINUTE_MS, parse_utc, to_ms

DAY = parse_utc("2025-03-10")
KINDS = {
    "klines": ("klines_1m", "klines", "symbol"),
    "markPriceKlines": ("mark_price_klines_1m", "markPriceKlines", "symbol"),
    "indexPriceKlines": ("index_price_klines_1m", "indexPriceKlines", "pair"),
    "premiumIndexKlines": ("premium_index_klines_1m", "premiumIndexKlines", "symbol"),
}


def served_day(fake: ThreadedFakeBinance, endpoint: str, key: str) -> list[tuple]:
    """The day's 1440 rows as /fapi/v1 serves them: open time, OHLC, and column 8."""
    rows: list = []
    with httpx.Client(base_url=fake.url) as http:
        for start in range(to_ms(DAY), to_ms(DAY) + 1440 * MINUTE_MS, 480 * MINUTE_MS):
            answer = http.get(
                f"/fapi/v1/{endpoint}",
                params={key: "BTCUSDT", "interval": "1m", "startTime": start, "limit": 480},
            )
            rows += answer.json()
    return [(int(r[0]), *(Decimal(v) for v in r[1:5]), int(r[8])) for r in rows]


def test_a_days_usdm_dumps_equal_rest_and_stay_in_their_tables(
    usdm_fake: ThreadedFakeBinance, conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BINANCE_DATA_URL", usdm_fake.url)
    monkeypatch.setenv("BINANCE_USDM_REST_URL", usdm_fake.url)
    monkeypatch.setenv("USDM_SYMBOLS", "BTCUSDT")
    args = ["import-dumps", "--start", "2025-03-10", "--end", "2025-03-11", "--market", "usdm"]
    runner = CliRunner()
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    for table, endpoint, key in KINDS.values():
        count_col = "trade_count" if table == "klines_1m" else "sample_count"
        got = conn.execute(
            f"select (extract(epoch from open_time) * 1000)::bigint, open, high, low, close, "
            f"{count_col} from market_usdm.{table} where symbol = 'BTCUSDT' order by open_time"
        ).fetchall()
        want = served_day(usdm_fake, endpoint, key)
        assert len(want) == 1440, table
        assert got == want, table
    files = conn.execute(
        "select file_name, kind, source from market_usdm.imported_files order by file_name"
    ).fetchall()
    assert files == [
        ("BTCUSDT-1m-2025-03-10.zip", "klines", "dump_klines"),
        ("index/BTCUSDT-1m-2025-03-10.zip", "index", "dump_klines"),
        ("mark/BTCUSDT-1m-2025-03-10.zip", "mark", "dump_klines"),
        ("premium/BTCUSDT-1m-2025-03-10.zip", "premium", "dump_klines"),
    ]
    volume = conn.execute(
        "select sum(volume), sum(trade_count) from market_usdm.klines_1m"
    ).fetchone()
    with httpx.Client(base_url=usdm_fake.url) as http:
        day = http.get(
            "/fapi/v1/klines",
            params={"symbol": "BTCUSDT", "interval": "1d", "startTime": to_ms(DAY), "limit": 1},
        ).json()[0]
    assert volume == (Decimal(day[5]), int(day[8]))
    spot = conn.execute("select count(*) from market.imported_files").fetchone()[0]
    assert spot == 0

    again = runner.invoke(app, args)
    assert again.exit_code == 0
    assert again.output.count("already imported, skipped") == 4


@pytest.mark.parametrize("kind", ["trades", "aggTrades"])
def test_a_days_usdm_trades_dump_builds_the_klines_rest_serves(
    usdm_fake: ThreadedFakeBinance, conn: psycopg.Connection, kind: str
) -> None:
    """A day of data/futures/um trades (or aggTrades: 6 and 7 columns, a header, ms times,
    lower-case booleans) builds every minute of market_usdm.klines_1m equal to /fapi/v1/klines,
    field for field."""
    url = f"{usdm_fake.url}/data/futures/um/daily/{kind}/ETHUSDT/ETHUSDT-{kind}-2025-03-10.zip"
    done = import_file(url, rest_url=usdm_fake.url)
    assert (done.kind, done.symbol, done.candles) == (kind, "ETHUSDT", 1440)
    rows: list = []
    with httpx.Client(base_url=usdm_fake.url) as http:
        for start in range(to_ms(DAY), to_ms(DAY) + 1440 * MINUTE_MS, 480 * MINUTE_MS):
            rows += http.get(
                "/fapi/v1/klines",
                params={"symbol": "ETHUSDT", "interval": "1m", "startTime": start, "limit": 480},
            ).json()
    got = conn.execute(
        "select (extract(epoch from open_time) * 1000)::bigint, open, high, low, close, volume, "
        "quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume "
        "from market_usdm.klines_1m where symbol = 'ETHUSDT' order by open_time"
    ).fetchall()
    assert got == [
        (int(k[0]), *(Decimal(v) for v in k[1:6]), Decimal(k[7]), int(k[8]),
         Decimal(k[9]), Decimal(k[10]))
        for k in rows
    ]  # fmt: skip
    assert USDM.dump_root == "data/futures/um"
    assert conn.execute("select count(*) from market.klines_1m").fetchone() == (0,)


def test_a_monthly_funding_dump_lands_beside_rest_funding(
    usdm_fake: ThreadedFakeBinance, conn: psycopg.Connection
) -> None:
    """data/futures/um/monthly/fundingRate: February's 84 fundings in market_usdm.funding_rates,
    each rate equal to /fapi/v1/fundingRate's, the interval from the dump; a REST backfill then
    adds the mark price and changes no rate; a rerun of the file skips it."""
    from include.history.backfill import backfill_rest

    monthly = f"{usdm_fake.url}/data/futures/um/monthly"
    url = f"{monthly}/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2025-02.zip"
    done = import_file(url, rest_url=usdm_fake.url)
    assert (done.kind, done.symbol, done.rows) == ("fundingRate", "BTCUSDT", 84)
    start, end = parse_utc("2025-02-01"), parse_utc("2025-03-01")
    with httpx.Client(base_url=usdm_fake.url) as http:
        served = http.get(
            "/fapi/v1/fundingRate",
            params={
                "symbol": "BTCUSDT",
                "startTime": to_ms(start),
                "endTime": to_ms(end) - 1,
                "limit": 1000,
            },
        ).json()
    rows = conn.execute(
        "select (extract(epoch from funding_time) * 1000)::bigint, funding_rate, "
        "funding_interval_hours, mark_price, source from market_usdm.funding_rates "
        "order by funding_time"
    ).fetchall()
    assert rows == [
        (f["fundingTime"], Decimal(f["fundingRate"]), 8, None, "dump_funding") for f in served
    ]
    backfill_rest(
        ["BTCUSDT"], start, end, rest_url=usdm_fake.url, market_name="usdm", series="funding"
    )
    rows = conn.execute(
        "select funding_rate, funding_interval_hours, mark_price from market_usdm.funding_rates "
        "order by funding_time"
    ).fetchall()
    assert rows == [(Decimal(f["fundingRate"]), 8, Decimal(f["markPrice"])) for f in served]
    assert import_file(url, rest_url=usdm_fake.url).skipped
