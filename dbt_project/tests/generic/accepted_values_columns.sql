{#- The listed columns that hold a value not in their list, one failing row per column with how
    many rows and one such value. Nulls pass, as in dbt's accepted_values. One test (one scan,
    one dbt node) for a model's coded columns instead of dbt's accepted_values per column, for
    the reason not_null_columns gives. Values compare as text, so a list of numbers is written
    as a list of words is, on DuckDB and Spark alike. -#}
{% test accepted_values_columns(model, columns) %}

with other_values as (

    select
        {%- for column, values in columns.items() %}
            {%- set as_text = 'cast(' ~ column ~ ' as ' ~ dbt.type_string() ~ ')' %}
            {%- set is_other -%}
                {{ as_text }} not in (
                    {%- for value in values -%}
                        '{{ value | string | replace("'", "''") }}'
                        {%- if not loop.last %}, {% endif -%}
                    {%- endfor -%}
                )
            {%- endset %}
            sum(case when {{ is_other }} then 1 else 0 end) as {{ column }}__rows,
            min(case when {{ is_other }} then {{ as_text }} end) as {{ column }}__value
            {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ model }}

)

{% for column in columns %}
    select
        '{{ column }}' as column_name,
        {{ column }}__rows as other_rows,
        {{ column }}__value as other_value
    from other_values
    where {{ column }}__rows > 0
    {% if not loop.last %}union all{% endif %}
{% endfor %}

{% endtest %}
