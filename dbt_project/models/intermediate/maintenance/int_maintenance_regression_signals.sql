-- Regression signals (DOMAIN.md "Maintenance need", event b): a patient-rated
-- pigmentation_vas score collected MORE than `regression_min_days_after_course` (14) days
-- after the course's last session that is at least the instrument's MCID (`instruments`
-- seed mcid_points: 2) above the course's end-of-course score (int_outcomes_timepointed;
-- courses without one have no signal). Scores are matched to the course's patient; a score
-- that names a session whose treatment area is known counts only for courses on that area
-- (outcomes carry no area otherwise). Scores are the usable ones of int_outcomes_matched (not
-- voided, with a value; an empty rater is the instrument's default_rater). One row per course
-- with at least one signal: the first one (earliest collected_at, then response_id) and how
-- many there are. Rebuilt per changed patient: nothing here moves with the as-of date.
{{ config(
    materialized=changed_patients_materialization(),
    incremental_strategy='int_changed_patients'
) }}
with

courses as (

    select * from {{ ref('int_courses') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

),

timepointed as (

    select * from {{ ref('int_outcomes_timepointed') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

),

scores as (

    select * from {{ ref('int_outcomes_matched') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

),

instruments as (

    select * from {{ ref('instruments') }}

),

end_of_course_scores as (

    select
        course_id,
        score as end_of_course_score,
        response_id as end_of_course_response_id
    from timepointed
    where
        instrument = 'pigmentation_vas'
        and timepoint = 'end_of_course'

),

patient_scores as (

    select
        scores.response_id,
        scores.patient_key,
        scores.score,
        scores.collected_at,
        scores.collected_on_local,
        scores.session_treatment_area,
        instruments.mcid_points
    from scores
    inner join instruments
        on scores.instrument = instruments.instrument
    where
        scores.instrument = 'pigmentation_vas'
        -- rater is already the registry's default_rater where the row leaves it empty
        and scores.rater = 'patient'

),

candidates as (

    select
        courses.course_id,
        courses.patient_key,
        end_of_course_scores.end_of_course_score,
        end_of_course_scores.end_of_course_response_id,
        patient_scores.response_id,
        patient_scores.score,
        patient_scores.collected_at,
        patient_scores.collected_on_local,
        patient_scores.mcid_points,
        cast(
            {{ dbt.datediff(
                'courses.last_session_on_local', 'patient_scores.collected_on_local', 'day'
            ) }} as integer
        ) as days_after_course
    from courses
    inner join end_of_course_scores
        on courses.course_id = end_of_course_scores.course_id
    inner join patient_scores
        on
            courses.patient_key = patient_scores.patient_key
            and (
                patient_scores.session_treatment_area is null
                or courses.treatment_area = patient_scores.session_treatment_area
            )

),

signals as (

    select
        *,
        row_number() over (
            partition by course_id
            order by collected_at asc nulls last, response_id asc nulls last
        ) as signal_number,
        count(*) over (partition by course_id) as signals
    from candidates
    where
        days_after_course > {{ var('regression_min_days_after_course') }}
        and score >= end_of_course_score + mcid_points

),

final as (

    select
        course_id,
        patient_key,
        end_of_course_score,
        end_of_course_response_id,
        response_id as regression_response_id,
        score as regression_score,
        collected_at as regression_at,
        collected_on_local as regression_on,
        days_after_course,
        cast(signals as integer) as signals
    from signals
    where signal_number = 1

)

select * from final
