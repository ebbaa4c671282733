{#- Asserts that recently built candles are whole and possible: no null field; 0 < low <= open,
    close <= high; volume >= taker buy volume >= 0 (the same for quote volume); trade_count >= 0.
    One test for all of it: a scheduled build pays dbt's per-test overhead once per mart.
    newest_from: recently_built. -#}
{% test candle_invariants(model, not_null_columns, newest_from=none) %}

select *
from {{ recently_built(model, newest_from) }} as recent
where
    {% for column in not_null_columns %}
        recent.{{ column }} is null or
    {% endfor %}
    not recent.low > 0
    or not (recent.low <= recent.open and recent.open <= recent.high)
    or not (recent.low <= recent.close and recent.close <= recent.high)
    or not (recent.volume >= recent.taker_buy_volume and recent.taker_buy_volume >= 0)
    or not (
        recent.quote_volume >= recent.taker_buy_quote_volume
        and recent.taker_buy_quote_volume >= 0
    )
    or recent.trade_count < 0

{% endtest %}
