-- One row per maintenance-need cohort (the cohorts of maintenance_need): how many completed
-- initial courses, how many have had their event, the share needing maintenance by 3, 6 and
-- 12 months (1 - S(t)) and the median time to need (the first time S <= 0.5).
-- The query is macros/maintenance_need.sql's maintenance_need_summary_sql, written once: the
-- DuckDB warehouse also publishes it over a list of clinics
-- (marts.maintenance_need_summary_within).
{{ maintenance_need_summary_sql(ref('maintenance_need')) }}
