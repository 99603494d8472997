-- One row per course with its plan and skin type.
-- Plan: the patient's latest `proceed` consultation on or before the course's first session
-- (clinic-local dates; same-day consultations count; ties: later consulted_at, then higher
-- consultation_id). Without one, or where it leaves a value empty or non-positive, the
-- defaults apply. Skin type: the first session's assessment, else the plan consultation's,
-- else the patient record's.
{{ config(
    materialized=changed_patients_materialization(),
    incremental_strategy='int_changed_patients'
) }}
with

sessions as (

    select * from {{ ref('int_sessions_coursed') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

),

consultations as (

    select * from {{ ref('stg_lake__consultations') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

),

patients as (

    select * from {{ ref('stg_lake__patients') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

),

first_sessions as (

    select
        course_id,
        course_number,
        patient_key,
        clinic_id,
        treatment_area,
        started_at as first_session_at,
        started_on_local as first_session_on_local,
        fitzpatrick,
        fitzpatrick_is_range
    from sessions
    where session_number = 1

),

course_totals as (

    select
        course_id,
        count(*) as sessions,
        max(started_at) as last_session_at,
        max(started_on_local) as last_session_on_local
    from sessions
    group by course_id

),

proceeded_consultations as (

    select
        consultation_id,
        patient_key,
        consulted_at,
        consulted_on_local,
        primary_concern,
        planned_sessions,
        planned_interval_days,
        fitzpatrick,
        fitzpatrick_is_range
    from consultations
    where
        decision = 'proceed'
        and not is_voided

),

plan_candidates as (

    select
        first_sessions.course_id,
        proceeded_consultations.consultation_id,
        proceeded_consultations.primary_concern,
        proceeded_consultations.planned_sessions,
        proceeded_consultations.planned_interval_days,
        proceeded_consultations.fitzpatrick,
        proceeded_consultations.fitzpatrick_is_range,
        row_number() over (
            partition by first_sessions.course_id
            order by
                proceeded_consultations.consulted_at desc nulls last,
                proceeded_consultations.consultation_id desc nulls last
        ) as plan_rank
    from first_sessions
    inner join proceeded_consultations
        on
            first_sessions.patient_key = proceeded_consultations.patient_key
            and first_sessions.first_session_on_local
            >= proceeded_consultations.consulted_on_local

),

plans as (

    select * from plan_candidates
    where plan_rank = 1

),

active_patients as (

    select
        patient_key,
        clinic_id,
        fitzpatrick,
        fitzpatrick_is_range
    from patients
    where not is_voided

),

final as (

    select
        first_sessions.course_id,
        first_sessions.patient_key,
        first_sessions.clinic_id,
        first_sessions.treatment_area,
        first_sessions.course_number,
        first_sessions.first_session_at,
        course_totals.last_session_at,
        first_sessions.first_session_on_local,
        course_totals.last_session_on_local,
        cast(course_totals.sessions as integer) as sessions,
        plans.consultation_id as plan_consultation_id,
        cast(coalesce(
            case when plans.planned_sessions > 0 then plans.planned_sessions end,
            {{ var('default_planned_sessions') }}
        ) as integer) as planned_sessions,
        cast(coalesce(
            case when plans.planned_interval_days > 0 then plans.planned_interval_days end,
            {{ var('default_planned_interval_days') }}
        ) as integer) as planned_interval_days,
        coalesce(
            plans.primary_concern, '{{ var("default_primary_concern") }}'
        ) as primary_concern,
        coalesce(
            first_sessions.fitzpatrick, plans.fitzpatrick, active_patients.fitzpatrick
        ) as fitzpatrick,
        case
            when first_sessions.fitzpatrick is not null
                then first_sessions.fitzpatrick_is_range
            when plans.fitzpatrick is not null then plans.fitzpatrick_is_range
            when active_patients.fitzpatrick is not null
                then active_patients.fitzpatrick_is_range
        end as fitzpatrick_is_range,
        case
            when first_sessions.fitzpatrick is not null then 'session'
            when plans.fitzpatrick is not null then 'consultation'
            when active_patients.fitzpatrick is not null then 'patient'
        end as fitzpatrick_source
    from first_sessions
    inner join course_totals
        on first_sessions.course_id = course_totals.course_id
    left join plans
        on first_sessions.course_id = plans.course_id
    left join active_patients
        on
            first_sessions.clinic_id = active_patients.clinic_id
            and first_sessions.patient_key = active_patients.patient_key

)

select * from final
