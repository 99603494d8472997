-- Results per clinic (and 'ALL' clinics) x skin type x primary concern (and 'ALL' concerns)
-- x outcome instrument. Population: every completed course (initial and restart; maintenance
-- courses have status `maintenance` and are not in it). A course without a recorded skin type
-- is keyed skin_type 'unknown' (fitzpatrick null). Exact counts: no small-cell suppression
-- here (marts are for analysts; dashboards suppress). Response rate with a Wilson 95 %
-- interval over the measured courses; mean change with a t-based 95 % interval.
with

course_outcomes as (

    select * from {{ ref('fct_course_outcomes') }}

),

t_quantiles as (

    select * from {{ ref('t_quantiles') }}

),

population as (

    select
        clinic_id,
        fitzpatrick,
        {{ skin_type_label('fitzpatrick') }} as skin_type,
        primary_concern,
        instrument,
        change,
        case when is_responder is not null then 1 else 0 end as is_measured,
        case when is_responder then 1 else 0 end as is_responder,
        case when is_excluded_zero_baseline then 1 else 0 end as is_excluded_zero_baseline
    from course_outcomes
    where status = 'completed'

),

-- each clinic and 'ALL' clinics x each concern and 'ALL' concerns (macros/rollup.sql)
rollup_levels as (

    {{ rollup_levels(['clinic_id', 'primary_concern']) }}

),

expanded as (

    select
        case
            when rollup_levels.by_clinic_id then population.clinic_id else 'ALL'
        end as clinic_key,
        population.fitzpatrick,
        population.skin_type,
        case
            when rollup_levels.by_primary_concern then population.primary_concern else 'ALL'
        end as concern_key,
        population.instrument,
        population.change,
        population.is_measured,
        population.is_responder,
        population.is_excluded_zero_baseline
    from population
    cross join rollup_levels

),

aggregated as (

    select
        clinic_key,
        fitzpatrick,
        skin_type,
        concern_key,
        instrument,
        cast(count(*) as bigint) as courses,
        cast(sum(is_measured) as bigint) as courses_measured,
        cast(sum(is_responder) as bigint) as responders,
        cast(sum(is_excluded_zero_baseline) as bigint) as courses_excluded_zero_baseline,
        cast(count(change) as bigint) as courses_with_change,
        -- exact decimal sums: a double sum depends on row order, and a rebuild of the same
        -- data must give the same numbers to the last digit
        sum(cast(change as decimal(18, 6))) as change_sum,
        sum(cast(change as decimal(18, 6)) * cast(change as decimal(18, 6)))
            as change_sum_of_squares
    from expanded
    group by clinic_key, fitzpatrick, skin_type, concern_key, instrument

),

moments as (

    select
        *,
        case
            when courses_with_change > 0
                then cast(change_sum as double) / courses_with_change
        end as mean_change,
        {{ sample_sd_from_sums('courses_with_change', 'change_sum', 'change_sum_of_squares') }}
            as change_sd
    from aggregated

),

with_quantiles as (

    select
        moments.*,
        t_quantiles.t_975
    from moments
    left join t_quantiles
        on moments.courses_with_change - 1 = t_quantiles.degrees_of_freedom

),

final as (

    select
        clinic_key as clinic_id,
        fitzpatrick,
        skin_type,
        concern_key as primary_concern,
        instrument,
        courses,
        courses_measured,
        responders,
        case
            when courses_measured > 0 then cast(responders as double) / courses_measured
        end as response_rate,
        {{ wilson_low('responders', 'courses_measured') }} as response_rate_ci_low,
        {{ wilson_high('responders', 'courses_measured') }} as response_rate_ci_high,
        courses_excluded_zero_baseline,
        courses_with_change,
        mean_change,
        change_sd,
        mean_change
        - {{ t_half_width('change_sd', 'courses_with_change', 't_975') }}
            as mean_change_ci_low,
        mean_change
        + {{ t_half_width('change_sd', 'courses_with_change', 't_975') }}
            as mean_change_ci_high
    from with_quantiles

)

select * from final
