-- Supplied against derived timepoints, one row per non-voided outcome score that either was
-- chosen for a course's timepoint (int_outcomes_timepointed) or was supplied as one of the
-- derived timepoints. A data-quality finding, not an error: the derived timepoint is the one
-- used. Where a score was chosen more than once (two courses), the choice that matches the
-- supplied timepoint is reported, else the earliest timepoint in course order.
{{ config(
    materialized=changed_patients_materialization(),
    incremental_strategy='int_changed_patients'
) }}
with

scores as (

    select * from {{ ref('int_outcomes_matched') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

),

timepointed as (

    select * from {{ ref('int_outcomes_timepointed') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

),

choices as (

    select
        response_id,
        timepoint,
        count(*) over (partition by response_id) as times_chosen,
        row_number() over (
            partition by response_id
            order by
                case when timepoint = supplied_timepoint then 0 else 1 end asc nulls last,
                case timepoint
                    when 'baseline' then 1
                    when 'end_of_course' then 2
                    when 'follow_up_3m' then 3
                    when 'follow_up_6m' then 4
                    when 'follow_up_12m' then 5
                end asc nulls last,
                course_id asc nulls last
        ) as choice_rank
    from timepointed

),

first_choices as (

    select * from choices
    where choice_rank = 1

),

checked as (

    select
        scores.response_id,
        scores.clinic_id,
        scores.patient_key,
        scores.session_id,
        scores.instrument,
        scores.supplied_timepoint,
        scores.score,
        scores.collected_at,
        scores.collected_on_local,
        first_choices.timepoint as derived_timepoint,
        coalesce(first_choices.times_chosen, 0) as times_chosen
    from scores
    left join first_choices
        on scores.response_id = first_choices.response_id
    where
        first_choices.response_id is not null
        or scores.supplied_timepoint in (
            'baseline', 'end_of_course', 'follow_up_3m', 'follow_up_6m', 'follow_up_12m'
        )

),

final as (

    select
        response_id,
        clinic_id,
        patient_key,
        session_id,
        instrument,
        score,
        collected_at,
        collected_on_local,
        supplied_timepoint,
        derived_timepoint,
        cast(times_chosen as integer) as times_chosen,
        case
            when derived_timepoint is null then 'not_used'
            when supplied_timepoint is null then 'not_supplied'
            when supplied_timepoint = derived_timepoint then 'agrees'
            else 'disagrees'
        end as finding
    from checked

)

select * from final
