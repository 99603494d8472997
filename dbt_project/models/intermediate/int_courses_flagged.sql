-- One row per treatment course (int_courses) with its sessions' side-effect flags and laser
-- type: everything fct_courses publishes but the as-of date and the days since the last
-- session, which change for every course every night (fct_courses adds them and moves them to
-- each new as-of date in place). Rebuilt per changed patient. A course has an adverse
-- (pigmentary, serious) event when any of its sessions has one (int_sessions_ae_flagged); its
-- laser type is the one laser type of all its sessions' devices, `mixed` when they differ,
-- null when no device is known.
{{ config(
    materialized=changed_patients_materialization(),
    incremental_strategy='int_changed_patients'
) }}
with

courses as (

    select * from {{ ref('int_courses') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

),

sessions as (

    select * from {{ ref('int_sessions_coursed') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

),

ae_flags as (

    select * from {{ ref('int_sessions_ae_flagged') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

),

fluence_checked as (

    select * from {{ ref('int_sessions_fluence_checked') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

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
        coalesce(course_ae_flags.adverse_events, 0) as adverse_events,
        coalesce(course_ae_flags.adverse_flag, 0) = 1 as has_adverse_event,
        coalesce(course_ae_flags.pigmentary_flag, 0) = 1 as has_pigmentary_event,
        coalesce(course_ae_flags.serious_flag, 0) = 1 as has_serious_event
    from courses
    left join course_ae_flags
        on courses.course_id = course_ae_flags.course_id
    left join course_laser_types
        on courses.course_id = course_laser_types.course_id

)

select * from final
