-- Inlined (not materialized): the planner sees the window as constants and bounds each scan.
params as not materialized (

    select
        {window_start}::timestamptz as window_start,
        {window_end}::timestamptz as window_end{bucket_columns}

)
