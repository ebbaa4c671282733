"""The COIN-M section: the live streamer at COIN-M's ALL, every default, checked minute by minute.

`python -m streamer` with MARKETS=coinm and COINM_SYMBOLS=ALL against the fake's COIN-M
(BTCUSD_PERP, ETHUSD_PERP and `--coinm-contracts` synthetic perpetuals of 10 USD a contract; a
few dozen is the size of Binance's dapi list) at the fake's default futures limit (2,400 weight a
minute, shared with /fapi), startup repair on, the market clock at the host's pace: the
production path. After `--coinm-minutes` market minutes it stops the streamer and compares every
closed minute of every contract with /dapi/v1/klines field for field. Prints the minutes closed
from trades and those whose base volumes were settled from klines (streamer/inverse.py), what
the settle asked of REST per minute and its share of the pool, p99 event-to-commit, the
streamer's CPU, and the mismatches (target 0; a planted fault shows the comparison can fail).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg

from bench.databases import fresh_database
from bench.scale.common import _cpu_seconds, _free_port, bucket_quantile, start_fake
from bench.scale.restart import _terminate
from include.platform import db
from include.platform.markets import MARKETS
from include.platform.times import CANDLE_FIELDS, MINUTE_MS
from streamer.config import MARKET_PORT_STEP

COINM_DB = "scale_bench_coinm"
# A minute's start: the first minute is whole.
COINM_START = "2025-01-01T00:00:00+00:00"
FUTURES_WEIGHT_LIMIT = 2400
# A settle's klines request asks a futures page (499 rows: weight 2).
SETTLE_WEIGHT = 2


def _metrics(port: int) -> dict[str, float]:
    """The streamer's /metrics as name -> value (the event-to-commit histogram's buckets under
    ``le=...`` keys)."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=60) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "streamer_event_to_commit_seconds_bucket":
                out[f"le={sample.labels['le']}"] = sample.value
            else:
                out[sample.name] = out.get(sample.name, 0.0) + sample.value
    return out


def _closed(url: str) -> dict[str, dict[int, tuple]]:
    """Every closed minute of market_coinm.candles_1m_live: symbol -> open ms -> values."""
    out: dict[str, dict[int, tuple]] = {}
    query = (
        f"select symbol, (extract(epoch from open_time) * 1000)::bigint, "
        f"{', '.join(CANDLE_FIELDS)} from market_coinm.candles_1m_live where is_closed"
    )
    with psycopg.connect(url) as conn:
        for symbol, open_ms, *values in conn.execute(query):
            out.setdefault(symbol, {})[open_ms] = tuple(values)
    return out


def _klines(fake_url: str, symbol: str, first: int, last: int) -> dict[int, tuple]:
    """The contract's /dapi/v1 klines from ``first`` to ``last`` (open times), as values in
    CANDLE_FIELDS' order: Binance's columns 1-5 and 7-10."""
    resp = httpx.get(
        f"{fake_url}/dapi/v1/klines",
        params={
            "symbol": symbol,
            "interval": "1m",
            "startTime": first,
            "endTime": last + MINUTE_MS - 1,
            "limit": 1500,
        },
        timeout=30,
    )
    resp.raise_for_status()
    out = {}
    for k in resp.json():
        values = [Decimal(k[i]) for i in (1, 2, 3, 4, 5, 7)]
        values += [int(k[8]), Decimal(k[9]), Decimal(k[10])]
        out[int(k[0])] = tuple(values)
    return out


def _compare(url: str, fake_url: str, plant: bool) -> tuple[int, list[str], int]:
    """(minutes compared, mismatches, contracts): every closed minute against its kline;
    ``plant`` moves one stored base volume by 1e-8 first (the comparison must catch it)."""
    if plant:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "update market_coinm.candles_1m_live set quote_volume = quote_volume + 0.00000001 "
                "where (symbol, open_time) = (select symbol, open_time from "
                "market_coinm.candles_1m_live where is_closed and trade_count > 0 limit 1)"
            )
    compared, wrong = 0, []
    closed = _closed(url)
    for symbol, minutes in sorted(closed.items()):
        official = _klines(fake_url, symbol, min(minutes), max(minutes))
        for open_ms, values in sorted(minutes.items()):
            compared += 1
            kline = official.get(open_ms)
            if kline is None:
                wrong.append(f"{symbol} {open_ms}: no kline")
                continue
            for name, ours, theirs in zip(CANDLE_FIELDS, values, kline, strict=True):
                if ours != theirs:
                    wrong.append(f"{symbol} {open_ms} {name}: {ours} != {theirs}")
    return compared, wrong, len(closed)


def coinm(args: argparse.Namespace) -> None:
    """COIN-M's live streamer at its ALL, every default; see the module's docstring."""
    url = fresh_database(db.resolve_database_url(), COINM_DB)
    root = Path(__file__).resolve().parents[2]
    n = args.coinm_contracts
    fake_cmd = [
        sys.executable, "-m", "fakebinance", "--port", "0", "--symbols", "", "--coinm",
        "--coinm-n-contracts", str(n), "--trades-per-minute", str(args.coinm_trades_per_minute),
        "--start", COINM_START,
    ]  # fmt: skip
    fake, fake_url = start_fake(fake_cmd, root)
    # Each market's health port is STREAMER_HEALTH_PORT plus its place's step (coinm: +200).
    port = _free_port()
    offset = MARKET_PORT_STEP * list(MARKETS).index("coinm")
    env = {
        **os.environ,
        "PYTHONPATH": str(root),
        "DATABASE_URL": url,
        "MARKETS": "coinm",
        "COINM_SYMBOLS": "ALL",
        "BINANCE_COINM_WS_URL": f"{fake_url}/dstream",
        "BINANCE_COINM_REST_URL": fake_url,
        "STREAMER_HEALTH_PORT": str(port - offset),
        "STREAMER_LOG_LEVEL": "WARNING",
    }
    contracts = n + 2
    print(
        f"  fake: {contracts} COIN-M perpetuals at {args.coinm_trades_per_minute:g} trades a "
        f"minute each, the market clock at the host's pace; the streamer with every default"
    )
    try:
        streamer = subprocess.Popen(
            [sys.executable, "-m", "streamer"], cwd=root, env=env, stderr=subprocess.PIPE
        )
        try:
            time.sleep(args.coinm_warmup)
            if streamer.poll() is not None:
                raise SystemExit(f"the streamer exited with {streamer.returncode}")
            before = _metrics(port)
            asked0 = _requests(fake_url)
            cpu0, wall0 = _cpu_seconds(streamer.pid), time.monotonic()
            time.sleep(args.coinm_minutes * 60)
            after = _metrics(port)
            asked1 = _requests(fake_url)
            cpu1, wall1 = _cpu_seconds(streamer.pid), time.monotonic()
        finally:
            streamer.send_signal(signal.SIGTERM)
            try:
                _, err = streamer.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                streamer.kill()
                _, err = streamer.communicate()
        if streamer.returncode != 0:
            raise SystemExit(f"the streamer exited with {streamer.returncode}: {err[-2000:]!r}")
        compared, wrong, seen = _compare(url, fake_url, plant=False)
        _, planted, _ = _compare(url, fake_url, plant=True)
    finally:
        _terminate(fake)
    minutes = (wall1 - wall0) / 60
    settled = after["streamer_minutes_settled_from_klines"] - before.get(
        "streamer_minutes_settled_from_klines", 0
    )
    own = after["streamer_minutes_closed_from_trades"] - before.get(
        "streamer_minutes_closed_from_trades", 0
    )
    settle_requests = asked1.get("/dapi/v1/klines", 0) - asked0.get("/dapi/v1/klines", 0)
    buckets = sorted(
        (float(k[3:]), after[k] - before.get(k, 0.0)) for k in after if k.startswith("le=")
    )
    p99 = bucket_quantile(buckets, 0.99)
    per_minute = settle_requests / minutes
    share = SETTLE_WEIGHT * per_minute / FUTURES_WEIGHT_LIMIT
    print(
        f"  over {minutes:.1f} market minutes: {own:.0f} minutes closed from trades, "
        f"{settled:.0f} settled from klines ({settled / max(own + settled, 1):.0%}: an aggTrade "
        f"of several fills), {after.get('streamer_minutes_unsettled', 0):.0f} waiting at the end; "
        f"{per_minute:.1f} klines requests a minute (weight ~{SETTLE_WEIGHT * per_minute:.0f} "
        f"of {FUTURES_WEIGHT_LIMIT:,}, {share:.1%}); p99 event-to-commit "
        f"{p99 * 1000:.0f} ms; streamer CPU {(cpu1 - cpu0) / (wall1 - wall0):.2f} cores"
    )
    print(
        f"COIN-M at ALL ({contracts} contracts, every default): {compared:,} closed minutes of "
        f"{seen} contracts compared with /dapi/v1/klines field for field, {len(wrong)} differ "
        f"(target 0){': ' + '; '.join(wrong[:3]) if wrong else ''}; "
        f"{settled / max(own + settled, 1):.0%} of the minutes took their base volumes from "
        f"klines at {share:.1%} of the futures pool; p99 event-to-commit {p99 * 1000:.0f} ms; "
        f"a planted 1e-8 in one base volume: "
        f"{len(planted)} differ ({'caught' if planted else 'NOT caught'})"
    )


def _requests(fake_url: str) -> dict[str, int]:
    """The fake's requests so far, by path."""
    return httpx.get(f"{fake_url}/fake/stats", timeout=30).json()["requests_by_path"]
