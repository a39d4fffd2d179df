-- staging: one canonical model of every source, rebuilt each run from raw.
-- No PRIMARY KEY constraints here: every run deletes and re-inserts each source's rows, and DuckDB's deletes
-- through an ART index cost ~20x more. The keys named in each table's comment are checked instead by the
-- Great Expectations suites (expectations/*.json), whose critical failures block publishing.

CREATE TABLE IF NOT EXISTS staging.person_records (
    source VARCHAR NOT NULL, source_table VARCHAR NOT NULL, record_id VARCHAR NOT NULL,
    department VARCHAR, national_id VARCHAR, national_id_status VARCHAR,
    given_name VARCHAR, family_name VARCHAR, birth_date DATE, sex VARCHAR,
    address VARCHAR, postcode VARCHAR, updated_at TIMESTAMP
);
COMMENT ON TABLE staging.person_records IS 'Every source record that identifies a person, in one canonical shape; input of identity reconciliation. Key: (source, source_table, record_id).';
COMMENT ON COLUMN staging.person_records.source IS 'Source system (boern_familie, beskaeftigelse, social_voksen, sundhed_aeldre, samtykke, cpr).';
COMMENT ON COLUMN staging.person_records.source_table IS 'Table in the source system.';
COMMENT ON COLUMN staging.person_records.record_id IS 'Primary key of the source row as text (samtykke: <id>@<version>).';
COMMENT ON COLUMN staging.person_records.department IS 'Owning department, NULL for registers.';
COMMENT ON COLUMN staging.person_records.national_id IS 'CPR normalised to 10 digits (dashes removed, lost leading zero restored); NULL when absent or unparseable.';
COMMENT ON COLUMN staging.person_records.national_id_status IS 'valid, replacement (erstatningspersonnummer), invalid or missing.';
COMMENT ON COLUMN staging.person_records.given_name IS 'Given names as recorded (mojibake repaired).';
COMMENT ON COLUMN staging.person_records.family_name IS 'Family name as recorded (mojibake repaired).';
COMMENT ON COLUMN staging.person_records.birth_date IS 'Birth date as recorded, else derived from a valid CPR.';
COMMENT ON COLUMN staging.person_records.sex IS 'M or K, from the CPR when valid.';
COMMENT ON COLUMN staging.person_records.address IS 'Street address as recorded.';
COMMENT ON COLUMN staging.person_records.postcode IS 'Four-digit postcode.';
COMMENT ON COLUMN staging.person_records.updated_at IS 'Update stamp of the source row.';

CREATE TABLE IF NOT EXISTS staging.interventions (
    source VARCHAR NOT NULL, source_table VARCHAR NOT NULL, record_id VARCHAR NOT NULL,
    person_table VARCHAR NOT NULL, person_record_id VARCHAR NOT NULL,
    department VARCHAR NOT NULL, category VARCHAR NOT NULL, kind VARCHAR NOT NULL,
    title VARCHAR, legal_paragraph VARCHAR, start_date DATE, end_date DATE,
    monthly_cost DECIMAL(14, 2), caseworker VARCHAR, updated_at TIMESTAMP
);
COMMENT ON TABLE staging.interventions IS 'Every intervention, benefit, service, sanction, notification and contact, in one canonical shape. Key: (source, source_table, record_id).';
COMMENT ON COLUMN staging.interventions.source IS 'Source system.';
COMMENT ON COLUMN staging.interventions.source_table IS 'Table in the source system.';
COMMENT ON COLUMN staging.interventions.record_id IS 'Primary key of the source row as text.';
COMMENT ON COLUMN staging.interventions.person_table IS 'Person table of the same source that the row belongs to.';
COMMENT ON COLUMN staging.interventions.person_record_id IS 'record_id of that person row (joins staging.person_records).';
COMMENT ON COLUMN staging.interventions.department IS 'Department that owns the record.';
COMMENT ON COLUMN staging.interventions.category IS 'Sharing category: indsatser, ydelser, helbred, misbrug or kontakt.';
COMMENT ON COLUMN staging.interventions.kind IS 'indsats, ydelse, sanktion, kontakt or underretning.';
COMMENT ON COLUMN staging.interventions.title IS 'What it is, in Danish (e.g. kontanthjælp, familiebehandling).';
COMMENT ON COLUMN staging.interventions.legal_paragraph IS 'Legal paragraph as recorded (e.g. BL § 32, SEL § 85).';
COMMENT ON COLUMN staging.interventions.start_date IS 'First day.';
COMMENT ON COLUMN staging.interventions.end_date IS 'Last day; NULL while open.';
COMMENT ON COLUMN staging.interventions.monthly_cost IS 'Monthly cost or amount in DKK; NULL when none.';
COMMENT ON COLUMN staging.interventions.caseworker IS 'Responsible caseworker or contact person.';
COMMENT ON COLUMN staging.interventions.updated_at IS 'Update stamp of the source row.';

CREATE TABLE IF NOT EXISTS staging.home_visits (
    source VARCHAR NOT NULL, source_table VARCHAR NOT NULL, record_id VARCHAR NOT NULL,
    person_table VARCHAR NOT NULL, person_record_id VARCHAR NOT NULL, service_record_id VARCHAR,
    department VARCHAR NOT NULL, visit_start TIMESTAMP NOT NULL, visit_end TIMESTAMP,
    employee VARCHAR, address VARCHAR, updated_at TIMESTAMP
);
COMMENT ON TABLE staging.home_visits IS 'Home visits with timestamps (who came into the home, when). Key: (source, source_table, record_id).';
COMMENT ON COLUMN staging.home_visits.source IS 'Source system.';
COMMENT ON COLUMN staging.home_visits.source_table IS 'Table in the source system.';
COMMENT ON COLUMN staging.home_visits.record_id IS 'Primary key of the source row as text.';
COMMENT ON COLUMN staging.home_visits.person_table IS 'Person table of the same source.';
COMMENT ON COLUMN staging.home_visits.person_record_id IS 'record_id of the visited person.';
COMMENT ON COLUMN staging.home_visits.service_record_id IS 'record_id of the service (staging.interventions) the visit delivers.';
COMMENT ON COLUMN staging.home_visits.department IS 'Department whose staff visited.';
COMMENT ON COLUMN staging.home_visits.visit_start IS 'Start of the visit.';
COMMENT ON COLUMN staging.home_visits.visit_end IS 'End of the visit.';
COMMENT ON COLUMN staging.home_visits.employee IS 'Visiting employee.';
COMMENT ON COLUMN staging.home_visits.address IS 'Address visited.';
COMMENT ON COLUMN staging.home_visits.updated_at IS 'Update stamp of the source row.';

CREATE TABLE IF NOT EXISTS staging.caseworkers (
    source VARCHAR NOT NULL, source_table VARCHAR NOT NULL, record_id VARCHAR NOT NULL, department VARCHAR NOT NULL,
    name VARCHAR NOT NULL, team VARCHAR, phone VARCHAR, email VARCHAR, updated_at TIMESTAMP
);
COMMENT ON TABLE staging.caseworkers IS 'Each department system''s staff directory: the caseworkers its records name, with team, telephone and e-mail (how a colleague in another department reaches them). Key: (source, source_table, record_id); records name a caseworker by name.';
COMMENT ON COLUMN staging.caseworkers.source IS 'Source system.';
COMMENT ON COLUMN staging.caseworkers.source_table IS 'Table in the source system.';
COMMENT ON COLUMN staging.caseworkers.record_id IS 'Primary key of the source row as text.';
COMMENT ON COLUMN staging.caseworkers.department IS 'The department the caseworker works in.';
COMMENT ON COLUMN staging.caseworkers.name IS 'The name the department''s records give as caseworker.';
COMMENT ON COLUMN staging.caseworkers.team IS 'Team or unit within the department.';
COMMENT ON COLUMN staging.caseworkers.phone IS 'Direct telephone number.';
COMMENT ON COLUMN staging.caseworkers.email IS 'Work e-mail address.';
COMMENT ON COLUMN staging.caseworkers.updated_at IS 'Last change in the source.';

CREATE TABLE IF NOT EXISTS staging.coordination_plans (
    source VARCHAR NOT NULL, source_table VARCHAR NOT NULL, record_id VARCHAR NOT NULL,
    person_table VARCHAR NOT NULL, person_record_id VARCHAR NOT NULL, department VARCHAR NOT NULL,
    coordinator VARCHAR, created_date DATE, goals VARCHAR, updated_at TIMESTAMP
);
COMMENT ON TABLE staging.coordination_plans IS 'One plan (én plan) with its coordinating caseworker (tovholder), registered in the lead department. Key: (source, source_table, record_id).';
COMMENT ON COLUMN staging.coordination_plans.source IS 'Source system.';
COMMENT ON COLUMN staging.coordination_plans.source_table IS 'Table in the source system.';
COMMENT ON COLUMN staging.coordination_plans.record_id IS 'Primary key of the source row as text.';
COMMENT ON COLUMN staging.coordination_plans.person_table IS 'Person table of the same source.';
COMMENT ON COLUMN staging.coordination_plans.person_record_id IS 'record_id of the citizen.';
COMMENT ON COLUMN staging.coordination_plans.department IS 'Lead department.';
COMMENT ON COLUMN staging.coordination_plans.coordinator IS 'Coordinating caseworker (tovholder).';
COMMENT ON COLUMN staging.coordination_plans.created_date IS 'When the plan was made.';
COMMENT ON COLUMN staging.coordination_plans.goals IS 'Goals of the plan.';
ALTER TABLE staging.coordination_plans ADD COLUMN IF NOT EXISTS follow_up_date DATE;
COMMENT ON COLUMN staging.coordination_plans.follow_up_date IS 'Next follow-up of the plan as the source has it (in the past: overdue); NULL when none is set.';
COMMENT ON COLUMN staging.coordination_plans.updated_at IS 'Update stamp of the source row.';

CREATE TABLE IF NOT EXISTS staging.cpr_persons (
    cpr VARCHAR NOT NULL, given_name VARCHAR, family_name VARCHAR, birth_date DATE, sex VARCHAR,
    address VARCHAR, postcode VARCHAR, town VARCHAR, status VARCHAR, death_date DATE, updated_at TIMESTAMP
);
COMMENT ON TABLE staging.cpr_persons IS 'The person register: the master for identities. Key: cpr.';
COMMENT ON COLUMN staging.cpr_persons.cpr IS 'CPR number, 10 digits.';
COMMENT ON COLUMN staging.cpr_persons.given_name IS 'Given and middle names.';
COMMENT ON COLUMN staging.cpr_persons.family_name IS 'Family name.';
COMMENT ON COLUMN staging.cpr_persons.birth_date IS 'Birth date.';
COMMENT ON COLUMN staging.cpr_persons.sex IS 'M or K.';
COMMENT ON COLUMN staging.cpr_persons.address IS 'Current address.';
COMMENT ON COLUMN staging.cpr_persons.postcode IS 'Current postcode.';
COMMENT ON COLUMN staging.cpr_persons.town IS 'Town of the postcode.';
COMMENT ON COLUMN staging.cpr_persons.status IS 'aktiv, doed or udrejst.';
COMMENT ON COLUMN staging.cpr_persons.death_date IS 'Date of death.';
COMMENT ON COLUMN staging.cpr_persons.updated_at IS 'Update stamp in the register.';

CREATE TABLE IF NOT EXISTS staging.cpr_relations (
    relation_id VARCHAR NOT NULL, child_cpr VARCHAR NOT NULL, related_cpr VARCHAR NOT NULL,
    relation VARCHAR NOT NULL, valid_from DATE, valid_to DATE
);
COMMENT ON TABLE staging.cpr_relations IS 'Parent (foraelder) and custody (foraeldremyndighed) relations with their periods. Key: relation_id.';
COMMENT ON COLUMN staging.cpr_relations.relation_id IS 'Register key.';
COMMENT ON COLUMN staging.cpr_relations.child_cpr IS 'The child.';
COMMENT ON COLUMN staging.cpr_relations.related_cpr IS 'The parent or custody holder.';
COMMENT ON COLUMN staging.cpr_relations.relation IS 'foraelder or foraeldremyndighed.';
COMMENT ON COLUMN staging.cpr_relations.valid_from IS 'First day of the relation.';
COMMENT ON COLUMN staging.cpr_relations.valid_to IS 'Last day; NULL while it holds.';

CREATE TABLE IF NOT EXISTS staging.cpr_name_history (
    record_id VARCHAR NOT NULL, cpr VARCHAR NOT NULL, given_name VARCHAR, family_name VARCHAR,
    valid_from DATE, valid_to DATE
);
COMMENT ON TABLE staging.cpr_name_history IS 'Earlier names from the register (e.g. before marriage). Key: record_id.';
COMMENT ON COLUMN staging.cpr_name_history.record_id IS 'Register key.';
COMMENT ON COLUMN staging.cpr_name_history.cpr IS 'The person.';
COMMENT ON COLUMN staging.cpr_name_history.given_name IS 'Earlier given names.';
COMMENT ON COLUMN staging.cpr_name_history.family_name IS 'Earlier family name.';
COMMENT ON COLUMN staging.cpr_name_history.valid_from IS 'From.';
COMMENT ON COLUMN staging.cpr_name_history.valid_to IS 'To.';

CREATE TABLE IF NOT EXISTS staging.cpr_address_history (
    record_id VARCHAR NOT NULL, cpr VARCHAR NOT NULL, address VARCHAR, postcode VARCHAR,
    valid_from DATE, valid_to DATE
);
COMMENT ON TABLE staging.cpr_address_history IS 'Earlier addresses from the register. Key: record_id.';
COMMENT ON COLUMN staging.cpr_address_history.record_id IS 'Register key.';
COMMENT ON COLUMN staging.cpr_address_history.cpr IS 'The person.';
COMMENT ON COLUMN staging.cpr_address_history.address IS 'Earlier address.';
COMMENT ON COLUMN staging.cpr_address_history.postcode IS 'Earlier postcode.';
COMMENT ON COLUMN staging.cpr_address_history.valid_from IS 'From.';
COMMENT ON COLUMN staging.cpr_address_history.valid_to IS 'To.';

CREATE TABLE IF NOT EXISTS staging.consents (
    samtykke_id VARCHAR NOT NULL, version INTEGER NOT NULL, cpr VARCHAR NOT NULL, given_by_cpr VARCHAR,
    purpose VARCHAR, given_at TIMESTAMP NOT NULL, valid_until DATE, withdrawn_at TIMESTAMP,
    channel VARCHAR, registered_by VARCHAR, updated_at TIMESTAMP
);
COMMENT ON TABLE staging.consents IS 'Consent versions from the registry (samtykke), validated. Key: (samtykke_id, version).';
COMMENT ON COLUMN staging.consents.samtykke_id IS 'Consent id.';
COMMENT ON COLUMN staging.consents.version IS 'Version; the newest replaces older ones.';
COMMENT ON COLUMN staging.consents.cpr IS 'Whom the consent concerns.';
COMMENT ON COLUMN staging.consents.given_by_cpr IS 'Who gave it: the citizen or a custody holder.';
COMMENT ON COLUMN staging.consents.purpose IS 'Purpose (formaal).';
COMMENT ON COLUMN staging.consents.given_at IS 'When it was given.';
COMMENT ON COLUMN staging.consents.valid_until IS 'Last valid day; NULL for no expiry.';
COMMENT ON COLUMN staging.consents.withdrawn_at IS 'When it was withdrawn; NULL if not.';
COMMENT ON COLUMN staging.consents.channel IS 'Channel (digital, papir, moede ...).';
COMMENT ON COLUMN staging.consents.registered_by IS 'Who registered it.';
COMMENT ON COLUMN staging.consents.updated_at IS 'Last change in the registry.';

CREATE TABLE IF NOT EXISTS staging.consent_scopes (
    samtykke_id VARCHAR NOT NULL, version INTEGER NOT NULL, from_department VARCHAR NOT NULL,
    to_department VARCHAR NOT NULL, category VARCHAR NOT NULL
);
COMMENT ON TABLE staging.consent_scopes IS 'What a consent version lets flow: category from one department to another. Key: (samtykke_id, version, from_department, to_department, category).';
COMMENT ON COLUMN staging.consent_scopes.samtykke_id IS 'Consent id.';
COMMENT ON COLUMN staging.consent_scopes.version IS 'Consent version.';
COMMENT ON COLUMN staging.consent_scopes.from_department IS 'Department whose data may flow.';
COMMENT ON COLUMN staging.consent_scopes.to_department IS 'Department that may see it.';
COMMENT ON COLUMN staging.consent_scopes.category IS 'Category of data.';

CREATE TABLE IF NOT EXISTS staging.code_map (
    source VARCHAR NOT NULL, field VARCHAR NOT NULL, code VARCHAR NOT NULL, title VARCHAR,
    category VARCHAR NOT NULL, legal_paragraph VARCHAR
);
COMMENT ON TABLE staging.code_map IS 'Source codes mapped to the canonical model, loaded from the codes sections of pipelines/*.yaml. Key: (source, field, code).';
COMMENT ON COLUMN staging.code_map.source IS 'Source system.';
COMMENT ON COLUMN staging.code_map.field IS 'table.column the code appears in.';
COMMENT ON COLUMN staging.code_map.code IS 'The code as the source writes it.';
COMMENT ON COLUMN staging.code_map.title IS 'Danish title.';
COMMENT ON COLUMN staging.code_map.category IS 'Sharing category.';
COMMENT ON COLUMN staging.code_map.legal_paragraph IS 'Canonical legal paragraph when the code implies one.';

-- How each source table was read. Written by extraction (src/samlet_overblik/sources/ingest.py), which feeds staging;
-- it sits in the meta schema beside meta.source_loads, and in this file because the raw layer has no DDL of its own.
CREATE TABLE IF NOT EXISTS meta.source_reads (
    run_id VARCHAR NOT NULL, source VARCHAR NOT NULL, source_table VARCHAR NOT NULL, mode VARCHAR NOT NULL,
    read_at TIMESTAMP NOT NULL, read_from TIMESTAMP, next_read_from TIMESTAMP, rows_read BIGINT, rows_total BIGINT,
    rows_deleted BIGINT, keys_compared BOOLEAN, future_stamped_rows BIGINT, problem_rows BIGINT
);
COMMENT ON TABLE meta.source_reads IS 'History: how each run read each source table (incremental read-from points, deletions, future and unparseable update stamps). Carried across runs; the next incremental read starts at the latest next_read_from.';
COMMENT ON COLUMN meta.source_reads.run_id IS 'Run (or consent-watcher for the watcher''s scratch reads).';
COMMENT ON COLUMN meta.source_reads.source IS 'Source system.';
COMMENT ON COLUMN meta.source_reads.source_table IS 'Table.';
COMMENT ON COLUMN meta.source_reads.mode IS 'full (first read, schema change, no update stamp or --full-refresh), snapshot (read whole every run: the consent registry) or incremental (by update stamp).';
COMMENT ON COLUMN meta.source_reads.read_at IS 'Start of the read (UTC): no read-from point is ever set after it.';
COMMENT ON COLUMN meta.source_reads.read_from IS 'Incremental reads: rows with an update stamp at or after this were read (plus every row whose stamp is missing or not a timestamp); NULL for a whole read.';
COMMENT ON COLUMN meta.source_reads.next_read_from IS 'Where the next incremental read starts: the newest parsed update stamp not after read_at, minus the overlap (job.yaml ingest.overlap_minutes); NULL: read whole.';
COMMENT ON COLUMN meta.source_reads.rows_read IS 'Rows read from the source in this run.';
COMMENT ON COLUMN meta.source_reads.rows_total IS 'Rows in the raw copy afterwards.';
COMMENT ON COLUMN meta.source_reads.rows_deleted IS 'Rows gone from the source since the previous copy (found by comparing keys), removed from raw and so from staging.';
COMMENT ON COLUMN meta.source_reads.keys_compared IS 'Whether deletions were looked for in this run (always for whole reads; incremental reads by job.yaml ingest.key_check_*).';
COMMENT ON COLUMN meta.source_reads.future_stamped_rows IS 'Rows of the raw copy whose update stamp is after read_at: they never move the read-from point and are read again next run.';
COMMENT ON COLUMN meta.source_reads.problem_rows IS 'Rows of the raw copy marked at extraction (invalid_encoding, invalid_integer, invalid_boolean, oversized_value, unparseable_update_stamp): staging quarantines them with that reason.';

-- What each staging asset last staged from (sources/staging.py): an asset whose inputs still hold the same rows is
-- not run again.
CREATE TABLE IF NOT EXISTS meta.staged_inputs (
    asset VARCHAR PRIMARY KEY, fingerprint VARCHAR NOT NULL, run_id VARCHAR NOT NULL, staged_at TIMESTAMP NOT NULL
);
COMMENT ON TABLE meta.staged_inputs IS 'Per staging asset: the fingerprint of the inputs it last staged (raw rows read, code map, SQL, DDL, version). A run whose inputs match keeps that output instead of staging again.';
COMMENT ON COLUMN meta.staged_inputs.asset IS 'Staging asset (assets/staging/<asset>.sql).';
COMMENT ON COLUMN meta.staged_inputs.fingerprint IS 'Hash of everything the output is a function of (no value from a row can be read back from it).';
COMMENT ON COLUMN meta.staged_inputs.run_id IS 'Run that staged it.';
COMMENT ON COLUMN meta.staged_inputs.staged_at IS 'When (the run''s reference time).';

-- Indexes for a caseworker's lookup: it reads one citizen (and their family) by CPR number, person key or record id
-- from tables of millions of rows; without them each read scans the table (20-30 ms at 1,000,000 citizens).
CREATE INDEX IF NOT EXISTS cpr_persons_cpr ON staging.cpr_persons (cpr);
CREATE INDEX IF NOT EXISTS cpr_persons_address ON staging.cpr_persons (address);
CREATE INDEX IF NOT EXISTS cpr_relations_child ON staging.cpr_relations (child_cpr);
CREATE INDEX IF NOT EXISTS cpr_relations_related ON staging.cpr_relations (related_cpr);
CREATE INDEX IF NOT EXISTS interventions_record ON staging.interventions (record_id);
