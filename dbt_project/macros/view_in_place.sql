{#- A view replaced in place (CREATE OR REPLACE VIEW), for the views analytics.candles_1m stands
    on. dbt's own view materialization renames the old view away and drops it with CASCADE,
    which also drops every view built on it: analytics.candles_1m vanished for a moment at every
    build when the staging views under it were rebuilt (a reader's statement failed), and a
    user's own view on it would have gone for good. Replaced in place, a view keeps its
    identity and its dependents, and each build's change is one statement in one transaction.
    PostgreSQL keeps a replaced view's columns: a change that drops, renames or retypes one
    needs the view dropped first, by hand. A table by the same name (analytics.candles_1m
    before it became a view) is dropped in the same transaction. -#}
{% materialization view_in_place, adapter='postgres' %}
    {%- set target_relation = this.incorporate(type='view') -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set grant_config = config.get('grants') -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {% if existing_relation is not none and not existing_relation.is_view %}
        {{ adapter.drop_relation(existing_relation) }}
    {% endif %}

    {% call statement('main') -%}
        {%- set contract_config = config.get('contract') -%}
        {%- if contract_config and contract_config.enforced -%}
            {{ get_assert_columns_equivalent(sql) }}
        {%- endif %}
        create or replace view {{ target_relation }} as (
            {{ sql }}
        );
    {%- endcall %}

    {% do apply_grants(target_relation, grant_config, should_revoke=False) %}
    {% do persist_docs(target_relation, model) %}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
