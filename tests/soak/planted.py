"""Faults planted in data that has settled, to prove the quality checks see what they check.

After the books close (every minute healed, built and checked green), the soak changes three
things by hand, one per check that owns them: a wrong 1h candle (cross_timeframe on the 1h
mart), a minute missing inside a closed hour (continuity of analytics.candles_1m), and a closed
live minute that differs from its kline (live_reconciliation). The next data_quality run over
the live window must fail naming each; after the repair (the 1h bucket declared dirty and
rebuilt, heal-gaps fetching the minute back, the live row as the streamer wrote it) the next
run must pass, and both must have compared candles of the live window.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg

from include import timeframes
from tests.soak.harness import DagRun, Fault, Platform, Soak, now_utc, wait_for

SYMBOL = "BTCUSDT"
HOUR = timedelta(hours=1)
# The checks a planted fault must fail: (check, table) as the quality report names them.
WRONG_1H = ("cross_timeframe", "analytics.candles_1h")
MISSING_MINUTE = ("continuity_minutes", "analytics.candles_1m")
LIVE_DIFFERS = ("live_reconciliation", "market.candles_1m_live")
# The candle tables whose checks must compare rows of the live window: not the marts whose
# buckets are about as long as the window's few hours or longer (no candle of theirs need lie
# inside it), nor the bookkeeping tables (gaps, reconciliations) the window may not touch.
CANDLE_TABLES = (
    "market.candles_1m_live",
    "market.klines_1m",
    "analytics.candles_1m",
    "analytics.candles_5m",
    "analytics.candles_15m",
    "analytics.candles_1h",
)


@dataclass
class Planted:
    """Where the faults are, what the live row held, and what the two runs reported."""

    window: tuple[datetime, datetime]
    wrong_hour: datetime
    missing_minute: datetime
    live_minute: datetime | None = None
    live_row: tuple = ()
    failed: dict[tuple[str, str], str] = field(default_factory=dict)
    red_counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    green_counts: dict[str, tuple[int, int]] = field(default_factory=dict)


def choose(start: datetime, end: datetime) -> Planted:
    """A closed hour and a minute of another one in the live window [start, end); the live
    minute is chosen by plant()."""
    first = start.replace(minute=0, second=0, microsecond=0) + HOUR
    hours = []
    while first + HOUR <= end:
        hours.append(first)
        first += HOUR
    assert len(hours) >= 2, f"the live window {start}..{end} holds fewer than two closed hours"
    return Planted(
        window=(start, end), wrong_hour=hours[0], missing_minute=hours[-1] + timedelta(minutes=17)
    )


def plant(p: Platform, soak: Soak, planted: Planted) -> None:
    """Change the settled data by hand, as the administrator, in one transaction."""
    with psycopg.connect(p.db.url("binance")) as conn:
        changed = conn.execute(
            "update analytics.candles_1h set high = high + 1 where symbol = %s and open_time = %s",
            (SYMBOL, planted.wrong_hour),
        ).rowcount
        assert changed == 1, f"no 1h candle of {SYMBOL} at {planted.wrong_hour}"
        # The streamer's minute, and its kline if heal-gaps or a backfill wrote one: gone from
        # analytics.candles_1m, the view over both.
        for table in ("market.klines_1m", "market.candles_1m_live"):
            conn.execute(
                f"delete from {table} where symbol = %s and open_time = %s",
                (SYMBOL, planted.missing_minute),
            )
        left = conn.execute(
            "select count(*) from analytics.candles_1m where symbol = %s and open_time = %s",
            (SYMBOL, planted.missing_minute),
        ).fetchone()
        assert left == (0,), f"{SYMBOL} {planted.missing_minute} still in analytics.candles_1m"
        # live_reconciliation compares the live minutes that have a kline: in the live window,
        # those heal-gaps or the closing backfill wrote. The newest such closed minute (the
        # closing backfill's), away from the other two faults.
        row = conn.execute(
            "select open_time, trade_count, updated_at from market.candles_1m_live as l "
            "where symbol = %s and open_time >= %s and open_time < %s and open_time <> %s "
            "and not (open_time >= %s and open_time < %s) "
            "and is_closed and exists (select from market.klines_1m as k "
            "where k.symbol = l.symbol and k.open_time = l.open_time) "
            "order by open_time desc limit 1",
            (
                SYMBOL,
                planted.window[0],
                planted.window[1],
                planted.missing_minute,
                planted.wrong_hour,
                planted.wrong_hour + HOUR,
            ),
        ).fetchone()
        assert row is not None, f"no closed live minute of {SYMBOL} with a kline in the window"
        planted.live_minute, *rest = row
        planted.live_row = tuple(rest)
        # One trade more than Binance counted; updated_at kept: the row was not rewritten.
        conn.execute(
            "update market.candles_1m_live set trade_count = trade_count + 1 "
            "where symbol = %s and open_time = %s",
            (SYMBOL, planted.live_minute),
        )
    soak.faults.append(Fault(PLANTED, now_utc(), dags=frozenset({"data_quality"})))
    soak.note(
        f"planted: {SYMBOL} 1h candle {planted.wrong_hour:%H:%M} high + 1, minute "
        f"{planted.missing_minute:%H:%M} deleted, live minute {planted.live_minute:%H:%M} "
        "trade_count + 1"
    )


PLANTED = "planted faults (1h candle, missing minute, live minute)"


def repair(p: Platform, soak: Soak, planted: Planted) -> None:
    """What an operator does: declare the 1h bucket changed, heal the missing minute from
    Binance, put the live row back; then one build rebuilds what they touched."""
    with psycopg.connect(p.db.url("binance")) as conn:
        timeframes.mark_dirty(
            conn, SYMBOL, planted.wrong_hour, planted.wrong_hour + HOUR, "soak: planted"
        )
        # The live table is the streamer's alone and no job rewrites a row of it: the row goes
        # back to what the streamer wrote.
        trade_count, updated_at = planted.live_row
        conn.execute(
            "update market.candles_1m_live set trade_count = %s, updated_at = %s "
            "where symbol = %s and open_time = %s",
            (trade_count, updated_at, SYMBOL, planted.live_minute),
        )
    heal = run(p, soak, "binance_heal_gaps", {"symbols": [SYMBOL], "full": True}, 600)
    assert heal.state == "success", p.airflow.failed_tasks(heal.dag_id, heal.run_id)
    healed = p.db.query(
        "select count(*) from market.klines_1m where symbol = %s and open_time = %s",
        (SYMBOL, planted.missing_minute),
    )
    assert healed == [(1,)], f"heal-gaps did not fetch {planted.missing_minute} back"
    # A build started after the heal ended reads the bucket declared dirty and the minute
    # healed: the one the heal's Asset triggered counts.
    repaired = heal.end or now_utc()

    def built() -> bool:
        return any(
            state == "success" and start > repaired
            for _, state, start, _ in p.airflow.task_runs("build_timeframes", "dbt_build")
        )

    soak.triggered.append(("build_timeframes", p.airflow.trigger("build_timeframes")))
    wait_for("a dbt build after the repair", built, timeout=900, interval=3)
    # Asset-triggered checks of the builds while the faults stood may fail; none after this.
    fault = next(f for f in soak.faults if f.name == PLANTED)
    fault.end = now_utc()
    soak.note("planted faults repaired: bucket rebuilt, minute healed, live row restored")


def run(p: Platform, soak: Soak, dag_id: str, conf: dict, timeout: float) -> DagRun:
    run_id = p.airflow.trigger(dag_id, conf)
    soak.triggered.append((dag_id, run_id))
    done = p.airflow.wait_run(dag_id, run_id, timeout)
    soak.note(f"{dag_id} {run_id}: {done.state}")
    return done


def check_window(p: Platform, soak: Soak, start: datetime, end: datetime) -> DagRun:
    conf = {"start": start.isoformat(), "end": end.isoformat()}
    return run(p, soak, "data_quality", conf, 900)


def report_lines(p: Platform, run: DagRun) -> list[str]:
    """The quality report the check task logged (include.jobs, one event per line)."""
    logs = p.root / "airflow" / "logs" / f"dag_id={run.dag_id}" / f"run_id={run.run_id}"
    lines = []
    for path in sorted(logs.glob("task_id=check/attempt=*.log")):
        for raw in path.read_text(errors="replace").splitlines():
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if event.get("logger") == "include.jobs":
                lines.append(str(event.get("event", "")))
    return lines


def counts_of(lines: list[str]) -> dict[str, tuple[int, int]]:
    """'check table' -> (compared, deferred) from the report's per-table blocks."""
    counts: dict[str, tuple[int, int]] = {}
    table = ""
    for line in lines:
        if line.startswith("  ") and not line.startswith("    ") and ": " in line:
            table = line.strip().split(":", 1)[0]
        elif line.startswith("    ") and line.rstrip().endswith(" deferred") and table:
            name, rest = line.strip().split(": ", 1)
            compared, deferred = (int(part.split()[0]) for part in rest.split(", "))
            counts[f"{name} {table}"] = (compared, deferred)
    return counts


def assert_compared_live(counts: dict[str, Any], label: str) -> None:
    """Every check of a candle table compared rows of the live window."""
    checked = {key.split()[-1] for key in counts}
    assert set(CANDLE_TABLES) <= checked, f"{label}: no counts for {set(CANDLE_TABLES) - checked}"
    idle = [
        key
        for key, (compared, _deferred) in counts.items()
        if key.split()[-1] in CANDLE_TABLES and not compared
    ]
    assert not idle, f"{label}: compared no row of the live window: {idle}; all: {counts}"


def hold_builds(p: Platform, timeout: float = 600) -> None:
    """build_timeframes paused with no build in flight: a build between the plant and its check
    would rebuild the planted 1h candle from its minutes (its 15-minute look-back covers all of
    the soak's market, which ran in the last minutes of wall time), and the check would see
    nothing. A build that slipped in before the pause is let finish first."""

    def held() -> bool:
        p.airflow.set_paused("build_timeframes", True)
        if not p.airflow.tasks_in_flight("build_timeframes", "dbt_build"):
            return True
        p.airflow.set_paused("build_timeframes", False)
        return False

    wait_for("build_timeframes paused with no build in flight", held, timeout, interval=5)


def prove(p: Platform, soak: Soak, start: datetime, end: datetime) -> Planted:
    """Plant, see each fault reported, repair, see the checks green: returns what was seen."""
    planted = choose(start, end)
    hold_builds(p)
    try:
        plant(p, soak, planted)
        red = check_window(p, soak, start, end)
    finally:
        p.airflow.set_paused("build_timeframes", False)
    lines = report_lines(p, red)
    assert red.state == "failed", f"data_quality {red.run_id} {red.state} with faults planted"
    for name, table in (WRONG_1H, MISSING_MINUTE, LIVE_DIFFERS):
        heads = [ln for ln in lines if ln.startswith(f"{name} on {table}:")]
        assert heads, f"{name} on {table} did not report its planted fault:\n" + "\n".join(lines)
        assert SYMBOL in heads[0], heads[0]
        planted.failed[(name, table)] = heads[0]
    soak.planted_runs.add(red.run_id)
    planted.red_counts = counts_of(lines)
    assert_compared_live(planted.red_counts, "the run with faults planted")
    repair(p, soak, planted)
    green = check_window(p, soak, start, end)
    assert green.state == "success", "after the repair: " + "\n".join(report_lines(p, green))
    returned = p.airflow.returned("data_quality", "check")[green.run_id]
    planted.green_counts = {key: tuple(v) for key, v in returned["counts"].items()}
    assert_compared_live(
        {k: v for k, v in planted.green_counts.items() if v[0] is not None}, "after the repair"
    )
    return planted


def describe(planted: Planted) -> list[str]:
    """The summary's lines: each planted fault and the check that caught it, then per check the
    rows the green run compared and deferred."""
    caught = "; ".join(f"{name} on {table}" for name, table in planted.failed)
    counts = ", ".join(
        f"{key.replace(' analytics.candles_', ' ').replace(' market.', ' ')} {c}/{d}"
        for key, (c, d) in planted.green_counts.items()
        if c is not None
    )
    return [
        f"planted faults caught by the next data_quality run: {caught}; green after the repair",
        f"after the repair, rows of the live window compared/deferred per check: {counts}",
    ]
