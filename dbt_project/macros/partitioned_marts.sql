{#- The marts are partitioned by month on open_time (migration 0011), as market's candle tables.
    dbt's incremental delete+insert on a partitioned table is ordinary DML; what must not happen
    is dbt replacing the table with a plain one. So, for the marts (meta.partition_by_month):

    - the first build creates the table partitioned (postgres__create_table_as below) and then
      fills it;
    - a full refresh never swaps the table (full_refresh: false in dbt_project.yml): the
      pre-hook empties it and is_incremental() is false, so the whole history is rebuilt into
      the same partitioned table, its partitions, indexes and grants kept;
    - before a build, the mart gets a partition for every month the market tables have one for;
      after it, anything that landed in the DEFAULT partition moves into a month of its own. -#}


{#- dbt's own test, plus: --full-refresh means "not incremental" even where full_refresh is
    configured false (the marts), so their SQL reads the whole history. -#}
{% macro is_incremental() %}
    {% if not execute %}
        {{ return(False) }}
    {% elif flags.FULL_REFRESH %}
        {{ return(False) }}
    {% else %}
        {{ return(dbt.is_incremental()) }}
    {% endif %}
{% endmacro %}


{% macro partitioned_by_month() -%}
    {{ return(execute and (config.get('meta') or {}).get('partition_by_month', false)) }}
{%- endmacro %}


{% macro postgres__create_table_as(temporary, relation, sql) -%}
    {%- if temporary or not partitioned_by_month() -%}
        {{ dbt.postgres__create_table_as(temporary, relation, sql) }}
    {%- else -%}
        {%- set target = relation.include(database=false) -%}
        {%- set contract_config = config.get('contract') -%}
        {%- if contract_config and contract_config.enforced -%}
            {#- As dbt's own create_table_as does under a contract: the query's columns must
                be the contract's (names and types, else a compiler error naming them), the
                table is created from the contract's DDL with its constraints, and filled in
                the contract's column order. -#}
            {{ get_assert_columns_equivalent(sql) }}
            create table {{ target }}
            {{ get_table_columns_and_constraints() }}
            partition by range (open_time);
            {%- set insert_columns = '(' ~ adapter.dispatch('get_column_names', 'dbt')() ~ ')' -%}
            {%- set sql = get_select_subquery(sql) -%}
        {%- else -%}
            {%- set shape = adapter.quote(relation.identifier ~ '__shape') -%}
            {%- set insert_columns = '' -%}
            create temporary table {{ shape }} as (
                {{ sql }}
            ) with no data;
            create table {{ target }} (like {{ shape }}) partition by range (open_time);
            drop table {{ shape }};
        {%- endif %}
        create table {{ target.schema }}.{{ adapter.quote(relation.identifier ~ '_default') }}
            partition of {{ target }} default;
        select market.mirror_month_partitions('{{ target }}'::regclass);
        insert into {{ target }} {{ insert_columns }}
        {{ sql }}
        ;
        select market.split_default_partition('{{ target }}'::regclass);
    {%- endif -%}
{%- endmacro %}


{#- Pre-hook: a mart built by an older version (plain) is converted in place; a full refresh
    empties it (TRUNCATE: the rebuild commits with it, so readers never see it empty); the
    market tables' months get partitions here too. -#}
{% macro prepare_partitioned_mart() -%}
    {%- set existing = adapter.get_relation(this.database, this.schema, this.identifier) if execute else none -%}
    {%- if existing is not none and partitioned_by_month() -%}
        select market.partition_by_month('{{ this.include(database=false) }}'::regclass);
        {% if flags.FULL_REFRESH -%}
            truncate {{ this.include(database=false) }};
        {%- endif %}
        select market.mirror_month_partitions('{{ this.include(database=false) }}'::regclass);
    {%- endif -%}
{%- endmacro %}


{#- Post-hook: rows of a month with no partition yet (the DEFAULT partition) move into one. -#}
{% macro settle_partitioned_mart() -%}
    {%- if partitioned_by_month() -%}
        select market.split_default_partition('{{ this.include(database=false) }}'::regclass)
    {%- endif -%}
{%- endmacro %}
