{#- An incremental model's exact horizon (include/sql/functions/build_horizons.sql): the change
    time from which its next build must re-read source rows. Recorded as pending before the
    build reads, promoted after it wrote, both in the model's transaction: a failed build
    leaves the horizon it started from. -#}

{#- The key a model's horizon is kept under (schema.table, whatever the database's name). -#}
{% macro build_horizon_key() -%}
    {{ dbt.string_literal(this.schema ~ '.' ~ this.identifier) }}
{%- endmacro %}


{#- Pre-hook. -#}
{% macro begin_build_horizon() -%}
    {%- if model.config.materialized == 'incremental' -%}
        select market.begin_build_horizon({{ build_horizon_key() }})
    {%- endif -%}
{%- endmacro %}


{#- Post-hook. -#}
{% macro commit_build_horizon() -%}
    {%- if model.config.materialized == 'incremental' -%}
        select market.commit_build_horizon({{ build_horizon_key() }})
    {%- endif -%}
{%- endmacro %}

