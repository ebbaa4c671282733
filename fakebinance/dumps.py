"""data.binance.vision style zip dumps (klines, trades, aggTrades) of the fake market.

``write_dump(market, kind, symbol, period_start, daily=True, out_dir=..., header=False)`` writes
``<name>.zip`` (one header-less CSV of the same base name) and ``<name>.zip.CHECKSUM`` and
returns the zip path; ``parse_dump_path`` maps a URL path onto those arguments. Files dated
2025-01-01 or later carry microsecond timestamps, earlier ones milliseconds. ``shuffle_seed``
writes the rows in a seeded random order: Binance does not promise sorted files.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import NamedTuple, Protocol

import polars as pl

from fakebinance.market import Market
from fakebinance.market.intervals import INTERVALS
from fakebinance.market.units import DAY_MIN, MINUTE_US

logger = logging.getLogger(__name__)

KINDS = ("klines", "trades", "aggTrades")
MICROS_FROM = date(2025, 1, 1)
# Level 1 keeps a 5-million-row trades day well under a minute; the format is the same.
ZIP_LEVEL = 1
_PATH_RE = re.compile(
    r"^(?:/?data/)?/?spot/(?P<freq>daily|monthly)/(?P<kind>klines|trades|aggTrades)/"
    r"(?P<symbol>[A-Z0-9]+)/(?:(?P<interval>[0-9]+[mhdwM])/)?"
    r"(?P<name>(?P=symbol)-(?P<tag>[0-9]+[mhdwM]|trades|aggTrades)-"
    r"(?P<period>\d{4}-\d{2}(?:-\d{2})?)\.zip)(?P<checksum>\.CHECKSUM)?$"
)


class Period(Protocol):
    """What says when a dump is published: the period it covers."""

    period_start: date
    daily: bool


@dataclass(frozen=True)
class DumpRef:
    """One dump file, as named by its URL."""

    kind: str
    symbol: str
    period_start: date
    daily: bool
    interval: str = "1m"
    checksum: bool = False

    @property
    def tag(self) -> str:
        """The interval as file names spell it, or the kind."""
        return self.interval if self.kind == "klines" else self.kind

    @property
    def root(self) -> str:
        """Where the market's dumps sit under ``data/``."""
        return "spot"

    @property
    def base_name(self) -> str:
        """File name without ``.zip``."""
        period = (
            self.period_start.isoformat() if self.daily else self.period_start.strftime("%Y-%m")
        )
        return f"{self.symbol}-{self.tag}-{period}"

    @property
    def rel_dir(self) -> str:
        """Directory under ``data/`` as on data.binance.vision."""
        freq = "daily" if self.daily else "monthly"
        # Klines have a folder per interval; the tag of any other kind is the kind itself.
        sub = f"/{self.tag}" if self.tag != self.kind else ""
        return f"{self.root}/{freq}/{self.kind}/{self.symbol}{sub}"

    @property
    def url_path(self) -> str:
        """URL path of the zip on the fake server."""
        return f"/data/{self.rel_dir}/{self.base_name}.zip"


def parse_dump_path(path: str) -> DumpRef | None:
    """URL path -> DumpRef, or None when it names no valid dump."""
    found = match_dump_path(_PATH_RE, path, ("klines",))
    if found is None:
        return None
    m, start = found
    kind, tag = m["kind"], m["tag"]
    if kind == "klines" and tag not in INTERVALS:
        return None
    interval = tag if kind == "klines" else "1m"
    return DumpRef(kind, m["symbol"], start, m["freq"] == "daily", interval, bool(m["checksum"]))


def match_dump_path(
    pattern: re.Pattern, path: str, kline_kinds: tuple[str, ...]
) -> tuple[re.Match, date] | None:
    """A dump URL path's match of ``pattern`` and its period's first day, or None if invalid."""
    # Valid: a kline file in its interval's folder, any other kind's in none and named by its
    # kind, and the period a date of its frequency's form.
    m = pattern.match(path)
    if not m:
        return None
    if m["kind"] in kline_kinds:
        if m["interval"] != m["tag"]:
            return None
    elif m["interval"] is not None or m["tag"] != m["kind"]:
        return None
    start = parse_period(m["period"], m["freq"] == "daily")
    return None if start is None else (m, start)


def parse_period(period: str, daily: bool) -> date | None:
    """A file name's period (`2025-01-01` daily, `2025-01` monthly) as its first day; None when
    it is no date or not of its frequency's form."""
    if daily != (len(period) == 10):
        return None
    try:
        return date.fromisoformat(period if daily else f"{period}-01")
    except ValueError:
        return None


def period_bounds_us(period_start: date, daily: bool) -> tuple[int, int]:
    """[start, end) of a dump's period in epoch µs."""
    start = datetime(period_start.year, period_start.month, period_start.day, tzinfo=UTC)
    if daily:
        end_day = period_start.toordinal() + 1
        end = datetime.fromordinal(end_day).replace(tzinfo=UTC)
    elif period_start.month == 12:
        end = datetime(period_start.year + 1, 1, 1, tzinfo=UTC)
    else:
        end = datetime(period_start.year, period_start.month + 1, 1, tzinfo=UTC)
    return int(start.timestamp()) * 1_000_000, int(end.timestamp()) * 1_000_000


def is_published(ref: Period, now_us: int) -> bool:
    """Daily files exist for days before today; monthly ones for months before this one."""
    _, end_us = period_bounds_us(ref.period_start, ref.daily)
    if ref.daily:
        return end_us <= now_us - now_us % (DAY_MIN * MINUTE_US)
    today = datetime.fromtimestamp(now_us / 1e6, UTC)
    month_start = datetime(today.year, today.month, 1, tzinfo=UTC)
    return end_us <= int(month_start.timestamp()) * 1_000_000


def _dec8(col: str) -> pl.Expr:
    """Int column in 1e-8 units -> '123.45678900' strings (values are never negative)."""
    c = pl.col(col)
    return pl.concat_str(
        [
            (c // 100_000_000).cast(pl.Utf8),
            pl.lit("."),
            (c % 100_000_000).cast(pl.Utf8).str.zfill(8),
        ]
    ).alias(col)


def _bool_py(col: str) -> pl.Expr:
    return pl.when(pl.col(col)).then(pl.lit("True")).otherwise(pl.lit("False")).alias(col)


def _trades_frame(market: Market, symbol: str, a_us: int, b_us: int, div: int) -> pl.DataFrame:
    t = market.trade_arrays(symbol, a_us, b_us, keep=False)
    return _trade_rows(t, "id", div, _dec8("quote").alias("quoteQty"))


def _aggs_frame(market: Market, symbol: str, a_us: int, b_us: int, div: int) -> pl.DataFrame:
    a = market.agg_arrays(symbol, a_us, b_us, keep=False)
    ids = (pl.col("first_id").alias("first_trade_id"), pl.col("last_id").alias("last_trade_id"))
    return _trade_rows(a, "agg_id", div, *ids)


def _trade_rows(columns: NamedTuple, id_name: str, div: int, *own: pl.Expr) -> pl.DataFrame:
    """A trades or aggTrades file: id, price, qty, the kind's ``own`` columns, time, flags."""
    return pl.DataFrame(columns._asdict()).select(
        pl.col("ids").alias(id_name),
        _dec8("price"),
        _dec8("qty"),
        *own,
        (pl.col("time_us") // div).alias("time"),
        _bool_py("buyer_maker").alias("isBuyerMaker"),
        pl.lit("True").alias("isBestMatch"),
    )


def _klines_frame(market: Market, ref: DumpRef, a_us: int, b_us: int, micros: bool) -> pl.DataFrame:
    rows = market.klines(ref.symbol, ref.interval, a_us // 1000, b_us // 1000 - 1, limit=10**7)
    mult = 1000 if micros else 1
    # Close time in µs files is open + 59 999 999 µs, i.e. the ms close time's last µs.
    close_pad = 999 if micros else 0
    return pl.DataFrame(
        {
            "open_time": [k.open_time * mult for k in rows],
            "open": [f"{k.open:.8f}" for k in rows],
            "high": [f"{k.high:.8f}" for k in rows],
            "low": [f"{k.low:.8f}" for k in rows],
            "close": [f"{k.close:.8f}" for k in rows],
            "volume": [f"{k.volume:.8f}" for k in rows],
            "close_time": [k.close_time * mult + close_pad for k in rows],
            "quote_volume": [f"{k.quote_volume:.8f}" for k in rows],
            "count": [k.trade_count for k in rows],
            "taker_buy_volume": [f"{k.taker_buy_volume:.8f}" for k in rows],
            "taker_buy_quote_volume": [f"{k.taker_buy_quote_volume:.8f}" for k in rows],
            "ignore": ["0"] * len(rows),
        },
        schema={
            "open_time": pl.Int64,
            "open": pl.Utf8,
            "high": pl.Utf8,
            "low": pl.Utf8,
            "close": pl.Utf8,
            "volume": pl.Utf8,
            "close_time": pl.Int64,
            "quote_volume": pl.Utf8,
            "count": pl.Int64,
            "taker_buy_volume": pl.Utf8,
            "taker_buy_quote_volume": pl.Utf8,
            "ignore": pl.Utf8,
        },
    )


def _frames(market: Market, ref: DumpRef) -> Iterator[pl.DataFrame]:
    """The dump's rows in id order, an hour at a time for trades (memory stays flat)."""
    a_us, b_us = period_bounds_us(ref.period_start, ref.daily)
    micros = ref.period_start >= MICROS_FROM
    div = 1 if micros else 1000
    if ref.kind == "klines":
        yield _klines_frame(market, ref, a_us, b_us, micros)
        return
    hour = 3600 * 1_000_000
    for lo in range(a_us, b_us, hour):
        hi = min(lo + hour, b_us)
        if ref.kind == "trades":
            yield _trades_frame(market, ref.symbol, lo, hi, div)
        else:
            yield _aggs_frame(market, ref.symbol, lo, hi, div)


def write_csv(
    market: Market,
    ref: DumpRef,
    out: io.RawIOBase | io.BufferedIOBase,
    header: bool = False,
    shuffle_seed: int | None = None,
) -> int:
    """Stream the dump's CSV into ``out``; returns the row count.

    With ``shuffle_seed`` the whole file is held and written in a seeded random row order.
    """
    frames: Iterable[pl.DataFrame] = _frames(market, ref)
    if shuffle_seed is not None:
        whole = pl.concat(list(frames))
        frames = [whole.sample(fraction=1.0, shuffle=True, seed=shuffle_seed)]
    rows = 0
    first = True
    for df in frames:
        if df.height == 0 and not (header and first):
            continue
        buf = io.BytesIO()
        df.write_csv(buf, include_header=header and first)
        out.write(buf.getvalue())
        rows += df.height
        first = False
    return rows


def write_dump(
    market: Market,
    kind: str,
    symbol: str,
    period_start: date,
    daily: bool = True,
    out_dir: str | os.PathLike = ".",
    header: bool = False,
    interval: str = "1m",
    shuffle_seed: int | None = None,
) -> Path:
    """Write ``<base>.zip`` and ``<base>.zip.CHECKSUM`` into ``out_dir``; return the zip path."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    if not daily:
        period_start = period_start.replace(day=1)
    ref = DumpRef(kind, symbol, period_start, daily, interval)
    return build_zip(market, ref, Path(out_dir), header=header, shuffle_seed=shuffle_seed)


def build_zip(
    market: Market,
    ref: DumpRef,
    out_dir: Path,
    header: bool = False,
    shuffle_seed: int | None = None,
) -> Path:
    """Build the zip and its CHECKSUM atomically (temp file, then rename)."""
    return zip_atomically(
        out_dir,
        ref.base_name,
        lambda member: write_csv(market, ref, member, header=header, shuffle_seed=shuffle_seed),
    )


def zip_atomically(
    out_dir: Path, base_name: str, write: Callable[[io.BufferedIOBase], int]
) -> Path:
    """``<base_name>.zip`` holding one CSV that ``write`` streams into its member (returning
    the rows written), and its CHECKSUM, each in place at once (temp file, then rename)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    zip_path = out_dir / f"{base_name}.zip"
    info = zipfile.ZipInfo(f"{base_name}.csv", date_time=(2000, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    # Python 3.11 has no public per-member level (compress_level arrives in 3.13).
    info._compresslevel = ZIP_LEVEL
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".part")
    try:
        with (
            os.fdopen(fd, "wb") as raw,
            zipfile.ZipFile(raw, "w") as zf,
            zf.open(info, "w", force_zip64=True) as member,
        ):
            rows = write(member)
        digest = _sha256(Path(tmp))
        os.replace(tmp, zip_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    checksum = out_dir / f"{base_name}.zip.CHECKSUM"
    checksum.write_text(f"{digest}  {zip_path.name}\n")
    logger.info("fake binance: wrote %s (%d rows)", zip_path, rows)
    return zip_path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_dump_csv(zip_path: str | os.PathLike) -> list[list[str]]:
    """Rows of the single CSV inside a dump zip (handy in tests)."""
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
        if len(names) != 1:
            raise ValueError(f"{zip_path}: expected one member, got {names}")
        text = zf.read(names[0]).decode()
    return [line.split(",") for line in text.splitlines() if line]
