-- target: staging.interventions
-- source: beskaeftigelse.sanktion
-- description: Sanctions: benefit reductions for a missed meeting or offer.
SELECT
    'beskaeftigelse' AS source, 'sanktion' AS source_table, CAST(r.sanktion_id AS VARCHAR) AS record_id,
    'borger' AS person_table, CAST(r.borger_id AS VARCHAR) AS person_record_id,
    'beskaeftigelse' AS department,
    'ydelser' AS category,
    'sanktion' AS kind,
    'Sanktion: ' || coalesce(r.aarsag, 'ukendt årsag') AS title,
    'LAS kap. 10' AS legal_paragraph, -- the sanction rules of lov om aktiv socialpolitik
    parse_date(r.sanktion_dato) AS start_date,
    parse_date(r.sanktion_dato) AS end_date,
    NULL AS monthly_cost, -- a sanction is a one-off reduction, not a monthly cost
    r.sagsbehandler AS caseworker,
    parse_ts(r.sidst_aendret) AS updated_at,
    CASE
        WHEN NOT EXISTS (SELECT 1 FROM raw.beskaeftigelse__borger b WHERE b.borger_id = r.borger_id) THEN 'orphan_person_reference'
        WHEN parse_date(r.sanktion_dato) IS NULL THEN 'unparseable_date'
        WHEN amount_problem(r.beloeb) IS NOT NULL THEN amount_problem(r.beloeb)
    END AS _reject_reason,
    r AS _raw_row
FROM raw.beskaeftigelse__sanktion r

