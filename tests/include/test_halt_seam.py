"""A trading halt across the seams: backfill, heal-gaps, dbt and the quality checks together."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from include.history.backfill import backfill_rest
from include.history.heal import HALT_REASON, heal_gaps
from include.platform.times import parse_utc
from include.quality import Window, run_checks
from include.timeframes import build_timeframes
from tests.include.history_support import HALT, NOW, snapshot

pytestmark = pytest.mark.slow

START = parse_utc("2025-03-11T09:00")
END = parse_utc("2025-03-11T11:00")


def test_halt_is_recorded_exempted_and_reported(
    fake, database_url: str, conn: psycopg.Connection, tmp_path: Path, monkeypatch
) -> None:
    """A halt healed by heal-gaps is a fact: recorded as a halt, never invented, quality green."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    # History up to the fake's present, so the halt is the only hole heal-gaps can find.
    backfill_rest(["HALTUSDT"], START, NOW.replace(second=0), rest_url=fake.url)
    heal_gaps(["HALTUSDT"], rest_url=fake.url, lag_minutes=0)
    halts = conn.execute(
        "select gap_start, gap_end from market.ingest_gaps where reason = %s", (HALT_REASON,)
    ).fetchall()
    halt_start = HALT[0].replace(second=0)
    assert halts == [(halt_start, HALT[1])]

    build_timeframes(database_url, unit_tests=False)
    inside = conn.execute(
        "select count(*) from analytics.candles_1m where symbol = 'HALTUSDT' "
        "and open_time >= %s and open_time < %s",
        (halt_start, HALT[1]),
    ).fetchone()[0]
    assert inside == 0, "no minute is invented inside a halt"

    report = run_checks(
        database_url,
        Window(START, END),
        symbols=["HALTUSDT"],
        expect_live=False,
        gx_root=tmp_path / "gx",
    )
    assert report.success, report.summary()
    [note] = [n for n in report.notes if n.name == "halts"]
    assert note.rows[0]["gap_start"] == halt_start
    assert "halts" in report.summary()

    # A second heal asks nothing more about the halt and changes no row.
    before = snapshot(conn)
    again = heal_gaps(["HALTUSDT"], rest_url=fake.url, lag_minutes=0)
    assert again.unfillable.get("HALTUSDT", 0) == 0
    assert snapshot(conn) == before
