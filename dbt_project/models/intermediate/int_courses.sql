-- Course type and status (DOMAIN.md "Treatment courses").
-- plan_status of a course: completed when sessions >= planned_sessions; otherwise
-- in_progress when its last session is at most `course_gap_days` before the as-of date;
-- otherwise dropped_out.
-- course_type: the first course of a patient on an area is `initial`; a later course is
-- `maintenance` once an earlier course on that area was completed (so a course after a
-- maintenance course is maintenance too), else `restart` (every earlier one dropped out).
-- status: `maintenance` for maintenance courses, else plan_status.
-- next_course_*: the patient's next course on the same treatment area (course_number + 1),
-- null for the latest one. The one definition of "the next course" for every model.
-- A course's status depends on the as-of date; its as_of_date and days_since_last_session,
-- which change for every course every night, are fct_courses' (this model is rebuilt per
-- changed patient: int_changed_patients holds those whose status can move with the date).
{{ config(
    materialized=changed_patients_materialization(),
    incremental_strategy='int_changed_patients'
) }}
with

courses as (

    select * from {{ ref('int_courses_planned') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

progress as (

    select
        courses.*,
        as_of.as_of_date,
        {{ days_since('courses.last_session_on_local', 'as_of.as_of_date') }}
            as days_since_last_session
    from courses
    cross join as_of

),

plan_statuses as (

    select
        *,
        case
            when sessions >= planned_sessions then 'completed'
            when days_since_last_session <= {{ var('course_gap_days') }} then 'in_progress'
            else 'dropped_out'
        end as plan_status
    from progress

),

histories as (

    select
        *,
        max(case when plan_status = 'completed' then 1 else 0 end) over (
            partition by patient_key, treatment_area
            order by course_number asc nulls last
            rows between unbounded preceding and 1 preceding
        ) as has_earlier_completed_course
    from plan_statuses

),

typed as (

    select
        *,
        case
            when course_number = 1 then 'initial'
            when has_earlier_completed_course = 1 then 'maintenance'
            else 'restart'
        end as course_type
    from histories

),

next_courses as (

    select
        *,
        lead(course_id) over (
            partition by patient_key, treatment_area
            order by course_number asc nulls last
        ) as next_course_id,
        lead(course_type) over (
            partition by patient_key, treatment_area
            order by course_number asc nulls last
        ) as next_course_type,
        lead(first_session_at) over (
            partition by patient_key, treatment_area
            order by course_number asc nulls last
        ) as next_course_first_session_at,
        lead(first_session_on_local) over (
            partition by patient_key, treatment_area
            order by course_number asc nulls last
        ) as next_course_first_session_on_local
    from typed

),

final as (

    select
        course_id,
        patient_key,
        clinic_id,
        treatment_area,
        course_number,
        course_type,
        case
            when course_type = 'maintenance' then 'maintenance'
            else plan_status
        end as status,
        first_session_at,
        last_session_at,
        first_session_on_local,
        last_session_on_local,
        sessions,
        plan_consultation_id,
        planned_sessions,
        planned_interval_days,
        primary_concern,
        fitzpatrick,
        fitzpatrick_is_range,
        fitzpatrick_source,
        next_course_id,
        next_course_type,
        next_course_first_session_at,
        next_course_first_session_on_local
    from next_courses

)

select * from final
