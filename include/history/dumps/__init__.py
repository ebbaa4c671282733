"""data.binance.vision dumps: locate, download, verify, parse and load them as 1m candles.

names says where a dump is and what its file name means; fetch downloads it and its .CHECKSUM;
verify checks it; read parses its CSV (a zip streamed); candles turns the rows into 1m candles;
load imports files into market.klines_1m; errors holds DumpError. The names are re-exported
here, where callers have always imported them.
"""

from __future__ import annotations

from include.history.dumps.candles import (
    MICROS_THRESHOLD,
    TIME_COLUMN,
    build_candles,
    klines_to_candles,
    time_is_micros,
)
from include.history.dumps.errors import DumpError
from include.history.dumps.fetch import download, http_client, published_sha256
from include.history.dumps.load import (
    SOURCE_OF_KIND,
    ImportResult,
    check_symbol,
    import_file,
    import_files,
)
from include.history.dumps.names import (
    KINDS,
    NAME_RE,
    DumpName,
    dump_url,
    dump_urls,
    expand_inputs,
    parse_name,
)

# Not CHUNK or PIECE: a test that shrinks them patches read, where they are looked up.
from include.history.dumps.read import (
    COLUMNS,
    CsvSource,
    csv_text,
    detect_layout,
    load_dump,
    read_dump,
)
from include.history.dumps.verify import (
    UNVERIFIED,
    local_sha256,
    parse_checksum,
    verify_checksum,
)

__all__ = [
    "COLUMNS",
    "KINDS",
    "MICROS_THRESHOLD",
    "NAME_RE",
    "SOURCE_OF_KIND",
    "TIME_COLUMN",
    "UNVERIFIED",
    "CsvSource",
    "DumpError",
    "DumpName",
    "ImportResult",
    "build_candles",
    "check_symbol",
    "csv_text",
    "detect_layout",
    "download",
    "dump_url",
    "dump_urls",
    "expand_inputs",
    "http_client",
    "import_file",
    "import_files",
    "klines_to_candles",
    "load_dump",
    "local_sha256",
    "parse_checksum",
    "parse_name",
    "published_sha256",
    "read_dump",
    "time_is_micros",
    "verify_checksum",
]
