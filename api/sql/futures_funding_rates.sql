-- A futures market's funding history ({table}), one contract's or every one's, in a range.
select symbol, (extract(epoch from funding_time) * 1000)::bigint, funding_rate::text,
    coalesce(mark_price::text, '')
from {table}
where (%(symbol)s::text is null or symbol = %(symbol)s)
    and funding_time >= %(lo)s and funding_time <= %(hi)s
order by funding_time {direction}, symbol
limit %(limit)s
