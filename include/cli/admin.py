"""Setting the platform up: its configuration, tables and partitions, Airflow's pools,
passwords and grants, and the embedded PostgreSQL server (`db start|stop|url`)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import typer

from include.platform import db, pgserver
from include.platform.migrate import migrate as apply_migrations
from include.platform.settings import env_file, get_settings


def config() -> None:
    """Print the configuration in effect (environment, then .env, then defaults)."""
    settings = get_settings()
    url = settings.database_url
    if url:
        parts = urlsplit(url)
        if parts.password:
            url = url.replace(f":{parts.password}@", ":***@", 1)
    rows = {
        "DATABASE_URL": url or f"embedded PostgreSQL under {settings.data_dir / 'pg'}",
        "SYMBOLS": "ALL" if settings.symbols is None else " ".join(settings.symbols),
        "BINANCE_WS_URL": settings.binance_ws_url,
        "BINANCE_REST_URL": settings.binance_rest_url,
        "BINANCE_DATA_URL": settings.binance_data_url,
        "DATA_DIR": str(settings.data_dir),
        "ALERT_WEBHOOK_URL": "set" if settings.alert_webhook_url else "unset",
        ".env": str(env_file()) if env_file().is_file() else "none",
    }
    for name, value in rows.items():
        typer.echo(f"{name}={value}")


def migrate() -> None:
    """Create or upgrade the platform's tables (safe to run twice)."""
    applied = apply_migrations(db.resolve_database_url())
    typer.echo(f"migrations applied: {', '.join(applied) if applied else 'none (up to date)'}")


def partitions(
    retention_days: int = typer.Option(
        None,
        "--live-retention-days",
        min=0,
        help="Drop market.candles_1m_live's days that ended longer ago and whose every minute "
        "has its official kline (default: LIVE_RETENTION_DAYS, 7; 0 = keep every day).",
    ),
) -> None:
    """Create the coming partitions, empty the DEFAULT ones, apply live retention."""
    from include.jobs import live_retention

    done = live_retention(retention_days, database_url=db.resolve_database_url())
    for table, made in done["created"].items():
        typer.echo(f"{table}: {made} partition(s) created")
    if not done["days"]:
        typer.echo("live retention: off (LIVE_RETENTION_DAYS=0)")
    elif done["deferred"]:
        typer.echo(
            f"live retention ({done['days']} days): deferred, market.candles_1m_live stayed in use"
        )
    else:
        dropped = " ".join(done["dropped"]) or "none"
        kept = " ".join(done["kept"])
        kept = f"; kept (a minute without its kline): {kept}" if kept else ""
        typer.echo(f"live retention ({done['days']} days): dropped {dropped}{kept}")


def rebuild_indexes() -> None:
    """Pack the indexes of the candle tables' finished months (REINDEX CONCURRENTLY), as the
    administrator: what the DAGs' rebuild_indexes tasks do, every market's klines and marts."""
    from include.jobs import rebuild_indexes as rebuild

    url = db.resolve_database_url()
    for kind in ("klines", "marts"):
        done = rebuild(kind, database_url=url)
        for relation, (before, after) in done["rebuilt"].items():
            typer.echo(f"{relation}: indexes {before / 1e6:.1f} -> {after / 1e6:.1f} MB")
        for relation in done["left"]:
            typer.echo(f"{relation}: due, left to the next run (10 minutes spent)")
        for relation in done["blocked"]:
            typer.echo(f"{relation}: due, but an invalid index of a failed rebuild is on it")
    typer.echo("index rebuilds: done")


def airflow_pools(
    path: str,
    limit: int = typer.Option(
        None, help="Binance's REQUEST_WEIGHT per minute, if not the documented 6000."
    ),
) -> None:
    """Write the Airflow pools file (binance_rest) for `airflow pools import PATH`."""
    from include.platform import rest_pool

    pools = rest_pool.pools_file(limit or rest_pool.DOCUMENTED_LIMIT)
    Path(path).write_text(json.dumps(pools, indent=2) + "\n")
    slots = pools[rest_pool.POOL]["slots"]
    typer.echo(f"pool {rest_pool.POOL}: {slots} slots")


def airflow_passwords(path: str) -> None:
    """Write Airflow's simple-auth passwords file, mode 0600: AIRFLOW_ADMIN_PASSWORD, else one
    generated into DATA_DIR/secrets/airflow-admin.password on the first start (printed then,
    and only then, so run.sh can show it once beside the UI's address)."""
    settings = get_settings()
    password = settings.secret("AIRFLOW_ADMIN_PASSWORD")
    if not password:
        kept = settings.data_dir / "secrets" / "airflow-admin.password"
        existed = kept.is_file() and kept.read_text().strip()
        password = pgserver.read_or_create_secret(kept)
        if not existed:
            typer.echo(
                f"Airflow login: {settings.airflow_admin_user} / {password} "
                f"(generated, kept in {kept})"
            )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({settings.airflow_admin_user: password}, out)
    target.chmod(0o600)


def airflow_grants() -> None:
    """Let analytics_reader read Airflow's DAG and task outcomes (for Grafana), as the owner of
    Airflow's metadata database (AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)."""
    url = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    if not url:
        raise ValueError("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN is not set")
    db.grant_airflow_reads(re.sub(r"^postgresql\+\w+:", "postgresql:", url))
    typer.echo(f"{db.READER} may read dag_run and task_instance")


def db_start() -> None:
    """Start the embedded server (or reuse the running one) and print its URL."""
    settings = get_settings()
    if settings.database_url:
        typer.echo("DATABASE_URL is set: nothing to start")
        return
    typer.echo(db.resolve_database_url(settings))


def db_stop() -> None:
    """Stop the embedded server cleanly."""
    stopped = pgserver.stop(db.embedded_pgdata(get_settings()))
    typer.echo("stopped" if stopped else "not running")


def db_url(
    database: str = typer.Option(
        None, help="Another database on the same server, created if missing."
    ),
    owner: str = typer.Option(
        None,
        help="With --database: the database is this login role's (created, its password kept "
        "in DATA_DIR/secrets), and the URL logs in as it.",
    ),
    role: str = typer.Option(
        None, help=f"The URL of one of the platform's roles ({', '.join(db.ROLES)})."
    ),
) -> None:
    """Print the platform database's URL (starts the embedded server if needed): the
    administrator's, or a role's, so each process can be given only its own."""
    url = db.resolve_database_url()
    if role:
        if role not in db.ROLES:
            raise ValueError(f"--role: {role!r} is not one of {', '.join(db.ROLES)}")
        url = db.role_url(url, role)
    elif database and owner:
        url = db.ensure_owned_database(url, database, owner)
    elif database:
        db.ensure_database(url, database)
        url = db.with_database(url, database)
    typer.echo(url)
