-- The latest version of each patient record (patient_key is one clinic's record number),
-- rebuilt per patient a new file holds a version of (macros/changed_patients.sql,
-- new_versions_only).
{{ config(
    materialized=changed_patients_materialization(),
    incremental_strategy='delete+insert',
    unique_key='patient_key'
) }}
with

source as (

    select * from {{ source('lake', 'patients') }}
    where {{ new_versions_only('patients', 'patient_key') }}

),

versioned as (

    select
        *,
        row_number() over (
            partition by clinic_id, patient_key
            order by updated_at desc nulls last, _row_hash desc nulls last
        ) as version_rank
    from source

),

renamed as (

    select
        patient_key,
        clinic_id,
        sex,
        fitzpatrick,
        coalesce(fitzpatrick_is_range, false) as fitzpatrick_is_range,
        coalesce(fitzpatrick_unrecognised, false) as fitzpatrick_unrecognised,
        referral_source,
        created_at,
        coalesce(voided, false) as is_voided,
        updated_at,
        _file_sha256
    from versioned
    where version_rank = 1

)

select * from renamed
