-- target: staging.interventions
-- source: boern_familie.foranstaltning
-- description: Measures for a child (Barnets Lov; SEL before 2024).
SELECT
    'boern_familie' AS source, 'foranstaltning' AS source_table, CAST(r.foranstaltning_id AS VARCHAR) AS record_id,
    'sag' AS person_table, CAST(r.sags_id AS VARCHAR) AS person_record_id,
    'boern_familie' AS department,
    coalesce(m.category, 'indsatser') AS category,
    'indsats' AS kind,
    coalesce(r.beskrivelse, m.title) AS title,
    r.paragraf AS legal_paragraph,
    parse_date(r.startdato) AS start_date,
    parse_date(r.slutdato) AS end_date,
    TRY_CAST(r.maanedlig_udgift AS DECIMAL(14, 2)) AS monthly_cost,
    r.sagsbehandler AS caseworker,
    parse_ts(r.aendret_tid) AS updated_at,
    CASE
        WHEN NOT EXISTS (SELECT 1 FROM raw.boern_familie__sag s WHERE s.sags_id = r.sags_id) THEN 'orphan_person_reference'
        WHEN m.code IS NULL THEN 'unknown_code'
        WHEN period_problem(r.startdato, r.slutdato) IS NOT NULL THEN period_problem(r.startdato, r.slutdato)
        WHEN amount_problem(r.maanedlig_udgift) IS NOT NULL THEN amount_problem(r.maanedlig_udgift)
    END AS _reject_reason,
    r AS _raw_row
FROM raw.boern_familie__foranstaltning r
LEFT JOIN staging.code_map m
    ON m.source = 'boern_familie' AND m.field = 'foranstaltning.paragraf' AND m.code = r.paragraf
