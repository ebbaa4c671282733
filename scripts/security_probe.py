"""One pass of issue #42's attacks against a running platform (make run / make demo), from outside.

Run with the platform's environment (scripts/env.sh, the same DATA_DIR and ports):
    python scripts/security_probe.py
Each probe prints `HELD <name>: <what was seen>` or `BROKEN <name>: ...`; the exit status is 1
when any is broken. The push's live minute is checked last, after every other attack.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The project's packages, and this script's sibling (also when imported, as its test does).
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

import grpc  # noqa: E402
import httpx  # noqa: E402
import orjson  # noqa: E402
import psycopg  # noqa: E402
import websockets  # noqa: E402
from security_probe_deploy import (  # noqa: E402
    last_line,
    probe_airflow_no_connect,
    probe_airflow_origin,
    probe_process_env,
    probe_role_limits,
)

from api.symbols import EARLIEST_MS  # noqa: E402
from include.platform import db  # noqa: E402
from include.platform.settings import get_settings  # noqa: E402

TWO_HOURS_MS = 2 * 3600 * 1000
SYMBOL = "BTCUSDT"


class Target:
    """Where the running platform is, read as its own processes read it."""

    def __init__(self) -> None:
        settings = get_settings()
        self.settings = settings
        self.data_dir = settings.data_dir.resolve()
        self.admin_url = db.resolve_database_url(settings, start=False)
        self.reader_url = db.role_url(self.admin_url, db.READER, settings)
        host = settings.api_host
        self.http = f"http://{host}:{settings.api_port}"
        self.ws = f"ws://{host}:{settings.api_port}"
        self.grpc = f"{host}:{settings.api_grpc_port}"
        token = next(iter(sorted(settings.api_token_set)), None)
        self.headers = {"X-MBX-APIKEY": token} if token else {}
        self.airflow = (
            f"http://{os.environ.get('AIRFLOW__API__HOST', '127.0.0.1')}:"
            f"{os.environ.get('AIRFLOW__API__PORT', '8080')}"
        )
        self.weight_limit = settings.api_weight_limit

    def secret(self, name: str, variable: str | None = None) -> str | None:
        """A password the user gave (variable), else the one generated into DATA_DIR/secrets."""
        if variable and (value := os.environ.get(variable)):
            return value
        path = self.data_dir / "secrets" / f"{name}.password"
        return path.read_text().strip() if path.is_file() else None

    def client(self, **options: object) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.http, headers=self.headers, timeout=30, **options)


RESULTS: list[bool] = []


def report(name: str, held: bool, seen: str) -> None:
    """One probe's line: HELD or BROKEN, its name, what was seen."""
    RESULTS.append(held)
    print(f"{'HELD' if held else 'BROKEN'} {name}: {seen}", flush=True)


def minute_ms() -> int:
    """The open time of the minute now (ms)."""
    return int(time.time() // 60 * 60_000)


# --- database roles ---------------------------------------------------------------------------


def probe_rebuilt_runs_insert(t: Target) -> tuple[bool, str]:
    """analytics_reader cannot write the table rebuilt runs come from."""
    with psycopg.connect(t.reader_url) as conn:
        try:
            conn.execute(
                "insert into market.rebuilt_runs (symbol, first_open, end_open) "
                "values (%s, now() - interval '1 day', now())",
                (SYMBOL,),
            )
        except psycopg.errors.InsufficientPrivilege as exc:
            return (True, last_line(exc))
        conn.rollback()
    return (False, "analytics_reader inserted into market.rebuilt_runs")


def start_listen_in_transaction(t: Target) -> Callable[[], tuple[bool, str]]:
    """LISTEN inside a transaction and sit there; the returned check waits (up to 90 s from
    the start) for the role's idle timeout to cut the session."""
    conn = psycopg.connect(t.reader_url)
    conn.execute("listen candles_1m; select 1")
    pid, started = conn.info.backend_pid, time.monotonic()

    def probe_listen_in_transaction() -> tuple[bool, str]:
        with psycopg.connect(t.admin_url, autocommit=True) as admin:
            while time.monotonic() - started < 90:
                alive = admin.execute("select 1 from pg_stat_activity where pid = %s", (pid,))
                if alive.fetchone() is None:
                    break
                time.sleep(1)
        waited = time.monotonic() - started
        try:
            conn.execute("select 1")
        except psycopg.Error as exc:
            return (True, f"cut within {waited:.0f} s: {last_line(exc)}")
        else:
            return (False, f"still open after {waited:.0f} s")
        finally:
            conn.close()

    return probe_listen_in_transaction


# --- the push ---------------------------------------------------------------------------------


async def probe_forged_rebuilt(t: Target) -> tuple[bool, str]:
    """A forged `rebuilt` announcement over a day of history: nothing older than two hours
    reaches a 1m subscriber."""
    from tests.support.push_attacks import notify_as_reader

    now = int(time.time() * 1000)
    forged = [
        {"at": now, "rebuilt": [[SYMBOL, now - 86_400_000, now - TWO_HOURS_MS]]},
        {"at": now, "rebuilt": 1},
        {"at": now, "rebuilt": None},
    ]
    old = []
    events = 0
    newest_run = await asyncio.to_thread(newest_rebuilt_run, t)
    async with websockets.connect(
        f"{t.ws}/ws/{SYMBOL.lower()}@kline_1m", additional_headers=t.headers
    ) as ws:
        await asyncio.sleep(0.5)
        await asyncio.to_thread(notify_as_reader, t.admin_url, *forged)
        deadline = time.monotonic() + 8
        while (left := deadline - time.monotonic()) > 0:
            try:
                k = orjson.loads(await asyncio.wait_for(ws.recv(), left))["k"]
            except TimeoutError:
                break
            events += 1
            if k["t"] < now - TWO_HOURS_MS:
                old.append(k["t"])
    # A dbt build may have rebuilt old minutes meanwhile: those are pushed rightly.
    runs = await asyncio.to_thread(rebuilt_runs_after, t, newest_run)
    forged_ones = [m for m in old if not any(first <= m < end for first, end in runs)]
    return (
        not forged_ones,
        f"{events} events in 8 s, {len(forged_ones)} older than two hours"
        + (f" (oldest {datetime.fromtimestamp(min(old) / 1000, UTC):%F %R})" if old else "")
        + (f"; {len(old) - len(forged_ones)} of a real dbt rebuild meanwhile" if runs else ""),
    )


def newest_rebuilt_run(t: Target) -> int:
    """The newest market.rebuilt_runs id (the read API's role reads the table)."""
    with psycopg.connect(t.reader_url) as conn:
        return conn.execute("select coalesce(max(id), 0) from market.rebuilt_runs").fetchone()[0]


def rebuilt_runs_after(t: Target, after: int) -> list[tuple[int, int]]:
    """BTCUSDT's runs dbt rebuilt since id ``after``, as (first, end) ms."""
    with psycopg.connect(t.reader_url) as conn:
        return conn.execute(
            "select (extract(epoch from first_open) * 1000)::bigint, "
            "(extract(epoch from end_open) * 1000)::bigint from market.rebuilt_runs "
            "where id > %s and symbol = %s",
            (after, SYMBOL),
        ).fetchall()


def attack_push(t: Target) -> str:
    """Out-of-range keys, then ~10 s of old valid keys without pause (as analytics_reader)."""
    from tests.support.push_attacks import notify_as_reader, out_of_range_keys, trickle_as_reader

    notify_as_reader(t.admin_url, *out_of_range_keys(SYMBOL, minute_ms()))
    # Every key between the symbol's first day and two hours ago, over and over: the push
    # drops keys outside [first day, now + 1 day] unread, so only these reach its backlog.
    with psycopg.connect(t.reader_url) as conn:
        first_day = conn.execute(
            "select (extract(epoch from first_day) * 1000)::bigint from market.symbols "
            "where symbol = %s",
            (SYMBOL,),
        ).fetchone()
    span = (first_day[0] if first_day and first_day[0] else EARLIEST_MS, minute_ms() - TWO_HOURS_MS)
    stop, sent = threading.Event(), [0]
    attacker = threading.Thread(
        target=trickle_as_reader, args=(t.admin_url, stop, sent, SYMBOL, span)
    )
    attacker.start()
    time.sleep(10)
    stop.set()
    attacker.join()
    return (
        f"5 out-of-range notifications, then {sent[0]} notifications of 280 old keys "
        f"({datetime.fromtimestamp(span[0] / 1000, UTC):%F} to two hours ago) in 10 s"
    )


async def probe_push_delivers_after_all(t: Target, attacks: str) -> tuple[bool, str]:
    """Last: a new kline_1m subscriber gets the minute forming now, closed (x true), and
    /healthz says 200 with pushing true."""
    subscribed = minute_ms()
    events, closed = 0, None
    async with websockets.connect(
        f"{t.ws}/ws/{SYMBOL.lower()}@kline_1m", additional_headers=t.headers
    ) as ws:
        deadline = time.monotonic() + 100
        while closed is None and (left := deadline - time.monotonic()) > 0:
            try:
                k = orjson.loads(await asyncio.wait_for(ws.recv(), left))["k"]
            except TimeoutError:
                break
            events += 1
            if k["x"] and k["t"] >= subscribed:
                closed = k["t"]
    async with t.client() as client:
        health = await client.get("/healthz")
    body = health.json()
    held = closed is not None and health.status_code == 200 and body.get("pushing") is True
    minute = f"{datetime.fromtimestamp(closed / 1000, UTC):%R} closed" if closed else "none closed"
    return (
        held,
        f"after {attacks} and every probe above: {events} events, minute {minute}; "
        f"/healthz {health.status_code} pushing={body.get('pushing')}",
    )


# --- the read API -----------------------------------------------------------------------------


async def probe_host_header(t: Target) -> tuple[bool, str]:
    """A DNS-rebinding page's Host: refused over HTTP and WebSocket."""
    port = t.http.rsplit(":", 1)[1]
    evil = f"attacker.example:{port}"
    async with t.client() as client:
        answer = await client.get("/api/v3/ping", headers={"Host": evil})
    try:
        async with websockets.connect(
            f"ws://{evil}/ws",
            host="127.0.0.1",
            port=int(port),
            origin=f"http://{evil}",
            additional_headers=t.headers,
        ) as ws:
            await ws.recv()
        ws_seen = "WebSocket accepted"
    except websockets.exceptions.InvalidStatus as exc:
        ws_seen = f"WebSocket {exc.response.status_code}"
    except websockets.exceptions.ConnectionClosed as exc:
        ws_seen = f"WebSocket closed {exc.rcvd.code if exc.rcvd else '?'}"
    held = answer.status_code == 400 and ws_seen != "WebSocket accepted"
    return (held, f"HTTP {answer.status_code} {answer.text[:60]}; {ws_seen}")


async def probe_exchange_info_symbols(t: Target) -> tuple[bool, str]:
    """Invalid, too many and too long `symbols`: Binance's error codes, never a 500."""
    cases = {
        "invalid": ('["btc usdt"]', -1100),
        "101 names": (orjson.dumps([f"COIN{i}USDT" for i in range(101)]).decode(), -1101),
        "10 kB name": (orjson.dumps(["A" * 10_000]).decode(), -1100),
        "not JSON": ("[" * 5000, -1100),
    }
    seen, held = [], True
    async with t.client() as client:
        for label, (symbols, code) in cases.items():
            answer = await client.get("/api/v3/exchangeInfo", params={"symbols": symbols})
            got = answer.json().get("code") if answer.status_code < 500 else None
            held &= answer.status_code == 400 and got == code
            seen.append(f"{label} {answer.status_code}/{got}")
    return (held, ", ".join(seen))


async def probe_ws_1024_streams(t: Target) -> tuple[bool, str]:
    """1024 streams on one WebSocket are taken; the 1025th is refused and the socket closed."""
    names = [f"p{i}usdt@kline_1m" for i in range(1025)]
    async with websockets.connect(f"{t.ws}/ws", additional_headers=t.headers) as ws:
        subscribe = {"method": "SUBSCRIBE", "params": names[:1024], "id": 1}
        await ws.send(orjson.dumps(subscribe).decode())
        first = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        await asyncio.sleep(0.5)  # Binance's 5 messages a second
        subscribe = {"method": "SUBSCRIBE", "params": names[1024:], "id": 2}
        await ws.send(orjson.dumps(subscribe).decode())
        second, code = None, None
        try:
            while True:
                message = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
                if message.get("id") == 2:
                    second = message
        except websockets.exceptions.ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
        except TimeoutError:
            pass
    held = first.get("result", 0) is None and second and "error" in second and code == 1008
    return (
        bool(held),
        f"1024: {first}; 1025th: {second}; closed {code}",
    )


async def probe_month_zone_off_the_day(t: Target) -> tuple[bool, str]:
    """1M klines at timeZone=0:01 (rolled up off the day) while /api/v3/ping is asked every
    10 ms: the pings stay fast, the klines answer."""
    params = {"symbol": SYMBOL, "interval": "1M", "timeZone": "0:01", "startTime": "0"}

    async def ping(client: httpx.AsyncClient) -> float:
        started = time.perf_counter()
        await client.get("/api/v3/ping")
        return (time.perf_counter() - started) * 1000

    async with t.client() as client:
        # The machine's own pace first: what a ping takes with nothing else asked.
        alone = [await ping(client) for _ in range(5)]
        klines = asyncio.ensure_future(client.get("/api/v3/klines", params=params))
        pings: list[float] = []
        while not klines.done():
            pings.append(await ping(client))
            await asyncio.sleep(0.01)
        answer = await klines
    worst = max(pings, default=0.0)
    rows = len(answer.json()) if answer.status_code == 200 else answer.text[:80]
    held = answer.status_code == 200 and worst < 100
    return (
        held,
        f"klines {answer.status_code} ({rows} candles); {len(pings)} pings meanwhile, "
        f"slowest {worst:.0f} ms (alone: slowest {max(alone):.0f} ms)",
    )


async def probe_all_symbol_tickers(t: Target) -> tuple[bool, str]:
    """Twenty all-symbol ticker/24hr at once: all answered, one answer."""
    async with t.client() as client:
        answers = await asyncio.gather(*(client.get("/api/v3/ticker/24hr") for _ in range(20)))
    codes = sorted({a.status_code for a in answers})
    bodies = {a.text for a in answers if a.status_code == 200}
    held = codes == [200] and len(bodies) == 1
    return (held, f"statuses {codes}, {len(bodies)} distinct bodies")


async def probe_forwarded_for(t: Target) -> tuple[bool, str]:
    """A new X-Forwarded-For on every request from loopback, all-symbol ticker/24hr (weight 80)
    then pings (1) for the last units: the address's 429 (-1003) comes anyway, the budget
    spent to the last unit (gRPC's probe, next, finds it so)."""
    if t.weight_limit <= 0:
        return (True, "API_WEIGHT_LIMIT=0: no weight limit to escape")
    if time.time() % 60 > 40:  # the whole budget inside one of Binance's calendar minutes
        await asyncio.sleep(61 - time.time() % 60)
    sent, used, answer, heavy = 0, 0, None, True
    async with t.client() as client:
        while sent < t.weight_limit // 80 + 100:
            heavy = heavy and used + 80 <= t.weight_limit
            answer = await client.get(
                "/api/v3/ticker/24hr" if heavy else "/api/v3/ping",
                headers={"X-Forwarded-For": f"10.{sent // 250}.{sent % 250}.1"},
            )
            sent += 1
            if answer.status_code == 429 and not heavy:
                break
            heavy = heavy and answer.status_code != 429
            used = int(answer.headers.get("x-mbx-used-weight-1m", used))
    code = answer.json().get("code") if answer is not None else None
    held = answer is not None and answer.status_code == 429 and code == -1003
    return (
        held,
        f"{sent} requests, each a new X-Forwarded-For, {used} weight used: last "
        f"{answer.status_code} code {code}, Retry-After {answer.headers.get('retry-after')}",
    )


async def probe_grpc_same_budget(t: Target) -> tuple[bool, str]:
    """Right after REST's 429: gRPC History spends the same address's budget."""
    from api.proto.candles.v1 import candles_pb2, candles_pb2_grpc

    async with grpc.aio.insecure_channel(t.grpc) as channel:
        stub = candles_pb2_grpc.CandleServiceStub(channel)
        try:
            await stub.History(
                candles_pb2.HistoryRequest(symbol=SYMBOL, interval="1m", limit=5),
                metadata=[("x-mbx-apikey", v) for v in t.headers.values()],
                timeout=10,
            )
        except grpc.aio.AioRpcError as exc:
            held = exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            return (held, f"{exc.code().name}: {exc.details()}")
    return (False, "gRPC History answered past REST's 429")


# --- the pass ---------------------------------------------------------------------------------


STEPS: list[Callable[[Target], Awaitable[tuple[bool, str]] | tuple[bool, str]]] = [
    probe_role_limits,
    probe_airflow_no_connect,
    probe_rebuilt_runs_insert,
    probe_forged_rebuilt,
    probe_host_header,
    probe_exchange_info_symbols,
    probe_ws_1024_streams,
    probe_month_zone_off_the_day,
    probe_all_symbol_tickers,
    probe_process_env,
    probe_airflow_origin,
    # Spend the address's weight for the rest of the minute: after every metered probe.
    probe_forwarded_for,
    probe_grpc_same_budget,
]


async def attempt(name: str, result: Awaitable[tuple[bool, str]] | tuple[bool, str]) -> None:
    """Report one probe; one that cannot run is BROKEN with its error, and the pass goes on."""
    try:
        held, seen = await result if asyncio.iscoroutine(result) else result
    except Exception as exc:
        held, seen = False, f"could not run: {exc!r}"
    report(name.removeprefix("probe_"), held, seen)


async def run(t: Target) -> None:
    """Every probe once; the push's attacks and its live minute last."""
    async with t.client() as client:
        health = await client.get("/healthz")
    print(f"probing {t.http} (DATA_DIR {t.data_dir}), /healthz {health.status_code} {health.text}")
    listen = start_listen_in_transaction(t)
    for step in STEPS:
        try:
            result = step(t)
        except Exception as exc:
            result = (False, f"could not run: {exc!r}")
        await attempt(step.__name__, result)
    attacks = await asyncio.to_thread(attack_push, t)
    await attempt(listen.__name__, listen())
    await attempt("push_delivers_after_all", probe_push_delivers_after_all(t, attacks))


def main(argv: list[str] | None = None) -> int:
    """Parse --help, run the pass, exit 1 when any probe is broken."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.parse_args(argv)
    asyncio.run(run(Target()))
    return 0 if all(RESULTS) else 1


if __name__ == "__main__":
    sys.exit(main())
