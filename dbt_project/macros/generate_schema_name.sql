{#
    Models go to exactly the schema their folder configures (`staging`, `intermediate`,
    `marts`), not `<target schema>_<custom schema>`: the published warehouse and every
    engine see the same schema names.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
