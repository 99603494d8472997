-- Fluence plausibility per completed session (DOMAIN.md "Laser parameter plausibility"): the
-- device's laser type and the COURSE's skin type are looked up in the laser_fluence_ranges
-- seed; a fluence below its minimum or above its maximum (bounds inclusive) is
-- fluence_out_of_range. Without a range (another laser type, an unknown device or skin type)
-- or without a fluence, a session is never flagged; fluence_range_min/max_j_cm2 are then null.
{{ config(
    materialized=changed_patients_materialization(),
    incremental_strategy='int_changed_patients'
) }}
with

sessions as (

    select * from {{ ref('int_sessions_coursed') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

),

courses as (

    select * from {{ ref('int_courses') }}
    where {{ changed_patients_only('patient_key', 'int_changed_patients') }}

),

devices as (

    select * from {{ ref('stg_lake__devices') }}

),

ranges as (

    select * from {{ ref('laser_fluence_ranges') }}

),

live_devices as (

    select
        device_id,
        laser_type
    from devices
    where not is_voided

),

final as (

    select
        sessions.session_id,
        sessions.course_id,
        sessions.patient_key,
        sessions.device_id,
        live_devices.laser_type,
        courses.fitzpatrick,
        sessions.fluence_j_cm2,
        ranges.fluence_min_j_cm2 as fluence_range_min_j_cm2,
        ranges.fluence_max_j_cm2 as fluence_range_max_j_cm2,
        coalesce(
            sessions.fluence_j_cm2 < ranges.fluence_min_j_cm2
            or sessions.fluence_j_cm2 > ranges.fluence_max_j_cm2,
            false
        ) as fluence_out_of_range
    from sessions
    left join courses
        on sessions.course_id = courses.course_id
    left join live_devices
        on sessions.device_id = live_devices.device_id
    left join ranges
        on
            live_devices.laser_type = ranges.laser_type
            and courses.fitzpatrick = ranges.fitzpatrick

)

select * from final
