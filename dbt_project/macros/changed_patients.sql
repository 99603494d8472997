{#-
  Incremental models over one patient's records (sessions, outcomes, side effects and the
  models built from them) are rebuilt per CHANGED PATIENT: a late correction or void can
  re-split an old course, so the unit of recomputation is everything of every patient a newly
  loaded record touches, never just the new rows. `stg_lake__changed_patients` says who that is.

  In a model:

      {{ config(
          materialized=changed_patients_materialization(),
          incremental_strategy='changed_patients'
      ) }}
      ...
      from source
      where {{ changed_patients_only('source.patient_key') }}

  On a full build (the first one, or `--full-refresh`) the filter is `true` and the model is a
  plain table; on an incremental build it keeps the changed patients' rows, and the strategy
  deletes those patients' old rows before inserting the new ones (a patient whose last row
  disappeared, say by a void, is deleted and nothing is inserted).

  Two sets exist, because the course-level rows of a patient also change without a new record
  of theirs (a consultation, a device, the as-of date: see int_changed_patients), and that
  wider set can only be known after staging. The models up to the courses (staging, completed
  and coursed sessions, matched outcomes, attributed side effects) use
  `stg_lake__changed_patients`; the models from int_courses_planned on use the wider one:

      {{ config(
          materialized=changed_patients_materialization(),
          incremental_strategy='int_changed_patients'
      ) }}
      ...
      where {{ changed_patients_only('source.patient_key', 'int_changed_patients') }}
-#}

{% macro changed_patients_only(
    patient_key_column='patient_key', changed_patients='stg_lake__changed_patients'
) -%}
    {#- ref() outside the if, so dbt records the dependency when it parses the model -#}
    {%- set changed_patients = ref(changed_patients) -%}
    {%- if is_incremental() -%}
        {{ patient_key_column }} in (select patient_key from {{ changed_patients }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}


{% macro get_incremental_changed_patients_sql(arg_dict) -%}
    {{ replace_changed_patients(arg_dict, ref('stg_lake__changed_patients')) }}
{%- endmacro %}


{% macro get_incremental_int_changed_patients_sql(arg_dict) -%}
    {{ replace_changed_patients(arg_dict, ref('int_changed_patients')) }}
{%- endmacro %}


{% macro replace_changed_patients(arg_dict, changed_patients) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }}
    where patient_key in (select patient_key from {{ changed_patients }});

    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ arg_dict['temp_relation'] }}
{%- endmacro %}


{#- How a model of the changed_patients strategy materialises on each engine (see above).
    DuckDB deletes the changed patients' rows in place. Spark's Parquet tables have no DELETE
    (that needs Delta, Iceberg or Hudi, see the shared SPARK.md), and insert_overwrite would
    need a partition per patient: there these models are rebuilt whole, as tables, and
    changed_patients_only() is `true` (is_incremental() is false for a table). -#}
{% macro changed_patients_materialization() -%}
    {{ return(adapter.dispatch('changed_patients_materialization')()) }}
{%- endmacro %}

{% macro default__changed_patients_materialization() -%}
    {{ return('table') }}
{%- endmacro %}

{% macro duckdb__changed_patients_materialization() -%}
    {{ return('incremental') }}
{%- endmacro %}


{#- The patients of every version of each `feed` record (by `record_key`) that one of this
    build's new files holds a version of: a correction that moves a record to another patient
    changes both. -#}
{% macro patients_of_new_versions(feed, record_key) -%}
    select versions.patient_key
    from {{ source('lake', feed) }} as versions
    where versions.{{ record_key }} in ({{ records_of_new_versions(feed, record_key) }})
{%- endmacro %}


{#- The keys of the `feed` records (by `record_key`) that one of this build's new files holds a
    version of. -#}
{% macro records_of_new_versions(feed, record_key) -%}
    select changed.{{ record_key }}
    from {{ source('lake', feed) }} as changed
    inner join ({{ new_files_of_this_build() }}) as new_files
        on
            changed._file_sha256 = new_files.file_sha256
            and new_files.feed = '{{ feed }}'
{%- endmacro %}


{#- A staging model of a feed that is not one patient's course data (consultations, patient
    records) is rebuilt per changed RECORD: on an incremental build it keeps every version of
    the records a new file holds a version of, and dbt's delete+insert strategy replaces those
    records' rows by the model's unique_key. A record never leaves the lake (a void is a
    version), so its row is always replaced, never only deleted.

        {{ config(
            materialized=changed_patients_materialization(),
            incremental_strategy='delete+insert',
            unique_key='consultation_id'
        ) }}
        ...
        where {{ new_versions_only('consultations', 'consultation_id') }}

    A build from scratch, and Spark, read every record. -#}
{% macro new_versions_only(feed, record_key) -%}
    {#- ref() outside the if, so dbt records the dependency when it parses the model -#}
    {%- set loaded_files = ref('stg_lake__loaded_files') -%}
    {%- if is_incremental() -%}
        {{ record_key }} in ({{ records_of_new_versions(feed, record_key) }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}


{#- The files this build loads first: the ledger's rows this invocation added. -#}
{% macro new_files_of_this_build() -%}
    select
        file_sha256,
        feed
    from {{ ref('stg_lake__loaded_files') }}
    where first_built_by_invocation = '{{ invocation_id }}'
{%- endmacro %}


{#- On an incremental build, an error test of keys of per-patient models reads only the rows of
    this build's changed patients: every other patient's rows are the published warehouse's,
    and they passed every error test before it was published (a failed test publishes
    nothing). A key test groups or joins every row it reads; the scope costs one semi-join.

    The scope holds where it is exact: a key or relationship test every node of which is a
    per-patient model. A key (a session, an outcome, a course) belongs to one patient's rows,
    and a record that moves to another patient changes both (patients_of_new_versions); a
    relationship between two per-patient models links rows of one patient. A test that also
    reads a whole-table model or a seed (a dimension, a registry) and every warn test (the data
    quality page reports its failing rows as the warehouse's) read every row, and so do tests
    of one row at a time (not null, accepted values): they scan a column or two, which costs
    less than the semi-join. The changed set is the widest of the models' own, each built
    before its models. A build from scratch (--full-refresh) and Spark (whose models are
    whole tables) test every row. dbt's `where` config still applies, within the scope. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set changed_patients = changed_patients_of_this_test() -%}
    {%- if changed_patients -%}
        {%- set scope -%}
            patient_key in (select patient_key from {{ changed_patients }})
        {%- endset -%}
        {%- set where = scope ~ (' and (' ~ where ~ ')' if where else '') -%}
    {%- endif -%}
    {%- if where -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}


{#- The changed set a test is scoped to (get_where_subquery), or none: the whole model. -#}
{% macro changed_patients_of_this_test() -%}
    {%- if not execute or flags.FULL_REFRESH -%}
        {%- do return(none) -%}
    {%- endif -%}
    {%- set test_name = (model.get('test_metadata') or {}).get('name') -%}
    {%- set severity = config.get('severity', '') | lower -%}
    {%- if test_name not in ('unique', 'unique_key', 'relationships') or severity != 'error' -%}
        {%- do return(none) -%}
    {%- endif -%}
    {%- set strategies = [] -%}
    {%- for unique_id in model.depends_on.nodes -%}
        {%- set tested = graph.nodes.get(unique_id, {}).get('config', {}) -%}
        {%- if tested.get('materialized') != 'incremental'
            or tested.get('incremental_strategy')
            not in ('changed_patients', 'int_changed_patients') -%}
            {%- do return(none) -%}
        {%- endif -%}
        {%- do strategies.append(tested.get('incremental_strategy')) -%}
    {%- endfor -%}
    {%- if not strategies -%}
        {%- do return(none) -%}
    {%- endif -%}
    {%- set widest = 'int_changed_patients' if 'int_changed_patients' in strategies
        else 'stg_lake__changed_patients' -%}
    {%- set changed = graph.nodes['model.' ~ project_name ~ '.' ~ widest] -%}
    {%- do return(api.Relation.create(
        database=changed.database, schema=changed.schema, identifier=changed.alias
    )) -%}
{%- endmacro %}
