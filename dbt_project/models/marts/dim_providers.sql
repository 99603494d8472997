with

providers as (

    select * from {{ ref('stg_lake__providers') }}

),

final as (

    select
        provider_id,
        clinic_id,
        display_name,
        role,
        is_active
    from providers
    where not is_voided

)

select * from final
