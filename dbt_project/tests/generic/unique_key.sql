{#- The model has one row per combination of `columns` (its grain), none of them null.
    Returns the duplicated or null keys. -#}
{% test unique_key(model, columns) %}

select
    {{ columns | join(', ') }},
    count(*) as rows_per_key
from {{ model }}
group by {{ columns | join(', ') }}
having
    count(*) > 1
    {%- for column in columns %}
    or {{ column }} is null
    {%- endfor %}

{% endtest %}
