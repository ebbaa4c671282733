"""Command line: run the fake exchange until SIGTERM/SIGINT (``python -m fakebinance``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from datetime import UTC, datetime

from fakebinance.clock import MarketClock
from fakebinance.config import MarketConfig, all_market, default_symbols, make_symbols
from fakebinance.futures import (
    SEED_OFFSET,
    coin_contracts,
    default_contracts,
    synthetic_coin_contracts,
)
from fakebinance.server import FakeBinance

logger = logging.getLogger(__name__)

# The options of the ALL market, each "with --all:" in --help: (flag, type, default, help).
ALL_OPTIONS = (
    (
        "--rate",
        float,
        460.0,
        "trades per second over the whole market (Binance: ~460 average, ~14,000 at a peak; "
        "see bench/scale_bench.py)",
    ),
    ("--listings", int, 3, "symbols listed mid-run"),
    ("--delistings", int, 3, "symbols delisted (BREAK) mid-run"),
    (
        "--events-after",
        float,
        60.0,
        "market seconds after the start of the first listing or delisting",
    ),
    ("--events-every", float, 30.0, "seconds between them"),
)


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``python -m fakebinance``."""
    p = argparse.ArgumentParser(prog="python -m fakebinance", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    p.add_argument(
        "--symbols",
        default="BTCUSDT,ETHUSDT,PEPEUSDT",
        help="comma list taken from the default symbols",
    )
    p.add_argument("--n-symbols", type=int, default=0, help="add N synthetic SYMnnnnUSDT")
    p.add_argument(
        "--trades-per-minute", type=float, default=60.0, help="rate of the synthetic symbols"
    )
    p.add_argument(
        "--all",
        type=int,
        default=0,
        metavar="N",
        help="ALL: N skewed symbols ALLnnnnUSDT, replacing --symbols and --n-symbols "
        "(Binance spot has ~2,000)",
    )
    for flag, kind, default, text in ALL_OPTIONS:
        p.add_argument(flag, type=kind, default=default, help=f"with --all: {text}")
    p.add_argument(
        "--warm",
        action="store_true",
        help="draw every symbol's current trades before serving (a busy market takes seconds)",
    )
    p.add_argument(
        "--warm-tickers",
        action="store_true",
        help="compute every symbol's 24-hour ticker before serving (ALL: about a minute), so "
        "the first /api/v3/ticker/24hr answers at once",
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--speed", type=float, default=1.0, help="market seconds per wall second")
    p.add_argument("--start", default=None, help="market start time, ISO 8601 (UTC)")
    p.add_argument("--weight-limit", type=int, default=6000)
    p.add_argument(
        "--usdm",
        action="store_true",
        help="also serve USDⓈ-M perpetuals (BTCUSDT, ETHUSDT) on /fapi/v1",
    )
    p.add_argument(
        "--usdm-weight-limit", type=int, default=2400, help="the futures' own IP weight a minute"
    )
    add_contracts_option(p, "usdm", "SYM0001USDT...")
    p.add_argument(
        "--coinm",
        action="store_true",
        help="also serve COIN-M perpetuals (BTCUSD_PERP, ETHUSD_PERP) on /dapi/v1 and "
        "/dstream (sharing the USDⓈ-M weight limit, as Binance's do)",
    )
    add_contracts_option(p, "coinm", "SYM0001USD_PERP..., 10 USD a contract")
    p.add_argument("--weight-window", type=float, default=60)
    p.add_argument("--dump-cache-dir", default=None)
    p.add_argument("--log-level", default="WARNING")
    return p


def add_contracts_option(p: argparse.ArgumentParser, venue: str, names: str) -> None:
    """--<venue>-n-contracts: how many synthetic perpetuals the venue serves beside its own."""
    p.add_argument(
        f"--{venue}-n-contracts",
        type=int,
        default=0,
        help=f"with --{venue}: also this many synthetic perpetuals ({names}) trading "
        "--trades-per-minute each",
    )


def config_from_args(args: argparse.Namespace, start: datetime | None = None) -> MarketConfig:
    """Market configuration the command line describes (``start``: the market clock's start)."""
    if args.all:
        return all_market(
            start or datetime.now(UTC),
            n_symbols=args.all,
            trades_per_second=args.rate,
            listings=args.listings,
            delistings=args.delistings,
            events_after=args.events_after,
            events_every=args.events_every,
            seed=args.seed,
        )
    known = {s.symbol: s for s in default_symbols()}
    names = [s.strip().upper() for s in args.symbols.split(",") if s.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown symbols {unknown}; known: {sorted(known)}")
    specs = tuple(known[n] for n in names)
    if args.n_symbols:
        specs += make_symbols(args.n_symbols, trades_per_minute=args.trades_per_minute)
    return MarketConfig(args.seed, specs)


async def serve(args: argparse.Namespace) -> None:
    """Run until a termination signal arrives."""
    start = None
    if args.start:
        start = datetime.fromisoformat(args.start.replace("Z", "+00:00"))
        if start.tzinfo is None:
            raise SystemExit("--start needs a UTC offset, e.g. 2025-01-01T00:00:00+00:00")
    clock = MarketClock(start=start, speed=args.speed)
    fake = FakeBinance(
        config_from_args(args, clock.now()),
        clock=clock,
        weight_limit=args.weight_limit,
        weight_window=args.weight_window,
        dump_cache_dir=args.dump_cache_dir,
        usdm_config=(
            MarketConfig(
                args.seed + SEED_OFFSET,
                default_contracts()
                + make_symbols(args.usdm_n_contracts, trades_per_minute=args.trades_per_minute),
            )
            if args.usdm
            else None
        ),
        usdm_weight_limit=args.usdm_weight_limit,
        coinm_config=(
            MarketConfig(
                args.seed + 2 * SEED_OFFSET,
                coin_contracts()
                + synthetic_coin_contracts(
                    args.coinm_n_contracts, trades_per_minute=args.trades_per_minute
                ),
            )
            if args.coinm
            else None
        ),
    )
    if args.warm:
        started = time.perf_counter()
        trades = fake.market.warm()
        logger.warning("warmed %d trades in %.1f s", trades, time.perf_counter() - started)
    if args.warm_tickers:
        started = time.perf_counter()
        fake.rest.day_tickers.warm()
        logger.warning("warmed the 24-hour tickers in %.1f s", time.perf_counter() - started)
    await fake.start(args.host, args.port)
    print(fake.url, flush=True)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    try:
        await done.wait()
    finally:
        await fake.stop()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
