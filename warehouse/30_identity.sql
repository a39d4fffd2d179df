-- identity: every person-identifying source record linked to one stable person key.
-- person_keys, key_events, steward_decisions and link_runs are history: the warehouse file is carried
-- from run to run, so they are only ever appended to (or, for merged keys, marked), never rebuilt.
CREATE TABLE IF NOT EXISTS identity.person_keys (
    person_key VARCHAR PRIMARY KEY, cpr VARCHAR UNIQUE, anchor_source VARCHAR, anchor_table VARCHAR,
    anchor_record_id VARCHAR, created_run VARCHAR, created_at TIMESTAMP, merged_into VARCHAR
);
ALTER TABLE identity.person_keys ADD COLUMN IF NOT EXISTS merged_run VARCHAR;
COMMENT ON TABLE identity.person_keys IS 'History: every person key ever issued (carried across runs, never reissued); a key is anchored on a CPR or, for people without one, on the first record seen.';
COMMENT ON COLUMN identity.person_keys.person_key IS 'Stable pseudonymous key of a person (random, not derived from the CPR).';
COMMENT ON COLUMN identity.person_keys.cpr IS 'The CPR the key stands for; NULL for people known without a CPR.';
COMMENT ON COLUMN identity.person_keys.anchor_source IS 'For keys without CPR: source of the anchoring record.';
COMMENT ON COLUMN identity.person_keys.anchor_table IS 'For keys without CPR: table of the anchoring record.';
COMMENT ON COLUMN identity.person_keys.anchor_record_id IS 'For keys without CPR: record_id of the anchoring record.';
COMMENT ON COLUMN identity.person_keys.created_run IS 'Run that issued the key.';
COMMENT ON COLUMN identity.person_keys.created_at IS 'When.';
COMMENT ON COLUMN identity.person_keys.merged_into IS 'Set when the key was retired because its records were merged into another person (identity.key_events).';
COMMENT ON COLUMN identity.person_keys.merged_run IS 'Run that merged the key into merged_into.';

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
COMMENT ON COLUMN identity.person_links.method IS 'cpr_exact (valid CPR agreeing with the register), cpr_corrected (CPR one typo or transposition from a register person whose name and birth date agree), probabilistic (Fellegi-Sunter), steward (a steward decision) or unlinked (a person of its own).';
COMMENT ON COLUMN identity.person_links.score IS 'Match probability (1.0 for deterministic and steward links, 0.0 for unlinked).';
COMMENT ON COLUMN identity.person_links.run_id IS 'Run that made this link (kept while the record stays with the same person by the same method).';

CREATE TABLE IF NOT EXISTS identity.key_events (
    run_id VARCHAR NOT NULL, event_at TIMESTAMP NOT NULL, event VARCHAR NOT NULL, from_key VARCHAR NOT NULL,
    to_key VARCHAR NOT NULL, records BIGINT NOT NULL, reason VARCHAR
);
COMMENT ON TABLE identity.key_events IS 'History: merges and splits of persons, with the run that made them.';
COMMENT ON COLUMN identity.key_events.run_id IS 'Run that made the change.';
COMMENT ON COLUMN identity.key_events.event_at IS 'When.';
COMMENT ON COLUMN identity.key_events.event IS 'merge (from_key retired, its records now belong to to_key) or split (records of from_key, which lives on, now belong to to_key).';
COMMENT ON COLUMN identity.key_events.from_key IS 'Person key the records belonged to before.';
COMMENT ON COLUMN identity.key_events.to_key IS 'Person key they belong to now.';
COMMENT ON COLUMN identity.key_events.records IS 'Number of records that moved.';
COMMENT ON COLUMN identity.key_events.reason IS 'The methods that moved them (e.g. probabilistic, steward).';

CREATE TABLE IF NOT EXISTS identity.steward_decisions (
    decision_id VARCHAR PRIMARY KEY,
    source_a VARCHAR NOT NULL, table_a VARCHAR NOT NULL, record_id_a VARCHAR NOT NULL,
    source_b VARCHAR NOT NULL, table_b VARCHAR NOT NULL, record_id_b VARCHAR NOT NULL,
    decision VARCHAR NOT NULL CHECK (decision IN ('match', 'no_match')),
    decided_by VARCHAR NOT NULL, decided_at TIMESTAMP NOT NULL, reason VARCHAR
);
COMMENT ON TABLE identity.steward_decisions IS 'History: a data steward''s decision on a pair of records; honoured in every later run above any model score (the newest decision on a pair wins).';
COMMENT ON COLUMN identity.steward_decisions.decision_id IS 'Identifier of the decision.';
COMMENT ON COLUMN identity.steward_decisions.source_a IS 'Source of the first record.';
COMMENT ON COLUMN identity.steward_decisions.table_a IS 'Table of the first record.';
COMMENT ON COLUMN identity.steward_decisions.record_id_a IS 'record_id of the first record (staging.person_records).';
COMMENT ON COLUMN identity.steward_decisions.source_b IS 'Source of the second record (cpr for a register person).';
COMMENT ON COLUMN identity.steward_decisions.table_b IS 'Table of the second record (personer for a register person).';
COMMENT ON COLUMN identity.steward_decisions.record_id_b IS 'record_id of the second record.';
COMMENT ON COLUMN identity.steward_decisions.decision IS 'match (the same person) or no_match (different people).';
COMMENT ON COLUMN identity.steward_decisions.decided_by IS 'The steward (user id).';
COMMENT ON COLUMN identity.steward_decisions.decided_at IS 'When the decision was made.';
COMMENT ON COLUMN identity.steward_decisions.reason IS 'Why (free text, no CPR).';

CREATE TABLE IF NOT EXISTS identity.review_queue (
    source VARCHAR NOT NULL, "table" VARCHAR NOT NULL, record_id VARCHAR NOT NULL,
    candidate_source VARCHAR NOT NULL, candidate_table VARCHAR NOT NULL, candidate_record_id VARCHAR NOT NULL,
    person_key VARCHAR, candidate_person_key VARCHAR, score DOUBLE, weight DOUBLE, evidence JSON,
    first_seen_run VARCHAR, run_id VARCHAR
);
COMMENT ON TABLE identity.review_queue IS 'Open clerical review: record pairs in the uncertain score band, not linked, with the evidence; rebuilt each run, a pair disappears once a steward decides it.';
COMMENT ON COLUMN identity.review_queue.source IS 'Source of the record under review.';
COMMENT ON COLUMN identity.review_queue."table" IS 'Its table.';
COMMENT ON COLUMN identity.review_queue.record_id IS 'Its record_id.';
COMMENT ON COLUMN identity.review_queue.candidate_source IS 'Source of the candidate (cpr for a register person).';
COMMENT ON COLUMN identity.review_queue.candidate_table IS 'Table of the candidate.';
COMMENT ON COLUMN identity.review_queue.candidate_record_id IS 'record_id of the candidate.';
COMMENT ON COLUMN identity.review_queue.person_key IS 'Person the record belongs to now.';
COMMENT ON COLUMN identity.review_queue.candidate_person_key IS 'Person the candidate belongs to now.';
COMMENT ON COLUMN identity.review_queue.score IS 'Match probability of the pair (below the linking threshold).';
COMMENT ON COLUMN identity.review_queue.weight IS 'Fellegi-Sunter match weight (log2 Bayes factor).';
COMMENT ON COLUMN identity.review_queue.evidence IS 'Per field how the two agree (exact, similar, different, missing ...).';
COMMENT ON COLUMN identity.review_queue.first_seen_run IS 'Run in which the pair first came up for review.';
COMMENT ON COLUMN identity.review_queue.run_id IS 'Run that last scored it.';

CREATE TABLE IF NOT EXISTS identity.link_runs (
    run_id VARCHAR NOT NULL, finished_at TIMESTAMP NOT NULL, records BIGINT, by_method JSON, new_keys BIGINT,
    merges BIGINT, splits BIGINT, review_pairs BIGINT, model JSON
);
COMMENT ON TABLE identity.link_runs IS 'History: one row per identity run with its counts and the Fellegi-Sunter parameters it used.';
COMMENT ON COLUMN identity.link_runs.run_id IS 'Run.';
COMMENT ON COLUMN identity.link_runs.finished_at IS 'When linking finished.';
COMMENT ON COLUMN identity.link_runs.records IS 'Records linked.';
COMMENT ON COLUMN identity.link_runs.by_method IS 'Records per method.';
COMMENT ON COLUMN identity.link_runs.new_keys IS 'Person keys issued.';
COMMENT ON COLUMN identity.link_runs.merges IS 'Merge events recorded.';
COMMENT ON COLUMN identity.link_runs.splits IS 'Split events recorded.';
COMMENT ON COLUMN identity.link_runs.review_pairs IS 'Pairs in the review queue.';
COMMENT ON COLUMN identity.link_runs.model IS 'm- and u-probabilities per field and level, and where m came from (labelled, prior, em).';

-- Incremental linking: what a record and a register person looked like when they were last linked, and the model
-- of the last full link. A run re-links only the records whose inputs changed (or whose result other changes could
-- move); the rest keep their links (src/samlet_overblik/identity/linking.py).
ALTER TABLE identity.person_links ADD COLUMN IF NOT EXISTS fingerprint VARCHAR;
COMMENT ON COLUMN identity.person_links.fingerprint IS 'Hash of the identifying fields the record was linked with (an incremental run re-links it when they change).';
CREATE TABLE IF NOT EXISTS identity.register_fingerprints (cpr VARCHAR PRIMARY KEY, fingerprint VARCHAR NOT NULL);
COMMENT ON TABLE identity.register_fingerprints IS 'Per register person, a hash of its register row and its earlier names and addresses as of the last link (an incremental run re-links the records of a person whose hash changed).';
COMMENT ON COLUMN identity.register_fingerprints.cpr IS 'The register person.';
COMMENT ON COLUMN identity.register_fingerprints.fingerprint IS 'Hash of the register row, name history and address history.';
ALTER TABLE identity.register_fingerprints ADD COLUMN IF NOT EXISTS birth_date DATE;
ALTER TABLE identity.register_fingerprints ADD COLUMN IF NOT EXISTS sex VARCHAR;
COMMENT ON COLUMN identity.register_fingerprints.birth_date IS 'Birth date at the last link (a change is looked up under the old value too).';
COMMENT ON COLUMN identity.register_fingerprints.sex IS 'Sex at the last link.';
CREATE TABLE IF NOT EXISTS identity.link_model (
    run_id VARCHAR NOT NULL, estimated_at TIMESTAMP NOT NULL, settings JSON NOT NULL, model JSON NOT NULL
);
COMMENT ON TABLE identity.link_model IS 'The Fellegi-Sunter model of the last full link (one row), which incremental runs link with.';
COMMENT ON COLUMN identity.link_model.run_id IS 'The full link that estimated it.';
COMMENT ON COLUMN identity.link_model.estimated_at IS 'When.';
COMMENT ON COLUMN identity.link_model.settings IS 'The linking settings it was estimated under (another setting forces a full link).';
COMMENT ON COLUMN identity.link_model.model IS 'm- and u-probabilities per field and level, the register size, the outside-register share and the context weights.';
CREATE TABLE IF NOT EXISTS identity.link_model_tf (field VARCHAR NOT NULL, val VARCHAR NOT NULL, u DOUBLE NOT NULL);
COMMENT ON TABLE identity.link_model_tf IS 'Term frequencies of given and family names in the register at the last full link (how rare an agreeing name is).';
COMMENT ON COLUMN identity.link_model_tf.field IS 'gn (given name) or fn (family name), normalised.';
COMMENT ON COLUMN identity.link_model_tf.val IS 'The normalised name.';
COMMENT ON COLUMN identity.link_model_tf.u IS 'Share of register persons carrying it.';
ALTER TABLE identity.link_runs ADD COLUMN IF NOT EXISTS mode VARCHAR;
ALTER TABLE identity.link_runs ADD COLUMN IF NOT EXISTS relinked BIGINT;
COMMENT ON COLUMN identity.link_runs.mode IS 'full (every record, model estimated) or incremental (changed records and those they could move, with the stored model).';
COMMENT ON COLUMN identity.link_runs.relinked IS 'Records the run linked (the rest kept their links).';
CREATE TABLE IF NOT EXISTS identity.register_name_features (
    cpr VARCHAR NOT NULL, gn VARCHAR, gn1 VARCHAR, gn_toks VARCHAR[], gnl VARCHAR, gnl1 VARCHAR, fn VARCHAR,
    fn_toks VARCHAR[], fnl VARCHAR, fnl_last VARCHAR
);
COMMENT ON TABLE identity.register_name_features IS 'The register''s current and earlier names, normalised for matching (kept from run to run and redone only for register persons whose data changed).';
COMMENT ON COLUMN identity.register_name_features.cpr IS 'The register person.';
COMMENT ON COLUMN identity.register_name_features.gn IS 'Given names, normalised.';
COMMENT ON COLUMN identity.register_name_features.gn1 IS 'First given name.';
COMMENT ON COLUMN identity.register_name_features.gn_toks IS 'Given names, one per element.';
COMMENT ON COLUMN identity.register_name_features.gnl IS 'Given names, loosely spelt (for similarity).';
COMMENT ON COLUMN identity.register_name_features.gnl1 IS 'First given name, loosely spelt.';
COMMENT ON COLUMN identity.register_name_features.fn IS 'Family name, normalised.';
COMMENT ON COLUMN identity.register_name_features.fn_toks IS 'Family names, one per element.';
COMMENT ON COLUMN identity.register_name_features.fnl IS 'Family name, loosely spelt.';
COMMENT ON COLUMN identity.register_name_features.fnl_last IS 'Last family name, loosely spelt.';
CREATE TABLE IF NOT EXISTS identity.register_address_features (
    cpr VARCHAR NOT NULL, addr VARCHAR, street VARCHAR, hnum VARCHAR, pc VARCHAR
);
COMMENT ON TABLE identity.register_address_features IS 'The register''s current and earlier addresses, normalised for matching (kept like the name features).';
COMMENT ON COLUMN identity.register_address_features.cpr IS 'The register person.';
COMMENT ON COLUMN identity.register_address_features.addr IS 'Address, normalised.';
COMMENT ON COLUMN identity.register_address_features.street IS 'Street name.';
COMMENT ON COLUMN identity.register_address_features.hnum IS 'House number (with letter).';
COMMENT ON COLUMN identity.register_address_features.pc IS 'Postcode.';
