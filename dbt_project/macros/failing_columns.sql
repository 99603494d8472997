{#- The result of a test that checks several columns of a model in one scan (not_null_columns,
    accepted_values_columns): one row per column that has failing rows, with how many and one
    of their values as text (null for a null). `conditions` maps each column to the condition
    of a failing row. dbt spends ~15 ms per test node whatever the data: one node per model
    instead of one per column saved a fifth of every nightly build. -#}
{% macro failing_columns(model, conditions) %}

with failures as (

    select
        {%- for column, fails in conditions.items() %}
            sum(case when {{ fails }} then 1 else 0 end) as {{ column }}__rows,
            min(case when {{ fails }} then cast({{ column }} as {{ dbt.type_string() }}) end)
                as {{ column }}__value
            {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ model }}

)

{% for column in conditions %}
    select
        '{{ column }}' as column_name,
        {{ column }}__rows as failing_rows,
        {{ column }}__value as failing_value
    from failures
    where {{ column }}__rows > 0
    {% if not loop.last %}union all{% endif %}
{% endfor %}

{% endmacro %}
