{#
    The project's one way to write a rollup (portable: plain SQL that DuckDB and Spark run the
    same way, see the shared SPARK.md): expand each row once per rollup level, then group as
    usual. rollup_levels(dimensions) is the body of a CTE with one row per level, 2^n rows for
    n dimensions, and a boolean column `by_<dimension>` per dimension: true where the level
    keeps the dimension, false where it rolls it up. Cross join it and write each dimension as
    `case when rollup_levels.by_x then x else 'ALL' end`. Every level is then an ordinary
    group (distinct counts stay exact per level), and the expanded rows serve models that
    need row-level cohorts (Kaplan-Meier) as well as aggregates; no cube(), rollup(), grouping
    sets or grouping(), whose null-versus-rollup keys need grouping() on every engine.
#}
{% macro rollup_levels(dimensions) %}
    {%- for level in range(2 ** (dimensions | length)) %}
        {%- if not loop.first %}
    union all
        {%- endif %}
    select
        {%- for dimension in dimensions %}
        {{ 'false' if (level // (2 ** loop.index0)) % 2 else 'true' }} as by_{{ dimension }}
        {{- ',' if not loop.last }}
        {%- endfor %}
    {%- endfor %}
{% endmacro %}
