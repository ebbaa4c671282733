"""A dump whose .CHECKSUM is missing, unreadable or malformed is refused unless asked not to.

URL imports (the CLI's import-csv and the binance_import_dumps DAG, which calls import_file)
need the published checksum; --no-checksum / require_checksum=False imports without one. A
local file is verified when a .CHECKSUM lies beside it and accepted without one.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from fakebinance.dumps import period_bounds_us, write_dump
from fakebinance.reference import oracle_klines
from fakebinance.server import ThreadedFakeBinance
from include.cli import app
from include.history.dumps.errors import DumpError
from include.history.dumps.load import import_file
from include.history.dumps.names import dump_url
from tests.include.history_support import stored

DAY = date(2025, 3, 10)
NAME = "ETHUSDT-trades-2025-03-10.zip"
# What each way of serving the .CHECKSUM must make the import say.
REFUSALS = {
    "missing": f"{NAME}.CHECKSUM: not found (HTTP 404)",
    "garbage": f"{NAME}.CHECKSUM: not in sha256sum format",
    "error": f"{NAME}.CHECKSUM: unreadable (HTTP 500)",
}


@pytest.fixture
def served(fake: ThreadedFakeBinance, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The dump's URL; BINANCE_REST_URL points at the fake; checksums are reset afterwards."""
    monkeypatch.setenv("BINANCE_REST_URL", fake.url)
    try:
        yield dump_url(fake.url, "trades", "ETHUSDT", DAY)
    finally:
        fake.set_checksum_mode("ok")


def row_counts(conn: psycopg.Connection) -> tuple[int, int]:
    klines = conn.execute("select count(*) from market.klines_1m").fetchone()[0]
    files = conn.execute("select count(*) from market.imported_files").fetchone()[0]
    return klines, files


def official(fake: ThreadedFakeBinance) -> list[tuple]:
    a, b = period_bounds_us(DAY, True)
    klines = oracle_klines(fake.market, "ETHUSDT", a // 1000, b // 1000, closed_only=True)
    return [k.fields() for k in klines]


def imported(conn: psycopg.Connection) -> list[tuple]:
    a, b = period_bounds_us(DAY, True)
    return stored(conn, "ETHUSDT", a // 1000, b // 1000)


@pytest.mark.parametrize("mode", sorted(REFUSALS))
def test_url_without_a_usable_checksum_is_refused(
    fake: ThreadedFakeBinance, served: str, conn: psycopg.Connection, mode: str
) -> None:
    """import-csv URL fails with one line naming the .CHECKSUM; the DAG's call fails alike."""
    fake.set_checksum_mode(mode)
    result = CliRunner().invoke(app, ["import-csv", served])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert REFUSALS[mode] in result.stderr
    assert "--no-checksum" in result.stderr
    with pytest.raises(DumpError, match=REFUSALS[mode].replace("(", r"\(").replace(")", r"\)")):
        import_file(served)
    assert row_counts(conn) == (0, 0)


@pytest.mark.parametrize("mode", ["missing", "garbage"])
def test_no_checksum_imports_anyway(
    fake: ThreadedFakeBinance, served: str, conn: psycopg.Connection, mode: str
) -> None:
    """--no-checksum is the explicit way to load a dump whose checksum cannot be had."""
    fake.set_checksum_mode(mode)
    result = CliRunner().invoke(app, ["import-csv", "--no-checksum", served])
    assert result.exit_code == 0, result.output
    assert imported(conn) == official(fake)


def test_no_checksum_still_refuses_a_checksum_that_disagrees(
    fake: ThreadedFakeBinance, served: str, conn: psycopg.Connection
) -> None:
    """A published, well-formed checksum that does not match is a bad file, flag or not."""
    fake.set_checksum_mode("mismatch")
    result = CliRunner().invoke(app, ["import-csv", "--no-checksum", served])
    assert result.exit_code == 1
    assert f"{NAME}: checksum mismatch" in result.stderr
    assert row_counts(conn) == (0, 0)


def test_local_file_is_verified_only_when_a_checksum_lies_beside_it(
    fake: ThreadedFakeBinance, served: str, conn: psycopg.Connection, tmp_path: Path
) -> None:
    """No .CHECKSUM beside a local file: imported. A garbled one: refused unless opted out."""
    path = write_dump(fake.market, "trades", "ETHUSDT", DAY, out_dir=tmp_path)
    side = path.with_name(path.name + ".CHECKSUM")
    side.write_text("not a checksum\n")
    result = CliRunner().invoke(app, ["import-csv", str(path)])
    assert result.exit_code == 1
    assert f"{NAME}.CHECKSUM: not in sha256sum format" in result.stderr
    assert row_counts(conn) == (0, 0)
    side.unlink()
    result = CliRunner().invoke(app, ["import-csv", str(path)])
    assert result.exit_code == 0, result.output
    assert imported(conn) == official(fake)
