-- Non-voided side-effect events with the session they are attributed to (DOMAIN.md "Side
-- effects"). An event that carries a session_id keeps it (`supplied`). An event without one is
-- attributed to the patient's latest completed session whose clinic-local start date is on or
-- before onset_on and at most `attribution_window_days` days before it (`inferred`; same-day
-- ties go to the later started_at, then the higher session_id). Otherwise the event stays
-- unattributed (`unattributed`: a data-quality finding).
{{ config(
    materialized=changed_patients_materialization(),
    incremental_strategy='changed_patients'
) }}
with

side_effects as (

    select * from {{ ref('stg_lake__side_effects') }}
    where {{ changed_patients_only() }}

),

sessions as (

    select * from {{ ref('int_sessions_completed') }}
    where {{ changed_patients_only() }}

),

live_side_effects as (

    select * from side_effects
    where not is_voided

),

candidates as (

    select
        live_side_effects.event_id,
        sessions.session_id,
        row_number() over (
            partition by live_side_effects.event_id
            order by sessions.started_at desc nulls last, sessions.session_id desc nulls last
        ) as candidate_rank
    from live_side_effects
    inner join sessions
        on
            live_side_effects.patient_key = sessions.patient_key
            and live_side_effects.onset_on >= sessions.started_on_local
            and {{ dbt.datediff('sessions.started_on_local', 'live_side_effects.onset_on', 'day') }}
            <= {{ var('attribution_window_days') }}
    where live_side_effects.session_id is null

),

inferred as (

    select
        event_id,
        session_id
    from candidates
    where candidate_rank = 1

),

final as (

    select
        live_side_effects.event_id,
        live_side_effects.clinic_id,
        live_side_effects.patient_key,
        coalesce(live_side_effects.session_id, inferred.session_id) as session_id,
        live_side_effects.session_id as reported_session_id,
        case
            when live_side_effects.session_id is not null then 'supplied'
            when inferred.session_id is not null then 'inferred'
            else 'unattributed'
        end as attribution_method,
        live_side_effects.effect,
        live_side_effects.severity,
        live_side_effects.onset_on,
        live_side_effects.resolved_on,
        live_side_effects.reported_by,
        live_side_effects.action,
        live_side_effects.is_serious_reported,
        live_side_effects.updated_at
    from live_side_effects
    left join inferred
        on live_side_effects.event_id = inferred.event_id

)

select * from final
