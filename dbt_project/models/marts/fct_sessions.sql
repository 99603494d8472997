-- One row per completed, non-voided session, with its course. Orphans (a session whose
-- patient, clinic, provider or device has not arrived) are kept.
with

sessions as (

    select * from {{ ref('int_sessions_coursed') }}

),

courses as (

    select * from {{ ref('int_courses') }}

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
        sessions.fluence_j_cm2,
        sessions.spot_size_mm,
        sessions.rep_rate_hz,
        sessions.passes,
        sessions.pulses,
        sessions.numbing_cream,
        sessions.cooling,
        sessions.clinical_endpoint
    from sessions
    left join courses
        on sessions.course_id = courses.course_id

)

select * from final
