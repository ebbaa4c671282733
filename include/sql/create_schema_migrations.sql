-- The migrations applied so far, with the checksum each file had (include/platform/migrate.py).
create table if not exists public.schema_migrations (
    version text primary key,
    checksum text not null,
    applied_at timestamptz not null default now()
)
