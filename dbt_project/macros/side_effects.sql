{#- How long a side effect lasted, in days: from its onset to its resolution or, while it is
    unresolved, to the as-of date (then a lower bound that grows every night). -#}
{%- macro side_effect_duration_days(onset_on, resolved_on, as_of_date) -%}
    cast(
        {{ dbt.datediff(onset_on, 'coalesce(' ~ resolved_on ~ ', ' ~ as_of_date ~ ')', 'day') }}
        as integer
    )
{%- endmacro -%}
