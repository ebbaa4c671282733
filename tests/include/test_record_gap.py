"""market.record_gap (include/sql/functions/gaps.sql): the one rule by which a record of a gap
merges into an earlier one of the same start, and the writers that all go through it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from include.history import heal, idle_proof
from include.history.heal import HALT_REASON
from include.platform import db
from include.platform.times import to_ms
from streamer.gap import Gap
from streamer.writer import GapOp
from tests.support.db import function_rights

T = datetime(2025, 3, 11, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
SIGNATURE = (
    "market.record_gap(text, timestamptz, timestamptz, text, text, boolean, text, bigint, bigint)"
)
RECORD = (
    "select market.record_gap(symbol => 'BTCUSDT', gap_start => %s, gap_end => %s, "
    "reason => %s, detected_by => %s, healed => %s, detail => %s, "
    "first_missing_trade_id => %s, last_missing_trade_id => %s)"
)
COLUMNS = (
    "gap_end, reason, detected_by, healed_at is not null, healed_by, first_missing_trade_id, "
    "last_missing_trade_id, detail"
)


def record(
    url: str,
    end: datetime,
    reason: str,
    detected_by: str,
    healed: bool | None,
    detail: str | None = None,
    ids: tuple[int | None, int | None] = (None, None),
    start: datetime = T,
) -> None:
    """One call of market.record_gap, as the role that writes gaps of that kind."""
    role = db.STREAMER if detected_by == "streamer" else db.LOADER
    with psycopg.connect(db.role_url(url, role)) as conn:
        conn.execute(RECORD, (start, end, reason, detected_by, healed, detail, *ids))


def row(conn: psycopg.Connection, start: datetime = T) -> tuple:
    """The gap row of BTCUSDT starting at start."""
    return conn.execute(
        f"select {COLUMNS} from market.ingest_gaps where symbol = 'BTCUSDT' and gap_start = %s",
        (start,),
    ).fetchone()


def test_it_runs_as_its_caller_and_only_the_gap_writers_may_call_it(
    conn: psycopg.Connection,
) -> None:
    """SECURITY INVOKER, executable by the two roles that write market.ingest_gaps and by no
    other (PUBLIC's default EXECUTE is revoked)."""
    definer, may = function_rights(conn, SIGNATURE)
    assert definer is False
    assert may == {db.STREAMER: True, db.LOADER: True, db.BUILDER: False, db.READER: False}


def test_a_streamer_gap_healed_by_heal_gaps_keeps_the_streamers_reason(
    database_url: str, conn: psycopg.Connection
) -> None:
    """heal-gaps settles a span over a gap the streamer recorded: healed by heal-gaps, the span
    widened, the streamer's reason, detected_by and trade ids kept, heal-gaps' detail."""
    record(database_url, T + 3 * MIN, "trade_id_jump", "streamer", False, "seen", (10, 20))
    record(database_url, T + 5 * MIN, "missing_in_series", "heal-gaps", True, "5 fetched")
    assert row(conn) == (
        T + 5 * MIN, "trade_id_jump", "streamer", True, "heal-gaps", 10, 20, "5 fetched"
    )  # fmt: skip


def test_a_halt_keeps_its_own_span_and_reason_over_a_streamer_gap(
    database_url: str, conn: psycopg.Connection
) -> None:
    """REST proved the first four minutes of a ten-minute streamer gap a halt: the row is that
    halt, settled, whoever (heal-gaps or an import) proved it."""
    for writer in ("heal-gaps", "import"):
        conn.execute("delete from market.ingest_gaps")
        record(database_url, T + 10 * MIN, "trade_id_jump", "streamer", False, "seen", (10, 20))
        record(database_url, T + 4 * MIN, HALT_REASON, writer, True, "no kline")
        assert row(conn) == (
            T + 4 * MIN, HALT_REASON, "streamer", True, writer, 10, 20, "no kline"
        ), writer  # fmt: skip


def test_the_streamer_reopens_a_healed_gap_and_makes_it_its_own(
    database_url: str, conn: psycopg.Connection
) -> None:
    """The streamer sees minutes missing again in a span heal-gaps settled: the row is open,
    the streamer's reason and detection, and no narrower than before."""
    record(database_url, T + 2 * MIN, "missing_in_series", "heal-gaps", True, "fetched")
    detected = conn.execute("select detected_at from market.ingest_gaps").fetchone()[0]
    record(database_url, T + MIN, "trade_id_jump", "streamer", False, "seen again", (5, 6))
    assert row(conn) == (
        T + 2 * MIN, "trade_id_jump", "streamer", False, None, 5, 6, "seen again"
    )  # fmt: skip
    assert conn.execute("select detected_at from market.ingest_gaps").fetchone()[0] > detected


def test_two_streamer_gaps_of_one_start_widen_the_row(
    database_url: str, conn: psycopg.Connection
) -> None:
    """Two gaps starting in the same minute: the row covers both spans and both trade-id
    ranges (a null id takes the other's)."""
    record(database_url, T + MIN, "trade_id_jump", "streamer", False, "a", (None, 12))
    record(database_url, T + 3 * MIN, "trade_id_jump", "streamer", False, "b", (8, 11))
    assert row(conn) == (T + 3 * MIN, "trade_id_jump", "streamer", False, None, 8, 12, "b")
    record(database_url, T + 2 * MIN, "sequence_gap", "streamer", False, "c", (9, 13))
    assert row(conn) == (T + 3 * MIN, "sequence_gap", "streamer", False, None, 8, 13, "c")


def test_heal_gaps_rewrites_its_own_reason_and_no_other_writers(
    database_url: str, conn: psycopg.Connection
) -> None:
    """heal-gaps' second record of a span it recorded takes its new reason; a halt an import
    recorded keeps its reason under heal-gaps' missing_in_series, the span widened."""
    record(database_url, T + 2 * MIN, HALT_REASON, "heal-gaps", True, "no kline")
    record(database_url, T + 3 * MIN, "missing_in_series", "heal-gaps", True, "fetched")
    assert row(conn)[:5] == (T + 3 * MIN, "missing_in_series", "heal-gaps", True, "heal-gaps")
    later = T + 10 * MIN
    record(database_url, later + 2 * MIN, HALT_REASON, "import", True, "no kline", start=later)
    record(database_url, later + 3 * MIN, "missing_in_series", "heal-gaps", True, "x", start=later)
    assert row(conn, later)[:5] == (later + 3 * MIN, HALT_REASON, "import", True, "heal-gaps")


def test_unproven_minutes_change_no_settled_row(
    database_url: str, conn: psycopg.Connection
) -> None:
    """An import's idle minutes REST could not prove: a new row is open for heal-gaps; over a
    row already recorded only the span widens and the detail is new, its reason and healed
    state stay."""
    record(database_url, T + 2 * MIN, "unproven_idle", "import", None, "offline")
    assert row(conn) == (T + 2 * MIN, "unproven_idle", "import", False, None, None, None, "offline")
    record(database_url, T + 2 * MIN, HALT_REASON, "import", True, "no kline")
    record(database_url, T + 3 * MIN, "unproven_idle", "import", None, "offline again")
    assert row(conn) == (
        T + 3 * MIN, HALT_REASON, "import", True, "import", None, None, "offline again"
    )  # fmt: skip


def test_a_halt_the_streamer_saw_widens_like_any_of_its_gaps(
    database_url: str, conn: psycopg.Connection
) -> None:
    """A halt exchangeInfo shows is the streamer's, unconfirmed: it is open and widens the row
    of the same start (a restart's span, say) instead of cutting it to its own span."""
    record(database_url, T + 10 * MIN, "restart", "streamer", False, "down")
    record(database_url, T + 3 * MIN, HALT_REASON, "streamer", False, "exchangeInfo: HALT")
    assert row(conn) == (
        T + 10 * MIN, HALT_REASON, "streamer", False, None, None, None, "exchangeInfo: HALT"
    )  # fmt: skip


def test_a_reconnect_during_a_halt_leaves_it_a_halt(
    database_url: str, conn: psycopg.Connection
) -> None:
    """The streamer saw ETHUSDT halted from T (exchangeInfo), then its connection dropped: the
    gap it records from the symbol's first minute not closed, T again, leaves the row a halt,
    widened (on the old rule it became a silence gap: data_quality's freshness and continuity
    lost the halt that explained them, tests/streamer/test_halt_quality.py)."""
    record(database_url, T + 3 * MIN, HALT_REASON, "streamer", False, "exchangeInfo: HALT")
    record(database_url, T + 5 * MIN, "silence", "streamer", False, "no frame", (7, 8))
    assert row(conn) == (T + 5 * MIN, HALT_REASON, "streamer", False, None, 7, 8, "no frame")
    # Settled by heal-gaps, then a restart from the same minute: open again, still a halt.
    record(database_url, T + 5 * MIN, HALT_REASON, "heal-gaps", True, "no kline")
    record(database_url, T + 6 * MIN, "restart", "streamer", False, "down")
    assert row(conn)[:5] == (T + 6 * MIN, HALT_REASON, "streamer", False, None)


def test_every_writer_of_gaps_records_through_the_function(
    database_url: str, conn: psycopg.Connection
) -> None:
    """The streamer's statement, heal-gaps' and a dump import's each call market.record_gap (a
    spy in its place sees them), as their own roles, and leave the rows of its rule."""
    conn.execute(f"alter function {SIGNATURE} rename to record_gap_real")
    conn.execute("create table public.record_gap_calls (detected_by text, healed boolean)")
    conn.execute("grant insert on public.record_gap_calls to public")
    conn.execute(
        "create function market.record_gap(symbol text, gap_start timestamptz, "
        "gap_end timestamptz, reason text, detected_by text, healed boolean, "
        "detail text default null, first_missing_trade_id bigint default null, "
        "last_missing_trade_id bigint default null) returns void language sql as $$ "
        "insert into public.record_gap_calls values (detected_by, healed); "
        "select market.record_gap_real(symbol, gap_start, gap_end, reason, detected_by, healed, "
        "detail, first_missing_trade_id, last_missing_trade_id) $$"
    )
    start_ms = to_ms(T)
    gap = Gap("BTCUSDT", "trade_id_jump", 9, 21, 10, 20, start_ms + 5, start_ms + 9 * 60_000)
    statement, params = GapOp("record", gap, detail="seen").execute_args()
    with psycopg.connect(db.role_url(database_url, db.STREAMER)) as streamer:
        streamer.execute(statement, params)
    with psycopg.connect(db.role_url(database_url, db.LOADER)) as loader:
        # heal-gaps settles the gap's first half as a halt, an import its second as one.
        heal.record(loader, "BTCUSDT", heal.Span(start_ms, start_ms + 4 * 60_000), "halt", "h")
        proof = idle_proof.IdleProof(
            halted=[(start_ms + 6 * 60_000, start_ms + 8 * 60_000)],
            unproven=[(start_ms + 12 * 60_000, start_ms + 13 * 60_000)],
            error="offline",
        )
        idle_proof.record(loader, "BTCUSDT", proof, "day.zip")
    calls = conn.execute("select detected_by, healed from public.record_gap_calls").fetchall()
    assert calls == [("streamer", False), ("heal-gaps", True), ("import", True), ("import", None)]
    got = conn.execute(
        "select gap_start, gap_end, reason, detected_by, healed_by from market.ingest_gaps "
        "order by gap_start"
    ).fetchall()
    assert got == [
        (T, T + 4 * MIN, HALT_REASON, "streamer", "heal-gaps"),
        (T + 6 * MIN, T + 8 * MIN, HALT_REASON, "import", "import"),
        (T + 12 * MIN, T + 13 * MIN, "unproven_idle", "import", None),
    ]
