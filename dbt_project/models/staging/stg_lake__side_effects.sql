{{ config(
    materialized=changed_patients_materialization(),
    incremental_strategy='changed_patients'
) }}
with

source as (

    select * from {{ source('lake', 'side_effects') }}
    where {{ changed_patients_only() }}

),

versioned as (

    select
        *,
        row_number() over (
            partition by event_id
            order by updated_at desc nulls last, _row_hash desc nulls last
        ) as version_rank
    from source

),

renamed as (

    select
        event_id,
        clinic_id,
        patient_key,
        session_id,
        effect,
        severity,
        onset_on,
        resolved_on,
        reported_by,
        action,
        serious as is_serious_reported,
        coalesce(voided, false) as is_voided,
        updated_at,
        _file_sha256
    from versioned
    where version_rank = 1

)

select * from renamed
