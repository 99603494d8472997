{#-
    What a provider can tell a patient at the consultation (metric_expected_outcomes),
    written once. expected_course_outcomes_sql(courses, course_outcomes, need_summary,
    concern_instruments) is the whole query of the mart expected_course_outcomes over
    relations with the columns of fct_courses, fct_course_outcomes, maintenance_need_summary
    and the concern_instruments seed; the DuckDB warehouse also publishes it over a list of
    clinics (marts.expected_course_outcomes_within), for a manager.

    Per skin type x primary concern x laser type (and 'ALL' laser types), from the finished
    initial and restart courses (completed or dropped out; courses in progress have not had
    their chance yet):
    - completion: completed / finished courses (Wilson 95 %);
    - sessions to completion: median and quartiles (linear interpolation, as percentile_cont)
      of the completed courses' sessions;
    - response on the concern's instrument over the completed courses measured on it, as
      results_by_skin_type (Wilson 95 %);
    - adverse and pigmentary adverse events per finished course (Wilson 95 %), as fct_courses
      flags them;
    - need for maintenance by 12 months: maintenance_need_summary of the skin type and concern
      (one Kaplan-Meier estimate for all laser types).
    Each figure with the count it rests on; a figure resting on fewer than the dbt var
    `expectation_min_courses` courses is null (its count says why).
-#}
{% macro expected_course_outcomes_sql(
    courses, course_outcomes, need_summary, concern_instruments
) %}
{%- set enough = var('expectation_min_courses') -%}
with

courses as (

    select * from {{ courses }}

),

course_outcomes as (

    select * from {{ course_outcomes }}

),

need_summary as (

    select * from {{ need_summary }}

),

concern_instruments as (

    select * from {{ concern_instruments }}

),

finished as (

    select
        course_id,
        fitzpatrick,
        primary_concern,
        coalesce(laser_type, 'unknown') as laser_type,
        sessions,
        case when status = 'completed' then 1 else 0 end as is_completed,
        case when has_adverse_event then 1 else 0 end as has_adverse_event,
        case when has_pigmentary_event then 1 else 0 end as has_pigmentary_event
    from courses
    where
        course_type in ('initial', 'restart')
        and status in ('completed', 'dropped_out')
        and fitzpatrick is not null

),

responses as (

    select
        course_outcomes.course_id,
        concern_instruments.instrument,
        case when course_outcomes.is_responder is not null then 1 else 0 end as is_measured,
        case when course_outcomes.is_responder then 1 else 0 end as is_responder
    from course_outcomes
    inner join concern_instruments
        on
            course_outcomes.primary_concern = concern_instruments.primary_concern
            and course_outcomes.instrument = concern_instruments.instrument

),

-- Joined before the rollup's cross join: after it, DuckDB joined by nested loop (28 s at 1m).
finished_responses as (

    select
        finished.*,
        case when finished.is_completed = 1 then coalesce(responses.is_measured, 0) else 0 end
            as is_measured,
        case when finished.is_completed = 1 then coalesce(responses.is_responder, 0) else 0 end
            as is_responder
    from finished
    left join responses
        on finished.course_id = responses.course_id

),

rollup_levels as (

    {{ rollup_levels(['laser_type']) }}

),

expanded as (

    select
        finished.fitzpatrick,
        finished.primary_concern,
        case when rollup_levels.by_laser_type then finished.laser_type else 'ALL' end
            as laser_type,
        finished.sessions,
        finished.is_completed,
        finished.has_adverse_event,
        finished.has_pigmentary_event,
        finished.is_measured,
        finished.is_responder,
        -- the completed courses' sessions in order, for the quartiles
        case when finished.is_completed = 1 then row_number() over (
            partition by
                finished.fitzpatrick,
                finished.primary_concern,
                rollup_levels.by_laser_type,
                case when rollup_levels.by_laser_type then finished.laser_type end,
                finished.is_completed
            order by finished.sessions asc nulls last, finished.course_id asc nulls last
        ) end as completed_rank
    from finished_responses as finished
    cross join rollup_levels

),

aggregated as (

    select
        fitzpatrick,
        primary_concern,
        laser_type,
        cast(count(*) as bigint) as courses,
        cast(sum(is_completed) as bigint) as courses_completed,
        cast(sum(is_measured) as bigint) as courses_measured,
        cast(sum(is_responder) as bigint) as responders,
        cast(sum(has_adverse_event) as bigint) as courses_with_ae,
        cast(sum(has_pigmentary_event) as bigint) as courses_with_pigmentary_ae
    from expanded
    group by fitzpatrick, primary_concern, laser_type

),

-- percentile_cont(p): the value at 0-based position h = (n - 1) p, interpolating between
-- the values at floor(h) and floor(h) + 1
quartile_positions as (

    select
        aggregated.*,
        {%- for name, p in [('p25', 0.25), ('median', 0.5), ('p75', 0.75)] %}
        floor((courses_completed - 1) * {{ p }}) + 1 as {{ name }}_rank,
        (courses_completed - 1) * {{ p }} - floor((courses_completed - 1) * {{ p }})
            as {{ name }}_fraction{{ ',' if not loop.last }}
        {%- endfor %}
    from aggregated

),

quartiles as (

    select
        positions.fitzpatrick,
        positions.primary_concern,
        positions.laser_type,
        {%- for name in ['p25', 'median', 'p75'] %}
        max(case when expanded.completed_rank = positions.{{ name }}_rank
            then expanded.sessions end)
        + max(positions.{{ name }}_fraction) * (
            coalesce(max(case when expanded.completed_rank = positions.{{ name }}_rank + 1
                then expanded.sessions end),
            max(case when expanded.completed_rank = positions.{{ name }}_rank
                then expanded.sessions end))
            - max(case when expanded.completed_rank = positions.{{ name }}_rank
                then expanded.sessions end)
        ) as sessions_{{ name }}{{ ',' if not loop.last }}
        {%- endfor %}
    from quartile_positions as positions
    inner join expanded
        on
            positions.fitzpatrick = expanded.fitzpatrick
            and positions.primary_concern = expanded.primary_concern
            and positions.laser_type = expanded.laser_type
            and expanded.completed_rank is not null
    group by positions.fitzpatrick, positions.primary_concern, positions.laser_type

),

final as (

    select
        aggregated.fitzpatrick,
        {{ skin_type_label('aggregated.fitzpatrick') }} as skin_type,
        aggregated.primary_concern,
        aggregated.laser_type,
        aggregated.courses,
        aggregated.courses_completed,
        case when aggregated.courses >= {{ enough }}
            then cast(aggregated.courses_completed as double) / aggregated.courses
        end as completion_rate,
        case when aggregated.courses >= {{ enough }}
            then {{ wilson_low('aggregated.courses_completed', 'aggregated.courses') }}
        end as completion_rate_ci_low,
        case when aggregated.courses >= {{ enough }}
            then {{ wilson_high('aggregated.courses_completed', 'aggregated.courses') }}
        end as completion_rate_ci_high,
        {%- for name in ['p25', 'median', 'p75'] %}
        case when aggregated.courses_completed >= {{ enough }}
            then cast(quartiles.sessions_{{ name }} as double)
        end as sessions_to_completion_{{ name }},
        {%- endfor %}
        concern_instruments.instrument,
        aggregated.courses_measured,
        aggregated.responders,
        case when aggregated.courses_measured >= {{ enough }}
            then cast(aggregated.responders as double) / aggregated.courses_measured
        end as response_rate,
        case when aggregated.courses_measured >= {{ enough }}
            then {{ wilson_low('aggregated.responders', 'aggregated.courses_measured') }}
        end as response_rate_ci_low,
        case when aggregated.courses_measured >= {{ enough }}
            then {{ wilson_high('aggregated.responders', 'aggregated.courses_measured') }}
        end as response_rate_ci_high,
        {%- for events, rate in [('courses_with_ae', 'course_ae_rate'),
                                 ('courses_with_pigmentary_ae', 'course_pigmentary_rate')] %}
        aggregated.{{ events }},
        case when aggregated.courses >= {{ enough }}
            then cast(aggregated.{{ events }} as double) / aggregated.courses
        end as {{ rate }},
        case when aggregated.courses >= {{ enough }}
            then {{ wilson_low('aggregated.' ~ events, 'aggregated.courses') }}
        end as {{ rate }}_ci_low,
        case when aggregated.courses >= {{ enough }}
            then {{ wilson_high('aggregated.' ~ events, 'aggregated.courses') }}
        end as {{ rate }}_ci_high,
        {%- endfor %}
        cast(coalesce(need_summary.courses, 0) as bigint) as maintenance_courses,
        case when need_summary.courses >= {{ enough }}
            then need_summary.need_by_12m
        end as need_by_12m
    from aggregated
    left join quartiles
        on
            aggregated.fitzpatrick = quartiles.fitzpatrick
            and aggregated.primary_concern = quartiles.primary_concern
            and aggregated.laser_type = quartiles.laser_type
    left join concern_instruments
        on aggregated.primary_concern = concern_instruments.primary_concern
    left join need_summary
        on
            aggregated.fitzpatrick = need_summary.fitzpatrick
            and aggregated.primary_concern = need_summary.primary_concern

)

select * from final
{% endmacro %}
