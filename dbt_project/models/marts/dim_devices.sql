with

devices as (

    select * from {{ ref('stg_lake__devices') }}

),

final as (

    select
        device_id,
        clinic_id,
        manufacturer,
        model,
        laser_type,
        wavelength_nm,
        installed_on
    from devices
    where not is_voided

)

select * from final
