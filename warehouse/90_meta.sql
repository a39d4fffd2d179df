-- meta: the runs that built this warehouse.
CREATE TABLE IF NOT EXISTS meta.runs (
    run_id VARCHAR PRIMARY KEY, job VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP,
    reference_time TIMESTAMP, status VARCHAR, message VARCHAR
);
COMMENT ON TABLE meta.runs IS 'History: every run that built this warehouse (carried across runs).';
COMMENT ON COLUMN meta.runs.run_id IS 'Dagster run id.';
COMMENT ON COLUMN meta.runs.job IS 'nightly or consent_refresh.';
COMMENT ON COLUMN meta.runs.started_at IS 'Start (UTC).';
COMMENT ON COLUMN meta.runs.finished_at IS 'Publication time (UTC).';
COMMENT ON COLUMN meta.runs.reference_time IS 'Reference time for consent decisions (UTC).';
COMMENT ON COLUMN meta.runs.status IS 'ok, degraded or consent_fail_closed.';
COMMENT ON COLUMN meta.runs.message IS 'Why a run was degraded.';

CREATE TABLE IF NOT EXISTS meta.source_loads (
    run_id VARCHAR NOT NULL, source VARCHAR NOT NULL, source_table VARCHAR NOT NULL, rows_read BIGINT,
    rows_total BIGINT, incremental BOOLEAN, status VARCHAR, loaded_at TIMESTAMP, message VARCHAR
);
COMMENT ON TABLE meta.source_loads IS 'History: what each run read from each source table; status stale when the last good snapshot was reused.';
COMMENT ON COLUMN meta.source_loads.run_id IS 'Run.';
COMMENT ON COLUMN meta.source_loads.source IS 'Source system.';
COMMENT ON COLUMN meta.source_loads.source_table IS 'Table.';
COMMENT ON COLUMN meta.source_loads.rows_read IS 'Rows read in this run (the delta when incremental).';
COMMENT ON COLUMN meta.source_loads.rows_total IS 'Rows in the raw copy after the run.';
COMMENT ON COLUMN meta.source_loads.incremental IS 'Read by update stamp on top of the previous copy.';
COMMENT ON COLUMN meta.source_loads.status IS 'ok or stale.';
COMMENT ON COLUMN meta.source_loads.loaded_at IS 'When the data was read from the source.';
COMMENT ON COLUMN meta.source_loads.message IS 'Why it is stale.';

CREATE TABLE IF NOT EXISTS meta.build_inputs (
    run_id VARCHAR NOT NULL, input VARCHAR NOT NULL, fingerprint VARCHAR NOT NULL, PRIMARY KEY (run_id, input)
);
COMMENT ON TABLE meta.build_inputs IS 'History: a fingerprint of each input a run built from, taken before it was used (changes.py): a municipality whose inputs are all unchanged is not built again the same day.';
COMMENT ON COLUMN meta.build_inputs.run_id IS 'Run.';
COMMENT ON COLUMN meta.build_inputs.input IS 'source:<name>, policy, steward_decisions, code or analytics.';
COMMENT ON COLUMN meta.build_inputs.fingerprint IS 'A digest of the input (never a value from it); unknown when it could not be taken.';

CREATE TABLE IF NOT EXISTS meta.source_locations (
    run_id VARCHAR NOT NULL, source VARCHAR NOT NULL, namespace VARCHAR NOT NULL, table_prefix VARCHAR NOT NULL,
    PRIMARY KEY (run_id, source)
);
COMMENT ON TABLE meta.source_locations IS 'History: where each run read each source, named as OpenLineage names datasets (quality/openlineage.py); never a user name or password.';
COMMENT ON COLUMN meta.source_locations.run_id IS 'Run.';
COMMENT ON COLUMN meta.source_locations.source IS 'Source system.';
COMMENT ON COLUMN meta.source_locations.namespace IS 'The server (postgres://host:port, mysql://host:port) or the SQLite file (sqlite:///path).';
COMMENT ON COLUMN meta.source_locations.table_prefix IS 'What comes before a table name in the dataset name (the database and a dot; empty for SQLite).';

CREATE TABLE IF NOT EXISTS meta.ddl_applied (digest VARCHAR NOT NULL, applied_at TIMESTAMP WITH TIME ZONE);
COMMENT ON TABLE meta.ddl_applied IS 'The warehouse DDL (warehouse/*.sql and the CPR macros) last applied to this file, as a digest: a run skips applying the same DDL again.';
COMMENT ON COLUMN meta.ddl_applied.digest IS 'SHA-256 of the DDL text.';
COMMENT ON COLUMN meta.ddl_applied.applied_at IS 'When it was applied.';
