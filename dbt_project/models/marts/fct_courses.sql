-- One row per treatment course (see int_courses for the rules).
with

courses as (

    select * from {{ ref('int_courses') }}

),

final as (

    select
        course_id,
        patient_key,
        clinic_id,
        treatment_area,
        course_number,
        course_type,
        status,
        fitzpatrick,
        fitzpatrick_is_range,
        fitzpatrick_source,
        primary_concern,
        first_session_at,
        last_session_at,
        first_session_on_local,
        last_session_on_local,
        sessions,
        planned_sessions,
        planned_interval_days,
        plan_consultation_id,
        as_of_date,
        days_since_last_session
    from courses

)

select * from final
