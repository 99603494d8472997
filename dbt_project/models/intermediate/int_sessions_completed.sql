-- Completed sessions are the only ones that make up courses: aborted sessions are reported
-- apart (fct_aborted_sessions) and voided ones do not exist for analytics.
{{ config(
    materialized=changed_patients_materialization(),
    incremental_strategy='changed_patients'
) }}
with

sessions as (

    select * from {{ ref('stg_lake__sessions') }}
    where {{ changed_patients_only() }}

),

final as (

    select
        session_id,
        clinic_id,
        patient_key,
        consultation_id,
        provider_id,
        device_id,
        started_at,
        started_at_local,
        started_on_local,
        treatment_area,
        wavelength_nm,
        fluence_j_cm2,
        spot_size_mm,
        rep_rate_hz,
        passes,
        pulses,
        numbing_cream,
        cooling,
        fitzpatrick,
        fitzpatrick_is_range,
        clinical_endpoint
    from sessions
    where
        status = 'completed'
        and not is_voided

)

select * from final
