-- The clinic funnel by month (clinic-local dates, month = its first day): consultations held
-- and those that decided to proceed (non-voided, by consultation month and the
-- consultation's clinic), initial courses started (first_sessions, by first-session month),
-- and initial or restart courses completed / dropped out (by last-session month; the
-- course's clinic is that of its first session). Months in which a clinic had none of these
-- have no row.
with

consultations as (

    select * from {{ ref('stg_lake__consultations') }}

),

courses as (

    select * from {{ ref('int_courses') }}

),

consultation_months as (

    select
        clinic_id,
        cast({{ dbt.date_trunc('month', 'consulted_on_local') }} as date) as month_on,
        count(*) as consultations,
        sum(case when decision = 'proceed' then 1 else 0 end) as proceeded
    from consultations
    where not is_voided
    group by
        clinic_id,
        cast({{ dbt.date_trunc('month', 'consulted_on_local') }} as date)

),

start_months as (

    select
        clinic_id,
        cast({{ dbt.date_trunc('month', 'first_session_on_local') }} as date) as month_on,
        count(*) as first_sessions
    from courses
    where course_type = 'initial'
    group by
        clinic_id,
        cast({{ dbt.date_trunc('month', 'first_session_on_local') }} as date)

),

end_months as (

    select
        clinic_id,
        cast({{ dbt.date_trunc('month', 'last_session_on_local') }} as date) as month_on,
        sum(case when status = 'completed' then 1 else 0 end) as courses_completed,
        sum(case when status = 'dropped_out' then 1 else 0 end) as courses_dropped_out
    from courses
    where status in ('completed', 'dropped_out')
    group by
        clinic_id,
        cast({{ dbt.date_trunc('month', 'last_session_on_local') }} as date)

),

clinic_months as (

    select
        clinic_id,
        month_on
    from consultation_months
    union
    select
        clinic_id,
        month_on
    from start_months
    union
    select
        clinic_id,
        month_on
    from end_months

),

final as (

    select
        clinic_months.clinic_id,
        clinic_months.month_on as month,  -- noqa: RF04
        cast(coalesce(consultation_months.consultations, 0) as integer) as consultations,
        cast(coalesce(consultation_months.proceeded, 0) as integer) as proceeded,
        cast(coalesce(start_months.first_sessions, 0) as integer) as first_sessions,
        cast(coalesce(end_months.courses_completed, 0) as integer) as courses_completed,
        cast(coalesce(end_months.courses_dropped_out, 0) as integer) as courses_dropped_out
    from clinic_months
    left join consultation_months
        on
            clinic_months.clinic_id = consultation_months.clinic_id
            and clinic_months.month_on = consultation_months.month_on
    left join start_months
        on
            clinic_months.clinic_id = start_months.clinic_id
            and clinic_months.month_on = start_months.month_on
    left join end_months
        on
            clinic_months.clinic_id = end_months.clinic_id
            and clinic_months.month_on = end_months.month_on

)

select * from final
