"""Importing dumps into market.klines_1m: one file per transaction, known files skipped."""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import polars as pl
import psycopg

from include.history import idle_proof, klines_store
from include.history.dumps import funding
from include.history.dumps.candles import build_candles
from include.history.dumps.errors import DumpError, DumpNotFound
from include.history.dumps.fetch import _progress, download, http_client
from include.history.dumps.names import (
    DumpName,
    _is_url,
    expand_inputs,
    market_of,
    parse_name,
    price_series_of,
)
from include.history.dumps.read import COLUMNS, FUTURES_COLUMNS, load_dump
from include.history.dumps.verify import _optional, local_sha256, verify_checksum
from include.history.series import SERIES
from include.platform import db, markets
from include.platform.binance_rest.client import BinanceRest
from include.platform.markets import SPOT, Market
from include.platform.times import to_datetime

logger = logging.getLogger(__name__)

SOURCE_OF_KIND = {"klines": "dump_klines", "trades": "dump_trades", "aggTrades": "dump_aggtrades"}


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
    # Not published because the symbol did not trade in its period (before its listing, after
    # its delisting): Binance has no kline there, so there is nothing to import.
    untraded: bool = False

    def summary(self) -> dict[str, object]:
        """As JSON (a task's XCom)."""
        return {
            "file": self.file_name,
            "rows": self.rows,
            "candles": self.candles,
            "changed": self.changed,
            "skipped": self.skipped,
            "untraded": self.untraded,
        }


def _previous_close(
    conn: psycopg.Connection, symbol: str, minute_ms: int, market: Market = SPOT
) -> str | None:
    row = conn.execute(
        market.sql("select close::text from market.klines_1m where symbol = %s and open_time = %s"),
        (symbol, to_datetime(minute_ms)),
    ).fetchone()
    return row[0] if row else None


def check_symbol(
    conn: psycopg.Connection,
    symbol: str,
    display: str,
    rest_url: str | None,
    database_url: str | None = None,
    market: Market = SPOT,
) -> None:
    """Refuse a symbol exchangeInfo does not list (market.symbols, the market's, refreshed once
    if empty).

    exchangeInfo's weight is reserved in the budget shared through database_url, when given.
    """
    known = klines_store.known_symbols(conn, market)
    if not known:
        try:
            with BinanceRest(
                rest_url, max_server_errors=0, database_url=database_url, market=market
            ) as client:
                klines_store.store_symbols(conn, client.exchange_info(), market)
        except Exception as err:  # offline imports still work, just without this check
            logger.warning("cannot check symbols against exchangeInfo: %s", err)
            return
        known = klines_store.known_symbols(conn, market)
    if symbol not in known:
        raise DumpError(f"{display}: unknown symbol {symbol}: exchangeInfo does not list it")


def _traded(
    name: DumpName, rest_url: str | None, database_url: str, market: Market = SPOT
) -> bool | None:
    """Whether Binance has a kline of the symbol in the dump's period (None: cannot tell).

    data.binance.vision publishes no file for a period a symbol did not trade in: at ALL, each
    day's import met the symbols listed that day. Only a period with klines is one whose dump
    is yet to come."""
    try:
        with BinanceRest(
            rest_url, max_server_errors=0, database_url=database_url, market=market
        ) as client:
            return bool(client.klines_1m(name.symbol, name.start_ms, name.end_ms - 1))
    except Exception as err:
        logger.warning("%s: cannot ask Binance for its klines: %s", name.base_name, err)
        return None


def import_file(
    spec: str,
    *,
    database_url: str | None = None,
    symbol: str | None = None,
    force: bool = False,
    http: httpx.Client | None = None,
    rest_url: str | None = None,
    require_checksum: bool = True,
    market: Market | str | None = None,
) -> ImportResult:
    """Import one dump (URL or local zip/CSV) in one transaction; a known file is a no-op.

    A URL needs the .CHECKSUM published beside it, a local file is checked against one beside
    it when there is one. ``require_checksum=False`` (--no-checksum) imports when that file is
    missing, unreadable or malformed; a well-formed checksum that disagrees still refuses.

    The market is the one given, else the one data.binance.vision's path names (data/spot/,
    data/futures/um/, data/futures/cm/), else spot; a futures market's mark, index and premium
    klines (their folder says which) go to its price-kline tables.
    """
    url = database_url or db.resolve_role_url(db.LOADER)
    venue = markets.market(market) if market is not None else market_of(spec) or SPOT
    price_series = price_series_of(spec) if venue.is_futures else None
    display = spec.rsplit("/", 1)[-1] if _is_url(spec) else Path(spec).name
    with tempfile.TemporaryDirectory(prefix="dump-") as tmp:
        scratch = Path(tmp)
        if _is_url(spec):
            with contextlib.nullcontext(http) if http is not None else http_client() as client:
                try:
                    path, expected = download(
                        spec, scratch, client, require_checksum=require_checksum
                    )
                except DumpNotFound:
                    name = parse_name(display)
                    if name is None or _traded(name, rest_url, url, venue) is not False:
                        raise
                    logger.info("%s: no kline in its period, nothing to import", display)
                    return ImportResult(display, name.kind, name.symbol, 0, 0, 0, untraded=True)
        else:
            path = Path(spec)
            if not path.is_file():
                raise DumpError(f"{spec}: no such file")
            expected = _optional(lambda: local_sha256(path), require_checksum)
        checksum = verify_checksum(path, expected)
        if venue.is_futures and funding.is_funding(spec):
            return _import_funding(path, display, checksum, url, venue, symbol, force)
        name = parse_name(path.name)
        file_symbol = name.symbol if name else None
        if symbol and file_symbol and symbol.upper() != file_symbol:
            raise DumpError(f"{display}: holds {file_symbol}, not {symbol.upper()}")
        file_symbol = file_symbol or (symbol.upper() if symbol else None)
        if file_symbol is None:
            raise DumpError(f"{display}: cannot tell the symbol from the name: pass --symbol")
        if venue.inverse and name is not None and name.kind == "aggTrades":
            # An aggTrade's fills each carry a rounded base quantity the kline sums; the
            # aggregate tells only their total contracts (docs/BINANCE.md "Futures").
            raise DumpError(
                f"{display}: {venue.name} aggTrades dumps do not carry the base quantities its "
                "klines sum: import its trades or klines dumps"
            )
        # Price klines are named as the trade klines: their folder keeps them apart.
        file_name = path.name if price_series is None else f"{price_series}/{path.name}"
        with psycopg.connect(url, autocommit=True) as conn:
            check_symbol(conn, file_symbol, display, rest_url, url, venue)
            kind = name.kind if name else "?"
            known = _known(conn, venue, file_name, checksum, force, display, kind, file_symbol)
            if known is not None:
                return known
            layouts = FUTURES_COLUMNS if venue.is_futures else COLUMNS
            kind, frame = load_dump(path, display, name.kind if name else None, layouts)
            lead_from_ms = previous_close = None
            if name is not None and kind != "klines":
                lead_from_ms = name.start_ms
                previous_close = _previous_close(conn, file_symbol, lead_from_ms - 60_000, venue)
            candles = build_candles(
                frame, kind, display, lead_from_ms=lead_from_ms, previous_close=previous_close
            )
            proof = idle_proof.IdleProof()
            if kind != "klines":
                # Idle or halted: only Binance's klines can tell (include/history/idle_proof.py).
                candles, proof = idle_proof.prove_idle_minutes(
                    candles,
                    file_symbol,
                    lambda: BinanceRest(
                        rest_url, max_server_errors=0, database_url=url, market=venue
                    ),
                )
            source = SOURCE_OF_KIND[kind]
            with conn.transaction():
                if price_series is None:
                    changed = klines_store.upsert_candles(conn, file_symbol, candles, source, venue)
                else:
                    changed = _upsert_prices(conn, file_symbol, candles, price_series, venue)
                if venue is SPOT:
                    idle_proof.record(conn, file_symbol, proof, display)
                klines_store.remember_file(
                    conn,
                    file_name=file_name,
                    kind=kind if price_series is None else price_series,
                    symbol=file_symbol,
                    checksum=checksum,
                    row_count=frame.height,
                    candle_count=candles.height,
                    source=source,
                    market=venue,
                )
    logger.info(
        "%s: %d rows, %d candles, %d new or changed", display, frame.height, candles.height, changed
    )
    return ImportResult(file_name, kind, file_symbol, frame.height, candles.height, changed)


def _known(
    conn: psycopg.Connection,
    market: Market,
    file_name: str,
    checksum: str,
    force: bool,
    display: str,
    kind: str,
    symbol: str,
) -> ImportResult | None:
    """A file already imported (into the market) with this checksum, unless ``force``: its
    skipped result; else None."""
    seen = klines_store.imported_file(conn, file_name, market)
    if seen is None or seen.checksum != checksum or force:
        return None
    logger.info("%s: already imported with this checksum, skipped", display)
    return ImportResult(file_name, kind, symbol, seen.row_count, seen.candle_count, 0, True)


def _import_funding(
    path: Path,
    display: str,
    checksum: str,
    url: str,
    venue: Market,
    symbol: str | None,
    force: bool,
) -> ImportResult:
    """A monthly funding dump into the market's funding_rates, in one transaction; a known file
    (same checksum) is skipped."""
    file_symbol = funding.symbol_of(path.name) or (symbol.upper() if symbol else None)
    if file_symbol is None:
        raise DumpError(f"{display}: cannot tell the contract from the name: pass --symbol")
    with psycopg.connect(url, autocommit=True) as conn:
        known = _known(conn, venue, path.name, checksum, force, display, funding.KIND, file_symbol)
        if known is not None:
            return known
        rows = funding.read(path, display)
        with conn.transaction():
            changed = funding.load(conn, venue, file_symbol, rows)
            klines_store.remember_file(
                conn,
                file_name=path.name,
                kind=funding.KIND,
                symbol=file_symbol,
                checksum=checksum,
                row_count=len(rows),
                candle_count=len(rows),
                source=funding.SOURCE,
                market=venue,
            )
    logger.info("%s: %d fundings, %d new or changed", display, len(rows), changed)
    return ImportResult(path.name, funding.KIND, file_symbol, len(rows), len(rows), changed)


def _upsert_prices(
    conn: psycopg.Connection, symbol: str, candles: pl.DataFrame, series: str, market: Market
) -> int:
    """A price-kline dump's minutes (OHLC, the sample count in the count column) into the
    market's table of that series."""
    buffer = io.BytesIO()
    candles.select("open_time_ms", "open", "high", "low", "close", "trade_count").write_csv(
        buffer, include_header=False
    )
    return SERIES[series].upsert(conn, symbol, buffer.getvalue(), market, "dump_klines")


def import_files(
    specs: Sequence[str],
    *,
    database_url: str | None = None,
    symbol: str | None = None,
    force: bool = False,
    rest_url: str | None = None,
    require_checksum: bool = True,
    market: str | None = None,
) -> list[ImportResult]:
    """Import dumps one by one (each its own transaction); stop at the first bad file. The
    market is each file's own (import_file) unless given."""
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
                    market=market,
                )
            )
            bar.update(1)
    return results
