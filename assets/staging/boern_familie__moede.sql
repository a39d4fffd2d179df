-- target: staging.interventions
-- source: boern_familie.moede
-- description: Meetings with the family and network meetings.
SELECT
    'boern_familie' AS source, 'moede' AS source_table, CAST(r.moede_id AS VARCHAR) AS record_id,
    'sag' AS person_table, CAST(r.sags_id AS VARCHAR) AS person_record_id,
    'boern_familie' AS department,
    'kontakt' AS category,
    'kontakt' AS kind,
    r.moedetype AS title,
    NULL AS legal_paragraph,
    parse_date(r.moede_dato) AS start_date,
    parse_date(r.moede_dato) AS end_date,
    NULL AS monthly_cost,
    r.sagsbehandler AS caseworker,
    parse_ts(r.aendret_tid) AS updated_at,
    CASE
        WHEN NOT EXISTS (SELECT 1 FROM raw.boern_familie__sag s WHERE s.sags_id = r.sags_id) THEN 'orphan_person_reference'
        WHEN parse_date(r.moede_dato) IS NULL THEN 'unparseable_date'
    END AS _reject_reason,
    r AS _raw_row
FROM raw.boern_familie__moede r
