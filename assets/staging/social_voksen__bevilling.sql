-- target: staging.interventions
-- source: social_voksen.bevilling
-- description: Granted adult social services (SEL §§ 85-110, SUL § 141) with monthly price.
SELECT
    'social_voksen' AS source, 'bevilling' AS source_table, CAST(r.bevilling_id AS VARCHAR) AS record_id,
    'klient' AS person_table, CAST(r.klient_id AS VARCHAR) AS person_record_id,
    'social_voksen' AS department,
    coalesce(m.category, 'indsatser') AS category,
    CASE WHEN m.category = 'kontakt' THEN 'kontakt' ELSE 'indsats' END AS kind,
    coalesce(r.ydelse, m.title) AS title,
    coalesce(m.legal_paragraph, r.paragraf) AS legal_paragraph,
    parse_date(r.bevilget_fra) AS start_date,
    parse_date(r.bevilget_til) AS end_date,
    TRY_CAST(r.pris_pr_maaned AS DECIMAL(14, 2)) AS monthly_cost,
    r.kontaktperson AS caseworker,
    parse_ts(r.aendret) AS updated_at,
    CASE
        WHEN NOT EXISTS (SELECT 1 FROM raw.social_voksen__klient k WHERE k.klient_id = r.klient_id) THEN 'orphan_person_reference'
        WHEN m.code IS NULL THEN 'unknown_code'
        WHEN period_problem(r.bevilget_fra, r.bevilget_til) IS NOT NULL THEN period_problem(r.bevilget_fra, r.bevilget_til)
        WHEN amount_problem(r.pris_pr_maaned) IS NOT NULL THEN amount_problem(r.pris_pr_maaned)
    END AS _reject_reason,
    r AS _raw_row
FROM raw.social_voksen__bevilling r
LEFT JOIN staging.code_map m
    ON m.source = 'social_voksen' AND m.field = 'bevilling.paragraf' AND m.code = r.paragraf
