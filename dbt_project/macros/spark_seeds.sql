{#-
    Seeds on Spark with real nulls. dbt-spark 1.11 binds every CSV value into its INSERT as
    '<python str>' (SparkConnectionWrapper._fix_binding): an empty CSV field of a string column
    lands as the text 'None', not NULL (dbt-labs/dbt-adapters#487, method session and Spark
    Connect), and a value holding a quote breaks the statement. This override writes each value
    as a literal instead: NULL where the CSV is empty, otherwise the CSV's own text, escaped, cast
    to the column's type (the same text DuckDB's CSV reader parses, so decimals round alike).
    Used by dbt's seed materialisation on Spark only (dispatch prefers the project's macro).
-#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- set batch_size = get_batch_size() %}
    {%- set column_override = model['config'].get('column_types', {}) %}
    {%- set column_types = [] %}
    {%- for column_name in agate_table.column_names %}
        {%- do column_types.append(
            column_override.get(column_name, adapter.convert_type(agate_table, loop.index0))
        ) %}
    {%- endfor %}
    {%- set statements = [] %}
    {%- for chunk in agate_table.rows | batch(batch_size) %}
        {%- set sql %}
            insert into {{ this.render() }} values
            {%- for row in chunk %}
            (
                {%- for value in row -%}
                    cast({{ _spark_seed_literal(value) }} as {{ column_types[loop.index0] }})
                    {{- ', ' if not loop.last }}
                {%- endfor -%}
            ){{ ',' if not loop.last }}
            {%- endfor %}
        {%- endset %}
        {%- do adapter.add_query(sql, abridge_sql_log=True) %}
        {%- if loop.first %}
            {%- do statements.append(sql) %}
        {%- endif %}
    {%- endfor %}
    {{ return(statements[0] if statements else '') }}
{% endmacro %}

{% macro _spark_seed_literal(value) -%}
    {%- if value is none -%}
        null
    {%- else -%}
        '{{ (value | string).replace("\\", "\\\\").replace("'", "\\'") }}'
    {%- endif -%}
{%- endmacro %}
