-- Post-session pain per completed session (metric_comfort): the patient's pain_vas
-- score collected closest after the session's start, within the dbt var
-- `pain_window_days` (3); ties go to the lower response_id. Matched by patient and time, not
-- by the score's session_id, which many systems leave empty. Sessions without such a score
-- are not here.
{{ config(
    materialized=changed_patients_materialization(),
    incremental_strategy='int_changed_patients'
) }}
with

sessions as (

    select * from {{ ref('fct_sessions') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

),

outcomes as (

    select * from {{ ref('stg_lake__outcomes') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

),

pain_scores as (

    select
        response_id,
        patient_key,
        score,
        collected_at
    from outcomes
    where
        instrument = 'pain_vas'
        and not is_voided
        and score is not null
        and collected_at is not null

),

candidates as (

    select
        sessions.session_id,
        sessions.clinic_id,
        sessions.patient_key,
        sessions.laser_type,
        sessions.fitzpatrick,
        sessions.numbing_cream,
        pain_scores.response_id,
        pain_scores.score as pain_score,
        pain_scores.collected_at,
        row_number() over (
            partition by sessions.session_id
            order by
                pain_scores.collected_at asc nulls last,
                pain_scores.response_id asc nulls last
        ) as closeness
    from sessions
    inner join pain_scores
        on
            sessions.patient_key = pain_scores.patient_key
            and sessions.started_at <= pain_scores.collected_at
            and {{ dbt.dateadd('day', var('pain_window_days'), 'sessions.started_at') }}
            >= pain_scores.collected_at

),

final as (

    select
        session_id,
        clinic_id,
        patient_key,
        laser_type,
        fitzpatrick,
        numbing_cream,
        response_id as pain_response_id,
        pain_score,
        collected_at as pain_collected_at
    from candidates
    where closeness = 1

)

select * from final
