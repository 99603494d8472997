-- The patients whose rows the incremental models recompute in this build: every patient of any
-- version of a session, outcome or side effect that a newly loaded file holds a version of (a
-- correction that moves a record to another patient changes both), and every patient with an
-- outcome naming a session of one of them (the outcome's course comes from that session).
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

touched_patients as (

    select patient_key from sessions
    where session_id in (
        select session_id from sessions
        where _file_sha256 in (select file_sha256 from new_files)
    )

    union

    select patient_key from outcomes
    where response_id in (
        select response_id from outcomes
        where _file_sha256 in (select file_sha256 from new_files)
    )

    union

    select patient_key from side_effects
    where event_id in (
        select event_id from side_effects
        where _file_sha256 in (select file_sha256 from new_files)
    )

),

patients_of_outcomes_naming_their_sessions as (

    select outcomes.patient_key from outcomes
    where outcomes.session_id in (
        select sessions.session_id from sessions
        where sessions.patient_key in (select patient_key from touched_patients)
    )

),

final as (

    select patient_key from touched_patients

    union

    select patient_key from patients_of_outcomes_naming_their_sessions

)

select * from final
