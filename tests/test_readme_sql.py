"""The README's example SQL and backup commands, run as written against a real database: a day
of history, live minutes, a recorded gap and a live minute that disagrees with Binance."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
import yaml

from include.timeframes import build_timeframes
from tests.support.gaps import punch_hole
from tests.support.paths import PROJECT_ROOT

QUERYING = (PROJECT_ROOT / "docs" / "querying.md").read_text()
OPERATIONS = (PROJECT_ROOT / "docs" / "operations.md").read_text()
SYMBOLS = {"BTCUSDT": 93000, "ETHUSDT": 3000}
HOUR = timedelta(hours=1)

# A day and two hours of official minutes ending 5 minutes ago; every field consistent
# (VWAP p + 0.5 inside [low, high], half the volume bought by takers).
HISTORY = """
insert into market.klines_1m (symbol, open_time, open, high, low, close, volume, quote_volume,
    trade_count, taker_buy_volume, taker_buy_quote_volume, source)
select symbol, t, p, p + 2, p - 1, p + 1, 2, 2 * (p + 0.5), 4, 1, p + 0.5, 'rest'
from (
    select symbol, t, base + (extract(epoch from t) / 60)::bigint %% 17 as p
    from (values ('BTCUSDT', 93000), ('ETHUSDT', 3000)) as s (symbol, base)
    cross join generate_series(%(end)s - interval '26 hours', %(end)s - interval '1 minute',
        interval '1 minute') as t
) as minutes
"""
# Closed live candles: equal to the official ones where those exist, then five newer minutes.
LIVE = """
insert into market.candles_1m_live (symbol, open_time, open, high, low, close, volume,
    quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume, is_closed)
select symbol, t, p, p + 2, p - 1, p + 1, 2, 2 * (p + 0.5), 4, 1, p + 0.5, true
from (
    select symbol, t, base + (extract(epoch from t) / 60)::bigint %% 17 as p
    from (values ('BTCUSDT', 93000), ('ETHUSDT', 3000)) as s (symbol, base)
    cross join generate_series(%(end)s - interval '10 minutes', %(end)s + interval '4 minutes',
        interval '1 minute') as t
) as minutes
"""


def sql_blocks(page: str) -> list[str]:
    """The ```sql blocks of one docs page, in order."""
    return re.findall(r"```sql\n(.*?)```", page, re.S)


@pytest.fixture
def loaded(database_url: str, conn: psycopg.Connection) -> dict[str, object]:
    """The database the queries run on, built by dbt; what was put in it."""
    end = conn.execute("select date_trunc('minute', now()) - interval '5 minutes'").fetchone()[0]
    conn.execute(HISTORY, {"end": end})
    hole = end - timedelta(hours=2)
    punch_hole(conn, hole, 3, "missing_in_series", "heal-gaps")
    conn.execute(LIVE, {"end": end})
    differing = end - timedelta(minutes=3)
    conn.execute(
        "update market.candles_1m_live set volume = volume + 1, trade_count = trade_count + 1 "
        "where symbol = 'BTCUSDT' and open_time = %s",
        (differing,),
    )
    build_timeframes(database_url, unit_tests=False)
    return {"end": end, "hole": hole, "url": database_url}


@pytest.mark.slow
def test_readme_queries_answer_what_they_say(
    loaded: dict[str, object], conn: psycopg.Connection
) -> None:
    """Latest candles, VWAP per hour, gaps and holes in the last day, live against official:
    each block runs as written and returns what its sentence promises."""
    latest, vwap, gaps, holes, live_vs_official = sql_blocks(QUERYING)
    end, hole = loaded["end"], loaded["hole"]

    rows = conn.execute(latest).fetchall()
    newest = end + timedelta(minutes=4)
    assert {(r[0], r[1], r[8]) for r in rows} == {(s, newest, "live_closed") for s in SYMBOLS}

    # Every hour from a day before the query's now() to the newest minute's (one transaction,
    # one now()): 24 or 25, fewer once the build has run past the next hour.
    with conn.transaction():
        day_ago = conn.execute("select now() - interval '1 day'").fetchone()[0]
        rows = conn.execute(vwap).fetchall()
    first_hour = day_ago.replace(minute=0, second=0, microsecond=0)
    if first_hour < day_ago:
        first_hour += timedelta(hours=1)
    newest_hour = newest.replace(minute=0)
    assert [r[0] for r in rows] == [
        first_hour + timedelta(hours=h) for h in range((newest_hour - first_hour) // HOUR + 1)
    ]
    for hour, price, volume, _trades, complete in rows:
        minutes = conn.execute(
            "select quote_volume, volume from analytics.candles_1m "
            "where symbol = 'BTCUSDT' and open_time >= %s and open_time < %s",
            (hour, hour + timedelta(hours=1)),
        ).fetchall()
        quote = sum(m[0] for m in minutes)
        assert volume == sum(m[1] for m in minutes)
        assert price == round(quote / volume, 8)
        assert complete == (len(minutes) == 60)
    assert not all(r[4] for r in rows), "the hour with the hole is incomplete"

    rows = conn.execute(gaps).fetchall()
    assert [(r[0], r[1], r[3], r[4], r[5]) for r in rows] == [
        ("BTCUSDT", hole, timedelta(minutes=3), "missing_in_series", None)
    ]

    rows = conn.execute(holes).fetchall()
    assert rows == [("BTCUSDT", hole + timedelta(minutes=m)) for m in range(3)]

    rows = conn.execute(live_vs_official).fetchall()
    assert rows == [("BTCUSDT", 10, 1), ("ETHUSDT", 10, 0)]


@pytest.mark.slow
def test_readme_backup_restores_the_database(
    loaded: dict[str, object], conn: psycopg.Connection, tmp_path: Path
) -> None:
    """The backup lines for `make run` dump the database and restore it in place: the same rows
    afterwards."""
    start = OPERATIONS.index("## Backups\n")
    block = re.search(r"```sh\n(.*?)```", OPERATIONS[start:], re.S).group(1)
    assert "pg_dump" in block
    assert "pg_restore" in block

    def counts() -> dict[str, int]:
        tables = ("market.klines_1m", "market.candles_1m_live", "market.ingest_gaps")
        tables += ("analytics.candles_1m", "analytics.candles_1h")
        return {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in tables}

    def run(*lines: str) -> None:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", "\n".join(lines)],
            cwd=tmp_path,
            env={
                **os.environ,
                "PATH": f"{PROJECT_ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
                "PYTHONPATH": str(PROJECT_ROOT),
                "DATABASE_URL": loaded["url"],
            },
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]

    pgbin, dump, *restore = block.strip().splitlines()
    before = counts()
    run(pgbin, dump)
    assert (tmp_path / "binance.dump").stat().st_size > 10_000
    # What the dump holds comes back: a deleted gap and a dropped mart.
    conn.execute("delete from market.ingest_gaps")
    conn.execute("drop table analytics.candles_1h")
    run(pgbin, *restore)
    assert counts() == before


def test_every_alert_is_explained_in_operations() -> None:
    """The Operations table has one row per Prometheus alert rule, in the rules' severity."""
    groups = yaml.safe_load((PROJECT_ROOT / "docker/prometheus/alerts.yml").read_text())["groups"]
    rules = {r["alert"]: r["labels"]["severity"] for g in groups for r in g["rules"]}
    start = OPERATIONS.index("## What each alert means and what to do\n")
    end = OPERATIONS.index("\n## ", start + 1)
    rows = re.findall(r"^\| `(\w+)` \| (\w+) \| (.+?) \| (.+?) \|$", OPERATIONS[start:end], re.M)
    assert {name: severity for name, severity, _, _ in rows} == rules
    for name, _, means, todo in rows:
        assert len(means) > 30, name
        assert len(todo) > 30, name


def test_every_example_query_is_tested() -> None:
    """No ```sql block in the README or the docs escapes the run above."""
    pages = [PROJECT_ROOT / "README.md", *(PROJECT_ROOT / "docs").glob("*.md")]
    assert (
        sum(len(re.findall(r"```sql\n", p.read_text())) for p in pages)
        == len(sql_blocks(QUERYING))
        == 5
    )
