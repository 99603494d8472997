-- Side-effect flags per completed session: the classified events attributed to it (supplied
-- or inferred), counted. Every completed session has a row; one without events has zero
-- counts and false flags. Pigmentary events are always adverse, so has_pigmentary_event
-- marks a session with a pigmentary adverse event.
{{ config(
    materialized=changed_patients_materialization(),
    incremental_strategy='int_changed_patients'
) }}
with

sessions as (

    select * from {{ ref('int_sessions_completed') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

),

side_effects as (

    select * from {{ ref('int_side_effects_classified') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

),

per_session as (

    select
        session_id,
        count(*) as side_effects,
        sum(case when is_adverse_event then 1 else 0 end) as adverse_events,
        sum(case when effect_group = 'pigmentary' then 1 else 0 end) as pigmentary_events,
        sum(case when is_serious then 1 else 0 end) as serious_events
    from side_effects
    where session_id is not null
    group by session_id

),

final as (

    select
        sessions.session_id,
        sessions.patient_key,
        cast(coalesce(per_session.side_effects, 0) as integer) as side_effects,
        cast(coalesce(per_session.adverse_events, 0) as integer) as adverse_events,
        cast(coalesce(per_session.pigmentary_events, 0) as integer) as pigmentary_events,
        cast(coalesce(per_session.serious_events, 0) as integer) as serious_events,
        coalesce(per_session.adverse_events, 0) > 0 as has_adverse_event,
        coalesce(per_session.pigmentary_events, 0) > 0 as has_pigmentary_event,
        coalesce(per_session.serious_events, 0) > 0 as has_serious_event
    from sessions
    left join per_session
        on sessions.session_id = per_session.session_id

)

select * from final
