-- The maintenance worklist (DOMAIN.md "Due for maintenance"): completed initial courses whose
-- patient has not started a next course on the area, and either has a regression signal or
-- whose last session is at least the cohort's median time to need ago (the skin type x
-- concern cell of maintenance_need_summary; `maintenance_default_due_days` where that median
-- is undefined). A regression signal is itself a maintenance event (int_maintenance_events),
-- so "no event yet" here means no next course yet. The reason says why, both parts when both
-- hold: 'regression signal', 'past cohort median (212 d)', 'past default 180 d'.
with

events as (

    select * from {{ ref('int_maintenance_events') }}

),

need_summary as (

    select * from {{ ref('maintenance_need_summary') }}

),

open_courses as (

    select
        *,
        cast(
            {{ dbt.datediff('origin_on', 'as_of_date', 'day') }}
            as integer
        ) as days_since
    from events
    where next_course_on is null

),

thresholds as (

    select
        open_courses.*,
        need_summary.median_days_to_need,
        coalesce(
            need_summary.median_days_to_need, {{ var('maintenance_default_due_days') }}
        ) as due_after_days
    from open_courses
    left join need_summary
        on
            open_courses.skin_type = need_summary.skin_type
            and open_courses.primary_concern = need_summary.primary_concern

),

reasoned as (

    select
        *,
        concat_ws(
            '; ',
            case when regression_on is not null then 'regression signal' end,
            case
                when days_since < due_after_days then null
                when median_days_to_need is not null
                    then concat(
                        'past cohort median (',
                        cast(median_days_to_need as {{ dbt.type_string() }}),
                        ' d)'
                    )
                else concat(
                    'past default ',
                    cast(due_after_days as {{ dbt.type_string() }}),
                    ' d'
                )
            end
        ) as reason
    from thresholds

),

final as (

    select
        course_id,
        patient_key,
        clinic_id,
        treatment_area,
        fitzpatrick,
        skin_type,
        primary_concern,
        last_session_at,
        origin_on as last_session_on_local,
        days_since,
        cast(due_after_days as integer) as due_after_days,
        regression_on,
        reason
    from reasoned
    where
        regression_on is not null
        or days_since >= due_after_days

)

select * from final
