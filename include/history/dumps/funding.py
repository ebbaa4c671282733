"""A futures market's monthly funding dump (data/futures/um/monthly/fundingRate/...): rows of
`calc_time,funding_interval_hours,last_funding_rate` (docs/BINANCE.md "Futures"), into the
market's funding_rates. The dump has no mark price: a row REST wrote keeps its own."""

from __future__ import annotations

import csv
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

import psycopg

from include.history import funding
from include.history.dumps.errors import DumpError
from include.history.dumps.read import _open_text, csv_text
from include.platform.markets import Market
from include.platform.times import to_datetime

KIND = "fundingRate"
SOURCE = "dump_funding"
HEADER = ["calc_time", "funding_interval_hours", "last_funding_rate"]
NAME_RE = re.compile(r"^(?P<symbol>[A-Z0-9_]{2,40})-fundingRate-\d{4}-\d{2}$")


def is_funding(spec: str) -> bool:
    """Whether a dump's path or URL is a funding dump (its folder or its name says so)."""
    return f"/{KIND}/" in spec.replace("\\", "/") or f"-{KIND}-" in Path(spec).name


def symbol_of(file_name: str) -> str | None:
    """The contract a funding dump's name holds (BTCUSDT-fundingRate-2025-02.zip)."""
    match = NAME_RE.match(re.sub(r"\.(zip|csv)$", "", file_name))
    return match["symbol"] if match else None


def read(path: Path, display: str) -> list[tuple[int, int, str]]:
    """(calc time in ms, interval hours, rate as Binance wrote it) of every row; a bad row is
    a one-line error naming the file and the row."""
    rows: list[tuple[int, int, str]] = []
    with _open_text(csv_text(path)) as text:
        for number, fields in enumerate(csv.reader(text), 1):
            if number == 1 and fields and fields[0].strip() == HEADER[0]:
                continue
            if not fields:
                continue
            try:
                at, hours, rate = (f.strip() for f in fields)
                Decimal(rate)
                rows.append((int(at), int(hours), rate))
            except (ValueError, InvalidOperation):
                raise DumpError(
                    f"{display}: row {number}: expected calc_time,funding_interval_hours,"
                    f"last_funding_rate, got {','.join(fields)!r}"
                ) from None
    return rows


def load(
    conn: psycopg.Connection, market: Market, symbol: str, rows: list[tuple[int, int, str]]
) -> int:
    """Upsert the rows inside the caller's transaction; how many were new or changed."""
    return funding.upsert(
        conn,
        market,
        [(symbol, to_datetime(at), rate, None, hours, SOURCE) for at, hours, rate in rows],
    )
