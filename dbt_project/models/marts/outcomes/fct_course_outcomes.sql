-- One row per course and outcome instrument (every course x every instrument with
-- is_outcome in the registry, scored or not), with the scores at the derived timepoints and
-- the responder rule of DOMAIN.md "Instruments":
-- change = end - baseline; relative_reduction = (baseline - end) / baseline, null when the
-- baseline is 0 (such courses are excluded from response and flagged); is_responder:
-- relative_reduction >= 0.5 (mmasi, pigmentation_vas), end score <= 2 (gais), end score >= 4
-- (satisfaction_5); null when it cannot be decided. Rules and thresholds: the `instruments`
-- seed only (responder_rule, responder_threshold).
{{ config(
    materialized=changed_patients_materialization(),
    incremental_strategy='int_changed_patients'
) }}
with

courses as (

    select * from {{ ref('int_courses') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

),

instruments as (

    select * from {{ ref('instruments') }}

),

timepointed as (

    select * from {{ ref('int_outcomes_timepointed') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

),

scores_by_course as (

    select
        course_id,
        instrument,
        max(case when timepoint = 'baseline' then score end) as baseline_score,
        max(case when timepoint = 'baseline' then collected_on_local end)
            as baseline_collected_on_local,
        max(case when timepoint = 'end_of_course' then score end) as end_score,
        max(case when timepoint = 'end_of_course' then collected_on_local end)
            as end_collected_on_local,
        max(case when timepoint = 'end_of_course' then rater end) as end_rater,
        max(case when timepoint = 'follow_up_3m' then score end) as follow_up_3m_score,
        max(case when timepoint = 'follow_up_6m' then score end) as follow_up_6m_score,
        max(case when timepoint = 'follow_up_12m' then score end) as follow_up_12m_score
    from timepointed
    group by course_id, instrument

),

course_instruments as (

    select
        courses.course_id,
        instruments.instrument,
        courses.patient_key,
        courses.clinic_id,
        courses.treatment_area,
        courses.fitzpatrick,
        courses.primary_concern,
        courses.course_type,
        courses.status,
        courses.first_session_at,
        courses.last_session_at,
        instruments.responder_rule,
        instruments.responder_threshold
    from courses
    cross join instruments
    where instruments.is_outcome

),

joined as (

    select
        course_instruments.*,
        scores_by_course.baseline_score,
        scores_by_course.baseline_collected_on_local,
        scores_by_course.end_score,
        scores_by_course.end_collected_on_local,
        scores_by_course.end_rater,
        scores_by_course.follow_up_3m_score,
        scores_by_course.follow_up_6m_score,
        scores_by_course.follow_up_12m_score,
        -- `change` is the public column name (DOMAIN.md marts table)
        scores_by_course.end_score - scores_by_course.baseline_score as change, -- noqa: RF04
        case
            when scores_by_course.baseline_score > 0
                then
                    (scores_by_course.baseline_score - scores_by_course.end_score)
                    / scores_by_course.baseline_score
        end as relative_reduction
    from course_instruments
    left join scores_by_course
        on
            course_instruments.course_id = scores_by_course.course_id
            and course_instruments.instrument = scores_by_course.instrument

),

classified as (

    select
        *,
        coalesce(
            responder_rule = 'relative_reduction' and baseline_score = 0, false
        ) as is_excluded_zero_baseline,
        case
            when responder_rule = 'relative_reduction' and relative_reduction is not null
                then relative_reduction >= responder_threshold
            when responder_rule = 'end_score_at_most' and end_score is not null
                then end_score <= responder_threshold
            when responder_rule = 'end_score_at_least' and end_score is not null
                then end_score >= responder_threshold
        end as is_responder
    from joined

),

final as (

    select
        course_id,
        instrument,
        patient_key,
        clinic_id,
        treatment_area,
        fitzpatrick,
        primary_concern,
        course_type,
        status,
        first_session_at,
        last_session_at,
        baseline_score,
        baseline_collected_on_local,
        end_score,
        end_collected_on_local,
        end_rater,
        change,
        relative_reduction,
        is_excluded_zero_baseline,
        responder_rule,
        responder_threshold,
        is_responder,
        follow_up_3m_score,
        follow_up_6m_score,
        follow_up_12m_score
    from classified

)

select * from final
