-- Adverse-event classification of each attributed side-effect event (DOMAIN.md "Side
-- effects"). The effect's group and adverse rule come from the side_effect_taxonomy seed (an
-- effect missing from it counts as `other`, always adverse). An event is adverse when its rule
-- is `always`, or (expected reactions) when it is severe or its duration
-- (macros/side_effects.sql) is MORE than `ae_min_duration_days`. Serious: severe, or the
-- clinic's own serious flag. The duration itself, which grows every night while an event is
-- unresolved, is fct_side_effects': this model changes for a patient only when a flag does
-- (int_changed_patients).
{{ config(
    materialized=changed_patients_materialization(),
    incremental_strategy='int_changed_patients'
) }}
with

side_effects as (

    select * from {{ ref('int_side_effects_attributed') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

),

taxonomy as (

    select * from {{ ref('side_effect_taxonomy') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

typed as (

    select
        side_effects.*,
        coalesce(taxonomy.effect_group, 'other') as effect_group,
        coalesce(taxonomy.adverse_rule, 'always') as adverse_rule,
        side_effects.resolved_on is not null as is_resolved,
        {{ side_effect_duration_days(
            'side_effects.onset_on', 'side_effects.resolved_on', 'as_of.as_of_date'
        ) }} as duration_days
    from side_effects
    cross join as_of
    left join taxonomy
        on side_effects.effect = taxonomy.effect

),

final as (

    select
        event_id,
        clinic_id,
        patient_key,
        session_id,
        reported_session_id,
        attribution_method,
        effect,
        effect_group,
        adverse_rule,
        severity,
        onset_on,
        resolved_on,
        is_resolved,
        coalesce(
            adverse_rule = 'always'
            or severity = 'severe'
            or duration_days > {{ var('ae_min_duration_days') }},
            false
        ) as is_adverse_event,
        coalesce(severity = 'severe', false)
        or coalesce(is_serious_reported, false) as is_serious,
        is_serious_reported,
        reported_by,
        action,
        updated_at
    from typed

)

select * from final
