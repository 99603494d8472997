{#-
  A per-patient model (macros/changed_patients.sql) whose rows also hold figures that move with
  the as-of date alone (a course's days since its last session, an unresolved side effect's
  duration) changes every row every night. Rather than rebuild it whole, its post-hook moves
  those figures of the rows it kept to the new as-of date in place, after the changed
  patients' rows are replaced: one UPDATE of a column or two instead of rewriting the table.

      {{ config(
          materialized=changed_patients_materialization(),
          incremental_strategy='int_changed_patients',
          post_hook="{{ move_to_as_of_date({'days': days_since('seen_on', 'as_of.as_of_date')}) }}"
      ) }}

  Each expression reads the model's own columns (`moved.` where a name is ambiguous) and
  `as_of.as_of_date` (int_as_of_date), the same rule the model's select computes them with;
  `where` narrows the rows to move. A build from scratch, and Spark (whose models are whole
  tables), compute every row and move nothing.
-#}
{% macro move_to_as_of_date(columns, where=none) -%}
    {%- if is_incremental() -%}
        update {{ this }} as moved
        set
        {%- for column, expression in columns.items() %}
            {{ column }} = {{ expression }}{{ ',' if not loop.last }}
        {%- endfor %}
        from {{ ref('int_as_of_date') }} as as_of
        {%- if where %}
        where {{ where }}
        {%- endif %}
    {%- endif -%}
{%- endmacro %}


{#- Whole days from a clinic-local date to the as-of date (or any later date). -#}
{%- macro days_since(since_on, as_of_date) -%}
    cast({{ dbt.datediff(since_on, as_of_date, 'day') }} as integer)
{%- endmacro -%}
