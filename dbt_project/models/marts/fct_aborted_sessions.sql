-- One row per aborted, non-voided session. Aborted sessions belong to no course and count in
-- no course metric; they are reported here on their own.
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
        patient_key,
        clinic_id,
        provider_id,
        device_id,
        consultation_id,
        started_at,
        started_at_local,
        started_on_local,
        treatment_area,
        fitzpatrick as session_fitzpatrick,
        wavelength_nm,
        fluence_j_cm2,
        spot_size_mm,
        rep_rate_hz,
        passes,
        pulses,
        numbing_cream,
        cooling,
        clinical_endpoint
    from sessions
    where
        status = 'aborted'
        and not is_voided

)

select * from final
