-- quality: Great Expectations results per run (counts only: never the unexpected values, which may be CPR numbers).
CREATE TABLE IF NOT EXISTS quality.validation_results (
    run_id VARCHAR NOT NULL, suite VARCHAR NOT NULL, expectation VARCHAR NOT NULL, kwargs VARCHAR, severity VARCHAR NOT NULL,
    success BOOLEAN NOT NULL, element_count BIGINT, unexpected_count BIGINT, unexpected_percent DOUBLE, validated_at TIMESTAMP NOT NULL
);
COMMENT ON TABLE quality.validation_results IS 'History: every expectation of every suite (expectations/*.json) in every run, with its outcome. Carried across runs.';
COMMENT ON COLUMN quality.validation_results.run_id IS 'Run.';
COMMENT ON COLUMN quality.validation_results.suite IS 'Suite name (file name in expectations/).';
COMMENT ON COLUMN quality.validation_results.expectation IS 'Expectation type, e.g. expect_column_values_to_be_unique.';
COMMENT ON COLUMN quality.validation_results.kwargs IS 'Its arguments (column, value set ...) as JSON.';
COMMENT ON COLUMN quality.validation_results.severity IS 'critical (blocks publishing) or warning.';
COMMENT ON COLUMN quality.validation_results.success IS 'Whether it held.';
COMMENT ON COLUMN quality.validation_results.element_count IS 'Rows validated.';
COMMENT ON COLUMN quality.validation_results.unexpected_count IS 'Rows that broke it.';
COMMENT ON COLUMN quality.validation_results.unexpected_percent IS 'Share of rows that broke it (%).';
COMMENT ON COLUMN quality.validation_results.validated_at IS 'When.';
CREATE TABLE IF NOT EXISTS quality.validated_inputs (suite VARCHAR PRIMARY KEY, fingerprint VARCHAR NOT NULL, run_id VARCHAR NOT NULL);
COMMENT ON TABLE quality.validated_inputs IS 'Per suite: the fingerprint of the batch it last validated (rows of its query, suite file, version). A run whose batch matches takes over those results instead of validating again.';
COMMENT ON COLUMN quality.validated_inputs.suite IS 'Suite name.';
COMMENT ON COLUMN quality.validated_inputs.fingerprint IS 'Hash of the batch''s rows, the suite and the version (no value from a row can be read back from it).';
COMMENT ON COLUMN quality.validated_inputs.run_id IS 'Run whose validation_results hold the outcome.';
