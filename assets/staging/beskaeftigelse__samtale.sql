-- target: staging.interventions
-- source: beskaeftigelse.samtale
-- description: Job interviews and follow-up meetings.
SELECT
    'beskaeftigelse' AS source, 'samtale' AS source_table, CAST(r.samtale_id AS VARCHAR) AS record_id,
    'borger' AS person_table, CAST(r.borger_id AS VARCHAR) AS person_record_id,
    'beskaeftigelse' AS department,
    coalesce(m.category, 'kontakt') AS category,
    'kontakt' AS kind,
    coalesce(m.title, r.samtaletype) AS title,
    coalesce(m.legal_paragraph, 'LAB') AS legal_paragraph,
    parse_date(r.samtale_dato) AS start_date,
    parse_date(r.samtale_dato) AS end_date,
    TRY_CAST(NULL AS DECIMAL(14, 2)) AS monthly_cost,
    r.sagsbehandler AS caseworker,
    parse_ts(r.sidst_aendret) AS updated_at,
    CASE
        WHEN NOT EXISTS (SELECT 1 FROM raw.beskaeftigelse__borger b WHERE b.borger_id = r.borger_id) THEN 'orphan_person_reference'
        WHEN m.code IS NULL THEN 'unknown_code'
        WHEN parse_date(r.samtale_dato) IS NULL THEN 'unparseable_date'
    END AS _reject_reason,
    r AS _raw_row
FROM raw.beskaeftigelse__samtale r
LEFT JOIN staging.code_map m ON m.source = 'beskaeftigelse' AND m.field = 'samtale.samtaletype' AND m.code = r.samtaletype
