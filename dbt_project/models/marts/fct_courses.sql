-- One row per treatment course (see int_courses for the rules), with side-effect flags: a
-- course has an adverse (pigmentary, serious) event when any of its sessions has one
-- (int_sessions_ae_flagged). A course's laser type is the one laser type of all its sessions'
-- devices, `mixed` when they differ, null when no device is known. days_since_last_session:
-- from the last session's clinic-local date to the as-of date (int_as_of_date).
with

courses as (

    select * from {{ ref('int_courses') }}

),

sessions as (

    select * from {{ ref('int_sessions_coursed') }}

),

ae_flags as (

    select * from {{ ref('int_sessions_ae_flagged') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

fluence_checked as (

    select * from {{ ref('int_sessions_fluence_checked') }}

),

course_laser_types as (

    select
        course_id,
        case
            when count(distinct laser_type) > 1 then 'mixed' else max(laser_type)
        end as laser_type
    from fluence_checked
    group by course_id

),

course_ae_flags as (

    select
        sessions.course_id,
        cast(sum(ae_flags.adverse_events) as integer) as adverse_events,
        max(case when ae_flags.has_adverse_event then 1 else 0 end) as adverse_flag,
        max(case when ae_flags.has_pigmentary_event then 1 else 0 end) as pigmentary_flag,
        max(case when ae_flags.has_serious_event then 1 else 0 end) as serious_flag
    from sessions
    inner join ae_flags
        on sessions.session_id = ae_flags.session_id
    group by sessions.course_id

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
        course_laser_types.laser_type,
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
        coalesce(course_ae_flags.adverse_events, 0) as adverse_events,
        coalesce(course_ae_flags.adverse_flag, 0) = 1 as has_adverse_event,
        coalesce(course_ae_flags.pigmentary_flag, 0) = 1 as has_pigmentary_event,
        coalesce(course_ae_flags.serious_flag, 0) = 1 as has_serious_event
    from courses
    cross join as_of
    left join course_ae_flags
        on courses.course_id = course_ae_flags.course_id
    left join course_laser_types
        on courses.course_id = course_laser_types.course_id

)

select * from final
