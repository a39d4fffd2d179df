-- quarantine: rows that failed validation, never dropped silently.
CREATE TABLE IF NOT EXISTS quarantine.rejected_rows (
    run_id VARCHAR NOT NULL, asset VARCHAR NOT NULL, source VARCHAR NOT NULL, source_table VARCHAR NOT NULL,
    record_id VARCHAR, reason VARCHAR NOT NULL, raw_row JSON, rejected_at TIMESTAMP NOT NULL
);
COMMENT ON TABLE quarantine.rejected_rows IS 'Source rows of the latest run that failed staging validation, with the reason and the raw row.';
COMMENT ON COLUMN quarantine.rejected_rows.run_id IS 'Run that rejected the row.';
COMMENT ON COLUMN quarantine.rejected_rows.asset IS 'Staging asset (assets/staging/<asset>.sql) that rejected it.';
COMMENT ON COLUMN quarantine.rejected_rows.source IS 'Source system.';
COMMENT ON COLUMN quarantine.rejected_rows.source_table IS 'Table in the source system.';
COMMENT ON COLUMN quarantine.rejected_rows.record_id IS 'Primary key of the source row as text.';
COMMENT ON COLUMN quarantine.rejected_rows.reason IS 'Why it was rejected (e.g. end_before_start, unknown_paragraph, unparseable_date, orphan).';
COMMENT ON COLUMN quarantine.rejected_rows.raw_row IS 'The raw row as JSON.';
COMMENT ON COLUMN quarantine.rejected_rows.rejected_at IS 'When.';

CREATE TABLE IF NOT EXISTS quarantine.counts (
    run_id VARCHAR NOT NULL, asset VARCHAR NOT NULL, source VARCHAR NOT NULL, source_table VARCHAR NOT NULL,
    reason VARCHAR NOT NULL, rows BIGINT NOT NULL, counted_at TIMESTAMP NOT NULL
);
COMMENT ON TABLE quarantine.counts IS 'History: quarantined rows per run, source table and reason (carried across runs).';
COMMENT ON COLUMN quarantine.counts.run_id IS 'Run.';
COMMENT ON COLUMN quarantine.counts.asset IS 'Staging asset.';
COMMENT ON COLUMN quarantine.counts.source IS 'Source system.';
COMMENT ON COLUMN quarantine.counts.source_table IS 'Table in the source system.';
COMMENT ON COLUMN quarantine.counts.reason IS 'Reason.';
COMMENT ON COLUMN quarantine.counts.rows IS 'Rows rejected.';
COMMENT ON COLUMN quarantine.counts.counted_at IS 'When.';
