-- The dose-response strata (metric_dose_response): per clinic x laser type x skin type
-- x factor (fluence, interval) x band, the completed sessions and those with a pigmentary
-- adverse event. Population: completed sessions of a laser type with a plausible fluence
-- range (Q-switched and picosecond Nd:YAG) and a known skin type; a session is counted in
-- the fluence band of its fluence (none when not recorded) and in the interval band of its
-- days since the previous session of the course (none for a course's first session).
with

sessions as (

    select * from {{ ref('fct_sessions') }}

),

bands as (

    select * from {{ ref('dose_response_bands') }}

),

population as (

    select
        clinic_id,
        laser_type,
        fitzpatrick,
        fluence_band,
        interval_band,
        case when has_pigmentary_event then 1 else 0 end as has_pigmentary_event
    from sessions
    where fluence_range_min_j_cm2 is not null

),

banded as (

    select
        clinic_id,
        laser_type,
        fitzpatrick,
        'fluence' as factor,
        fluence_band as band,
        has_pigmentary_event
    from population
    where fluence_band is not null

    union all

    select
        clinic_id,
        laser_type,
        fitzpatrick,
        'interval' as factor,
        interval_band as band,
        has_pigmentary_event
    from population
    where interval_band is not null

),

counted as (

    select
        clinic_id,
        laser_type,
        fitzpatrick,
        factor,
        band,
        cast(count(*) as bigint) as sessions,
        cast(sum(has_pigmentary_event) as bigint) as sessions_with_pigmentary_ae
    from banded
    group by clinic_id, laser_type, fitzpatrick, factor, band

),

reference_bands as (

    select
        factor,
        band as reference_band
    from bands
    where is_reference

),

final as (

    select
        counted.clinic_id,
        counted.laser_type,
        counted.fitzpatrick,
        counted.factor,
        counted.band,
        bands.band_order,
        bands.band_label,
        bands.is_reference,
        reference_bands.reference_band,
        counted.sessions,
        counted.sessions_with_pigmentary_ae
    from counted
    inner join bands
        on
            counted.factor = bands.factor
            and counted.band = bands.band
    inner join reference_bands
        on counted.factor = reference_bands.factor

)

select * from final
