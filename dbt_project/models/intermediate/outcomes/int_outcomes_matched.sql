-- The usable outcome scores, each with what matches it to courses: one row per non-voided
-- score with a value, of an outcome instrument of the registry (pain_vas is per-session
-- tolerability, not an outcome). The rater defaults to the registry's default_rater. A score
-- that names a session carries that session's course and treatment area (session_course_id,
-- session_treatment_area); a score without one (or naming an unknown session) is a candidate
-- for every course of its patient. The one place scores are read for outcome models.
{{ config(
    materialized=changed_patients_materialization(),
    incremental_strategy='changed_patients'
) }}
with

outcomes as (

    select * from {{ ref('stg_lake__outcomes') }}
    where {{ changed_patients_only() }}

),

instruments as (

    select * from {{ ref('instruments') }}

),

sessions as (

    select * from {{ ref('int_sessions_coursed') }}

),

final as (

    select
        outcomes.response_id,
        outcomes.clinic_id,
        outcomes.patient_key,
        outcomes.session_id,
        outcomes.instrument,
        coalesce(outcomes.rater, instruments.default_rater) as rater,
        outcomes.timepoint as supplied_timepoint,
        outcomes.score,
        outcomes.collected_at,
        outcomes.collected_on_local,
        instruments.has_baseline,
        sessions.course_id as session_course_id,
        sessions.treatment_area as session_treatment_area
    from outcomes
    inner join instruments
        on outcomes.instrument = instruments.instrument
    left join sessions
        on outcomes.session_id = sessions.session_id
    where
        not outcomes.is_voided
        and instruments.is_outcome
        and outcomes.score is not null

)

select * from final
