"""PostgreSQL's autovacuum rule, applied on a simulated clock.

The platform sets no vacuum settings of its own: it relies on the server's autovacuum, which
looks at each database once per autovacuum_naptime (a minute) and vacuums (analyzes) every
table past its thresholds. A bench that plays a month in minutes of real time would get a
few real autovacuum rounds instead of ~43,000, so its tables would bloat as no running platform
does; this applies the same rule at each simulated minute instead (the real autovacuum keeps
running beside it). Its thresholds are the server's settings, overridden by a table's own
reloptions, as autovacuum reads them (relation_needs_vacanalyze in
src/backend/postmaster/autovacuum.c).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import sql

SETTINGS = (
    "autovacuum_vacuum_threshold",
    "autovacuum_vacuum_scale_factor",
    "autovacuum_vacuum_insert_threshold",
    "autovacuum_vacuum_insert_scale_factor",
    "autovacuum_analyze_threshold",
    "autovacuum_analyze_scale_factor",
)

# Every table with statistics (a partitioned parent has none: autovacuum takes its leaves),
# its reloptions and the counters autovacuum decides by. reltuples is -1 before a first vacuum
# or analyze: autovacuum counts it as 0.
TABLES = """
select s.relid::regclass::text, c.reloptions, greatest(c.reltuples, 0),
    s.n_dead_tup, s.n_ins_since_vacuum, s.n_mod_since_analyze
from pg_stat_user_tables as s join pg_class as c on c.oid = s.relid
where c.relkind in ('r', 'm')
"""


@dataclass
class Autovacuum:
    """The rule and what it did."""

    settings: dict[str, float] = field(default_factory=dict)
    vacuums: int = 0
    analyzes: int = 0  # analyze alone; a vacuum analyzes too when due

    def load(self, conn: psycopg.Connection) -> None:
        rows = conn.execute(
            "select name, setting from pg_settings where name = any(%s)", (list(SETTINGS),)
        ).fetchall()
        self.settings = {name: float(value) for name, value in rows}

    def _limit(self, options: dict[str, str], kind: str, reltuples: float) -> float:
        base, scale = f"autovacuum_{kind}_threshold", f"autovacuum_{kind}_scale_factor"
        return (
            float(options.get(base, self.settings[base]))
            + float(options.get(scale, self.settings[scale])) * reltuples
        )

    def run(self, conn: psycopg.Connection) -> None:
        """One naptime's round: vacuum (with analyze when due) or analyze each table due."""
        if not self.settings:
            self.load(conn)
        for row in conn.execute(TABLES).fetchall():
            name, reloptions, reltuples, dead, inserted, modified = row
            options = dict(o.split("=", 1) for o in reloptions or [])
            if options.get("autovacuum_enabled", "true").lower() in ("false", "off", "0"):
                continue
            vacuum = dead > self._limit(options, "vacuum", reltuples) or inserted > self._limit(
                options, "vacuum_insert", reltuples
            )
            analyze = modified > self._limit(options, "analyze", reltuples)
            if not (vacuum or analyze):
                continue
            table = sql.SQL(name)  # a regclass's text: already quoted as needed
            if vacuum:
                conn.execute(sql.SQL("vacuum (analyze {}) {}").format(sql.SQL(str(analyze)), table))
                self.vacuums += 1
            else:
                conn.execute(sql.SQL("analyze {}").format(table))
                self.analyzes += 1
