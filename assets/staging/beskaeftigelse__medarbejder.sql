-- target: staging.caseworkers
-- source: beskaeftigelse.medarbejder
-- description: The department's caseworkers with team, telephone and e-mail.
SELECT
    'beskaeftigelse' AS source, 'medarbejder' AS source_table, CAST(r.medarbejder_id AS VARCHAR) AS record_id,
    'beskaeftigelse' AS department,
    trim(fix_mojibake(r.navn)) AS name,
    r.team AS team,
    r.telefon AS phone,
    lower(trim(r.email)) AS email,
    parse_ts(r.aendret) AS updated_at,
    staff_problem(r.navn, r.email) AS _reject_reason,
    r AS _raw_row
FROM raw.beskaeftigelse__medarbejder r
