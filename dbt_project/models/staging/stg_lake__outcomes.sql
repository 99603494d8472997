{{ config(
    materialized=changed_patients_materialization(),
    incremental_strategy='changed_patients'
) }}
with

source as (

    select * from {{ source('lake', 'outcomes') }}
    where {{ changed_patients_only() }}

),

versioned as (

    select
        *,
        row_number() over (
            partition by response_id
            order by updated_at desc nulls last, _row_hash desc nulls last
        ) as version_rank
    from source

),

renamed as (

    select
        response_id,
        submission_id,
        clinic_id,
        patient_key,
        session_id,
        instrument,
        rater,
        timepoint,
        score,
        collected_at,
        collected_at_local,
        cast(collected_at_local as date) as collected_on_local,
        channel,
        source_system,
        coalesce(voided, false) as is_voided,
        updated_at,
        _file_sha256
    from versioned
    where version_rank = 1

)

select * from renamed
