-- One row per completed, non-voided session, with its course, its fluence plausibility
-- (int_sessions_fluence_checked), its fluence and interval bands (macros/dose_response.sql)
-- and its side-effect flags (int_sessions_ae_flagged). Orphans (a session whose patient,
-- clinic, provider or device has not arrived) are kept.
{{ config(
    materialized=changed_patients_materialization(),
    incremental_strategy='int_changed_patients'
) }}
with

sessions as (

    select * from {{ ref('int_sessions_coursed') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

),

courses as (

    select * from {{ ref('int_courses') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

),

fluence_checks as (

    select * from {{ ref('int_sessions_fluence_checked') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

),

ae_flags as (

    select * from {{ ref('int_sessions_ae_flagged') }}

),

final as (

    select
        sessions.session_id,
        sessions.course_id,
        sessions.patient_key,
        sessions.clinic_id,
        sessions.provider_id,
        sessions.device_id,
        sessions.consultation_id,
        sessions.started_at,
        sessions.started_at_local,
        sessions.started_on_local,
        sessions.treatment_area,
        courses.course_type,
        sessions.session_number,
        sessions.interval_days,
        courses.fitzpatrick,
        sessions.fitzpatrick as session_fitzpatrick,
        courses.primary_concern,
        sessions.wavelength_nm,
        fluence_checks.laser_type,
        sessions.fluence_j_cm2,
        fluence_checks.fluence_range_min_j_cm2,
        fluence_checks.fluence_range_max_j_cm2,
        coalesce(fluence_checks.fluence_out_of_range, false) as fluence_out_of_range,
        {{ fluence_band(
            'sessions.fluence_j_cm2',
            'fluence_checks.fluence_range_min_j_cm2',
            'fluence_checks.fluence_range_max_j_cm2'
        ) }} as fluence_band,
        {{ interval_band('sessions.interval_days') }} as interval_band,
        sessions.spot_size_mm,
        sessions.rep_rate_hz,
        sessions.passes,
        sessions.pulses,
        sessions.numbing_cream,
        sessions.cooling,
        sessions.clinical_endpoint,
        coalesce(ae_flags.side_effects, 0) as side_effects,
        coalesce(ae_flags.adverse_events, 0) as adverse_events,
        coalesce(ae_flags.has_adverse_event, false) as has_adverse_event,
        coalesce(ae_flags.has_pigmentary_event, false) as has_pigmentary_event,
        coalesce(ae_flags.has_serious_event, false) as has_serious_event
    from sessions
    left join courses
        on sessions.course_id = courses.course_id
    left join fluence_checks
        on sessions.session_id = fluence_checks.session_id
    left join ae_flags
        on sessions.session_id = ae_flags.session_id

)

select * from final
