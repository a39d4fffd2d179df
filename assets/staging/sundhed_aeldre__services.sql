-- target: staging.interventions
-- source: sundhed_aeldre.services
-- description: Granted care and health services, described by FSIII codes.
SELECT
    'sundhed_aeldre' AS source, 'services' AS source_table, CAST(r.service_id AS VARCHAR) AS record_id,
    'patients' AS person_table, CAST(r.patient_id AS VARCHAR) AS person_record_id,
    'sundhed_aeldre' AS department,
    coalesce(m.category, 'indsatser') AS category,
    'indsats' AS kind,
    coalesce(r.service_name, m.title) AS title,
    coalesce(r.paragraph, m.legal_paragraph) AS legal_paragraph,
    parse_date(r.start_date) AS start_date,
    parse_date(r.end_date) AS end_date,
    TRY_CAST(r.monthly_cost AS DECIMAL(14, 2)) AS monthly_cost,
    r.responsible AS caseworker,
    parse_ts(r.updated_at) AS updated_at,
    CASE
        WHEN NOT EXISTS (SELECT 1 FROM raw.sundhed_aeldre__patients p WHERE p.patient_id = r.patient_id) THEN 'orphan_person_reference'
        WHEN m.code IS NULL THEN 'unknown_code'
        WHEN period_problem(r.start_date, r.end_date) IS NOT NULL THEN period_problem(r.start_date, r.end_date)
        WHEN amount_problem(r.monthly_cost) IS NOT NULL THEN amount_problem(r.monthly_cost)
    END AS _reject_reason,
    r AS _raw_row
FROM raw.sundhed_aeldre__services r
LEFT JOIN staging.code_map m
    ON m.source = 'sundhed_aeldre' AND m.field = 'services.fsiii_code' AND m.code = r.fsiii_code
