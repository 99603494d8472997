-- One row per non-voided side-effect event, classified (DOMAIN.md "Side effects"; see
-- int_side_effects_coursed), with its duration: from onset to resolution or, while unresolved,
-- to the as-of date (int_as_of_date). The duration of an unresolved event changes every night:
-- rebuilt per changed patient, the other unresolved events' durations are moved to the new
-- date in place (macros/as_of_date.sql).
{{ config(
    materialized=changed_patients_materialization(),
    incremental_strategy='int_changed_patients',
    post_hook="{{ move_to_as_of_date(
        {
            'duration_days':
                side_effect_duration_days('onset_on', 'resolved_on', 'as_of.as_of_date')
        },
        where='resolved_on is null'
    ) }}"
) }}
with

side_effects as (

    select * from {{ ref('int_side_effects_coursed') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

final as (

    select
        side_effects.event_id,
        side_effects.clinic_id,
        side_effects.patient_key,
        side_effects.session_id,
        side_effects.reported_session_id,
        side_effects.attribution_method,
        side_effects.course_id,
        side_effects.treatment_area,
        side_effects.session_started_on_local,
        side_effects.fitzpatrick,
        side_effects.fitzpatrick_source,
        side_effects.primary_concern,
        side_effects.effect,
        side_effects.effect_group,
        side_effects.severity,
        side_effects.is_adverse_event,
        side_effects.is_serious,
        side_effects.is_serious_reported,
        side_effects.onset_on,
        side_effects.resolved_on,
        side_effects.is_resolved,
        {{ side_effect_duration_days(
            'side_effects.onset_on', 'side_effects.resolved_on', 'as_of.as_of_date'
        ) }} as duration_days,
        side_effects.reported_by,
        side_effects.action
    from side_effects
    cross join as_of

)

select * from final
