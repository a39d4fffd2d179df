-- target: staging.person_records
-- source: sundhed_aeldre.patients
-- description: Patients in health and elderly care (English columns, ISO dates as text).
SELECT
    'sundhed_aeldre' AS source, 'patients' AS source_table, CAST(r.patient_id AS VARCHAR) AS record_id,
    'sundhed_aeldre' AS department,
    normalise_cpr(r.ssn) AS national_id,
    cpr_status(normalise_cpr(r.ssn)) AS national_id_status,
    fix_mojibake(r.first_name) AS given_name,
    fix_mojibake(r.last_name) AS family_name,
    coalesce(parse_date(r.birth_date), cpr_birth_date(normalise_cpr(r.ssn))) AS birth_date,
    CASE WHEN cpr_status(normalise_cpr(r.ssn)) = 'valid' THEN cpr_sex(normalise_cpr(r.ssn)) END AS sex,
    fix_mojibake(r.street) AS address,
    r.zip AS postcode,
    parse_ts(r.updated_at) AS updated_at,
    NULL AS _reject_reason,
    r AS _raw_row
FROM raw.sundhed_aeldre__patients r
