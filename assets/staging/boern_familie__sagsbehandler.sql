-- target: staging.caseworkers
-- source: boern_familie.sagsbehandler
-- description: The department's caseworkers with team, telephone and e-mail.
SELECT
    'boern_familie' AS source, 'sagsbehandler' AS source_table, CAST(r.sagsbehandler_id AS VARCHAR) AS record_id,
    'boern_familie' AS department,
    trim(fix_mojibake(r.navn)) AS name,
    r.team AS team,
    r.telefon AS phone,
    lower(trim(r.email)) AS email,
    parse_ts(r.aendret) AS updated_at,
    staff_problem(r.navn, r.email) AS _reject_reason,
    r AS _raw_row
FROM raw.boern_familie__sagsbehandler r
