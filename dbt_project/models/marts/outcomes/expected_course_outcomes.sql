-- What to expect from a course, per skin type x primary concern x laser type (and 'ALL'
-- laser types), for the consultation aid (metric_expected_outcomes). The query is
-- macros/expected_course_outcomes.sql's expected_course_outcomes_sql, written once: the
-- DuckDB warehouse also publishes it over a list of clinics
-- (marts.expected_course_outcomes_within).
{{ expected_course_outcomes_sql(
    ref('fct_courses'),
    ref('fct_course_outcomes'),
    ref('maintenance_need_summary'),
    ref('concern_instruments')
) }}
