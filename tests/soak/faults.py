"""The soak's fault injections: what each does to the platform and which DAG runs it may fail."""

from __future__ import annotations

import hashlib
import io
import json
import signal
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx

from tests.soak.harness import (
    MINUTE_MS,
    Fault,
    Platform,
    Soak,
    ms_utc,
    now_utc,
    wait_for,
)

# Every DAG that talks to Binance's REST API (the dump import only through exchangeInfo).
REST_DAGS = frozenset(
    {"binance_heal_gaps", "binance_backfill_rest", "binance_import_dumps", "reconcile"}
)
ALL_DAGS = REST_DAGS | {"build_timeframes", "data_quality"}
HALT_SYMBOL = "ETHUSDT"
HALT_MINUTES = 40
LISTED_SYMBOL = "NEWUSDT"
# Delisted only by test_soak.test_symbol_delisted (skipped: a product defect, described there).
DELISTED_SYMBOL = "PEPEUSDT"
DUMP_SYMBOL = "BTCUSDT"
# The minute of the first, wrong, issue of the dump (index in the day's 1440 rows).
POISONED_MINUTE = 12 * 60
POISON_TRADES = 7


@dataclass
class Step:
    """One injection, due `at` wall seconds after the market started (and when `ready`)."""

    name: str
    at: float
    action: Callable[[Platform, Soak], None]
    ready: Callable[[Platform, Soak], bool] | None = None
    done: bool = False


def named(soak: Soak, part: str) -> Fault:
    """The (last) recorded fault whose name contains `part`."""
    return next(f for f in reversed(soak.faults) if part in f.name)


# --------------------------------------------------------------------------- WebSocket
def ws_drop(p: Platform, soak: Soak) -> None:
    """Every WebSocket cut without a close frame; the streamer reconnects and repairs."""
    dropped = p.fake.fault("drop_connections")["result"]
    soak.faults.append(Fault("WebSocket drop", now_utc(), now_utc(), detail=f"{dropped} cut"))
    soak.note(f"fault: dropped {dropped} WebSocket connection(s)")


def ws_refused(p: Platform, soak: Soak) -> None:
    """Handshakes refused (HTTP 503) for 8 wall seconds (almost 5 market minutes), then a cut."""
    p.fake.fault("refuse_connections", seconds=8)
    dropped = p.fake.fault("drop_connections")["result"]
    soak.faults.append(Fault("WebSocket reconnects refused for 8 s", now_utc(), now_utc()))
    soak.note(f"fault: reconnects refused for 8 s, dropped {dropped} connection(s)")


# --------------------------------------------------------------------------- processes
def streamer_sigkill(p: Platform, soak: Soak) -> None:
    """SIGKILL the streamer in the middle of a market minute, restart it 3 s later."""
    wait_for(
        "the middle of a market minute",
        lambda: 20_000 <= p.fake.now_ms() % MINUTE_MS < 40_000,
        timeout=10,
        interval=0.05,
    )
    at = p.fake.now_ms()
    proc = p.procs.current["streamer"]
    code = p.procs.stop("streamer", signal.SIGKILL, timeout=10)
    assert code == -signal.SIGKILL, f"streamer pid {proc.pid} ended with {code}"
    time.sleep(3)
    p.start_streamer()
    soak.sigkill = (at, p.fake.now_ms())
    soak.faults.append(Fault("streamer SIGKILL mid-minute", now_utc(), now_utc()))
    soak.note(f"fault: streamer SIGKILLed at market {ms_utc(at):%H:%M:%S}, restarted")


def postgres_restart(p: Platform, soak: Soak) -> None:
    """The one PostgreSQL (platform data and Airflow's metadata) restarted (fast shutdown)."""
    start = now_utc()
    p.db.stop()
    time.sleep(2)
    p.db.start()
    # Tasks running at that moment fail on their lost connections; retries carry them.
    soak.faults.append(
        Fault("PostgreSQL restart", start, now_utc() + timedelta(seconds=90), dags=ALL_DAGS)
    )
    soak.note(f"fault: PostgreSQL restarted ({(now_utc() - start).total_seconds():.1f} s down)")


# --------------------------------------------------------------------------- REST limits
def _burn_weight(url: str) -> tuple[Counter, int]:
    """exchangeInfo (weight 20) from 127.0.0.1, the platform's IP, until Binance says 429."""
    statuses: Counter = Counter()
    retry_after = 0
    with httpx.Client(base_url=url, timeout=10) as client:
        for _ in range(1000):
            response = client.get("/api/v3/exchangeInfo")
            statuses[response.status_code] += 1
            if response.status_code in (429, 418):
                retry_after = int(response.headers.get("Retry-After", "0"))
                break
    return statuses, retry_after


def storm_then_ban(p: Platform, soak: Soak) -> None:
    """Another client on the platform's IP spends the weight budget (429 with Retry-After) and
    pushes on: Binance bans the IP with 418 (2 minutes here). Every REST client of the platform
    must stop at once (backfill and heal fail fast; their retries carry them) and recover."""
    start = now_utc()
    before = p.fake.stats()
    statuses, retry_after = _burn_weight(p.fake.url)
    assert statuses[429] == 1, statuses
    with httpx.Client(base_url=p.fake.url, timeout=10) as client:
        response = client.get("/api/v3/ping")
    assert response.status_code == 418, response.text
    ban = int(response.headers.get("Retry-After", "120"))
    soak.storm = {"before": before, "ban_s": ban, "end": now_utc() + timedelta(seconds=ban)}
    soak.faults.append(
        Fault(
            "429 storm then 418 IP ban",
            start,
            # A heal or backfill started in the ban fails, and so may its retries (1, 2 minutes).
            start + timedelta(seconds=ban + 240),
            dags=REST_DAGS,
            detail=f"Retry-After {retry_after} s, banned {ban} s",
        )
    )
    soak.note(
        f"fault: 429 storm on 127.0.0.1 ({dict(statuses)}, Retry-After {retry_after} s), "
        f"then a 418 ban for {ban} s"
    )


# --------------------------------------------------------------------------- market
def halt_start(p: Platform, soak: Soak) -> None:
    """ETHUSDT halts (status HALT) from the next market minute on."""
    # The fake says which minute the halt applies from: under load its answer can come a
    # market minute (1.7 s at 36x) after the request went.
    halted_from = p.fake.fault("set_status", symbol=HALT_SYMBOL, status="HALT")["result"]
    soak.halt = (halted_from, halted_from + HALT_MINUTES * MINUTE_MS)
    soak.faults.append(Fault(f"{HALT_MINUTES}-minute halt of {HALT_SYMBOL}", now_utc()))
    soak.note(f"fault: {HALT_SYMBOL} halted from market {ms_utc(halted_from):%H:%M}")


def halt_over(p: Platform, soak: Soak) -> bool:
    return p.fake.now_ms() >= soak.halt[1] - 30_000


def halt_end(p: Platform, soak: Soak) -> None:
    """ETHUSDT trades again from the next minute (40 market minutes after the halt began)."""
    trading_from = p.fake.fault("set_status", symbol=HALT_SYMBOL, status="TRADING")["result"]
    soak.halt = (soak.halt[0], trading_from)
    named(soak, "halt").end = now_utc()
    minutes = (soak.halt[1] - soak.halt[0]) // MINUTE_MS
    soak.note(
        f"fault: {HALT_SYMBOL} trading again from {ms_utc(soak.halt[1]):%H:%M} ({minutes} min)"
    )


def list_symbol(p: Platform, soak: Soak) -> None:
    """A new symbol, announced in exchangeInfo now and trading two market minutes later."""
    now = p.fake.now_ms()
    listed_at = ms_utc(now - now % MINUTE_MS + 2 * MINUTE_MS)
    p.fake.fault(
        "list_symbol",
        symbol=LISTED_SYMBOL,
        base_price="2.5",
        price_decimals=4,
        qty_decimals=2,
        trades_per_minute=30,
        listed_at=listed_at.isoformat(),
    )
    soak.faults.append(Fault(f"{LISTED_SYMBOL} listed", now_utc(), now_utc()))
    soak.note(f"fault: {LISTED_SYMBOL} listed, trading from market {listed_at:%H:%M}")


def delist_symbol(p: Platform, soak: Soak) -> None:
    """A symbol leaves for good (status BREAK): no trades or klines from the next minute on."""
    gone_ms = p.fake.fault("set_status", symbol=soak.delisted, status="BREAK")["result"]
    soak.faults.append(Fault(f"{soak.delisted} delisted", now_utc(), now_utc()))
    gone = ms_utc(gone_ms)
    soak.note(f"fault: {soak.delisted} delisted from market {gone:%H:%M}")


# --------------------------------------------------------------------------- dumps
# The fake serves data.binance.vision files from its --dump-cache-dir, building a missing one
# on first request: the soak writes there what Binance would publish (a wrong first issue, a
# transfer cut short, the corrected re-issue). TODO(fakebinance): a `reissue_dump` fault
# (new bytes, new .CHECKSUM for one file) and a `corrupt_dump` fault (serve the bytes cut short
# or flipped under the published .CHECKSUM) would let the soak stop knowing the cache layout.
def dump_day(wall: datetime) -> date:
    """The day of the klines dumps the import DAG's first (latest) scheduled run imports."""
    return (wall - timedelta(hours=6)).date() - timedelta(days=1)


def cache_dir(dump_cache: Path, symbol: str) -> Path:
    return dump_cache / "seed-42" / "spot" / "daily" / "klines" / symbol / "1m"


def genuine_dump(
    work: Path, market_start: datetime, symbols: str, fake_args: list[str], day: date
) -> bytes:
    """The bytes the fake publishes for DUMP_SYMBOL's 1m klines of `day` (built the same way)."""
    from fakebinance.__main__ import build_parser, config_from_args
    from fakebinance.clock import MarketClock
    from fakebinance.dumps import write_dump
    from fakebinance.market import Market

    args = build_parser().parse_args(["--symbols", symbols, *fake_args])
    market = Market(config_from_args(args), MarketClock(start=market_start, speed=0))
    return write_dump(market, "klines", DUMP_SYMBOL, day, out_dir=work).read_bytes()


def publish(dump_cache: Path, day: date, payload: bytes, checksum_of: bytes | None = None) -> str:
    """Put a zip (and the .CHECKSUM of `checksum_of`, default: of the zip) where the fake serves
    DUMP_SYMBOL's dump of `day` from; returns the published digest."""
    folder = cache_dir(dump_cache, DUMP_SYMBOL)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{DUMP_SYMBOL}-1m-{day.isoformat()}.zip"
    digest = hashlib.sha256(payload if checksum_of is None else checksum_of).hexdigest()
    (folder / name).write_bytes(payload)
    (folder / f"{name}.CHECKSUM").write_text(f"{digest}  {name}\n")
    return digest


def poisoned(genuine: bytes, day: date) -> bytes:
    """The same file with one minute's trade count wrong: the first issue Binance corrects."""
    with zipfile.ZipFile(io.BytesIO(genuine)) as zf:
        (member,) = zf.namelist()
        lines = zf.read(member).decode().splitlines()
    fields = lines[POISONED_MINUTE].split(",")
    fields[8] = str(int(fields[8]) + POISON_TRADES)
    lines[POISONED_MINUTE] = ",".join(fields)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, "\n".join(lines) + "\n")
    return out.getvalue()


def import_conf(day: date) -> dict[str, object]:
    return {
        "symbols": [DUMP_SYMBOL],
        "kinds": ["klines"],
        "start": day.isoformat(),
        "end": (day + timedelta(days=1)).isoformat(),
    }


def corrupt_dump(p: Platform, soak: Soak) -> None:
    """Binance re-issues the dump (new .CHECKSUM) but the download arrives cut short: the
    import must refuse it, write nothing, and fail the try."""
    genuine = soak.dumps["genuine"]
    publish(soak.dumps["cache"], soak.dumps["day"], genuine[: len(genuine) // 2], genuine)
    run_id = p.airflow.trigger("binance_import_dumps", import_conf(soak.dumps["day"]))
    soak.triggered.append(("binance_import_dumps", run_id))
    soak.dumps["corrupt_run"] = run_id
    soak.faults.append(
        Fault(
            "corrupt dump download",
            now_utc(),
            dags=frozenset({"binance_import_dumps"}),
            detail=run_id,
        )
    )
    soak.note(f"fault: {DUMP_SYMBOL} {soak.dumps['day']} dump served cut short, import {run_id}")


def corrupt_refused(p: Platform, soak: Soak) -> bool:
    """The corrupt download's first try has failed (its retry waits 5 minutes)."""
    rows = p.db.query(
        "select state from task_instance where dag_id = 'binance_import_dumps' "
        "and run_id = %s and task_id = 'import_files'",
        (soak.dumps["corrupt_run"],),
        database="airflow",
    )
    return bool(rows) and rows[0][0] in ("up_for_retry", "failed")


def import_tasks(p: Platform, soak: Soak) -> list[tuple]:
    """Where the corrupt import stands (why `corrupt_refused` may still wait): each task's
    state, try, pool and times, for a soak that runs out of time."""
    return p.db.query(
        "select task_id, map_index, state, try_number, pool, queued_dttm, start_date, end_date "
        "from task_instance where dag_id = 'binance_import_dumps' and run_id = %s "
        "order by task_id, map_index",
        (soak.dumps.get("corrupt_run"),),
        database="airflow",
    )


def reissue_dump(p: Platform, soak: Soak) -> None:
    """The corrected file arrives whole: a changed checksum means reload, fixing the minute."""
    named(soak, "corrupt dump").end = now_utc()
    log = import_log(p, soak.dumps["corrupt_run"], attempt=1)
    assert "checksum" in log.lower(), log[-2000:]
    soak.dumps["refusal"] = next(
        (event for event in log_events(log) if "checksum" in event.lower()), ""
    )[:300]
    digest = publish(soak.dumps["cache"], soak.dumps["day"], soak.dumps["genuine"])
    soak.dumps["genuine_digest"] = digest
    run_id = p.airflow.trigger("binance_import_dumps", import_conf(soak.dumps["day"]))
    soak.triggered.append(("binance_import_dumps", run_id))
    run = p.airflow.wait_run("binance_import_dumps", run_id, 600)
    assert run.state == "success", p.airflow.failed_tasks(run.dag_id, run.run_id)
    soak.note(f"fault: corrected {DUMP_SYMBOL} {soak.dumps['day']} dump re-issued and imported")


def log_events(log: str) -> list[str]:
    """The messages of an Airflow 3 task log (JSON lines; a line that is not JSON as it is)."""
    events = []
    for line in log.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            events.append(line)
            continue
        if not isinstance(record, dict):
            events.append(line)
            continue
        events.append(str(record.get("event", line)))
        # A task's exception is logged as "Task failed with exception", its message beside it.
        events += [
            f"{d.get('exc_type')}: {d.get('exc_value')}"
            for d in record.get("error_detail") or []
            if isinstance(d, dict)
        ]
    return events


def import_log(p: Platform, run_id: str, attempt: int) -> str:
    folder = (
        Path(p.env["AIRFLOW_HOME"])
        / "logs"
        / "dag_id=binance_import_dumps"
        / f"run_id={run_id}"
        / "task_id=import_files"
    )
    logs = sorted(folder.glob(f"**/attempt={attempt}.log"))
    return "\n".join(path.read_text(errors="replace") for path in logs)


def timeline(wall_seconds: float, delist: bool) -> list[Step]:
    """The injections, spread over the window (offsets for a window of 420 s)."""
    scale = wall_seconds / 420.0

    def at(seconds: float) -> float:
        return seconds * scale

    return [
        Step("WebSocket drop", at(10), ws_drop),
        Step("refused reconnects", at(28), ws_refused),
        Step("streamer SIGKILL", at(50), streamer_sigkill),
        Step("PostgreSQL restart", at(80), postgres_restart),
        Step("corrupt dump", at(100), corrupt_dump),
        Step("halt", at(118), halt_start),
        Step("halt over", at(118), halt_end, ready=halt_over),
        Step("listing", at(150), list_symbol),
        Step("dump re-issued", at(160), reissue_dump, ready=corrupt_refused),
        Step("429 storm and 418 ban", at(200), storm_then_ban),
        *([Step("delisting", at(330), delist_symbol)] if delist else []),
    ]
