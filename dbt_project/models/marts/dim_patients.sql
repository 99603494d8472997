-- Pseudonymised patients: no direct identifier exists in the lake, and none is added here.
with

patients as (

    select * from {{ ref('stg_lake__patients') }}

),

final as (

    select
        patient_key,
        clinic_id,
        sex,
        fitzpatrick,
        fitzpatrick_is_range,
        referral_source,
        created_at
    from patients
    where not is_voided

)

select * from final
