{#- Asserts that the model's key is unique, by the strongest means there is: PostgreSQL keeps a
    unique index on exactly those columns (dbt creates it with the mart), which forbids a
    duplicate in any row, old or new, at no cost to a build. Without the index (dropped, or a
    table made by hand) the test fails, naming any keys of recently built rows that occur
    twice; with it, nothing is scanned. A view (candles_1m) has no index of its own: its key is
    its sources' keys, and the test names any key of its newest rows that occurs twice
    (newest_from: recently_built). -#}
{% test unique_key_enforced(model, combination, newest_from=none) %}

with

unique_index as (

    select 1
    from pg_catalog.pg_index as i
    where
        i.indrelid = '{{ model.include(database=false) }}'::regclass
        and i.indisunique
        and i.indpred is null
        and (
            select array_agg(a.attname::text order by a.attname::text)
            from pg_catalog.pg_attribute as a
            where a.attrelid = i.indrelid and a.attnum = any(i.indkey)
        ) = array[{% for column in combination | sort %}'{{ column }}'{% if not loop.last %}, {% endif %}{% endfor %}]::text []
        and i.indnkeyatts = {{ combination | length }}

),

{%- set recent = recently_built(model, newest_from) %}

{%- set look_up_at_most = var('unique_key_look_up_at_most') | int %}

-- How many rows are recent, counted up to a bound (the var unique_key_look_up_at_most, half a
-- million): up to it (a scheduled build's, or a load's) each is counted by a look-up of its
-- key, about 12 us each (as a join, the planner misjudging how few they were merged the whole
-- model with them: a view over 86 M minutes, 15 s a build); more (a full refresh's every row)
-- are one join, which took 8 s for the 10.5 M minutes a look-up per key took 131 s for.
few as (

    select count(*) <= {{ look_up_at_most }} as yes
    from (select from {{ recent }} as recent limit {{ look_up_at_most + 1 }}) as counted

),

duplicates as (

    select
        {% for column in combination %}keys.{{ column }},{% endfor %}
        counted.occurrences
    from (
        select distinct {% for column in combination %}recent.{{ column }}{% if not loop.last %}, {% endif %}{% endfor %}
        from {{ recent }} as recent
    ) as keys
    -- A lateral with an aggregate is never flattened: one look-up per key.
    cross join lateral (
        select count(*) as occurrences
        from {{ model }} as everything
        where {% for column in combination %}
            {% if not loop.first %}and {% endif %}everything.{{ column }} = keys.{{ column }}
        {% endfor %}
    ) as counted
    where counted.occurrences > 1 and (select few.yes from few)

    union all

    select
        {% for column in combination %}recent.{{ column }},{% endfor %}
        count(*) as occurrences
    from {{ recent }} as recent
    inner join {{ model }} as everything
        on {% for column in combination %}
            {% if not loop.first %}and {% endif %}everything.{{ column }} = recent.{{ column }}
        {% endfor %}
    where not (select few.yes from few)
    group by
        {% for column in combination %}
            recent.{{ column }}{% if not loop.last %},{% endif %}
        {% endfor %}
    having count(*) > 1

)

select 'no unique index on ({{ combination | join(", ") }})' as problem
where not exists (select from unique_index)
    and (
        select c.relkind from pg_catalog.pg_class as c
        where c.oid = '{{ model.include(database=false) }}'::regclass
    ) <> 'v'

union all

select format('(%s) occurs %s times', concat_ws(', ', {% for column in combination %}{{ column }}{% if not loop.last %}, {% endif %}{% endfor %}), occurrences) as problem
from duplicates
where not exists (select from unique_index)

{% endtest %}
