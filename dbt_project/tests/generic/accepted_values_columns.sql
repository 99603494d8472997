{#- The listed columns that hold a value not in their list, one failing row per column with how
    many rows and one such value (macros/failing_columns.sql): one test for a model's coded
    columns instead of dbt's accepted_values per column. Nulls pass, as in dbt's test. Values
    compare as text, so a list of numbers is written as a list of words is, on DuckDB and
    Spark alike. -#}
{% test accepted_values_columns(model, columns) %}

    {%- set conditions = {} -%}
    {%- for column, values in columns.items() -%}
        {%- set quoted = [] -%}
        {%- for value in values -%}
            {%- do quoted.append("'" ~ (value | string | replace("'", "''")) ~ "'") -%}
        {%- endfor -%}
        {%- set as_text = 'cast(' ~ column ~ ' as ' ~ dbt.type_string() ~ ')' -%}
        {%- do conditions.update({column: as_text ~ ' not in (' ~ quoted | join(', ') ~ ')'}) -%}
    {%- endfor -%}
    {{ failing_columns(model, conditions) }}

{% endtest %}
