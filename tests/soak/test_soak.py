"""THE PROOF (issue 9, "No minute lost where the jobs meet"): the whole platform soaked at once.

Real parts, each its own process: an embedded PostgreSQL 18 of the soak's own (platform data in
`binance`, Airflow's metadata in `airflow`, as `make run` lays them out), Airflow 3's
api-server, scheduler and dag-processor (LocalExecutor; the api-server is needed because
Airflow 3 runs tasks through its Execution API) with this repo's DAGs unpaused,
`python -m streamer` with SYMBOLS=ALL, and `python -m fakebinance` at an accelerated market
clock (SPEED market seconds per wall second), several symbols: BTCUSDT, ETHUSDT, PEPEUSDT, two
quiet synthetic ones (mostly idle minutes), and NEWUSDT listed during the run.

How the DAG runs cover market time
----------------------------------
Airflow schedules on the wall clock while the market runs SPEED times faster, so the soak does
not wait for cron: it drives the batch side the way an operator would, through Airflow's REST
API, with explicit params, and lets the Asset chain do the rest.

* History: one `binance_backfill_rest` run with params start/end = [yesterday 00:00, market
  start) (UTC). The DAGs' own latest scheduled runs (yesterday's backfill and dump import, last
  week's reconcile, the 5-minute build) also run, as they do when a platform is unpaused; the
  reconcile compares its week from each symbol's first minute held (the bootstrap's), so the
  verified history starts at the bootstrap's first minute.
* Healing: `binance_heal_gaps` is triggered every HEAL_EVERY wall seconds (about an hour of
  market time); each heal that fills something emits the `market.klines_1m` Asset.
* Timeframes and checks: `build_timeframes` runs on its 5-minute schedule and on every Asset
  event; each build emits `analytics.candles`, which triggers `data_quality` (window: the 24
  hours before the market's current minute, read from the live rows: the data's own time, so
  these runs check the live minutes although the market runs ahead of the wall clock). At the
  end the soak triggers `data_quality` with params start/end
  covering everything the platform holds.
* End: the market clock is frozen on a minute boundary F, the streamer gets SIGTERM (flushes,
  exits 0), and one `binance_backfill_rest` run over [F - TAIL, F) closes the books: those last
  minutes are ones neither the streamer (the last minute closes on a later trade that never
  comes) nor heal-gaps (it leaves the newest 5 minutes to the streamer) is meant to finish.
  Then heal-gaps, a build and a final `data_quality` over the whole window.

The market runs ahead of the wall clock: it starts at least 30 minutes in the future (frozen
while the history loads, then at SPEED). The live freshness checks (`data_quality`'s
live_freshness, dbt source freshness of the live table) compare the wall clock's `now()` with
the newest live candle, so a market behind the wall clock would turn every check red for a
reason that is the soak's, not the product's; ahead of it, they hold while the streamer
writes. The streamer decides on the exchange's time (offset to serverTime, re-measured every
wall minute); at SPEED that clock lags the market between measurements, on the safe side:
quiet minutes close a little later, nothing is proven before the market got there.

Faults (tests/soak/faults.py, spread over the window)
-----------------------------------------------------
WebSocket drop; reconnects refused (HTTP 503 for 8 s) and a drop; `python -m streamer`
SIGKILLed mid-minute and restarted; the one PostgreSQL restarted (Airflow 3.3's scheduler and
dag-processor exit on it; the soak restarts dead Airflow parts as scripts/run.sh's supervisor
and docker-compose's restart policy do, and names each restart); a dump whose first issue was
wrong (one minute's trade count), re-issued with a new checksum but first served cut short
(refused, the try fails) and then whole (reloaded, the minute corrected); a 40-minute halt of
ETHUSDT; NEWUSDT listed (announced two minutes before it trades); a 429 storm on the
platform's IP escalated to a 418 ban; PEPEUSDT delisted (its last live minutes, one still open,
become official through heal-gaps). Every run a fault may fail is named.

What it asserts
---------------
* Every minute of every symbol from the first candle of the platform to F is in
  analytics.candles_1m, equal field for field to the fake's official REST klines, and no other
  minute is; every bucket of candles_5m .. candles_1w holding those minutes equals the fake's
  REST kline of that interval (buckets cut by the window's edges: the aggregate of the REST 1m
  klines inside it).
* Halts are recorded in market.ingest_gaps (reason 'halt') and have no candle; no unhealed gap
  remains outside halts.
* Every symbol's streamer closed at least 95% of its live-window minutes from trades itself;
  the minutes its restart copied from REST klines are counted apart, inside its restart gaps.
* Faults planted once the books closed (tests/soak/planted.py: a wrong 1h candle, a minute
  missing inside a closed hour, a live minute that differs from its kline) are each reported by
  the next data_quality run, and the run after the repair is green; both compared rows of the
  live window in every check of a candle table up to 1h.
* The Asset-triggered data_quality runs checked live minutes (their window reached them).
* Every data_quality run after the first full build succeeded, except those over the planted
  faults; any other failed run is one a fault forced (named in the output), nothing else.
* Nothing is left running: every process group the soak started is gone and its ports are free.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import pytest
from psycopg import sql

from tests.soak import faults, planted
from tests.soak.harness import (
    INTERVAL_MS,
    KLINE_FIELDS,
    MINUTE_MS,
    DagRun,
    Fault,
    Platform,
    Soak,
    aggregate,
    bucket_start,
    ms_utc,
    now_utc,
    platform,
    port_is_free,
    rest_fields,
    span,
    utc_ms,
    wait_for,
)
from tests.support.soak import SUMMARY_KEY

logger = logging.getLogger(__name__)
T = TypeVar("T")

pytestmark = [pytest.mark.slow, pytest.mark.soak, pytest.mark.timeout(45 * 60)]

SPEED = 36.0
# Market hours covered after the start (6 hours take 10 wall minutes at 36x).
# Wall seconds of the fault window (the market runs from the start: about 6.5 hours in all).
WINDOW_SECONDS = float(os.environ.get("SOAK_WINDOW_SECONDS", "420"))
SYMBOLS = "BTCUSDT,ETHUSDT,PEPEUSDT"
# Two quiet synthetic symbols (SYM0001USDT, SYM0002USDT): mostly idle minutes.
FAKE_ARGS = ["--n-symbols", "2", "--trades-per-minute", "0.3"]
HEAL_EVERY = 100.0
TAIL = timedelta(minutes=10)
TIMEFRAMES = ("1m", "5m", "15m", "1h", "4h", "1d", "1w")
DAG_IDS = {
    "binance_backfill_rest",
    "binance_heal_gaps",
    "binance_import_dumps",
    "build_timeframes",
    "data_quality",
    "reconcile",
}


def market_start_after(wall: datetime) -> datetime:
    """At least 30 minutes ahead of the wall clock, on a 5-minute boundary (see docstring)."""
    ahead = wall + timedelta(minutes=30)
    return ahead.replace(second=0, microsecond=0) + timedelta(minutes=5 - ahead.minute % 5)


def trigger_and_wait(p: Platform, soak: Soak, dag_id: str, conf: dict, timeout: float) -> DagRun:
    run_id = p.airflow.trigger(dag_id, conf)
    soak.triggered.append((dag_id, run_id))
    run = p.airflow.wait_run(dag_id, run_id, timeout)
    soak.note(f"{dag_id} {run_id}: {run.state}")
    return run


# The weekly reconcile is left out: on a fresh install its first run waits out a 5-minute retry
# (analytics did not exist yet), and nothing the soak does depends on it.
PIPELINE = DAG_IDS - {"reconcile"}


def wait_idle(p: Platform, timeout: float, dags: set[str] = PIPELINE) -> None:
    """No run of these DAGs queued or running."""

    def idle() -> bool:
        return not [r for r in p.airflow.active() if r.dag_id in dags]

    wait_for(f"every run of {sorted(dags)} to finish", idle, timeout, interval=3)


def start_platform(p: Platform, soak: Soak) -> None:
    """As `make run` starts it: the streamer, the history bootstrap (the last two days joined to
    the first live minute, then built), Airflow with every DAG unpaused; then the DAGs' own first
    runs, and one heal."""
    p.fake.set_clock(speed=SPEED)
    p.start_streamer()
    soak.note(
        f"market running at {SPEED}x from {soak.market_start:%Y-%m-%d %H:%M} UTC, streamer up"
    )
    done = p.cli("bootstrap", "--days", "2")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    soak.first_build_end = now_utc()
    soak.note("bootstrap: " + (done.stdout.strip().splitlines() or ["done"])[-1][:200])
    airflow = p.start_airflow()
    found = wait_for(
        "the dag-processor to serialize every DAG",
        lambda: (dags := airflow.dags()) and set(dags) >= DAG_IDS and dags,
        timeout=300,
        interval=3,
    )
    assert not any(found[d] for d in DAG_IDS), f"paused DAGs: {found}"
    soak.note(f"Airflow up, DAGs unpaused: {sorted(found)}")
    first_runs = {"binance_backfill_rest", "binance_import_dumps", "reconcile"}
    wait_for(
        f"the first scheduled runs of {sorted(first_runs)}",
        lambda: first_runs <= {r.dag_id for r in airflow.runs()},
        timeout=300,
        interval=3,
    )
    wait_idle(p, 900, DAG_IDS)
    heal = trigger_and_wait(p, soak, "binance_heal_gaps", {}, timeout=600)
    assert heal.state == "success", airflow.failed_tasks(heal.dag_id, heal.run_id)
    soak.note(f"first runs done, history healed; market at {ms_utc(p.fake.now_ms()):%H:%M}")


def run_market(p: Platform, soak: Soak, wall_seconds: float) -> None:
    """Inject the faults over `wall_seconds`; keep healing."""
    steps = faults.timeline(wall_seconds, delist=bool(soak.delisted))
    began = time.monotonic()
    last_heal = began
    # Steps that wait for something (the halt's end, a refused import) may run past the window.
    while (elapsed := time.monotonic() - began) < wall_seconds or not all(s.done for s in steps):
        if elapsed >= wall_seconds + 300:
            waiting = [s.name for s in steps if not s.done]
            raise AssertionError(
                f"steps not done {elapsed:.0f} s into a {wall_seconds:.0f} s window: {waiting}; "
                f"the corrupt import's tasks: {faults.import_tasks(p, soak)}; "
                f"runs triggered: {soak.triggered[-8:]}; schedulers (state, last heartbeat, "
                f"now): {schedulers(p)}; restarts: {p.procs.restarts}"
            )
        for name in ("streamer", "fakebinance"):
            proc = p.procs.current.get(name)
            assert proc is not None, f"{name} is not running"
            assert proc.alive(), f"{name} died:\n{proc.tail()}"
        for step in steps:
            if step.done or elapsed < step.at or (step.ready and not step.ready(p, soak)):
                continue
            step.action(p, soak)
            step.done = True
            break
        if time.monotonic() - last_heal >= HEAL_EVERY and not p.airflow.active("binance_heal_gaps"):
            soak.triggered.append(("binance_heal_gaps", p.airflow.trigger("binance_heal_gaps")))
            last_heal = time.monotonic()
        time.sleep(0.5)


def schedulers(p: Platform) -> list[tuple]:
    """The newest scheduler jobs as Airflow records them: a live one that stopped beating is
    hung (a starved pool shows a fresh heartbeat instead)."""
    return p.db.query(
        "select state, latest_heartbeat, now() from job where job_type = 'SchedulerJob' "
        "order by id desc limit 3",
        database="airflow",
    )


def close_books(p: Platform, soak: Soak) -> datetime:
    """Freeze the market on a minute boundary, stop the streamer, fill the tail, build, check."""
    now_ms = p.fake.now_ms()
    freeze = ms_utc(now_ms - now_ms % MINUTE_MS + 2 * MINUTE_MS)
    p.fake.set_clock(to=freeze, speed=0)
    soak.freeze = freeze
    soak.note(f"market frozen at {freeze:%Y-%m-%d %H:%M} UTC")
    time.sleep(3)
    code = p.procs.stop("streamer", signal.SIGTERM)
    assert code == 0, f"streamer exited {code} on SIGTERM"
    soak.note("streamer stopped by SIGTERM: exit 0")
    # A frozen market trades no more, so the live table stops changing: dbt source freshness
    # goes red two minutes later, as it must when the streamer stops writing.
    soak.faults.append(
        Fault(
            "end of soak: market frozen, streamer stopped",
            now_utc(),
            dags=frozenset({"build_timeframes"}),
        )
    )
    wait_idle(p, 600, {"binance_heal_gaps", "binance_backfill_rest"})
    tail_id = p.airflow.trigger(
        "binance_backfill_rest", {"start": (freeze - TAIL).isoformat(), "end": freeze.isoformat()}
    )
    heal_id = p.airflow.trigger("binance_heal_gaps")
    soak.triggered += [("binance_backfill_rest", tail_id), ("binance_heal_gaps", heal_id)]
    ends = []
    for dag_id, run_id in (("binance_backfill_rest", tail_id), ("binance_heal_gaps", heal_id)):
        run = p.airflow.wait_run(dag_id, run_id, 600)
        soak.note(f"{dag_id} {run_id}: {run.state}")
        assert run.state == "success", p.airflow.failed_tasks(dag_id, run_id)
        ends.append(run.end or now_utc())
    # A build started after both runs ended reads what they wrote: the one their Assets
    # triggered counts (a build started after the soak noticed their end waited behind it).
    filled = max(ends)

    def built() -> bool:
        return any(
            state == "success" and start > filled
            for _, state, start, _ in p.airflow.task_runs("build_timeframes", "dbt_build")
        )

    soak.triggered.append(("build_timeframes", p.airflow.trigger("build_timeframes")))
    wait_for("a dbt build after the last heal", built, timeout=900, interval=3)
    soak.note("timeframes built after the last heal")
    first = first_minute(p)
    check = trigger_and_wait(
        p, soak, "data_quality", {"start": first.isoformat(), "end": freeze.isoformat()}, 900
    )
    assert check.state == "success", p.airflow.failed_tasks(check.dag_id, check.run_id)
    return freeze


def first_minute(p: Platform) -> datetime:
    return p.db.query("select min(open_time) from analytics.candles_1m")[0][0]


# --------------------------------------------------------------------------- verification
def symbols_of(p: Platform) -> list[str]:
    info = p.fake.exchange_info()
    return sorted(s["symbol"] for s in info["symbols"])


def analytics_rows(p: Platform, tf: str, symbol: str, start_ms: int, end_ms: int) -> dict:
    return table_rows(p, ("analytics", f"candles_{tf}"), symbol, start_ms, end_ms)


def table_rows(
    p: Platform, table: tuple[str, str], symbol: str, start_ms: int, end_ms: int, where: str = ""
) -> dict:
    """{open_ms: fields} of a candle table's rows of [start, end) (and ``where``)."""
    query = sql.SQL(
        "select open_time, {fields} from {table} "
        "where symbol = %s and open_time >= %s and open_time < %s {where} order by open_time"
    ).format(
        fields=sql.SQL(", ").join(map(sql.Identifier, KLINE_FIELDS)),
        table=sql.Identifier(*table),
        where=sql.SQL(where),
    )
    rows = p.db.query(query, (symbol, ms_utc(start_ms), ms_utc(end_ms)))
    return {
        utc_ms(r[0]): {k: Decimal(str(v)) for k, v in zip(KLINE_FIELDS, r[1:], strict=True)}
        for r in rows
    }


def diff(expected: dict, actual: dict, label: str, problems: list[str], limit: int = 5) -> None:
    """Missing, invented and differing rows between two {open_ms: fields} maps."""
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    wrong = [
        (ms, [k for k in KLINE_FIELDS if expected[ms][k] != actual[ms][k]])
        for ms in sorted(set(expected) & set(actual))
        if expected[ms] != actual[ms]
    ]
    if missing:
        problems.append(
            f"{label}: {len(missing)} missing, e.g. "
            + ", ".join(f"{ms_utc(m):%m-%d %H:%M}" for m in missing[:limit])
        )
    if extra:
        problems.append(
            f"{label}: {len(extra)} invented, e.g. "
            + ", ".join(f"{ms_utc(m):%m-%d %H:%M}" for m in extra[:limit])
        )
    for ms, fields in wrong[:limit]:
        problems.append(
            f"{label} {ms_utc(ms):%m-%d %H:%M}: {fields} differ: "
            f"expected {[str(expected[ms][k]) for k in fields]}, "
            f"got {[str(actual[ms][k]) for k in fields]}"
        )
    if len(wrong) > limit:
        problems.append(f"{label}: {len(wrong)} rows differ in all")


def verify_candles(p: Platform, soak: Soak, end: datetime, no_kline: dict[str, list[int]]) -> int:
    """Every minute and every bucket equal to the fake's official klines; returns the count of
    minutes verified, and fills no_kline: per symbol, the minutes Binance has no kline for."""
    end_ms = utc_ms(end)
    first = p.db.query("select min(open_time) from analytics.candles_1m")[0][0]
    assert first is not None, "analytics.candles_1m is empty"
    start_ms = utc_ms(first)
    soak.note(f"verifying [{first:%Y-%m-%d %H:%M}, {end:%Y-%m-%d %H:%M}) UTC")
    problems: list[str] = []
    verified = 0
    for symbol in symbols_of(p):
        rows = p.fake.klines(symbol, "1m", start_ms, end_ms)
        official = {int(r[0]): rest_fields(r) for r in rows}
        if not official:
            continue
        lo, hi = min(official), max(official)
        no_kline[symbol] = [m for m in range(lo, hi, MINUTE_MS) if m not in official]
        diff(official, analytics_rows(p, "1m", symbol, start_ms, end_ms), f"{symbol} 1m", problems)
        verified += len(official)
        for tf in TIMEFRAMES[1:]:
            size = INTERVAL_MS[tf]
            first_bucket = bucket_start(tf, start_ms)
            rest = {
                int(r[0]): rest_fields(r) for r in p.fake.klines(symbol, tf, first_bucket, end_ms)
            }
            expected = {}
            for b in sorted(rest):
                if b >= start_ms and b + size <= end_ms:
                    expected[b] = rest[b]
                else:
                    inside = [official[m] for m in sorted(official) if b <= m < b + size]
                    if inside:
                        expected[b] = aggregate(inside)
            actual = analytics_rows(p, tf, symbol, first_bucket, end_ms)
            diff(expected, actual, f"{symbol} {tf}", problems)
    assert not problems, "analytics differ from the official klines:\n" + "\n".join(problems)
    return verified


# The share of its live-window minutes every symbol's streamer must close from trades: the
# faults (a SIGKILL, refused reconnects, a PostgreSQL restart, a ban) may cost it a few minutes,
# which its restart copies from Binance's klines or heal-gaps fills, no more.
FROM_TRADES_SHARE = 0.95
# How far before its halt's record a dropped symbol's minutes may be closed from klines: its
# last traded minute and any the prober had not closed yet when exchangeInfo showed the halt.
SETTLED_BEFORE_HALT_MS = 5 * 60_000


@dataclass
class StreamerMinutes:
    """One symbol's live-window minutes: Binance's, and those the streamer closed itself from
    trades and copied from REST klines (market.candles_1m_live.from_klines)."""

    official: int
    from_trades: int
    from_klines: int

    def describe(self, symbol: str) -> str:
        share = self.from_trades / self.official if self.official else 0.0
        return (
            f"{symbol} {self.from_trades}/{self.official} from trades ({share:.1%}), "
            f"{self.from_klines} from klines"
        )


def verify_streamer_minutes(p: Platform, soak: Soak, end: datetime) -> dict[str, StreamerMinutes]:
    """The minutes the streamer itself closed during the live run (closed rows of
    market.candles_1m_live, which nothing else writes; not what heal-gaps or a backfill filled
    in the marts afterwards), each equal to the fake's official kline, none invented. Every
    symbol (busy, quiet, listed during the run) closed at least FROM_TRADES_SHARE of its
    live-window minutes from trades; the minutes it copied from REST klines are counted apart,
    and lie only at the SIGKILL's restart (the minutes the kill cost) and just before a
    symbol left TRADING (its last minutes, closed from klines when it is dropped)."""
    start_ms, end_ms = utc_ms(soak.market_start), utc_ms(end)
    killed, restarted = soak.sigkill
    assert killed, "the streamer was never SIGKILLed"
    problems: list[str] = []
    counted: dict[str, StreamerMinutes] = {}
    for symbol in symbols_of(p):
        official = {
            int(r[0]): rest_fields(r) for r in p.fake.klines(symbol, "1m", start_ms, end_ms)
        }
        mine = table_rows(
            p, ("market", "candles_1m_live"), symbol, start_ms, end_ms, "and is_closed"
        )
        diff({m: official[m] for m in mine if m in official}, mine, f"{symbol} live", problems)
        copied = {
            utc_ms(r[0])
            for r in p.db.query(
                "select open_time from market.candles_1m_live where symbol = %s and is_closed "
                "and from_klines and open_time >= %s and open_time < %s",
                (symbol, ms_utc(start_ms), ms_utc(end_ms)),
            )
        }
        counted[symbol] = StreamerMinutes(len(official), len(set(mine) - copied), len(copied))
        # A restart copies the minutes it missed (its 'restart' gap); a symbol dropped for
        # leaving TRADING (the halt, the delisting) its last minutes not closed yet, from the
        # halt's record back by SETTLED_BEFORE_HALT (streamer/README.md); nothing else.
        spans = [
            (utc_ms(a) - (SETTLED_BEFORE_HALT_MS if reason == "halt" else 0), utc_ms(b))
            for a, b, reason in p.db.query(
                "select gap_start, gap_end, reason from market.ingest_gaps "
                "where symbol = %s and reason in ('restart', 'halt')",
                (symbol,),
            )
        ]
        elsewhere = [m for m in sorted(copied) if not any(a <= m < b for a, b in spans)]
        if elsewhere:
            problems.append(
                f"{symbol}: {len(elsewhere)} minutes copied from klines outside its restart gaps "
                "and the minutes before its halts "
                f"{[(f'{ms_utc(a):%H:%M}', f'{ms_utc(b):%H:%M}') for a, b in spans]} (killed "
                f"{ms_utc(killed):%H:%M:%S}, restarted {ms_utc(restarted):%H:%M:%S}), first "
                f"{ms_utc(elsewhere[0]):%H:%M}"
            )
    for symbol, minutes in sorted(counted.items()):
        if not minutes.official:
            problems.append(f"{symbol}: no official minute in the live window")
        elif minutes.from_trades < FROM_TRADES_SHARE * minutes.official:
            problems.append(
                f"{symbol}: closed from trades below {FROM_TRADES_SHARE:.0%}: "
                + minutes.describe(symbol)
            )
    assert not problems, "minutes the streamer closed:\n" + "\n".join(problems)
    return counted


def verify_gaps(p: Platform, no_kline: dict[str, list[int]]) -> int:
    """Halts recorded (and only they may stay open); returns the halted minutes seen."""
    halts = p.db.query(
        "select symbol, gap_start, gap_end from market.ingest_gaps where reason = 'halt'"
    )
    problems = []
    halted = 0
    for symbol, minutes_ in no_kline.items():
        spans = [(utc_ms(a), utc_ms(b)) for s, a, b in halts if s == symbol]
        unrecorded = [m for m in minutes_ if not any(a <= m < b for a, b in spans)]
        halted += len(minutes_)
        if unrecorded:
            problems.append(
                f"{symbol}: {len(unrecorded)} halted minutes not recorded as a halt, from "
                f"{ms_utc(unrecorded[0]):%m-%d %H:%M}"
            )
    unhealed = p.db.query(
        "select symbol, gap_start, gap_end, reason, detected_by, detail from market.ingest_gaps "
        "where healed_at is null and reason <> 'halt' order by symbol, gap_start"
    )
    problems += [f"unhealed gap outside halts: {row}" for row in unhealed]
    assert not problems, "\n".join(problems)
    return halted


def verify_faults(p: Platform, soak: Soak, no_kline: dict[str, list[int]]) -> list[str]:
    """The faults took effect and left what they should: returns one line per fault."""
    lines = []
    stats = p.fake.stats()
    assert stats["http_429"] >= 1, stats
    assert stats["http_418"] >= 1, stats
    lines.append(f"fake counted {stats['http_429']} x 429 and {stats['http_418']} x 418")
    first, end = soak.halt
    halted = no_kline.get(faults.HALT_SYMBOL, [])
    assert halted == list(range(first, end, MINUTE_MS)), (
        f"{faults.HALT_SYMBOL}: minutes without kline {len(halted)} != the halt {ms_utc(first)}"
        f" .. {ms_utc(end)}"
    )
    lines.append(f"{faults.HALT_SYMBOL} halt: {len(halted)} minutes recorded, none invented")
    listed = p.db.query(
        "select count(*), min(open_time) from analytics.candles_1m where symbol = %s",
        (faults.LISTED_SYMBOL,),
    )[0]
    assert listed[0] > 0, f"{faults.LISTED_SYMBOL} never reached analytics.candles_1m"
    lines.append(f"{faults.LISTED_SYMBOL}: {listed[0]} minutes from {listed[1]:%H:%M}")
    if soak.delisted:
        last = p.db.query(
            "select max(open_time) from analytics.candles_1m where symbol = %s", (soak.delisted,)
        )[0][0]
        assert last is not None, f"{soak.delisted} has no candle"
        rest = p.fake.klines(soak.delisted, "1m", utc_ms(last), utc_ms(soak.freeze))
        assert [int(r[0]) for r in rest] == [utc_ms(last)], (
            f"{soak.delisted}: analytics ends at {last:%H:%M}, REST has klines after it"
        )
        lines.append(f"{soak.delisted}: last minute {last:%H:%M} (delisted), as REST's last")
    # Clients that had not seen the 429 get one 418 each and then keep away for the ban.
    product_418 = stats["http_418"] - soak.storm["before"]["http_418"] - 1
    assert product_418 <= 25, f"the platform kept asking a banned IP: {product_418} x 418"
    lines.append(
        f"418 ban of {soak.storm['ban_s']} s: the platform's clients got {product_418} x 418"
    )
    checksum = p.db.query(
        "select checksum from market.imported_files where file_name like %s",
        (f"{faults.DUMP_SYMBOL}-1m-{soak.dumps['day'].isoformat()}.zip%",),
    )
    assert checksum == [(soak.dumps["genuine_digest"],)], (checksum, soak.dumps)
    lines.append(
        f"{faults.DUMP_SYMBOL} {soak.dumps['day']} dump: wrong first issue loaded, the cut-short"
        f" re-issue refused ({soak.dumps['refusal'][-160:]}), the corrected one reloaded"
    )
    return lines


def verify_quality_runs(p: Platform) -> str:
    """The Asset-triggered data_quality runs (one per build, no window given) checked the
    minutes the streamer wrote: their window ends at the market's minute, which runs ahead of
    the wall clock here, not at the host's, which would leave every live minute outside."""
    returned = p.airflow.returned("data_quality", "check")
    triggered = [
        run.run_id
        for run in p.airflow.runs("data_quality")
        if run.run_type == "asset_triggered" and run.run_id in returned
    ]
    covered = [run_id for run_id in triggered if returned[run_id].get("live_minutes", 0) > 0]
    assert covered, (
        f"none of {len(triggered)} Asset-triggered data_quality runs checked a live minute"
    )
    live = sorted(returned[run_id]["live_minutes"] for run_id in covered)
    # The last of them compared the live window's candles, not only passed: a check that
    # deferred them all would pass having compared nothing.
    counts = returned[covered[-1]]["counts"]
    for key in (
        "cross_timeframe analytics.candles_5m",
        "timeframe_completeness analytics.candles_5m",
    ):
        compared, deferred = counts[key]
        assert compared > 0, f"{key} compared no candle of the live window ({deferred} deferred)"
    per_check = ", ".join(
        f"{key.replace(' analytics.candles_', ' ').replace(' market.', ' ')} {c}/{d}"
        for key, (c, d) in counts.items()
        if c is not None
    )
    return (
        f"{len(covered)} of {len(triggered)} Asset-triggered runs "
        f"(live rows per window: median {live[len(live) // 2]}, {live[0]}..{live[-1]}); "
        f"the last one's rows compared/deferred per check: {per_check}"
    )


def explain_failures(p: Platform, soak: Soak) -> list[str]:
    """Every failed run must overlap a fault that may fail its DAG; data_quality never fails
    after the first full build. Returns the forced failures, named."""
    assert soak.first_build_end is not None
    forced, unexplained = [], []
    for run in p.airflow.runs():
        if run.state != "failed":
            continue
        label = f"{run.dag_id} {run.run_id} ({run.start:%H:%M:%S}-{run.end:%H:%M:%S} wall)"
        tasks = p.airflow.failed_tasks(run.dag_id, run.run_id)
        if run.dag_id == "data_quality" and run.start and run.start >= soak.first_build_end:
            # Only the faults planted in the data on purpose may fail a check after that.
            if run.run_id in soak.planted_runs or planted_during(soak, run):
                forced.append(f"{label} forced by {planted.PLANTED}")
                continue
            unexplained.append(
                f"{label}: data_quality after the first full build, tasks {tasks}"
                + "".join(f"\n    {line}" for line in task_errors(p, run, "check"))
            )
            continue
        causes = [
            f
            for f in soak.faults
            if run.dag_id in f.dags
            and run.start is not None
            and run.start <= (f.end or soak_end(soak))
            and (run.end or now_utc()) >= f.start
        ]
        if causes:
            forced.append(f"{label} forced by {', '.join(f.name for f in causes)}")
        else:
            unexplained.append(f"{label}: no fault explains it, tasks {tasks}")
    assert not unexplained, "failed DAG runs:\n" + "\n".join(unexplained)
    return forced


def planted_during(soak: Soak, run: DagRun) -> bool:
    """The run overlapped the time the planted faults stood (an Asset-triggered check)."""
    return any(
        f.name == planted.PLANTED
        and run.start is not None
        and run.start <= (f.end or now_utc())
        and (run.end or now_utc()) >= f.start
        for f in soak.faults
    )


def task_errors(p: Platform, run: DagRun, task_id: str) -> list[str]:
    """What a failed task logged at error and what its job logged (for data_quality's check:
    the report, whose first line names the first failed expectation, then each failed check)."""
    logs = p.root / "airflow" / "logs" / f"dag_id={run.dag_id}" / f"run_id={run.run_id}"
    lines = []
    for path in sorted(logs.glob(f"task_id={task_id}/attempt=*.log")):
        for raw in path.read_text(errors="replace").splitlines():
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            text = str(event.get("event", ""))
            for detail in event.get("error_detail") or []:
                text += f" ({detail.get('exc_type')}: {detail.get('exc_value')})"
            # include.jobs logs the quality report, one line per failed check after the first.
            if event.get("logger") == "include.jobs" or event.get("level") in ("error", "critical"):
                lines.append(f"{path.name}: {text[:2000]}")
    return lines


def explain_restarts(p: Platform, soak: Soak) -> list[str]:
    """Airflow parts the supervisor had to restart: only a PostgreSQL restart may kill them
    (Airflow 3.3's scheduler and dag-processor exit on a lost metadata connection)."""
    lines, unexplained = [], []
    for at, name, code in p.procs.restarts:
        causes = [
            f.name
            for f in soak.faults
            if f.name == "PostgreSQL restart" and f.start <= at <= (f.end or now_utc())
        ]
        line = f"{name} exited {code} at {at:%H:%M:%S} wall, restarted by the supervisor"
        (lines if causes else unexplained).append(line + (f" ({causes[0]})" if causes else ""))
    assert not unexplained, "Airflow parts died:\n" + "\n".join(unexplained)
    return lines


def check(problems: list[str], name: str, verify: Callable[[], T]) -> T | None:
    """Run one verification; a failed one is collected, so every other still reports."""
    try:
        return verify()
    except AssertionError as exc:
        problems.append(f"{name}: {exc}")
        return None


def soak_end(soak: Soak) -> datetime:
    return now_utc()


def test_no_minute_lost_where_the_jobs_meet(tmp_path: Path, record_property) -> None:
    """Streamer, Airflow (heal, backfill, dbt, GX) and the fake exchange under faults, a symbol
    listed and one delisted: every minute of every symbol reaches every timeframe exactly as
    Binance's klines say."""
    soak_platform(tmp_path, record_property, delisted=faults.DELISTED_SYMBOL)


def soak_platform(tmp_path: Path, record_property, delisted: str) -> None:
    """Run the soak with `delisted` as the symbol delisted mid-run, and report it."""
    wall = now_utc()
    soak = Soak(
        wall_start=time.monotonic(),
        market_start=market_start_after(wall),
        history_start=(wall - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0),
        delisted=delisted,
    )
    wall_seconds = WINDOW_SECONDS
    summary: list[str] = []
    try:
        run_soak(tmp_path, soak, wall_seconds, summary)
    finally:
        wall_time = timedelta(seconds=time.monotonic() - soak.wall_start)
        summary.insert(0, f"soak wall time: {span(wall_time)}")
        text = "\n".join([*summary, "timeline:", *soak.notes])
        record_property(SUMMARY_KEY, text)
        print(text, flush=True)


def run_soak(tmp_path: Path, soak: Soak, wall_seconds: float, summary: list[str]) -> None:
    """Start everything, run the market under faults, close the books, verify, tear down."""
    ports: list[int] = []
    procs = None
    problems: list[str] = []
    root = tmp_path / "soak"
    # The first issue of one dump is wrong; the fake will serve it until the soak re-issues it.
    day = faults.dump_day(now_utc())
    dump_cache = root / "dumps"
    genuine = faults.genuine_dump(tmp_path / "genuine", soak.market_start, SYMBOLS, FAKE_ARGS, day)
    poisoned_digest = faults.publish(dump_cache, day, faults.poisoned(genuine, day))
    soak.dumps.update(day=day, cache=dump_cache, genuine=genuine, poisoned=poisoned_digest)
    fake_args = [*FAKE_ARGS, "--dump-cache-dir", str(dump_cache)]
    with platform(root, soak.market_start, SYMBOLS, fake_args) as p:
        procs = p.procs
        ports = [*p.ports.all(), p.db.port]
        soak.note(f"platform up: fake {p.fake.url}, Airflow http://127.0.0.1:{p.ports.api}")
        start_platform(p, soak)
        run_market(p, soak, wall_seconds)
        freeze = close_books(p, soak)
        # Counted before the planted faults touch a live row.
        by_streamer = (
            check(problems, "streamer", lambda: verify_streamer_minutes(p, soak, freeze)) or {}
        )
        # Faults planted in the settled live window, caught, repaired: before the candles are
        # verified, so the repair is proven exact too.
        proof = check(
            problems, "planted", lambda: planted.prove(p, soak, soak.market_start, freeze)
        )
        summary.append(
            f"market time covered: {span(freeze - soak.market_start)} live "
            f"({soak.market_start:%Y-%m-%d %H:%M} .. {freeze:%Y-%m-%d %H:%M} UTC), "
            f"history from {first_minute(p):%Y-%m-%d %H:%M} UTC"
        )
        summary.append("faults: " + (", ".join(f.name for f in soak.faults) or "none"))
        no_kline: dict[str, list[int]] = {}
        verified = check(problems, "candles", lambda: verify_candles(p, soak, freeze, no_kline))
        summary.append(f"minutes verified: {verified} (every symbol, 1m..1w equal to REST klines)")
        summary.append(
            "live-window minutes the streamer closed itself, verified: from trades "
            f"{sum(m.from_trades for m in by_streamer.values())}, copied from REST klines by "
            f"its restart {sum(m.from_klines for m in by_streamer.values())} ("
            + ", ".join(m.describe(s) for s, m in sorted(by_streamer.items()))
            + "); the rest of the minutes verified were filled by heal-gaps, backfill or imports"
        )
        open_minutes = p.db.query(
            "select symbol, count(*), min(open_time), max(open_time) from analytics.candles_1m "
            "where not is_final and open_time < %s group by symbol order by symbol",
            (freeze,),
        )
        summary.append(
            "minutes still open (live, not final) before the freeze: "
            + (
                ", ".join(f"{s} {n} ({a:%H:%M}..{b:%H:%M})" for s, n, a, b in open_minutes)
                or "none"
            )
        )
        halted = check(problems, "gaps", lambda: verify_gaps(p, no_kline))
        summary.append(f"halted minutes (recorded, no candle): {halted}")
        summary.append(
            "data_quality runs that checked live minutes: "
            + (check(problems, "quality", lambda: verify_quality_runs(p)) or "none")
        )
        summary += planted.describe(proof) if proof else ["planted faults: not proven"]
        summary += check(problems, "faults", lambda: verify_faults(p, soak, no_kline)) or []
        forced = check(problems, "DAG runs", lambda: explain_failures(p, soak)) or []
        forced += check(problems, "restarts", lambda: explain_restarts(p, soak)) or []
        summary.append("failed runs forced by faults: " + ("; ".join(forced) or "none"))
        by_state: dict[str, int] = {}
        for run in p.airflow.runs():
            key = f"{run.dag_id}:{run.state}"
            by_state[key] = by_state.get(key, 0) + 1
        summary.append(f"DAG runs: {dict(sorted(by_state.items()))}")
        summary.append(
            "task seconds (runs, median, max, longest queued): "
            + "; ".join(
                f"{dag}.{task} {n}, {med}, {top}, {queued}"
                for dag, task, n, med, top, queued in p.airflow.task_times()
            )
        )
    # Teardown happened on leaving the block: prove it.
    assert procs is not None
    assert not procs.leftovers(), f"still running: {procs.leftovers()}"
    busy = [port for port in ports if not port_is_free(port)]
    assert not busy, f"ports still bound: {busy}"
    summary.append(f"teardown: {len(procs.all)} process groups gone, {len(ports)} ports free")
    assert not problems, "\n\n".join(problems)
