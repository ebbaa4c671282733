{#- dbt revokes, on every incremental run, any privilege the model's owner granted that the
    model's grants config does not list. On the marts that would take away what the platform
    grants outside dbt on purpose: an administrator's grant to a BI role, kept through builds
    and full refreshes (the table is never swapped), and what include/sql/grants.sql and the
    default privileges of migration 0010 give. So dbt only ever adds the grants it lists. -#}
{% macro should_revoke(existing_relation, full_refresh_mode=True) %}
    {{ return(False) }}
{% endmacro %}
