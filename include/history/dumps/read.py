"""Reading a dump's CSV (a .csv, or a zip streamed through ISA-L) into typed rows."""

from __future__ import annotations

import csv
import io
import queue
import re
import struct
import threading
import zipfile
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO

import polars as pl
from isal import isal_zlib

from include.history.dumps.errors import DumpError
from include.history.trades_to_candles import DECIMAL

# Binance's spot columns; the names are ours, the order and count are the format.
COLUMNS: dict[str, dict[str, pl.DataType]] = {
    "klines": {
        "open_time": pl.Int64(),
        "open": DECIMAL,
        "high": DECIMAL,
        "low": DECIMAL,
        "close": DECIMAL,
        "volume": DECIMAL,
        "close_time": pl.Int64(),
        "quote_volume": DECIMAL,
        "trade_count": pl.Int64(),
        "taker_buy_volume": DECIMAL,
        "taker_buy_quote_volume": DECIMAL,
        "ignore": pl.Utf8(),
    },
    "trades": {
        "id": pl.Int64(),
        "price": DECIMAL,
        "qty": DECIMAL,
        "quote_qty": DECIMAL,
        "time": pl.Int64(),
        "is_buyer_maker": pl.Boolean(),
        "is_best_match": pl.Boolean(),
    },
    "aggTrades": {
        "agg_id": pl.Int64(),
        "price": DECIMAL,
        "qty": DECIMAL,
        "first_id": pl.Int64(),
        "last_id": pl.Int64(),
        "time": pl.Int64(),
        "is_buyer_maker": pl.Boolean(),
        "is_best_match": pl.Boolean(),
    },
}
# Binance's futures columns (data/futures/um and cm): trades without is_best_match (COIN-M's
# fourth column is the base asset's quantity, read as quote_qty: the base volume its klines
# sum), aggTrades without it too (docs/BINANCE.md "Futures").
FUTURES_COLUMNS: dict[str, dict[str, pl.DataType]] = {
    "klines": COLUMNS["klines"],
    "trades": {k: v for k, v in COLUMNS["trades"].items() if k != "is_best_match"},
    "aggTrades": {k: v for k, v in COLUMNS["aggTrades"].items() if k != "is_best_match"},
}
Layouts = Mapping[str, Mapping[str, pl.DataType]]


def _market_of(layouts: Layouts) -> str:
    return "spot" if layouts is COLUMNS else "futures"


# Bytes handled at a time: of a zip member as it is inflated, and of a download (fetch.py).
CHUNK = 1 << 20
# A dump's CSV: the path of a plain .csv, or the bytes of a zip's member.
CsvSource = Path | bytes


def csv_text(path: Path) -> CsvSource:
    """The CSV of a dump: a zip's one member read (CRC-checked) into memory, a .csv's path."""
    if path.suffix != ".zip":
        return path
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.read(_only_member(archive, path))
    except (zipfile.BadZipFile, EOFError, OSError) as err:
        raise DumpError(f"{path.name}: not a readable zip (truncated or corrupt): {err}") from err


def _only_member(archive: zipfile.ZipFile, path: Path) -> zipfile.ZipInfo:
    members = [m for m in archive.infolist() if not m.is_dir()]
    if len(members) != 1:
        raise DumpError(f"{path.name}: expected one CSV in the zip, found {len(members)}")
    return members[0]


def _inflatable(member: zipfile.ZipInfo) -> bool:
    """Whether we inflate the member ourselves: stored or deflated, not encrypted or patched."""
    odd = member.flag_bits & 0x61  # encrypted, compressed patched data, strong encryption
    return not odd and member.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)


_LOCAL_HEADER = struct.Struct("<4s22xHH")


def _data_offset(handle: IO[bytes], member: zipfile.ZipInfo) -> int:
    """Where a member's data starts: after its local header, checked as zipfile checks it."""
    handle.seek(member.header_offset)
    header = handle.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size:
        raise zipfile.BadZipFile("Truncated file header")
    magic, name_length, extra_length = _LOCAL_HEADER.unpack(header)
    if magic != zipfile.stringFileHeader:
        raise zipfile.BadZipFile("Bad magic number for file header")
    return member.header_offset + _LOCAL_HEADER.size + name_length + extra_length


class _Unstreamable(Exception):
    """The streamed read met anything unusual; the whole-buffer read decides what to say."""


def load_dump(
    path: Path, display: str, kind: str | None, layouts: Layouts = COLUMNS
) -> tuple[str, pl.DataFrame]:
    """(kind, parsed rows) of a dump file: detect_layout then read_dump, on a zip or a .csv.

    A zip is inflated with ISA-L in a thread, in pieces cut after a line end that polars
    parses meanwhile (one pass, never the whole CSV in memory). Anything odd in that pass (a
    bad row, a corrupt zip, an empty file) makes it start over the plain way, which then names
    the problem.
    """
    if path.suffix == ".zip":
        try:
            return _load_zip_streamed(path, display, kind, layouts)
        except _Unstreamable:
            pass
    text = csv_text(path)
    kind, header = detect_layout(text, display, kind, layouts)
    return kind, read_dump(text, display, kind, header, layouts)


PIECE = 16 << 20  # inflated bytes per polars parse: overlaps inflating and parsing


def _load_zip_streamed(
    path: Path, display: str, kind: str | None, layouts: Layouts
) -> tuple[str, pl.DataFrame]:
    try:
        with zipfile.ZipFile(path) as archive:
            member = _only_member(archive, path)
    except Exception as err:
        raise _Unstreamable from err
    if not _inflatable(member):
        raise _Unstreamable
    pieces: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=4)
    stop = threading.Event()
    worker = threading.Thread(
        target=_inflate_pieces, args=(path, member, pieces, stop), name="inflate", daemon=True
    )
    worker.start()
    frames: list[pl.DataFrame] = []
    header = False
    finished = False
    try:
        while (piece := pieces.get()) is not None:
            if isinstance(piece, BaseException):
                raise _Unstreamable from piece
            if not frames:
                kind, header = detect_layout(piece, display, kind, layouts)
            frames.append(_parse(piece, kind, header and not frames, layouts))
        finished = True
    except (DumpError, pl.exceptions.PolarsError, ValueError) as err:
        raise _Unstreamable from err
    finally:
        if not finished:
            stop.set()
            while pieces.get() is not None:
                pass
        worker.join()
    if not frames or kind is None:
        raise _Unstreamable
    frame = pl.concat(frames)
    _check_complete(frame, display, layouts[kind], header)
    return kind, frame


def _inflate_pieces(
    path: Path,
    member: zipfile.ZipInfo,
    pieces: queue.Queue[bytes | BaseException | None],
    stop: threading.Event,
) -> None:
    """Put the member's bytes on pieces, cut after a line end; an error, then None, ends it."""
    try:
        deflated = member.compress_type == zipfile.ZIP_DEFLATED
        inflater = isal_zlib.decompressobj(-15) if deflated else None
        crc = size = pending = 0
        held: list[bytes] = []
        with path.open("rb") as handle:
            handle.seek(_data_offset(handle, member))
            left = member.compress_size
            while left and not stop.is_set():
                packed = handle.read(min(CHUNK, left))
                if not packed:
                    raise EOFError("truncated member")
                left -= len(packed)
                data = inflater.decompress(packed) if inflater else packed
                crc = isal_zlib.crc32(data, crc)
                size += len(data)
                held.append(data)
                pending += len(data)
                if pending >= PIECE and b"\n" in data:
                    joined = b"".join(held)
                    cut = joined.rfind(b"\n") + 1
                    pieces.put(joined[:cut])
                    held = [joined[cut:]]
                    pending = len(held[0])
        if stop.is_set():
            return
        if size != member.file_size or crc != member.CRC:
            raise zipfile.BadZipFile(f"Bad CRC-32 for file {member.filename!r}")
        if pending:
            pieces.put(b"".join(held))
    except BaseException as err:
        pieces.put(err)
    finally:
        pieces.put(None)


def _open_text(source: CsvSource) -> IO[str]:
    """The CSV as text, lines split as open(newline="") splits them."""
    if isinstance(source, Path):
        return source.open("r", newline="")
    return io.TextIOWrapper(io.BytesIO(source), newline="")


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return True


def detect_layout(
    source: CsvSource, display: str, kind: str | None, layouts: Layouts = COLUMNS
) -> tuple[str, bool]:
    """(kind, has_header): a first line whose first field is not a number is a header."""
    with _open_text(source) as handle:
        first, second = handle.readline().strip(), handle.readline().strip()
    if not first:
        raise DumpError(f"{display}: the file is empty")
    fields = first.split(",")
    header = not _is_number(fields[0].strip())
    if header and second:
        fields = second.split(",")
    by_count = {len(cols): name for name, cols in layouts.items()}
    market = _market_of(layouts)
    if kind is None:
        kind = by_count.get(len(fields))
        if kind is None:
            counts = ", ".join(f"{name} {len(cols)}" for name, cols in layouts.items())
            raise DumpError(
                f"{display}: row {2 if header else 1}: {len(fields)} columns is no {market} "
                f"dump ({counts})"
            )
    expected = len(layouts[kind])
    if len(fields) != expected:
        raise DumpError(
            f"{display}: row {2 if header else 1}: {len(fields)} columns, "
            f"a {market} {kind} file has {expected}"
        )
    return kind, header


def _locate_bad_value(
    source: CsvSource, display: str, kind: str, header: bool, layouts: Layouts
) -> DumpError:
    """Find the first row and field polars refused, for a one-line error message."""
    columns = layouts[kind]
    with _open_text(source) as handle:
        reader = csv.reader(handle)
        for number, row in enumerate(reader, start=1):
            if header and number == 1:
                continue
            if len(row) != len(columns):
                return DumpError(
                    f"{display}: row {number}: {len(row)} columns, a {_market_of(layouts)} "
                    f"{kind} file has {len(columns)}"
                )
            for value, (name, dtype) in zip(row, columns.items(), strict=True):
                form = _FORMS.get(type(dtype))
                if form and not re.fullmatch(form[0], value):
                    return DumpError(
                        f"{display}: row {number}, field {name}: {value!r} is not {form[1]}"
                    )
    return DumpError(f"{display}: unreadable CSV")


# What polars accepts for each column type, and how the error message names it.
_FORMS = {
    pl.Int64: (r"-?[0-9]+", "an integer"),
    pl.Boolean: (r"True|False|true|false", "True or False"),
    pl.Decimal: (r"[0-9]+(\.[0-9]{1,18})?", "a decimal number"),
}


def _parse(source: CsvSource, kind: str, header: bool, layouts: Layouts) -> pl.DataFrame:
    return pl.read_csv(
        source,
        has_header=False,
        skip_rows=int(header),
        schema=dict(layouts[kind]),
        infer_schema=False,
    )


def read_dump(
    source: CsvSource, display: str, kind: str, header: bool, layouts: Layouts = COLUMNS
) -> pl.DataFrame:
    """Parse a dump CSV with its exact column types; bad values name their row and field."""
    try:
        frame = _parse(source, kind, header, layouts)
    except (pl.exceptions.PolarsError, ValueError) as err:
        raise _locate_bad_value(source, display, kind, header, layouts) from err
    _check_complete(frame, display, layouts[kind], header)
    return frame


def _check_complete(
    frame: pl.DataFrame, display: str, columns: Mapping[str, pl.DataType], header: bool
) -> None:
    """DumpError naming the first empty value's row and field, if there is one."""
    nulls = frame.select(pl.any_horizontal(pl.all().is_null()).arg_true().first()).item()
    if nulls is not None:
        row = int(nulls) + 1 + (1 if header else 0)
        name = next(n for n in columns if frame[n][int(nulls)] is None)
        raise DumpError(f"{display}: row {row}, field {name}: empty value")
