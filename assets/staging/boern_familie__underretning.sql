-- target: staging.interventions
-- source: boern_familie.underretning
-- description: Notifications of concern about a child.
SELECT
    'boern_familie' AS source, 'underretning' AS source_table, CAST(r.underretning_id AS VARCHAR) AS record_id,
    'sag' AS person_table, CAST(r.sags_id AS VARCHAR) AS person_record_id,
    'boern_familie' AS department,
    coalesce(m.category, 'kontakt') AS category,
    'underretning' AS kind,
    'Underretning fra ' || coalesce(r.kilde, 'ukendt') AS title,
    r.paragraf AS legal_paragraph,
    parse_date(r.modtaget_dato) AS start_date,
    parse_date(r.modtaget_dato) AS end_date,
    NULL AS monthly_cost,
    NULL AS caseworker,
    parse_ts(r.aendret_tid) AS updated_at,
    CASE
        WHEN NOT EXISTS (SELECT 1 FROM raw.boern_familie__sag s WHERE s.sags_id = r.sags_id) THEN 'orphan_person_reference'
        WHEN m.code IS NULL THEN 'unknown_code'
        WHEN parse_date(r.modtaget_dato) IS NULL THEN 'unparseable_date'
    END AS _reject_reason,
    r AS _raw_row
FROM raw.boern_familie__underretning r
LEFT JOIN staging.code_map m
    ON m.source = 'boern_familie' AND m.field = 'underretning.paragraf' AND m.code = r.paragraf
