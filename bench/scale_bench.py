"""Bench: what one run costs at ALL (about 2,000 symbols) and whether it grows with the history.

Run: `PYTHONPATH=. .venv/bin/python bench/scale_bench.py [--sections quality] [--symbols 20]`.
Each section is one function below, chosen with `--sections` (comma-separated, default all).
It uses databases on the DATABASE_URL server (or the embedded PostgreSQL), recreated each run.

quality: seconds per scheduled data-quality run (the DAG's 24-hour window ending now) over
`--symbols` symbols with 30 and with 365 days of history. The history is generated inside
PostgreSQL into its monthly partitions, made first as the platform does (1m klines, the newest
days also as closed live candles, a healed gap per symbol and day, a halt per symbol and month,
weekly reconciled windows), the timeframes are built by dbt, then `run_checks` runs once per
history to warm up and `--rounds` times measured, and so does its SQL alone (each check's query
once, without GX: what grows if anything reads outside the window), the two histories in turn.
Prints the median and spread per history length, the ratio 365 / 30 days of the run and of its
SQL (target: both within 1.2), the same run with a day of the DAG's earlier runs (288) stored
in the GX project, and the run at 2,000 symbols, measured as one run over a window of the year
holding as many candles as 2,000 symbols' 24 hours (20 symbols x 100 days; target under 20
s, issue #45).
`--wide 2000` also measures 2,000 symbols x `--wide-days` days directly (several minutes more).

storage: bytes per symbol-year, table + indexes + TOAST. The figure: a live month
(bench/scale/live_month.py: `--storage-days` days of `--storage-symbols` symbols, each
trading `--storage-updates` times a minute) written as the platform writes it, faster than real
time: the streamer's Aggregator and Writer upsert every minute once per trade and close it, the
daily klines land through the backfill's writer and its live retention runs after them, dbt
builds the marts, and autovacuum's rule is applied at every simulated minute; then the month's
klines and marts scaled to a year, plus what the live table holds at the default
LIVE_RETENTION_DAYS (`--storage-rounds` months, median and spread). Before it, for
comparison, the year at rest (migration 0011; the live table's partitions are days, 0018):
`--storage-symbols` symbols x one year (2025) of 1m klines with BTC-like decimals (prices
with 2 decimals near 60,000-90,000, volumes with 5, quote volumes exact products), the same
minutes as closed live candles, inserted at once, and the seven marts built by dbt; the live
table as partitions.maintain as of 2025-12-08 00:00 leaves it.

streamer: one `python -m streamer` (SYMBOLS=ALL) against the fake exchange at ALL (2,000
skewed symbols, listings and delistings mid-run) offering `--streamer-rate` trades/s (default
3.1x Binance's peak, ~43,400); prints trades/s committed, the streamer's CPU, p99
event-to-commit and the ratio to Binance's peak, per round and the median of `--rounds`
(`--streamer-shards n` runs n processes with STREAMER_SHARD). Binance's average and peak
rates, and where they come from, are in the section's docstring (`streamer` below).

heal: seconds per scheduled heal-gaps run (include/history/heal.py heal_gaps, as the
binance_heal_gaps DAG runs it, against the fake exchange serving REST on a frozen clock) over
`--symbols` symbols with 30 and with 365 days of history, generated as the quality section's is
(GENERATE, the newest day also live, HISTORY_BESIDE's healed gaps, halts and reconciled windows
beside it; no dbt). A first run checks the whole history and sets the watermarks; then
`--rounds` scheduled runs follow, each after 15 more market minutes arrived with a two-minute
hole in every fifth symbol, which REST fills. Prints the median and spread per history length,
the same for the run's database reads alone (what would grow if anything read before the
watermark; REST and the writes do not depend on the history), the ratio 365 / 30 days of both
(target within 1.2); then the same at `--heal-wide` symbols (default 2,000) with
`--heal-wide-days` of history (2,000 x 365 days of 1m rows is a billion rows, too many to
generate here: the ratio above is what shows the history's length does not matter). Target:
every run under 5 minutes. It opens with the arithmetic of a backfill of ALL x 1 year: its REST
weight and the hours it takes at the IP's limit, from the weights and limits in the code.

`restart` (see restart()): `python -m streamer` at ALL with every default, under Binance's own
REST limit, SIGKILLed, down 150 s and started again: how long until every minute it missed is
closed in market.candles_1m_live, and whether each equals the official kline.

coinm: `python -m streamer` at COIN-M's ALL (`--coinm-contracts` synthetic perpetuals beside
BTCUSD_PERP and ETHUSD_PERP) with every default for `--coinm-minutes` market minutes at the
host's pace; every closed minute compared with /dapi/v1/klines, the minutes settled from klines
and the settle's share of the futures' weight pool (bench/scale/coinm.py).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable

from bench.results import command_line, last_lines, printed, record
from bench.scale.coinm import coinm
from bench.scale.common import ALL_SYMBOLS, BINANCE_PEAK_TRADES_PER_S
from bench.scale.heal import heal
from bench.scale.quality import quality
from bench.scale.restart import restart
from bench.scale.storage import storage
from bench.scale.streamer import streamer

# One function per section; other sections (streamer, heal-gaps) join this table.
SECTIONS: dict[str, Callable[[argparse.Namespace], None]] = {
    "quality": quality,
    "storage": storage,
    "streamer": streamer,
    "restart": restart,
    "heal": heal,
    "coinm": coinm,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated, from: {', '.join(SECTIONS)} (default: all)",
    )
    parser.add_argument("--symbols", type=int, default=20, help="symbols per measured history")
    parser.add_argument("--rounds", type=int, default=3, help="measured runs per case")
    parser.add_argument(
        "--wide", type=int, default=0, help="also measure this many symbols directly (0 = no)"
    )
    parser.add_argument("--wide-days", type=int, default=2, help="history of the --wide case")
    parser.add_argument(
        "--storage-symbols", type=int, default=2, help="storage: symbols (the year and the month)"
    )
    parser.add_argument(
        "--storage-updates",
        type=int,
        # Binance's average ~460 trades/s over ~2,000 symbols: ~14 a minute per symbol.
        default=14,
        help="live month: trades (writer flushes) per symbol and minute",
    )
    parser.add_argument(
        "--storage-dbt-every", type=int, default=720, help="live month: dbt every N minutes"
    )
    parser.add_argument("--storage-days", type=int, default=30, help="live month: days played")
    parser.add_argument("--storage-rounds", type=int, default=1, help="live months played")
    parser.add_argument(
        "--heal-wide", type=int, default=ALL_SYMBOLS, help="symbols of heal's wide case (0 = no)"
    )
    parser.add_argument("--heal-wide-days", type=int, default=1, help="history of that case")
    parser.add_argument(
        "--streamer-rate",
        type=float,
        # A little over 3x: the fake offers its rate exactly, so at 3x "committed >= 3x" would
        # be decided by a round's noise of a few trades/s either way.
        default=3.1 * BINANCE_PEAK_TRADES_PER_S,
        help="streamer: trades/s the fake offers over the whole market (default 3.1x the peak)",
    )
    parser.add_argument("--streamer-symbols", type=int, default=ALL_SYMBOLS)
    parser.add_argument(
        "--streamer-shards", type=int, default=1, help="streamer: processes (STREAMER_SHARD)"
    )
    parser.add_argument(
        "--streamer-unpinned",
        action="store_true",
        help="streamer: let one process run on any CPU (default: pinned to CPU 0)",
    )
    parser.add_argument("--streamer-seconds", type=float, default=30.0)
    parser.add_argument("--streamer-warmup", type=float, default=20.0)
    parser.add_argument("--restart-warmup", type=float, default=120.0, help="restart: first run")
    parser.add_argument("--restart-down", type=float, default=150.0, help="restart: down for")
    parser.add_argument(
        "--restart-log", default="", help="restart: append the streamer's INFO log to this file"
    )
    parser.add_argument(
        "--restart-window", type=float, default=300.0, help="restart: watched after the restart"
    )
    parser.add_argument(
        "--coinm-contracts", type=int, default=60, help="coinm: synthetic contracts beside two"
    )
    parser.add_argument("--coinm-trades-per-minute", type=float, default=200.0)
    parser.add_argument("--coinm-minutes", type=float, default=6.0, help="coinm: measured")
    parser.add_argument("--coinm-warmup", type=float, default=20.0)
    args = parser.parse_args()
    chosen = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    for name in chosen:
        print(f"== {name}")
        with printed() as lines:
            SECTIONS[name](args)
        rounds = args.storage_rounds if name == "storage" else args.rounds
        record(f"scale_bench-{name}", command_line(), last_lines(lines), rounds=rounds)


if __name__ == "__main__":
    main()
