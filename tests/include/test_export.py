"""`coverage` and `export` (DESIGN's commands) against a real database built by dbt: what is held
per symbol, and files that DuckDB and polars read back with every decimal exact."""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import httpx
import polars as pl
import psycopg
import pytest

from api.config import ApiConfig, load_config
from include.platform.intervals import INTERVALS
from include.platform.times import to_ms
from include.timeframes import build_timeframes
from tests.support.api import running_api
from tests.support.cli import run_cli
from tests.support.db import TEMPLATE_DB, create_database
from tests.support.paths import PROJECT_ROOT

pytestmark = pytest.mark.slow

MARKER = "<!-- duckdb-snippet: tests/include/test_export.py runs this query -->"

START = datetime(2025, 3, 3, tzinfo=UTC)
MINUTES = 180
HOLE = (START + timedelta(minutes=40), 5)  # missing, nothing recorded
HALT = (START + timedelta(minutes=100), 20)  # missing, recorded as a halt
# Decimals as Binance sends them, and a quote volume with all sixteen decimals p * q can have.
HISTORY = """
insert into market.klines_1m (symbol, open_time, open, high, low, close, volume, quote_volume,
    trade_count, taker_buy_volume, taker_buy_quote_volume, source)
select s.symbol, t, 0.00001234 + m %% 50 * 0.00000001, 0.00001299, 0.00001200, 0.00001250,
    123456789.12345678, 1523.4567891234567891, 7, 61728394.56172839, 761.7283945617283945,
    case when m < 90 then 'dump_klines' else 'rest' end
from (values ('PEPEUSDT'), ('BTCUSDT')) as s (symbol)
cross join generate_series(0, %(minutes)s - 1) as m
cross join lateral (select %(start)s::timestamptz + m * interval '1 minute' as t) as at
"""


@pytest.fixture(scope="module")
def built(pg_server, template_url: str) -> str:
    """Three hours of two symbols, BTCUSDT with a hole and a recorded halt, built by dbt."""
    url = create_database(pg_server, f"export{os.getpid()}", TEMPLATE_DB)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(HISTORY, {"start": START, "minutes": MINUTES})
        for first, length in (HOLE, HALT):
            conn.execute(
                "delete from market.klines_1m where symbol = 'BTCUSDT' "
                "and open_time >= %s and open_time < %s",
                (first, first + timedelta(minutes=length)),
            )
        conn.execute(
            "insert into market.ingest_gaps (symbol, gap_start, gap_end, reason, detected_by) "
            "values ('BTCUSDT', %s, %s, 'halt', 'heal-gaps')",
            (HALT[0], HALT[0] + timedelta(minutes=HALT[1])),
        )
    build_timeframes(url, full_refresh=True, unit_tests=False)
    return url


def cli(url: str, *args: str) -> subprocess.CompletedProcess:
    return run_cli(*args, env={**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(PROJECT_ROOT)})


def documented_query() -> str:
    """The query of the DuckDB example the docs mark as run by this test."""
    pages = [PROJECT_ROOT / "README.md", *(PROJECT_ROOT / "docs").glob("*.md")]
    [page] = [p.read_text() for p in pages if MARKER in p.read_text()]
    block = page[page.index(MARKER) :]
    return re.search(r'duckdb\.sql\("""(.*?)"""\)', block, re.S).group(1)


def test_coverage_names_holes_halts_and_sources(built: str) -> None:
    done = cli(built, "coverage", "--json")
    assert done.returncode == 0, done.stderr
    rows = {row["symbol"]: row for row in map(json.loads, done.stdout.splitlines())}
    assert set(rows) == {"BTCUSDT", "PEPEUSDT"}
    btc, pepe = rows["BTCUSDT"], rows["PEPEUSDT"]
    last = (START + timedelta(minutes=MINUTES - 1)).isoformat()
    assert (btc["first_minute"], btc["last_minute"]) == (START.isoformat(), last)
    assert btc["minutes"] == MINUTES - HOLE[1] - HALT[1]
    assert (btc["holes"], btc["halts"], btc["halted_minutes"]) == (HOLE[1], 1, HALT[1])
    assert btc["official_sources"] == {"dump_klines": 90 - HOLE[1], "rest": 90 - HALT[1]}
    assert (pepe["minutes"], pepe["holes"], pepe["halts"]) == (MINUTES, 0, 0)
    table = cli(built, "coverage", "--symbol", "BTCUSDT")
    assert table.returncode == 0, table.stderr
    assert "BTCUSDT" in table.stdout
    assert "PEPEUSDT" not in table.stdout


def test_parquet_export_reads_back_exact_in_duckdb_and_polars(built: str, tmp_path: Path) -> None:
    end = (START + timedelta(minutes=MINUTES)).isoformat()
    done = cli(built, "export", "--start", START.isoformat(), "--end", end, "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "BTCUSDT-1m.parquet",
        "PEPEUSDT-1m.parquet",
    ]
    # The documented DuckDB query, run as written over the export directory.
    got = duckdb.sql(documented_query().replace("'export/", f"'{tmp_path}/")).fetchall()
    per_minute = Decimal("1523.4567891234567891")
    assert got == [
        ("BTCUSDT", MINUTES - 25, per_minute * (MINUTES - 25)),
        ("PEPEUSDT", MINUTES, per_minute * MINUTES),
    ]
    frame = pl.read_parquet(tmp_path / "PEPEUSDT-1m.parquet")
    with psycopg.connect(built) as conn:
        want = conn.execute(
            "select open_time, open, quote_volume, trade_count from analytics.candles_1m "
            "where symbol = 'PEPEUSDT' order by open_time"
        ).fetchall()
    assert (
        list(
            zip(
                *(frame[c] for c in ("open_time", "open", "quote_volume", "trade_count")),
                strict=True,
            )
        )
        == want
    )


def test_csv_export_keeps_the_database_text_of_each_value(built: str, tmp_path: Path) -> None:
    end = (START + timedelta(hours=3)).isoformat()
    done = cli(
        built, "export", "-s", "BTCUSDT", "--interval", "1h", "--format", "csv",
        "--start", START.isoformat(), "--end", end, "--out", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{tmp_path / 'BTCUSDT-1h.csv'}: 3 candles"
    lines = (tmp_path / "BTCUSDT-1h.csv").read_text().splitlines()
    with psycopg.connect(built) as conn:
        want = conn.execute(
            "select volume::text, quote_volume::text, is_complete from analytics.candles_1h "
            "where symbol = 'BTCUSDT' order by open_time"
        ).fetchall()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
    assert [(r["volume"], r["quote_volume"], r["is_complete"]) for r in rows] == [
        (v, q, str(c).lower()) for v, q, c in want
    ]
    # The hole (minute 40) and the halt (minutes 100-119) leave the first two hours incomplete.
    assert [r["is_complete"] for r in rows] == ["false", "false", "true"]


def test_bad_arguments_fail_in_one_line_and_write_nothing(built: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    for args, reason in (
        (("--interval", "2m"), "interval '2m'"),
        (("--format", "xlsx"), "format 'xlsx'"),
        (("--end", START.isoformat()), "is not after start"),
        (("-s", "BTCUSDT", "-s", "NOPEUSDT"), "unknown symbol NOPEUSDT"),
    ):
        done = cli(
            built,
            "export",
            "--start",
            START.isoformat(),
            "--end",
            "2025-03-04",
            "--out",
            str(out),
            *args,
        )
        assert done.returncode == 1, args
        assert done.stderr.strip().startswith("error: "), done.stderr
        assert reason in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
        assert not out.exists() or not list(out.iterdir())


def test_floats_export_for_pandas_holds_the_decimals_as_float64(built: str, tmp_path: Path) -> None:
    """--floats: float64 columns (each the nearest float of the exact decimal), trade_count an
    integer; the default stays exact."""
    end = (START + timedelta(hours=1)).isoformat()
    done = cli(
        built, "export", "-s", "PEPEUSDT", "--floats", "--start", START.isoformat(),
        "--end", end, "--out", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    frame = pl.read_parquet(tmp_path / "PEPEUSDT-1m.parquet")
    assert frame.schema["quote_volume"] == pl.Float64
    assert frame.schema["trade_count"] == pl.Int64
    with psycopg.connect(built) as conn:
        want = conn.execute(
            "select open, quote_volume, trade_count from analytics.candles_1m "
            "where symbol = 'PEPEUSDT' and open_time < %s order by open_time",
            (START + timedelta(hours=1),),
        ).fetchall()
    got = list(zip(frame["open"], frame["quote_volume"], frame["trade_count"], strict=True))
    assert got == [(float(o), float(q), n) for o, q, n in want]


ROLLED = ("3m", "30m", "2h", "6h", "8h", "12h", "3d", "1M")
CENT_MILLIONTH = Decimal("0.00000001")


def _binance_decimal(value: Decimal) -> str:
    """A decimal as the API sends it: rounded to 8 places half away from zero (PostgreSQL's)."""
    return str(value.quantize(CENT_MILLIONTH, rounding=ROUND_HALF_UP))


async def test_every_interval_exports_the_candles_the_api_serves(
    built: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All sixteen of Binance's intervals export. Each one no mart holds is summed with the
    read API's rule from the same stored rows: its candles are the API's /api/v3/klines answer
    for the same range, exact where the API rounds to 8 places; a candle missing a minute (the
    hole, the halt) is not complete; 3d follows the symbol's own grid; 1s is the 1s table's."""
    with psycopg.connect(built, autocommit=True) as conn:
        # BTCUSDT's 3d grid from its first day (2025-03-02: the data's day opens no 3d candle).
        conn.execute(
            "insert into market.symbols (symbol, status, first_day) values "
            "('BTCUSDT', 'TRADING', '2025-03-02'), ('PEPEUSDT', 'TRADING', '2025-03-03') "
            "on conflict (symbol) do update set first_day = excluded.first_day"
        )
        conn.execute(
            "insert into market.candles_1s_live (symbol, open_time, open, high, low, close, "
            "volume, quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume, "
            "is_closed) select 'PEPEUSDT', %s + s * interval '1 second', 0.00001234, "
            "0.00001299, 0.00001200, 0.00001250, 10.5, 0.000129, 2, 5, 0.00006, s < 59 "
            "from generate_series(0, 59) as s",
            (START,),
        )
    start, end = "2025-03-01", "2025-04-01"
    exported = {}
    for interval in ("1s", "1m", "5m", "15m", "1h", "4h", "1d", "1w", *ROLLED):
        out = tmp_path / interval
        done = cli(
            built, "export", "--interval", interval, "--start", start, "--end", end,
            "--out", str(out), *(("-s", "PEPEUSDT") if interval == "1s" else ()),
        )  # fmt: skip
        assert done.returncode == 0, (interval, done.stderr)
        exported[interval] = {
            path.name.split("-")[0]: pl.read_parquet(path) for path in out.iterdir()
        }
    assert sorted(exported) == sorted(("1s", *INTERVALS))
    seconds = exported["1s"]["PEPEUSDT"]
    assert seconds.height == 60
    assert seconds["is_complete"].to_list() == [True] * 59 + [False]

    btc = {i: exported[i]["BTCUSDT"] for i in ROLLED}
    # The hole (minutes 40-44) and the halt (100-119) leave the 3m candles that hold some of
    # their minutes incomplete, and those holding none not there (one and six), as the API.
    three = btc["3m"]
    assert three.height == MINUTES // 3 - 7
    incomplete = three.filter(~pl.col("is_complete"))["open_time"].to_list()
    assert [(t - START) // timedelta(minutes=1) for t in incomplete] == [39, 99]
    assert btc["3d"]["open_time"].to_list() == [datetime(2025, 3, 2, tzinfo=UTC)]
    assert exported["3d"]["PEPEUSDT"]["open_time"].to_list() == [START]
    assert btc["1M"]["open_time"].to_list() == [datetime(2025, 3, 1, tzinfo=UTC)]
    assert not btc["1M"]["is_complete"].item()

    monkeypatch.setenv("DATABASE_URL", built)
    config = ApiConfig(database_url=load_config().database_url, port=0)
    fields = ("open", "high", "low", "close", "volume")
    after = ("quote_volume", "trade_count", "taker_buy_volume", "taker_buy_quote_volume")
    async with running_api(config) as api, httpx.AsyncClient(timeout=30) as client:
        for interval in ROLLED:
            for symbol, frame in exported[interval].items():
                answer = await client.get(
                    f"{api.http}/api/v3/klines",
                    params={
                        "symbol": symbol,
                        "interval": interval,
                        "startTime": to_ms(datetime.fromisoformat(start).replace(tzinfo=UTC)),
                        "endTime": to_ms(datetime.fromisoformat(end).replace(tzinfo=UTC)) - 1,
                        "limit": 1000,
                    },
                )
                assert answer.status_code == 200, answer.text
                want = [
                    [
                        to_ms(row["open_time"]),
                        *(_binance_decimal(row[f]) for f in fields),
                        *(
                            row[f] if f == "trade_count" else _binance_decimal(row[f])
                            for f in after
                        ),
                    ]
                    for row in frame.iter_rows(named=True)
                ]
                got = [[k[0], *k[1:6], *k[7:11]] for k in answer.json()]
                assert got == want, (symbol, interval)
