-- The patients whose rows the models from int_courses_planned on recompute in this build
-- (macros/changed_patients.sql). A patient's courses, their sessions' and outcomes' course
-- columns and their side effects' classification change with more than their own sessions,
-- outcomes and side effects (stg_lake__changed_patients):
-- - a consultation or patient record of theirs arrives (a course's plan and skin type);
-- - a clinic, provider or device record arrives: everyone (laser types, fluence checks);
-- - the as-of date moves: a course is in progress while its last session is at most
--   `course_gap_days` before the as-of date, so it changes status (to dropped out, or back if
--   the date moves back) only when its last session falls on or after the earlier date less
--   the gap and before the later date less the gap; and an unresolved side effect's
--   adverse-event flag changes only when its duration passes `ae_min_duration_days` (its
--   duration, which grows every night, is fct_side_effects' alone).
-- A build from scratch rebuilds every model whole and reads no changed set: it is left empty.
with

changed_records as (

    select patient_key from {{ ref('stg_lake__changed_patients') }}

),

new_files as (

    {{ new_files_of_this_build() }}

),

as_of as (

    select * from {{ ref('int_as_of_dates') }}

),

sessions as (

    select * from {{ ref('int_sessions_coursed') }}

),

outcomes as (

    select * from {{ ref('int_outcomes_matched') }}

),

side_effects as (

    select * from {{ ref('int_side_effects_attributed') }}

),

planned_patients as (

    {{ patients_of_new_versions('consultations', 'consultation_id') }}

    union

    {{ patients_of_new_versions('patients', 'patient_key') }}

),

reference_changes as (

    select count(*) as files
    from new_files
    where feed in ('clinics', 'providers', 'devices')

),

everyone as (

    select patient_key from sessions
    union
    select patient_key from outcomes
    union
    select patient_key from side_effects

),

everyone_after_reference_changes as (

    select everyone.patient_key
    from everyone
    cross join reference_changes
    where reference_changes.files > 0

),

date_moves as (

    -- between the two dates, [from, until): the last sessions whose course changes status, and
    -- the onsets of the unresolved side effects that turn adverse
    select
        {{ dbt.dateadd(
            'day', -var('course_gap_days'), 'least(as_of_date, previous_as_of_date)'
        ) }} as last_session_from,
        {{ dbt.dateadd(
            'day', -var('course_gap_days'), 'greatest(as_of_date, previous_as_of_date)'
        ) }} as last_session_until,
        {{ dbt.dateadd(
            'day', -var('ae_min_duration_days'), 'least(as_of_date, previous_as_of_date)'
        ) }} as onset_from,
        {{ dbt.dateadd(
            'day', -var('ae_min_duration_days'), 'greatest(as_of_date, previous_as_of_date)'
        ) }} as onset_until
    from as_of
    where as_of_date != previous_as_of_date

),

date_sensitive_patients as (

    select sessions.patient_key
    from sessions
    inner join date_moves
        on
            sessions.started_on_local >= date_moves.last_session_from
            and sessions.started_on_local < date_moves.last_session_until

    union

    -- an unresolved expected reaction becomes adverse once it lasts MORE than
    -- `ae_min_duration_days`: when its onset falls on or after the earlier date less that
    -- and before the later date less that (its duration itself is fct_side_effects')
    select side_effects.patient_key
    from side_effects
    inner join date_moves
        on
            side_effects.onset_on >= date_moves.onset_from
            and side_effects.onset_on < date_moves.onset_until
    where side_effects.resolved_on is null

),

final as (

    select patient_key from changed_records
    union
    select patient_key from planned_patients
    union
    select patient_key from everyone_after_reference_changes
    union
    select patient_key from date_sensitive_patients

)

select * from final
{% if flags.FULL_REFRESH %}
    where false
{% endif %}
