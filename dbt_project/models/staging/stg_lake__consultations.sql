-- The latest version of each consultation, rebuilt per consultation a new file holds a version
-- of (macros/changed_patients.sql, new_versions_only).
{{ config(
    materialized=changed_patients_materialization(),
    incremental_strategy='delete+insert',
    unique_key='consultation_id'
) }}
with

source as (

    select * from {{ source('lake', 'consultations') }}
    where {{ new_versions_only('consultations', 'consultation_id') }}

),

versioned as (

    select
        *,
        row_number() over (
            partition by consultation_id
            order by updated_at desc nulls last, _row_hash desc nulls last
        ) as version_rank
    from source

),

renamed as (

    select
        consultation_id,
        clinic_id,
        patient_key,
        provider_id,
        consulted_at,
        consulted_at_local,
        cast(consulted_at_local as date) as consulted_on_local,
        primary_concern,
        secondary_concerns,
        fitzpatrick,
        coalesce(fitzpatrick_is_range, false) as fitzpatrick_is_range,
        coalesce(fitzpatrick_unrecognised, false) as fitzpatrick_unrecognised,
        treatment_areas,
        contraindications,
        planned_sessions,
        planned_interval_days,
        decision,
        coalesce(voided, false) as is_voided,
        updated_at,
        _file_sha256
    from versioned
    where version_rank = 1

)

select * from renamed
