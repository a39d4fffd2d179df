-- target: staging.caseworkers
-- source: social_voksen.personale
-- description: The department's caseworkers with team, telephone and e-mail.
SELECT
    'social_voksen' AS source, 'personale' AS source_table, CAST(r.personale_id AS VARCHAR) AS record_id,
    'social_voksen' AS department,
    trim(fix_mojibake(r.navn)) AS name,
    r.team AS team,
    r.telefon AS phone,
    lower(trim(r.email)) AS email,
    parse_ts(r.aendret) AS updated_at,
    staff_problem(r.navn, r.email) AS _reject_reason,
    r AS _raw_row
FROM raw.social_voksen__personale r
