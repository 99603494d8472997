-- The laser_fluence_ranges seed has at most one range per laser type and skin type, and a
-- minimum below its maximum. Returns the offending keys.
with

ranges as (

    select * from {{ ref('laser_fluence_ranges') }}

),

final as (

    select
        laser_type,
        fitzpatrick,
        count(*) as rows_per_key
    from ranges
    group by laser_type, fitzpatrick
    having
        count(*) > 1
        or max(fluence_min_j_cm2) >= min(fluence_max_j_cm2)

)

select * from final
