{#-
    Post-session pain with and without numbing cream (metric_comfort), written once.
    comfort_sql(scored) is the whole query of the mart comfort_by_numbing_cream over any
    relation with the columns of int_sessions_pain_scored; the DuckDB warehouse also publishes
    it over a list of clinics (marts.comfort_by_numbing_cream_within), for a manager.

    Per laser type x skin type (and 'ALL' of each): the scored sessions, mean and standard
    deviation of pain with cream and without, the difference (with - without: negative when
    the cream helps) and its Welch 95 % interval. Sums are exact decimals (a score has 3
    decimals at most; more would overflow the sums of squares), as in
    results_by_skin_type, so a rebuild gives the same digits. The interval needs at least the
    dbt var `comfort_min_sessions` scored sessions on each side.
-#}
{% macro comfort_sql(scored) %}
with

scored as (

    select * from {{ scored }}
    where numbing_cream is not null and laser_type is not null

),

rollup_levels as (

    {{ rollup_levels(['laser_type', 'fitzpatrick']) }}

),

expanded as (

    select
        case when rollup_levels.by_laser_type then scored.laser_type else 'ALL' end
            as laser_type,
        case when rollup_levels.by_fitzpatrick then scored.fitzpatrick end as fitzpatrick,
        case
            when rollup_levels.by_fitzpatrick then {{ skin_type_label('scored.fitzpatrick') }}
            else 'ALL'
        end as skin_type,
        scored.numbing_cream,
        cast(scored.pain_score as decimal(9, 3)) as pain_score
    from scored
    cross join rollup_levels

),

aggregated as (

    select
        laser_type,
        fitzpatrick,
        skin_type,
        {%- for side, condition in [('with_cream', 'numbing_cream'),
                                    ('without_cream', 'not numbing_cream')] %}
        cast(sum(case when {{ condition }} then 1 else 0 end) as bigint)
            as sessions_{{ side }},
        sum(case when {{ condition }} then pain_score end) as pain_sum_{{ side }},
        sum(case when {{ condition }} then pain_score * pain_score end)
            as pain_sum_of_squares_{{ side }}{{ ',' if not loop.last }}
        {%- endfor %}
    from expanded
    group by laser_type, fitzpatrick, skin_type

),

moments as (

    select
        laser_type,
        fitzpatrick,
        skin_type,
        {%- for side in ['with_cream', 'without_cream'] %}
        sessions_{{ side }},
        case
            when sessions_{{ side }} > 0
                then cast(pain_sum_{{ side }} as double) / sessions_{{ side }}
        end as mean_pain_{{ side }},
        {{ sample_sd_from_sums(
            'sessions_' ~ side, 'pain_sum_' ~ side, 'pain_sum_of_squares_' ~ side
        ) }} as sd_pain_{{ side }}{{ ',' if not loop.last }}
        {%- endfor %}
    from aggregated

),

welch as (

    select
        *,
        mean_pain_with_cream - mean_pain_without_cream as pain_difference,
        case
            when
                sessions_with_cream >= {{ var('comfort_min_sessions') }}
                and sessions_without_cream >= {{ var('comfort_min_sessions') }}
                then {{ welch_degrees_of_freedom(
                    'sd_pain_with_cream * sd_pain_with_cream', 'sessions_with_cream',
                    'sd_pain_without_cream * sd_pain_without_cream', 'sessions_without_cream'
                ) }}
        end as welch_df,
        sqrt(
            sd_pain_with_cream * sd_pain_with_cream / sessions_with_cream
            + sd_pain_without_cream * sd_pain_without_cream / sessions_without_cream
        ) as pain_difference_se
    from moments

),

final as (

    select
        laser_type,
        fitzpatrick,
        skin_type,
        sessions_with_cream + sessions_without_cream as sessions_scored,
        sessions_with_cream,
        mean_pain_with_cream,
        sd_pain_with_cream,
        sessions_without_cream,
        mean_pain_without_cream,
        sd_pain_without_cream,
        pain_difference,
        pain_difference - {{ t_975_hill('welch_df') }} * pain_difference_se
            as pain_difference_ci_low,
        pain_difference + {{ t_975_hill('welch_df') }} * pain_difference_se
            as pain_difference_ci_high,
        welch_df
    from welch

)

select * from final
{% endmacro %}
