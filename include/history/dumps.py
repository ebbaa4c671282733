"""data.binance.vision dumps: locate, download, verify, parse and load them as 1m candles."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import logging
import queue
import re
import struct
import sys
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO

import httpx
import polars as pl
import psycopg
from isal import isal_zlib

from include.history import idle_proof, klines_store
from include.history.trades_to_candles import (
    DECIMAL,
    candles_from_agg_trades,
    candles_from_trades,
    fill_idle_minutes,
    format_decimals,
)
from include.platform import db
from include.platform.binance_rest.client import BinanceRest, tls_context
from include.platform.settings import get_settings
from include.platform.times import CANDLE_FIELDS

logger = logging.getLogger(__name__)

KINDS = ("klines", "trades", "aggTrades")
SOURCE_OF_KIND = {"klines": "dump_klines", "trades": "dump_trades", "aggTrades": "dump_aggtrades"}
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
TIME_COLUMN = {"klines": "open_time", "trades": "time", "aggTrades": "time"}
# Spot dumps switched to microseconds in 2025; anything this large cannot be milliseconds.
MICROS_THRESHOLD = 10**15
NAME_RE = re.compile(
    r"^(?P<symbol>[A-Z0-9]{2,30})-(?P<tag>1m|trades|aggTrades|[0-9]+[smhdwM])-"
    r"(?P<period>\d{4}-\d{2}(?:-\d{2})?)$"
)
CHUNK = 1 << 20
# A dump's CSV: the path of a plain .csv, or the bytes of a zip's member.
CsvSource = Path | bytes
UNVERIFIED = "refusing an unverified dump (--no-checksum / require_checksum=False imports it)"


class DumpError(ValueError):
    """A dump file cannot be loaded; the message names the file, and the row and field."""


@dataclass(frozen=True)
class DumpName:
    """What a dump's file name says: symbol, kind and the period it covers."""

    symbol: str
    kind: str
    period_start: date
    daily: bool

    @property
    def base_name(self) -> str:
        tag = "1m" if self.kind == "klines" else self.kind
        period = (
            self.period_start.isoformat() if self.daily else self.period_start.strftime("%Y-%m")
        )
        return f"{self.symbol}-{tag}-{period}"

    @property
    def start_ms(self) -> int:
        """The period's first minute in epoch ms."""
        return klines_store.datetime_to_ms(datetime.combine(self.period_start, time(), UTC))


def parse_name(file_name: str) -> DumpName | None:
    """DumpName of 'BTCUSDT-trades-2025-01-01.zip' (or .csv); None for other names."""
    stem = re.sub(r"\.(zip|csv)$", "", Path(file_name).name)
    match = NAME_RE.match(stem)
    if not match:
        return None
    tag, period = match["tag"], match["period"]
    kind = "klines" if tag not in ("trades", "aggTrades") else tag
    if kind == "klines" and tag != "1m":
        raise DumpError(f"{file_name}: only 1m klines can be imported, not {tag}")
    daily = len(period) == 10
    start = date.fromisoformat(period if daily else period + "-01")
    return DumpName(match["symbol"], kind, start, daily)


def dump_url(base_url: str, kind: str, symbol: str, period: date, *, daily: bool = True) -> str:
    """The data.binance.vision URL of one spot dump zip."""
    if kind not in KINDS:
        raise DumpError(f"unknown dump kind {kind!r}: use one of {', '.join(KINDS)}")
    name = DumpName(symbol.upper(), kind, period if daily else period.replace(day=1), daily)
    freq = "daily" if daily else "monthly"
    sub = "/1m" if kind == "klines" else ""
    return f"{base_url.rstrip('/')}/data/spot/{freq}/{kind}/{name.symbol}{sub}/{name.base_name}.zip"


def dump_urls(
    symbols: Sequence[str],
    kinds: Sequence[str],
    start: date,
    end: date,
    *,
    base_url: str | None = None,
    monthly: bool = False,
) -> list[str]:
    """URLs of the daily (or monthly) dumps covering [start, end) for each symbol and kind."""
    base = base_url or get_settings().binance_data_url
    periods: list[date] = []
    day = start if not monthly else start.replace(day=1)
    while day < end:
        periods.append(day)
        day = day + timedelta(days=1) if not monthly else (day + timedelta(days=32)).replace(day=1)
    return [
        dump_url(base, kind, symbol, period, daily=not monthly)
        for symbol in symbols
        for kind in kinds
        for period in periods
    ]


@dataclass(frozen=True)
class ImportResult:
    """One file's outcome: rows read, candles built, rows changed, or skipped as known."""

    file_name: str
    kind: str
    symbol: str
    rows: int
    candles: int
    changed: int
    skipped: bool = False


def _is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def expand_inputs(specs: Iterable[str]) -> list[str]:
    """URLs as given; directories replaced by the dump files inside them, sorted."""
    out: list[str] = []
    for spec in specs:
        path = Path(spec)
        if not _is_url(spec) and path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in (".zip", ".csv"))
            if not found:
                raise DumpError(f"{spec}: no .zip or .csv dump files in this folder")
            out += [str(p) for p in found]
        else:
            out.append(spec)
    return out


def _progress(total: int | None, desc: str, unit: str = "B", *, show: bool = True):
    from tqdm import tqdm

    # Drawn only on a terminal: a disabled bar does nothing.
    disable = not (show and sys.stderr.isatty())
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, leave=False, disable=disable)


def http_client() -> httpx.Client:
    """The client dumps and their .CHECKSUM files are fetched with (data.binance.vision
    redirects; a month's zip takes a while), on the process's one TLS context."""
    return httpx.Client(timeout=120, follow_redirects=True, verify=tls_context())


def download(
    url: str, folder: Path, client: httpx.Client, *, require_checksum: bool = True
) -> tuple[Path, str | None]:
    """Fetch a dump into folder; return its path and the sha256 its .CHECKSUM publishes.

    The digest is None only when ``require_checksum`` is False and no usable one was published.
    """
    name = url.rsplit("/", 1)[-1]
    target = folder / name
    with client.stream("GET", url) as response:
        if response.status_code == 404:
            raise DumpError(f"{url}: not found (HTTP 404): is the day published yet?")
        if response.status_code != 200:
            raise DumpError(f"{url}: HTTP {response.status_code}")
        size = int(response.headers.get("content-length") or 0) or None
        with _progress(size, name) as bar, target.open("wb") as out:
            for chunk in response.iter_bytes(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
    return target, _optional(lambda: published_sha256(url, client), require_checksum)


def published_sha256(url: str, client: httpx.Client) -> str:
    """The sha256 in the .CHECKSUM beside a dump URL; DumpError when missing or unreadable."""
    name = url.rsplit("/", 1)[-1]
    side = f"{name}.CHECKSUM"
    try:
        response = client.get(url + ".CHECKSUM")
    except httpx.HTTPError as err:
        raise DumpError(f"{side}: unreadable ({type(err).__name__}: {err})") from err
    if response.status_code == 404:
        raise DumpError(f"{side}: not found (HTTP 404) at {url}.CHECKSUM")
    if response.status_code != 200:
        raise DumpError(f"{side}: unreadable (HTTP {response.status_code})")
    return parse_checksum(response.text, name)


def local_sha256(path: Path) -> str | None:
    """The sha256 in the .CHECKSUM beside a local file; None when there is none.

    Local dumps are often unzipped or copied without one, so only a present one is checked.
    """
    side = path.with_name(path.name + ".CHECKSUM")
    if not side.exists():
        return None
    try:
        text = side.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise DumpError(f"{side.name}: unreadable ({err})") from err
    return parse_checksum(text, path.name)


def parse_checksum(text: str, file_name: str) -> str:
    """The digest of a sha256sum line ('<64 hex>  <file>') that names file_name (or nothing)."""
    parts = text.split()
    named = parts[1].lstrip("*") if len(parts) == 2 else file_name
    if not 1 <= len(parts) <= 2 or not re.fullmatch(r"[0-9a-fA-F]{64}", parts[0]):
        raise DumpError(f"{file_name}.CHECKSUM: not in sha256sum format ('<64 hex>  <file>')")
    if named != file_name:
        raise DumpError(f"{file_name}.CHECKSUM: is the checksum of {named}, not of {file_name}")
    return parts[0].lower()


def _optional(read: Callable[[], str | None], required: bool) -> str | None:
    """read(), or, when not required, None with a warning instead of its DumpError."""
    try:
        return read()
    except DumpError as err:
        if required:
            raise DumpError(f"{err}: {UNVERIFIED}") from err
        logger.warning("%s: importing without checksum verification (--no-checksum)", err)
        return None


def verify_checksum(path: Path, expected: str | None) -> str:
    """The file's sha256, after checking it against the published one when there is one."""
    with path.open("rb") as handle:
        actual = hashlib.file_digest(handle, "sha256").hexdigest()
    if expected is not None and expected != actual:
        raise DumpError(
            f"{path.name}: checksum mismatch: the file's sha256 is {actual}, "
            f".CHECKSUM says {expected}"
        )
    return actual


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


def load_dump(path: Path, display: str, kind: str | None) -> tuple[str, pl.DataFrame]:
    """(kind, parsed rows) of a dump file: detect_layout then read_dump, on a zip or a .csv.

    A zip is inflated with ISA-L in a thread, in pieces cut after a line end that polars
    parses meanwhile (one pass, never the whole CSV in memory). Anything odd in that pass (a
    bad row, a corrupt zip, an empty file) makes it start over the plain way, which then names
    the problem.
    """
    if path.suffix == ".zip":
        try:
            return _load_zip_streamed(path, display, kind)
        except _Unstreamable:
            pass
    text = csv_text(path)
    kind, header = detect_layout(text, display, kind)
    return kind, read_dump(text, display, kind, header)


PIECE = 16 << 20  # inflated bytes per polars parse: overlaps inflating and parsing


def _load_zip_streamed(path: Path, display: str, kind: str | None) -> tuple[str, pl.DataFrame]:
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
                kind, header = detect_layout(piece, display, kind)
            frames.append(_parse(piece, kind, header and not frames))
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
    _check_complete(frame, display, COLUMNS[kind], header)
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


def detect_layout(source: CsvSource, display: str, kind: str | None) -> tuple[str, bool]:
    """(kind, has_header): a first line whose first field is not a number is a header."""
    with _open_text(source) as handle:
        first, second = handle.readline().strip(), handle.readline().strip()
    if not first:
        raise DumpError(f"{display}: the file is empty")
    fields = first.split(",")
    header = not _is_number(fields[0].strip())
    if header and second:
        fields = second.split(",")
    by_count = {len(cols): name for name, cols in COLUMNS.items()}
    if kind is None:
        kind = by_count.get(len(fields))
        if kind is None:
            raise DumpError(
                f"{display}: row {2 if header else 1}: {len(fields)} columns is no spot dump "
                "(klines 12, trades 7, aggTrades 8)"
            )
    expected = len(COLUMNS[kind])
    if len(fields) != expected:
        raise DumpError(
            f"{display}: row {2 if header else 1}: {len(fields)} columns, "
            f"a spot {kind} file has {expected}"
        )
    return kind, header


def _locate_bad_value(source: CsvSource, display: str, kind: str, header: bool) -> DumpError:
    """Find the first row and field polars refused, for a one-line error message."""
    columns = COLUMNS[kind]
    with _open_text(source) as handle:
        reader = csv.reader(handle)
        for number, row in enumerate(reader, start=1):
            if header and number == 1:
                continue
            if len(row) != len(columns):
                return DumpError(
                    f"{display}: row {number}: {len(row)} columns, a spot {kind} file has "
                    f"{len(columns)}"
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


def _parse(source: CsvSource, kind: str, header: bool) -> pl.DataFrame:
    return pl.read_csv(
        source, has_header=False, skip_rows=int(header), schema=COLUMNS[kind], infer_schema=False
    )


def read_dump(source: CsvSource, display: str, kind: str, header: bool) -> pl.DataFrame:
    """Parse a dump CSV with its exact column types; bad values name their row and field."""
    try:
        frame = _parse(source, kind, header)
    except (pl.exceptions.PolarsError, ValueError) as err:
        raise _locate_bad_value(source, display, kind, header) from err
    _check_complete(frame, display, COLUMNS[kind], header)
    return frame


def _check_complete(
    frame: pl.DataFrame, display: str, columns: dict[str, pl.DataType], header: bool
) -> None:
    """DumpError naming the first empty value's row and field, if there is one."""
    nulls = frame.select(pl.any_horizontal(pl.all().is_null()).arg_true().first()).item()
    if nulls is not None:
        row = int(nulls) + 1 + (1 if header else 0)
        name = next(n for n in columns if frame[n][int(nulls)] is None)
        raise DumpError(f"{display}: row {row}, field {name}: empty value")


def time_is_micros(frame: pl.DataFrame, kind: str, display: str) -> bool:
    """Whether the file's timestamps are µs (2025+ spot dumps) rather than ms; never mixed."""
    col = frame[TIME_COLUMN[kind]]
    low, high = col.min(), col.max()
    if low is None:
        return False
    if (low >= MICROS_THRESHOLD) != (high >= MICROS_THRESHOLD):
        raise DumpError(f"{display}: field {TIME_COLUMN[kind]}: mixes ms and µs timestamps")
    return low >= MICROS_THRESHOLD


def klines_to_candles(frame: pl.DataFrame, micros: bool, display: str) -> pl.DataFrame:
    """A klines dump frame to the candle frame (open times in ms)."""
    divisor = 1000 if micros else 1
    candles = frame.select((pl.col("open_time") // divisor).alias("open_time_ms"), *CANDLE_FIELDS)
    misaligned = candles.select((pl.col("open_time_ms") % 60_000 != 0).arg_true().first()).item()
    if misaligned is not None:
        raise DumpError(
            f"{display}: row {int(misaligned) + 1}, field open_time: not a whole minute"
        )
    return candles


def _previous_close(conn: psycopg.Connection, symbol: str, minute_ms: int) -> str | None:
    row = conn.execute(
        "select close::text from market.klines_1m where symbol = %s and open_time = %s",
        (symbol, klines_store.ms_to_datetime(minute_ms)),
    ).fetchone()
    return row[0] if row else None


def build_candles(
    frame: pl.DataFrame,
    kind: str,
    display: str,
    *,
    lead_from_ms: int | None = None,
    previous_close: str | None = None,
) -> pl.DataFrame:
    """Parsed dump rows of any kind to formatted 1m candles, idle minutes included."""
    micros = time_is_micros(frame, kind, display)
    if kind == "klines":
        candles = klines_to_candles(frame, micros, display)
    else:
        build = candles_from_trades if kind == "trades" else candles_from_agg_trades
        candles = build(frame, micros=micros)
        candles = fill_idle_minutes(
            candles, lead_from_ms=lead_from_ms, previous_close=previous_close
        )
    return format_decimals(candles)


def check_symbol(
    conn: psycopg.Connection,
    symbol: str,
    display: str,
    rest_url: str | None,
    database_url: str | None = None,
) -> None:
    """Refuse a symbol exchangeInfo does not list (market.symbols, refreshed once if empty).

    exchangeInfo's weight is reserved in the budget shared through database_url, when given.
    """
    known = klines_store.known_symbols(conn)
    if not known:
        try:
            with BinanceRest(rest_url, max_server_errors=0, database_url=database_url) as client:
                klines_store.store_symbols(conn, client.exchange_info())
        except Exception as err:  # offline imports still work, just without this check
            logger.warning("cannot check symbols against exchangeInfo: %s", err)
            return
        known = klines_store.known_symbols(conn)
    if symbol not in known:
        raise DumpError(f"{display}: unknown symbol {symbol}: exchangeInfo does not list it")


def import_file(
    spec: str,
    *,
    database_url: str | None = None,
    symbol: str | None = None,
    force: bool = False,
    http: httpx.Client | None = None,
    rest_url: str | None = None,
    require_checksum: bool = True,
) -> ImportResult:
    """Import one dump (URL or local zip/CSV) in one transaction; a known file is a no-op.

    A URL needs the .CHECKSUM published beside it, a local file is checked against one beside
    it when there is one. ``require_checksum=False`` (--no-checksum) imports when that file is
    missing, unreadable or malformed; a well-formed checksum that disagrees still refuses.
    """
    url = database_url or db.resolve_role_url(db.LOADER)
    display = spec.rsplit("/", 1)[-1] if _is_url(spec) else Path(spec).name
    with tempfile.TemporaryDirectory(prefix="dump-") as tmp:
        scratch = Path(tmp)
        if _is_url(spec):
            with contextlib.nullcontext(http) if http is not None else http_client() as client:
                path, expected = download(spec, scratch, client, require_checksum=require_checksum)
        else:
            path = Path(spec)
            if not path.is_file():
                raise DumpError(f"{spec}: no such file")
            expected = _optional(lambda: local_sha256(path), require_checksum)
        checksum = verify_checksum(path, expected)
        name = parse_name(path.name)
        file_symbol = name.symbol if name else None
        if symbol and file_symbol and symbol.upper() != file_symbol:
            raise DumpError(f"{display}: holds {file_symbol}, not {symbol.upper()}")
        file_symbol = file_symbol or (symbol.upper() if symbol else None)
        if file_symbol is None:
            raise DumpError(f"{display}: cannot tell the symbol from the name: pass --symbol")
        with psycopg.connect(url, autocommit=True) as conn:
            check_symbol(conn, file_symbol, display, rest_url, url)
            seen = klines_store.imported_file(conn, path.name)
            if seen and seen.checksum == checksum and not force:
                logger.info("%s: already imported with this checksum, skipped", display)
                kind = name.kind if name else "?"
                return ImportResult(
                    path.name, kind, file_symbol, seen.row_count, seen.candle_count, 0, True
                )
            kind, frame = load_dump(path, display, name.kind if name else None)
            lead_from_ms = previous_close = None
            if name is not None and kind != "klines":
                lead_from_ms = name.start_ms
                previous_close = _previous_close(conn, file_symbol, lead_from_ms - 60_000)
            candles = build_candles(
                frame, kind, display, lead_from_ms=lead_from_ms, previous_close=previous_close
            )
            proof = idle_proof.IdleProof()
            if kind != "klines":
                # Idle or halted: only Binance's klines can tell (include/history/idle_proof.py).
                candles, proof = idle_proof.prove_idle_minutes(
                    candles,
                    file_symbol,
                    lambda: BinanceRest(rest_url, max_server_errors=0, database_url=url),
                )
            source = SOURCE_OF_KIND[kind]
            with conn.transaction():
                changed = klines_store.upsert_candles(conn, file_symbol, candles, source)
                idle_proof.record(conn, file_symbol, proof, display)
                klines_store.remember_file(
                    conn,
                    file_name=path.name,
                    kind=kind,
                    symbol=file_symbol,
                    checksum=checksum,
                    row_count=frame.height,
                    candle_count=candles.height,
                    source=source,
                )
    logger.info(
        "%s: %d rows, %d candles, %d new or changed", display, frame.height, candles.height, changed
    )
    return ImportResult(path.name, kind, file_symbol, frame.height, candles.height, changed)


def import_files(
    specs: Sequence[str],
    *,
    database_url: str | None = None,
    symbol: str | None = None,
    force: bool = False,
    rest_url: str | None = None,
    require_checksum: bool = True,
) -> list[ImportResult]:
    """Import dumps one by one (each its own transaction); stop at the first bad file."""
    files = expand_inputs(specs)
    results = []
    with (
        _progress(len(files), "dump files", unit="file", show=len(files) > 1) as bar,
        http_client() as http,
    ):
        for spec in files:
            results.append(
                import_file(
                    spec,
                    database_url=database_url,
                    symbol=symbol,
                    force=force,
                    http=http,
                    rest_url=rest_url,
                    require_checksum=require_checksum,
                )
            )
            bar.update(1)
    return results
