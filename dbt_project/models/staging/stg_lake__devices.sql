with

source as (

    select * from {{ source('lake', 'devices') }}

),

versioned as (

    select
        *,
        row_number() over (
            partition by device_id
            order by updated_at desc nulls last, _row_hash desc nulls last
        ) as version_rank
    from source

),

renamed as (

    select
        device_id,
        clinic_id,
        manufacturer,
        model,
        laser_type,
        wavelength_nm,
        installed_on,
        coalesce(voided, false) as is_voided,
        updated_at,
        _file_sha256
    from versioned
    where version_rank = 1

)

select * from renamed
