-- One row per treatment course (see int_courses for the rules, int_courses_flagged for its
-- side-effect flags and laser type), with the as-of date and days_since_last_session: from
-- the last session's clinic-local date to the as-of date (int_as_of_date). Both change for
-- every course every night: rebuilt per changed patient, the other courses' two are moved to
-- the new date in place (macros/as_of_date.sql).
{{ config(
    materialized=changed_patients_materialization(),
    incremental_strategy='int_changed_patients',
    post_hook="{{ move_to_as_of_date(
        {
            'as_of_date': 'as_of.as_of_date',
            'days_since_last_session': days_since('last_session_on_local', 'as_of.as_of_date')
        },
        where='moved.as_of_date is distinct from as_of.as_of_date'
    ) }}"
) }}
with

courses as (

    select * from {{ ref('int_courses_flagged') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

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
        {{ days_since('courses.last_session_on_local', 'as_of.as_of_date') }}
            as days_since_last_session,
        courses.adverse_events,
        courses.has_adverse_event,
        courses.has_pigmentary_event,
        courses.has_serious_event
    from courses
    cross join as_of

)

select * from final
