with

source as (

    select * from {{ source('lake', 'patients') }}

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
