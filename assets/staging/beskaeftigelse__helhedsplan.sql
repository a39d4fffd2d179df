-- target: staging.coordination_plans
-- source: beskaeftigelse.helhedsplan
-- description: One plan with a coordinating caseworker, led by the job centre.
SELECT
    'beskaeftigelse' AS source, 'helhedsplan' AS source_table, CAST(r.plan_id AS VARCHAR) AS record_id,
    'borger' AS person_table, CAST(r.borger_id AS VARCHAR) AS person_record_id,
    'beskaeftigelse' AS department,
    r.tovholder AS coordinator,
    parse_date(r.oprettet_dato) AS created_date,
    r.maal AS goals,
    parse_date(r.opfoelgning_dato) AS follow_up_date,
    parse_ts(r.sidst_aendret) AS updated_at,
    CASE
        WHEN NOT EXISTS (SELECT 1 FROM raw.beskaeftigelse__borger b WHERE b.borger_id = r.borger_id) THEN 'orphan_person_reference'
        WHEN r.tovholder IS NULL THEN 'missing_coordinator'
        WHEN r.opfoelgning_dato IS NOT NULL AND parse_date(r.opfoelgning_dato) IS NULL THEN 'unparseable_date'
    END AS _reject_reason,
    r AS _raw_row
FROM raw.beskaeftigelse__helhedsplan r
