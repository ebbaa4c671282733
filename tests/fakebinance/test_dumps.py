"""data.binance.vision style dumps: same market as REST, µs/ms by date, checksums, 404s."""

from __future__ import annotations

import hashlib
import io
import time
import zipfile
from datetime import date
from decimal import Decimal

import pytest

from fakebinance.clock import MarketClock, to_us
from fakebinance.config import MarketConfig, SymbolSpec, utc
from fakebinance.dumps import parse_dump_path, read_dump_csv, write_dump
from fakebinance.market import Market

pytestmark = pytest.mark.timeout(120)


def test_trades_dump_equals_market(market, tmp_path):
    """Trades CSV rows are the market's trades; µs times from 2025, True/False booleans."""
    path = write_dump(market, "trades", "ETHUSDT", date(2025, 3, 11), out_dir=tmp_path)
    assert path.name == "ETHUSDT-trades-2025-03-11.zip"
    rows = read_dump_csv(path)
    start = to_us(utc(2025, 3, 11))
    trades = market.trades("ETHUSDT", start, start + 86_400_000_000)
    assert rows == [
        [
            str(t.id),
            f"{t.price:.8f}",
            f"{t.qty:.8f}",
            f"{t.quote_qty:.8f}",
            str(t.time_us),
            str(t.is_buyer_maker),
            "True",
        ]
        for t in trades
    ]
    assert int(rows[0][4]) >= 10**15


def test_dump_before_2025_uses_milliseconds(market, tmp_path):
    """Files dated before 2025-01-01 carry millisecond timestamps."""
    path = write_dump(market, "aggTrades", "PEPEUSDT", date(2024, 12, 31), out_dir=tmp_path)
    rows = read_dump_csv(path)
    start = to_us(utc(2024, 12, 31))
    aggs = market.agg_trades("PEPEUSDT", start, start + 86_400_000_000)
    assert [[r[0], r[5]] for r in rows] == [[str(a.agg_id), str(a.time_ms)] for a in aggs]
    assert all(int(r[5]) < 10**15 for r in rows)
    kl = read_dump_csv(
        write_dump(market, "klines", "PEPEUSDT", date(2024, 12, 31), out_dir=tmp_path)
    )
    assert kl[0][0] == str(to_us(utc(2024, 12, 31)) // 1000)
    assert int(kl[0][6]) == int(kl[0][0]) + 59_999


def test_daily_dumps_agree_with_each_other_and_rest_klines(market, tmp_path):
    """Kline counts = trades rows = sum of aggTrade l-f+1; kline rows = REST klines in µs."""
    day = date(2025, 3, 11)
    trades = read_dump_csv(write_dump(market, "trades", "BTCUSDT", day, out_dir=tmp_path))
    aggs = read_dump_csv(write_dump(market, "aggTrades", "BTCUSDT", day, out_dir=tmp_path))
    klines = read_dump_csv(write_dump(market, "klines", "BTCUSDT", day, out_dir=tmp_path))
    assert len(klines) == 1440
    assert sum(int(k[8]) for k in klines) == len(trades)
    assert sum(int(a[4]) - int(a[3]) + 1 for a in aggs) == len(trades)
    assert aggs[0][3] == trades[0][0]
    assert aggs[-1][4] == trades[-1][0]
    start_ms = to_us(utc(2025, 3, 11)) // 1000
    rest = [k.to_rest_row() for k in market.klines("BTCUSDT", "1m", start_ms, limit=1000)]
    for row, kline in zip(klines, rest, strict=False):
        assert int(row[0]) == kline[0] * 1000
        assert int(row[6]) == kline[0] * 1000 + 59_999_999
        assert row[1:6] + row[7:] == [*kline[1:6], *[str(v) for v in kline[7:]]]


def test_halted_day_klines_dump_skips_dark_minutes(market, tmp_path, halt):
    """A day with a halt has fewer than 1440 kline rows, none inside the halt."""
    rows = read_dump_csv(
        write_dump(market, "klines", "HALTUSDT", date(2025, 3, 11), out_dir=tmp_path)
    )
    assert len(rows) == 1435
    dark = {to_us(utc(2025, 3, 11, 10, m)) for m in range(5)}
    assert not dark & {int(r[0]) for r in rows}


def test_monthly_dump_and_header_option(market, tmp_path):
    """Monthly files cover the calendar month; header=True adds Binance's column names."""
    path = write_dump(
        market, "klines", "QUIETUSDT", date(2025, 2, 1), daily=False, out_dir=tmp_path
    )
    assert path.name == "QUIETUSDT-1m-2025-02.zip"
    assert len(read_dump_csv(path)) == 28 * 1440
    with_header = write_dump(
        market,
        "trades",
        "QUIETUSDT",
        date(2025, 2, 1),
        daily=False,
        out_dir=tmp_path / "h",
        header=True,
    )
    assert read_dump_csv(with_header)[0][:2] == ["id", "price"]


def test_parse_dump_path():
    """URL paths map onto dump references; malformed ones are rejected."""
    ref = parse_dump_path("spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-01-01.zip.CHECKSUM")
    assert ref is not None
    assert (ref.kind, ref.symbol, ref.daily, ref.interval, ref.checksum) == (
        "klines",
        "BTCUSDT",
        True,
        "1m",
        True,
    )
    assert ref.url_path == "/data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-01-01.zip"
    monthly = parse_dump_path("spot/monthly/aggTrades/ETHUSDT/ETHUSDT-aggTrades-2025-02.zip")
    assert monthly is not None
    assert monthly.period_start == date(2025, 2, 1)
    assert parse_dump_path("spot/daily/trades/BTCUSDT/BTCUSDT-trades-2025-02.zip") is None
    assert parse_dump_path("spot/daily/klines/BTCUSDT/1m/BTCUSDT-5m-2025-01-01.zip") is None


async def test_server_serves_zip_checksum_and_404s(fake, session):
    """Served zips hold one CSV of the same name; CHECKSUM matches; unpublished files 404."""
    base = f"{fake.url}/data/spot/daily/trades/BTCUSDT"
    async with session.get(f"{base}/BTCUSDT-trades-2025-03-11.zip") as r:
        assert r.status == 200
        body = await r.read()
    async with session.get(f"{base}/BTCUSDT-trades-2025-03-11.zip.CHECKSUM") as r:
        assert r.status == 200
        checksum = await r.text()
    assert checksum == f"{hashlib.sha256(body).hexdigest()}  BTCUSDT-trades-2025-03-11.zip\n"
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert zf.namelist() == ["BTCUSDT-trades-2025-03-11.csv"]
        first = zf.read(zf.namelist()[0]).split(b"\n", 1)[0].decode().split(",")
    async with session.get(
        f"{fake.url}/api/v3/historicalTrades",
        params={"symbol": "BTCUSDT", "fromId": first[0], "limit": "1"},
    ) as r:
        rest = (await r.json())[0]
    assert [rest["price"], rest["qty"], rest["quoteQty"], rest["time"]] == [
        first[1],
        first[2],
        first[3],
        int(first[4]) // 1000,
    ]
    missing = [
        f"{base}/BTCUSDT-trades-2025-03-12.zip",  # today: not published yet
        f"{fake.url}/data/spot/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2025-03.zip",
        f"{fake.url}/data/spot/daily/trades/NOPEUSDT/NOPEUSDT-trades-2025-03-11.zip",
        f"{fake.url}/data/spot/daily/trades/NEWUSDT/NEWUSDT-trades-2025-03-11.zip",
        f"{fake.url}/data/spot/daily/trades/BTCUSDT/garbage.zip",
    ]
    for url in missing:
        async with session.get(url) as r:
            assert r.status == 404, url
    month = f"{fake.url}/data/spot/monthly/klines/QUIETUSDT/1m/QUIETUSDT-1m-2025-02.zip"
    async with session.get(month) as r:
        assert r.status == 200
    assert fake.stats()["dumps_served"] == 3


async def test_checksum_fault_modes(fake, session):
    """set_checksum_mode serves every .CHECKSUM missing, garbled, wrong or failing; ok restores."""
    url = f"{fake.url}/data/spot/daily/klines/ETHUSDT/1m/ETHUSDT-1m-2025-03-11.zip.CHECKSUM"
    async with session.get(url) as r:
        good = await r.text()
    seen = {}
    for mode in ("missing", "garbage", "mismatch", "error", "ok"):
        async with session.post(f"{fake.url}/fake/faults/set_checksum_mode?mode={mode}") as r:
            assert r.status == 200
        async with session.get(url) as r:
            seen[mode] = (r.status, await r.text())
    assert seen["missing"][0] == 404
    assert seen["error"][0] == 500
    assert seen["garbage"][0] == 200
    assert not seen["garbage"][1].split()[0].isalnum()
    assert seen["mismatch"] == (200, "0" * 64 + good[64:])
    assert seen["ok"] == (200, good)
    async with session.post(f"{fake.url}/fake/faults/set_checksum_mode?mode=nope") as r:
        assert r.status == 400


def test_shuffled_dump_holds_the_same_rows_in_another_order(market, tmp_path):
    """shuffle_seed writes the same rows in a seeded random order (Binance files need not be
    sorted); the same seed gives the same file."""
    day = date(2025, 3, 11)
    plain = read_dump_csv(write_dump(market, "aggTrades", "ETHUSDT", day, out_dir=tmp_path))
    one = write_dump(market, "aggTrades", "ETHUSDT", day, out_dir=tmp_path / "a", shuffle_seed=5)
    two = write_dump(market, "aggTrades", "ETHUSDT", day, out_dir=tmp_path / "b", shuffle_seed=5)
    shuffled = read_dump_csv(one)
    assert shuffled != plain
    assert sorted(shuffled, key=lambda row: int(row[0])) == plain
    assert one.read_bytes() == two.read_bytes()


@pytest.mark.slow
def test_five_million_trade_day_is_fast(tmp_path):
    """A ~3500 trades/min day (about 5 million rows) writes well under a minute."""
    spec = SymbolSpec("BIGUSDT", Decimal("100"), 4, 4, 3500.0, utc(2024, 1, 1))
    m = Market(MarketConfig(3, (spec,)), MarketClock(start=utc(2025, 3, 12), speed=0))
    t0 = time.perf_counter()
    path = write_dump(m, "trades", "BIGUSDT", date(2025, 3, 10), out_dir=tmp_path)
    elapsed = time.perf_counter() - t0
    with zipfile.ZipFile(path) as zf:
        size = zf.infolist()[0].file_size
    assert size > 4_000_000 * 60
    assert elapsed < 50
