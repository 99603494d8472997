-- One row per treatment course (see int_courses for the rules, int_courses_flagged for its
-- side-effect flags and laser type), with the as-of date and days_since_last_session: from
-- the last session's clinic-local date to the as-of date (int_as_of_date). Both change for
-- every course every night, so this model is rebuilt whole, and adds only them.
with

courses as (

    select * from {{ ref('int_courses_flagged') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

final as (

    select
        courses.course_id,
        courses.patient_key,
        courses.clinic_id,
        courses.treatment_area,
        courses.course_number,
        courses.course_type,
        courses.status,
        courses.fitzpatrick,
        courses.fitzpatrick_is_range,
        courses.fitzpatrick_source,
        courses.primary_concern,
        courses.laser_type,
        courses.first_session_at,
        courses.last_session_at,
        courses.first_session_on_local,
        courses.last_session_on_local,
        courses.sessions,
        courses.planned_sessions,
        courses.planned_interval_days,
        courses.plan_consultation_id,
        as_of.as_of_date,
        cast(
            {{ dbt.datediff('courses.last_session_on_local', 'as_of.as_of_date', 'day') }}
            as integer
        ) as days_since_last_session,
        courses.adverse_events,
        courses.has_adverse_event,
        courses.has_pigmentary_event,
        courses.has_serious_event
    from courses
    cross join as_of

)

select * from final
