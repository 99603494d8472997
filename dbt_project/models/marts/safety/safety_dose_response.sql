-- Pigmentary adverse events by fluence band and by interval band, per laser type x skin type
-- (and 'ALL' skin types), pooled across clinics (metric_dose_response). The query is
-- macros/dose_response.sql's dose_response_sql, written once: the DuckDB warehouse also
-- publishes it over a list of clinics (marts.safety_dose_response_within).
{{ dose_response_sql(ref('int_dose_response_strata')) }}
