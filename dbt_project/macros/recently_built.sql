{#- The rows the model's last run wrote (all of them after a full refresh): tests check what a
    run changed, so an incremental build's tests do not grow with years of history.
    newest_from: for a view whose built_at is its sources' write time (candles_1m), the
    [source, table, column] pairs those times come from. The newest is then read from each
    source's index on that column: through the view, max(built_at) scans the live rows newest
    first until one has no kline, and once every live minute has its kline (the streamer
    stopped, or a reconcile) that is every live row, 23 s a build at 2,000 symbols. The rows at
    or after it are the newest write's, as before, unless that write is a live minute hidden by
    its kline; then none are, and the next write is checked. -#}
{% macro recently_built(model, newest_from=none) -%}
    {%- if newest_from -%}
        {%- set newest -%}
            select greatest(
                {%- for source_name, table, column in newest_from %}
                (select max({{ column }}) from {{ source(source_name, table) }})
                {{- ',' if not loop.last }}
                {%- endfor %}
            )
        {%- endset -%}
    {%- else -%}
        {%- set newest = "select max(built_at) from " ~ model -%}
    {%- endif %}
    (
        select *
        from {{ model }}
        where built_at >= {{ timestamp_literal(newest) }}
    )
{%- endmacro %}
