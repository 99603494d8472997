with

source as (

    select * from {{ source('lake', 'providers') }}

),

versioned as (

    select
        *,
        row_number() over (
            partition by provider_id
            order by updated_at desc nulls last, _row_hash desc nulls last
        ) as version_rank
    from source

),

renamed as (

    select
        provider_id,
        clinic_id,
        display_name,
        role,
        active as is_active,
        coalesce(voided, false) as is_voided,
        updated_at,
        _file_sha256
    from versioned
    where version_rank = 1

)

select * from renamed
