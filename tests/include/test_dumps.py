"""CSV dump import: every kind, period, time unit and header style; bad files write nothing."""

from __future__ import annotations

import zipfile
from datetime import date, datetime
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from fakebinance.config import utc
from fakebinance.dumps import DumpRef, period_bounds_us, read_dump_csv, write_dump
from fakebinance.market import Market
from fakebinance.reference import oracle_klines
from include.cli import app
from include.history.dumps.errors import DumpError
from include.history.dumps.load import import_file, import_files
from include.history.dumps.names import dump_url
from include.platform.pgserver import free_port
from tests.include.history_support import (
    frozen_clock,
    market_config,
    snapshot,
    stored,
)


@pytest.fixture(scope="module")
def market() -> Market:
    """The fake market, read directly to write dumps."""
    return Market(market_config(), frozen_clock())


@pytest.fixture
def rest_env(fake, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point BINANCE_REST_URL at the fake, as a user running offline would."""
    monkeypatch.setenv("BINANCE_REST_URL", fake.url)


def bounds_ms(period: date, daily: bool) -> tuple[int, int]:
    a, b = period_bounds_us(period, daily)
    return a // 1000, b // 1000


def official(market: Market, symbol: str, start_ms: int, end_ms: int) -> list[tuple]:
    """The official closed 1m klines of [start, end) from the Decimal oracle, as table rows."""
    klines = oracle_klines(market, symbol, start_ms, end_ms, closed_only=True)
    return [k.fields() for k in klines]


CASES = [
    # kind, symbol, period, daily, header
    ("klines", "BTCUSDT", date(2024, 12, 31), True, False),  # ms
    ("klines", "ETHUSDT", date(2025, 3, 10), True, True),  # µs, header
    ("klines", "QUIETUSDT", date(2025, 2, 1), False, False),  # monthly
    ("trades", "BTCUSDT", date(2024, 12, 31), True, False),
    ("trades", "PEPEUSDT", date(2025, 3, 10), True, True),
    ("trades", "QUIETUSDT", date(2025, 2, 1), False, False),  # monthly, many idle minutes
    ("aggTrades", "ETHUSDT", date(2024, 12, 31), True, True),
    ("aggTrades", "BTCUSDT", date(2025, 3, 10), True, False),
    ("aggTrades", "QUIETUSDT", date(2025, 2, 1), False, True),
]


@pytest.mark.parametrize(("kind", "symbol", "period", "daily", "header"), CASES)
def test_dump_candles_equal_official_klines(
    market: Market,
    rest_env: None,
    conn: psycopg.Connection,
    tmp_path: Path,
    kind: str,
    symbol: str,
    period: date,
    daily: bool,
    header: bool,
) -> None:
    """Klines, trades and aggTrades dumps all load as candles equal to the official klines."""
    path = write_dump(market, kind, symbol, period, daily=daily, out_dir=tmp_path, header=header)
    result = import_file(str(path))
    start, end = bounds_ms(period, daily)
    got = stored(conn, symbol, start, end)
    want = official(market, symbol, start, end)
    if kind != "klines":
        # Outside its first and last trade a file cannot tell idle from halted: heal-gaps
        # fetches those minutes.
        want = [row for row in want if got[0][0] <= row[0] <= got[-1][0]]
    assert got == want
    assert result.candles == len(got)
    source = {"klines": "dump_klines", "trades": "dump_trades", "aggTrades": "dump_aggtrades"}
    row = conn.execute("select kind, source, row_count from market.imported_files").fetchone()
    assert row == (kind, source[kind], result.rows)


def utc_ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def gaps(conn: psycopg.Connection, symbol: str) -> list[tuple]:
    """(gap_start, gap_end, reason, detected_by, healed) of a symbol's recorded spans."""
    return conn.execute(
        "select gap_start, gap_end, reason, detected_by, healed_at is not null "
        "from market.ingest_gaps where symbol = %s order by gap_start",
        (symbol,),
    ).fetchall()


@pytest.mark.parametrize("kind", ["trades", "aggTrades"])
def test_a_trades_dump_invents_no_candle_inside_a_halt(
    market: Market, rest_env: None, conn: psycopg.Connection, tmp_path: Path, kind: str
) -> None:
    """A day with a five-minute halt between trades: the file has no row for those minutes,
    as for idle ones, but Binance has no kline for them. REST tells them apart: no candle is
    made inside the halt, the halt is recorded (settled, a fact), every other minute equals
    the official kline, idle ones included."""
    day = date(2025, 3, 11)
    path = write_dump(market, kind, "HALTUSDT", day, out_dir=tmp_path)
    import_file(str(path))
    start, end = bounds_ms(day, True)
    got = stored(conn, "HALTUSDT", start, end)
    want = [row for row in official(market, "HALTUSDT", start, end) if row[0] <= got[-1][0]]
    assert got == want
    halt_start, halt_end = utc(2025, 3, 11, 10, 0), utc(2025, 3, 11, 10, 5)
    assert not [row for row in got if utc_ms(halt_start) <= row[0] < utc_ms(halt_end)]
    assert gaps(conn, "HALTUSDT") == [(halt_start, halt_end, "halt", "import", True)]
    # Imported again: the same rows, the same one record.
    import_file(str(path), force=True)
    assert stored(conn, "HALTUSDT", start, end) == want
    assert gaps(conn, "HALTUSDT") == [(halt_start, halt_end, "halt", "import", True)]


def test_idle_minutes_rest_cannot_prove_are_left_to_heal(
    market: Market, conn: psycopg.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Offline (REST unreachable) a trades dump still loads every traded minute, but no idle
    one: it might be halted. The minutes left out are recorded, open, for heal-gaps."""
    monkeypatch.setenv("BINANCE_REST_URL", f"http://127.0.0.1:{free_port()}")
    day = date(2025, 3, 11)
    path = write_dump(market, "trades", "HALTUSDT", day, out_dir=tmp_path)
    import_file(str(path))
    start, end = bounds_ms(day, True)
    got = stored(conn, "HALTUSDT", start, end)
    traded = [row for row in official(market, "HALTUSDT", start, end) if row[7] > 0]
    assert got == [row for row in traded if row[0] <= got[-1][0]]
    recorded = gaps(conn, "HALTUSDT")
    assert recorded, "the minutes left out are recorded"
    assert {(reason, by, healed) for _, _, reason, by, healed in recorded} == {
        ("unproven_idle", "import", False)
    }
    left_out = {
        minute
        for gap_start, gap_end, *_ in recorded
        for minute in range(utc_ms(gap_start), utc_ms(gap_end), 60_000)
    }
    held = {row[0] for row in got}
    idle_or_halted = {m for m in range(got[0][0], got[-1][0], 60_000) if m not in held}
    assert left_out == idle_or_halted


def test_url_import_verifies_checksum_and_loads(
    fake, rest_env: None, conn: psycopg.Connection
) -> None:
    """A dump fetched by URL from BINANCE_DATA_URL loads like a local one."""
    url = dump_url(fake.url, "trades", "ETHUSDT", date(2025, 3, 10))
    (result,) = import_files([url])
    start, end = bounds_ms(date(2025, 3, 10), True)
    assert stored(conn, "ETHUSDT", start, end) == official(fake.market, "ETHUSDT", start, end)
    assert not result.skipped


@pytest.mark.parametrize(
    ("kind", "symbol", "day"),
    [("trades", "ETHUSDT", date(2025, 3, 10)), ("aggTrades", "BTCUSDT", date(2024, 12, 31))],
)
def test_unsorted_dump_takes_open_and_close_in_trade_id_order(
    market: Market,
    rest_env: None,
    conn: psycopg.Connection,
    tmp_path: Path,
    kind: str,
    symbol: str,
    day: date,
) -> None:
    """Binance does not promise sorted files: open is the lowest trade id, close the highest."""
    path = write_dump(market, kind, symbol, day, out_dir=tmp_path, shuffle_seed=11)
    ids = [int(row[0]) for row in read_dump_csv(path)]
    assert ids != sorted(ids)
    import_file(str(path))
    start, end = bounds_ms(day, True)
    assert stored(conn, symbol, start, end) == official(market, symbol, start, end)


def test_importing_twice_is_a_no_op(
    market: Market, rest_env: None, conn: psycopg.Connection, tmp_path: Path
) -> None:
    """A file imported again is skipped; forced, it leaves identical rows and loaded_at."""
    path = write_dump(market, "aggTrades", "PEPEUSDT", date(2025, 3, 9), out_dir=tmp_path)
    import_file(str(path))
    first = snapshot(conn)
    assert import_file(str(path)).skipped
    forced = import_file(str(path), force=True)
    assert forced.changed == 0
    assert snapshot(conn) == first


def _rewrite_csv(zip_path: Path, edit) -> Path:
    with zipfile.ZipFile(zip_path) as archive:
        name = archive.namelist()[0]
        lines = archive.read(name).decode().splitlines()
    target = zip_path.with_name(name)
    target.write_text("\n".join(edit(lines)) + "\n")
    return target


def _bad_inputs(market: Market, tmp_path: Path) -> dict[str, tuple[Path, str]]:
    good = write_dump(market, "trades", "ETHUSDT", date(2025, 3, 9), out_dir=tmp_path)
    truncated = tmp_path / "t" / good.name
    truncated.parent.mkdir()
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    mismatch = tmp_path / "m" / good.name
    mismatch.parent.mkdir()
    mismatch.write_bytes(good.read_bytes())
    (mismatch.parent / (good.name + ".CHECKSUM")).write_text("0" * 64 + "  " + good.name + "\n")
    columns = _rewrite_csv(good, lambda ls: [*ls[:5], ls[5] + ",extra", *ls[6:]])
    (tmp_path / "c").mkdir()
    columns = columns.rename(tmp_path / "c" / columns.name)

    def bad_price(lines: list[str]) -> list[str]:
        fields = lines[9].split(",")
        fields[1] = "12x.5"
        return [*lines[:9], ",".join(fields), *lines[10:]]

    price = _rewrite_csv(good, bad_price)
    unknown = write_dump(market, "klines", "BTCUSDT", date(2025, 3, 9), out_dir=tmp_path / "u")
    renamed = unknown.with_name("NOPEUSDT-1m-2025-03-09.zip")
    unknown.rename(renamed)
    return {
        "truncated zip": (truncated, "not a readable zip"),
        "checksum mismatch": (mismatch, "checksum mismatch"),
        "column count": (columns, "row 6: 8 columns, a spot trades file has 7"),
        "non-numeric price": (price, "row 10, field price: '12x.5' is not a decimal number"),
        "unknown symbol": (renamed, "unknown symbol NOPEUSDT"),
    }


@pytest.mark.parametrize(
    "case",
    ["truncated zip", "checksum mismatch", "column count", "non-numeric price", "unknown symbol"],
)
def test_bad_input_is_one_clear_line_and_writes_nothing(
    market: Market,
    rest_env: None,
    conn: psycopg.Connection,
    tmp_path: Path,
    case: str,
) -> None:
    """Each bad file fails the CLI with one line naming file, row and field; nothing is written."""
    path, message = _bad_inputs(market, tmp_path)[case]
    with pytest.raises(DumpError, match=message.replace("(", r"\(")):
        import_file(str(path))
    result = CliRunner().invoke(app, ["import-csv", str(path)])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert message in result.stderr
    assert path.name in result.stderr
    assert conn.execute("select count(*) from market.klines_1m").fetchone()[0] == 0
    assert conn.execute("select count(*) from market.imported_files").fetchone()[0] == 0


def test_dump_ref_names_match_ours() -> None:
    """Our URL layout is data.binance.vision's (the fake serves the same paths)."""
    ref = DumpRef("aggTrades", "BTCUSDT", date(2025, 1, 1), True)
    assert dump_url("http://x", "aggTrades", "BTCUSDT", date(2025, 1, 1)) == (
        "http://x" + ref.url_path
    )
    monthly = DumpRef("klines", "BTCUSDT", date(2025, 1, 1), False)
    assert dump_url("http://x", "klines", "BTCUSDT", date(2025, 1, 17), daily=False) == (
        "http://x" + monthly.url_path
    )


def test_a_period_the_symbol_did_not_trade_has_nothing_to_import(
    fake, rest_env: None, conn: psycopg.Connection
) -> None:
    """data.binance.vision publishes no file for a day a symbol did not trade (before its
    listing, after its delisting): its 404 is nothing to import, not a failure (at ALL, each
    day's import failed on the symbols listed that day, retried, and held its run for an
    hour). A 404 for a day Binance has klines of is still an error: not published yet."""
    before = dump_url(fake.url, "klines", "HALTUSDT", date(2025, 2, 27))  # listed 2025-03-01
    (result,) = import_files([before])
    assert result.untraded
    assert (result.rows, result.candles, result.changed) == (0, 0, 0)
    assert stored(conn, "HALTUSDT", *bounds_ms(date(2025, 2, 27), True)) == []
    month = dump_url(fake.url, "klines", "HALTUSDT", date(2025, 1, 1), daily=False)
    assert import_files([month])[0].untraded
    today = dump_url(fake.url, "klines", "BTCUSDT", date(2025, 3, 12))  # trading, not published
    with pytest.raises(DumpError, match="published yet"):
        import_files([today])
