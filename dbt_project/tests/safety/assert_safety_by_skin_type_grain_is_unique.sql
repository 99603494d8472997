-- safety_by_skin_type has one row per clinic_id (and 'ALL') x skin_type x primary_concern (and
-- 'ALL'); skin_type is never null ('unknown' stands for a null fitzpatrick). Returns the
-- duplicated or null keys.
with

safety as (

    select * from {{ ref('safety_by_skin_type') }}

),

final as (

    select
        clinic_id,
        skin_type,
        primary_concern,
        count(*) as rows_per_key
    from safety
    group by clinic_id, skin_type, primary_concern
    having
        count(*) > 1
        or clinic_id is null
        or skin_type is null
        or primary_concern is null

)

select * from final
