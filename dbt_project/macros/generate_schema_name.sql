{#- Custom schemas are used as given (analytics, not analytics_analytics): DESIGN.md names them.
    A futures market's build (--vars '{market: usdm}', include/timeframes) goes to that market's
    own: analytics_usdm and analytics_staging_usdm (DESIGN.md "Futures markets"). -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- elif var('market') == 'spot' -%}
        {{ custom_schema_name | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}_{{ var('market') }}
    {%- endif -%}
{%- endmacro %}
