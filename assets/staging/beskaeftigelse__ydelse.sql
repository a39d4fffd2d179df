-- target: staging.interventions
-- source: beskaeftigelse.ydelse
-- description: Benefits with a monthly amount.
SELECT
    'beskaeftigelse' AS source, 'ydelse' AS source_table, CAST(r.ydelse_id AS VARCHAR) AS record_id,
    'borger' AS person_table, CAST(r.borger_id AS VARCHAR) AS person_record_id,
    'beskaeftigelse' AS department,
    coalesce(m.category, 'ydelser') AS category,
    'ydelse' AS kind,
    coalesce(m.title, r.ydelsestype) AS title,
    coalesce(m.legal_paragraph, 'LAS') AS legal_paragraph,
    parse_date(r.fra_dato) AS start_date,
    parse_date(r.til_dato) AS end_date,
    TRY_CAST(r.beloeb_pr_maaned AS DECIMAL(14, 2)) AS monthly_cost,
    r.sagsbehandler AS caseworker,
    parse_ts(r.sidst_aendret) AS updated_at,
    CASE
        WHEN NOT EXISTS (SELECT 1 FROM raw.beskaeftigelse__borger b WHERE b.borger_id = r.borger_id) THEN 'orphan_person_reference'
        WHEN m.code IS NULL THEN 'unknown_code'
        WHEN period_problem(r.fra_dato, r.til_dato) IS NOT NULL THEN period_problem(r.fra_dato, r.til_dato)
        WHEN amount_problem(r.beloeb_pr_maaned) IS NOT NULL THEN amount_problem(r.beloeb_pr_maaned)
    END AS _reject_reason,
    r AS _raw_row
FROM raw.beskaeftigelse__ydelse r
LEFT JOIN staging.code_map m ON m.source = 'beskaeftigelse' AND m.field = 'ydelse.ydelsestype' AND m.code = r.ydelsestype
