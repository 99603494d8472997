{#-
    The statistics macros (macros/statistics.sql) and the skin-type label, published into the warehouse as SQL functions (schema marts),
    so that a dashboard filter or an analyst recomputing a rate on a subset uses the very same
    formula as the marts: one implementation, written once as a dbt macro.
    Run as an on-run-end hook. DuckDB has SQL macros; another engine publishes nothing here (its
    marts are copied into a DuckDB warehouse, which gets them at that step).
    The same hook publishes the dose bands (macros/dose_response.sql) as marts.fluence_band and
    marts.interval_band, the consultation aid's marts over a list of clinics
    (publish_insight_macros below), and two table macros (macros/maintenance_need.sql):
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
    create or replace macro marts.fluence_band(fluence, range_min, range_max) as
        {{ fluence_band('fluence', 'range_min', 'range_max') }};
    create or replace macro marts.interval_band(interval_days) as
        {{ interval_band('interval_days') }};
    {{ publish_maintenance_need_macros() }}
    {{ publish_insight_macros() }}
{% endmacro %}

{#- The consultation aid's marts over a manager's clinics (clinic_ids, VARCHAR[]), each with
    its mart's own SQL; every clinic gives the mart exactly. -#}
{% macro publish_insight_macros() %}
    {%- set strata = _published_table('int_dose_response_strata') -%}
    {%- set scored = _published_table('int_sessions_pain_scored') -%}
    {%- set courses = _published_table('fct_courses') -%}
    {%- set course_outcomes = _published_table('fct_course_outcomes') -%}
    create or replace macro marts.safety_dose_response_within(clinic_ids) as table
        {{ dose_response_sql(_within(strata)) }};
    create or replace macro marts.comfort_by_numbing_cream_within(clinic_ids) as table
        {{ comfort_sql(_within(scored)) }};
    create or replace macro marts.expected_course_outcomes_within(clinic_ids) as table
        {{ expected_course_outcomes_sql(
            _within(courses),
            _within(course_outcomes),
            'marts.maintenance_need_summary_within(clinic_ids)',
            _published_table('concern_instruments')
        ) }};
{% endmacro %}

{#- A published table's rows of the clinics in the macro parameter clinic_ids. -#}
{% macro _within(table) %}
    {{- '(select * from ' ~ table ~ ' where list_contains(clinic_ids, clinic_id)) as within_clinics' -}}
{% endmacro %}
