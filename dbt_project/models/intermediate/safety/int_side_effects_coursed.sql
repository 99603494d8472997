-- One row per non-voided side-effect event, classified (int_side_effects_classified), with the
-- session it is attributed to and that session's course. Unattributed events are kept (their
-- session and course columns are null). Skin type: the course's; for an event without a
-- course, the patient record's. Every column of fct_side_effects but the duration, which
-- grows every night while an event is unresolved (fct_side_effects adds it and moves it to
-- each new as-of date in place). Rebuilt per changed patient.
{{ config(
    materialized=changed_patients_materialization(),
    incremental_strategy='int_changed_patients'
) }}
with

side_effects as (

    select * from {{ ref('int_side_effects_classified') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

),

sessions as (

    select * from {{ ref('int_sessions_coursed') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

),

courses as (

    select * from {{ ref('int_courses') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

),

patients as (

    select * from {{ ref('stg_lake__patients') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

),

live_patients as (

    select
        clinic_id,
        patient_key,
        fitzpatrick
    from patients
    where not is_voided

),

final as (

    select
        side_effects.event_id,
        side_effects.clinic_id,
        side_effects.patient_key,
        side_effects.session_id,
        side_effects.reported_session_id,
        side_effects.attribution_method,
        sessions.course_id,
        sessions.treatment_area,
        sessions.started_on_local as session_started_on_local,
        coalesce(courses.fitzpatrick, live_patients.fitzpatrick) as fitzpatrick,
        case
            when courses.fitzpatrick is not null then 'course'
            when live_patients.fitzpatrick is not null then 'patient'
        end as fitzpatrick_source,
        courses.primary_concern,
        side_effects.effect,
        side_effects.effect_group,
        side_effects.severity,
        side_effects.is_adverse_event,
        side_effects.is_serious,
        side_effects.is_serious_reported,
        side_effects.onset_on,
        side_effects.resolved_on,
        side_effects.is_resolved,
        side_effects.reported_by,
        side_effects.action
    from side_effects
    left join sessions
        on side_effects.session_id = sessions.session_id
    left join courses
        on sessions.course_id = courses.course_id
    left join live_patients
        on
            side_effects.clinic_id = live_patients.clinic_id
            and side_effects.patient_key = live_patients.patient_key

)

select * from final
