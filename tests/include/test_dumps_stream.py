"""A zip dump is inflated in a thread while polars parses it in pieces: same rows, same errors.

Pieces are made tiny here so that small test files cross many piece boundaries; every result
and every error message must equal the plain read of the whole inflated CSV.
"""

from __future__ import annotations

import threading
import zipfile
from collections.abc import Callable
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from fakebinance.dumps import write_dump
from fakebinance.market import Market
from include.history.dumps import read
from include.history.dumps.errors import DumpError
from include.history.dumps.read import csv_text, detect_layout, load_dump, read_dump
from tests.include.history_support import frozen_clock, market_config

DAY = date(2025, 3, 10)


@pytest.fixture(scope="module")
def market() -> Market:
    """The fake market, read directly to write dumps."""
    return Market(market_config(), frozen_clock())


@pytest.fixture(autouse=True)
def tiny_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read 1 KiB of zip at a time and parse ~4 KiB pieces: hundreds of pieces per file."""
    monkeypatch.setattr(read, "CHUNK", 1024)
    monkeypatch.setattr(read, "PIECE", 4096)


def plain(path: Path, kind: str | None = None) -> tuple[str, pl.DataFrame]:
    """The whole-buffer read the streamed one must equal."""
    text = csv_text(path)
    kind, header = detect_layout(text, path.name, kind)
    return kind, read_dump(text, path.name, kind, header)


def no_inflate_thread() -> bool:
    return not any(t.name == "inflate" for t in threading.enumerate())


def rezip(source: Path, folder: Path, edit: Callable[[list[str]], list[str]], method: int) -> Path:
    """The dump with its CSV lines edited, zipped again under the same name."""
    with zipfile.ZipFile(source) as archive:
        name = archive.namelist()[0]
        lines = archive.read(name).decode().splitlines()
    folder.mkdir(exist_ok=True)
    target = folder / source.name
    with zipfile.ZipFile(target, "w", compression=method) as archive:
        archive.writestr(name, "".join(line + "\n" for line in edit(lines)))
    return target


@pytest.mark.parametrize(
    ("kind", "header"), [("trades", False), ("trades", True), ("aggTrades", True)]
)
def test_streamed_rows_equal_the_whole_read(
    market: Market, tmp_path: Path, kind: str, header: bool
) -> None:
    """Many pieces, header or not: the same frame as parsing the whole inflated CSV."""
    path = write_dump(market, kind, "ETHUSDT", DAY, out_dir=tmp_path, header=header)
    got_kind, got = load_dump(path, path.name, None)
    want_kind, want = plain(path)
    assert got_kind == want_kind == kind
    assert got.n_chunks() > 10  # it really was parsed in pieces
    assert got.equals(want)
    assert no_inflate_thread()


def test_stored_member_streams_too(market: Market, tmp_path: Path) -> None:
    """A zip whose CSV is stored, not deflated, reads the same."""
    path = write_dump(market, "trades", "ETHUSDT", DAY, out_dir=tmp_path)
    stored = rezip(path, tmp_path / "stored", lambda lines: lines, zipfile.ZIP_STORED)
    _, got = load_dump(stored, stored.name, "trades")
    assert got.n_chunks() > 10
    assert got.equals(plain(path)[1])


def _bad_price(lines: list[str]) -> list[str]:
    fields = lines[-20].split(",")
    fields[1] = "12x.5"
    return [*lines[:-20], ",".join(fields), *lines[-19:]]


def _empty_qty(lines: list[str]) -> list[str]:
    fields = lines[-30].split(",")
    fields[2] = ""
    return [*lines[:-30], ",".join(fields), *lines[-29:]]


def _extra_column(lines: list[str]) -> list[str]:
    return [*lines[:-40], lines[-40] + ",extra", *lines[-39:]]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_bad_price, "row {n}, field price: '12x.5' is not a decimal number"),
        (_empty_qty, "row {n}, field qty: empty value"),
        (_extra_column, "row {n}: 8 columns, a spot trades file has 7"),
        (lambda lines: [], "the file is empty"),
        (lambda lines: lines[:1], None),
    ],
)
@pytest.mark.parametrize("header", [False, True])
def test_a_bad_row_late_in_a_zip_is_named_as_before(
    market: Market,
    tmp_path: Path,
    edit: Callable[[list[str]], list[str]],
    message: str | None,
    header: bool,
) -> None:
    """A bad row pieces after the first names its line of the whole file; odd files still read."""
    path = write_dump(market, "trades", "ETHUSDT", DAY, out_dir=tmp_path, header=header)
    bad = rezip(path, tmp_path / "bad", edit, zipfile.ZIP_DEFLATED)
    rows = len(edit(csv_text(path).decode().splitlines()))
    if message is None:
        assert rows == 1
        assert load_dump(bad, bad.name, None)[1].height == rows - header
        return
    with pytest.raises(DumpError) as caught:
        load_dump(bad, bad.name, None)
    row = {"_bad_price": rows - 19, "_empty_qty": rows - 29, "_extra_column": rows - 39}
    expected = message.format(n=row.get(getattr(edit, "__name__", ""), 0))
    assert str(caught.value) == f"{bad.name}: {expected}"
    with pytest.raises(DumpError) as plain_error:
        plain(bad)
    assert str(plain_error.value) == str(caught.value)
    assert no_inflate_thread()


@pytest.mark.parametrize("where", ["crc", "data"])
def test_a_corrupt_member_is_not_a_readable_zip(market: Market, tmp_path: Path, where: str) -> None:
    """A flipped byte in the deflate stream, or a wrong CRC: refused, naming the zip."""
    path = write_dump(market, "trades", "ETHUSDT", DAY, out_dir=tmp_path)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        member = archive.infolist()[0]
    if where == "crc":
        # The CRC in the local header is not read; the central directory's is.
        central = raw.rfind(zipfile.stringCentralDir)
        raw[central + 16] ^= 0xFF
    else:
        start = member.header_offset + 30 + len(member.filename.encode())
        raw[start + member.compress_size // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(DumpError, match="not a readable zip") as caught:
        load_dump(path, path.name, None)
    assert str(caught.value).startswith(f"{path.name}: not a readable zip (truncated or corrupt)")
    assert no_inflate_thread()
