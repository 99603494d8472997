{{ config(
    materialized=changed_patients_materialization(),
    incremental_strategy='changed_patients'
) }}
with

source as (

    select * from {{ source('lake', 'sessions') }}
    where {{ changed_patients_only() }}

),

versioned as (

    select
        *,
        row_number() over (
            partition by session_id
            order by updated_at desc nulls last, _row_hash desc nulls last
        ) as version_rank
    from source

),

renamed as (

    select
        session_id,
        clinic_id,
        patient_key,
        consultation_id,
        provider_id,
        device_id,
        started_at,
        started_at_local,
        cast(started_at_local as date) as started_on_local,
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
        coalesce(fitzpatrick_is_range, false) as fitzpatrick_is_range,
        coalesce(fitzpatrick_unrecognised, false) as fitzpatrick_unrecognised,
        clinical_endpoint,
        status,
        coalesce(status = 'voided', false) as is_voided,
        updated_at,
        _file_sha256
    from versioned
    where version_rank = 1

)

select * from renamed
