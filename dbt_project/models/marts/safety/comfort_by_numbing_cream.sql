-- Post-session pain with and without numbing cream per laser type x skin type (and 'ALL'
-- of each), with the difference's Welch 95 % interval (metric_comfort). The query is
-- macros/comfort.sql's comfort_sql, written once: the DuckDB warehouse also publishes it
-- over a list of clinics (marts.comfort_by_numbing_cream_within).
{{ comfort_sql(ref('int_sessions_pain_scored')) }}
