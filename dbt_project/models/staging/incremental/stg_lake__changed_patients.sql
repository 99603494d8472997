-- The patients whose rows the incremental models recompute in this build: every patient of any
-- version of a session, outcome or side effect that a newly loaded file holds a version of (a
-- correction that moves a record to another patient changes both), and every patient with an
-- outcome naming a session of one of them (the outcome's course comes from that session).
-- A build from scratch (dbt's --full-refresh: every such build of the refresh, and every Spark
-- build) rebuilds each model whole and reads no changed set, so it leaves the set empty rather
-- than join every raw row to the files (54 s of a 10m first build).
with

sessions as (

    select * from {{ source('lake', 'sessions') }}

),

outcomes as (

    select * from {{ source('lake', 'outcomes') }}

),

touched_patients as (

    {{ patients_of_new_versions('sessions', 'session_id') }}

    union

    {{ patients_of_new_versions('outcomes', 'response_id') }}

    union

    {{ patients_of_new_versions('side_effects', 'event_id') }}

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
