-- identity: every person-identifying source record linked to one stable person key.
CREATE TABLE IF NOT EXISTS identity.person_keys (
    person_key VARCHAR PRIMARY KEY, cpr VARCHAR UNIQUE, anchor_source VARCHAR, anchor_table VARCHAR,
    anchor_record_id VARCHAR, created_run VARCHAR, created_at TIMESTAMP, merged_into VARCHAR
);
COMMENT ON TABLE identity.person_keys IS 'History: every person key ever issued (carried across runs, never reissued); a key is anchored on a CPR or, for people without one, on the first record seen.';
COMMENT ON COLUMN identity.person_keys.person_key IS 'Stable pseudonymous key of a person.';
COMMENT ON COLUMN identity.person_keys.cpr IS 'The CPR the key stands for; NULL for people known without a CPR.';
COMMENT ON COLUMN identity.person_keys.anchor_source IS 'For keys without CPR: source of the anchoring record.';
COMMENT ON COLUMN identity.person_keys.anchor_table IS 'For keys without CPR: table of the anchoring record.';
COMMENT ON COLUMN identity.person_keys.anchor_record_id IS 'For keys without CPR: record_id of the anchoring record.';
COMMENT ON COLUMN identity.person_keys.created_run IS 'Run that issued the key.';
COMMENT ON COLUMN identity.person_keys.created_at IS 'When.';
COMMENT ON COLUMN identity.person_keys.merged_into IS 'Set when the key was merged into another person.';

CREATE TABLE IF NOT EXISTS identity.person_links (
    source VARCHAR NOT NULL, "table" VARCHAR NOT NULL, record_id VARCHAR NOT NULL, person_key VARCHAR NOT NULL,
    method VARCHAR NOT NULL, score DOUBLE NOT NULL, run_id VARCHAR,
    PRIMARY KEY (source, "table", record_id)
);
COMMENT ON TABLE identity.person_links IS 'One row per person-identifying source record: the person it belongs to, how that was decided and how sure.';
COMMENT ON COLUMN identity.person_links.source IS 'Source system.';
COMMENT ON COLUMN identity.person_links."table" IS 'Table in the source system.';
COMMENT ON COLUMN identity.person_links.record_id IS 'record_id as in staging.person_records.';
COMMENT ON COLUMN identity.person_links.person_key IS 'The person (identity.person_keys).';
COMMENT ON COLUMN identity.person_links.method IS 'cpr_exact, cpr_corrected, probabilistic, steward or unlinked.';
COMMENT ON COLUMN identity.person_links.score IS 'Match probability (1.0 for deterministic links).';
COMMENT ON COLUMN identity.person_links.run_id IS 'Run that made the link.';
