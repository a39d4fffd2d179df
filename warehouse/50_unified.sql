-- unified: the cross-sector view, rebuilt each run from staging, identity and meta (assets/unified/*.sql,
-- assets/signals/*.sql; src/samlet_overblik/unified/view.py). unified.access_grants lives in 40_consent.sql.
-- The same SQL computes each department's copy inside exports/<department>.duckdb from only the records
-- that department may see.

CREATE TABLE IF NOT EXISTS unified.interventions (
    person_key VARCHAR, department VARCHAR NOT NULL, sector VARCHAR NOT NULL, category VARCHAR NOT NULL,
    kind VARCHAR NOT NULL, legal_paragraph VARCHAR, title VARCHAR, start_date DATE, end_date DATE,
    status VARCHAR NOT NULL, caseworker VARCHAR, monthly_cost DECIMAL(14, 2),
    source VARCHAR NOT NULL, source_table VARCHAR NOT NULL, record_id VARCHAR NOT NULL,
    data_as_of TIMESTAMP, data_status VARCHAR
);
COMMENT ON TABLE unified.interventions IS 'Every staged intervention, benefit, service, sanction, notification and contact with the citizen it concerns and the freshness of its source.';
COMMENT ON COLUMN unified.interventions.person_key IS 'The citizen (identity.person_keys); NULL when the record could not be tied to a person.';
COMMENT ON COLUMN unified.interventions.department IS 'Owning department: boern_familie, beskaeftigelse, social_voksen or sundhed_aeldre.';
COMMENT ON COLUMN unified.interventions.sector IS 'The department''s name in Danish (Børn og Familie, Jobcenter / Beskæftigelse, Socialområdet (voksne), Sundhed og Ældre).';
COMMENT ON COLUMN unified.interventions.category IS 'Sharing category: indsatser, ydelser, helbred, misbrug or kontakt.';
COMMENT ON COLUMN unified.interventions.kind IS 'indsats, ydelse, sanktion, kontakt or underretning.';
COMMENT ON COLUMN unified.interventions.legal_paragraph IS 'Legal paragraph as recorded (e.g. BL § 32, SEL § 85, LAS).';
COMMENT ON COLUMN unified.interventions.title IS 'What it is, in Danish.';
COMMENT ON COLUMN unified.interventions.start_date IS 'First day.';
COMMENT ON COLUMN unified.interventions.end_date IS 'Last day; NULL while open.';
COMMENT ON COLUMN unified.interventions.status IS 'At the run''s reference date: aktiv (started, not ended), afsluttet (ended) or kommende (starts later).';
COMMENT ON COLUMN unified.interventions.caseworker IS 'Responsible caseworker or contact person.';
COMMENT ON COLUMN unified.interventions.monthly_cost IS 'Monthly cost or amount in DKK; NULL when none (meetings, notifications, sanctions).';
COMMENT ON COLUMN unified.interventions.source IS 'Source system of the record.';
COMMENT ON COLUMN unified.interventions.source_table IS 'Table in the source system.';
COMMENT ON COLUMN unified.interventions.record_id IS 'Primary key of the source row (with source and source_table: joins staging.interventions and unified.access_grants).';
COMMENT ON COLUMN unified.interventions.data_as_of IS 'When the source was last read successfully (meta.source_loads).';
COMMENT ON COLUMN unified.interventions.data_status IS 'ok, or stale when the latest run could not read the source and reused its last good copy.';

CREATE TABLE IF NOT EXISTS unified.citizen_overview (
    person_key VARCHAR NOT NULL, departments VARCHAR[], n_departments INTEGER NOT NULL,
    active_interventions INTEGER NOT NULL, active_boern_familie INTEGER NOT NULL, active_beskaeftigelse INTEGER NOT NULL,
    active_social_voksen INTEGER NOT NULL, active_sundhed_aeldre INTEGER NOT NULL, active_services INTEGER NOT NULL,
    monthly_cost_dkk DECIMAL(14, 2), annual_cost_dkk DECIMAL(14, 2), caseworkers VARCHAR[], n_caseworkers INTEGER NOT NULL,
    coordinating_caseworker VARCHAR, coordinating_department VARCHAR,
    flag_departments BOOLEAN NOT NULL, flag_services BOOLEAN NOT NULL, flag_cost BOOLEAN NOT NULL,
    complex_case BOOLEAN NOT NULL, flags_explained VARCHAR, data_as_of TIMESTAMP, reference_date DATE NOT NULL
);
COMMENT ON TABLE unified.citizen_overview IS 'One row per citizen with at least one record: departments involved, active interventions, cost, coordinating caseworker and Høje-Taastrup''s targeting flags (thresholds in pipelines/job.yaml).';
COMMENT ON COLUMN unified.citizen_overview.person_key IS 'The citizen.';
COMMENT ON COLUMN unified.citizen_overview.departments IS 'Departments with at least one active record, sorted.';
COMMENT ON COLUMN unified.citizen_overview.n_departments IS 'Number of departments with at least one active record (indgange i kommunen).';
COMMENT ON COLUMN unified.citizen_overview.active_interventions IS 'Active records of any kind across departments.';
COMMENT ON COLUMN unified.citizen_overview.active_boern_familie IS 'Active records in Børn og Familie.';
COMMENT ON COLUMN unified.citizen_overview.active_beskaeftigelse IS 'Active records at the job centre.';
COMMENT ON COLUMN unified.citizen_overview.active_social_voksen IS 'Active records in adult social services.';
COMMENT ON COLUMN unified.citizen_overview.active_sundhed_aeldre IS 'Active records in health and elderly care.';
COMMENT ON COLUMN unified.citizen_overview.active_services IS 'Active benefits and services (ydelser/indsatser): kind indsats or ydelse, or anything with a monthly cost; meetings, notifications and sanctions do not count.';
COMMENT ON COLUMN unified.citizen_overview.monthly_cost_dkk IS 'Sum of the monthly cost of the active records (DKK).';
COMMENT ON COLUMN unified.citizen_overview.annual_cost_dkk IS 'Cost of the 365 days up to the reference date across departments: each record''s monthly cost × 12 × its share of days in that window (DKK).';
COMMENT ON COLUMN unified.citizen_overview.caseworkers IS 'Distinct caseworkers on the active records, sorted.';
COMMENT ON COLUMN unified.citizen_overview.n_caseworkers IS 'Number of distinct caseworkers on the active records.';
COMMENT ON COLUMN unified.citizen_overview.coordinating_caseworker IS 'Coordinating caseworker (tovholder) of the newest plan in staging.coordination_plans; NULL when none is registered.';
COMMENT ON COLUMN unified.citizen_overview.coordinating_department IS 'Department that leads that plan.';
COMMENT ON COLUMN unified.citizen_overview.flag_departments IS 'Active in at least thresholds.min_departments departments.';
COMMENT ON COLUMN unified.citizen_overview.flag_services IS 'At least thresholds.min_services active benefits/services.';
COMMENT ON COLUMN unified.citizen_overview.flag_cost IS 'annual_cost_dkk of at least thresholds.min_annual_cost_dkk.';
COMMENT ON COLUMN unified.citizen_overview.complex_case IS 'At least one of the three flags (Høje-Taastrup''s complex cases).';
COMMENT ON COLUMN unified.citizen_overview.flags_explained IS 'Each raised flag explained in Danish with the figure and the threshold; NULL when none is raised.';
COMMENT ON COLUMN unified.citizen_overview.data_as_of IS 'Oldest freshness among the sources of the citizen''s records.';
COMMENT ON COLUMN unified.citizen_overview.reference_date IS 'The date "active" and the 12-month cost refer to.';

CREATE TABLE IF NOT EXISTS unified.family_members (
    family_id VARCHAR NOT NULL, person_key VARCHAR, role VARCHAR NOT NULL, birth_date DATE,
    active_boern_familie INTEGER NOT NULL, active_beskaeftigelse INTEGER NOT NULL, active_social_voksen INTEGER NOT NULL,
    active_sundhed_aeldre INTEGER NOT NULL, child_measures VARCHAR[], benefits VARCHAR[], social_services VARCHAR[],
    annual_cost_dkk DECIMAL(14, 2)
);
COMMENT ON TABLE unified.family_members IS 'Per-member breakdown of unified.family_overview: each child and each parent/custody holder with their active records.';
COMMENT ON COLUMN unified.family_members.family_id IS 'The family (unified.family_overview).';
COMMENT ON COLUMN unified.family_members.person_key IS 'The member.';
COMMENT ON COLUMN unified.family_members.role IS 'barn, or voksen (parent or custody holder of a child in the family).';
COMMENT ON COLUMN unified.family_members.birth_date IS 'Birth date from the person register.';
COMMENT ON COLUMN unified.family_members.active_boern_familie IS 'Active records in Børn og Familie.';
COMMENT ON COLUMN unified.family_members.active_beskaeftigelse IS 'Active records at the job centre.';
COMMENT ON COLUMN unified.family_members.active_social_voksen IS 'Active records in adult social services.';
COMMENT ON COLUMN unified.family_members.active_sundhed_aeldre IS 'Active records in health and elderly care.';
COMMENT ON COLUMN unified.family_members.child_measures IS 'Titles of active children-and-family measures (indsatser in boern_familie).';
COMMENT ON COLUMN unified.family_members.benefits IS 'Titles of active job-centre benefits (ydelser).';
COMMENT ON COLUMN unified.family_members.social_services IS 'Titles of active adult social services.';
COMMENT ON COLUMN unified.family_members.annual_cost_dkk IS 'The member''s cost of the last 365 days (as in unified.citizen_overview).';

CREATE TABLE IF NOT EXISTS unified.relatives (
    person_key VARCHAR NOT NULL, relative_key VARCHAR NOT NULL, relative_cpr VARCHAR, given_name VARCHAR,
    family_name VARCHAR, birth_date DATE, sex VARCHAR, status VARCHAR, kinds VARCHAR[] NOT NULL,
    reference_date DATE NOT NULL
);
COMMENT ON TABLE unified.relatives IS 'Each citizen''s family as a caseworker''s lookup shows it (before the consent gate decides whom the department may see): the citizen (kinds [selv]), parents and custody holders, children, the other parents of the citizen''s children and the living people registered at the same address, at most 40 relatives a citizen. Relations in force at the reference date, between living people with a person key. Only citizens with a record in unified.interventions are listed (a lookup shows no one else); their relatives can be anyone.';
COMMENT ON COLUMN unified.relatives.person_key IS 'The citizen.';
COMMENT ON COLUMN unified.relatives.relative_key IS 'The relative (the citizen for the row of kinds [selv]).';
COMMENT ON COLUMN unified.relatives.relative_cpr IS 'The relative''s CPR number (restricted warehouse only; shown masked).';
COMMENT ON COLUMN unified.relatives.given_name IS 'Given name from the person register.';
COMMENT ON COLUMN unified.relatives.family_name IS 'Family name from the person register.';
COMMENT ON COLUMN unified.relatives.birth_date IS 'Birth date from the person register.';
COMMENT ON COLUMN unified.relatives.sex IS 'M or K from the person register.';
COMMENT ON COLUMN unified.relatives.status IS 'Register status (aktiv, udrejst, doed).';
COMMENT ON COLUMN unified.relatives.kinds IS 'How the relative is related, sorted: barn, forælder, forældremyndighed, husstand, medforælder; [selv] for the citizen.';
COMMENT ON COLUMN unified.relatives.reference_date IS 'The date the relations are in force on.';
CREATE INDEX IF NOT EXISTS relatives_person ON unified.relatives (person_key);

CREATE TABLE IF NOT EXISTS unified.family_overview (
    family_id VARCHAR NOT NULL, n_children INTEGER NOT NULL, n_adults INTEGER NOT NULL,
    children VARCHAR[], adults VARCHAR[], child_measures VARCHAR[], adult_benefits VARCHAR[], adult_social_services VARCHAR[],
    n_child_measures INTEGER NOT NULL, n_adult_benefits INTEGER NOT NULL, n_adult_social_services INTEGER NOT NULL,
    departments VARCHAR[], n_departments INTEGER NOT NULL, annual_cost_dkk DECIMAL(14, 2),
    child_case_and_adult_benefits BOOLEAN NOT NULL, reference_date DATE NOT NULL
);
COMMENT ON TABLE unified.family_overview IS 'One row per family with at least one active record: children (under 18, or with an active children-and-family record) with the adults who are their parents or custody holders in the person register at the reference date. Children with exactly the same adults form one family.';
COMMENT ON COLUMN unified.family_overview.family_id IS 'Stable family key: a hash of the adults'' person keys (not derived from CPR).';
COMMENT ON COLUMN unified.family_overview.n_children IS 'Children in the family.';
COMMENT ON COLUMN unified.family_overview.n_adults IS 'Parents and custody holders.';
COMMENT ON COLUMN unified.family_overview.children IS 'Person keys of the children.';
COMMENT ON COLUMN unified.family_overview.adults IS 'Person keys of the adults.';
COMMENT ON COLUMN unified.family_overview.child_measures IS 'Active children-and-family measures of the children (titles).';
COMMENT ON COLUMN unified.family_overview.adult_benefits IS 'Active job-centre benefits of the adults (titles).';
COMMENT ON COLUMN unified.family_overview.adult_social_services IS 'Active adult social services of the adults (titles).';
COMMENT ON COLUMN unified.family_overview.n_child_measures IS 'Number of active children-and-family measures.';
COMMENT ON COLUMN unified.family_overview.n_adult_benefits IS 'Number of active job-centre benefits of the adults.';
COMMENT ON COLUMN unified.family_overview.n_adult_social_services IS 'Number of active adult social services of the adults.';
COMMENT ON COLUMN unified.family_overview.departments IS 'Departments with an active record for any member.';
COMMENT ON COLUMN unified.family_overview.n_departments IS 'Number of those departments.';
COMMENT ON COLUMN unified.family_overview.annual_cost_dkk IS 'Sum of the members'' cost of the last 365 days.';
COMMENT ON COLUMN unified.family_overview.child_case_and_adult_benefits IS 'A child has an active children-and-family measure while an adult receives a job-centre benefit (Odense''s case for reading the family across departments).';
COMMENT ON COLUMN unified.family_overview.reference_date IS 'Reference date.';

CREATE TABLE IF NOT EXISTS unified.signal_rules (
    signal_id VARCHAR NOT NULL, title VARCHAR NOT NULL, description VARCHAR NOT NULL, sql_file VARCHAR NOT NULL
);
COMMENT ON TABLE unified.signal_rules IS 'The coordination-signal rules: every SQL file in assets/signals/ is one.';
COMMENT ON COLUMN unified.signal_rules.signal_id IS 'Rule id (the SQL file name).';
COMMENT ON COLUMN unified.signal_rules.title IS 'Short Danish title.';
COMMENT ON COLUMN unified.signal_rules.description IS 'What the rule finds and why it matters, in Danish.';
COMMENT ON COLUMN unified.signal_rules.sql_file IS 'assets/signals/<file> holding the rule.';

CREATE TABLE IF NOT EXISTS unified.coordination_signals (
    signal_id VARCHAR NOT NULL, signal_key VARCHAR NOT NULL, person_key VARCHAR NOT NULL, signal_date DATE,
    description VARCHAR NOT NULL, detail VARCHAR, departments VARCHAR[],
    records STRUCT(source VARCHAR, source_table VARCHAR, record_id VARCHAR)[] NOT NULL
);
COMMENT ON TABLE unified.coordination_signals IS 'Places where departments may work against each other, one row per (rule finding, citizen); every record involved is listed, so a department''s copy (computed from only what it may see) never points at a record it cannot see.';
COMMENT ON COLUMN unified.coordination_signals.signal_id IS 'Rule id (unified.signal_rules).';
COMMENT ON COLUMN unified.coordination_signals.signal_key IS 'Stable id of the finding (hash of the rule and its records); the same finding for several citizens shares it.';
COMMENT ON COLUMN unified.coordination_signals.person_key IS 'The citizen the finding concerns.';
COMMENT ON COLUMN unified.coordination_signals.signal_date IS 'When it happened (e.g. the sanction date, the visit date).';
COMMENT ON COLUMN unified.coordination_signals.description IS 'The rule''s Danish description.';
COMMENT ON COLUMN unified.coordination_signals.detail IS 'This finding in Danish (no CPR, names or addresses).';
COMMENT ON COLUMN unified.coordination_signals.departments IS 'Departments whose records are involved.';
COMMENT ON COLUMN unified.coordination_signals.records IS 'The records involved: (source, source_table, record_id) in unified.interventions or staging.home_visits.';

CREATE TABLE IF NOT EXISTS unified.build_info (
    reference_date DATE NOT NULL, min_departments INTEGER NOT NULL, min_services INTEGER NOT NULL,
    min_annual_cost_dkk DECIMAL(14, 2) NOT NULL, min_caseworkers INTEGER NOT NULL, signal_lookback_days INTEGER NOT NULL,
    built_at TIMESTAMP NOT NULL
);
COMMENT ON TABLE unified.build_info IS 'The settings the latest build of the unified layer used (one row).';
COMMENT ON COLUMN unified.build_info.reference_date IS 'Date that "active" refers to.';
COMMENT ON COLUMN unified.build_info.min_departments IS 'Threshold of flag_departments (pipelines/job.yaml thresholds.min_departments).';
COMMENT ON COLUMN unified.build_info.min_services IS 'Threshold of flag_services (thresholds.min_services).';
COMMENT ON COLUMN unified.build_info.min_annual_cost_dkk IS 'Threshold of flag_cost (thresholds.min_annual_cost_dkk).';
COMMENT ON COLUMN unified.build_info.min_caseworkers IS 'Caseworkers that make the signal mange_sagsbehandlere_uden_tovholder (thresholds.min_caseworkers, default 3).';
COMMENT ON COLUMN unified.build_info.signal_lookback_days IS 'How far back signals look (thresholds.signal_lookback_days, default 365).';
COMMENT ON COLUMN unified.build_info.built_at IS 'When the layer was built (UTC).';
