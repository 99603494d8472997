{#-
    The Kaplan-Meier maintenance-need estimate (DOMAIN.md "Maintenance need"), written once.

    maintenance_need_sql(cohorts) is the whole query of the mart maintenance_need and
    maintenance_need_summary_sql(need) the whole query of maintenance_need_summary, over any
    relation (or parenthesised, aliased subquery) with the columns of int_maintenance_cohorts
    resp. maintenance_need. The two marts call them on the chain-wide cohorts; the DuckDB
    warehouse also publishes them as table macros over one manager's clinics
    (publish_maintenance_need_macros below), so a scoped curve has exactly the marts' definition.
    Portable SQL (DuckDB and Spark): the cross-database KM helpers of macros/kaplan_meier.sql.
    The conventions (ties, censoring after events, d = n, Greenwood, the log(-log) interval)
    are documented in models/marts/maintenance/_maintenance__models.yml.
-#}

{#-
    One row per cohort (skin_type x primary_concern, rollups 'ALL' included) and distinct time
    (days from the last session) at which a course of the cohort has its event or is censored.
    Ties: all events at a time count against everyone still at risk at that time, and courses
    censored at a time with events are at risk for those events (censoring after events).
    S(t) is the running product of (1 - d/n), summed as logs; a time where every course at
    risk has its event (d = n) sets S to 0 from there on. Greenwood: V(t) = sum d / (n (n - d));
    95 % interval: exponential Greenwood (log(-log)), as lifelines' KaplanMeierFitter.
-#}
{% macro maintenance_need_sql(cohorts) %}
with

cohorts as (

    select * from {{ cohorts }}

),

time_counts as (

    select
        skin_type,
        fitzpatrick,
        primary_concern,
        days,
        count(*) as leaving,
        sum(case when is_event then 1 else 0 end) as events
    from cohorts
    group by
        skin_type,
        fitzpatrick,
        primary_concern,
        days

),

risk_sets as (

    select
        *,
        sum(leaving) over (
            partition by skin_type, primary_concern
            order by days desc nulls last
            rows between unbounded preceding and current row
        ) as at_risk
    from time_counts

),

steps as (

    select
        *,
        {{ km_log_factor('events', 'at_risk') }} as log_factor,
        {{ km_greenwood_term('events', 'at_risk') }} as greenwood_term,
        case when events = at_risk then 1 else 0 end as is_extinction
    from risk_sets

),

running as (

    select
        *,
        sum(log_factor) over (
            partition by skin_type, primary_concern
            order by days asc nulls last
            rows between unbounded preceding and current row
        ) as log_survival,
        sum(greenwood_term) over (
            partition by skin_type, primary_concern
            order by days asc nulls last
            rows between unbounded preceding and current row
        ) as greenwood_sum,
        max(is_extinction) over (
            partition by skin_type, primary_concern
            order by days asc nulls last
            rows between unbounded preceding and current row
        ) = 1 as is_extinct
    from steps

),

final as (

    select
        skin_type,
        fitzpatrick,
        primary_concern,
        days,
        cast(at_risk as integer) as at_risk,
        cast(events as integer) as events,
        cast(leaving - events as integer) as censored,
        -- rounded to 12 decimals: drops exp/ln float noise (S = 0.5 is exactly 0.5)
        round(case when is_extinct then 0 else exp(log_survival) end, 12) as survival,
        greenwood_sum,
        round(
            case when is_extinct then 0 else exp(log_survival) * sqrt(greenwood_sum) end, 12
        ) as survival_se,
        round({{ km_log_log_low('log_survival', 'greenwood_sum', 'is_extinct') }}, 12)
            as survival_ci_low,
        round({{ km_log_log_high('log_survival', 'greenwood_sum', 'is_extinct') }}, 12)
            as survival_ci_high
    from running

)

select * from final
{% endmacro %}

{#-
    One row per cohort of `need` (rows shaped like maintenance_need): how many completed
    initial courses, how many have had their event, the share needing maintenance by 3, 6 and
    12 months (1 - S(t), S at the last time <= t: S never rises, so its minimum up to t; 1 before
    any time) and the median time to need (the first time S <= 0.5; null while S stays above).
-#}
{% macro maintenance_need_summary_sql(need) %}
with

need as (

    select * from {{ need }}

),

final as (

    select
        skin_type,
        fitzpatrick,
        primary_concern,
        cast(max(at_risk) as integer) as courses,
        cast(sum(events) as integer) as events,
        round(1 - coalesce(min(
            case when days <= {{ var('maintenance_need_3m_days') }} then survival end
        ), 1), 12) as need_by_3m,
        round(1 - coalesce(min(
            case when days <= {{ var('maintenance_need_6m_days') }} then survival end
        ), 1), 12) as need_by_6m,
        round(1 - coalesce(min(
            case when days <= {{ var('maintenance_need_12m_days') }} then survival end
        ), 1), 12) as need_by_12m,
        min(case when survival <= 0.5 then days end) as median_days_to_need
    from need
    group by
        skin_type,
        fitzpatrick,
        primary_concern

)

select * from final
{% endmacro %}

{#-
    The two marts recomputed over a set of clinics, published into the DuckDB warehouse as
    table macros (schema marts) by the on-run-end hook (macros/publish_statistics.sql), for
    dashboards whose signed-in manager may only see their own clinics:

        select * from marts.maintenance_need_within(['C01', 'C03'])
        select * from marts.maintenance_need_summary_within(?)   -- a list of clinic ids

    clinic_ids is a list of clinic ids (VARCHAR[]; untyped, because typed macro parameters
    need a DuckDB storage version newer than the warehouse file's). Each returns the columns
    of its mart, computed by the same macro as the mart over the courses whose clinic (the
    clinic of the course's first session) is in the list; every clinic gives the marts
    exactly, an empty list, null or unknown ids give no rows. Callers open the warehouse as
    their default database (the macros name schema.table, as the dashboards do).

    The scoped cohorts are int_maintenance_cohorts filtered on its clinic_id: the rollup to
    'ALL' only copies each course into its four cohorts, so filtering the copies is the same
    as rolling up the filtered courses, and no cohort logic is repeated here. The macros read
    only tables (the file is published by renaming it; views would keep the build's database
    name), which the lookup below checks at build time.
-#}
{% macro publish_maintenance_need_macros() %}
    {{ return(adapter.dispatch('publish_maintenance_need_macros')()) }}
{% endmacro %}

{% macro default__publish_maintenance_need_macros() %}
{% endmacro %}

{% macro duckdb__publish_maintenance_need_macros() %}
    {%- set cohorts = _published_table('int_maintenance_cohorts') -%}
    create or replace macro marts.maintenance_need_within(clinic_ids) as table
        {{ maintenance_need_sql(
            '(select * from ' ~ cohorts ~ ' where list_contains(clinic_ids, clinic_id))'
            ~ ' as scoped_cohorts'
        ) }};
    create or replace macro marts.maintenance_need_summary_within(clinic_ids) as table
        {{ maintenance_need_summary_sql('marts.maintenance_need_within(clinic_ids)') }};
{% endmacro %}

{#- schema.table of a model or seed for a published macro to read (no database: the published file
    is renamed); a build error unless the model is materialised as a table. -#}
{% macro _published_table(model_name) %}
    {%- if execute -%}
        {%- for node in graph.nodes.values()
            if node.resource_type in ('model', 'seed') and node.name == model_name -%}
            {%- if node.resource_type == 'model'
                and node.config.materialized not in ('table', 'incremental') -%}
                {{ exceptions.raise_compiler_error(
                    model_name ~ ' is materialised as ' ~ node.config.materialized
                    ~ ': the published table macros can only read tables'
                ) }}
            {%- endif -%}
            {{ return(node.schema ~ '.' ~ node.alias) }}
        {%- endfor -%}
        {{ exceptions.raise_compiler_error('no model ' ~ model_name) }}
    {%- endif -%}
{% endmacro %}
