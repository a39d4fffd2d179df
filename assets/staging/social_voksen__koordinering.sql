-- target: staging.coordination_plans
-- source: social_voksen.koordinering
-- description: One plan with a coordinating caseworker, led by adult social services.
SELECT
    'social_voksen' AS source, 'koordinering' AS source_table, CAST(r.koordinering_id AS VARCHAR) AS record_id,
    'klient' AS person_table, CAST(r.klient_id AS VARCHAR) AS person_record_id,
    'social_voksen' AS department,
    r.tovholder AS coordinator,
    parse_date(r.plan_oprettet) AS created_date,
    r.maal AS goals,
    parse_date(r.naeste_opfoelgning) AS follow_up_date,
    parse_ts(r.aendret) AS updated_at,
    CASE
        WHEN NOT EXISTS (SELECT 1 FROM raw.social_voksen__klient k WHERE k.klient_id = r.klient_id) THEN 'orphan_person_reference'
        WHEN r.tovholder IS NULL THEN 'missing_coordinator'
        WHEN r.naeste_opfoelgning IS NOT NULL AND parse_date(r.naeste_opfoelgning) IS NULL THEN 'unparseable_date'
    END AS _reject_reason,
    r AS _raw_row
FROM raw.social_voksen__koordinering r
