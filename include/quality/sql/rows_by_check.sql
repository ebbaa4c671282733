-- A shared check query's rows (include/quality/expectation.py, UnexpectedRowsAndCountByCheck):
-- numbered in the query's own order (the empty window keeps it), then per check (its
-- _quality_check column) counted and ranked in that order; the first {limit} of each kept.
select *
from (
    select
        ordered.*,
        count(*) over (partition by _quality_check) as _quality_unexpected_row_count,
        row_number() over (
            partition by _quality_check order by _quality_order
        ) as _quality_rank
    from (
        select
            unexpected.*,
            row_number() over () as _quality_order
        from ({query}) as unexpected
    ) as ordered
) as ranked
where _quality_rank <= {limit}
order by _quality_order
