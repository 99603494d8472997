with

clinics as (

    select * from {{ ref('stg_lake__clinics') }}

),

final as (

    select
        clinic_id,
        clinic_name,
        region,
        timezone,
        opened_on
    from clinics
    where not is_voided

)

select * from final
