with

source as (

    select * from {{ source('lake', 'clinics') }}

),

versioned as (

    select
        *,
        row_number() over (
            partition by clinic_id
            order by updated_at desc nulls last, _row_hash desc nulls last
        ) as version_rank
    from source

),

renamed as (

    select
        clinic_id,
        clinic_name,
        region,
        timezone,
        datetime_format,
        opened_on,
        coalesce(voided, false) as is_voided,
        updated_at,
        _file_sha256
    from versioned
    where version_rank = 1

)

select * from renamed
