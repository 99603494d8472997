-- The patients whose rows the incremental models recompute in this build: every patient of any
-- version of a session, outcome or side effect that a newly loaded file holds a version of (a
-- correction that moves a record to another patient changes both), and every patient with an
-- outcome naming a session of one of them (the outcome's course comes from that session).
-- A build from scratch (dbt's --full-refresh: every such build of the refresh, and every Spark
-- build) rebuilds each model whole and reads no changed set, so it leaves the set empty rather
-- than join every raw row to the files (54 s of a 10m first build).
with

new_files as (

    select file_sha256 from {{ ref('stg_lake__loaded_files') }}
    where first_built_by_invocation = '{{ invocation_id }}'

),

sessions as (

    select * from {{ source('lake', 'sessions') }}

),

outcomes as (

    select * from {{ source('lake', 'outcomes') }}

),

side_effects as (

    select * from {{ source('lake', 'side_effects') }}

),

changed_sessions as (

    select distinct sessions.session_id
    from sessions
    inner join new_files on sessions._file_sha256 = new_files.file_sha256

),

changed_outcomes as (

    select distinct outcomes.response_id
    from outcomes
    inner join new_files on outcomes._file_sha256 = new_files.file_sha256

),

changed_side_effects as (

    select distinct side_effects.event_id
    from side_effects
    inner join new_files on side_effects._file_sha256 = new_files.file_sha256

),

touched_patients as (

    select sessions.patient_key
    from sessions
    inner join changed_sessions on sessions.session_id = changed_sessions.session_id

    union

    select outcomes.patient_key
    from outcomes
    inner join changed_outcomes on outcomes.response_id = changed_outcomes.response_id

    union

    select side_effects.patient_key
    from side_effects
    inner join changed_side_effects on side_effects.event_id = changed_side_effects.event_id

),

sessions_of_touched_patients as (

    select distinct sessions.session_id
    from sessions
    inner join touched_patients on sessions.patient_key = touched_patients.patient_key

),

patients_of_outcomes_naming_their_sessions as (

    select outcomes.patient_key
    from outcomes
    inner join sessions_of_touched_patients
        on outcomes.session_id = sessions_of_touched_patients.session_id

),

final as (

    select patient_key from touched_patients

    union

    select patient_key from patients_of_outcomes_naming_their_sessions

)

select * from final
{% if flags.FULL_REFRESH %}
    where false
{% endif %}
