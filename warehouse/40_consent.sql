-- consent: consent history as seen, consents in force, per-run decisions and the flow history.

CREATE TABLE IF NOT EXISTS consent.history (
    samtykke_id VARCHAR NOT NULL, version INTEGER NOT NULL, cpr VARCHAR, given_by_cpr VARCHAR, purpose VARCHAR,
    given_at TIMESTAMP, valid_until DATE, withdrawn_at TIMESTAMP, channel VARCHAR, registered_by VARCHAR,
    updated_at TIMESTAMP, scope VARCHAR, content_hash VARCHAR NOT NULL,
    first_seen_run VARCHAR NOT NULL, first_seen_at TIMESTAMP NOT NULL, last_seen_run VARCHAR NOT NULL, last_seen_at TIMESTAMP NOT NULL
);
COMMENT ON TABLE consent.history IS 'History: every consent version as the registry showed it, and which runs saw it (a changed version, e.g. a withdrawal, is a new row). Carried across runs.';
COMMENT ON COLUMN consent.history.samtykke_id IS 'Consent id.';
COMMENT ON COLUMN consent.history.version IS 'Consent version.';
COMMENT ON COLUMN consent.history.cpr IS 'Whom it concerns.';
COMMENT ON COLUMN consent.history.given_by_cpr IS 'Who gave it.';
COMMENT ON COLUMN consent.history.purpose IS 'Purpose.';
COMMENT ON COLUMN consent.history.given_at IS 'When it was given.';
COMMENT ON COLUMN consent.history.valid_until IS 'Last valid day.';
COMMENT ON COLUMN consent.history.withdrawn_at IS 'When it was withdrawn.';
COMMENT ON COLUMN consent.history.channel IS 'Channel.';
COMMENT ON COLUMN consent.history.registered_by IS 'Who registered it.';
COMMENT ON COLUMN consent.history.updated_at IS 'Registry update stamp.';
COMMENT ON COLUMN consent.history.scope IS 'The scope as text: from>to:category, sorted, comma-separated.';
COMMENT ON COLUMN consent.history.content_hash IS 'Hash of the version''s content including scope.';
COMMENT ON COLUMN consent.history.first_seen_run IS 'First run that saw this content.';
COMMENT ON COLUMN consent.history.first_seen_at IS 'When (run reference time).';
COMMENT ON COLUMN consent.history.last_seen_run IS 'Latest run that saw this content.';
COMMENT ON COLUMN consent.history.last_seen_at IS 'When (run reference time).';

CREATE TABLE IF NOT EXISTS consent.evaluated (
    samtykke_id VARCHAR NOT NULL, version INTEGER NOT NULL, cpr VARCHAR, status VARCHAR NOT NULL, reason VARCHAR
);
COMMENT ON TABLE consent.evaluated IS 'Every consent version judged at the latest run''s reference time: in_force, or why not.';
COMMENT ON COLUMN consent.evaluated.samtykke_id IS 'Consent id.';
COMMENT ON COLUMN consent.evaluated.version IS 'Version.';
COMMENT ON COLUMN consent.evaluated.cpr IS 'Whom it concerns.';
COMMENT ON COLUMN consent.evaluated.status IS 'in_force, superseded, not_yet_given, withdrawn, expired, purpose_not_covered, giver_without_custody, invalid_version.';
COMMENT ON COLUMN consent.evaluated.reason IS 'Explanation in Danish.';

CREATE TABLE IF NOT EXISTS consent.effective_grants (
    cpr VARCHAR NOT NULL, samtykke_id VARCHAR NOT NULL, version INTEGER NOT NULL,
    from_department VARCHAR NOT NULL, to_department VARCHAR NOT NULL, category VARCHAR NOT NULL
);
COMMENT ON TABLE consent.effective_grants IS 'Consent scopes in force at the latest run''s reference time.';
COMMENT ON COLUMN consent.effective_grants.cpr IS 'Whom it concerns.';
COMMENT ON COLUMN consent.effective_grants.samtykke_id IS 'Consent id.';
COMMENT ON COLUMN consent.effective_grants.version IS 'Version in force.';
COMMENT ON COLUMN consent.effective_grants.from_department IS 'Department whose data may flow.';
COMMENT ON COLUMN consent.effective_grants.to_department IS 'Department that may see it.';
COMMENT ON COLUMN consent.effective_grants.category IS 'Category.';

CREATE TABLE IF NOT EXISTS consent.policy_rules (
    rule_id VARCHAR NOT NULL, policy_version VARCHAR NOT NULL, kind VARCHAR NOT NULL, reference VARCHAR,
    from_department VARCHAR, to_department VARCHAR, category VARCHAR, condition VARCHAR
);
COMMENT ON TABLE consent.policy_rules IS 'The enabled legal-basis rules of the policy used by the latest run, one row per (from, to, category).';
COMMENT ON COLUMN consent.policy_rules.rule_id IS 'Rule id (basis lov:<rule_id>).';
COMMENT ON COLUMN consent.policy_rules.policy_version IS 'Policy file version.';
COMMENT ON COLUMN consent.policy_rules.kind IS 'own_department or legal_rule.';
COMMENT ON COLUMN consent.policy_rules.reference IS 'Legal reference text.';
COMMENT ON COLUMN consent.policy_rules.from_department IS 'From department.';
COMMENT ON COLUMN consent.policy_rules.to_department IS 'To department.';
COMMENT ON COLUMN consent.policy_rules.category IS 'Category.';
COMMENT ON COLUMN consent.policy_rules.condition IS 'Condition on the citizen (e.g. child_with_open_case), NULL for none.';

CREATE TABLE IF NOT EXISTS consent.record_decisions (
    run_id VARCHAR NOT NULL, source VARCHAR NOT NULL, source_table VARCHAR NOT NULL, record_id VARCHAR NOT NULL,
    person_key VARCHAR, source_department VARCHAR NOT NULL, category VARCHAR NOT NULL, viewer_department VARCHAR NOT NULL,
    decision VARCHAR NOT NULL, basis VARCHAR, reason VARCHAR
);
COMMENT ON TABLE consent.record_decisions IS 'Latest run: for every staged record and every department, admitted (with basis) or blocked (with reason).';
COMMENT ON COLUMN consent.record_decisions.run_id IS 'Run.';
COMMENT ON COLUMN consent.record_decisions.source IS 'Source system of the record.';
COMMENT ON COLUMN consent.record_decisions.source_table IS 'Source table.';
COMMENT ON COLUMN consent.record_decisions.record_id IS 'Record id.';
COMMENT ON COLUMN consent.record_decisions.person_key IS 'The citizen.';
COMMENT ON COLUMN consent.record_decisions.source_department IS 'Department that owns the record.';
COMMENT ON COLUMN consent.record_decisions.category IS 'Category of the record.';
COMMENT ON COLUMN consent.record_decisions.viewer_department IS 'Department asking to see it.';
COMMENT ON COLUMN consent.record_decisions.decision IS 'admitted or blocked.';
COMMENT ON COLUMN consent.record_decisions.basis IS 'samtykke:<id>@<version> or lov:<rule id> when admitted.';
COMMENT ON COLUMN consent.record_decisions.reason IS 'Why blocked: no_consent, consent_withdrawn, consent_expired, consent_superseded, scope_excludes, giver_without_custody, no_identified_person, fail_closed.';

CREATE TABLE IF NOT EXISTS consent.decisions (
    run_id VARCHAR NOT NULL, reference_time TIMESTAMP NOT NULL, source_department VARCHAR NOT NULL,
    viewer_department VARCHAR NOT NULL, decision VARCHAR NOT NULL, rule VARCHAR NOT NULL, reason VARCHAR, records BIGINT NOT NULL
);
COMMENT ON TABLE consent.decisions IS 'History: per run, records admitted or blocked by rule and reason (details of the latest run in consent.record_decisions). Carried across runs.';
COMMENT ON COLUMN consent.decisions.run_id IS 'Run.';
COMMENT ON COLUMN consent.decisions.reference_time IS 'Reference time of the run.';
COMMENT ON COLUMN consent.decisions.source_department IS 'Owning department.';
COMMENT ON COLUMN consent.decisions.viewer_department IS 'Viewing department.';
COMMENT ON COLUMN consent.decisions.decision IS 'admitted or blocked.';
COMMENT ON COLUMN consent.decisions.rule IS 'egen_afdeling, samtykke, lov:<rule id> or default_deny.';
COMMENT ON COLUMN consent.decisions.reason IS 'Reason for blocking.';
COMMENT ON COLUMN consent.decisions.records IS 'Number of (record, viewer) pairs.';

CREATE TABLE IF NOT EXISTS consent.flow_intervals (
    source VARCHAR NOT NULL, source_table VARCHAR NOT NULL, record_id VARCHAR NOT NULL, person_key VARCHAR,
    source_department VARCHAR NOT NULL, viewer_department VARCHAR NOT NULL, basis VARCHAR NOT NULL,
    from_run VARCHAR NOT NULL, from_time TIMESTAMP NOT NULL, to_run VARCHAR, to_time TIMESTAMP, stop_reason VARCHAR
);
COMMENT ON TABLE consent.flow_intervals IS 'History: when each record flowed to another department and on which basis; to_run/to_time say when it stopped (e.g. after a withdrawal). Carried across runs.';
COMMENT ON COLUMN consent.flow_intervals.source IS 'Source system.';
COMMENT ON COLUMN consent.flow_intervals.source_table IS 'Source table.';
COMMENT ON COLUMN consent.flow_intervals.record_id IS 'Record id.';
COMMENT ON COLUMN consent.flow_intervals.person_key IS 'The citizen.';
COMMENT ON COLUMN consent.flow_intervals.source_department IS 'Owning department.';
COMMENT ON COLUMN consent.flow_intervals.viewer_department IS 'Department it flowed to.';
COMMENT ON COLUMN consent.flow_intervals.basis IS 'samtykke:<id>@<version> or lov:<rule id>.';
COMMENT ON COLUMN consent.flow_intervals.from_run IS 'First run that published the flow.';
COMMENT ON COLUMN consent.flow_intervals.from_time IS 'Its reference time.';
COMMENT ON COLUMN consent.flow_intervals.to_run IS 'First run that no longer published it; NULL while it flows.';
COMMENT ON COLUMN consent.flow_intervals.to_time IS 'Its reference time.';
COMMENT ON COLUMN consent.flow_intervals.stop_reason IS 'Why it stopped (the blocking reason of that run).';

CREATE TABLE IF NOT EXISTS consent.run_status (
    run_id VARCHAR NOT NULL, reference_time TIMESTAMP NOT NULL, policy_version VARCHAR, consent_rows BIGINT,
    quarantined_rows BIGINT, fail_closed BOOLEAN NOT NULL, reason VARCHAR
);
COMMENT ON TABLE consent.run_status IS 'History: per run, whether the consent registry was usable or the run failed closed, and why.';
COMMENT ON COLUMN consent.run_status.run_id IS 'Run.';
COMMENT ON COLUMN consent.run_status.reference_time IS 'Reference time.';
COMMENT ON COLUMN consent.run_status.policy_version IS 'Policy version applied.';
COMMENT ON COLUMN consent.run_status.consent_rows IS 'Consent versions staged.';
COMMENT ON COLUMN consent.run_status.quarantined_rows IS 'Consent versions quarantined.';
COMMENT ON COLUMN consent.run_status.fail_closed IS 'True when nothing crossed a department boundary in this run.';
COMMENT ON COLUMN consent.run_status.reason IS 'registry_unreachable, registry_empty, registry_shrunk, registry_invalid or NULL.';
-- Added after the first release: warehouses built before it get the column here.
ALTER TABLE consent.run_status ADD COLUMN IF NOT EXISTS lost_versions BIGINT;
COMMENT ON COLUMN consent.run_status.lost_versions IS 'Consent versions of the last trusted run''s registry (consent.registry_keys) that the registry no longer has (deleted).';

CREATE TABLE IF NOT EXISTS consent.registry_keys (
    samtykke_id VARCHAR, version VARCHAR, run_id VARCHAR NOT NULL
);
COMMENT ON TABLE consent.registry_keys IS 'The keys of every consent version (valid or quarantined) in the registry as the latest run that trusted it saw them: the baseline a later run compares with to notice deleted consents (fail closed as registry_shrunk above consent_registry.max_lost_share in pipelines/job.yaml). Carried across runs.';
COMMENT ON COLUMN consent.registry_keys.samtykke_id IS 'Consent id.';
COMMENT ON COLUMN consent.registry_keys.version IS 'Version as text (NULL when it could not be read).';
COMMENT ON COLUMN consent.registry_keys.run_id IS 'The trusted run that saw it.';

CREATE TABLE IF NOT EXISTS unified.access_grants (
    source VARCHAR NOT NULL, source_table VARCHAR NOT NULL, record_id VARCHAR NOT NULL, person_key VARCHAR,
    source_department VARCHAR NOT NULL, viewer_department VARCHAR NOT NULL, basis VARCHAR NOT NULL
);
COMMENT ON TABLE unified.access_grants IS 'Admitted (record, viewer department) pairs of the latest run, each with its basis.';
COMMENT ON COLUMN unified.access_grants.source IS 'Source system.';
COMMENT ON COLUMN unified.access_grants.source_table IS 'Source table.';
COMMENT ON COLUMN unified.access_grants.record_id IS 'Record id.';
COMMENT ON COLUMN unified.access_grants.person_key IS 'The citizen.';
COMMENT ON COLUMN unified.access_grants.source_department IS 'Owning department.';
COMMENT ON COLUMN unified.access_grants.viewer_department IS 'Department allowed to see it.';
COMMENT ON COLUMN unified.access_grants.basis IS 'samtykke:<id>@<version> or lov:<rule id>.';

-- A lookup counts what the viewer does not see from the citizen's decisions (consent/gate.hidden_count).
CREATE INDEX IF NOT EXISTS record_decisions_person ON consent.record_decisions (person_key);
