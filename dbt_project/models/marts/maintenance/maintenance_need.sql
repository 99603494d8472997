-- Kaplan-Meier estimate of maintenance-free survival (DOMAIN.md "Maintenance need"), one row
-- per cohort (skin_type x primary_concern, rollups 'ALL' included) and distinct time
-- (days from the last session) at which a course of the cohort has its event or is censored.
-- The query is macros/maintenance_need.sql's maintenance_need_sql, written once: the DuckDB
-- warehouse also publishes it over a list of clinics (marts.maintenance_need_within).
{{ maintenance_need_sql(ref('int_maintenance_cohorts')) }}
