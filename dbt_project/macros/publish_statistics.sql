{#-
    The statistics macros (macros/statistics.sql) and the skin-type label, published into the warehouse as SQL functions (schema marts),
    so that a dashboard filter or an analyst recomputing a rate on a subset uses the very same
    formula as the marts: one implementation, written once as a dbt macro.
    Run as an on-run-end hook. DuckDB has SQL macros; another engine publishes nothing here (its
    marts are copied into a DuckDB warehouse, which gets them at that step).
    The same hook publishes two table macros (macros/maintenance_need.sql):
    marts.maintenance_need_within(clinic_ids) and marts.maintenance_need_summary_within(clinic_ids)
    recompute the marts maintenance_need / maintenance_need_summary, with the marts' own SQL, over
    the courses of a list of clinics, for a manager who may see only their clinics.
-#}
{% macro publish_statistics_functions() %}
    {{ return(adapter.dispatch('publish_statistics_functions')()) }}
{% endmacro %}

{% macro default__publish_statistics_functions() %}
    select 1
{% endmacro %}

{% macro duckdb__publish_statistics_functions() %}
    create schema if not exists marts;
    create or replace macro marts.wilson_low(successes, trials) as
        {{ wilson_low('successes', 'trials') }};
    create or replace macro marts.wilson_high(successes, trials) as
        {{ wilson_high('successes', 'trials') }};
    create or replace macro marts.t_half_width(sd, n, t_975) as
        {{ t_half_width('sd', 'n', 't_975') }};
    create or replace macro marts.skin_type_label(fitzpatrick) as
        {{ skin_type_label('fitzpatrick') }};
    create or replace macro marts.sample_sd_from_sums(n, total, sum_of_squares) as
        {{ sample_sd_from_sums('n', 'total', 'sum_of_squares') }};
    {{ publish_maintenance_need_macros() }}
{% endmacro %}
