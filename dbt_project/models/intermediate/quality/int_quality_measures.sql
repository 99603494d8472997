-- Every warehouse measure the quality gate compares with a limit of expectations/thresholds.yml:
-- one row per check (and per clinic, for freshness). The limits are dbt tests on this model
-- (_quality__models.yml, severity and limit passed in by the refresh from thresholds.yml);
-- expectations/checks.py records each row in ops.dq_results.
-- Shares average doubles: the average of a decimal is a double on DuckDB but a decimal rounded
-- to 4 more digits on Spark.
with

sessions as (

    select * from {{ ref('fct_sessions') }}

),

patients as (

    select patient_key from {{ ref('dim_patients') }}

),

timepoint_checks as (

    select finding from {{ ref('int_outcomes_timepoint_checks') }}
    where finding in ('agrees', 'disagrees')

),

as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

shares as (

    select
        'sessions_unknown_skin_type_share' as check_name,
        cast(null as {{ dbt.type_string() }}) as subject,
        avg(cast(case when fitzpatrick is null then 1 else 0 end as double)) as observed,
        count(*) as measured
    from sessions

    union all

    select
        'orphan_sessions_share' as check_name,
        cast(null as {{ dbt.type_string() }}) as subject,
        avg(cast(case when patients.patient_key is null then 1 else 0 end as double)) as observed,
        count(*) as measured
    from sessions
    left join patients
        on sessions.patient_key = patients.patient_key

    union all

    select
        'fluence_out_of_range_share' as check_name,
        cast(null as {{ dbt.type_string() }}) as subject,
        avg(cast(case when fluence_out_of_range then 1 else 0 end as double)) as observed,
        count(*) as measured
    from sessions

    union all

    select
        'timepoint_disagreement_share' as check_name,
        cast(null as {{ dbt.type_string() }}) as subject,
        avg(cast(case when finding = 'disagrees' then 1 else 0 end as double)) as observed,
        count(*) as measured
    from timepoint_checks

),

freshness as (

    select
        'clinic_freshness_days' as check_name,
        sessions.clinic_id as subject,
        cast(
            {{ dbt.datediff(
                "max(cast(sessions.started_at_local as date))",
                "max(as_of.as_of_date)",
                "day"
            ) }} as double
        ) as observed,
        count(*) as measured
    from sessions
    cross join as_of
    group by sessions.clinic_id

),

final as (

    select * from shares
    union all
    select * from freshness

)

select * from final
