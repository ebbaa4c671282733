{#- Asserts that no key of a recently built row occurs twice in the whole model. -#}
{% test recently_built_unique(model, combination) %}

with

recent as (

    select * from {{ recently_built(model) }} as recent

),

duplicates as (

    select
        {% for column in combination %}recent.{{ column }},{% endfor %}
        count(*) as occurrences
    from recent
    inner join {{ model }} as everything
        on {% for column in combination %}
            {% if not loop.first %}and {% endif %}everything.{{ column }} = recent.{{ column }}
        {% endfor %}
    group by
        {% for column in combination %}
            recent.{{ column }}{% if not loop.last %},{% endif %}
        {% endfor %}
    having count(*) > 1

)

select * from duplicates

{% endtest %}
