{#- The rows the model's last run wrote (all of them after a full refresh): tests check what a
    run changed, so an incremental build's tests do not grow with years of history. -#}
{% macro recently_built(model) -%}
    (
        select *
        from {{ model }}
        where built_at >= {{ timestamp_literal("select max(built_at) from " ~ model) }}
    )
{%- endmacro %}
