with

source as (

    select * from {{ source('lake', 'consultation_age_bands') }}

),

-- One row per consultation is expected; should the ingest ever write two, keep one
-- deterministically so the key stays unique.
deduplicated as (

    select
        *,
        row_number() over (
            partition by consultation_id
            order by age_band desc nulls last
        ) as band_rank
    from source

),

renamed as (

    select
        consultation_id,
        age_band
    from deduplicated
    where band_rank = 1

)

select * from renamed
