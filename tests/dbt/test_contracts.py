"""dbt owns the marts' columns, keys, invariants and grants (docs/quality.md).

These are the invariants the Great Expectations suites used to restate on analytics.candles_<tf>:
each one a user could break must fail the build or the dbt tests, naming the mart.
"""

from __future__ import annotations

import psycopg
import pytest

from include.platform import db
from include.timeframes import TimeframeBuildError, build_timeframes, run_dbt
from tests.support.db import CANDLE_COLUMN_TYPES
from tests.support.dbt import MARTS, load_klines

# DESIGN.md's candle columns, in every candle table.
DESIGN_COLUMNS = CANDLE_COLUMN_TYPES
HOUR = "2024-12-30 05:00+00"


def columns(conn: psycopg.Connection, table: str) -> dict[str, tuple[str, str]]:
    """{column: (data type, is_nullable)} of an analytics table."""
    rows = conn.execute(
        "select column_name, data_type, is_nullable from information_schema.columns "
        "where table_schema = 'analytics' and table_name = %s",
        (table,),
    ).fetchall()
    return {name: (kind, nullable) for name, kind, nullable in rows}


@pytest.fixture
def built(database_url: str, conn: psycopg.Connection, window_klines) -> str:
    """A database whose marts dbt built from a day of BTCUSDT klines."""
    load_klines(conn, "BTCUSDT", window_klines["BTCUSDT"][:1440])
    build_timeframes(database_url, unit_tests=False)
    return database_url


@pytest.mark.slow
def test_marts_are_created_from_their_contract_with_grants(built: str, conn) -> None:
    """Every mart has DESIGN.md's columns and types, a not-null key, its month partitions, and
    the grants dbt declares: the reader and reconcile's role can read it, nobody else's grant
    is needed. candles_1m is a view over the market tables (whose keys are not null). Every
    partition the build filled has the planner's statistics: autovacuum would come late, or
    never for a small one, and queries would plan on guesses meanwhile."""
    for tf in MARTS:
        table = f"candles_{tf}"
        found = columns(conn, table)
        assert {c: found[c][0] for c in DESIGN_COLUMNS} == DESIGN_COLUMNS, tf
        kind = conn.execute(
            "select relkind from pg_class where oid = %s::regclass", (f"analytics.{table}",)
        ).fetchone()
        if tf == "1m":
            assert kind == ("v",)
        else:
            assert kind == ("p",), tf
            assert found["symbol"][1] == found["open_time"][1] == "NO", tf
        granted = conn.execute(
            "select grantee from information_schema.role_table_grants "
            "where table_schema = 'analytics' and table_name = %s and privilege_type = 'SELECT'",
            (table,),
        ).fetchall()
        assert {db.READER, "history_loader"} <= {g for (g,) in granted}, tf
    with pytest.raises(psycopg.errors.NotNullViolation):
        conn.execute(
            "insert into analytics.candles_1h (symbol, open_time) values (null, %s)", (HOUR,)
        )
    partitions = [
        name
        for (name,) in conn.execute(
            "select c.relname from pg_class as c join pg_namespace as n on n.oid = c.relnamespace "
            "where n.nspname = 'analytics' and c.relkind = 'r'"
        ).fetchall()
    ]
    filled = [
        name
        for name in partitions
        if conn.execute(f"select exists (select from analytics.{name})").fetchone()[0]
    ]
    assert len(filled) >= len(MARTS) - 1
    without = [
        name
        for name in filled
        if not conn.execute(
            "select exists (select from pg_stats where schemaname = 'analytics' "
            "and tablename = %s and attname = 'open_time')",
            (name,),
        ).fetchone()[0]
    ]
    assert without == []


@pytest.mark.parametrize(
    "change",
    ["alter column volume type double precision", "drop column taker_buy_quote_volume"],
)
@pytest.mark.slow
def test_a_mart_changed_against_its_contract_fails_the_build(
    built: str, conn, window_klines, change: str
) -> None:
    """A DESIGN column retyped or dropped in a mart fails the next build, which names the mart;
    nothing is written to it."""
    conn.execute(f"alter table analytics.candles_4h {change}")
    load_klines(conn, "BTCUSDT", window_klines["BTCUSDT"][1440:1500])
    before = conn.execute("select count(*) from analytics.candles_4h").fetchone()

    with pytest.raises(TimeframeBuildError, match="candles_4h") as failure:
        build_timeframes(built, unit_tests=False)

    assert "out of sync" in str(failure.value)
    assert conn.execute("select count(*) from analytics.candles_4h").fetchone() == before


# Each defect breaks one invariant GX used to restate on the marts; the dbt test that owns it.
DEFECTS = [
    ("set high = low - 1", "candle_invariants_candles_1h"),
    ("set open = high + 1", "candle_invariants_candles_1h"),
    ("set low = 0", "candle_invariants_candles_1h"),
    ("set volume = -1, taker_buy_volume = -1", "candle_invariants_candles_1h"),
    ("set taker_buy_quote_volume = quote_volume + 1", "candle_invariants_candles_1h"),
    ("set trade_count = -1", "candle_invariants_candles_1h"),
    ("set close = null", "candle_invariants_candles_1h"),
]


@pytest.mark.slow
def test_a_mart_row_breaking_an_invariant_fails_the_dbt_tests(built: str, conn) -> None:
    """An impossible 1h candle, or a second copy of one, fails the mart's dbt tests by name;
    the untouched mart passes them."""
    assert run_dbt(["test", "--select", "candles_1h"], built).ok
    for change, test in DEFECTS:
        with conn.transaction():
            original = conn.execute(
                "select * from analytics.candles_1h where symbol = 'BTCUSDT' and open_time = %s",
                (HOUR,),
            ).fetchone()
            conn.execute(
                f"update analytics.candles_1h {change} where symbol = 'BTCUSDT' and open_time = %s",
                (HOUR,),
            )
        result = run_dbt(["test", "--select", "candles_1h"], built)
        assert not result.ok, change
        assert test in result.reason(), (change, result.reason())
        with conn.transaction():
            conn.execute(
                "delete from analytics.candles_1h where symbol = 'BTCUSDT' and open_time = %s",
                (HOUR,),
            )
            conn.execute(
                "insert into analytics.candles_1h values ("
                + ", ".join(["%s"] * len(original))
                + ")",
                original,
            )

    # dbt gives the mart a unique index; a table without it is how duplicates get in.
    for (index,) in conn.execute(
        "select indexname from pg_indexes where schemaname = 'analytics' "
        "and tablename = 'candles_1h' and indexdef like '%UNIQUE%'"
    ).fetchall():
        conn.execute(f'drop index analytics."{index}"')
    conn.execute(
        "insert into analytics.candles_1h select * from analytics.candles_1h "
        "where symbol = 'BTCUSDT' and open_time = %s",
        (HOUR,),
    )
    # Two results: the missing index, and the key that occurs twice. The recent rows are
    # counted by a look-up of each key up to unique_key_look_up_at_most, by one join above it
    # (a full refresh's): both name the key.
    for look_up_at_most in (500000, 0):
        result = run_dbt(
            [
                "test",
                "--select",
                "candles_1h",
                "--vars",
                f"{{unique_key_look_up_at_most: {look_up_at_most}}}",
            ],
            built,
        )
        assert not result.ok
        assert "unique_key_enforced_candles_1h" in result.reason()
        assert "Got 2 results" in result.reason(), (look_up_at_most, result.reason())
