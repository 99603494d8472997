{#- The listed columns that hold nulls, one failing row per column with how many
    (macros/failing_columns.sql): one test for a model's non-null columns instead of dbt's
    not_null per column. -#}
{% test not_null_columns(model, columns) %}

    {%- set conditions = {} -%}
    {%- for column in columns -%}
        {%- do conditions.update({column: column ~ ' is null'}) -%}
    {%- endfor -%}
    {{ failing_columns(model, conditions) }}

{% endtest %}
