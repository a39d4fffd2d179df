-- target: staging.home_visits
-- source: sundhed_aeldre.visits
-- description: Home visits with ISO timestamps (who came into the home, when).
SELECT
    'sundhed_aeldre' AS source, 'visits' AS source_table, CAST(r.visit_id AS VARCHAR) AS record_id,
    'patients' AS person_table, CAST(r.patient_id AS VARCHAR) AS person_record_id,
    CAST(r.service_id AS VARCHAR) AS service_record_id,
    'sundhed_aeldre' AS department,
    parse_ts(r.visit_start) AS visit_start,
    parse_ts(r.visit_end) AS visit_end,
    r.employee,
    fix_mojibake(r.address) AS address,
    parse_ts(r.updated_at) AS updated_at,
    CASE
        WHEN NOT EXISTS (SELECT 1 FROM raw.sundhed_aeldre__patients p WHERE p.patient_id = r.patient_id) THEN 'orphan_person_reference'
        WHEN parse_ts(r.visit_start) IS NULL THEN 'unparseable_date'
        WHEN r.visit_end IS NOT NULL AND parse_ts(r.visit_end) IS NULL THEN 'unparseable_date'
        WHEN parse_ts(r.visit_end) < parse_ts(r.visit_start) THEN 'end_before_start'
    END AS _reject_reason,
    r AS _raw_row
FROM raw.sundhed_aeldre__visits r
